//! Casellario domain core: the types of the two INPS flows, the codice fiscale,
//! the reference tables built into the binary and the validation rules.
//!
//! Architecture invariant: this crate does no I/O. Everything here is a pure
//! function of its inputs (reference tables are compiled in).

pub mod access;
pub mod catalogue;
pub mod cf;
pub mod codec;
pub mod codes;
pub mod date;
pub mod model;
pub mod outcome;
pub mod reference;
pub mod rules;
pub mod xsd;

pub use date::Date;
pub use outcome::{Category, Channel, CodiceEsito, Esito, FlowType, Profile, Severity, Violation};
