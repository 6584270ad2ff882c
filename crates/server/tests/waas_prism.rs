//! Conformance of the WaaS poller with the official contract: Prism
//! (`@stoplight/prism-cli`) mocks the comune from `waas-api-comuni.yaml`
//! (a verbatim copy of the INPS file in `tests/waas/`), with request
//! validation errors turned into error responses (`--errors`). The poller
//! must acquire the two example flows Prism serves, with their outcomes
//! under our rules, and every call it makes — `POST /esiti` included —
//! must pass Prism's validation.
//!
//! Expected outcomes:
//! - `H501.PS.20210520.0000002` carries one beneficiary with three
//!   `PrestazioniSociali`: the channel allows one benefit per flow, so
//!   `RICHIESTA_INVALIDA` ("In cooperazione è possibile inviare solo un
//!   beneficiario e una prestazione sociale" in INPS's words).
//! - `H501.PS.20210520.00000004` (`tipo` SINBA, XML `Nome`
//!   `H501.SINBA.20210520.00000004`: the documented sample inconsistency,
//!   tolerated because only the TIPO segment differs) is a valid SINBA
//!   document that breaks a business rule of the strict profile: residence
//!   in Italy (`CodiceNazioneResidenza` 380) without `CodiceRegioneResidenza`
//!   → `DATI_NON_TROVATI`.
//!
//! Prism serves the same static example whatever `since` is, so the second
//! page brings nothing new and no cursor progress: the poll stops there.
//!
//! Needs `prism` on PATH (`npm install -g @stoplight/prism-cli`); without
//! it the test prints SKIP, unless `CASELLARIO_REQUIRE_EXTERNAL=1`.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use casellario_server::{AppState, Config, waas};
use casellario_store::waas::{Credential, EndpointAttrs};

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Kills Prism (our own child) however the test ends.
struct Prism {
    child: Child,
    log: PathBuf,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prism {
    fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_serves_the_contract_and_validates_every_call() {
    let Some(prism) = find_on_path("prism") else {
        if std::env::var("CASELLARIO_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("prism not found on PATH and CASELLARIO_REQUIRE_EXTERNAL=1");
        }
        eprintln!("SKIP: prism not found on PATH (npm install -g @stoplight/prism-cli)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/waas/waas-api-comuni.yaml"
    );
    let port = free_port();
    let log = dir.path().join("prism.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(prism)
        .args([
            "mock",
            spec,
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--errors",
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let prism = Prism { child, log };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prism did not start: {}",
            prism.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let cfg = Config {
        db: dir.path().join("t.db"),
        waas_timeout_ms: 10_000,
        ..Config::default()
    };
    let state = AppState::new(cfg).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let ente = state
        .db
        .write(move |s| {
            let id = support::comune(s, "H501", "H501", "Comune di Roma")?;
            s.set_waas_endpoint(
                id,
                &EndpointAttrs {
                    base_url: &base,
                    credential: Credential::Token("token-pdnd-di-prova".into()),
                    interval_secs: 300,
                    enabled: true,
                },
                None,
            )?;
            Ok(id)
        })
        .await
        .unwrap();

    let s = waas::poll_once(&state, "H501").await.unwrap();
    let log = prism.log();
    assert!(s.fault.is_none(), "{s:?}\n{log}");
    assert_eq!(s.pages, 2, "{s:?}");
    assert_eq!(s.new_flows, 2, "{s:?}");
    assert_eq!(s.duplicates, 2, "{s:?}");
    assert_eq!(s.esiti_delivered, 2, "{s:?}\n{log}");
    assert_eq!(s.esiti_pending, 0, "{s:?}");
    assert!(s.esiti_fault.is_none(), "{s:?}\n{log}");
    // 2023-11-27T11:04:56.852Z
    assert_eq!(s.cursor_ms, 1_701_083_096_852);
    assert!(
        s.anomalies
            .iter()
            .any(|a| a.codice == "WAAS_ID_FLUSSO_TIPO_DIVERSO"),
        "{s:?}"
    );

    let acq = state
        .db
        .run(move |s| Ok(s.waas_acquisitions(ente, 10)?))
        .await
        .unwrap();
    let by_id = |id: &str| acq.iter().find(|a| a.id_flusso == id).unwrap();
    let ps = by_id("H501.PS.20210520.0000002");
    assert_eq!(ps.tipo, "PS_PSA_SINA");
    assert_eq!(ps.codice_esito.wire(), "RICHIESTA_INVALIDA", "{ps:?}");
    assert!(ps.id_acquisizione_siuss.is_none());
    let sinba = by_id("H501.PS.20210520.00000004");
    assert_eq!(sinba.tipo, "SINBA");
    assert_eq!(sinba.codice_esito.wire(), "DATI_NON_TROVATI", "{sinba:?}");
    assert!(
        sinba
            .descrizione_esito
            .as_deref()
            .unwrap_or("")
            .contains("CodiceRegioneResidenza"),
        "{sinba:?}"
    );

    // Prism validated every request: GET /flussi twice, POST /esiti once,
    // none with a violation (with --errors a violation would also have
    // been answered 4xx, failing the poll above).
    let gets = log.matches("get /flussi").count();
    let posts = log.matches("post /esiti").count();
    assert_eq!((gets, posts), (2, 1), "{log}");
    assert!(!log.contains("Violation"), "{log}");
    assert!(
        !log.contains("Request did not pass the validation rules"),
        "{log}"
    );
}
