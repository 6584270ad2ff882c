//! The JSON form of a flow, as the API uses it: conversion to the XML the
//! pipeline reads, its schema and an example for the OpenAPI document.
//! Everything is `casellario_formats::json`; this module only adapts it.

use casellario_domain::Violation;
use casellario_formats::json;

/// The XML of a JSON flow (deterministic bytes, so a resent JSON flow has
/// the same content hash), or the violations that prevent the mapping or
/// break the schema the OpenAPI document publishes for it.
pub fn to_xml(body: &[u8]) -> Result<Vec<u8>, Vec<Violation>> {
    json::conforming_flow_json_to_xml(body).map_err(|e| e.violations)
}

/// JSON Schema of the JSON flow (OpenAPI 3 compatible).
pub fn schema() -> serde_json::Value {
    json::flow_json_schema()
}

/// The JSON form of `xml` (an empty object if it cannot be written, which
/// a test rules out for the document's example).
pub fn example(xml: &str) -> serde_json::Value {
    json::flow_xml_to_json(xml.as_bytes()).unwrap_or_else(|_| serde_json::json!({}))
}
