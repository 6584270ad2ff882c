//! casellario-server: `casellario serve`, the operator portal over the
//! register. A thin shell: every submission goes through
//! `casellario_ingest::ingest`, every read through `casellario_store`.
//!
//! Layout: [`config`] (figment), [`db`] (connection pool and the single
//! writer lane), [`auth`] (argon2id passwords, sessions, CSRF, lockout),
//! [`error`] (stable codes, Italian messages), `pages/*` (one module per
//! section of the portal, askama templates in `templates/`), [`assets`]
//! (CSS, JS and fonts compiled in).

pub mod api;
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
pub mod waas;

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
    /// The WaaS poller's HTTP client and the enti being polled.
    pub waas: waas::Waas,
    /// Keys, client map and rate limits of the cooperation API.
    pub api: Arc<api::auth::ApiAuth>,
}

impl AppState {
    pub fn new(cfg: Config) -> Result<AppState, ServeError> {
        let db = Db::open(&cfg.db)?;
        let api = api::init(&db, &cfg)?;
        Ok(AppState {
            db,
            waas: waas::Waas::new(&cfg)?,
            api,
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
        .merge(api::routes(&state))
        .fallback(|uri: axum::http::Uri| async move {
            // Under /api the answer is a problem, like every API error.
            if uri.path().starts_with("/api/") || uri.path() == "/api" {
                axum::response::IntoResponse::into_response(api::problem::ApiError::not_found())
            } else {
                axum::response::IntoResponse::into_response(AppError::not_found())
            }
        })
        .layer(axum::middleware::map_response(italian_errors))
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

/// Rejections produced by axum's extractors (malformed form or query, a
/// wrong method, an oversized body) come as English plain text: they are
/// replaced by the portal's error page with a stable code, like every
/// other error.
async fn italian_errors(resp: axum::response::Response) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let status = resp.status();
    // Pages and JSON written by handlers (a form re-rendered with 422, the
    // health check) are kept; axum's rejections are plain text or empty.
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error())
        || resp.headers().contains_key("x-casellario-errore")
        || !plain
    {
        return resp;
    }
    let err = match status {
        StatusCode::NOT_FOUND => AppError::not_found(),
        StatusCode::METHOD_NOT_ALLOWED => AppError::new(
            status,
            "METODO_NON_CONSENTITO",
            "Questo indirizzo non accetta il tipo di richiesta inviato.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::new(
            status,
            "RICHIESTA_TROPPO_GRANDE",
            "La richiesta supera la dimensione massima consentita.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(
            status,
            "FORMATO_NON_SUPPORTATO",
            "Il formato della richiesta non è quello atteso dal modulo.",
        ),
        s if s.is_client_error() => AppError::new(
            s,
            "RICHIESTA_NON_VALIDA",
            "La richiesta non è valida: dati del modulo mancanti o malformati. Ricaricare la pagina e riprovare.",
        ),
        _ => AppError::internal(format!("risposta {status} senza codice")),
    };
    let mut out = err.into_response();
    // Keep what the original response negotiated (e.g. Allow, Retry-After).
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = resp.headers().get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
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
    // The WaaS poller runs beside the portal and stops with it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poller = state
        .cfg
        .waas_enabled
        .then(|| tokio::spawn(waas::scheduler::run(state.clone(), stop_rx)));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    })
    .await;
    if let Some(p) = poller {
        let _ = p.await;
    }
    served?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn app(dir: &std::path::Path) -> Router {
        let cfg = Config {
            db: dir.join("t.db"),
            ..Config::default()
        };
        router(AppState::new(cfg).expect("state"))
    }

    async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String, String) {
        let resp = app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let code = resp
            .headers()
            .get("x-casellario-errore")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn extractor_rejections_become_italian_errors_with_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(dir.path());
        // A login form without its fields.
        let (st, code, body) = call(
            &app,
            Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-for", "10.0.0.1")
                .extension(axum::extract::ConnectInfo(SocketAddr::from((
                    [10, 0, 0, 1],
                    1,
                ))))
                .body(Body::from("nome=%ZZ&&&"))
                .expect("request"),
        )
        .await;
        assert!(st.is_client_error(), "{st}");
        assert_eq!(code, "RICHIESTA_NON_VALIDA");
        assert!(body.contains("La richiesta non è valida"), "{body}");
        // A wrong method.
        let (st, code, body) = call(
            &app,
            Request::put("/login").body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(code, "METODO_NON_CONSENTITO");
        assert!(body.contains("Operazione non riuscita"));
        // A body over the form limit.
        let big = "x".repeat(Config::default().max_form_bytes + 10);
        let (st, code, _) = call(
            &app,
            Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .extension(axum::extract::ConnectInfo(SocketAddr::from((
                    [10, 0, 0, 2],
                    1,
                ))))
                .body(Body::from(format!("username={big}")))
                .expect("request"),
        )
        .await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(code, "RICHIESTA_TROPPO_GRANDE");
        // Unknown pages and static files.
        let (st, code, _) = call(
            &app,
            Request::get("/static/nope.css")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!((st, code.as_str()), (StatusCode::NOT_FOUND, "NON_TROVATO"));
        // The health check stays JSON.
        let (st, _, body) = call(
            &app,
            Request::get("/status").body(Body::empty()).expect("r"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("\"stato\":\"ok\""), "{body}");
    }
}
