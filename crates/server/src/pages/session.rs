//! Login, logout, password change.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use casellario_store::portal::NewAuditEvent;

use crate::auth::{self, CurrentUser};
use crate::error::AppError;
use crate::fmt::now_ms;
use crate::{AppState, Chrome, html};

/// Double-submit cookie protecting the login form (no session yet).
const LOGIN_CSRF_COOKIE: &str = "casellario_login";

pub fn routes() -> axum::Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/password", get(password_page).post(password_change))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    login_csrf: String,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    cambiata: Option<String>,
}

fn login_response(next: &str, username: &str, error: Option<String>) -> Result<Response, AppError> {
    login_response_with(Chrome::anonymous(), next, username, error)
}

fn login_response_with(
    chrome: Chrome,
    next: &str,
    username: &str,
    error: Option<String>,
) -> Result<Response, AppError> {
    let token = auth::random_token(16);
    let page = LoginPage {
        chrome,
        login_csrf: token.clone(),
        next: super::safe_next(next).to_string(),
        username: username.to_string(),
        error,
    };
    let mut resp = html(&page)?.into_response();
    let cookie = format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn login_page(Query(q): Query<NextQuery>) -> Result<Response, AppError> {
    let mut chrome = Chrome::anonymous();
    if q.cambiata.is_some() {
        chrome = chrome.with_flash(
            "success",
            "Password cambiata. Accedere con la nuova password.",
        );
    }
    login_response_with(chrome, q.next.as_deref().unwrap_or("/"), "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

const BAD_CREDENTIALS: &str = "Nome utente o password non corretti.";

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    if let Err(wait) = state.login_limiter.check(peer.ip()) {
        tracing::warn!(ip = %peer.ip(), "troppi tentativi di accesso");
        return Err(AppError::too_many(wait));
    }
    let cookie = auth::cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie.is_empty() || cookie != f.csrf {
        return login_response(
            &f.next,
            &f.username,
            Some("La pagina di accesso era scaduta: inserire di nuovo le credenziali.".into()),
        );
    }
    let username = f.username.trim().to_string();
    if username.is_empty() || username.len() > 100 || f.password.len() > 1024 {
        return login_response(&f.next, &username, Some(BAD_CREDENTIALS.into()));
    }
    let cfg = state.cfg.clone();
    let ip = peer.ip().to_string();
    let outcome = state
        .db
        .run(move |s| {
            let now = now_ms();
            let Some(acc) = s.account_by_username(&username)? else {
                // Same work as for a real account: no timing oracle on usernames.
                auth::verify_password(&f.password, &DUMMY_HASH);
                return Ok(Err(BAD_CREDENTIALS.to_string()));
            };
            if !acc.attivo {
                auth::verify_password(&f.password, &DUMMY_HASH);
                return Ok(Err(BAD_CREDENTIALS.to_string()));
            }
            if acc.locked_until_ms.is_some_and(|t| t > now) {
                s.audit(&NewAuditEvent {
                    account_id: Some(acc.id),
                    username: Some(&acc.username),
                    action: "login.bloccato",
                    ente_id: acc.ente_id,
                    detail: "{}",
                    ip: Some(&ip),
                })?;
                return Ok(Err(format!(
                    "Account temporaneamente bloccato dopo troppi tentativi non riusciti: riprovare tra {} minuti o rivolgersi all'amministratore.",
                    cfg.lockout_minutes
                )));
            }
            if !auth::verify_password(&f.password, &acc.password_hash) {
                let n = s.login_failed(
                    acc.id,
                    cfg.lockout_threshold,
                    i64::from(cfg.lockout_minutes) * 60_000,
                )?;
                s.audit(&NewAuditEvent {
                    account_id: Some(acc.id),
                    username: Some(&acc.username),
                    action: if n >= cfg.lockout_threshold {
                        "login.blocco"
                    } else {
                        "login.fallito"
                    },
                    ente_id: acc.ente_id,
                    detail: &format!("{{\"tentativi\":{n}}}"),
                    ip: Some(&ip),
                })?;
                return Ok(Err(BAD_CREDENTIALS.to_string()));
            }
            s.login_succeeded(acc.id)?;
            let token = auth::random_token(32);
            let csrf = auth::random_token(32);
            let expires = now + i64::from(cfg.session_minutes) * 60_000;
            s.create_session(&auth::token_hash(&token), acc.id, &csrf, expires)?;
            s.audit(&NewAuditEvent {
                account_id: Some(acc.id),
                username: Some(&acc.username),
                action: "login",
                ente_id: acc.ente_id,
                detail: "{}",
                ip: Some(&ip),
            })?;
            Ok(Ok((token, acc.must_change)))
        })
        .await?;
    match outcome {
        Err(msg) => login_response(&f.next, f.username.trim(), Some(msg)),
        Ok((token, must_change)) => {
            let target = if must_change {
                "/password"
            } else {
                super::safe_next(&f.next)
            };
            let mut resp = Redirect::to(target).into_response();
            let cookie = auth::session_cookie(
                state.cfg.cookie_secure,
                &token,
                u64::from(state.cfg.session_minutes) * 60,
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            let clear =
                format!("{LOGIN_CSRF_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0");
            if let Ok(v) = HeaderValue::from_str(&clear) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
    }
}

/// An argon2id hash of a random string, verified when the username is
/// unknown so that both paths cost the same.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::random_token(16)).unwrap_or_default());

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let hash = user.token_hash;
    let (id, name, ente) = (
        user.id(),
        user.account.username.clone(),
        user.account.ente_id,
    );
    state
        .db
        .run(move |s| {
            s.delete_session(&hash)?;
            s.audit(&NewAuditEvent {
                account_id: Some(id),
                username: Some(&name),
                action: "logout",
                ente_id: ente,
                detail: "{}",
                ip: None,
            })?;
            Ok(())
        })
        .await?;
    let mut resp = Redirect::to("/login").into_response();
    let cookie = auth::session_cookie(state.cfg.cookie_secure, "", 0);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    must_change: bool,
    min_len: usize,
    error: Option<String>,
}

async fn password_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    let page = PasswordPage {
        chrome: Chrome::new(&state, &user, "").await,
        must_change: user.account.must_change,
        min_len: auth::MIN_PASSWORD,
        error: None,
    };
    Ok(html(&page)?.into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    attuale: String,
    nuova: String,
    conferma: String,
}

async fn password_change(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let problem = if !auth::verify_password(&f.attuale, &user.account.password_hash) {
        Some("La password attuale non è corretta.".to_string())
    } else if f.nuova != f.conferma {
        Some("Le due nuove password non coincidono.".to_string())
    } else if f.nuova == f.attuale {
        Some("La nuova password deve essere diversa da quella attuale.".to_string())
    } else {
        auth::password_problem(&f.nuova, &user.account.username)
    };
    if let Some(error) = problem {
        let page = PasswordPage {
            chrome: Chrome::new(&state, &user, "").await,
            must_change: user.account.must_change,
            min_len: auth::MIN_PASSWORD,
            error: Some(error),
        };
        return Ok(html(&page)?.into_response());
    }
    let hash = auth::hash_password(&f.nuova)?;
    let (id, name, ente) = (
        user.id(),
        user.account.username.clone(),
        user.account.ente_id,
    );
    state
        .db
        .run(move |s| {
            // Ends every session, this one included: sign in again.
            s.set_password(id, &hash, false)?;
            s.audit(&NewAuditEvent {
                account_id: Some(id),
                username: Some(&name),
                action: "password.cambio",
                ente_id: ente,
                detail: "{}",
                ip: None,
            })?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/login?cambiata=1").into_response())
}
