"""Write the small seed inputs in seeds/gguf and seeds/safetensors (gguf-py and plain Python).
Run from fuzz/:  python3 seeds/make_seeds.py"""
import json, struct
import numpy as np
import gguf

def gguf_seed(path, alignment=None, quant=False):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint32("llama.block_count", 2)
    w.add_int8("i8", -3); w.add_uint16("u16", 7); w.add_int64("i64", -9); w.add_float64("f64", 0.5)
    w.add_bool("b", True); w.add_string("s", "hi")
    w.add_array("tok", ["a", "bc"]); w.add_array("ids", [1, 2, 3]); w.add_array("fl", [0.5, 1.5])
    w.add_tensor("t0", np.arange(8, dtype=np.float32))
    w.add_tensor("t1", np.ones((2, 4), dtype=np.float16))
    if quant:
        w.add_tensor("q", np.zeros((1, 34), dtype=np.uint8), raw_shape=(1, 34), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

gguf_seed("seeds/gguf/basic.gguf")
gguf_seed("seeds/gguf/align64_q8.gguf", alignment=64, quant=True)

def st_seed(path, tensors, meta=None):
    header, off, data = {}, 0, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw); data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)

st_seed("seeds/safetensors/basic.safetensors",
        [("w", "F32", [2, 2], np.arange(4, dtype=np.float32).tobytes()),
         ("b", "BF16", [3], b"\x80\x3f" * 3), ("e", "I64", [0], b"")], meta={"format": "pt"})
st_seed("seeds/safetensors/scalar.safetensors", [("s", "F16", [], b"\x00\x3c")])
