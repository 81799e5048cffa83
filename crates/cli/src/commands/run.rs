//! `allmende run`: chat through the model's template (or complete raw text), streaming tokens to
//! stdout; an interactive session when no prompt is given; `--json` for one machine-readable
//! object.

use std::io::{BufRead, Write};
use std::ops::ControlFlow;

use allmende_engine::{GenerateOptions, GenerateOutput, LoadedModel, SamplingParams};
use allmende_models::ModelOptions;
use anyhow::Result;
use serde_json::{json, Value};

use crate::args::RunArgs;

/// Loads MODEL with the options asked for.
pub fn load(model: &str, opts: &ModelOptions) -> Result<LoadedModel> {
    let path = super::store::resolve_model(model)?;
    LoadedModel::load(&path, opts).map_err(|e| super::about_path(&path, e))
}

/// `allmende run MODEL [PROMPT] ...`.
pub fn run(args: &RunArgs) -> Result<()> {
    let origin = super::store::resolve_origin(&args.model)?;
    super::policy::enforce(&args.model, &origin, &args.policy)?;
    let path = origin.path;
    let mut lm = LoadedModel::load(&path, &args.threads.model_options(None)).map_err(|e| super::about_path(&path, e))?;
    let n_ctx = args.ctx.unwrap_or_else(|| lm.default_n_ctx());
    let sampling = SamplingParams {
        temperature: args.temp,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        ..SamplingParams::default()
    };
    sampling.validate(lm.model.n_vocab())?;
    let opts = GenerateOptions {
        max_tokens: Some(args.max_tokens),
        eog_ids: lm.eog_ids.clone(),
        sampling,
        ..GenerateOptions::default()
    };
    let chat = !args.raw && lm.template.is_some();
    if !args.raw && !chat && !args.json {
        eprintln!("note: this model has no chat template (a base model); completing the prompt as raw text");
    }
    let mut history: Vec<Value> = Vec::new();
    if let Some(system) = &args.system {
        history.push(json!({"role": "system", "content": system}));
    }
    match &args.prompt {
        Some(prompt) => {
            let ids = prompt_ids(&lm, chat, &mut history, prompt)?;
            if args.verbose_prompt {
                show_prompt(&lm, &ids);
            }
            let out = stream(&mut lm, &ids, n_ctx, &opts, !args.json)?;
            if args.json {
                println!("{}", serde_json::to_string(&json_report(&ids, &out))?);
            } else {
                println!();
                eprintln!("{}", timing_line(&out));
            }
        }
        None => interactive(&mut lm, chat, history, n_ctx, &opts)?,
    }
    Ok(())
}

fn prompt_ids(lm: &LoadedModel, chat: bool, history: &mut Vec<Value>, prompt: &str) -> Result<Vec<u32>> {
    if chat {
        history.push(json!({"role": "user", "content": prompt}));
        let rendered = lm.render_chat(history, true)?;
        Ok(lm.tokenize_chat(&rendered)?)
    } else {
        Ok(lm.tokenize_raw(prompt)?)
    }
}

fn show_prompt(lm: &LoadedModel, ids: &[u32]) {
    eprintln!("prompt: {} tokens", ids.len());
    for &id in ids {
        let piece = lm.tokenizer.token_to_piece(id).unwrap_or_default();
        eprintln!("{id:>8} -> {:?}", String::from_utf8_lossy(&piece));
    }
}

fn stream(lm: &mut LoadedModel, ids: &[u32], n_ctx: usize, opts: &GenerateOptions, echo: bool) -> Result<GenerateOutput> {
    let stdout = std::io::stdout();
    let out = lm.generate(ids, n_ctx, opts, |piece| {
        if echo {
            let mut lock = stdout.lock();
            // A closed stdout (e.g. `| head`) ends generation instead of failing it.
            if lock.write_all(piece.as_bytes()).and_then(|_| lock.flush()).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

fn interactive(lm: &mut LoadedModel, chat: bool, mut history: Vec<Value>, n_ctx: usize, opts: &GenerateOptions) -> Result<()> {
    eprintln!("interactive session: one line per turn, Ctrl-D to quit");
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        eprint!("> ");
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            eprintln!();
            return Ok(());
        }
        let prompt = line.trim_end_matches(['\n', '\r']);
        if prompt.is_empty() {
            continue;
        }
        let ids = prompt_ids(lm, chat, &mut history, prompt)?;
        let out = stream(lm, &ids, n_ctx, opts, true)?;
        println!();
        eprintln!("{}", timing_line(&out));
        if chat {
            history.push(json!({"role": "assistant", "content": out.text}));
        }
    }
}

fn rate(tokens: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        tokens as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

fn timing_line(out: &GenerateOutput) -> String {
    let t = &out.timings;
    format!(
        "[prompt: {} tokens, {:.1} tok/s | generated: {} tokens, {:.1} tok/s | finish: {}]",
        t.prompt_tokens,
        rate(t.prompt_tokens, t.prompt_ms),
        t.gen_tokens,
        rate(t.gen_tokens, t.gen_ms),
        out.finish_reason.openai_str()
    )
}

fn json_report(prompt_ids: &[u32], out: &GenerateOutput) -> Value {
    let t = &out.timings;
    json!({
        "prompt_ids": prompt_ids,
        "ids": out.ids,
        "text": out.text,
        "finish_reason": out.finish_reason.openai_str(),
        "seed": out.seed,
        "timings": {
            "prompt_tokens": t.prompt_tokens,
            "prompt_ms": t.prompt_ms,
            "prompt_tokens_per_second": rate(t.prompt_tokens, t.prompt_ms),
            "generated_tokens": t.gen_tokens,
            "generation_ms": t.gen_ms,
            "generation_tokens_per_second": rate(t.gen_tokens, t.gen_ms),
        }
    })
}
