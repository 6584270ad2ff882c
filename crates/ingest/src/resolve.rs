//! Resolution stage: decides each record's outcome against the register
//! (natural keys, duplicates, cancellations), writes the facts and logs the
//! outcome. Runs on the thread that owns the store transaction.

use crate::log::{OutcomeLog, RecordOutcome};
use crate::prepare::{Op, Prepared};
use casellario_domain::catalogue::{REG_CANCELLAZIONE_SENZA_RECORD, REG_CHIAVE_GIA_PRESENTE};
use casellario_domain::{CodiceEsito, Esito, Profile, Severity};
use casellario_store::{CancelReason, FlowTx, NewOutcome, NewVersion, StoreError};
use std::collections::HashMap;

/// A live version as the resolver sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    id: Option<i64>,
    content: [u8; 16],
}

/// Keys kept in memory at most; past this the resolver asks the store, so
/// memory stays bounded whatever the flow's size.
pub const MEMORY_KEYS: usize = 250_000;

/// Where live keys are looked up.
pub enum Keys<'t, 'c> {
    /// No storage (dry run) or an ente with no live record yet: the map holds
    /// every key of this flow, which is then the whole truth.
    Memory {
        tx: Option<&'t mut FlowTx<'c>>,
        map: HashMap<[u8; 16], Live>,
    },
    /// The register already holds records of this ente: ask the transaction
    /// (which sees this flow's own earlier writes).
    Store(&'t mut FlowTx<'c>),
    /// Transient, while switching from `Memory` to `Store`.
    Switching,
}

/// Running totals of a flow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub worst: Option<CodiceEsito>,
}

impl Totals {
    pub fn add(&mut self, o: &RecordOutcome) {
        self.records += 1;
        match o.esito {
            Esito::Accettato => self.accettati += 1,
            Esito::Duplicato => self.duplicati += 1,
            Esito::Scartato => self.scartati += 1,
        }
        self.avvisi += o
            .violations
            .iter()
            .filter(|v| v.severity == Severity::Avviso)
            .count() as u64;
        self.worst = Some(self.worst.map_or(o.codice, |w| w.max(o.codice)));
    }
}

pub struct Resolver<'t, 'c> {
    keys: Keys<'t, 'c>,
    profile: Profile,
    /// Whether the ids of stored facts belong in the receipt (not when the
    /// store is a dry run's scratch database).
    report_ids: bool,
    pub log: OutcomeLog,
    pub totals: Totals,
}

impl<'t, 'c> Resolver<'t, 'c> {
    pub fn new(keys: Keys<'t, 'c>, profile: Profile, log: OutcomeLog, report_ids: bool) -> Self {
        Resolver {
            keys,
            profile,
            report_ids,
            log,
            totals: Totals::default(),
        }
    }

    fn tx(&mut self) -> Option<&mut FlowTx<'c>> {
        match &mut self.keys {
            Keys::Memory { tx, .. } => tx.as_deref_mut(),
            Keys::Store(tx) => Some(&mut **tx),
            Keys::Switching => None,
        }
    }

    fn live(&mut self, key: &[u8; 16]) -> Result<Option<Live>, StoreError> {
        match &mut self.keys {
            Keys::Memory { map, .. } => Ok(map.get(key).copied()),
            Keys::Switching => Ok(None),
            Keys::Store(tx) => Ok(tx.live_by_key(key)?.map(|l| Live {
                id: Some(l.version_id),
                content: l.content_hash,
            })),
        }
    }

    fn insert(&mut self, p: &Prepared) -> Result<Option<i64>, StoreError> {
        let id = match self.tx() {
            Some(tx) => Some(tx.insert_version(&NewVersion {
                pos: p.pos,
                key: p.key,
                content_hash: p.content,
                subject: &p.subject,
                codice_prestazione: p.codice.as_deref(),
                protocollo: p.protocollo.as_deref(),
                data_riferimento: p.data_rif.as_deref(),
                payload: &p.payload,
            })?),
            None => None,
        };
        if let Keys::Memory { map, tx } = &mut self.keys {
            map.insert(
                p.key,
                Live {
                    id,
                    content: p.content,
                },
            );
            // Past the cap, the transaction (which holds every key written so
            // far) answers lookups instead of the map.
            if map.len() >= MEMORY_KEYS
                && tx.is_some()
                && let Keys::Memory { tx: Some(tx), .. } =
                    std::mem::replace(&mut self.keys, Keys::Switching)
            {
                self.keys = Keys::Store(tx);
            }
        }
        Ok(id)
    }

    fn cancel(
        &mut self,
        p: &Prepared,
        live: Live,
        reason: CancelReason,
    ) -> Result<Option<i64>, StoreError> {
        let id = match (self.tx(), live.id) {
            (Some(tx), Some(target)) => Some(tx.insert_cancellation(target, p.pos, reason)?),
            _ => None,
        };
        if let Keys::Memory { map, .. } = &mut self.keys {
            map.remove(&p.key);
        }
        Ok(id)
    }

    /// Decides, stores and logs one record.
    pub fn resolve(&mut self, mut p: Prepared) -> Result<(), ResolveError> {
        let (esito, codice, ref_id) = if let Some(code) = p.forced {
            (Esito::Scartato, code.max(p.error_code), None)
        } else if p.error_code != CodiceEsito::Ok {
            (Esito::Scartato, p.error_code, None)
        } else {
            let live = self.live(&p.key)?;
            match (p.op, live) {
                (Op::Insert | Op::Supersede, None) => {
                    (Esito::Accettato, CodiceEsito::Ok, self.insert(&p)?)
                }
                (Op::Insert | Op::Supersede, Some(l)) if l.content == p.content => {
                    (Esito::Duplicato, CodiceEsito::Ok, l.id)
                }
                (Op::Insert, Some(l)) => {
                    let mut v = REG_CHIAVE_GIA_PRESENTE.violation(
                        self.profile,
                        "PrestazioniSociali",
                        format!(
                            "Nel registro è già presente questa prestazione (stessa chiave: codice fiscale, CodicePrestazione {}, ProtocolloDomanda {}, data {}) con dati diversi{}. Per correggerla inviare prima la cancellazione (TipoOperazione=\"C\") e poi il nuovo inserimento.",
                            p.codice.as_deref().unwrap_or(""),
                            p.protocollo.as_deref().unwrap_or(""),
                            p.data_rif.as_deref().unwrap_or("assente"),
                            l.id.map(|i| format!(" (acquisizione {i})")).unwrap_or_default(),
                        ),
                    );
                    v.line = Some(p.line);
                    p.violations.push(v);
                    (Esito::Scartato, CodiceEsito::DatiNonTrovati, None)
                }
                (Op::Supersede, Some(l)) => {
                    self.cancel(&p, l, CancelReason::Sostituzione)?;
                    (Esito::Accettato, CodiceEsito::Ok, self.insert(&p)?)
                }
                (Op::Cancel, Some(l)) => (
                    Esito::Accettato,
                    CodiceEsito::Ok,
                    self.cancel(&p, l, CancelReason::Cancellazione)?,
                ),
                (Op::Cancel, None) => {
                    let mut v = REG_CANCELLAZIONE_SENZA_RECORD.violation(
                        self.profile,
                        "PrestazioniSociali/@TipoOperazione",
                        format!(
                            "La cancellazione non trova nel registro una prestazione con la stessa chiave (codice fiscale, CodicePrestazione {}, ProtocolloDomanda {}, data {}): verificare i dati o se è già stata cancellata.",
                            p.codice.as_deref().unwrap_or(""),
                            p.protocollo.as_deref().unwrap_or(""),
                            p.data_rif.as_deref().unwrap_or("assente"),
                        ),
                    );
                    v.line = Some(p.line);
                    p.violations.push(v);
                    (Esito::Scartato, CodiceEsito::DatiNonTrovati, None)
                }
            }
        };
        let ref_id = ref_id.filter(|_| self.report_ids);
        let outcome = RecordOutcome {
            pos: p.pos,
            line: p.line,
            esito,
            codice,
            ref_id,
            violations: p.violations,
        };
        let plain = esito == Esito::Accettato && outcome.violations.is_empty();
        if !plain
            && p.forced.is_none()
            && let Some(tx) = self.tx()
        {
            {
                tx.insert_outcome(&NewOutcome {
                    pos: outcome.pos,
                    esito,
                    codice,
                    violations: &outcome.violations,
                    ref_id,
                })?;
            }
        }
        self.totals.add(&outcome);
        self.log.push(&outcome)?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("registro degli esiti: {0}")]
    Log(#[from] std::io::Error),
}
