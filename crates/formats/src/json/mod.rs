//! The JSON mirror of the two INPS flows (layout in `docs/FLUSSO_JSON.md`).
//!
//! A JSON flow is the XML flow written as JSON with the XSDs' wire names:
//! elements are objects, attributes are string members (numbers accepted for
//! numeric attributes), repeated elements are arrays (the top-level
//! `Beneficiario`/`SINBA` may also be a single object), simple-content
//! elements (`CodicePrestazione`, `InvCiv`, `ComposizioneFamiglia`) are
//! strings. [`flow_json_to_xml`] only translates: the XML it produces goes
//! through the one XML reader and pipeline like any other flow, so a value
//! wrong in JSON gets exactly the outcome it would get in XML. What cannot be
//! translated (malformed JSON, an unknown member, a wrong JSON type, a
//! duplicate key, a safety limit) is refused here with a stable code.
//! [`conforming_flow_json_to_xml`], what the API uses, also refuses what the
//! published JSON Schema excludes (`JSON_SCHEMA`): a client is held to the
//! contract the OpenAPI document states.

mod conform;
mod from_xml;
mod parse;
mod schema;
mod shape;
mod to_xml;

use casellario_domain::catalogue::{self, RuleDef};
use casellario_domain::{Profile, Violation};

pub use schema::flow_json_schema;

/// Largest JSON flow accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 16 << 20;

/// A JSON flow that cannot be translated to XML (or an XML flow that cannot
/// be written as JSON): the violations say where and why, in Italian.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", summary(&self.violations))]
pub struct JsonFlowError {
    pub violations: Vec<Violation>,
}

fn summary(v: &[Violation]) -> String {
    match v {
        [] => "flusso JSON non valido".to_string(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{} (e altre {} violazioni)", first.message, rest.len()),
    }
}

/// Translates a JSON flow to the XML flow it mirrors. Deterministic: the same
/// JSON value (whatever its member order, white space or escapes) gives the
/// same bytes, so the register's content hash recognises a resent flow.
pub fn flow_json_to_xml(input: &[u8]) -> Result<Vec<u8>, JsonFlowError> {
    translate(input).map(|(_, xml)| xml)
}

/// [`flow_json_to_xml`] for a flow that must also conform to
/// [`flow_json_schema`], as the API publishes it: what the schema excludes
/// (a missing required member, a value outside its format, length or codes,
/// too many or too few items) is refused with `JSON_SCHEMA` violations
/// instead of being left to the reader.
pub fn conforming_flow_json_to_xml(input: &[u8]) -> Result<Vec<u8>, JsonFlowError> {
    let (doc, xml) = translate(input)?;
    let violations = conform::check(&doc);
    if violations.is_empty() {
        Ok(xml)
    } else {
        Err(JsonFlowError { violations })
    }
}

/// The parse tree of a JSON flow and the XML it translates to.
fn translate(input: &[u8]) -> Result<(parse::Json, Vec<u8>), JsonFlowError> {
    if input.len() > MAX_JSON_BYTES {
        return Err(one(
            &catalogue::JSON_LIMITE,
            "",
            format!(
                "Il flusso JSON è di {} byte: il massimo è {} byte (16 MiB).",
                input.len(),
                MAX_JSON_BYTES
            ),
            None,
        ));
    }
    // RFC 8259 §8.1 lets a parser ignore a byte order mark.
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let (line, col) = line_col(input, e.valid_up_to());
        one(
            &catalogue::JSON_CODIFICA,
            "",
            format!(
                "Il flusso JSON non è UTF-8 valido: sequenza di byte non ammessa alla riga {line}, colonna {col}."
            ),
            Some(line),
        )
    })?;
    let doc = parse::Parser::new(text)
        .parse_document()
        .map_err(|e| parse_violation(text.as_bytes(), e))?;
    let xml = to_xml::to_xml(&doc).map_err(|violations| JsonFlowError { violations })?;
    Ok((doc, xml))
}

/// Writes an XML flow as its JSON mirror (attribute values as strings). The
/// XML must be well-formed UTF-8 with the XSDs' elements and attributes in
/// their order; values are not checked (the reader does that).
pub fn flow_xml_to_json(xml: &[u8]) -> Result<serde_json::Value, JsonFlowError> {
    from_xml::from_xml(xml).map_err(|violations| JsonFlowError { violations })
}

/// The safety limits of the JSON reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Nesting of objects and arrays (the deepest flow needs 6).
    Depth,
    /// Bytes of one string (the longest XSD value is 200 characters).
    StringBytes,
    /// Members of an object or items of an array.
    Items,
    /// Characters of a number, as written or once its exponent is applied.
    NumberDigits,
}

impl Limit {
    pub const fn max(self) -> usize {
        match self {
            Limit::Depth => 32,
            Limit::StringBytes => 64 << 10,
            Limit::Items => 10_000,
            Limit::NumberDigits => 400,
        }
    }

    fn message(self) -> String {
        match self {
            Limit::Depth => format!(
                "annidamento di oggetti ed elenchi oltre {} livelli",
                self.max()
            ),
            Limit::StringBytes => format!("stringa oltre {} byte", self.max()),
            Limit::Items => format!("oggetto o elenco con più di {} elementi", self.max()),
            Limit::NumberDigits => format!("numero di oltre {} caratteri", self.max()),
        }
    }
}

/// Appends one RFC 6901 reference token to a JSON pointer.
pub(crate) fn pointer_push(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

pub(crate) fn violation(
    rule: &RuleDef,
    field: &str,
    message: String,
    line: Option<u64>,
) -> Violation {
    let mut v = rule.violation(Profile::Strict, field, message);
    v.line = line;
    v
}

fn one(rule: &RuleDef, field: &str, message: String, line: Option<u64>) -> JsonFlowError {
    JsonFlowError {
        violations: vec![violation(rule, field, message, line)],
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(b: &[u8], at: usize) -> (u64, u64) {
    let at = at.min(b.len());
    let before = &b[..at];
    let line = before.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
    let start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() as u64 + 1;
    (line, col)
}

fn parse_violation(b: &[u8], e: parse::ParseError) -> JsonFlowError {
    match e {
        parse::ParseError::Syntax(msg, at) => {
            let (line, col) = line_col(b, at);
            one(
                &catalogue::JSON_MALFORMATO,
                "",
                format!("JSON non valido alla riga {line}, colonna {col}: {msg}."),
                Some(line),
            )
        }
        parse::ParseError::Duplicate(path, at) => {
            let (line, col) = line_col(b, at);
            one(
                &catalogue::JSON_CHIAVE_DUPLICATA,
                &path,
                format!(
                    "Il membro {path} compare più volte nello stesso oggetto (riga {line}, colonna {col}): indicarlo una volta sola."
                ),
                Some(line),
            )
        }
        parse::ParseError::Limit(limit, path, at) => {
            let (line, col) = line_col(b, at);
            one(
                &catalogue::JSON_LIMITE,
                &path,
                format!(
                    "Il flusso JSON supera un limite di sicurezza alla riga {line}, colonna {col}: {}.",
                    limit.message()
                ),
                Some(line),
            )
        }
    }
}
