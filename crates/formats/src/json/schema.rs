//! JSON Schema of the JSON flow, generated from the same declarations the
//! converter and the XML reader use. OpenAPI 3.0 compatible: no `$schema`,
//! no `$ref` (it is embedded as is in the API's document), no type arrays,
//! only `type`, `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `enum`, `pattern`, `minLength`/`maxLength`,
//! `format`, `minimum`/`maximum`, `oneOf`, `title`, `description`, and the
//! `x-nomi-esterni` extension (the names are the XSD's, see the ModI lint).
//!
//! A document valid against it is always translated to XML and read without
//! structural errors; its values may still break a business rule, which the
//! pipeline reports in the receipt.

use super::shape::{self, Repr};
use crate::xml::schema::{Kind, Particle};
use casellario_domain::FlowType;
use casellario_domain::model::AttrDecl;
use casellario_domain::xsd::SimpleType;
use serde_json::{Map, Value, json};

/// Characters XML 1.0 cannot carry (control characters other than tab and
/// line ends, U+FFFE, U+FFFF): free text must avoid them.
const XML_TEXT: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\uFFFE\\uFFFF]*$";

/// XML white space, which the XSD's numeric and date types collapse.
const WS: &str = "[ \\t\\n\\r]*";

/// The JSON Schema (OpenAPI 3.0 Schema Object) of a JSON flow: one
/// PS-PSA-SINA flow or one SINBA flow.
pub fn flow_json_schema() -> Value {
    json!({
        "title": "Flusso",
        "description": "Flusso del Casellario dell'assistenza in JSON: lo specchio dell'XML INPS \
            (PS_PSA_SINA201812.xsd oppure SINBA.xsd) con i nomi dell'XSD. Elementi = oggetti, \
            attributi = stringhe (numeri ammessi per gli attributi numerici), elementi ripetibili = elenchi.",
        "oneOf": [flow(FlowType::PsPsaSina), flow(FlowType::Sinba)],
        // The member names are the XSD's (PascalCase), not the API's own
        // convention: this marks the subtree for the ModI casing rule.
        "x-nomi-esterni": true,
    })
}

pub(crate) fn flow(tipo: FlowType) -> Value {
    let (title, description) = match tipo {
        FlowType::PsPsaSina => (
            "FlussoPsPsaSina",
            "Flusso PS-PSA-SINA: prestazioni sociali per beneficiario (un oggetto Beneficiario o un elenco).",
        ),
        FlowType::Sinba => (
            "FlussoSinba",
            "Flusso SINBA: minori e famiglie (un oggetto SINBA o un elenco).",
        ),
    };
    let mut s = element(Kind::Flusso, tipo);
    if let Value::Object(m) = &mut s {
        m.insert("title".into(), title.into());
        m.insert("description".into(), description.into());
    }
    s
}

fn element(kind: Kind, tipo: FlowType) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for a in shape::attrs(kind) {
        props.insert(a.name.to_string(), attribute(a));
        if a.required {
            required.push(Value::from(a.name));
        }
    }
    for p in shape::particles(kind, tipo) {
        props.insert(p.name.to_string(), child(kind, p, tipo));
        if p.min > 0 {
            required.push(Value::from(p.name));
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), "object".into());
    if kind != Kind::Flusso {
        m.insert(
            "description".into(),
            format!("Elemento {} dell'XSD.", kind.name()).into(),
        );
    }
    m.insert("additionalProperties".into(), false.into());
    m.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        m.insert("required".into(), Value::Array(required));
    }
    Value::Object(m)
}

fn child(parent: Kind, p: &Particle, tipo: FlowType) -> Value {
    let one = match shape::text_type(p.kind) {
        Some(ty) => simple(&ty, p.name),
        None => element(p.kind, tipo),
    };
    let list = |one: Value| {
        json!({
            "type": "array",
            "description": format!("Elementi {} (ripetibili).", p.name),
            "minItems": p.min,
            "maxItems": shape::max_items(p),
            "items": one,
        })
    };
    match shape::repr(parent, p) {
        Repr::One => one,
        Repr::List => list(one),
        Repr::OneOrList => json!({ "oneOf": [one.clone(), list(one)] }),
    }
}

fn attribute(a: &AttrDecl) -> Value {
    simple(&a.ty, a.name)
}

/// The schema of one value of a simple type: a string with the XSD's facets
/// where JSON Schema can say them, or a number for the numeric types.
fn simple(ty: &SimpleType, name: &str) -> Value {
    let description = format!("{name}: {}.", ty.describe());
    match *ty {
        SimpleType::Str { min, max } => json!({
            "type": "string", "description": description,
            "minLength": min, "maxLength": max, "pattern": XML_TEXT,
        }),
        SimpleType::Digits(n) => json!({
            "type": "string", "description": description,
            "minLength": n, "maxLength": n, "pattern": format!("^[0-9]{{{n}}}$"),
        }),
        SimpleType::CodiceFiscale => json!({
            "type": "string", "description": description,
            "minLength": 11, "maxLength": 16,
            "pattern": "^([A-Za-z]{6}[0-9]{2}[A-Za-z][0-9]{2}[A-Za-z][A-Za-z0-9]{3}[A-Za-z]|[0-9]{11} {0,5})$",
        }),
        SimpleType::MeseAnno => json!({
            "type": "string", "description": description,
            "minLength": 7, "maxLength": 7, "pattern": "^(0[1-9]|1[0-2])/(19|20)[0-9]{2}$",
        }),
        SimpleType::Enum(t) => json!({
            "type": "string",
            "description": format!(
                "{name} ({}): {}.",
                t.xsd_type,
                t.entries.iter().map(|(c, l)| format!("{c} = {l}")).collect::<Vec<_>>().join("; ")
            ),
            "enum": t.entries.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        }),
        // The lexical space of xs:date (time zone and white space included),
        // not `format: date`, which would refuse dates INPS accepts.
        SimpleType::Date => json!({
            "type": "string", "description": description,
            "minLength": 10, "maxLength": 64,
            "pattern": format!("^{WS}-?([1-9][0-9]{{4,8}}|[0-9]{{4}})-[0-9]{{2}}-[0-9]{{2}}(Z|[+-][0-9]{{2}}:[0-9]{{2}})?{WS}$"),
        }),
        SimpleType::Decimal => json!({
            "description": description,
            "oneOf": [
                {
                    "type": "string", "maxLength": 64,
                    "pattern": format!("^{WS}[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+){WS}$"),
                },
                // The lexical value is kept digit for digit (no binary float).
                { "type": "number", "format": "decimal128" },
            ],
        }),
        SimpleType::Int { min, max } => {
            let min = min.unwrap_or(i32::MIN);
            let max = max.unwrap_or(i32::MAX);
            json!({
                "description": description,
                "oneOf": [
                    { "type": "string", "maxLength": 64, "pattern": format!("^{WS}[+-]?[0-9]+{WS}$") },
                    { "type": "integer", "format": "int32", "minimum": min, "maximum": max },
                ],
            })
        }
    }
}
