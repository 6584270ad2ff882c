//! The flows a comune publishes: one-beneficiary one-benefit XML made by
//! `casellario-gen`, and the JSON entries of `GET /flussi` built from them.

use crate::Entry;
use base64::Engine as _;
use casellario_domain::FlowType;
use casellario_domain::model::{IdentificazioneFlusso, PrestazioniSociali};
use casellario_domain::reference;
use casellario_formats::xml::XmlFlowWriter;
use casellario_gen::{GenItem, GenOptions, Generator};
use serde::{Deserialize, Serialize};

/// The wire form of one `Flusso` of `elenco_flussi` (spec: `additionalProperties: false`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireEntry {
    pub codice_ente: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub denominazione_ente: Option<String>,
    pub id_flusso: String,
    pub ts_flusso: String,
    pub tipo: String,
    pub flusso: String,
}

/// The JSON of one entry, encoded once at publish time so serving pages is a
/// concatenation.
pub(crate) fn encode_entry(e: &Entry) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        codice_ente: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        denominazione_ente: Option<&'a str>,
        id_flusso: &'a str,
        ts_flusso: String,
        tipo: &'a str,
        flusso: &'a str,
    }
    serde_json::to_string(&Borrowed {
        codice_ente: &e.codice_ente,
        denominazione_ente: e.denominazione_ente.as_deref(),
        id_flusso: &e.id_flusso,
        ts_flusso: crate::ts::format_ms(e.ts_flusso_ms),
        tipo: &e.tipo,
        flusso: &e.flusso_base64,
    })
    .expect("a struct of strings always serializes")
}

/// The `tipo` wire value of a flow type.
pub(crate) fn tipo_wire(sinba: bool) -> &'static str {
    if sinba { "SINBA" } else { "PS_PSA_SINA" }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Streams records out of two `casellario-gen` generators (PS and SINBA) and
/// wraps each in its own flow with the name and ente the fake comune assigns.
///
/// One generator per kind for the whole batch, not one per flow: setting a
/// generator up costs far more than drawing a record, and within one
/// generator beneficiaries, protocols and SINBA case numbers never repeat, so
/// the register sees no accidental duplicate between the flows of a batch.
pub(crate) struct Factory {
    ps: Generator,
    sinba: Generator,
    codice: String,
    denominazione: String,
}

impl Factory {
    /// `n_ps`/`n_sinba`: how many flows of each kind will be drawn (PS may be
    /// exceeded by a few: the generator stops only at its record count).
    pub fn new(codice: &str, denominazione: &str, seed: u64, n_ps: usize, n_sinba: usize) -> Self {
        // The seat is the ente's own comune when the code is a Belfiore code
        // the reference tables know (the usual case: comuni are enti).
        let belfiore = reference::comune_by_belfiore(codice).map(|_| codice.to_string());
        let opts = |tipo, records: usize, seed| GenOptions {
            tipo,
            records: u64::try_from(records).unwrap_or(u64::MAX),
            seed,
            error_rate: 0.0,
            ente_codice: Some(codice.to_string()),
            ente_belfiore: belfiore.clone(),
            nome: None,
            anno: 2025,
        };
        // A PS item carries 1–4 records, so 4 per flow always suffices; the
        // spare records cost nothing (the generator is lazy).
        let ps_records = n_ps.saturating_mul(4).saturating_add(64);
        Factory {
            ps: Generator::new(&opts(FlowType::PsPsaSina, ps_records, seed)),
            sinba: Generator::new(&opts(
                FlowType::Sinba,
                n_sinba.saturating_add(16),
                seed ^ 0x5_1BA0_5EED,
            )),
            codice: codice.to_string(),
            denominazione: denominazione.to_string(),
        }
    }

    fn header(&self, g: &Generator, nome: &str) -> IdentificazioneFlusso {
        let mut h = g.header();
        h.nome = Some(nome.to_string());
        h.ente.codice = Some(self.codice.clone());
        let d = self.denominazione.trim();
        // Ente/@Denominazione is 1–100 characters in the XSD.
        if !d.is_empty() && d.chars().count() <= 100 {
            h.ente.denominazione = Some(d.to_string());
        }
        h
    }

    /// Next PS beneficiary with its benefits (regenerates when the
    /// generator runs dry, which a caller's count makes impossible in practice).
    fn next_ps(
        &mut self,
    ) -> (
        std::sync::Arc<casellario_domain::model::Beneficiario>,
        Vec<PrestazioniSociali>,
    ) {
        loop {
            match self.ps.next() {
                Some(GenItem::Beneficiario {
                    beneficiario,
                    prestazioni,
                }) if !prestazioni.is_empty() => return (beneficiario, prestazioni),
                Some(_) => continue,
                None => {
                    let seed = self.ps.stats().records ^ 0xA5A5;
                    let codice = self.codice.clone();
                    let den = self.denominazione.clone();
                    let fresh = Factory::new(&codice, &den, seed, 1024, 0);
                    self.ps = fresh.ps;
                }
            }
        }
    }

    fn next_sinba(&mut self) -> casellario_domain::model::Sinba {
        loop {
            match self.sinba.next() {
                Some(GenItem::Sinba(s)) => return s,
                Some(_) => continue,
                None => {
                    let seed = self.sinba.stats().records ^ 0x5A5A;
                    let codice = self.codice.clone();
                    let den = self.denominazione.clone();
                    let fresh = Factory::new(&codice, &den, seed, 0, 1024);
                    self.sinba = fresh.sinba;
                }
            }
        }
    }

    /// A PS flow named `nome` with `beneficiaries` beneficiaries of
    /// `benefits` benefits each (1 and 1 for a valid WaaS flow).
    pub fn ps_xml(&mut self, nome: &str, beneficiaries: usize, benefits: usize) -> Vec<u8> {
        let header = self.header(&self.ps, nome);
        let mut w = XmlFlowWriter::new(Vec::with_capacity(2048), FlowType::PsPsaSina, &header)
            .expect("writing to a Vec cannot fail");
        for _ in 0..beneficiaries {
            // A beneficiary carries 1–4 records: for deliberately broken
            // flows asking for more than one, draw until one has enough.
            let (mut b, mut p) = self.next_ps();
            let mut guard = 0;
            while p.len() < benefits && guard < 1000 {
                (b, p) = self.next_ps();
                guard += 1;
            }
            let refs: Vec<&PrestazioniSociali> = p.iter().take(benefits).collect();
            w.write_beneficiario(&b, &refs)
                .expect("writing to a Vec cannot fail");
        }
        w.finish().expect("writing to a Vec cannot fail")
    }

    /// A SINBA flow named `nome` with one record.
    pub fn sinba_xml(&mut self, nome: &str) -> Vec<u8> {
        let header = self.header(&self.sinba, nome);
        let s = self.next_sinba();
        let mut w = XmlFlowWriter::new(Vec::with_capacity(2048), FlowType::Sinba, &header)
            .expect("writing to a Vec cannot fail");
        w.write_sinba(&s).expect("writing to a Vec cannot fail");
        w.finish().expect("writing to a Vec cannot fail")
    }
}
