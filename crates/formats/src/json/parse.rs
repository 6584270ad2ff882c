//! A strict RFC 8259 JSON parser for flows. serde_json is not used here
//! because it silently keeps the last of duplicate keys and turns numbers into
//! binary floats: a register must refuse the first and keep the exact decimal
//! digits of the second. Every limit is checked while parsing, so hostile
//! input (deep nesting, huge strings, endless arrays) costs bounded memory and
//! never overflows the stack.

use super::{Limit, pointer_push};
use std::collections::HashSet;

/// Members past which duplicate keys are looked up in a hash set.
const WIDE: usize = 16;

/// A parsed JSON value. Objects keep their members in document order (the
/// converter decides the XML order, not the client).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number exactly as written (RFC 8259 grammar already checked).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Italian name of the JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "un booleano",
            Json::Num(_) => "un numero",
            Json::Str(_) => "una stringa",
            Json::Arr(_) => "un elenco",
            Json::Obj(_) => "un oggetto",
        }
    }
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not JSON: message, byte offset.
    Syntax(String, usize),
    /// A key repeated in one object: JSON pointer of the second occurrence, offset.
    Duplicate(String, usize),
    /// A safety limit: which, JSON pointer, offset.
    Limit(Limit, String, usize),
}

pub(crate) struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

/// Puts the member or item `token` in front of an error's JSON pointer: the
/// pointer is built only on the way out of an error, never while parsing.
fn within(e: ParseError, token: &str) -> ParseError {
    let front = |path: String| {
        let mut p = String::new();
        pointer_push(&mut p, token);
        p + &path
    };
    match e {
        ParseError::Duplicate(path, at) => ParseError::Duplicate(front(path), at),
        ParseError::Limit(l, path, at) => ParseError::Limit(l, front(path), at),
        e @ ParseError::Syntax(..) => e,
    }
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a str) -> Self {
        Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    /// Parses the whole input as one value.
    pub fn parse_document(mut self) -> Result<Json, ParseError> {
        self.ws();
        let v = self.value()?;
        self.ws();
        if self.pos < self.b.len() {
            return Err(self.syntax("contenuto dopo la fine del valore JSON"));
        }
        Ok(v)
    }

    fn syntax(&self, msg: &str) -> ParseError {
        ParseError::Syntax(msg.to_string(), self.pos)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Json, ParseError> {
        match self.b.get(self.pos) {
            None => Err(self.syntax("fine del documento dove era atteso un valore")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => Err(self.syntax("carattere inatteso dove era atteso un valore")),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json, ParseError>) -> Result<Json, ParseError> {
        if self.depth >= Limit::Depth.max() {
            return Err(ParseError::Limit(Limit::Depth, String::new(), self.pos));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, ParseError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.syntax("parola non riconosciuta (ammesse true, false, null)"))
        }
    }

    fn object(&mut self) -> Result<Json, ParseError> {
        self.pos += 1; // '{'
        let mut members: Vec<(String, Json)> = Vec::new();
        // Keys seen, once the object is wide enough for a linear scan to
        // cost more than hashing (a hostile object has up to 10,000 members).
        let mut wide: Option<HashSet<String>> = None;
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Json::Obj(members));
        }
        loop {
            self.ws();
            if self.b.get(self.pos) != Some(&b'"') {
                return Err(self.syntax("atteso il nome di un membro tra virgolette"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            let duplicate = match &mut wide {
                Some(set) => !set.insert(key.clone()),
                None => members.iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                return Err(within(ParseError::Duplicate(String::new(), key_at), &key));
            }
            if wide.is_none() && members.len() >= WIDE {
                let mut set: HashSet<String> = members.iter().map(|(k, _)| k.clone()).collect();
                set.insert(key.clone());
                wide = Some(set);
            }
            if members.len() >= Limit::Items.max() {
                return Err(within(
                    ParseError::Limit(Limit::Items, String::new(), key_at),
                    &key,
                ));
            }
            self.ws();
            if self.b.get(self.pos) != Some(&b':') {
                return Err(self.syntax("atteso ':' dopo il nome del membro"));
            }
            self.pos += 1;
            self.ws();
            let v = self.value().map_err(|e| within(e, &key))?;
            members.push((key, v));
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Obj(members));
                }
                _ => return Err(self.syntax("attesi ',' o '}' nell'oggetto")),
            }
        }
    }

    fn array(&mut self) -> Result<Json, ParseError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            if items.len() >= Limit::Items.max() {
                return Err(within(
                    ParseError::Limit(Limit::Items, String::new(), self.pos),
                    &items.len().to_string(),
                ));
            }
            let v = self
                .value()
                .map_err(|e| within(e, &items.len().to_string()))?;
            items.push(v);
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.syntax("attesi ',' o ']' nell'elenco")),
            }
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            if self.pos - start > Limit::StringBytes.max() {
                return Err(ParseError::Limit(Limit::StringBytes, String::new(), start));
            }
            match self.b.get(self.pos) {
                None => return Err(self.syntax("stringa non chiusa")),
                Some(b'"') => {
                    out.push_str(&self.s[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.s[run..self.pos]);
                    self.pos += 1;
                    self.escape(&mut out)?;
                    run = self.pos;
                }
                Some(&c) if c < 0x20 => {
                    return Err(self.syntax(
                        "carattere di controllo non ammesso in una stringa (usare una sequenza \\u)",
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let c = match self.b.get(self.pos) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let hi = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    if !self.b[self.pos..].starts_with(b"\\u") {
                        return Err(self.syntax("surrogato UTF-16 alto non seguito dal suo basso"));
                    }
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.syntax("coppia di surrogati UTF-16 non valida"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.syntax("surrogato UTF-16 basso isolato"));
                } else {
                    hi
                };
                let c = char::from_u32(c).ok_or_else(|| self.syntax("carattere non valido"))?;
                out.push(c);
                return Ok(());
            }
            _ => return Err(self.syntax("sequenza di escape non valida")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let Some(h) = self.b.get(self.pos..self.pos + 4) else {
            return Err(self.syntax("sequenza \\u incompleta"));
        };
        let mut v = 0u32;
        for &d in h {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("sequenza \\u con cifre non esadecimali")),
            };
            v = v * 16 + u32::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.b.get(p.pos) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_at = self.pos;
        match digits(self) {
            0 => return Err(self.syntax("numero senza cifre")),
            n if n > 1 && self.b[int_at] == b'0' => {
                return Err(ParseError::Syntax(
                    "numero con zeri iniziali non ammesso in JSON (usare una stringa)".into(),
                    int_at,
                ));
            }
            _ => {}
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.syntax("numero senza cifre dopo il punto"));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("esponente senza cifre"));
            }
        }
        if self.pos - start > Limit::NumberDigits.max() {
            return Err(ParseError::Limit(Limit::NumberDigits, String::new(), start));
        }
        Ok(Json::Num(self.s[start..self.pos].to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: &str) -> Result<Json, ParseError> {
        Parser::new(s).parse_document()
    }

    #[test]
    fn values() {
        assert_eq!(
            parse(r#" {"a": [1, -2.50e+3, "x\u00e8\ud83d\ude00\n", true, null]} "#).unwrap(),
            Json::Obj(vec![(
                "a".into(),
                Json::Arr(vec![
                    Json::Num("1".into()),
                    Json::Num("-2.50e+3".into()),
                    Json::Str("xè😀\n".into()),
                    Json::Bool(true),
                    Json::Null
                ])
            )])
        );
        assert_eq!(parse("[]").unwrap(), Json::Arr(vec![]));
        assert_eq!(parse("{}").unwrap(), Json::Obj(vec![]));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "1e",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\tb\"",
            "\"\\x\"",
            "tru",
            "{} {}",
            "{'a':1}",
            "NaN",
            "\"\\u12\"",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Syntax(..))),
                "{bad:?} → {:?}",
                parse(bad)
            );
        }
    }

    #[test]
    fn duplicates_in_wide_objects() {
        let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(
            matches!(parse(&format!("{{{}}}", members.join(","))), Ok(Json::Obj(m)) if m.len() == 40)
        );
        for dup in [3usize, 17, 39] {
            members.push(format!("\"k{dup}\":0"));
            assert!(
                matches!(parse(&format!("{{{}}}", members.join(","))), Err(ParseError::Duplicate(p, _)) if p == format!("/k{dup}")),
                "k{dup}"
            );
            members.pop();
        }
    }

    #[test]
    fn duplicates_and_limits() {
        assert_eq!(
            parse(r#"{"a":{"b~/":1,"b~/":2}}"#),
            Err(ParseError::Duplicate("/a/b~0~1".into(), 14))
        );
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse(&deep),
            Err(ParseError::Limit(Limit::Depth, ..))
        ));
        let long = format!("\"{}\"", "x".repeat(Limit::StringBytes.max() + 1));
        assert!(matches!(
            parse(&long),
            Err(ParseError::Limit(Limit::StringBytes, ..))
        ));
        let many = format!("[{}0]", "0,".repeat(Limit::Items.max()));
        assert!(matches!(
            parse(&many),
            Err(ParseError::Limit(Limit::Items, p, _)) if p == "/10000"
        ));
        let num = "1".repeat(Limit::NumberDigits.max() + 1);
        assert!(matches!(
            parse(&num),
            Err(ParseError::Limit(Limit::NumberDigits, ..))
        ));
    }
}
