//! Preparation stage: business rules, natural key, canonical payload and
//! content hash of each record. Pure CPU work, run on its own thread so it
//! overlaps parsing and storage.

use casellario_domain::codes::{CaratterePrestazione, TipoOperazione};
use casellario_domain::model::{Beneficiario, PrestazioniSociali, Record};
use casellario_domain::rules::{self, RuleContext};
use casellario_domain::xsd::XsDate;
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
    /// Whether records will be stored (else only their identity matters).
    store: bool,
    /// Reused buffers: key material and, in a dry run, the payload.
    key_buf: Vec<u8>,
    scratch: Vec<u8>,
    /// (beneficiary, key-only?, its violations). The `Arc` is held, not just
    /// its address: a freed beneficiary's address may be reused by the next.
    last_benef: Option<(Arc<Beneficiario>, bool, Vec<Violation>)>,
}

impl Preparer {
    pub fn new(ctx: RuleContext, ente: String, store: bool) -> Self {
        Preparer {
            ctx,
            ente,
            store,
            key_buf: Vec::with_capacity(128),
            scratch: Vec::with_capacity(1024),
            last_benef: None,
        }
    }

    pub fn prepare(&mut self, rec: Box<ParsedRecord>, forced: Option<CodiceEsito>) -> Prepared {
        let ParsedRecord {
            pos,
            line,
            record,
            mut violations,
        } = *rec;
        let (op, key, subject, codice, protocollo, data_rif);
        match &record {
            Record::Ps(ps) => {
                // A cancellation only needs the fields of its key to be right:
                // a wrong Anagrafica must not block it.
                let key_only =
                    ps.prestazione.tipo_operazione == Some(TipoOperazione::Cancellazione);
                let benef = match &self.last_benef {
                    Some((b, k, v)) if Arc::ptr_eq(b, &ps.beneficiario) && *k == key_only => {
                        v.clone()
                    }
                    _ => {
                        let mut v = Vec::new();
                        if key_only {
                            rules::check_beneficiario_chiave(&self.ctx, &ps.beneficiario, &mut v);
                        } else {
                            rules::check_beneficiario(&self.ctx, &ps.beneficiario, &mut v);
                        }
                        self.last_benef = Some((ps.beneficiario.clone(), key_only, v.clone()));
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
                let cf = ps.beneficiario.codice_fiscale.as_deref().unwrap_or("");
                let cf = cf.trim_end_matches(' ');
                let d = key_date(p);
                // Same bytes as key_hash(b'P', [ente, CF upper case, codice,
                // protocollo, date]), built in a reused buffer.
                let kb = &mut self.key_buf;
                kb.clear();
                kb.push(b'P');
                for part in [
                    self.ente.as_bytes(),
                    cf.as_bytes(),
                    opt(&p.codice_prestazione).as_bytes(),
                    opt(&p.protocollo_domanda).as_bytes(),
                ] {
                    kb.extend_from_slice(part);
                    kb.push(0x1f);
                }
                let cf_at = self.ente.len() + 2;
                kb[cf_at..cf_at + cf.len()].make_ascii_uppercase();
                if let Some(d) = d {
                    d.write_to(kb);
                }
                kb.push(0x1f);
                key = hash16(kb);
                if self.store {
                    subject = cf.to_ascii_uppercase();
                    codice = p.codice_prestazione.clone();
                    protocollo = p.protocollo_domanda.clone();
                    data_rif = d.map(date_text);
                } else {
                    (subject, codice, protocollo, data_rif) = (String::new(), None, None, None);
                }
            }
            Record::Sinba(s) => {
                let mut own = Vec::new();
                rules::check_sinba(&self.ctx, s, &mut own);
                for v in &mut own {
                    v.line = v.line.or(Some(line));
                }
                violations.extend(own);
                op = Op::Supersede;
                let id = opt(&s.id_beneficiario);
                let dps = s
                    .data_prima_segnalazione
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                key = key_hash(b'S', &[&self.ente, id, &dps]);
                subject = if self.store {
                    id.to_string()
                } else {
                    String::new()
                };
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
        let (payload, content) = if error_code != CodiceEsito::Ok || forced.is_some() {
            (Vec::new(), [0; 16])
        } else if self.store {
            let payload = canonical_payload(record);
            let content = hash16(&payload);
            (payload, content)
        } else {
            // Dry run: only the content's identity is needed (duplicates within the flow).
            self.scratch.clear();
            casellario_domain::codec::encode(&canonicalize(record), &mut self.scratch);
            (Vec::new(), hash16(&self.scratch))
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

/// `d.to_string()` without the formatting machinery (same text).
fn date_text(d: XsDate) -> String {
    let mut b = Vec::with_capacity(10);
    d.write_to(&mut b);
    String::from_utf8(b).unwrap_or_else(|_| d.to_string())
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Codice fiscale as keyed: upper case, trailing spaces of numeric codes dropped.
pub fn normalize_cf(s: &str) -> String {
    s.trim_end_matches(' ').to_ascii_uppercase()
}

/// The date that keys a PS record: start of a periodic benefit, payment of a
/// one-off one (DOMAIN.md §2.7). The timezone, if any, is not part of it.
fn key_date(p: &PrestazioniSociali) -> Option<XsDate> {
    let d = match p.carattere_prestazione {
        Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => {
            p.data_erogazione_prestazione.or(p.data_inizio_prestazione)
        }
        _ => p.data_inizio_prestazione.or(p.data_erogazione_prestazione),
    };
    d.map(|d| XsDate::from_date(d.date()))
}

/// Natural key hash (XXH3-128): fields joined with a separator that cannot
/// occur in them (U+001F is not allowed in XML 1.0 content). Keys only ever
/// meet keys of the same ente, so a non-cryptographic 128-bit hash is enough
/// and keeps hashing off the profile.
pub fn key_hash(kind: u8, parts: &[&str]) -> [u8; 16] {
    let mut buf = Vec::with_capacity(96);
    buf.push(kind);
    for p in parts {
        buf.extend_from_slice(p.as_bytes());
        buf.push(0x1f);
    }
    xxhash_rust::xxh3::xxh3_128(&buf).to_le_bytes()
}

fn hash16(bytes: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes()
}

/// The stored form of a record (`casellario_domain::codec`).
/// `TipoOperazione="I"` is the default and is dropped, so that a record sent
/// with and without it is the same content.
pub fn canonical_payload(record: Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    casellario_domain::codec::encode(&canonicalize(record), &mut out);
    out
}

fn canonicalize(record: Record) -> Record {
    match record {
        Record::Ps(mut ps) => {
            if ps.prestazione.tipo_operazione == Some(TipoOperazione::Inserimento) {
                ps.prestazione.tipo_operazione = None;
            }
            Record::Ps(ps)
        }
        r => r,
    }
}

/// Decodes a stored payload.
pub fn decode_payload(bytes: &[u8]) -> Result<Record, casellario_domain::codec::CodecError> {
    casellario_domain::codec::decode(bytes)
}
