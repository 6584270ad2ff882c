//! CSV writer: typed records → rows of the documented layout.

use super::layout::*;
use casellario_domain::FlowType;
use casellario_domain::codes::CodeEnum;
use casellario_domain::model::{
    Beneficiario, IdentificazioneFlusso, Indirizzo, PrestazioniSociali, Sinba, XsdElement,
};
use std::io::{self, Write};

/// Writes a flow as CSV: UTF-8 with BOM (so that Excel detects the
/// encoding), `;` separator, CRLF, a header row with every column of the flow
/// type in the documented order, values in their XSD lexical form (decimals
/// with `.`, dates `AAAA-MM-GG`), so that write → read → write is byte-stable.
pub struct CsvFlowWriter<W: Write> {
    w: ::csv::Writer<W>,
    tipo: FlowType,
    flow: [String; 5],
    row: Vec<String>,
}

impl<W: Write> CsvFlowWriter<W> {
    pub fn new(mut out: W, tipo: FlowType, id: &IdentificazioneFlusso) -> io::Result<Self> {
        out.write_all(b"\xEF\xBB\xBF")?;
        let mut w = ::csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(::csv::Terminator::CRLF)
            .from_writer(out);
        let names = column_names(tipo);
        w.write_record(&names)?;
        let e = &id.ente;
        let flow = [
            &id.nome,
            &e.codice,
            &e.denominazione,
            &e.indirizzo,
            &e.cf_operatore,
        ]
        .map(|v| v.clone().unwrap_or_default());
        Ok(CsvFlowWriter {
            w,
            tipo,
            flow,
            row: vec![String::new(); names.len()],
        })
    }

    /// One row per benefit, each repeating the beneficiary. A beneficiary
    /// without benefits writes nothing (a row is a beneficiary × benefit).
    pub fn write_beneficiario(
        &mut self,
        b: &Beneficiario,
        prestazioni: &[&PrestazioniSociali],
    ) -> io::Result<()> {
        if self.tipo != FlowType::PsPsaSina {
            return Err(invalid("write_beneficiario su un flusso SINBA"));
        }
        if b.indirizzi.len() > MAX_INDIRIZZI {
            return Err(invalid("più di 5 residenze (Indirizzo) per beneficiario"));
        }
        for p in prestazioni {
            self.start_row();
            put(&mut self.row, PS_CF, b);
            put(&mut self.row, PS_ANAG, &b.anagrafica);
            for (n, ind) in b.indirizzi.iter().enumerate() {
                put(&mut self.row, PS_IND + n * Indirizzo::ATTRS.len(), ind);
            }
            put(&mut self.row, PS_PREST, *p);
            if let Some(s) = &p.sina {
                put(&mut self.row, PS_SINA, s);
                if let Some(l) = &s.necessita_interventi_sociali {
                    join(&mut self.row[PS_NECESSITA], l.iter().map(String::as_str));
                }
                if let Some(l) = &s.invalidita_civile {
                    join(&mut self.row[PS_INVCIV], l.iter().map(|c| c.code()));
                }
            }
            self.w.write_record(&self.row)?;
        }
        Ok(())
    }

    pub fn write_sinba(&mut self, s: &Sinba) -> io::Result<()> {
        if self.tipo != FlowType::Sinba {
            return Err(invalid("write_sinba su un flusso PS_PSA_SINA"));
        }
        self.start_row();
        put(&mut self.row, SB_ATTRS, s);
        join(
            &mut self.row[SB_PRESTAZIONI],
            s.prestazioni.iter().map(String::as_str),
        );
        join(
            &mut self.row[SB_FAMIGLIA],
            s.famiglia.iter().map(|c| c.code()),
        );
        self.w.write_record(&self.row)?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }

    fn start_row(&mut self) {
        for c in &mut self.row {
            c.clear();
        }
        for (c, v) in self.row.iter_mut().zip(&self.flow) {
            c.push_str(v);
        }
    }
}

/// Writes the present attributes of `el` into its layout block.
fn put<E: XsdElement>(row: &mut [String], first: usize, el: &E) {
    el.visit_attrs(&mut |name, value| {
        if let Some(k) = E::ATTRS.iter().position(|a| a.name == name) {
            row[first + k].push_str(value);
        }
    });
}

fn join<'a>(cell: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, s) in items.enumerate() {
        if i > 0 {
            cell.push(LIST_SEP);
        }
        cell.push_str(s);
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("tracciato CSV: {what}"),
    )
}
