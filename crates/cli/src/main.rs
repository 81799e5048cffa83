//! The `allmende` command line: parses arguments, runs one command, and turns any error into a
//! one-line message on stderr with exit code 1.

mod args;
mod commands;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    commands::set_offline(cli.offline);
    if let Err(err) = commands::dispatch(cli.command) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
