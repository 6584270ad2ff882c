//! The ente's own records, read through the API. Every read naming a
//! person is written to the access log with the client as the actor.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use casellario_domain::FlowType;
use casellario_store::portal::{RecordHit, RecordQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, SCOPE_RECORD};
use super::flussi::iso_ms;
use super::problem::ApiError;
use crate::AppState;

const PURPOSE: &str = "consultazione tramite API";
const MAX_PAGE: u32 = 100;

/// Search criteria; all optional, combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordSearch {
    /// Codice fiscale of the beneficiary (PS/PSA/SINA) or IDBeneficiario (SINBA), exact.
    #[param(max_length = 64, example = "RSSMRA80A01H501U")]
    pub codice_fiscale: Option<String>,
    /// `CodicePrestazione`.
    #[param(max_length = 32, example = "A1.01")]
    pub codice_prestazione: Option<String>,
    /// `ProtocolloDomanda`.
    #[param(max_length = 64, example = "PROT-2026-1")]
    pub protocollo_domanda: Option<String>,
    /// From this reference date (inclusive, AAAA-MM-GG).
    #[param(format = Date, max_length = 10, example = "2026-01-01")]
    pub dal: Option<String>,
    /// Up to this reference date (inclusive, AAAA-MM-GG).
    #[param(format = Date, max_length = 10, example = "2026-12-31")]
    pub al: Option<String>,
    /// Flow type.
    #[param(
        pattern = "^(PS_PSA_SINA|SINBA)$",
        max_length = 11,
        example = "PS_PSA_SINA"
    )]
    pub tipo: Option<String>,
    /// Also versions no longer live (cancelled or superseded).
    pub includi_annullati: Option<bool>,
    /// Page (from 1).
    #[param(minimum = 1, maximum = 10000, example = 1)]
    pub pagina: Option<u32>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100, example = 50)]
    pub limite: Option<u32>,
}

/// How a version stopped being live.
#[derive(Debug, Serialize, ToSchema)]
pub struct Annullamento {
    /// Flow that cancelled or superseded it.
    #[schema(max_length = 256)]
    pub id_flusso: String,
    #[schema(minimum = 1, maximum = 9007199254740991_i64, format = Int64)]
    pub posizione: u64,
    /// `cancellazione` or `sostituzione`.
    #[schema(pattern = "^(cancellazione|sostituzione)$", max_length = 16)]
    pub motivo: &'static str,
    #[schema(format = DateTime, max_length = 32)]
    pub il: String,
}

/// A record version found by a search.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "tipo": "PS_PSA_SINA", "id_flusso": "FLUSSO-2026-000123", "id_acquisizione": "17",
    "posizione": 1, "soggetto": "RSSMRA80A01H501U", "codice_prestazione": "A1.01",
    "protocollo_domanda": "PROT-2026-1", "data_riferimento": "2026-03-01",
    "acquisito_il": "2026-11-27T10:15:00.123Z", "annullamento": null
}))]
pub struct RecordSintesi {
    /// Identifier of the version.
    #[schema(minimum = 1, maximum = 9007199254740991_i64, format = Int64)]
    pub id: i64,
    #[schema(pattern = "^(PS_PSA_SINA|SINBA)$", max_length = 11)]
    pub tipo: &'static str,
    /// Flow that carried it.
    #[schema(max_length = 256)]
    pub id_flusso: String,
    #[schema(max_length = 20)]
    pub id_acquisizione: String,
    /// Position of the record in its flow.
    #[schema(minimum = 1, maximum = 9007199254740991_i64, format = Int64)]
    pub posizione: u64,
    /// Codice fiscale or IDBeneficiario.
    #[schema(max_length = 64)]
    pub soggetto: String,
    #[schema(max_length = 32)]
    pub codice_prestazione: Option<String>,
    #[schema(max_length = 64)]
    pub protocollo_domanda: Option<String>,
    #[schema(format = Date, max_length = 10)]
    pub data_riferimento: Option<String>,
    #[schema(format = DateTime, max_length = 32)]
    pub acquisito_il: String,
    /// Set when the version is no longer live.
    pub annullamento: Option<Annullamento>,
}

/// A page of search results.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "elementi": [{
        "id": 7, "tipo": "PS_PSA_SINA", "id_flusso": "FLUSSO-2026-000123", "id_acquisizione": "17",
        "posizione": 1, "soggetto": "RSSMRA80A01H501U", "codice_prestazione": "A1.01",
        "protocollo_domanda": "PROT-2026-1", "data_riferimento": "2026-03-01",
        "acquisito_il": "2026-11-27T10:15:00.123Z", "annullamento": null
    }],
    "pagina": 1,
    "altri": false
}))]
pub struct PaginaRecord {
    #[schema(max_items = 100)]
    pub elementi: Vec<RecordSintesi>,
    #[schema(minimum = 1, maximum = 10000, format = Int32)]
    pub pagina: u32,
    /// Whether a next page exists.
    pub altri: bool,
}

/// One version with its content.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "tipo": "PS_PSA_SINA", "id_flusso": "FLUSSO-2026-000123", "id_acquisizione": "17",
    "posizione": 1, "soggetto": "RSSMRA80A01H501U", "codice_prestazione": "A1.01",
    "protocollo_domanda": "PROT-2026-1", "data_riferimento": "2026-03-01",
    "acquisito_il": "2026-11-27T10:15:00.123Z", "annullamento": null,
    "dati": {
        "Beneficiario": {"CodiceFiscale": "RSSMRA80A01H501U"},
        "PrestazioniSociali": {"CodicePrestazione": "A1.01", "ProtocolloDomanda": "PROT-2026-1",
                               "DataErogazionePrestazione": "2026-03-01"}
    }
}))]
pub struct RecordDettaglio {
    #[serde(flatten)]
    pub sintesi: RecordSintesi,
    /// The record as stored: beneficiary and benefit (PS) or the SINBA
    /// element, with the XSD's names.
    #[schema(value_type = Object)]
    pub dati: serde_json::Value,
}

fn sintesi(h: RecordHit) -> RecordSintesi {
    RecordSintesi {
        id: h.version_id,
        tipo: h.tipo.wire(),
        id_flusso: h.flow_nome,
        id_acquisizione: h.flow_id.to_string(),
        posizione: h.pos,
        soggetto: h.subject,
        codice_prestazione: h.codice_prestazione,
        protocollo_domanda: h.protocollo,
        data_riferimento: h.data_riferimento,
        acquisito_il: iso_ms(h.learnt_at_ms),
        annullamento: h.cancelled.map(|c| Annullamento {
            id_flusso: c.flow_nome,
            posizione: c.pos,
            motivo: match c.reason {
                casellario_store::CancelReason::Cancellazione => "cancellazione",
                casellario_store::CancelReason::Sostituzione => "sostituzione",
            },
            il: iso_ms(c.learnt_at_ms),
        }),
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn opt(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /api/v1/record`.
#[utoipa::path(
    get,
    path = "/record",
    tag = "Record",
    operation_id = "cercaRecord",
    summary = "Cerca i record dell'ente",
    description = "Le versioni dei record dell'ente che soddisfano i criteri, dalla più recente. \
        Solo i record dell'ente del client. Ogni ricerca che nomina una persona è registrata nel \
        registro degli accessi.",
    params(RecordSearch),
    responses(
        (status = 200, description = "Una pagina di record.", body = PaginaRecord),
    ),
    security(("oauth2" = ["record:lettura"]), ("bearer" = []))
)]
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RecordSearch>,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_RECORD)?;
    for (v, what, max) in [
        (&q.codice_fiscale, "codice_fiscale", 64),
        (&q.codice_prestazione, "codice_prestazione", 32),
        (&q.protocollo_domanda, "protocollo_domanda", 64),
    ] {
        if v.as_deref().is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::bad_request(format!(
                "Il parametro {what} supera {max} caratteri."
            )));
        }
    }
    // A parameter given empty is a wrong value, not an absent one.
    for (d, what) in [(&q.dal, "dal"), (&q.al, "al")] {
        if let Some(d) = d.as_deref()
            && !is_date(d.trim())
        {
            return Err(ApiError::bad_request(format!(
                "Il parametro {what} deve essere una data nel formato AAAA-MM-GG."
            )));
        }
    }
    let tipo = match q.tipo.as_deref() {
        None => None,
        Some(t) => Some(FlowType::from_wire(t.trim()).ok_or_else(|| {
            ApiError::bad_request("Il parametro tipo deve essere PS_PSA_SINA o SINBA.")
        })?),
    };
    let pagina = q.pagina.unwrap_or(1);
    let limite = q.limite.unwrap_or(50);
    if !(1..=10_000).contains(&pagina) || !(1..=MAX_PAGE).contains(&limite) {
        return Err(ApiError::bad_request(format!(
            "pagina deve essere tra 1 e 10000, limite tra 1 e {MAX_PAGE}."
        )));
    }
    let query = RecordQuery {
        subject: opt(&q.codice_fiscale).map(|s| s.to_uppercase()),
        codice_prestazione: opt(&q.codice_prestazione),
        protocollo: opt(&q.protocollo_domanda),
        from: opt(&q.dal),
        to: opt(&q.al),
        tipo,
        include_cancelled: q.includi_annullati.unwrap_or(false),
    };
    let ente = caller.ente_id;
    let client = caller.client_id.clone();
    let mut hits = state
        .db
        .run(move |s| {
            let hits = s.search_records(ente, &query, limite + 1, (pagina - 1) * limite)?;
            if let Some(subject) = &query.subject {
                s.log_api_access(&client, ente, subject, "ricerca", PURPOSE)?;
            }
            Ok(hits)
        })
        .await
        .map_err(ApiError::from_app)?;
    let altri = hits.len() > limite as usize;
    hits.truncate(limite as usize);
    Ok(axum::Json(PaginaRecord {
        elementi: hits.into_iter().map(sintesi).collect(),
        pagina,
        altri,
    })
    .into_response())
}

/// `GET /api/v1/record/{id}`.
#[utoipa::path(
    get,
    path = "/record/{id}",
    tag = "Record",
    operation_id = "leggiRecord",
    summary = "Legge un record dell'ente",
    description = "Una versione di un record dell'ente, con il suo contenuto. La lettura è registrata \
        nel registro degli accessi. Un identificativo di un altro ente risponde 404, come uno \
        inesistente.",
    params(("id" = i64, Path, description = "Identificativo della versione.", minimum = 1,
            maximum = 9007199254740991_i64, example = 7)),
    responses(
        (status = 200, description = "Il record.", body = RecordDettaglio),
    ),
    security(("oauth2" = ["record:lettura"]), ("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_RECORD)?;
    let id = super::path_id(&id)?;
    let ente = caller.ente_id;
    let client = caller.client_id.clone();
    let (d, rec) = state
        .db
        .run(move |s| {
            let d = s
                .version_detail(ente, id)?
                .ok_or_else(|| ApiError::not_found().into_app())?;
            let rec = casellario_ingest::decode_payload(&d.payload)
                .map_err(|e| crate::AppError::internal(format!("payload {id}: {e}")))?;
            s.log_api_access(
                &client,
                ente,
                &d.hit.subject,
                &format!("record {id}"),
                PURPOSE,
            )?;
            Ok((d, rec))
        })
        .await
        .map_err(ApiError::from_app)?;
    let dati = match rec {
        casellario_domain::model::Record::Ps(p) => serde_json::to_value(&p),
        casellario_domain::model::Record::Sinba(s) => serde_json::to_value(&s),
    }
    .map_err(|e| ApiError::internal(format!("record {id}: {e}")))?;
    Ok(axum::Json(RecordDettaglio {
        sintesi: sintesi(d.hit),
        dati,
    })
    .into_response())
}
