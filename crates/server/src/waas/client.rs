//! HTTP side of the poller: one comune's `GET /flussi` and `POST /esiti`,
//! with a per-request timeout, a cap on the bytes of a page read while
//! streaming, and `Retry-After` on 429/503. The bearer token is only ever
//! put in the `Authorization` header, never in a log or an error.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use casellario_store::waas::{Credential, Endpoint};

use super::WaasError;

/// What is needed to talk to one comune.
#[derive(Clone)]
pub struct ComuneClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
    max_page_bytes: u64,
}

impl ComuneClient {
    /// Resolves the endpoint's credential (an environment variable is read
    /// now, so a rotated token is picked up by the next poll).
    pub fn new(
        http: reqwest::Client,
        endpoint: &Endpoint,
        timeout: Duration,
        max_page_bytes: u64,
    ) -> Result<ComuneClient, WaasError> {
        let token = match &endpoint.credential {
            Credential::None => None,
            Credential::Token(t) => Some(t.clone()),
            Credential::Env(var) => match std::env::var(var) {
                Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
                _ => {
                    return Err(WaasError::Credential(format!(
                        "la variabile d'ambiente {var} con il token del comune non è impostata"
                    )));
                }
            },
        };
        Ok(ComuneClient {
            http,
            base: endpoint.base_url.trim_end_matches('/').to_owned(),
            token,
            timeout,
            max_page_bytes,
        })
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.header(AUTHORIZATION, format!("Bearer {t}")),
            None => rb,
        }
    }

    /// `GET {base}/flussi?since=&limit=`: the raw entries of one page.
    /// `timeout` bounds the whole exchange, body included.
    pub async fn flussi(
        &self,
        since_ms: i64,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, WaasError> {
        let timeout = timeout.min(self.timeout);
        let url = format!("{}/flussi", self.base);
        let rb = self
            .http
            .get(&url)
            .query(&[
                ("since", since_ms.to_string()),
                ("limit", limit.to_string()),
            ])
            .header("accept", "application/json")
            .timeout(timeout);
        let exchange = async {
            let resp = self
                .auth(rb)
                .send()
                .await
                .map_err(|e| net_error(&e, timeout))?;
            let status = resp.status();
            if !status.is_success() {
                let headers = resp.headers().clone();
                return Err(status_error(status, &headers, body_hint(resp).await));
            }
            let body = read_capped(resp, self.max_page_bytes, timeout).await?;
            parse_page(&body)
        };
        // reqwest's timeout covers the body too; this is a second fence in
        // case a comune trickles bytes forever below any read timeout.
        tokio::time::timeout(timeout + Duration::from_millis(50), exchange)
            .await
            .unwrap_or(Err(WaasError::Timeout(ms(timeout))))
    }

    /// `POST {base}/esiti` with a serialised `{"elenco_esiti": [...]}`.
    /// Returns the 2xx status, else the fault.
    pub async fn esiti(&self, body: Vec<u8>) -> Result<u16, WaasError> {
        let url = format!("{}/esiti", self.base);
        let rb = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body);
        let exchange = async {
            let resp = self
                .auth(rb)
                .send()
                .await
                .map_err(|e| net_error(&e, self.timeout))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(status.as_u16());
            }
            let headers = resp.headers().clone();
            Err(status_error(status, &headers, body_hint(resp).await))
        };
        tokio::time::timeout(self.timeout + Duration::from_millis(50), exchange)
            .await
            .unwrap_or(Err(WaasError::Timeout(ms(self.timeout))))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn net_error(e: &reqwest::Error, timeout: Duration) -> WaasError {
    if e.is_timeout() {
        WaasError::Timeout(ms(timeout))
    } else if e.is_connect() {
        WaasError::Unreachable("connessione rifiutata o non riuscita".into())
    } else if e.is_builder() {
        WaasError::Unreachable("indirizzo dell'endpoint non valido".into())
    } else {
        // The URL may carry nothing secret (the token is a header), but the
        // error's chain is enough for an administrator.
        WaasError::Unreachable(error_chain(e))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A non-2xx answer: 429 and 503 with `Retry-After` tell when to come back.
fn status_error(status: StatusCode, headers: &HeaderMap, detail: Option<String>) -> WaasError {
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) && let Some(secs) = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
    {
        return WaasError::RetryAfter {
            status: status.as_u16(),
            secs,
        };
    }
    WaasError::Http {
        status: status.as_u16(),
        detail,
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Capped
/// at one day so a mistaken header cannot silence a comune for years.
pub fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    let secs = if let Ok(n) = v.parse::<u64>() {
        n
    } else {
        let at = jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(v)
            .ok()?;
        let now = jiff::Timestamp::now();
        u64::try_from(at.as_second().saturating_sub(now.as_second())).unwrap_or(0)
    };
    Some(secs.min(86_400))
}

/// The start of an error body (a problem+json `title`/`detail`), for the
/// administrator; bounded.
async fn body_hint(resp: reqwest::Response) -> Option<String> {
    let bytes = tokio::time::timeout(Duration::from_secs(2), resp.bytes())
        .await
        .ok()?
        .ok()?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        let pick = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        if let Some(t) = pick("detail").or_else(|| pick("title")) {
            return Some(truncate(&t, 200));
        }
    }
    None
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    timeout: Duration,
) -> Result<Vec<u8>, WaasError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(WaasError::PageTooLarge(cap));
    }
    let mut buf = Vec::with_capacity(
        usize::try_from(resp.content_length().unwrap_or(64 << 10).min(cap)).unwrap_or(0),
    );
    while let Some(chunk) = resp.chunk().await.map_err(|e| net_error(&e, timeout))? {
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(WaasError::PageTooLarge(cap));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[derive(serde::Deserialize)]
struct Page {
    elenco_flussi: Vec<serde_json::Value>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// `{"elenco_flussi": [...]}`. Entries stay raw: one broken entry must not
/// hide the others (each is checked by [`super::envelope`]).
pub fn parse_page(body: &[u8]) -> Result<Vec<serde_json::Value>, WaasError> {
    let page: Page = serde_json::from_slice(body).map_err(|e| WaasError::Json(e.to_string()))?;
    if !page.extra.is_empty() {
        // The contract says additionalProperties: false; tolerated, noted.
        tracing::warn!(
            campi = ?page.extra.keys().collect::<Vec<_>>(),
            "pagina WaaS con campi non previsti dal contratto: ignorati"
        );
    }
    if page.elenco_flussi.len() > super::PAGE_LIMIT {
        tracing::warn!(
            voci = page.elenco_flussi.len(),
            "pagina WaaS con più voci del limite richiesto"
        );
    }
    Ok(page.elenco_flussi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
        assert_eq!(parse_retry_after("99999999"), Some(86_400));
        assert_eq!(parse_retry_after("Mon, 01 Jan 1990 00:00:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("domani"), None);
    }

    #[test]
    fn pages_need_the_list_and_tolerate_extra_fields() {
        assert_eq!(
            parse_page(br#"{"elenco_flussi":[],"x":1}"#).map(|v| v.len()),
            Ok(0)
        );
        assert_eq!(
            parse_page(b"{\"elenco_flussi\":[{}]}").map(|v| v.len()),
            Ok(1)
        );
        for bad in [&b"{}"[..], b"[]", b"{\"elenco_flussi\":", b"<html>"] {
            assert_eq!(
                parse_page(bad).map_err(|e| e.code()),
                Err("WAAS_JSON_NON_VALIDO")
            );
        }
    }
}
