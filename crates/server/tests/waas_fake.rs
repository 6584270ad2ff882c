//! The WaaS poller against `casellario-fakecomune`, the fake comune of the
//! test suite (generated flows, the official API, fault injection): the
//! end-to-end count under every fault the fake can inject and every way it
//! can break an entry — each published flow stored exactly once, each
//! outcome received exactly once by the comune, no request the comune
//! finds out of contract.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use casellario_fakecomune::{Breakage, FakeConfig, Fault, start};
use casellario_server::{AppState, Config, waas};
use casellario_store::waas::{Credential, EndpointAttrs};

const TOKEN: &str = "voucher-pdnd-di-prova";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_flow_once_and_every_outcome_once_through_faults() {
    let comune = start(FakeConfig {
        token: Some(TOKEN.into()),
        codice_ente: "H501".into(),
        denominazione: "Comune di Roma".into(),
    })
    .await
    .unwrap();
    // Groups of 3 flows per millisecond: pages end inside groups.
    let good = comune.publish_generated(420, 42, 3);
    let mut broken = Vec::new();
    for (i, b) in Breakage::ALL.iter().enumerate() {
        broken.push(comune.publish_broken(*b, 9_000 + i as u64));
    }
    let more = comune.publish_generated(180, 43, 1);
    for f in [
        Fault::Status(503),
        Fault::RetryAfter {
            status: 429,
            secs: 1,
        },
        Fault::MalformedJson,
        Fault::Delay { ms: 200 },
        Fault::Timeout,
        Fault::EsitiStatus(500),
        Fault::ResendAcquired,
        Fault::EsitiRetryAfter {
            status: 503,
            secs: 1,
        },
        Fault::EsitiTimeout,
        Fault::Status(500),
        Fault::ResendAcquired,
    ] {
        comune.inject(f);
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        db: dir.path().join("t.db"),
        waas_timeout_ms: 2_000,
        waas_backoff_base_ms: 100,
        waas_backoff_max_ms: 400,
        ..Config::default()
    };
    let state = AppState::new(cfg).unwrap();
    let base = comune.base_url();
    let ente = state
        .db
        .write(move |s| {
            let id = support::comune(s, "H501", "H501", "Comune di Roma")?;
            s.set_waas_endpoint(
                id,
                &EndpointAttrs {
                    base_url: &base,
                    credential: Credential::Token(TOKEN.into()),
                    interval_secs: 60,
                    enabled: true,
                },
                None,
            )?;
            Ok(id)
        })
        .await
        .unwrap();

    let mut faults = Vec::new();
    let total = good.len() + broken.len() + more.len();
    for _ in 0..60 {
        let s = waas::poll_once(&state, "H501").await.unwrap();
        if let Some(f) = &s.fault {
            faults.push(f.code);
        }
        let st = comune.stats();
        if st.faults_pending == 0 && st.esiti.len() == total && s.fault.is_none() {
            break;
        }
        // Past the backoff of the outcomes (and any Retry-After).
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    let st = comune.stats();
    assert_eq!(st.faults_pending, 0, "{st:?}");
    assert!(st.invalid_requests.is_empty(), "{:?}", st.invalid_requests);
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    assert!(!st.resent.is_empty());
    st.esiti_exactly_once().unwrap();
    for id in good.iter().chain(&more) {
        let e = &st.esiti[id][0];
        assert_eq!(e.codice_esito, "OK", "{id}: {e:?}");
        assert!(e.id_acquisizione_siuss.is_some());
    }
    for id in &broken {
        let e = &st.esiti[id][0];
        assert_eq!(e.codice_esito, "RICHIESTA_INVALIDA", "{id}: {e:?}");
        assert!(
            e.descrizione_esito
                .as_deref()
                .is_some_and(|d| !d.is_empty())
        );
    }
    for code in [
        "WAAS_HTTP_ERRORE",
        "WAAS_RITENTA_DOPO",
        "WAAS_JSON_NON_VALIDO",
        "WAAS_TIMEOUT",
    ] {
        assert!(faults.contains(&code), "{code} not in {faults:?}");
    }
    // The register: every entry acquired once, every good flow stored once.
    let (acquired, flows) = state
        .db
        .run(move |s| Ok((s.waas_acquisitions(ente, 100_000)?.len(), s.counts()?.flows)))
        .await
        .unwrap();
    assert_eq!(acquired, total);
    assert_eq!(flows as usize, good.len() + more.len());
    comune.shutdown().await;
}
