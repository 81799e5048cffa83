#!/usr/bin/env python3
"""Load test of an OpenAI-compatible server on loopback: `allmende serve` against llama.cpp's
`llama-server`, same GGUF file, same number of slots, threads and context per slot.

For each tool the script starts the server, waits for GET /health to answer 200, sends one short
warm-up request, then for each concurrency C (default 1, 4, 8) and each of R rounds fires C
streaming POST /v1/completions requests at once (threads released together by a barrier; every
prompt is the same prefix plus its own suffix, so prompts differ but share a cacheable prefix).
Each request asks for `max_tokens` tokens greedily with `ignore_eos`, so every stream generates
exactly that many. Per request: TTFT (request sent -> first chunk with non-empty text), total
time, tokens (from `usage` when the server sends it, else the number of content chunks; both are
recorded and a disagreement is reported). Per round: aggregate generated tokens/s = all tokens of
the round / wall time of the round (first send to last stream end).

Output: a Markdown table on stdout and JSON lines in --out (one `round` record per round with its
requests, one `summary` record per tool and concurrency). Python 3 standard library only.

    python3 bench/serve_load.py --tool both --model ~/.cache/allmende/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
"""

import argparse
import datetime
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOME = os.path.expanduser("~")
DEFAULT_LLAMA = os.path.join(
    os.environ.get("ALLMENDE_BENCH_CACHE", os.path.join(HOME, ".cache", "allmende-bench")),
    "llama.cpp-0.3.36", "bin", "llama-server")
DEFAULT_MODEL = os.path.join(HOME, ".cache", "allmende", "models", "smollm2-135m-instruct",
                             "SmolLM2-135M-Instruct.Q4_1.gguf")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# About 60 tokens for the usual BPE vocabularies; the per-request suffix follows it.
PREFIX = ("The following is a long story about a lighthouse keeper who lives alone on a small "
          "rocky island in the northern sea. Every evening she climbs the stairs, lights the "
          "lamp and writes in her logbook what she saw during the day. ")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list: with few samples p99 is the max."""
    v = sorted(values)
    rank = max(1, -(-len(v) * q // 100))  # ceil(len * q / 100)
    return v[int(rank) - 1]


def mean_sd(values):
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


class Server:
    """One server process on 127.0.0.1:port, its output in a log file."""

    def __init__(self, tool, args, port, log_path):
        self.tool = tool
        self.port = port
        self.log_path = log_path
        model = os.path.abspath(os.path.expanduser(args.model))
        if tool == "allmende":
            cmd = [args.bin, "serve", model, "--port", str(port), "--parallel", str(args.slots),
                   "-t", str(args.threads), "--ctx", str(args.ctx),
                   # Room for every request of the largest burst: nothing may be refused.
                   "--queue", str(max(64, 2 * max(args.concurrency)))]
        else:
            cmd = [args.llama_bin, "-m", model, "--port", str(port), "--host", "127.0.0.1",
                   "-np", str(args.slots), "-t", str(args.threads), "-c", str(args.ctx * args.slots)]
        cmd += args.extra_allmende if tool == "allmende" else args.extra_llama
        self.cmd = cmd
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout):
        """Polls GET /health until 200 (llama-server answers 503 while it loads)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} exited with {self.proc.returncode} before it was ready; "
                                   f"log {self.log_path}:\n{self.tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.tool} not ready after {timeout} s; log {self.log_path}:\n{self.tail()}")

    def tail(self, n=30):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def stop(self):
        """SIGTERM (both servers drain and exit), SIGKILL after 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def stream_completion(port, body, start_barrier, timeout):
    """One streaming POST /v1/completions; returns the per-request record."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.connect()  # Before the barrier: the burst starts with connections open.
    payload = json.dumps(body).encode()
    if start_barrier is not None:
        start_barrier.wait()
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=payload,
                 headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    rec = {"status": resp.status, "ttft_ms": None, "total_ms": None, "chunks": 0, "usage_tokens": None,
           "timings_tokens": None, "finish_reason": None, "text": "", "error": None}
    if resp.status != 200:
        rec["error"] = resp.read().decode(errors="replace")[:500]
        rec["total_ms"] = (time.perf_counter() - t0) * 1e3
        conn.close()
        return rec
    text = []
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if "error" in ev:
            rec["error"] = json.dumps(ev["error"])[:500]
            continue
        for ch in ev.get("choices") or []:
            piece = ch.get("text") or ""
            if piece:
                if rec["ttft_ms"] is None:
                    rec["ttft_ms"] = (time.perf_counter() - t0) * 1e3
                rec["chunks"] += 1
                text.append(piece)
            if ch.get("finish_reason"):
                rec["finish_reason"] = ch["finish_reason"]
        if ev.get("usage"):
            rec["usage_tokens"] = ev["usage"].get("completion_tokens")
        if ev.get("timings"):  # llama-server's own count
            rec["timings_tokens"] = ev["timings"].get("predicted_n")
    rec["total_ms"] = (time.perf_counter() - t0) * 1e3
    conn.close()
    rec["text"] = "".join(text)
    return rec


def request_body(args, model_id, suffix, max_tokens):
    return {"model": model_id, "prompt": PREFIX + suffix, "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}


def run_round(port, args, model_id, conc, rnd):
    barrier = threading.Barrier(conc)
    results = [None] * conc

    def worker(i):
        body = request_body(args, model_id, f"Entry {rnd * 100 + i} of the logbook (concurrency {conc}):",
                            args.max_tokens)
        try:
            results[i] = stream_completion(port, body, barrier, args.request_timeout)
        except Exception as e:  # noqa: BLE001 -- recorded, reported, never silently dropped
            results[i] = {"status": None, "error": f"{type(e).__name__}: {e}", "ttft_ms": None, "total_ms": None,
                          "chunks": 0, "usage_tokens": None, "timings_tokens": None, "finish_reason": None,
                          "text": ""}
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for r in results:
        r["tokens"] = r["usage_tokens"] if r["usage_tokens"] is not None else r["chunks"]
    return results, wall


def bench_tool(tool, args, out, rows):
    port = args.port or free_port()
    model_id = os.path.basename(args.model)
    log_path = os.path.join(args.log_dir, f"serve_load-{tool}-{os.getpid()}.log")
    srv = Server(tool, args, port, log_path)
    print(f"# {tool}: {' '.join(srv.cmd)} (log {log_path})", file=sys.stderr)
    errors, notes = [], []
    try:
        srv.wait_ready(args.ready_timeout)
        # Warm-up: pages the weights in and runs each server's first-request setup.
        w = stream_completion(port, request_body(args, model_id, "Warm-up.", 8), None, args.request_timeout)
        if w["status"] != 200 or w["error"]:
            raise RuntimeError(f"{tool} warm-up failed: {w}")
        for conc in args.concurrency:
            rates, ttfts, per_stream, loads = [], [], [], []
            for rnd in range(args.rounds):
                time.sleep(args.pause)
                load1 = os.getloadavg()[0]
                loads.append(load1)
                reqs, wall = run_round(port, args, model_id, conc, rnd)
                tokens = sum(r["tokens"] for r in reqs)
                rate = tokens / wall
                rates.append(rate)
                for i, r in enumerate(reqs):
                    where = f"{tool} c={conc} round {rnd} request {i}"
                    if r["status"] != 200 or r["error"]:
                        errors.append(f"{where}: status {r['status']}, error {r['error']}")
                        continue
                    if r["tokens"] != args.max_tokens:
                        errors.append(f"{where}: {r['tokens']} tokens, not {args.max_tokens} "
                                        f"(finish_reason {r['finish_reason']})")
                    for name in ("usage_tokens", "timings_tokens"):
                        if r[name] is not None and r[name] != r["tokens"]:
                            errors.append(f"{where}: {name} {r[name]} != {r['tokens']}")
                    if r["chunks"] != r["tokens"]:
                        # Not an error (a chunk may hold several tokens, or a token no text yet),
                        # but worth knowing when comparing how the servers stream.
                        notes.append(f"{where}: {r['chunks']} content chunks for {r['tokens']} tokens")
                    ttfts.append(r["ttft_ms"])
                    decode_s = (r["total_ms"] - r["ttft_ms"]) / 1e3
                    if r["tokens"] > 1 and decode_s > 0:
                        per_stream.append((r["tokens"] - 1) / decode_s)
                rec = {"kind": "round", "tool": tool, "model": model_id, "slots": args.slots, "threads": args.threads,
                       "ctx": args.ctx, "concurrency": conc, "round": rnd, "max_tokens": args.max_tokens,
                       "load1": load1, "wall_s": wall, "tokens": tokens, "agg_tok_s": rate,
                       "requests": [{k: v for k, v in r.items() if k != "text"} | {"text_head": r["text"][:80]}
                                    for r in reqs]}
                out.write(json.dumps(rec) + "\n")
                out.flush()
                print(f"# {tool} c={conc} round {rnd}: {tokens} tokens in {wall:.2f} s = {rate:.1f} tok/s "
                      f"(load {load1:.2f})", file=sys.stderr)
            m, sd = mean_sd(rates)
            summary = {"kind": "summary", "tool": tool, "model": model_id, "slots": args.slots,
                       "threads": args.threads, "ctx": args.ctx, "concurrency": conc, "rounds": args.rounds,
                       "max_tokens": args.max_tokens, "agg_tok_s_mean": m, "agg_tok_s_sd": sd,
                       "ttft_p50_ms": percentile(ttfts, 50) if ttfts else None,
                       "ttft_p99_ms": percentile(ttfts, 99) if ttfts else None,
                       "per_stream_tok_s_mean": statistics.fmean(per_stream) if per_stream else None,
                       "load1_max": max(loads), "host": socket.gethostname(),
                       "date": datetime.datetime.now().isoformat(timespec="seconds"), "cmd": srv.cmd}
            out.write(json.dumps(summary) + "\n")
            out.flush()
            rows.append(summary)
    finally:
        srv.stop()
    return errors, notes


def table(rows):
    def f(x, fmt):
        return "n/a" if x is None else format(x, fmt)

    lines = ["| tool | model | slots | threads | concurrency | aggregate tok/s | TTFT p50 ms | TTFT p99 ms "
             "| per-stream tok/s | load (max) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['tool']} | {r['model']} | {r['slots']} | {r['threads']} | {r['concurrency']} "
                     f"| {r['agg_tok_s_mean']:.1f} ± {r['agg_tok_s_sd']:.1f} | {f(r['ttft_p50_ms'], '.0f')} "
                     f"| {f(r['ttft_p99_ms'], '.0f')} | {f(r['per_stream_tok_s_mean'], '.1f')} "
                     f"| {r['load1_max']:.2f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", choices=["allmende", "llamacpp", "both"], default="both")
    p.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (both servers load the same file)")
    p.add_argument("--bin", default=os.environ.get("ALLMENDE_BIN", os.path.join(REPO, "target", "release", "allmende")),
                   help="allmende binary (default $ALLMENDE_BIN or target/release/allmende)")
    p.add_argument("--llama-bin", default=DEFAULT_LLAMA, help="llama-server binary")
    p.add_argument("--concurrency", default="1,4,8", help="comma-separated concurrent streams")
    p.add_argument("--slots", type=int, default=None,
                   help="parallel sequences of both servers (default: the largest concurrency)")
    p.add_argument("-t", "--threads", type=int, default=os.cpu_count(), help="compute threads of both servers")
    p.add_argument("--ctx", type=int, default=512,
                   help="context per slot (llama-server gets -c ctx*slots, split across its slots)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--pause", type=float, default=1.0, help="seconds of rest before each round")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--request-timeout", type=float, default=600.0)
    p.add_argument("--out", default=None, help="JSON-lines results (default bench/results/serve-DATE-HOST.jsonl)")
    p.add_argument("--log-dir", default=tempfile.gettempdir(), help="where the servers' output goes")
    p.add_argument("--first", choices=["allmende", "llamacpp"], default="allmende",
                   help="with --tool both: which server runs first (alternate it between runs)")
    p.add_argument("--extra-allmende", default="", help="more arguments for allmende serve (one string)")
    p.add_argument("--extra-llama", default="", help="more arguments for llama-server (one string)")
    args = p.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not args.concurrency or min(args.concurrency) < 1:
        p.error("--concurrency needs positive integers")
    args.slots = args.slots or max(args.concurrency)
    args.extra_allmende = args.extra_allmende.split()
    args.extra_llama = args.extra_llama.split()
    args.model = os.path.expanduser(args.model)
    if not os.path.isfile(args.model):
        p.error(f"no model file {args.model}")
    if args.out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
        args.out = os.path.join(REPO, "bench", "results", f"serve-{stamp}-{socket.gethostname()}.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.tool == "both":
        tools = [args.first, "llamacpp" if args.first == "allmende" else "allmende"]
    else:
        tools = [args.tool]
    for t in tools:
        binary = args.bin if t == "allmende" else args.llama_bin
        if not os.access(binary, os.X_OK):
            p.error(f"{t}: {binary} is not an executable")

    print(f"# load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; results -> {args.out}", file=sys.stderr)
    rows, errors, notes = [], [], []
    # One server at a time, so an idle one never competes for the cores.
    with open(args.out, "a") as out:
        for t in tools:
            e, n = bench_tool(t, args, out, rows)
            errors += e
            notes += n
    print(table(rows))
    for title, items in (("notes", notes), ("ERRORS", errors)):
        if items:
            print(f"\n{len(items)} {title}:", file=sys.stderr)
            for x in items[:20]:
                print(f"  {x}", file=sys.stderr)
            if len(items) > 20:
                print(f"  ... and {len(items) - 20} more (see {args.out})", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
