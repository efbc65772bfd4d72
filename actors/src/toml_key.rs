//! Names the TOML key an error is about: the parser's message shows the offending line, but a
//! line deep in a file does not say which table it belongs to. Shared by `hetal node` configs
//! ([`crate::config`]) and `hetal train`'s configuration file.
//!
//! Keys follow TOML's grammar: bare (`a-z A-Z 0-9 _ -`), `"basic"` (with escapes) or
//! `'literal'` segments joined by dots. A segment that is not a bare key is rendered quoted, so
//! `"a.b" = 1` in `[dataset]` is `dataset."a.b"`, not `dataset.a.b`.

/// The dotted key path (table headers and the line's key, e.g. `dataset.memory_budget_bytes`)
/// of the TOML line holding byte `offset` of `text`, for error messages. Best-effort: inline
/// tables and multi-line values are named by their line's key; `None` when the offset is on no
/// key or header.
pub fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let mut table: Vec<String> = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let trimmed = line.trim();
        let header = table_header(trimmed);
        if let Some(header) = &header {
            table.clone_from(header);
        }
        if offset < end || end == text.len() {
            if header.is_some() {
                return (!table.is_empty()).then(|| render(&table));
            }
            let (key, rest) = parse_key(trimmed)?;
            if !rest.starts_with('=') {
                return None;
            }
            let mut path = table;
            path.extend(key);
            return (!path.is_empty()).then(|| render(&path));
        }
        start = end;
    }
    None
}

/// The segments of a `[table]` or `[[array-of-tables]]` header line.
fn table_header(line: &str) -> Option<Vec<String>> {
    let (inner, close) = match line.strip_prefix("[[") {
        Some(inner) => (inner, "]]"),
        None => (line.strip_prefix('[')?, "]"),
    };
    let (key, rest) = parse_key(inner)?;
    rest.starts_with(close).then_some(key)
}

/// Renders key segments as TOML writes them: bare where possible, else quoted.
pub fn render(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| {
            if !s.is_empty() && s.chars().all(is_bare) {
                s.clone()
            } else {
                let escaped: String = s
                    .chars()
                    .flat_map(|c| match c {
                        '"' => vec!['\\', '"'],
                        '\\' => vec!['\\', '\\'],
                        c => vec![c],
                    })
                    .collect();
                format!("\"{escaped}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses the dotted key at the start of `s` (spaces around the dots allowed): its segments,
/// unquoted, and the rest of `s` after it with leading spaces removed. `None` when `s` does not
/// start with a well-formed key.
pub fn parse_key(s: &str) -> Option<(Vec<String>, &str)> {
    let mut segments = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let (segment, after) = parse_segment(rest)?;
        segments.push(segment);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(next) => rest = next.trim_start(),
            None => return Some((segments, rest)),
        }
    }
}

/// One simple key: bare, `"basic"` or `'literal'`.
fn parse_segment(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('\'') {
        let close = body.find('\'')?;
        return Some((body[..close].to_owned(), &body[close + 1..]));
    }
    if let Some(body) = s.strip_prefix('"') {
        return parse_basic(body);
    }
    let len = s.find(|c: char| !is_bare(c)).unwrap_or(s.len());
    (len > 0).then(|| (s[..len].to_owned(), &s[len..]))
}

/// The rest of a basic string after its opening quote: its value and what follows the closing
/// quote.
fn parse_basic(body: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                let unicode = |digits: usize, chars: &mut std::str::CharIndices<'_>| {
                    let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                };
                out.push(match e {
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    '"' => '"',
                    '\\' => '\\',
                    'u' => unicode(4, &mut chars)?,
                    'U' => unicode(8, &mut chars)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Option<String> {
        key_path_at(text, text.find(needle).unwrap())
    }

    #[test]
    fn quoted_keys_with_dots_stay_one_segment() {
        let text = "[dataset]\n\"a.b\" = 1\n";
        assert_eq!(at(text, "= 1").as_deref(), Some("dataset.\"a.b\""));
        let text = "[\"x.y\".z]\n'c.d'.e = 2\n";
        assert_eq!(at(text, "= 2").as_deref(), Some("\"x.y\".z.\"c.d\".e"));
        assert_eq!(at(text, "z]").as_deref(), Some("\"x.y\".z"));
        // An equals sign or bracket inside a quoted key does not end it.
        let text = "[t]\n\"k=v\" = 3\n[\"]]\".u]\nw = 4\n";
        assert_eq!(at(text, "= 3").as_deref(), Some("t.\"k=v\""));
        assert_eq!(at(text, "w =").as_deref(), Some("\"]]\".u.w"));
    }

    #[test]
    fn plain_keys_headers_and_escapes() {
        let text = "top = 1\n[a . b]\nc.d = 2\n[[arr]]\nx = 3\n";
        assert_eq!(at(text, "top").as_deref(), Some("top"));
        assert_eq!(at(text, "c.d").as_deref(), Some("a.b.c.d"));
        assert_eq!(at(text, "x =").as_deref(), Some("arr.x"));
        // Escapes are decoded, and a quote or backslash is escaped again when rendered.
        let text = "\"q\\\"\\u0041\" = 1\n";
        assert_eq!(at(text, "= 1").as_deref(), Some("\"q\\\"A\""));
        assert_eq!(render(&["".into(), "ok_1-2".into()]), "\"\".ok_1-2");
        // Not a key: a comment, a continuation line, an unterminated quote.
        assert_eq!(key_path_at("# only a comment\n", 3), None);
        assert_eq!(at("a = [\n  1, 2,\n]\n", "1, 2"), None);
        assert_eq!(at("\"open = 1\n", "open"), None);
        assert_eq!(key_path_at("a = 1\n", 100).as_deref(), Some("a"));
    }
}
