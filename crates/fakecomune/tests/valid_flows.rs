//! The generated flows are what the register accepts on the WaaS channel:
//! every one stored (one record each, no duplicate across the batch), and the
//! deliberately broken ones refused by the channel rule.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use casellario_domain::{Channel, CodiceEsito, Date};
use casellario_fakecomune::{Breakage, FakeConfig, start, ts};
use casellario_ingest::{IngestOptions, ingest};
use casellario_store::Store;
use serde_json::Value;

fn today() -> Date {
    let d = ts::yyyymmdd(ts::now_ms());
    Date::new((d / 10_000) as i32, (d / 100 % 100) as u8, (d % 100) as u8).unwrap()
}

fn opts() -> IngestOptions {
    let mut o = IngestOptions::new(today());
    o.channel = Channel::Waas;
    o.caller_ente = Some("H501".into());
    o
}

/// Every entry, paging with `since` = the millisecond before the last one
/// seen (pages may end inside a group) and skipping repeats.
async fn entries(c: &casellario_fakecomune::FakeComune) -> Vec<Value> {
    let mut since = 0;
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    loop {
        let body = reqwest::get(format!("{}/flussi?since={since}&limit=100", c.base_url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let page = v["elenco_flussi"].as_array().unwrap().clone();
        let before = all.len();
        for e in page {
            since = ts::parse_ms(e["ts_flusso"].as_str().unwrap()).unwrap() - 1;
            if seen.insert(e["id_flusso"].as_str().unwrap().to_string()) {
                all.push(e);
            }
        }
        if all.len() == before {
            return all;
        }
    }
}

fn decode(e: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(e["flusso"].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn generated_flows_are_stored_one_record_each() {
    let c = start(FakeConfig::new("H501", "Comune di Roma"))
        .await
        .unwrap();
    let ids = c.publish_generated(400, 11, 2);
    let list = entries(&c).await;
    assert_eq!(list.len(), 400);
    let mut store = Store::open_in_memory().unwrap();
    for (e, id) in list.iter().zip(&ids) {
        let xml = decode(e);
        let ing = ingest(&xml[..], &opts(), Some(&mut store), None).unwrap();
        let r = &ing.report;
        assert_eq!(r.id_flusso.as_deref(), Some(id.as_str()));
        assert_eq!(r.codice_esito, CodiceEsito::Ok, "{id}: {r:?}");
        assert_eq!(
            (r.totals.records, r.totals.accettati),
            (1, 1),
            "{id}: {r:?}"
        );
        assert!(r.stored, "{id}");
        assert_eq!(r.tipo.map(|t| t.wire()), e["tipo"].as_str());
    }
    c.shutdown().await;
}

#[tokio::test]
async fn two_records_in_one_flow_break_the_channel_rule() {
    let c = start(FakeConfig::new("H501", "Comune di Roma"))
        .await
        .unwrap();
    c.publish_broken(Breakage::TwoBenefits, 1);
    c.publish_broken(Breakage::TwoBeneficiaries, 2);
    for e in entries(&c).await {
        let xml = decode(&e);
        let ing = ingest(&xml[..], &opts(), None, None).unwrap();
        let r = &ing.report;
        assert!(r.rejected_whole, "{r:?}");
        assert_eq!(r.codice_esito, CodiceEsito::RichiestaInvalida, "{r:?}");
    }
    c.shutdown().await;
}
