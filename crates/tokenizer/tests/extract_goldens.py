#!/usr/bin/env python3
"""Make a real-model tokenizer fixture: the tokenizer metadata of a GGUF model plus llama.cpp's
prompt ids and greedy continuations for it.

Input : the model's GGUF file and the project's llama.cpp goldens (shared/goldens/llamacpp-goldens.json,
        produced with llama-cpp-python: prompt_ids = tokenize(prompt, add_bos per model),
        new_text = detokenized new_ids).
Output: crates/tokenizer/tests/fixtures/vocab/ggml-vocab-<name>.json.xz (same format as
        extract_vocab.py) and <name>-goldens.json ([{prompt, prompt_ids, new_ids, new_text}]).

Used for SmolLM2-135M-Instruct (Apache-2.0), whose `smollm` pre-tokenizer has no llama.cpp test vector:
    python3 crates/tokenizer/tests/extract_goldens.py SmolLM2-135M-Instruct.Q4_1.gguf \\
        shared/goldens/llamacpp-goldens.json smollm2-135m-instruct smollm2
"""

import json
import lzma
import pathlib
import sys

from extract_vocab import OUT, extract


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    gguf_path, goldens_path, model_key, name = sys.argv[1:]
    meta = extract(pathlib.Path(gguf_path))
    text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=9 | lzma.PRESET_EXTREME)
    (OUT / f"ggml-vocab-{name}.json.xz").write_bytes(data)
    goldens = json.loads(pathlib.Path(goldens_path).read_text())["models"][model_key]["greedy"]
    keep = [{k: g[k] for k in ("prompt", "prompt_ids", "new_ids", "new_text")} for g in goldens]
    (OUT / f"{name}-goldens.json").write_text(json.dumps(keep, ensure_ascii=False, indent=1) + "\n")
    print(f"{name}: {len(data)} bytes of vocab, {len(keep)} goldens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
