//! Pull catalogue models into the environment's store and report where they went and how long it
//! took: `cargo run -p allmende-store --example pull -- smollm2 gemma3` (no names: all models).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = allmende_store::Store::from_env()?;
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names = store
            .catalogue()
            .iter()
            .map(|e| e.name.to_string())
            .collect();
    }
    eprintln!("store root: {}", store.root().display());
    for name in &names {
        let start = Instant::now();
        let path = store.pull(name, true)?;
        println!(
            "{name}: {} ({:.1} s)",
            path.display(),
            start.elapsed().as_secs_f64()
        );
    }
    for e in store.list() {
        println!(
            "{:<30} {:>12} {:?} {}",
            e.name,
            e.size,
            e.state,
            e.path.display()
        );
    }
    Ok(())
}
