//! XML wire format of the two INPS flows: a streaming reader that applies
//! XML 1.0 well-formedness and the official XSDs exactly as xmllint does,
//! and a writer producing documents that read back identically.

mod input;
mod lex;
mod reader;
mod schema;
mod tok;
mod writer;

pub use reader::XmlFlowReader;
pub use writer::XmlFlowWriter;
