#![no_main]
//! The register's payload decoder on arbitrary bytes: no panic, and whatever
//! decodes re-encodes canonically and decodes back to the same record.

use casellario_domain::codec::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = decode(data) {
        let mut canonical = Vec::new();
        encode(&record, &mut canonical);
        let back = decode(&canonical).expect("a re-encoded record decodes");
        assert_eq!(back, record, "decode(encode(r)) != r");
        let mut again = Vec::new();
        encode(&back, &mut again);
        assert_eq!(again, canonical, "the encoding is not canonical");
    }
});
