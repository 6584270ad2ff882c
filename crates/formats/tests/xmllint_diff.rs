//! Differential test of the XML reader against `xmllint --schema` (libxml2):
//! deterministic mutants of valid seed documents must get the same verdict
//! (valid / invalid) from both.

use casellario_domain::model::{
    Anagrafica, AttrDecl, Beneficiario, Ente, IdentificazioneFlusso, Indirizzo, PrestazioniSociali,
    Sina, Sinba, XsdElement,
};
use casellario_domain::xsd::SimpleType;
use casellario_domain::{Category, FlowType};
use casellario_formats::{FlowItem, ReadOptions, XmlFlowReader};
use quick_xml::events::Event;
use std::path::{Path, PathBuf};
use std::process::Command;

const MUTANTS_PER_SEED: usize = 150;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- a minimal DOM that keeps the source spelling ---------------------------

#[derive(Clone, Debug)]
enum Node {
    El(El),
    /// Text, reference, comment, PI or CDATA exactly as written.
    Raw(String),
}

#[derive(Clone, Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    kids: Vec<Node>,
}

struct Doc {
    prolog: String,
    root: El,
}

fn parse(src: &str) -> Doc {
    let mut r = quick_xml::Reader::from_str(src);
    let mut stack: Vec<El> = Vec::new();
    let mut prolog = String::new();
    let mut root = None;
    let el_of = |e: &quick_xml::events::BytesStart| El {
        name: e.name().0.to_string(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("seed attribute");
                (a.key.0.to_string(), a.value.to_string())
            })
            .collect(),
        kids: Vec::new(),
    };
    loop {
        let ev = r.read_event().expect("seed is well-formed");
        let raw = match &ev {
            Event::Start(e) => {
                stack.push(el_of(e));
                continue;
            }
            Event::Empty(e) => {
                let el = el_of(e);
                match stack.last_mut() {
                    Some(p) => p.kids.push(Node::El(el)),
                    None => root = Some(el),
                }
                continue;
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced");
                match stack.last_mut() {
                    Some(p) => p.kids.push(Node::El(el)),
                    None => root = Some(el),
                }
                continue;
            }
            Event::Eof => break,
            Event::Text(t) => t.to_string(),
            Event::GeneralRef(g) => format!("&{};", &**g),
            Event::CData(c) => format!("<![CDATA[{}]]>", &**c),
            Event::Comment(c) => format!("<!--{}-->", &**c),
            Event::PI(p) => format!("<?{}?>", &**p),
            Event::Decl(d) => format!("<?{}?>", &**d),
            Event::DocType(_) => unreachable!(),
        };
        match stack.last_mut() {
            Some(p) => p.kids.push(Node::Raw(raw)),
            None if root.is_none() => prolog.push_str(&raw),
            None => {}
        }
    }
    Doc {
        prolog,
        root: root.expect("root"),
    }
}

fn ser_el(e: &El, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    for (k, v) in &e.attrs {
        out.push_str(&format!(" {k}=\"{v}\""));
    }
    if e.kids.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for k in &e.kids {
        match k {
            Node::El(c) => ser_el(c, out),
            Node::Raw(s) => out.push_str(s),
        }
    }
    out.push_str(&format!("</{}>", e.name));
}

fn serialize(d: &Doc) -> String {
    let mut s = d.prolog.clone();
    ser_el(&d.root, &mut s);
    s.push('\n');
    s
}

// ---- deterministic randomness ---------------------------------------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

// ---- mutation operators ----------------------------------------------------

fn paths(e: &El, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(cur.clone());
    for (i, k) in e.kids.iter().enumerate() {
        if let Node::El(c) = k {
            cur.push(i);
            paths(c, cur, out);
            cur.pop();
        }
    }
}

fn at<'a>(e: &'a mut El, p: &[usize]) -> &'a mut El {
    match p.split_first() {
        None => e,
        Some((&i, rest)) => match &mut e.kids[i] {
            Node::El(c) => at(c, rest),
            Node::Raw(_) => unreachable!(),
        },
    }
}

fn local(n: &str) -> &str {
    n.rsplit(':').next().unwrap_or(n)
}

fn prefix_of(n: &str) -> &str {
    match n.split_once(':') {
        Some((p, _)) => p,
        None => "",
    }
}

fn with_prefix(model: &str, name: &str) -> String {
    let p = prefix_of(model);
    if p.is_empty() {
        name.to_string()
    } else {
        format!("{p}:{name}")
    }
}

fn decls(local: &str) -> &'static [AttrDecl] {
    match local {
        "IdentificazioneFlusso" => IdentificazioneFlusso::ATTRS,
        "Ente" => Ente::ATTRS,
        "Beneficiario" => Beneficiario::ATTRS,
        "Anagrafica" => Anagrafica::ATTRS,
        "Indirizzo" => Indirizzo::ATTRS,
        "PrestazioniSociali" => PrestazioniSociali::ATTRS,
        "SINA" => Sina::ATTRS,
        "SINBA" => Sinba::ATTRS,
        _ => &[],
    }
}

const NAMES: &[&str] = &[
    "Flusso",
    "IdentificazioneFlusso",
    "Ente",
    "Beneficiario",
    "Anagrafica",
    "Indirizzo",
    "PrestazioniSociali",
    "SINA",
    "NecessitaInterventiSociali",
    "CodicePrestazione",
    "InvaliditaCivile",
    "InvCiv",
    "SINBA",
    "Prestazioni",
    "Famiglia",
    "ComposizioneFamiglia",
    "Foo",
    "beneficiario",
];

const GENERIC_VALUES: &[&str] = &[
    "",
    " ",
    "X",
    "1",
    "0",
    "9",
    "13",
    "-1",
    "+1",
    "01",
    " 1",
    "1 ",
    "I",
    "C",
    "AB",
    "ABCD",
    "H501",
    "H50",
    "H5011",
    "12",
    "123",
    "1234",
    "123456",
    "1234567",
    "12a",
    "０１",
    "٠١٢",
    "&#10;1",
    "1&#9;",
    "&amp;",
    "&lt;&gt;",
    "&#x31;",
    "2147483647",
    "2147483648",
    "-2147483649",
    "01/2010",
    "13/2010",
    "1/2010",
    "02/2100",
    "12/1899",
    "A1.01",
    "ABCDEFGHIJK",
    "2020-01-01",
    "2023-02-29",
    "2024-02-29",
    "0000-01-01",
    "2020-01-01+14:01",
    "2020-01-01-14:00",
    "2020-01-01Z",
    "2020-1-01",
    " 2020-01-01",
    "2020-01-01T00:00:00",
    "10000-01-01",
    "1,5",
    "1e3",
    "1.5E2",
    ".",
    "-.5",
    "1234567890123456789012345",
    "123456789012345678901234",
    "0.000000000000000000000001",
    "1.000000000000000000000000",
    " 1.5 ",
    "&#9;2.5&#10;",
    "RSSMRA80A01H501U",
    "rssmra80a01h501u",
    "RSSMRA80A01H501",
    "RSSMRA٨٠A01H501U",
    "RSSMRA8OA01H501U",
    "12345678901",
    "12345678901     ",
    "12345678901      ",
    " 12345678901",
    "1234567890",
];

fn type_values(t: SimpleType, orig: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    match t {
        SimpleType::Str { min, max } => {
            v.push("A".repeat(max + 1));
            v.push("A".repeat(max));
            if min > 0 {
                v.push("A".repeat(min - 1));
                v.push("é".repeat(min));
            }
            v.push("😀".repeat(max.min(20)));
        }
        SimpleType::Enum(tab) => {
            v.extend(tab.entries.iter().map(|(c, _)| c.to_string()));
            v.push("99".into());
            v.push(format!("{} ", tab.entries[0].0));
        }
        SimpleType::Int { .. } => {
            v.extend(["00012", "+5", "5.0", "4294967296", "-0"].map(String::from))
        }
        SimpleType::Decimal => {
            v.extend(["-0.00", "+", "1.", "1..2", "0x10", "１"].map(String::from))
        }
        _ => {}
    }
    v.push(format!(" {orig}"));
    v.push(format!("{orig} "));
    v.push(format!("{orig}0"));
    if !orig.is_empty() {
        let mut shorter = orig.to_string();
        shorter.pop();
        v.push(shorter);
        v.push(orig.replacen(|c: char| c.is_ascii_digit(), "O", 1));
        v.push(orig.to_lowercase());
    }
    v
}

const TEXT_VALUES: &[&str] = &[
    "",
    " ",
    "1",
    " 1",
    "1 ",
    "0",
    "9",
    "10",
    "A1.01",
    "A1.0",
    "A1.01.01.01",
    "A1.01.01.0X",
    "  A1.01",
    "<![CDATA[2]]>",
    "<![CDATA[]]>",
    "&#49;",
    "1<!-- c -->",
    "<?p x?>3",
    "1<x/>",
    "é1.01",
    "A1.01&amp;",
    "A1&#10;01",
];

fn mutate(doc: &mut Doc, rng: &mut Rng, op: usize) -> String {
    let mut ps = Vec::new();
    paths(&doc.root, &mut Vec::new(), &mut ps);
    let p = rng.pick(&ps).clone();
    let rootname = doc.root.name.clone();
    match op {
        // Drop an element.
        0 if !p.is_empty() => {
            let (last, parent) = p.split_last().expect("non-root");
            at(&mut doc.root, parent).kids.remove(*last);
            "drop element".into()
        }
        // Duplicate an element.
        1 if !p.is_empty() => {
            let (last, parent) = p.split_last().expect("non-root");
            let par = at(&mut doc.root, parent);
            let c = par.kids[*last].clone();
            par.kids.insert(*last + 1, c);
            "duplicate element".into()
        }
        // Swap with the next sibling element.
        2 if !p.is_empty() => {
            let (last, parent) = p.split_last().expect("non-root");
            let par = at(&mut doc.root, parent);
            if let Some(j) =
                (last + 1..par.kids.len()).find(|&j| matches!(par.kids[j], Node::El(_)))
            {
                par.kids.swap(*last, j);
            }
            "reorder".into()
        }
        // Rename an element.
        3 => {
            let e = at(&mut doc.root, &p);
            let n = with_prefix(&e.name, NAMES[rng.below(NAMES.len())]);
            e.name = n;
            "rename element".into()
        }
        // Drop an attribute.
        4 => {
            let e = at(&mut doc.root, &p);
            if !e.attrs.is_empty() {
                let i = rng.below(e.attrs.len());
                e.attrs.remove(i);
            }
            "drop attribute".into()
        }
        // Rename an attribute (to another declared one, a typo or a duplicate).
        5 => {
            let e = at(&mut doc.root, &p);
            let d = decls(local(&e.name));
            if !e.attrs.is_empty() {
                let i = rng.below(e.attrs.len());
                let new = match rng.below(3) {
                    0 if !d.is_empty() => rng.pick(d).name.to_string(),
                    1 => format!("{}x", e.attrs[i].0),
                    _ => e.attrs[i].0.to_lowercase(),
                };
                e.attrs[i].0 = new;
            }
            "rename attribute".into()
        }
        // Retype a value (most frequent).
        6..=8 => {
            let e = at(&mut doc.root, &p);
            let d = decls(local(&e.name));
            let cands: Vec<usize> = (0..e.attrs.len())
                .filter(|&i| !e.attrs[i].0.starts_with("xmlns"))
                .collect();
            if cands.is_empty() {
                return "noop".into();
            }
            let i = *rng.pick(&cands);
            let orig = e.attrs[i].1.clone();
            let ty = d.iter().find(|a| a.name == e.attrs[i].0).map(|a| a.ty);
            let pool = ty.map(|t| type_values(t, &orig)).unwrap_or_default();
            let v = if !pool.is_empty() && rng.below(2) == 0 {
                rng.pick(&pool).clone()
            } else {
                rng.pick(GENERIC_VALUES).to_string()
            };
            e.attrs[i].1 = v;
            "retype value".into()
        }
        // Namespaced / undeclared / xsi attributes.
        9 => {
            let e = at(&mut doc.root, &p);
            let ty = format!("{}Type", local(&e.name));
            let pfx = prefix_of(&e.name).to_string();
            let typed = if pfx.is_empty() {
                ty.clone()
            } else {
                format!("{pfx}:{ty}")
            };
            let choice = rng.below(9);
            let xsi = (
                "xmlns:xsi".to_string(),
                "http://www.w3.org/2001/XMLSchema-instance".to_string(),
            );
            match choice {
                0 => e.attrs.push(("xmlns:z".into(), "urn:z".into())),
                1 => {
                    e.attrs.push(("xmlns:z".into(), "urn:z".into()));
                    e.attrs.push(("z:Codice".into(), "1".into()));
                }
                2 => e.attrs.push(("q:Nome".into(), "1".into())),
                3 => e.attrs.push(("xml:lang".into(), "it".into())),
                4 => {
                    e.attrs.push(xsi);
                    e.attrs.push(("xsi:nil".into(), "false".into()));
                }
                5 => {
                    e.attrs.push(xsi);
                    e.attrs.push(("xsi:type".into(), typed));
                }
                6 => {
                    e.attrs.push(xsi);
                    e.attrs.push(("xsi:type".into(), format!(" {typed}")));
                }
                7 => {
                    e.attrs.push(xsi);
                    e.attrs
                        .push(("xsi:schemaLocation".into(), "urn:a b.xsd".into()));
                }
                _ => {
                    e.attrs.push(xsi);
                    e.attrs.push(("xsi:foo".into(), "1".into()));
                }
            }
            "namespaced attribute".into()
        }
        // Text in element content (or a text-only value).
        10 | 11 => {
            let e = at(&mut doc.root, &p);
            let text_only = matches!(
                local(&e.name),
                "CodicePrestazione" | "InvCiv" | "ComposizioneFamiglia"
            );
            if text_only {
                e.kids = vec![Node::Raw(rng.pick(TEXT_VALUES).to_string())];
                return "text value".into();
            }
            let t = *rng.pick(&[
                "x",
                "  \n\t ",
                "&#32;",
                "&#10;",
                "&#65;",
                "<![CDATA[ ]]>",
                "&amp;",
                "\u{a0}",
            ]);
            let pos = rng.below(e.kids.len() + 1);
            e.kids.insert(pos, Node::Raw(t.to_string()));
            "text injected".into()
        }
        // Comments and PIs anywhere (valid).
        12 => {
            let e = at(&mut doc.root, &p);
            let t = *rng.pick(&[
                "<!-- nota -->",
                "<?app dati?>",
                "<!---->",
                "<?xml-stylesheet href='a'?>",
                "<!-- a - b -->",
            ]);
            let pos = rng.below(e.kids.len() + 1);
            e.kids.insert(pos, Node::Raw(t.to_string()));
            "comment/pi".into()
        }
        // Wrong (or equivalent) namespace.
        13 => {
            let e = at(&mut doc.root, &p);
            match rng.below(5) {
                0 => e.attrs.push(("xmlns".into(), "urn:altro".into())),
                1 => {
                    // Same namespace under another prefix: still valid.
                    e.attrs
                        .push(("xmlns:k".into(), "http://inps.it/Casellario".into()));
                    e.name = format!("k:{}", local(&e.name));
                }
                2 => e.name = format!("k:{}", local(&e.name)),
                3 => e
                    .attrs
                    .push(("xmlns".into(), "http://inps.it/casellario".into())),
                _ => {
                    e.attrs.push(("xmlns".into(), "".into()));
                }
            }
            let _ = rootname;
            "namespace".into()
        }
        // An unknown element inserted.
        14 => {
            let e = at(&mut doc.root, &p);
            let pos = rng.below(e.kids.len() + 1);
            let n = with_prefix(&e.name, NAMES[rng.below(NAMES.len())]);
            e.kids.insert(
                pos,
                Node::El(El {
                    name: n,
                    attrs: vec![],
                    kids: vec![],
                }),
            );
            "insert element".into()
        }
        _ => "noop".into(),
    }
}

// ---- verdicts ------------------------------------------------------------------

fn ours(bytes: &[u8], tipo: FlowType) -> (bool, Vec<String>) {
    let mut why = Vec::new();
    let opts = ReadOptions {
        expected: Some(tipo),
        ..ReadOptions::default()
    };
    let check = |v: &casellario_domain::Violation, why: &mut Vec<String>| {
        if v.is_error() && matches!(v.category, Category::Xml | Category::Schema) {
            why.push(format!(
                "{} {} L{:?}: {}",
                v.rule, v.field, v.line, v.message
            ));
        }
    };
    for item in XmlFlowReader::new(bytes, opts) {
        match item {
            Ok(FlowItem::Header(h)) => h.violations.iter().for_each(|v| check(v, &mut why)),
            Ok(FlowItem::Record(r)) => r.violations.iter().for_each(|v| check(v, &mut why)),
            Ok(FlowItem::FlowViolation(v)) => check(&v, &mut why),
            Err(e) => why.push(format!("FATAL {:?}", e.violation())),
        }
    }
    (!why.is_empty(), why)
}

fn xmllint_valid(xsd: &Path, files: &[PathBuf]) -> Vec<(bool, String)> {
    let mut res = Vec::new();
    for chunk in files.chunks(400) {
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd)
            .args(chunk)
            .output()
            .expect("run xmllint");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        for f in chunk {
            let name = f.display().to_string();
            let ok = stderr.lines().any(|l| l == format!("{name} validates"));
            let msgs: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with(&format!("{name}:")))
                .take(3)
                .collect();
            res.push((ok, msgs.join("\n")));
        }
    }
    res
}

#[test]
fn differential_against_xmllint() {
    if Command::new("xmllint").arg("--version").output().is_err() {
        if std::env::var("CASELLARIO_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("xmllint not found and CASELLARIO_REQUIRE_EXTERNAL=1");
        }
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n  SKIPPED: xmllint not found\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    }
    let root = root();
    let mut seeds: Vec<(PathBuf, FlowType)> = Vec::new();
    for dir in ["tests/fixtures/inps", "tests/fixtures/xml/valid"] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .collect();
        v.sort();
        for p in v {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let tipo = if name.contains("SINBA") || name.starts_with("sinba") {
                FlowType::Sinba
            } else {
                FlowType::PsPsaSina
            };
            seeds.push((p, tipo));
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<(PathBuf, FlowType, String)> = Vec::new();
    let mut rng = Rng(0x5EED_CA5E_11A0_2024);
    for (si, (seed, tipo)) in seeds.iter().enumerate() {
        let src = std::fs::read_to_string(seed).expect("seed");
        let f = tmp.path().join(format!("s{si}_seed.xml"));
        std::fs::write(&f, &src).expect("write");
        cases.push((f, *tipo, "seed".into()));
        for m in 0..MUTANTS_PER_SEED {
            let mut doc = parse(&src);
            let mut what = mutate(&mut doc, &mut rng, m % 15);
            if m % 7 == 3 {
                let op = rng.below(15);
                what = format!("{what} + {}", mutate(&mut doc, &mut rng, op));
            }
            let f = tmp.path().join(format!("s{si}_m{m}.xml"));
            std::fs::write(&f, serialize(&doc)).expect("write");
            cases.push((f, *tipo, what));
        }
    }
    let mut verdicts = vec![(false, String::new()); cases.len()];
    for (tipo, xsd) in [
        (FlowType::PsPsaSina, "PS_PSA_SINA201812.xsd"),
        (FlowType::Sinba, "SINBA.xsd"),
    ] {
        let idx: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].1 == tipo).collect();
        let files: Vec<PathBuf> = idx.iter().map(|&i| cases[i].0.clone()).collect();
        for (k, v) in xmllint_valid(&root.join("schemas").join(xsd), &files)
            .into_iter()
            .enumerate()
        {
            verdicts[idx[k]] = v;
        }
    }
    let (mut rejected, mut agree) = (0, 0);
    let mut disagreements = Vec::new();
    for (i, (f, tipo, what)) in cases.iter().enumerate() {
        let bytes = std::fs::read(f).expect("read");
        let (flagged, why) = ours(&bytes, *tipo);
        let (valid, msgs) = &verdicts[i];
        if !valid {
            rejected += 1;
        }
        if flagged != *valid {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{} [{what}]: xmllint {} / ours {}\n  xmllint: {msgs}\n  ours: {:?}\n  doc: {}",
                f.display(),
                if *valid { "valid" } else { "invalid" },
                if flagged { "flagged" } else { "clean" },
                why,
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(3000)
                    .collect::<String>()
            ));
        }
    }
    let mutants = cases.len() - seeds.len();
    eprintln!(
        "xmllint differential: {} documents ({} seeds, {mutants} mutants), {rejected} rejected by xmllint, {agree} agreements, {} disagreements",
        cases.len(),
        seeds.len(),
        disagreements.len()
    );
    assert!(mutants >= 600);
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}
