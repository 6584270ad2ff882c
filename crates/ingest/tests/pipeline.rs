//! End-to-end tests of the one ingestion pipeline: receipts against their
//! JSON Schema, injected errors, dry run against import, the register's
//! semantics (duplicates, key conflicts, cancellations, SINBA supersession,
//! caller ente) and property tests of the round trips
//! (generator → writer → reader, codec, export → import).
//!
//! Every flow is generated in memory and every register is an in-memory
//! SQLite store, so the whole binary runs in seconds on two cores.

use casellario_domain::codec;
use casellario_domain::model::{
    IdentificazioneFlusso, PrestazioniSociali, PsRecord, Record, Sinba, XsdElement,
};
use casellario_domain::{Channel, CodiceEsito, Date, Esito, FlowType, Profile, Severity};
use casellario_formats::csv::{CsvFlowReader, CsvFlowWriter};
use casellario_formats::{FlowItem, ParsedRecord, ReadOptions, XmlFlowReader, XmlFlowWriter};
use casellario_gen::{ErrorKind, GenItem, GenOptions, GenStats, Generator};
use casellario_ingest::export::{ExportOptions, export};
use casellario_ingest::receipt::write_json;
use casellario_ingest::{FlowReport, IngestOptions, RecordOutcome, decode_payload, ingest};
use casellario_store::{Counts, Store};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A fixed "today", after the generator's default sending dates (early 2026).
fn today() -> Date {
    Date::new(2026, 6, 30).expect("valid date")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn opts() -> IngestOptions {
    IngestOptions::new(today())
}

fn opts_with(profile: Profile, channel: Channel) -> IngestOptions {
    let mut o = opts();
    o.profile = profile;
    o.channel = channel;
    o
}

fn store() -> Store {
    Store::open_in_memory().expect("in-memory store")
}

fn counts(s: &Store) -> Counts {
    s.counts().expect("counts")
}

fn inps_samples() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("tests/fixtures/inps");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::fs::read(&p).expect("read sample"),
            )
        })
        .collect();
    v.sort();
    assert_eq!(v.len(), 3, "the three INPS samples");
    v
}

/// A generated flow, held as typed items, with the injected error of each record.
#[derive(Clone)]
struct Flow {
    tipo: FlowType,
    header: IdentificazioneFlusso,
    items: Vec<GenItem>,
    /// One entry per record, in flow order.
    errors: Vec<Option<ErrorKind>>,
    stats: GenStats,
}

fn generate(o: &GenOptions) -> Flow {
    let mut g = Generator::new(o);
    let header = g.header();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = g.next() {
        errors.extend_from_slice(g.last_errors());
        items.push(item);
    }
    Flow {
        tipo: o.tipo,
        header,
        items,
        errors,
        stats: g.stats().clone(),
    }
}

fn gen_flow(tipo: FlowType, records: u64, seed: u64, error_rate: f64) -> Flow {
    generate(&GenOptions {
        error_rate,
        ..GenOptions::new(tipo, records, seed)
    })
}

trait Sink {
    fn beneficiario(
        &mut self,
        b: &casellario_domain::model::Beneficiario,
        p: &[&PrestazioniSociali],
    );
    fn sinba(&mut self, s: &Sinba);
}

impl Sink for XmlFlowWriter<Vec<u8>> {
    fn beneficiario(
        &mut self,
        b: &casellario_domain::model::Beneficiario,
        p: &[&PrestazioniSociali],
    ) {
        self.write_beneficiario(b, p).expect("xml write");
    }
    fn sinba(&mut self, s: &Sinba) {
        self.write_sinba(s).expect("xml write");
    }
}

impl Sink for CsvFlowWriter<Vec<u8>> {
    fn beneficiario(
        &mut self,
        b: &casellario_domain::model::Beneficiario,
        p: &[&PrestazioniSociali],
    ) {
        self.write_beneficiario(b, p).expect("csv write");
    }
    fn sinba(&mut self, s: &Sinba) {
        self.write_sinba(s).expect("csv write");
    }
}

fn write_items(sink: &mut dyn Sink, items: &[GenItem]) {
    for item in items {
        match item {
            GenItem::Beneficiario {
                beneficiario,
                prestazioni,
            } => {
                let refs: Vec<&PrestazioniSociali> = prestazioni.iter().collect();
                sink.beneficiario(beneficiario, &refs);
            }
            GenItem::Sinba(s) => sink.sinba(s),
        }
    }
}

fn xml_of(tipo: FlowType, header: &IdentificazioneFlusso, items: &[GenItem]) -> Vec<u8> {
    let mut w = XmlFlowWriter::new(Vec::new(), tipo, header).expect("xml writer");
    write_items(&mut w, items);
    w.finish().expect("xml finish")
}

fn csv_of(tipo: FlowType, header: &IdentificazioneFlusso, items: &[GenItem]) -> Vec<u8> {
    let mut w = CsvFlowWriter::new(Vec::new(), tipo, header).expect("csv writer");
    write_items(&mut w, items);
    w.finish().expect("csv finish")
}

impl Flow {
    fn xml(&self) -> Vec<u8> {
        xml_of(self.tipo, &self.header, &self.items)
    }
    fn csv(&self) -> Vec<u8> {
        csv_of(self.tipo, &self.header, &self.items)
    }
    fn ente(&self) -> String {
        self.header.ente.codice.clone().expect("ente code")
    }
    /// The records in flow order.
    fn records(&self) -> Vec<Record> {
        let mut v = Vec::new();
        for item in &self.items {
            match item {
                GenItem::Beneficiario {
                    beneficiario,
                    prestazioni,
                } => v.extend(prestazioni.iter().map(|p| {
                    Record::Ps(PsRecord {
                        beneficiario: Arc::clone(beneficiario),
                        prestazione: p.clone(),
                    })
                })),
                GenItem::Sinba(s) => v.push(Record::Sinba(s.clone())),
            }
        }
        v
    }
    /// Records per `Beneficiario` element (all 1 for SINBA).
    fn group_sizes(&self) -> Vec<usize> {
        self.items
            .iter()
            .map(|i| match i {
                GenItem::Beneficiario { prestazioni, .. } => prestazioni.len(),
                GenItem::Sinba(_) => 1,
            })
            .collect()
    }
}

/// The same header under another flow name (another progressive).
fn renamed(h: &IdentificazioneFlusso, progressive: u32) -> IdentificazioneFlusso {
    let nome = h.nome.clone().expect("flow name");
    let (prefix, _) = nome.rsplit_once('.').expect("dotted name");
    let mut h = h.clone();
    h.nome = Some(format!("{prefix}.{progressive:07}"));
    h
}

/// Sets an attribute through the checked setter (the value must be valid).
fn set<E: XsdElement>(e: &mut E, name: &str, value: &str) {
    match e.set_attr(name, value) {
        Some((_, Ok(()))) => {}
        other => panic!("{}/@{name} = {value:?}: {other:?}", E::ELEMENT),
    }
}

/// The validator of `docs/ricevuta.schema.json`.
fn receipt_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("docs/ricevuta.schema.json"))
            .expect("receipt schema");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::draft202012::new(&schema).expect("schema compiles")
    })
}

fn assert_receipt_valid(receipt: &Value, what: &str) {
    let errors: Vec<String> = receipt_schema()
        .iter_errors(receipt)
        .take(10)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: receipt does not conform to docs/ricevuta.schema.json:\n{}\nreceipt head: {}",
        errors.join("\n"),
        {
            let mut head = receipt.clone();
            if let Some(r) = head.get_mut("record").and_then(Value::as_array_mut) {
                r.truncate(3);
            }
            head
        }
    );
}

/// What one ingestion gave: the report, every record's outcome and the JSON receipt.
struct Run {
    report: FlowReport,
    outcomes: Vec<RecordOutcome>,
    receipt: Value,
}

impl Run {
    fn esiti(&self) -> Vec<(u64, Esito, CodiceEsito)> {
        self.outcomes
            .iter()
            .map(|o| (o.pos, o.esito, o.codice))
            .collect()
    }
    fn count(&self, e: Esito) -> usize {
        self.outcomes.iter().filter(|o| o.esito == e).count()
    }
    fn flow_rules(&self) -> Vec<&str> {
        self.report
            .flow_violations
            .iter()
            .map(|v| v.rule.as_str())
            .collect()
    }
}

fn rules_of(o: &RecordOutcome) -> Vec<&str> {
    o.violations.iter().map(|v| v.rule.as_str()).collect()
}

fn has_error(o: &RecordOutcome) -> bool {
    o.violations.iter().any(|v| v.severity == Severity::Errore)
}

/// Ingests `bytes`, renders the JSON receipt, checks it against the schema
/// and against the outcomes replayed from the log.
fn run(bytes: &[u8], o: &IngestOptions, store: Option<&mut Store>, what: &str) -> Run {
    let mut ing = ingest(bytes, o, store, None).expect("ingest");
    let mut json = Vec::new();
    write_json(&mut ing, &mut json).expect("write receipt");
    let receipt: Value = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{what}: receipt is not JSON: {e}"));
    assert_receipt_valid(&receipt, what);
    let mut outcomes = Vec::new();
    ing.for_each_record(&mut |o| {
        outcomes.push(o);
        Ok(())
    })
    .expect("replay outcomes");
    let report = ing.report;

    // The receipt says what the outcomes say.
    let recs = receipt["record"].as_array().expect("record array");
    assert_eq!(recs.len(), outcomes.len(), "{what}: receipt records");
    for (r, o) in recs.iter().zip(&outcomes) {
        assert_eq!(r["posizione"], o.pos, "{what}");
        assert_eq!(r["esito"], o.esito.wire(), "{what}: record {}", o.pos);
        assert_eq!(
            r["codice_esito"],
            o.codice.wire(),
            "{what}: record {}",
            o.pos
        );
    }
    let positions: Vec<u64> = outcomes.iter().map(|o| o.pos).collect();
    let expected: Vec<u64> = (1..=outcomes.len() as u64).collect();
    assert_eq!(positions, expected, "{what}: positions 1..=n in order");
    let tally = |e: Esito| outcomes.iter().filter(|o| o.esito == e).count() as u64;
    let r = &receipt["riepilogo"];
    assert_eq!(
        r["record"],
        outcomes.len() as u64,
        "{what}: riepilogo.record"
    );
    assert_eq!(r["accettati"], tally(Esito::Accettato), "{what}: accettati");
    assert_eq!(r["duplicati"], tally(Esito::Duplicato), "{what}: duplicati");
    assert_eq!(r["scartati"], tally(Esito::Scartato), "{what}: scartati");
    assert_eq!(
        report.totals.records,
        outcomes.len() as u64,
        "{what}: totals"
    );
    assert_eq!(
        receipt["codice_esito"],
        report.codice_esito.wire(),
        "{what}"
    );
    // The flow's code is the gravest of its records'.
    for o in &outcomes {
        assert!(
            o.codice <= report.codice_esito,
            "{what}: record {} has {:?}, flow {:?}",
            o.pos,
            o.codice,
            report.codice_esito
        );
    }
    Run {
        report,
        outcomes,
        receipt,
    }
}

/// The live view of an ente: (key, content hash) of every live version.
fn live_view(s: &Store, ente: &str, tipo: FlowType) -> Vec<([u8; 16], [u8; 16])> {
    let mut v = Vec::new();
    s.for_each_live(ente, tipo, &mut |l| {
        v.push((l.key, l.content_hash));
        Ok(())
    })
    .expect("for_each_live");
    v.sort();
    v
}

/// The live records of an ente, decoded.
fn live_records(s: &Store, ente: &str, tipo: FlowType) -> Vec<Record> {
    let mut v = Vec::new();
    s.for_each_live(ente, tipo, &mut |l| {
        v.push(decode_payload(&l.payload).expect("stored payload decodes"));
        Ok(())
    })
    .expect("for_each_live");
    v
}

fn ps_of(r: &Record) -> &PsRecord {
    match r {
        Record::Ps(p) => p,
        Record::Sinba(_) => panic!("expected a PS record"),
    }
}

fn sinba_of(r: &Record) -> &Sinba {
    match r {
        Record::Sinba(s) => s,
        Record::Ps(_) => panic!("expected a SINBA record"),
    }
}

/// What a reader gave back.
#[derive(Default)]
struct ReadBack {
    header: Option<casellario_formats::FlowHeader>,
    records: Vec<ParsedRecord>,
    flow_violations: Vec<casellario_domain::Violation>,
    fatal: Option<String>,
}

fn read_back(
    it: impl Iterator<Item = Result<FlowItem, casellario_formats::ReadError>>,
) -> ReadBack {
    let mut r = ReadBack::default();
    for item in it {
        match item {
            Ok(FlowItem::Header(h)) => r.header = Some(h),
            Ok(FlowItem::Record(p)) => r.records.push(*p),
            Ok(FlowItem::FlowViolation(v)) => r.flow_violations.push(v),
            Err(e) => {
                r.fatal = Some(e.to_string());
                break;
            }
        }
    }
    r
}

/// Sizes of runs of consecutive records sharing one `Beneficiario` (by pointer).
fn read_group_sizes(records: &[ParsedRecord]) -> Vec<usize> {
    let mut sizes: Vec<usize> = Vec::new();
    let mut last: Option<&Arc<casellario_domain::model::Beneficiario>> = None;
    for r in records {
        match &r.record {
            Record::Ps(p) => {
                if last.is_some_and(|l| Arc::ptr_eq(l, &p.beneficiario)) {
                    if let Some(n) = sizes.last_mut() {
                        *n += 1;
                    }
                } else {
                    sizes.push(1);
                }
                last = Some(&p.beneficiario);
            }
            Record::Sinba(_) => sizes.push(1),
        }
    }
    sizes
}

// ---------------------------------------------------------------------------
// 1. Receipts conform to docs/ricevuta.schema.json
// ---------------------------------------------------------------------------

#[test]
fn receipts_of_inps_samples_conform_to_the_schema() {
    for (name, bytes) in inps_samples() {
        for profile in [Profile::Strict, Profile::Compat] {
            for channel in [Channel::Upload, Channel::Coop] {
                let o = opts_with(profile, channel);
                let what = format!("{name} {profile:?} {channel:?}");
                let dry = run(&bytes, &o, None, &format!("{what} dry run"));
                assert!(!dry.report.unreadable, "{what}");
                assert_eq!(dry.receipt["profilo"], profile.wire());
                assert_eq!(dry.receipt["canale"], channel.wire());
                let mut s = store();
                let imp = run(&bytes, &o, Some(&mut s), &format!("{what} import"));
                // The same bytes again: all duplicates of the first acquisition
                // (or the same rejection when nothing was stored).
                let again = run(&bytes, &o, Some(&mut s), &format!("{what} re-import"));
                assert_eq!(again.outcomes.len(), imp.outcomes.len(), "{what}");
                if imp.report.stored {
                    assert!(again.report.already_acquired, "{what}");
                    assert_eq!(again.receipt["acquisito_in_precedenza"], true);
                    assert!(
                        again.outcomes.iter().all(|o| o.esito == Esito::Duplicato
                            || (o.esito == Esito::Scartato
                                && imp.outcomes[o.pos as usize - 1].esito == Esito::Scartato)),
                        "{what}: re-import is all duplicates"
                    );
                }
            }
        }
    }
}

#[test]
fn receipts_of_generated_flows_with_errors_conform_to_the_schema() {
    for (tipo, seed) in [(FlowType::PsPsaSina, 11), (FlowType::Sinba, 12)] {
        let flow = gen_flow(tipo, 300, seed, 0.2);
        assert!(flow.stats.injected() > 20, "{tipo:?}: errors injected");
        let bytes = flow.xml();
        for profile in [Profile::Strict, Profile::Compat] {
            let o = opts_with(profile, Channel::Upload);
            let what = format!("generated {tipo:?} {profile:?}");
            let dry = run(&bytes, &o, None, &format!("{what} dry run"));
            assert!(dry.count(Esito::Scartato) > 0, "{what}");
            let mut s = store();
            let imp = run(&bytes, &o, Some(&mut s), &format!("{what} import"));
            assert!(imp.receipt["id_acquisizione"].is_string(), "{what}");
            assert!(
                imp.receipt["record"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .filter(|r| r["esito"] == "accettato")
                    .all(|r| r["id_acquisizione"].is_string()),
                "{what}: accepted records carry their version id"
            );
            run(&bytes, &o, Some(&mut s), &format!("{what} re-import"));
        }
        // Cooperation channel: more than one record, rejected whole.
        let coop = run(
            &bytes,
            &opts_with(Profile::Strict, Channel::Coop),
            None,
            &format!("generated {tipo:?} coop"),
        );
        assert!(coop.report.rejected_whole);
        assert!(coop.flow_rules().contains(&"CANALE_UN_RECORD"));
        assert_eq!(coop.count(Esito::Scartato), 300);
    }
}

#[test]
fn receipts_of_unreadable_inputs_conform_to_the_schema() {
    let flow = gen_flow(FlowType::PsPsaSina, 30, 21, 0.0);
    let xml = flow.xml();
    let mut truncated = xml[..xml.len() * 2 / 3].to_vec();
    truncated.extend_from_slice(b"</Flusso>");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", Vec::new()),
        ("only whitespace", b"  \n\t\n".to_vec()),
        (
            "not well-formed",
            b"<?xml version=\"1.0\"?>\n<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"H501.PS.20210520.0000002\"><Ente Codice=\"H501\"</Flusso>".to_vec(),
        ),
        ("mismatched tags after records", truncated),
        ("binary garbage", vec![0x00, 0xFF, 0xFE, 0x3C, 0x00, 0x80, 0x81]),
        ("not xml", b"<html><body>ciao</body></html>".to_vec()),
    ];
    for (what, bytes) in cases {
        let r = run(&bytes, &opts(), None, what);
        assert!(r.report.rejected_whole, "{what}: rejected whole");
        assert!(
            r.outcomes.iter().all(|o| o.esito == Esito::Scartato),
            "{what}: nothing accepted"
        );
        assert!(!r.report.flow_violations.is_empty(), "{what}: says why");
        assert_ne!(r.report.exit_code(), 0, "{what}");
        // Same through import: nothing stored.
        let mut s = store();
        let imp = run(&bytes, &opts(), Some(&mut s), &format!("{what} import"));
        assert!(!imp.report.stored, "{what}");
        assert_eq!(counts(&s), Counts::default(), "{what}: nothing stored");
    }
    // Empty and not well-formed are "unreadable" (exit status 2).
    for (what, bytes) in [
        ("empty", &b""[..]),
        (
            "unclosed",
            &b"<Flusso xmlns=\"http://inps.it/Casellario\"><Identif"[..],
        ),
    ] {
        let r = run(bytes, &opts(), None, what);
        assert!(r.report.unreadable, "{what}");
        assert_eq!(r.report.exit_code(), 2, "{what}");
        assert_eq!(r.receipt["id_flusso"], Value::Null, "{what}");
    }
}

#[test]
fn receipts_of_csv_flows_conform_to_the_schema() {
    for (tipo, seed) in [(FlowType::PsPsaSina, 31), (FlowType::Sinba, 32)] {
        let flow = gen_flow(tipo, 120, seed, 0.2);
        let csv = flow.csv();
        let xml = flow.xml();
        let what = format!("generated CSV {tipo:?}");
        let c = run(&csv, &opts(), None, &what);
        let x = run(&xml, &opts(), None, &format!("{what} as XML"));
        // CSV and XML of the same records: the same outcomes.
        assert_eq!(c.esiti(), x.esiti(), "{what}: CSV and XML agree");
        let mut s = store();
        run(&csv, &opts(), Some(&mut s), &format!("{what} import"));
    }
    let dir = root().join("tests/fixtures/csv");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("csv fixtures") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read csv");
        for profile in [Profile::Strict, Profile::Compat] {
            run(
                &bytes,
                &opts_with(profile, Channel::Upload),
                None,
                &format!("{} {profile:?}", p.display()),
            );
        }
        n += 1;
    }
    assert!(n >= 3, "CSV fixtures found");
    // A CSV that is only a header row, and one with an unknown column.
    run(
        b"NomeFlusso;CodiceEnte;CodiceFiscale\r\n",
        &opts(),
        None,
        "csv header only",
    );
    run(
        b"NomeFlusso;Sconosciuta\r\nX;Y\r\n",
        &opts(),
        None,
        "csv unknown column",
    );
}

// ---------------------------------------------------------------------------
// 2. Injected errors are exactly the rejected records
// ---------------------------------------------------------------------------

fn check_injected(flow: &Flow, r: &Run, what: &str) {
    assert_eq!(
        r.outcomes.len(),
        flow.errors.len(),
        "{what}: one outcome per record"
    );
    assert_eq!(
        r.count(Esito::Scartato) as u64,
        flow.stats.injected(),
        "{what}: scartati == GenStats::injected()"
    );
    for (o, err) in r.outcomes.iter().zip(&flow.errors) {
        match err {
            Some(k) => {
                assert_eq!(o.esito, Esito::Scartato, "{what}: record {} ({k:?})", o.pos);
                assert!(has_error(o), "{what}: record {} says why", o.pos);
                if let Some(rule) = k.rule() {
                    assert!(
                        rules_of(o).contains(&rule),
                        "{what}: record {} ({k:?}) expected {rule}, got {:?}",
                        o.pos,
                        rules_of(o)
                    );
                } else {
                    assert!(
                        o.violations
                            .iter()
                            .any(|v| v.category == casellario_domain::Category::Schema
                                && v.severity == Severity::Errore),
                        "{what}: record {} ({k:?}) expected a schema error, got {:?}",
                        o.pos,
                        rules_of(o)
                    );
                }
            }
            None => {
                assert_eq!(
                    (o.esito, o.codice),
                    (Esito::Accettato, CodiceEsito::Ok),
                    "{what}: clean record {} got {:?}",
                    o.pos,
                    o.violations
                );
                assert!(!has_error(o), "{what}: record {}", o.pos);
            }
        }
    }
}

#[test]
fn injected_errors_are_exactly_the_rejected_records() {
    for (tipo, seed) in [(FlowType::PsPsaSina, 41), (FlowType::Sinba, 42)] {
        let flow = gen_flow(tipo, 2000, seed, 0.1);
        let injected = flow.stats.injected();
        assert_eq!(
            flow.errors.iter().flatten().count() as u64,
            injected,
            "generator bookkeeping"
        );
        assert!(
            (100..=320).contains(&injected),
            "{tipo:?}: {injected} injected"
        );
        // Every kind of this flow type is exercised.
        let kinds = ErrorKind::ALL.iter().filter(|k| k.flow() == tipo).count();
        assert_eq!(
            flow.stats.errors.len(),
            kinds,
            "{tipo:?}: {:?}",
            flow.stats.errors
        );
        let bytes = flow.xml();
        let what = format!("{tipo:?} seed {seed}");

        let dry = run(&bytes, &opts(), None, &format!("{what} dry run"));
        check_injected(&flow, &dry, &format!("{what} dry run"));

        let mut s = store();
        let imp = run(&bytes, &opts(), Some(&mut s), &format!("{what} import"));
        check_injected(&flow, &imp, &format!("{what} import"));
        assert!(imp.report.stored);
        let accepted = imp.count(Esito::Accettato) as u64;
        assert_eq!(accepted, 2000 - injected);
        assert_eq!(counts(&s).live, accepted, "{what}: live == accepted");
        assert_eq!(counts(&s).versions, accepted, "{what}: versions");
        assert_eq!(
            s.live_count(&flow.ente(), tipo).expect("live_count"),
            accepted,
            "{what}: live_count"
        );
        assert_eq!(live_view(&s, &flow.ente(), tipo).len() as u64, accepted);
    }
}

// ---------------------------------------------------------------------------
// 3. Dry run equals import on an empty register
// ---------------------------------------------------------------------------

fn assert_dry_equals_import(bytes: &[u8], o: &IngestOptions, what: &str) {
    let dry = run(bytes, o, None, &format!("{what} dry run"));
    let mut s = store();
    let imp = run(bytes, o, Some(&mut s), &format!("{what} import"));
    assert_eq!(dry.esiti(), imp.esiti(), "{what}: dry run vs import");
    assert_eq!(dry.report.codice_esito, imp.report.codice_esito, "{what}");
    assert_eq!(
        dry.report.rejected_whole, imp.report.rejected_whole,
        "{what}"
    );
    let rules = |r: &Run| -> Vec<Vec<String>> {
        r.outcomes
            .iter()
            .map(|o| o.violations.iter().map(|v| v.rule.clone()).collect())
            .collect()
    };
    assert_eq!(rules(&dry), rules(&imp), "{what}: same violations");
}

#[test]
fn dry_run_equals_import_on_an_empty_register() {
    for (name, bytes) in inps_samples() {
        for profile in [Profile::Strict, Profile::Compat] {
            assert_dry_equals_import(
                &bytes,
                &opts_with(profile, Channel::Upload),
                &format!("{name} {profile:?}"),
            );
        }
    }
    for (tipo, seed) in [(FlowType::PsPsaSina, 51), (FlowType::Sinba, 52)] {
        let flow = gen_flow(tipo, 400, seed, 0.15);
        assert_dry_equals_import(&flow.xml(), &opts(), &format!("{tipo:?} XML"));
        assert_dry_equals_import(&flow.csv(), &opts(), &format!("{tipo:?} CSV"));
    }
    // Flows whose records interact with each other inside the flow.
    let flow = gen_flow(FlowType::PsPsaSina, 10, 53, 0.0);
    let (b, p) = first_ps(&flow);
    let changed = with_denominazione(&p, "Prestazione modificata per la prova");
    let cancel = with_op(&p, "C");
    let docs = [
        ("I, C, I'", vec![p.clone(), cancel.clone(), changed.clone()]),
        ("I, I", vec![p.clone(), p.clone()]),
        ("I, I'", vec![p.clone(), changed.clone()]),
        ("C alone", vec![cancel.clone()]),
        ("C, I", vec![cancel, changed]),
    ];
    for (what, list) in docs {
        let bytes = one_beneficiario(&flow, &b, &list, 2);
        assert_dry_equals_import(&bytes, &opts(), what);
    }
    let sinba = gen_flow(FlowType::Sinba, 10, 54, 0.0);
    let s0 = first_sinba(&sinba);
    let s1 = with_valutazione(&s0);
    for (what, list) in [
        ("SINBA same twice", vec![s0.clone(), s0.clone()]),
        ("SINBA superseded in flow", vec![s0.clone(), s1.clone(), s0]),
    ] {
        let items: Vec<GenItem> = list.into_iter().map(GenItem::Sinba).collect();
        let bytes = xml_of(FlowType::Sinba, &renamed(&sinba.header, 2), &items);
        assert_dry_equals_import(&bytes, &opts(), what);
    }
}

// ---------------------------------------------------------------------------
// 4. Register semantics
// ---------------------------------------------------------------------------

fn first_ps(
    flow: &Flow,
) -> (
    Arc<casellario_domain::model::Beneficiario>,
    PrestazioniSociali,
) {
    match &flow.items[0] {
        GenItem::Beneficiario {
            beneficiario,
            prestazioni,
        } => (Arc::clone(beneficiario), prestazioni[0].clone()),
        GenItem::Sinba(_) => panic!("PS flow expected"),
    }
}

fn first_sinba(flow: &Flow) -> Sinba {
    match &flow.items[0] {
        GenItem::Sinba(s) => s.clone(),
        GenItem::Beneficiario { .. } => panic!("SINBA flow expected"),
    }
}

fn with_denominazione(p: &PrestazioniSociali, d: &str) -> PrestazioniSociali {
    let mut p = p.clone();
    set(&mut p, "DenominazionePrestazione", d);
    p
}

fn with_op(p: &PrestazioniSociali, op: &str) -> PrestazioniSociali {
    let mut p = p.clone();
    set(&mut p, "TipoOperazione", op);
    p
}

/// The same SINBA with another (valid) `ValutazioneMinore`: a different
/// content under the same key.
fn with_valutazione(s: &Sinba) -> Sinba {
    let current = s.lexical("ValutazioneMinore");
    for code in ["1", "2", "3", "4", "5", "6", "7", "8", "9"] {
        if current.as_deref() == Some(code) {
            continue;
        }
        let mut t = s.clone();
        if let Some((_, Ok(()))) = t.set_attr("ValutazioneMinore", code) {
            return t;
        }
    }
    panic!("no alternative ValutazioneMinore")
}

/// A flow with one `Beneficiario` holding `list`, under progressive `prog`.
fn one_beneficiario(
    flow: &Flow,
    b: &Arc<casellario_domain::model::Beneficiario>,
    list: &[PrestazioniSociali],
    prog: u32,
) -> Vec<u8> {
    let items = vec![GenItem::Beneficiario {
        beneficiario: Arc::clone(b),
        prestazioni: list.to_vec(),
    }];
    xml_of(FlowType::PsPsaSina, &renamed(&flow.header, prog), &items)
}

/// Imports a clean generated flow; returns the store.
fn imported(flow: &Flow) -> Store {
    let mut s = store();
    let r = run(&flow.xml(), &opts(), Some(&mut s), "initial import");
    assert_eq!(
        r.count(Esito::Accettato),
        flow.errors.len(),
        "initial import all accepted: {:?}",
        r.outcomes.iter().find(|o| o.esito != Esito::Accettato)
    );
    s
}

#[test]
fn reimport_of_the_same_bytes_is_all_duplicates() {
    for (tipo, seed) in [(FlowType::PsPsaSina, 61), (FlowType::Sinba, 62)] {
        let flow = gen_flow(tipo, 60, seed, 0.1);
        let bytes = flow.xml();
        let mut s = store();
        let first = run(&bytes, &opts(), Some(&mut s), "first");
        let before = counts(&s);
        assert_eq!(before.flows, 1);
        let again = run(&bytes, &opts(), Some(&mut s), "again");
        assert!(again.report.already_acquired, "{tipo:?}");
        assert!(!again.report.stored, "{tipo:?}");
        assert_eq!(again.report.flow_id, first.report.flow_id, "{tipo:?}");
        assert_eq!(counts(&s), before, "{tipo:?}: counts unchanged");
        assert_eq!(again.outcomes.len(), first.outcomes.len());
        assert!(
            again.outcomes.iter().all(|o| o.esito == Esito::Duplicato),
            "{tipo:?}: every record duplicato: {:?}",
            again.outcomes.iter().find(|o| o.esito != Esito::Duplicato)
        );
        // A third time, through CSV of the same records but another name:
        // every accepted record is a duplicate of its live version.
        let csv = csv_of(tipo, &renamed(&flow.header, 9), &flow.items);
        let third = run(&csv, &opts(), Some(&mut s), "csv under another name");
        for (a, b) in third.outcomes.iter().zip(&first.outcomes) {
            match b.esito {
                Esito::Accettato => assert_eq!(a.esito, Esito::Duplicato, "record {}", a.pos),
                _ => assert_eq!(a.esito, Esito::Scartato, "record {}", a.pos),
            }
        }
        assert_eq!(counts(&s).live, before.live);
        assert_eq!(counts(&s).versions, before.versions);
        assert_eq!(counts(&s).flows, 2);
        // The same name with different content is refused whole.
        let other = gen_flow(tipo, 5, seed + 100, 0.0);
        let mut hijack = other.clone();
        hijack.header = flow.header.clone();
        let r = run(
            &hijack.xml(),
            &opts(),
            Some(&mut s),
            "same name, other content",
        );
        assert!(r.report.rejected_whole);
        assert!(r.flow_rules().contains(&"REG_FLUSSO_NOME_RIUSATO"));
        assert_eq!(counts(&s).versions, before.versions);
    }
}

#[test]
fn same_key_with_different_content_is_rejected() {
    let flow = gen_flow(FlowType::PsPsaSina, 40, 71, 0.0);
    let mut s = imported(&flow);
    let before = counts(&s);
    let mut items = flow.items.clone();
    if let GenItem::Beneficiario { prestazioni, .. } = &mut items[0] {
        prestazioni[0] = with_denominazione(&prestazioni[0], "Prestazione modificata per la prova");
    }
    let bytes = xml_of(FlowType::PsPsaSina, &renamed(&flow.header, 2), &items);
    let r = run(&bytes, &opts(), Some(&mut s), "changed record");
    let o = &r.outcomes[0];
    assert_eq!(o.esito, Esito::Scartato);
    assert_eq!(o.codice, CodiceEsito::DatiNonTrovati);
    assert!(
        rules_of(o).contains(&"REG_CHIAVE_GIA_PRESENTE"),
        "{:?}",
        rules_of(o)
    );
    assert!(
        r.outcomes[1..].iter().all(|o| o.esito == Esito::Duplicato),
        "the unchanged records are duplicates"
    );
    assert_eq!(r.report.codice_esito, CodiceEsito::DatiNonTrovati);
    let after = counts(&s);
    assert_eq!(after.live, before.live);
    assert_eq!(after.versions, before.versions);
    assert_eq!(after.flows, before.flows + 1);
}

#[test]
fn cancel_and_reinsert_in_one_flow_replaces_the_live_record() {
    let flow = gen_flow(FlowType::PsPsaSina, 30, 81, 0.0);
    let mut s = imported(&flow);
    let before = counts(&s);
    let ente = flow.ente();
    let (b, p) = first_ps(&flow);
    let new_den = "Prestazione corretta dopo la cancellazione";
    let changed = with_denominazione(&p, new_den);
    let bytes = one_beneficiario(&flow, &b, &[with_op(&p, "C"), with_op(&changed, "I")], 2);
    let r = run(&bytes, &opts(), Some(&mut s), "C then I");
    assert_eq!(
        r.esiti(),
        vec![
            (1, Esito::Accettato, CodiceEsito::Ok),
            (2, Esito::Accettato, CodiceEsito::Ok)
        ],
        "{:?}",
        r.outcomes
    );
    let after = counts(&s);
    assert_eq!(after.live, before.live, "one cancelled, one inserted");
    assert_eq!(after.cancellations, before.cancellations + 1);
    assert_eq!(after.versions, before.versions + 1);
    let same_key = |r: &&Record| {
        let q = ps_of(r);
        q.beneficiario.codice_fiscale == b.codice_fiscale
            && q.prestazione.codice_prestazione == p.codice_prestazione
            && q.prestazione.protocollo_domanda == p.protocollo_domanda
            && q.prestazione.data_inizio_prestazione == p.data_inizio_prestazione
            && q.prestazione.data_erogazione_prestazione == p.data_erogazione_prestazione
    };
    let live = live_records(&s, &ente, FlowType::PsPsaSina);
    let matching: Vec<&Record> = live.iter().filter(same_key).collect();
    assert_eq!(matching.len(), 1, "one live version for the key");
    assert_eq!(
        ps_of(matching[0])
            .prestazione
            .denominazione_prestazione
            .as_deref(),
        Some(new_den)
    );

    // The whole story inside one flow on an empty register: I, C, I'.
    let mut fresh = store();
    let bytes = one_beneficiario(
        &flow,
        &b,
        &[p.clone(), with_op(&p, "C"), changed.clone()],
        3,
    );
    let r = run(&bytes, &opts(), Some(&mut fresh), "I, C, I' in one flow");
    assert!(
        r.outcomes.iter().all(|o| o.esito == Esito::Accettato),
        "{:?}",
        r.esiti()
    );
    let live = live_records(&fresh, &ente, FlowType::PsPsaSina);
    assert_eq!(live.len(), 1);
    assert_eq!(
        ps_of(&live[0])
            .prestazione
            .denominazione_prestazione
            .as_deref(),
        Some(new_den)
    );
    assert_eq!(counts(&fresh).cancellations, 1);
}

#[test]
fn cancel_of_an_unknown_key_is_dati_non_trovati() {
    let flow = gen_flow(FlowType::PsPsaSina, 20, 91, 0.0);
    let (b, p) = first_ps(&flow);
    let mut other = with_op(&p, "C");
    set(&mut other, "ProtocolloDomanda", "PROTOCOLLO-INESISTENTE-1");
    // On an empty register, on a register holding the ente's records, and dry.
    let mut empty = store();
    let mut full = imported(&flow);
    let before = counts(&full);
    let bytes = one_beneficiario(&flow, &b, std::slice::from_ref(&other), 2);
    for (what, s) in [
        ("empty", Some(&mut empty)),
        ("full", Some(&mut full)),
        ("dry", None),
    ] {
        let r = run(&bytes, &opts(), s, what);
        let o = &r.outcomes[0];
        assert_eq!(o.esito, Esito::Scartato, "{what}");
        assert_eq!(o.codice, CodiceEsito::DatiNonTrovati, "{what}");
        assert!(
            rules_of(o).contains(&"REG_CANCELLAZIONE_SENZA_RECORD"),
            "{what}: {:?}",
            rules_of(o)
        );
        assert_eq!(r.report.codice_esito, CodiceEsito::DatiNonTrovati, "{what}");
        assert_eq!(r.receipt["record"][0]["codice_esito"], "DATI_NON_TROVATI");
    }
    assert_eq!(counts(&full).live, before.live);
    assert_eq!(counts(&full).cancellations, 0);
    assert_eq!(counts(&empty).live, 0);
    // Cancelling the same record twice: the second finds nothing.
    let c = with_op(&p, "C");
    let bytes = one_beneficiario(&flow, &b, &[c.clone(), c], 3);
    let r = run(&bytes, &opts(), Some(&mut full), "double cancel");
    assert_eq!(r.outcomes[0].esito, Esito::Accettato);
    assert_eq!(r.outcomes[1].esito, Esito::Scartato);
    assert_eq!(r.outcomes[1].codice, CodiceEsito::DatiNonTrovati);
    assert_eq!(counts(&full).live, before.live - 1);
}

#[test]
fn identical_records_in_one_flow_second_is_duplicate() {
    let flow = gen_flow(FlowType::PsPsaSina, 20, 101, 0.0);
    let (b, p) = first_ps(&flow);
    let header = renamed(&flow.header, 2);
    // Twice in one Beneficiario, and in two identical Beneficiario elements.
    let one = one_beneficiario(&flow, &b, &[p.clone(), p.clone()], 2);
    let item = GenItem::Beneficiario {
        beneficiario: Arc::clone(&b),
        prestazioni: vec![p.clone()],
    };
    let two = xml_of(FlowType::PsPsaSina, &header, &[item.clone(), item]);
    for (what, bytes) in [("same Beneficiario", one), ("two Beneficiario", two)] {
        for store_it in [false, true] {
            let mut s = store();
            let r = run(&bytes, &opts(), store_it.then_some(&mut s), what);
            assert_eq!(
                r.esiti(),
                vec![
                    (1, Esito::Accettato, CodiceEsito::Ok),
                    (2, Esito::Duplicato, CodiceEsito::Ok)
                ],
                "{what} stored={store_it}: {:?}",
                r.outcomes
            );
            assert_eq!(r.report.exit_code(), 0, "{what}");
            if store_it {
                assert_eq!(counts(&s).live, 1, "{what}");
            }
        }
    }
    // SINBA: the same record twice.
    let sinba = gen_flow(FlowType::Sinba, 5, 102, 0.0);
    let s0 = first_sinba(&sinba);
    let bytes = xml_of(
        FlowType::Sinba,
        &sinba.header,
        &[GenItem::Sinba(s0.clone()), GenItem::Sinba(s0)],
    );
    let mut s = store();
    let r = run(&bytes, &opts(), Some(&mut s), "SINBA twice");
    assert_eq!(r.outcomes[1].esito, Esito::Duplicato);
    assert_eq!(counts(&s).live, 1);
}

#[test]
fn sinba_with_the_same_key_supersedes() {
    let flow = gen_flow(FlowType::Sinba, 25, 111, 0.0);
    let ente = flow.ente();
    let mut s = imported(&flow);
    let before = counts(&s);
    let s0 = first_sinba(&flow);
    let s1 = with_valutazione(&s0);
    assert_ne!(s0, s1);
    let bytes = xml_of(
        FlowType::Sinba,
        &renamed(&flow.header, 2),
        &[GenItem::Sinba(s1.clone())],
    );
    let r = run(&bytes, &opts(), Some(&mut s), "superseding SINBA");
    assert_eq!(
        r.esiti(),
        vec![(1, Esito::Accettato, CodiceEsito::Ok)],
        "{:?}",
        r.outcomes
    );
    let after = counts(&s);
    assert_eq!(after.live, before.live, "live count unchanged");
    assert_eq!(after.cancellations, before.cancellations + 1);
    assert_eq!(
        s.live_count(&ente, FlowType::Sinba).expect("live_count"),
        before.live
    );
    let live = live_records(&s, &ente, FlowType::Sinba);
    let same: Vec<&Sinba> = live
        .iter()
        .map(sinba_of)
        .filter(|x| {
            x.id_beneficiario == s0.id_beneficiario
                && x.data_prima_segnalazione == s0.data_prima_segnalazione
        })
        .collect();
    assert_eq!(same.len(), 1, "one live version for the key");
    assert_eq!(*same[0], s1, "content replaced");
    // The new content again under another name: duplicate, nothing changes.
    let bytes = xml_of(
        FlowType::Sinba,
        &renamed(&flow.header, 3),
        &[GenItem::Sinba(s1)],
    );
    let r = run(&bytes, &opts(), Some(&mut s), "same SINBA again");
    assert_eq!(r.outcomes[0].esito, Esito::Duplicato);
    assert_eq!(counts(&s).live, before.live);
    assert_eq!(counts(&s).versions, before.versions + 1);
}

#[test]
fn caller_ente_different_from_the_flow_rejects_it_whole() {
    for (tipo, seed) in [(FlowType::PsPsaSina, 121), (FlowType::Sinba, 122)] {
        let flow = gen_flow(tipo, 30, seed, 0.0);
        let bytes = flow.xml();
        let ente = flow.ente();
        let mut o = opts();
        o.caller_ente = Some(if ente == "Z999" { "Z998" } else { "Z999" }.to_string());
        let mut s = store();
        for what in ["import", "dry run"] {
            let r = run(
                &bytes,
                &o,
                (what == "import").then_some(&mut s),
                &format!("{tipo:?} other ente {what}"),
            );
            assert!(r.report.rejected_whole, "{what}");
            assert!(!r.report.stored, "{what}");
            assert!(
                r.flow_rules().contains(&"REG_ENTE_NON_CORRISPONDENTE"),
                "{what}: {:?}",
                r.flow_rules()
            );
            assert_eq!(r.count(Esito::Scartato), 30, "{what}");
            assert_eq!(r.report.exit_code(), 1);
        }
        assert_eq!(counts(&s), Counts::default(), "{tipo:?}: nothing stored");
        assert!(
            s.ente(&ente).expect("ente").is_none(),
            "ente not registered"
        );
        // The right caller: accepted.
        o.caller_ente = Some(ente);
        let r = run(&bytes, &o, Some(&mut s), "right ente");
        assert_eq!(r.count(Esito::Accettato), 30);
        assert_eq!(counts(&s).live, 30);
    }
}

// ---------------------------------------------------------------------------
// 5. Property tests
// ---------------------------------------------------------------------------

fn tipo_of(sinba: bool) -> FlowType {
    if sinba {
        FlowType::Sinba
    } else {
        FlowType::PsPsaSina
    }
}

/// The read-back records are exactly the generated ones (schema-broken
/// records, which the typed model cannot carry unchanged, only have to be
/// flagged), with the same grouping.
fn check_read_back(flow: &Flow, rb: &ReadBack, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(rb.fatal.is_none(), "{}: fatal {:?}", what, rb.fatal);
    prop_assert!(
        rb.flow_violations.is_empty(),
        "{}: flow violations {:?}",
        what,
        rb.flow_violations
    );
    let h = rb
        .header
        .as_ref()
        .ok_or_else(|| TestCaseError::fail("no header"))?;
    prop_assert_eq!(h.tipo, flow.tipo);
    prop_assert_eq!(&h.identificazione, &flow.header);
    prop_assert!(
        h.violations.is_empty(),
        "{}: header {:?}",
        what,
        h.violations
    );
    let expected = flow.records();
    prop_assert_eq!(rb.records.len(), expected.len(), "{}: record count", what);
    for (i, (got, want)) in rb.records.iter().zip(&expected).enumerate() {
        prop_assert_eq!(got.pos, i as u64 + 1);
        match flow.errors[i] {
            Some(k) if k.is_schema() => prop_assert!(
                !got.violations.is_empty(),
                "{}: record {} ({:?}) not flagged",
                what,
                i + 1,
                k
            ),
            _ => {
                prop_assert!(
                    got.violations.is_empty(),
                    "{}: record {}: {:?}",
                    what,
                    i + 1,
                    got.violations
                );
                prop_assert_eq!(&got.record, want, "{}: record {}", what, i + 1);
            }
        }
    }
    prop_assert_eq!(
        read_group_sizes(&rb.records),
        flow.group_sizes(),
        "{}: grouping",
        what
    );
    Ok(())
}

fn prop_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(prop_config(32))]

    #[test]
    fn generated_flows_round_trip_through_xml_and_csv(
        seed in any::<u64>(),
        records in 1u64..150,
        sinba in any::<bool>(),
        error_rate in prop_oneof![Just(0.0), 0.0f64..0.3],
    ) {
        let tipo = tipo_of(sinba);
        let o = GenOptions { error_rate, ..GenOptions::new(tipo, records, seed) };
        let flow = generate(&o);
        prop_assert_eq!(flow.stats.records, records);
        let xml = flow.xml();
        // The pipelined generator writes the same bytes.
        let mut piped = Vec::new();
        let stats = casellario_gen::write_xml(&o, &mut piped).expect("write_xml");
        prop_assert_eq!(&stats, &flow.stats);
        prop_assert!(piped == xml, "write_xml differs from Generator + XmlFlowWriter");

        let rb = read_back(XmlFlowReader::new(&xml[..], ReadOptions::default()));
        check_read_back(&flow, &rb, "xml")?;
        let csv = flow.csv();
        let rb = read_back(CsvFlowReader::new(&csv[..], ReadOptions::default()));
        check_read_back(&flow, &rb, "csv")?;
    }

    #[test]
    fn codec_round_trips_every_generated_record(
        seed in any::<u64>(),
        records in 1u64..200,
        sinba in any::<bool>(),
        error_rate in 0.0f64..0.3,
    ) {
        let flow = gen_flow(tipo_of(sinba), records, seed, error_rate);
        for (r, err) in flow.records().iter().zip(&flow.errors) {
            let mut bytes = Vec::new();
            codec::encode(r, &mut bytes);
            match err {
                // A value outside its facets cannot come back through the
                // checked setters: decoding refuses it.
                Some(ErrorKind::DenominazioneCorta) => {
                    prop_assert!(codec::decode(&bytes).is_err());
                }
                _ => {
                    let back = codec::decode(&bytes);
                    prop_assert!(back.is_ok(), "decode: {:?}", back);
                    let back = back.expect("checked");
                    prop_assert_eq!(&back, r);
                    let mut again = Vec::new();
                    codec::encode(&back, &mut again);
                    prop_assert_eq!(again, bytes, "canonical encoding");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(prop_config(24))]

    #[test]
    fn export_then_import_gives_the_same_live_view(
        seed in any::<u64>(),
        records in 1u64..120,
        sinba in any::<bool>(),
        error_rate in 0.0f64..0.2,
    ) {
        let tipo = tipo_of(sinba);
        let flow = gen_flow(tipo, records, seed, error_rate);
        let ente = flow.ente();
        let mut a = store();
        let r = run(&flow.xml(), &opts(), Some(&mut a), "source import");
        prop_assert!(r.report.stored);
        let view = live_view(&a, &ente, tipo);
        prop_assert_eq!(view.len(), r.count(Esito::Accettato));

        let eo = |csv: bool| ExportOptions {
            ente: ente.clone(),
            tipo,
            csv,
            nome: None,
            cf_operatore: None,
            today: today(),
        };
        let mut xml = Vec::new();
        let n = export(&a, &eo(false), &mut xml).expect("export xml");
        prop_assert_eq!(n as usize, view.len());
        let mut csv = Vec::new();
        export(&a, &eo(true), &mut csv).expect("export csv");

        for (what, bytes) in [("xml", &xml), ("csv", &csv)] {
            let mut b = store();
            let r = run(bytes, &opts(), Some(&mut b), what);
            prop_assert_eq!(
                r.count(Esito::Accettato),
                view.len(),
                "{}: every exported record accepted: {:?}",
                what,
                r.outcomes.iter().find(|o| o.esito != Esito::Accettato)
            );
            prop_assert_eq!(&live_view(&b, &ente, tipo), &view, "{}: live view", what);
            // Nothing live: the export is a flow without records, which a
            // register refuses whole (FLUSSO_VUOTO), so the copy has no ente.
            if view.is_empty() {
                prop_assert!(r.report.rejected_whole, "{}: empty export", what);
                continue;
            }
            if what == "xml" {
                // Exporting the copy gives the same document.
                let mut again = Vec::new();
                export(&b, &eo(false), &mut again).expect("export again");
                prop_assert!(again == xml, "re-export differs");
            }
        }
    }
}

/// Sanity: the helpers' view of the error kinds matches the catalogue of
/// the pipeline (a rule the generator expects must exist in the receipts).
#[test]
fn every_error_kind_is_caught_by_its_rule() {
    let mut seen: BTreeMap<ErrorKind, bool> = BTreeMap::new();
    for (tipo, seed) in [(FlowType::PsPsaSina, 131), (FlowType::Sinba, 132)] {
        let flow = gen_flow(tipo, 600, seed, 0.5);
        let r = run(&flow.xml(), &opts(), None, "many errors");
        for (o, err) in r.outcomes.iter().zip(&flow.errors) {
            if let Some(k) = err {
                let ok = o.esito == Esito::Scartato
                    && k.rule().is_none_or(|rule| rules_of(o).contains(&rule));
                let e = seen.entry(*k).or_insert(true);
                *e = *e && ok;
            }
        }
    }
    for k in ErrorKind::ALL {
        assert_eq!(seen.get(k), Some(&true), "{k:?} injected and caught");
    }
}

// ---------------------------------------------------------------------------
// Small inputs on the caller's thread, and many flows in one transaction
// ---------------------------------------------------------------------------

fn strip_ids(mut outcomes: Vec<RecordOutcome>) -> Vec<RecordOutcome> {
    for o in &mut outcomes {
        o.ref_id = None;
    }
    outcomes
}

/// The inline path (a small input of known size) and the threaded path give
/// the same report and the same outcomes, stored or dry, XML or CSV.
#[test]
fn inline_path_equals_threaded_path() {
    for (i, tipo) in [FlowType::PsPsaSina, FlowType::Sinba]
        .into_iter()
        .enumerate()
    {
        let flow = gen_flow(tipo, 40, 700 + i as u64, 0.3);
        for bytes in [flow.xml(), flow.csv()] {
            let threaded = opts();
            let mut inline = opts();
            inline.size_hint = Some(bytes.len() as u64);
            for dry in [true, false] {
                let (mut a, mut b) = (store(), store());
                let ra = run(&bytes, &threaded, (!dry).then_some(&mut a), "threaded");
                let rb = run(&bytes, &inline, (!dry).then_some(&mut b), "inline");
                assert_eq!(ra.report.totals, rb.report.totals);
                assert_eq!(ra.report.codice_esito, rb.report.codice_esito);
                assert_eq!(ra.report.sha256, rb.report.sha256);
                assert_eq!(ra.report.stored, rb.report.stored);
                assert_eq!(strip_ids(ra.outcomes), strip_ids(rb.outcomes));
                assert_eq!(counts(&a), counts(&b));
            }
        }
    }
    // A wrong size hint (the input is bigger than announced) still reads it all.
    let flow = gen_flow(FlowType::PsPsaSina, 3000, 9, 0.0);
    let bytes = flow.xml();
    let mut o = opts();
    o.size_hint = Some(10);
    let r = run(&bytes, &o, None, "wrong hint");
    assert_eq!(r.report.totals.records, 3000);
    assert_eq!(r.report.totals.accettati, 3000);
}

/// Many one-record flows in one `Store::batch` (the machine channels' group
/// commit): each keeps its own outcome; a flow rejected whole inside the
/// batch stores nothing and does not disturb the others; a resubmission
/// inside the same batch is recognised.
#[test]
fn one_record_flows_in_one_batch() {
    let mut o = opts_with(Profile::Strict, Channel::Coop);
    let flows: Vec<Vec<u8>> = (0..20u64)
        .map(|i| {
            let records = if i == 7 { 2 } else { 1 };
            generate(&GenOptions {
                ente_codice: Some("H501".into()),
                nome: Some(format!("H501.PS.20260101.{i:07}")),
                ..GenOptions::new(FlowType::PsPsaSina, records, 900 + i)
            })
            .xml()
        })
        .collect();
    let mut s = store();
    let reports = s
        .batch(
            |s| -> Result<Vec<FlowReport>, casellario_store::StoreError> {
                let mut out = Vec::new();
                for f in flows.iter().chain(std::iter::once(&flows[3])) {
                    o.size_hint = Some(f.len() as u64);
                    out.push(ingest(&f[..], &o, Some(s), None).expect("ingest").report);
                }
                Ok(out)
            },
        )
        .expect("batch");
    for (i, r) in reports.iter().enumerate() {
        match i {
            7 => {
                assert!(r.rejected_whole, "two records on the coop channel");
                assert!(
                    r.flow_violations
                        .iter()
                        .any(|v| v.rule == "CANALE_UN_RECORD")
                );
            }
            20 => assert!(
                r.already_acquired,
                "resubmission of flow 3 in the same batch"
            ),
            _ => assert!(
                r.stored && r.totals.accettati == r.totals.records,
                "flow {i}: {r:?}"
            ),
        }
    }
    let c = counts(&s);
    assert_eq!(c.flows, 19);
    assert_eq!(
        c.versions,
        reports
            .iter()
            .take(20)
            .map(|r| if r.stored { r.totals.accettati } else { 0 })
            .sum::<u64>()
    );
}
