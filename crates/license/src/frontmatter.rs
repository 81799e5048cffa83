//! Model-card YAML front matter, read by hand: only the licence keys (`license`, `license_name`,
//! `license_link`) and only the forms model cards use for them — `key: value`, single- or
//! double-quoted values, a trailing `# comment`, and a list (`key:` followed by `- item` lines,
//! or `key: [a, b]`). Everything else in the front matter is skipped, nested blocks included.

/// The licence fields of a model card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    /// `license:` — one value, or several when the card gives a list.
    pub license: Vec<String>,
    /// `license_name:` (the hub's name for a licence when `license: other`).
    pub license_name: Option<String>,
    /// `license_link:` (URL or a path inside the repository).
    pub license_link: Option<String>,
}

impl FrontMatter {
    /// True when none of the licence keys were present.
    pub fn is_empty(&self) -> bool {
        self.license.is_empty() && self.license_name.is_none() && self.license_link.is_none()
    }
}

/// Longest value kept; longer values are cut (a licence id or link is far shorter).
const MAX_VALUE: usize = 512;

/// Parse the front matter at the start of a model card. Returns `None` when the text does not
/// start with a `---` line (after an optional BOM and blank lines) or the block is not closed.
pub fn parse_front_matter(text: &str) -> Option<FrontMatter> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    if lines.next()?.trim_end() != "---" {
        return None;
    }
    let mut fm = FrontMatter::default();
    let mut list_key: Option<&'static str> = None;
    let mut closed = false;
    for line in lines {
        let trimmed_end = line.trim_end();
        if trimmed_end == "---" || trimmed_end == "..." {
            closed = true;
            break;
        }
        if trimmed_end.trim_start().is_empty() || trimmed_end.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let item = trimmed_end
            .trim_start()
            .strip_prefix("- ")
            .or_else(|| (trimmed_end.trim_start() == "-").then_some(""));
        if let (Some(key), Some(item)) = (list_key, item) {
            if key == "license" {
                let v = scalar(item);
                if !v.is_empty() {
                    fm.license.push(v);
                }
            }
            continue;
        }
        if indented {
            // A nested mapping under some other key.
            continue;
        }
        list_key = None;
        let Some((key, value)) = trimmed_end.split_once(':') else {
            continue;
        };
        let key = match key.trim() {
            "license" => "license",
            "license_name" => "license_name",
            "license_link" => "license_link",
            _ => continue,
        };
        let value = value.trim();
        if value.is_empty() || value.starts_with('#') {
            list_key = Some(key);
            continue;
        }
        let values: Vec<String> = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Some(inner) => inner
                .split(',')
                .map(scalar)
                .filter(|v| !v.is_empty())
                .collect(),
            None => vec![scalar(value)],
        };
        match key {
            "license" => fm
                .license
                .extend(values.into_iter().filter(|v| !v.is_empty())),
            "license_name" => fm.license_name = values.into_iter().next().filter(|v| !v.is_empty()),
            _ => fm.license_link = values.into_iter().next().filter(|v| !v.is_empty()),
        }
    }
    closed.then_some(fm)
}

/// One YAML scalar in the simple forms: `'single'` (with `''` for a quote), `"double"` (with
/// backslash escapes for `"` and `\`), or plain (up to a ` #` comment).
fn scalar(raw: &str) -> String {
    let raw = raw.trim();
    let v = if let Some(rest) = raw.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                // `''` is an escaped quote; a single `'` closes the scalar.
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                break;
            }
            out.push(c);
        }
        out
    } else if let Some(rest) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => break,
                },
                c => out.push(c),
            }
        }
        out
    } else {
        let end = raw.find(" #").unwrap_or(raw.len());
        raw[..end].trim().to_string()
    };
    cut(v.trim())
}

/// At most [`MAX_VALUE`] bytes, cut at a character boundary.
pub(crate) fn cut(s: &str) -> String {
    if s.len() <= MAX_VALUE {
        return s.to_string();
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
