//! Preparation stage: business rules, natural key, canonical payload and
//! content hash of each record. Pure CPU work, run on its own thread so it
//! overlaps parsing and storage.

use casellario_domain::codes::{CaratterePrestazione, TipoOperazione};
use casellario_domain::model::{PrestazioniSociali, Record};
use casellario_domain::rules::{self, RuleContext};
use casellario_domain::{CodiceEsito, Severity, Violation};
use casellario_formats::ParsedRecord;
use std::sync::Arc;

/// What the register does with a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// PS `TipoOperazione="I"` (or absent).
    Insert,
    /// PS `TipoOperazione="C"`.
    Cancel,
    /// SINBA: no operation type in the XSD; a record with the same key and a
    /// different content supersedes the live one.
    Supersede,
}

/// A record ready for key resolution and storage.
#[derive(Debug)]
pub struct Prepared {
    pub pos: u64,
    pub line: u64,
    pub violations: Vec<Violation>,
    /// Gravest code among error violations (`Ok` when none).
    pub error_code: CodiceEsito,
    /// The flow is rejected whole with this code: never store, outcome forced to `scartato`.
    pub forced: Option<CodiceEsito>,
    pub op: Op,
    pub key: [u8; 16],
    pub content: [u8; 16],
    pub payload: Vec<u8>,
    pub subject: String,
    pub codice: Option<String>,
    pub protocollo: Option<String>,
    pub data_rif: Option<String>,
}

/// Per-flow preparation state (caches the beneficiary's own checks, which
/// apply to every record of the beneficiary).
pub struct Preparer {
    ctx: RuleContext,
    ente: String,
    /// (beneficiary pointer, key-only?, its violations)
    last_benef: Option<(usize, bool, Vec<Violation>)>,
}

impl Preparer {
    pub fn new(ctx: RuleContext, ente: String) -> Self {
        Preparer {
            ctx,
            ente,
            last_benef: None,
        }
    }

    pub fn prepare(&mut self, rec: ParsedRecord, forced: Option<CodiceEsito>) -> Prepared {
        let ParsedRecord {
            pos,
            line,
            record,
            mut violations,
        } = rec;
        let (op, key, subject, codice, protocollo, data_rif);
        match &record {
            Record::Ps(ps) => {
                let ptr = Arc::as_ptr(&ps.beneficiario) as usize;
                // A cancellation only needs the fields of its key to be right:
                // a wrong Anagrafica must not block it.
                let key_only =
                    ps.prestazione.tipo_operazione == Some(TipoOperazione::Cancellazione);
                let benef = match &self.last_benef {
                    Some((p, k, v)) if *p == ptr && *k == key_only => v.clone(),
                    _ => {
                        let mut v = Vec::new();
                        if key_only {
                            rules::check_beneficiario_chiave(&self.ctx, &ps.beneficiario, &mut v);
                        } else {
                            rules::check_beneficiario(&self.ctx, &ps.beneficiario, &mut v);
                        }
                        self.last_benef = Some((ptr, key_only, v.clone()));
                        v
                    }
                };
                let mut own = benef;
                rules::check_prestazione(&self.ctx, &ps.beneficiario, &ps.prestazione, &mut own);
                for v in &mut own {
                    v.line = v.line.or(Some(line));
                }
                violations.extend(own);
                let p = &ps.prestazione;
                op = if p.tipo_operazione == Some(TipoOperazione::Cancellazione) {
                    Op::Cancel
                } else {
                    Op::Insert
                };
                let cf = ps
                    .beneficiario
                    .codice_fiscale
                    .as_deref()
                    .map(normalize_cf)
                    .unwrap_or_default();
                let d = key_date(p);
                key = key_hash(
                    b'P',
                    &[
                        &self.ente,
                        &cf,
                        opt(&p.codice_prestazione),
                        opt(&p.protocollo_domanda),
                        &d,
                    ],
                );
                subject = cf;
                codice = p.codice_prestazione.clone();
                protocollo = p.protocollo_domanda.clone();
                data_rif = (!d.is_empty()).then_some(d);
            }
            Record::Sinba(s) => {
                let mut own = Vec::new();
                rules::check_sinba(&self.ctx, s, &mut own);
                for v in &mut own {
                    v.line = v.line.or(Some(line));
                }
                violations.extend(own);
                op = Op::Supersede;
                let id = opt(&s.id_beneficiario).to_string();
                let dps = s
                    .data_prima_segnalazione
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                key = key_hash(b'S', &[&self.ente, &id, &dps]);
                subject = id;
                codice = None;
                protocollo = None;
                data_rif = None;
            }
        }
        let error_code = violations
            .iter()
            .filter(|v| v.severity == Severity::Errore)
            .map(Violation::codice_esito)
            .max()
            .unwrap_or(CodiceEsito::Ok);
        let (payload, content) = if error_code == CodiceEsito::Ok && forced.is_none() {
            let payload = canonical_payload(record);
            let content = hash16(b"C", &payload);
            (payload, content)
        } else {
            (Vec::new(), [0; 16])
        };
        Prepared {
            pos,
            line,
            violations,
            error_code,
            forced,
            op,
            key,
            content,
            payload,
            subject,
            codice,
            protocollo,
            data_rif,
        }
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Codice fiscale as keyed: upper case, trailing spaces of numeric codes dropped.
pub fn normalize_cf(s: &str) -> String {
    s.trim_end_matches(' ').to_ascii_uppercase()
}

/// The date that keys a PS record: start of a periodic benefit, payment of a
/// one-off one (DOMAIN.md §2.7).
fn key_date(p: &PrestazioniSociali) -> String {
    let d = match p.carattere_prestazione {
        Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => {
            p.data_erogazione_prestazione.or(p.data_inizio_prestazione)
        }
        _ => p.data_inizio_prestazione.or(p.data_erogazione_prestazione),
    };
    d.map(|d| d.date().to_string()).unwrap_or_default()
}

/// Natural key hash: fields joined with a separator that cannot occur in them
/// (U+001F is not allowed in XML 1.0 content).
pub fn key_hash(kind: u8, parts: &[&str]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(&[kind]);
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0x1f]);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

fn hash16(domain: &[u8], bytes: &[u8]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// The stored form of a record: JSON with the XSD names. `TipoOperazione="I"`
/// is the default and is dropped, so that a record sent with and without it
/// is the same content.
pub fn canonical_payload(record: Record) -> Vec<u8> {
    let record = match record {
        Record::Ps(mut ps) => {
            if ps.prestazione.tipo_operazione == Some(TipoOperazione::Inserimento) {
                ps.prestazione.tipo_operazione = None;
            }
            Record::Ps(ps)
        }
        r => r,
    };
    serde_json::to_vec(&record).unwrap_or_default()
}

/// Decodes a stored payload.
pub fn decode_payload(bytes: &[u8]) -> Result<Record, serde_json::Error> {
    serde_json::from_slice(bytes)
}
