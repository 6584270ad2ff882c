//! Consultazione: search the ente's records, the record page with its
//! history, cancellation (`TipoOperazione="C"`) and correction (the `C` of
//! the old record followed by the `I` of the corrected one, in one flow).
//!
//! Every query is scoped to the caller's ente: another ente's ids answer
//! 404, exactly like ids that do not exist. Every read of personal data is
//! written to the access log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use casellario_domain::access::Permission;
use casellario_domain::codes::TipoOperazione;
use casellario_domain::model::Record;
use casellario_domain::{FlowType, Severity};
use casellario_store::portal::{NewAccess, RecordHit, RecordQuery, VersionDetail};
use casellario_store::{CancelReason, EnteId, VersionId};
use serde::Deserialize;

use super::acquisizione::{EsitoPage, RecordFormPage, csrf_of, esito_response, parse_record};
use super::parse_id;
use super::record_form::{self as rf, DisplaySection, FlowRecords, Problems, Values};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{it_date, it_datetime};
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/consultazione", get(search))
        .route("/consultazione/record/{id}", get(record))
        .route("/consultazione/record/{id}/annulla", post(annulla))
        .route(
            "/consultazione/record/{id}/correggi",
            get(correggi_form).post(correggi),
        )
}

/// Results per page.
const PAGE: u32 = 50;
const PURPOSE: &str = "consultazione";

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    soggetto: String,
    #[serde(default)]
    codice: String,
    #[serde(default)]
    protocollo: String,
    #[serde(default)]
    dal: String,
    #[serde(default)]
    al: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    annullati: String,
    #[serde(default)]
    pagina: Option<u32>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A codice fiscale is searched in upper case; a SINBA pseudonym as typed.
fn subject_of(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let cf_like = (s.len() == 16 || s.len() == 11) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    Some(if cf_like {
        s.to_ascii_uppercase()
    } else {
        s.to_string()
    })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

struct HitView {
    version_id: VersionId,
    subject: String,
    tipo: &'static str,
    codice: String,
    protocollo: String,
    data: String,
    flow_id: i64,
    flow_nome: String,
    when: String,
    stato: &'static str,
    badge: &'static str,
}

fn tipo_label(t: FlowType) -> &'static str {
    match t {
        FlowType::PsPsaSina => "PS/PSA",
        FlowType::Sinba => "SINBA",
    }
}

fn stato(h: &RecordHit) -> (&'static str, &'static str) {
    match &h.cancelled {
        None => ("in vigore", "badge-ok"),
        Some(c) if c.reason == CancelReason::Sostituzione => ("sostituito", "badge"),
        Some(_) => ("annullato", "badge-ko"),
    }
}

fn hit_view(h: RecordHit) -> HitView {
    let (stato, badge) = stato(&h);
    HitView {
        version_id: h.version_id,
        subject: h.subject,
        tipo: tipo_label(h.tipo),
        codice: h.codice_prestazione.unwrap_or_default(),
        protocollo: h.protocollo.unwrap_or_default(),
        data: h
            .data_riferimento
            .as_deref()
            .map(it_date)
            .unwrap_or_default(),
        flow_id: h.flow_id,
        flow_nome: h.flow_nome,
        when: it_datetime(h.learnt_at_ms),
        stato,
        badge,
    }
}

#[derive(Template)]
#[template(path = "consultazione_search.html")]
struct SearchPage {
    chrome: Chrome,
    soggetto: String,
    protocollo: String,
    dal: String,
    al: String,
    tipo: String,
    annullati: bool,
    codici: Vec<rf::Opt>,
    hits: Vec<HitView>,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
    error: Option<String>,
    filtered: bool,
}

fn page_href(q: &SearchQuery, page: u32) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s.trim(), percent_encoding::NON_ALPHANUMERIC)
            .to_string()
    };
    let mut parts = Vec::new();
    for (k, v) in [
        ("soggetto", &q.soggetto),
        ("codice", &q.codice),
        ("protocollo", &q.protocollo),
        ("dal", &q.dal),
        ("al", &q.al),
        ("tipo", &q.tipo),
        ("annullati", &q.annullati),
    ] {
        if !v.trim().is_empty() {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    parts.push(format!("pagina={page}"));
    format!("/consultazione?{}", parts.join("&"))
}

async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<SearchQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadOwnRecords)?;
    let ente = user.ente()?;
    let page = q.pagina.unwrap_or(1).clamp(1, 10_000);
    let mut error = None;
    for (d, what) in [(&q.dal, "Dal"), (&q.al, "Al")] {
        if !d.trim().is_empty() && !is_date(d.trim()) {
            error = Some(format!(
                "Il campo «{what}» deve essere una data nel formato AAAA-MM-GG."
            ));
        }
    }
    let query = RecordQuery {
        subject: subject_of(&q.soggetto),
        codice_prestazione: opt(&q.codice),
        protocollo: opt(&q.protocollo),
        from: opt(&q.dal).filter(|d| is_date(d)),
        to: opt(&q.al).filter(|d| is_date(d)),
        tipo: match q.tipo.as_str() {
            "ps" => Some(FlowType::PsPsaSina),
            "sinba" => Some(FlowType::Sinba),
            _ => None,
        },
        include_cancelled: !q.annullati.is_empty(),
    };
    let filtered = query != RecordQuery::default();
    let account = user.id();
    let username = user.account.username.clone();
    let qq = query.clone();
    let mut hits = state
        .db
        .run(move |s| {
            let hits = s.search_records(ente, &qq, PAGE + 1, (page - 1) * PAGE)?;
            if let Some(subject) = &qq.subject {
                s.log_access(&NewAccess {
                    account_id: account,
                    username: &username,
                    ente_id: Some(ente),
                    subject,
                    what: "ricerca",
                    purpose: PURPOSE,
                })?;
            }
            Ok(hits)
        })
        .await?;
    let has_next = hits.len() > PAGE as usize;
    hits.truncate(PAGE as usize);
    let codici = rf::view(FlowType::PsPsaSina, &Values::new(), &Problems::default())
        .into_iter()
        .flat_map(|s| s.fields)
        .find(|f| f.name == "p_CodicePrestazione")
        .map(|f| f.options)
        .unwrap_or_default()
        .into_iter()
        .map(|mut o| {
            o.selected = o.value == q.codice.trim();
            o
        })
        .collect();
    let page_view = SearchPage {
        chrome: Chrome::new(&state, &user, "consultazione").await,
        soggetto: q.soggetto.trim().to_string(),
        protocollo: q.protocollo.trim().to_string(),
        dal: q.dal.trim().to_string(),
        al: q.al.trim().to_string(),
        tipo: q.tipo.clone(),
        annullati: query.include_cancelled,
        codici,
        hits: hits.into_iter().map(hit_view).collect(),
        page,
        prev: (page > 1).then(|| page_href(&q, page - 1)),
        next: has_next.then(|| page_href(&q, page + 1)),
        error,
        filtered,
    };
    Ok(html(&page_view)?.into_response())
}

// ------------------------------------------------------------ record page

/// A version of the caller's ente with its history, decoded; 404 when it
/// does not exist or belongs to another ente. Logs the read.
async fn load(
    state: &AppState,
    user: &CurrentUser,
    ente: EnteId,
    id: VersionId,
    what: &'static str,
) -> Result<(VersionDetail, Record, Vec<RecordHit>), AppError> {
    let account = user.id();
    let username = user.account.username.clone();
    state
        .db
        .run(move |s| {
            let d = s
                .version_detail(ente, id)?
                .ok_or_else(AppError::not_found)?;
            let rec = casellario_ingest::decode_payload(&d.payload)
                .map_err(|e| AppError::internal(format!("payload {id}: {e}")))?;
            let history = s.versions_by_key(ente, &d.key)?;
            s.log_access(&NewAccess {
                account_id: account,
                username: &username,
                ente_id: Some(ente),
                subject: &d.hit.subject,
                what: &format!("{what} {id}"),
                purpose: PURPOSE,
            })?;
            Ok((d, rec, history))
        })
        .await
}

struct TimelineEntry {
    iso: String,
    when: String,
    title: String,
    class: &'static str,
    flow_id: i64,
    flow_nome: String,
    link: Option<String>,
    this: bool,
}

fn timeline(history: &[RecordHit], this: VersionId) -> Vec<TimelineEntry> {
    let iso = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<((i64, i64, u64), TimelineEntry)> = Vec::new();
    for (n, h) in history.iter().enumerate() {
        let n = n + 1;
        out.push((
            (h.learnt_at_ms, h.flow_id, h.pos),
            TimelineEntry {
                iso: iso(h.learnt_at_ms),
                when: it_datetime(h.learnt_at_ms),
                title: format!(
                    "Versione {n} — inserimento{}",
                    if h.cancelled.is_none() {
                        " (in vigore)"
                    } else {
                        ""
                    }
                ),
                class: if h.cancelled.is_none() {
                    "is-current"
                } else {
                    ""
                },
                flow_id: h.flow_id,
                flow_nome: h.flow_nome.clone(),
                link: (h.version_id != this)
                    .then(|| format!("/consultazione/record/{}", h.version_id)),
                this: h.version_id == this,
            },
        ));
        if let Some(c) = &h.cancelled {
            out.push((
                (c.learnt_at_ms, c.flow_id, c.pos),
                TimelineEntry {
                    iso: iso(c.learnt_at_ms),
                    when: it_datetime(c.learnt_at_ms),
                    title: match c.reason {
                        CancelReason::Cancellazione => {
                            format!("Annullamento della versione {n} (TipoOperazione C)")
                        }
                        CancelReason::Sostituzione => {
                            format!("Versione {n} sostituita da una nuova versione")
                        }
                    },
                    class: "is-cancelled",
                    flow_id: c.flow_id,
                    flow_nome: c.flow_nome.clone(),
                    link: None,
                    this: false,
                },
            ));
        }
    }
    out.sort_by_key(|(k, _)| *k);
    out.into_iter().map(|(_, e)| e).collect()
}

#[derive(Template)]
#[template(path = "consultazione_record.html")]
struct RecordPage {
    chrome: Chrome,
    id: VersionId,
    hit: HitView,
    sections: Vec<DisplaySection>,
    timeline: Vec<TimelineEntry>,
    live: bool,
    can_transmit: bool,
    is_ps: bool,
    cf_operatore: String,
}

async fn record(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadOwnRecords)?;
    let ente = user.ente()?;
    let id = parse_id(&id)?;
    let (d, rec, history) = load(&state, &user, ente, id, "record").await?;
    let page = RecordPage {
        chrome: Chrome::new(&state, &user, "consultazione").await,
        id,
        live: d.hit.cancelled.is_none(),
        can_transmit: user.can(Permission::Transmit),
        is_ps: matches!(rec, Record::Ps(_)),
        sections: rf::display(&rec),
        timeline: timeline(&history, id),
        hit: hit_view(d.hit),
        cf_operatore: rf::remembered_cf(&headers),
    };
    Ok(html(&page)?.into_response())
}

fn crumbs(id: VersionId) -> Vec<(String, String)> {
    vec![
        ("/".into(), "Cruscotto".into()),
        ("/consultazione".into(), "Consultazione".into()),
        (
            format!("/consultazione/record/{id}"),
            format!("Record {id}"),
        ),
    ]
}

fn gone() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        "RECORD_NON_IN_VIGORE",
        "Il record non è più in vigore (è stato annullato o sostituito): aprire la versione in vigore dallo storico.",
    )
}

async fn annulla(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.check_csrf(csrf_of(&pairs))?;
    user.require(Permission::Transmit)?;
    let ente = user.ente()?;
    let id = parse_id(&id)?;
    let (d, rec, _) = load(&state, &user, ente, id, "annullamento record").await?;
    if d.hit.cancelled.is_some() {
        return Err(gone());
    }
    let Record::Ps(ps) = rec else {
        return Err(AppError::bad_request(
            "Il tracciato SINBA non prevede la cancellazione: per correggere un record SINBA inviarne una nuova versione con «Correggi».",
        ));
    };
    let v = rf::values_from_pairs(pairs);
    let cf = rf::cf_operatore_value(&v).map_err(|(_, m)| AppError::bad_request(m))?;
    let mut p = ps.prestazione.clone();
    p.tipo_operazione = Some(TipoOperazione::Cancellazione);
    let sub = rf::submit_records(
        &state,
        &user,
        cf.clone(),
        FlowRecords::Ps(vec![(ps.beneficiario.clone(), vec![p])]),
        "record.annullamento",
        serde_json::json!({ "versione": id }),
    )
    .await?;
    let ok = rf::accepted(&sub, 1);
    let (alert, _) = super::acquisizione::headline(&sub, ok);
    let headline = if ok {
        format!("Record {id} annullato")
    } else {
        format!("Il record {id} non è stato annullato")
    };
    let outcome = rf::outcome_view(&sub, 1, "Annullamento (TipoOperazione C)", false);
    let flow_name = sub.report.id_flusso.clone().unwrap_or_default();
    let location = sub.location.clone();
    let codice_esito = sub.report.codice_esito.wire();
    esito_response(
        &state,
        &user,
        "consultazione",
        move |chrome| EsitoPage {
            chrome,
            title: "Esito dell'annullamento".into(),
            breadcrumb: crumbs(id),
            alert,
            headline,
            flow_name,
            codice_esito,
            location,
            outcomes: vec![outcome],
            links: vec![
                (
                    format!("/consultazione/record/{id}"),
                    "Torna al record".into(),
                ),
                ("/consultazione".into(), "Nuova ricerca".into()),
            ],
        },
        &cf,
    )
    .await
}

async fn correction_form(
    state: &AppState,
    user: &CurrentUser,
    id: VersionId,
    tipo: FlowType,
    values: &Values,
    problems: Problems,
    note: &str,
) -> Result<Response, AppError> {
    let intro = match tipo {
        FlowType::PsPsaSina => {
            "Modificare i dati e inviare: il sistema trasmette in un unico flusso la cancellazione del record attuale (TipoOperazione C) seguita dall'inserimento del record corretto. Se il record corretto non supera i controlli, il record attuale resta in vigore."
        }
        FlowType::Sinba => {
            "Modificare i dati e inviare: la nuova versione sostituisce quella attuale. Se si cambiano IDBeneficiario o DataPrimaSegnalazione (la chiave del record) si crea invece un record distinto e quello attuale resta in vigore."
        }
    };
    let page = RecordFormPage {
        chrome: Chrome::new(state, user, "consultazione").await,
        title: format!("Correzione del record {id}"),
        intro: intro.into(),
        breadcrumb: crumbs(id),
        action: format!("/consultazione/record/{id}/correggi"),
        sections: rf::view(tipo, values, &problems),
        problems,
        summary_note: note.into(),
        submit_label: "Invia la correzione".into(),
        back: format!("/consultazione/record/{id}"),
    };
    Ok(html(&page)?.into_response())
}

async fn correggi_form(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::Transmit)?;
    let ente = user.ente()?;
    let id = parse_id(&id)?;
    let (d, rec, _) = load(&state, &user, ente, id, "correzione record").await?;
    if d.hit.cancelled.is_some() {
        return Err(gone());
    }
    let tipo = rec.flow_type();
    let mut v = rf::record_values(&rec);
    if tipo == FlowType::PsPsaSina {
        rf::set(&mut v, "p_TipoOperazione", "I");
    }
    rf::set(&mut v, rf::CF_OPERATORE, rf::remembered_cf(&headers));
    correction_form(&state, &user, id, tipo, &v, Problems::default(), "").await
}

const NOT_SENT: &str = "La correzione non è stata trasmessa e il record attuale resta in vigore: correggere i campi indicati.";

async fn correggi(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.check_csrf(csrf_of(&pairs))?;
    user.require(Permission::Transmit)?;
    let ente = user.ente()?;
    let id = parse_id(&id)?;
    let (d, old, _) = load(&state, &user, ente, id, "correzione record").await?;
    if d.hit.cancelled.is_some() {
        return Err(gone());
    }
    let tipo = old.flow_type();
    let v = rf::values_from_pairs(pairs);
    let (cf, new, blocks) = match parse_record(tipo, &v) {
        Ok(x) => x,
        Err(p) => return correction_form(&state, &user, id, tipo, &v, p, NOT_SENT).await,
    };
    let (recs, new_pos, titles) = match (old, new) {
        (Record::Ps(old), FlowRecords::Ps(mut groups)) => {
            let Some((b, mut ps)) = groups.pop() else {
                return Err(AppError::internal("correzione senza record"));
            };
            let Some(mut p) = ps.pop() else {
                return Err(AppError::internal("correzione senza prestazione"));
            };
            // The new record is an insertion.
            p.tipo_operazione = None;
            // Checked alone first: a correction whose new record would be
            // rejected must not cancel the old one.
            let (fv, outcomes) = rf::dry_run(
                &state,
                &user,
                cf.clone(),
                FlowRecords::Ps(vec![(b.clone(), vec![p.clone()])]),
            )
            .await?;
            let mut vs: Vec<_> = fv;
            vs.extend(outcomes.into_iter().flat_map(|o| o.violations));
            if vs.iter().any(|x| x.severity == Severity::Errore) {
                let mut problems = Problems::default();
                problems.add_violations(tipo, &vs, &blocks);
                return correction_form(&state, &user, id, tipo, &v, problems, NOT_SENT).await;
            }
            let mut c = old.prestazione.clone();
            c.tipo_operazione = Some(TipoOperazione::Cancellazione);
            let groups = if *old.beneficiario == *b {
                vec![(b, vec![c, p])]
            } else {
                vec![(old.beneficiario.clone(), vec![c]), (b, vec![p])]
            };
            (
                FlowRecords::Ps(groups),
                2,
                vec![
                    "Cancellazione del record attuale (TipoOperazione C)",
                    "Inserimento del record corretto",
                ],
            )
        }
        (Record::Sinba(_), FlowRecords::Sinba(list)) => (
            FlowRecords::Sinba(list),
            1,
            vec!["Nuova versione del record"],
        ),
        _ => return Err(AppError::bad_request("Tipo di record non corrispondente.")),
    };
    let sub = rf::submit_records(
        &state,
        &user,
        cf.clone(),
        recs,
        "record.correzione",
        serde_json::json!({ "versione": id }),
    )
    .await?;
    if tipo == FlowType::Sinba && !rf::accepted(&sub, 1) {
        let mut problems = Problems::default();
        problems.add_violations(tipo, &rf::violations_of(&sub, 1), &blocks);
        return correction_form(&state, &user, id, tipo, &v, problems, NOT_SENT).await;
    }
    let ok = (1..=new_pos).all(|pos| rf::accepted(&sub, pos));
    let (alert, _) = super::acquisizione::headline(&sub, ok);
    let outcomes: Vec<_> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| rf::outcome_view(&sub, i as u64 + 1, *t, i as u64 + 1 == new_pos))
        .collect();
    // SINBA: the old version stays live when the key changed.
    let still_live = state
        .db
        .run(move |s| {
            Ok(s.version_detail(ente, id)?
                .is_some_and(|d| d.hit.cancelled.is_none()))
        })
        .await?;
    let headline = if !ok {
        "La correzione non è stata acquisita per intero: verificare gli esiti".to_string()
    } else if still_live {
        format!(
            "Nuovo record acquisito; il record {id} resta in vigore perché la chiave (IDBeneficiario, DataPrimaSegnalazione) è cambiata"
        )
    } else {
        format!("Record {id} corretto")
    };
    let mut links = Vec::new();
    if let Some(l) = outcomes.last().and_then(|o| o.record_link.clone()) {
        links.push((l, "Apri il record corretto".to_string()));
    }
    links.push((
        format!("/consultazione/record/{id}"),
        "Record precedente".into(),
    ));
    links.push(("/consultazione".into(), "Nuova ricerca".into()));
    let flow_name = sub.report.id_flusso.clone().unwrap_or_default();
    let location = sub.location.clone();
    let codice_esito = sub.report.codice_esito.wire();
    let alert = if ok && still_live { "warning" } else { alert };
    esito_response(
        &state,
        &user,
        "consultazione",
        move |chrome| EsitoPage {
            chrome,
            title: "Esito della correzione".into(),
            breadcrumb: crumbs(id),
            alert,
            headline,
            flow_name,
            codice_esito,
            location,
            outcomes,
            links,
        },
        &cf,
    )
    .await
}
