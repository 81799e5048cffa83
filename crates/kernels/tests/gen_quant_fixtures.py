#!/usr/bin/env python3
"""Generate the block-format fixtures in tests/fixtures/ (deterministic, seed 0, offline).

Reference: gguf-py (`pip install gguf numpy`, written against gguf 0.19.0), whose
`gguf.quants.quantize` reproduces ggml's `quantize_row_*_ref` bit for bit for
Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/BF16, and whose `gguf.quants.dequantize` mirrors ggml's
`dequantize_row_*` for every format it knows.

For each type NAME this writes (all little-endian):
  NAME.src     f32 input row          (types we check quantization for)
  NAME.blocks  raw block bytes        (gguf-py quantize output, or random blocks for K-quants)
  NAME.deq     f32 dequantized row    (gguf-py dequantize of NAME.blocks)

gguf-py has no Q8_1 or Q8_K class: for those two activation formats this script carries a small
numpy port of ggml's `quantize_row_q8_1_ref` / `quantize_row_q8_K_ref` (and x = d*q for the
dequantized row). K-quant weight blocks are random bytes with sane f16 super-scales, plus
adversarial blocks (all-ones quant bytes, zero scales, large scales).

Usage: python3 crates/kernels/tests/gen_quant_fixtures.py
"""

import hashlib
import importlib.metadata
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
N = 2048  # elements per fixture row: 8 K-quant super-blocks, 64 legacy blocks
rng = np.random.default_rng(0)


def source_row() -> np.ndarray:
    """A row mixing random blocks over many magnitudes with adversarial blocks."""
    x = np.empty(N, dtype=np.float32)
    # 1024 elements: normal data with a per-32-block scale from 1e-6 to 3e3
    scales = np.logspace(-6, 3.5, 32).astype(np.float32)
    rng.shuffle(scales)
    x[:1024] = (rng.standard_normal(1024).astype(np.float32).reshape(32, 32) * scales[:, None]).ravel()
    o = 1024
    x[o:o + 64] = 0.0  # all-zero blocks (and the first quarter of a K super-block)
    o += 64
    # rounding ties: with amax = 127, Q8 scales are exactly 1 and x*id lands on k + 0.5
    ties = np.array([127.0] + [k + 0.5 for k in range(-63, 62, 4)][:31], dtype=np.float32)
    x[o:o + 32] = ties
    x[o + 32:o + 64] = -ties
    o += 64
    # equal magnitudes with opposite signs: the first one must win (Q4_0/Q5_0/Q8_K use its sign)
    eq = rng.uniform(-1, 1, 32).astype(np.float32)
    eq[3], eq[17] = -2.0, 2.0
    x[o:o + 32] = eq
    x[o + 32:o + 64] = -eq
    o += 64
    x[o:o + 32] = 0.75  # constant block (Q4_1/Q5_1 get d = 0)
    x[o + 32:o + 64] = rng.uniform(3e4, 6e4, 32).astype(np.float32)  # near the f16 limit
    o += 64
    # 1.0 .. 1.0+2^-11 steps: f16 rounding of d decides ties
    x[o:o + 64] = (1.0 + np.arange(64, dtype=np.float32) * np.float32(2.0 ** -11)) * np.where(np.arange(64) % 3 == 0, -1, 1)
    o += 64
    x[o:] = rng.standard_normal(N - o).astype(np.float32) * np.float32(0.02)
    return x


def f16_bytes(v) -> np.ndarray:
    # Overflow to inf is intended (ggml's FP32_TO_FP16 does the same, e.g. Q8_1 `s` of huge blocks).
    with np.errstate(over="ignore"):
        return np.asarray(v, dtype=np.float16).reshape(-1).view(np.uint8)


def np_roundf(v: np.ndarray) -> np.ndarray:
    return quants.np_roundf(v)


def quantize_q8_1(x: np.ndarray) -> np.ndarray:
    """numpy port of ggml quantize_row_q8_1_ref (d, s = d*sum(q), 32 x int8)."""
    blocks = x.reshape(-1, 32)
    d = (np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = np_roundf(blocks * inv).astype(np.int8)
    s = q.astype(np.int32).sum(axis=1, keepdims=True).astype(np.float32) * d
    return np.concatenate([f16_bytes(d).reshape(-1, 2), f16_bytes(s).reshape(-1, 2), q.view(np.uint8)], axis=1).ravel()


def quantize_q8_k(x: np.ndarray) -> np.ndarray:
    """numpy port of ggml quantize_row_q8_K_ref (f32 d, 256 x int8, 16 x i16 bsums)."""
    out = []
    for b in x.reshape(-1, 256):
        i = int(np.argmax(np.abs(b)))  # first index of the largest magnitude
        mx = b[i]
        if np.abs(mx) == 0:
            out.append(np.zeros(292, dtype=np.uint8))
            continue
        iscale = np.float32(-127.0) / mx
        q = np.minimum(np.rint(iscale * b), 127).astype(np.int8)  # nearest_int: ties to even
        bsums = q.astype(np.int32).reshape(16, 16).sum(axis=1).astype(np.int16)
        d = np.array([np.float32(1.0) / iscale], dtype=np.float32)
        out.append(np.concatenate([d.view(np.uint8), q.view(np.uint8), bsums.view(np.uint8)]))
    return np.concatenate(out)


def dequant_q8(blocks: np.ndarray, head: int, size: int) -> np.ndarray:
    b = blocks.reshape(-1, size)
    d = b[:, :2].copy().view(np.float16).astype(np.float32)
    return (b[:, head:].view(np.int8).astype(np.float32) * d).ravel()


def random_k_blocks(qtype: T) -> np.ndarray:
    """Random K-quant blocks with sane f16 super-scales, plus adversarial blocks."""
    size = quants.GGML_QUANT_SIZES[qtype][1]
    nb = N // 256
    b = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    # offsets of the f16 fields per format (see ggml-common.h)
    fields = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for off in fields:
        v = rng.uniform(-1, 1, nb).astype(np.float32) * np.logspace(-4, 0, nb).astype(np.float32)
        b[:, off:off + 2] = f16_bytes(v).reshape(nb, 2)
    # block nb-1: every quant/scale byte 0xFF (max nibbles, max scales), f16 fields large
    b[-1, :] = 0xFF
    for off in fields:
        b[-1, off:off + 2] = f16_bytes(np.float32(1000.0)).reshape(2)
    # block nb-2: scales zero (d = 0)
    for off in fields:
        b[-2, off:off + 2] = 0
    return b.ravel()


def write(name: str, blocks: np.ndarray, deq: np.ndarray, src=None) -> None:
    blocks.astype(np.uint8).tofile(os.path.join(OUT, f"{name}.blocks"))
    np.asarray(deq, dtype=np.float32).tofile(os.path.join(OUT, f"{name}.deq"))
    if src is not None:
        np.asarray(src, dtype=np.float32).tofile(os.path.join(OUT, f"{name}.src"))


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    x = source_row()
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.BF16):
        q = quants.quantize(x.reshape(1, N), qtype).ravel()
        write(qtype.name.lower(), q, quants.dequantize(q.reshape(1, -1), qtype).ravel(), x)
    f16 = x.astype(np.float16).view(np.uint8)
    write("f16", f16, f16.view(np.float16).astype(np.float32), x)
    q81 = quantize_q8_1(x)
    write("q8_1", q81, dequant_q8(q81, 4, 36), x)
    q8k = quantize_q8_k(x)
    b8k = q8k.reshape(-1, 292)
    write("q8_k", q8k, (b8k[:, 4:260].view(np.int8).astype(np.float32) * b8k[:, :4].copy().view(np.float32)).ravel(), x)
    for qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
        blocks = random_k_blocks(qtype)
        write(qtype.name.lower(), blocks, quants.dequantize(blocks.reshape(1, -1), qtype).ravel())
    files = sorted(f for f in os.listdir(OUT) if f != "MANIFEST.json")
    manifest = {
        "generator": "crates/kernels/tests/gen_quant_fixtures.py",
        "gguf": importlib.metadata.version("gguf"),
        "numpy": np.__version__,
        "sha256": {f: hashlib.sha256(open(os.path.join(OUT, f), "rb").read()).hexdigest() for f in files},
    }
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in files)
    print(f"wrote {len(files)} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
