//! Errors of the portal: a stable code, an HTTP status and an Italian
//! message for people. Rendered as an HTML page (or JSON for scripts).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casellario_store::StoreError;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub status: StatusCode,
    /// Stable code, e.g. `ACCESSO_NEGATO`.
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NON_TROVATO",
            "La pagina o il dato richiesto non esiste, oppure non è accessibile con il proprio profilo.",
        )
    }
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ACCESSO_NEGATO",
            "Il proprio profilo non consente questa operazione.",
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "RICHIESTA_NON_VALIDA", message)
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "CSRF_NON_VALIDO",
            "Il modulo è scaduto o non proviene da questa applicazione: ricaricare la pagina e riprovare.",
        )
    }
    pub fn too_many(retry_after: u64) -> Self {
        AppError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TROPPE_RICHIESTE",
                format!("Troppi tentativi ravvicinati: riprovare tra {retry_after} secondi."),
            )
        }
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RICHIESTA_TROPPO_GRANDE",
            format!(
                "La richiesta supera il limite di {} byte.",
                crate::fmt::it_num(limit)
            ),
        )
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(%detail, "errore interno");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERRORE_INTERNO",
            "Si è verificato un errore interno: l'operazione non è stata completata. Riprovare più tardi.",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "REGISTRO_OCCUPATO",
                "Il registro è momentaneamente occupato: riprovare tra qualche secondo.",
            ),
            StoreError::Conflict(m) => Self::new(
                StatusCode::CONFLICT,
                "GIA_ESISTENTE",
                format!("Esiste già un elemento con lo stesso codice o nome ({m})."),
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: crate::Chrome,
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            chrome: crate::Chrome::anonymous(),
            status: self.status.as_u16(),
            code: self.code,
            message: &self.message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{}: {}", self.code, self.message));
        let mut resp = (self.status, axum::response::Html(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(self.code) {
            resp.headers_mut().insert("x-casellario-errore", v);
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
