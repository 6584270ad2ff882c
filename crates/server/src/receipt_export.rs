//! Receipts of stored transmissions: the rows of a flow (or of a submission
//! that stored nothing), filtered as the receipt page filters them, and
//! their downloads — JSON in the shape of `docs/ricevuta.schema.json`, CSV
//! for a spreadsheet in an Italian locale. Everything streams: a flow can
//! have a million records.

use std::io::{self, Write};

use casellario_domain::{CodiceEsito, Esito, Severity, Violation};
use casellario_ingest::receipt::{ReceiptHead, ReceiptRecord, Riepilogo};
use casellario_store::portal::SubmissionDetail;
use casellario_store::{FlowSummary, ReceiptRow, Store, StoreError};

/// What the receipt is about.
pub enum Source {
    Flow(FlowSummary),
    /// A submission that stored nothing; `ente_codice` of the submitting ente.
    Submission(SubmissionDetail, String),
}

/// Which rows a receipt shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsitoFilter {
    Accettato,
    Duplicato,
    Scartato,
    /// Records with at least one warning.
    Avvisi,
}

impl EsitoFilter {
    pub fn from_query(s: &str) -> Option<Self> {
        match s {
            "accettato" => Some(EsitoFilter::Accettato),
            "duplicato" => Some(EsitoFilter::Duplicato),
            "scartato" => Some(EsitoFilter::Scartato),
            "avvisi" => Some(EsitoFilter::Avvisi),
            _ => None,
        }
    }
    pub fn wire(self) -> &'static str {
        match self {
            EsitoFilter::Accettato => "accettato",
            EsitoFilter::Duplicato => "duplicato",
            EsitoFilter::Scartato => "scartato",
            EsitoFilter::Avvisi => "avvisi",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub esito: Option<EsitoFilter>,
    /// A rule code (`[A-Z0-9_]+`).
    pub regola: Option<String>,
}

impl Filter {
    /// From query parameters; unknown values are ignored.
    pub fn from_query(esito: Option<&str>, regola: Option<&str>) -> Filter {
        let regola = regola.map(str::trim).filter(|r| {
            !r.is_empty()
                && r.len() <= 64
                && r.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        Filter {
            esito: esito.and_then(EsitoFilter::from_query),
            regola: regola.map(str::to_string),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.esito.is_none() && self.regola.is_none()
    }

    pub fn matches(&self, r: &ReceiptRow) -> bool {
        let esito_ok = match self.esito {
            None => true,
            Some(EsitoFilter::Accettato) => r.esito == Esito::Accettato,
            Some(EsitoFilter::Duplicato) => r.esito == Esito::Duplicato,
            Some(EsitoFilter::Scartato) => r.esito == Esito::Scartato,
            Some(EsitoFilter::Avvisi) => {
                r.violations.iter().any(|v| v.severity == Severity::Avviso)
            }
        };
        esito_ok
            && self
                .regola
                .as_deref()
                .is_none_or(|code| r.violations.iter().any(|v| v.rule == code))
    }

    /// `esito=…&regola=…&` for links (values are from fixed sets or
    /// `[A-Z0-9_]`, so they need no escaping); empty without filters.
    pub fn query_prefix(&self) -> String {
        let mut s = String::new();
        if let Some(e) = self.esito {
            s.push_str("esito=");
            s.push_str(e.wire());
            s.push('&');
        }
        if let Some(r) = &self.regola {
            s.push_str("regola=");
            s.push_str(r);
            s.push('&');
        }
        s
    }
}

/// The summary of a receipt, whatever its source.
pub struct Summary {
    pub nome: Option<String>,
    pub tipo: Option<&'static str>,
    pub ente_codice: String,
    pub canale: &'static str,
    pub profilo: Option<&'static str>,
    pub codice_esito: CodiceEsito,
    pub flow_id: Option<i64>,
    pub sha256: [u8; 32],
    pub size_bytes: u64,
    pub record: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub rejected_whole: bool,
    pub learnt_at_ms: i64,
    pub source_name: Option<String>,
    pub flow_violations: Vec<Violation>,
}

impl Source {
    pub fn summary(&self) -> Summary {
        match self {
            Source::Flow(f) => Summary {
                nome: Some(f.nome.clone()),
                tipo: Some(f.tipo.wire()),
                ente_codice: f.ente_codice.clone(),
                canale: f.channel.wire(),
                profilo: Some(f.profile.wire()),
                codice_esito: f.codice_esito,
                flow_id: Some(f.id),
                sha256: f.content_sha256,
                size_bytes: f.size_bytes,
                record: f.record_count,
                accettati: f.accettati,
                duplicati: f.duplicati,
                scartati: f.scartati,
                avvisi: f.avvisi,
                rejected_whole: false,
                learnt_at_ms: f.learnt_at_ms,
                source_name: f.source_name.clone(),
                flow_violations: f.flow_violations.clone(),
            },
            Source::Submission(d, codice) => {
                let t = &d.transmission;
                Summary {
                    nome: t.nome.clone(),
                    tipo: t.tipo.map(|t| t.wire()),
                    ente_codice: codice.clone(),
                    canale: t.channel.wire(),
                    profilo: None,
                    codice_esito: t.codice_esito,
                    flow_id: None,
                    sha256: d.sha256,
                    size_bytes: d.size_bytes,
                    record: t.record_count,
                    accettati: t.accettati,
                    duplicati: t.duplicati,
                    scartati: t.scartati,
                    avvisi: t.avvisi,
                    rejected_whole: t.rejected_whole,
                    learnt_at_ms: t.learnt_at_ms,
                    source_name: t.source_name.clone(),
                    flow_violations: d.flow_violations.clone(),
                }
            }
        }
    }

    /// Every row of the receipt, in position order. A submission that
    /// stored nothing has every record rejected with the flow's code.
    pub fn for_each_row(
        &self,
        store: &Store,
        f: &mut dyn FnMut(ReceiptRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Source::Flow(flow) => store.for_each_receipt_row(flow.id, f),
            Source::Submission(d, _) => {
                let t = &d.transmission;
                for pos in 1..=t.record_count {
                    f(ReceiptRow {
                        pos,
                        esito: Esito::Scartato,
                        codice: t.codice_esito,
                        violations: Vec::new(),
                        ref_id: None,
                    })?;
                }
                Ok(())
            }
        }
    }
}

/// Italian description of a WaaS outcome code.
pub fn codice_descrizione(c: CodiceEsito) -> &'static str {
    match c {
        CodiceEsito::Ok => "Elaborazione riuscita: nessun errore.",
        CodiceEsito::DatiNonTrovati => {
            "Dati non coerenti con le regole o con le tabelle di riferimento."
        }
        CodiceEsito::RichiestaInvalida => {
            "Struttura non conforme alle specifiche SIUSS (XML, schema o intestazione)."
        }
        CodiceEsito::ErroreGenerico => "Errore generico di elaborazione.",
    }
}

impl Summary {
    /// Italian description of the outcome of the whole transmission (as
    /// the CLI's receipt words it).
    pub fn descrizione(&self) -> String {
        self.descrizione_with(|n| n.to_string())
    }

    /// The same, with numbers formatted by `num` (e.g. `1.234` for people).
    pub fn descrizione_with(&self, num: fn(u64) -> String) -> String {
        if self.rejected_whole {
            return format!(
                "Flusso respinto per intero: nessuno dei {} record è stato acquisito.",
                num(self.record)
            );
        }
        match self.codice_esito {
            CodiceEsito::Ok => format!(
                "Flusso elaborato: {} record acquisiti, {} duplicati.",
                num(self.accettati),
                num(self.duplicati)
            ),
            _ => format!(
                "Flusso elaborato parzialmente: {} record acquisiti, {} duplicati, {} scartati.",
                num(self.accettati),
                num(self.duplicati),
                num(self.scartati)
            ),
        }
    }

    /// Badge class and label: respinto, parziale, acquisito.
    pub fn badge(&self) -> (&'static str, &'static str) {
        badge(self.rejected_whole, self.scartati)
    }

    /// A name usable in a file name.
    pub fn file_stem(&self) -> String {
        let base = self
            .nome
            .clone()
            .or_else(|| self.flow_id.map(|i| i.to_string()))
            .unwrap_or_else(|| "flusso".into());
        base.chars()
            .take(120)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Badge class and label of a transmission.
pub fn badge(rejected_whole: bool, scartati: u64) -> (&'static str, &'static str) {
    if rejected_whole {
        ("badge-ko", "respinto")
    } else if scartati > 0 {
        ("badge-warn", "parziale")
    } else {
        ("badge-ok", "acquisito")
    }
}

fn store_io(e: io::Error) -> StoreError {
    StoreError::Io(e)
}

/// Writes the JSON receipt (`docs/ricevuta.schema.json`) of the rows that
/// pass `filter`. `profilo` is the portal's profile, used when the source
/// does not record one.
pub fn write_json(
    store: &Store,
    src: &Source,
    filter: &Filter,
    profilo: &'static str,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    write_json_with(store, src, filter, profilo, &Extra::default(), out)
}

/// What a receipt adds to the stored facts in some contexts: the API puts
/// its submission id and cursor first, and says when the submission found
/// the flow acquired before.
#[derive(Debug, Default)]
pub struct Extra {
    /// Members written before the receipt's own (already JSON-encoded).
    pub leading: Vec<(&'static str, serde_json::Value)>,
    pub acquisito_in_precedenza: bool,
}

/// [`write_json`] with [`Extra`] members.
pub fn write_json_with(
    store: &Store,
    src: &Source,
    filter: &Filter,
    profilo: &'static str,
    extra: &Extra,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let s = src.summary();
    let head = ReceiptHead {
        id_flusso: s.nome.as_deref(),
        tipo: s.tipo,
        codice_ente: Some(&s.ente_codice),
        codice_esito: s.codice_esito.wire(),
        descrizione_esito: s.descrizione(),
        profilo: s.profilo.unwrap_or(profilo),
        canale: s.canale,
        id_acquisizione: s.flow_id.map(|i| i.to_string()),
        acquisito_in_precedenza: extra.acquisito_in_precedenza,
        sha256: hex::encode(s.sha256),
        riepilogo: Riepilogo {
            record: s.record,
            accettati: s.accettati,
            duplicati: s.duplicati,
            scartati: s.scartati,
            avvisi: s.avvisi,
        },
        violazioni: &s.flow_violations,
    };
    let h = serde_json::to_vec(&head).map_err(|e| store_io(io::Error::other(e)))?;
    // Open the head object (after the leading members), then stream the
    // records array into it.
    let mut lead = Vec::with_capacity(64);
    lead.push(b'{');
    for (k, v) in &extra.leading {
        serde_json::to_writer(&mut lead, k).map_err(|e| store_io(io::Error::other(e)))?;
        lead.push(b':');
        serde_json::to_writer(&mut lead, v).map_err(|e| store_io(io::Error::other(e)))?;
        lead.push(b',');
    }
    out.write_all(&lead).map_err(store_io)?;
    out.write_all(&h[1..h.len() - 1]).map_err(store_io)?;
    out.write_all(b",\"record\":[").map_err(store_io)?;
    let mut first = true;
    let mut line = Vec::with_capacity(256);
    src.for_each_row(store, &mut |r| {
        if !filter.matches(&r) {
            return Ok(());
        }
        line.clear();
        if !first {
            line.push(b',');
        }
        first = false;
        let rec = ReceiptRecord {
            posizione: r.pos,
            // Stored rows do not keep the source line of a record.
            riga: None,
            esito: r.esito.wire(),
            codice_esito: r.codice.wire(),
            id_acquisizione: r.ref_id.map(|i| i.to_string()),
            violazioni: &r.violations,
        };
        serde_json::to_writer(&mut line, &rec).map_err(|e| store_io(io::Error::other(e)))?;
        out.write_all(&line).map_err(store_io)
    })?;
    out.write_all(b"]}\n").map_err(store_io)?;
    out.flush().map_err(store_io)
}

/// Columns of the CSV receipt.
pub const CSV_HEADER: &str = "posizione;esito;codice_esito;regola;gravita;campo;messaggio;riga";

/// One CSV cell: quoted, quotes doubled, and a leading `'` before what a
/// spreadsheet would read as a formula.
pub fn csv_cell(out: &mut Vec<u8>, v: &str) {
    out.push(b'"');
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push(b'\'');
    }
    for b in v.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn csv_row(out: &mut Vec<u8>, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        csv_cell(out, c);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the CSV receipt: UTF-8 with BOM, `;`, CRLF, one row per
/// violation (one row with empty violation columns for a record without).
/// Flow-level violations come first, with an empty position.
pub fn write_csv(
    store: &Store,
    src: &Source,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(b"\xEF\xBB\xBF");
    let header: Vec<&str> = CSV_HEADER.split(';').collect();
    csv_row(&mut buf, &header);
    let s = src.summary();
    if filter.is_empty() {
        for v in &s.flow_violations {
            let riga = v.line.map(|l| l.to_string()).unwrap_or_default();
            csv_row(
                &mut buf,
                &[
                    "",
                    "",
                    s.codice_esito.wire(),
                    &v.rule,
                    v.severity.wire(),
                    &v.field,
                    &v.message,
                    &riga,
                ],
            );
        }
    }
    out.write_all(&buf).map_err(store_io)?;
    src.for_each_row(store, &mut |r| {
        if !filter.matches(&r) {
            return Ok(());
        }
        buf.clear();
        let pos = r.pos.to_string();
        if r.violations.is_empty() {
            csv_row(
                &mut buf,
                &[&pos, r.esito.wire(), r.codice.wire(), "", "", "", "", ""],
            );
        }
        for v in &r.violations {
            let riga = v.line.map(|l| l.to_string()).unwrap_or_default();
            csv_row(
                &mut buf,
                &[
                    &pos,
                    r.esito.wire(),
                    r.codice.wire(),
                    &v.rule,
                    v.severity.wire(),
                    &v.field,
                    &v.message,
                    &riga,
                ],
            );
        }
        out.write_all(&buf).map_err(store_io)
    })?;
    out.flush().map_err(store_io)
}

/// One page of a receipt, and what the filters need.
pub struct Page {
    pub rows: Vec<ReceiptRow>,
    /// Rows passing the filter.
    pub matched: u64,
    /// Rule codes present in the whole receipt, sorted.
    pub rules: Vec<String>,
}

/// Scans the receipt once, keeping only the rows of page `page` (from 1)
/// of `per_page` rows passing `filter`, and the distinct rule codes.
pub fn page(
    store: &Store,
    src: &Source,
    filter: &Filter,
    page: u64,
    per_page: u64,
) -> Result<Page, StoreError> {
    let skip = page.saturating_sub(1).saturating_mul(per_page);
    let mut rows = Vec::new();
    let mut matched = 0u64;
    let mut rules = std::collections::BTreeSet::new();
    src.for_each_row(store, &mut |r| {
        for v in &r.violations {
            if !rules.contains(v.rule.as_str()) {
                rules.insert(v.rule.clone());
            }
        }
        if filter.matches(&r) {
            if matched >= skip && matched < skip + per_page {
                rows.push(r);
            }
            matched += 1;
        }
        Ok(())
    })?;
    Ok(Page {
        rows,
        matched,
        rules: rules.into_iter().collect(),
    })
}

/// A `Write` that sends chunks to an async body: the receipt is written on
/// a blocking thread and streamed to the client as it is produced.
pub struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChunkWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, io::Error>>) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "download interrotto"))
    }
    /// Ends the body with an error (the client sees a truncated download).
    pub fn fail(self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        let mut out = Vec::new();
        csv_cell(&mut out, "=SOMMA(A1)");
        csv_cell(&mut out, "+1");
        csv_cell(&mut out, "-2");
        csv_cell(&mut out, "@x");
        csv_cell(&mut out, "\tx");
        csv_cell(&mut out, "dice \"ciao\"; poi");
        csv_cell(&mut out, "");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "\"'=SOMMA(A1)\"\"'+1\"\"'-2\"\"'@x\"\"'\tx\"\"dice \"\"ciao\"\"; poi\"\"\""
        );
    }

    #[test]
    fn filters() {
        let f = Filter::from_query(Some("scartato"), Some("PS_X; DROP"));
        assert_eq!(f.esito, Some(EsitoFilter::Scartato));
        assert_eq!(f.regola, None);
        let f = Filter::from_query(Some("boh"), Some("PS_QUOTE_SOMMA"));
        assert_eq!(f.esito, None);
        assert_eq!(f.query_prefix(), "regola=PS_QUOTE_SOMMA&");
    }
}
