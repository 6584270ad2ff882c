//! Trasmissione flussi: uploads processed as background jobs, the list of
//! the ente's transmissions, receipts.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::multipart::Field;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use casellario_domain::access::Permission;
use casellario_domain::{Channel, Esito, FlowType, Violation};
use casellario_ingest::{InputFormat, Progress};
use casellario_store::EnteId;
use casellario_store::portal::{AccountId, NewAccess, NewAuditEvent};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{it_bytes, it_datetime, it_num};
use crate::receipt_export::{self, ChunkWriter, Filter, Source};
use crate::submit::{self, SubmitOptions};
use crate::{AppState, Chrome, html};

/// Uploads being processed. A job lives in memory: after a restart the
/// flow is either committed (and listed) or not stored at all.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

#[derive(Default)]
struct JobsInner {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
}

pub struct Job {
    pub id: u64,
    pub ente_id: EnteId,
    pub account_id: AccountId,
    pub source_name: String,
    pub total_bytes: u64,
    pub progress: Progress,
    pub started: Instant,
    pub state: Mutex<JobState>,
}

#[derive(Clone, Debug)]
pub enum JobState {
    Running,
    /// The receipt's page.
    Done(String),
    /// Code and Italian message.
    Failed(&'static str, String),
}

impl Jobs {
    pub fn start(
        &self,
        ente_id: EnteId,
        account_id: AccountId,
        source_name: String,
        total_bytes: u64,
    ) -> Arc<Job> {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job {
            id,
            ente_id,
            account_id,
            source_name,
            total_bytes,
            progress: Progress::default(),
            started: Instant::now(),
            state: Mutex::new(JobState::Running),
        });
        if let Ok(mut m) = self.inner.jobs.lock() {
            // Finished jobs older than an hour are forgotten.
            m.retain(|_, j| {
                j.started.elapsed().as_secs() < 3600 || matches!(j.state(), JobState::Running)
            });
            m.insert(id, job.clone());
        }
        job
    }

    /// The job, if it exists and belongs to `ente`.
    pub fn get(&self, id: u64, ente: EnteId) -> Option<Arc<Job>> {
        let m = self.inner.jobs.lock().ok()?;
        m.get(&id).filter(|j| j.ente_id == ente).cloned()
    }
}

impl Job {
    pub fn state(&self) -> JobState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(JobState::Failed(
                "ERRORE_INTERNO",
                "stato non leggibile".into(),
            ))
    }
    pub fn finish(&self, s: JobState) {
        if let Ok(mut st) = self.state.lock() {
            *st = s;
        }
    }
    pub fn bytes_done(&self) -> u64 {
        self.progress.bytes.load(Ordering::Relaxed)
    }
    pub fn records_done(&self) -> u64 {
        self.progress.records.load(Ordering::Relaxed)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        // Uploads are limited by `max_upload_bytes`, enforced while spooling.
        .route(
            "/flussi",
            get(list).post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/flussi/nuovo", get(new_page))
        .route("/flussi/lavorazione/{id}", get(job_page))
        .route("/flussi/invii/{id}", get(submission_page))
        .route("/flussi/invii/{id}/ricevuta.csv", get(submission_csv))
        .route("/flussi/invii/{id}/ricevuta.json", get(submission_json))
        .route("/flussi/{id}", get(flow_page))
        .route("/flussi/{id}/ricevuta.csv", get(flow_csv))
        .route("/flussi/{id}/ricevuta.json", get(flow_json))
}

// ----- pagination -------------------------------------------------------

pub struct PageLink {
    pub n: u64,
    pub href: String,
    pub current: bool,
    /// A gap ("…") instead of a page.
    pub gap: bool,
}

#[derive(Default)]
pub struct Pager {
    pub prev: Option<String>,
    pub next: Option<String>,
    pub pages: Vec<PageLink>,
}

impl Pager {
    fn shown(&self) -> bool {
        self.prev.is_some() || self.next.is_some()
    }
}

/// Links for page `page` of `last` (None: unknown, only neighbours).
fn pager(base: &str, qs: &str, page: u64, last: Option<u64>, has_next: bool) -> Pager {
    let href = |n: u64| format!("{base}?{qs}pagina={n}");
    let mut p = Pager {
        prev: (page > 1).then(|| href(page - 1)),
        next: has_next.then(|| href(page + 1)),
        pages: Vec::new(),
    };
    let link = |n: u64| PageLink {
        n,
        href: href(n),
        current: n == page,
        gap: false,
    };
    match last {
        Some(last) => {
            let mut prev_shown = 0;
            for n in 1..=last {
                let near = n == 1 || n == last || n.abs_diff(page) <= 2;
                if !near {
                    continue;
                }
                if n > prev_shown + 1 {
                    p.pages.push(PageLink {
                        n,
                        href: String::new(),
                        current: false,
                        gap: true,
                    });
                }
                p.pages.push(link(n));
                prev_shown = n;
            }
        }
        None => p.pages.push(link(page)),
    }
    p
}

// ----- upload -----------------------------------------------------------

#[derive(Template)]
#[template(path = "flussi_nuovo.html")]
struct NewPage {
    chrome: Chrome,
    max: String,
    error: Option<String>,
    /// The field the error is about: "file" or "tipo".
    error_field: &'static str,
    tipo: String,
}

async fn new_page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::Transmit)?;
    user.ente()?;
    let page = NewPage {
        chrome: Chrome::new(&state, &user, "flussi").await,
        max: it_bytes(state.cfg.max_upload_bytes),
        error: None,
        error_field: "",
        tipo: String::new(),
    };
    Ok(html(&page)?.into_response())
}

async fn upload_error(
    state: &AppState,
    user: &CurrentUser,
    field: &'static str,
    tipo: &str,
    msg: String,
) -> Result<Response, AppError> {
    let page = NewPage {
        chrome: Chrome::new(state, user, "flussi").await,
        max: it_bytes(state.cfg.max_upload_bytes),
        error: Some(msg),
        error_field: field,
        tipo: tipo.to_string(),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response())
}

fn bad_multipart<E: std::fmt::Display>(e: E) -> AppError {
    AppError::bad_request(format!("Il modulo di invio non è leggibile: {e}"))
}

/// A small text field, at most `limit` bytes.
async fn small_field(mut f: Field<'_>, limit: usize) -> Result<String, AppError> {
    let mut out = Vec::new();
    while let Some(c) = f.chunk().await.map_err(bad_multipart)? {
        if out.len() + c.len() > limit {
            return Err(AppError::bad_request("Un campo del modulo è troppo lungo."));
        }
        out.extend_from_slice(&c);
    }
    String::from_utf8(out).map_err(|_| AppError::bad_request("Un campo del modulo non è testo."))
}

/// The uploaded file, on disk.
struct Spooled {
    file: tempfile::NamedTempFile,
    name: String,
    size: u64,
    /// The first bytes, to recognise the flow type.
    head: Vec<u8>,
}

const HEAD_BYTES: usize = 64 << 10;
const WRITE_BATCH: usize = 1 << 20;

/// Streams the `file` field to a temporary file in the spool directory,
/// refusing more than `max` bytes.
async fn spool(mut f: Field<'_>, dir: &std::path::Path, max: u64) -> Result<Spooled, AppError> {
    let name = clean_file_name(f.file_name().unwrap_or(""));
    let tmp = tempfile::Builder::new()
        .prefix("flusso-")
        .tempfile_in(dir)
        .map_err(|e| AppError::internal(format!("spool: {e}")))?;
    let mut out = Some(
        tmp.reopen()
            .map_err(|e| AppError::internal(format!("spool: {e}")))?,
    );
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
    let mut head = Vec::new();
    let mut size = 0u64;
    loop {
        let chunk = f.chunk().await.map_err(bad_multipart)?;
        let last = chunk.is_none();
        if let Some(c) = chunk {
            size += c.len() as u64;
            if size > max {
                return Err(AppError::too_large(max));
            }
            if head.len() < HEAD_BYTES {
                let n = (HEAD_BYTES - head.len()).min(c.len());
                head.extend_from_slice(&c[..n]);
            }
            buf.extend_from_slice(&c);
        }
        if buf.len() >= WRITE_BATCH || (last && !buf.is_empty()) {
            let Some(mut file) = out.take() else {
                return Err(AppError::internal("spool: file perso"));
            };
            let (file, b) = tokio::task::spawn_blocking(move || {
                file.write_all(&buf)?;
                buf.clear();
                Ok::<_, io::Error>((file, buf))
            })
            .await
            .map_err(|e| AppError::internal(format!("spool: {e}")))?
            .map_err(|e| AppError::internal(format!("spool: {e}")))?;
            out = Some(file);
            buf = b;
        }
        if last {
            break;
        }
    }
    Ok(Spooled {
        file: tmp,
        name,
        size,
        head,
    })
}

/// The last path component, without control characters, at most 200 characters.
fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    base.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The flow type the first bytes show, when they show one: the first
/// record-level element of an XML flow, the header of a CSV flow.
fn sniff_tipo(head: &[u8]) -> Option<FlowType> {
    let s = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = s.iter().position(|b| !b.is_ascii_whitespace())?;
    let s = &s[start..];
    if s[0] == b'<' {
        let mut i = 0;
        while let Some(p) = s[i..].iter().position(|&b| b == b'<') {
            let from = i + p + 1;
            let end = s[from..]
                .iter()
                .position(|b| b" \t\r\n/>".contains(b))
                .map(|e| from + e)?;
            let name = &s[from..end];
            let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
            match local {
                b"Beneficiario" => return Some(FlowType::PsPsaSina),
                b"SINBA" => return Some(FlowType::Sinba),
                _ => {}
            }
            i = end;
        }
        return None;
    }
    let line_end = s.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&s[..line_end]);
    let cols: Vec<&str> = line
        .split([';', ','])
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    match (
        cols.contains(&"CodiceFiscale"),
        cols.contains(&"IDBeneficiario"),
    ) {
        (true, false) => Some(FlowType::PsPsaSina),
        (false, true) => Some(FlowType::Sinba),
        _ => None,
    }
}

/// `POST /flussi`: spools the upload, starts the ingestion in the
/// background and sends the browser to the job's page.
async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    // The CSRF token comes first: nothing is read or stored before it is checked.
    let first = mp.next_field().await.map_err(bad_multipart)?;
    let Some(first) = first else {
        return Err(AppError::csrf());
    };
    if first.name() != Some("_csrf") {
        return Err(AppError::csrf());
    }
    let token = small_field(first, 256).await?;
    user.check_csrf(&token)?;
    user.require(Permission::Transmit)?;
    let ente_id = user.ente()?;

    let dir = state
        .cfg
        .spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let mut tipo = String::new();
    let mut spooled: Option<Spooled> = None;
    while let Some(field) = mp.next_field().await.map_err(bad_multipart)? {
        match field.name() {
            Some("file") if spooled.is_none() => {
                spooled = Some(spool(field, &dir, state.cfg.max_upload_bytes).await?);
            }
            Some("tipo") => tipo = small_field(field, 64).await?,
            _ => {
                small_field(field, 4096).await?;
            }
        }
    }
    let expected = match tipo.as_str() {
        "" | "auto" => None,
        t => match FlowType::from_wire(t) {
            Some(t) => Some(t),
            None => {
                return upload_error(
                    &state,
                    &user,
                    "tipo",
                    "",
                    "Tipo di flusso non riconosciuto: scegliere PS_PSA_SINA, SINBA o il riconoscimento automatico.".into(),
                )
                .await;
            }
        },
    };
    let Some(sp) = spooled.filter(|s| s.size > 0 || !s.name.is_empty()) else {
        return upload_error(
            &state,
            &user,
            "file",
            &tipo,
            "Scegliere il file del flusso da inviare.".into(),
        )
        .await;
    };
    if sp.size == 0 {
        return upload_error(
            &state,
            &user,
            "file",
            &tipo,
            format!("Il file {} è vuoto.", sp.name),
        )
        .await;
    }
    if let (Some(want), Some(found)) = (expected, sniff_tipo(&sp.head))
        && want != found
    {
        return upload_error(
            &state,
            &user,
            "tipo",
            &tipo,
            format!(
                "Il file {} contiene un flusso {}, ma è stato indicato il tipo {}: correggere la scelta o il file.",
                sp.name,
                found.wire(),
                want.wire()
            ),
        )
        .await;
    }
    let lower = sp.name.to_ascii_lowercase();
    let format = if lower.ends_with(".csv") {
        InputFormat::Csv
    } else if lower.ends_with(".xml") {
        InputFormat::Xml
    } else {
        InputFormat::Auto
    };
    let ente_codice = state
        .db
        .run(move |s| Ok(s.ente_profile(ente_id)?))
        .await?
        .ok_or_else(AppError::forbidden)?
        .codice;

    let job = state
        .jobs
        .start(ente_id, user.id(), sp.name.clone(), sp.size);
    let detail = serde_json::json!({
        "file": sp.name,
        "byte": sp.size,
        "lavorazione": job.id,
    })
    .to_string();
    let (account, username) = (user.id(), user.account.username.clone());
    state
        .db
        .run(move |s| {
            s.audit(&NewAuditEvent {
                account_id: Some(account),
                username: Some(&username),
                action: "flusso.invio",
                ente_id: Some(ente_id),
                detail: &detail,
                ip: None,
            })?;
            Ok(())
        })
        .await?;

    let opts = SubmitOptions {
        channel: Channel::Upload,
        profile: state.cfg.profile(),
        expected,
        ente_id,
        ente_codice,
        account_id: Some(user.id()),
        source_name: Some(sp.name.clone()).filter(|n| !n.is_empty()),
        format,
        size_hint: Some(sp.size),
        keep_outcomes: false,
    };
    let db = state.db.clone();
    let bg = job.clone();
    tokio::spawn(async move {
        let j = bg.clone();
        let res = db
            .write(move |s| {
                let f = std::fs::File::open(sp.file.path())
                    .map_err(|e| AppError::internal(format!("spool: {e}")))?;
                let out = submit::submit_blocking(s, f, &opts, Some(&j.progress));
                drop(sp);
                out
            })
            .await;
        bg.finish(match res {
            Ok(sub) => JobState::Done(sub.location),
            Err(e) => JobState::Failed(e.code, e.message),
        });
    });

    // Most flows are processed in a few seconds: waiting for them here sends
    // the browser straight to the receipt; longer ones go to the progress
    // page (which refreshes itself) once the wait is over.
    let mut location = format!("/flussi/lavorazione/{}", job.id);
    let waited = std::time::Instant::now();
    let wait = std::time::Duration::from_millis(state.cfg.receipt_wait_ms);
    while waited.elapsed() < wait {
        if let JobState::Done(receipt) = job.state() {
            location = receipt;
            break;
        }
        if matches!(job.state(), JobState::Failed(..)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let xhr = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
    if xhr {
        Ok(Json(serde_json::json!({ "location": location })).into_response())
    } else {
        Ok(Redirect::to(&location).into_response())
    }
}

// ----- job --------------------------------------------------------------

#[derive(Template)]
#[template(path = "flussi_lavorazione.html")]
struct JobPage {
    chrome: Chrome,
    source_name: String,
    total: u64,
    done: u64,
    percent: u64,
    total_h: String,
    done_h: String,
    records: String,
    seconds: u64,
    failed: Option<(&'static str, String)>,
}

async fn job_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadOwnFlows)?;
    let ente = user.ente()?;
    let id: u64 = id.parse().map_err(|_| AppError::not_found())?;
    let job = state.jobs.get(id, ente).ok_or_else(AppError::not_found)?;
    let failed = match job.state() {
        JobState::Done(location) => return Ok(Redirect::to(&location).into_response()),
        JobState::Failed(code, msg) => Some((code, msg)),
        JobState::Running => None,
    };
    let total = job.total_bytes;
    let done = job.bytes_done().min(total);
    let page = JobPage {
        chrome: Chrome::new(&state, &user, "flussi").await,
        source_name: job.source_name.clone(),
        total,
        done,
        percent: (done * 100).checked_div(total).unwrap_or(0),
        total_h: it_bytes(total),
        done_h: it_bytes(done),
        records: it_num(job.records_done()),
        seconds: job.started.elapsed().as_secs(),
        failed,
    };
    Ok(html(&page)?.into_response())
}

// ----- list -------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    pagina: Option<String>,
}

const LIST_PER_PAGE: u32 = 50;

struct TxView {
    href: String,
    nome: String,
    source_name: Option<String>,
    tipo: &'static str,
    canale: &'static str,
    badge: (&'static str, &'static str),
    codice: &'static str,
    record: String,
    accettati: String,
    duplicati: String,
    scartati: String,
    avvisi: String,
    when: String,
}

#[derive(Template)]
#[template(path = "flussi_elenco.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<TxView>,
    page: u64,
    pager: Pager,
    can_transmit: bool,
}

fn page_number(p: Option<&str>) -> u64 {
    p.and_then(|p| p.trim().parse::<u64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadOwnFlows)?;
    let ente = user.ente()?;
    let page = page_number(q.pagina.as_deref()).min(u64::from(u32::MAX / LIST_PER_PAGE));
    let offset = u32::try_from(page - 1).unwrap_or(0) * LIST_PER_PAGE;
    let mut tx = state
        .db
        .run(move |s| Ok(s.list_transmissions(ente, LIST_PER_PAGE + 1, offset)?))
        .await?;
    let has_next = tx.len() > LIST_PER_PAGE as usize;
    tx.truncate(LIST_PER_PAGE as usize);
    let rows = tx
        .into_iter()
        .map(|t| {
            let href = match (t.flow_id, t.submission_id) {
                (Some(f), _) => format!("/flussi/{f}"),
                (None, Some(s)) => format!("/flussi/invii/{s}"),
                (None, None) => String::new(),
            };
            TxView {
                nome: t
                    .nome
                    .clone()
                    .or_else(|| t.source_name.clone())
                    .unwrap_or_else(|| "(senza nome)".into()),
                source_name: t.source_name.clone().filter(|s| Some(s) != t.nome.as_ref()),
                href,
                tipo: t.tipo.map(|t| t.wire()).unwrap_or("—"),
                canale: t.channel.wire(),
                badge: receipt_export::badge(t.rejected_whole, t.scartati),
                codice: t.codice_esito.wire(),
                record: it_num(t.record_count),
                accettati: it_num(t.accettati),
                duplicati: it_num(t.duplicati),
                scartati: it_num(t.scartati),
                avvisi: it_num(t.avvisi),
                when: it_datetime(t.learnt_at_ms),
            }
        })
        .collect();
    let page_view = ListPage {
        chrome: Chrome::new(&state, &user, "flussi").await,
        rows,
        page,
        pager: pager("/flussi", "", page, None, has_next),
        can_transmit: user.can(Permission::Transmit),
    };
    Ok(html(&page_view)?.into_response())
}

// ----- receipts ---------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    Flow,
    Submission,
}

/// The receipt's source, if it belongs to the caller's ente (404 otherwise,
/// the same answer as for an id that does not exist).
async fn load_source(
    state: &AppState,
    user: &CurrentUser,
    kind: Kind,
    id: &str,
) -> Result<Source, AppError> {
    user.require(Permission::ReadOwnFlows)?;
    let ente = user.ente()?;
    let id = super::parse_id(id)?;
    let (account, username) = (user.id(), user.account.username.clone());
    state
        .db
        .run(move |s| {
            let profile = s.ente_profile(ente)?.ok_or_else(AppError::not_found)?;
            let src = match kind {
                Kind::Flow => {
                    let f = s.flow(id)?.ok_or_else(AppError::not_found)?;
                    if f.ente_codice != profile.codice {
                        return Err(AppError::not_found());
                    }
                    Source::Flow(f)
                }
                Kind::Submission => {
                    let d = s
                        .submission_detail(ente, id)?
                        .ok_or_else(AppError::not_found)?;
                    Source::Submission(d, profile.codice)
                }
            };
            // A receipt's messages can quote personal data (a wrong codice
            // fiscale): reading one is logged like reading a record.
            let subject = match &src {
                Source::Flow(f) => format!("flusso {}", f.nome),
                Source::Submission(..) => format!("invio {id}"),
            };
            s.log_access(&NewAccess {
                account_id: account,
                username: &username,
                ente_id: Some(ente),
                subject: &subject,
                what: "ricevuta",
                purpose: "verifica degli esiti della trasmissione",
            })?;
            Ok(src)
        })
        .await
}

#[derive(Deserialize)]
struct ReceiptQuery {
    esito: Option<String>,
    regola: Option<String>,
    pagina: Option<String>,
}

impl ReceiptQuery {
    fn filter(&self) -> Filter {
        Filter::from_query(self.esito.as_deref(), self.regola.as_deref())
    }
}

const ROWS_PER_PAGE: u64 = 100;

struct RowView {
    pos: String,
    esito: &'static str,
    badge: &'static str,
    codice: &'static str,
    violations: Vec<Violation>,
}

#[derive(Template)]
#[template(path = "flussi_ricevuta.html")]
struct ReceiptPage {
    chrome: Chrome,
    title: String,
    nome: String,
    base: String,
    stored: bool,
    flow_id: String,
    tipo: &'static str,
    canale: &'static str,
    profilo: &'static str,
    ente_codice: String,
    source_name: Option<String>,
    sha: String,
    size: String,
    when: String,
    record: String,
    accettati: String,
    duplicati: String,
    scartati: String,
    avvisi: String,
    badge: (&'static str, &'static str),
    codice: &'static str,
    codice_desc: &'static str,
    descrizione: String,
    flow_violations: Vec<Violation>,
    rows: Vec<RowView>,
    matched: String,
    rules: Vec<String>,
    esito: String,
    regola: String,
    filtered: bool,
    qs: String,
    pager: Pager,
}

fn esito_badge(e: Esito) -> &'static str {
    match e {
        Esito::Accettato => "badge-ok",
        Esito::Duplicato => "badge-dup",
        Esito::Scartato => "badge-ko",
    }
}

async fn receipt_page(
    state: AppState,
    user: CurrentUser,
    kind: Kind,
    id: String,
    q: ReceiptQuery,
) -> Result<Response, AppError> {
    let src = load_source(&state, &user, kind, &id).await?;
    let filter = q.filter();
    let page = page_number(q.pagina.as_deref());
    let base = match kind {
        Kind::Flow => format!("/flussi/{id}"),
        Kind::Submission => format!("/flussi/invii/{id}"),
    };
    let f2 = filter.clone();
    let (src, scan) = state
        .db
        .run(move |s| {
            let p = receipt_export::page(s, &src, &f2, page, ROWS_PER_PAGE)?;
            Ok((src, p))
        })
        .await?;
    let sum = src.summary();
    let last = scan.matched.div_ceil(ROWS_PER_PAGE).max(1);
    let qs = filter.query_prefix();
    let nome = sum
        .nome
        .clone()
        .or_else(|| sum.source_name.clone())
        .unwrap_or_else(|| "(senza nome)".into());
    let page_view = ReceiptPage {
        chrome: Chrome::new(&state, &user, "flussi").await,
        title: match kind {
            Kind::Flow => format!("Ricevuta del flusso {nome}"),
            Kind::Submission => format!("Ricevuta dell'invio {nome}"),
        },
        stored: matches!(kind, Kind::Flow),
        flow_id: sum.flow_id.map(|i| i.to_string()).unwrap_or_default(),
        tipo: sum.tipo.unwrap_or("—"),
        canale: sum.canale,
        profilo: sum.profilo.unwrap_or("—"),
        ente_codice: sum.ente_codice.clone(),
        source_name: sum.source_name.clone(),
        sha: hex::encode(sum.sha256),
        size: it_bytes(sum.size_bytes),
        when: it_datetime(sum.learnt_at_ms),
        record: it_num(sum.record),
        accettati: it_num(sum.accettati),
        duplicati: it_num(sum.duplicati),
        scartati: it_num(sum.scartati),
        avvisi: it_num(sum.avvisi),
        badge: sum.badge(),
        codice: sum.codice_esito.wire(),
        codice_desc: receipt_export::codice_descrizione(sum.codice_esito),
        descrizione: sum.descrizione_with(it_num),
        flow_violations: sum.flow_violations.clone(),
        rows: scan
            .rows
            .into_iter()
            .map(|r| RowView {
                pos: it_num(r.pos),
                esito: r.esito.wire(),
                badge: esito_badge(r.esito),
                codice: r.codice.wire(),
                violations: r.violations,
            })
            .collect(),
        matched: it_num(scan.matched),
        rules: scan.rules,
        esito: filter.esito.map(|e| e.wire()).unwrap_or("").to_string(),
        regola: filter.regola.clone().unwrap_or_default(),
        filtered: !filter.is_empty(),
        pager: pager(&base, &qs, page, Some(last), page < last),
        qs,
        nome,
        base,
    };
    Ok(html(&page_view)?.into_response())
}

async fn flow_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    receipt_page(state, user, Kind::Flow, id, q).await
}

async fn submission_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    receipt_page(state, user, Kind::Submission, id, q).await
}

#[derive(Clone, Copy)]
enum Download {
    Csv,
    Json,
}

/// Streams a receipt download: written on a blocking thread, sent in chunks.
async fn download(
    state: AppState,
    user: CurrentUser,
    kind: Kind,
    id: String,
    q: ReceiptQuery,
    what: Download,
) -> Result<Response, AppError> {
    let src = load_source(&state, &user, kind, &id).await?;
    let filter = q.filter();
    let stem = src.summary().file_stem();
    let profilo = state.cfg.profile().wire();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, io::Error>>(4);
    let db = state.db.clone();
    tokio::spawn(async move {
        let res = db
            .run(move |s| {
                let mut w = ChunkWriter::new(tx);
                let r = match what {
                    Download::Csv => receipt_export::write_csv(s, &src, &filter, &mut w),
                    Download::Json => receipt_export::write_json(s, &src, &filter, profilo, &mut w),
                };
                if let Err(e) = r {
                    w.fail(io::Error::other(e.to_string()));
                }
                Ok(())
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "ricevuta non completata");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c.map(Bytes::from), rx))
    });
    let (ctype, ext) = match what {
        Download::Csv => ("text/csv; charset=utf-8", "csv"),
        Download::Json => ("application/json", "json"),
    };
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"ricevuta-{stem}.{ext}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

async fn flow_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    download(state, user, Kind::Flow, id, q, Download::Csv).await
}

async fn flow_json(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    download(state, user, Kind::Flow, id, q, Download::Json).await
}

async fn submission_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    download(state, user, Kind::Submission, id, q, Download::Csv).await
}

async fn submission_json(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, AppError> {
    download(state, user, Kind::Submission, id, q, Download::Json).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_type_from_first_bytes() {
        let ps = b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<Flusso xmlns=\"x\"><IdentificazioneFlusso Nome=\"H501.SINBA.1\"/><Ente Codice=\"H501\"/><Beneficiario>";
        assert_eq!(sniff_tipo(ps), Some(FlowType::PsPsaSina));
        let sinba = b"<ns:Flusso><ns:IdentificazioneFlusso/><ns:SINBA>";
        assert_eq!(sniff_tipo(sinba), Some(FlowType::Sinba));
        assert_eq!(
            sniff_tipo(b"NomeFlusso;CodiceEnte;IDBeneficiario\r\nx"),
            Some(FlowType::Sinba)
        );
        assert_eq!(sniff_tipo(b"<Flusso><Ident"), None);
        assert_eq!(sniff_tipo(b""), None);
    }

    #[test]
    fn pages() {
        let p = pager("/flussi/1", "esito=scartato&", 5, Some(12), true);
        let shown: Vec<String> = p
            .pages
            .iter()
            .map(|l| if l.gap { "…".into() } else { l.n.to_string() })
            .collect();
        assert_eq!(shown, ["1", "…", "3", "4", "5", "6", "7", "…", "12"]);
        assert_eq!(p.prev.as_deref(), Some("/flussi/1?esito=scartato&pagina=4"));
        assert_eq!(clean_file_name("C:\\dati\\flusso\u{7}.xml"), "flusso.xml");
    }
}
