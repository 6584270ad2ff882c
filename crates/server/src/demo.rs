//! `casellario serve --demo`: fills an empty register with a living system
//! — four enti with their referenti and operators, an analyst and an
//! auditor, and a few thousand generated records transmitted through the
//! same path as the portal's uploads (so receipts and submissions exist),
//! some with errors, a couple of cancellations and a few consultations.
//!
//! Deterministic by seed (`casellario_gen` never reads the clock); only
//! the timestamps the register learns differ between runs.

use std::io::Cursor;

use casellario_domain::access::{EnteKind, Role};
use casellario_domain::codes::TipoOperazione;
use casellario_domain::model::{Beneficiario, PrestazioniSociali};
use casellario_domain::{Channel, FlowType};
use casellario_formats::xml::XmlFlowWriter;
use casellario_gen::{GenItem, GenOptions, Generator};
use casellario_ingest::InputFormat;
use casellario_store::portal::{
    AccountId, EnteAttrs, NewAccess, NewAccount, NewAuditEvent, RecordQuery,
};
use casellario_store::{EnteId, Store};
use std::sync::Arc;

use crate::error::AppError;
use crate::submit::{SubmitOptions, submit_blocking};
use crate::{AppState, auth};

/// The password of every demo account (printed by the CLI; no change
/// required at first login).
pub const DEMO_PASSWORD: &str = "Demo-Casellario-2026";

/// How much to generate.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub seed: u64,
    /// Records of the main PS flow of each ente (the other flows are
    /// proportional).
    pub records: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 2026,
            records: 700,
        }
    }
}

/// A demo account, for the CLI to print.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    pub nome: String,
    pub role: Role,
    pub ente: Option<String>,
}

/// What [`fill`] created.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub password: &'static str,
    pub accounts: Vec<DemoAccount>,
    pub enti: usize,
    pub flows: usize,
    pub records: u64,
    pub scartati: u64,
}

struct DemoEnte {
    codice: &'static str,
    denominazione: &'static str,
    belfiore: &'static str,
    tipo: EnteKind,
    slug: &'static str,
    people: [&'static str; 3],
}

const ENTI: &[DemoEnte] = &[
    DemoEnte {
        codice: "G479",
        denominazione: "Comune di Pesaro",
        belfiore: "G479",
        tipo: EnteKind::Comune,
        slug: "pesaro",
        people: ["Giulia Ferri", "Marco Bartolucci", "Sara Giommi"],
    },
    DemoEnte {
        codice: "A944",
        denominazione: "Comune di Bologna",
        belfiore: "A944",
        tipo: EnteKind::Comune,
        slug: "bologna",
        people: ["Paolo Zanetti", "Chiara Malaguti", "Luca Bernardi"],
    },
    DemoEnte {
        codice: "E506",
        denominazione: "Comune di Lecce",
        belfiore: "E506",
        tipo: EnteKind::Comune,
        slug: "lecce",
        people: ["Antonella De Giorgi", "Francesco Marti", "Ilaria Quarta"],
    },
    DemoEnte {
        codice: "ATS06",
        denominazione: "Ambito Territoriale Sociale 6 - Fano",
        belfiore: "D488",
        tipo: EnteKind::Ambito,
        slug: "fano",
        people: ["Roberta Cecchini", "Davide Tonelli", "Elena Rossini"],
    },
];

/// Fills an empty database with the default demo. `Ok(None)` (and nothing
/// written) when the database already has enti or flows.
pub async fn fill(state: &AppState) -> Result<Option<DemoSummary>, AppError> {
    fill_with(state, DemoOptions::default()).await
}

pub async fn fill_with(
    state: &AppState,
    opts: DemoOptions,
) -> Result<Option<DemoSummary>, AppError> {
    // One hash for every demo account: argon2id is deliberately slow.
    let hash = auth::hash_password(DEMO_PASSWORD)?;
    let profile = state.cfg.profile();
    state
        .db
        .write(move |s| fill_blocking(s, &opts, &hash, profile))
        .await
}

fn fill_blocking(
    s: &mut Store,
    opts: &DemoOptions,
    hash: &str,
    profile: casellario_domain::Profile,
) -> Result<Option<DemoSummary>, AppError> {
    if s.counts()?.flows > 0 || !s.list_ente_profiles()?.is_empty() {
        return Ok(None);
    }
    let mut accounts = Vec::new();
    let mut create = |s: &mut Store,
                      username: String,
                      nome: &str,
                      role: Role,
                      ente: Option<(EnteId, &str)>|
     -> Result<Option<AccountId>, AppError> {
        if s.account_by_username(&username)?.is_some() {
            return Ok(None);
        }
        let id = s.create_account(&NewAccount {
            username: &username,
            nome,
            role,
            ente_id: ente.map(|e| e.0),
            password_hash: hash,
            must_change: false,
        })?;
        accounts.push(DemoAccount {
            username,
            nome: nome.to_string(),
            role,
            ente: ente.map(|e| e.1.to_string()),
        });
        Ok(Some(id))
    };
    create(s, "analista".into(), "Valeria Conti", Role::Analista, None)?;
    create(s, "auditor".into(), "Stefano Rinaldi", Role::Auditor, None)?;

    let today = crate::fmt::today();
    let mut flows = 0usize;
    let mut records = 0u64;
    let mut scartati = 0u64;
    for (i, e) in ENTI.iter().enumerate() {
        let ente_id = s.create_ente(
            e.codice,
            &EnteAttrs {
                denominazione: e.denominazione,
                belfiore: e.belfiore,
                tipo: e.tipo,
                attivo: true,
            },
            None,
        )?;
        let who = Some((ente_id, e.denominazione));
        create(
            s,
            format!("referente.{}", e.slug),
            e.people[0],
            Role::Referente,
            who,
        )?;
        let op1 = create(
            s,
            format!("operatore1.{}", e.slug),
            e.people[1],
            Role::Operatore,
            who,
        )?;
        create(
            s,
            format!("operatore2.{}", e.slug),
            e.people[2],
            Role::Operatore,
            who,
        )?;

        let seed = opts.seed.wrapping_mul(1000).wrapping_add(i as u64 * 10);
        let plan = [
            (FlowType::PsPsaSina, opts.records, today.year - 1, seed),
            (
                FlowType::PsPsaSina,
                opts.records / 2,
                today.year - 2,
                seed + 1,
            ),
            (
                FlowType::Sinba,
                (opts.records / 5).max(1),
                today.year - 1,
                seed + 2,
            ),
        ];
        let mut kept: Vec<(Arc<Beneficiario>, PrestazioniSociali)> = Vec::new();
        let mut first_nome = String::new();
        for (n, (tipo, count, anno, seed)) in plan.into_iter().enumerate() {
            let g = GenOptions {
                tipo,
                records: count,
                seed,
                error_rate: 0.03,
                ente_codice: Some(e.codice.into()),
                ente_belfiore: Some(e.belfiore.into()),
                nome: None,
                anno,
            };
            let (bytes, nome, clean) = generate(&g, e.denominazione, n == 0)?;
            if n == 0 {
                kept = clean;
                first_nome = nome.clone();
            }
            let r = submit(s, bytes, &nome, ente_id, e.codice, op1, profile)?;
            flows += 1;
            records += r.0;
            scartati += r.1;
        }

        // A couple of cancellations, for two enti: a flow of C records.
        if i < 2 && !kept.is_empty() && first_nome.len() > 7 {
            let nome = format!("{}0000099", &first_nome[..first_nome.len() - 7]);
            let header = {
                let g = Generator::new(&GenOptions {
                    tipo: FlowType::PsPsaSina,
                    records: 1,
                    seed,
                    ente_codice: Some(e.codice.into()),
                    ente_belfiore: Some(e.belfiore.into()),
                    nome: Some(nome.clone()),
                    anno: today.year - 1,
                    ..GenOptions::default()
                });
                let mut h = g.header();
                h.ente.denominazione = Some(e.denominazione.into());
                h
            };
            let mut w =
                XmlFlowWriter::new(Vec::new(), FlowType::PsPsaSina, &header).map_err(io_err)?;
            for (b, p) in kept.iter().take(2) {
                let mut c = p.clone();
                c.tipo_operazione = Some(TipoOperazione::Cancellazione);
                w.write_beneficiario(b, &[&c]).map_err(io_err)?;
            }
            let bytes = w.finish().map_err(io_err)?;
            let r = submit(s, bytes, &nome, ente_id, e.codice, op1, profile)?;
            flows += 1;
            records += r.0;
            scartati += r.1;
        }

        // A few consultations by the first operator, logged like the
        // portal logs them.
        if let Some(op) = op1 {
            let username = format!("operatore1.{}", e.slug);
            for (b, _) in kept.iter().skip(2).take(3) {
                let Some(cf) = b.codice_fiscale.as_deref() else {
                    continue;
                };
                let cf = cf.trim().to_ascii_uppercase();
                let hits = s.search_records(
                    ente_id,
                    &RecordQuery {
                        subject: Some(cf.clone()),
                        ..RecordQuery::default()
                    },
                    20,
                    0,
                )?;
                s.log_access(&NewAccess {
                    account_id: op,
                    username: &username,
                    ente_id: Some(ente_id),
                    subject: &cf,
                    what: &format!("ricerca ({} record)", hits.len()),
                    purpose: "Verifica della pratica (dati dimostrativi)",
                })?;
            }
        }
    }
    let detail = serde_json::json!({
        "seed": opts.seed, "enti": ENTI.len(), "flussi": flows, "record": records,
    });
    s.audit(&NewAuditEvent {
        account_id: None,
        username: None,
        action: "demo.caricamento",
        ente_id: None,
        detail: &detail.to_string(),
        ip: None,
    })?;
    Ok(Some(DemoSummary {
        password: DEMO_PASSWORD,
        accounts,
        enti: ENTI.len(),
        flows,
        records,
        scartati,
    }))
}

fn io_err(e: std::io::Error) -> AppError {
    AppError::internal(format!("generazione dei dati dimostrativi: {e}"))
}

/// Clean PS records (beneficiary, benefit) kept for cancellations.
type Kept = Vec<(Arc<Beneficiario>, PrestazioniSociali)>;

/// Generates one XML flow; returns its bytes, its name and, when asked, a
/// few clean PS records.
fn generate(
    g: &GenOptions,
    denominazione: &str,
    keep: bool,
) -> Result<(Vec<u8>, String, Kept), AppError> {
    let mut gen_ = Generator::new(g);
    let mut header = gen_.header();
    header.ente.denominazione = Some(denominazione.into());
    let nome = header.nome.clone().unwrap_or_default();
    let mut w = XmlFlowWriter::new(Vec::with_capacity(1 << 20), g.tipo, &header).map_err(io_err)?;
    let mut kept = Vec::new();
    while let Some(item) = gen_.next() {
        match item {
            GenItem::Beneficiario {
                beneficiario,
                prestazioni,
            } => {
                let refs: Vec<&PrestazioniSociali> = prestazioni.iter().collect();
                w.write_beneficiario(&beneficiario, &refs).map_err(io_err)?;
                let clean = gen_.last_errors().iter().all(Option::is_none);
                if keep && clean && kept.len() < 8 && prestazioni.len() == 1 {
                    kept.push((beneficiario.clone(), prestazioni[0].clone()));
                }
            }
            GenItem::Sinba(x) => w.write_sinba(&x).map_err(io_err)?,
        }
    }
    Ok((w.finish().map_err(io_err)?, nome, kept))
}

/// Submits a flow as an upload by `account`; returns (records, rejected).
fn submit(
    s: &mut Store,
    bytes: Vec<u8>,
    nome: &str,
    ente_id: EnteId,
    codice: &str,
    account: Option<AccountId>,
    profile: casellario_domain::Profile,
) -> Result<(u64, u64), AppError> {
    let size = bytes.len() as u64;
    let done = submit_blocking(
        s,
        Cursor::new(bytes),
        &SubmitOptions {
            channel: Channel::Upload,
            profile,
            expected: None,
            ente_id,
            ente_codice: codice.to_string(),
            account_id: account,
            source_name: Some(format!("{nome}.xml")),
            format: InputFormat::Xml,
            size_hint: Some(size),
            keep_outcomes: false,
        },
        None,
    )?;
    Ok((done.report.totals.records, done.report.totals.scartati))
}
