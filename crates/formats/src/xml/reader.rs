//! Streaming reader of the INPS XML flows: one pass, bounded memory, every
//! check of the official XSDs (see `schema.rs`) and of XML 1.0
//! well-formedness that xmllint applies.

use super::input::{Enc, FaultKind, classify_label, truncate};
use super::lex::{self, RawAttr};
use super::schema::{Content, Kind, SeqState, Step};
use super::tok::{LexErr, Lexer, Tok};
use crate::{FlowHeader, FlowItem, ParsedRecord, ReadError, ReadOptions};
use casellario_domain::catalogue::{self, RuleDef};
use casellario_domain::codes::{CodeEnum, ComposizioneFamiglia, InvCiv};
use casellario_domain::model::{
    self, AttrDecl, Beneficiario, IdentificazioneFlusso, NAMESPACE, PrestazioniSociali, PsRecord,
    Record, Sina, Sinba, XsdElement,
};
use casellario_domain::xsd::FacetError;
use casellario_domain::{FlowType, Profile, Violation};
use quick_xml::events::{BytesDecl, BytesStart};
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Streaming reader of a PS_PSA_SINA or SINBA XML flow.
///
/// Yields the header, then records in document order with their XML and
/// schema violations, flow-level violations in between; a fatal
/// [`ReadError`] ends the stream.
pub struct XmlFlowReader<R: BufRead> {
    lex: Lexer<R>,
    st: State,
}

impl<R: BufRead> XmlFlowReader<R> {
    pub fn new(input: R, opts: ReadOptions) -> Self {
        XmlFlowReader {
            lex: Lexer::new(input, opts.limits.max_markup_bytes),
            st: State::new(opts),
        }
    }

    fn pump(&mut self) {
        while self.st.out.is_empty() && !self.st.finished {
            let enc = self.lex.enc();
            let (line, tok) = self.lex.next_token();
            self.st.line = line;
            let res = match tok {
                Ok(tok) => self.st.on_event(tok, enc),
                Err(e) => Err(self.st.map_error(e)),
            };
            if let Err(f) = res {
                self.st.fatal(f);
            }
        }
    }
}

impl<R: BufRead> Iterator for XmlFlowReader<R> {
    type Item = Result<FlowItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.st.out.is_empty() {
            self.pump();
        }
        self.st.out.pop_front()
    }
}

/// A fatal condition: the stream ends with this error.
enum Fatal {
    Invalid(Violation),
    Io(std::io::Error),
}

fn fatal(rule: &RuleDef, line: u64, msg: impl Into<String>) -> Fatal {
    let mut v = rule.violation(Profile::Strict, "", msg);
    v.line = Some(line);
    Fatal::Invalid(v)
}

fn malformed(line: u64, what: impl std::fmt::Display) -> Fatal {
    fatal(
        &catalogue::XML_MALFORMATO,
        line,
        format!("XML non ben formato: {what}"),
    )
}

struct Frame {
    kind: Kind,
    /// Line of the start tag.
    line: u64,
    /// 1-based index among accepted siblings of the same particle.
    idx: u32,
    seq: SeqState,
    text_flagged: bool,
    /// Namespace bindings in scope before this element.
    ns_len: usize,
}

struct Binding {
    prefix: String,
    uri: String,
}

struct BenState {
    ben: Beneficiario,
    arc: Option<Arc<Beneficiario>>,
    violations: Vec<Violation>,
    // Boxed: the records move on as boxes (see `FlowItem::Record`).
    #[allow(clippy::vec_box)]
    buffered: Vec<Box<ParsedRecord>>,
    released: bool,
    prestazioni: u32,
    line: u64,
}

struct RecState<T> {
    el: T,
    violations: Vec<Violation>,
    line: u64,
    pos: u64,
}

/// An element without attributes (wrappers and text-only elements).
#[derive(Default)]
struct NoAttrs;

impl XsdElement for NoAttrs {
    const ELEMENT: &'static str = "";
    const ATTRS: &'static [AttrDecl] = &[];
    fn set_attr(&mut self, _: &str, _: &str) -> Option<(u32, Result<(), FacetError>)> {
        None
    }
    fn visit_attrs(&self, _: &mut dyn FnMut(&'static str, &str)) {}
    fn encode_attrs(&self, out: &mut Vec<u8>) {
        out.push(0xFF);
    }
}

struct State {
    opts: ReadOptions,
    out: VecDeque<Result<FlowItem, ReadError>>,
    finished: bool,
    /// Line where the current event starts.
    line: u64,
    events: u64,
    root_seen: bool,
    root_closed: bool,
    tipo: Option<FlowType>,
    header_emitted: bool,
    pre_header: Vec<Violation>,
    ident: IdentificazioneFlusso,
    ident_seen: bool,
    ident_done: bool,
    header_violations: Vec<Violation>,
    header_line: u64,
    stack: Vec<Frame>,
    ns: Vec<Binding>,
    scratch: String,
    text: String,
    tmp: Vec<Violation>,
    records: u64,
    ben: Option<BenState>,
    /// An emptied `BenState::buffered`, reused by the next beneficiary.
    #[allow(clippy::vec_box)]
    spare_buffered: Vec<Box<ParsedRecord>>,
    ps: Option<RecState<PrestazioniSociali>>,
    sinba: Option<RecState<Sinba>>,
}

/// Where a violation belongs.
enum Scope {
    Header,
    Beneficiario,
    Ps,
    Sinba,
    Flow,
}

impl State {
    fn new(opts: ReadOptions) -> Self {
        State {
            opts,
            out: VecDeque::new(),
            finished: false,
            line: 1,
            events: 0,
            root_seen: false,
            root_closed: false,
            tipo: opts.expected,
            header_emitted: false,
            pre_header: Vec::new(),
            ident: IdentificazioneFlusso::default(),
            ident_seen: false,
            ident_done: false,
            header_violations: Vec::new(),
            header_line: 1,
            stack: Vec::with_capacity(16),
            ns: Vec::new(),
            scratch: String::new(),
            text: String::new(),
            tmp: Vec::new(),
            records: 0,
            ben: None,
            spare_buffered: Vec::new(),
            ps: None,
            sinba: None,
        }
    }

    fn map_error(&mut self, e: LexErr) -> Fatal {
        use quick_xml::errors::{Error as QE, IllFormedError as IF, SyntaxError as SE};
        let e = match e {
            LexErr::Fault(f) => {
                let rule = match f.kind {
                    FaultKind::Encoding => &catalogue::XML_CODIFICA,
                    FaultKind::Char => &catalogue::XML_MALFORMATO,
                    FaultKind::Limit => &catalogue::XML_LIMITE,
                };
                return fatal(rule, f.line, f.message);
            }
            LexErr::Xml(e) => e,
        };
        let line = self.line;
        match e {
            QE::Io(io) => Fatal::Io(std::io::Error::new(io.kind(), io.to_string())),
            QE::Encoding(_) => fatal(&catalogue::XML_CODIFICA, line, "Il file non è UTF-8 valido"),
            QE::Syntax(SE::InvalidBangMarkup) => fatal(
                &catalogue::XML_DTD,
                line,
                "Dichiarazioni <!...> (DTD, ENTITY) non ammesse: rimuoverle dal flusso",
            ),
            QE::Syntax(s) => malformed(line, format_args!("costrutto non chiuso ({s})")),
            QE::IllFormed(IF::MismatchedEndTag { expected, found }) => malformed(
                line,
                format_args!(
                    "il tag di chiusura </{}> non corrisponde all'elemento aperto <{}>",
                    truncate(&found, 60),
                    truncate(&expected, 60)
                ),
            ),
            QE::IllFormed(IF::UnmatchedEndTag(n)) => malformed(
                line,
                format_args!("tag di chiusura </{}> senza apertura", truncate(&n, 60)),
            ),
            QE::IllFormed(IF::DoubleHyphenInComment) => {
                malformed(line, "'--' non è ammesso dentro un commento")
            }
            QE::IllFormed(IF::UnclosedReference) => malformed(
                line,
                "carattere '&' non seguito da un riferimento valido (usare &amp;)",
            ),
            QE::IllFormed(i) => malformed(line, i),
            other => malformed(line, other),
        }
    }

    fn fatal(&mut self, f: Fatal) {
        // A complete header is still worth reporting (flow name in the receipt).
        if !self.header_emitted && self.ident_done {
            self.emit_header();
        }
        self.out.push_back(Err(match f {
            Fatal::Invalid(v) => ReadError::Invalid(v),
            Fatal::Io(e) => ReadError::Io(e),
        }));
        self.finished = true;
    }

    // ---- routing -------------------------------------------------------

    fn scope(&self) -> Scope {
        for f in self.stack.iter().rev() {
            match f.kind {
                Kind::PrestazioniSociali if self.ps.is_some() => return Scope::Ps,
                Kind::Sinba if self.sinba.is_some() => return Scope::Sinba,
                Kind::Beneficiario if self.ben.is_some() => return Scope::Beneficiario,
                Kind::IdentificazioneFlusso => return Scope::Header,
                _ => {}
            }
        }
        Scope::Flow
    }

    fn report(&mut self, v: Violation) {
        match self.scope() {
            Scope::Ps => {
                if let Some(p) = &mut self.ps {
                    p.violations.push(v);
                }
            }
            Scope::Sinba => {
                if let Some(s) = &mut self.sinba {
                    s.violations.push(v);
                }
            }
            Scope::Beneficiario => {
                let released = self.ben.as_ref().is_some_and(|b| b.released);
                if let Some(b) = &mut self.ben {
                    b.violations.push(v.clone());
                }
                if released {
                    self.flow_violation(v);
                }
            }
            Scope::Header => self.header_violations.push(v),
            Scope::Flow => self.flow_violation(v),
        }
    }

    fn flow_violation(&mut self, v: Violation) {
        if self.header_emitted {
            self.out.push_back(Ok(FlowItem::FlowViolation(v)));
        } else {
            self.pre_header.push(v);
        }
    }

    fn violation(&self, rule: &RuleDef, field: String, msg: String, line: u64) -> Violation {
        let mut v = rule.violation(Profile::Strict, field, msg);
        v.line = Some(line);
        v
    }

    /// Path of the current element (from the record, beneficiary or header root).
    fn path(&self) -> String {
        path_of(&self.stack)
    }
}

fn path_of(stack: &[Frame]) -> String {
    let mut start = 0;
    for (i, f) in stack.iter().enumerate() {
        if matches!(
            f.kind,
            Kind::IdentificazioneFlusso
                | Kind::Beneficiario
                | Kind::Sinba
                | Kind::PrestazioniSociali
                | Kind::Flusso
        ) {
            start = i;
        }
    }
    let mut s = String::new();
    for f in &stack[start..] {
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(f.kind.name());
        if matches!(
            f.kind,
            Kind::Indirizzo
                | Kind::CodiceNis
                | Kind::CodiceSinba
                | Kind::InvCiv
                | Kind::ComposizioneFamiglia
        ) {
            s.push_str(&format!("[{}]", f.idx));
        }
    }
    s
}

impl State {
    fn emit_header(&mut self) {
        if self.header_emitted {
            return;
        }
        let tipo = self.tipo.unwrap_or_else(|| {
            if self
                .ident
                .nome
                .as_deref()
                .is_some_and(|n| n.to_ascii_uppercase().contains(".SINBA."))
            {
                FlowType::Sinba
            } else {
                FlowType::PsPsaSina
            }
        });
        self.tipo = Some(tipo);
        self.header_emitted = true;
        self.out.push_back(Ok(FlowItem::Header(FlowHeader {
            tipo,
            identificazione: std::mem::take(&mut self.ident),
            violations: std::mem::take(&mut self.header_violations),
            line: self.header_line,
        })));
        for v in std::mem::take(&mut self.pre_header) {
            self.out.push_back(Ok(FlowItem::FlowViolation(v)));
        }
    }

    // ---- events --------------------------------------------------------

    fn on_event(&mut self, ev: Tok<'_>, enc: Enc) -> Result<(), Fatal> {
        self.events += 1;
        let line = self.line;
        match ev {
            Tok::Start {
                name,
                attrs_raw,
                attrs,
                empty,
            } => self.on_start(name, attrs_raw, attrs, empty),
            Tok::End => self.on_end(),
            Tok::Text(t) => {
                // Most text is indentation: no `]]>` to look for.
                if !lex::all_ws(t)
                    && memchr::memchr(b'>', t.as_bytes()).is_some()
                    && memchr::memmem::find(t.as_bytes(), b"]]>").is_some()
                {
                    return Err(malformed(line, "la sequenza ']]>' non è ammessa nel testo"));
                }
                self.on_text(t, false)
            }
            Tok::Ref(r) => {
                let c = lex::resolve_ref(r).map_err(|e| malformed(line, e.0))?;
                let mut b = [0u8; 4];
                self.on_text(c.encode_utf8(&mut b), false)
            }
            Tok::CData(c) => self.on_text(c, true),
            Tok::Comment(c) => {
                if c.ends_with('-') {
                    return Err(malformed(
                        line,
                        "un commento non può terminare con '-' prima di '-->'",
                    ));
                }
                Ok(())
            }
            Tok::Pi { target } => {
                if !lex::is_name(target) || target.eq_ignore_ascii_case("xml") {
                    return Err(malformed(
                        line,
                        format_args!(
                            "istruzione di elaborazione con nome non valido: '{}'",
                            truncate(target, 40)
                        ),
                    ));
                }
                Ok(())
            }
            Tok::Decl(content) => {
                let d = BytesDecl::from_start(BytesStart::from_content(content, 3));
                if self.events != 1 {
                    return Err(malformed(
                        line,
                        "la dichiarazione <?xml ...?> è ammessa solo all'inizio del file",
                    ));
                }
                match d.version() {
                    Ok(v)
                        if v.starts_with("1.")
                            && v.len() > 2
                            && v[2..].bytes().all(|b| b.is_ascii_digit()) => {}
                    _ => {
                        return Err(malformed(
                            line,
                            "dichiarazione XML senza versione valida (version=\"1.0\")",
                        ));
                    }
                }
                if let Some(label) = d.encoding() {
                    let label = label.map_err(|e| malformed(line, e))?;
                    let got = classify_label(label.as_bytes());
                    let ok = match enc {
                        Enc::Utf16 => got == Some(Enc::Utf16),
                        Enc::Utf8Bom | Enc::Utf8 => got == Some(Enc::Utf8),
                        Enc::Latin1 | Enc::Windows1252 => true,
                    };
                    if !ok {
                        return Err(fatal(
                            &catalogue::XML_CODIFICA,
                            line,
                            format!(
                                "La codifica dichiarata ('{}') non corrisponde a quella del file: salvare il file in UTF-8 e dichiarare encoding=\"UTF-8\"",
                                truncate(&label, 40)
                            ),
                        ));
                    }
                }
                if let Some(sa) = d.standalone() {
                    let sa = sa.map_err(|e| malformed(line, e))?;
                    if sa != "yes" && sa != "no" {
                        return Err(malformed(line, "standalone deve valere \"yes\" o \"no\""));
                    }
                }
                Ok(())
            }
            Tok::DocType => Err(fatal(
                &catalogue::XML_DTD,
                line,
                "Il flusso contiene una dichiarazione <!DOCTYPE>: DTD ed entità non sono ammesse, rimuoverla",
            )),
            Tok::Eof => self.on_eof(),
        }
    }

    fn on_eof(&mut self) -> Result<(), Fatal> {
        let line = self.line;
        if !self.root_seen {
            return Err(malformed(
                line,
                if self.events <= 1 {
                    "il file è vuoto"
                } else {
                    "manca l'elemento radice <Flusso>"
                },
            ));
        }
        if let Some(f) = self.stack.last() {
            let name = if f.kind == Kind::Skip {
                "elemento"
            } else {
                f.kind.name()
            };
            return Err(malformed(
                line,
                format_args!("documento incompleto: manca la chiusura di <{name}>"),
            ));
        }
        self.finished = true;
        Ok(())
    }

    fn on_text(&mut self, t: &str, cdata: bool) -> Result<(), Fatal> {
        let line = self.line;
        if t.is_empty() && !cdata {
            return Ok(());
        }
        let Some(top) = self.stack.last_mut() else {
            if cdata || !lex::all_ws(t) {
                let where_ = if self.root_closed {
                    "dopo la fine"
                } else {
                    "prima dell'inizio"
                };
                return Err(malformed(
                    line,
                    format_args!(
                        "testo non ammesso {where_} dell'elemento radice: '{}'",
                        truncate(t.trim(), 40)
                    ),
                ));
            }
            return Ok(());
        };
        match top.kind.content() {
            Content::Any => Ok(()),
            Content::Simple => {
                if self.text.len() + t.len() > self.opts.limits.max_markup_bytes {
                    return Err(fatal(
                        &catalogue::XML_LIMITE,
                        line,
                        "Il testo di un elemento supera il limite di sicurezza",
                    ));
                }
                self.text.push_str(t);
                Ok(())
            }
            c @ (Content::ElementOnly | Content::Empty) => {
                let bad = cdata || c == Content::Empty || !lex::all_ws(t);
                if bad && !top.text_flagged {
                    top.text_flagged = true;
                    let kind = top.kind;
                    let path = self.path();
                    let msg = if c == Content::Empty {
                        format!(
                            "L'elemento {} non può contenere testo, nemmeno spazi o a capo: scriverlo come <{} .../>",
                            kind.name(),
                            kind.name()
                        )
                    } else {
                        format!(
                            "Testo non previsto in {}: '{}'. L'elemento può contenere solo altri elementi",
                            kind.name(),
                            truncate(t.trim(), 60)
                        )
                    };
                    let v = self.violation(&catalogue::XSD_TESTO_NON_PREVISTO, path, msg, line);
                    self.report(v);
                }
                Ok(())
            }
        }
    }

    fn on_start(
        &mut self,
        qname: &str,
        attrs_raw: &str,
        attrs: Result<&[RawAttr], lex::LexError>,
        empty: bool,
    ) -> Result<(), Fatal> {
        let line = self.line;
        if self.stack.len() >= self.opts.limits.max_depth {
            return Err(fatal(
                &catalogue::XML_LIMITE,
                line,
                format!(
                    "Annidamento degli elementi oltre {} livelli: il file non è un flusso valido",
                    self.opts.limits.max_depth
                ),
            ));
        }
        if self.root_closed {
            return Err(malformed(
                line,
                "contenuto dopo la fine dell'elemento radice <Flusso>",
            ));
        }
        let attrs =
            attrs.map_err(|le| malformed(line, format_args!("nel tag <{qname}>: {}", le.0)))?;
        // Namespace declarations of this element, then resolution.
        let ns_len = self.ns.len();
        for a in attrs {
            let n = &attrs_raw[a.name.clone()];
            let prefix = if n == "xmlns" {
                ""
            } else if a.plain {
                continue;
            } else if let Some(p) = n.strip_prefix("xmlns:") {
                p
            } else {
                continue;
            };
            lex::check_name(n).map_err(|le| malformed(line, le.0))?;
            let uri = a
                .value(attrs_raw, &mut self.scratch)
                .map_err(|le| malformed(line, le.0))?;
            self.ns.push(Binding {
                prefix: prefix.to_string(),
                uri: uri.to_string(),
            });
        }
        let (prefix, local) = lex::split_qname(qname);
        let in_ns = self.resolve(prefix.unwrap_or(""), prefix.is_none()) == Some(NAMESPACE);

        let kind = if self.stack.is_empty() {
            if self.root_seen {
                return Err(malformed(
                    line,
                    "contenuto dopo la fine dell'elemento radice <Flusso>",
                ));
            }
            self.root_seen = true;
            if !(in_ns && local == "Flusso") {
                lex::check_name(qname).map_err(|le| malformed(line, le.0))?;
                let ns = self
                    .resolve(prefix.unwrap_or(""), prefix.is_none())
                    .unwrap_or("")
                    .to_string();
                return Err(fatal(
                    &catalogue::XSD_RADICE,
                    line,
                    format!(
                        "L'elemento radice è <{}>{}: deve essere <Flusso xmlns=\"{NAMESPACE}\">",
                        truncate(qname, 40),
                        if ns.is_empty() {
                            " senza namespace".to_string()
                        } else {
                            format!(" nel namespace '{}'", truncate(&ns, 60))
                        }
                    ),
                ));
            }
            self.header_line = line;
            Kind::Flusso
        } else {
            let k = self.child_kind(in_ns, local, qname, line)?;
            // Known names are valid by construction; others must be QNames.
            if k == Kind::Skip {
                lex::check_name(qname).map_err(|le| malformed(line, le.0))?;
            }
            k
        };
        self.stack.push(Frame {
            kind,
            line,
            idx: 0,
            seq: SeqState::default(),
            text_flagged: false,
            ns_len,
        });
        if let Some(n) = self
            .stack
            .len()
            .checked_sub(2)
            .map(|i| self.stack[i].seq.count)
            && let Some(top) = self.stack.last_mut()
        {
            top.idx = n;
        }
        self.begin(kind, attrs_raw, attrs, line)?;
        if empty {
            self.on_end()?;
        }
        Ok(())
    }

    fn resolve(&self, prefix: &str, element_default: bool) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        if prefix.is_empty() && !element_default {
            return None;
        }
        self.ns
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri.as_str())
            .filter(|u| !u.is_empty())
    }

    /// Offers a child to the parent's content model; returns its kind
    /// (`Skip` when it is not allowed), reporting what is wrong.
    fn child_kind(
        &mut self,
        in_ns: bool,
        local: &str,
        qname: &str,
        line: u64,
    ) -> Result<Kind, Fatal> {
        let Some(parent) = self.stack.last() else {
            return Ok(Kind::Skip);
        };
        let pkind = parent.kind;
        match pkind.content() {
            Content::Any => return Ok(Kind::Skip),
            Content::Simple | Content::Empty => {
                let path = self.path();
                let msg = if pkind.content() == Content::Empty {
                    format!(
                        "L'elemento {} non può contenere altri elementi (trovato <{}>)",
                        pkind.name(),
                        truncate(qname, 40)
                    )
                } else {
                    format!(
                        "L'elemento {} contiene solo un valore, non altri elementi (trovato <{}>)",
                        pkind.name(),
                        truncate(qname, 40)
                    )
                };
                let v = self.violation(&catalogue::XSD_ELEMENTO_INATTESO, path, msg, line);
                self.report(v);
                return Ok(Kind::Skip);
            }
            Content::ElementOnly => {}
        }
        // Flow type detection and header emission at the first record-level element.
        if pkind == Kind::Flusso
            && !self.header_emitted
            && (self.ident_done || !(in_ns && local == "IdentificazioneFlusso"))
        {
            if self.tipo.is_none() && in_ns {
                self.tipo = match local {
                    "Beneficiario" => Some(FlowType::PsPsaSina),
                    "SINBA" => Some(FlowType::Sinba),
                    _ => None,
                };
            }
            self.emit_header_pending_missing(line);
        }
        let tipo = self.tipo.unwrap_or(FlowType::PsPsaSina);
        let ps = pkind.particles(tipo);
        let name_for_model = if in_ns { local } else { "" };
        let Some(parent) = self.stack.last_mut() else {
            return Ok(Kind::Skip);
        };
        match parent.seq.offer(ps, name_for_model) {
            Step::Accept { particle, missing } => {
                let missing: Vec<&'static str> = missing
                    .filter(|&k| ps[k].min > 0)
                    .map(|k| ps[k].name)
                    .collect();
                if !missing.is_empty() {
                    let path = self.path();
                    for m in missing {
                        if pkind == Kind::Flusso && m == "IdentificazioneFlusso" {
                            continue; // already reported with the header
                        }
                        let v = self.violation(
                            &catalogue::XSD_ELEMENTO_MANCANTE,
                            format!("{path}/{m}"),
                            format!(
                                "Manca l'elemento obbligatorio {m} in {}, prima di <{local}>",
                                pkind.name()
                            ),
                            line,
                        );
                        self.report(v);
                    }
                }
                Ok(ps[particle].kind)
            }
            Step::Reject => {
                let path = self.path();
                let expected: Vec<&str> = {
                    let st = self.stack.last().map(|f| f.seq).unwrap_or_default();
                    let mut v = Vec::new();
                    for (i, p) in ps.iter().enumerate().skip(st.idx) {
                        if i == st.idx && st.count >= p.max {
                            continue;
                        }
                        v.push(p.name);
                        if (i == st.idx && st.count < p.min) || (i > st.idx && p.min > 0) {
                            break;
                        }
                    }
                    v
                };
                let what = if !in_ns {
                    let ns = lex::split_qname(qname).0;
                    match self.resolve(ns.unwrap_or(""), ns.is_none()) {
                        Some(u) => format!(
                            "<{}> (namespace '{}', atteso '{NAMESPACE}')",
                            truncate(qname, 40),
                            truncate(u, 60)
                        ),
                        None => {
                            format!("<{}> (senza il namespace {NAMESPACE})", truncate(qname, 40))
                        }
                    }
                } else {
                    format!("<{}>", truncate(local, 40))
                };
                let exp = if expected.is_empty() {
                    format!(
                        "; dopo l'ultimo elemento ammesso {} deve chiudersi",
                        pkind.name()
                    )
                } else {
                    format!("; atteso: {}", expected.join(" o "))
                };
                let field = if path.is_empty() {
                    local.to_string()
                } else {
                    format!("{path}/{local}")
                };
                let v = self.violation(
                    &catalogue::XSD_ELEMENTO_INATTESO,
                    field,
                    format!(
                        "Elemento {what} non previsto in {} in questa posizione{exp}",
                        pkind.name()
                    ),
                    line,
                );
                self.report(v);
                Ok(Kind::Skip)
            }
        }
    }

    /// Emits the header before the first record-level element; a missing
    /// `IdentificazioneFlusso` is a header violation.
    fn emit_header_pending_missing(&mut self, line: u64) {
        if !self.ident_seen {
            let v = self.violation(
                &catalogue::XSD_ELEMENTO_MANCANTE,
                "IdentificazioneFlusso".to_string(),
                "Manca l'elemento obbligatorio IdentificazioneFlusso (nome del flusso ed ente) all'inizio di Flusso".to_string(),
                line,
            );
            self.header_violations.push(v);
        }
        self.emit_header();
    }

    /// Start of an accepted element: typed state and attributes.
    fn begin(
        &mut self,
        kind: Kind,
        attrs_raw: &str,
        attrs: &[RawAttr],
        line: u64,
    ) -> Result<(), Fatal> {
        let mut tmp = std::mem::take(&mut self.tmp);
        tmp.clear();
        let r = self.begin_inner(kind, attrs_raw, attrs, line, &mut tmp);
        for v in tmp.drain(..) {
            self.report(v);
        }
        self.tmp = tmp;
        r
    }

    fn begin_inner(
        &mut self,
        kind: Kind,
        attrs_raw: &str,
        attrs: &[RawAttr],
        line: u64,
        out: &mut Vec<Violation>,
    ) -> Result<(), Fatal> {
        let ctx = AttrCtx {
            attrs_raw,
            attrs,
            ns: &self.ns,
            kind,
            line,
            stack: &self.stack,
            index: std::cell::OnceCell::new(),
        };
        let scratch = &mut self.scratch;
        match kind {
            Kind::Flusso => ctx.apply(&mut NoAttrs, scratch, out),
            Kind::IdentificazioneFlusso => {
                self.ident_seen = true;
                self.header_line = line;
                ctx.apply(&mut self.ident, scratch, out)
            }
            Kind::Ente => ctx.apply(&mut self.ident.ente, scratch, out),
            Kind::Beneficiario => {
                let mut b = BenState {
                    ben: Beneficiario::default(),
                    arc: None,
                    violations: Vec::new(),
                    buffered: std::mem::take(&mut self.spare_buffered),
                    released: false,
                    prestazioni: 0,
                    line,
                };
                let r = ctx.apply(&mut b.ben, scratch, out);
                self.ben = Some(b);
                r
            }
            Kind::Anagrafica => match &mut self.ben {
                Some(b) => ctx.apply(&mut b.ben.anagrafica, scratch, out),
                None => ctx.apply(&mut NoAttrs, scratch, out),
            },
            Kind::Indirizzo => match &mut self.ben {
                Some(b) => {
                    b.ben.indirizzi.push(model::Indirizzo::default());
                    let last = b.ben.indirizzi.len() - 1;
                    ctx.apply(&mut b.ben.indirizzi[last], scratch, out)
                }
                None => ctx.apply(&mut NoAttrs, scratch, out),
            },
            Kind::PrestazioniSociali => {
                self.records += 1;
                // Built in place: the benefit is large.
                let p = self.ps.insert(RecState {
                    el: PrestazioniSociali::default(),
                    violations: Vec::new(),
                    line,
                    pos: self.records,
                });
                let r = ctx.apply(&mut p.el, scratch, out);
                // Attribute violations of the benefit are the record's own.
                p.violations.append(out);
                if let Some(b) = &mut self.ben {
                    b.prestazioni += 1;
                    if b.arc.is_none() {
                        b.arc = Some(Arc::new(std::mem::take(&mut b.ben)));
                    }
                }
                r
            }
            Kind::Sina => match &mut self.ps {
                Some(p) => {
                    let mut s = Sina::default();
                    let r = ctx.apply(&mut s, scratch, out);
                    p.el.sina = Some(s);
                    r
                }
                None => ctx.apply(&mut NoAttrs, scratch, out),
            },
            Kind::NecessitaInterventiSociali => {
                if let Some(s) = self.ps.as_mut().and_then(|p| p.el.sina.as_mut()) {
                    s.necessita_interventi_sociali = Some(Vec::new());
                }
                ctx.apply(&mut NoAttrs, scratch, out)
            }
            Kind::InvaliditaCivile => {
                if let Some(s) = self.ps.as_mut().and_then(|p| p.el.sina.as_mut()) {
                    s.invalidita_civile = Some(Vec::new());
                }
                ctx.apply(&mut NoAttrs, scratch, out)
            }
            Kind::Sinba => {
                self.records += 1;
                let mut s = RecState {
                    el: Sinba::default(),
                    violations: Vec::new(),
                    line,
                    pos: self.records,
                };
                let r = ctx.apply(&mut s.el, scratch, out);
                s.violations.append(out);
                self.sinba = Some(s);
                r
            }
            Kind::CodiceNis | Kind::CodiceSinba | Kind::InvCiv | Kind::ComposizioneFamiglia => {
                self.text.clear();
                ctx.apply(&mut NoAttrs, scratch, out)
            }
            Kind::Prestazioni | Kind::Famiglia => ctx.apply(&mut NoAttrs, scratch, out),
            Kind::Skip => ctx.wf_only(scratch),
        }
    }

    fn on_end(&mut self) -> Result<(), Fatal> {
        let line = self.line;
        let Some(top) = self.stack.last() else {
            return Err(malformed(line, "tag di chiusura senza apertura"));
        };
        let kind = top.kind;
        let (seq, start_line) = (top.seq, top.line);
        // Missing required children.
        if kind.content() == Content::ElementOnly {
            let tipo = self.tipo.unwrap_or(FlowType::PsPsaSina);
            let ps = kind.particles(tipo);
            let missing: Vec<&'static str> = seq.missing_at_end(ps).map(|p| p.name).collect();
            for m in missing {
                match (kind, m) {
                    // Reported as FLUSSO_VUOTO / as a beneficiary without benefits.
                    (Kind::Flusso, "Beneficiario" | "SINBA")
                    | (Kind::Beneficiario, "PrestazioniSociali") => continue,
                    (Kind::Flusso, "IdentificazioneFlusso") if !self.header_emitted => {
                        let v = self.violation(
                            &catalogue::XSD_ELEMENTO_MANCANTE,
                            "IdentificazioneFlusso".into(),
                            "Manca l'elemento obbligatorio IdentificazioneFlusso (nome del flusso ed ente)".into(),
                            start_line,
                        );
                        self.header_violations.push(v);
                        continue;
                    }
                    _ => {}
                }
                let path = self.path();
                let v = self.violation(
                    &catalogue::XSD_ELEMENTO_MANCANTE,
                    format!("{path}/{m}"),
                    format!("Manca l'elemento obbligatorio {m} in {}", kind.name()),
                    start_line,
                );
                self.report(v);
            }
        }
        match kind {
            Kind::CodiceNis | Kind::CodiceSinba | Kind::InvCiv | Kind::ComposizioneFamiglia => {
                self.end_text(kind, start_line)
            }
            _ => {}
        }
        let frame = self.stack.pop();
        if let Some(f) = frame {
            self.ns.truncate(f.ns_len);
        }
        match kind {
            Kind::Flusso => {
                self.root_closed = true;
                self.emit_header();
                if self.records == 0 {
                    let v = self.violation(
                        &catalogue::FLUSSO_VUOTO,
                        "Flusso".into(),
                        match self.tipo {
                            Some(FlowType::Sinba) => "Il flusso non contiene alcun elemento SINBA: inserire almeno un record".into(),
                            _ => "Il flusso non contiene alcun Beneficiario con PrestazioniSociali: inserire almeno un record".into(),
                        },
                        start_line,
                    );
                    self.flow_violation(v);
                }
            }
            Kind::IdentificazioneFlusso => {
                self.ident_done = true;
                // With the type known the header need not wait for the first record.
                if self.tipo.is_some() {
                    self.emit_header();
                }
            }
            Kind::PrestazioniSociali => self.end_ps(),
            Kind::Sinba => {
                if let Some(s) = self.sinba.take() {
                    self.out
                        .push_back(Ok(FlowItem::Record(Box::new(ParsedRecord {
                            pos: s.pos,
                            line: s.line,
                            record: Record::Sinba(s.el),
                            violations: s.violations,
                        }))));
                }
            }
            Kind::Beneficiario => self.end_ben(),
            _ => {}
        }
        Ok(())
    }

    fn end_text(&mut self, kind: Kind, line: u64) {
        let value = std::mem::take(&mut self.text);
        let res: Result<(), FacetError> = match kind {
            Kind::CodiceNis | Kind::CodiceSinba => model::CODICE_PRESTAZIONE_ELEM
                .check(&value)
                .map(|()| match kind {
                    Kind::CodiceNis => {
                        if let Some(l) = self
                            .ps
                            .as_mut()
                            .and_then(|p| p.el.sina.as_mut())
                            .and_then(|s| s.necessita_interventi_sociali.as_mut())
                        {
                            l.push(value.clone());
                        }
                    }
                    _ => {
                        if let Some(s) = &mut self.sinba {
                            s.el.prestazioni.push(value.clone());
                        }
                    }
                }),
            Kind::InvCiv => match InvCiv::from_code(&value) {
                Some(c) => {
                    if let Some(l) = self
                        .ps
                        .as_mut()
                        .and_then(|p| p.el.sina.as_mut())
                        .and_then(|s| s.invalidita_civile.as_mut())
                    {
                        l.push(c);
                    }
                    Ok(())
                }
                None => casellario_domain::xsd::SimpleType::Enum(InvCiv::TABLE).check(&value),
            },
            _ => match ComposizioneFamiglia::from_code(&value) {
                Some(c) => {
                    if let Some(s) = &mut self.sinba {
                        s.el.famiglia.push(c);
                    }
                    Ok(())
                }
                None => casellario_domain::xsd::SimpleType::Enum(ComposizioneFamiglia::TABLE)
                    .check(&value),
            },
        };
        if let Err(fe) = res {
            let ty = match kind {
                Kind::InvCiv => casellario_domain::xsd::SimpleType::Enum(InvCiv::TABLE),
                Kind::ComposizioneFamiglia => {
                    casellario_domain::xsd::SimpleType::Enum(ComposizioneFamiglia::TABLE)
                }
                _ => model::CODICE_PRESTAZIONE_ELEM,
            };
            let v = self.violation(
                &catalogue::XSD_VALORE,
                self.path(),
                format!(
                    "Valore '{}' non valido per {}: {fe} (atteso: {})",
                    truncate(&value, 60),
                    kind.name(),
                    ty.describe()
                ),
                line,
            );
            self.report(v);
        }
        self.text = value;
        self.text.clear();
    }

    fn end_ps(&mut self) {
        let Some(p) = self.ps.take() else { return };
        let Some(b) = &mut self.ben else { return };
        let Some(arc) = b.arc.clone() else { return };
        let mut rec = Box::new(ParsedRecord {
            pos: p.pos,
            line: p.line,
            record: Record::Ps(PsRecord {
                beneficiario: arc,
                prestazione: p.el,
            }),
            violations: p.violations,
        });
        if b.released {
            prepend(&mut rec.violations, &b.violations);
            self.out.push_back(Ok(FlowItem::Record(rec)));
        } else {
            b.buffered.push(rec);
            if b.buffered.len() >= self.opts.limits.max_buffered_records {
                b.released = true;
                for mut r in b.buffered.drain(..) {
                    prepend(&mut r.violations, &b.violations);
                    self.out.push_back(Ok(FlowItem::Record(r)));
                }
            }
        }
    }

    fn end_ben(&mut self) {
        let Some(b) = self.ben.take() else { return };
        if b.prestazioni == 0 {
            let mut v = catalogue::XSD_ELEMENTO_MANCANTE.violation(
                Profile::Strict,
                "Beneficiario/PrestazioniSociali",
                format!(
                    "Il Beneficiario {} non contiene alcuna PrestazioniSociali: ogni beneficiario deve avere almeno una prestazione",
                    b.ben.codice_fiscale.as_deref().map(|c| truncate(c, 20)).unwrap_or_default()
                ),
            );
            v.line = Some(b.line);
            self.flow_violation(v);
            for v in b.violations {
                self.flow_violation(v);
            }
            return;
        }
        let mut buffered = b.buffered;
        if !b.released {
            for mut r in buffered.drain(..) {
                prepend(&mut r.violations, &b.violations);
                self.out.push_back(Ok(FlowItem::Record(r)));
            }
        }
        buffered.clear();
        self.spare_buffered = buffered;
    }
}

fn prepend(dst: &mut Vec<Violation>, first: &[Violation]) {
    if !first.is_empty() {
        dst.splice(0..0, first.iter().cloned());
    }
}

/// What attribute checking needs from the start tag.
struct AttrCtx<'a> {
    attrs_raw: &'a str,
    attrs: &'a [RawAttr],
    ns: &'a [Binding],
    kind: Kind,
    line: u64,
    stack: &'a [Frame],
    /// Prefix → URI of the innermost binding, built when there are many
    /// bindings (hostile input: resolution stays linear).
    index: std::cell::OnceCell<std::collections::HashMap<&'a str, &'a str>>,
}

impl<'a> AttrCtx<'a> {
    fn resolve(&self, prefix: &str) -> Option<&'a str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        let ns: &'a [Binding] = self.ns;
        if ns.len() > 32 {
            let index = self.index.get_or_init(|| {
                ns.iter()
                    .map(|b| (b.prefix.as_str(), b.uri.as_str()))
                    .collect()
            });
            return index.get(prefix).copied().filter(|u| !u.is_empty());
        }
        ns.iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri.as_str())
            .filter(|u| !u.is_empty())
    }

    fn v(&self, rule: &RuleDef, field: String, msg: String) -> Violation {
        let mut v = rule.violation(Profile::Strict, field, msg);
        v.line = Some(self.line);
        v
    }

    fn field(&self, attr: &str) -> String {
        let path = path_of(self.stack);
        if path.is_empty() {
            format!("@{attr}")
        } else {
            format!("{path}/@{attr}")
        }
    }

    /// Well-formedness of attribute values only (unexpected subtrees).
    fn wf_only(&self, scratch: &mut String) -> Result<(), Fatal> {
        lex::check_names(self.attrs_raw, self.attrs).map_err(|e| malformed(self.line, e.0))?;
        for a in self.attrs {
            a.value(self.attrs_raw, scratch)
                .map_err(|e| malformed(self.line, e.0))?;
        }
        Ok(())
    }

    fn apply<E: XsdElement>(
        &self,
        el: &mut E,
        scratch: &mut String,
        out: &mut Vec<Violation>,
    ) -> Result<(), Fatal> {
        let mut seen: u64 = 0;
        let ename = self.kind.name();
        // Attributes not declared by the element: names and uniqueness are
        // checked here (declared ones are valid names, unique by `seen`).
        let mut others: Vec<&str> = Vec::new();
        // Past 64 of them, all names of the tag are checked at once (linear
        // on hostile input); once they pass, nothing is left to check.
        let mut all_checked = false;
        for a in self.attrs {
            let name = &self.attrs_raw[a.name.clone()];
            let mut other = || -> Result<(), Fatal> {
                if all_checked {
                    return Ok(());
                }
                lex::check_name(name).map_err(|e| malformed(self.line, e.0))?;
                if others.len() > 64 {
                    lex::check_names(self.attrs_raw, self.attrs)
                        .map_err(|e| malformed(self.line, e.0))?;
                    all_checked = true;
                    return Ok(());
                } else if others.contains(&name) {
                    return Err(malformed(
                        self.line,
                        format_args!("attributo {} ripetuto", truncate(name, 40)),
                    ));
                }
                others.push(name);
                Ok(())
            };
            let value = a
                .value(self.attrs_raw, scratch)
                .map_err(|e| malformed(self.line, e.0))?;
            let (prefix, local) = if a.plain {
                (None, name)
            } else {
                lex::split_qname(name)
            };
            match prefix {
                None if name == "xmlns" => other()?,
                Some("xmlns") => other()?,
                None => match el.set_attr(local, value) {
                    Some((i, r)) => {
                        if seen & (1u64 << i) != 0 {
                            return Err(malformed(
                                self.line,
                                format_args!("attributo {name} ripetuto"),
                            ));
                        }
                        seen |= 1u64 << i;
                        if let Err(fe) = r {
                            let ty = E::ATTRS[i as usize].ty;
                            out.push(self.v(
                                &catalogue::XSD_VALORE,
                                self.field(local),
                                format!(
                                    "Valore '{}' non valido per l'attributo {local} di {ename}: {fe} (atteso: {})",
                                    truncate(value, 60),
                                    ty.describe()
                                ),
                            ));
                        }
                    }
                    None => {
                        other()?;
                        out.push(self.v(
                        &catalogue::XSD_ATTRIBUTO_NON_PREVISTO,
                        self.field(local),
                        format!("L'attributo {} non è previsto nell'elemento {ename}: rimuoverlo o correggerne il nome", truncate(local, 40)),
                    ));
                    }
                },
                Some(p) => {
                    other()?;
                    let uri = self.resolve(p);
                    if uri == Some(XSI) {
                        match local {
                            // Schema hints: ignored, as xmllint does when given the schema.
                            "schemaLocation" | "noNamespaceSchemaLocation" => continue,
                            "type" if self.xsi_type_ok(value) => continue,
                            "type" => {
                                out.push(self.v(
                                    &catalogue::XSD_ATTRIBUTO_NON_PREVISTO,
                                    self.field(name),
                                    format!(
                                        "xsi:type='{}' non ammesso su {ename}: il tipo deve essere quello dichiarato dall'XSD{}; rimuovere l'attributo",
                                        truncate(value, 40),
                                        self.kind.named_type().map(|t| format!(" ({t})")).unwrap_or_default()
                                    ),
                                ));
                                continue;
                            }
                            "nil" => {
                                out.push(self.v(
                                    &catalogue::XSD_ATTRIBUTO_NON_PREVISTO,
                                    self.field(name),
                                    format!("xsi:nil non è ammesso: l'elemento {ename} non è annullabile; rimuovere l'attributo"),
                                ));
                                continue;
                            }
                            _ => {}
                        }
                    }
                    out.push(self.v(
                        &catalogue::XSD_ATTRIBUTO_NON_PREVISTO,
                        self.field(name),
                        format!(
                            "L'attributo {} non è previsto nell'elemento {ename}{}: rimuoverlo",
                            truncate(name, 40),
                            match uri {
                                Some(u) => format!(" (namespace '{}')", truncate(u, 60)),
                                None => " (prefisso non dichiarato)".to_string(),
                            }
                        ),
                    ));
                }
            }
        }
        for a in E::missing_required(seen) {
            out.push(self.v(
                &catalogue::XSD_ATTRIBUTO_MANCANTE,
                self.field(a.name),
                format!(
                    "Manca l'attributo obbligatorio {} nell'elemento {ename} (atteso: {})",
                    a.name,
                    a.ty.describe()
                ),
            ));
        }
        Ok(())
    }

    /// `xsi:type` is accepted only when it names the element's own type
    /// (value not whitespace-collapsed, as libxml2 does).
    fn xsi_type_ok(&self, value: &str) -> bool {
        let Some(t) = self.kind.named_type() else {
            return false;
        };
        if !lex::is_qname(value) {
            return false;
        }
        let (p, local) = lex::split_qname(value);
        let uri = match p {
            Some(p) => self.resolve(p),
            None => self
                .ns
                .iter()
                .rev()
                .find(|b| b.prefix.is_empty())
                .map(|b| b.uri.as_str())
                .filter(|u| !u.is_empty()),
        };
        uri == Some(NAMESPACE) && local == t
    }
}
