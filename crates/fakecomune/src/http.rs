//! The HTTP side: `/waas/v1/{flussi,esiti,status}`, faults, token, offline.

use crate::{EsitoSeen, Fault, FlussiCall, InvalidRequest, Shared, esiti};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long `Timeout` faults keep a request waiting: past any sane client timeout.
const TIMEOUT_FAULT: Duration = Duration::from_secs(120);

/// `elenco_flussi` default and maximum page size (spec: `limit`).
const LIMIT_DEFAULT: usize = 10;
const LIMIT_MAX: i64 = 100;

/// Drops new connections while the comune is offline, so clients see a
/// closed connection rather than an HTTP answer.
struct OfflineListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for OfflineListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    if self.shared.offline.load(Ordering::SeqCst) {
                        drop(stream);
                        continue;
                    }
                    // Small JSON pages: don't let Nagle delay them.
                    let _ = stream.set_nodelay(true);
                    return (stream, addr);
                }
                Err(e) => {
                    // Like axum's own listener: transient (EMFILE, ECONNABORTED); back off briefly.
                    tracing::debug!(error = %e, "accept non riuscita");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/waas/v1/flussi", get(flussi))
        .route("/waas/v1/esiti", post(esiti))
        .route("/waas/v1/status", get(status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), offline_gate))
        .with_state(shared.clone());
    let stop = shared.clone();
    let listener = OfflineListener {
        inner: listener,
        shared,
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.until_shutdown().await })
        .await
    {
        tracing::warn!(error = %e, "il server del comune finto si è fermato con un errore");
    }
}

/// An RFC 9457 problem, with the spec's `Problem` fields only.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// A status from a fault: anything not a final HTTP status becomes 500.
fn fault_status(code: u16) -> StatusCode {
    StatusCode::from_u16(code)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn fault_problem(code: u16, retry_after: Option<u32>) -> Response {
    let status = fault_status(code);
    let mut r = problem(
        status,
        "Errore simulato",
        &format!(
            "Guasto iniettato nel comune finto: risposta {}.",
            status.as_u16()
        ),
    );
    if let Some(secs) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

async fn offline_gate(State(st): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if st.offline.load(Ordering::SeqCst) {
        st.lock().stats.offline_refusals += 1;
        let mut r = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Servizio non disponibile",
            "Il comune finto è fuori linea.",
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    next.run(req).await
}

impl Shared {
    fn record_invalid(&self, endpoint: &str, status: StatusCode, reason: &str) {
        tracing::info!(
            endpoint,
            status = status.as_u16(),
            reason,
            "richiesta non valida"
        );
        self.lock().stats.invalid_requests.push(InvalidRequest {
            endpoint: endpoint.to_string(),
            status: status.as_u16(),
            reason: reason.to_string(),
        });
    }

    fn invalid(&self, endpoint: &str, status: StatusCode, title: &str, reason: &str) -> Response {
        self.record_invalid(endpoint, status, reason);
        problem(status, title, reason)
    }

    /// `Authorization: Bearer <token>` when a token is configured; the 401 otherwise.
    fn reject_token(&self, endpoint: &str, headers: &HeaderMap) -> Option<Response> {
        let token = self.cfg.token.as_ref()?;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let reason = match given {
            Some(t) if t == token => return None,
            Some(_) => "token bearer errato",
            None => "manca l'intestazione Authorization: Bearer",
        };
        let mut r = self.invalid(
            endpoint,
            StatusCode::UNAUTHORIZED,
            "Non autorizzato",
            reason,
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Some(r)
    }

    /// Sleeps `d`, or less if the comune shuts down meanwhile.
    async fn sleep_or_shutdown(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.until_shutdown() => {}
        }
    }
}

/// `since` (required int64 ≥ 0) and `limit` (0..=100, default 10).
/// Unknown parameters are ignored, as a lenient comune would (INPS's own
/// examples once called `limit` `max_entries`).
fn parse_query(q: Option<&str>) -> Result<(i64, usize), String> {
    let mut since = None;
    let mut limit = None;
    for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "since" => &mut since,
            "limit" => &mut limit,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("parametro {k} ripetuto"));
        }
        *slot = Some(v.into_owned());
    }
    let since = since.ok_or("manca il parametro obbligatorio since (millisecondi)")?;
    let since_ms: i64 = since
        .parse()
        .map_err(|_| format!("since \"{since}\" non è un intero a 64 bit (millisecondi)"))?;
    if since_ms < 0 {
        return Err(format!("since {since_ms} è negativo"));
    }
    let limit = match limit {
        None => LIMIT_DEFAULT,
        Some(l) => {
            let n: i64 = l
                .parse()
                .map_err(|_| format!("limit \"{l}\" non è un intero"))?;
            if !(0..=LIMIT_MAX).contains(&n) {
                return Err(format!("limit {n} fuori dall'intervallo 0..={LIMIT_MAX}"));
            }
            // 0..=100 after the check.
            n as usize
        }
    };
    Ok((since_ms, limit))
}

async fn flussi(
    State(st): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    const EP: &str = "GET /flussi";
    st.lock().stats.flussi_requests += 1;
    if let Some(r) = st.reject_token(EP, &headers) {
        return r;
    }
    let (since, limit) = match parse_query(q.as_deref()) {
        Ok(v) => v,
        Err(why) => {
            return st.invalid(EP, StatusCode::BAD_REQUEST, "Richiesta non valida", &why);
        }
    };
    let fault = {
        let mut inner = st.lock();
        let fault = inner.take_fault(false);
        // Faults that answer instead of the page are logged now; the others
        // with the page they precede, below.
        if fault
            .as_ref()
            .is_some_and(|f| !matches!(f, Fault::Delay { .. } | Fault::ResendAcquired))
        {
            inner.stats.flussi_log.push(FlussiCall {
                since,
                limit,
                fault: fault.clone(),
                entries: 0,
            });
        }
        fault
    };
    if let Some(f) = &fault {
        tracing::info!(fault = ?f, since, limit, "guasto iniettato su GET /flussi");
    }
    match fault {
        Some(Fault::Timeout) => {
            st.sleep_or_shutdown(TIMEOUT_FAULT).await;
            return fault_problem(504, None);
        }
        Some(Fault::Hang) => {
            st.until_shutdown().await;
            return fault_problem(503, None);
        }
        Some(Fault::Status(code)) => return fault_problem(code, None),
        Some(Fault::RetryAfter { status, secs }) => return fault_problem(status, Some(secs)),
        Some(Fault::MalformedJson) => {
            let body = format!(
                "{{\"elenco_flussi\":[{{\"codice_ente\":\"{}\",\"id_flusso\":\"{}.PS.2026",
                st.cfg.codice_ente, st.cfg.codice_ente
            );
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        Some(Fault::Delay { ms }) => st.sleep_or_shutdown(Duration::from_millis(ms)).await,
        Some(Fault::ResendAcquired) => st.lock().resend(limit),
        Some(Fault::EsitiStatus(_) | Fault::EsitiRetryAfter { .. } | Fault::EsitiTimeout)
        | None => {}
    }
    let body = {
        let mut inner = st.lock();
        let (body, entries) = inner.page(since, limit);
        inner.stats.flussi_log.push(FlussiCall {
            since,
            limit,
            fault,
            entries,
        });
        body
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn esiti(
    State(st): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const EP: &str = "POST /esiti";
    st.lock().stats.esiti_requests += 1;
    if let Some(r) = st.reject_token(EP, &headers) {
        return r;
    }
    if !is_json(&headers) {
        return st.invalid(
            EP,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Tipo di contenuto non supportato",
            "il corpo deve essere application/json",
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return st.invalid(
                EP,
                e.status(),
                "Corpo non leggibile",
                &format!("corpo della richiesta non leggibile: {e}"),
            );
        }
    };
    let list = match esiti::parse(&body) {
        Ok(l) => l,
        Err(why) => return st.invalid(EP, StatusCode::BAD_REQUEST, "Richiesta non valida", &why),
    };
    let fault = st.lock().take_fault(true);
    if let Some(f) = &fault {
        tracing::info!(fault = ?f, esiti = list.len(), "guasto iniettato su POST /esiti");
    }
    let refused = |st: &Shared| st.lock().stats.esiti_refused += list.len();
    match fault {
        Some(Fault::EsitiStatus(code)) => {
            refused(&st);
            return fault_problem(code, None);
        }
        Some(Fault::EsitiRetryAfter { status, secs }) => {
            refused(&st);
            return fault_problem(status, Some(secs));
        }
        Some(Fault::EsitiTimeout) => {
            refused(&st);
            st.sleep_or_shutdown(TIMEOUT_FAULT).await;
            return fault_problem(504, None);
        }
        _ => {}
    }
    let mut inner = st.lock();
    for e in list {
        let mut anomalies = Vec::new();
        match inner.known.get(e.id_flusso.as_str()) {
            None => anomalies.push(format!("esito per {}: flusso mai pubblicato", e.id_flusso)),
            Some(k) => {
                if !k.served {
                    anomalies.push(format!("esito per {}: flusso mai servito", e.id_flusso));
                }
                if k.tipo != e.tipo {
                    anomalies.push(format!(
                        "esito per {}: tipo {} ma il flusso è {}",
                        e.id_flusso, e.tipo, k.tipo
                    ));
                }
                if !k.ts.contains(&e.ts_flusso_ms) {
                    anomalies.push(format!(
                        "esito per {}: ts_flusso {} diverso da quello pubblicato",
                        e.id_flusso, e.ts_flusso
                    ));
                }
            }
        }
        if e.codice_esito != "OK" && e.id_acquisizione_siuss.is_some() {
            anomalies.push(format!(
                "esito {} per {} con id_acquisizione_siuss (previsto solo per OK)",
                e.codice_esito, e.id_flusso
            ));
        }
        inner.stats.anomalies.extend(anomalies);
        inner
            .stats
            .esiti
            .entry(e.id_flusso)
            .or_default()
            .push(EsitoSeen {
                codice_esito: e.codice_esito,
                id_acquisizione_siuss: e.id_acquisizione_siuss,
                descrizione_esito: e.descrizione_esito,
                tipo: e.tipo,
                ts_flusso: e.ts_flusso,
                ts_acquisizione: e.ts_acquisizione,
            });
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn status(State(st): State<Arc<Shared>>) -> Response {
    st.lock().stats.status_requests += 1;
    problem(
        StatusCode::OK,
        "Servizio attivo",
        "Il comune finto funziona correttamente.",
    )
}

async fn not_found(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    st.invalid(
        &what,
        StatusCode::NOT_FOUND,
        "Risorsa inesistente",
        &format!("{what}: risorsa inesistente (l'API è sotto /waas/v1)"),
    )
}

async fn method_not_allowed(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    st.invalid(
        &what,
        StatusCode::METHOD_NOT_ALLOWED,
        "Metodo non ammesso",
        &format!("{what}: metodo non ammesso"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query(Some("since=0")), Ok((0, 10)));
        assert_eq!(parse_query(Some("since=5&limit=100")), Ok((5, 100)));
        assert_eq!(
            parse_query(Some("limit=0&since=9&max_entries=3")),
            Ok((9, 0))
        );
        for bad in [
            None,
            Some(""),
            Some("limit=5"),
            Some("since="),
            Some("since=-1"),
            Some("since=1.5"),
            Some("since=2023-11-27T11:04:56.852Z"),
            Some("since=99999999999999999999"),
            Some("since=1&since=2"),
            Some("since=1&limit=101"),
            Some("since=1&limit=-1"),
            Some("since=1&limit=ten"),
            Some("since=1&limit=10.0"),
            Some("since=1&limit="),
        ] {
            assert!(parse_query(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fault_statuses_are_final() {
        assert_eq!(fault_status(503), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(fault_status(100), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(fault_status(0), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(fault_status(1000), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
