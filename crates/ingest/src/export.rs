//! Export of the current view of an ente as a flow (XML valid against the
//! XSD, or CSV). Importing the export into an empty register gives the same
//! current view: records keep their exact content and consecutive records of
//! an identical beneficiary are grouped under one `Beneficiario`.

use crate::prepare::decode_payload;
use casellario_domain::model::{
    Beneficiario, Ente, IdentificazioneFlusso, PrestazioniSociali, Record,
};
use casellario_domain::{Date, FlowType};
use casellario_formats::csv::CsvFlowWriter;
use casellario_formats::xml::XmlFlowWriter;
use casellario_store::{Store, StoreError};
use std::io::{self, Write};
use std::sync::Arc;

pub struct ExportOptions {
    pub ente: String,
    pub tipo: FlowType,
    pub csv: bool,
    /// Flow name; default `{ente}.{PS|SINBA}.{today}.0000001`.
    pub nome: Option<String>,
    /// Operator; default the operator of the ente's latest flow.
    pub cf_operatore: Option<String>,
    pub today: Date,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("scrittura non riuscita: {0}")]
    Io(#[from] io::Error),
    #[error("ente {0} non presente nel registro")]
    UnknownEnte(String),
    #[error("record {0} del registro non decodificabile: {1}")]
    Payload(i64, String),
    #[error("nessun operatore noto per l'ente {0}: indicare --cf-operatore")]
    NoOperator(String),
}

enum Sink<W: Write> {
    Xml(Box<XmlFlowWriter<W>>),
    Csv(Box<CsvFlowWriter<W>>),
}

impl<W: Write> Sink<W> {
    fn beneficiario(&mut self, b: &Beneficiario, p: &[&PrestazioniSociali]) -> io::Result<()> {
        match self {
            Sink::Xml(w) => w.write_beneficiario(b, p),
            Sink::Csv(w) => w.write_beneficiario(b, p),
        }
    }
    fn sinba(&mut self, s: &casellario_domain::model::Sinba) -> io::Result<()> {
        match self {
            Sink::Xml(w) => w.write_sinba(s),
            Sink::Csv(w) => w.write_sinba(s),
        }
    }
    fn finish(self) -> io::Result<W> {
        match self {
            Sink::Xml(w) => w.finish(),
            Sink::Csv(w) => w.finish(),
        }
    }
}

/// Writes the current view; returns the number of records exported.
pub fn export<W: Write>(store: &Store, opts: &ExportOptions, out: W) -> Result<u64, ExportError> {
    let ente = store
        .ente(&opts.ente)?
        .ok_or_else(|| ExportError::UnknownEnte(opts.ente.clone()))?;
    let cf_operatore = match &opts.cf_operatore {
        Some(cf) => cf.clone(),
        None => store
            .list_flows(Some(&opts.ente), 1, None)?
            .into_iter()
            .next()
            .map(|f| f.cf_operatore)
            .ok_or_else(|| ExportError::NoOperator(opts.ente.clone()))?,
    };
    let seg = match opts.tipo {
        FlowType::PsPsaSina => "PS",
        FlowType::Sinba => "SINBA",
    };
    let d = opts.today;
    let nome = opts.nome.clone().unwrap_or_else(|| {
        format!(
            "{}.{seg}.{:04}{:02}{:02}.0000001",
            opts.ente, d.year, d.month, d.day
        )
    });
    let id = IdentificazioneFlusso {
        nome: Some(nome),
        ente: Ente {
            codice: Some(ente.codice.clone()),
            denominazione: ente.denominazione.clone(),
            indirizzo: Some(ente.belfiore.clone()),
            cf_operatore: Some(cf_operatore),
        },
    };
    let mut sink = if opts.csv {
        Sink::Csv(Box::new(CsvFlowWriter::new(out, opts.tipo, &id)?))
    } else {
        Sink::Xml(Box::new(XmlFlowWriter::new(out, opts.tipo, &id)?))
    };
    let mut count = 0u64;
    let mut group: Option<(Arc<Beneficiario>, Vec<PrestazioniSociali>)> = None;
    let mut failure: Option<ExportError> = None;
    store.for_each_live(&opts.ente, opts.tipo, &mut |live| {
        let rec = match decode_payload(&live.payload) {
            Ok(r) => r,
            Err(e) => {
                failure = Some(ExportError::Payload(live.version_id, e.to_string()));
                return Ok(());
            }
        };
        count += 1;
        let res = match rec {
            Record::Sinba(s) => sink.sinba(&s),
            Record::Ps(ps) => match &mut group {
                Some((b, list)) if **b == *ps.beneficiario => {
                    list.push(ps.prestazione);
                    Ok(())
                }
                _ => {
                    let prev = group.replace((ps.beneficiario, vec![ps.prestazione]));
                    match prev {
                        Some((b, list)) => sink.beneficiario(&b, &list.iter().collect::<Vec<_>>()),
                        None => Ok(()),
                    }
                }
            },
        };
        if let Err(e) = res {
            failure = Some(e.into());
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some((b, list)) = group {
        sink.beneficiario(&b, &list.iter().collect::<Vec<_>>())?;
    }
    let mut w = sink.finish()?;
    w.flush()?;
    Ok(count)
}
