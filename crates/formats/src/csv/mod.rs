//! CSV wire format (layout in `docs/TRACCIATO_CSV.md`): one row per
//! beneficiary × benefit (PS_PSA_SINA) or per `SINBA` element, columns named
//! as the XSD attributes, every row repeating the flow identification.
//!
//! Values go through the same checked setters as the XML reader
//! ([`XsdElement::set_attr`](casellario_domain::model::XsdElement::set_attr)),
//! so a CSV flow is accepted or rejected exactly as the equivalent XML one;
//! the only extras are the spreadsheet notations (decimal comma, `GG/MM/AAAA`
//! dates, trimmed cells, Windows-1252 rows).

mod layout;
mod reader;
mod writer;

pub use layout::column_names;
pub use reader::{CsvFlowReader, MAX_FIELD_BYTES};
pub use writer::CsvFlowWriter;
