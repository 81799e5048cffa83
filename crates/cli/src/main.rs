//! The `allmende` command line.
fn main() {}
