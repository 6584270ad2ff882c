//! XML wire format of the two INPS flows: a streaming reader that applies
//! XML 1.0 well-formedness and the official XSDs exactly as xmllint does,
//! and a writer producing documents that read back identically.

mod input;
mod lex;
mod reader;
pub(crate) mod schema;
mod tok;
mod writer;

pub(crate) use lex::is_xml_char;
pub use reader::XmlFlowReader;
pub use writer::XmlFlowWriter;
pub(crate) use writer::{escape_attr, escape_text};
