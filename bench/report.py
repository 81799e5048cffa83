#!/usr/bin/env python3
"""bench/report.py: turns the JSON lines of bench/compare.sh into a markdown report.

Usage: python3 bench/report.py RESULTS.jsonl [MORE.jsonl ...]   (markdown on stdout)

Records (one JSON object per line, field "kind"):
  machine  cpu, cores, memory, load average at the start, revisions, parameters
  stream   STREAM-like read bandwidth (bench/stream_read.c) per thread count, before and after
  speed    one llama-bench or `allmende bench` figure: tool, model, threads, test (ppN/tgN), avg_ts, stddev_ts
  memory   peak resident set (KiB) of a 128-token generation at a fixed context, per tool and model
  end      load average at the end
The "share of the bandwidth limit" is tg t/s ÷ (best read bandwidth of the run ÷ file size): generation reads every
weight once per token, so file size ≈ bytes per token (the KV cache of a 128-token run is small beside it).
"""
import json
import sys
from collections import OrderedDict, defaultdict


def load(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            recs.extend(json.loads(line) for line in f if line.strip())
    return recs


def mib(b):
    return b / 1048576.0


def fmt_ts(r):
    if r is None:
        return "–"
    return "%.1f ± %.1f" % (r["avg_ts"], r["stddev_ts"])


def ratio(a, b):
    return "%.2f" % (a["avg_ts"] / b["avg_ts"]) if a and b and b["avg_ts"] > 0 else "–"


def best_ratio(a, b):
    if not a or not b or not a.get("samples_ts") or not b.get("samples_ts"):
        return "–"
    return "%.2f" % (max(a["samples_ts"]) / max(b["samples_ts"]))


def pool_rounds(rs):
    """One record for a tool's runs of one test (several with compare.sh --rounds): every timed
    repetition pooled, so the mean and the best run cover all rounds."""
    if len(rs) == 1:
        return rs[0]
    samples = [x for r in rs for x in (r.get("samples_ts") or [r["avg_ts"]])]
    mean = sum(samples) / len(samples)
    sd = (sum((x - mean) ** 2 for x in samples) / max(len(samples) - 1, 1)) ** 0.5
    merged = dict(rs[0])
    merged.update(avg_ts=mean, stddev_ts=sd, samples_ts=samples,
                  load1_before=sum(r["load1_before"] for r in rs) / len(rs), rounds=len(rs))
    return merged


def main(paths):
    recs = load(paths)
    out = []
    w = out.append
    machines = [r for r in recs if r["kind"] == "machine"]
    ends = [r for r in recs if r["kind"] == "end"]
    for m in machines:
        w("Run %s on %s (%d cores, %.1f GiB, kernel %s, SIMD: %s)." % (
            m["date"], m["cpu"], m["cores"], m["mem_kib"] / 1048576.0, m["kernel"], " ".join(m["simd"])))
        w("allmende %s%s, binary built %s; llama.cpp from %s. Parameters: -p %s -n %s -t %s -r %s; memory at ctx %s, %s threads." % (
            m["allmende_rev"], " (+%d modified files)" % m["allmende_modified_files"] if m["allmende_modified_files"] else "",
            m.get("allmende_bin_built", "?"), m["llama_bin"] + (", also %s" % m["also_llama"] if m.get("also_llama") else ""), m["params"]["p"], m["params"]["n"], m["params"]["t"], m["params"]["r"] + (" --rounds %d" % m["params"]["rounds"] if m["params"].get("rounds", 1) > 1 else ""),
            m["params"]["mem_ctx"], m["params"]["mem_threads"]))
        if m.get("note"):
            w("Note: %s" % m["note"])
    if machines:
        w("Load average (1/5/15 min) at the start: %s; at the end: %s." % (
            " / ".join(machines[0]["loadavg"]), " / ".join(ends[-1]["loadavg"]) if ends else "?"))
    w("")

    # Speed, paired by (model, threads, test).
    speed = [r for r in recs if r["kind"] == "speed"]
    rows = OrderedDict()
    sizes = {}
    for r in speed:
        key = (r["model"], r["threads"], r["test"])
        rows.setdefault(key, {}).setdefault(r["tool"], []).append(r)
        if r["tool"] == "allmende" and r.get("size"):
            sizes[r["model"]] = r["size"]
        sizes.setdefault(r["model"], r.get("size") or 0)
    extras = sorted({r["tool"] for r in speed} - {"llama.cpp", "allmende"})
    head = "| model | size | threads | test | llama.cpp t/s | allmende t/s | allmende ÷ llama.cpp (mean) | (best run) |"
    rule = "|---|---:|---:|---|---:|---:|---:|---:|"
    for e in extras:
        head += " %s t/s | allmende ÷ %s (mean) | (best run) |" % (e, e)
        rule += "---:|---:|---:|"
    w(head + " load (1 min) |")
    w(rule + "---:|")
    rows = OrderedDict((key, {tool: pool_rounds(rs) for tool, rs in pair.items()}) for key, pair in rows.items())
    for (model, threads, test), pair in rows.items():
        lc, am = pair.get("llama.cpp"), pair.get("allmende")
        line = "| %s | %.0f MiB | %d | %s | %s | %s | %s | %s |" % (
            model, mib(sizes.get(model, 0)), threads, test, fmt_ts(lc), fmt_ts(am), ratio(am, lc), best_ratio(am, lc))
        for e in extras:
            line += " %s | %s | %s |" % (fmt_ts(pair.get(e)), ratio(am, pair.get(e)), best_ratio(am, pair.get(e)))
        loads = "/".join("%.1f" % p["load1_before"] for p in pair.values())
        w(line + " %s |" % loads)
    w("")
    w("Ratios above 1 mean allmende is faster. \"best run\" compares the fastest timed repetition of each tool, "
      "which is less sensitive to other processes on a shared machine than the mean.")
    w("")

    # Bandwidth and the share of the limit.
    streams = [r for r in recs if r["kind"] == "stream"]
    bw = defaultdict(list)
    if streams:
        w("| read bandwidth | threads | best GB/s | median GB/s | worst GB/s | load (1 min) |")
        w("|---|---:|---:|---:|---:|---:|")
        for s in streams:
            bw[s["threads"]].append(s["best_gbs"])
            w("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (
                s["when"], s["threads"], s["best_gbs"], s["median_gbs"], s["worst_gbs"], s["load1_before"]))
        w("")
    if bw:
        w("Share of the bandwidth limit in generation (limit = best read GB/s measured in this run ÷ file size):")
        w("")
        w("| model | threads | GB/s | limit tok/s | llama.cpp tg | share | allmende tg | share |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for (model, threads, test), pair in rows.items():
            if not test.startswith("tg") or "@d" in test or threads not in bw or not sizes.get(model):
                continue
            gbs = max(bw[threads])
            limit = gbs * 1e9 / sizes[model]
            cells = []
            for tool in ("llama.cpp", "allmende"):
                r = pair.get(tool)
                cells += ["%.1f" % r["avg_ts"], "%.0f%%" % (100 * r["avg_ts"] / limit)] if r else ["–", "–"]
            w("| %s | %d | %.1f | %.0f | %s |" % (model, threads, gbs, limit, " | ".join(cells)))
        w("")

    # Memory.
    mem = OrderedDict()
    for r in recs:
        if r["kind"] == "memory":
            mem.setdefault(r["model"], {})[r["tool"]] = r
    if mem:
        w("Peak resident memory, 128 generated tokens at the context above (`/usr/bin/time` max RSS, "
          "mapped weights included):")
        w("")
        w("| model | llama.cpp MiB | allmende MiB | allmende ÷ llama.cpp | llama.cpp wall s | allmende wall s |")
        w("|---|---:|---:|---:|---:|---:|")
        for model, pair in mem.items():
            lc, am = pair.get("llama.cpp"), pair.get("allmende")
            rss_ratio = "%.2f" % (am["max_rss_kib"] / lc["max_rss_kib"]) if lc and am else "–"
            w("| %s | %s | %s | %s | %s | %s |" % (
                model,
                "%.0f" % (lc["max_rss_kib"] / 1024) if lc else "–",
                "%.0f" % (am["max_rss_kib"] / 1024) if am else "–",
                rss_ratio,
                "%.1f" % lc["wall_s"] if lc else "–",
                "%.1f" % am["wall_s"] if am else "–"))
        w("")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
