//! XML reader and writer: INPS samples, a catalogue of broken documents,
//! hostile inputs, round trips.

use casellario_domain::codes::CodeEnum;
use casellario_domain::model::{
    Anagrafica, Beneficiario, Ente, IdentificazioneFlusso, Indirizzo, PrestazioniSociali, Record,
    Sina, Sinba, XsdElement,
};
use casellario_domain::xsd::SimpleType;
use casellario_domain::{FlowType, Violation};
use casellario_formats::{
    FlowHeader, FlowItem, Limits, ParsedRecord, ReadError, ReadOptions, XmlFlowReader,
    XmlFlowWriter,
};
use proptest::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn inps(name: &str) -> Vec<u8> {
    let dir = root().join("tests/fixtures/inps");
    let p = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains(name))
        .expect("sample");
    std::fs::read(p).expect("read")
}

#[derive(Default, Debug)]
struct Out {
    header: Option<FlowHeader>,
    records: Vec<ParsedRecord>,
    flow: Vec<Violation>,
    fatal: Option<Violation>,
    order: Vec<char>,
}

fn read_opts(bytes: &[u8], opts: ReadOptions) -> Out {
    let mut o = Out::default();
    for item in XmlFlowReader::new(bytes, opts) {
        match item {
            Ok(FlowItem::Header(h)) => {
                o.order.push('H');
                o.header = Some(h);
            }
            Ok(FlowItem::Record(r)) => {
                o.order.push('R');
                o.records.push(*r);
            }
            Ok(FlowItem::FlowViolation(v)) => {
                o.order.push('F');
                o.flow.push(v);
            }
            Err(e) => {
                o.order.push('E');
                o.fatal = Some(e.violation());
            }
        }
    }
    o
}

fn read(bytes: &[u8]) -> Out {
    read_opts(bytes, ReadOptions::default())
}

fn all_violations(o: &Out) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    if let Some(h) = &o.header {
        v.extend(
            h.violations
                .iter()
                .map(|x| (x.rule.clone(), x.field.clone())),
        );
    }
    for r in &o.records {
        v.extend(
            r.violations
                .iter()
                .map(|x| (x.rule.clone(), x.field.clone())),
        );
    }
    v.extend(o.flow.iter().map(|x| (x.rule.clone(), x.field.clone())));
    if let Some(f) = &o.fatal {
        v.push((f.rule.clone(), f.field.clone()));
    }
    v
}

fn ps(r: &ParsedRecord) -> &casellario_domain::model::PsRecord {
    match &r.record {
        Record::Ps(p) => p,
        Record::Sinba(_) => panic!("expected PS"),
    }
}

#[test]
fn inps_samples_read_clean() {
    let o = read(&inps("openapi_example1_PS"));
    assert_eq!(all_violations(&o), vec![]);
    let h = o.header.as_ref().expect("header");
    assert_eq!(h.tipo, FlowType::PsPsaSina);
    assert_eq!(
        h.identificazione.nome.as_deref(),
        Some("H501.PS.20210520.0000002")
    );
    assert_eq!(
        h.identificazione.ente.cf_operatore.as_deref(),
        Some("CCCDDD25A42H199X")
    );
    assert_eq!(o.order, vec!['H', 'R', 'R', 'R']);
    assert_eq!(
        o.records.iter().map(|r| r.pos).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        o.records.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![8, 20, 27]
    );
    let b0 = &ps(&o.records[0]).beneficiario;
    assert!(
        o.records
            .iter()
            .all(|r| Arc::ptr_eq(&ps(r).beneficiario, b0))
    );
    assert_eq!(b0.codice_fiscale.as_deref(), Some("AAABBB39M66A351C"));
    assert_eq!(b0.indirizzi.len(), 1);
    let p0 = &ps(&o.records[0]).prestazione;
    assert_eq!(p0.codice_prestazione.as_deref(), Some("A1.16"));
    assert_eq!(
        p0.denominazione_prestazione.as_deref(),
        Some("Contributi economici per servizio trasporto e mobilità")
    );
    let sina = p0.sina.as_ref().expect("sina");
    assert_eq!(
        sina.necessita_interventi_sociali,
        Some(vec!["A2.17".to_string(), "A2.18".to_string()])
    );
    assert_eq!(
        sina.invalidita_civile
            .as_ref()
            .map(|l| l.iter().map(|c| c.code()).collect::<Vec<_>>()),
        Some(vec!["1", "3"])
    );
    let s1 = ps(&o.records[1]).prestazione.sina.as_ref().expect("sina");
    assert_eq!(
        s1.necessita_interventi_sociali,
        Some(vec!["A2.17".to_string()])
    );
    assert_eq!(s1.invalidita_civile, None);
    assert!(ps(&o.records[2]).prestazione.sina.is_none());

    let o = read(&inps("openapi_example2_SINBA"));
    assert_eq!(all_violations(&o), vec![]);
    assert_eq!(o.header.as_ref().map(|h| h.tipo), Some(FlowType::Sinba));
    assert_eq!(o.records.len(), 1);
    let Record::Sinba(s) = &o.records[0].record else {
        panic!("sinba")
    };
    assert_eq!(s.id_beneficiario.as_deref(), Some("PROVA BENEF"));
    assert_eq!(s.prestazioni, vec!["A1.02", "A2.06"]);
    assert_eq!(
        s.famiglia.iter().map(|c| c.code()).collect::<Vec<_>>(),
        vec!["1", "2"]
    );
    assert_eq!(s.numero_componenti_isee, Some(9));

    let o = read(&inps("openapi_schema_example"));
    assert_eq!(all_violations(&o), vec![]);
    assert_eq!(o.records.len(), 1);
    assert_eq!(o.records[0].pos, 1);
    assert_eq!(
        ps(&o.records[0])
            .beneficiario
            .anagrafica
            .codice_seconda_cittadinanza
            .as_deref(),
        Some("380")
    );
}

#[test]
fn hand_made_valid_fixtures_read_clean() {
    let dir = root().join("tests/fixtures/xml/valid");
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        let o = read(&std::fs::read(&p).expect("read"));
        assert_eq!(all_violations(&o), vec![], "{}", p.display());
        assert!(!o.records.is_empty());
    }
}

// ---- broken documents ------------------------------------------------------

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Flusso xmlns="http://inps.it/Casellario" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<IdentificazioneFlusso Nome="H501.PS.20240101.0000001">
<Ente Codice="H501" Indirizzo="H501" CFOperatore="RSSMRA80A01H501U"/>
</IdentificazioneFlusso>
"#;
const ANA: &str = r#"<Anagrafica Cognome="R" Nome="M" AnnoNascita="1980" LuogoNascita="H501" Genere="1" CodiceCittadinanza="380"/>"#;
const IND: &str = r#"<Indirizzo CodiceRegione="12" CodiceComune="058091" CodiceNazione="380"/>"#;
const PS: &str = r#"<PrestazioniSociali PresenzaProvaMezzi="1" CodicePrestazione="A1.01" DenominazionePrestazione="Segretariato sociale" ProtocolloDomanda="P1" PresaCarico="1"/>"#;

fn ben(cf: &str, body: &str) -> String {
    format!("<Beneficiario CodiceFiscale=\"{cf}\">\n{body}\n</Beneficiario>\n")
}

fn doc(body: &str) -> String {
    format!("{HEAD}{body}</Flusso>\n")
}

fn good_ben() -> String {
    ben("RSSMRA80A01H501U", &format!("{ANA}\n{IND}\n{PS}"))
}

fn rules_of(vs: &[Violation]) -> Vec<(&str, &str)> {
    vs.iter()
        .map(|v| (v.rule.as_str(), v.field.as_str()))
        .collect()
}

#[test]
fn attribute_violations_have_paths_and_lines() {
    let d = doc(&ben(
        "RSSMRA80A01H501U",
        &format!(
            "{ANA}\n{IND}\n<Indirizzo CodiceComune=\"58091\" CodiceNazione=\"380\"/>\n{}\n{PS}",
            PS.replace("PresaCarico=\"1\"", "ImportoMensile=\"1,5\"")
        ),
    ));
    let o = read(d.as_bytes());
    assert!(o.fatal.is_none() && o.flow.is_empty());
    assert_eq!(o.records.len(), 2);
    // The beneficiary's error applies to both records; the benefit's only to its own.
    assert_eq!(
        rules_of(&o.records[0].violations),
        vec![
            ("XSD_VALORE", "Beneficiario/Indirizzo[2]/@CodiceComune"),
            ("XSD_VALORE", "PrestazioniSociali/@ImportoMensile"),
            ("XSD_ATTRIBUTO_MANCANTE", "PrestazioniSociali/@PresaCarico"),
        ]
    );
    assert_eq!(
        rules_of(&o.records[1].violations),
        vec![("XSD_VALORE", "Beneficiario/Indirizzo[2]/@CodiceComune")]
    );
    assert_eq!(o.records[0].violations[0].line, Some(9));
    assert_eq!(o.records[0].violations[1].line, Some(10));
    assert!(
        o.records[0].violations[1].message.contains("1,5"),
        "{}",
        o.records[0].violations[1].message
    );
    assert_eq!(o.records[1].line, 11);
}

#[test]
fn beneficiary_errors_propagate_to_all_its_records_only() {
    let bad = ben("RSSMRA80A01H501", &format!("{ANA}\n{IND}\n{PS}\n{PS}\nx"));
    let o = read(doc(&format!("{bad}{}", good_ben())).as_bytes());
    assert_eq!(o.records.len(), 3);
    for r in &o.records[..2] {
        assert_eq!(
            rules_of(&r.violations),
            vec![
                ("XSD_VALORE", "Beneficiario/@CodiceFiscale"),
                ("XSD_TESTO_NON_PREVISTO", "Beneficiario")
            ]
        );
    }
    assert!(o.records[2].violations.is_empty());
    assert!(!Arc::ptr_eq(
        &ps(&o.records[0]).beneficiario,
        &ps(&o.records[2]).beneficiario
    ));
}

#[test]
fn buffered_records_are_released_at_the_cap() {
    let b = ben(
        "RSSMRA80A01H501U",
        &format!("{ANA}\n{IND}\n{PS}\n{PS}\n{PS}\n<Foo/>"),
    );
    let opts = ReadOptions {
        limits: Limits {
            max_buffered_records: 2,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let o = read_opts(doc(&b).as_bytes(), opts);
    assert_eq!(o.records.len(), 3);
    assert!(o.records.iter().all(|r| r.violations.is_empty()));
    assert_eq!(
        rules_of(&o.flow),
        vec![("XSD_ELEMENTO_INATTESO", "Beneficiario/Foo")]
    );
    assert_eq!(o.order, vec!['H', 'R', 'R', 'R', 'F']);
}

#[test]
fn structural_rules() {
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        // Missing Indirizzo: the record is still produced, with the violation.
        (doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{PS}"))), vec![("XSD_ELEMENTO_MANCANTE", "Beneficiario/Indirizzo")]),
        // Six addresses.
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{}{PS}", format!("{IND}\n").repeat(6)))),
            vec![("XSD_ELEMENTO_INATTESO", "Beneficiario/Indirizzo")],
        ),
        // Anagrafica after Indirizzo.
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{IND}\n{ANA}\n{PS}"))),
            vec![("XSD_ELEMENTO_MANCANTE", "Beneficiario/Anagrafica"), ("XSD_ELEMENTO_INATTESO", "Beneficiario/Anagrafica")],
        ),
        // Text where only elements are allowed, and in an empty-content element.
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{}\n{PS}", IND.replace("/>", "> </Indirizzo>")))),
            vec![("XSD_TESTO_NON_PREVISTO", "Beneficiario/Indirizzo[1]")],
        ),
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{IND}\n{}", PS.replace("/>", "><![CDATA[]]></PrestazioniSociali>")))),
            vec![("XSD_TESTO_NON_PREVISTO", "PrestazioniSociali")],
        ),
        // Undeclared, namespaced and xsi attributes.
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{}\n{IND}\n{PS}", ANA.replace("/>", " Eta=\"3\" xsi:nil=\"false\" xsi:schemaLocation=\"a b\"/>")))),
            vec![("XSD_ATTRIBUTO_NON_PREVISTO", "Beneficiario/Anagrafica/@Eta"), ("XSD_ATTRIBUTO_NON_PREVISTO", "Beneficiario/Anagrafica/@xsi:nil")],
        ),
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{}\n{IND}\n{PS}", ANA.replace("/>", " xsi:type=\"AnagraficaType\"/>")))),
            vec![],
        ),
        // SINA content and text-only values.
        (
            doc(&ben(
                "RSSMRA80A01H501U",
                &format!(
                    "{ANA}\n{IND}\n{}",
                    PS.replace(
                        "/>",
                        "><SINA Mobilita=\"4\" AttivitaVitaQuotidiana=\"1\" DisturbiComportamentali=\"1\" AreaReddituale=\"1\" AreaSupporto=\"1\" FonteDerivazioneValutazione=\"1\" StrumentoValutazione=\"1\"><NecessitaInterventiSociali><CodicePrestazione>A1.01</CodicePrestazione><CodicePrestazione>A1</CodicePrestazione></NecessitaInterventiSociali><InvaliditaCivile><InvCiv> 1</InvCiv></InvaliditaCivile></SINA></PrestazioniSociali>"
                    )
                ),
            )),
            vec![
                ("XSD_VALORE", "PrestazioniSociali/SINA/@Mobilita"),
                ("XSD_VALORE", "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione[2]"),
                ("XSD_VALORE", "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv[1]"),
            ],
        ),
        (
            doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{IND}\n{}", PS.replace("/>", "><SINA Mobilita=\"1\" AttivitaVitaQuotidiana=\"1\" DisturbiComportamentali=\"1\" AreaReddituale=\"1\" AreaSupporto=\"1\" FonteDerivazioneValutazione=\"1\" StrumentoValutazione=\"1\"><InvaliditaCivile/></SINA></PrestazioniSociali>")))),
            vec![("XSD_ELEMENTO_MANCANTE", "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv")],
        ),
    ];
    for (i, (d, expected)) in cases.iter().enumerate() {
        let o = read(d.as_bytes());
        assert!(o.fatal.is_none(), "case {i}: {:?}", o.fatal);
        assert_eq!(o.records.len(), 1, "case {i}");
        assert_eq!(rules_of(&o.records[0].violations), *expected, "case {i}");
    }
}

#[test]
fn flow_and_header_violations() {
    // Unexpected element under Flusso, a beneficiary without benefits.
    let d = doc(&format!(
        "<Foo><Bar/></Foo>\n{}{}",
        ben("RSSMRA80A01H501U", &format!("{ANA}\n{IND}")),
        good_ben()
    ));
    let o = read(d.as_bytes());
    assert_eq!(
        rules_of(&o.flow),
        vec![
            ("XSD_ELEMENTO_INATTESO", "Flusso/Foo"),
            ("XSD_ELEMENTO_MANCANTE", "Beneficiario/PrestazioniSociali")
        ]
    );
    assert_eq!(o.order, vec!['H', 'F', 'F', 'R']);
    assert_eq!(o.flow[0].line, Some(6));

    // No record at all.
    let o = read(doc(&ben("RSSMRA80A01H501U", &format!("{ANA}\n{IND}"))).as_bytes());
    assert_eq!(
        rules_of(&o.flow),
        vec![
            ("XSD_ELEMENTO_MANCANTE", "Beneficiario/PrestazioniSociali"),
            ("FLUSSO_VUOTO", "Flusso")
        ]
    );

    // Header violations.
    let d = doc(&good_ben())
        .replace(
            "CFOperatore=\"RSSMRA80A01H501U\"",
            "CFOperatore=\"RSSMRA80A01H501\" Extra=\"1\"",
        )
        .replace(
            "Nome=\"H501.PS.20240101.0000001\"",
            &format!("Nome=\"{}\"", "N".repeat(51)),
        );
    let h = read(d.as_bytes()).header.expect("header");
    assert_eq!(
        rules_of(&h.violations),
        vec![
            ("XSD_VALORE", "IdentificazioneFlusso/@Nome"),
            ("XSD_VALORE", "IdentificazioneFlusso/Ente/@CFOperatore"),
            (
                "XSD_ATTRIBUTO_NON_PREVISTO",
                "IdentificazioneFlusso/Ente/@Extra"
            ),
        ]
    );
    assert_eq!(h.line, 3);

    // Missing header: reported in the header, records still read.
    let d = format!(
        "<Flusso xmlns=\"http://inps.it/Casellario\">{}</Flusso>",
        good_ben()
    );
    let o = read(d.as_bytes());
    assert_eq!(
        rules_of(&o.header.as_ref().expect("h").violations),
        vec![("XSD_ELEMENTO_MANCANTE", "IdentificazioneFlusso")]
    );
    assert_eq!(o.records.len(), 1);
}

#[test]
fn flow_type_detection() {
    let sinba = inps("openapi_example2_SINBA");
    assert_eq!(read(&sinba).header.map(|h| h.tipo), Some(FlowType::Sinba));
    // Expected type wins: SINBA elements in a PS flow are unexpected.
    let o = read_opts(
        &sinba,
        ReadOptions {
            expected: Some(FlowType::PsPsaSina),
            ..ReadOptions::default()
        },
    );
    assert_eq!(o.header.map(|h| h.tipo), Some(FlowType::PsPsaSina));
    assert_eq!(
        rules_of(&o.flow),
        vec![
            ("XSD_ELEMENTO_INATTESO", "Flusso/SINBA"),
            ("FLUSSO_VUOTO", "Flusso")
        ]
    );
    // Fallback on the flow name.
    let d = "<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"H501.SINBA.20240101.1\"><Ente Codice=\"H501\" Indirizzo=\"H501\" CFOperatore=\"RSSMRA80A01H501U\"/></IdentificazioneFlusso></Flusso>";
    let o = read(d.as_bytes());
    assert_eq!(o.header.map(|h| h.tipo), Some(FlowType::Sinba));
    assert_eq!(rules_of(&o.flow), vec![("FLUSSO_VUOTO", "Flusso")]);
}

#[test]
fn sinba_paths() {
    let s = String::from_utf8(inps("openapi_example2_SINBA")).expect("utf8");
    let s = s
        .replace(" IDBeneficiario=\"PROVA BENEF\"", "")
        .replace("<ComposizioneFamiglia>1<", "<ComposizioneFamiglia>9<");
    let o = read(s.as_bytes());
    assert_eq!(
        rules_of(&o.records[0].violations),
        vec![
            ("XSD_ATTRIBUTO_MANCANTE", "SINBA/@IDBeneficiario"),
            ("XSD_VALORE", "SINBA/Famiglia/ComposizioneFamiglia[1]")
        ]
    );
}

fn fatal_rule(bytes: &[u8]) -> String {
    read(bytes)
        .fatal
        .map(|v| v.rule)
        .unwrap_or_else(|| "none".into())
}

#[test]
fn fatal_errors() {
    let good = doc(&good_ben());
    assert_eq!(fatal_rule(good.as_bytes()), "none");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "XML_MALFORMATO"),
        ("   ".into(), "XML_MALFORMATO"),
        (
            "<Root xmlns=\"http://inps.it/Casellario\"/>".into(),
            "XSD_RADICE",
        ),
        ("<Flusso/>".into(), "XSD_RADICE"),
        (
            good.replace("</Flusso>", "</Flusso><Flusso/>"),
            "XML_MALFORMATO",
        ),
        (good.replace("</Flusso>", "</Flusso>x"), "XML_MALFORMATO"),
        (
            good.replace("</Beneficiario>", "</Beneficiari>"),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\"", "Cognome=\"R\" Cognome=\"S\""),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\"", "Cognome=\"R&foo;\""),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\"", "Cognome=\"R<\""),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\" Nome", "Cognome=\"R\"Nome"),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\"", "Cognome=\"R&#0;\""),
            "XML_MALFORMATO",
        ),
        (
            good.replace("Cognome=\"R\"", "Cognome=\"R\u{1}\""),
            "XML_MALFORMATO",
        ),
        (
            good.replace("<Anagrafica", "<!-- a -- b --><Anagrafica"),
            "XML_MALFORMATO",
        ),
        (
            good.replace("<Anagrafica", "<?xml version=\"1.0\"?><Anagrafica"),
            "XML_MALFORMATO",
        ),
        (
            format!("<!DOCTYPE Flusso SYSTEM \"file:///etc/passwd\">{good}"),
            "XML_DTD",
        ),
        (
            good.replace(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                "<?xml version=\"1.0\" encoding=\"EBCDIC-IT\"?>",
            ),
            "XML_CODIFICA",
        ),
    ];
    for (d, rule) in cases {
        assert_eq!(fatal_rule(d.as_bytes()), rule, "{d}");
    }
    let mut bad = good.clone().into_bytes();
    let at = bad.iter().position(|&c| c == b'R').expect("R");
    bad[at] = 0xFF;
    assert_eq!(fatal_rule(&bad), "XML_CODIFICA");
    let v = read(
        good.replace("Cognome=\"R\"", "Cognome=\"R\u{1}\"")
            .as_bytes(),
    )
    .fatal
    .expect("fatal");
    assert_eq!(v.line, Some(7));
}

#[test]
fn billion_laughs_and_entities() {
    let lol = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Flusso xmlns="http://inps.it/Casellario">&lol3;</Flusso>"#;
    assert_eq!(fatal_rule(lol.as_bytes()), "XML_DTD");
    assert_eq!(fatal_rule(b"<!ENTITY x \"y\"><Flusso/>"), "XML_DTD");
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE f [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><Flusso xmlns=\"http://inps.it/Casellario\">&xxe;</Flusso>";
    assert_eq!(fatal_rule(xxe.as_bytes()), "XML_DTD");
}

/// A source producing a huge attribute lazily, counting what is read.
struct Huge {
    prefix: Vec<u8>,
    len: usize,
    pos: usize,
}

impl Read for Huge {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() && self.pos < self.len {
            out[n] = if self.pos < self.prefix.len() {
                self.prefix[self.pos]
            } else {
                b'A'
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

#[test]
fn hostile_sizes_are_refused_with_bounded_memory() {
    let prefix =
        b"<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"".to_vec();
    let mut src = Huge {
        prefix,
        len: 3 << 20,
        pos: 0,
    };
    let mut rule = String::new();
    {
        let r = XmlFlowReader::new(std::io::BufReader::new(&mut src), ReadOptions::default());
        for item in r {
            if let Err(ReadError::Invalid(v)) = item {
                rule = v.rule;
            }
        }
    }
    assert_eq!(rule, "XML_LIMITE");
    assert!(
        src.pos < (1 << 20) + (256 << 10),
        "read {} bytes before refusing",
        src.pos
    );

    let deep = format!(
        "<Flusso xmlns=\"http://inps.it/Casellario\">{}",
        "<a>".repeat(10_000)
    );
    assert_eq!(fatal_rule(deep.as_bytes()), "XML_LIMITE");
}

#[test]
fn truncations_never_panic() {
    let full = inps("openapi_example1_PS");
    for cut in 0..full.len() {
        let o = read(&full[..cut]);
        assert!(o.fatal.is_some(), "cut {cut}");
    }
    // And arbitrary byte flips.
    let mut x: u64 = 0x1234_5678;
    for _ in 0..500 {
        let mut d = full.clone();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x as usize) % d.len();
        d[i] = (x >> 32) as u8;
        let _ = read(&d);
    }
}

#[test]
fn encodings() {
    let text = doc(&good_ben()).replace("Cognome=\"R\"", "Cognome=\"Niccolò\"");
    let cognome = |o: &Out| ps(&o.records[0]).beneficiario.anagrafica.cognome.clone();
    // UTF-8 with BOM.
    let mut b = vec![0xEF, 0xBB, 0xBF];
    b.extend_from_slice(text.as_bytes());
    assert_eq!(cognome(&read(&b)).as_deref(), Some("Niccolò"));
    // ISO-8859-1 and windows-1252 declared.
    for label in ["ISO-8859-1", "windows-1252", "latin1"] {
        let t = text.replace("encoding=\"UTF-8\"", &format!("encoding=\"{label}\""));
        let bytes: Vec<u8> = t
            .chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin1"))
            .collect();
        let o = read(&bytes);
        assert!(o.fatal.is_none(), "{label}: {:?}", o.fatal);
        assert_eq!(cognome(&o).as_deref(), Some("Niccolò"));
    }
    // UTF-16 with BOM, both byte orders.
    let t = text
        .replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\"")
        .replace('\n', "\r\n");
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(t.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(t.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for b in [le, be] {
        let o = read(&b);
        assert!(o.fatal.is_none(), "{:?}", o.fatal);
        assert_eq!(cognome(&o).as_deref(), Some("Niccolò"));
        assert_eq!(o.records[0].line, 9);
    }
    // Latin-1 bytes without declaration are not UTF-8.
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    assert_eq!(fatal_rule(&bytes), "XML_CODIFICA");
}

#[test]
fn attribute_value_normalisation() {
    let d = doc(&good_ben()).replace("Cognome=\"R\"", "Cognome=\"D&apos;A&#10;B\tC\r\nD&amp;\"");
    let o = read(d.as_bytes());
    assert_eq!(
        ps(&o.records[0]).beneficiario.anagrafica.cognome.as_deref(),
        Some("D'A\nB C D&")
    );
}

// ---- writer ------------------------------------------------------------------

fn write_records(h: &FlowHeader, records: &[ParsedRecord]) -> Vec<u8> {
    let mut w = XmlFlowWriter::new(Vec::new(), h.tipo, &h.identificazione).expect("writer");
    let mut i = 0;
    while i < records.len() {
        match &records[i].record {
            Record::Ps(p) => {
                let mut group = vec![&p.prestazione];
                let mut j = i + 1;
                while j < records.len() {
                    match &records[j].record {
                        Record::Ps(q) if Arc::ptr_eq(&q.beneficiario, &p.beneficiario) => {
                            group.push(&q.prestazione)
                        }
                        _ => break,
                    }
                    j += 1;
                }
                w.write_beneficiario(&p.beneficiario, &group)
                    .expect("write");
                i = j;
            }
            Record::Sinba(s) => {
                w.write_sinba(s).expect("write");
                i += 1;
            }
        }
    }
    w.finish().expect("finish")
}

fn records_of(o: &Out) -> Vec<Record> {
    o.records.iter().map(|r| r.record.clone()).collect()
}

#[test]
fn round_trip_samples() {
    let mut files = vec![
        inps("openapi_example1_PS"),
        inps("openapi_example2_SINBA"),
        inps("openapi_schema_example"),
    ];
    for e in std::fs::read_dir(root().join("tests/fixtures/xml/valid")).expect("dir") {
        files.push(std::fs::read(e.expect("entry").path()).expect("read"));
    }
    for f in files {
        let a = read(&f);
        let h = a.header.as_ref().expect("header");
        let out = write_records(h, &a.records);
        let b = read(&out);
        assert_eq!(
            all_violations(&b),
            vec![],
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(records_of(&a), records_of(&b));
        assert_eq!(
            b.header.as_ref().map(|h| &h.identificazione),
            Some(&h.identificazione)
        );
        assert_eq!(b.header.as_ref().map(|h| h.tipo), Some(h.tipo));
    }
}

// ---- property: random valid models round-trip and validate -----------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const ALPHABET: &[char] = &[
    'a', 'Z', '0', ' ', 'è', 'ñ', '&', '<', '>', '"', '\'', '\t', '\n', '\r', '.', '😀', '€',
];

fn lexical(t: SimpleType, r: &mut Rng) -> String {
    let digits = |n: usize, r: &mut Rng| {
        (0..n)
            .map(|_| char::from(b'0' + r.below(10) as u8))
            .collect::<String>()
    };
    let letters = |n: usize, r: &mut Rng| {
        (0..n)
            .map(|_| char::from(b'A' + r.below(26) as u8))
            .collect::<String>()
    };
    match t {
        SimpleType::Str { min, max } => {
            let n = min + r.below((max - min).min(12) as u64 + 1) as usize;
            (0..n)
                .map(|_| ALPHABET[r.below(ALPHABET.len() as u64) as usize])
                .collect()
        }
        SimpleType::Digits(n) => digits(n, r),
        SimpleType::CodiceFiscale => {
            if r.below(2) == 0 {
                format!(
                    "{}{}{}{}{}{}{}",
                    letters(6, r),
                    digits(2, r),
                    letters(1, r),
                    digits(2, r),
                    letters(1, r),
                    digits(3, r),
                    letters(1, r)
                )
            } else {
                format!("{}{}", digits(11, r), " ".repeat(r.below(6) as usize))
            }
        }
        SimpleType::MeseAnno => format!(
            "{:02}/{}{}",
            1 + r.below(12),
            if r.below(2) == 0 { "19" } else { "20" },
            digits(2, r)
        ),
        SimpleType::Enum(tab) => tab.entries[r.below(tab.entries.len() as u64) as usize]
            .0
            .to_string(),
        SimpleType::Date => {
            let tz = ["", "Z", "+01:00", "-14:00"][r.below(4) as usize];
            format!(
                "{:04}-{:02}-{:02}{tz}",
                1900 + r.below(200),
                1 + r.below(12),
                1 + r.below(28)
            )
        }
        SimpleType::Decimal => {
            let v = r.next() as i64 % 100_000_000;
            format!("{}.{:02}", v / 100, (v % 100).abs())
        }
        SimpleType::Int { min, max } => {
            let lo = i64::from(min.unwrap_or(-1000));
            let hi = i64::from(max.unwrap_or(1000));
            (lo + r.below((hi - lo + 1) as u64) as i64).to_string()
        }
    }
}

fn gen_el<E: XsdElement + Default>(r: &mut Rng) -> E {
    let mut e = E::default();
    for a in E::ATTRS {
        if a.required || r.below(2) == 0 {
            let v = lexical(a.ty, r);
            let ok = e.set_attr(a.name, &v).is_some_and(|(_, res)| res.is_ok());
            assert!(ok, "generated invalid {}={v:?}", a.name);
        }
    }
    e
}

fn gen_list<T>(r: &mut Rng, f: impl Fn(&mut Rng) -> T) -> Vec<T> {
    (0..1 + r.below(3)).map(|_| f(r)).collect()
}

type Flow = (
    FlowType,
    IdentificazioneFlusso,
    Vec<(Beneficiario, Vec<PrestazioniSociali>)>,
    Vec<Sinba>,
);

fn gen_flow(seed: u64) -> Flow {
    let r = &mut Rng(seed);
    let mut id: IdentificazioneFlusso = gen_el(r);
    id.ente = gen_el::<Ente>(r);
    let code = |r: &mut Rng| lexical(casellario_domain::model::CODICE_PRESTAZIONE_ELEM, r);
    if r.below(2) == 0 {
        let bens = gen_list(r, |r| {
            let mut b: Beneficiario = gen_el(r);
            b.anagrafica = gen_el::<Anagrafica>(r);
            b.indirizzi = (0..1 + r.below(5))
                .map(|_| gen_el::<Indirizzo>(r))
                .collect();
            let ps = gen_list(r, |r| {
                let mut p: PrestazioniSociali = gen_el(r);
                if r.below(2) == 0 {
                    let mut s: Sina = gen_el(r);
                    if r.below(2) == 0 {
                        s.necessita_interventi_sociali = Some(gen_list(r, code));
                    }
                    if r.below(2) == 0 {
                        s.invalidita_civile = Some(gen_list(r, |r| {
                            let t = casellario_domain::codes::InvCiv::ALL;
                            t[r.below(t.len() as u64) as usize]
                        }));
                    }
                    p.sina = Some(s);
                }
                p
            });
            (b, ps)
        });
        (FlowType::PsPsaSina, id, bens, vec![])
    } else {
        let s = gen_list(r, |r| {
            let mut s: Sinba = gen_el(r);
            s.prestazioni = gen_list(r, code);
            let t = casellario_domain::codes::ComposizioneFamiglia::ALL;
            s.famiglia = gen_list(r, |r| t[r.below(t.len() as u64) as usize]);
            s
        });
        (FlowType::Sinba, id, vec![], s)
    }
}

fn xmllint_ok(tipo: FlowType, bytes: &[u8]) -> Option<bool> {
    let xsd = root().join("schemas").join(match tipo {
        FlowType::PsPsaSina => "PS_PSA_SINA201812.xsd",
        FlowType::Sinba => "SINBA.xsd",
    });
    let dir = tempfile::tempdir().ok()?;
    let f = dir.path().join("flow.xml");
    std::fs::write(&f, bytes).ok()?;
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(&f)
        .output()
        .ok()?;
    Some(out.status.success())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_valid_models_round_trip(seed in any::<u64>()) {
        let (tipo, id, bens, sinbas) = gen_flow(seed);
        let mut w = XmlFlowWriter::new(Vec::new(), tipo, &id).expect("writer");
        for (b, ps) in &bens {
            let refs: Vec<&PrestazioniSociali> = ps.iter().collect();
            w.write_beneficiario(b, &refs).expect("write");
        }
        for s in &sinbas {
            w.write_sinba(s).expect("write");
        }
        let bytes = w.finish().expect("finish");
        let o = read(&bytes);
        prop_assert_eq!(all_violations(&o), vec![]);
        let h = o.header.as_ref().expect("header");
        prop_assert_eq!(&h.identificazione, &id);
        prop_assert_eq!(h.tipo, tipo);
        let mut expected: Vec<Record> = Vec::new();
        for (b, ps) in &bens {
            let arc = Arc::new(b.clone());
            expected.extend(ps.iter().map(|p| Record::Ps(casellario_domain::model::PsRecord { beneficiario: arc.clone(), prestazione: p.clone() })));
        }
        expected.extend(sinbas.iter().cloned().map(Record::Sinba));
        prop_assert_eq!(records_of(&o), expected);
        if let Some(ok) = xmllint_ok(tipo, &bytes) {
            prop_assert!(ok, "xmllint rejects:\n{}", String::from_utf8_lossy(&bytes));
        }
    }
}
