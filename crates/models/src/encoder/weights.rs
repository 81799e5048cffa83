//! BERT weights from a safetensors checkpoint, as the forward pass uses them: matrices as
//! [`QMatrix`] in their file type (zero-copy from the mapped file), LayerNorm parameters and
//! biases as f32.
//!
//! Names are the transformers `BertModel` ones (`embeddings.word_embeddings.weight`,
//! `encoder.layer.{i}.attention.self.query.weight`, ...), optionally under a `bert.` prefix
//! (checkpoints of `BertFor*` heads). Not used: the `position_ids`/`token_type_ids` buffers, the
//! pooler (sentence-transformers pools the token states itself) and task heads outside the
//! prefix. Any other tensor under `embeddings.` or `encoder.` is an error: it would mean a
//! feature the forward pass lacks.

use std::collections::HashSet;

use allmende_formats::SafetensorsSet;
use allmende_tensor::QMatrix;

use super::config::BertConfig;
use super::error::{EncoderError, Result};
use crate::tensors::{from_safetensors, RawTensor};
use crate::ModelError;

/// `y = W x + b`.
#[derive(Clone, Debug)]
pub(crate) struct Lin {
    pub w: QMatrix,  // [out, in]
    pub b: Vec<f32>, // [out]
}

/// LayerNorm scale and shift.
#[derive(Clone, Debug)]
pub(crate) struct Ln {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// One post-LN block.
#[derive(Clone, Debug)]
pub(crate) struct BlockW {
    pub q: Lin,
    pub k: Lin,
    pub v: Lin,
    pub o: Lin,     // attention output dense
    pub attn_ln: Ln, // after attention + residual
    pub up: Lin,    // intermediate dense [n_ff, n_embd]
    pub down: Lin,  // output dense [n_embd, n_ff]
    pub out_ln: Ln, // after FFN + residual
}

/// All weights of a BERT encoder.
#[derive(Clone, Debug)]
pub(crate) struct BertWeights {
    pub word: QMatrix,  // [n_vocab, n_embd]
    pub pos: QMatrix,   // [n_pos, n_embd]
    pub types: QMatrix, // [n_type, n_embd]
    pub emb_ln: Ln,
    pub blocks: Vec<BlockW>,
}

struct Loader<'a> {
    set: &'a SafetensorsSet,
    prefix: &'static str,
    used: HashSet<String>,
}

impl Loader<'_> {
    fn raw(&mut self, name: &str) -> Result<RawTensor> {
        let full = format!("{}{name}", self.prefix);
        let t = self.set.tensor(&full).ok_or_else(|| ModelError::MissingTensor { name: full.clone() })?;
        let raw = from_safetensors(t)?;
        self.used.insert(full);
        Ok(raw)
    }

    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        let t = self.raw(name)?;
        let name = format!("{}{name}", self.prefix);
        let name = name.as_str();
        if t.shape != [rows, cols] {
            return Err(ModelError::ShapeMismatch { name: name.into(), expected: vec![rows, cols], got: t.shape }.into());
        }
        QMatrix::new(t.ty, rows, cols, t.data).map_err(|source| ModelError::Tensor { name: name.into(), source }.into())
    }

    fn vector(&mut self, name: &str, n: usize) -> Result<Vec<f32>> {
        let t = self.raw(name)?;
        let name = format!("{}{name}", self.prefix);
        let name = name.as_str();
        if t.shape != [n] {
            return Err(ModelError::ShapeMismatch { name: name.into(), expected: vec![n], got: t.shape }.into());
        }
        Ok(t.to_f32(name)?)
    }

    fn lin(&mut self, base: &str, rows: usize, cols: usize) -> Result<Lin> {
        Ok(Lin { w: self.matrix(&format!("{base}.weight"), rows, cols)?, b: self.vector(&format!("{base}.bias"), rows)? })
    }

    fn ln(&mut self, base: &str, n: usize) -> Result<Ln> {
        Ok(Ln { w: self.vector(&format!("{base}.weight"), n)?, b: self.vector(&format!("{base}.bias"), n)? })
    }
}

impl BertWeights {
    /// Collects and checks every tensor the config implies.
    pub(crate) fn load(c: &BertConfig, set: &SafetensorsSet) -> Result<BertWeights> {
        let prefix = if set.tensor("embeddings.word_embeddings.weight").is_none()
            && set.tensor("bert.embeddings.word_embeddings.weight").is_some()
        {
            "bert."
        } else {
            ""
        };
        let mut l = Loader { set, prefix, used: HashSet::new() };
        let e = c.n_embd;
        let word = l.matrix("embeddings.word_embeddings.weight", c.n_vocab, e)?;
        let pos = l.matrix("embeddings.position_embeddings.weight", c.n_pos, e)?;
        let types = l.matrix("embeddings.token_type_embeddings.weight", c.n_type, e)?;
        let emb_ln = l.ln("embeddings.LayerNorm", e)?;
        let mut blocks = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let b = format!("encoder.layer.{i}");
            blocks.push(BlockW {
                q: l.lin(&format!("{b}.attention.self.query"), e, e)?,
                k: l.lin(&format!("{b}.attention.self.key"), e, e)?,
                v: l.lin(&format!("{b}.attention.self.value"), e, e)?,
                o: l.lin(&format!("{b}.attention.output.dense"), e, e)?,
                attn_ln: l.ln(&format!("{b}.attention.output.LayerNorm"), e)?,
                up: l.lin(&format!("{b}.intermediate.dense"), c.n_ff, e)?,
                down: l.lin(&format!("{b}.output.dense"), e, c.n_ff)?,
                out_ln: l.ln(&format!("{b}.output.LayerNorm"), e)?,
            });
        }
        let mut unused: Vec<&str> = set
            .tensors()
            .map(|t| t.name.as_str())
            .filter(|n| !l.used.contains(*n))
            .filter(|n| {
                let Some(rest) = n.strip_prefix(prefix) else { return false };
                (rest.starts_with("embeddings.") || rest.starts_with("encoder."))
                    && !rest.ends_with("position_ids")
                    && !rest.ends_with("token_type_ids")
            })
            .collect();
        if !unused.is_empty() {
            unused.sort_unstable();
            return Err(EncoderError::Unsupported(format!(
                "{} encoder tensor(s) the BERT forward pass does not use, e.g. {:?}",
                unused.len(),
                &unused[..unused.len().min(4)]
            )));
        }
        Ok(BertWeights { word, pos, types, emb_ln, blocks })
    }
}
