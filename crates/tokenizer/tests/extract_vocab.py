#!/usr/bin/env python3
"""Extract the tokenizer metadata of llama.cpp's vocab-only GGUF test files into compact fixtures.

Input : a directory holding llama.cpp's `ggml-vocab-<name>.gguf` files and their
        `ggml-vocab-<name>.gguf.inp` / `.gguf.out` test vectors
        (llama.cpp `models/`, produced by `convert_hf_to_gguf_update.py`).
Output: for each vocab, in crates/tokenizer/tests/fixtures/vocab/:
          ggml-vocab-<name>.json.xz   every `tokenizer.*` key (except chat templates) plus
                                      `general.name` and `general.architecture`, as one JSON
                                      object {key: value}; arrays stay arrays, f32 scores are
                                      written exactly (shortest repr of the f32 value)
          ggml-vocab-<name>.inp/.out  the test vectors, byte for byte

The Rust tests (tests/gguf_vocab.rs) read these files; nothing here runs at test time.

Usage:  pip install gguf==0.19.0
        python3 crates/tokenizer/tests/extract_vocab.py /path/to/vocab/dir
"""

import json
import lzma
import pathlib
import shutil
import sys

import gguf

OUT = pathlib.Path(__file__).resolve().parent / "fixtures" / "vocab"
GENERAL_KEYS = ("general.name", "general.architecture")


def field_value(field):
    value = field.contents()
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


def extract(path: pathlib.Path) -> dict:
    reader = gguf.GGUFReader(str(path))
    meta = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") and "chat_template" not in key:
            meta[key] = field_value(field)
        elif key in GENERAL_KEYS:
            meta[key] = field_value(field)
    return meta


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    src = pathlib.Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    for gguf_path in sorted(src.glob("ggml-vocab-*.gguf")):
        name = gguf_path.name[: -len(".gguf")]
        meta = extract(gguf_path)
        text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        data = lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                             preset=9 | lzma.PRESET_EXTREME)
        (OUT / f"{name}.json.xz").write_bytes(data)
        for ext in ("inp", "out"):
            shutil.copyfile(src / f"{gguf_path.name}.{ext}", OUT / f"{name}.{ext}")
        print(f"{name}: {len(meta)} keys, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
