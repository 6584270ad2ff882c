//! Lexical checks on top of the tokenizer: XML names, the attribute list
//! syntax of a start tag (general path), references and attribute-value
//! normalisation.

use std::ops::Range;

/// A well-formedness error, with an Italian message for the operator.
#[derive(Debug, Clone)]
pub(crate) struct LexError(pub String);

fn is_name_start(c: char) -> bool {
    match c {
        'A'..='Z' | 'a'..='z' | '_' | ':' => true,
        _ if (c as u32) < 0xC0 => false,
        _ => {
            let u = c as u32;
            matches!(u,
                0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF | 0x200C..=0x200D
                | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD
                | 0x10000..=0xEFFFF)
        }
    }
}

fn is_name_char(c: char) -> bool {
    match c {
        'A'..='Z' | 'a'..='z' | '_' | ':' | '-' | '.' | '0'..='9' => true,
        _ if (c as u32) < 0xB7 => false,
        _ => {
            let u = c as u32;
            u == 0xB7 || matches!(u, 0x300..=0x36F | 0x203F..=0x2040) || is_name_start(c)
        }
    }
}

/// XML 1.0 (5th edition) `Name`.
pub(crate) fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&f) = b.first() else { return false };
    // ASCII fast path, one pass.
    if f.is_ascii_alphabetic() || f == b'_' || f == b':' {
        let mut ascii = true;
        for &c in &b[1..] {
            if !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.')) {
                ascii = false;
                break;
            }
        }
        if ascii {
            return true;
        }
    }
    let mut it = s.chars();
    it.next().is_some_and(is_name_start) && it.all(is_name_char)
}

/// Namespaces `QName`: a `Name` with at most one colon, not at either end.
pub(crate) fn is_qname(s: &str) -> bool {
    if !is_name(s) {
        return false;
    }
    let b = s.as_bytes();
    match b.iter().position(|&c| c == b':') {
        None => true,
        Some(i) => i > 0 && i + 1 < b.len() && !b[i + 1..].contains(&b':'),
    }
}

/// Splits a QName into (prefix, local name).
#[inline]
pub(crate) fn split_qname(s: &str) -> (Option<&str>, &str) {
    // Names are short: a plain scan beats memchr's set-up.
    match s.bytes().position(|c| c == b':') {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether a text contains only XML white space.
pub(crate) fn all_ws(s: &str) -> bool {
    s.bytes().all(is_ws)
}

/// One attribute of a start tag: ranges into the attribute list string.
#[derive(Debug, Clone)]
pub(crate) struct RawAttr {
    pub name: Range<usize>,
    pub value: Range<usize>,
    /// The value holds TAB/LF/CR or `&`: normalisation has work to do.
    pub special: bool,
    /// The name has no colon (no prefix).
    pub plain: bool,
}

impl RawAttr {
    /// The normalised value (see [`normalise_attr`]).
    #[inline]
    pub fn value<'a>(&self, s: &'a str, scratch: &'a mut String) -> Result<&'a str, LexError> {
        let raw = &s[self.value.clone()];
        if self.special {
            normalise_attr(raw, scratch)
        } else {
            Ok(raw)
        }
    }
}

/// Byte classes inside attribute values: 1 = `"`, 2 = `'`, 3 = `<`, 4 = needs normalisation.
pub(crate) static VCLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'\'' as usize] = 2;
    t[b'<' as usize] = 3;
    t[b'\t' as usize] = 4;
    t[b'\n' as usize] = 4;
    t[b'\r' as usize] = 4;
    t[b'&' as usize] = 4;
    t
};

/// Parses the attribute list of a start tag (everything after the element
/// name): white space before each attribute, `=`, quoted values without `<`.
/// Names and uniqueness are checked by [`check_names`] (or, for declared
/// attributes, by the caller's bitmask, which is cheaper on the hot path).
pub(crate) fn scan_attrs(s: &str, out: &mut Vec<RawAttr>) -> Result<(), LexError> {
    out.clear();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let ws_start = i;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i == b.len() {
            return Ok(());
        }
        if i == ws_start {
            return Err(LexError("manca uno spazio prima dell'attributo".into()));
        }
        let n0 = i;
        while i < b.len() && b[i] != b'=' && !is_ws(b[i]) {
            i += 1;
        }
        let name = &s[n0..i];
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Err(LexError(format!(
                "manca '=' dopo l'attributo {}",
                super::input::truncate(name, 40)
            )));
        }
        i += 1;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        let q = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                return Err(LexError(format!(
                    "il valore dell'attributo {} deve essere tra virgolette",
                    super::input::truncate(name, 40)
                )));
            }
        };
        i += 1;
        // One pass over the value: closing quote, `<`, and whether it needs normalisation.
        let qc = if q == b'"' { 1 } else { 2 };
        let v0 = i;
        let mut special = false;
        loop {
            match b.get(i).map(|&c| VCLASS[c as usize]) {
                None => {
                    return Err(LexError(format!(
                        "virgolette non chiuse nel valore dell'attributo {}",
                        super::input::truncate(name, 40)
                    )));
                }
                Some(0) => {}
                Some(3) => {
                    return Err(LexError(format!(
                        "il carattere '<' non è ammesso nel valore dell'attributo {} (usare &lt;)",
                        super::input::truncate(name, 40)
                    )));
                }
                Some(4) => special = true,
                Some(c) if c == qc => break,
                Some(_) => {}
            }
            i += 1;
        }
        out.push(RawAttr {
            name: n0..n0 + name.len(),
            value: v0..i,
            special,
            plain: !name.contains(':'),
        });
        i += 1;
    }
}

/// Checks that a name is a QName (element or attribute).
pub(crate) fn check_name(name: &str) -> Result<(), LexError> {
    if is_qname(name) {
        Ok(())
    } else {
        Err(LexError(format!(
            "nome non valido: '{}'",
            super::input::truncate(name, 40)
        )))
    }
}

/// Names and uniqueness of all attributes (linear on hostile input).
pub(crate) fn check_names(s: &str, attrs: &[RawAttr]) -> Result<(), LexError> {
    let mut seen = std::collections::HashSet::with_capacity(attrs.len());
    for a in attrs {
        let n = &s[a.name.clone()];
        check_name(n)?;
        if !seen.insert(n) {
            return Err(LexError(format!(
                "attributo {} ripetuto",
                super::input::truncate(n, 40)
            )));
        }
    }
    Ok(())
}

/// Whether `c` is an XML 1.0 `Char`.
pub(crate) fn is_xml_char(u: u32) -> bool {
    matches!(u, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Resolves the body of a reference (between `&` and `;`): the five
/// predefined entities and character references. There is no DTD, so any
/// other entity is undefined.
pub(crate) fn resolve_ref(name: &str) -> Result<char, LexError> {
    match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "quot" => return Ok('"'),
        "apos" => return Ok('\''),
        _ => {}
    }
    let bad = || {
        LexError(format!(
            "riferimento a carattere non valido: &{};",
            super::input::truncate(name, 20)
        ))
    };
    if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(h) => (h, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.bytes().all(|c| (c as char).is_digit(radix)) {
            return Err(bad());
        }
        let mut v: u32 = 0;
        for c in digits.chars() {
            v = v
                .checked_mul(radix)
                .and_then(|v| v.checked_add(c.to_digit(radix).unwrap_or(0)))
                .ok_or_else(bad)?;
        }
        if !is_xml_char(v) {
            return Err(bad());
        }
        return char::from_u32(v).ok_or_else(bad);
    }
    Err(LexError(format!(
        "entità non definita: &{}; (sono ammesse solo &amp; &lt; &gt; &quot; &apos; e i riferimenti numerici)",
        super::input::truncate(name, 30)
    )))
}

/// XML attribute-value normalisation (line ends are already LF): literal
/// TAB/LF become spaces, references are replaced (a `&#10;` stays a LF).
/// Borrows `raw` when there is nothing to do.
pub(crate) fn normalise_attr<'a>(
    raw: &'a str,
    scratch: &'a mut String,
) -> Result<&'a str, LexError> {
    let b = raw.as_bytes();
    let Some(first) = b
        .iter()
        .position(|&c| matches!(c, b'\t' | b'\n' | b'\r' | b'&'))
    else {
        return Ok(raw);
    };
    scratch.clear();
    scratch.push_str(&raw[..first]);
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'\t' | b'\n' | b'\r' => {
                scratch.push(' ');
                i += 1;
            }
            b'&' => {
                let Some(end) = memchr::memchr(b';', &b[i + 1..]) else {
                    return Err(LexError(
                        "carattere '&' non seguito da un riferimento valido (usare &amp;)".into(),
                    ));
                };
                scratch.push(resolve_ref(&raw[i + 1..i + 1 + end])?);
                i += end + 2;
            }
            _ => {
                let next = b[i..]
                    .iter()
                    .position(|&c| matches!(c, b'\t' | b'\n' | b'\r' | b'&'))
                    .map_or(b.len(), |p| i + p);
                scratch.push_str(&raw[i..next]);
                i = next;
            }
        }
    }
    Ok(scratch.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_and_refs() {
        let mut v = Vec::new();
        assert!(scan_attrs(" a='1' b = \"2\"  ", &mut v).is_ok() && v.len() == 2);
        assert!(scan_attrs(" a='1'b='2'", &mut v).is_err());
        assert!(
            scan_attrs(" a='1' a='2'", &mut v).is_ok() && check_names(" a='1' a='2'", &v).is_err()
        );
        assert!(scan_attrs(" a='<'", &mut v).is_err());
        assert!(scan_attrs(" 1a='x'", &mut v).is_ok() && check_names(" 1a='x'", &v).is_err());
        assert!(scan_attrs(" a=x", &mut v).is_err());
        let mut s = String::new();
        assert_eq!(
            normalise_attr("a\tb&#10;c&amp;&#x41;", &mut s)
                .map(str::to_owned)
                .ok(),
            Some("a b\nc&A".into())
        );
        assert!(normalise_attr("a&foo;", &mut s).is_err());
        assert!(normalise_attr("a&#0;", &mut s).is_err());
        assert!(normalise_attr("a&#X41;", &mut s).is_err());
        assert!(normalise_attr("a & b", &mut s).is_err());
        assert!(is_qname("xsi:type") && !is_qname("a:b:c") && !is_qname(":a") && is_qname("Città"));
    }
}
