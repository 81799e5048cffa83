//! Print the licence report of a model as JSON, and optionally a policy decision.
//!
//! `cargo run -p allmende-license --example report -- [--gguf-license ID] [--policy FILE]
//! [--accept ID] [FOLDER]`

use std::path::PathBuf;

use allmende_license::{detect, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut gguf = Vec::new();
    let mut folder: Option<PathBuf> = None;
    let mut policy = None;
    let mut accepted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--gguf-license" => gguf.push((
                "general.license".to_string(),
                args.next().unwrap_or_default(),
            )),
            "--policy" => policy = args.next().map(PathBuf::from),
            "--accept" => accepted.extend(args.next()),
            _ => folder = Some(PathBuf::from(a)),
        }
    }
    let report = detect(&gguf, folder.as_deref());
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = policy {
        let decision = Policy::from_file(&path)?.check(&report, &accepted);
        println!("{decision:?}");
    }
    Ok(())
}
