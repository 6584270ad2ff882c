//! The JSON flow format: round trips with the XML reader (INPS samples,
//! generated flows), determinism, the JSON Schema, hostile input.

#![allow(clippy::unwrap_used)]

use casellario_domain::{FlowType, Violation};
use casellario_formats::json::{
    JsonFlowError, MAX_JSON_BYTES, conforming_flow_json_to_xml, flow_json_schema, flow_json_to_xml,
    flow_xml_to_json,
};
use casellario_formats::{FlowItem, ReadOptions, XmlFlowReader};
use casellario_gen::GenOptions;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the XML reader makes of a flow, positions and lines aside (the JSON
/// route reformats the document, so lines differ).
#[derive(Debug, PartialEq)]
struct Reading {
    header: Option<(FlowType, String, Vec<String>)>,
    records: Vec<(String, Vec<(String, String)>)>,
    flow: Vec<(String, String)>,
    fatal: Option<String>,
}

fn key(v: &Violation) -> (String, String) {
    (v.rule.clone(), v.field.clone())
}

fn read(xml: &[u8]) -> Reading {
    let mut r = Reading {
        header: None,
        records: Vec::new(),
        flow: Vec::new(),
        fatal: None,
    };
    for item in XmlFlowReader::new(xml, ReadOptions::default()) {
        match item {
            Ok(FlowItem::Header(h)) => {
                r.header = Some((
                    h.tipo,
                    serde_json::to_string(&h.identificazione).unwrap(),
                    h.violations.iter().map(|v| v.rule.clone()).collect(),
                ));
            }
            Ok(FlowItem::Record(p)) => r.records.push((
                serde_json::to_string(&p.record).unwrap(),
                p.violations.iter().map(key).collect(),
            )),
            Ok(FlowItem::FlowViolation(v)) => r.flow.push(key(&v)),
            Err(e) => r.fatal = Some(e.violation().rule),
        }
    }
    r
}

fn codes(e: &JsonFlowError) -> Vec<&str> {
    e.violations.iter().map(|v| v.rule.as_str()).collect()
}

fn to_xml(v: &Value) -> Result<Vec<u8>, JsonFlowError> {
    flow_json_to_xml(serde_json::to_string(v).unwrap().as_bytes())
}

fn err_of(input: &[u8]) -> JsonFlowError {
    match flow_json_to_xml(input) {
        Ok(xml) => panic!(
            "accepted: {}\n→ {}",
            String::from_utf8_lossy(&input[..input.len().min(300)]),
            String::from_utf8_lossy(&xml)
        ),
        Err(e) => e,
    }
}

/// Asserts a JSON flow is refused with `code` at `field`.
fn refused(input: &[u8], code: &str, field: &str) {
    let e = err_of(input);
    assert!(
        e.violations
            .iter()
            .any(|v| v.rule == code && v.field == field && !v.message.is_empty()),
        "expected {code} at {field:?}, got {:?}",
        e.violations
    );
}

fn example_ps() -> Value {
    json!({
        "IdentificazioneFlusso": {
            "Nome": "H501.PS.20250101.0000001",
            "Ente": { "Codice": "H501", "Denominazione": "Comune di Roma", "Indirizzo": "H501", "CFOperatore": "RSSMRA80A01H501U" }
        },
        "Beneficiario": {
            "CodiceFiscale": "BNCGVN75C12F205Z",
            "Anagrafica": { "Cognome": "Bianchi", "Nome": "Giovanni & <figli>", "AnnoNascita": "1975", "LuogoNascita": "F205", "Genere": "1", "CodiceCittadinanza": "100" },
            "Indirizzo": [ { "CodiceRegione": "12", "CodiceComune": "058091", "CodiceNazione": "380" } ],
            "PrestazioniSociali": [ {
                "PresenzaProvaMezzi": "1",
                "CodicePrestazione": "A1.04",
                "DenominazionePrestazione": "Contributi economici \"una tantum\"",
                "ProtocolloDomanda": "PR-2025-1",
                "DataErogazionePrestazione": "2025-03-01",
                "ImportoPrestazione": 250.50,
                "PresaCarico": "1",
                "SINA": {
                    "Mobilita": "1", "AttivitaVitaQuotidiana": "1", "DisturbiComportamentali": "1",
                    "AreaReddituale": "1", "AreaSupporto": "1", "FonteDerivazioneValutazione": "1",
                    "StrumentoValutazione": "1",
                    "NecessitaInterventiSociali": { "CodicePrestazione": ["A1.01", "A2.06"] },
                    "InvaliditaCivile": { "InvCiv": ["1"] }
                }
            } ]
        }
    })
}

#[test]
fn inps_samples_round_trip() {
    let mut dirs = vec![root().join("tests/fixtures/inps")];
    dirs.push(root().join("tests/fixtures/xml/valid"));
    let mut n = 0;
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let xml = std::fs::read(&p).unwrap();
            let value = flow_xml_to_json(&xml).unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
            let back = to_xml(&value).unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
            assert_eq!(read(&xml), read(&back), "{}", p.display());
            // Converting again changes nothing: the JSON is a fixed point.
            assert_eq!(flow_xml_to_json(&back).unwrap(), value, "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 7, "only {n} samples");
}

#[test]
fn example_reads_as_one_valid_record() {
    let xml = to_xml(&example_ps()).unwrap();
    let r = read(&xml);
    assert_eq!(r.fatal, None);
    assert!(r.flow.is_empty(), "{:?}", r.flow);
    assert_eq!(r.records.len(), 1);
    assert!(r.records[0].1.is_empty(), "{:?}", r.records[0].1);
    let s = String::from_utf8(xml).unwrap();
    assert!(s.contains("Nome=\"Giovanni &amp; &lt;figli>\""), "{s}");
    assert!(s.contains("ImportoPrestazione=\"250.5\""), "{s}");
    assert!(s.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Flusso xmlns=\"http://inps.it/Casellario\">\n"
    ));
    // Attributes in XSD order, children in sequence order, whatever the JSON order.
    let sina_at = s.find("<SINA ").unwrap();
    assert!(
        s[sina_at..].find("<NecessitaInterventiSociali>") < s[sina_at..].find("<InvaliditaCivile>")
    );
}

/// Member order, white space and escapes do not change the bytes.
#[test]
fn deterministic_whatever_the_member_order() {
    fn reversed(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let members: Vec<String> = m
                    .iter()
                    .rev()
                    .map(|(k, v)| {
                        format!(
                            "\n  {} :\t{}",
                            serde_json::to_string(k).unwrap(),
                            reversed(v)
                        )
                    })
                    .collect();
                format!("{{{}}}", members.join(" ,"))
            }
            Value::Array(a) => format!(
                "[ {} ]",
                a.iter().map(reversed).collect::<Vec<_>>().join(", ")
            ),
            Value::String(s) => {
                // Escape everything non-ASCII and some ASCII, as \u sequences.
                let mut out = String::from("\"");
                for c in s.chars() {
                    if c.is_ascii_alphanumeric() {
                        out.push(c);
                    } else {
                        let mut buf = [0u16; 2];
                        for u in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
                out.push('"');
                out
            }
            other => other.to_string(),
        }
    }
    let v = example_ps();
    let a = to_xml(&v).unwrap();
    let b = flow_json_to_xml(format!("\u{feff}{}", reversed(&v)).as_bytes()).unwrap();
    assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
}

#[test]
fn values_are_not_judged_here() {
    // Wrong values, missing required members, too many addresses: all are
    // translated, and the XML reader reports them as for an XML flow.
    let mut v = example_ps();
    let b = &mut v["Beneficiario"];
    b["Anagrafica"]["Genere"] = json!("9");
    b["Anagrafica"].as_object_mut().unwrap().remove("Cognome");
    b["Indirizzo"] = Value::Array(vec![json!({"CodiceNazione": "380"}); 6]);
    b["PrestazioniSociali"][0]["PeriodoErogazione"] = json!(13);
    let xml = to_xml(&v).unwrap();
    let r = read(&xml);
    let rules: Vec<&str> = r.records[0].1.iter().map(|(c, _)| c.as_str()).collect();
    for want in [
        "XSD_VALORE",
        "XSD_ATTRIBUTO_MANCANTE",
        "XSD_ELEMENTO_INATTESO",
    ] {
        assert!(rules.contains(&want), "{want} not in {rules:?}");
    }
}

#[test]
fn sinba_and_single_or_list_records() {
    let xml = std::fs::read(
        root().join("tests/fixtures/inps/openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml"),
    )
    .unwrap();
    let v = flow_xml_to_json(&xml).unwrap();
    assert!(v["SINBA"].is_object(), "a lone record is an object");
    assert_eq!(
        v["SINBA"]["Prestazioni"]["CodicePrestazione"],
        json!(["A1.02", "A2.06"])
    );
    assert_eq!(
        v["SINBA"]["Famiglia"]["ComposizioneFamiglia"],
        json!(["1", "2"])
    );
    // The same record as a one-item list gives the same XML.
    let mut listed = v.clone();
    listed["SINBA"] = json!([v["SINBA"].clone()]);
    assert_eq!(to_xml(&v).unwrap(), to_xml(&listed).unwrap());
    // Two records: a list.
    let mut two = v.clone();
    two["SINBA"] = json!([v["SINBA"].clone(), v["SINBA"].clone()]);
    let back = flow_xml_to_json(&to_xml(&two).unwrap()).unwrap();
    assert_eq!(back["SINBA"].as_array().map(Vec::len), Some(2));
    assert_eq!(read(&to_xml(&two).unwrap()).records.len(), 2);
}

#[test]
fn numbers_only_for_numeric_attributes() {
    let mut v = example_ps();
    v["Beneficiario"]["PrestazioniSociali"][0]["PeriodoErogazione"] = json!(12);
    v["Beneficiario"]["PrestazioniSociali"][0]["ImportoMensile"] = json!(1.5e2);
    let s = String::from_utf8(to_xml(&v).unwrap()).unwrap();
    assert!(s.contains("PeriodoErogazione=\"12\""));
    assert!(s.contains("ImportoMensile=\"150.0\""), "{s}");
    // Exponents are applied exactly, not through a float.
    let raw = serde_json::to_string(&example_ps())
        .unwrap()
        .replace("250.5", "2.5050e2");
    let s = String::from_utf8(flow_json_to_xml(raw.as_bytes()).unwrap()).unwrap();
    assert!(s.contains("ImportoPrestazione=\"250.50\""), "{s}");
    let mut v = example_ps();
    v["Beneficiario"]["Anagrafica"]["AnnoNascita"] = json!(1975);
    refused(
        serde_json::to_string(&v).unwrap().as_bytes(),
        "JSON_TIPO",
        "/Beneficiario/Anagrafica/AnnoNascita",
    );
}

#[test]
fn structural_errors_have_codes_and_pointers() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = example_ps();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    refused(
        &with(&|v| v["Beneficiario"]["__proto__"] = json!({"x": 1})),
        "JSON_MEMBRO_NON_PREVISTO",
        "/Beneficiario/__proto__",
    );
    refused(
        &with(&|v| v["Beneficiario"]["codicefiscale"] = json!("x")),
        "JSON_MEMBRO_NON_PREVISTO",
        "/Beneficiario/codicefiscale",
    );
    let e = err_of(&with(&|v| v["Beneficiario"]["codicefiscale"] = json!("x")));
    assert!(e.violations[0].message.contains("\"CodiceFiscale\""), "{e}");
    refused(
        &with(&|v| v["a/b~c"] = json!(1)),
        "JSON_MEMBRO_NON_PREVISTO",
        "/a~1b~0c",
    );
    refused(
        &with(&|v| v["Beneficiario"]["Indirizzo"] = json!({"CodiceNazione": "380"})),
        "JSON_TIPO",
        "/Beneficiario/Indirizzo",
    );
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"] = json!([])),
        "JSON_TIPO",
        "/Beneficiario/Anagrafica",
    );
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"]["Genere"] = json!(null)),
        "JSON_TIPO",
        "/Beneficiario/Anagrafica/Genere",
    );
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"]["Genere"] = json!(true)),
        "JSON_TIPO",
        "/Beneficiario/Anagrafica/Genere",
    );
    refused(
        &with(&|v| {
            v["Beneficiario"]["PrestazioniSociali"][0]["SINA"]["InvaliditaCivile"]["InvCiv"] =
                json!([1])
        }),
        "JSON_TIPO",
        "/Beneficiario/PrestazioniSociali/0/SINA/InvaliditaCivile/InvCiv/0",
    );
    // Deeper than the schema: an object where a value is expected.
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"]["Nome"] = json!({"Nome": {"Nome": "x"}})),
        "JSON_TIPO",
        "/Beneficiario/Anagrafica/Nome",
    );
    refused(
        &with(&|v| v["SINBA"] = json!({})),
        "JSON_MEMBRO_NON_PREVISTO",
        "/SINBA",
    );
    refused(b"[]", "JSON_TIPO", "");
    refused(b"\"Flusso\"", "JSON_TIPO", "");
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"]["Cognome"] = json!("a\u{1}b")),
        "JSON_CARATTERE",
        "/Beneficiario/Anagrafica/Cognome",
    );
    refused(
        &with(&|v| v["Beneficiario"]["Anagrafica"]["Cognome"] = json!("\u{fffe}")),
        "JSON_CARATTERE",
        "/Beneficiario/Anagrafica/Cognome",
    );
    // Every error is reported, not only the first.
    let e = err_of(&with(&|v| {
        v["x"] = json!(1);
        v["Beneficiario"]["y"] = json!(2);
    }));
    assert_eq!(codes(&e), ["JSON_MEMBRO_NON_PREVISTO"; 2]);
}

#[test]
fn hostile_inputs() {
    // Malformed JSON: a syntax error with its line.
    let e = err_of(b"{\n\"IdentificazioneFlusso\": {,}\n}");
    assert_eq!(codes(&e), ["JSON_MALFORMATO"]);
    assert_eq!(e.violations[0].line, Some(2));
    assert!(
        e.violations[0].message.contains("riga 2, colonna 27"),
        "{e}"
    );
    refused(b"", "JSON_MALFORMATO", "");
    refused(b"{} x", "JSON_MALFORMATO", "");
    refused(b"{\"a\":\"\\ud800\"}", "JSON_MALFORMATO", "");
    // Not UTF-8 (Latin-1 è), and overlong / surrogate encodings.
    refused(b"{\"a\":\"\xe8\"}", "JSON_CODIFICA", "");
    refused(b"{\"a\":\"\xed\xa0\x80\"}", "JSON_CODIFICA", "");
    refused(b"\xff\xfe{\x00}\x00", "JSON_CODIFICA", "");
    // Duplicate keys, at any depth, even with different escapes.
    refused(
        br#"{"IdentificazioneFlusso":{"Nome":"a","Nome":"b"}}"#,
        "JSON_CHIAVE_DUPLICATA",
        "/IdentificazioneFlusso/Nome",
    );
    refused(
        br#"{"Beneficiario":{},"Benefici\u0061rio":{}}"#,
        "JSON_CHIAVE_DUPLICATA",
        "/Beneficiario",
    );
    // Deep nesting: arrays, objects, both; far past the limit.
    for depth in [33usize, 1_000, 1_000_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(codes(&err_of(arrays.as_bytes())), ["JSON_LIMITE"]);
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert_eq!(codes(&err_of(objects.as_bytes())), ["JSON_LIMITE"]);
        let unclosed = "[{\"a\":".repeat(depth);
        assert_eq!(codes(&err_of(unclosed.as_bytes())), ["JSON_LIMITE"]);
    }
    // Within the depth limit but deeper than the schema.
    let deep = format!(
        "{{\"Beneficiario\":{{\"Anagrafica\":{}1{}}}}}",
        "{\"x\":".repeat(20),
        "}".repeat(20)
    );
    assert!(codes(&err_of(deep.as_bytes())).contains(&"JSON_MEMBRO_NON_PREVISTO"));
    // A 10 MB string.
    let mut v = example_ps();
    v["Beneficiario"]["Anagrafica"]["Cognome"] = json!("x".repeat(10 << 20));
    refused(
        serde_json::to_string(&v).unwrap().as_bytes(),
        "JSON_LIMITE",
        "/Beneficiario/Anagrafica/Cognome",
    );
    // Over the size limit, however it is made.
    let big = format!("[{}0]", " ".repeat(MAX_JSON_BYTES));
    refused(big.as_bytes(), "JSON_LIMITE", "");
    // An endless list of records.
    let many = format!("{{\"SINBA\":[{}{{}}]}}", "{},".repeat(20_000));
    refused(many.as_bytes(), "JSON_LIMITE", "/SINBA/10000");
    // Huge numbers and exponents.
    let mut v = example_ps();
    v["Beneficiario"]["PrestazioniSociali"][0]["ImportoPrestazione"] = json!(1e300);
    let xml = to_xml(&v).unwrap();
    assert!(
        !read(&xml).records[0].1.is_empty(),
        "301 digits: XSD_VALORE"
    );
    let raw = serde_json::to_string(&example_ps())
        .unwrap()
        .replace("250.5", "1e999999999");
    refused(
        raw.as_bytes(),
        "JSON_LIMITE",
        "/Beneficiario/PrestazioniSociali/0/ImportoPrestazione",
    );
}

#[test]
fn xml_to_json_refuses_what_the_reader_refuses() {
    let bad: &[(&str, &str)] = &[
        (
            "<Flusso xmlns=\"http://inps.it/Casellario\"><",
            "XML_MALFORMATO",
        ),
        (
            "<!DOCTYPE x [<!ENTITY a \"b\">]><Flusso xmlns=\"http://inps.it/Casellario\"/>",
            "XML_DTD",
        ),
        ("<Other xmlns=\"http://inps.it/Casellario\"/>", "XSD_RADICE"),
        ("<Flusso/>", "XSD_RADICE"),
        (
            "<Flusso xmlns=\"http://inps.it/Casellario\"><Intruso/></Flusso>",
            "XSD_ELEMENTO_INATTESO",
        ),
        (
            "<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Foo=\"1\"/></Flusso>",
            "XSD_ATTRIBUTO_NON_PREVISTO",
        ),
        (
            "<Flusso xmlns=\"http://inps.it/Casellario\">testo</Flusso>",
            "XSD_TESTO_NON_PREVISTO",
        ),
    ];
    for (xml, code) in bad {
        let e = flow_xml_to_json(xml.as_bytes()).expect_err(xml);
        assert_eq!(codes(&e), [*code], "{xml}");
    }
    // Out of XSD order: JSON cannot say it, so it is refused, not reordered.
    let xml = std::fs::read(
        root().join("tests/fixtures/inps/openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml"),
    )
    .unwrap();
    let s = String::from_utf8(xml).unwrap();
    let swapped = s.replace("<Prestazioni>", "<Tmp>");
    let (a, b) = swapped.split_once("<Famiglia>").unwrap();
    let (fam, rest) = b.split_once("</Famiglia>").unwrap();
    let reordered =
        format!("{a}<Famiglia>{fam}</Famiglia>{rest}").replace("<Tmp>", "<Prestazioni>");
    assert_eq!(
        flow_xml_to_json(reordered.as_bytes()).ok(),
        flow_xml_to_json(s.as_bytes()).ok()
    );
    let (head, tail) = s.split_once("<Prestazioni>").unwrap();
    let (prest, after) = tail.split_once("</Prestazioni>").unwrap();
    let (fam, end) = after.split_once("</Famiglia>").unwrap();
    let wrong = format!("{head}{fam}</Famiglia><Prestazioni>{prest}</Prestazioni>{end}");
    let e = flow_xml_to_json(wrong.as_bytes()).unwrap_err();
    assert_eq!(codes(&e), ["XSD_ELEMENTO_INATTESO"]);
}

#[test]
fn schema_is_openapi_3_0_compatible() {
    let schema = flow_json_schema();
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    assert!(
                        [
                            "type",
                            "properties",
                            "required",
                            "additionalProperties",
                            "items",
                            "minItems",
                            "maxItems",
                            "enum",
                            "pattern",
                            "minLength",
                            "maxLength",
                            "format",
                            "minimum",
                            "maximum",
                            "oneOf",
                            "title",
                            "description",
                            "x-nomi-esterni",
                        ]
                        .contains(&k.as_str())
                            || path.ends_with("/properties"),
                        "{path}/{k}"
                    );
                    if k == "type" {
                        assert!(x.is_string(), "{path}: type arrays are not OpenAPI 3.0");
                    }
                    if k == "type" && x == "array" {
                        assert!(m.contains_key("maxItems"), "{path}: array without maxItems");
                    }
                    if k == "type" && x == "string" {
                        assert!(
                            m.contains_key("maxLength") || m.contains_key("enum"),
                            "{path}: string without maxLength"
                        );
                    }
                    walk(x, &format!("{path}/{k}"));
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &format!("{path}/{i}"))),
            _ => {}
        }
    }
    walk(&schema, "");
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&example_ps()));
    for xml in ["inps", "xml/valid"] {
        for entry in std::fs::read_dir(root().join("tests/fixtures").join(xml)).unwrap() {
            let p = entry.unwrap().path();
            let v = flow_xml_to_json(&std::fs::read(&p).unwrap()).unwrap();
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        }
    }
    // And it refuses what the converter refuses.
    let mut v = example_ps();
    v["Beneficiario"]["__proto__"] = json!({});
    assert!(!validator.is_valid(&v));
    let mut v = example_ps();
    v["Beneficiario"]["Anagrafica"]["AnnoNascita"] = json!(1975);
    assert!(!validator.is_valid(&v));
    let mut v = example_ps();
    v["Beneficiario"]["Anagrafica"]["Cognome"] = json!("a\u{1}");
    assert!(!validator.is_valid(&v));
    let mut v = example_ps();
    v["SINBA"] = json!({});
    assert!(!validator.is_valid(&v));
}

/// `PROPTEST_CASES` raises the count for a long local soak.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn generated(sinba: bool, records: u64, seed: u64, error_rate: f64) -> Vec<u8> {
    let tipo = if sinba {
        FlowType::Sinba
    } else {
        FlowType::PsPsaSina
    };
    let opts = GenOptions {
        error_rate,
        ..GenOptions::new(tipo, records, seed)
    };
    let mut xml = Vec::new();
    casellario_gen::write_xml(&opts, &mut xml).unwrap();
    xml
}

proptest! {
    #![proptest_config(config(48))]

    /// gen → XML → JSON → XML: the reader sees the same flow (records and
    /// violations, injected errors included), and the JSON is schema-valid
    /// when no schema-level error was injected.
    #[test]
    fn generated_flows_round_trip(
        sinba in any::<bool>(),
        records in 1u64..12,
        seed in any::<u64>(),
        errors in prop_oneof![Just(0.0), Just(0.3)],
    ) {
        let xml = generated(sinba, records, seed, errors);
        let value = flow_xml_to_json(&xml).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let back = to_xml(&value).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let (a, b) = (read(&xml), read(&back));
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.records.len() as u64, records);
        // Deterministic: the same value again gives the same bytes.
        prop_assert_eq!(&to_xml(&value).unwrap(), &back);
        if errors == 0.0 {
            let schema = flow_json_schema();
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errs: Vec<String> = validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
            prop_assert!(errs.is_empty(), "{:?}", errs);
        }
    }

    /// Arbitrary bytes and mutated JSON flows: never a panic, always either
    /// XML the reader can read or violations with codes of the catalogue.
    #[test]
    fn arbitrary_and_mutated_json_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        seed in any::<u64>(),
        cut in 0.0f64..1.0,
        flip in any::<u8>(),
    ) {
        check_any(&bytes)?;
        let json = serde_json::to_vec(&flow_xml_to_json(&generated(seed % 2 == 0, 2, seed, 0.0)).unwrap()).unwrap();
        let at = ((json.len() as f64) * cut) as usize;
        let mut m = json.clone();
        m[at.min(json.len() - 1)] ^= flip;
        check_any(&m)?;
        let mut m = json[..at].to_vec();
        m.extend_from_slice(&bytes);
        check_any(&m)?;
    }
}

fn check_any(input: &[u8]) -> Result<(), TestCaseError> {
    match flow_json_to_xml(input) {
        Ok(xml) => {
            // Whatever it wrote is XML the reader reads without a fatal error.
            let r = read(&xml);
            prop_assert_eq!(r.fatal, None, "{}", String::from_utf8_lossy(&xml));
        }
        Err(e) => {
            prop_assert!(!e.violations.is_empty());
            for v in &e.violations {
                prop_assert!(
                    casellario_domain::rules::find_rule(&v.rule).is_some(),
                    "{}",
                    v.rule
                );
                prop_assert!(!v.message.is_empty());
            }
        }
    }
    Ok(())
}

/// The JSON samples shipped in `tests/fixtures/json` (and quoted in
/// `docs/FLUSSO_JSON.md`) are the INPS samples converted: they stay true.
#[test]
fn shipped_json_samples_mirror_the_inps_samples() {
    for (json_name, xml_name) in [
        (
            "example1_PS_PSA_SINA_H501.PS.20210520.0000002.json",
            "openapi_example1_PS_PSA_SINA_H501.PS.20210520.0000002.xml",
        ),
        (
            "example2_SINBA_H501.SINBA.20210520.00000004.json",
            "openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml",
        ),
    ] {
        let json = std::fs::read(root().join("tests/fixtures/json").join(json_name)).unwrap();
        let xml = std::fs::read(root().join("tests/fixtures/inps").join(xml_name)).unwrap();
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value, flow_xml_to_json(&xml).unwrap(), "{json_name}");
        assert_eq!(
            read(&flow_json_to_xml(&json).unwrap()),
            read(&xml),
            "{json_name}"
        );
    }
}

/// An empty list and an empty wrapper write the same XML as their absence
/// (a wrapper with no items stays, empty, for the reader to report), so the
/// JSON read back from that XML converts to the same bytes again.
#[test]
fn empty_lists_are_fixed_points() {
    let mut v = example_ps();
    let sina = &mut v["Beneficiario"]["PrestazioniSociali"][0]["SINA"];
    sina["NecessitaInterventiSociali"] = json!({ "CodicePrestazione": [] });
    sina["InvaliditaCivile"] = json!({});
    let xml = to_xml(&v).unwrap();
    let s = String::from_utf8(xml.clone()).unwrap();
    assert!(
        s.contains("<NecessitaInterventiSociali/>") && s.contains("<InvaliditaCivile/>"),
        "{s}"
    );
    let back = flow_xml_to_json(&xml).unwrap();
    assert_eq!(to_xml(&back).unwrap(), xml);
    let r = read(&xml);
    assert!(
        r.records[0]
            .1
            .iter()
            .any(|(c, _)| c == "XSD_ELEMENTO_MANCANTE"),
        "{:?}",
        r.records
    );
    let mut v = example_ps();
    v["Beneficiario"] = json!([]);
    let xml = to_xml(&v).unwrap();
    assert_eq!(to_xml(&flow_xml_to_json(&xml).unwrap()).unwrap(), xml);
}

/// The example of `docs/FLUSSO_JSON.md` converts to the XML printed below it,
/// byte for byte, and that XML is a valid flow.
#[test]
fn documented_example_is_exact() {
    let md = std::fs::read_to_string(root().join("docs/FLUSSO_JSON.md")).unwrap();
    let block = |lang: &str| {
        let start = md.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        md[start..start + md[start..].find("```").unwrap()].to_string()
    };
    let xml = flow_json_to_xml(block("json").as_bytes()).unwrap();
    assert_eq!(String::from_utf8(xml.clone()).unwrap(), block("xml"));
    let r = read(&xml);
    assert_eq!(r.records.len(), 1);
    assert!(r.records[0].1.is_empty() && r.flow.is_empty(), "{r:?}");
}

/// Every path to a node of a JSON value (object members and array items).
fn node_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                node_paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                node_paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// One structural mutation at a node: what a careless or hostile client does.
fn mutate(v: &mut Value, op: u8, param: u32) {
    let replacement = || match param % 9 {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(param),
        3 => json!(-1.5e3),
        4 => json!(""),
        5 => json!("x".repeat(param as usize % 300)),
        6 => json!({}),
        7 => json!([]),
        _ => json!(["A1.01"]),
    };
    match (op % 5, v) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(param as usize % m.len()).cloned().unwrap();
            m.remove(&k);
        }
        (1, Value::Object(m)) => {
            let names = [
                "Nome",
                "CodicePrestazione",
                "__proto__",
                "Indirizzo",
                "SINA",
                "nome",
                "",
            ];
            m.insert(
                names[param as usize % names.len()].to_string(),
                replacement(),
            );
        }
        (2, Value::Array(a)) if !a.is_empty() => {
            let item = a[param as usize % a.len()].clone();
            for _ in 0..(param % 7) {
                a.push(item.clone());
            }
        }
        (3, Value::Array(a)) => a.clear(),
        (_, v) => *v = replacement(),
    }
}

/// The reader's structural codes: anything but a value outside its simple type.
fn structural(xml: &[u8]) -> Vec<String> {
    let r = read(xml);
    let mut codes: Vec<String> = r.fatal.into_iter().collect();
    if let Some((_, _, h)) = r.header {
        codes.extend(h);
    }
    codes.extend(r.flow.into_iter().map(|(c, _)| c));
    codes.extend(
        r.records
            .into_iter()
            .flat_map(|(_, v)| v.into_iter().map(|(c, _)| c)),
    );
    codes.retain(|c| c != "XSD_VALORE");
    codes
}

proptest! {
    #![proptest_config(config(64))]

    /// The schema is accurate near real flows: a mutant the JSON Schema
    /// accepts is always translated and read without a structural error
    /// (only values may still be wrong), and whatever the converter refuses
    /// the schema refuses too.
    #[test]
    fn schema_valid_mutants_are_structurally_readable(
        sinba in any::<bool>(),
        seed in any::<u64>(),
        muts in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u32>()), 1..4),
    ) {
        let schema = flow_json_schema();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut v = flow_xml_to_json(&generated(sinba, 2, seed, 0.0)).unwrap();
        for (at, op, param) in muts {
            let mut paths = Vec::new();
            node_paths(&v, &mut Vec::new(), &mut paths);
            let path = &paths[at % paths.len()];
            if let Some(node) = node_mut(&mut v, path) {
                mutate(node, op, param);
            }
        }
        let valid = validator.is_valid(&v);
        // The API's conforming translation agrees with the schema exactly:
        // what it accepts the schema accepts, and the reverse.
        let conforming = conforming_flow_json_to_xml(serde_json::to_string(&v).unwrap().as_bytes());
        match &conforming {
            Ok(xml) => {
                prop_assert!(valid, "accepted but schema-invalid:\n{:#}", v);
                prop_assert_eq!(Some(xml.clone()), to_xml(&v).ok());
            }
            Err(e) => {
                prop_assert!(!valid, "schema-valid but refused {:?}:\n{:#}", e.violations, v);
                for x in &e.violations {
                    prop_assert!(x.rule.starts_with("JSON_") && !x.message.is_empty(), "{:?}", x);
                }
            }
        }
        match to_xml(&v) {
            Ok(xml) => {
                if valid {
                    let s = structural(&xml);
                    prop_assert!(s.is_empty(), "schema-valid but {:?}:\n{:#}", s, v);
                }
            }
            Err(e) => prop_assert!(!valid, "schema-valid but refused {:?}:\n{:#}", codes(&e), v),
        }
    }

    /// Any text XML 1.0 can carry survives JSON → XML → reader and XML → JSON
    /// unchanged: quotes, `<`, `&`, `]]>`, tabs and line ends (CR included),
    /// NEL, LS, astral characters.
    #[test]
    fn any_xml_text_survives_both_ways(
        text in proptest::collection::vec(
            prop_oneof![
                3 => proptest::char::range(' ', '~'),
                1 => prop::sample::select(vec!['\t', '\n', '\r', '"', '\'', '<', '>', '&', ']', '\u{85}', '\u{2028}', '\u{a0}', 'è', '😀', '\u{fffd}', '\u{e000}']),
                1 => any::<char>().prop_filter("XML char", |c| matches!(*c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)),
            ],
            1..=32,
        ),
    ) {
        let text: String = text.into_iter().collect();
        let mut v = example_ps();
        v["Beneficiario"]["Anagrafica"]["Cognome"] = json!(text);
        v["Beneficiario"]["PrestazioniSociali"][0]["ProtocolloDomanda"] = json!(text);
        v["Beneficiario"]["PrestazioniSociali"][0]["SINA"]["NecessitaInterventiSociali"]["CodicePrestazione"][0] = json!(text);
        let xml = to_xml(&v).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let mut rec = None;
        for item in XmlFlowReader::new(&xml[..], ReadOptions::default()) {
            if let Ok(FlowItem::Record(r)) = item {
                rec = Some(r);
            }
        }
        let rec = rec.ok_or_else(|| TestCaseError::fail("no record"))?;
        let casellario_domain::model::Record::Ps(ps) = &rec.record else {
            return Err(TestCaseError::fail("not PS"));
        };
        prop_assert_eq!(ps.beneficiario.anagrafica.cognome.as_deref(), Some(text.as_str()));
        prop_assert_eq!(ps.prestazione.protocollo_domanda.as_deref(), Some(text.as_str()));
        let back = flow_xml_to_json(&xml).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&back["Beneficiario"]["Anagrafica"]["Cognome"], &json!(text));
        prop_assert_eq!(
            &back["Beneficiario"]["PrestazioniSociali"][0]["SINA"]["NecessitaInterventiSociali"]["CodicePrestazione"][0],
            &json!(text)
        );
        prop_assert_eq!(to_xml(&back).unwrap(), xml);
    }
}

/// Wide objects and long arrays up to the limits, filling the size limit:
/// refused or translated quickly (no quadratic duplicate search, no deep
/// recursion), and every member name reported is bounded in the message.
#[test]
fn wide_hostile_documents_are_cheap() {
    let started = std::time::Instant::now();
    // Objects of 9,999 distinct members, repeated up to ~16 MiB.
    let wide: String = format!(
        "{{{}}}",
        (0..9_999)
            .map(|i| format!("\"m{i}\":0"))
            .collect::<Vec<_>>()
            .join(",")
    );
    // A quarter of the size limit keeps the debug-build test short; the
    // cost is linear, so the full 16 MiB takes four times as long.
    let n = MAX_JSON_BYTES / 4 / (wide.len() + 1);
    let doc = format!("[{}]", vec![wide.as_str(); n].join(","));
    assert!(doc.len() <= MAX_JSON_BYTES);
    assert_eq!(codes(&err_of(doc.as_bytes())), ["JSON_TIPO"]);
    // The same members in a flow: each one reported, the report capped.
    let flow = format!("{{\"Beneficiario\":{wide}}}");
    let e = err_of(flow.as_bytes());
    assert_eq!(e.violations.len(), 100);
    assert!(
        e.violations
            .iter()
            .all(|v| v.rule == "JSON_MEMBRO_NON_PREVISTO" && v.message.len() < 2_000)
    );
    // A key of 60 KiB: the message quotes only its start.
    let long_key = format!("{{\"{}\":1}}", "k".repeat(60 << 10));
    let e = err_of(long_key.as_bytes());
    assert!(
        e.violations[0].message.len() < 2_000,
        "{}",
        e.violations[0].message.len()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Only UTF-8 XML converts to JSON (the API's examples and tests are UTF-8);
/// other encodings the reader accepts are refused with XML_CODIFICA.
#[test]
fn xml_to_json_needs_utf8() {
    let xml = std::fs::read(
        root().join("tests/fixtures/inps/openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml"),
    )
    .unwrap();
    let s = String::from_utf8(xml).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(read(&utf16).fatal, None, "the reader takes UTF-16");
    let e = flow_xml_to_json(&utf16).unwrap_err();
    assert_eq!(codes(&e), ["XML_CODIFICA"]);
}

proptest! {
    // About one edited flow in ten stays convertible: enough cases for those.
    #![proptest_config(config(256))]

    /// Edited XML flows (small text edits anywhere): the conversion never
    /// panics, and whenever it succeeds the JSON goes back to XML the reader
    /// sees exactly as it saw the edited original.
    #[test]
    fn edited_xml_converts_faithfully_or_not_at_all(
        sinba in any::<bool>(),
        seed in any::<u64>(),
        edits in proptest::collection::vec(
            (0.0f64..1.0, 0usize..12, prop::sample::select(vec![
                "", " ", "\n", "<", ">", "/>", "&amp;", "&#13;", "&#9;", "\"", "'", "=\"1\"",
                " Foo=\"x\"", " xsi:nil=\"true\"", "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>",
                "<Indirizzo CodiceNazione=\"380\"/>", "<CodicePrestazione>A1.01</CodicePrestazione>",
                "</SINBA>", "<SINBA>", "x", "è", "\r\n",
            ])),
            1..4,
        ),
    ) {
        let mut s = String::from_utf8(generated(sinba, 2, seed, 0.0)).unwrap();
        for (at, del, ins) in edits {
            // Half the edits land between tags, where they often keep the
            // document well-formed; the others anywhere.
            let gaps: Vec<usize> = s.match_indices('>').map(|(i, _)| i + 1).collect();
            let (mut i, del) = if del % 2 == 0 && !gaps.is_empty() {
                (gaps[((gaps.len() as f64) * at) as usize % gaps.len()], 0)
            } else {
                (((s.len() as f64) * at) as usize, del)
            };
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + del).min(s.len());
            while !s.is_char_boundary(j) {
                j += 1;
            }
            s.replace_range(i..j, ins);
        }
        if let Ok(v) = flow_xml_to_json(s.as_bytes()) {
            let back = to_xml(&v).map_err(|e| TestCaseError::fail(format!("{e:?}\n{s}")))?;
            prop_assert_eq!(read(s.as_bytes()), read(&back), "{}\n---\n{}", s, String::from_utf8_lossy(&back));
        }
    }
}

// ------------------------------------------------- conformance to the schema

fn conforming_err(v: &Value) -> Vec<Violation> {
    match conforming_flow_json_to_xml(serde_json::to_string(v).unwrap().as_bytes()) {
        Ok(_) => panic!("accepted: {v:#}"),
        Err(e) => e.violations,
    }
}

#[test]
fn conforming_translation_accepts_the_fixtures_as_the_plain_one() {
    for xml in ["inps", "xml/valid"] {
        for entry in std::fs::read_dir(root().join("tests/fixtures").join(xml)).unwrap() {
            let p = entry.unwrap().path();
            let v = flow_xml_to_json(&std::fs::read(&p).unwrap()).unwrap();
            let body = serde_json::to_vec(&v).unwrap();
            let plain = flow_json_to_xml(&body).unwrap();
            let conforming = conforming_flow_json_to_xml(&body)
                .unwrap_or_else(|e| panic!("{}: {:?}", p.display(), e.violations));
            assert_eq!(plain, conforming, "{}", p.display());
        }
    }
}

/// The one `JSON_SCHEMA` violation of `e`, at `field`, its message naming `needle`.
fn only_schema_violation(e: &[Violation], field: &str, needle: &str) {
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        (e[0].rule.as_str(), e[0].field.as_str()),
        ("JSON_SCHEMA", field)
    );
    assert!(e[0].message.contains(needle), "{}", e[0].message);
}

#[test]
fn conforming_translation_refuses_what_the_schema_excludes() {
    // A required element missing (what Schemathesis sent): the pointer names it.
    let mut v = example_ps();
    v["Beneficiario"]["PrestazioniSociali"][0]["SINA"]["NecessitaInterventiSociali"]
        .as_object_mut()
        .unwrap()
        .remove("CodicePrestazione");
    assert!(to_xml(&v).is_ok());
    only_schema_violation(
        &conforming_err(&v),
        "/Beneficiario/PrestazioniSociali/0/SINA/NecessitaInterventiSociali/CodicePrestazione",
        "Manca CodicePrestazione",
    );

    // A value outside its format: one violation for length and pattern,
    // the message says what is expected.
    let mut v = example_ps();
    v["Beneficiario"]["CodiceFiscale"] = json!("BNC-GVN");
    only_schema_violation(
        &conforming_err(&v),
        "/Beneficiario/CodiceFiscale",
        "\"BNC-GVN\" di CodiceFiscale non è ammesso. Atteso: codice fiscale",
    );

    // A code not in its table.
    let mut v = example_ps();
    v["Beneficiario"]["Anagrafica"]["Genere"] = json!("7");
    only_schema_violation(
        &conforming_err(&v),
        "/Beneficiario/Anagrafica/Genere",
        "non è un codice ammesso",
    );

    // A number far past a double where an integer is bounded (1..12): the
    // bound of the number alternative is reported, not a type mismatch.
    let body = serde_json::to_string(&example_ps()).unwrap().replace(
        "\"PresaCarico\":\"1\"",
        "\"PresaCarico\":\"1\",\"PeriodoErogazione\":1e350",
    );
    assert!(flow_json_to_xml(body.as_bytes()).is_ok());
    only_schema_violation(
        &conforming_flow_json_to_xml(body.as_bytes())
            .unwrap_err()
            .violations,
        "/Beneficiario/PrestazioniSociali/0/PeriodoErogazione",
        "PeriodoErogazione",
    );

    // Too many items: the list is named with its bound.
    let mut v = example_ps();
    let one = v["Beneficiario"]["Indirizzo"][0].clone();
    v["Beneficiario"]["Indirizzo"] = Value::Array(vec![one; 6]);
    only_schema_violation(
        &conforming_err(&v),
        "/Beneficiario/Indirizzo",
        "Indirizzo ha 6 elementi: ne sono ammessi al massimo 5",
    );
}
