//! Amministrazione → ente → Credenziali API: the clients of the
//! cooperation API of one ente. An administrator manages those of any
//! ente, a referente those of their own ente (any other ente answers 404).
//! A secret is shown once, when issued: only its SHA-256 is kept. Issuing
//! and revoking are audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use casellario_domain::access::Permission;
use casellario_store::EnteId;
use casellario_store::api::{ApiClient, NewApiClient};
use casellario_store::portal::{EnteProfile, NewAuditEvent};
use serde::Deserialize;

use super::admin::Errors;
use super::parse_id;
use crate::api::auth::{SCOPES, new_credentials, secret_hash};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{Millis, it_datetime};
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/amministrazione/enti/{id}/credenziali",
            get(page).post(create),
        )
        .route(
            "/amministrazione/enti/{id}/credenziali/{client}/revoca",
            post(revoke),
        )
}

/// The ente whose credentials `user` may manage; 404 otherwise.
fn may_manage(user: &CurrentUser, ente: EnteId) -> Result<(), AppError> {
    if user.can(Permission::ManageEnti) {
        return Ok(());
    }
    if user.can(Permission::ManageOwnOperators) && user.account.ente_id == Some(ente) {
        return Ok(());
    }
    if user.can(Permission::ManageOwnOperators) {
        return Err(AppError::not_found());
    }
    Err(AppError::forbidden())
}

/// Italian description of a scope.
pub fn scope_label(s: &str) -> &'static str {
    match s {
        "flussi:invio" => "Invio di flussi",
        "ricevute:lettura" => "Lettura delle ricevute",
        "record:lettura" => "Lettura dei record dell'ente",
        _ => "Ambito sconosciuto",
    }
}

pub struct ScopeOpt {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// A secret just issued, shown once.
pub struct Issued {
    pub client_id: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "admin_credenziali.html")]
struct CredenzialiPage {
    chrome: Chrome,
    ente: EnteProfile,
    is_admin: bool,
    clients: Vec<ApiClient>,
    scopes: Vec<ScopeOpt>,
    label: String,
    errors: Errors,
    issued: Option<Issued>,
    token_url: String,
}

impl CredenzialiPage {
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn scope_label(&self, s: &str) -> &'static str {
        scope_label(s)
    }
}

async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: EnteId,
    label: String,
    checked: &[String],
    errors: Errors,
    issued: Option<Issued>,
) -> Result<CredenzialiPage, AppError> {
    let (ente, clients) = state
        .db
        .run(move |s| {
            let ente = s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            Ok((ente, s.list_api_clients(Some(id))?))
        })
        .await?;
    Ok(CredenzialiPage {
        chrome: Chrome::new(state, user, "amministrazione").await,
        ente,
        is_admin: user.can(Permission::ManageEnti),
        clients,
        scopes: SCOPES
            .iter()
            .map(|s| ScopeOpt {
                value: s,
                label: scope_label(s),
                checked: checked.iter().any(|c| c == s),
            })
            .collect(),
        label,
        errors,
        issued,
        token_url: format!("{}{}/token", state.cfg.base_url(), crate::api::BASE),
    })
}

#[derive(Deserialize)]
struct EsitoQuery {
    esito: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<EsitoQuery>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    may_manage(&user, id)?;
    let all: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let mut p = load(
        &state,
        &user,
        id,
        String::new(),
        &all,
        Errors::default(),
        None,
    )
    .await?;
    if q.esito.as_deref() == Some("revocata") {
        p.chrome = p.chrome.with_flash(
            "success",
            "Credenziale revocata: i suoi token non sono più accettati.",
        );
    }
    Ok(html(&p)?.into_response())
}

/// The form, as sent (`scope` may repeat).
fn parse_form(body: &[u8]) -> (String, String, Vec<String>) {
    let mut csrf = String::new();
    let mut label = String::new();
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded_pairs(body) {
        match k.as_str() {
            "_csrf" => csrf = v,
            "etichetta" => label = v,
            "scope" => scopes.push(v),
            _ => {}
        }
    }
    (csrf, label, scopes)
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let (csrf, label, scopes) = parse_form(&body);
    user.check_csrf(&csrf)?;
    let id = parse_id(&id)?;
    may_manage(&user, id)?;
    let label = label.trim().to_string();
    let mut errors = Errors::default();
    if label.is_empty() || label.chars().count() > 80 {
        errors.add_public(
            "etichetta",
            "Etichetta",
            "Indicare un nome per riconoscere la credenziale (al massimo 80 caratteri), ad esempio il software che la userà.",
        );
    }
    let chosen: Vec<&'static str> = SCOPES
        .iter()
        .copied()
        .filter(|s| scopes.iter().any(|c| c == s))
        .collect();
    if chosen.is_empty() {
        errors.add_public(
            "scope-0",
            "Ambiti",
            "Scegliere almeno un ambito di utilizzo.",
        );
    }
    if !errors.is_empty() {
        let p = load(&state, &user, id, label, &scopes, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&p)?).into_response());
    }
    let (client_id, secret) = new_credentials();
    let hash = secret_hash(&secret);
    let (by, name) = (user.id(), user.account.username.clone());
    let (cid, lab) = (client_id.clone(), label.clone());
    let client = state
        .db
        .run(move |s| {
            s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            s.create_api_client(&NewApiClient {
                client_id: &cid,
                ente_id: id,
                secret_hash: &hash,
                scopes: &chosen,
                label: &lab,
                created_by: Some(by),
            })?;
            let detail = serde_json::json!({"client_id": cid, "etichetta": lab, "ambiti": chosen});
            s.audit(&NewAuditEvent {
                account_id: Some(by),
                username: Some(&name),
                action: "api.credenziale.rilascio",
                ente_id: Some(id),
                detail: &detail.to_string(),
                ip: None,
            })?;
            s.api_client(&cid)?
                .ok_or_else(|| AppError::internal("credenziale appena creata non trovata"))
        })
        .await?;
    state.api.remember(&client);
    let all: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let mut p = load(
        &state,
        &user,
        id,
        String::new(),
        &all,
        Errors::default(),
        Some(Issued { client_id, secret }),
    )
    .await?;
    p.chrome = p
        .chrome
        .with_flash("success", format!("Credenziale «{label}» rilasciata."));
    Ok((StatusCode::CREATED, html(&p)?).into_response())
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, client)): Path<(String, String)>,
    Form(f): Form<RevokeForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let id = parse_id(&id)?;
    may_manage(&user, id)?;
    let (by, name) = (user.id(), user.account.username.clone());
    let cid = client.clone();
    state
        .db
        .run(move |s| {
            // Another ente's client answers like one that does not exist.
            let c = s
                .api_client(&cid)?
                .filter(|c| c.ente_id == id)
                .ok_or_else(AppError::not_found)?;
            if s.revoke_api_client(&c.client_id, Some(by))? {
                let detail = serde_json::json!({"client_id": c.client_id, "etichetta": c.label});
                s.audit(&NewAuditEvent {
                    account_id: Some(by),
                    username: Some(&name),
                    action: "api.credenziale.revoca",
                    ente_id: Some(id),
                    detail: &detail.to_string(),
                    ip: None,
                })?;
            }
            Ok(())
        })
        .await?;
    // Tokens already issued stop working now, not at their expiry.
    state.api.revoked(&client);
    Ok(Redirect::to(&format!(
        "/amministrazione/enti/{id}/credenziali?esito=revocata"
    ))
    .into_response())
}
