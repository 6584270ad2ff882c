//! Submissions and receipts of the cooperation API.

use std::io;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casellario_domain::Channel;
use casellario_ingest::{InputFormat, prepare_bytes};
use casellario_store::Store;
use casellario_store::api::SubmissionRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, SCOPE_INVIO, SCOPE_RICEVUTE};
use super::problem::{ApiError, Violazione};
use crate::AppState;
use crate::error::AppError;
use crate::receipt_export::{self, ChunkWriter, Extra, Filter, Source};
use crate::submit::{SubmitOptions, ingest_options, submit_prepared};

/// Largest integer a JSON client can hold exactly (2^53 − 1): the bound
/// of ids and cursors in the document.
pub const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// Largest page of the receipt listing.
pub const MAX_PAGE: u32 = 100;

/// Receipts with more records than this are streamed rather than built in
/// memory (a portal upload can have a million).
const STREAM_ABOVE: u64 = 1000;

/// What a submission's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xml,
    Json,
}

fn body_kind(headers: &HeaderMap) -> Result<Kind, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/xml" | "text/xml" => Ok(Kind::Xml),
        "application/json" => Ok(Kind::Json),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "FORMATO_NON_SUPPORTATO",
            "Il flusso va inviato come application/xml (o text/xml) oppure application/json.",
        )),
    }
}

/// `Idempotency-Key`: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "L'intestazione Idempotency-Key deve contenere da 1 a 255 caratteri ASCII visibili.",
        )
    };
    let s = v.to_str().map_err(|_| bad())?;
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// Converts a JSON flow to its XML (the only form the pipeline reads).
fn json_to_xml(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    super::json_flow::to_xml(body).map_err(|violations| {
        let n = violations.len();
        ApiError {
            violazioni: Some(
                violations
                    .into_iter()
                    .map(|v| Violazione {
                        codice: v.rule,
                        campo: v.field,
                        messaggio: v.message,
                    })
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            ),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "FLUSSO_JSON_NON_VALIDO",
                format!(
                    "Il flusso JSON non corrisponde al tracciato ({n} violazion{}): nessun dato è stato acquisito.",
                    if n == 1 { "e" } else { "i" }
                ),
            )
        }
    })
}

/// The receipt source of a submission.
fn source_of(store: &Store, row: &SubmissionRow, ente_codice: &str) -> Result<Source, ApiError> {
    match row.flow_id {
        Some(f) => {
            Ok(Source::Flow(store.flow(f)?.ok_or_else(|| {
                ApiError::internal(format!("flusso {f} mancante"))
            })?))
        }
        None => Ok(Source::Submission(
            store
                .submission_detail(row.ente_id, row.id)?
                .ok_or_else(|| ApiError::internal(format!("invio {} mancante", row.id)))?,
            ente_codice.to_string(),
        )),
    }
}

fn extra(row: &SubmissionRow) -> Extra {
    Extra {
        leading: vec![("id", row.id.into()), ("seq", row.id.into())],
        acquisito_in_precedenza: row.already,
    }
}

/// Writes the receipt of submission `id` of `caller`'s ente into memory.
fn receipt_bytes(
    store: &Store,
    ente: casellario_store::EnteId,
    ente_codice: &str,
    id: i64,
    profilo: &'static str,
) -> Result<Vec<u8>, ApiError> {
    let row = store
        .submission_row(ente, id)?
        .ok_or_else(ApiError::not_found)?;
    let src = source_of(store, &row, ente_codice)?;
    let mut out = Vec::with_capacity(1024);
    receipt_export::write_json_with(
        store,
        &src,
        &Filter::default(),
        profilo,
        &extra(&row),
        &mut out,
    )?;
    Ok(out)
}

fn json_response(status: StatusCode, body: Vec<u8>, location: Option<i64>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = location
        && let Ok(v) = HeaderValue::from_str(&format!("{}/ricevute/{id}", super::BASE))
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `POST /api/v1/flussi`.
#[utoipa::path(
    post,
    path = "/flussi",
    tag = "Flussi",
    operation_id = "inviaFlusso",
    summary = "Invia un flusso di un record",
    description = "Invia un flusso con un solo beneficiario e una sola prestazione (regola del canale \
        di cooperazione applicativa), in XML secondo gli XSD INPS oppure nel JSON equivalente. \
        Risponde con la ricevuta: 201 per un nuovo invio, 200 se lo stesso flusso (stesso \
        `id_flusso` e contenuto, o stessa `Idempotency-Key` con lo stesso corpo) era già stato \
        ricevuto, con la ricevuta originale. Un flusso respinto è comunque un invio: la ricevuta \
        ne riporta l'esito.",
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255, min_length = 1,
         description = "Chiave scelta dal client (1–255 caratteri ASCII visibili): reinviando la stessa \
            richiesta con la stessa chiave si ottiene la stessa ricevuta.",
         example = "invio-2026-000123"),
    ),
    request_body(
        description = "Il flusso: un record.",
        content(
            (String = "application/xml", example = json!(super::openapi::EXAMPLE_XML)),
            (super::openapi::FlussoJson = "application/json", example = json!(super::openapi::example_json())),
        )
    ),
    responses(
        (status = 201, description = "Nuovo invio: la sua ricevuta.", body = super::openapi::RicevutaApi,
         headers(("Location" = String, description = "Indirizzo della ricevuta."))),
        (status = 200, description = "Invio già ricevuto: la ricevuta originale.", body = super::openapi::RicevutaApi),
    ),
    security(("oauth2" = ["flussi:invio"]), ("bearer" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_INVIO)?;
    let kind = body_kind(&headers)?;
    let key = idempotency_key(&headers)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "Il corpo della richiesta è vuoto: inviare un flusso.",
        ));
    }
    let request_sha: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(match kind {
            Kind::Xml => b"xml\0",
            Kind::Json => b"json",
        });
        h.update(&body);
        h.finalize().into()
    };
    // JSON is mapped before taking the writer lane: a JSON flow that does
    // not map is refused with its violations and stores nothing.
    let xml: Bytes = match kind {
        Kind::Xml => body,
        Kind::Json => Bytes::from(json_to_xml(&body)?),
    };
    let opts = SubmitOptions {
        channel: Channel::Coop,
        profile: state.cfg.profile(),
        expected: None,
        ente_id: caller.ente_id,
        ente_codice: caller.ente_codice.to_string(),
        account_id: None,
        source_name: Some(format!("API {}", caller.client_id)),
        format: InputFormat::Xml,
        size_hint: Some(xml.len() as u64),
        keep_outcomes: false,
    };
    // Read, checked and prepared here, off the writer: the writer only
    // resolves and stores (most of a one-record flow's cost is parsing).
    let prepared = prepare_bytes(&xml, &ingest_options(&opts), true)
        .map_err(|e| ApiError::from_app(AppError::internal(format!("pipeline: {e}"))))?;
    let profilo = state.cfg.profile().wire();
    let ente = caller.ente_id;
    let codice = caller.ente_codice.clone();
    let (status, id, body) = state
        .db
        .write_small(move |s| {
            let done = |s: &Store, status, id| {
                receipt_bytes(s, ente, &codice, id, profilo)
                    .map(|b| (status, id, b))
                    .map_err(ApiError::into_app)
            };
            if let Some(k) = &key
                && let Some(e) = s.idempotency(ente, k)?
            {
                if e.request_sha256 != request_sha {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "IDEMPOTENCY_KEY_RIUSATA",
                        "Questa Idempotency-Key è già stata usata per una richiesta diversa: usarne una nuova.",
                    )
                    .into_app());
                }
                return done(s, StatusCode::OK, e.submission_id);
            }
            let sha: [u8; 32] = Sha256::digest(&xml).into();
            if let Some(orig) = s.original_submission(ente, &sha)? {
                if let Some(k) = &key {
                    s.record_idempotency(ente, k, &request_sha, orig)?;
                }
                return done(s, StatusCode::OK, orig);
            }
            let sub = submit_prepared(s, prepared, &opts)?;
            if let Some(k) = &key {
                s.record_idempotency(ente, k, &request_sha, sub.submission_id)?;
            }
            let status = if sub.report.already_acquired {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            done(s, status, sub.submission_id)
        })
        .await
        .map_err(ApiError::from_app)?;
    Ok(json_response(
        status,
        body,
        (status == StatusCode::CREATED).then_some(id),
    ))
}

/// `GET /api/v1/ricevute/{id}`.
#[utoipa::path(
    get,
    path = "/ricevute/{id}",
    tag = "Ricevute",
    operation_id = "leggiRicevuta",
    summary = "Legge la ricevuta di un invio",
    description = "La ricevuta di un invio dell'ente (di qualsiasi canale), con l'esito di ogni record.",
    params(("id" = i64, Path, description = "Identificativo dell'invio (`id` della ricevuta).",
            minimum = 1, maximum = 9007199254740991_i64, example = 42)),
    responses(
        (status = 200, description = "La ricevuta.", body = super::openapi::RicevutaApi),
    ),
    security(("oauth2" = ["ricevute:lettura"]), ("bearer" = []))
)]
pub async fn receipt(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_RICEVUTE)?;
    let id = super::path_id(&id)?;
    let ente = caller.ente_id;
    let codice = caller.ente_codice.to_string();
    let client = caller.client_id.clone();
    let profilo = state.cfg.profile().wire();
    let (row, src) = state
        .db
        .run(move |s| {
            let row = s
                .submission_row(ente, id)?
                .ok_or_else(|| ApiError::not_found().into_app())?;
            let src = source_of(s, &row, &codice).map_err(ApiError::into_app)?;
            // A receipt's messages can quote personal data (a wrong codice
            // fiscale): reading one is logged, as in the portal.
            s.log_api_access(
                &client,
                ente,
                &format!("invio {id}"),
                "ricevuta",
                "verifica degli esiti della trasmissione",
            )?;
            Ok((row, src))
        })
        .await
        .map_err(ApiError::from_app)?;
    if row.record_count <= STREAM_ABOVE {
        let body = state
            .db
            .run(move |s| {
                let mut out = Vec::with_capacity(1024);
                receipt_export::write_json_with(
                    s,
                    &src,
                    &Filter::default(),
                    profilo,
                    &extra(&row),
                    &mut out,
                )?;
                Ok(out)
            })
            .await
            .map_err(ApiError::from_app)?;
        return Ok(json_response(StatusCode::OK, body, None));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, io::Error>>(4);
    let db = state.db.clone();
    tokio::spawn(async move {
        let res = db
            .run(move |s| {
                let mut w = ChunkWriter::new(tx);
                if let Err(e) = receipt_export::write_json_with(
                    s,
                    &src,
                    &Filter::default(),
                    profilo,
                    &extra(&row),
                    &mut w,
                ) {
                    w.fail(io::Error::other(e.to_string()));
                }
                Ok(())
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "ricevuta API non completata");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c.map(Bytes::from), rx))
    });
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Query of the receipt listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Cursor: only submissions with `seq` greater than this (0 or absent: from the first).
    #[param(minimum = 0, maximum = 9007199254740991_i64, example = 0)]
    pub dopo: Option<i64>,
    /// Page size, 1–100 (default 100).
    #[param(minimum = 1, maximum = 100, example = 50)]
    pub limite: Option<u32>,
}

/// Totals of a receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Riepilogo {
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub record: u64,
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub accettati: u64,
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub duplicati: u64,
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub scartati: u64,
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub avvisi: u64,
}

/// One submission in the listing (its receipt without the records).
#[derive(Debug, Serialize, ToSchema)]
pub struct Invio {
    /// Identifier of the submission (and of its receipt).
    #[schema(minimum = 1, maximum = 9007199254740991_i64, format = Int64, example = 42)]
    pub id: i64,
    /// Position in the ente's sequence of submissions: the cursor.
    #[schema(minimum = 1, maximum = 9007199254740991_i64, format = Int64, example = 42)]
    pub seq: i64,
    /// `IdentificazioneFlusso/@Nome`, when readable.
    #[schema(max_length = 256, example = "FLUSSO-2026-000123")]
    pub id_flusso: Option<String>,
    #[schema(
        example = "PS_PSA_SINA",
        pattern = "^(PS_PSA_SINA|SINBA)$",
        max_length = 11
    )]
    pub tipo: Option<&'static str>,
    /// Channel of the submission.
    #[schema(
        example = "coop",
        pattern = "^(upload|form|coop|waas)$",
        max_length = 6
    )]
    pub canale: &'static str,
    #[schema(
        example = "OK",
        pattern = "^(OK|DATI_NON_TROVATI|RICHIESTA_INVALIDA|ERRORE_GENERICO)$",
        max_length = 18
    )]
    pub codice_esito: &'static str,
    /// Identifier of the flow in the register, if one was stored.
    #[schema(max_length = 20, example = "17")]
    pub id_acquisizione: Option<String>,
    /// The flow had been acquired before this submission.
    pub acquisito_in_precedenza: bool,
    /// The whole flow was refused: nothing stored.
    pub respinto: bool,
    /// SHA-256 of the flow's bytes (hex).
    #[schema(
        pattern = "^[0-9a-f]{64}$",
        max_length = 64,
        example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub sha256: String,
    pub riepilogo: Riepilogo,
    /// When the register received it (RFC 3339, UTC).
    #[schema(format = DateTime, max_length = 32, example = "2026-11-27T10:15:00.123Z")]
    pub ricevuto_il: String,
    /// Path of the full receipt.
    #[schema(example = "/api/v1/ricevute/42", max_length = 64)]
    pub ricevuta: String,
}

/// A page of the listing.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "elementi": [{
        "id": 42, "seq": 42, "id_flusso": "FLUSSO-2026-000123", "tipo": "PS_PSA_SINA",
        "canale": "coop", "codice_esito": "OK", "id_acquisizione": "17",
        "acquisito_in_precedenza": false, "respinto": false,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "riepilogo": {"record": 1, "accettati": 1, "duplicati": 0, "scartati": 0, "avvisi": 0},
        "ricevuto_il": "2026-11-27T10:15:00.123Z", "ricevuta": "/api/v1/ricevute/42"
    }],
    "prossimo": 42,
    "altri": false
}))]
pub struct PaginaInvii {
    #[schema(max_items = 100)]
    pub elementi: Vec<Invio>,
    /// Cursor for the next page (`dopo`): the last `seq` returned, or the
    /// cursor given when the page is empty.
    #[schema(minimum = 0, maximum = 9007199254740991_i64, format = Int64)]
    pub prossimo: i64,
    /// Whether more submissions follow.
    pub altri: bool,
}

pub fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn invio(r: SubmissionRow) -> Invio {
    Invio {
        id: r.id,
        seq: r.id,
        id_flusso: r.id_flusso,
        tipo: r.tipo.map(|t| t.wire()),
        canale: r.channel.wire(),
        codice_esito: r.codice_esito.wire(),
        id_acquisizione: r
            .flow_id
            .filter(|_| !r.rejected_whole)
            .map(|f| f.to_string()),
        acquisito_in_precedenza: r.already,
        respinto: r.rejected_whole,
        sha256: hex::encode(r.sha256),
        riepilogo: Riepilogo {
            record: r.record_count,
            accettati: r.accettati,
            duplicati: r.duplicati,
            scartati: r.scartati,
            avvisi: r.avvisi,
        },
        ricevuto_il: iso_ms(r.learnt_at_ms),
        ricevuta: format!("{}/ricevute/{}", super::BASE, r.id),
    }
}

/// `GET /api/v1/ricevute?dopo=&limite=`.
#[utoipa::path(
    get,
    path = "/ricevute",
    tag = "Ricevute",
    operation_id = "elencaRicevute",
    summary = "Elenca gli invii dell'ente dopo un cursore",
    description = "Gli invii dell'ente (di ogni canale) in ordine di ricezione, a partire dal primo con \
        `seq` maggiore di `dopo`. Il cursore è un numero di sequenza monotono, non un orario: \
        richiedendo le pagine con `dopo` = `prossimo` non si perde né si ripete alcun invio.",
    params(ListQuery),
    responses(
        (status = 200, description = "Una pagina di invii.", body = PaginaInvii),
    ),
    security(("oauth2" = ["ricevute:lettura"]), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_RICEVUTE)?;
    let dopo = q.dopo.unwrap_or(0);
    if !(0..=MAX_SAFE).contains(&dopo) {
        return Err(ApiError::bad_request(format!(
            "Il parametro dopo deve essere un intero tra 0 e {MAX_SAFE}."
        )));
    }
    let limite = q.limite.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limite) {
        return Err(ApiError::bad_request(format!(
            "Il parametro limite deve essere tra 1 e {MAX_PAGE}."
        )));
    }
    let ente = caller.ente_id;
    let mut rows = state
        .db
        .run(move |s| Ok(s.submissions_after(ente, dopo, limite + 1)?))
        .await
        .map_err(ApiError::from_app)?;
    let altri = rows.len() > limite as usize;
    rows.truncate(limite as usize);
    let prossimo = rows.last().map_or(dopo, |r| r.id);
    Ok(axum::Json(PaginaInvii {
        elementi: rows.into_iter().map(invio).collect(),
        prossimo,
        altri,
    })
    .into_response())
}
