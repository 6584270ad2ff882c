//! The flows a comune publishes: one-beneficiary one-benefit XML made by
//! `casellario-gen`, and the JSON entries of `GET /flussi` built from them.

use crate::Entry;
use base64::Engine as _;
use casellario_domain::FlowType;
use casellario_domain::model::{Beneficiario, IdentificazioneFlusso, PrestazioniSociali};
use casellario_domain::reference;
use casellario_formats::xml::XmlFlowWriter;
use casellario_gen::{GenItem, GenOptions, Generator};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

/// The JSON of a generated entry, built directly: the constant part once per
/// batch (`head`), the base64 written straight into the result (its alphabet
/// needs no JSON escaping), one allocation of the exact size.
pub(crate) fn encode_generated(head: &str, id: &str, ts_ms: i64, tipo: &str, xml: &[u8]) -> String {
    let id = serde_json::to_string(id).expect("a string always serializes");
    let ts = crate::ts::format_ms(ts_ms);
    let b64_len = xml.len().div_ceil(3) * 4;
    let mut out =
        String::with_capacity(head.len() + id.len() + ts.len() + tipo.len() + b64_len + 64);
    out.push_str(head);
    out.push_str(",\"id_flusso\":");
    out.push_str(&id);
    out.push_str(",\"ts_flusso\":\"");
    out.push_str(&ts);
    out.push_str("\",\"tipo\":\"");
    out.push_str(tipo);
    out.push_str("\",\"flusso\":\"");
    base64::engine::general_purpose::STANDARD.encode_string(xml, &mut out);
    out.push_str("\"}");
    out
}

/// `{"codice_ente":…,"denominazione_ente":…` (no closing brace) for [`encode_generated`].
pub(crate) fn generated_head(codice: &str, denominazione: &str) -> String {
    format!(
        "{{\"codice_ente\":{},\"denominazione_ente\":{}",
        serde_json::to_string(codice).expect("a string always serializes"),
        serde_json::to_string(denominazione).expect("a string always serializes")
    )
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
    /// Benefits of the current PS beneficiary not yet sent: each becomes a
    /// flow of its own (one beneficiary, one benefit), as a comune would send them.
    pending: Option<(Arc<Beneficiario>, std::vec::IntoIter<PrestazioniSociali>)>,
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
        // Every record becomes a flow; the spare ones cost nothing (the
        // generator is lazy) and cover the flows that need two benefits.
        let ps_records = n_ps.saturating_add(64);
        Factory {
            ps: Generator::new(&opts(FlowType::PsPsaSina, ps_records, seed)),
            sinba: Generator::new(&opts(
                FlowType::Sinba,
                n_sinba.saturating_add(16),
                seed ^ 0x5_1BA0_5EED,
            )),
            pending: None,
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

    /// The next (beneficiary, one of its benefits).
    fn next_one_ps(&mut self) -> (Arc<Beneficiario>, PrestazioniSociali) {
        loop {
            if let Some((b, rest)) = &mut self.pending
                && let Some(p) = rest.next()
            {
                return (b.clone(), p);
            }
            let (b, p) = self.next_ps();
            self.pending = Some((b, p.into_iter()));
        }
    }

    /// A valid PS flow named `nome`: one beneficiary, one benefit, written into `buf`.
    pub fn ps_one_into(&mut self, nome: &str, buf: &mut Vec<u8>) {
        buf.clear();
        let header = self.header(&self.ps, nome);
        let (b, p) = self.next_one_ps();
        let mut w = XmlFlowWriter::new(&mut *buf, FlowType::PsPsaSina, &header)
            .expect("writing to a Vec cannot fail");
        w.write_beneficiario(&b, &[&p])
            .expect("writing to a Vec cannot fail");
        w.finish().expect("writing to a Vec cannot fail");
    }

    /// A valid SINBA flow named `nome`, written into `buf`.
    pub fn sinba_into(&mut self, nome: &str, buf: &mut Vec<u8>) {
        buf.clear();
        let header = self.header(&self.sinba, nome);
        let s = self.next_sinba();
        let mut w = XmlFlowWriter::new(&mut *buf, FlowType::Sinba, &header)
            .expect("writing to a Vec cannot fail");
        w.write_sinba(&s).expect("writing to a Vec cannot fail");
        w.finish().expect("writing to a Vec cannot fail");
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_encoding_matches_serde() {
        let xml = "<Flusso>\"àé\"</Flusso>".as_bytes();
        let e = Entry {
            codice_ente: "H501".into(),
            denominazione_ente: Some("Comune di \"Roma\"\n".into()),
            id_flusso: "H501.PS.20260101.0000001".into(),
            ts_flusso_ms: 1_767_225_600_123,
            tipo: "PS_PSA_SINA".into(),
            flusso_base64: b64(xml),
        };
        let head = generated_head(
            &e.codice_ente,
            e.denominazione_ente.as_deref().unwrap_or(""),
        );
        let fast = encode_generated(&head, &e.id_flusso, e.ts_flusso_ms, &e.tipo, xml);
        assert_eq!(fast, encode_entry(&e));
        let back: WireEntry = serde_json::from_str(&fast).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(back.ts_flusso, "2026-01-01T00:00:00.123Z");
    }
}
