#!/usr/bin/env bash
# bench/compare.sh: side-by-side speed of llama.cpp (llama-bench) and allmende (`allmende bench`) on the
# same GGUF files and thread counts, plus peak memory of a 128-token generation at ctx 2048 in each tool
# and a STREAM-like read bandwidth figure. Writes the raw JSON lines to bench/results/<date>-<host>.jsonl
# and the markdown report (bench/report.py) next to it.
#
# Reference: llama.cpp tools/llama-bench (pp = prompt tokens from an empty context in one batch,
# tg = tokens decoded one at a time; one warm-up run, then -r timed runs, mean ± stddev of t/s);
# `allmende bench` measures the same way (crates/cli/src/commands/bench.rs).
#
# Usage: bench/compare.sh [-p 512] [-n 128] [-d 0] [-t 1,2] [-r 3] [--rounds 1] [-m MODEL,MODEL...] [--no-mem] [--no-stream]
#                         [--mem-threads 2] [--mem-ctx 2048] [--out FILE.jsonl] [--note TEXT]
#                         [--also-llama LABEL:DIR]
#   -d D[,D...]: context depths (llama-bench's --n-depth): each test runs with D tokens already in the KV
#          cache; the tests are named ppN@dD / tgN@dD.
#   --rounds K: run each (model, threads) pair K times, alternating the tools and rotating which goes first;
#          the report pools every timed repetition of a tool (on a shared host memory bandwidth drifts by
#          ±15% over minutes, which one run per tool cannot tell from a difference between the tools).
#   --also-llama: a second llama.cpp build (e.g. llama.cpp-avx2:$CACHE/llama.cpp-0.3.36-avx2/bin, from
#          VARIANT=avx2 bench/build-llamacpp.sh) benchmarked as a third tool named LABEL (speed only).
#   MODEL: a catalogue name (smollm2-135m-instruct, gemma3-270m, qwen2.5-coder-0.5b-instruct), a synthetic
#          name (tinyllama-synthetic-q4_0, tinyllama-synthetic-q4_k_m; generated on first use), or a .gguf path.
# Environment:
#   ALLMENDE_BENCH_CACHE  cache root (default ~/.cache/allmende-bench): llama.cpp build, synthetic models
#   LLAMA_BIN             folder with llama-bench and llama-completion (default: the build-llamacpp.sh output)
#   ALLMENDE_BIN          allmende binary (default: `cargo build --release -p allmende`, then target/release)
#   ALLMENDE_BENCH_HOST   host label in the results file name (default: <cores>c-<cpu model>)
# Not run in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ALLMENDE_BENCH_CACHE:-$HOME/.cache/allmende-bench}"
LLAMA_BIN="${LLAMA_BIN:-$CACHE/llama.cpp-${LLAMACPP_PY_VERSION:-0.3.36}/bin}"
P=512 N=128 D=0 T=1,2 R=3 ROUNDS=1 MEM=1 STREAM=1 MEM_THREADS=2 MEM_CTX=2048 OUT="" NOTE="" EXTRA_LABEL="" EXTRA_BIN=""
MODELS="smollm2-135m-instruct,gemma3-270m,qwen2.5-coder-0.5b-instruct,tinyllama-synthetic-q4_0,tinyllama-synthetic-q4_k_m"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -t) T="$2"; shift 2 ;;
    -r) R="$2"; shift 2 ;;
    -d) D="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    -m) MODELS="$2"; shift 2 ;;
    --no-mem) MEM=0; shift ;;
    --no-stream) STREAM=0; shift ;;
    --mem-threads) MEM_THREADS="$2"; shift 2 ;;
    --mem-ctx) MEM_CTX="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --note) NOTE="$2"; shift 2 ;;
    --also-llama) EXTRA_LABEL="${2%%:*}"; EXTRA_BIN="${2#*:}"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# --- tools -------------------------------------------------------------------------------------------
for t in llama-bench llama-completion; do
  [[ -x "$LLAMA_BIN/$t" ]] || { echo "missing $LLAMA_BIN/$t: run bench/build-llamacpp.sh first" >&2; exit 1; }
done
if [[ -n "$EXTRA_BIN" && ! -x "$EXTRA_BIN/llama-bench" ]]; then
  echo "missing $EXTRA_BIN/llama-bench (--also-llama LABEL:DIR)" >&2; exit 1
fi
if [[ -z "${ALLMENDE_BIN:-}" ]]; then
  log "building allmende (release)"
  (cd "$ROOT" && cargo build --release --quiet -p allmende --bin allmende)
  ALLMENDE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/allmende"
fi
[[ -x "$ALLMENDE_BIN" ]] || { echo "no allmende binary at $ALLMENDE_BIN" >&2; exit 1; }

mkdir -p "$CACHE/models"
synthetic_path() { echo "$CACHE/models/tinyllama-synthetic-1.1b-$1.gguf"; }
resolve() {  # model key -> file path
  local m="$1"
  case "$m" in
    tinyllama-synthetic-q4_0|tinyllama-synthetic-q4_k_m)
      local mix="${m#tinyllama-synthetic-}" f
      f="$(synthetic_path "$mix")"
      if [[ ! -f "$f" ]]; then
        log "generating $f"
        (cd "$ROOT" && cargo run --release --quiet -p allmende --example make_synthetic_gguf -- "$f" "$mix")
      fi
      echo "$f" ;;
    *.gguf) echo "$m" ;;
    *) "$ALLMENDE_BIN" list --json | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["name"] == sys.argv[1] and r["present"]]
if not rows: sys.exit("model %s is not in the catalogue cache (allmende pull %s)" % (sys.argv[1], sys.argv[1]))
print(rows[0]["path"])' "$m" ;;
  esac
}

# --- output ------------------------------------------------------------------------------------------
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
host="${ALLMENDE_BENCH_HOST:-$(nproc)c-$(echo "$cpu" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-$//')}"
if [[ -z "$OUT" ]]; then
  OUT="$ROOT/bench/results/$(date +%Y-%m-%d)-$host.jsonl"
  i=2; base="${OUT%.jsonl}"
  while [[ -e "$OUT" ]]; do OUT="$base-$i.jsonl"; i=$((i + 1)); done
fi
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
LOGDIR="$CACHE/logs/$(basename "$OUT" .jsonl)"
mkdir -p "$LOGDIR"
emit() { echo "$1" >>"$OUT"; }

# Wrap a tool's JSON line with what the report needs.
wrap() {  # tool model file  < json lines
  python3 -c '
import json, sys
tool, model, path, load = sys.argv[1:5]
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"): continue
    r = json.loads(line)
    if tool.startswith("llama.cpp"):
        test = ("pp%d" % r["n_prompt"]) if r["n_gen"] == 0 else ("tg%d" % r["n_gen"])
        if r.get("n_depth"):
            test += "@d%d" % r["n_depth"]  # allmende bench names depth tests the same way
        threads = r["n_threads"]
    else:
        test, threads = r["test"], r["threads"]
    print(json.dumps({"kind": "speed", "tool": tool, "model": model, "file": path, "size": r.get("model_size"),
                      "threads": threads, "test": test, "avg_ts": r["avg_ts"], "stddev_ts": r["stddev_ts"],
                      "samples_ts": r.get("samples_ts"), "load1_before": float(load), "raw": r}))
' "$@"
}

allmende_rev="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
allmende_dirty="$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
emit "$(python3 -c '
import json, os, platform, sys
mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")][0].split()[1]
flags = [l for l in open("/proc/cpuinfo") if l.startswith("flags")][0].split()
print(json.dumps({"kind": "machine", "date": sys.argv[1], "cpu": sys.argv[2], "cores": os.cpu_count(),
    "mem_kib": int(mem), "kernel": platform.release(),
    "simd": [f for f in flags if f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni")],
    "loadavg": open("/proc/loadavg").read().split()[:3], "allmende_rev": sys.argv[3],
    "allmende_modified_files": int(sys.argv[4]), "allmende_bin": sys.argv[5],
    "allmende_bin_built": __import__("datetime").datetime.fromtimestamp(os.path.getmtime(sys.argv[5])).isoformat(timespec="seconds"), "llama_bin": sys.argv[6], "also_llama": sys.argv[14],
    "params": {"p": sys.argv[7], "n": sys.argv[8], "t": sys.argv[9], "r": sys.argv[10], "rounds": int(sys.argv[15]),
               "mem_ctx": sys.argv[11], "mem_threads": sys.argv[12]}, "note": sys.argv[13]}))
' "$(date -Iseconds)" "$cpu" "$allmende_rev" "$allmende_dirty" "$ALLMENDE_BIN" "$LLAMA_BIN" \
  "$P" "$N" "$T" "$R" "$MEM_CTX" "$MEM_THREADS" "$NOTE" "${EXTRA_LABEL:+$EXTRA_LABEL=$EXTRA_BIN}" "$ROUNDS")"

# --- bandwidth ---------------------------------------------------------------------------------------
stream() {
  local tag="$1" exe="$CACHE/stream_read"
  if [[ ! -x "$exe" || "$ROOT/bench/stream_read.c" -nt "$exe" ]]; then
    cc -O3 -march=native -pthread "$ROOT/bench/stream_read.c" -o "$exe"
  fi
  log "STREAM-like read bandwidth ($tag)"
  "$exe" 1024 10 "$T" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line); r["kind"] = "stream"; r["when"] = sys.argv[1]; r["load1_before"] = float(sys.argv[2])
    print(json.dumps(r))' "$tag" "$(load1)" >>"$OUT"
}
[[ "$STREAM" == 1 ]] && stream before

# --- speed: alternate which tool goes first, per model and thread count ------------------------------
IFS=, read -r -a model_list <<<"$MODELS"
IFS=, read -r -a thread_list <<<"$T"
declare -A PATHS
for m in "${model_list[@]}"; do PATHS[$m]="$(resolve "$m")"; done
order=0
run_llama() {  # model path threads [label bindir]
  local l label="${4:-llama.cpp}" dir="${5:-$LLAMA_BIN}"; l="$(load1)"
  log "llama-bench  $1 t=$3 ($label, load $l)"
  "$dir/llama-bench" -m "$2" -p "$P" -n "$N" -d "$D" -t "$3" -r "$R" -o jsonl 2>>"$LOGDIR/$label-bench.log" \
    | wrap "$label" "$1" "$2" "$l" >>"$OUT"
}
run_extra() { run_llama "$1" "$2" "$3" "$EXTRA_LABEL" "$EXTRA_BIN"; }
run_allmende() {
  local l; l="$(load1)"
  log "allmende bench $1 t=$3 (load $l)"
  "$ALLMENDE_BIN" bench "$2" -p "$P" -n "$N" -d "$D" -t "$3" -r "$R" --json 2>>"$LOGDIR/allmende-bench.log" \
    | wrap allmende "$1" "$2" "$l" >>"$OUT"
}
for m in "${model_list[@]}"; do
  for t in "${thread_list[@]}"; do
    # Touch the file once so the first tool does not pay for reading it from disk.
    cat "${PATHS[$m]}" >/dev/null
    runners=(run_llama run_allmende)
    [[ -n "$EXTRA_BIN" ]] && runners+=(run_extra)
    # Rotate the order: (llama, allmende[, extra]), then (allmende, [extra,] llama), ...
    k=${#runners[@]}
    for ((round = 0; round < ROUNDS; round++)); do
      for ((j = 0; j < k; j++)); do
        "${runners[$(( (j + order) % k ))]}" "$m" "${PATHS[$m]}" "$t"
      done
      order=$((order + 1))
    done
  done
done

# --- peak memory: 128 tokens at ctx 2048, same prompt, greedy ----------------------------------------
PROMPT="The quick brown fox jumps over the lazy dog. Once upon a time, in a land far away, there lived"
measure() {  # tool model command...
  local tool="$1" model="$2" l; shift 2
  l="$(load1)"
  log "peak memory  $tool $model"
  local tf="$LOGDIR/time.txt"
  /usr/bin/time -f '%M %e' -o "$tf" "$@" </dev/null >"$LOGDIR/mem-$tool-$model.out" 2>"$LOGDIR/mem-$tool-$model.err" || {
    log "  failed (exit $?), see $LOGDIR/mem-$tool-$model.err"; return 0; }
  read -r rss wall <"$tf"
  python3 -c '
import json, sys
tool, model, rss, wall, load, cmd = sys.argv[1:7]
print(json.dumps({"kind": "memory", "tool": tool, "model": model, "max_rss_kib": int(rss), "wall_s": float(wall),
                  "load1_before": float(load), "cmd": cmd}))' "$tool" "$model" "$rss" "$wall" "$l" "$*" >>"$OUT"
}
if [[ "$MEM" == 1 ]]; then
  for m in "${model_list[@]}"; do
    f="${PATHS[$m]}"
    measure llama.cpp "$m" "$LLAMA_BIN/llama-completion" -m "$f" -p "$PROMPT" -n 128 -c "$MEM_CTX" \
      -t "$MEM_THREADS" --temp 0 --seed 1 -no-cnv --ignore-eos
    measure allmende "$m" "$ALLMENDE_BIN" run "$f" --raw -n 128 --temp 0 --seed 1 -c "$MEM_CTX" \
      -t "$MEM_THREADS" "$PROMPT"
  done
fi

[[ "$STREAM" == 1 ]] && stream after
emit "$(python3 -c 'import json; print(json.dumps({"kind": "end", "loadavg": open("/proc/loadavg").read().split()[:3]}))')"

python3 "$ROOT/bench/report.py" "$OUT" | tee "${OUT%.jsonl}.md"
log "results: $OUT (report ${OUT%.jsonl}.md, logs $LOGDIR)"
