//! The one ingestion pipeline of Casellario. Every channel (command line,
//! web form, upload, cooperation API, WaaS) hands its flow to [`ingest`] and
//! gets the same receipt for the same content.
//!
//! Three stages on three threads, connected by bounded channels of batches:
//! 1. **parse** (caller's thread): the XML or CSV reader validates structure
//!    and simple types and hashes the raw bytes (SHA-256) as it reads;
//! 2. **prepare**: business rules, natural key, canonical payload;
//! 3. **resolve**: the owner of the store transaction decides duplicates and
//!    cancellations, writes the facts and logs every outcome.
//!
//! A flow is one transaction: committed whole, or (not well-formed, invalid
//! `IdentificazioneFlusso`, channel rule broken, crash) not at all.

pub mod export;
mod input;
mod log;
mod prepare;
pub mod receipt;
mod resolve;

pub use input::{InputFormat, ReadTally};
pub use log::{OutcomeLog, RecordOutcome};
pub use prepare::{canonical_payload, decode_payload, key_hash, normalize_cf};
pub use resolve::Totals;

use casellario_domain::catalogue::{
    CANALE_UN_RECORD, REG_ENTE_NON_CORRISPONDENTE, REG_FLUSSO_NOME_RIUSATO,
};
use casellario_domain::model::IdentificazioneFlusso;
use casellario_domain::rules::{self, RuleContext};
use casellario_domain::{
    Channel, CodiceEsito, Date, Esito, FlowType, Profile, Severity, Violation,
};
use casellario_formats::{FlowItem, Limits, ParsedRecord, ReadOptions};
use casellario_store::{FlowBegin, FlowFinish, FlowSummary, NewFlow, Store, StoreError};
use crossbeam_channel::{Receiver, Sender, bounded};
use prepare::{Prepared, Preparer};
use resolve::{Keys, ResolveError, Resolver};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const BATCH: usize = 256;

/// Inputs at least this big are validated with their keys in a scratch
/// database rather than in memory.
const SCRATCH_BYTES: u64 = 100 << 20;

/// How a flow is to be ingested.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub profile: Profile,
    pub channel: Channel,
    pub format: InputFormat,
    /// Validate against this flow type (else detected).
    pub expected: Option<FlowType>,
    /// "Today" for the rules (ages, future dates).
    pub today: Date,
    /// File name or channel reference, kept with the flow.
    pub source_name: Option<String>,
    /// When set (portal, API), the flow's `Ente/@Codice` must be this ente.
    pub caller_ente: Option<String>,
    /// Size of the input when known (a dry run of a big input keeps its keys
    /// on disk).
    pub size_hint: Option<u64>,
    pub limits: Limits,
}

impl IngestOptions {
    pub fn new(today: Date) -> Self {
        IngestOptions {
            profile: Profile::Strict,
            channel: Channel::Upload,
            format: InputFormat::Auto,
            expected: None,
            today,
            source_name: None,
            caller_ente: None,
            size_hint: None,
            limits: Limits::default(),
        }
    }
}

/// Live counters for progress display.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub bytes: Arc<AtomicU64>,
    pub records: Arc<AtomicU64>,
}

/// What the pipeline concluded about a flow.
#[derive(Debug, Clone)]
pub struct FlowReport {
    pub id_flusso: Option<String>,
    pub tipo: Option<FlowType>,
    pub codice_ente: Option<String>,
    pub profile: Profile,
    pub channel: Channel,
    pub codice_esito: CodiceEsito,
    pub totals: Totals,
    /// Violations outside any record (header, structure, channel, fatal errors).
    pub flow_violations: Vec<Violation>,
    /// Nothing of the flow was (or would be) stored.
    pub rejected_whole: bool,
    /// The input could not be read as a flow at all (I/O, not XML/CSV, not well-formed).
    pub unreadable: bool,
    /// The same flow (same name, same content) had already been acquired.
    pub already_acquired: bool,
    /// Register id of the flow, when stored (or of the original, when already acquired).
    pub flow_id: Option<i64>,
    pub sha256: [u8; 32],
    pub size_bytes: u64,
    pub stored: bool,
}

impl FlowReport {
    /// Command-line exit status: 0 every record accepted or duplicate, 1 some
    /// rejected, 2 the input could not be read at all.
    pub fn exit_code(&self) -> i32 {
        if self.unreadable {
            2
        } else if self.rejected_whole
            || self.totals.scartati > 0
            || self.flow_violations.iter().any(Violation::is_error)
        {
            1
        } else {
            0
        }
    }
}

/// A processed flow: its report and the per-record outcomes.
pub struct Ingested {
    pub report: FlowReport,
    pub log: OutcomeLog,
}

impl Ingested {
    /// Every record's outcome in order, with the whole-flow rejection applied.
    pub fn for_each_record(
        &mut self,
        f: &mut dyn FnMut(RecordOutcome) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let whole = self.report.rejected_whole;
        let code = self.report.codice_esito;
        self.log.replay(&mut |mut o| {
            if whole {
                o.esito = Esito::Scartato;
                o.codice = o.codice.max(code);
                o.ref_id = None;
            }
            f(o)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("registro non disponibile: {0}")]
    Store(#[from] StoreError),
    #[error("file temporaneo degli esiti: {0}")]
    Io(#[from] std::io::Error),
    #[error("errore interno della pipeline: {0}")]
    Internal(String),
}

impl From<ResolveError> for IngestError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Store(s) => IngestError::Store(s),
            ResolveError::Log(i) => IngestError::Io(i),
        }
    }
}

/// Messages along the pipeline, in order.
enum Msg<T> {
    Batch(Vec<T>),
    End(EndInfo),
}

struct EndInfo {
    sha256: [u8; 32],
    size_bytes: u64,
    flow_violations: Vec<Violation>,
    rejected_whole: bool,
    records: u64,
}

enum Begin {
    /// Records will be resolved (stored when a transaction exists).
    Go,
    /// The flow name is already registered for this ente.
    Existing,
}

struct WriterResult {
    totals: Totals,
    log: OutcomeLog,
    flow_id: Option<i64>,
    stored: bool,
    already: bool,
    extra_violations: Vec<Violation>,
    rejected_whole: bool,
}

/// Ingests one flow. With `store = None` this is the dry run (`validate`):
/// the same checks and the same outcomes an empty register would give,
/// nothing written.
pub fn ingest<R: Read + Send>(
    mut input: R,
    opts: &IngestOptions,
    store: Option<&mut Store>,
    progress: Option<&Progress>,
) -> Result<Ingested, IngestError> {
    if let Some(hint) = opts.size_hint.filter(|&n| n <= INLINE_BYTES) {
        // Small input: read it whole and run the stages on this thread.
        let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0) + 1);
        (&mut input).take(INLINE_BYTES + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 <= INLINE_BYTES {
            return ingest_bytes(&buf, opts, store, progress);
        }
        // The hint was wrong: what was read, then the rest, the usual way.
        return ingest_threaded(
            std::io::Cursor::new(buf).chain(input),
            opts,
            store,
            progress,
        );
    }
    ingest_threaded(input, opts, store, progress)
}

/// Inputs up to this size whose size is known are ingested on the caller's
/// thread ([`ingest_bytes`]).
const INLINE_BYTES: u64 = 256 << 10;

/// Ingests a flow held in memory, every stage on the caller's thread: the
/// path of the machine channels' one-record flows, where thread hand-offs
/// would cost more than the work. Same stages, same outcomes as [`ingest`].
pub fn ingest_bytes(
    input: &[u8],
    opts: &IngestOptions,
    store: Option<&mut Store>,
    progress: Option<&Progress>,
) -> Result<Ingested, IngestError> {
    prepare_inner(input, opts, store.is_some(), progress)?.ingest(store)
}

/// Reads, checks and prepares a flow held in memory without the register:
/// everything of [`ingest_bytes`] but resolving and storing, which
/// [`PreparedFlow::ingest`] does. Lets a channel do the CPU work of many
/// small flows off the register's single writer (`for_store`: the flow
/// will be stored, so its records' payloads are encoded).
pub fn prepare_bytes(
    input: &[u8],
    opts: &IngestOptions,
    for_store: bool,
) -> Result<PreparedFlow, IngestError> {
    prepare_inner(input, opts, for_store, None)
}

/// A flow read and prepared by [`prepare_bytes`], to be resolved against
/// the register.
pub struct PreparedFlow(PreparedInner);

enum PreparedInner {
    /// Nothing left to do: the input could not be read as a flow.
    Done(Box<Ingested>),
    Ready(Box<ReadyFlow>),
}

struct ReadyFlow {
    opts: IngestOptions,
    tally: ReadTally,
    ident: IdentificazioneFlusso,
    tipo: FlowType,
    header_rejected: bool,
    for_store: bool,
    fatal: bool,
    rejected_whole: bool,
    prepared: Receiver<Msg<Prepared>>,
}

impl PreparedFlow {
    /// Resolves the prepared records against `store` (or none: a dry run)
    /// and writes them, exactly as [`ingest`] would have.
    pub fn ingest(self, store: Option<&mut Store>) -> Result<Ingested, IngestError> {
        let r = match self.0 {
            PreparedInner::Done(i) => return Ok(*i),
            PreparedInner::Ready(r) => r,
        };
        if store.is_some() && !r.for_store {
            return Err(IngestError::Internal(
                "flusso preparato per una verifica, non per il registro".into(),
            ));
        }
        let (b_tx, b_rx) = bounded::<Result<Begin, String>>(1);
        let store_w = store.filter(|_| !r.header_rejected);
        // Read whole and not rejected: the writer will commit it.
        let unguarded = !r.rejected_whole && !r.fatal;
        let wr = writer_stage(
            store_w,
            &r.opts,
            r.tipo,
            &r.ident,
            r.opts.profile,
            r.prepared,
            b_tx,
            unguarded,
        );
        let wr = match b_rx.try_recv() {
            Ok(Err(e)) => Err(IngestError::Internal(e)),
            _ => wr,
        }?;
        Ok(report(&r.opts, &r.tally, &r.ident, r.tipo, r.fatal, wr))
    }
}

fn prepare_inner(
    input: &[u8],
    opts: &IngestOptions,
    for_store: bool,
    progress: Option<&Progress>,
) -> Result<PreparedFlow, IngestError> {
    let tally = ReadTally::default();
    tally.add(input);
    let mut o = match open_flow(input, &tally, opts)? {
        Opened::Unreadable(i) => return Ok(PreparedFlow(PreparedInner::Done(Box::new(i)))),
        Opened::Open(o) => o,
    };
    // The same stages, one after the other on this thread: for a small
    // input, spawning threads and handing batches between them would cost
    // more than the work.
    let (p_tx, p_rx) = crossbeam_channel::unbounded();
    let (q_tx, q_rx) = crossbeam_channel::unbounded();
    parse_stage(
        &mut o.reader,
        opts,
        o.tipo,
        &tally,
        progress,
        false,
        &p_tx,
        &mut o.parse,
    );
    drop(p_tx);
    let preparer = Preparer::new(o.ctx, o.ente.clone(), for_store && !o.header_rejected);
    prepare_stage(preparer, p_rx, q_tx);
    Ok(PreparedFlow(PreparedInner::Ready(Box::new(ReadyFlow {
        opts: opts.clone(),
        tally,
        ident: o.ident,
        tipo: o.tipo,
        header_rejected: o.header_rejected,
        for_store,
        fatal: o.parse.fatal,
        rejected_whole: o.parse.rejected_whole,
        prepared: q_rx,
    }))))
}

fn ingest_threaded<R: Read + Send>(
    input: R,
    opts: &IngestOptions,
    store: Option<&mut Store>,
    progress: Option<&Progress>,
) -> Result<Ingested, IngestError> {
    let tally = ReadTally::default();
    std::thread::scope(|s| {
        let (blocks_tx, blocks_rx) = bounded(4);
        let (recycle_tx, recycle_rx) = bounded(8);
        let t = tally.clone();
        let hint = opts.size_hint;
        s.spawn(move || input::read_stage(input, hint, t, blocks_tx, recycle_rx));
        // Returning drops the channel reader, which stops the read stage.
        ingest_stream(
            input::ChannelReader::new(blocks_rx, recycle_tx),
            &tally,
            opts,
            store,
            progress,
        )
    })
}

/// A flow whose header was read.
struct OpenFlow<'a> {
    reader: input::ItemReader<'a>,
    ctx: RuleContext,
    ident: IdentificazioneFlusso,
    tipo: FlowType,
    ente: String,
    header_rejected: bool,
    parse: ParseState,
}

enum Opened<'a> {
    Unreadable(Ingested),
    Open(OpenFlow<'a>),
}

/// Opens the reader, reads and checks the header (rules, caller's ente).
fn open_flow<'a, R: std::io::BufRead + 'a>(
    input: R,
    tally: &ReadTally,
    opts: &IngestOptions,
) -> Result<Opened<'a>, IngestError> {
    let read_opts = ReadOptions {
        expected: opts.expected,
        limits: opts.limits,
    };
    let mut reader = match input::open_reader(input, opts.format, read_opts) {
        Ok(r) => r,
        Err(e) => return unreadable(opts, tally, e.violation()).map(Opened::Unreadable),
    };
    let header = match reader.next() {
        Some(Ok(FlowItem::Header(h))) => h,
        Some(Ok(_)) => {
            return Err(IngestError::Internal(
                "il lettore non ha prodotto l'intestazione".into(),
            ));
        }
        Some(Err(e)) => return unreadable(opts, tally, e.violation()).map(Opened::Unreadable),
        None => {
            let v = casellario_domain::catalogue::XML_MALFORMATO.violation(
                Profile::Strict,
                "",
                "Il file è vuoto: non contiene alcun flusso.",
            );
            return unreadable(opts, tally, v).map(Opened::Unreadable);
        }
    };
    let ctx = RuleContext {
        profile: opts.profile,
        channel: opts.channel,
        today: opts.today,
    };
    let ident = header.identificazione.clone();
    let tipo = header.tipo;
    let mut flow_violations = header.violations.clone();
    rules::check_header(&ctx, tipo, &ident, &mut flow_violations);
    let ente = ident.ente.codice.clone().unwrap_or_default();
    if let Some(caller) = &opts.caller_ente
        && caller != &ente
    {
        let mut v = REG_ENTE_NON_CORRISPONDENTE.violation(
            opts.profile,
            "IdentificazioneFlusso/Ente/@Codice",
            format!(
                "Il flusso dichiara l'ente {ente} ma è trasmesso per l'ente {caller}: un ente può inviare solo i propri flussi."
            ),
        );
        v.line = Some(header.line);
        flow_violations.push(v);
    }
    let header_rejected = flow_violations.iter().any(Violation::is_error);
    Ok(Opened::Open(OpenFlow {
        reader,
        ctx,
        ident,
        tipo,
        ente,
        header_rejected,
        parse: ParseState {
            flow_violations,
            rejected_whole: header_rejected,
            records: 0,
            fatal: false,
        },
    }))
}

fn ingest_stream<R: std::io::BufRead>(
    input: R,
    tally: &ReadTally,
    opts: &IngestOptions,
    store: Option<&mut Store>,
    progress: Option<&Progress>,
) -> Result<Ingested, IngestError> {
    let OpenFlow {
        mut reader,
        ctx,
        ident,
        tipo,
        ente,
        header_rejected,
        mut parse,
    } = match open_flow(input, tally, opts)? {
        Opened::Unreadable(i) => return Ok(i),
        Opened::Open(o) => o,
    };
    let (p_tx, p_rx) = bounded::<Msg<(Box<ParsedRecord>, Option<CodiceEsito>)>>(8);
    let (q_tx, q_rx) = bounded::<Msg<Prepared>>(8);
    let (b_tx, b_rx) = bounded::<Result<Begin, String>>(1);
    let wr = std::thread::scope(|s| {
        let preparer = Preparer::new(ctx, ente.clone(), store.is_some() && !header_rejected);
        let q = s.spawn(move || prepare_stage(preparer, p_rx, q_tx));
        let profile = opts.profile;
        let ident_w = ident.clone();
        let store_w = store.filter(|_| !header_rejected);
        let w = s
            .spawn(move || writer_stage(store_w, opts, tipo, &ident_w, profile, q_rx, b_tx, false));

        // Parse stage on this thread, once the writer knows whether the
        // flow is new.
        let begin = b_rx
            .recv()
            .map_err(|_| IngestError::Internal("avvio del registro interrotto".into()))?;
        let begin = begin.map_err(IngestError::Internal);
        let verify = matches!(&begin, Ok(Begin::Existing));
        parse_stage(
            &mut reader,
            opts,
            tipo,
            tally,
            progress,
            verify,
            &p_tx,
            &mut parse,
        );
        drop(p_tx);
        q.join()
            .map_err(|_| IngestError::Internal("fase di preparazione interrotta".into()))?;
        let wr = w
            .join()
            .map_err(|_| IngestError::Internal("fase di registrazione interrotta".into()))??;
        begin?;
        Ok::<_, IngestError>(wr)
    })?;
    Ok(report(opts, tally, &ident, tipo, parse.fatal, wr))
}

/// The flow's report from what the writer concluded.
fn report(
    opts: &IngestOptions,
    tally: &ReadTally,
    ident: &IdentificazioneFlusso,
    tipo: FlowType,
    unreadable: bool,
    wr: WriterResult,
) -> Ingested {
    // The flow-level list built by the parse stage travels in EndInfo through
    // the writer, which may add its own (flow name reused).
    let mut fv = wr.extra_violations;
    fv.sort_by_key(|v| v.line.unwrap_or(0));
    let rejected_whole = wr.rejected_whole;
    let mut codice = wr.totals.worst.unwrap_or(CodiceEsito::Ok);
    for v in fv.iter().filter(|v| v.is_error()) {
        codice = codice.max(v.codice_esito());
    }
    if rejected_whole && codice == CodiceEsito::Ok {
        codice = CodiceEsito::RichiestaInvalida;
    }
    let report = FlowReport {
        id_flusso: ident.nome.clone(),
        tipo: Some(tipo),
        codice_ente: ident.ente.codice.clone(),
        profile: opts.profile,
        channel: opts.channel,
        codice_esito: codice,
        totals: rescore(
            Totals {
                avvisi: wr.totals.avvisi
                    + fv.iter().filter(|v| v.severity == Severity::Avviso).count() as u64,
                ..wr.totals
            },
            rejected_whole,
        ),
        flow_violations: fv,
        rejected_whole,
        unreadable,
        already_acquired: wr.already,
        flow_id: wr.flow_id,
        sha256: tally.sha256(),
        size_bytes: tally.bytes(),
        stored: wr.stored,
    };
    Ingested {
        report,
        log: wr.log,
    }
}

/// What the parse stage learnt about the flow as a whole.
struct ParseState {
    flow_violations: Vec<Violation>,
    rejected_whole: bool,
    records: u64,
    /// The reader failed for good (not well-formed, I/O): the input is unreadable.
    fatal: bool,
}

/// The parse stage: reads every record, applies the channel's one-record
/// rule, hands records on in batches (unless `verify`: a resubmission only
/// needs counting) and ends with the flow-level facts.
#[allow(clippy::too_many_arguments)]
fn parse_stage(
    reader: &mut input::ItemReader<'_>,
    opts: &IngestOptions,
    tipo: FlowType,
    tally: &ReadTally,
    progress: Option<&Progress>,
    verify: bool,
    p_tx: &Sender<Msg<(Box<ParsedRecord>, Option<CodiceEsito>)>>,
    st: &mut ParseState,
) {
    // Code given to every record of a flow rejected whole.
    let mut whole_code = whole_code_of(&st.flow_violations);
    let mut batch = Vec::with_capacity(if verify { 0 } else { BATCH.min(16) });
    let mut send_failed = false;
    for item in reader.by_ref() {
        match item {
            Ok(FlowItem::Record(r)) => {
                st.records += 1;
                if let Some(p) = progress {
                    p.records.store(st.records, Ordering::Relaxed);
                    p.bytes.store(tally.bytes(), Ordering::Relaxed);
                }
                if st.records == 2 && opts.channel.single_record() {
                    let mut v = CANALE_UN_RECORD.violation(
                        opts.profile,
                        if tipo == FlowType::Sinba { "SINBA" } else { "Beneficiario/PrestazioniSociali" },
                        format!(
                            "Tramite {} è consentito l'invio di un solo beneficiario e di una sola prestazione per flusso: questo flusso ne contiene di più. Inviare un flusso per ogni prestazione o usare il caricamento di file.",
                            if opts.channel == Channel::Waas { "WaaS" } else { "cooperazione applicativa" }
                        ),
                    );
                    v.line = Some(r.line);
                    st.flow_violations.push(v);
                    st.rejected_whole = true;
                    whole_code = whole_code_of(&st.flow_violations);
                }
                if verify {
                    continue;
                }
                batch.push((r, st.rejected_whole.then_some(whole_code)));
                if batch.len() == BATCH
                    && p_tx.send(Msg::Batch(std::mem::take(&mut batch))).is_err()
                {
                    send_failed = true;
                    break;
                }
            }
            Ok(FlowItem::FlowViolation(v)) => st.flow_violations.push(v),
            Ok(FlowItem::Header(_)) => {}
            Err(e) => {
                st.flow_violations.push(e.violation());
                st.rejected_whole = true;
                st.fatal = true;
                break;
            }
        }
    }
    if !batch.is_empty() && !send_failed {
        let _ = p_tx.send(Msg::Batch(batch));
    }
    if let Some(p) = progress {
        p.bytes.store(tally.bytes(), Ordering::Relaxed);
    }
    if st.records == 0 && !st.fatal && !st.flow_violations.iter().any(|v| v.rule == "FLUSSO_VUOTO")
    {
        st.flow_violations
            .push(casellario_domain::catalogue::FLUSSO_VUOTO.violation(
                Profile::Strict,
                "Flusso",
                "Il flusso non contiene alcun record.",
            ));
    }
    if st.records == 0 {
        st.rejected_whole = true;
    }
    let end = EndInfo {
        sha256: tally.sha256(),
        size_bytes: tally.bytes(),
        flow_violations: st.flow_violations.clone(),
        rejected_whole: st.rejected_whole,
        records: st.records,
    };
    let _ = p_tx.send(Msg::End(end));
}

/// Totals as the receipt shows them: a flow rejected whole has every record rejected.
fn rescore(t: Totals, rejected_whole: bool) -> Totals {
    if rejected_whole {
        Totals {
            accettati: 0,
            duplicati: 0,
            scartati: t.records,
            ..t
        }
    } else {
        t
    }
}

fn unreadable(
    opts: &IngestOptions,
    tally: &ReadTally,
    v: Violation,
) -> Result<Ingested, IngestError> {
    let code = v.codice_esito();
    Ok(Ingested {
        report: FlowReport {
            id_flusso: None,
            tipo: None,
            codice_ente: None,
            profile: opts.profile,
            channel: opts.channel,
            codice_esito: code,
            totals: Totals::default(),
            flow_violations: vec![v],
            rejected_whole: true,
            unreadable: true,
            already_acquired: false,
            flow_id: None,
            sha256: tally.sha256(),
            size_bytes: tally.bytes(),
            stored: false,
        },
        log: OutcomeLog::new()?,
    })
}

/// Gravest code among the error violations of the flow (for records of a
/// flow rejected whole).
fn whole_code_of(v: &[Violation]) -> CodiceEsito {
    v.iter()
        .filter(|v| v.is_error())
        .map(Violation::codice_esito)
        .max()
        .unwrap_or(CodiceEsito::RichiestaInvalida)
}

fn prepare_stage(
    mut preparer: Preparer,
    rx: Receiver<Msg<(Box<ParsedRecord>, Option<CodiceEsito>)>>,
    tx: Sender<Msg<Prepared>>,
) {
    for msg in rx {
        let out = match msg {
            Msg::Batch(b) => Msg::Batch(
                b.into_iter()
                    .map(|(r, forced)| preparer.prepare(r, forced))
                    .collect(),
            ),
            Msg::End(e) => Msg::End(e),
        };
        if tx.send(out).is_err() {
            return;
        }
    }
}

/// `unguarded`: the flow is known not to be rejected whole, and inside a
/// [`Store::batch`] it needs no savepoint of its own
/// ([`Store::begin_flow_unguarded`]).
#[allow(clippy::too_many_arguments)]
fn writer_stage(
    store: Option<&mut Store>,
    opts: &IngestOptions,
    tipo: FlowType,
    ident: &IdentificazioneFlusso,
    profile: Profile,
    rx: Receiver<Msg<Prepared>>,
    begin_tx: Sender<Result<Begin, String>>,
    unguarded: bool,
) -> Result<WriterResult, IngestError> {
    let log = OutcomeLog::new()?;
    let Some(store) = store else {
        let _ = begin_tx.send(Ok(Begin::Go));
        // A dry run keeps the flow's keys in memory; for a big input it keeps
        // them in a scratch database instead, so memory stays bounded.
        let big = opts.size_hint.is_some_and(|n| n >= SCRATCH_BYTES);
        let scratch_dir = if big {
            Some(tempfile::tempdir()?)
        } else {
            None
        };
        let scratch = match &scratch_dir {
            Some(d) => Some(Store::open(&d.path().join("validate.db"))?),
            None => None,
        };
        let mut scratch_tx = match &scratch {
            Some(st) => match split_begin(st.begin_flow(&NewFlow {
                nome: "validate",
                tipo,
                channel: opts.channel,
                profile,
                ente_codice: "validate",
                ente_denominazione: None,
                ente_belfiore: "",
                cf_operatore: "",
                source_name: None,
            })?) {
                Ok(tx) => Some(tx),
                Err(_) => {
                    return Err(IngestError::Internal(
                        "database temporaneo non vuoto".into(),
                    ));
                }
            },
            None => None,
        };
        let keys = Keys::Memory {
            tx: scratch_tx.as_mut(),
            map: HashMap::new(),
        };
        let mut r = Resolver::new(keys, profile, log, false);
        let end = drain(&mut r, &rx)?;
        return Ok(WriterResult {
            totals: r.totals,
            log: r.log,
            flow_id: None,
            stored: false,
            already: false,
            extra_violations: end.flow_violations,
            rejected_whole: end.rejected_whole,
        });
    };
    let ente = ident.ente.codice.clone().unwrap_or_default();
    let fresh = match store.has_versions(&ente, tipo) {
        Ok(any) => !any,
        Err(e) => {
            let _ = begin_tx.send(Err(e.to_string()));
            return Err(e.into());
        }
    };
    let meta = NewFlow {
        nome: ident.nome.as_deref().unwrap_or(""),
        tipo,
        channel: opts.channel,
        profile,
        ente_codice: &ente,
        ente_denominazione: ident.ente.denominazione.as_deref(),
        ente_belfiore: ident.ente.indirizzo.as_deref().unwrap_or(""),
        cf_operatore: ident.ente.cf_operatore.as_deref().unwrap_or(""),
        source_name: opts.source_name.as_deref(),
    };
    let begun = match if unguarded {
        store.begin_flow_unguarded(&meta)
    } else {
        store.begin_flow(&meta)
    } {
        Ok(b) => b,
        Err(e) => {
            let _ = begin_tx.send(Err(e.to_string()));
            return Err(e.into());
        }
    };
    // The FlowTx borrows the store; it must be dead (not merely None) before
    // the store can be read for the original receipt.
    let mut tx = match split_begin(begun) {
        Ok(tx) => tx,
        Err(summary) => {
            let _ = begin_tx.send(Ok(Begin::Existing));
            return existing_flow(store, summary, &rx, log, profile);
        }
    };
    {
        {
            let _ = begin_tx.send(Ok(Begin::Go));
            let flow_id = tx.flow_id();
            let (totals, log, end) = {
                let keys = if fresh {
                    Keys::Memory {
                        tx: Some(&mut tx),
                        map: HashMap::new(),
                    }
                } else {
                    Keys::Store(&mut tx)
                };
                let mut r = Resolver::new(keys, profile, log, true);
                let end = drain(&mut r, &rx)?;
                (r.totals, r.log, end)
            };
            if end.rejected_whole {
                drop(tx);
                return Ok(WriterResult {
                    totals,
                    log,
                    flow_id: None,
                    stored: false,
                    already: false,
                    extra_violations: end.flow_violations,
                    rejected_whole: true,
                });
            }
            let mut codice = totals.worst.unwrap_or(CodiceEsito::Ok);
            for v in end.flow_violations.iter().filter(|v| v.is_error()) {
                codice = codice.max(v.codice_esito());
            }
            let avvisi_flow = end
                .flow_violations
                .iter()
                .filter(|v| v.severity == Severity::Avviso)
                .count() as u64;
            let fin = FlowFinish {
                content_sha256: end.sha256,
                size_bytes: end.size_bytes,
                record_count: totals.records,
                accettati: totals.accettati,
                duplicati: totals.duplicati,
                scartati: totals.scartati,
                avvisi: totals.avvisi + avvisi_flow,
                codice_esito: codice,
                flow_violations: end.flow_violations.clone(),
            };
            tx.commit(&fin)?;
            Ok(WriterResult {
                totals,
                log,
                flow_id: Some(flow_id),
                stored: true,
                already: false,
                extra_violations: end.flow_violations,
                rejected_whole: false,
            })
        }
    }
}

fn split_begin(b: FlowBegin<'_>) -> Result<casellario_store::FlowTx<'_>, Box<FlowSummary>> {
    match b {
        FlowBegin::New(tx) => Ok(tx),
        FlowBegin::Existing(s) => Err(Box::new(s)),
    }
}

/// Logs every position of a flow as rejected (a resubmission that cannot be accepted).
fn reject_all(records: u64, totals: &mut Totals, log: &mut OutcomeLog) -> std::io::Result<()> {
    for pos in 1..=records {
        let o = RecordOutcome {
            pos,
            line: 0,
            esito: Esito::Scartato,
            codice: CodiceEsito::RichiestaInvalida,
            ref_id: None,
            violations: vec![],
        };
        totals.add(&o);
        log.push(&o)?;
    }
    Ok(())
}

/// A flow whose name the ente already used: identical content means every
/// record is a duplicate of the original outcome; different content is refused.
fn existing_flow(
    store: &Store,
    summary: Box<FlowSummary>,
    rx: &Receiver<Msg<Prepared>>,
    log: OutcomeLog,
    profile: Profile,
) -> Result<WriterResult, IngestError> {
    let end = drain_end(rx);
    let mut log = log;
    let mut totals = Totals::default();
    let mut extra = end.flow_violations;
    let mut rejected_whole = end.rejected_whole;
    if end.rejected_whole {
        // Broken resubmission: report it like any rejected flow.
        reject_all(end.records, &mut totals, &mut log)?;
    } else if end.sha256 == summary.content_sha256 {
        let mut err = None;
        store.for_each_receipt_row(summary.id, &mut |row| {
            let o = RecordOutcome {
                pos: row.pos,
                line: 0,
                esito: Esito::Duplicato,
                codice: row.codice,
                ref_id: row.ref_id,
                violations: row.violations,
            };
            totals.add(&o);
            if let Err(e) = log.push(&o) {
                err = Some(e);
            }
            Ok(())
        })?;
        if let Some(e) = err {
            return Err(e.into());
        }
    } else {
        let mut v = REG_FLUSSO_NOME_RIUSATO.violation(
                    profile,
                    "IdentificazioneFlusso/@Nome",
                    format!(
                        "Il flusso {} è già stato acquisito (acquisizione {}) con un contenuto diverso: un nome di flusso non può essere riutilizzato. Assegnare al nuovo flusso un nuovo progressivo.",
                        summary.nome, summary.id
                    ),
                );
        v.line = Some(1);
        extra.push(v);
        rejected_whole = true;
        reject_all(end.records, &mut totals, &mut log)?;
    }
    Ok(WriterResult {
        totals,
        log,
        flow_id: Some(summary.id),
        stored: false,
        already: !rejected_whole,
        extra_violations: extra,
        rejected_whole,
    })
}

/// Resolves every record until the end message.
fn drain(r: &mut Resolver<'_, '_>, rx: &Receiver<Msg<Prepared>>) -> Result<EndInfo, IngestError> {
    for msg in rx {
        match msg {
            Msg::Batch(b) => {
                for p in b {
                    r.resolve(p)?;
                }
            }
            Msg::End(e) => return Ok(e),
        }
    }
    Err(IngestError::Internal(
        "flusso interrotto prima della fine".into(),
    ))
}

fn drain_end(rx: &Receiver<Msg<Prepared>>) -> EndInfo {
    for msg in rx {
        if let Msg::End(e) = msg {
            return e;
        }
    }
    EndInfo {
        sha256: [0; 32],
        size_bytes: 0,
        flow_violations: vec![],
        rejected_whole: true,
        records: 0,
    }
}
