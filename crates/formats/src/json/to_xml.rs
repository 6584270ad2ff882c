//! JSON value → XML flow. Attributes are written in XSD declaration order and
//! children in XSD sequence order whatever the JSON member order, one element
//! per line like `XmlFlowWriter`, so equal JSON values give equal bytes.
//! Missing members, values outside their simple type and too many or too few
//! occurrences are written as they are: the XML reader reports them exactly
//! as for an XML flow.

use super::parse::Json;
use super::shape::{self, Repr};
use super::{Limit, pointer_push, violation};
use crate::xml::schema::{Kind, Particle};
use crate::xml::{escape_attr, escape_text, is_xml_char};
use casellario_domain::catalogue::{self, RuleDef};
use casellario_domain::model::{AttrDecl, NAMESPACE};
use casellario_domain::xsd::SimpleType;
use casellario_domain::{FlowType, Violation};
use std::borrow::Cow;

/// Past this many violations the rest are not reported (bounded output).
const MAX_VIOLATIONS: usize = 100;

struct Writer {
    out: String,
    errors: Vec<Violation>,
    tipo: FlowType,
}

pub(crate) fn to_xml(doc: &Json) -> Result<Vec<u8>, Vec<Violation>> {
    let mut w = Writer {
        out: String::with_capacity(4096),
        errors: Vec::new(),
        tipo: FlowType::PsPsaSina,
    };
    let Json::Obj(members) = doc else {
        w.error(
            &catalogue::JSON_TIPO,
            "",
            format!(
                "Il flusso JSON deve essere un oggetto con IdentificazioneFlusso e Beneficiario (o SINBA), non {}.",
                doc.type_name()
            ),
        );
        return Err(w.errors);
    };
    let has = |name: &str| members.iter().any(|(k, _)| k == name);
    if has("SINBA") && !has("Beneficiario") {
        w.tipo = FlowType::Sinba;
    } else if has("SINBA") {
        w.error(
            &catalogue::JSON_MEMBRO_NON_PREVISTO,
            "/SINBA",
            "Un flusso contiene Beneficiario (flusso PS-PSA-SINA) oppure SINBA (flusso SINBA), non entrambi."
                .to_string(),
        );
        return Err(w.errors);
    }
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Flusso xmlns=\"");
    w.out.push_str(NAMESPACE);
    w.out.push_str("\">\n");
    let mut path = String::new();
    w.children(Kind::Flusso, members, 1, &mut path);
    w.out.push_str("</Flusso>\n");
    if w.errors.is_empty() {
        Ok(w.out.into_bytes())
    } else {
        Err(w.errors)
    }
}

impl Writer {
    fn error(&mut self, rule: &RuleDef, path: &str, message: String) {
        if self.errors.len() < MAX_VIOLATIONS {
            self.errors.push(violation(rule, path, message, None));
        }
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    /// Writes the child elements of `kind` found among `members`, in XSD
    /// order; reports members that are neither attributes nor children.
    fn children(
        &mut self,
        kind: Kind,
        members: &[(String, Json)],
        level: usize,
        path: &mut String,
    ) {
        let attrs = shape::attrs(kind);
        let ps = shape::particles(kind, self.tipo);
        for (k, _) in members {
            if !attrs.iter().any(|a| a.name == k) && !ps.iter().any(|p| p.name == k) {
                let at = path.len();
                pointer_push(path, k);
                let msg = unknown_member(kind, k, attrs, ps);
                self.error(&catalogue::JSON_MEMBRO_NON_PREVISTO, path, msg);
                path.truncate(at);
            }
        }
        for p in ps {
            // Duplicate keys never get here: the parser refuses them.
            let Some((_, v)) = members.iter().find(|(k, _)| k == p.name) else {
                continue;
            };
            let at = path.len();
            pointer_push(path, p.name);
            match (shape::repr(kind, p), v) {
                (Repr::One, v) | (Repr::OneOrList, v @ Json::Obj(_)) => {
                    self.child(p, v, level, path);
                }
                (Repr::List | Repr::OneOrList, Json::Arr(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let at = path.len();
                        pointer_push(path, &i.to_string());
                        self.child(p, item, level, path);
                        path.truncate(at);
                    }
                }
                (repr, v) => {
                    let want = if repr == Repr::OneOrList {
                        "un oggetto o un elenco di oggetti"
                    } else if shape::is_text(p.kind) {
                        "un elenco di stringhe"
                    } else {
                        "un elenco di oggetti"
                    };
                    let msg = format!(
                        "{} deve essere {want} (l'elemento è ripetibile), non {}.",
                        p.name,
                        v.type_name()
                    );
                    self.error(&catalogue::JSON_TIPO, path, msg);
                }
            }
            path.truncate(at);
        }
    }

    /// One occurrence of a child element.
    fn child(&mut self, p: &Particle, v: &Json, level: usize, path: &mut String) {
        if let Some(ty) = shape::text_type(p.kind) {
            let Json::Str(s) = v else {
                let msg = format!(
                    "Ogni {} deve essere una stringa ({}), non {}.",
                    p.name,
                    ty.describe(),
                    v.type_name()
                );
                self.error(&catalogue::JSON_TIPO, path, msg);
                return;
            };
            if self.check_chars(s, path) {
                self.indent(level);
                self.out.push('<');
                self.out.push_str(p.name);
                self.out.push('>');
                escape_text(&mut self.out, s);
                self.out.push_str("</");
                self.out.push_str(p.name);
                self.out.push_str(">\n");
            }
        } else {
            self.element(p.kind, v, level, path);
        }
    }

    /// An element with attributes and children: a JSON object.
    fn element(&mut self, kind: Kind, v: &Json, level: usize, path: &mut String) {
        let Json::Obj(members) = v else {
            let msg = format!(
                "L'elemento {} deve essere un oggetto JSON, non {}.",
                kind.name(),
                v.type_name()
            );
            self.error(&catalogue::JSON_TIPO, path, msg);
            return;
        };
        let attrs = shape::attrs(kind);
        self.indent(level);
        self.out.push('<');
        self.out.push_str(kind.name());
        for a in attrs {
            let Some((_, v)) = members.iter().find(|(k, _)| k == a.name) else {
                continue;
            };
            let at = path.len();
            pointer_push(path, a.name);
            if let Some(value) = self.attr_value(a, v, path) {
                self.out.push(' ');
                self.out.push_str(a.name);
                self.out.push_str("=\"");
                escape_attr(&mut self.out, &value);
                self.out.push('"');
            }
            path.truncate(at);
        }
        // The children are written after the start tag is closed; whether
        // it is `/>` is known only once they are: write them to the side.
        let mut inner = std::mem::take(&mut self.out);
        self.children(kind, members, level + 1, path);
        std::mem::swap(&mut inner, &mut self.out);
        // An empty list writes nothing: `{"X": []}` and `{}` are one element.
        if !inner.is_empty() {
            self.out.push_str(">\n");
            self.out.push_str(&inner);
            self.indent(level);
            self.out.push_str("</");
            self.out.push_str(kind.name());
            self.out.push_str(">\n");
        } else {
            self.out.push_str("/>\n");
        }
    }

    /// The lexical value of an attribute member, or `None` after reporting
    /// why it cannot be one.
    fn attr_value<'v>(&mut self, a: &AttrDecl, v: &'v Json, path: &str) -> Option<Cow<'v, str>> {
        match v {
            Json::Str(s) => self.check_chars(s, path).then_some(Cow::Borrowed(s)),
            Json::Num(n) if shape::accepts_number(&a.ty) => match number_lexical(n) {
                Some(s) => Some(s),
                None => {
                    let msg = format!(
                        "Il numero di {} supera un limite di sicurezza: {}.",
                        a.name,
                        Limit::NumberDigits.message()
                    );
                    self.error(&catalogue::JSON_LIMITE, path, msg);
                    None
                }
            },
            other => {
                let hint = match (other, &a.ty) {
                    (Json::Num(_), SimpleType::Enum(_)) => {
                        " (i codici vanno tra virgolette, es. \"1\")"
                    }
                    (Json::Num(_), _) => " (scrivere il valore tra virgolette)",
                    _ => "",
                };
                let msg = format!(
                    "L'attributo {} deve essere una stringa ({}), non {}{hint}.",
                    a.name,
                    a.ty.describe(),
                    other.type_name()
                );
                self.error(&catalogue::JSON_TIPO, path, msg);
                None
            }
        }
    }

    /// True when every character can be written in XML 1.0.
    fn check_chars(&mut self, s: &str, path: &str) -> bool {
        match s.chars().position(|c| !is_xml_char(c as u32)) {
            None => true,
            Some(i) => {
                let c = s.chars().nth(i).map_or(0, |c| c as u32);
                let msg = format!(
                    "Il valore contiene il carattere U+{c:04X} (posizione {}), che XML 1.0 non ammette: toglierlo.",
                    i + 1
                );
                self.error(&catalogue::JSON_CARATTERE, path, msg);
                false
            }
        }
    }
}

fn unknown_member(kind: Kind, name: &str, attrs: &[AttrDecl], ps: &[Particle]) -> String {
    let mut known: Vec<&str> = attrs.iter().map(|a| a.name).collect();
    known.extend(ps.iter().map(|p| p.name));
    let elem = if kind == Kind::Flusso {
        "il flusso".to_string()
    } else {
        format!("l'elemento {}", kind.name())
    };
    let shown: String = name.chars().take(60).collect();
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        format!("Membro \"{shown}\" non previsto per {elem}: il nome esatto è \"{k}\".")
    } else {
        format!(
            "Membro \"{shown}\" non previsto per {elem}: ammessi {}.",
            known.join(", ")
        )
    }
}

/// The XSD lexical form (`xs:decimal`/`xs:int`, no exponent) of a JSON
/// number, exactly: `1.5e2` → `150`, `-2E-3` → `-0.002`. `None` when it would
/// exceed the number limit.
fn number_lexical(n: &str) -> Option<Cow<'_, str>> {
    let Some(e_at) = n.find(['e', 'E']) else {
        return Some(Cow::Borrowed(n));
    };
    let (mantissa, exp) = (&n[..e_at], &n[e_at + 1..]);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let max = i64::try_from(Limit::NumberDigits.max()).ok()?;
    // Exponents past the limit are refused before any arithmetic.
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    let exp: i64 = if exp.trim_start_matches('-').len() > 6 {
        return None;
    } else {
        exp.parse().ok()?
    };
    let digits: String = format!("{int}{frac}");
    let point = i64::try_from(int.len()).ok()? + exp;
    let len = i64::try_from(digits.len()).ok()?;
    if point > max || point < -max {
        return None;
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', usize::try_from(-point).ok()?));
        s.push_str(&digits);
    } else if point >= len {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', usize::try_from(point - len).ok()?));
    } else {
        let p = usize::try_from(point).ok()?;
        s.push_str(&digits[..p]);
        s.push('.');
        s.push_str(&digits[p..]);
    }
    // Leading zeros of the integer part carry nothing (`0.5e1` → `05`).
    let body_at = usize::from(neg);
    let zeros = s[body_at..].bytes().take_while(|&b| b == b'0').count().min(
        s[body_at..]
            .find('.')
            .unwrap_or(s.len() - body_at)
            .saturating_sub(1),
    );
    s.replace_range(body_at..body_at + zeros, "");
    (s.len() <= Limit::NumberDigits.max()).then_some(Cow::Owned(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_exact_value() {
        for (json, lexical) in [
            ("12", Some("12")),
            ("-0.50", Some("-0.50")),
            ("1.5e2", Some("150")),
            ("1.5E+2", Some("150")),
            ("-2E-3", Some("-0.002")),
            ("0.5e1", Some("5")),
            ("0e5", Some("0")),
            ("123e-1", Some("12.3")),
            ("1e-400", None),
            ("1e401", None),
            ("1e99999999999", None),
        ] {
            assert_eq!(number_lexical(json).as_deref(), lexical, "{json}");
        }
    }
}
