//! Authentication of the cooperation API: client credentials exchanged for
//! short-lived access tokens (JWT, RFC 9068 profile, RFC 8725 practices),
//! checked in memory on every request, and the per-client rate limit.
//!
//! Tokens are HS256 only (the algorithm is pinned: a token naming another
//! one, `none` included, is refused before its signature is looked at),
//! `typ` must be `at+jwt`, and `iss`, `aud`, `sub`, `exp`, `iat`, `jti` are
//! required, with 5 s of leeway. The signing key is 256 random bits kept in
//! the database (generated at the first start). Revocation is immediate:
//! every request looks the client up in an in-memory map that revocations
//! update, so validating a token touches no database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use casellario_store::EnteId;
use casellario_store::api::ApiClient;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use crate::AppState;

/// Submit flows.
pub const SCOPE_INVIO: &str = "flussi:invio";
/// Read receipts.
pub const SCOPE_RICEVUTE: &str = "ricevute:lettura";
/// Read the ente's records.
pub const SCOPE_RECORD: &str = "record:lettura";
/// Every scope, in a fixed order.
pub const SCOPES: [&str; 3] = [SCOPE_INVIO, SCOPE_RICEVUTE, SCOPE_RECORD];

/// `iss` of our tokens.
pub const ISSUER: &str = "urn:casellario";
/// `aud` of our tokens: this API.
pub const AUDIENCE: &str = "urn:casellario:api:v1";
/// RFC 9068 media type of access tokens (`typ` header).
pub const TOKEN_TYP: &str = "at+jwt";
const LEEWAY_SECS: u64 = 5;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The client id.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Codice of the client's ente.
    pub ente: String,
    /// RFC 9068: the client the token was issued to.
    pub client_id: String,
}

/// Who is calling: from a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: Arc<str>,
    pub ente_id: EnteId,
    pub ente_codice: Arc<str>,
    scopes: u8,
}

impl Caller {
    /// Fails with 403 (`insufficient_scope`) unless the token carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        match scope_bit(scope) {
            Some(b) if self.scopes & b != 0 => Ok(()),
            _ => Err(ApiError::insufficient_scope(scope)),
        }
    }
}

fn scope_bit(s: &str) -> Option<u8> {
    SCOPES.iter().position(|x| *x == s).map(|i| 1u8 << i)
}

/// A client as the per-request check needs it.
#[derive(Debug, Clone)]
struct Known {
    ente_id: EnteId,
    ente_codice: Arc<str>,
    revoked: bool,
}

type ClientLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The API's keys, the client map and the rate limiters.
pub struct ApiAuth {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    token_seconds: u64,
    clients: RwLock<HashMap<String, Known>>,
    limiter: ClientLimiter,
    rate: u32,
    burst: u32,
    token_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuth").finish_non_exhaustive()
    }
}

/// A random client id (128 bits) and secret (256 bits), hex.
pub fn new_credentials() -> (String, String) {
    let mut id = [0u8; 16];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    (format!("cas-{}", hex::encode(id)), hex::encode(secret))
}

pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A random candidate for the signing key (kept only on the first start).
pub fn new_signing_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl ApiAuth {
    pub fn new(key: &[u8; 32], cfg: &crate::Config) -> ApiAuth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        let rate = NonZeroU32::new(cfg.api_rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.api_rate_burst).unwrap_or(NonZeroU32::MIN);
        // Token requests: about one per client per token lifetime; 60 a
        // minute per address leaves room for many clients behind one NAT
        // and still slows secret guessing.
        let token_quota = Quota::per_minute(NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN));
        ApiAuth {
            enc: EncodingKey::from_secret(key),
            dec: DecodingKey::from_secret(key),
            validation,
            token_seconds: cfg.api_token_seconds,
            clients: RwLock::new(HashMap::new()),
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>(),
            rate: rate.get(),
            burst: burst.get(),
            token_limiter: RateLimiter::keyed(token_quota),
        }
    }

    pub fn token_seconds(&self) -> u64 {
        self.token_seconds
    }

    /// Remembers a client's state (after a lookup, an issue or a revocation).
    pub fn remember(&self, c: &ApiClient) {
        if let Ok(mut m) = self.clients.write() {
            m.insert(
                c.client_id.clone(),
                Known {
                    ente_id: c.ente_id,
                    ente_codice: Arc::from(c.ente_codice.as_str()),
                    revoked: c.revoked_at_ms.is_some(),
                },
            );
        }
    }

    /// Marks a client revoked: its tokens stop working at once.
    pub fn revoked(&self, client_id: &str) {
        if let Ok(mut m) = self.clients.write()
            && let Some(k) = m.get_mut(client_id)
        {
            k.revoked = true;
        }
    }

    fn known(&self, client_id: &str) -> Option<Known> {
        self.clients.read().ok()?.get(client_id).cloned()
    }

    /// Signs an access token for `client` with `scopes`.
    pub fn issue(&self, client: &ApiClient, scopes: &[&str]) -> Result<String, ApiError> {
        let now = now_secs();
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: client.client_id.clone(),
            iat: now,
            exp: now + self.token_seconds,
            jti: hex::encode(jti),
            scope: scopes.join(" "),
            ente: client.ente_codice.clone(),
            client_id: client.client_id.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYP.into());
        jsonwebtoken::encode(&header, &claims, &self.enc)
            .map_err(|e| ApiError::internal(format!("firma del token: {e}")))
    }

    /// Checks a token's signature, header and claims (no database).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                ApiError::invalid_token(match e.kind() {
                    ErrorKind::ExpiredSignature => "Il token è scaduto: richiederne uno nuovo.",
                    ErrorKind::InvalidAlgorithm => "Il token non è firmato con l'algoritmo atteso.",
                    _ => "Il token non è valido.",
                })
            })?;
        let typ_ok = data.header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(ApiError::invalid_token(
                "Il token non è un token di accesso (typ diverso da at+jwt).",
            ));
        }
        if data.claims.iat > now_secs() + LEEWAY_SECS {
            return Err(ApiError::invalid_token("Il token non è valido."));
        }
        Ok(data.claims)
    }

    /// Per-address limit of the token endpoint: Ok, or seconds to wait.
    pub fn check_token_rate(&self, ip: IpAddr) -> Result<(), u64> {
        self.token_limiter.check_key(&ip).map_err(|n| {
            n.wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}

/// The `Bearer` token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let v = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::invalid_token(
                "Manca l'intestazione Authorization: Bearer con un token di accesso.",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::invalid_token("Intestazione Authorization non valida."))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::invalid_token(
            "L'intestazione Authorization deve essere nella forma: Bearer <token>.",
        )),
    }
}

/// Middleware of the protected API routes: a valid token of a client not
/// revoked, within its rate. Puts the [`Caller`] in the request and the
/// `X-RateLimit-*` headers on the response.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let api = &state.api;
    let claims = match bearer(req.headers()).and_then(|t| api.verify(t)) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let known = match api.known(&claims.sub) {
        Some(k) => k,
        None => {
            let id = claims.sub.clone();
            match state.db.run(move |s| Ok(s.api_client(&id)?)).await {
                Ok(Some(c)) => {
                    api.remember(&c);
                    Known {
                        ente_id: c.ente_id,
                        ente_codice: Arc::from(c.ente_codice.as_str()),
                        revoked: c.revoked_at_ms.is_some(),
                    }
                }
                Ok(None) => {
                    return ApiError::invalid_token("Il token non è valido.").into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    if known.revoked {
        return ApiError::invalid_token("Le credenziali del client sono state revocate.")
            .into_response();
    }
    if *known.ente_codice != *claims.ente {
        return ApiError::invalid_token("Il token non è valido.").into_response();
    }
    let snapshot = match api.limiter.check_key(&claims.sub) {
        Ok(s) => s,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut resp = ApiError::too_many(wait.as_secs().max(1)).into_response();
            rate_headers(resp.headers_mut(), api, 0);
            tracing::debug!(client = %claims.sub, "limite di richieste superato");
            return resp;
        }
    };
    let scopes = claims
        .scope
        .split_whitespace()
        .filter_map(scope_bit)
        .fold(0u8, |a, b| a | b);
    req.extensions_mut().insert(Caller {
        client_id: Arc::from(claims.sub.as_str()),
        ente_id: known.ente_id,
        ente_codice: known.ente_codice,
        scopes,
    });
    let mut resp = next.run(req).await;
    rate_headers(resp.headers_mut(), api, snapshot.remaining_burst_capacity());
    resp
}

/// `X-RateLimit-Limit` (requests per second), `-Remaining` (requests
/// allowed right now), `-Reset` (seconds until the burst is whole again).
fn rate_headers(h: &mut HeaderMap, api: &ApiAuth, remaining: u32) {
    let used = api.burst.saturating_sub(remaining);
    let reset = used.div_ceil(api.rate);
    for (name, v) in [
        ("x-ratelimit-limit", api.rate),
        ("x-ratelimit-remaining", remaining),
        ("x-ratelimit-reset", reset),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
            h.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> ApiAuth {
        ApiAuth::new(&[7u8; 32], &crate::Config::default())
    }

    fn client() -> ApiClient {
        ApiClient {
            client_id: "cas-x".into(),
            ente_id: 1,
            ente_codice: "E1".into(),
            secret_hash: [0; 32],
            scopes: vec![SCOPE_INVIO.into()],
            label: "l".into(),
            created_at_ms: 0,
            created_by: None,
            revoked_at_ms: None,
        }
    }

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let a = auth();
        let t = a.issue(&client(), &[SCOPE_INVIO]).expect("token");
        let c = a.verify(&t).expect("valid");
        assert_eq!(c.sub, "cas-x");
        assert_eq!(c.scope, SCOPE_INVIO);
        assert_eq!(c.exp - c.iat, 600);
        // Another key.
        let b = ApiAuth::new(&[8u8; 32], &crate::Config::default());
        assert!(b.verify(&t).is_err());
        // A changed payload.
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = "eyJzdWIiOiJ4In0";
        assert!(a.verify(&parts.join(".")).is_err());
        // alg none.
        let none = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0",
            t.split('.').nth(1).expect("payload")
        );
        assert!(a.verify(&none).is_err());
        // Right key and claims, wrong typ.
        let now = now_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "cas-x".into(),
            iat: now,
            exp: now + 60,
            jti: "j".into(),
            scope: SCOPE_INVIO.into(),
            ente: "E1".into(),
            client_id: "cas-x".into(),
        };
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .expect("encode");
        assert!(a.verify(&jwt).is_err());
    }

    #[test]
    fn scopes() {
        let c = Caller {
            client_id: Arc::from("x"),
            ente_id: 1,
            ente_codice: Arc::from("E"),
            scopes: scope_bit(SCOPE_RICEVUTE).unwrap_or(0),
        };
        assert!(c.require(SCOPE_RICEVUTE).is_ok());
        assert_eq!(
            c.require(SCOPE_INVIO).map_err(|e| e.status.as_u16()),
            Err(403)
        );
        assert!(c.require("altro").is_err());
    }

    #[test]
    fn credentials_are_random_and_long() {
        let (a, s) = new_credentials();
        let (b, t) = new_credentials();
        assert_ne!(a, b);
        assert_ne!(s, t);
        assert_eq!(s.len(), 64);
        assert_eq!(secret_hash(&s), secret_hash(&s));
    }
}
