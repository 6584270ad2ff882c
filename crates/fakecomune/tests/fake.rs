//! The fake comune over HTTP: paging, faults, esiti, token, offline, broken entries.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use casellario_fakecomune::{Breakage, FakeComune, FakeConfig, Fault, start, ts};
use serde_json::Value;
use std::time::{Duration, Instant};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn comune() -> FakeComune {
    start(FakeConfig::new("H501", "Comune di Roma"))
        .await
        .unwrap()
}

/// GET /flussi; (status, content type, body).
async fn get(c: &FakeComune, query: &str) -> (u16, String, String) {
    let r = client()
        .get(format!("{}/flussi?{query}", c.base_url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// A 200 page: its entries.
async fn page(c: &FakeComune, since: i64, limit: Option<usize>) -> Vec<Value> {
    let q = match limit {
        Some(l) => format!("since={since}&limit={l}"),
        None => format!("since={since}"),
    };
    let (status, ct, body) = get(c, &q).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_str(&body).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "only elenco_flussi: {body}");
    obj["elenco_flussi"].as_array().unwrap().clone()
}

fn ts_ms(e: &Value) -> i64 {
    ts::parse_ms(e["ts_flusso"].as_str().unwrap()).unwrap()
}

fn id(e: &Value) -> String {
    e["id_flusso"].as_str().unwrap().to_string()
}

fn assert_problem(status: u16, expected: u16, ct: &str, body: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(ct, "application/problem+json", "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["status"], expected);
    assert!(v["title"].is_string() && v["detail"].is_string(), "{body}");
    for k in v.as_object().unwrap().keys() {
        assert!(
            ["type", "title", "status", "detail", "instance"].contains(&k.as_str()),
            "{k} is not a Problem property"
        );
    }
}

/// Walks the whole log with `since` = last ts seen, as a naive poller would.
async fn drain(c: &FakeComune, limit: usize) -> Vec<Value> {
    let mut since = 0;
    let mut all = Vec::new();
    loop {
        let p = page(c, since, Some(limit)).await;
        if p.is_empty() {
            return all;
        }
        since = ts_ms(p.last().unwrap());
        all.extend(p);
    }
}

#[tokio::test]
async fn entries_follow_the_spec() {
    let c = comune().await;
    assert!(c.base_url().starts_with("http://127.0.0.1:"));
    assert!(c.base_url().ends_with("/waas/v1"));
    let ids = c.publish_generated(60, 7, 1);
    assert_eq!(ids.len(), 60);
    let all = drain(&c, 100).await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), ids);
    let mut sinba = 0;
    for e in &all {
        let o = e.as_object().unwrap();
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "codice_ente",
                "denominazione_ente",
                "flusso",
                "id_flusso",
                "tipo",
                "ts_flusso"
            ]
        );
        assert_eq!(e["codice_ente"], "H501");
        assert_eq!(e["denominazione_ente"], "Comune di Roma");
        let ts_s = e["ts_flusso"].as_str().unwrap();
        // RFC 3339 UTC with milliseconds, as in the spec's example.
        assert_eq!(ts_s.len(), 24, "{ts_s}");
        assert!(ts_s.ends_with('Z') && ts_s.as_bytes()[19] == b'.', "{ts_s}");
        assert_eq!(ts::format_ms(ts_ms(e)), ts_s);
        let id = id(e);
        let tipo = e["tipo"].as_str().unwrap();
        let parts: Vec<&str> = id.split('.').collect();
        assert_eq!(parts.len(), 4, "{id}");
        assert_eq!(parts[0], "H501");
        assert_eq!(parts[2], ts::yyyymmdd(ts_ms(e)).to_string());
        assert_eq!(parts[3].len(), 7);
        match tipo {
            "PS_PSA_SINA" => assert_eq!(parts[1], "PS"),
            "SINBA" => {
                assert_eq!(parts[1], "SINBA");
                sinba += 1;
            }
            other => panic!("tipo {other}"),
        }
        let xml = base64::engine::general_purpose::STANDARD
            .decode(e["flusso"].as_str().unwrap())
            .unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert!(xml.contains(&format!("Nome=\"{id}\"")), "{xml}");
        assert!(xml.contains("Codice=\"H501\""), "{xml}");
        if tipo == "SINBA" {
            assert_eq!(xml.matches("<SINBA ").count(), 1, "{xml}");
        } else {
            assert_eq!(xml.matches("<Beneficiario ").count(), 1, "{xml}");
            assert_eq!(xml.matches("<PrestazioniSociali ").count(), 1, "{xml}");
        }
    }
    assert!(sinba > 0 && sinba < 20, "some SINBA, mostly PS: {sinba}");
    // Distinct, strictly increasing timestamps with groups of 1.
    assert!(all.windows(2).all(|w| ts_ms(&w[0]) < ts_ms(&w[1])));
    let s = c.stats();
    assert_eq!(s.published, ids);
    assert_eq!(s.distinct_served, 60);
    assert!(s.invalid_requests.is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn paging_with_since_and_limit() {
    let c = comune().await;
    let ids = c.publish_generated(25, 1, 1);
    // Default limit is 10.
    let p = page(&c, 0, None).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), ids[..10]);
    assert!(page(&c, 0, Some(0)).await.is_empty());
    let p = page(&c, 0, Some(100)).await;
    assert_eq!(p.len(), 25);
    // Strictly after since.
    let t7 = ts_ms(&p[7]);
    let after = page(&c, t7, Some(100)).await;
    assert_eq!(after.iter().map(id).collect::<Vec<_>>(), ids[8..]);
    assert!(page(&c, ts_ms(&p[24]), Some(100)).await.is_empty());
    let log = c.stats().flussi_log;
    assert_eq!(log.len(), 5);
    assert_eq!((log[0].since, log[0].limit, log[0].entries), (0, 10, 10));
    assert_eq!((log[3].since, log[3].limit, log[3].entries), (t7, 100, 17));
    for limit in [1, 3, 7, 10, 24, 25, 100] {
        let all = drain(&c, limit).await;
        assert_eq!(all.iter().map(id).collect::<Vec<_>>(), ids, "limit {limit}");
    }
    // New flows go after the old ones.
    let more = c.publish_generated(5, 2, 1);
    let p = page(&c, ts_ms(&p[24]), Some(100)).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), more);
    c.shutdown().await;
}

#[tokio::test]
async fn equal_millisecond_groups() {
    let c = comune().await;
    let ids = c.publish_generated(10, 3, 4);
    let all = page(&c, 0, Some(100)).await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), ids);
    let t: Vec<i64> = all.iter().map(ts_ms).collect();
    assert!(t[0] == t[3] && t[3] < t[4] && t[4] == t[7] && t[7] < t[8] && t[8] == t[9]);
    // A page may end inside a group...
    let p = page(&c, 0, Some(3)).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), ids[..3]);
    // ...and `since` = that millisecond skips the rest of the group (spec: strictly after),
    let p = page(&c, t[0], Some(3)).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), ids[4..7]);
    // which a poller avoids by asking from the millisecond before.
    let p = page(&c, t[0] - 1, Some(100)).await;
    assert_eq!(p.len(), 10);
    // same_ms_group 0 means 1.
    let more = c.publish_generated(3, 4, 0);
    let p = page(&c, t[9], Some(100)).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), more);
    assert!(ts_ms(&p[0]) < ts_ms(&p[1]) && ts_ms(&p[1]) < ts_ms(&p[2]));
    c.shutdown().await;
}

#[tokio::test]
async fn invalid_parameters_are_400_and_recorded() {
    let c = comune().await;
    c.publish_generated(3, 1, 1);
    let bad = [
        "",
        "limit=5",
        "since=",
        "since=-1",
        "since=abc",
        "since=1.5",
        "since=99999999999999999999999",
        "since=%FF%FE",
        "since=0&limit=101",
        "since=0&limit=-1",
        "since=0&limit=x",
        "since=0&since=1",
    ];
    for q in bad {
        let (status, ct, body) = get(&c, q).await;
        assert_problem(status, 400, &ct, &body);
    }
    let s = c.stats();
    assert_eq!(s.invalid_requests.len(), bad.len());
    assert!(
        s.invalid_requests
            .iter()
            .all(|r| r.status == 400 && r.endpoint == "GET /flussi")
    );
    assert_eq!(s.flussi_requests, bad.len());
    // Unknown parameters are tolerated.
    assert_eq!(page_raw_ok(&c, "since=0&max_entries=2").await, 3);
    // Other paths and methods: problem+json too.
    let r = client()
        .get(format!("{}/nulla", c.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .delete(format!("{}/flussi", c.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    c.shutdown().await;
}

async fn page_raw_ok(c: &FakeComune, q: &str) -> usize {
    let (status, _, body) = get(c, q).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["elenco_flussi"].as_array().unwrap().len()
}

#[tokio::test]
async fn status_is_problem_json() {
    let c = start(FakeConfig {
        token: Some("segreto".into()),
        ..FakeConfig::new("F205", "Comune di Milano")
    })
    .await
    .unwrap();
    let r = client()
        .get(format!("{}/status", c.base_url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert_problem(status, 200, &ct, &r.text().await.unwrap());
    assert_eq!(c.stats().status_requests, 1);
    c.shutdown().await;
}

#[tokio::test]
async fn bearer_token_is_checked() {
    let c = start(FakeConfig {
        token: Some("segreto".into()),
        ..FakeConfig::new("H501", "Comune di Roma")
    })
    .await
    .unwrap();
    c.publish_generated(2, 1, 1);
    let url = format!("{}/flussi?since=0", c.base_url());
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = client()
        .get(&url)
        .bearer_auth("sbagliato")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .header("authorization", "Basic c2VncmV0bw==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .bearer_auth("segreto")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{}/esiti", c.base_url()))
        .header("content-type", "application/json")
        .body(r#"{"elenco_esiti":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let s = c.stats();
    assert_eq!(s.invalid_requests.len(), 4);
    assert!(s.invalid_requests.iter().all(|r| r.status == 401));
    // A rejected request consumes no fault.
    c.inject(Fault::Status(500));
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .bearer_auth("segreto")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    c.shutdown().await;
}

#[tokio::test]
async fn status_retry_after_and_malformed_faults_in_order() {
    let c = comune().await;
    let ids = c.publish_generated(5, 1, 1);
    c.inject(Fault::Status(500));
    c.inject(Fault::EsitiStatus(503)); // not for GET /flussi: stays queued
    c.inject(Fault::RetryAfter {
        status: 429,
        secs: 7,
    });
    c.inject(Fault::MalformedJson);
    c.inject(Fault::Status(42)); // not a final status: 500
    let (s, ct, b) = get(&c, "since=0").await;
    assert_problem(s, 500, &ct, &b);
    let r = client()
        .get(format!("{}/flussi?since=0", c.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let (s, ct, b) = get(&c, "since=0").await;
    assert_eq!((s, ct.as_str()), (200, "application/json"));
    assert!(serde_json::from_str::<Value>(&b).is_err(), "{b}");
    let (s, ct, b) = get(&c, "since=0").await;
    assert_problem(s, 500, &ct, &b);
    let p = page(&c, 0, Some(100)).await;
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), ids);
    let st = c.stats();
    let faults: Vec<_> = st.flussi_log.iter().map(|c| c.fault.clone()).collect();
    assert_eq!(
        faults,
        [
            Some(Fault::Status(500)),
            Some(Fault::RetryAfter {
                status: 429,
                secs: 7
            }),
            Some(Fault::MalformedJson),
            Some(Fault::Status(42)),
            None
        ]
    );
    assert_eq!(st.flussi_log[4].entries, 5);
    assert_eq!(st.faults_pending, 1);
    assert_eq!(st.faults_consumed.len(), 4);
    // Faulted pages served nothing.
    assert_eq!(st.flows_served, 5);
    assert!(st.invalid_requests.is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn timeout_hang_and_delay() {
    let c = comune().await;
    c.publish_generated(2, 1, 1);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let url = format!("{}/flussi?since=0", c.base_url());
    for f in [Fault::Timeout, Fault::Hang] {
        c.inject(f.clone());
        let t0 = Instant::now();
        let r = quick.get(&url).send().await;
        assert!(r.is_err_and(|e| e.is_timeout()), "{f:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        // The comune still answers others.
        assert_eq!(quick.get(&url).send().await.unwrap().status(), 200);
    }
    c.inject(Fault::Delay { ms: 300 });
    let t0 = Instant::now();
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Shutdown is prompt even with a request stuck in a fault.
    c.inject(Fault::Hang);
    let stuck = tokio::spawn({
        let url = url.clone();
        async move { client().get(&url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    c.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    // The stuck client gets an answer or a closed connection, not a hang.
    let _ = tokio::time::timeout(Duration::from_secs(5), stuck)
        .await
        .unwrap();
}

#[tokio::test]
async fn resend_acquired_reserves_served_flows_with_newer_ts() {
    let c = comune().await;
    let ids = c.publish_generated(8, 1, 1);
    let first = drain(&c, 5).await;
    let last_ts = ts_ms(first.last().unwrap());
    c.inject(Fault::ResendAcquired);
    let p = page(&c, last_ts, Some(3)).await;
    // The last 3 served, again, same content, newer timestamps.
    assert_eq!(p.iter().map(id).collect::<Vec<_>>(), ids[5..]);
    for (again, orig) in p.iter().zip(&first[5..]) {
        assert_eq!(again["flusso"], orig["flusso"]);
        assert!(ts_ms(again) > last_ts);
    }
    let s = c.stats();
    assert_eq!(s.resent, ids[5..]);
    let last = s.flussi_log.last().unwrap();
    assert_eq!(
        (last.fault.clone(), last.entries),
        (Some(Fault::ResendAcquired), 3)
    );
    assert_eq!(s.published, ids);
    assert_eq!(s.distinct_served, 8);
    assert_eq!(s.flows_served, 11);
    // Esiti: once per id, or once per delivered version.
    let resent = p.clone();
    let first_esiti: Vec<Value> = first.iter().map(|e| esito(e, "OK")).collect();
    let body = serde_json::json!({ "elenco_esiti": first_esiti });
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 204);
    c.esiti_exactly_once().unwrap();
    assert!(
        c.esiti_exactly_once_per_version()
            .unwrap_err()
            .contains("3 versioni su 11")
    );
    let again: Vec<Value> = resent.iter().map(|e| esito(e, "OK")).collect();
    let body = serde_json::json!({ "elenco_esiti": again });
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 204);
    c.esiti_exactly_once_per_version().unwrap();
    assert!(c.esiti_exactly_once().is_err());
    assert!(c.stats().anomalies.is_empty());
    // Nothing served yet: a no-op.
    let c2 = comune().await;
    c2.inject(Fault::ResendAcquired);
    assert!(page(&c2, 0, Some(10)).await.is_empty());
    assert!(c2.stats().resent.is_empty());
    c2.shutdown().await;
    c.shutdown().await;
}

fn esito(e: &Value, codice: &str) -> Value {
    let mut v = serde_json::json!({
        "id_flusso": e["id_flusso"],
        "tipo": e["tipo"],
        "ts_flusso": e["ts_flusso"],
        "ts_acquisizione": ts::format_ms(ts::now_ms()),
        "codice_esito": codice,
    });
    if codice == "OK" {
        v["id_acquisizione_siuss"] = Value::from("22738");
    } else {
        v["descrizione_esito"] = Value::from("motivo");
    }
    v
}

async fn post_esiti(c: &FakeComune, body: &str) -> (u16, String) {
    let r = client()
        .post(format!("{}/esiti", c.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn esiti_are_validated_and_counted() {
    let c = comune().await;
    let ids = c.publish_generated(4, 1, 1);
    let p = page(&c, 0, Some(100)).await;
    let body = serde_json::json!({"elenco_esiti": [esito(&p[0], "OK"), esito(&p[1], "RICHIESTA_INVALIDA")]});
    assert_eq!(
        post_esiti(&c, &body.to_string()).await,
        (204, String::new())
    );
    assert!(
        c.esiti_exactly_once()
            .unwrap_err()
            .contains("2 flussi senza esito")
    );
    // A fault refuses the call: nothing counted.
    c.inject(Fault::EsitiStatus(503));
    let body =
        serde_json::json!({"elenco_esiti": [esito(&p[2], "OK"), esito(&p[3], "DATI_NON_TROVATI")]});
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 503);
    assert_eq!(c.stats().esiti.len(), 2);
    c.inject(Fault::EsitiRetryAfter {
        status: 429,
        secs: 2,
    });
    let r = client()
        .post(format!("{}/esiti", c.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 204);
    let s = c.stats();
    assert_eq!(s.esiti_refused, 4);
    assert!(
        s.invalid_requests.is_empty() && s.anomalies.is_empty(),
        "{s:?}"
    );
    assert_eq!(
        s.esiti[&ids[0]][0].id_acquisizione_siuss.as_deref(),
        Some("22738")
    );
    assert_eq!(s.esiti[&ids[1]][0].codice_esito, "RICHIESTA_INVALIDA");
    c.esiti_exactly_once().unwrap();
    // A second esito for the same flow is visible.
    let body = serde_json::json!({"elenco_esiti": [esito(&p[0], "OK")]});
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 204);
    assert_eq!(c.stats().esiti[&ids[0]].len(), 2);
    assert!(
        c.esiti_exactly_once()
            .unwrap_err()
            .contains("1 con più esiti")
    );

    // Invalid bodies: 400 and recorded, nothing counted.
    let ok_item = esito(&p[0], "OK");
    let mut no_id = ok_item.clone();
    no_id
        .as_object_mut()
        .unwrap()
        .remove("id_acquisizione_siuss");
    let mut bad_code = ok_item.clone();
    bad_code["codice_esito"] = Value::from("BENE");
    let mut bad_ts = ok_item.clone();
    bad_ts["ts_flusso"] = Value::from("ieri");
    let mut no_tipo = ok_item.clone();
    no_tipo.as_object_mut().unwrap().remove("tipo");
    let too_many = Value::Array(vec![ok_item.clone(); 101]);
    let bad = [
        serde_json::json!({"elenco_esiti": [no_id]}).to_string(),
        serde_json::json!({"elenco_esiti": [bad_code]}).to_string(),
        serde_json::json!({"elenco_esiti": [bad_ts]}).to_string(),
        serde_json::json!({"elenco_esiti": [no_tipo]}).to_string(),
        serde_json::json!({ "elenco_esiti": too_many }).to_string(),
        serde_json::json!({"elenco_esiti": [ok_item], "extra": 1}).to_string(),
        "{\"elenco_esiti\": [".to_string(),
        "[]".to_string(),
    ];
    for b in &bad {
        let (status, body) = post_esiti(&c, b).await;
        assert_eq!(status, 400, "{b}: {body}");
    }
    let r = client()
        .post(format!("{}/esiti", c.base_url()))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let s = c.stats();
    assert_eq!(s.invalid_requests.len(), bad.len() + 1);
    assert_eq!(s.esiti[&ids[0]].len(), 2);
    c.shutdown().await;
}

#[tokio::test]
async fn suspicious_esiti_are_anomalies() {
    let c = comune().await;
    c.publish_generated(2, 1, 1);
    let p = page(&c, 0, Some(1)).await;
    let mut wrong_ts = esito(&p[0], "OK");
    wrong_ts["ts_flusso"] = Value::from("2020-01-01T00:00:00.000Z");
    let mut wrong_tipo = esito(&p[0], "OK");
    wrong_tipo["tipo"] = Value::from(if p[0]["tipo"] == "SINBA" {
        "PS_PSA_SINA"
    } else {
        "SINBA"
    });
    let mut unknown = esito(&p[0], "ERRORE_GENERICO");
    unknown["id_flusso"] = Value::from("H501.PS.20200101.0000001");
    unknown["id_acquisizione_siuss"] = Value::from("1");
    let body = serde_json::json!({"elenco_esiti": [wrong_ts, wrong_tipo, unknown]});
    assert_eq!(post_esiti(&c, &body.to_string()).await.0, 204);
    let s = c.stats();
    assert_eq!(s.anomalies.len(), 4, "{:?}", s.anomalies);
    c.shutdown().await;
}

#[tokio::test]
async fn offline_refuses_then_recovers() {
    let c = comune().await;
    c.publish_generated(2, 1, 1);
    let url = format!("{}/flussi?since=0", c.base_url());
    c.set_offline(true);
    // Fresh client: a new connection, closed at once.
    let r = client().get(&url).send().await;
    assert!(r.is_err(), "{r:?}");
    c.set_offline(false);
    let http = client();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    // A pooled connection: 503 and closed.
    c.set_offline(true);
    match http.get(&url).send().await {
        Ok(r) => assert_eq!(r.status(), 503),
        Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
    }
    c.set_offline(false);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    c.shutdown().await;
}

#[tokio::test]
async fn broken_entries() {
    let c = comune().await;
    let mut ids = Vec::new();
    for (i, k) in Breakage::ALL.iter().enumerate() {
        ids.push((*k, c.publish_broken(*k, i as u64)));
    }
    let p = page(&c, 0, Some(100)).await;
    assert_eq!(p.len(), Breakage::ALL.len());
    let b64 = base64::engine::general_purpose::STANDARD;
    for ((k, id), e) in ids.iter().zip(&p) {
        assert_eq!(&e["id_flusso"], id.as_str());
        let flusso = e["flusso"].as_str().unwrap();
        let xml = b64
            .decode(flusso)
            .map(|x| String::from_utf8_lossy(&x).into_owned());
        match k {
            Breakage::InvalidBase64 => assert!(xml.is_err()),
            Breakage::Oversize => {
                assert!(flusso.len() > 10_000_000);
                assert!(xml.unwrap().contains(&format!("Nome=\"{id}\"")));
            }
            Breakage::WrongCodiceEnte => {
                assert_ne!(e["codice_ente"], "H501");
                assert!(xml.unwrap().contains("Codice=\"H501\""));
            }
            Breakage::WrongTipo => {
                assert_eq!(e["tipo"], "SINBA");
                assert!(xml.unwrap().contains("<Beneficiario "));
            }
            Breakage::UnknownTipo => assert_eq!(e["tipo"], "PS-PSA-SINA"),
            Breakage::NotXml => assert!(!xml.unwrap().contains('<')),
            Breakage::TwoBenefits => {
                let x = xml.unwrap();
                assert_eq!(x.matches("<Beneficiario ").count(), 1);
                assert_eq!(x.matches("<PrestazioniSociali ").count(), 2);
            }
            Breakage::TwoBeneficiaries => {
                let x = xml.unwrap();
                assert_eq!(x.matches("<Beneficiario ").count(), 2);
                assert_eq!(x.matches("<PrestazioniSociali ").count(), 2);
            }
        }
    }
    // A raw entry published in the past lands in timestamp order.
    let mut e = c.make_entry(99, true);
    e.ts_flusso_ms = 1_000;
    let early = e.id_flusso.clone();
    c.publish(e);
    let p = page(&c, 0, Some(1)).await;
    assert_eq!(id(&p[0]), early);
    c.shutdown().await;
}

#[tokio::test]
async fn bad_config_is_refused() {
    for codice in ["h501", "H5011", "", "1501"] {
        assert!(
            start(FakeConfig::new(codice, "x")).await.is_err(),
            "{codice}"
        );
    }
}
