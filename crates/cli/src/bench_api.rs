//! `casellario bench --api`: the cooperation API under load.
//!
//! Starts `serve` in-process on a free port with a fresh register, an ente
//! and a client of its software, takes a token, and drives `wrk` (2 threads,
//! 64 connections by default) for a fixed time. The baseline, run first in the same
//! invocation, is the health check `GET /api/v1/status` on the same server
//! (routing, middleware, one read of the register, JSON). Then `POST /api/v1/flussi` with
//! a new one-record flow on every request — each its own flow name and
//! natural key, so every request is a real acquisition: JWT check, rate
//! limit, the pipeline, the register (group-committed) and the receipt. The
//! target is at least 3,000 submissions per second with p99 under 50 ms.

use std::time::Duration;

use casellario_domain::FlowType;
use casellario_domain::access::EnteKind;
use casellario_server::{AppState, Config};
use casellario_store::Store;
use casellario_store::portal::EnteAttrs;

use crate::CliError;
use crate::wrk::{self, WrkRun};

const ENTE: &str = "H501";
const TARGET_RPS: f64 = 3_000.0;
const TARGET_P99_MS: f64 = 50.0;

fn msg(e: impl std::fmt::Display) -> CliError {
    CliError::Msg(e.to_string())
}

/// A one-record flow whose name and `ProtocolloDomanda` carry `@@N@@`, which
/// the Lua script replaces with a request counter.
fn template(seed: u64) -> Result<String, CliError> {
    let opts = casellario_gen::GenOptions {
        ente_codice: Some(ENTE.into()),
        ente_belfiore: Some(ENTE.into()),
        nome: Some(format!("{ENTE}.PS.20261127.@@N@@")),
        ..casellario_gen::GenOptions::new(FlowType::PsPsaSina, 1, seed)
    };
    let mut xml = Vec::new();
    casellario_gen::write_xml(&opts, &mut xml)?;
    let xml = String::from_utf8(xml).map_err(msg)?;
    let at = xml
        .find("ProtocolloDomanda=\"")
        .ok_or_else(|| msg("il flusso generato non ha ProtocolloDomanda"))?
        + "ProtocolloDomanda=\"".len();
    let end = at
        + xml[at..]
            .find('"')
            .ok_or_else(|| msg("attributo non chiuso"))?;
    Ok(format!("{}B@@N@@{}", &xml[..at], &xml[end..]))
}

const STATUS_LUA: &str = r#"
request = function()
  return wrk.format("GET", "/api/v1/status")
end
"#;

/// Each wrk thread numbers its requests from its own range: names and keys
/// never repeat across threads.
const SUBMIT_LUA: &str = r#"
local next_id = 0
setup = function(thread)
  thread:set("base", next_id * 1000000)
  next_id = next_id + 1
end
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  template = f:read("*a")
  f:close()
  token = args[2]
  counter = 0
end
request = function()
  counter = counter + 1
  local n = string.format("%07d", base + counter)
  local body = template:gsub("@@N@@", n)
  return wrk.format("POST", "/api/v1/flussi",
    { ["Content-Type"] = "application/xml", ["Authorization"] = "Bearer " .. token }, body)
end
"#;

pub fn run(seconds: u32, connections: u32, seed: u64) -> Result<u8, CliError> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("api.db");
    println!(
        "casellario bench --api — invii di un record via POST /api/v1/flussi, wrk 2 thread, {connections} connessioni, {seconds} s"
    );
    let (client_id, secret) = {
        use casellario_server::api::auth::{SCOPES, new_credentials, secret_hash};
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
        let (client_id, secret) = new_credentials();
        store.create_api_client(&casellario_store::api::NewApiClient {
            client_id: &client_id,
            ente_id,
            secret_hash: &secret_hash(&secret),
            scopes: &SCOPES,
            label: "banco di prova",
            created_by: None,
        })?;
        (client_id, secret)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let state = AppState::new(Config {
        db: db.clone(),
        // One client sends everything: its quota must not be the limit.
        api_rate_per_second: 1_000_000,
        api_rate_burst: 1_000_000,
        ..Config::default()
    })
    .map_err(|e| msg(e.to_string()))?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(casellario_server::serve_on(listener, state));
    let base = format!("http://{addr}");

    let token = {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(msg)?;
        let r = client
            .post(format!("{base}/api/v1/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .map_err(msg)?;
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().map_err(msg)?).map_err(msg)?;
        v["access_token"]
            .as_str()
            .ok_or_else(|| msg(format!("token non rilasciato: {v}")))?
            .to_string()
    };
    let tpl = dir.path().join("flusso.xml");
    std::fs::write(&tpl, template(seed)?)?;
    let tpl_s = tpl.to_string_lossy().into_owned();

    let floor = wrk::run(&base, STATUS_LUA, &[], 2, connections, seconds, dir.path())?;
    let push = wrk::run(
        &base,
        SUBMIT_LUA,
        &[tpl_s.as_str(), token.as_str()],
        2,
        connections,
        seconds,
        dir.path(),
    )?;
    // Let the last group commit settle before counting.
    std::thread::sleep(Duration::from_millis(200));
    let counts = Store::open(&db)?.counts()?;

    println!();
    println!(
        "{:<52} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "richiesta", "richieste", "al sec.", "p50", "p99", "× base"
    );
    let line = |name: &str, r: &WrkRun| {
        println!(
            "{:<52} {:>10} {:>10.0} {:>7.2}ms {:>7.2}ms {:>8.3}×",
            name,
            r.requests,
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.per_second / floor.per_second
        );
    };
    line("GET /api/v1/status (baseline: HTTP + una lettura)", &floor);
    line("POST /api/v1/flussi (un record, nuovo ogni volta)", &push);
    println!();
    println!(
        "risposte non 2xx: {}, errori di connessione: {}; registro: {} flussi, {} record",
        push.bad_status, push.socket_errors, counts.flows, counts.versions
    );
    let all_stored = push.bad_status == 0 && push.socket_errors == 0;
    let rps_ok = push.per_second >= TARGET_RPS;
    let p99_ok = push.p99_ms < TARGET_P99_MS;
    println!(
        "invii: {:.0}/s (richiesto ≥ {:.0}) — {}; p99 {:.1} ms (richiesto < {:.0} ms) — {}",
        push.per_second,
        TARGET_RPS,
        if rps_ok { "OK" } else { "NON RAGGIUNTO" },
        push.p99_ms,
        TARGET_P99_MS,
        if p99_ok { "OK" } else { "NON RAGGIUNTO" }
    );
    if counts.versions < push.requests {
        println!(
            "ATTENZIONE: {} richieste ma {} record nel registro",
            push.requests, counts.versions
        );
    }
    Ok(if rps_ok && p99_ok && all_stored { 0 } else { 1 })
}
