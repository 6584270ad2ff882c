//! Minimal CSV reader for the embedded tables: one record per line (no field
//! spans lines), CRLF or LF, optional double quotes with `""` escapes. Fields
//! are slices of the embedded text; only a field with `""` needs a copy, which
//! is leaked once (the tables live for the whole program).

/// Records of `text` after the header line, each with exactly `N` fields.
/// Panics on a malformed row: the data is compiled in and covered by tests.
pub(super) fn records<const N: usize>(
    text: &'static str,
    file: &'static str,
) -> impl Iterator<Item = [&'static str; N]> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(n, line)| {
            let mut out = [""; N];
            let mut count = 0;
            for field in split(line) {
                if count < N {
                    out[count] = field;
                }
                count += 1;
            }
            assert!(
                count == N,
                "{file}, riga {}: attesi {N} campi, trovati {count}",
                n + 1
            );
            out
        })
}

fn split(line: &'static str) -> impl Iterator<Item = &'static str> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let s = rest?;
        if let Some(q) = s.strip_prefix('"') {
            // Find the closing quote that is not part of a `""` pair.
            let b = q.as_bytes();
            let mut i = 0;
            let mut escaped = false;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        escaped = true;
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            let inner = &q[..i.min(q.len())];
            let after = &q[(i + 1).min(q.len())..];
            rest = after.strip_prefix(',');
            let field: &'static str = if escaped {
                Box::leak(inner.replace("\"\"", "\"").into_boxed_str())
            } else {
                inner
            };
            Some(field)
        } else {
            match s.find(',') {
                Some(p) => {
                    rest = Some(&s[p + 1..]);
                    Some(&s[..p])
                }
                None => {
                    rest = None;
                    Some(s)
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields() {
        let v: Vec<_> = split(r#"Z601,Bolivia,"Bolivia, Plurinational",1900-01-01,,1"#).collect();
        assert_eq!(
            v,
            [
                "Z601",
                "Bolivia",
                "Bolivia, Plurinational",
                "1900-01-01",
                "",
                "1"
            ]
        );
        let v: Vec<_> = split(r#"a,"say ""hi""","#).collect();
        assert_eq!(v, ["a", "say \"hi\"", ""]);
    }
}
