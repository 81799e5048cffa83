//! Test helpers: a tiny pickle byte builder and a `torch.save`-style zip checkpoint writer,
//! laid out the way PyTorch's `_save` lays out a state dict (protocol 2, `OrderedDict` built by
//! REDUCE, tensors as `_rebuild_tensor_v2(persistent_load(('storage', torch.XStorage, key,
//! 'cpu', numel)), offset, size, stride, False, OrderedDict())`, storages in `data/<key>`).
//! Shared with the allmende-scan tests through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

/// Raw pickle bytes, opcode by opcode.
#[derive(Default, Clone)]
pub struct P(pub Vec<u8>);

impl P {
    pub fn new() -> P {
        P(Vec::new())
    }
    pub fn op(&mut self, b: u8) -> &mut P {
        self.0.push(b);
        self
    }
    pub fn raw(&mut self, b: &[u8]) -> &mut P {
        self.0.extend_from_slice(b);
        self
    }
    pub fn proto(&mut self, p: u8) -> &mut P {
        self.raw(&[0x80, p])
    }
    pub fn global(&mut self, module: &str, name: &str) -> &mut P {
        self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
    }
    pub fn inst(&mut self, module: &str, name: &str) -> &mut P {
        self.op(b'i').raw(format!("{module}\n{name}\n").as_bytes())
    }
    pub fn unicode(&mut self, s: &str) -> &mut P {
        self.op(b'X')
            .raw(&(s.len() as u32).to_le_bytes())
            .raw(s.as_bytes())
    }
    pub fn short_unicode(&mut self, s: &str) -> &mut P {
        self.op(0x8c).op(s.len() as u8).raw(s.as_bytes())
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut P {
        self.op(b'B').raw(&(b.len() as u32).to_le_bytes()).raw(b)
    }
    pub fn int(&mut self, v: i64) -> &mut P {
        if (0..256).contains(&v) {
            self.op(b'K').op(v as u8)
        } else if (0..65536).contains(&v) {
            self.op(b'M').raw(&(v as u16).to_le_bytes())
        } else if i32::try_from(v).is_ok() {
            self.op(b'J').raw(&(v as i32).to_le_bytes())
        } else {
            self.op(0x8a).op(8).raw(&v.to_le_bytes())
        }
    }
    pub fn ints_tuple(&mut self, v: &[u64]) -> &mut P {
        match v.len() {
            0 => self.op(b')'),
            1..=3 => {
                for &x in v {
                    self.int(x as i64);
                }
                self.op(0x84 + v.len() as u8)
            }
            _ => {
                self.op(b'(');
                for &x in v {
                    self.int(x as i64);
                }
                self.op(b't')
            }
        }
    }
    pub fn mark(&mut self) -> &mut P {
        self.op(b'(')
    }
    pub fn tuple(&mut self) -> &mut P {
        self.op(b't')
    }
    pub fn tuple1(&mut self) -> &mut P {
        self.op(0x85)
    }
    pub fn empty_tuple(&mut self) -> &mut P {
        self.op(b')')
    }
    pub fn empty_dict(&mut self) -> &mut P {
        self.op(b'}')
    }
    pub fn reduce(&mut self) -> &mut P {
        self.op(b'R')
    }
    pub fn build(&mut self) -> &mut P {
        self.op(b'b')
    }
    pub fn binput(&mut self, k: u8) -> &mut P {
        self.op(b'q').op(k)
    }
    pub fn binget(&mut self, k: u8) -> &mut P {
        self.op(b'h').op(k)
    }
    pub fn setitems(&mut self) -> &mut P {
        self.op(b'u')
    }
    pub fn stop(&mut self) -> &mut P {
        self.op(b'.')
    }
    pub fn bytes_out(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// `posix.system('echo pwned')` as `pickle.dumps` writes it with protocol 2.
pub fn posix_system_pickle() -> Vec<u8> {
    let mut p = P::new();
    p.proto(2)
        .global("posix", "system")
        .unicode("echo pwned")
        .tuple1()
        .reduce()
        .stop();
    p.0
}

/// One state-dict entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    /// `FloatStorage`, `HalfStorage`, `BFloat16Storage`, ...
    pub storage_class: &'static str,
    pub key: String,
    /// Elements in the storage.
    pub storage_numel: u64,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

impl Entry {
    /// A contiguous tensor that fills its own storage.
    pub fn whole(name: &str, class: &'static str, key: &str, size: &[u64]) -> Entry {
        let mut stride = vec![0; size.len()];
        let mut s = 1;
        for d in (0..size.len()).rev() {
            stride[d] = s;
            s *= size[d];
        }
        Entry {
            name: name.into(),
            storage_class: class,
            key: key.into(),
            storage_numel: s,
            offset: 0,
            size: size.to_vec(),
            stride,
        }
    }
}

/// The value pickled for one tensor: `_rebuild_tensor_v2(...)`, with memo puts like torch's.
pub fn tensor_ops(p: &mut P, e: &Entry, memo: &mut u8) {
    let mut put = |p: &mut P| {
        p.binput(*memo);
        *memo = memo.wrapping_add(1);
    };
    p.global("torch._utils", "_rebuild_tensor_v2");
    put(p);
    p.mark(); // the call's argument tuple
    p.mark(); // the persistent id tuple
    p.unicode("storage");
    put(p);
    p.global("torch", e.storage_class);
    put(p);
    p.unicode(&e.key);
    put(p);
    p.unicode("cpu");
    put(p);
    p.int(e.storage_numel as i64);
    p.tuple();
    put(p);
    p.op(b'Q'); // BINPERSID
    p.int(e.offset as i64);
    p.ints_tuple(&e.size);
    put(p);
    p.ints_tuple(&e.stride);
    put(p);
    p.op(0x89); // NEWFALSE: requires_grad
    p.global("collections", "OrderedDict");
    put(p);
    p.empty_tuple().reduce();
    put(p);
    p.tuple().reduce();
    put(p);
}

/// The `data.pkl` of a state dict with `entries`, ending with a BUILD that sets `_metadata`
/// as `nn.Module.state_dict()` results carry it.
pub fn state_dict_pickle(entries: &[Entry]) -> Vec<u8> {
    let mut p = P::new();
    let mut memo = 0u8;
    p.proto(2).global("collections", "OrderedDict");
    p.binput(memo);
    memo += 1;
    p.empty_tuple().reduce();
    p.binput(memo);
    memo += 1;
    p.mark();
    for e in entries {
        p.unicode(&e.name);
        p.binput(memo);
        memo = memo.wrapping_add(1);
        tensor_ops(&mut p, e, &mut memo);
    }
    p.setitems();
    // state: {'_metadata': OrderedDict([('', {'version': 1})])}
    p.empty_dict().unicode("_metadata");
    p.global("collections", "OrderedDict")
        .empty_tuple()
        .reduce();
    p.mark()
        .unicode("")
        .empty_dict()
        .unicode("version")
        .int(1)
        .op(b's');
    p.setitems();
    p.op(b's');
    p.build();
    p.stop();
    p.0
}

/// A zip archive with the members given, stored uncompressed like `torch.save` does.
pub fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A `torch.save` zip: `archive/data.pkl`, `archive/byteorder`, `archive/data/<key>`,
/// `archive/version`.
pub fn torch_zip(pickle: &[u8], storages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut m = vec![
        ("archive/data.pkl".to_string(), pickle.to_vec()),
        ("archive/byteorder".to_string(), b"little".to_vec()),
    ];
    for (k, d) in storages {
        m.push((format!("archive/data/{k}"), d.clone()));
    }
    m.push(("archive/version".to_string(), b"3\n".to_vec()));
    zip_of(&m)
}
