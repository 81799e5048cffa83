//! Pickle walker, auditor and restricted unpickler: every opcode walks; hostile pickles
//! (GLOBAL/STACK_GLOBAL/INST/OBJ/BUILD/NEWOBJ variants, nested pickles) are reported by the
//! audit and refused by the loader with the callable and offset named; truncated and garbage
//! streams give typed errors; torch-style zip checkpoints load with the right values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod torch_builder;

use allmende_formats::pickle::{
    audit, read_checkpoint, walk, Arg, EventKind, Opcode, PickleError, Walker,
};
use allmende_formats::{Dtype, FormatError};
use torch_builder::{posix_system_pickle, state_dict_pickle, torch_zip, zip_of, Entry, P};

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn pickle_err(e: &FormatError) -> &PickleError {
    match e.root() {
        FormatError::Pickle(p) => p,
        other => panic!("not a pickle error: {other}"),
    }
}

/// A protocol-5 stream with every opcode of every protocol at least once.
fn every_opcode() -> Vec<u8> {
    let mut p = P::new();
    p.proto(5);
    p.op(0x95).raw(&3u64.to_le_bytes()); // FRAME over the next 3 bytes
    p.op(b'N').op(0x88).op(0x89); // NONE NEWTRUE NEWFALSE
    p.op(b'(')
        .raw(b"I42\n")
        .raw(b"I01\n")
        .raw(b"L123456789012345678901234567890L\n");
    p.raw(b"F1.5\n").op(b'G').raw(&2.5f64.to_be_bytes());
    p.op(b'J')
        .raw(&(-7i32).to_le_bytes())
        .op(b'K')
        .op(7)
        .op(b'M')
        .raw(&700u16.to_le_bytes());
    p.op(0x8a)
        .op(2)
        .raw(&[0xff, 0x7f])
        .op(0x8b)
        .raw(&1u32.to_le_bytes())
        .op(0xfe);
    p.raw(b"S'it\\'s'\n")
        .op(b'T')
        .raw(&2u32.to_le_bytes())
        .raw(b"ab")
        .op(b'U')
        .op(1)
        .raw(b"c");
    p.raw(b"Vcaf\\u00e9\n").unicode("x").short_unicode("y");
    p.op(0x8d).raw(&1u64.to_le_bytes()).raw(b"z");
    p.bytes(b"b1")
        .op(b'C')
        .op(1)
        .raw(b"b")
        .op(0x8e)
        .raw(&1u64.to_le_bytes())
        .raw(b"b");
    p.op(0x96).raw(&2u64.to_le_bytes()).raw(b"ba");
    p.op(b't'); // TUPLE of all of the above
    p.raw(b"p0\n").op(b'0').raw(b"g0\n").binput(1).binget(1);
    p.op(b'r')
        .raw(&2u32.to_le_bytes())
        .op(b'j')
        .raw(&2u32.to_le_bytes())
        .op(0x94);
    p.op(b'2'); // DUP
    p.op(b'(').op(b'N').op(b'1'); // MARK NONE POP_MARK
    p.op(b']').op(b'N').op(b'a').op(b'(').op(b'N').op(b'e'); // EMPTY_LIST APPEND APPENDS
    p.op(b'(').op(b'l').op(b')').op(0x85).op(0x86); // LIST EMPTY_TUPLE TUPLE1 TUPLE2
    p.op(b'N').op(b'N').op(b'N').op(0x87); // TUPLE3
    p.op(b'}').op(b'K').op(1).op(b'N').op(b's'); // EMPTY_DICT SETITEM
    p.op(b'(').op(b'K').op(2).op(b'N').op(b'u'); // SETITEMS
    p.op(b'(').op(b'd'); // DICT
    p.op(0x8f).op(b'(').op(b'N').op(0x90).op(b'(').op(0x91); // EMPTY_SET ADDITEMS FROZENSET
    p.raw(b"Pid\n").op(b'Q'); // PERSID BINPERSID
    p.op(0x82)
        .op(1)
        .op(0x83)
        .raw(&2u16.to_le_bytes())
        .op(0x84)
        .raw(&3u32.to_le_bytes());
    p.op(0x97).op(0x98); // NEXT_BUFFER READONLY_BUFFER
    p.global("mod", "f").op(b')').op(b'R'); // REDUCE
    p.global("mod", "C").op(b')').op(0x81); // NEWOBJ
    p.global("mod", "C").op(b')').op(b'}').op(0x92); // NEWOBJ_EX
    p.op(b'}').op(b'b'); // BUILD
    p.short_unicode("mod").short_unicode("g").op(0x93); // STACK_GLOBAL
    p.op(b'(').global("mod", "C").op(b'o'); // OBJ
    p.op(b'(').inst("mod", "C"); // INST
    p.stop();
    p.0
}

#[test]
fn walker_covers_every_opcode() {
    let data = every_opcode();
    let (instrs, end) = walk(&data).unwrap();
    assert_eq!(end, data.len());
    let seen: std::collections::HashSet<Opcode> = instrs.iter().map(|i| i.opcode).collect();
    for b in 0..=255u8 {
        if let Some(op) = Opcode::from_byte(b) {
            assert!(seen.contains(&op), "{op} not exercised");
            assert_eq!(op.byte(), b);
        }
    }
    assert_eq!(instrs[0].arg, Arg::Int(5));
    assert_eq!(instrs[1].opcode, Opcode::FRAME);
    let g = instrs.iter().find(|i| i.opcode == Opcode::GLOBAL).unwrap();
    assert_eq!(g.arg, Arg::Lines(b"mod", b"f"));
    let j = instrs.iter().find(|i| i.opcode == Opcode::BININT).unwrap();
    assert_eq!(j.arg, Arg::Int(-7));

    // The audit runs the whole stream and sees every global and call.
    let a = audit(&data);
    assert!(a.error.is_none(), "{:?}", a.error);
    assert_eq!(a.end, data.len());
    let calls: Vec<(Opcode, Option<String>)> = a
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Call { callable } => Some((e.opcode, callable.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (Opcode::REDUCE, Some("mod.f".into())),
            (Opcode::NEWOBJ, Some("mod.C".into())),
            (Opcode::NEWOBJ_EX, Some("mod.C".into())),
            (Opcode::BUILD, Some("mod.C".into())),
            (Opcode::OBJ, Some("mod.C".into())),
            (Opcode::INST, Some("mod.C".into())),
        ]
    );
    assert!(a
        .events
        .iter()
        .any(|e| e.kind == EventKind::Extension { code: 3 }));
    assert!(a.events.iter().any(|e| e.kind == EventKind::Buffer));
    assert!(a.events.iter().any(|e| e.opcode == Opcode::STACK_GLOBAL
        && e.kind
            == EventKind::Import {
                module: "mod".into(),
                name: "g".into()
            }));
}

#[test]
fn posix_system_is_reported_and_refused() {
    let data = posix_system_pickle();
    let a = audit(&data);
    assert!(a.error.is_none());
    let bad: Vec<String> = a
        .disallowed()
        .iter()
        .map(|e| format!("{}@{}:{:?}", e.opcode, e.offset, e.kind))
        .collect();
    assert_eq!(
        bad,
        vec![
            "GLOBAL@2:Import { module: \"posix\", name: \"system\" }".to_string(),
            format!(
                "REDUCE@{}:Call {{ callable: Some(\"posix.system\") }}",
                data.len() - 2
            ),
        ]
    );

    // The loader refuses it where it is named, inside a checkpoint archive.
    let z = torch_zip(&data, &[]);
    let e = read_checkpoint(&z).unwrap_err();
    assert_eq!(
        pickle_err(&e),
        &PickleError::Forbidden {
            offset: 2,
            opcode: "GLOBAL",
            callable: "posix.system".into()
        }
    );
    assert!(e.to_string().contains("`posix.system`"), "{e}");
}

#[test]
fn stack_global_through_the_memo_is_resolved() {
    let mut p = P::new();
    p.proto(4)
        .short_unicode("builtins")
        .op(0x94)
        .short_unicode("eval")
        .op(0x94);
    p.op(b'0').op(b'0').binget(0).binget(1); // pop both, fetch them back from the memo
    let sg = p.0.len();
    p.op(0x93).short_unicode("1+1").tuple1().reduce().stop();
    let a = audit(&p.0);
    assert!(a.error.is_none(), "{:?}", a.error);
    let d = a.disallowed();
    assert_eq!(d[0].offset, sg);
    assert_eq!(
        d[0].kind,
        EventKind::Import {
            module: "builtins".into(),
            name: "eval".into()
        }
    );
    let e = read_checkpoint(&torch_zip(&p.0, &[])).unwrap_err();
    assert_eq!(
        pickle_err(&e),
        &PickleError::Forbidden {
            offset: sg,
            opcode: "STACK_GLOBAL",
            callable: "builtins.eval".into()
        }
    );
}

#[test]
fn inst_obj_build_newobj_variants() {
    // INST subprocess.Popen(['id'])
    let mut inst = P::new();
    inst.op(b'(')
        .op(b']')
        .unicode("id")
        .op(b'a')
        .inst("subprocess", "Popen")
        .stop();
    // OBJ runpy._run_code('...', {})
    let mut obj = P::new();
    obj.proto(1)
        .op(b'(')
        .global("runpy", "_run_code")
        .unicode("import os")
        .op(b'}')
        .op(b'o')
        .stop();
    // NEWOBJ of a class, then BUILD with a state: __setstate__ of that class
    let mut build = P::new();
    build
        .proto(2)
        .global("webbrowser", "open")
        .op(b')')
        .op(0x81)
        .op(b'}')
        .build()
        .stop();
    for (p, opcode, callable, call_op) in [
        (&inst, "INST", "subprocess.Popen", Opcode::INST),
        (&obj, "GLOBAL", "runpy._run_code", Opcode::OBJ),
        (&build, "GLOBAL", "webbrowser.open", Opcode::NEWOBJ),
    ] {
        let a = audit(&p.0);
        assert!(a.error.is_none(), "{callable}: {:?}", a.error);
        assert!(
            a.disallowed().iter().any(|e| e.opcode == call_op
                && e.kind
                    == EventKind::Call {
                        callable: Some(callable.into())
                    }),
            "{callable}: {:?}",
            a.events
        );
        let e = read_checkpoint(&torch_zip(&p.0, &[])).unwrap_err();
        match pickle_err(&e) {
            PickleError::Forbidden {
                opcode: o,
                callable: c,
                ..
            } => {
                assert_eq!((*o, c.as_str()), (opcode, callable))
            }
            other => panic!("{callable}: {other}"),
        }
    }
    let a = audit(&build.0);
    assert!(a.events.iter().any(|e| e.opcode == Opcode::BUILD
        && e.kind
            == EventKind::Call {
                callable: Some("webbrowser.open".into())
            }));
}

#[test]
fn nested_pickles_are_found() {
    let inner = posix_system_pickle();
    // As bytes (protocol 3) ...
    let mut p = P::new();
    p.proto(3).bytes(&inner).stop();
    let a = audit(&p.0);
    assert_eq!(a.nested.len(), 1);
    assert_eq!(a.nested[0].offset, 2);
    assert!(a.disallowed().iter().any(|e| e.kind
        == EventKind::Import {
            module: "posix".into(),
            name: "system".into()
        }));
    // ... and as Latin-1 text fed to `_codecs.encode` (how protocol 2 spells bytes).
    let text: String = inner.iter().map(|&b| char::from(b)).collect();
    let mut q = P::new();
    q.proto(2)
        .global("_codecs", "encode")
        .unicode(&text)
        .unicode("latin1");
    q.op(0x86).reduce().stop();
    let a = audit(&q.0);
    assert_eq!(a.nested.len(), 1);
    assert_eq!(a.disallowed().len(), 2); // GLOBAL and REDUCE of posix.system, inside
                                         // Plain text that merely starts with 'c' is no nested pickle.
    let mut r = P::new();
    r.proto(2).unicode("cat\ndog\nfish").stop();
    assert!(audit(&r.0).nested.is_empty());
}

#[test]
fn truncated_and_garbage_streams_give_typed_errors() {
    let good = state_dict_pickle(&[Entry::whole("w", "FloatStorage", "0", &[2, 3])]);
    assert!(audit(&good).error.is_none());
    for n in 0..good.len() {
        let a = audit(&good[..n]);
        let e = a.error.unwrap_or_else(|| panic!("prefix {n} accepted"));
        assert!(
            matches!(e, PickleError::Truncated { .. }),
            "prefix {n}: {e}"
        );
        let z = torch_zip(&good[..n], &[]);
        assert!(matches!(
            pickle_err(&read_checkpoint(&z).unwrap_err()),
            PickleError::Truncated { .. }
        ));
    }
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x80\x02\xff".to_vec(), "UnknownOpcode"),
        (b"\xfe\xfd".to_vec(), "UnknownOpcode"),
        (b"\x80\x02T\xff\xff\xff\xff.".to_vec(), "BadArgument"), // negative BINSTRING length
        (
            [&[0x80, 4, 0x8d][..], &u64::MAX.to_le_bytes()].concat(),
            "Truncated",
        ),
        (
            [&[0x80, 4, 0x8d][..], &(1u64 << 40).to_le_bytes()].concat(),
            "Truncated",
        ),
        (
            [&[0x80, 4, 0x95][..], &100u64.to_le_bytes(), b"N."].concat(),
            "Truncated",
        ), // FRAME
        (b"\x80\x02h\x05.".to_vec(), "MemoMissing"),
        (b"\x80\x02R.".to_vec(), "StackUnderflow"),
        (b"\x80\x02N(.".to_vec(), "StackUnderflow"), // STOP inside a mark frame
        (b"\x80\x02e.".to_vec(), "StackUnderflow"),  // APPENDS without MARK
        (b"\x80\x09N.".to_vec(), "BadArgument"),     // protocol 9
        (b"INaN\n.".to_vec(), "BadArgument"),
        (b"S'unterminated\n.".to_vec(), "BadArgument"),
    ];
    for (data, want) in cases {
        let a = audit(&data);
        let e = a.error.unwrap_or_else(|| panic!("{data:?} accepted"));
        assert!(format!("{e:?}").starts_with(want), "{data:?}: {e:?}");
    }
    // Nothing executes, nothing panics, on a few thousand deterministic random streams.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let n = (x % 64) as usize;
        let mut v = vec![0x80, 2];
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ops = b"(.0N)]}KJMXBCqhRbtcu\x85\x86\x87\x93\x94\x95";
            v.push(ops[(x % ops.len() as u64) as usize]);
        }
        let _ = audit(&v);
        let _ = Walker::new(&v).count();
    }
}

fn checkpoint(entries: &[Entry], storages: &[(String, Vec<u8>)]) -> Vec<u8> {
    torch_zip(&state_dict_pickle(entries), storages)
}

#[test]
fn benign_checkpoint_loads_with_values() {
    let w: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
    // Two views of one f16 storage of 8 elements: [2,2] at offset 1, and [3] at offset 5.
    let h: Vec<u8> = (0..8u16)
        .flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes())
        .collect();
    let b: Vec<u8> = [1.0f32, -2.0, 3.5]
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let mut view1 = Entry::whole("h.a", "HalfStorage", "1", &[2, 2]);
    view1.storage_numel = 8;
    view1.offset = 1;
    let mut view2 = Entry::whole("h.b", "HalfStorage", "1", &[3]);
    view2.storage_numel = 8;
    view2.offset = 5;
    // A size-1 dimension may have any stride (torch keeps odd ones after unsqueeze).
    let mut odd = Entry::whole("bf", "BFloat16Storage", "2", &[3, 1]);
    odd.stride = vec![1, 7];
    let entries = vec![
        Entry::whole("layer.weight", "FloatStorage", "0", &[2, 3]),
        view1,
        view2,
        odd,
    ];
    let z = checkpoint(
        &entries,
        &[
            ("0".into(), f32s(&w)),
            ("1".into(), h.clone()),
            ("2".into(), b.clone()),
        ],
    );
    let f = read_checkpoint(&z).unwrap();
    let mut names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["bf", "h.a", "h.b", "layer.weight"]);
    let t = f.tensor("layer.weight").unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (Dtype::F32, vec![2, 3]));
    assert_eq!(t.data.as_slice(), f32s(&w));
    let t = f.tensor("h.a").unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (Dtype::F16, vec![2, 2]));
    assert_eq!(t.data.as_slice(), &h[2..10]);
    assert_eq!(f.tensor("h.b").unwrap().data.as_slice(), &h[10..16]);
    let t = f.tensor("bf").unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (Dtype::BF16, vec![3, 1]));
    assert_eq!(t.data.as_slice(), b);
    // The audit of the same pickle flags nothing.
    assert!(audit(&state_dict_pickle(&entries)).disallowed().is_empty());
}

#[test]
fn checkpoint_structure_errors() {
    let e0 = Entry::whole("w", "FloatStorage", "0", &[2, 3]);
    let six = f32s(&[0.0; 6]);
    // Non-contiguous (transposed) tensor.
    let mut t = e0.clone();
    t.size = vec![3, 2];
    t.stride = vec![1, 3];
    let err = read_checkpoint(&checkpoint(&[t], &[("0".into(), six.clone())])).unwrap_err();
    assert!(err.to_string().contains("not contiguous"), "{err}");
    // Storage member missing, or of the wrong size.
    let err = read_checkpoint(&checkpoint(std::slice::from_ref(&e0), &[])).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = read_checkpoint(&checkpoint(
        std::slice::from_ref(&e0),
        &[("0".into(), vec![0; 20])],
    ))
    .unwrap_err();
    assert!(err.to_string().contains("20 bytes"), "{err}");
    // View past the end of its storage.
    let mut v = e0.clone();
    v.offset = 1;
    let err = read_checkpoint(&checkpoint(&[v], &[("0".into(), six.clone())])).unwrap_err();
    assert!(
        matches!(err.root(), FormatError::TensorOutOfBounds { .. }),
        "{err}"
    );
    // Storage key that tries to leave the archive folder.
    let mut k = e0.clone();
    k.key = "../x".into();
    let err = read_checkpoint(&checkpoint(&[k], &[])).unwrap_err();
    assert!(err.to_string().contains("not a plain name"), "{err}");
    // Big-endian archives, legacy format, no data.pkl, not a zip.
    let pk = state_dict_pickle(std::slice::from_ref(&e0));
    let be = zip_of(&[
        ("a/data.pkl".into(), pk.clone()),
        ("a/byteorder".into(), b"big".to_vec()),
        ("a/data/0".into(), six.clone()),
    ]);
    assert!(read_checkpoint(&be)
        .unwrap_err()
        .to_string()
        .contains("byte order"));
    let other = read_checkpoint(&[0x80, 2, 0x8a, 10]).unwrap_err();
    assert!(other.to_string().contains("no magic number"), "{other}");
    let none = read_checkpoint(&zip_of(&[("x.txt".into(), vec![1])])).unwrap_err();
    assert!(none.to_string().contains("data.pkl"), "{none}");
    assert!(read_checkpoint(b"PK\x03\x04junk").is_err());
    // Any archive prefix works (older torch used the file stem).
    let other = zip_of(&[("model/data.pkl".into(), pk), ("model/data/0".into(), six)]);
    assert_eq!(read_checkpoint(&other).unwrap().tensors().len(), 1);
    // A pickle that is not a state dict of tensors.
    let mut p = P::new();
    p.proto(2).op(b'}').unicode("n").int(3).op(b's').stop();
    let err = read_checkpoint(&torch_zip(&p.0, &[])).unwrap_err();
    assert!(err.to_string().contains("not a tensor"), "{err}");
}

fn cpython(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pickle")
            .join(name),
    )
    .unwrap()
}

#[test]
fn cpython_pickles_of_every_protocol() {
    for p in 0..=5 {
        let data = cpython(&format!("plain_p{p}.pkl"));
        let a = audit(&data);
        assert!(a.error.is_none(), "protocol {p}: {:?}", a.error);
        assert_eq!(a.end, data.len(), "protocol {p}");
        // Protocols 0-2 spell sets and bytes through builtins/_codecs calls.
        for e in a.disallowed() {
            assert!(
                matches!(&e.kind, EventKind::Import { module, .. } | EventKind::Call { callable: Some(module) }
                    if module.starts_with("builtins") || module.starts_with("__builtin__")),
                "protocol {p}: {e:?}"
            );
        }
    }
    for name in ["evil_p2.pkl", "evil_p4.pkl"] {
        let a = audit(&cpython(name));
        let d = a.disallowed();
        assert!(
            d.iter().any(|e| e.kind
                == EventKind::Call {
                    callable: Some("posix.system".into())
                }),
            "{name}: {d:?}"
        );
    }
    let f = read_checkpoint(&cpython("state_dict.pt")).unwrap();
    let w = f.tensor("w").unwrap();
    assert_eq!((w.dtype, w.shape.clone()), (Dtype::F32, vec![2, 3]));
    assert_eq!(w.data.as_slice(), f32s(&[1.0; 6]));
    assert_eq!(f.tensor("b").unwrap().shape, vec![3]);
    assert!(audit(&cpython("state_dict.pkl")).disallowed().is_empty());
    // Legacy layout with CPython's pickler (6-field persistent ids ending in None).
    let f = read_checkpoint(&cpython("legacy.pt")).unwrap();
    let w = f.tensor("w").unwrap();
    assert_eq!((w.dtype, w.shape.clone()), (Dtype::F32, vec![2, 2]));
    assert_eq!(w.data.as_slice(), f32s(&[1.0; 4]));
}

/// A legacy (pre-1.6) `torch.save` stream: magic, protocol version, sys_info, the state dict,
/// the sorted storage keys, then per storage its element count and bytes.
fn legacy(entries: &[Entry], storages: &[(&str, Vec<u8>, u64)], little: bool) -> Vec<u8> {
    let mut p = P::new();
    p.proto(2).op(0x8a).op(10);
    p.raw(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])
        .stop();
    p.proto(2).int(1001).stop();
    p.proto(2)
        .empty_dict()
        .mark()
        .unicode("protocol_version")
        .int(1001);
    p.unicode("little_endian")
        .op(if little { 0x88 } else { 0x89 });
    p.setitems().stop();
    p.raw(&state_dict_pickle(entries));
    p.proto(2).op(b']').mark();
    for (k, _, _) in storages {
        p.unicode(k);
    }
    p.op(b'e').stop();
    for (_, bytes, numel) in storages {
        p.raw(&numel.to_le_bytes()).raw(bytes);
    }
    p.0
}

#[test]
fn legacy_checkpoints() {
    let w: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let h: Vec<u8> = (0..3u16)
        .flat_map(|i| half::f16::from_f32(i as f32 + 0.5).to_le_bytes())
        .collect();
    let entries = [
        Entry::whole("w", "FloatStorage", "0", &[3, 2]),
        Entry::whole("h", "HalfStorage", "1", &[3]),
    ];
    let data = legacy(&entries, &[("0", f32s(&w), 6), ("1", h.clone(), 3)], true);
    let f = read_checkpoint(&data).unwrap();
    let t = f.tensor("w").unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (Dtype::F32, vec![3, 2]));
    assert_eq!(t.data.as_slice(), f32s(&w));
    assert_eq!(f.tensor("h").unwrap().data.as_slice(), h);

    // Truncated storage data, a lying element count, big-endian: typed errors.
    let e = read_checkpoint(&data[..data.len() - 1]).unwrap_err();
    assert!(e.to_string().contains("past the end"), "{e}");
    let bad = legacy(&entries, &[("0", f32s(&w), 5), ("1", h.clone(), 3)], true);
    assert!(read_checkpoint(&bad).is_err());
    let be = legacy(&entries, &[("0", f32s(&w), 6), ("1", h, 3)], false);
    assert!(read_checkpoint(&be)
        .unwrap_err()
        .to_string()
        .contains("big-endian"));

    // A hostile object pickle (the 4th) is refused with its offset in the whole file.
    let mut head = legacy(&[], &[], true);
    let sd = state_dict_pickle(&[]);
    let sd_at = head
        .windows(sd.len())
        .position(|x| x == sd.as_slice())
        .unwrap();
    head.truncate(sd_at);
    let evil_at = head.len();
    head.extend_from_slice(&posix_system_pickle());
    let e = read_checkpoint(&head).unwrap_err();
    assert_eq!(
        pickle_err(&e),
        &PickleError::Forbidden {
            offset: evil_at + 2,
            opcode: "GLOBAL",
            callable: "posix.system".into()
        }
    );
}
