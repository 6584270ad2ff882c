//! Registro accessi: who read whose personal data (access log) and who
//! changed what (audit log), for auditors and DPOs (`ReadAuditLog`). Both
//! are paged by id, newest first.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use casellario_domain::access::Permission;
use casellario_store::EnteId;
use casellario_store::portal::{Access, AuditEvent};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{Millis, it_datetime};
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registro-accessi", get(accessi))
        .route("/registro-accessi/eventi", get(eventi))
}

/// Rows per page.
const PAGE: u32 = 50;

#[derive(Deserialize)]
struct AccessQuery {
    soggetto: Option<String>,
    prima: Option<String>,
}

#[derive(Template)]
#[template(path = "registro_accessi.html")]
struct AccessPage {
    chrome: Chrome,
    soggetto: String,
    rows: Vec<Access>,
    enti: HashMap<EnteId, String>,
    /// Link to the older entries, when there may be some.
    older: Option<String>,
    paged: bool,
}

impl AccessPage {
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn ente(&self, id: &Option<EnteId>) -> String {
        ente_label(&self.enti, id)
    }
}

fn ente_label(enti: &HashMap<EnteId, String>, id: &Option<EnteId>) -> String {
    match id {
        Some(id) => enti
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("ente {id}")),
        None => "—".into(),
    }
}

fn parse_before(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| s.parse::<i64>().ok()).filter(|n| *n > 0)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn accessi(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AccessQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAuditLog)?;
    let soggetto = q
        .soggetto
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let before = parse_before(q.prima.as_deref());
    let subject = (!soggetto.is_empty()).then(|| soggetto.clone());
    let (rows, enti) = state
        .db
        .run(move |s| {
            let rows = s.list_access(subject.as_deref(), PAGE, before)?;
            let enti = s
                .list_ente_profiles()?
                .into_iter()
                .map(|e| (e.id, e.denominazione))
                .collect::<HashMap<_, _>>();
            Ok((rows, enti))
        })
        .await?;
    let older = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|id| {
            if soggetto.is_empty() {
                format!("/registro-accessi?prima={id}")
            } else {
                format!("/registro-accessi?soggetto={}&prima={id}", enc(&soggetto))
            }
        });
    let page = AccessPage {
        chrome: Chrome::new(&state, &user, "registro").await,
        soggetto,
        rows,
        enti,
        older,
        paged: before.is_some(),
    };
    Ok(html(&page)?.into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    prima: Option<String>,
}

#[derive(Template)]
#[template(path = "registro_eventi.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditEvent>,
    enti: HashMap<EnteId, String>,
    older: Option<String>,
    paged: bool,
}

impl AuditPage {
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn ente(&self, id: &Option<EnteId>) -> String {
        ente_label(&self.enti, id)
    }
    /// The audit action in words.
    fn action(&self, a: &str) -> &'static str {
        match a {
            "login" => "Accesso",
            "login.fallito" => "Accesso non riuscito",
            "login.blocco" => "Account bloccato per troppi tentativi",
            "login.bloccato" => "Tentativo di accesso su account bloccato",
            "logout" => "Uscita",
            "password.cambio" => "Cambio password",
            "account.bootstrap" => "Creazione dell'amministratore iniziale",
            "account.creazione" => "Creazione utente",
            "account.modifica" => "Modifica utente",
            "account.reimposta_password" => "Password reimpostata",
            "ente.creazione" => "Registrazione ente",
            "ente.modifica" => "Modifica ente",
            "demo.caricamento" => "Caricamento dati dimostrativi",
            _ => "",
        }
    }
    /// The JSON detail, compact; empty for `{}`.
    fn detail(&self, d: &str) -> String {
        if d.trim() == "{}" {
            String::new()
        } else {
            d.to_string()
        }
    }
}

async fn eventi(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadAuditLog)?;
    let before = parse_before(q.prima.as_deref());
    let (rows, enti) = state
        .db
        .run(move |s| {
            let rows = s.list_audit(PAGE, before)?;
            let enti = s
                .list_ente_profiles()?
                .into_iter()
                .map(|e| (e.id, e.denominazione))
                .collect::<HashMap<_, _>>();
            Ok((rows, enti))
        })
        .await?;
    let older = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|id| format!("/registro-accessi/eventi?prima={id}"));
    let page = AuditPage {
        chrome: Chrome::new(&state, &user, "registro").await,
        rows,
        enti,
        older,
        paged: before.is_some(),
    };
    Ok(html(&page)?.into_response())
}
