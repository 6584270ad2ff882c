#![no_main]
//! The JSON flow converter on arbitrary bytes: no panic, no hang; what it
//! accepts is XML the reader reads without a fatal error and that converts
//! back to the same JSON value (so to the same bytes); what it refuses comes
//! with violations of the rules catalogue.

use casellario_formats::json::{flow_json_to_xml, flow_xml_to_json};
use casellario_formats::{ReadOptions, XmlFlowReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match flow_json_to_xml(data) {
        Ok(xml) => {
            for item in XmlFlowReader::new(&xml[..], ReadOptions::default()) {
                if let Err(e) = item {
                    panic!("the converter wrote XML the reader refuses: {e}");
                }
            }
            let value = flow_xml_to_json(&xml).expect("its own XML converts back");
            let again = flow_json_to_xml(value.to_string().as_bytes()).expect("and forth");
            assert_eq!(xml, again, "not a fixed point");
        }
        Err(e) => {
            assert!(!e.violations.is_empty());
            for v in &e.violations {
                assert!(
                    casellario_domain::rules::find_rule(&v.rule).is_some(),
                    "unknown code {}",
                    v.rule
                );
            }
        }
    }
});
