//! One `Flusso` entry of `GET /flussi` (the contract's envelope): decoded and
//! checked here, off the writer lane, before the pipeline sees its XML.
//!
//! An entry that breaks the envelope is not dropped: it is acquired with
//! `RICHIESTA_INVALIDA` and an Italian description, and the comune gets
//! that outcome. Only an entry without a usable `id_flusso` or `ts_flusso`
//! cannot be acquired (its outcome could not name it, nor could the cursor
//! place it): it is reported as an anomaly of the poll run.
//!
//! Known inconsistency of the INPS samples (DOMAIN.md §2.5): the SINBA
//! example has `id_flusso` `H501.PS.20210520.00000004` while its XML says
//! `Nome="H501.SINBA.20210520.00000004"`. We tolerate a mismatch that is
//! only in the TIPO segment of `EEEE.TIPO.AAAAMMGG.NNNN` (same ente, date
//! and progressive), noting it as an anomaly; any other difference is
//! `RICHIESTA_INVALIDA`. The register keys the flow by its XML `Nome` (as
//! every channel does) and the outcome echoes the comune's `id_flusso`.

use base64::Engine;
use casellario_domain::FlowType;
use casellario_formats::{FlowItem, ReadOptions, XmlFlowReader};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest `flusso` (base64 characters) the contract allows.
pub const MAX_FLUSSO_CHARS: usize = 10_000_000;
/// Longest `id_flusso`.
pub const MAX_ID_FLUSSO: usize = 64;

/// A decoded entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id_flusso: String,
    pub ts_flusso_ms: i64,
    /// `tipo` as sent (echoed in the outcome).
    pub tipo: String,
    /// SHA-256 of the decoded XML (of the raw `flusso` text when it could
    /// not be decoded): with (ente, id_flusso) the identity of an entry.
    pub sha256: [u8; 32],
    pub verdict: Verdict,
    /// Tolerated deviations, for the poll run's anomalies.
    pub notes: Vec<(&'static str, String)>,
}

/// What happens to an entry.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Through the pipeline as this flow type.
    Pipeline { xml: Vec<u8>, tipo: FlowType },
    /// Refused by the envelope: acquired as `RICHIESTA_INVALIDA`.
    Invalid { code: &'static str, message: String },
}

/// An entry that cannot be acquired at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unidentifiable {
    pub message: String,
    /// Its `ts_flusso`, when that much was readable.
    pub ts_flusso_ms: Option<i64>,
}

fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a str> {
    obj.get(k).and_then(Value::as_str)
}

/// RFC 3339 `date-time` → epoch milliseconds.
pub fn parse_ts(s: &str) -> Option<i64> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    Some(t.as_millisecond())
}

/// `^[A-Z][0-9]{3}$`
pub fn is_belfiore(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 4 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Standard base64, tolerating whitespace (line-wrapped encoders) and
/// missing padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        LENIENT.decode(compact).ok()
    } else {
        LENIENT.decode(s).ok()
    }
}

/// Whether two flow names differ only in the TIPO segment (see the module
/// documentation).
fn same_but_tipo(a: &str, b: &str) -> bool {
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    pa.len() == 4
        && pb.len() == 4
        && pa[0] == pb[0]
        && pa[2] == pb[2]
        && pa[3] == pb[3]
        && ["PS", "SINBA"].contains(&pa[1])
        && ["PS", "SINBA"].contains(&pb[1])
}

/// `IdentificazioneFlusso/@Nome` of a flow, read by the register's own XML
/// reader (only up to the header). `None` when the XML cannot be read that
/// far: the pipeline then rejects it with the precise reason.
fn xml_nome(xml: &[u8], tipo: FlowType) -> Option<String> {
    let opts = ReadOptions {
        expected: Some(tipo),
        ..ReadOptions::default()
    };
    let mut reader = XmlFlowReader::new(xml, opts);
    match reader.next() {
        Some(Ok(FlowItem::Header(h))) => h.identificazione.nome,
        _ => None,
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> Verdict {
    Verdict::Invalid {
        code,
        message: message.into(),
    }
}

/// Decodes and checks one entry against the registered ente's codice.
pub fn decode(entry: Value, ente_codice: &str) -> Result<Entry, Unidentifiable> {
    let Value::Object(mut obj) = entry else {
        return Err(Unidentifiable {
            message: "voce di elenco_flussi che non è un oggetto JSON".into(),
            ts_flusso_ms: None,
        });
    };
    let ts = str_field(&obj, "ts_flusso").and_then(parse_ts);
    let id_flusso = match str_field(&obj, "id_flusso") {
        Some(s) if !s.trim().is_empty() => s.to_owned(),
        _ => {
            return Err(Unidentifiable {
                message: "voce senza id_flusso: l'esito non potrebbe indicarla".into(),
                ts_flusso_ms: ts,
            });
        }
    };
    let Some(ts_flusso_ms) = ts else {
        return Err(Unidentifiable {
            message: format!(
                "voce {} senza ts_flusso valido (data e ora RFC 3339 richiesta)",
                truncate(&id_flusso, 80)
            ),
            ts_flusso_ms: None,
        });
    };
    let mut notes = Vec::new();
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| {
            ![
                "codice_ente",
                "denominazione_ente",
                "id_flusso",
                "tipo",
                "ts_flusso",
                "flusso",
            ]
            .contains(&k.as_str())
        })
        .collect();
    if !unknown.is_empty() {
        let names = unknown
            .iter()
            .map(|s| truncate(s, 40))
            .collect::<Vec<_>>()
            .join(", ");
        tracing::warn!(id_flusso = %id_flusso, campi = %names, "voce WaaS con campi non previsti: ignorati");
        notes.push((
            "WAAS_CAMPI_NON_PREVISTI",
            format!("{id_flusso}: campi non previsti dal contratto ignorati ({names})"),
        ));
    }
    let tipo = str_field(&obj, "tipo").unwrap_or("").to_owned();
    let flusso = match obj.remove("flusso") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let raw_sha = |s: Option<&str>| -> [u8; 32] { Sha256::digest(s.unwrap_or("")).into() };
    let done = |verdict: Verdict, sha256: [u8; 32], notes| Entry {
        id_flusso: id_flusso.clone(),
        ts_flusso_ms,
        tipo: tipo.clone(),
        sha256,
        verdict,
        notes,
    };

    if id_flusso.chars().count() > MAX_ID_FLUSSO {
        let v = invalid(
            "WAAS_ID_FLUSSO_NON_VALIDO",
            format!("id_flusso più lungo di {MAX_ID_FLUSSO} caratteri"),
        );
        return Ok(done(v, raw_sha(flusso.as_deref()), notes));
    }
    match str_field(&obj, "codice_ente") {
        Some(c) if is_belfiore(c) && c == ente_codice => {}
        Some(c) if is_belfiore(c) => {
            let v = invalid(
                "WAAS_CODICE_ENTE_DIVERSO",
                format!(
                    "codice_ente {c} diverso dall'ente {ente_codice} a cui appartiene l'endpoint"
                ),
            );
            return Ok(done(v, raw_sha(flusso.as_deref()), notes));
        }
        _ => {
            let v = invalid(
                "WAAS_CODICE_ENTE_NON_VALIDO",
                "codice_ente mancante o non conforme (codice Belfiore: una lettera maiuscola e tre cifre)",
            );
            return Ok(done(v, raw_sha(flusso.as_deref()), notes));
        }
    }
    if let Some(d) = obj.get("denominazione_ente")
        && d.as_str().is_none_or(|s| s.chars().count() > 256)
    {
        notes.push((
            "WAAS_DENOMINAZIONE_NON_VALIDA",
            format!("{id_flusso}: denominazione_ente non è un testo di al più 256 caratteri"),
        ));
    }
    let Some(flow_type) = FlowType::from_wire(&tipo) else {
        let v = invalid(
            "WAAS_TIPO_NON_VALIDO",
            format!(
                "tipo {:?} non ammesso: i valori previsti sono PS_PSA_SINA e SINBA",
                truncate(&tipo, 40)
            ),
        );
        return Ok(done(v, raw_sha(flusso.as_deref()), notes));
    };
    let Some(flusso) = flusso else {
        let v = invalid(
            "WAAS_FLUSSO_MANCANTE",
            "campo flusso mancante o non testuale (XML codificato in base64)",
        );
        return Ok(done(v, raw_sha(None), notes));
    };
    if flusso.chars().count() > MAX_FLUSSO_CHARS {
        let v = invalid(
            "WAAS_VOCE_TROPPO_GRANDE",
            format!(
                "il campo flusso supera i {} caratteri ammessi dal contratto",
                crate::fmt::it_num(MAX_FLUSSO_CHARS as u64)
            ),
        );
        return Ok(done(v, raw_sha(Some(&flusso)), notes));
    }
    let Some(xml) = decode_base64(&flusso) else {
        let v = invalid(
            "WAAS_BASE64_NON_VALIDO",
            "il campo flusso non è una codifica base64 valida",
        );
        return Ok(done(v, raw_sha(Some(&flusso)), notes));
    };
    drop(flusso);
    let sha256: [u8; 32] = Sha256::digest(&xml).into();
    if let Some(nome) = xml_nome(&xml, flow_type)
        && nome != id_flusso
    {
        if same_but_tipo(&nome, &id_flusso) {
            tracing::warn!(id_flusso = %id_flusso, nome = %nome, "id_flusso e Nome differiscono solo nel tipo: tollerato");
            notes.push((
                "WAAS_ID_FLUSSO_TIPO_DIVERSO",
                format!(
                    "{id_flusso}: il Nome del flusso XML è {nome} (differenza tollerata nel solo segmento del tipo)"
                ),
            ));
        } else {
            let v = invalid(
                "WAAS_ID_FLUSSO_DIVERSO",
                format!(
                    "id_flusso {id_flusso} diverso dal Nome del flusso XML ({})",
                    truncate(&nome, 64)
                ),
            );
            return Ok(done(v, sha256, notes));
        }
    }
    Ok(done(
        Verdict::Pipeline {
            xml,
            tipo: flow_type,
        },
        sha256,
        notes,
    ))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn xml(nome: &str) -> String {
        format!(
            "<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso Nome=\"{nome}\">\
             <Ente Codice=\"H501\" CFOperatore=\"CCCDDD25A42H199X\" Indirizzo=\"H501\"/>\
             </IdentificazioneFlusso></Flusso>"
        )
    }

    fn entry(id: &str, nome: &str) -> Value {
        json!({
            "codice_ente": "H501", "denominazione_ente": "Comune di Roma", "id_flusso": id,
            "ts_flusso": "2023-11-27T11:04:56.852Z", "tipo": "PS_PSA_SINA",
            "flusso": base64::engine::general_purpose::STANDARD.encode(xml(nome)),
        })
    }

    fn code(e: &Entry) -> Option<&'static str> {
        match &e.verdict {
            Verdict::Pipeline { .. } => None,
            Verdict::Invalid { code, .. } => Some(code),
        }
    }

    #[test]
    fn a_good_entry_goes_to_the_pipeline() {
        let e = decode(
            entry("H501.PS.20210520.0000002", "H501.PS.20210520.0000002"),
            "H501",
        )
        .expect("entry");
        assert_eq!(code(&e), None);
        assert_eq!(e.ts_flusso_ms, 1_701_083_096_852);
        assert_eq!(
            e.sha256,
            <[u8; 32]>::from(Sha256::digest(xml("H501.PS.20210520.0000002")))
        );
        assert!(e.notes.is_empty());
    }

    #[test]
    fn envelope_violations_are_invalid_not_dropped() {
        let mut cases = Vec::new();
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["codice_ente"] = json!("F205");
        cases.push((e, "WAAS_CODICE_ENTE_DIVERSO"));
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["codice_ente"] = json!("h501");
        cases.push((e, "WAAS_CODICE_ENTE_NON_VALIDO"));
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["tipo"] = json!("PS");
        cases.push((e, "WAAS_TIPO_NON_VALIDO"));
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["flusso"] = json!("non base64 !!");
        cases.push((e, "WAAS_BASE64_NON_VALIDO"));
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["flusso"] = json!("A".repeat(MAX_FLUSSO_CHARS + 4));
        cases.push((e, "WAAS_VOCE_TROPPO_GRANDE"));
        let long = format!("H501.PS.20210520.{}", "9".repeat(60));
        cases.push((entry(&long, &long), "WAAS_ID_FLUSSO_NON_VALIDO"));
        cases.push((
            entry("H501.PS.20210520.1", "H501.PS.20210520.2"),
            "WAAS_ID_FLUSSO_DIVERSO",
        ));
        for (e, want) in cases {
            let got = decode(e, "H501").expect("identifiable");
            assert_eq!(code(&got), Some(want));
        }
    }

    #[test]
    fn the_inps_sample_mismatch_in_the_tipo_segment_is_tolerated() {
        let e = decode(
            entry("H501.PS.20210520.00000004", "H501.SINBA.20210520.00000004"),
            "H501",
        )
        .expect("entry");
        assert_eq!(code(&e), None);
        assert_eq!(e.notes[0].0, "WAAS_ID_FLUSSO_TIPO_DIVERSO");
    }

    #[test]
    fn whitespace_and_missing_padding_are_tolerated() {
        let text = xml("H501.PS.20210520.1");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
        let wrapped: String = b64
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n");
        assert_eq!(decode_base64(&wrapped).as_deref(), Some(text.as_bytes()));
        assert_eq!(decode_base64("QUI").as_deref(), Some(&b"AB"[..]));
        assert_eq!(decode_base64("QUI=").as_deref(), Some(&b"AB"[..]));
        assert!(decode_base64("Q$I=").is_none());
    }

    #[test]
    fn entries_without_identity_are_anomalies() {
        let mut e = entry("x", "x");
        e.as_object_mut().expect("object").remove("id_flusso");
        assert!(decode(e, "H501").is_err());
        let mut e = entry("x", "x");
        e["ts_flusso"] = json!("ieri");
        assert!(decode(e, "H501").is_err());
        assert!(decode(json!([1]), "H501").is_err());
        let mut e = entry("H501.PS.20210520.1", "H501.PS.20210520.1");
        e["ts_flusso"] = json!("2023-11-27T12:04:56.852+01:00");
        assert_eq!(
            decode(e, "H501").expect("entry").ts_flusso_ms,
            1_701_083_096_852
        );
    }
}
