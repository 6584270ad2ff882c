//! The one way the portal (and the API) hands a flow to the register: the
//! ingestion pipeline, on the writer lane, with the caller's ente enforced,
//! and a `submission` row so the ente sees every transmission in its list,
//! even one that stored nothing.

use std::io::Read;

use casellario_domain::{Channel, FlowType, Profile};
use casellario_ingest::{
    FlowReport, IngestOptions, Ingested, InputFormat, PreparedFlow, Progress, RecordOutcome,
};
use casellario_store::portal::{AccountId, NewSubmission};
use casellario_store::{EnteId, Store};

use crate::error::AppError;

/// Who submits what, through which channel.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub channel: Channel,
    pub profile: Profile,
    /// Validate as this flow type (else detected from the content).
    pub expected: Option<FlowType>,
    pub ente_id: EnteId,
    /// `Ente/@Codice` the flow must carry.
    pub ente_codice: String,
    pub account_id: Option<AccountId>,
    pub source_name: Option<String>,
    pub format: InputFormat,
    pub size_hint: Option<u64>,
    /// Keep every record's outcome in memory (forms: a handful of records).
    pub keep_outcomes: bool,
}

/// What a submission produced.
#[derive(Debug)]
pub struct Submitted {
    pub report: FlowReport,
    pub submission_id: i64,
    /// Outcomes of the records, when asked for.
    pub outcomes: Vec<RecordOutcome>,
    /// The page of the transmission's receipt.
    pub location: String,
}

/// The pipeline's options for a submission.
pub fn ingest_options(opts: &SubmitOptions) -> IngestOptions {
    let mut io = IngestOptions::new(crate::fmt::today());
    io.expected = opts.expected;
    io.profile = opts.profile;
    io.channel = opts.channel;
    io.format = opts.format;
    io.source_name = opts.source_name.clone();
    io.caller_ente = Some(opts.ente_codice.clone());
    io.size_hint = opts.size_hint;
    io
}

/// Runs the pipeline on `input`, storing into `store`. Blocking: call it
/// inside [`crate::Db::write`].
pub fn submit_blocking<R: Read + Send>(
    store: &mut Store,
    input: R,
    opts: &SubmitOptions,
    progress: Option<&Progress>,
) -> Result<Submitted, AppError> {
    check_active(store, opts)?;
    let ingested = casellario_ingest::ingest(input, &ingest_options(opts), Some(store), progress)
        .map_err(|e| AppError::internal(format!("pipeline: {e}")))?;
    record(store, ingested, opts)
}

/// Like [`submit_blocking`] for a small flow already read and prepared
/// off the writer ([`casellario_ingest::prepare_bytes`] with
/// [`ingest_options`] and `for_store`): only resolving and storing are
/// left for the writer.
pub fn submit_prepared(
    store: &mut Store,
    prepared: PreparedFlow,
    opts: &SubmitOptions,
) -> Result<Submitted, AppError> {
    check_active(store, opts)?;
    let ingested = prepared
        .ingest(Some(store))
        .map_err(|e| AppError::internal(format!("pipeline: {e}")))?;
    record(store, ingested, opts)
}

/// A deactivated ente transmits nothing (its history stays readable).
fn check_active(store: &Store, opts: &SubmitOptions) -> Result<(), AppError> {
    let ente = store
        .ente_profile(opts.ente_id)?
        .ok_or_else(AppError::not_found)?;
    if !ente.attivo {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "ENTE_DISATTIVATO",
            format!(
                "L'ente {} è disattivato: non può trasmettere dati. Rivolgersi all'amministratore del Casellario.",
                ente.codice
            ),
        ));
    }
    Ok(())
}

/// The `submission` row of a processed flow.
fn record(
    store: &mut Store,
    mut ingested: Ingested,
    opts: &SubmitOptions,
) -> Result<Submitted, AppError> {
    let mut outcomes = Vec::new();
    if opts.keep_outcomes {
        ingested
            .for_each_record(&mut |o| {
                outcomes.push(o);
                Ok(())
            })
            .map_err(|e| AppError::internal(format!("esiti: {e}")))?;
    }
    let r = &ingested.report;
    // A flow rejected whole stored nothing: even when it reused the name of
    // an acquired flow, it must not point at that flow.
    let flow_id = if r.rejected_whole { None } else { r.flow_id };
    let submission_id = store.record_submission(&NewSubmission {
        ente_id: opts.ente_id,
        account_id: opts.account_id,
        channel: opts.channel,
        source_name: opts.source_name.as_deref(),
        id_flusso: r.id_flusso.as_deref(),
        tipo: r.tipo,
        flow_id,
        codice_esito: r.codice_esito,
        record_count: r.totals.records,
        accettati: r.totals.accettati,
        duplicati: r.totals.duplicati,
        scartati: r.totals.scartati,
        avvisi: r.totals.avvisi,
        rejected_whole: r.rejected_whole,
        already: r.already_acquired,
        flow_violations: &r.flow_violations,
        size_bytes: r.size_bytes,
        sha256: r.sha256,
    })?;
    let location = match flow_id {
        Some(f) => format!("/flussi/{f}"),
        None => format!("/flussi/invii/{submission_id}"),
    };
    Ok(Submitted {
        report: ingested.report,
        submission_id,
        outcomes,
        location,
    })
}
