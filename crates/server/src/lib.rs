//! casellario-server: `casellario serve`, the operator portal over the
//! register. A thin shell: every submission goes through
//! `casellario_ingest::ingest`, every read through `casellario_store`.
//!
//! Layout: [`config`] (figment), [`db`] (connection pool and the single
//! writer lane), [`auth`] (argon2id passwords, sessions, CSRF, lockout),
//! [`error`] (stable codes, Italian messages), `pages/*` (one module per
//! section of the portal, askama templates in `templates/`), [`assets`]
//! (CSS, JS and fonts compiled in).

pub mod assets;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod fmt;
mod pages;
pub mod receipt_export;
pub mod submit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use casellario_domain::access::{Permission, Role};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use db::Db;
pub use error::AppError;

use auth::{CurrentUser, LoginLimiter};

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub login_limiter: LoginLimiter,
    pub jobs: pages::flussi::Jobs,
}

impl AppState {
    pub fn new(cfg: Config) -> Result<AppState, ServeError> {
        let db = Db::open(&cfg.db)?;
        Ok(AppState {
            db,
            login_limiter: LoginLimiter::new(cfg.login_per_minute),
            jobs: pages::flussi::Jobs::default(),
            cfg: Arc::new(cfg),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("registro: {0}")]
    Store(#[from] casellario_store::StoreError),
    #[error("{0}")]
    App(#[from] AppError),
    #[error("rete: {0}")]
    Io(#[from] std::io::Error),
}

/// A section link of the navigation bar.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct UserChrome {
    pub nome: String,
    pub role_label: &'static str,
    pub ente_label: Option<String>,
}

pub struct Flash {
    /// success, info, warning, danger
    pub kind: &'static str,
    pub text: String,
}

/// What every page's frame needs: who is signed in, the navigation, the
/// CSRF token for forms, a message from the previous action.
pub struct Chrome {
    pub user: Option<UserChrome>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

/// A navigation section: id, path, label, who sees it.
type Section = (&'static str, &'static str, &'static str, fn(Role) -> bool);

/// Sections of the navigation bar.
const SECTIONS: &[Section] = &[
    ("cruscotto", "/", "Cruscotto", |_| true),
    ("acquisizione", "/acquisizione", "Acquisizione", |r| {
        r.can(Permission::Transmit)
    }),
    ("flussi", "/flussi", "Trasmissione flussi", |r| {
        r.can(Permission::ReadOwnFlows)
    }),
    ("consultazione", "/consultazione", "Consultazione", |r| {
        r.can(Permission::ReadOwnRecords)
    }),
    (
        "amministrazione",
        "/amministrazione",
        "Amministrazione",
        |r| r.can(Permission::ManageEnti) || r.can(Permission::ManageOwnOperators),
    ),
    ("registro", "/registro-accessi", "Registro accessi", |r| {
        r.can(Permission::ReadAuditLog)
    }),
    ("informazioni", "/informazioni", "Informazioni", |_| true),
];

impl Chrome {
    /// For pages seen before signing in.
    pub fn anonymous() -> Chrome {
        Chrome {
            user: None,
            nav: Vec::new(),
            csrf: String::new(),
            flash: None,
        }
    }

    /// The frame of a signed-in page in `section`.
    pub async fn new(state: &AppState, user: &CurrentUser, section: &str) -> Chrome {
        let ente_label = match user.account.ente_id {
            Some(id) => state
                .db
                .run(move |s| Ok(s.ente_profile(id)?))
                .await
                .ok()
                .flatten()
                .map(|e| e.denominazione),
            None => None,
        };
        Chrome {
            user: Some(UserChrome {
                nome: user.account.nome.clone(),
                role_label: user.role().label(),
                ente_label,
            }),
            nav: SECTIONS
                .iter()
                .filter(|(_, _, _, visible)| visible(user.role()))
                .map(|(id, href, label, _)| NavItem {
                    href,
                    label,
                    current: *id == section,
                })
                .collect(),
            csrf: user.csrf.clone(),
            flash: None,
        }
    }

    pub fn with_flash(mut self, kind: &'static str, text: impl Into<String>) -> Chrome {
        self.flash = Some(Flash {
            kind,
            text: text.into(),
        });
        self
    }
}

/// Renders a template into an HTML response.
pub fn html<T: askama::Template>(t: &T) -> Result<axum::response::Html<String>, AppError> {
    Ok(axum::response::Html(t.render()?))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let form_limit = state.cfg.max_form_bytes;
    let csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
               form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
    Router::new()
        .route("/status", get(pages::status))
        .route("/static/{*name}", get(assets::serve))
        .merge(pages::routes())
        .fallback(|| async { AppError::not_found() })
        .layer(DefaultBodyLimit::max(form_limit))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(AppError::internal("panic in a handler"))
        }))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Creates the first administrator when there is no account yet. Returns
/// the generated password, if one was generated (the caller prints it once).
pub async fn bootstrap_admin(
    state: &AppState,
    password_from_env: Option<String>,
) -> Result<Option<String>, AppError> {
    let count = state.db.run(|s| Ok(s.account_count()?)).await?;
    if count > 0 {
        return Ok(None);
    }
    let (password, generated) = match password_from_env {
        Some(p) if !p.is_empty() => {
            if let Some(problem) = auth::password_problem(&p, "admin") {
                return Err(AppError::bad_request(format!(
                    "CASELLARIO_ADMIN_PASSWORD non accettabile: {problem}"
                )));
            }
            (p, false)
        }
        _ => (auth::generate_password(), true),
    };
    let hash = auth::hash_password(&password)?;
    state
        .db
        .run(move |s| {
            let id = s.create_account(&casellario_store::portal::NewAccount {
                username: "admin",
                nome: "Amministratore",
                role: Role::Amministratore,
                ente_id: None,
                password_hash: &hash,
                must_change: generated,
            })?;
            s.audit(&casellario_store::portal::NewAuditEvent {
                account_id: Some(id),
                username: Some("admin"),
                action: "account.bootstrap",
                ente_id: None,
                detail: "{}",
                ip: None,
            })?;
            Ok(())
        })
        .await?;
    Ok(generated.then_some(password))
}

/// Runs the server until Ctrl-C or SIGTERM; in-flight requests finish.
pub async fn serve(state: AppState) -> Result<(), ServeError> {
    let addr = state.cfg.listen;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, db = %state.db.path().display(), "casellario serve in ascolto");
    serve_on(listener, state).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> Result<(), ServeError> {
    let sessions = state.db.clone();
    // Expired sessions are purged hourly.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = sessions.run(|s| Ok(s.purge_sessions()?)).await {
                tracing::warn!(error = %e, "pulizia delle sessioni non riuscita");
            }
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("casellario serve terminato");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("arresto richiesto: completo le richieste in corso");
}
