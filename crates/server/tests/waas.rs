//! The WaaS poller against a comune served in the test (axum on
//! 127.0.0.1:0): the contract's `GET /flussi` (strict `since`, `limit`,
//! ordered by `ts_flusso`) and `POST /esiti`, with injected faults. Checks
//! every fault of the issue, flows sharing one millisecond across page
//! boundaries, re-sent flows, an aborted poll followed by a fresh
//! register on the same database, the scheduler with a hanging comune, and
//! the end-to-end count: every published flow stored once, every outcome
//! received once by the comune.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use casellario_server::waas::{self, PollSummary, rfc3339_ms};
use casellario_server::{AppState, Config};
use casellario_store::EnteId;
use casellario_store::waas::{Credential, EndpointAttrs};
use serde_json::{Value, json};

const TOKEN: &str = "token-di-prova-0123";
/// 2025-01-01T00:00:00Z
const T0: i64 = 1_735_689_600_000;

// ----------------------------------------------------------------- comune

#[derive(Debug, Clone)]
enum Fault {
    /// Next GET /flussi answers this status.
    Status(u16),
    RetryAfter(u16, u32),
    MalformedJson,
    /// Next GET /flussi never answers.
    Hang,
    /// Next GET /flussi answers a body of this many bytes.
    Oversize(usize),
    /// Next POST /esiti answers this status.
    EsitiStatus(u16),
    /// Next GET /flussi ignores `since` (serves already served flows).
    ResendAcquired,
}

#[derive(Debug, Clone)]
struct Seen {
    codice_esito: String,
    id_acquisizione_siuss: Option<String>,
    descrizione_esito: Option<String>,
}

#[derive(Default)]
struct ComuneState {
    /// (ts_ms, entry as JSON text), kept sorted by ts (stable: publication
    /// order within a ms). Pre-encoded: a debug build serialising a 10 MB
    /// entry at every request would outlast the client's timeout.
    flows: Vec<(i64, String)>,
    faults: VecDeque<Fault>,
    esiti: BTreeMap<String, Vec<Seen>>,
    flussi_requests: usize,
    esiti_requests: usize,
    bad_auth: usize,
    /// Every GET /flussi hangs.
    always_hang: bool,
    /// Every POST /esiti answers 500.
    esiti_down: bool,
}

#[derive(Clone)]
struct Comune {
    st: Arc<Mutex<ComuneState>>,
    base: String,
}

impl Comune {
    async fn start() -> Comune {
        let st = Arc::new(Mutex::new(ComuneState::default()));
        let app = Router::new()
            .route("/waas/v1/flussi", get(flussi))
            .route("/waas/v1/esiti", post(esiti))
            .with_state(Arc::clone(&st));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/waas/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Comune { st, base }
    }

    fn publish(&self, ts: i64, entry: Value) {
        let mut s = self.st.lock().unwrap();
        let pos = s.flows.partition_point(|(t, _)| *t <= ts);
        s.flows.insert(pos, (ts, entry.to_string()));
    }

    /// `n` valid one-record PS flows; `group` flows share each millisecond.
    fn publish_generated(&self, n: usize, seed: u64, group: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = format!("H501.PS.20250101.{:07}", seed * 100_000 + i as u64);
            let ts = T0 + seed as i64 * 10_000_000 + (i / group.max(1)) as i64;
            self.publish(
                ts,
                entry(
                    &id,
                    ts,
                    "PS_PSA_SINA",
                    &b64(&flow_xml(&id, seed * 100_000 + i as u64)),
                ),
            );
            ids.push(id);
        }
        ids
    }

    fn inject(&self, f: Fault) {
        self.st.lock().unwrap().faults.push_back(f);
    }

    fn esiti(&self) -> BTreeMap<String, Vec<Seen>> {
        self.st.lock().unwrap().esiti.clone()
    }

    fn flussi_requests(&self) -> usize {
        self.st.lock().unwrap().flussi_requests
    }
}

fn take_fault(s: &mut ComuneState, esiti: bool) -> Option<Fault> {
    let i = s
        .faults
        .iter()
        .position(|f| matches!(f, Fault::EsitiStatus(_)) == esiti)?;
    s.faults.remove(i)
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn flussi(
    State(st): State<Arc<Mutex<ComuneState>>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (fault, hang) = {
        let mut s = st.lock().unwrap();
        s.flussi_requests += 1;
        if !authorized(&headers) {
            s.bad_auth += 1;
            return StatusCode::UNAUTHORIZED.into_response();
        }
        (take_fault(&mut s, false), s.always_hang)
    };
    if hang || matches!(fault, Some(Fault::Hang)) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let since: i64 = q.get("since").and_then(|v| v.parse().ok()).unwrap_or(-1);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
    match fault {
        Some(Fault::Status(code)) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({"title": "errore del comune", "status": code})),
            )
                .into_response();
        }
        Some(Fault::RetryAfter(code, secs)) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                [("retry-after", secs.to_string())],
                "",
            )
                .into_response();
        }
        Some(Fault::MalformedJson) => {
            return (
                [("content-type", "application/json")],
                "{\"elenco_flussi\": [{\"id_flusso\": ",
            )
                .into_response();
        }
        Some(Fault::Oversize(n)) => {
            let body = format!(
                "{{\"elenco_flussi\":[],\"riempimento\":\"{}\"}}",
                "x".repeat(n)
            );
            return ([("content-type", "application/json")], body).into_response();
        }
        _ => {}
    }
    let s = st.lock().unwrap();
    let since = if matches!(fault, Some(Fault::ResendAcquired)) {
        -1
    } else {
        since
    };
    let page: Vec<&str> = s
        .flows
        .iter()
        .filter(|(t, _)| *t > since)
        .take(limit)
        .map(|(_, e)| e.as_str())
        .collect();
    let body = format!("{{\"elenco_flussi\":[{}]}}", page.join(","));
    ([("content-type", "application/json")], body).into_response()
}

async fn esiti(
    State(st): State<Arc<Mutex<ComuneState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = st.lock().unwrap();
    s.esiti_requests += 1;
    if !authorized(&headers) {
        s.bad_auth += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if s.esiti_down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(Fault::EsitiStatus(code)) = take_fault(&mut s, true) {
        let mut r = StatusCode::from_u16(code).unwrap().into_response();
        if code == 503 {
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
        }
        return r;
    }
    let list = body["elenco_esiti"].as_array().cloned().unwrap_or_default();
    assert!(list.len() <= 100, "at most 100 outcomes per call");
    for e in list {
        for k in [
            "id_flusso",
            "tipo",
            "ts_flusso",
            "ts_acquisizione",
            "codice_esito",
        ] {
            assert!(e[k].is_string(), "{k} missing in {e}");
        }
        assert!(e["ts_flusso"].as_str().unwrap().ends_with('Z'));
        let seen = Seen {
            codice_esito: e["codice_esito"].as_str().unwrap().to_owned(),
            id_acquisizione_siuss: e["id_acquisizione_siuss"].as_str().map(str::to_owned),
            descrizione_esito: e["descrizione_esito"].as_str().map(str::to_owned),
        };
        s.esiti
            .entry(e["id_flusso"].as_str().unwrap().to_owned())
            .or_default()
            .push(seen);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn entry(id: &str, ts: i64, tipo: &str, flusso: &str) -> Value {
    json!({
        "codice_ente": "H501", "denominazione_ente": "Comune di Roma", "id_flusso": id,
        "ts_flusso": rfc3339_ms(ts), "tipo": tipo, "flusso": flusso,
    })
}

/// A valid one-beneficiary, one-benefit PS flow named `nome`.
fn flow_xml(nome: &str, seed: u64) -> String {
    let opts = casellario_gen::GenOptions {
        records: 1,
        seed,
        ente_codice: Some("H501".into()),
        ente_belfiore: Some("H501".into()),
        nome: Some(nome.into()),
        ..casellario_gen::GenOptions::default()
    };
    let mut out = Vec::new();
    casellario_gen::write_xml(&opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

// ----------------------------------------------------------------- register

struct Register {
    state: AppState,
    ente: EnteId,
    dir: Arc<tempfile::TempDir>,
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        db: dir.join("t.db"),
        // Debug builds of the comune take a while to serve 10 MB pages.
        waas_timeout_ms: 3000,
        waas_connect_timeout_ms: 500,
        waas_backoff_base_ms: 100,
        waas_backoff_max_ms: 400,
        waas_poll_deadline_ms: 60_000,
        waas_tick_ms: 50,
        waas_max_page_bytes: 12 << 20,
        ..Config::default()
    }
}

async fn register(base: &str) -> Register {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let state = AppState::new(config(dir.path())).unwrap();
    let ente = add_ente(&state, "H501", base).await;
    Register { state, ente, dir }
}

async fn add_ente(state: &AppState, codice: &str, base: &str) -> EnteId {
    let (c, b) = (codice.to_owned(), base.to_owned());
    state
        .db
        .write(move |s| {
            let id = support::comune(s, &c, &c, &format!("Comune {c}"))?;
            s.set_waas_endpoint(
                id,
                &EndpointAttrs {
                    base_url: &b,
                    credential: Credential::Token(TOKEN.into()),
                    interval_secs: 60,
                    enabled: true,
                },
                None,
            )?;
            Ok(id)
        })
        .await
        .unwrap()
}

impl Register {
    async fn poll(&self) -> PollSummary {
        waas::poll_once(&self.state, "H501").await.unwrap()
    }

    async fn acquisitions(&self) -> Vec<casellario_store::waas::Acquisition> {
        let id = self.ente;
        self.state
            .db
            .run(move |s| Ok(s.waas_acquisitions(id, 1_000_000)?))
            .await
            .unwrap()
    }

    async fn flows_stored(&self) -> u64 {
        self.state.db.run(|s| Ok(s.counts()?.flows)).await.unwrap()
    }
}

fn fault(s: &PollSummary) -> Option<&'static str> {
    s.fault.as_ref().map(|f| f.code)
}

fn assert_each_once(comune: &Comune, ids: &[String], code: &str) {
    let esiti = comune.esiti();
    for id in ids {
        let seen = esiti
            .get(id)
            .unwrap_or_else(|| panic!("no outcome for {id}"));
        assert_eq!(seen.len(), 1, "{id}: {seen:?}");
        assert_eq!(seen[0].codice_esito, code, "{id}: {seen:?}");
        assert_eq!(
            seen[0].id_acquisizione_siuss.is_some(),
            code == "OK",
            "{id}"
        );
    }
}

// ----------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_is_stored_once_and_every_outcome_delivered_once() {
    let comune = Comune::start().await;
    // Groups of 7 flows per millisecond: pages of 100 end inside groups.
    let ids = comune.publish_generated(250, 1, 7);
    let reg = register(&comune.base).await;

    let s = reg.poll().await;
    assert_eq!(fault(&s), None, "{s:?}");
    assert_eq!(s.new_flows, 250, "{s:?}");
    assert_eq!(s.by_esito.get("OK"), Some(&250), "{s:?}");
    assert_eq!(s.esiti_delivered, 250);
    assert_eq!(s.esiti_pending, 0);
    // The last page was cut inside a group: those flows came again and were skipped.
    assert!(s.duplicates > 0, "{s:?}");
    assert_eq!(s.cursor_ms, T0 + 10_000_000 + 249 / 7);
    assert_eq!(reg.acquisitions().await.len(), 250);
    assert_eq!(reg.flows_stored().await, 250);
    assert_each_once(&comune, &ids, "OK");
    assert_eq!(comune.st.lock().unwrap().bad_auth, 0);

    // Nothing new: one empty page, nothing stored, nothing sent.
    let s = reg.poll().await;
    assert_eq!(
        (s.pages, s.new_flows, s.esiti_delivered),
        (1, 0, 0),
        "{s:?}"
    );

    // The comune re-sends what was acquired: no record, no outcome.
    comune.inject(Fault::ResendAcquired);
    let s = reg.poll().await;
    assert_eq!(s.new_flows, 0, "{s:?}");
    assert_eq!(s.duplicates, 100, "{s:?}");
    assert_eq!(reg.flows_stored().await, 250);
    assert_each_once(&comune, &ids, "OK");

    // New flows later, including in the cursor's own millisecond + 1.
    let more = comune.publish_generated(30, 2, 30);
    let s = reg.poll().await;
    assert_eq!(s.new_flows, 30, "{s:?}");
    assert_each_once(&comune, &more, "OK");
    assert_eq!(reg.flows_stored().await, 280);

    // What the administrator sees.
    let runs = reg
        .state
        .db
        .run({
            let id = reg.ente;
            move |s| Ok(s.waas_poll_runs(id, 10)?)
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0].new_flows, 30);
    assert!(runs.iter().all(|r| r.fault_code.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_page_in_one_millisecond_is_an_anomaly_not_a_loop() {
    let comune = Comune::start().await;
    let ids = comune.publish_generated(130, 3, 130);
    let reg = register(&comune.base).await;
    let s = reg.poll().await;
    assert_eq!(fault(&s), None, "{s:?}");
    // The protocol can serve only the first 100 of that millisecond.
    assert_eq!(s.new_flows, 100, "{s:?}");
    assert!(
        s.anomalies
            .iter()
            .any(|a| a.codice == "WAAS_MILLISECONDO_SATURO"),
        "{s:?}"
    );
    assert_eq!(s.cursor_ms, T0 + 30_000_000);
    assert_each_once(&comune, &ids[..100], "OK");
    // And the poll ended (no endless re-asking).
    assert!(
        comune.flussi_requests() <= 4,
        "{}",
        comune.flussi_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_faults_are_recorded_and_the_next_run_recovers() {
    let comune = Comune::start().await;
    let ids = comune.publish_generated(120, 4, 1);
    let reg = register(&comune.base).await;
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::Status(500), "WAAS_HTTP_ERRORE"),
        (Fault::Status(404), "WAAS_HTTP_ERRORE"),
        (Fault::RetryAfter(429, 120), "WAAS_RITENTA_DOPO"),
        (Fault::RetryAfter(503, 7), "WAAS_RITENTA_DOPO"),
        (Fault::MalformedJson, "WAAS_JSON_NON_VALIDO"),
        (Fault::Hang, "WAAS_TIMEOUT"),
        (Fault::Oversize(13 << 20), "WAAS_PAGINA_TROPPO_GRANDE"),
    ];
    for (f, code) in cases {
        comune.inject(f.clone());
        let s = reg.poll().await;
        assert_eq!(fault(&s), Some(code), "{f:?}: {s:?}");
        assert!(!s.fault.as_ref().unwrap().message.is_empty());
        let nb = s
            .not_before_ms
            .expect("a faulted run sets when to come back");
        let now = casellario_server::fmt::now_ms();
        if let Fault::RetryAfter(_, secs) = f {
            let want = i64::from(secs) * 1000;
            assert!((nb - now - want).abs() < 2_000, "{f:?}: {}", nb - now);
        } else {
            assert!(nb - now <= 400 + 50, "{f:?}: backoff capped at max");
        }
    }
    // The page served before every fault was stored once; the rest now.
    let s = reg.poll().await;
    assert_eq!(fault(&s), None, "{s:?}");
    assert_eq!(reg.acquisitions().await.len(), 120);
    assert_each_once(&comune, &ids, "OK");
    let runs = reg
        .state
        .db
        .run({
            let id = reg.ente;
            move |s| Ok(s.waas_poll_runs(id, 20)?)
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 8);
    assert_eq!(
        runs.iter()
            .filter_map(|r| r.fault_code.as_deref())
            .collect::<Vec<_>>(),
        vec![
            "WAAS_PAGINA_TROPPO_GRANDE",
            "WAAS_TIMEOUT",
            "WAAS_JSON_NON_VALIDO",
            "WAAS_RITENTA_DOPO",
            "WAAS_RITENTA_DOPO",
            "WAAS_HTTP_ERRORE",
            "WAAS_HTTP_ERRORE"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_comune_is_a_fault() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/waas/v1", l.local_addr().unwrap());
    drop(l);
    let reg = register(&base).await;
    let s = reg.poll().await;
    assert_eq!(fault(&s), Some("WAAS_IRRAGGIUNGIBILE"), "{s:?}");
    // A credential read from an unset environment variable is a fault too.
    let id = reg.ente;
    reg.state
        .db
        .write(move |s| {
            s.set_waas_endpoint(
                id,
                &EndpointAttrs {
                    base_url: "http://127.0.0.1:9/waas/v1",
                    credential: Credential::Env("CASELLARIO_TEST_TOKEN_CHE_NON_ESISTE".into()),
                    interval_secs: 60,
                    enabled: true,
                },
                None,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let s = reg.poll().await;
    assert_eq!(fault(&s), Some("WAAS_CREDENZIALE_ASSENTE"), "{s:?}");
    // Unknown ente, no endpoint: the poll does not start.
    assert_eq!(
        waas::poll_once(&reg.state, "Z999")
            .await
            .unwrap_err()
            .code(),
        "WAAS_ENTE_SCONOSCIUTO"
    );
    drop(reg.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_entries_get_richiesta_invalida_and_their_outcome() {
    let comune = Comune::start().await;
    let good = comune.publish_generated(2, 5, 1);
    let t = T0 + 60_000_000;
    let x = |id: &str| b64(&flow_xml(id, 777));
    comune.publish(
        t,
        entry(
            "H501.PS.20250101.9000001",
            t,
            "PS_PSA_SINA",
            "%%% non base64 %%%",
        ),
    );
    comune.publish(
        t + 1,
        entry(
            "H501.PS.20250101.9000002",
            t + 1,
            "PS_PSA_SINA",
            &"A".repeat(10_000_004),
        ),
    );
    let mut wrong_ente = entry(
        "H501.PS.20250101.9000003",
        t + 2,
        "PS_PSA_SINA",
        &x("H501.PS.20250101.9000003"),
    );
    wrong_ente["codice_ente"] = json!("F205");
    comune.publish(t + 2, wrong_ente);
    comune.publish(
        t + 3,
        entry(
            "H501.PS.20250101.9000004",
            t + 3,
            "PS_PSA_SINA",
            &x("H501.PS.20250101.9999999"),
        ),
    );
    comune.publish(
        t + 4,
        entry(
            "H501.PS.20250101.9000005",
            t + 4,
            "XML",
            &x("H501.PS.20250101.9000005"),
        ),
    );
    // Three benefits in one flow: the one-benefit rule of the channel.
    let three = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/inps/openapi_example1_PS_PSA_SINA_H501.PS.20210520.0000002.xml"
    ))
    .unwrap();
    comune.publish(
        t + 5,
        entry(
            "H501.PS.20210520.0000002",
            t + 5,
            "PS_PSA_SINA",
            &b64(&three),
        ),
    );
    // A PS flow declared as SINBA: validated as SINBA, rejected.
    comune.publish(
        t + 6,
        entry(
            "H501.PS.20250101.9000007",
            t + 6,
            "SINBA",
            &x("H501.PS.20250101.9000007"),
        ),
    );
    // An entry without id_flusso cannot be acquired (nor answered).
    let mut anon = entry("x", t + 7, "PS_PSA_SINA", "AAAA");
    anon.as_object_mut().unwrap().remove("id_flusso");
    comune.publish(t + 7, anon);

    let reg = register(&comune.base).await;
    let s = reg.poll().await;
    assert_eq!(fault(&s), None, "{s:?}");
    assert_eq!(s.new_flows, 9, "{s:?}");
    assert_eq!(s.by_esito.get("OK"), Some(&2), "{s:?}");
    assert_eq!(s.by_esito.get("RICHIESTA_INVALIDA"), Some(&7), "{s:?}");
    assert_each_once(&comune, &good, "OK");
    let invalid: Vec<String> = (1..=5)
        .map(|i| format!("H501.PS.20250101.900000{i}"))
        .chain([
            "H501.PS.20210520.0000002".into(),
            "H501.PS.20250101.9000007".into(),
        ])
        .collect();
    assert_each_once(&comune, &invalid, "RICHIESTA_INVALIDA");
    let esiti = comune.esiti();
    let descr = |id: &str| esiti[id][0].descrizione_esito.clone().unwrap_or_default();
    assert!(descr("H501.PS.20250101.9000001").contains("base64"));
    assert!(descr("H501.PS.20250101.9000002").contains("10.000.000"));
    assert!(descr("H501.PS.20250101.9000003").contains("F205"));
    assert!(descr("H501.PS.20250101.9000004").contains("Nome"));
    assert!(descr("H501.PS.20250101.9000005").contains("tipo"));
    let codes: Vec<&str> = s.anomalies.iter().map(|a| a.codice.as_str()).collect();
    for c in [
        "WAAS_BASE64_NON_VALIDO",
        "WAAS_VOCE_TROPPO_GRANDE",
        "WAAS_CODICE_ENTE_DIVERSO",
        "WAAS_ID_FLUSSO_DIVERSO",
        "WAAS_TIPO_NON_VALIDO",
        "WAAS_VOCE_NON_IDENTIFICABILE",
    ] {
        assert!(codes.contains(&c), "{c} not in {codes:?}");
    }
    // Only the two good flows stored records.
    assert_eq!(reg.flows_stored().await, 2);
    // The broken entries are in the ente's transmissions.
    let subs = reg
        .state
        .db
        .run({
            let id = reg.ente;
            move |s| Ok(s.list_transmissions(id, 100, 0)?)
        })
        .await
        .unwrap();
    assert_eq!(subs.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_outcomes_are_retried_with_backoff_until_2xx() {
    let comune = Comune::start().await;
    let ids = comune.publish_generated(150, 6, 1);
    let reg = register(&comune.base).await;
    // POST /esiti fails for a while.
    comune.st.lock().unwrap().esiti_down = true;
    let s = reg.poll().await;
    assert_eq!(s.new_flows, 150, "{s:?}");
    assert_eq!(s.esiti_delivered, 0, "{s:?}");
    assert_eq!(s.esiti_pending, 150, "{s:?}");
    assert_eq!(
        s.esiti_fault.as_ref().map(|f| f.code),
        Some("WAAS_HTTP_ERRORE")
    );
    let s = reg.poll().await;
    assert_eq!(s.esiti_delivered, 0, "{s:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let s = reg.poll().await;
    assert_eq!(s.esiti_delivered, 0, "{s:?}");
    // Never two attempts closer than the backoff the first one set.
    let id = reg.ente;
    let attempts = reg
        .state
        .db
        .run(move |s| Ok(s.waas_delivery_attempts(id, 100)?))
        .await
        .unwrap();
    assert!(!attempts.is_empty());
    assert_eq!(attempts.len(), comune.st.lock().unwrap().esiti_requests);
    for w in attempts.windows(2) {
        let (newer, older) = (&w[0], &w[1]);
        assert!(
            newer.attempted_at_ms >= older.next_attempt_at_ms.unwrap(),
            "{attempts:?}"
        );
    }
    // Back up, but first a 503 with Retry-After: 1.
    {
        let mut c = comune.st.lock().unwrap();
        c.esiti_down = false;
        c.faults.push_back(Fault::EsitiStatus(503));
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    let s = reg.poll().await;
    assert_eq!(s.esiti_delivered, 0, "{s:?}");
    assert_eq!(
        s.esiti_fault.as_ref().map(|f| f.code),
        Some("WAAS_RITENTA_DOPO")
    );
    // After a restart of the register (a fresh state on the same file) and
    // the wait, everything is delivered, once.
    let dir = Arc::clone(&reg.dir);
    drop(reg.state);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let state = AppState::new(config(dir.path())).unwrap();
    let s = waas::poll_once(&state, "H501").await.unwrap();
    assert_eq!(s.esiti_delivered, 150, "{s:?}");
    assert_eq!(s.esiti_pending, 0, "{s:?}");
    assert_each_once(&comune, &ids, "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_aborted_midway_then_a_fresh_register_loses_and_doubles_nothing() {
    let comune = Comune::start().await;
    let ids = comune.publish_generated(430, 7, 3);
    let reg = register(&comune.base).await;
    // The 4th page never comes: the poll is stopped there, as a crash would.
    let hang_at = 4;
    let st = reg.state.clone();
    let task = tokio::spawn(async move { waas::poll_once(&st, "H501").await });
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let n = comune.flussi_requests();
        if n == hang_at - 1 {
            comune.st.lock().unwrap().always_hang = true;
        }
        if n >= hang_at {
            break;
        }
    }
    task.abort();
    let _ = task.await;
    // A page handed to the writer before the abort is committed whole (the
    // writer finishes its job), and a POST /esiti under way completes and
    // is recorded: let them settle, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    reg.state.db.write(|_| Ok(())).await.unwrap();
    let stored_before = reg.acquisitions().await.len();
    assert!((150..=300).contains(&stored_before), "{stored_before}");
    comune.st.lock().unwrap().always_hang = false;

    let dir = Arc::clone(&reg.dir);
    drop(reg);
    let state = AppState::new(config(dir.path())).unwrap();
    let s = waas::poll_once(&state, "H501").await.unwrap();
    assert_eq!(fault(&s), None, "{s:?}");
    assert_eq!(s.new_flows as usize, 430 - stored_before, "{s:?}");
    let n = state.db.run(|s| Ok(s.counts()?.flows)).await.unwrap();
    assert_eq!(n, 430);
    assert_each_once(&comune, &ids, "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_polls_due_comuni_and_a_hanging_one_blocks_nobody() {
    let good = Comune::start().await;
    let ids = good.publish_generated(40, 8, 1);
    let hanging = Comune::start().await;
    hanging.st.lock().unwrap().always_hang = true;
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(config(dir.path())).unwrap();
    // The hanging comune is registered first (polled first).
    let _ = add_ente(&state, "A001", &hanging.base).await;
    let h501 = add_ente(&state, "H501", &good.base).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sched = tokio::spawn(waas::scheduler::run(state.clone(), stop_rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if good.esiti().len() == 40 || tokio::time::Instant::now() > deadline {
            break;
        }
    }
    assert_each_once(&good, &ids, "OK");
    // The due rule: polled once, not again before the interval (60 s).
    // (The run is recorded just after its last outcome is sent.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = state
        .db
        .run(move |s| Ok(s.waas_poll_runs(h501, 10)?))
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    // The hanging comune gets its timeout fault (and retries with backoff).
    let a001 = state
        .db
        .run(|s| Ok(s.ente_profile_by_codice("A001")?.unwrap().id))
        .await
        .unwrap();
    let runs = loop {
        let runs = state
            .db
            .run(move |s| Ok(s.waas_poll_runs(a001, 10)?))
            .await
            .unwrap();
        if !runs.is_empty() || tokio::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!runs.is_empty());
    assert!(
        runs.iter()
            .all(|r| r.fault_code.as_deref() == Some("WAAS_TIMEOUT")),
        "{runs:?}"
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(15), sched)
        .await
        .expect("the scheduler stops")
        .unwrap();
}

// ----------------------------------------------------------------- portal

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a _csrf field") + 20;
    page[at..at + page[at..].find('"').expect("end")].to_string()
}

async fn login(base: &str, user: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("_csrf", csrf_in(&page).as_str()),
            ("username", user),
            ("password", "Prova-Password-2026"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {user}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_register_endpoints_and_run_polls_from_the_portal() {
    use casellario_domain::access::Role;
    use casellario_store::portal::NewAccount;
    let comune = Comune::start().await;
    let ids = comune.publish_generated(12, 9, 1);
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        // The poll is started by the button only.
        waas_enabled: false,
        login_per_minute: 10_000,
        ..config(dir.path())
    };
    let state = AppState::new(cfg).unwrap();
    let hash = casellario_server::auth::hash_password("Prova-Password-2026").unwrap();
    let ente = state
        .db
        .write(move |s| {
            let ente = support::comune(s, "H501", "H501", "Comune di Roma")?;
            for (u, role, e) in [
                ("admin", Role::Amministratore, None),
                ("operatore", Role::Operatore, Some(ente)),
            ] {
                s.create_account(&NewAccount {
                    username: u,
                    nome: u,
                    role,
                    ente_id: e,
                    password_hash: &hash,
                    must_change: false,
                })?;
            }
            Ok(ente)
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let st = state.clone();
    tokio::spawn(async move {
        let _ = casellario_server::serve_on(listener, st).await;
    });

    let op = login(&base, "operatore").await;
    let r = op
        .get(format!("{base}/amministrazione/waas"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    let c = login(&base, "admin").await;
    let get = |path: String| {
        let c = c.clone();
        async move {
            let r = c.get(path).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (st, page) = get(format!("{base}/amministrazione/waas")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Nessun endpoint WaaS registrato"), "{page}");
    let detail = format!("{base}/amministrazione/waas/{ente}");
    let (st, page) = get(detail.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Registra l'endpoint"));
    let csrf = csrf_in(&page);

    // A wrong address and interval are refused, field by field.
    let r = c
        .post(&detail)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("url", "ftp://comune"),
            ("credenziale", "token"),
            ("token", TOKEN),
            ("intervallo", "1"),
            ("attivo", "si"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Indirizzo base") && page.contains("Intervallo"),
        "{page}"
    );

    let save = |token: &'static str| {
        let (c, detail, csrf, url) = (c.clone(), detail.clone(), csrf.clone(), comune.base.clone());
        async move {
            c.post(&detail)
                .form(&[
                    ("_csrf", csrf.as_str()),
                    ("url", url.as_str()),
                    ("credenziale", "token"),
                    ("token", token),
                    ("intervallo", "120"),
                    ("attivo", "si"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = save(TOKEN).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Changed again with the token field left empty: the token is kept.
    let r = save("").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = get(detail.clone()).await;
    assert!(page.contains(&comune.base), "{page}");
    assert!(page.contains("token memorizzato"), "{page}");
    assert!(!page.contains(TOKEN), "the token is never shown");

    // Esegui ora.
    let r = c
        .post(format!("{detail}/esegui"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for _ in 0..100 {
        if comune.esiti().len() == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_each_once(&comune, &ids, "OK");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, page) = get(format!("{base}/amministrazione/waas")).await;
    assert!(
        page.contains(&comune.base) && page.contains("nessuno"),
        "{page}"
    );
    let (_, page) = get(detail.clone()).await;
    assert!(page.contains("H501.PS.20250101.0900000"), "{page}");
    assert!(page.contains("manuale"), "{page}");

    let audit: Vec<(String, String)> = state
        .db
        .run(|s| Ok(s.list_audit(100, None)?))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.detail))
        .collect();
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "waas.endpoint").count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"waas.esegui"), "{actions:?}");
    assert!(audit.iter().all(|(_, d)| !d.contains(TOKEN)));
}
