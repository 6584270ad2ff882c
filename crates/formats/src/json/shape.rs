//! The JSON shape of each element, derived from the two sources of truth the
//! XML reader uses: the content models (`xml::schema`: children, their order
//! and cardinality) and the typed model (`domain::model`: attributes with
//! their simple types). Nothing here is declared a second time.

use crate::xml::schema::{Content, Kind, Particle};
use casellario_domain::FlowType;
use casellario_domain::codes::{CodeEnum, ComposizioneFamiglia, InvCiv};
use casellario_domain::model::{
    Anagrafica, AttrDecl, Beneficiario, CODICE_PRESTAZIONE_ELEM, Ente, IdentificazioneFlusso,
    Indirizzo, PrestazioniSociali, Sina, Sinba, XsdElement,
};
use casellario_domain::xsd::SimpleType;

/// Attributes of an element kind, in XSD declaration order.
pub(crate) fn attrs(kind: Kind) -> &'static [AttrDecl] {
    match kind {
        Kind::IdentificazioneFlusso => IdentificazioneFlusso::ATTRS,
        Kind::Ente => Ente::ATTRS,
        Kind::Beneficiario => Beneficiario::ATTRS,
        Kind::Anagrafica => Anagrafica::ATTRS,
        Kind::Indirizzo => Indirizzo::ATTRS,
        Kind::PrestazioniSociali => PrestazioniSociali::ATTRS,
        Kind::Sina => Sina::ATTRS,
        Kind::Sinba => Sinba::ATTRS,
        _ => &[],
    }
}

/// Simple type of a simple-content element (a JSON string).
pub(crate) fn text_type(kind: Kind) -> Option<SimpleType> {
    match kind {
        Kind::CodiceNis | Kind::CodiceSinba => Some(CODICE_PRESTAZIONE_ELEM),
        Kind::InvCiv => Some(SimpleType::Enum(InvCiv::TABLE)),
        Kind::ComposizioneFamiglia => Some(SimpleType::Enum(ComposizioneFamiglia::TABLE)),
        _ => None,
    }
}

pub(crate) fn is_text(kind: Kind) -> bool {
    kind.content() == Content::Simple
}

/// Children of an element kind. `Flusso` depends on the flow type.
pub(crate) fn particles(kind: Kind, tipo: FlowType) -> &'static [Particle] {
    kind.particles(tipo)
}

/// How a child particle is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    /// Occurs at most once: the value itself.
    One,
    /// Repeatable: an array.
    List,
    /// The records under `Flusso`: an array, or one object for the usual
    /// single-record flow of the cooperation channels.
    OneOrList,
}

pub(crate) fn repr(parent: Kind, p: &Particle) -> Repr {
    if p.max <= 1 {
        Repr::One
    } else if parent == Kind::Flusso {
        Repr::OneOrList
    } else {
        Repr::List
    }
}

/// `maxItems` of a repeatable particle: the XSD's bound, or the reader's
/// safety limit when the XSD says `unbounded`.
pub(crate) fn max_items(p: &Particle) -> usize {
    usize::try_from(p.max)
        .unwrap_or(usize::MAX)
        .min(super::Limit::Items.max())
}

/// Numeric simple types, whose values may also be written as JSON numbers.
pub(crate) fn accepts_number(ty: &SimpleType) -> bool {
    matches!(ty, SimpleType::Int { .. } | SimpleType::Decimal)
}
