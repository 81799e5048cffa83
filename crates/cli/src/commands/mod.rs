//! One module per group of subcommands.

mod inspect;
mod store;

use anyhow::Result;

use crate::args::Command;

/// Runs one subcommand.
pub fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Pull { model } => store::pull(&model),
        Command::List { json } => store::list(json),
        Command::Rm { model } => store::rm(&model),
        Command::Inspect { model, json, tensors } => inspect::run(&model, json, tensors),
        other => anyhow::bail!("{other:?}: not available in this build yet"),
    }
}
