//! `casellario bench --waas`: the WaaS poller end to end.
//!
//! A fake comune (crate `casellario-fakecomune`, in-process on a free port)
//! publishes N one-record flows (default 100,000; three flows share each
//! `ts_flusso` millisecond, so pages end inside groups). The baseline, run in
//! the same invocation, is the transport alone: every page fetched over HTTP,
//! its JSON parsed and every `flusso` base64-decoded, nothing stored. Then
//! the poller (`waas::poll_once`, what `serve`'s scheduler and `casellario
//! waas poll` run) acquires them all into a fresh register: every flow
//! through the pipeline, each page with its acquisitions and cursor in one
//! transaction, and every outcome delivered with `POST /esiti`. The target
//! is at least 5,000 flows per second.

use std::time::{Duration, Instant};

use casellario_domain::access::EnteKind;
use casellario_fakecomune::FakeConfig;
use casellario_server::{AppState, Config};
use casellario_store::Store;
use casellario_store::portal::EnteAttrs;
use casellario_store::waas::{Credential, EndpointAttrs};

use crate::CliError;

const ENTE: &str = "H501";
const TOKEN: &str = "bench-token-waas";
const TARGET: f64 = 5_000.0;

fn msg(e: impl std::fmt::Display) -> CliError {
    CliError::Msg(e.to_string())
}

/// Fetches every page and decodes every flow, storing nothing.
async fn transport_only(base: &str) -> Result<(u64, u64), CliError> {
    use base64::Engine;
    let client = reqwest::Client::new();
    let mut since = 0i64;
    let (mut flows, mut bytes) = (0u64, 0u64);
    loop {
        let body = client
            .get(format!("{base}/flussi?since={since}&limit=100"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map_err(msg)?
            .bytes()
            .await
            .map_err(msg)?;
        let page: serde_json::Value = serde_json::from_slice(&body).map_err(msg)?;
        let entries = page["elenco_flussi"]
            .as_array()
            .ok_or_else(|| msg("pagina senza elenco_flussi"))?;
        if entries.is_empty() {
            return Ok((flows, bytes));
        }
        for e in entries {
            let xml = base64::engine::general_purpose::STANDARD
                .decode(e["flusso"].as_str().unwrap_or_default())
                .map_err(msg)?;
            bytes += xml.len() as u64;
            flows += 1;
        }
        // Strictly after the last millisecond: complete pages only end on a
        // millisecond boundary here because the baseline asks for every
        // flow of the last millisecond again, as the poller does.
        let last = entries
            .last()
            .and_then(|e| e["ts_flusso"].as_str())
            .and_then(casellario_server::waas::envelope::parse_ts)
            .ok_or_else(|| msg("ts_flusso illeggibile"))?;
        if entries.len() == 100 {
            // Re-read the last millisecond's group: count only what is new.
            let group = entries
                .iter()
                .rev()
                .take_while(|e| {
                    e["ts_flusso"]
                        .as_str()
                        .and_then(casellario_server::waas::envelope::parse_ts)
                        == Some(last)
                })
                .count() as u64;
            flows -= group;
            since = last - 1;
            if group == 100 {
                return Err(msg("più di 100 flussi nello stesso millisecondo"));
            }
        } else {
            since = last;
        }
    }
}

pub fn run(flows: usize, seed: u64) -> Result<u8, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(flows, seed))
}

async fn run_async(flows: usize, seed: u64) -> Result<u8, CliError> {
    println!(
        "casellario bench --waas — {flows} flussi di un record da un comune simulato (3 per millisecondo)"
    );
    let mut cfg = FakeConfig::new(ENTE, "Comune di Roma");
    cfg.token = Some(TOKEN.into());
    let fake = casellario_fakecomune::start(cfg).await?;
    let t = Instant::now();
    let ids = fake.publish_generated(flows, seed, 3);
    println!(
        "comune simulato: {} flussi pubblicati in {:.1} s su {}",
        ids.len(),
        t.elapsed().as_secs_f64(),
        fake.base_url()
    );

    let t = Instant::now();
    let (read, bytes) = transport_only(&fake.base_url()).await?;
    let base_s = t.elapsed().as_secs_f64();
    if read != flows as u64 {
        return Err(msg(format!(
            "la lettura di base ha trovato {read} flussi su {flows}"
        )));
    }

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("waas.db");
    {
        let mut store = Store::open(&db)?;
        let ente_id = store.create_ente(
            ENTE,
            &EnteAttrs {
                denominazione: "Comune di Roma",
                belfiore: ENTE,
                tipo: EnteKind::Comune,
                attivo: true,
            },
            None,
        )?;
        store.set_waas_endpoint(
            ente_id,
            &EndpointAttrs {
                base_url: &fake.base_url(),
                credential: Credential::Token(TOKEN.into()),
                interval_secs: 3600,
                enabled: true,
            },
            None,
        )?;
    }
    let state = AppState::new(Config {
        db: db.clone(),
        waas_enabled: false,
        ..Config::default()
    })
    .map_err(msg)?;
    let t = Instant::now();
    let summary = casellario_server::waas::poll::poll_once(&state, ENTE)
        .await
        .map_err(msg)?;
    let poll_s = t.elapsed().as_secs_f64();
    if let Some(f) = &summary.fault {
        return Err(msg(format!(
            "il poll ha incontrato un guasto: {} {}",
            f.code, f.message
        )));
    }
    let delivered = fake.wait_esiti(flows, Duration::from_secs(30)).await;
    let stored = Store::open(&db)?.counts()?;
    let once = fake.esiti_exactly_once();

    let rate = |n: u64, s: f64| n as f64 / s;
    println!();
    println!(
        "{:<58} {:>9} {:>11} {:>10}",
        "fase", "tempo", "flussi/s", "× base"
    );
    println!(
        "{:<58} {:>8.2}s {:>11.0} {:>9.2}×",
        "solo trasporto: GET /flussi + JSON + base64 (baseline)",
        base_s,
        rate(read, base_s),
        1.0
    );
    println!(
        "{:<58} {:>8.2}s {:>11.0} {:>9.2}×",
        "poller WaaS: pipeline + registro + POST /esiti",
        poll_s,
        rate(u64::from(summary.new_flows), poll_s),
        base_s / poll_s
    );
    println!();
    println!(
        "pagine {}, flussi nuovi {}, già acquisiti {}, esiti consegnati {}, in attesa {}; \
         registro: {} flussi, {} record; {:.1} MB di XML",
        summary.pages,
        summary.new_flows,
        summary.duplicates,
        summary.esiti_delivered,
        summary.esiti_pending,
        stored.flows,
        stored.versions,
        bytes as f64 / 1e6
    );
    let exact = summary.new_flows as usize == flows
        && stored.flows as usize == flows
        && delivered
        && once.is_ok();
    match &once {
        Ok(()) => println!("esiti: uno per flusso, come il comune li ha ricevuti — OK"),
        Err(e) => println!("esiti: NON uno per flusso: {e}"),
    }
    let speed = rate(u64::from(summary.new_flows), poll_s);
    let ok = speed >= TARGET;
    println!(
        "poller: {:.0} flussi/s (richiesto ≥ {:.0}) — {}",
        speed,
        TARGET,
        if ok { "OK" } else { "NON RAGGIUNTO" }
    );
    fake.shutdown().await;
    Ok(if ok && exact { 0 } else { 1 })
}
