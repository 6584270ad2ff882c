//! Errors of the cooperation API as `application/problem+json` (RFC 9457):
//! a stable `type` per error (`urn:casellario:problema:<CODICE>`), an
//! Italian `title` and `detail`, the HTTP `status`, the stable `codice`,
//! and for a JSON flow that does not map to the XML, its `violazioni`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

/// Prefix of every problem type.
pub const TYPE_PREFIX: &str = "urn:casellario:problema:";

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every problem the API answers with: code, HTTP status, Italian title.
/// `docs/API.md` lists the same (a test compares).
pub const PROBLEMS: &[(&str, u16, &str)] = &[
    ("RICHIESTA_NON_VALIDA", 400, "Richiesta non valida"),
    (
        "GRANT_NON_SUPPORTATO",
        400,
        "Tipo di concessione non supportato",
    ),
    ("SCOPE_NON_VALIDO", 400, "Ambito richiesto non consentito"),
    ("NON_AUTENTICATO", 401, "Autenticazione richiesta"),
    (
        "CLIENT_NON_VALIDO",
        401,
        "Credenziali del client non valide",
    ),
    (
        "AMBITO_INSUFFICIENTE",
        403,
        "Ambito del token insufficiente",
    ),
    ("ACCESSO_NEGATO", 403, "Accesso negato"),
    ("ENTE_DISATTIVATO", 403, "Ente disattivato"),
    ("NON_TROVATO", 404, "Risorsa non trovata"),
    ("METODO_NON_CONSENTITO", 405, "Metodo non consentito"),
    (
        "NON_ACCETTABILE",
        406,
        "Formato di risposta non disponibile",
    ),
    ("GIA_ESISTENTE", 409, "Elemento già esistente"),
    ("RICHIESTA_TROPPO_GRANDE", 413, "Richiesta troppo grande"),
    (
        "FORMATO_NON_SUPPORTATO",
        415,
        "Formato della richiesta non supportato",
    ),
    ("FLUSSO_JSON_NON_VALIDO", 422, "Flusso JSON non valido"),
    (
        "IDEMPOTENCY_KEY_RIUSATA",
        422,
        "Chiave di idempotenza già usata",
    ),
    ("TROPPE_RICHIESTE", 429, "Troppe richieste"),
    ("ERRORE_INTERNO", 500, "Errore interno"),
    (
        "REGISTRO_OCCUPATO",
        503,
        "Registro momentaneamente occupato",
    ),
    ("SERVIZIO_NON_DISPONIBILE", 503, "Servizio non disponibile"),
];

/// The title of a code (a generic one for codes outside [`PROBLEMS`]).
pub fn title(code: &str) -> &'static str {
    PROBLEMS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, t)| *t)
        .unwrap_or("Operazione non riuscita")
}

/// A violation of a JSON flow that cannot be mapped to the XML flow.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Violazione {
    /// Stable rule code.
    #[schema(example = "JSON_CAMPO_SCONOSCIUTO", max_length = 64)]
    pub codice: String,
    /// Path of the field (XSD wire names).
    #[schema(example = "Beneficiario/Anagrafica/@Sesso", max_length = 1024)]
    pub campo: String,
    /// What to fix, in Italian.
    #[schema(example = "Il campo non è previsto dal tracciato.", max_length = 4096)]
    pub messaggio: String,
}

/// A problem detail (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(
    description = "Dettaglio di un problema (RFC 9457).",
    example = json!({
        "type": "urn:casellario:problema:NON_TROVATO",
        "title": "Risorsa non trovata",
        "status": 404,
        "detail": "La risorsa richiesta non esiste, oppure non è accessibile con queste credenziali.",
        "codice": "NON_TROVATO"
    })
)]
pub struct Problem {
    /// `urn:casellario:problema:<CODICE>`, stable.
    #[serde(rename = "type")]
    #[schema(max_length = 4096)]
    pub type_: String,
    /// Short Italian title of the problem type.
    #[schema(max_length = 4096)]
    pub title: String,
    /// HTTP status.
    #[schema(minimum = 100, maximum = 599, format = Int32)]
    pub status: u16,
    /// What happened, in Italian.
    #[schema(max_length = 4096)]
    pub detail: String,
    /// Stable code of the problem (the last part of `type`).
    #[schema(max_length = 64, pattern = "^[A-Z_]+$")]
    pub codice: String,
    /// Fields of a JSON flow that do not map to the XML flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 1000)]
    pub violazioni: Option<Vec<Violazione>>,
    /// OAuth2 error code (RFC 6749 §5.2), on the token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub error: Option<String>,
}

/// An API error, rendered as [`Problem`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    // Rare members are boxed: the error travels in every handler's
    // `Result`, which stays small.
    pub violazioni: Option<Box<[Violazione]>>,
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` of a 401 or of a scope denial.
    pub www_authenticate: Option<Box<str>>,
    pub oauth_error: Option<&'static str>,
    /// Allowed methods, for 405.
    pub allow: Option<Box<HeaderValue>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            violazioni: None,
            retry_after: None,
            www_authenticate: None,
            oauth_error: None,
            allow: None,
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NON_TROVATO",
            "La risorsa richiesta non esiste, oppure non è accessibile con queste credenziali.",
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "RICHIESTA_NON_VALIDA", detail)
    }

    /// A missing, malformed, expired or revoked access token.
    pub fn invalid_token(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        ApiError {
            www_authenticate: Some(
                format!(
                    "Bearer realm=\"casellario\", error=\"invalid_token\", error_description=\"{}\"",
                    ascii_quoted(&detail)
                )
                .into(),
            ),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "NON_AUTENTICATO", detail)
        }
    }

    /// A valid token without the scope the operation needs.
    pub fn insufficient_scope(scope: &str) -> ApiError {
        ApiError {
            www_authenticate: Some(
                format!(
                    "Bearer realm=\"casellario\", error=\"insufficient_scope\", scope=\"{scope}\""
                )
                .into(),
            ),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "AMBITO_INSUFFICIENTE",
                format!(
                    "Il token non comprende l'ambito {scope}, necessario per questa operazione."
                ),
            )
        }
    }

    pub fn too_many(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TROPPE_RICHIESTE",
                format!("Troppe richieste ravvicinate: riprovare tra {retry_after} secondi."),
            )
        }
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::from(AppError::internal(detail))
    }

    /// As the portal's error, to cross [`crate::Db::run`] (code, status,
    /// detail and Retry-After survive; nothing else is needed there).
    pub fn into_app(self) -> AppError {
        AppError {
            retry_after: self.retry_after,
            ..AppError::new(self.status, self.code, self.detail)
        }
    }

    /// Back from [`ApiError::into_app`] (or any portal error).
    pub fn from_app(e: AppError) -> ApiError {
        ApiError::from(e)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("{TYPE_PREFIX}{}", self.code),
            title: title(self.code).to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            codice: self.code.to_string(),
            violazioni: self.violazioni.as_ref().map(|v| v.to_vec()),
            error: self.oauth_error.map(str::to_string),
        }
    }
}

/// `error_description` must be quoted-string safe and ASCII (RFC 6750 §3).
fn ascii_quoted(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'á' => 'a',
            'è' | 'é' => 'e',
            'ì' => 'i',
            'ò' => 'o',
            'ù' => 'u',
            c if c.is_ascii() && c != '"' && c != '\\' && !c.is_ascii_control() => c,
            _ => ' ',
        })
        .collect()
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        // The portal's not-found message speaks of pages; the API's of resources.
        if e.code == "NON_TROVATO" {
            return ApiError::not_found();
        }
        ApiError {
            retry_after: e.retry_after,
            ..ApiError::new(e.status, e.code, e.message)
        }
    }
}

impl From<casellario_store::StoreError> for ApiError {
    fn from(e: casellario_store::StoreError) -> ApiError {
        ApiError::from(AppError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Ok(v) = HeaderValue::from_str(self.code) {
            h.insert(HeaderName::from_static("x-casellario-errore"), v);
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if let Some(w) = self.www_authenticate
            && let Ok(v) = HeaderValue::from_str(&w)
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(a) = self.allow {
            h.insert(header::ALLOW, *a);
        }
        resp
    }
}

/// Turns what axum answers by itself on API paths (a route that does not
/// exist, a wrong method, a body over the limit, a rejected extractor: plain
/// text or empty) into problems. Responses already written by handlers are
/// kept.
pub fn normalise(resp: Response, max_body: usize) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
    {
        return resp;
    }
    let mut err = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "METODO_NON_CONSENTITO",
            "Questo indirizzo non accetta il metodo HTTP usato.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "RICHIESTA_TROPPO_GRANDE",
            format!(
                "Il corpo della richiesta supera il limite di {} byte.",
                crate::fmt::it_num(max_body as u64)
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "FORMATO_NON_SUPPORTATO",
            "Il Content-Type della richiesta non è tra quelli accettati da questa operazione.",
        ),
        StatusCode::NOT_ACCEPTABLE => ApiError::new(
            status,
            "NON_ACCETTABILE",
            "La risposta è disponibile solo come application/json.",
        ),
        s if s.is_client_error() => ApiError::new(
            s,
            "RICHIESTA_NON_VALIDA",
            "La richiesta non è valida: parametri o corpo mancanti o malformati.",
        ),
        _ => ApiError::internal(format!("risposta {status} senza codice")),
    };
    err.allow = resp.headers().get(header::ALLOW).cloned().map(Box::new);
    let mut out = err.into_response();
    if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_titles_italian() {
        let mut seen = std::collections::HashSet::new();
        for (c, s, t) in PROBLEMS {
            assert!(seen.insert(*c), "{c}");
            assert!((400..600).contains(s));
            assert!(!t.is_empty());
            assert!(c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
        }
        assert_eq!(title("NON_TROVATO"), "Risorsa non trovata");
    }

    #[test]
    fn docs_api_md_lists_every_problem() {
        let doc = include_str!("../../../../docs/API.md");
        let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), PROBLEMS.len(), "docs/API.md");
        for ((code, status, title), row) in PROBLEMS.iter().zip(rows) {
            assert!(
                row.starts_with(&format!("| `{code}` | {status} | {title} |")),
                "docs/API.md: {row}"
            );
        }
    }

    #[test]
    fn www_authenticate_is_ascii() {
        let e = ApiError::invalid_token("Il token è scaduto: \"richiederne\" uno nuovo.");
        let w = e.www_authenticate.expect("header");
        assert!(w.is_ascii(), "{w}");
        assert!(w.contains("error=\"invalid_token\""));
        assert!(HeaderValue::from_str(&w).is_ok());
    }
}
