//! Writes sample BOMs into a folder, one per case (SPDX id, SPDX expression, hub licence with URL,
//! unknown licence, multi-file model, all together with a duplicate, none, files hashed from disk),
//! for `tests/bom/run.sh` to validate against the official CycloneDX 1.6 schema.
//!
//!     cargo run -p allmende-bom --example sample_bom -- OUT_DIR

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use std::path::Path;

use allmende_bom::{build_bom, sha256_file, FileEntry, ModelEntry, Serial, Tool, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: sample_bom OUT_DIR")?;
    let out = Path::new(&out);
    std::fs::create_dir_all(out)?;

    // Real files hashed the way the CLI hashes model files.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut from_disk = fixtures::multi_file_model();
    from_disk.name = "hashed-from-disk".into();
    from_disk.files = ["Cargo.toml", "src/lib.rs"]
        .iter()
        .map(|rel| {
            let path = crate_dir.join(rel);
            Ok(FileEntry {
                path_in_model: (*rel).to_string(),
                size: std::fs::metadata(&path)?.len(),
                sha256: sha256_file(&path)?,
            })
        })
        .collect::<std::io::Result<_>>()?;

    let mut all = fixtures::all_models();
    all.push(fixtures::spdx_id_model()); // a duplicate: bom-refs must stay unique
    let cases: Vec<(&str, Vec<ModelEntry>)> = vec![
        ("spdx-id", vec![fixtures::spdx_id_model()]),
        ("spdx-expression", vec![fixtures::expression_model()]),
        ("hub-licence", vec![fixtures::hub_licence_model()]),
        ("unknown-licence", vec![fixtures::unknown_licence_model()]),
        ("multi-file", vec![fixtures::multi_file_model()]),
        ("all", all),
        ("empty", vec![]),
        ("from-disk", vec![from_disk]),
    ];
    let tool = Tool::allmende(env!("CARGO_PKG_VERSION"));
    for (name, models) in cases {
        let bom = build_bom(&models, &tool, &Serial::random(), Utc::now())?;
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&bom)?)?;
        println!("{}", path.display());
    }
    Ok(())
}
