//! Hostile input: neither reader may panic or hang, whatever the bytes.
//! Every run is driven to the end of the stream on a worker thread with a
//! deadline; it must end with items or with a `ReadError`, and a `ReadError`
//! must end the stream.
//!
//! Inputs: arbitrary bytes; mutations (byte flips, insertions, deletions,
//! duplicated ranges, truncations) of the INPS samples, of the CSV fixtures
//! and of generated flows; and a catalogue of explicit nasties (deep
//! nesting, 100k attributes, a 5 MB text node, DOCTYPE with entity
//! expansion, mixed encodings, NUL bytes, a 2 MB quoted CSV field).

use casellario_domain::FlowType;
use casellario_formats::csv::CsvFlowReader;
use casellario_formats::{FlowItem, Limits, ReadError, ReadOptions, XmlFlowReader};
use casellario_gen::GenOptions;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

/// Deadline of one run (debug build, shared 2-core machine: generous).
const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xml,
    Csv,
}

/// How a run ended.
#[derive(Debug, Default, Clone)]
struct Ended {
    header: bool,
    records: usize,
    flow_violations: usize,
    /// The fatal error, when there was one.
    fatal: Option<String>,
    /// Rule code of the fatal error's violation.
    fatal_rule: Option<String>,
}

fn run_reader(kind: Kind, bytes: &[u8], opts: ReadOptions) -> Result<Ended, String> {
    let it: Box<dyn Iterator<Item = Result<FlowItem, ReadError>> + '_> = match kind {
        Kind::Xml => Box::new(XmlFlowReader::new(bytes, opts)),
        Kind::Csv => Box::new(CsvFlowReader::new(bytes, opts)),
    };
    let mut e = Ended::default();
    // Far more items than any input here could honestly produce.
    let cap = 64 * (bytes.len() + 64);
    let mut n = 0usize;
    let mut it = it;
    for item in it.by_ref() {
        n += 1;
        if n > cap {
            return Err(format!("more than {cap} items: the reader does not end"));
        }
        if e.fatal.is_some() {
            return Err(format!(
                "an item after the fatal error {:?}: {item:?}",
                e.fatal
            ));
        }
        match item {
            Ok(FlowItem::Header(_)) => {
                if e.header {
                    return Err("two headers".into());
                }
                e.header = true;
            }
            Ok(FlowItem::Record(_)) => {
                if !e.header {
                    return Err("a record before the header".into());
                }
                e.records += 1;
            }
            Ok(FlowItem::FlowViolation(_)) => e.flow_violations += 1,
            Err(err) => {
                let v = err.violation();
                e.fatal = Some(err.to_string());
                e.fatal_rule = Some(v.rule);
            }
        }
    }
    // A finished iterator stays finished.
    if it.next().is_some() {
        return Err("items after the end of the stream".into());
    }
    Ok(e)
}

/// Runs a reader to the end on a worker thread: `Err` on panic, on a
/// deadline overrun or on a broken stream contract.
fn drive_with(kind: Kind, bytes: Vec<u8>, opts: ReadOptions) -> Result<Ended, String> {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let r = run_reader(kind, &bytes, opts);
            let _ = tx.send(r);
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(DEADLINE) {
        Ok(r) => {
            let _ = worker.join();
            r
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(match worker.join() {
            Err(p) => format!(
                "{kind:?} reader panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            ),
            Ok(()) => "worker ended without an answer".into(),
        }),
        // The worker is left spinning; the test fails with the input.
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("{kind:?} reader did not finish in {DEADLINE:?}"))
        }
    }
}

fn drive(kind: Kind, bytes: Vec<u8>) -> Result<Ended, String> {
    drive_with(kind, bytes, ReadOptions::default())
}

fn show(bytes: &[u8]) -> String {
    let head: Vec<u8> = bytes.iter().copied().take(300).collect();
    format!(
        "{} bytes, starting {:?}",
        bytes.len(),
        String::from_utf8_lossy(&head)
    )
}

fn must_end(kind: Kind, bytes: Vec<u8>, what: &str) -> Ended {
    let shown = show(&bytes);
    match drive(kind, bytes) {
        Ok(e) => e,
        Err(msg) => panic!("{what}: {msg}\ninput: {shown}"),
    }
}

fn must_be_fatal(kind: Kind, bytes: Vec<u8>, what: &str) -> Ended {
    let e = must_end(kind, bytes, what);
    assert!(e.fatal.is_some(), "{what}: expected a ReadError, got {e:?}");
    e
}

// ---------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files_in(dir: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(root().join(dir))
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).expect("read fixture");
            (p, b)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, b)| b).collect()
}

/// Seeds for XML mutations: the three INPS samples and a small generated flow of each type.
fn xml_corpus() -> &'static [Vec<u8>] {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        let mut v = files_in("tests/fixtures/inps");
        assert_eq!(v.len(), 3, "the INPS samples");
        for (tipo, seed) in [(FlowType::PsPsaSina, 1), (FlowType::Sinba, 2)] {
            let mut out = Vec::new();
            casellario_gen::write_xml(
                &GenOptions {
                    error_rate: 0.2,
                    ..GenOptions::new(tipo, 12, seed)
                },
                &mut out,
            )
            .expect("generate");
            v.push(out);
        }
        v
    })
}

/// CSV written by the project's writer from generated flows, plus the CSV fixtures.
fn generated_csv(tipo: FlowType, records: u64, seed: u64) -> Vec<u8> {
    let o = GenOptions {
        error_rate: 0.2,
        ..GenOptions::new(tipo, records, seed)
    };
    let g = casellario_gen::Generator::new(&o);
    let mut w = casellario_formats::csv::CsvFlowWriter::new(Vec::new(), tipo, &g.header())
        .expect("csv writer");
    for item in g {
        match item {
            casellario_gen::GenItem::Beneficiario {
                beneficiario,
                prestazioni,
            } => {
                let refs: Vec<_> = prestazioni.iter().collect();
                w.write_beneficiario(&beneficiario, &refs).expect("write");
            }
            casellario_gen::GenItem::Sinba(s) => w.write_sinba(&s).expect("write"),
        }
    }
    w.finish().expect("finish")
}

fn csv_corpus() -> &'static [Vec<u8>] {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        let mut v = vec![
            generated_csv(FlowType::PsPsaSina, 12, 3),
            generated_csv(FlowType::Sinba, 12, 4),
        ];
        v.extend(files_in("tests/fixtures/csv"));
        v
    })
}

#[test]
fn the_corpus_reads_cleanly() {
    for (i, b) in xml_corpus().iter().enumerate() {
        let e = must_end(Kind::Xml, b.clone(), &format!("xml corpus {i}"));
        assert!(e.fatal.is_none() && e.records > 0, "xml corpus {i}: {e:?}");
    }
    for (i, b) in csv_corpus().iter().enumerate() {
        let e = must_end(Kind::Csv, b.clone(), &format!("csv corpus {i}"));
        assert!(e.fatal.is_none() && e.records > 0, "csv corpus {i}: {e:?}");
    }
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at a position (fraction of the length) with a mask.
    Flip(f64, u8),
    /// Insert bytes at a position.
    Insert(f64, Vec<u8>),
    /// Remove a range.
    Delete(f64, usize),
    /// Repeat a range in place (nested duplicates of markup).
    Duplicate(f64, usize, usize),
    /// Cut the input at a position.
    Truncate(f64),
}

fn at(len: usize, f: f64) -> usize {
    ((len as f64 * f) as usize).min(len)
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = b.len();
        match m {
            Mutation::Flip(f, mask) => {
                if len > 0 {
                    let i = at(len - 1, *f);
                    b[i] ^= mask;
                }
            }
            Mutation::Insert(f, bytes) => {
                let i = at(len, *f);
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(f, n) => {
                let i = at(len, *f);
                let j = (i + n).min(len);
                b.drain(i..j);
            }
            Mutation::Duplicate(f, n, times) => {
                let i = at(len, *f);
                let j = (i + n).min(len);
                let chunk = b[i..j].to_vec();
                for _ in 0..*times {
                    b.splice(j..j, chunk.iter().copied());
                }
            }
            Mutation::Truncate(f) => b.truncate(at(len, *f)),
        }
    }
    b
}

/// Bytes that matter to the two grammars.
fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            b"<".to_vec(),
            b">".to_vec(),
            b"\"".to_vec(),
            b"'".to_vec(),
            b"&".to_vec(),
            b"&amp;".to_vec(),
            b"&#0;".to_vec(),
            b"&#x110000;".to_vec(),
            b"&lt".to_vec(),
            b"/>".to_vec(),
            b"</".to_vec(),
            b"<!--".to_vec(),
            b"-->".to_vec(),
            b"<![CDATA[".to_vec(),
            b"]]>".to_vec(),
            b"<?".to_vec(),
            b"?>".to_vec(),
            b"<!DOCTYPE x [<!ENTITY a \"b\">]>".to_vec(),
            b"xmlns=\"urn:x\"".to_vec(),
            b"xmlns:p=\"http://inps.it/Casellario\"".to_vec(),
            b"p:".to_vec(),
            b"\0".to_vec(),
            b"\xEF\xBB\xBF".to_vec(),
            b"\xFF\xFE".to_vec(),
            b"\xC3".to_vec(),
            b"\xE8".to_vec(),
            b"\r".to_vec(),
            b"\r\n".to_vec(),
            b";".to_vec(),
            b";;;;;;;;".to_vec(),
            b",".to_vec(),
            b"\t".to_vec(),
            b"\"\"".to_vec(),
            b"\n".to_vec(),
            b"<Beneficiario>".to_vec(),
            b"<PrestazioniSociali/>".to_vec(),
            b"<SINBA>".to_vec(),
            b"</Flusso>".to_vec(),
            b"<IdentificazioneFlusso>".to_vec(),
        ]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = 0.0f64..1.0;
    prop_oneof![
        4 => (pos.clone(), 1u8..=255).prop_map(|(p, m)| Mutation::Flip(p, m)),
        3 => (pos.clone(), interesting_bytes()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        2 => (pos.clone(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => (pos.clone(), 1usize..200, 1usize..20).prop_map(|(p, n, t)| Mutation::Duplicate(p, n, t)),
        1 => pos.prop_map(Mutation::Truncate),
    ]
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

fn check(kind: Kind, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let shown = show(&bytes);
    match drive(kind, bytes) {
        Ok(_) => Ok(()),
        Err(msg) => Err(TestCaseError::fail(format!("{msg}\ninput: {shown}"))),
    }
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_hang(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        check(Kind::Xml, bytes.clone())?;
        check(Kind::Csv, bytes)?;
    }

    #[test]
    fn arbitrary_tails_after_a_valid_head_never_panic_nor_hang(
        which in 0usize..5,
        cut in 0.0f64..1.0,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        // A real document up to a point, then noise: reaches the deep states.
        let src = &xml_corpus()[which];
        let mut b = src[..at(src.len(), cut)].to_vec();
        b.extend_from_slice(&tail);
        check(Kind::Xml, b)?;
        let src = &csv_corpus()[which % csv_corpus().len()];
        let mut b = src[..at(src.len(), cut)].to_vec();
        b.extend_from_slice(&tail);
        check(Kind::Csv, b)?;
    }

    #[test]
    fn mutated_xml_never_panics_nor_hangs(
        which in 0usize..5,
        muts in proptest::collection::vec(mutation(), 1..8),
    ) {
        let b = apply(xml_corpus()[which].clone(), &muts);
        check(Kind::Xml, b.clone())?;
        // And through the other reader, which must refuse it gracefully.
        check(Kind::Csv, b)?;
    }

    #[test]
    fn mutated_csv_never_panics_nor_hangs(
        which in 0usize..6,
        muts in proptest::collection::vec(mutation(), 1..8),
    ) {
        let c = csv_corpus();
        let b = apply(c[which % c.len()].clone(), &muts);
        check(Kind::Csv, b.clone())?;
        check(Kind::Xml, b)?;
    }

    #[test]
    fn tight_limits_never_panic_nor_hang(
        which in 0usize..5,
        muts in proptest::collection::vec(mutation(), 0..4),
        markup in 1usize..512,
        depth in 0usize..8,
        buffered in 0usize..4,
    ) {
        // Tiny limits make every guard fire somewhere.
        let opts = ReadOptions {
            expected: None,
            limits: Limits { max_markup_bytes: markup, max_depth: depth, max_buffered_records: buffered },
        };
        let xml = apply(xml_corpus()[which].clone(), &muts);
        let shown = show(&xml);
        if let Err(m) = drive_with(Kind::Xml, xml, opts) {
            return Err(TestCaseError::fail(format!("{m}\ninput: {shown}")));
        }
        let c = csv_corpus();
        let csv = apply(c[which % c.len()].clone(), &muts);
        let shown = show(&csv);
        if let Err(m) = drive_with(Kind::Csv, csv, opts) {
            return Err(TestCaseError::fail(format!("{m}\ninput: {shown}")));
        }
    }
}

// ---------------------------------------------------------------------------
// Explicit nasties
// ---------------------------------------------------------------------------

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Flusso xmlns=\"http://inps.it/Casellario\">\n<IdentificazioneFlusso Nome=\"H501.SINBA.20210520.00000004\">\n<Ente Codice=\"H501\" Indirizzo=\"H501\" CFOperatore=\"CCCDDD25A42H199X\"/>\n</IdentificazioneFlusso>\n";

fn sinba_sample() -> Vec<u8> {
    xml_corpus()
        .iter()
        .find(|b| String::from_utf8_lossy(b).contains("<SINBA"))
        .expect("a SINBA sample")
        .clone()
}

#[test]
fn deeply_nested_elements() {
    for depth in [70usize, 10_000, 200_000] {
        let mut s = String::from(HEAD);
        for _ in 0..depth {
            s.push_str("<SINBA>");
        }
        for _ in 0..depth {
            s.push_str("</SINBA>");
        }
        s.push_str("</Flusso>");
        let e = must_be_fatal(Kind::Xml, s.into_bytes(), &format!("depth {depth}"));
        assert!(e.records <= 1, "depth {depth}: {e:?}");
    }
    // Unclosed nesting with no end tags at all, and nesting of unknown elements.
    let mut s = String::from(HEAD);
    s.push_str(&"<a>".repeat(100_000));
    must_be_fatal(Kind::Xml, s.into_bytes(), "100k unclosed");
    let mut s = String::from(HEAD);
    s.push_str(&"<x:a xmlns:x=\"urn:x\">".repeat(5_000));
    must_end(Kind::Xml, s.into_bytes(), "namespaced nesting");
    // Nesting allowed by raised limits must still finish.
    let mut s = String::from(HEAD);
    s.push_str(&"<a>".repeat(50_000));
    s.push_str(&"</a>".repeat(50_000));
    s.push_str("</Flusso>");
    let opts = ReadOptions {
        expected: None,
        limits: Limits {
            max_depth: 1_000_000,
            ..Limits::default()
        },
    };
    if let Err(m) = drive_with(Kind::Xml, s.into_bytes(), opts) {
        panic!("deep nesting with raised limits: {m}");
    }
}

fn many_attributes(n: usize, element: &str) -> Vec<u8> {
    let mut s = String::from(HEAD);
    s.push('<');
    s.push_str(element);
    for i in 0..n {
        s.push_str(&format!(" a{i}=\"{i}\""));
    }
    s.push_str("/>\n</Flusso>");
    s.into_bytes()
}

/// 100,000 distinct attributes with names of at most 3 letters: about
/// 700 KB, within the default 1 MiB markup limit.
fn short_attributes(n: usize, element: &str) -> Vec<u8> {
    const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = String::from(HEAD);
    s.push('<');
    s.push_str(element);
    for i in 0..n {
        let name = [L[i % 52], L[(i / 52) % 52], L[(i / 2704) % 52]];
        s.push(' ');
        s.push_str(std::str::from_utf8(&name).expect("ascii"));
        s.push_str("=\"\"");
    }
    s.push_str("/>\n</Flusso>");
    s.into_bytes()
}

#[test]
fn a_hundred_thousand_attributes() {
    // Over the markup limit (1 MiB) for the default limits.
    must_be_fatal(
        Kind::Xml,
        many_attributes(100_000, "SINBA"),
        "100k attributes",
    );
    // Within the default limits: must end (linear duplicate detection).
    for element in ["SINBA", "Zzz", "IdentificazioneFlusso"] {
        let doc = short_attributes(100_000, element);
        assert!(doc.len() < 1 << 20);
        must_end(
            Kind::Xml,
            doc,
            &format!("100k short attributes on <{element}>"),
        );
    }
    // Under raised limits the reader must still be linear: 100k distinct
    // attributes, and 100k copies of the same one (duplicate detection).
    let raised = ReadOptions {
        expected: None,
        limits: Limits {
            max_markup_bytes: 64 << 20,
            ..Limits::default()
        },
    };
    for (what, doc) in [
        ("distinct", many_attributes(100_000, "SINBA")),
        ("distinct, unknown element", many_attributes(100_000, "Zzz")),
        ("distinct, prefixed", {
            let mut s = String::from(HEAD);
            s.push_str("<SINBA");
            for i in 0..100_000 {
                s.push_str(&format!(" xmlns:p{i}=\"urn:{i}\" p{i}:a=\"1\""));
            }
            s.push_str("/>\n</Flusso>");
            s.into_bytes()
        }),
        ("duplicated", {
            let mut s = String::from(HEAD);
            s.push_str("<SINBA");
            s.push_str(&" IDBeneficiario=\"X\"".repeat(100_000));
            s.push_str("/>\n</Flusso>");
            s.into_bytes()
        }),
    ] {
        let shown = show(&doc);
        match drive_with(Kind::Xml, doc, raised) {
            Ok(e) => assert!(
                e.fatal.is_some() || e.records > 0 || e.flow_violations > 0,
                "{what}: {e:?}"
            ),
            Err(m) => panic!("100k attributes ({what}), raised limits: {m}\ninput: {shown}"),
        }
    }
    // A CSV row with 100k columns.
    let mut csv = "NomeFlusso;".repeat(100_000).into_bytes();
    csv.extend_from_slice(b"\r\n");
    csv.extend_from_slice(&"x;".repeat(100_000).into_bytes());
    must_be_fatal(Kind::Csv, csv, "100k CSV columns");
}

#[test]
fn a_five_megabyte_text_node() {
    let big = "A".repeat(5 << 20);
    let docs = [
        (
            "in CodicePrestazione",
            format!(
                "{HEAD}<SINBA IDBeneficiario=\"X\"><Prestazioni><CodicePrestazione>{big}</CodicePrestazione></Prestazioni></SINBA></Flusso>"
            ),
        ),
        ("under Flusso", format!("{HEAD}{big}</Flusso>")),
        ("in a comment", format!("{HEAD}<!--{big}--></Flusso>")),
        (
            "in CDATA",
            format!("{HEAD}<SINBA><![CDATA[{big}]]></SINBA></Flusso>"),
        ),
        (
            "in an attribute",
            format!("{HEAD}<SINBA IDBeneficiario=\"{big}\"/></Flusso>"),
        ),
        (
            "whitespace",
            format!("{HEAD}{}</Flusso>", " ".repeat(5 << 20)),
        ),
    ];
    for (what, doc) in docs {
        let e = must_end(Kind::Xml, doc.into_bytes(), what);
        if what != "whitespace" {
            assert!(e.fatal.is_some(), "{what}: expected a ReadError, got {e:?}");
        }
    }
    // Many text nodes each under the limit, adding up past it.
    let chunk = "B".repeat(600 << 10);
    let doc = format!(
        "{HEAD}<SINBA IDBeneficiario=\"X\"><Prestazioni><CodicePrestazione>{chunk}<!---->{chunk}<!---->{chunk}</CodicePrestazione></Prestazioni></SINBA></Flusso>"
    );
    must_be_fatal(Kind::Xml, doc.into_bytes(), "text split by comments");
    // Entity references adding up past the limit.
    let doc = format!(
        "{HEAD}<SINBA IDBeneficiario=\"X\"><Prestazioni><CodicePrestazione>{}</CodicePrestazione></Prestazioni></SINBA></Flusso>",
        "&amp;".repeat(1 << 20)
    );
    must_end(Kind::Xml, doc.into_bytes(), "a million entity references");
}

#[test]
fn doctype_and_entity_expansion() {
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE Flusso [\n <!ENTITY lol \"lol\">\n <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n]>\n<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"&lol9;\"><Ente Codice=\"&lol9;\" Indirizzo=\"H501\" CFOperatore=\"CCCDDD25A42H199X\"/></IdentificazioneFlusso></Flusso>";
    let e = must_be_fatal(Kind::Xml, laughs.as_bytes().to_vec(), "billion laughs");
    assert_eq!(e.records, 0);
    let external = "<?xml version=\"1.0\"?>\n<!DOCTYPE Flusso [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"&xxe;\"/></Flusso>";
    must_be_fatal(Kind::Xml, external.as_bytes().to_vec(), "external entity");
    let parameter =
        "<!DOCTYPE Flusso [<!ENTITY % p SYSTEM \"http://127.0.0.1/x.dtd\"> %p;]><Flusso/>";
    must_be_fatal(Kind::Xml, parameter.as_bytes().to_vec(), "parameter entity");
    // A DOCTYPE after the root starts, an undefined entity, and an unterminated DOCTYPE.
    let mid = format!("{HEAD}<!DOCTYPE x><SINBA/></Flusso>");
    must_be_fatal(Kind::Xml, mid.into_bytes(), "doctype inside the root");
    let undefined = format!("{HEAD}<SINBA IDBeneficiario=\"&lol;\"/></Flusso>");
    must_end(Kind::Xml, undefined.into_bytes(), "undefined entity");
    let mut open = b"<!DOCTYPE Flusso [".to_vec();
    open.extend(std::iter::repeat_n(b'<', 3 << 20));
    must_be_fatal(Kind::Xml, open, "endless doctype");
    // The same inside a sample, right after the declaration.
    let s = String::from_utf8(sinba_sample()).expect("utf-8 sample");
    let with = match s.find("?>") {
        Some(i) => format!(
            "{}<!DOCTYPE Flusso [<!ENTITY e \"x\">]>{}",
            &s[..i + 2],
            &s[i + 2..]
        ),
        None => format!("<!DOCTYPE Flusso [<!ENTITY e \"x\">]>{s}"),
    };
    must_be_fatal(Kind::Xml, with.into_bytes(), "sample with a DOCTYPE");
}

#[test]
fn mixed_and_wrong_encodings() {
    let sample = sinba_sample();
    let body = String::from_utf8(sample.clone()).expect("utf-8 sample");
    let body_no_decl = match body.find("?>") {
        Some(i) => body[i + 2..].to_string(),
        None => body.clone(),
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Declared Latin-1 / Windows-1252 with UTF-8 bytes, and the reverse.
    for enc in [
        "ISO-8859-1",
        "windows-1252",
        "UTF-16",
        "US-ASCII",
        "EBCDIC",
        "",
    ] {
        let mut b = format!("<?xml version=\"1.0\" encoding=\"{enc}\"?>").into_bytes();
        b.extend_from_slice(body_no_decl.replace("H501", "H5è1").as_bytes());
        cases.push(("declared vs utf-8 bytes", b));
    }
    let mut latin1 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_vec();
    latin1.extend(
        body_no_decl
            .replace("H501", "H5\u{e8}1")
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
    );
    cases.push(("UTF-8 declared, Latin-1 bytes", latin1));
    // UTF-16 BOMs in front of UTF-8 bytes; real UTF-16 with and without BOM.
    for bom in [&b"\xFF\xFE"[..], b"\xFE\xFF", b"\xEF\xBB\xBF\xFF\xFE"] {
        let mut b = bom.to_vec();
        b.extend_from_slice(&sample);
        cases.push(("UTF-16 BOM, UTF-8 bytes", b));
    }
    let utf16le: Vec<u8> = body_no_decl
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut with_bom = b"\xFF\xFE".to_vec();
    with_bom.extend_from_slice(&utf16le);
    cases.push(("UTF-16LE with BOM", with_bom.clone()));
    cases.push(("UTF-16LE without BOM", utf16le.clone()));
    // Odd byte count: a UTF-16 document cut in the middle of a code unit.
    let mut odd = with_bom;
    odd.pop();
    cases.push(("UTF-16LE odd length", odd));
    // Lone surrogates in UTF-16, and in UTF-8 (CESU).
    let mut lone = b"\xFF\xFE".to_vec();
    lone.extend_from_slice(&utf16le[..utf16le.len() / 2]);
    lone.extend_from_slice(&[0x00, 0xD8, 0x41, 0x00]);
    cases.push(("UTF-16 lone surrogate", lone));
    cases.push((
        "UTF-8 surrogate",
        format!("{HEAD}<SINBA IDBeneficiario=\"")
            .into_bytes()
            .into_iter()
            .chain(*b"\xED\xA0\x80\"/></Flusso>")
            .collect(),
    ));
    // Overlong encodings, and a truncated multi-byte sequence at the end.
    cases.push((
        "overlong",
        [
            format!("{HEAD}<SINBA IDBeneficiario=\"").as_bytes(),
            b"\xC0\xBC\xE0\x80\xBC\"/></Flusso>",
        ]
        .concat(),
    ));
    let mut cut = sample.clone();
    cut.extend_from_slice(b"\xE2\x82");
    cases.push(("truncated sequence", cut));
    for (what, b) in cases {
        must_end(Kind::Xml, b.clone(), what);
        must_end(Kind::Csv, b, what);
    }
    // CSV: UTF-8, Windows-1252 and garbage rows mixed in one file.
    let csv = csv_corpus()[0].clone();
    let text = String::from_utf8_lossy(&csv).into_owned();
    let mut lines: Vec<Vec<u8>> = text.split("\r\n").map(|l| l.as_bytes().to_vec()).collect();
    for (i, l) in lines.iter_mut().enumerate().skip(1) {
        match i % 4 {
            1 => l.extend_from_slice(b"\xE8\x80\x9D"),
            2 => *l = [&b"\xFF\xFE"[..], l].concat(),
            3 => l.extend_from_slice(b"\x81\x8D\x8F\x90\x9D"),
            _ => {}
        }
    }
    let mixed = lines.join(&b"\r\n"[..]);
    let e = must_end(Kind::Csv, mixed, "mixed encodings CSV");
    assert!(e.fatal.is_some() || e.records > 0, "{e:?}");
}

#[test]
fn nul_bytes() {
    let sample = sinba_sample();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("only NULs".into(), vec![0u8; 4096]),
        ("NUL first".into(), [&[0u8][..], &sample].concat()),
    ];
    for needle in [
        &b"IDBeneficiario=\""[..],
        b"<SINBA",
        b"</Flusso",
        b"Nome=\"",
    ] {
        if let Some(i) = sample.windows(needle.len()).position(|w| w == needle) {
            let mut b = sample.clone();
            b.insert(i + needle.len(), 0);
            cases.push((format!("NUL after {}", String::from_utf8_lossy(needle)), b));
        }
    }
    cases.push((
        "&#0;".into(),
        format!("{HEAD}<SINBA IDBeneficiario=\"&#0;\"/></Flusso>").into_bytes(),
    ));
    for (what, b) in cases {
        must_end(Kind::Xml, b.clone(), &what);
        must_end(Kind::Csv, b, &what);
    }
    let csv = csv_corpus()[0].clone();
    for step in [7usize, 101, 997] {
        let mut b = csv.clone();
        let mut i = step;
        while i < b.len() {
            b.insert(i, 0);
            i += step;
        }
        must_end(Kind::Csv, b, &format!("CSV with NUL every {step} bytes"));
    }
}

#[test]
fn a_two_megabyte_quoted_csv_field() {
    let csv = csv_corpus()[0].clone();
    let text = String::from_utf8(csv).expect("utf-8 csv");
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let big = format!("\"{}\"", "x;\"\"\r\n".repeat((2 << 20) / 6));
    // Replace the first cell of the first data row with the huge quoted field.
    let row = lines[1].clone();
    let rest = row.split_once(';').map(|(_, r)| r).unwrap_or("");
    lines[1] = format!("{big};{rest}");
    let doc = lines.join("\r\n");
    must_end(Kind::Csv, doc.into_bytes(), "2 MB quoted field");
    // Unterminated: the quote never closes.
    let open = format!("{}\r\n\"{}", lines[0], "y".repeat(2 << 20));
    must_be_fatal(Kind::Csv, open.into_bytes(), "2 MB unterminated quote");
    // Huge unquoted field, and a huge header cell.
    let plain = format!("{}\r\n{}", lines[0], "z".repeat(2 << 20));
    must_end(Kind::Csv, plain.into_bytes(), "2 MB plain field");
    let header = format!("{}\r\n{}", "h".repeat(2 << 20), lines[1]);
    must_be_fatal(Kind::Csv, header.into_bytes(), "2 MB header cell");
    // A 2 MB row of separators and a 2 MB run of blank lines.
    let seps = format!("{}\r\n{}", lines[0], ";".repeat(2 << 20));
    must_end(Kind::Csv, seps.into_bytes(), "2 MB of separators");
    let blanks = format!("{}\r\n{}{}", lines[0], "\r\n".repeat(1 << 20), lines[1]);
    let e = must_end(Kind::Csv, blanks.into_bytes(), "a million blank lines");
    assert!(e.fatal.is_some() || e.records == 1, "{e:?}");
}

/// A delimiter or quote dropped inside a multi-byte character: the row minus
/// its delimiters can still be valid UTF-8 while a cell boundary splits a
/// character (found by `mutated_csv_never_panics_nor_hangs` in CI).
#[test]
fn delimiter_inside_a_multibyte_character() {
    let mut src = b"\xEF\xBB\xBF".to_vec();
    src.extend_from_slice(&csv_corpus()[0]);
    for at in 1..3 {
        for inserted in [b';', b'"', b'\n'] {
            let mut b = src.clone();
            b.insert(at, inserted);
            must_end(Kind::Csv, b, "delimiter inside the BOM");
        }
    }
    // The same inside a character of a value: "è" is C3 A8.
    let text = String::from_utf8(csv_corpus()[0].clone()).expect("utf-8 corpus");
    let with_e = text.replacen(";", ";\u{e8}\u{e8};", 3).into_bytes();
    for (i, w) in with_e.windows(2).enumerate() {
        if w == b"\xC3\xA8" {
            let mut b = with_e.clone();
            b.insert(i + 1, b';');
            must_end(Kind::Csv, b, "delimiter inside a character");
        }
    }
}
