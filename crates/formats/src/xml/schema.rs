//! The content models of `PS_PSA_SINA201812.xsd` and `SINBA.xsd`, as data:
//! every element kind with its content type, its children (a sequence of
//! particles) and the name of its XSD type (for `xsi:type`).

use casellario_domain::FlowType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Flusso,
    IdentificazioneFlusso,
    Ente,
    Beneficiario,
    Anagrafica,
    Indirizzo,
    PrestazioniSociali,
    Sina,
    NecessitaInterventiSociali,
    /// `CodicePrestazione` under `NecessitaInterventiSociali`.
    CodiceNis,
    InvaliditaCivile,
    InvCiv,
    Sinba,
    Prestazioni,
    /// `CodicePrestazione` under SINBA `Prestazioni`.
    CodiceSinba,
    Famiglia,
    ComposizioneFamiglia,
    /// An unexpected element: its subtree is only checked for well-formedness.
    Skip,
}

/// XSD content type of a complex type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// Attributes only: no character data at all, not even white space.
    Empty,
    /// Child elements and white space.
    ElementOnly,
    /// A simple type: text, no child elements.
    Simple,
    /// Not validated.
    Any,
}

/// One particle of a sequence: element name, kind, minOccurs, maxOccurs.
pub(crate) struct Particle {
    pub name: &'static str,
    pub kind: Kind,
    pub min: u32,
    pub max: u32,
}

const UNBOUNDED: u32 = u32::MAX;

const fn p(name: &'static str, kind: Kind, min: u32, max: u32) -> Particle {
    Particle {
        name,
        kind,
        min,
        max,
    }
}

static FLUSSO_PS: &[Particle] = &[
    p("IdentificazioneFlusso", Kind::IdentificazioneFlusso, 1, 1),
    p("Beneficiario", Kind::Beneficiario, 1, UNBOUNDED),
];
static FLUSSO_SINBA: &[Particle] = &[
    p("IdentificazioneFlusso", Kind::IdentificazioneFlusso, 1, 1),
    p("SINBA", Kind::Sinba, 1, UNBOUNDED),
];
static IDENT: &[Particle] = &[p("Ente", Kind::Ente, 1, 1)];
static BENEF: &[Particle] = &[
    p("Anagrafica", Kind::Anagrafica, 1, 1),
    p("Indirizzo", Kind::Indirizzo, 1, 5),
    p("PrestazioniSociali", Kind::PrestazioniSociali, 1, UNBOUNDED),
];
static PREST: &[Particle] = &[p("SINA", Kind::Sina, 0, 1)];
static SINA: &[Particle] = &[
    p(
        "NecessitaInterventiSociali",
        Kind::NecessitaInterventiSociali,
        0,
        1,
    ),
    p("InvaliditaCivile", Kind::InvaliditaCivile, 0, 1),
];
static NIS: &[Particle] = &[p("CodicePrestazione", Kind::CodiceNis, 1, UNBOUNDED)];
static INVCIV: &[Particle] = &[p("InvCiv", Kind::InvCiv, 1, UNBOUNDED)];
static SINBA: &[Particle] = &[
    p("Prestazioni", Kind::Prestazioni, 1, 1),
    p("Famiglia", Kind::Famiglia, 1, 1),
];
static PRESTAZIONI: &[Particle] = &[p("CodicePrestazione", Kind::CodiceSinba, 1, UNBOUNDED)];
static FAMIGLIA: &[Particle] = &[p(
    "ComposizioneFamiglia",
    Kind::ComposizioneFamiglia,
    1,
    UNBOUNDED,
)];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flusso => "Flusso",
            Kind::IdentificazioneFlusso => "IdentificazioneFlusso",
            Kind::Ente => "Ente",
            Kind::Beneficiario => "Beneficiario",
            Kind::Anagrafica => "Anagrafica",
            Kind::Indirizzo => "Indirizzo",
            Kind::PrestazioniSociali => "PrestazioniSociali",
            Kind::Sina => "SINA",
            Kind::NecessitaInterventiSociali => "NecessitaInterventiSociali",
            Kind::CodiceNis | Kind::CodiceSinba => "CodicePrestazione",
            Kind::InvaliditaCivile => "InvaliditaCivile",
            Kind::InvCiv => "InvCiv",
            Kind::Sinba => "SINBA",
            Kind::Prestazioni => "Prestazioni",
            Kind::Famiglia => "Famiglia",
            Kind::ComposizioneFamiglia => "ComposizioneFamiglia",
            Kind::Skip => "",
        }
    }

    pub fn content(self) -> Content {
        match self {
            Kind::Ente | Kind::Anagrafica | Kind::Indirizzo => Content::Empty,
            Kind::CodiceNis | Kind::CodiceSinba | Kind::InvCiv | Kind::ComposizioneFamiglia => {
                Content::Simple
            }
            Kind::Skip => Content::Any,
            _ => Content::ElementOnly,
        }
    }

    pub fn particles(self, tipo: FlowType) -> &'static [Particle] {
        match self {
            Kind::Flusso => match tipo {
                FlowType::PsPsaSina => FLUSSO_PS,
                FlowType::Sinba => FLUSSO_SINBA,
            },
            Kind::IdentificazioneFlusso => IDENT,
            Kind::Beneficiario => BENEF,
            Kind::PrestazioniSociali => PREST,
            Kind::Sina => SINA,
            Kind::NecessitaInterventiSociali => NIS,
            Kind::InvaliditaCivile => INVCIV,
            Kind::Sinba => SINBA,
            Kind::Prestazioni => PRESTAZIONI,
            Kind::Famiglia => FAMIGLIA,
            _ => &[],
        }
    }

    /// Name of the element's XSD type when it is a named type (the only
    /// value `xsi:type` may take: the schemas declare no derived types).
    pub fn named_type(self) -> Option<&'static str> {
        Some(match self {
            Kind::Flusso => "FlussoType",
            Kind::IdentificazioneFlusso => "IdentificazioneFlussoType",
            Kind::Ente => "EnteType",
            Kind::Beneficiario => "BeneficiarioType",
            Kind::Anagrafica => "AnagraficaType",
            Kind::Indirizzo => "IndirizzoType",
            Kind::PrestazioniSociali => "PrestazioniSocialiType",
            Kind::Sina => "SINAType",
            Kind::InvCiv => "InvCivType",
            Kind::Sinba => "SinbaType",
            Kind::ComposizioneFamiglia => "ComposizioneFamigliaType",
            _ => return None,
        })
    }
}

/// Position in a sequence of particles.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqState {
    pub idx: usize,
    pub count: u32,
}

/// Result of offering a child element to a sequence.
pub(crate) enum Step {
    /// Accepted as particle `usize`, after skipping the listed required
    /// particles that are missing (indices `from..to` needing a report).
    Accept {
        particle: usize,
        missing: std::ops::Range<usize>,
    },
    /// Not allowed here (unknown, out of order or too many).
    Reject,
}

impl SeqState {
    /// Offers child `name`; on acceptance the state advances. Missing
    /// particles between the current position and the accepted one are
    /// reported by the caller (the particles in `missing` whose `min` is not
    /// met), so that one omitted element does not hide what follows.
    pub fn offer(&mut self, ps: &[Particle], name: &str) -> Step {
        if let Some(cur) = ps.get(self.idx)
            && cur.name == name
            && self.count < cur.max
        {
            {
                self.count += 1;
                return Step::Accept {
                    particle: self.idx,
                    missing: 0..0,
                };
            }
        }
        for j in self.idx + 1..ps.len() {
            if ps[j].name == name {
                let from = if self.count >= ps[self.idx].min {
                    self.idx + 1
                } else {
                    self.idx
                };
                self.idx = j;
                self.count = 1;
                return Step::Accept {
                    particle: j,
                    missing: from..j,
                };
            }
        }
        Step::Reject
    }

    /// Particles still required at the end of the parent.
    pub fn missing_at_end<'p>(&self, ps: &'p [Particle]) -> impl Iterator<Item = &'p Particle> {
        let count = self.count;
        let idx = self.idx;
        ps.iter()
            .enumerate()
            .skip(idx)
            .filter(move |(i, p)| if *i == idx { count < p.min } else { p.min > 0 })
            .map(|(_, p)| p)
    }
}
