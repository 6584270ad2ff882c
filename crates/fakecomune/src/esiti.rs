//! Validation of `POST /esiti` bodies against the spec's `ElencoEsiti` /
//! `EsitoFlusso`, plus the one rule the spec states in prose:
//! `id_acquisizione_siuss` accompanies every `OK`.

use serde_json::Value;

/// `codice_esito` enum of `EsitoFlusso`.
pub const CODICI_ESITO: &[&str] = &[
    "OK",
    "DATI_NON_TROVATI",
    "RICHIESTA_INVALIDA",
    "ERRORE_GENERICO",
];

/// `maxItems` of `elenco_esiti`.
pub const MAX_ESITI: usize = 100;

/// One valid `EsitoFlusso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsitoIn {
    pub id_flusso: String,
    pub tipo: String,
    pub ts_flusso: String,
    pub ts_flusso_ms: i64,
    pub ts_acquisizione: String,
    pub codice_esito: String,
    pub descrizione_esito: Option<String>,
    pub id_acquisizione_siuss: Option<String>,
}

/// The esiti of a body, or the Italian reason it breaks the contract.
pub fn parse(body: &[u8]) -> Result<Vec<EsitoIn>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("il corpo non è JSON valido: {e}"))?;
    let Value::Object(top) = v else {
        return Err("il corpo deve essere un oggetto JSON (ElencoEsiti)".to_string());
    };
    // ElencoEsiti: additionalProperties false.
    if let Some(k) = top.keys().find(|k| *k != "elenco_esiti") {
        return Err(format!(
            "proprietà \"{k}\" non ammessa in ElencoEsiti (solo elenco_esiti)"
        ));
    }
    let items = match top.get("elenco_esiti") {
        // Not required by the schema: an absent list is an empty one.
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("elenco_esiti deve essere un array".to_string()),
    };
    if items.len() > MAX_ESITI {
        return Err(format!(
            "elenco_esiti ha {} elementi, al massimo {MAX_ESITI}",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| esito(item).map_err(|why| format!("elenco_esiti[{i}]: {why}")))
        .collect()
}

fn esito(item: &Value) -> Result<EsitoIn, String> {
    let Value::Object(o) = item else {
        return Err("ogni esito deve essere un oggetto (EsitoFlusso)".to_string());
    };
    let required = |k: &str| -> Result<String, String> {
        match o.get(k) {
            None => Err(format!("manca il campo obbligatorio {k}")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{k} deve essere una stringa")),
        }
    };
    let optional = |k: &str| -> Result<Option<String>, String> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{k} deve essere una stringa")),
        }
    };
    let id_flusso = required("id_flusso")?;
    let tipo = required("tipo")?;
    let ts_flusso = required("ts_flusso")?;
    let ts_acquisizione = required("ts_acquisizione")?;
    let codice_esito = required("codice_esito")?;
    let descrizione_esito = optional("descrizione_esito")?;
    let id_acquisizione_siuss = optional("id_acquisizione_siuss")?;
    let ts_flusso_ms = crate::ts::parse_ms(&ts_flusso)
        .ok_or_else(|| format!("ts_flusso \"{ts_flusso}\" non è una date-time RFC 3339"))?;
    if crate::ts::parse_ms(&ts_acquisizione).is_none() {
        return Err(format!(
            "ts_acquisizione \"{ts_acquisizione}\" non è una date-time RFC 3339"
        ));
    }
    if !CODICI_ESITO.contains(&codice_esito.as_str()) {
        return Err(format!(
            "codice_esito \"{codice_esito}\" non è tra {}",
            CODICI_ESITO.join(", ")
        ));
    }
    if codice_esito == "OK" && id_acquisizione_siuss.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "l'esito OK di {id_flusso} non ha id_acquisizione_siuss"
        ));
    }
    Ok(EsitoIn {
        id_flusso,
        tipo,
        ts_flusso,
        ts_flusso_ms,
        ts_acquisizione,
        codice_esito,
        descrizione_esito,
        id_acquisizione_siuss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(extra: &str) -> String {
        format!(
            r#"{{"elenco_esiti":[{{"id_flusso":"H501.PS.20260101.0000001","tipo":"PS_PSA_SINA",
            "ts_flusso":"2026-01-01T10:00:00.000Z","ts_acquisizione":"2026-01-01T10:00:01.000Z"{extra}}}]}}"#
        )
    }

    #[test]
    fn accepts_the_spec_example() {
        let body = r#"{"elenco_esiti":[
            {"id_flusso":"H501.PS.20210520.0000002","ts_flusso":"2023-11-27T11:04:56.852Z",
             "ts_acquisizione":"2023-11-27T11:04:56.852Z","tipo":"PS_PSA_SINA","codice_esito":"OK",
             "id_acquisizione_siuss":"22738"},
            {"id_flusso":"H501.PS.20210520.00000004","ts_flusso":"2023-11-27T11:04:56.852Z",
             "ts_acquisizione":"2023-11-27T11:04:56.852Z","tipo":"SINBA","codice_esito":"RICHIESTA_INVALIDA",
             "descrizione_esito":"In cooperazione è possibile inviare solo un beneficiario e una prestazione sociale"}]}"#;
        let v = parse(body.as_bytes()).map(|v| v.len());
        assert_eq!(v, Ok(2));
        assert_eq!(parse(b"{}"), Ok(Vec::new()));
        assert_eq!(parse(br#"{"elenco_esiti":[]}"#), Ok(Vec::new()));
    }

    #[test]
    fn rejects_what_breaks_the_schema() {
        let bad = [
            "[]".to_string(),
            "{".to_string(),
            r#"{"esiti":[]}"#.to_string(),
            r#"{"elenco_esiti":{}}"#.to_string(),
            r#"{"elenco_esiti":[1]}"#.to_string(),
            one(r#","codice_esito":"KO""#),
            one(r#","codice_esito":"OK""#),
            one(r#","codice_esito":"OK","id_acquisizione_siuss":"""#),
            one(r#","codice_esito":"OK","id_acquisizione_siuss":22738"#),
            one(r#","codice_esito":"ERRORE_GENERICO","descrizione_esito":null"#),
            one(""),
            one(r#","codice_esito":"OK","id_acquisizione_siuss":"1","ts_flusso":"ieri""#)
                .replace(r#""ts_flusso":"2026-01-01T10:00:00.000Z","#, ""),
        ];
        for b in &bad {
            assert!(parse(b.as_bytes()).is_err(), "{b}");
        }
        let many = format!(
            r#"{{"elenco_esiti":[{}]}}"#,
            vec![
                r#"{"id_flusso":"x","tipo":"SINBA","ts_flusso":"2026-01-01T10:00:00Z","ts_acquisizione":"2026-01-01T10:00:00Z","codice_esito":"ERRORE_GENERICO"}"#;
                101
            ]
            .join(",")
        );
        assert!(parse(many.as_bytes()).is_err());
    }
}
