//! One module per group of subcommands.

mod bench;
mod bom;
mod inspect;
mod license;
mod logits;
mod perplexity;
mod policy;
mod run;
mod scan;
mod serve;
mod store;

use std::fmt::Display;
use std::path::Path;

use anyhow::Result;

/// An error about `path`: the path is prefixed unless the message already names it (the
/// format readers put the path in their messages).
pub fn about_path(path: &Path, err: impl Display) -> anyhow::Error {
    let msg = format!("{err:#}");
    let shown = path.display().to_string();
    if msg.contains(&shown) {
        anyhow::anyhow!(msg)
    } else {
        anyhow::anyhow!("{shown}: {msg}")
    }
}

use crate::args::Command;

pub use store::set_offline;

/// Runs one subcommand.
pub fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Pull { model } => store::pull(&model),
        Command::Import { path, name, link, force, json } => store::import(&path, name.as_deref(), link, force, json),
        Command::List { json } => store::list(json),
        Command::Rm { model } => store::rm(&model),
        Command::License { model, json } => license::run(&model, json),
        Command::Scan { path, json } => scan::run(&path, json),
        Command::Bom { models, format: _, output } => bom::run(&models, output.as_deref()),
        Command::Inspect { model, json, tensors } => inspect::run(&model, json, tensors),
        Command::Logits { model, ids, all_positions, json: _, threads } => {
            logits::run(&model, &ids, all_positions, &threads)
        }
        Command::Bench(args) => bench::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Perplexity { model, file, ctx, json, threads } => perplexity::run(&model, &file, ctx, json, &threads),
    }
}
