//! The cooperation API (*cooperazione applicativa*, DOMAIN.md §2.4) under
//! `/api/v1`: an ente's software submits one record at a time as an XML or
//! JSON flow and gets its receipt, reads past receipts by id or since a
//! cursor, and reads the ente's own records.
//!
//! - [`auth`]: client credentials → short-lived JWT access tokens, checked
//!   in memory; scopes; per-client rate limit.
//! - [`problem`]: every error as `application/problem+json` (RFC 9457).
//! - [`flussi`]: submissions (through [`crate::submit::submit_blocking`],
//!   the one pipeline), idempotency, receipts.
//! - [`record`]: the ente's records (access-logged).
//! - [`openapi`]: the OpenAPI 3 document, generated from these handlers and
//!   types (utoipa).
//!
//! Idempotency: a submission with an `Idempotency-Key` the ente used before
//! answers with that key's submission (same request) or 422 (another
//! request); a flow whose bytes the ente already stored answers with the
//! original submission's receipt. Both checks run on the writer lane, so
//! concurrent duplicates are serialised and never stored twice.

pub mod auth;
pub mod flussi;
mod json_flow;
pub mod openapi;
pub mod problem;
pub mod record;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use casellario_store::api::ApiClient;
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::ToSchema;

use crate::AppState;
use auth::{ApiAuth, SCOPES};
use problem::{ApiError, PROBLEM_JSON, Problem};

/// Prefix of every API path.
pub const BASE: &str = "/api/v1";

/// Builds the API's shared state: the signing key (generated at the first
/// start and kept in the database) and the limiters.
pub fn init(
    db: &crate::Db,
    cfg: &crate::Config,
) -> Result<Arc<ApiAuth>, casellario_store::StoreError> {
    let mut store = casellario_store::Store::open(db.path())?;
    let key = store.api_signing_key(&auth::new_signing_key())?;
    let api = ApiAuth::new(&key, cfg);
    for c in store.list_api_clients(None)? {
        api.remember(&c);
    }
    Ok(Arc::new(api))
}

/// The routes under [`BASE`].
pub fn routes(state: &AppState) -> Router<AppState> {
    let max_body = state.cfg.api_max_body_bytes;
    let protected = Router::new()
        .route("/flussi", post(flussi::submit))
        .route("/ricevute", get(flussi::list))
        .route("/ricevute/{id}", get(flussi::receipt))
        .route("/record", get(record::search))
        .route("/record/{id}", get(record::detail))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let api = Router::new()
        .route("/token", post(token))
        .route("/status", get(status))
        .route("/openapi.json", get(openapi::serve))
        .merge(protected)
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::map_response(
            move |r: Response| async move { problem::normalise(r, max_body) },
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(problem_on_panic());
    Router::new().nest(BASE, api)
}

/// A panic in an API handler answers `ERRORE_INTERNO` as problem+json like
/// every other API error (the site-wide layer outside answers a page).
fn problem_on_panic() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send>) -> Response> {
    fn answer(_: Box<dyn std::any::Any + Send>) -> Response {
        ApiError::internal("panic in an API handler").into_response()
    }
    CatchPanicLayer::custom(answer as fn(Box<dyn std::any::Any + Send>) -> Response)
}

/// The positive integer id of a path segment; anything else is not found
/// (the same answer as an id of another ente).
pub(crate) fn path_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(ApiError::not_found)
}

/// Answer of the token endpoint (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJ1cm46Y2FzZWxsYXJpbyJ9.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 600,
    "scope": "flussi:invio ricevute:lettura"
}))]
pub struct TokenResponse {
    /// Access token (JWT, `typ` `at+jwt`), to send as `Authorization: Bearer …`.
    #[schema(max_length = 4096)]
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(max_length = 16)]
    pub token_type: &'static str,
    /// Seconds the token is valid for.
    #[schema(minimum = 1, maximum = 86400, format = Int64)]
    pub expires_in: u64,
    /// Scopes granted, space-separated.
    #[schema(max_length = 256)]
    pub scope: String,
}

/// Form of the token request (RFC 6749 §4.4.2). The client may instead
/// authenticate with HTTP Basic (`client_id:client_secret`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "grant_type": "client_credentials",
    "client_id": "cas-0123456789abcdef0123456789abcdef",
    "client_secret": "6f1d…",
    "scope": "flussi:invio"
}))]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(max_length = 64)]
    pub grant_type: Option<String>,
    #[schema(max_length = 128)]
    pub client_id: Option<String>,
    #[schema(max_length = 256)]
    pub client_secret: Option<String>,
    /// Scopes wanted, space-separated (default: all the client's).
    #[schema(max_length = 256)]
    pub scope: Option<String>,
}

fn oauth(status: StatusCode, code: &'static str, oauth: &'static str, detail: &str) -> ApiError {
    let mut e = ApiError::new(status, code, detail);
    e.oauth_error = Some(oauth);
    if status == StatusCode::UNAUTHORIZED {
        e.www_authenticate = Some("Basic realm=\"casellario\"".into());
    }
    e
}

/// Client id and secret from HTTP Basic (RFC 6749 §2.3.1: form-encoded
/// then base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |x: &str| {
        percent_encoding::percent_decode_str(&x.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// `POST /api/v1/token`: client credentials for an access token.
#[utoipa::path(
    post,
    path = "/token",
    tag = "Autenticazione",
    operation_id = "richiediToken",
    summary = "Rilascia un token di accesso",
    description = "Scambia le credenziali del client (OAuth 2.0 client credentials, RFC 6749 §4.4) \
        con un token di accesso JWT di breve durata. Le credenziali si inviano nel corpo del modulo \
        oppure con HTTP Basic.",
    request_body(
        content = TokenRequest,
        content_type = "application/x-www-form-urlencoded",
        description = "Modulo della richiesta di token."
    ),
    responses(
        (status = 200, description = "Token rilasciato.", body = TokenResponse),
    ),
    security(())
)]
pub async fn token(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer
        && let Err(wait) = state.api.check_token_rate(ip)
    {
        tracing::warn!(%ip, "troppe richieste di token");
        return Err(ApiError::too_many(wait));
    }
    let (parts, body) = req.into_parts();
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "FORMATO_NON_SUPPORTATO",
            "La richiesta di token va inviata come application/x-www-form-urlencoded.",
        ));
    }
    let bytes = axum::body::to_bytes(body, 16 << 10).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RICHIESTA_TROPPO_GRANDE",
            "La richiesta di token supera 16 KiB.",
        )
    })?;
    let form: TokenRequest = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        oauth(
            StatusCode::BAD_REQUEST,
            "RICHIESTA_NON_VALIDA",
            "invalid_request",
            "Il modulo della richiesta di token non è valido.",
        )
    })?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "RICHIESTA_NON_VALIDA",
                "invalid_request",
                "Manca il parametro grant_type (atteso: client_credentials).",
            ));
        }
        Some(_) => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "GRANT_NON_SUPPORTATO",
                "unsupported_grant_type",
                "È supportato solo grant_type=client_credentials.",
            ));
        }
    }
    let (id, secret) = match (
        basic_credentials(&parts.headers),
        form.client_id,
        form.client_secret,
    ) {
        (Some(c), _, _) => c,
        (None, Some(i), Some(s)) => (i, s),
        _ => {
            return Err(oauth(
                StatusCode::UNAUTHORIZED,
                "CLIENT_NON_VALIDO",
                "invalid_client",
                "Mancano le credenziali del client (client_id e client_secret, o HTTP Basic).",
            ));
        }
    };
    let bad_client = || {
        oauth(
            StatusCode::UNAUTHORIZED,
            "CLIENT_NON_VALIDO",
            "invalid_client",
            "Credenziali del client non valide o revocate.",
        )
    };
    if id.len() > 128 || secret.len() > 256 {
        return Err(bad_client());
    }
    let lookup = id.clone();
    let client: Option<ApiClient> = state.db.run(move |s| Ok(s.api_client(&lookup)?)).await?;
    // Compare hashes of the secret (fixed length, no early exit on a prefix).
    let given = auth::secret_hash(&secret);
    let client = match client {
        Some(c) if c.secret_hash == given && c.revoked_at_ms.is_none() => c,
        Some(c) => {
            state.api.remember(&c);
            tracing::warn!(client = %id, "credenziali API non valide o revocate");
            return Err(bad_client());
        }
        None => {
            tracing::warn!(client = %id, "client API sconosciuto");
            return Err(bad_client());
        }
    };
    let granted: Vec<&str> = match form.scope.as_deref().map(str::trim) {
        None | Some("") => client.scopes.iter().map(String::as_str).collect(),
        Some(asked) => {
            let mut out = Vec::new();
            for s in asked.split_whitespace() {
                if !client.scopes.iter().any(|c| c == s) || !SCOPES.contains(&s) {
                    return Err(oauth(
                        StatusCode::BAD_REQUEST,
                        "SCOPE_NON_VALIDO",
                        "invalid_scope",
                        &format!("L'ambito {s:?} non è tra quelli concessi a questo client."),
                    ));
                }
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        }
    };
    // A profile whose ente was deactivated keeps its credentials but gets
    // no token: its submissions would be refused anyway.
    let ente = client.ente_id;
    let attivo = state
        .db
        .run(move |s| Ok(s.ente_profile(ente)?.is_some_and(|e| e.attivo)))
        .await?;
    if !attivo {
        return Err(oauth(
            StatusCode::UNAUTHORIZED,
            "CLIENT_NON_VALIDO",
            "invalid_client",
            "L'ente del client è disattivato.",
        ));
    }
    state.api.remember(&client);
    let token = state.api.issue(&client, &granted)?;
    let mut resp = Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.api.token_seconds(),
        scope: granted.join(" "),
    })
    .into_response();
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// `GET /api/v1/status`: health, as a problem (like the WaaS contract's).
#[utoipa::path(
    get,
    path = "/status",
    tag = "Servizio",
    operation_id = "statoServizio",
    summary = "Stato del servizio",
    description = "Ritorna lo stato dell'applicazione in formato problem+json: 200 se il registro \
        risponde, 503 altrimenti.",
    responses(
        (status = 200, description = "Il servizio funziona correttamente.", body = Problem,
         content_type = "application/problem+json",
         example = json!({"type": "urn:casellario:problema:OK", "title": "Servizio disponibile",
            "status": 200, "detail": "Il registro risponde.", "codice": "OK"})),
    ),
    security(())
)]
pub async fn status(State(state): State<AppState>) -> Response {
    match state.db.run(|s| Ok(s.schema_version()?)).await {
        Ok(_) => {
            let p = Problem {
                type_: format!("{}OK", problem::TYPE_PREFIX),
                title: "Servizio disponibile".into(),
                status: 200,
                detail: "Il registro risponde.".into(),
                codice: "OK".into(),
                violazioni: None,
                error: None,
            };
            let mut r = (StatusCode::OK, Json(p)).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            r
        }
        Err(e) => ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVIZIO_NON_DISPONIBILE",
                format!("Il registro non risponde ({}).", e.code),
            )
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_problem_json() {
        let app: Router = Router::new()
            .route(
                "/x",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    StatusCode::OK
                }),
            )
            .layer(problem_on_panic());
        let r = app
            .oneshot(
                Request::builder()
                    .uri("/x")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["codice"], "ERRORE_INTERNO");
        assert!(!v.to_string().contains("boom"), "no panic text leaks: {v}");
    }

    #[test]
    fn path_ids_are_positive_integers() {
        assert_eq!(path_id("42").unwrap(), 42);
        for bad in ["0", "-1", "x", "", "1.5", "99999999999999999999"] {
            assert_eq!(path_id(bad).unwrap_err().code, "NON_TROVATO", "{bad}");
        }
    }
}
