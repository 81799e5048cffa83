//! `allmende bench --json` on the tiny llama-gqa GGUF: one JSON line per (depth, test, thread
//! count) with llama-bench's fields, depth tests named `ppN@dD` / `tgN@dD`, `0` skipping a
//! test, and as many samples as repetitions. (Speeds are printed, never asserted.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

fn bench_lines(args: &[&str]) -> Vec<Value> {
    let model = tiny_gguf("f32");
    let mut all = vec!["bench", s(&model), "--json"];
    all.extend_from_slice(args);
    let out = run(&all).success();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn one_line_per_depth_test_and_thread_count() {
    let lines = bench_lines(&["-p", "8", "-n", "4", "-d", "0,16", "-t", "1,2", "-r", "2"]);
    let got: Vec<(String, u64, u64, u64, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["test"].as_str().unwrap().to_string(),
                l["threads"].as_u64().unwrap(),
                l["n_prompt"].as_u64().unwrap(),
                l["n_gen"].as_u64().unwrap(),
                l["n_depth"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64, u64, u64)> = [1, 2]
        .iter()
        .flat_map(|&t| {
            [
                ("pp8".to_string(), t, 8, 0, 0),
                ("tg4".to_string(), t, 0, 4, 0),
                ("pp8@d16".to_string(), t, 8, 0, 16),
                ("tg4@d16".to_string(), t, 0, 4, 16),
            ]
        })
        .collect();
    assert_eq!(got, want);
    for l in &lines {
        let samples = l["samples_ts"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "{l}");
        assert!(samples.iter().all(|x| x.as_f64().unwrap() > 0.0), "{l}");
        let avg = l["avg_ts"].as_f64().unwrap();
        let mean = samples.iter().map(|x| x.as_f64().unwrap()).sum::<f64>() / 2.0;
        assert!((avg - mean).abs() <= 1e-9 * mean, "{l}");
    }
}

#[test]
fn zero_skips_a_test() {
    let lines = bench_lines(&["-p", "0", "-n", "3", "-t", "1", "-r", "1"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["test"], "tg3");
    assert_eq!(lines[0]["n_depth"], 0);
}

#[test]
fn a_depth_beyond_the_context_is_refused() {
    let model = tiny_gguf("f32");
    run(&["bench", s(&model), "-p", "0", "-n", "4", "-d", "18446744073709551615", "-r", "1"])
        .fails_with(&["tg4@d18446744073709551615", "context"]);
}
