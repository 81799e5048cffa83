#!/usr/bin/env python3
"""Time to first token with a shared system prompt, with and without the shared prefix cache.

For each setting (--prefix-cache default, then 0) and each of TRIALS fresh servers
(`allmende serve MODEL --parallel P`): P streaming chat requests that share one long system
prompt arrive GAP ms apart while the earlier ones are still generating, so each lands in an
empty slot. Without the shared cache every one computes the system prompt; with it, all but the
first copy it. Reports the TTFT p50/p90 (ms) of the requests after the first.

    python3 bench/prefix_ttft.py --bin target/release/allmende --model smollm2-135m-instruct
"""
import argparse, http.client, json, statistics, subprocess, threading, time

SYSTEM = ("You are a careful assistant for a small engineering company. " * 2 +
          "Answer briefly, cite the relevant policy section when you can, never invent facts, "
          "and say so when you do not know. The company's policies cover travel, expenses, "
          "security, data handling, vacation, hardware, software licences and customer contact. ") * 6

def start(bin_, model, port, parallel, extra):
    p = subprocess.Popen([bin_, "serve", model, "--port", str(port), "--parallel", str(parallel)] + extra,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/health")
            if c.getresponse().status == 200: return p
        except OSError: time.sleep(0.1)
    raise SystemExit("server did not start")

def ttft(port, model, question):
    body = {"model": model, "stream": True, "max_tokens": 48, "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    while True:
        line = r.readline()
        if not line: raise SystemExit("stream ended early")
        if line.startswith(b"data: {"):
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                t = time.perf_counter() - t0; r.read(); return t * 1000

def trial(port, model, parallel, gap):
    res = [None] * parallel
    def one(i):
        res[i] = ttft(port, model, f"Question {i}: what does the travel policy say about trains?")
    ts = []
    for i in range(parallel):
        t = threading.Thread(target=one, args=(i,)); t.start(); ts.append(t)
        time.sleep(gap / 1000)
    [t.join() for t in ts]
    return res[1:]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/allmende"); ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--parallel", type=int, default=4); ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--gap", type=float, default=300); ap.add_argument("--port", type=int, default=18123)
    a = ap.parse_args()
    for label, extra in [("shared prefix cache", []), ("no shared prefix cache", ["--prefix-cache", "0"])]:
        ms = []
        for _ in range(a.trials):
            p = start(a.bin, a.model, a.port, a.parallel, extra)
            try:
                ms += trial(a.port, a.model, a.parallel, a.gap)
            finally:
                p.terminate(); p.wait()
        ms.sort()
        p50 = statistics.median(ms); p90 = ms[int(0.9 * (len(ms) - 1))]
        print(json.dumps({"model": a.model, "parallel": a.parallel, "gap_ms": a.gap, "setting": label, "n": len(ms),
                          "ttft_p50_ms": round(p50, 1), "ttft_p90_ms": round(p90, 1)}), flush=True)

main()
