//! Writer of the INPS XML flows: attributes in XSD declaration order, one
//! element per line, values escaped so that a reader gets them back exactly.

use casellario_domain::FlowType;
use casellario_domain::codes::CodeEnum;
use casellario_domain::model::{
    Beneficiario, IdentificazioneFlusso, NAMESPACE, PrestazioniSociali, Sinba, XsdElement,
};
use std::io::{self, Write};

/// Streaming writer of one flow. Call [`XmlFlowWriter::finish`] to close it.
pub struct XmlFlowWriter<W: Write> {
    out: W,
    tipo: FlowType,
    line: String,
}

impl<W: Write> XmlFlowWriter<W> {
    /// Writes the declaration, the root element and the header.
    pub fn new(out: W, tipo: FlowType, id: &IdentificazioneFlusso) -> io::Result<Self> {
        let mut w = XmlFlowWriter {
            out,
            tipo,
            line: String::with_capacity(1024),
        };
        w.line
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Flusso xmlns=\"");
        w.line.push_str(NAMESPACE);
        w.line.push_str("\">\n");
        w.open(1, id, false)?;
        w.open(2, &id.ente, true)?;
        w.close(1, "IdentificazioneFlusso");
        w.flush_line()?;
        Ok(w)
    }

    /// Writes one `Beneficiario` with the given benefits (its records).
    pub fn write_beneficiario(
        &mut self,
        b: &Beneficiario,
        prestazioni: &[&PrestazioniSociali],
    ) -> io::Result<()> {
        self.expect(FlowType::PsPsaSina)?;
        self.open(1, b, false)?;
        self.open(2, &b.anagrafica, true)?;
        for i in &b.indirizzi {
            self.open(2, i, true)?;
        }
        for p in prestazioni {
            match &p.sina {
                None => self.open(2, *p, true)?,
                Some(s) => {
                    self.open(2, *p, false)?;
                    let empty =
                        s.necessita_interventi_sociali.is_none() && s.invalidita_civile.is_none();
                    self.open(3, s, empty)?;
                    if let Some(l) = &s.necessita_interventi_sociali {
                        self.list(
                            4,
                            "NecessitaInterventiSociali",
                            "CodicePrestazione",
                            l.iter().map(String::as_str),
                        )?;
                    }
                    if let Some(l) = &s.invalidita_civile {
                        self.list(4, "InvaliditaCivile", "InvCiv", l.iter().map(|c| c.code()))?;
                    }
                    if !empty {
                        self.close(3, "SINA");
                    }
                    self.close(2, "PrestazioniSociali");
                }
            }
        }
        self.close(1, "Beneficiario");
        self.flush_line()
    }

    /// Writes one `SINBA` record.
    pub fn write_sinba(&mut self, s: &Sinba) -> io::Result<()> {
        self.expect(FlowType::Sinba)?;
        self.open(1, s, false)?;
        self.list(
            2,
            "Prestazioni",
            "CodicePrestazione",
            s.prestazioni.iter().map(String::as_str),
        )?;
        self.list(
            2,
            "Famiglia",
            "ComposizioneFamiglia",
            s.famiglia.iter().map(|c| c.code()),
        )?;
        self.close(1, "SINBA");
        self.flush_line()
    }

    /// Closes the root element and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.line.push_str("</Flusso>\n");
        self.flush_line()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn expect(&self, t: FlowType) -> io::Result<()> {
        if self.tipo == t {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("record {} in un flusso {}", t.wire(), self.tipo.wire()),
            ))
        }
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.line.push_str("  ");
        }
    }

    fn open<E: XsdElement>(&mut self, level: usize, el: &E, empty: bool) -> io::Result<()> {
        self.indent(level);
        self.line.push('<');
        self.line.push_str(E::ELEMENT);
        let mut bad = false;
        let line = &mut self.line;
        el.visit_attrs(&mut |name, value| {
            line.push(' ');
            line.push_str(name);
            line.push_str("=\"");
            bad |= escape_attr(line, value);
            line.push('"');
        });
        if bad {
            return Err(invalid_char());
        }
        self.line.push_str(if empty { "/>\n" } else { ">\n" });
        Ok(())
    }

    fn close(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.line.push_str("</");
        self.line.push_str(name);
        self.line.push_str(">\n");
    }

    fn list<'a>(
        &mut self,
        level: usize,
        wrapper: &str,
        item: &str,
        values: impl Iterator<Item = &'a str>,
    ) -> io::Result<()> {
        self.indent(level);
        self.line.push('<');
        self.line.push_str(wrapper);
        self.line.push_str(">\n");
        for v in values {
            self.indent(level + 1);
            self.line.push('<');
            self.line.push_str(item);
            self.line.push('>');
            if escape_text(&mut self.line, v) {
                return Err(invalid_char());
            }
            self.line.push_str("</");
            self.line.push_str(item);
            self.line.push_str(">\n");
        }
        self.close(level, wrapper);
        Ok(())
    }

    fn flush_line(&mut self) -> io::Result<()> {
        let r = self.out.write_all(self.line.as_bytes());
        self.line.clear();
        r
    }
}

fn invalid_char() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "valore con un carattere non rappresentabile in XML 1.0",
    )
}

fn is_xml_char(c: char) -> bool {
    super::lex::is_xml_char(c as u32)
}

/// Escapes an attribute value so that normalisation gives it back unchanged.
/// Returns true when a character cannot be represented in XML 1.0.
pub(crate) fn escape_attr(out: &mut String, v: &str) -> bool {
    let mut bad = false;
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => {
                bad |= !is_xml_char(c);
                out.push(c);
            }
        }
    }
    bad
}

pub(crate) fn escape_text(out: &mut String, v: &str) -> bool {
    let mut bad = false;
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => {
                bad |= !is_xml_char(c);
                out.push(c);
            }
        }
    }
    bad
}
