#![no_main]
//! The XML reader on arbitrary bytes: no panic, no hang, stream contract kept.

use casellario_formats::XmlFlowReader;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (opts, bytes) = common::options(data);
    common::drive(XmlFlowReader::new(bytes, opts));
});
