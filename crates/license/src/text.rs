//! Recognising a licence by its text, not its file name. The text is normalised (lowercase,
//! punctuation and whitespace runs folded to one space, see [`crate::table::normalise`]) and
//! searched for characteristic phrases: titles ("llama 3.1 community license agreement"),
//! prescribed notices ("gemma is provided under and subject to the gemma terms of use"), or the
//! opening sentences of short permissive licences. When several fingerprints occur, the one that
//! occurs first in the file wins (a licence file starts with its own title; references to other
//! licences come later), ties going to the earlier table entry (the more specific one).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::table::normalise;

/// At most this many bytes of one file are read; licence texts are well below (GPL-3.0 is 35 KiB).
pub const MAX_TEXT_BYTES: u64 = 1 << 20;

/// A recognised licence text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    /// Canonical licence id.
    pub id: &'static str,
    /// The phrase that identified it (normalised form).
    pub phrase: &'static str,
    /// Whether the text is the licence itself (`false` for an acceptable-use policy or a notice
    /// that only names the licence).
    pub is_licence_text: bool,
}

struct Fingerprint {
    id: &'static str,
    /// All must occur; the first one's position ranks the match.
    all: &'static [&'static str],
    /// None may occur.
    unless: &'static [&'static str],
    licence_text: bool,
}

const fn fp(id: &'static str, all: &'static [&'static str]) -> Fingerprint {
    Fingerprint {
        id,
        all,
        unless: &[],
        licence_text: true,
    }
}

/// A fingerprint of a document that names the licence without being it (AUP, NOTICE line).
const fn named(id: &'static str, phrase: &'static [&'static str]) -> Fingerprint {
    Fingerprint {
        id,
        all: phrase,
        unless: &[],
        licence_text: false,
    }
}

const BSD_REDIST: &str = "redistribution and use in source and binary forms with or without modification are permitted provided that the following conditions are met";
const BSD_ENDORSE: &str = "to endorse or promote products derived from this software without specific prior written permission";
const BSD_ADVERT: &str = "all advertising materials mentioning features or use of this software";
const MIT_GRANT: &str =
    "permission is hereby granted free of charge to any person obtaining a copy of this software";
const MIT_NOTICE: &str = "the above copyright notice and this permission notice shall be included in all copies or substantial portions of the software";

/// Phrases are in normalised form (see module docs). More specific entries come first.
static FINGERPRINTS: &[Fingerprint] = &[
    // Meta Llama: titles, the prescribed notice lines, the acceptable use policies.
    fp("llama2", &["llama 2 community license agreement"]),
    named("llama2", &["llama 2 is licensed under the llama 2 community license"]),
    named("llama2", &["llama 2 acceptable use policy"]),
    fp("llama3", &["meta llama 3 community license agreement"]),
    named("llama3", &["meta llama 3 is licensed under the meta llama 3 community license"]),
    named("llama3", &["meta llama 3 acceptable use policy"]),
    fp("llama3.1", &["llama 3.1 community license agreement"]),
    named("llama3.1", &["llama 3.1 is licensed under the llama 3.1 community license"]),
    named("llama3.1", &["llama 3.1 acceptable use policy"]),
    fp("llama3.2", &["llama 3.2 community license agreement"]),
    named("llama3.2", &["llama 3.2 is licensed under the llama 3.2 community license"]),
    named("llama3.2", &["llama 3.2 acceptable use policy"]),
    fp("llama3.3", &["llama 3.3 community license agreement"]),
    named("llama3.3", &["llama 3.3 is licensed under the llama 3.3 community license"]),
    named("llama3.3", &["llama 3.3 acceptable use policy"]),
    fp("llama4", &["llama 4 community license agreement"]),
    named("llama4", &["llama 4 is licensed under the llama 4 community license"]),
    named("llama4", &["llama 4 acceptable use policy"]),
    // Google Gemma.
    named("gemma", &["gemma is provided under and subject to the gemma terms of use"]),
    fp("gemma", &["gemma terms of use"]),
    named("gemma", &["gemma prohibited use policy"]),
    // RAIL family.
    fp("openrail++", &["creativeml open rail++ m"]),
    fp("creativeml-openrail-m", &["creativeml open rail m"]),
    fp("bigscience-openrail-m", &["bigscience open rail m license"]),
    fp("bigscience-bloom-rail-1.0", &["bigscience rail license v1.0"]),
    fp("bigcode-openrail-m", &["bigcode open rail m v1 license agreement"]),
    fp("deepseek", &["deepseek license agreement"]),
    // Others.
    fp("falcon-180b-license", &["falcon 180b tii license"]),
    fp("qwen-research", &["qwen research license agreement"]),
    fp("tongyi-qianwen-research", &["tongyi qianwen research license agreement"]),
    fp("qwen", &["qwen license agreement"]),
    fp("tongyi-qianwen", &["tongyi qianwen license agreement"]),
    fp("mnpl", &["mistral ai non production license"]),
    fp("mistral-ai-research", &["mistral ai research license"]),
    fp("apple-amlr", &["apple machine learning research model license"]),
    fp("apple-ascl", &["this apple software is supplied to you by apple inc."]),
    // GNU family: the title line with its version date (LGPL/AGPL before GPL: their texts mention
    // the GPL, but never with the GPL's own title and date).
    fp("AGPL-3.0-only", &["gnu affero general public license version 3 19 november 2007"]),
    fp("LGPL-3.0-only", &["gnu lesser general public license version 3 29 june 2007"]),
    fp("LGPL-2.1-only", &["gnu lesser general public license version 2.1 february 1999"]),
    fp("GPL-3.0-only", &["gnu general public license version 3 29 june 2007"]),
    fp("GPL-2.0-only", &["gnu general public license version 2 june 1991"]),
    fp("MPL-2.0", &["mozilla public license version 2.0"]),
    // Apache: the licence's own title, or the standard header that points to it.
    fp("Apache-2.0", &["apache license version 2.0 january 2004"]),
    fp("Apache-2.0", &["licensed under the apache license version 2.0"]),
    // Creative Commons 4.0 legal code titles (longest first: they share prefixes).
    fp("CC-BY-NC-SA-4.0", &["attribution noncommercial sharealike 4.0 international"]),
    fp("CC-BY-NC-ND-4.0", &["attribution noncommercial noderivatives 4.0 international"]),
    fp("CC-BY-NC-4.0", &["attribution noncommercial 4.0 international"]),
    fp("CC-BY-SA-4.0", &["attribution sharealike 4.0 international"]),
    fp("CC-BY-ND-4.0", &["attribution noderivatives 4.0 international"]),
    fp("CC-BY-4.0", &["creative commons attribution 4.0 international"]),
    fp("CC0-1.0", &["cc0 1.0 universal"]),
    // Short permissive licences, by their operative sentences.
    fp("Unlicense", &["this is free and unencumbered software released into the public domain"]),
    fp("BSL-1.0", &["boost software license version 1.0"]),
    Fingerprint { id: "BSD-3-Clause", all: &[BSD_REDIST, BSD_ENDORSE], unless: &[BSD_ADVERT], licence_text: true },
    Fingerprint { id: "BSD-2-Clause", all: &[BSD_REDIST], unless: &[BSD_ENDORSE, BSD_ADVERT], licence_text: true },
    fp("MIT", &[MIT_GRANT, MIT_NOTICE]),
    fp("ISC", &["permission to use copy modify and or distribute this software for any purpose with or without fee is hereby granted"]),
];

/// Identify a licence from its text. `None` when no fingerprint occurs.
pub fn identify_text(text: &str) -> Option<TextMatch> {
    identify_normalised(&normalise(text))
}

fn identify_normalised(norm: &str) -> Option<TextMatch> {
    let mut best: Option<(usize, &Fingerprint)> = None;
    for f in FINGERPRINTS {
        let Some((first, rest)) = f.all.split_first() else {
            continue;
        };
        let Some(pos) = norm.find(first) else {
            continue;
        };
        if !rest.iter().all(|p| norm.contains(p)) || f.unless.iter().any(|p| norm.contains(p)) {
            continue;
        }
        if best.is_none_or(|(b, _)| pos < b) {
            best = Some((pos, f));
        }
    }
    best.map(|(_, f)| TextMatch {
        id: f.id,
        phrase: f.all[0],
        is_licence_text: f.licence_text,
    })
}

/// Read at most [`MAX_TEXT_BYTES`] of a file as text (invalid UTF-8 replaced); the flag says
/// whether the file was longer.
pub fn read_capped(path: &Path) -> std::io::Result<(String, bool)> {
    let file = File::open(path)?;
    let mut buf = Vec::new();
    file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut buf)?;
    let truncated = buf.len() as u64 > MAX_TEXT_BYTES;
    buf.truncate(MAX_TEXT_BYTES as usize);
    Ok((String::from_utf8_lossy(&buf).into_owned(), truncated))
}
