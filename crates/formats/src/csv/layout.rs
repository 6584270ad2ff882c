//! The column layout shared by the reader and the writer (documented in
//! `docs/TRACCIATO_CSV.md`): one block of columns per XSD element, in XSD
//! declaration order, so that a block's k-th column is `ATTRS[k]` of its
//! element and no per-column lookup table is needed at run time.

use casellario_domain::FlowType;
use casellario_domain::model::{
    Anagrafica, Beneficiario, Indirizzo, PrestazioniSociali, Sina, Sinba, XsdElement,
};
use casellario_domain::xsd::SimpleType;

/// Columns carrying `IdentificazioneFlusso/@Nome` and the `Ente` attributes,
/// repeated on every row.
pub(crate) const FLOW_COLS: [&str; 5] = [
    "NomeFlusso",
    "CodiceEnte",
    "DenominazioneEnte",
    "IndirizzoEnte",
    "CFOperatore",
];

/// Residence columns: the first residence keeps the XSD names, the others get
/// a 2..5 suffix.
pub(crate) const IND_COLS: [[&str; 3]; 5] = [
    ["CodiceRegione", "CodiceComune", "CodiceNazione"],
    ["CodiceRegione2", "CodiceComune2", "CodiceNazione2"],
    ["CodiceRegione3", "CodiceComune3", "CodiceNazione3"],
    ["CodiceRegione4", "CodiceComune4", "CodiceNazione4"],
    ["CodiceRegione5", "CodiceComune5", "CodiceNazione5"],
];
pub(crate) const MAX_INDIRIZZI: usize = IND_COLS.len();

pub(crate) const COL_NECESSITA: &str = "NecessitaInterventiSociali";
pub(crate) const COL_INVCIV: &str = "InvCiv";
pub(crate) const COL_PRESTAZIONI: &str = "Prestazioni";
pub(crate) const COL_FAMIGLIA: &str = "ComposizioneFamiglia";
/// Separator of the codes of a repeated element inside one cell.
pub(crate) const LIST_SEP: char = '|';

// Ordinals of the PS_PSA_SINA layout.
pub(crate) const PS_CF: usize = FLOW_COLS.len();
pub(crate) const PS_ANAG: usize = PS_CF + Beneficiario::ATTRS.len();
pub(crate) const PS_IND: usize = PS_ANAG + Anagrafica::ATTRS.len();
pub(crate) const PS_PREST: usize = PS_IND + MAX_INDIRIZZI * Indirizzo::ATTRS.len();
pub(crate) const PS_SINA: usize = PS_PREST + PrestazioniSociali::ATTRS.len();
pub(crate) const PS_NECESSITA: usize = PS_SINA + Sina::ATTRS.len();
pub(crate) const PS_INVCIV: usize = PS_NECESSITA + 1;
pub(crate) const PS_LEN: usize = PS_INVCIV + 1;

// Ordinals of the SINBA layout.
pub(crate) const SB_ATTRS: usize = FLOW_COLS.len();
pub(crate) const SB_PRESTAZIONI: usize = SB_ATTRS + Sinba::ATTRS.len();
pub(crate) const SB_FAMIGLIA: usize = SB_PRESTAZIONI + 1;
pub(crate) const SB_LEN: usize = SB_FAMIGLIA + 1;

/// How a cell is normalised before the XSD check (spreadsheet habits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conv {
    None,
    /// `101,23` → `101.23`.
    Decimal,
    /// `GG/MM/AAAA` → `AAAA-MM-GG`.
    Date,
}

/// One column of a layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    /// Simple type of the value (of each item, for list columns).
    pub ty: SimpleType,
    pub conv: Conv,
}

fn attr_cols<E: XsdElement>(out: &mut Vec<Column>) {
    out.extend(E::ATTRS.iter().map(|a| Column {
        name: a.name,
        ty: a.ty,
        conv: conv_of(a.ty),
    }));
}

fn conv_of(ty: SimpleType) -> Conv {
    match ty {
        SimpleType::Decimal => Conv::Decimal,
        SimpleType::Date => Conv::Date,
        _ => Conv::None,
    }
}

fn flow_cols(out: &mut Vec<Column>) {
    use casellario_domain::model::{Ente, IdentificazioneFlusso};
    let nome = &IdentificazioneFlusso::ATTRS[0];
    out.push(Column {
        name: FLOW_COLS[0],
        ty: nome.ty,
        conv: Conv::None,
    });
    for (i, a) in Ente::ATTRS.iter().enumerate() {
        out.push(Column {
            name: FLOW_COLS[i + 1],
            ty: a.ty,
            conv: Conv::None,
        });
    }
}

/// Every column of a flow type, in the writer's (documented) order.
pub(crate) fn layout(tipo: FlowType) -> Vec<Column> {
    let mut v = Vec::with_capacity(PS_LEN);
    flow_cols(&mut v);
    match tipo {
        FlowType::PsPsaSina => {
            attr_cols::<Beneficiario>(&mut v);
            attr_cols::<Anagrafica>(&mut v);
            for names in IND_COLS {
                for (a, name) in Indirizzo::ATTRS.iter().zip(names) {
                    v.push(Column {
                        name,
                        ty: a.ty,
                        conv: Conv::None,
                    });
                }
            }
            attr_cols::<PrestazioniSociali>(&mut v);
            attr_cols::<Sina>(&mut v);
            v.push(Column {
                name: COL_NECESSITA,
                ty: casellario_domain::model::CODICE_PRESTAZIONE_ELEM,
                conv: Conv::None,
            });
            v.push(Column {
                name: COL_INVCIV,
                ty: enum_ty::<casellario_domain::codes::InvCiv>(),
                conv: Conv::None,
            });
            debug_assert_eq!(v.len(), PS_LEN);
        }
        FlowType::Sinba => {
            attr_cols::<Sinba>(&mut v);
            v.push(Column {
                name: COL_PRESTAZIONI,
                ty: casellario_domain::model::CODICE_PRESTAZIONE_ELEM,
                conv: Conv::None,
            });
            v.push(Column {
                name: COL_FAMIGLIA,
                ty: enum_ty::<casellario_domain::codes::ComposizioneFamiglia>(),
                conv: Conv::None,
            });
            debug_assert_eq!(v.len(), SB_LEN);
        }
    }
    v
}

pub(crate) fn enum_ty<T: casellario_domain::codes::CodeEnum>() -> SimpleType {
    SimpleType::Enum(T::TABLE)
}

/// The column names of a flow type, in the writer's order (also the header
/// row the writer emits).
pub fn column_names(tipo: FlowType) -> Vec<&'static str> {
    layout(tipo).into_iter().map(|c| c.name).collect()
}
