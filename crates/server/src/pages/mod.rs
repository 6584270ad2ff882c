//! The portal's pages, one module per section.

mod acquisizione;
mod admin;
mod consultazione;
mod credenziali;
pub mod flussi;
mod home;
mod informazioni;
mod record_form;
mod registro;
mod session;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::routes())
        .merge(home::routes())
        .merge(flussi::routes())
        .merge(acquisizione::routes())
        .merge(consultazione::routes())
        .merge(admin::routes())
        .merge(credenziali::routes())
        .merge(registro::routes())
        .merge(informazioni::routes())
        .merge(crate::waas::pages::routes())
}

/// `GET /status`: health for load balancers and operators. 200 when the
/// database answers, 503 otherwise.
pub async fn status(State(state): State<AppState>) -> Response {
    let probe = state.db.run(|s| Ok(s.schema_version()?)).await;
    match probe {
        Ok(v) => Json(serde_json::json!({
            "stato": "ok",
            "versione": env!("CARGO_PKG_VERSION"),
            "schema_db": v,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"stato": "non disponibile", "codice": e.code})),
        )
            .into_response(),
    }
}

/// An id from a URL: a positive integer, else "not found" (the same answer
/// as for an id of another ente).
pub fn parse_id(s: &str) -> Result<i64, crate::AppError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(crate::AppError::not_found)
}

/// A `next` target is followed only when it is a path of this site.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    if ok { next } else { "/" }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_next_targets() {
        use super::safe_next;
        assert_eq!(safe_next("/flussi?p=2"), "/flussi?p=2");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
        assert_eq!(safe_next(""), "/");
    }
}
