"""Write the seed inputs in seeds/pickle with the standard library only (no torch): plain
pickles of every protocol, a hostile one (a __reduce__ naming os.system; pickling it runs
nothing) and torch.save-style zip checkpoints whose globals come from stand-in modules.
Run from fuzz/:  python3 seeds/make_pickle_seeds.py"""
import collections, io, os, pickle, sys, types, zipfile

out = "seeds/pickle"

def put(name, data):
    with open(f"{out}/{name}", "wb") as f:
        f.write(data)

value = {"a": [1, -2, 3.5, None, True], "b": (b"xy", bytearray(b"z"), frozenset({1})),
         "c": {2**70, -(2**65)}, "d": "caf\u00e9"}
for p in range(0, 6):
    put(f"plain_p{p}.pkl", pickle.dumps(value, protocol=p))

class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
put("evil_p2.pkl", pickle.dumps(Evil(), protocol=2))
put("evil_p4.pkl", pickle.dumps(Evil(), protocol=4))

# Stand-ins for torch._utils._rebuild_tensor_v2 and torch.FloatStorage, so that the pickler
# writes the same GLOBALs torch.save does.
tu = types.ModuleType("torch._utils"); t = types.ModuleType("torch")
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; tu._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
FloatStorage.__module__ = "torch"; t.FloatStorage = FloatStorage
sys.modules["torch"] = t; sys.modules["torch._utils"] = tu

class Storage:
    def __init__(self, key, numel): self.key, self.numel = key, numel
class Tensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size
    def __reduce__(self):
        stride = (self.size[1], 1) if len(self.size) == 2 else (1,)
        return (_rebuild_tensor_v2, (self.storage, 0, self.size, stride, False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None

def checkpoint(name, tensors):
    sd = collections.OrderedDict()
    data = {}
    for i, (n, size) in enumerate(tensors):
        numel = 1
        for d in size: numel *= d
        sd[n] = Tensor(Storage(str(i), numel), size)
        data[str(i)] = b"\x00\x00\x80\x3f" * numel
    buf = io.BytesIO(); P(buf, protocol=2).dump(sd)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        for k, v in data.items():
            zf.writestr(f"archive/data/{k}", v)
        zf.writestr("archive/version", "3\n")
    put(name, z.getvalue())
    put(name.replace(".pt", ".pkl"), buf.getvalue())

checkpoint("state_dict.pt", [("w", (2, 3)), ("b", (3,))])

# The legacy (pre-1.6) layout: five pickles, then per storage an int64 element count and bytes.
class PL(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel, None)
        return None
buf = io.BytesIO()
for v in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True}):
    pickle.dump(v, buf, protocol=2)
PL(buf, protocol=2).dump(collections.OrderedDict(w=Tensor(Storage("0", 4), (2, 2))))
pickle.dump(["0"], buf, protocol=2)
buf.write((4).to_bytes(8, "little") + b"\x00\x00\x80\x3f" * 4)
put("legacy.pt", buf.getvalue())
