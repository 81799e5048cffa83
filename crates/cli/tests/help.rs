//! `allmende --help`, every subcommand's `--help`, and `--version`: they succeed (exit 0), print
//! to stdout, and name the options each command documents in `src/args.rs`.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::run;

#[test]
fn top_level_help_lists_every_subcommand() {
    // `--help` is the long help and `-h` the short one; both list every subcommand.
    for flag in ["--help", "-h"] {
        let r = run(&[flag]).success();
        assert!(
            r.stdout.contains("Usage: allmende [OPTIONS] <COMMAND>"),
            "{flag}:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("open-weight"), "{flag}:\n{}", r.stdout);
        for cmd in [
            "run",
            "pull",
            "import",
            "list",
            "rm",
            "inspect",
            "logits",
            "perplexity",
            "bench",
            "serve",
            "license",
            "bom",
            "scan",
            "help",
        ] {
            assert!(
                r.stdout
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
                "`{cmd}` missing from {flag}:\n{}",
                r.stdout
            );
        }
        assert!(r.stdout.contains("--version"), "{}", r.stdout);
    }
    // The long help documents the cache location variable.
    assert!(run(&["--help"]).success().stdout.contains("ALLMENDE_HOME"));
}

#[test]
fn version_prints_the_crate_version() {
    let r = run(&["--version"]).success();
    assert_eq!(
        r.stdout.trim(),
        format!("allmende {}", env!("CARGO_PKG_VERSION"))
    );
    // propagate_version: subcommands answer --version too.
    let r = run(&["run", "--version"]).success();
    assert_eq!(
        r.stdout.trim(),
        format!("allmende-run {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Each subcommand with the options and positional arguments its help must mention.
const SUBCOMMANDS: &[(&str, &[&str])] = &[
    (
        "run",
        &[
            "<MODEL>",
            "[PROMPT]",
            "--raw",
            "--system",
            "--max-tokens",
            "-n",
            "--temp",
            "--top-k",
            "--top-p",
            "--min-p",
            "--repeat-penalty",
            "--seed",
            "--ctx",
            "--verbose-prompt",
            "--json",
            "--threads",
            "--policy",
            "--accept-license",
        ],
    ),
    ("pull", &["<MODEL>", "hf:ORG/REPO"]),
    ("import", &["<PATH>", "--name", "--link", "--force", "--json"]),
    ("license", &["<MODEL>", "--json"]),
    ("bom", &["<MODEL>", "--format", "--output"]),
    ("scan", &["<PATH>", "--json"]),
    ("list", &["--json"]),
    ("rm", &["<MODEL>"]),
    ("inspect", &["<MODEL>", "--json", "--tensors"]),
    (
        "logits",
        &["<MODEL>", "--ids", "--all-positions", "--json", "--threads"],
    ),
    (
        "perplexity",
        &["<MODEL>", "<FILE>", "--ctx", "--json", "--threads"],
    ),
    (
        "serve",
        &["<MODEL>", "--host", "--port", "--api-key", "--api-keys", "--parallel", "--ctx", "--threads", "--policy"],
    ),
];

#[test]
fn every_subcommand_help_names_its_options() {
    for (cmd, needles) in SUBCOMMANDS {
        let r = run(&[cmd, "--help"]).success();
        assert!(
            r.stdout.contains(&format!("Usage: allmende {cmd}")),
            "{cmd} --help:\n{}",
            r.stdout
        );
        for n in *needles {
            assert!(
                r.stdout.contains(n),
                "`{cmd} --help` does not mention {n}:\n{}",
                r.stdout
            );
        }
        // `allmende help CMD` prints the same text.
        assert_eq!(run(&["help", cmd]).success().stdout, r.stdout, "help {cmd}");
    }
}

#[test]
fn documented_defaults_are_shown() {
    let r = run(&["run", "--help"]).success();
    for d in [
        "[default: 256]",
        "[default: 0.8]",
        "[default: 40]",
        "[default: 0.95]",
        "[default: 0.05]",
        "[default: 1]",
    ] {
        assert!(r.stdout.contains(d), "run --help lacks {d}:\n{}", r.stdout);
    }
    let r = run(&["perplexity", "--help"]).success();
    assert!(r.stdout.contains("[default: 512]"), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_2_without_panicking() {
    // clap's convention: a usage error exits 2 with `error:` on stderr.
    for args in [
        &["frobnicate"][..],
        &["logits", "x.gguf"],
        &["run"],
        &["run", "m", "--temp", "warm"],
        &[],
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(2), "allmende {args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("error:") || r.stderr.contains("Usage:"),
            "allmende {args:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked"),
            "allmende {args:?}: {}",
            r.stderr
        );
    }
}
