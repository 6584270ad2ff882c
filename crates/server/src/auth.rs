//! Accounts, sessions and CSRF.
//!
//! Sessions are random 256-bit tokens in an HttpOnly, SameSite=Strict cookie;
//! the database keeps only their SHA-256 (a copy of the database opens no
//! session). Each session has its own CSRF token, required on every POST
//! (a hidden `_csrf` field, or the `X-CSRF-Token` header). Passwords are
//! argon2id PHC strings. Failed logins lock the account after a threshold,
//! and a per-address limiter slows guessing across accounts.
//!
//! Hand-written rather than tower-sessions/axum-login: their SQLite stores
//! are built on sqlx, whose libsqlite3-sys would clash with rusqlite's, and
//! what is needed here is small.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use casellario_domain::access::{Permission, Role};
use casellario_store::EnteId;
use casellario_store::portal::{Account, AccountId, Session};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::AppError;

/// Minimum password length (AgID guidelines ask for at least 8; operators
/// handle special-category data, so 12).
pub const MIN_PASSWORD: usize = 12;

pub fn hash_password(pw: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::internal(e.to_string()))?;
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("argon2: {e}")))
}

pub fn verify_password(pw: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Checks a new password; the Italian reason when it is not acceptable.
pub fn password_problem(pw: &str, username: &str) -> Option<String> {
    if pw.chars().count() < MIN_PASSWORD {
        return Some(format!(
            "La password deve avere almeno {MIN_PASSWORD} caratteri."
        ));
    }
    if pw.to_lowercase().contains(&username.to_lowercase()) {
        return Some("La password non può contenere il nome utente.".into());
    }
    let classes = [
        pw.chars().any(|c| c.is_lowercase()),
        pw.chars().any(|c| c.is_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Some(
            "La password deve contenere almeno tre tra: minuscole, maiuscole, cifre, simboli."
                .into(),
        );
    }
    None
}

/// A random secret, hex-encoded (session tokens, CSRF tokens, passwords).
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A generated password that satisfies [`password_problem`].
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 18];
    rand::rng().fill_bytes(&mut b);
    let body: String = b
        .iter()
        .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
        .collect();
    // Groups of six for readability, and a guaranteed digit, upper and symbol.
    format!("{}-{}-{}-7Q", &body[..6], &body[6..12], &body[12..])
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-casellario"
    } else {
        "casellario"
    }
}

/// `Set-Cookie` value for a session token (empty token: delete).
pub fn session_cookie(secure: bool, token: &str, max_age_secs: u64) -> String {
    let mut c = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}",
        cookie_name(secure)
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in person, from the session cookie.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub account: Account,
    pub csrf: String,
    pub token_hash: [u8; 32],
}

impl CurrentUser {
    pub fn id(&self) -> AccountId {
        self.account.id
    }
    pub fn role(&self) -> Role {
        self.account.role
    }
    pub fn can(&self, p: Permission) -> bool {
        self.account.role.can(p)
    }
    /// Fails with 403 unless the role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.can(p) {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }
    /// The ente whose data this person works on; 403 for roles without one.
    pub fn ente(&self) -> Result<EnteId, AppError> {
        self.account.ente_id.ok_or_else(AppError::forbidden)
    }
    /// Checks a submitted CSRF token in constant time.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        let a = Sha256::digest(submitted.as_bytes());
        let b = Sha256::digest(self.csrf.as_bytes());
        if a == b {
            Ok(())
        } else {
            Err(AppError::csrf())
        }
    }
}

/// Not signed in: pages redirect to the login page, keeping where to go back.
pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        let next =
            percent_encoding::utf8_percent_encode(&self.0, percent_encoding::NON_ALPHANUMERIC);
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

pub enum AuthRejection {
    Login(LoginRedirect),
    /// Signed in, but must change the password first.
    ChangePassword,
    Error(AppError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Login(r) => r.into_response(),
            AuthRejection::ChangePassword => Redirect::to("/password").into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let Some(token) = cookie_value(&parts.headers, cookie_name(state.cfg.cookie_secure)) else {
            return Err(AuthRejection::Login(LoginRedirect(next)));
        };
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthRejection::Login(LoginRedirect(next)));
        }
        let hash = token_hash(token);
        let session: Option<Session> = state
            .db
            .run(move |s| Ok(s.session(&hash)?))
            .await
            .map_err(AuthRejection::Error)?;
        match session {
            Some(s) => {
                let user = CurrentUser {
                    account: s.account,
                    csrf: s.csrf,
                    token_hash: hash,
                };
                // Until a required password change is done, only that page and logout.
                let path = parts.uri.path();
                if user.account.must_change && path != "/password" && path != "/logout" {
                    return Err(AuthRejection::ChangePassword);
                }
                Ok(user)
            }
            None => Err(AuthRejection::Login(LoginRedirect(next))),
        }
    }
}

/// Per-address login limiter.
#[derive(Clone)]
pub struct LoginLimiter(Arc<DefaultKeyedRateLimiter<IpAddr>>);

impl LoginLimiter {
    pub fn new(per_minute: u32) -> LoginLimiter {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        LoginLimiter(Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
    }
    /// Ok, or the seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.0.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("Corretta-Password-1").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Corretta-Password-1", &h));
        assert!(!verify_password("corretta-password-1", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn password_policy() {
        assert!(password_problem("corta1A!", "mario").is_some());
        assert!(password_problem("mario.rossi.2026!", "mario.rossi").is_some());
        assert!(password_problem("tuttominuscolo", "x").is_some());
        assert!(password_problem("Una-Password-Lunga", "x").is_none());
        for _ in 0..20 {
            assert_eq!(password_problem(&generate_password(), "admin"), None);
        }
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; casellario=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie_value(&h, "casellario"), Some("abc"));
        assert_eq!(cookie_value(&h, "c"), None);
        assert!(session_cookie(true, "t", 10).contains("__Host-casellario=t"));
        assert!(session_cookie(true, "t", 10).contains("Secure"));
        assert!(session_cookie(false, "t", 10).contains("HttpOnly; SameSite=Strict"));
    }
}
