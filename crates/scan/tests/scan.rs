//! The scanner on crafted files: hostile pickles (GLOBAL, STACK_GLOBAL, INST, OBJ,
//! NEWOBJ+BUILD, nested), benign and malicious torch zip checkpoints (the malicious one also
//! refused by the loader), zip anomalies, truncated pickles, GGUF files with hostile chat
//! templates or broken structure, chat templates, safetensors headers, weight indexes, folders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../formats/tests/torch_builder/mod.rs"]
mod torch_builder;

use std::path::{Path, PathBuf};

use allmende_formats::pickle::{read_checkpoint, PickleError};
use allmende_formats::{FormatError, GgufWriter, SafetensorsWriter};
use allmende_kernels::GgmlType;
use allmende_scan::{check_template, scan_path, FileKind, Finding, ScanReport, Severity};
use torch_builder::{
    posix_system_pickle, state_dict_pickle, tensor_ops, torch_zip, zip_of, Entry, P,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("allmende-scan-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Scan `bytes` written to `name` in a fresh folder; the one file's report.
fn scan_bytes(name: &str, bytes: &[u8]) -> (FileKind, Vec<Finding>) {
    let dir = scratch(&name.replace(['/', '.'], "_"));
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    let r = scan_path(&p).unwrap();
    assert_eq!(r.files.len(), 1);
    let f = r.files.into_iter().next().unwrap();
    (f.kind, f.findings)
}

fn has(findings: &[Finding], sev: Severity, code: &str, needle: &str) -> bool {
    findings
        .iter()
        .any(|f| f.severity == sev && f.code == code && f.message.contains(needle))
}

fn max(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

#[test]
fn posix_system_pickle_is_danger() {
    let (kind, f) = scan_bytes("evil.pkl", &posix_system_pickle());
    assert_eq!(kind, FileKind::Pickle);
    let g = f
        .iter()
        .find(|f| f.code == "pickle.forbidden-global")
        .unwrap();
    assert_eq!((g.severity, g.offset), (Severity::Danger, Some(2)));
    assert!(g.message.contains("`posix.system`"), "{}", g.message);
    assert!(has(
        &f,
        Severity::Danger,
        "pickle.forbidden-call",
        "calls `posix.system`"
    ));
    let report = ScanReport {
        files: vec![allmende_scan::FileReport {
            path: "evil.pkl".into(),
            kind,
            findings: f,
        }],
    };
    assert!(report.is_flagged());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["files"][0]["kind"], "pickle");
    assert_eq!(json["files"][0]["findings"][0]["severity"], "danger");
    assert_eq!(json["files"][0]["findings"][0]["offset"], 2);
}

#[test]
fn every_call_variant_is_named() {
    let mut stack_global = P::new();
    stack_global
        .proto(4)
        .short_unicode("builtins")
        .op(0x94)
        .short_unicode("eval")
        .op(0x94);
    stack_global
        .op(0x93)
        .short_unicode("1+1")
        .tuple1()
        .reduce()
        .stop();
    let mut inst = P::new();
    inst.op(b'(')
        .unicode("ls")
        .inst("subprocess", "Popen")
        .stop();
    let mut obj = P::new();
    obj.proto(1)
        .mark()
        .global("runpy", "_run_code")
        .unicode("x")
        .op(b'}')
        .op(b'o')
        .stop();
    let mut build = P::new();
    build
        .proto(2)
        .global("webbrowser", "open")
        .empty_tuple()
        .op(0x81)
        .op(b'}')
        .build()
        .stop();
    for (name, p, callable, opcode) in [
        ("sg.pkl", &stack_global, "builtins.eval", "REDUCE"),
        ("inst.pickle", &inst, "subprocess.Popen", "INST"),
        ("obj.pt", &obj, "runpy._run_code", "OBJ"),
        ("build.pth", &build, "webbrowser.open", "BUILD"),
    ] {
        let (kind, f) = scan_bytes(name, &p.0);
        assert_eq!(kind, FileKind::Pickle, "{name}");
        assert!(
            has(
                &f,
                Severity::Danger,
                "pickle.forbidden-global",
                &format!("`{callable}`")
            ),
            "{name}: {f:?}"
        );
        assert!(
            has(
                &f,
                Severity::Danger,
                "pickle.forbidden-call",
                &format!("{opcode} at offset")
            ),
            "{name}: {f:?}"
        );
    }
}

#[test]
fn nested_and_malformed_pickles() {
    let mut p = P::new();
    p.proto(3).bytes(&posix_system_pickle()).stop();
    let (_, f) = scan_bytes("nested.pkl", &p.0);
    let n = f.iter().find(|f| f.code == "pickle.nested").unwrap();
    assert_eq!((n.severity, n.offset), (Severity::Danger, Some(2)));
    assert!(has(
        &f,
        Severity::Danger,
        "pickle.forbidden-global",
        "nested at offset 2"
    ));

    let good = posix_system_pickle();
    let (_, f) = scan_bytes("cut.pkl", &good[..good.len() - 3]);
    assert!(
        has(&f, Severity::Warning, "pickle.malformed", "truncated"),
        "{f:?}"
    );
    assert!(has(
        &f,
        Severity::Danger,
        "pickle.forbidden-global",
        "posix.system"
    ));
    let (kind, f) = scan_bytes("junk.pkl", b"\xfe\xfe\xfe");
    assert_eq!(kind, FileKind::Pickle);
    assert!(
        has(
            &f,
            Severity::Warning,
            "pickle.malformed",
            "not a pickle opcode"
        ),
        "{f:?}"
    );

    // Several pickles in a row then raw bytes (the legacy torch.save layout).
    let mut legacy = P::new();
    legacy
        .proto(2)
        .int(1000)
        .stop()
        .proto(2)
        .empty_dict()
        .stop();
    legacy.raw(&[1, 2, 3, 4]);
    let (_, f) = scan_bytes("legacy.bin", &legacy.0);
    assert_eq!(max(&f), Some(Severity::Info), "{f:?}");
    assert!(has(&f, Severity::Info, "pickle.trailing-data", "4 bytes"));
    // CPython-written torch.save files (legacy stream, zip): nothing above Info.
    let (kind, f) = scan_bytes(
        "legacy.pt",
        include_bytes!("../../formats/tests/fixtures/pickle/legacy.pt"),
    );
    assert_eq!(kind, FileKind::Pickle);
    assert!(
        has(&f, Severity::Info, "pickle.trailing-data", "24 bytes"),
        "{f:?}"
    );
    assert_eq!(max(&f), Some(Severity::Info), "{f:?}");
    let (kind, f) = scan_bytes(
        "state_dict.pt",
        include_bytes!("../../formats/tests/fixtures/pickle/state_dict.pt"),
    );
    assert_eq!((kind, f), (FileKind::PytorchZip, vec![]));
    // Raw data after a pickle that happens to start with PROTO is only noted.
    let mut raw = P::new();
    raw.proto(2).int(1).stop().raw(&[0x80, 0x01, 0xff, 0xff]);
    let (_, f) = scan_bytes("raw.bin", &raw.0);
    assert_eq!(max(&f), Some(Severity::Info), "{f:?}");
    // ... and a hostile second pickle is seen.
    let mut two = P::new();
    two.proto(2).int(1).stop().raw(&posix_system_pickle());
    let (_, f) = scan_bytes("two.bin", &two.0);
    assert!(
        has(
            &f,
            Severity::Danger,
            "pickle.forbidden-global",
            "(pickle 2)"
        ),
        "{f:?}"
    );
}

fn benign_zip() -> Vec<u8> {
    let e = Entry::whole("w", "FloatStorage", "0", &[2, 2]);
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    torch_zip(&state_dict_pickle(&[e]), &[("0".into(), data)])
}

#[test]
fn torch_zip_checkpoints() {
    let (kind, f) = scan_bytes("pytorch_model.bin", &benign_zip());
    assert_eq!(kind, FileKind::PytorchZip);
    assert!(f.is_empty(), "{f:?}");

    // A state dict whose second value is `posix.system('id')` instead of a tensor.
    let mut p = P::new();
    let mut memo = 10u8;
    p.proto(2)
        .global("collections", "OrderedDict")
        .empty_tuple()
        .reduce()
        .mark();
    p.unicode("w");
    tensor_ops(
        &mut p,
        &Entry::whole("w", "FloatStorage", "0", &[1]),
        &mut memo,
    );
    p.unicode("b");
    let evil_at = p.0.len();
    p.global("posix", "system").unicode("id").tuple1().reduce();
    p.setitems().stop();
    let z = torch_zip(&p.0, &[("0".into(), 1.0f32.to_le_bytes().to_vec())]);
    let (_, f) = scan_bytes("model.pt", &z);
    let g = f
        .iter()
        .find(|f| f.code == "pickle.forbidden-global")
        .unwrap();
    assert_eq!(g.offset, Some(evil_at as u64));
    assert!(g.message.contains("`archive/data.pkl`") && g.message.contains("`posix.system`"));
    // The loader refuses the same file, naming the same callable and offset.
    let e = read_checkpoint(&z).unwrap_err();
    assert!(
        matches!(e.root(), FormatError::Pickle(PickleError::Forbidden { callable, offset, .. })
            if callable == "posix.system" && *offset == evil_at),
        "{e}"
    );
}

#[test]
fn zip_anomalies() {
    let pk = state_dict_pickle(&[]);
    let z = zip_of(&[
        ("archive/data.pkl".into(), pk.clone()),
        ("../../evil.sh".into(), b"#!/bin/sh".to_vec()),
        ("archive/extra.pkl".into(), posix_system_pickle()),
    ]);
    let (_, f) = scan_bytes("weird.ckpt", &z);
    assert!(
        has(&f, Severity::Danger, "zip.path-traversal", "../../evil.sh"),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            Severity::Danger,
            "zip.extra-pickle",
            "archive/extra.pkl"
        ),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            Severity::Danger,
            "pickle.forbidden-global",
            "`archive/extra.pkl`"
        ),
        "{f:?}"
    );

    // Two members of one name (writers refuse that, so rename one in the bytes): either the
    // scanner lists both and flags the name, or the zip reader refuses the archive.
    let mut z = zip_of(&[
        ("archive/data.pkl".into(), pk.clone()),
        ("archive/data.pkX".into(), pk.clone()),
    ]);
    while let Some(at) = z.windows(16).position(|w| w == b"archive/data.pkX") {
        z[at + 15] = b'l';
    }
    let (_, f) = scan_bytes("dup.pt", &z);
    assert!(
        has(
            &f,
            Severity::Danger,
            "zip.duplicate-name",
            "archive/data.pkl"
        ) || has(&f, Severity::Danger, "zip.unreadable", "uplicate"),
        "{f:?}"
    );

    // Encrypted member: set the "encrypted" flag bit in the local and central headers.
    let mut z = zip_of(&[("archive/data.pkl".into(), pk)]);
    for (sig, flag_at) in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)] {
        let at = z.windows(4).position(|w| w == sig).unwrap();
        z[at + flag_at] |= 1;
    }
    let (_, f) = scan_bytes("enc.pt", &z);
    assert!(
        has(&f, Severity::Danger, "zip.encrypted", "archive/data.pkl"),
        "{f:?}"
    );

    let (_, f) = scan_bytes("broken.pt", b"PK\x03\x04 not really a zip");
    assert!(has(&f, Severity::Danger, "zip.unreadable", ""), "{f:?}");
}

fn gguf_with_template(template: &str) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.set("general.architecture", "llama");
    w.set("tokenizer.chat_template", template);
    let data: Vec<u8> = [0.5f32; 8].iter().flat_map(|v| v.to_le_bytes()).collect();
    w.add_tensor("t", GgmlType::F32, &[8], data).unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn gguf_files() {
    let good = gguf_with_template("{% for m in messages %}{{ m.content }}{% endfor %}");
    let (kind, f) = scan_bytes("m.gguf", &good);
    assert_eq!(kind, FileKind::Gguf);
    assert!(f.is_empty(), "{f:?}");

    let evil = gguf_with_template(
        "{% for m in messages %}\n{{ cycler.__init__.__globals__.os.popen('id').read() }}{% endfor %}",
    );
    let (_, f) = scan_bytes("evil.gguf", &evil);
    let d = f.iter().find(|f| f.code == "template.dunder").unwrap();
    assert_eq!((d.severity, d.line), (Severity::Danger, Some(2)));
    assert!(d.message.contains("tokenizer.chat_template") && d.message.contains("__init__"));
    assert!(has(
        &f,
        Severity::Danger,
        "template.global-attr",
        "`cycler`"
    ));
    assert!(has(&f, Severity::Danger, "template.host-access", "popen"));

    // Truncated: the reader's typed error becomes a Danger finding.
    let (_, f) = scan_bytes("cut.gguf", &good[..good.len() - 4]);
    assert!(has(&f, Severity::Danger, "gguf.invalid", "tensor"), "{f:?}");
    let (_, f) = scan_bytes("hdr.gguf", &good[..40]);
    assert!(has(&f, Severity::Danger, "gguf.invalid", ""), "{f:?}");
}

#[test]
fn chat_templates() {
    let fixture = include_str!("../../formats/tests/fixtures/llama-gqa/chat_template.jinja");
    let mut f = Vec::new();
    check_template(fixture, "fixture", &mut f);
    assert!(f.is_empty(), "{f:?}");
    // Text outside tags is never code, even if it says `import os` or `__class__`.
    check_template(
        "Say: import os; x.__class__ {{ messages[0]['content'] }}",
        "t",
        &mut f,
    );
    assert!(f.is_empty(), "{f:?}");

    let cases: [(&str, Severity, &str, usize); 10] = [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", Severity::Danger, "template.dunder", 1),
        ("a\n\n{{ self._TemplateReference__context }}", Severity::Danger, "template.self", 3),
        ("{{ x._private }}", Severity::Warning, "template.private-attr", 1),
        ("{{ ().mro() }}", Severity::Danger, "template.dunder", 1),
        ("{% include 'other.j2' %}", Severity::Danger, "template.include", 1),
        ("{%- extends 'base' -%}", Severity::Danger, "template.include", 1),
        ("{{ x|attr('__globals__') }}", Severity::Danger, "template.dunder", 1),
        ("{{ namespace.__init__ }}", Severity::Danger, "template.global-attr", 1),
        ("{% for i in range(100000000) %}{% endfor %}", Severity::Warning, "template.large-literal", 1),
        (
            "{% for a in x %}{% for b in a %}{% for c in b %}\n{% for d in c %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
            Severity::Warning,
            "template.nested-loops",
            2,
        ),
    ];
    for (t, sev, code, line) in cases {
        let mut f = Vec::new();
        check_template(t, "t", &mut f);
        assert!(
            f.iter()
                .any(|x| x.severity == sev && x.code == code && x.line == Some(line)),
            "{t}: {f:?}"
        );
    }
    let mut f = Vec::new();
    check_template(&"x".repeat(300 << 10), "t", &mut f);
    assert!(has(&f, Severity::Warning, "template.length", ""));
    let mut f = Vec::new();
    check_template(
        "{% raw %}{{ x.__class__ }}{% endraw %}{# {{ os }} #}",
        "t",
        &mut f,
    );
    assert!(f.is_empty(), "{f:?}");

    // In side files: tokenizer_config.json (string or named list), chat_template.json/.jinja.
    let dir = scratch("templates");
    let evil = "{{ lipsum.__globals__['os'].popen('id') }}";
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::json!({"chat_template": [{"name": "default", "template": "{{ x }}"}, {"name": "tool_use", "template": evil}]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("chat_template.json"),
        serde_json::json!({"chat_template": evil}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("chat_template.jinja"), evil).unwrap();
    let r = scan_path(&dir).unwrap();
    assert_eq!(r.files.len(), 3);
    for file in &r.files {
        assert!(
            file.findings
                .iter()
                .any(|f| f.code == "template.dunder" && f.severity == Severity::Danger),
            "{}: {:?}",
            file.path.display(),
            file.findings
        );
    }
    let tok = r
        .files
        .iter()
        .find(|f| f.path.ends_with("tokenizer_config.json"))
        .unwrap();
    assert_eq!(tok.kind, FileKind::TemplateJson);
    assert!(tok
        .findings
        .iter()
        .all(|f| f.message.contains("`tool_use`")));
}

fn st_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn safetensors_headers() {
    let mut w = SafetensorsWriter::new();
    w.add_f32("a", &[2], &[1.0, 2.0]).unwrap();
    let (kind, f) = scan_bytes("model.safetensors", &w.to_bytes());
    assert_eq!(kind, FileKind::Safetensors);
    assert!(f.is_empty(), "{f:?}");

    let cases: Vec<(Vec<u8>, Severity, &str, &str)> = vec![
        (
            [u64::MAX.to_le_bytes().as_slice(), b"{}"].concat(),
            Severity::Danger,
            "safetensors.header-length",
            "cap",
        ),
        (
            [1000u64.to_le_bytes().as_slice(), b"{}"].concat(),
            Severity::Danger,
            "safetensors.header-length",
            "past the end",
        ),
        (
            st_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8],
            ),
            Severity::Danger,
            "safetensors.invalid",
            "overlap",
        ),
        (
            st_file(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            Severity::Danger,
            "safetensors.invalid",
            "bytes",
        ),
        (
            st_file(
                r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            Severity::Danger,
            "safetensors.invalid",
            "unknown safetensors dtype",
        ),
        (
            st_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 16],
            ),
            Severity::Danger,
            "safetensors.invalid",
            "belong to no tensor",
        ),
        (
            st_file(
                r#"{"a\u0007b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            Severity::Warning,
            "safetensors.tensor-name",
            "control",
        ),
    ];
    for (bytes, sev, code, needle) in cases {
        let (_, f) = scan_bytes("x.safetensors", &bytes);
        assert!(has(&f, sev, code, needle), "{code}: {f:?}");
    }
}

#[test]
fn folders_and_indexes() {
    let dir = scratch("folder");
    std::fs::write(dir.join("pytorch_model.bin"), benign_zip()).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/evil.pkl"), posix_system_pickle()).unwrap();
    std::fs::write(dir.join("README.md"), "hello").unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"weight_map": {"a": "../../etc/passwd", "b": "model-1.safetensors"}}"#,
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("sub/evil.pkl"), dir.join("link.pkl")).unwrap();
    let r = scan_path(&dir).unwrap();
    let names: Vec<String> = r
        .files
        .iter()
        .map(|f| f.path.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    let mut want = vec![
        "README.md",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "sub/evil.pkl",
    ];
    if cfg!(unix) {
        want.insert(1, "link.pkl");
    }
    assert_eq!(names, want);
    let by = |n: &str| {
        r.files
            .iter()
            .find(|f| f.path == Path::new(&dir).join(n))
            .unwrap()
    };
    assert_eq!(by("README.md").findings, vec![]);
    assert_eq!(by("pytorch_model.bin").findings, vec![]);
    let idx = &by("model.safetensors.index.json").findings;
    assert!(
        has(
            idx,
            Severity::Danger,
            "index.shard-path",
            "../../etc/passwd"
        ),
        "{idx:?}"
    );
    assert!(
        has(
            idx,
            Severity::Warning,
            "index.missing-shard",
            "model-1.safetensors"
        ),
        "{idx:?}"
    );
    assert_eq!(by("sub/evil.pkl").max_severity(), Some(Severity::Danger));
    if cfg!(unix) {
        let l = &by("link.pkl").findings;
        assert!(has(l, Severity::Info, "file.symlink", "evil.pkl"));
        assert!(has(
            l,
            Severity::Danger,
            "pickle.forbidden-global",
            "posix.system"
        ));
    }
    assert_eq!(r.max_severity(), Some(Severity::Danger));
    assert!(r.is_flagged());
    assert_eq!(r.findings()[0].1.severity, Severity::Danger);
    assert!(scan_path(dir.join("nope")).is_err());
}
