//! Command-line definition (clap derive). Each subcommand's behaviour lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run open-weight language models on CPU: chat, complete, inspect and check them.
///
/// MODEL is a catalogue name (see `allmende list`), a Hugging Face hub reference
/// hf:ORG/REPO[@REVISION][:FILE], the name of a local import (`allmende import`), a `.gguf` file,
/// or a Hugging Face model folder (config.json + *.safetensors or pytorch_model.bin +
/// tokenizer.json). Catalogue and hub models are fetched on
/// first use into the cache ($ALLMENDE_HOME, else $XDG_CACHE_HOME/allmende, else
/// ~/.cache/allmende), verified, and never used from the cache unverified.
#[derive(Parser, Debug)]
#[command(
    name = "allmende",
    version,
    about,
    propagate_version = true,
    after_long_help = "EXAMPLES:
    allmende run smollm2-135m-instruct \"Why is the sky blue?\"
    allmende run gemma3-270m --raw \"The capital of France is\" --temp 0 -n 32
    allmende run ./model.gguf                      (interactive chat)
    allmende inspect qwen2.5-coder-0.5b-instruct --json
    allmende perplexity smollm2-135m-instruct wiki.txt --ctx 512
    allmende pull hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf
    allmende import ./my-finetune --name finetune && allmende run finetune \"Hi\"
    allmende license gemma3-270m --json
    allmende run gemma3-270m --policy policy.toml --accept-license gemma

ENVIRONMENT:
    ALLMENDE_HOME     cache root (default $XDG_CACHE_HOME/allmende or ~/.cache/allmende)
    ALLMENDE_PIP      pip command used by `pull` (default: pip, then python3 -m pip)
    ALLMENDE_POLICY   licence policy file for run and serve (also `policy = ...` in the config file)
    ALLMENDE_CONFIG   config file (default $XDG_CONFIG_HOME/allmende/config.toml)
    ALLMENDE_OFFLINE  1: use only the cache, as --offline (HF_HUB_OFFLINE=1 too)
    HF_ENDPOINT       hub base URL (default https://huggingface.co); HF_TOKEN: hub access token
    ALLMENDE_ISA      force a kernel table: scalar, avx2 or avx512vnni (default: the best this CPU runs)"
)]
pub struct Cli {
    /// Use only the cache: never pull a model (also ALLMENDE_OFFLINE=1 or HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Chat with a model (through its chat template) or complete raw text; streams tokens.
    ///
    /// Without PROMPT, starts an interactive session (one line per turn, Ctrl-D to quit).
    Run(RunArgs),
    /// Fetch a model into the cache and verify it: a catalogue name, or a Hugging Face hub
    /// reference hf:ORG/REPO[@REVISION][:FILE] (every file checked against the hub's sha256).
    Pull {
        /// Catalogue name (e.g. smollm2-135m-instruct) or hf:ORG/REPO[@REVISION][:FILE].
        model: String,
    },
    /// Import a local model (a .gguf file or a Hugging Face folder) into the store under a name
    /// that every command then accepts: `allmende run NAME`, `inspect NAME`, `serve NAME`, ...
    ///
    /// The files are copied into $ALLMENDE_HOME/local/NAME/ (or hard-linked with --link) and
    /// hashed (SHA-256) on the way; a manifest records each file's size, time and hash. Every
    /// later use checks the copy against it (a stat per file, a re-hash of a file that moved) and
    /// refuses a copy that changed since the import. Hidden files are skipped; symbolic links
    /// leaving the folder and special files (FIFOs, sockets, devices) are refused. `list` shows
    /// imports, `rm NAME` deletes the store's copy (never the original).
    #[command(after_long_help = "EXAMPLES:
    allmende import ./Llama-3.2-1B-Instruct-Q4_K_M.gguf        (name: llama-3.2-1b-instruct-q4_k_m)
    allmende import ~/models/my-finetune --name finetune-v2
    allmende import /data/big.gguf --name big --link           (no copy on the same filesystem)
    allmende run finetune-v2 \"Hello\"")]
    Import {
        /// A .gguf file, or a Hugging Face model folder (config.json + weights + tokenizer).
        path: PathBuf,
        /// Name to import under: letters, digits, `.`, `_`, `-` (lowercased); default: the
        /// file's stem or the folder's name. Catalogue names and aliases are taken.
        #[arg(long)]
        name: Option<String>,
        /// Hard-link the files instead of copying them when the store is on the same filesystem
        /// (copies otherwise). Editing the original then edits the import, which is refused from
        /// then on.
        #[arg(long)]
        link: bool,
        /// Replace an existing import of the same name (the old one stays until the new copy is
        /// complete).
        #[arg(long)]
        force: bool,
        /// Print JSON: {"name", "path", "source", "files": [{"path", "size", "sha256"}]}.
        #[arg(long)]
        json: bool,
    },
    /// List the catalogue, the hub snapshots and the local imports in the cache.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a model from the cache (for a local import: the store's copy, not the original).
    Rm {
        /// Catalogue name, local import name, or hf:ORG/REPO (whole repo), hf:ORG/REPO@REV (one
        /// snapshot), hf:ORG/REPO@REV:FILE (one file).
        model: String,
    },
    /// Write a CycloneDX 1.6 AI-BOM of the models: one machine-learning-model component each,
    /// with the SHA-256 of every file, its licence and a model card (architecture, parameters,
    /// quantization, context length), and allmende as the tool.
    Bom {
        /// Catalogue names, hub references, .gguf files or HF folders.
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<String>,
        /// Output format (only CycloneDX JSON for now).
        #[arg(long, default_value = "cyclonedx-json", value_parser = ["cyclonedx-json"])]
        format: String,
        /// Write to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check model files for code execution and malformed structure without loading them:
    /// PyTorch pickles (opcodes walked, never executed), GGUF, safetensors, chat templates.
    ///
    /// Exits 1 when anything is flagged at warning level or above.
    Scan {
        /// A file or folder (scanned recursively); a catalogue name or hub reference is
        /// resolved (and pulled) first.
        path: String,
        /// Print JSON: {"files": [{"path", "kind", "findings": [{"severity", "code", "message", "offset", "line"}]}]}.
        #[arg(long)]
        json: bool,
    },
    /// Show a model's licence, whether it allows commercial use, and what it obliges.
    ///
    /// Reads GGUF general.license*, the model card's front matter and LICENSE / NOTICE /
    /// USE_POLICY files (recognised by their text, not their names). Not legal advice.
    License {
        /// Catalogue name, hub reference, .gguf file or HF folder.
        model: String,
        /// Print JSON (id, name, source, commercial_use, obligations, evidence, conflicts).
        #[arg(long)]
        json: bool,
    },
    /// Show a model's architecture, size, quantization, tokenizer, template and licence.
    Inspect {
        /// Catalogue name, .gguf file or HF folder.
        model: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also list every tensor with its type and shape.
        #[arg(long)]
        tensors: bool,
    },
    /// Print the model's logits for given token ids (to check a model against a reference).
    Logits {
        /// Catalogue name, .gguf file or HF folder.
        model: String,
        /// Comma-separated token ids, e.g. 1,2,3.
        #[arg(long, value_delimiter = ',', required = true)]
        ids: Vec<u32>,
        /// One row per position instead of the last position only.
        #[arg(long)]
        all_positions: bool,
        /// Print JSON: {"logits": [[...], ...]} (the only output format for now).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        threads: ThreadArgs,
    },
    /// Measure prompt-processing and generation speed, as llama-bench does.
    ///
    /// For each thread count: one warm-up, then REPS timed runs of each test from an empty
    /// context with random tokens; prints mean ± stddev tokens/s.
    Bench(BenchArgs),
    /// Serve models over an OpenAI-compatible HTTP API (chat, completions, embeddings).
    ///
    /// Clients that speak the OpenAI API point their base URL at http://HOST:PORT/v1. Binds to
    /// 127.0.0.1 unless --host says otherwise. Ctrl-C (or SIGTERM) stops taking requests and
    /// exits once those in flight are done; a second Ctrl-C exits at once. See docs/SERVER.md.
    Serve(ServeArgs),
    /// Perplexity of a text file, computed as llama.cpp's perplexity tool does.
    Perplexity {
        /// Catalogue name, .gguf file or HF folder.
        model: String,
        /// UTF-8 text file.
        file: PathBuf,
        /// Tokens per chunk; the second half of each chunk is scored.
        #[arg(long, default_value_t = 512)]
        ctx: usize,
        /// Print JSON with `ppl`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        threads: ThreadArgs,
    },
}

/// Thread count and KV-cache type, shared by the compute commands.
#[derive(Args, Debug, Clone)]
pub struct ThreadArgs {
    /// Threads to compute with (default: all cores).
    #[arg(short = 't', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// KV-cache element type: f16 (half the memory; llama.cpp's default) or f32 (exact).
    /// Default: f16 for GGUF files, f32 for Hugging Face folders; `logits` defaults to f32.
    #[arg(long = "kv-type", value_parser = ["f16", "f32"])]
    pub kv_type: Option<String>,
}

impl ThreadArgs {
    /// The model options these flags ask for (`default_kv` when --kv-type is not given).
    pub fn model_options(&self, default_kv: Option<allmende_models::KvType>) -> allmende_models::ModelOptions {
        let kv_type = match self.kv_type.as_deref() {
            Some("f16") => Some(allmende_models::KvType::F16),
            Some("f32") => Some(allmende_models::KvType::F32),
            _ => default_kv,
        };
        allmende_models::ModelOptions { n_threads: self.threads, kv_type, ..Default::default() }
    }
}

/// Options of `allmende run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Catalogue name, .gguf file or HF folder.
    pub model: String,
    /// The prompt (a user message, or raw text with --raw). Omit for an interactive session.
    pub prompt: Option<String>,
    /// Complete the prompt as plain text instead of chatting through the chat template.
    #[arg(long)]
    pub raw: bool,
    /// System message for chat.
    #[arg(long)]
    pub system: Option<String>,
    /// Maximum new tokens.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 256)]
    pub max_tokens: usize,
    /// Temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling threshold (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens below this fraction of the top token's probability (0 = off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalty for repeating recent tokens (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Random seed; the same seed and settings give the same text.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Context size in tokens (default: the model's, capped at 4096).
    #[arg(short = 'c', long = "ctx")]
    pub ctx: Option<usize>,
    /// Print the rendered prompt and its token ids to stderr before generating.
    #[arg(long)]
    pub verbose_prompt: bool,
    /// Print one JSON object with prompt_ids, ids, text and timings instead of streaming.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: ThreadArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// The licence policy flags of `run` and `serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Licence policy (TOML, `[licenses] allow = [...]`, `unknown = "deny"|"warn"`), checked
    /// before any weights load; also ALLMENDE_POLICY or `policy = ...` in the config file.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Accept this licence id although the policy does not allow it (recorded in the audit log).
    #[arg(long = "accept-license", value_name = "ID")]
    pub accept_license: Vec<String>,
    /// Audit log of licence decisions (JSON lines; default $ALLMENDE_HOME/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// Options of `allmende bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Catalogue name, .gguf file or HF folder.
    pub model: String,
    /// Prompt lengths to test (pp tests), comma-separated; 0 skips.
    #[arg(short = 'p', long = "n-prompt", value_delimiter = ',', default_value = "512")]
    pub n_prompt: Vec<usize>,
    /// Generation lengths to test (tg tests), comma-separated; 0 skips.
    #[arg(short = 'n', long = "n-gen", value_delimiter = ',', default_value = "128")]
    pub n_gen: Vec<usize>,
    /// Context depths, comma-separated: each test runs after this many tokens are already in
    /// the KV cache (filled untimed before every run), as llama-bench's `-d`; 0 = empty context.
    #[arg(short = 'd', long = "n-depth", value_delimiter = ',', default_value = "0")]
    pub n_depth: Vec<usize>,
    /// KV-cache element type (f16 or f32; default: f16 for GGUF, f32 for HF folders).
    #[arg(long = "kv-type", value_parser = ["f16", "f32"])]
    pub kv_type: Option<String>,
    /// Thread counts, comma-separated (default: all cores).
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Timed repetitions per test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Print one JSON object per test and thread count (JSON lines) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `allmende serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Models to serve: catalogue names, .gguf files or HF folders. Clients name a model by the
    /// text given here (a file's or folder's name for paths).
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
    /// Address to listen on (0.0.0.0 exposes the server to the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require this API key (`Authorization: Bearer KEY`); ALLMENDE_API_KEY in the environment
    /// does the same without showing the key in the process list.
    #[arg(long, value_name = "KEY", conflicts_with = "api_keys")]
    pub api_key: Option<String>,
    /// Require one of the keys in FILE: one per line, optional `name=`, `requests=N/PERIOD`,
    /// `tokens=N/PERIOD` (see docs/SERVER.md).
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// Sequences generated at once per model, in one forward pass (continuous batching); each
    /// has a KV cache of --ctx positions.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Prompt tokens per model whose keys and values are kept for reuse by later requests
    /// that start the same way (a shared system prompt), in blocks of 32 (default: one
    /// context's worth; 0 turns the shared cache off).
    #[arg(long, value_name = "TOKENS")]
    pub prefix_cache: Option<usize>,
    /// Generation jobs (one per choice) that may wait for the model; more get 429.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Context size in tokens per model (default: the model's, capped at 4096).
    #[arg(short = 'c', long = "ctx")]
    pub ctx: Option<usize>,
    /// Seconds a request may take: reading its body, and producing the whole response.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Largest request body in bytes (413 above).
    #[arg(long, default_value_t = 8 << 20)]
    pub max_body_bytes: usize,
    /// Allow browser calls from this origin (e.g. https://app.example.com, or *); CORS is off
    /// without it.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Option<String>,
    #[command(flatten)]
    pub threads: ThreadArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}
