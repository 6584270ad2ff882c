//! Measures `FlowTx::insert_version` throughput into a fresh file-backed
//! register: `cargo run --release -p casellario-store --example insert_speed [rows]`.

use std::time::Instant;

use casellario_domain::{Channel, CodiceEsito, FlowType, Profile};
use casellario_store::{FlowBegin, FlowFinish, NewFlow, NewVersion, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 200_000,
    };
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("speed.sqlite"))?;
    let meta = NewFlow {
        nome: "speed",
        tipo: FlowType::PsPsaSina,
        channel: Channel::Upload,
        profile: Profile::Strict,
        ente_codice: "E001",
        ente_denominazione: None,
        ente_belfiore: "H501",
        cf_operatore: "RSSMRA80A01H501U",
        source_name: None,
    };
    let FlowBegin::New(mut tx) = store.begin_flow(&meta)? else {
        return Err("flow exists".into());
    };
    let payload = vec![0x5au8; 600];
    let start = Instant::now();
    let mut key = [0u8; 16];
    let mut hash = [0u8; 16];
    for pos in 1..=rows {
        // Spread keys like a hash would (random order in the key index).
        let k = pos.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        key[..8].copy_from_slice(&k.to_le_bytes());
        key[8..].copy_from_slice(&(!k).to_le_bytes());
        hash[..8].copy_from_slice(&pos.to_le_bytes());
        tx.insert_version(&NewVersion {
            pos,
            key,
            content_hash: hash,
            subject: "RSSMRA80A01H501U",
            codice_prestazione: Some("A1.01"),
            protocollo: Some("PROT-000123"),
            data_riferimento: Some("2025-01-01"),
            payload: &payload,
        })?;
    }
    let inserted = start.elapsed();
    tx.commit(&FlowFinish {
        content_sha256: [0; 32],
        size_bytes: 0,
        record_count: rows,
        accettati: rows,
        duplicati: 0,
        scartati: 0,
        avvisi: 0,
        codice_esito: CodiceEsito::Ok,
        flow_violations: Vec::new(),
    })?;
    let total = start.elapsed();
    let n = rows as f64;
    println!(
        "{rows} insert_version: {:.0} rows/s before commit ({:.2?}); {:.0} rows/s including commit ({:.2?})",
        n / inserted.as_secs_f64(),
        inserted,
        n / total.as_secs_f64(),
        total
    );
    // With lookups, as the pipeline does for a non-empty ente.
    let meta2 = NewFlow {
        nome: "speed-2",
        ..meta
    };
    let FlowBegin::New(mut tx) = store.begin_flow(&meta2)? else {
        return Err("flow exists".into());
    };
    let start = Instant::now();
    let mut found = 0u64;
    for pos in 1..=rows {
        let k = (pos + rows).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        key[..8].copy_from_slice(&k.to_le_bytes());
        key[8..].copy_from_slice(&(!k).to_le_bytes());
        found += u64::from(tx.live_by_key(&key)?.is_some());
        tx.insert_version(&NewVersion {
            pos,
            key,
            content_hash: hash,
            subject: "RSSMRA80A01H501U",
            codice_prestazione: Some("A1.01"),
            protocollo: Some("PROT-000123"),
            data_riferimento: Some("2025-01-01"),
            payload: &payload,
        })?;
    }
    let looked = start.elapsed();
    drop(tx);
    println!(
        "{rows} live_by_key + insert_version: {:.0} rows/s ({:.2?}, {found} found)",
        n / looked.as_secs_f64(),
        looked
    );
    Ok(())
}
