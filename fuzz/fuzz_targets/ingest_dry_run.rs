#![no_main]
//! The whole pipeline (format detection, reader, rules, resolution, receipt)
//! on arbitrary bytes, as a dry run: never an internal error or a panic, and
//! the receipt is JSON whose totals match its records.

use casellario_domain::{Channel, Date, Esito, Profile};
use casellario_ingest::{IngestOptions, ingest, receipt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(today) = Date::new(2026, 6, 30) else {
        return;
    };
    let mut opts = IngestOptions::new(today);
    // The first byte picks the profile and channel.
    let bytes = match data.split_first() {
        Some((&b, rest)) if b & 0x80 != 0 => {
            opts.profile = if b & 1 == 0 {
                Profile::Strict
            } else {
                Profile::Compat
            };
            opts.channel = match (b >> 1) & 3 {
                0 => Channel::Upload,
                1 => Channel::Form,
                2 => Channel::Coop,
                _ => Channel::Waas,
            };
            rest
        }
        _ => data,
    };
    let mut ing = ingest(bytes, &opts, None, None).expect("ingest never fails on bad input");
    let mut json = Vec::new();
    receipt::write_json(&mut ing, &mut json).expect("receipt");
    let v: serde_json::Value = serde_json::from_slice(&json).expect("the receipt is JSON");
    let recs = v["record"].as_array().expect("record array");
    let count = |e: Esito| recs.iter().filter(|r| r["esito"] == e.wire()).count() as u64;
    let t = &ing.report.totals;
    assert_eq!(recs.len() as u64, t.records, "records vs totals");
    assert_eq!(count(Esito::Accettato), t.accettati, "accettati");
    assert_eq!(count(Esito::Duplicato), t.duplicati, "duplicati");
    assert_eq!(count(Esito::Scartato), t.scartati, "scartati");
    if ing.report.rejected_whole {
        assert_eq!(
            t.accettati + t.duplicati,
            0,
            "a flow rejected whole accepts nothing"
        );
    }
});
