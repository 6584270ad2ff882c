//! Wire formats of the INPS flows, mapped to the domain model
//! (`casellario_domain::model`): a streaming, namespace-aware XML reader that
//! validates exactly what the official XSDs validate, an XML writer, and the
//! CSV equivalent (layout in `docs/TRACCIATO_CSV.md`).
//!
//! Readers are iterators of [`FlowItem`]: first the header, then records in
//! document order, each with its own structural violations, so that one bad
//! record never stops the others. A fatal [`ReadError`] (not well-formed,
//! hostile, unreadable) ends the stream: the flow is then rejected whole.

pub mod csv;
pub mod json;

use casellario_domain::model::{IdentificazioneFlusso, Record};
use casellario_domain::{FlowType, Violation};

/// Safety limits of the readers (memory stays bounded whatever the input).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest run of bytes between two `>` (a tag, an attribute, a text node).
    pub max_markup_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Records of one `Beneficiario` held back until its end tag, so that a
    /// late structural error can still reject all of them; past this many the
    /// records are released and a later error is reported at flow level.
    pub max_buffered_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_markup_bytes: 1 << 20,
            max_depth: 64,
            max_buffered_records: 10_000,
        }
    }
}

/// Options of a reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Validate against this flow type's XSD; `None` = detect from the first
    /// record element (`Beneficiario` or `SINBA`), then from the flow name.
    pub expected: Option<FlowType>,
    pub limits: Limits,
}

/// The flow header.
#[derive(Debug, Clone)]
pub struct FlowHeader {
    pub tipo: FlowType,
    pub identificazione: IdentificazioneFlusso,
    /// Structural violations of `IdentificazioneFlusso`/`Ente`: when any is an
    /// error the flow is rejected whole.
    pub violations: Vec<Violation>,
    pub line: u64,
}

/// One record (a `PrestazioniSociali` with its beneficiary, or a `SINBA`).
#[derive(Debug, Clone)]
pub struct ParsedRecord {
    /// 1-based position of the record in the flow.
    pub pos: u64,
    /// Line (XML) or row (CSV) where the record starts.
    pub line: u64,
    pub record: Record,
    /// XML and schema violations of this record (including those of its
    /// `Beneficiario`, which apply to each of its records).
    pub violations: Vec<Violation>,
}

/// What a reader yields. Records are boxed: they travel through several
/// queues and threads, and moving a pointer is cheaper than moving ~700 bytes.
#[derive(Debug, Clone)]
pub enum FlowItem {
    Header(FlowHeader),
    Record(Box<ParsedRecord>),
    /// A structural violation outside any record (e.g. a `Beneficiario` with
    /// no `PrestazioniSociali`, an unexpected element under `Flusso`).
    FlowViolation(Violation),
}

/// A fatal reading error: the flow cannot be read any further.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The input could not be read (I/O).
    #[error("lettura del file non riuscita: {0}")]
    Io(#[from] std::io::Error),
    /// Not well-formed, hostile, wrongly encoded or not a flow at all: the
    /// violation says which (category `xml`, or `schema` for a wrong root).
    #[error("{}", .0.message)]
    Invalid(Violation),
}

impl ReadError {
    /// The violation to put in the receipt.
    pub fn violation(&self) -> Violation {
        match self {
            ReadError::Io(e) => casellario_domain::catalogue::XML_MALFORMATO.violation(
                casellario_domain::Profile::Strict,
                "",
                format!("Lettura del file non riuscita: {e}"),
            ),
            ReadError::Invalid(v) => v.clone(),
        }
    }
}

pub mod xml;
pub use xml::{XmlFlowReader, XmlFlowWriter};
