//! The generator's promises: determinism, exact record counts, data that
//! passes the project's own reference tables and strict rules (and the
//! official XSDs via xmllint when available), and injected errors that hit
//! exactly the records they claim to.

use casellario_domain::cf::{self, Cf};
use casellario_domain::codes::{CaratterePrestazione, Genere, PresaCarico};
use casellario_domain::model::{Beneficiario, PrestazioniSociali, Record, Sinba};
use casellario_domain::reference::{self, LuogoCheck};
use casellario_domain::rules::{self, RuleContext};
use casellario_domain::xsd::XsDecimal;
use casellario_domain::{Category, Channel, Date, FlowType, Profile, Violation};
use casellario_formats::xml::XmlFlowReader;
use casellario_formats::{FlowItem, ReadOptions};
use casellario_gen::{ErrorKind, GenItem, GenOptions, Generator, write_xml};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn opts(tipo: FlowType, records: u64, seed: u64) -> GenOptions {
    GenOptions::new(tipo, records, seed)
}

fn xml(o: &GenOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_xml(o, &mut out).expect("write to memory");
    out
}

/// "Today" for the rules: mid next year, after every generated date.
fn ctx(anno: i32) -> RuleContext {
    RuleContext::new(
        Profile::Strict,
        Channel::Upload,
        Date {
            year: anno + 1,
            month: 6,
            day: 30,
        },
    )
}

fn errors(v: &[Violation]) -> Vec<&Violation> {
    v.iter().filter(|v| v.is_error()).collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    for tipo in [FlowType::PsPsaSina, FlowType::Sinba] {
        let a = xml(&opts(tipo, 300, 11));
        assert_eq!(a, xml(&opts(tipo, 300, 11)), "{tipo:?}");
        assert_ne!(a, xml(&opts(tipo, 300, 12)), "{tipo:?}");
        let e = GenOptions {
            error_rate: 0.2,
            ..opts(tipo, 300, 11)
        };
        assert_eq!(xml(&e), xml(&e), "{tipo:?} with errors");
    }
}

#[test]
fn pipelined_writer_equals_serial_writing() {
    use casellario_formats::xml::XmlFlowWriter;
    for tipo in [FlowType::PsPsaSina, FlowType::Sinba] {
        // More than a few batches, with errors, so ordering and stats matter.
        let o = GenOptions {
            error_rate: 0.1,
            ..opts(tipo, 3000, 4)
        };
        let g = Generator::new(&o);
        let mut w = XmlFlowWriter::new(Vec::new(), tipo, &g.header()).expect("header");
        let mut g = g;
        for item in g.by_ref() {
            match item {
                GenItem::Beneficiario {
                    beneficiario,
                    prestazioni,
                } => {
                    let refs: Vec<_> = prestazioni.iter().collect();
                    w.write_beneficiario(&beneficiario, &refs).expect("write");
                }
                GenItem::Sinba(s) => w.write_sinba(&s).expect("write"),
            }
        }
        let serial = w.finish().expect("finish");
        let mut piped = Vec::new();
        let stats = write_xml(&o, &mut piped).expect("write_xml");
        assert!(serial == piped, "{tipo:?}");
        assert_eq!(&stats, g.stats());
    }
}

#[test]
fn exactly_n_records() {
    for n in [0u64, 1, 2, 3, 5, 17, 1000] {
        let o = opts(FlowType::PsPsaSina, n, n + 3);
        let mut g = Generator::new(&o);
        let mut count = 0;
        for item in g.by_ref() {
            let GenItem::Beneficiario { prestazioni, .. } = item else {
                panic!("SINBA item in a PS flow")
            };
            assert!((1..=4).contains(&prestazioni.len()));
            count += prestazioni.len() as u64;
        }
        assert_eq!(count, n);
        assert_eq!(g.stats().records, n);
        let text = String::from_utf8(xml(&o)).expect("UTF-8");
        assert_eq!(text.matches("<PrestazioniSociali ").count() as u64, n);

        let s = opts(FlowType::Sinba, n, n);
        assert_eq!(Generator::new(&s).count() as u64, n);
        let text = String::from_utf8(xml(&s)).expect("UTF-8");
        assert_eq!(text.matches("<SINBA ").count() as u64, n);
    }
}

#[test]
fn header_is_valid_and_seeded() {
    let o = opts(FlowType::PsPsaSina, 1, 5);
    let h = Generator::new(&o).header();
    let mut v = Vec::new();
    rules::check_header(&ctx(o.anno), o.tipo, &h, &mut v);
    assert!(errors(&v).is_empty(), "{v:#?}");
    let nome = h.nome.clone().unwrap_or_default();
    let ente = h.ente.codice.clone().unwrap_or_default();
    assert!(nome.starts_with(&format!("{ente}.PS.2026")), "{nome}");
    assert!(
        h.ente
            .denominazione
            .as_deref()
            .is_some_and(|d| d.starts_with("Comune di "))
    );
    assert!(reference::comune_by_belfiore(&ente).is_some());

    let custom = GenOptions {
        ente_codice: Some("ATS01".into()),
        ente_belfiore: Some("f205".into()),
        nome: Some("ATS01.SINBA.20260115.0000009".into()),
        ..opts(FlowType::Sinba, 1, 5)
    };
    let h = Generator::new(&custom).header();
    assert_eq!(h.nome.as_deref(), Some("ATS01.SINBA.20260115.0000009"));
    assert_eq!(h.ente.codice.as_deref(), Some("ATS01"));
    assert_eq!(h.ente.indirizzo.as_deref(), Some("F205"));
    assert_eq!(h.ente.denominazione.as_deref(), Some("Comune di Milano"));
}

/// A beneficiary with its benefits, each with the error injected in it.
type PsItem = (Beneficiario, Vec<(PrestazioniSociali, Option<ErrorKind>)>);

fn ps_items(o: &GenOptions) -> Vec<PsItem> {
    let mut g = Generator::new(o);
    let mut out = Vec::new();
    while let Some(item) = g.next() {
        let GenItem::Beneficiario {
            beneficiario,
            prestazioni,
        } = item
        else {
            panic!("SINBA item in a PS flow")
        };
        let errs = g.last_errors().to_vec();
        assert_eq!(errs.len(), prestazioni.len());
        out.push((
            (*beneficiario).clone(),
            prestazioni.into_iter().zip(errs).collect(),
        ));
    }
    out
}

fn sum(parts: &[Option<XsDecimal>]) -> XsDecimal {
    parts.iter().flatten().fold(XsDecimal::ZERO, |a, b| {
        a.checked_add(*b).expect("no overflow")
    })
}

#[test]
fn ps_data_is_consistent_with_reference_tables() {
    let o = opts(FlowType::PsPsaSina, 4000, 21);
    let items = ps_items(&o);
    let mut foreign = 0;
    let mut omocodes = 0;
    let mut periodic = 0;
    let mut total = 0;
    let mut codes: BTreeMap<String, u32> = BTreeMap::new();
    for (b, ps) in &items {
        let a = &b.anagrafica;
        let anno: i32 = a
            .anno_nascita
            .as_deref()
            .and_then(|s| s.parse().ok())
            .expect("AnnoNascita");
        assert!((1930..o.anno).contains(&anno));
        let luogo = a.luogo_nascita.as_deref().expect("LuogoNascita");
        let female = a.genere == Some(Genere::Femmina);
        let raw = b.codice_fiscale.as_deref().expect("CF");
        let Ok(Cf::Personal(p)) = cf::check(raw) else {
            panic!("invalid CF {raw}")
        };
        assert!(
            p.mismatches(anno as u16, female, luogo).is_empty(),
            "{raw} vs {a:?}"
        );
        omocodes += u32::from(p.is_omocode());
        assert_eq!(
            &raw[..3],
            &cf::compute(
                a.cognome.as_deref().unwrap_or(""),
                "X",
                Date {
                    year: 2000,
                    month: 1,
                    day: 1
                },
                false,
                "H501"
            )[..3]
        );
        match reference::luogo_nascita_valid(luogo, anno) {
            LuogoCheck::Comune => {}
            LuogoCheck::StatoEstero {
                valid_in_year: true,
            } => foreign += 1,
            other => panic!("{luogo} in {anno}: {other:?}"),
        }
        for c in [&a.codice_cittadinanza, &a.codice_seconda_cittadinanza]
            .into_iter()
            .flatten()
        {
            assert!(reference::paese_iso(c).is_some(), "{c}");
        }
        assert!((1..=2).contains(&b.indirizzi.len()));
        for i in &b.indirizzi {
            assert_eq!(i.codice_nazione.as_deref(), Some("380"));
            let c =
                reference::comune_istat(i.codice_comune.as_deref().unwrap_or("")).expect("comune");
            assert_eq!(
                i.codice_regione.as_deref(),
                Some(reference::regione_dm1986_for_comune(c))
            );
        }
        for (p, _) in ps {
            total += 1;
            let code = p.codice_prestazione.as_deref().expect("code");
            *codes.entry(code.to_string()).or_default() += 1;
            let t = reference::prestazione(code).expect("benefit code in table");
            assert!(!t.name.contains("non pubblicata"), "{code}");
            assert!(
                !t.solo_presa_in_carico || p.presa_carico == Some(PresaCarico::Si),
                "{code}"
            );
            assert!(
                p.denominazione_prestazione
                    .as_deref()
                    .is_some_and(|d| d.chars().count() >= 10)
            );
            let amount = match p.carattere_prestazione {
                Some(CaratterePrestazione::Periodico) => {
                    periodic += 1;
                    let (s, e) = (
                        p.data_inizio_prestazione.expect("start"),
                        p.data_fine_prestazione.expect("end"),
                    );
                    assert!(s.year == o.anno && e.year == o.anno && s <= e);
                    assert!(t.valid_on(s.date()));
                    p.importo_mensile.expect("ImportoMensile")
                }
                _ => {
                    let d = p.data_erogazione_prestazione.expect("date");
                    assert!(d.year == o.anno && t.valid_on(d.date()));
                    p.importo_prestazione.expect("ImportoPrestazione")
                }
            };
            assert!(amount.is_positive() && amount.scale() <= 2);
            let quote = [
                p.importo_quota_ente,
                p.importo_quota_utente,
                p.importo_quota_ssn,
            ];
            if quote.iter().any(Option::is_some) {
                assert_eq!(sum(&quote), amount, "{p:?}");
            }
            if let Some(ore) = p.ore_servizio_mensile {
                let (_, minutes, exact) = ore.split(2);
                assert!(exact && minutes <= 59, "{ore}");
            }
            if let Some(s) = &p.sina {
                for c in s.necessita_interventi_sociali.iter().flatten() {
                    assert!(reference::prestazione(c).is_some(), "{c}");
                }
            }
        }
    }
    let share = |x: u32| f64::from(x) / f64::from(total);
    assert!(
        (0.04..0.13).contains(&(f64::from(foreign) / items.len() as f64)),
        "foreign {foreign}"
    );
    assert!(
        (0.5..0.8).contains(&share(periodic)),
        "periodic {periodic}/{total}"
    );
    assert!(codes.len() >= 30, "{codes:?}");
    assert!((1..60).contains(&omocodes), "omocodia {omocodes}");
    let avg = f64::from(total) / items.len() as f64;
    assert!((1.4..2.1).contains(&avg), "{avg}");
}

#[test]
fn clean_flows_pass_the_strict_rules() {
    for seed in [1u64, 2] {
        let o = opts(FlowType::PsPsaSina, 3000, seed);
        let c = ctx(o.anno);
        for (b, ps) in ps_items(&o) {
            let mut v = Vec::new();
            rules::check_beneficiario(&c, &b, &mut v);
            for (p, _) in &ps {
                rules::check_prestazione(&c, &b, p, &mut v);
            }
            assert!(errors(&v).is_empty(), "{:#?}\n{b:?}\n{ps:?}", errors(&v));
        }
        let o = opts(FlowType::Sinba, 3000, seed);
        let c = ctx(o.anno);
        for item in Generator::new(&o) {
            let GenItem::Sinba(s) = item else {
                panic!("PS item in a SINBA flow")
            };
            let mut v = Vec::new();
            rules::check_sinba(&c, &s, &mut v);
            assert!(errors(&v).is_empty(), "{:#?}\n{s:?}", errors(&v));
            check_sinba_shape(&s, o.anno);
        }
    }
}

fn check_sinba_shape(s: &Sinba, anno: i32) {
    let id = s.id_beneficiario.as_deref().expect("id");
    assert!(
        (10..=14).contains(&id.len()) && id[4..].bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert!(cf::check(id).is_err());
    let nascita: i32 = s
        .anno_nascita
        .as_deref()
        .and_then(|a| a.parse().ok())
        .expect("AnnoNascita");
    assert!((anno - 17..=anno).contains(&nascita));
    assert!((1..=3).contains(&s.prestazioni.len()) && (1..=4).contains(&s.famiglia.len()));
    for c in &s.prestazioni {
        assert!(reference::prestazione(c).is_some(), "{c}");
    }
    if s.codice_nazione_residenza.as_deref() == Some("380") {
        assert!(
            s.codice_regione_residenza
                .as_deref()
                .and_then(reference::regione_dm1986)
                .is_some()
        );
    }
}

#[test]
fn sinba_ids_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for item in Generator::new(&opts(FlowType::Sinba, 5000, 8)) {
        let GenItem::Sinba(s) = item else { panic!() };
        assert!(seen.insert(s.id_beneficiario.unwrap_or_default()));
    }
}

/// Reads a generated flow back with the project's reader and applies the
/// strict rules: the records rejected are exactly the injected ones.
fn rejected_positions(bytes: &[u8], tipo: FlowType, anno: i32) -> Vec<u64> {
    let c = ctx(anno);
    let mut out = Vec::new();
    for item in XmlFlowReader::new(
        bytes,
        ReadOptions {
            expected: Some(tipo),
            ..ReadOptions::default()
        },
    ) {
        match item.expect("readable") {
            FlowItem::Header(h) => assert!(errors(&h.violations).is_empty(), "{:?}", h.violations),
            FlowItem::FlowViolation(v) => panic!("{v:?}"),
            FlowItem::Record(r) => {
                let mut v = r.violations.clone();
                match &r.record {
                    Record::Ps(p) => {
                        rules::check_beneficiario(&c, &p.beneficiario, &mut v);
                        rules::check_prestazione(&c, &p.beneficiario, &p.prestazione, &mut v);
                    }
                    Record::Sinba(s) => rules::check_sinba(&c, s, &mut v),
                }
                if !errors(&v).is_empty() {
                    out.push(r.pos);
                }
            }
        }
    }
    out
}

#[test]
fn injected_errors_reject_exactly_their_records() {
    for tipo in [FlowType::PsPsaSina, FlowType::Sinba] {
        let o = GenOptions {
            error_rate: 0.25,
            ..opts(tipo, 2000, 77)
        };
        let mut g = Generator::new(&o);
        let mut expected = Vec::new();
        let mut pos = 0u64;
        while g.next().is_some() {
            let errs = g.last_errors().to_vec();
            for e in &errs {
                pos += 1;
                if let Some(k) = e {
                    assert_eq!(k.flow(), tipo);
                    assert!(
                        errs.len() == 1 || !k.single_record_only(),
                        "{k:?} on a multi-record beneficiary"
                    );
                    expected.push(pos);
                }
            }
        }
        let stats = g.stats().clone();
        assert_eq!(stats.injected(), expected.len() as u64);
        assert!((350..650).contains(&expected.len()), "{}", expected.len());
        let kinds = ErrorKind::ALL.iter().filter(|k| k.flow() == tipo).count();
        assert_eq!(stats.errors.len(), kinds, "{:?}", stats.errors);

        let bytes = xml(&o);
        assert_eq!(
            rejected_positions(&bytes, tipo, o.anno),
            expected,
            "{tipo:?}"
        );
        let clean = xml(&opts(tipo, 2000, 77));
        assert!(
            rejected_positions(&clean, tipo, o.anno).is_empty(),
            "{tipo:?}"
        );
    }
}

#[test]
fn schema_errors_are_the_schema_kinds() {
    let o = GenOptions {
        error_rate: 0.3,
        ..opts(FlowType::PsPsaSina, 1500, 5)
    };
    let stats = write_xml(&o, std::io::sink()).expect("sink");
    let bytes = xml(&o);
    let mut schema = 0u64;
    for item in XmlFlowReader::new(&bytes[..], ReadOptions::default()) {
        if let FlowItem::Record(r) = item.expect("readable")
            && r.violations
                .iter()
                .any(|v| v.is_error() && v.category == Category::Schema)
        {
            schema += 1;
        }
    }
    let expected: u64 = stats
        .errors
        .iter()
        .filter(|(k, _)| k.is_schema())
        .map(|(_, n)| n)
        .sum();
    assert!(expected > 0);
    assert_eq!(schema, expected);
}

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn xmllint_accepts_clean_flows() {
    let have = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("CASELLARIO_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "xmllint is required (CASELLARIO_REQUIRE_EXTERNAL=1) but not installed"
        );
        eprintln!("\n*** SKIPPED xmllint_accepts_clean_flows: xmllint not installed ***\n");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (tipo, xsd) in [
        (FlowType::PsPsaSina, "PS_PSA_SINA201812.xsd"),
        (FlowType::Sinba, "SINBA.xsd"),
    ] {
        let path = dir.path().join(format!("{}.xml", tipo.wire()));
        std::fs::write(&path, xml(&opts(tipo, 1500, 3))).expect("write");
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(schemas().join(xsd))
            .arg(&path)
            .output()
            .expect("run xmllint");
        assert!(
            out.status.success(),
            "{tipo:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
