//! `allmende logits`: the raw model output for given token ids, as JSON, so a user (or our
//! parity checks) can compare a model with a reference implementation.

use std::io::Write;

use allmende_models::{KvType, Logits, Model};
use anyhow::{bail, Context, Result};

use crate::args::ThreadArgs;

/// `allmende logits MODEL --ids 1,2,3 [--all-positions] --json`.
///
/// The KV cache defaults to f32 here: this command exists to compare with a reference.
pub fn run(model: &str, ids: &[u32], all_positions: bool, threads: &ThreadArgs) -> Result<()> {
    if ids.is_empty() {
        bail!("--ids needs at least one token id");
    }
    let path = super::store::resolve_model(model)?;
    let opts = threads.model_options(Some(KvType::F32));
    let mut m = Model::load(&path, &opts).map_err(|e| super::about_path(&path, e))?;
    let n_vocab = m.n_vocab();
    if let Some(bad) = ids.iter().find(|&&id| id as usize >= n_vocab) {
        bail!("token id {bad} is out of range: the model's vocabulary has {n_vocab} tokens");
    }
    let mut cache = m.new_cache(ids.len());
    let want = if all_positions { Logits::All } else { Logits::Last };
    let logits = m.forward(ids, &mut cache, want).context("forward pass")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    out.write_all(b"{\"logits\": [")?;
    for (i, row) in logits.chunks_exact(n_vocab).enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        out.write_all(b"[")?;
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            // Shortest representation that round-trips to the same f32.
            if v.is_finite() {
                write!(out, "{v}")?;
            } else {
                out.write_all(b"null")?;
            }
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(())
}
