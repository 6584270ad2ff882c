//! Acquisizione: *invio puntuale*, one PS/PSA record (with its optional SINA
//! assessment) or one SINBA record through a form. The form becomes a
//! one-record flow with the header of the user's ente and goes through the
//! pipeline like any other flow.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use casellario_domain::FlowType;
use casellario_domain::access::Permission;

use super::record_form::{self as rf, FlowRecords, OutcomeView, Problems, SectionView, Values};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::submit::Submitted;
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/acquisizione", get(index))
        .route("/acquisizione/ps", get(ps_form).post(ps_submit))
        .route("/acquisizione/sinba", get(sinba_form).post(sinba_submit))
}

#[derive(Template)]
#[template(path = "acquisizione_index.html")]
struct IndexPage {
    chrome: Chrome,
}

async fn index(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::Transmit)?;
    user.ente()?;
    let page = IndexPage {
        chrome: Chrome::new(&state, &user, "acquisizione").await,
    };
    Ok(html(&page)?.into_response())
}

/// The record form (new record or correction).
#[derive(Template)]
#[template(path = "record_form.html")]
pub struct RecordFormPage {
    pub chrome: Chrome,
    pub title: String,
    pub intro: String,
    pub breadcrumb: Vec<(String, String)>,
    pub action: String,
    pub sections: Vec<SectionView>,
    pub problems: Problems,
    pub summary_note: String,
    pub submit_label: String,
    pub back: String,
}

/// The outcome of a form submission.
#[derive(Template)]
#[template(path = "record_esito.html")]
pub struct EsitoPage {
    pub chrome: Chrome,
    pub title: String,
    pub breadcrumb: Vec<(String, String)>,
    /// success, warning, danger
    pub alert: &'static str,
    pub headline: String,
    pub flow_name: String,
    pub codice_esito: &'static str,
    pub location: String,
    pub outcomes: Vec<OutcomeView>,
    pub links: Vec<(String, String)>,
}

fn crumbs() -> Vec<(String, String)> {
    vec![
        ("/".into(), "Cruscotto".into()),
        ("/acquisizione".into(), "Acquisizione".into()),
    ]
}

fn titles(tipo: FlowType) -> (&'static str, &'static str, &'static str) {
    match tipo {
        FlowType::PsPsaSina => (
            "Nuova prestazione sociale",
            "Un beneficiario e una prestazione (PS/PSA), con la valutazione SINA se prevista. L'intestazione del flusso (ente, nome del flusso) è compilata dal sistema.",
            "/acquisizione/ps",
        ),
        FlowType::Sinba => (
            "Nuovo record SINBA",
            "Un minore preso in carico e la sua famiglia. Il minore è identificato solo dallo pseudonimo assegnato dall'ente. L'intestazione del flusso è compilata dal sistema.",
            "/acquisizione/sinba",
        ),
    }
}

async fn new_form(
    state: &AppState,
    user: &CurrentUser,
    tipo: FlowType,
    values: &Values,
    problems: Problems,
) -> Result<Response, AppError> {
    let (title, intro, action) = titles(tipo);
    let page = RecordFormPage {
        chrome: Chrome::new(state, user, "acquisizione").await,
        title: title.into(),
        intro: intro.into(),
        breadcrumb: crumbs(),
        action: action.into(),
        sections: rf::view(tipo, values, &problems),
        problems,
        summary_note:
            "Nessun dato è stato acquisito: correggere i campi indicati e inviare di nuovo.".into(),
        submit_label: "Invia".into(),
        back: "/acquisizione".into(),
    };
    Ok(html(&page)?.into_response())
}

fn initial(headers: &HeaderMap, tipo: FlowType) -> Values {
    let mut v = Values::new();
    rf::set(&mut v, rf::CF_OPERATORE, rf::remembered_cf(headers));
    if tipo == FlowType::PsPsaSina {
        rf::set(&mut v, "p_TipoOperazione", "I");
        rf::set(&mut v, "r1_CodiceNazione", "380");
        rf::set(&mut v, "a_CodiceCittadinanza", "380");
    } else {
        rf::set(&mut v, "k_CodiceNazioneResidenza", "380");
    }
    v
}

async fn ps_form(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Permission::Transmit)?;
    user.ente()?;
    let v = initial(&headers, FlowType::PsPsaSina);
    new_form(&state, &user, FlowType::PsPsaSina, &v, Problems::default()).await
}

async fn sinba_form(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    user.require(Permission::Transmit)?;
    user.ente()?;
    let v = initial(&headers, FlowType::Sinba);
    new_form(&state, &user, FlowType::Sinba, &v, Problems::default()).await
}

/// The CSRF token of a form posted as pairs.
pub fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Checks the form and builds the record: the record with its residence
/// blocks, or the problems to show.
pub fn parse_record(
    tipo: FlowType,
    v: &Values,
) -> Result<(String, FlowRecords, Vec<usize>), Problems> {
    let cf = rf::cf_operatore_value(v);
    let built = match tipo {
        FlowType::PsPsaSina => rf::build_ps(v).map(|(ps, blocks)| {
            (
                FlowRecords::Ps(vec![(ps.beneficiario, vec![ps.prestazione])]),
                blocks,
            )
        }),
        FlowType::Sinba => rf::build_sinba(v).map(|s| (FlowRecords::Sinba(vec![s]), Vec::new())),
    };
    match (cf, built) {
        (Ok(cf), Ok((recs, blocks))) => Ok((cf, recs, blocks)),
        (cf, built) => {
            let mut errs = Vec::new();
            if let Err(e) = cf {
                errs.push(e);
            }
            if let Err(e) = built {
                errs.extend(e);
            }
            Err(Problems::from_field_errors(errs))
        }
    }
}

/// The result page of a submission with the cookie remembering the operator.
pub async fn esito_response(
    state: &AppState,
    user: &CurrentUser,
    section: &str,
    page: impl FnOnce(Chrome) -> EsitoPage,
    cf: &str,
) -> Result<Response, AppError> {
    let chrome = Chrome::new(state, user, section).await;
    let mut resp = html(&page(chrome))?.into_response();
    if let Ok(v) = HeaderValue::from_str(&rf::cf_cookie(cf, state.cfg.cookie_secure)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Headline and alert kind of a submission's outcome.
pub fn headline(sub: &Submitted, ok: bool) -> (&'static str, String) {
    let avvisi = sub.report.totals.avvisi;
    if !ok {
        ("danger", "Dati non acquisiti".into())
    } else if avvisi > 0 {
        ("warning", "Dati acquisiti con avvisi da verificare".into())
    } else {
        ("success", "Dati acquisiti".into())
    }
}

async fn submit(
    state: AppState,
    user: CurrentUser,
    tipo: FlowType,
    pairs: Vec<(String, String)>,
) -> Result<Response, AppError> {
    user.check_csrf(csrf_of(&pairs))?;
    user.require(Permission::Transmit)?;
    user.ente()?;
    let v = rf::values_from_pairs(pairs);
    let (cf, recs, blocks) = match parse_record(tipo, &v) {
        Ok(x) => x,
        Err(problems) => return new_form(&state, &user, tipo, &v, problems).await,
    };
    let action = match tipo {
        FlowType::PsPsaSina => "acquisizione.ps",
        FlowType::Sinba => "acquisizione.sinba",
    };
    let sub = rf::submit_records(
        &state,
        &user,
        cf.clone(),
        recs,
        action,
        serde_json::json!({}),
    )
    .await?;
    if !rf::accepted(&sub, 1) {
        let mut problems = Problems::default();
        problems.add_violations(tipo, &rf::violations_of(&sub, 1), &blocks);
        return new_form(&state, &user, tipo, &v, problems).await;
    }
    let (alert, headline) = headline(&sub, true);
    let outcome = rf::outcome_view(&sub, 1, "Esito del record", true);
    let mut links = Vec::new();
    if let Some(l) = &outcome.record_link {
        links.push((l.clone(), "Apri il record".to_string()));
    }
    let (_, _, again) = titles(tipo);
    links.push((again.to_string(), "Inserisci un altro record".to_string()));
    links.push(("/consultazione".into(), "Consultazione".into()));
    let flow_name = sub.report.id_flusso.clone().unwrap_or_default();
    let location = sub.location.clone();
    let codice_esito = sub.report.codice_esito.wire();
    let outcomes = vec![outcome];
    esito_response(
        &state,
        &user,
        "acquisizione",
        move |chrome| EsitoPage {
            chrome,
            title: "Esito dell'invio".into(),
            breadcrumb: crumbs(),
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

async fn ps_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    submit(state, user, FlowType::PsPsaSina, pairs).await
}

async fn sinba_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    submit(state, user, FlowType::Sinba, pairs).await
}
