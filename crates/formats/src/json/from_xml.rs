//! XML flow → JSON value. Well-formedness (encodings, characters, entities,
//! DTDs, limits) is judged first by the XML reader itself, so this module
//! refuses exactly what the register refuses; then a namespace-aware
//! quick-xml pass maps elements to objects with the same content models the
//! reader applies. Values are copied as strings, unchecked: a flow with a
//! wrong value still round-trips, and gets the same outcome either way.

use super::shape::{self, Repr};
use super::violation;
use crate::xml::schema::{Kind, SeqState, Step};
use crate::{ReadOptions, XmlFlowReader};
use casellario_domain::catalogue::{self, RuleDef};
use casellario_domain::model::NAMESPACE;
use casellario_domain::{FlowType, Violation};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde_json::{Map, Value};

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

struct Frame {
    kind: Kind,
    /// Index of this element's particle in its parent's content model.
    particle: usize,
    seq: SeqState,
    obj: Map<String, Value>,
    text: String,
}

pub(crate) fn from_xml(xml: &[u8]) -> Result<Value, Vec<Violation>> {
    // The reader's verdict on well-formedness is the register's verdict.
    for item in XmlFlowReader::new(xml, ReadOptions::default()) {
        if let Err(e) = item {
            return Err(vec![e.violation()]);
        }
    }
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let Ok(text) = std::str::from_utf8(xml) else {
        return Err(vec![violation(
            &catalogue::XML_CODIFICA,
            "",
            "Per la conversione in JSON il flusso XML deve essere codificato in UTF-8.".into(),
            None,
        )]);
    };
    Converter {
        text,
        stack: Vec::new(),
        tipo: None,
        root: None,
    }
    .run()
    .map_err(|v| vec![v])
}

struct Converter<'a> {
    text: &'a str,
    stack: Vec<Frame>,
    tipo: Option<FlowType>,
    root: Option<Map<String, Value>>,
}

impl<'a> Converter<'a> {
    fn run(mut self) -> Result<Value, Violation> {
        let mut r = NsReader::from_str(self.text);
        loop {
            let at = r.buffer_position();
            let (ns, ev) = r
                .read_resolved_event()
                .map_err(|e| self.err(&catalogue::XML_MALFORMATO, at, e.to_string()))?;
            let ns_ok = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NAMESPACE);
            match ev {
                Event::Start(e) => self.start(&r, &e, ns_ok, at)?,
                Event::Empty(e) => {
                    self.start(&r, &e, ns_ok, at)?;
                    self.end();
                }
                Event::End(_) => self.end(),
                Event::Text(t) => self.text(&t.xml10_content(), at)?,
                Event::CData(c) => {
                    self.text(&c.xml10_content(), at)?;
                }
                Event::GeneralRef(g) => {
                    let c = match g.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        _ => match &*g {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            _ => {
                                return Err(self.err(
                                    &catalogue::XML_MALFORMATO,
                                    at,
                                    format!("riferimento a entità non definita &{};", &*g),
                                ));
                            }
                        },
                    };
                    self.text(c.encode_utf8(&mut [0; 4]), at)?;
                }
                Event::DocType(_) => {
                    return Err(self.err(
                        &catalogue::XML_DTD,
                        at,
                        "DTD non ammesse nei flussi".into(),
                    ));
                }
                Event::Eof => break,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
        let root = self.root.take().ok_or_else(|| {
            self.err(
                &catalogue::XSD_RADICE,
                0,
                "il documento non contiene l'elemento Flusso".into(),
            )
        })?;
        Ok(Value::Object(root))
    }

    fn err(&self, rule: &RuleDef, at: u64, msg: String) -> Violation {
        let path: Vec<&str> = self.stack.iter().map(|f| f.kind.name()).collect();
        let at = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let line = self.text.as_bytes()[..at]
            .iter()
            .filter(|&&c| c == b'\n')
            .count() as u64
            + 1;
        violation(
            rule,
            &path.join("/"),
            format!("Flusso XML non convertibile in JSON (riga {line}): {msg}."),
            Some(line),
        )
    }

    fn particles(&self, kind: Kind) -> &'static [crate::xml::schema::Particle] {
        shape::particles(kind, self.tipo.unwrap_or(FlowType::PsPsaSina))
    }

    fn start(
        &mut self,
        r: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        ns_ok: bool,
        at: u64,
    ) -> Result<(), Violation> {
        let local = e.local_name();
        let name = local.as_ref().to_string();
        let (kind, particle) = match self.stack.last() {
            None => {
                if self.root.is_some() || name != "Flusso" || !ns_ok {
                    return Err(self.err(
                        &catalogue::XSD_RADICE,
                        at,
                        format!("elemento radice {name} inatteso: atteso Flusso nel namespace {NAMESPACE}"),
                    ));
                }
                (Kind::Flusso, 0)
            }
            Some(parent) => {
                let parent_kind = parent.kind;
                if parent_kind == Kind::Flusso && self.tipo.is_none() {
                    match name.as_str() {
                        "SINBA" => self.tipo = Some(FlowType::Sinba),
                        "Beneficiario" => self.tipo = Some(FlowType::PsPsaSina),
                        _ => {}
                    }
                }
                let ps = self.particles(parent_kind);
                let step = if ns_ok && !shape::is_text(parent_kind) {
                    self.stack.last_mut().map(|f| f.seq.offer(ps, &name))
                } else {
                    None
                };
                match step {
                    Some(Step::Accept { particle, .. }) => (ps[particle].kind, particle),
                    _ => {
                        return Err(self.err(
                            &catalogue::XSD_ELEMENTO_INATTESO,
                            at,
                            format!(
                                "elemento {name} non previsto in {} (o fuori dall'ordine dell'XSD)",
                                parent_kind.name()
                            ),
                        ));
                    }
                }
            }
        };
        let mut obj = Map::new();
        let decls = shape::attrs(kind);
        for a in e.attributes() {
            let a = a.map_err(|e| self.err(&catalogue::XML_MALFORMATO, at, e.to_string()))?;
            if a.key.as_namespace_binding().is_some() {
                continue;
            }
            let (ans, aname) = r.resolver().resolve_attribute(a.key);
            let aname = aname.as_ref().to_string();
            match ans {
                // xsi:type can only name the element's own type here (the
                // reader checked it); schemaLocation hints carry no data.
                ResolveResult::Bound(n) if n.as_ref() == XSI => continue,
                ResolveResult::Unbound if decls.iter().any(|d| d.name == aname) => {
                    let v = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| self.err(&catalogue::XML_MALFORMATO, at, e.to_string()))?;
                    obj.insert(aname, Value::String(v.into_owned()));
                }
                _ => {
                    return Err(self.err(
                        &catalogue::XSD_ATTRIBUTO_NON_PREVISTO,
                        at,
                        format!("attributo {aname} non previsto per {}", kind.name()),
                    ));
                }
            }
        }
        self.stack.push(Frame {
            kind,
            particle,
            seq: SeqState::default(),
            obj,
            text: String::new(),
        });
        Ok(())
    }

    fn text(&mut self, s: &str, at: u64) -> Result<(), Violation> {
        let Some(top) = self.stack.last_mut() else {
            return Ok(()); // white space around the root (the reader checked it)
        };
        if shape::is_text(top.kind) {
            top.text.push_str(s);
            Ok(())
        } else if s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            Ok(())
        } else {
            let k = top.kind.name();
            Err(self.err(
                &catalogue::XSD_TESTO_NON_PREVISTO,
                at,
                format!("testo non previsto nell'elemento {k}"),
            ))
        }
    }

    fn end(&mut self) {
        let Some(f) = self.stack.pop() else {
            return;
        };
        let value = if shape::is_text(f.kind) {
            Value::String(f.text)
        } else {
            Value::Object(f.obj)
        };
        let Some(parent) = self.stack.last_mut() else {
            // The root: a lone record is written as an object.
            let mut root = match value {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            for key in ["Beneficiario", "SINBA"] {
                if let Some(Value::Array(items)) = root.get_mut(key)
                    && items.len() == 1
                {
                    let one = items.pop().unwrap_or(Value::Null);
                    root.insert(key.to_string(), one);
                }
            }
            self.root = Some(root);
            return;
        };
        let ps = shape::particles(parent.kind, self.tipo.unwrap_or(FlowType::PsPsaSina));
        let p = &ps[f.particle];
        match shape::repr(parent.kind, p) {
            Repr::One => {
                parent.obj.insert(p.name.to_string(), value);
            }
            Repr::List | Repr::OneOrList => {
                let slot = parent
                    .obj
                    .entry(p.name.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = slot {
                    items.push(value);
                }
            }
        }
    }
}
