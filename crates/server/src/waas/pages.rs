//! Amministrazione → WaaS: the comuni's endpoints with their cursor, last
//! run, last fault and pending outcomes; per ente, the form to register or
//! change the endpoint and "Esegui ora". Administrators only
//! (`ManageEnti`); every change is audited. Tokens are never shown back.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use casellario_domain::access::Permission;
use casellario_store::portal::{EnteProfile, NewAuditEvent};
use casellario_store::waas::{
    Acquisition, Credential, Endpoint, EndpointAttrs, EndpointOverview, PollRun, PollTrigger,
};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{Millis, Num, it_datetime, it_num};
use crate::pages::parse_id;
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/amministrazione/waas", get(index))
        .route("/amministrazione/waas/{id}", get(detail).post(save))
        .route("/amministrazione/waas/{id}/esegui", post(run_now))
}

#[derive(Template)]
#[template(path = "admin_waas.html")]
struct WaasPage {
    chrome: Chrome,
    rows: Vec<EndpointOverview>,
}

impl WaasPage {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn cursor(&self, ms: &i64) -> String {
        cursor_label(*ms)
    }
}

fn cursor_label(ms: i64) -> String {
    if ms == 0 {
        "dall'inizio".to_owned()
    } else {
        super::rfc3339_ms(ms)
    }
}

async fn index(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageEnti)?;
    let rows = state.db.run(|s| Ok(s.waas_overview()?)).await?;
    let page = WaasPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        rows,
    };
    Ok(html(&page)?.into_response())
}

/// Values of the endpoint form, as typed.
#[derive(Debug, Default, Deserialize)]
struct EndpointForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    url: String,
    /// `token`, `env` or `nessuna`.
    #[serde(default)]
    credenziale: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    variabile: String,
    #[serde(default)]
    intervallo: String,
    #[serde(default)]
    attivo: Option<String>,
}

#[derive(Debug)]
struct FieldError {
    field: &'static str,
    label: &'static str,
    message: String,
}

/// Validation messages, next to their fields and in a summary (the markup
/// of `admin_errors.html`).
#[derive(Debug, Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &'static str, label: &'static str, message: impl Into<String>) {
        self.0.push(FieldError {
            field,
            label,
            message: message.into(),
        });
    }
    fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
    fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn all(&self) -> &[FieldError] {
        &self.0
    }
}

#[derive(Template)]
#[template(path = "admin_waas_ente.html")]
struct EntePage {
    chrome: Chrome,
    ente: EnteProfile,
    endpoint: Option<Endpoint>,
    cursor_ms: i64,
    pending: u64,
    running: bool,
    runs: Vec<PollRun>,
    acquisitions: Vec<Acquisition>,
    form: EndpointForm,
    errors: Errors,
}

impl EntePage {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn cursor(&self) -> String {
        cursor_label(self.cursor_ms)
    }
    fn ts(&self, ms: &i64) -> String {
        super::rfc3339_ms(*ms)
    }
    fn credential_label(&self, c: &Credential) -> String {
        match c {
            Credential::None => "nessuna".to_owned(),
            Credential::Token(_) => "token memorizzato nel registro (non mostrato)".to_owned(),
            Credential::Env(v) => format!("variabile d'ambiente {v}"),
        }
    }
    fn anomalies(&self, r: &PollRun) -> usize {
        serde_json::from_str::<Vec<serde_json::Value>>(&r.anomalies).map_or(0, |v| v.len())
    }
}

#[derive(Deserialize)]
struct EsitoQuery {
    esito: Option<String>,
}

async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: Option<EndpointForm>,
    errors: Errors,
) -> Result<EntePage, AppError> {
    let (ente, endpoint, cursor_ms, pending, runs, acquisitions) = state
        .db
        .run(move |s| {
            let ente = s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            Ok((
                ente,
                s.waas_endpoint(id)?,
                s.waas_cursor(id)?,
                s.waas_pending_count(id)?,
                s.waas_poll_runs(id, 10)?,
                s.waas_acquisitions(id, 20)?,
            ))
        })
        .await?;
    let form = form.unwrap_or_else(|| match &endpoint {
        Some(e) => EndpointForm {
            url: e.base_url.clone(),
            credenziale: e.credential.kind().to_owned(),
            variabile: match &e.credential {
                Credential::Env(v) => v.clone(),
                _ => String::new(),
            },
            intervallo: e.interval_secs.to_string(),
            attivo: e.enabled.then(|| "si".to_owned()),
            ..EndpointForm::default()
        },
        None => EndpointForm {
            credenziale: "token".to_owned(),
            intervallo: "300".to_owned(),
            attivo: Some("si".to_owned()),
            ..EndpointForm::default()
        },
    });
    Ok(EntePage {
        chrome: Chrome::new(state, user, "amministrazione").await,
        running: state.waas.is_running(ente.id),
        ente,
        endpoint,
        cursor_ms,
        pending,
        runs,
        acquisitions,
        form,
        errors,
    })
}

async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<EsitoQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageEnti)?;
    let id = parse_id(&id)?;
    let mut page = load(&state, &user, id, None, Errors::default()).await?;
    let flash = match q.esito.as_deref() {
        Some("salvato") => Some(("success", "Endpoint WaaS salvato.")),
        Some("avviato") => Some((
            "info",
            "Poll avviato: l'esito comparirà tra le esecuzioni recenti (ricaricare la pagina).",
        )),
        Some("in-corso") => Some(("warning", "Un poll di questo ente è già in corso.")),
        _ => None,
    };
    if let Some((kind, text)) = flash {
        page.chrome = page.chrome.with_flash(kind, text);
    }
    Ok(html(&page)?.into_response())
}

/// Checks the form; `Some(attrs parts)` when valid.
fn check(
    f: &EndpointForm,
    previous: Option<&Endpoint>,
    errors: &mut Errors,
) -> Option<(String, Credential, u32, bool)> {
    let url = f.url.trim().trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
                errors.add(
                    "url",
                    "Indirizzo base",
                    "L'indirizzo non deve contenere credenziali, parametri (?) né frammenti (#).",
                );
            }
        }
        _ => errors.add(
            "url",
            "Indirizzo base",
            "Indicare l'indirizzo base dell'API del comune, es. https://servizi.comune.it/waas/v1.",
        ),
    }
    let credential = match f.credenziale.as_str() {
        "nessuna" => Some(Credential::None),
        "token" => {
            let t = f.token.trim();
            if !t.is_empty() {
                if t.len() > 8192 || t.chars().any(|c| c.is_control() || c == ' ') {
                    errors.add(
                        "token",
                        "Token",
                        "Il token non può contenere spazi o caratteri di controllo (massimo 8192 caratteri).",
                    );
                }
                Some(Credential::Token(t.to_owned()))
            } else if let Some(Credential::Token(old)) = previous.map(|p| &p.credential) {
                // An empty field keeps the stored token (it is never shown back).
                Some(Credential::Token(old.clone()))
            } else {
                errors.add("token", "Token", "Indicare il token di accesso del comune.");
                None
            }
        }
        "env" => {
            let v = f.variabile.trim();
            let ok = !v.is_empty()
                && v.len() <= 128
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !v.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                errors.add(
                    "variabile",
                    "Variabile d'ambiente",
                    "Indicare il nome della variabile d'ambiente con il token: lettere, cifre e _, senza iniziare con una cifra.",
                );
            }
            Some(Credential::Env(v.to_owned()))
        }
        _ => {
            errors.add(
                "credenziale",
                "Credenziale",
                "Scegliere da dove leggere il token.",
            );
            None
        }
    };
    let interval = match f.intervallo.trim().parse::<u32>() {
        Ok(n) if (10..=7 * 86_400).contains(&n) => Some(n),
        _ => {
            errors.add(
                "intervallo",
                "Intervallo di interrogazione",
                "Indicare un intervallo in secondi tra 10 e 604800 (una settimana).",
            );
            None
        }
    };
    if !errors.is_empty() {
        return None;
    }
    Some((url, credential?, interval?, f.attivo.is_some()))
}

async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<EndpointForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    user.require(Permission::ManageEnti)?;
    let id = parse_id(&id)?;
    let previous = state
        .db
        .run(move |s| {
            s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            Ok(s.waas_endpoint(id)?)
        })
        .await?;
    let mut errors = Errors::default();
    let Some((url, credential, interval, enabled)) = check(&f, previous.as_ref(), &mut errors)
    else {
        let page = load(&state, &user, id, Some(f), errors).await?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response());
    };
    let (by, name) = (user.id(), user.account.username.clone());
    state
        .db
        .write_small(move |s| {
            // The audit names the credential's kind and variable, never a token.
            let detail = serde_json::json!({
                "url": url,
                "credenziale": credential.kind(),
                "variabile": match &credential { Credential::Env(v) => Some(v.as_str()), _ => None },
                "intervallo_secondi": interval,
                "attivo": enabled,
            });
            s.set_waas_endpoint(
                id,
                &EndpointAttrs {
                    base_url: &url,
                    credential,
                    interval_secs: interval,
                    enabled,
                },
                Some(by),
            )?;
            s.audit(&NewAuditEvent {
                account_id: Some(by),
                username: Some(&name),
                action: "waas.endpoint",
                ente_id: Some(id),
                detail: &detail.to_string(),
                ip: None,
            })?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/amministrazione/waas/{id}?esito=salvato")).into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn run_now(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    user.require(Permission::ManageEnti)?;
    let id = parse_id(&id)?;
    let (by, name) = (user.id(), user.account.username.clone());
    let codice = state
        .db
        .write_small(move |s| {
            let ente = s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            if s.waas_endpoint(id)?.is_none() {
                return Err(AppError::bad_request(
                    "Registrare prima l'endpoint WaaS dell'ente.",
                ));
            }
            s.audit(&NewAuditEvent {
                account_id: Some(by),
                username: Some(&name),
                action: "waas.esegui",
                ente_id: Some(id),
                detail: "{}",
                ip: None,
            })?;
            Ok(ente.codice)
        })
        .await?;
    if state.waas.is_running(id) {
        return Ok(
            Redirect::to(&format!("/amministrazione/waas/{id}?esito=in-corso")).into_response(),
        );
    }
    // The poll may take minutes: it runs on its own and records its run.
    let st = state.clone();
    tokio::spawn(async move {
        if let Err(e) = super::poll_ente(&st, &codice, PollTrigger::Manual).await {
            tracing::warn!(ente = %codice, codice = e.code(), "poll WaaS manuale non avviato: {e}");
        }
    });
    Ok(Redirect::to(&format!("/amministrazione/waas/{id}?esito=avviato")).into_response())
}
