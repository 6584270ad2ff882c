//! Flow-level and record-level outcome vocabulary shared by every crate:
//! flow type, channel, validation profile, per-record outcome and the WaaS
//! outcome codes (DOMAIN.md §2.5, §2.9), and the violation record itself.

use serde::{Deserialize, Serialize};

/// The two official INPS flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowType {
    /// `PS_PSA_SINA201812.xsd`: benefits (PS/PSA) with optional SINA assessment.
    #[serde(rename = "PS_PSA_SINA")]
    PsPsaSina,
    /// `SINBA.xsd`: children and families, pseudonymous.
    #[serde(rename = "SINBA")]
    Sinba,
}

impl FlowType {
    /// Wire name, as in the WaaS `tipo` field.
    pub fn wire(self) -> &'static str {
        match self {
            FlowType::PsPsaSina => "PS_PSA_SINA",
            FlowType::Sinba => "SINBA",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "PS_PSA_SINA" => Some(FlowType::PsPsaSina),
            "SINBA" => Some(FlowType::Sinba),
            _ => None,
        }
    }
}

/// Channel a flow arrived through. Cooperation and WaaS carry the
/// "one beneficiary and one benefit per flow" rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// File upload (web or command line): many records per flow.
    Upload,
    /// Web form (invio puntuale).
    Form,
    /// Cooperazione applicativa (push API).
    Coop,
    /// WaaS pull.
    Waas,
}

impl Channel {
    pub fn wire(self) -> &'static str {
        match self {
            Channel::Upload => "upload",
            Channel::Form => "form",
            Channel::Coop => "coop",
            Channel::Waas => "waas",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(Channel::Upload),
            "form" => Some(Channel::Form),
            "coop" => Some(Channel::Coop),
            "waas" => Some(Channel::Waas),
            _ => None,
        }
    }
    /// Channels on which INPS allows one beneficiary and one benefit per flow.
    pub fn single_record(self) -> bool {
        matches!(self, Channel::Coop | Channel::Waas)
    }
}

/// Validation profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Official rules are errors.
    #[default]
    Strict,
    /// Schema and reference checks are errors; domain rules are warnings.
    Compat,
}

impl Profile {
    pub fn wire(self) -> &'static str {
        match self {
            Profile::Strict => "strict",
            Profile::Compat => "compat",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(Profile::Strict),
            "compat" => Some(Profile::Compat),
            _ => None,
        }
    }
}

/// Outcome of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Esito {
    Accettato,
    Duplicato,
    Scartato,
}

impl Esito {
    pub fn wire(self) -> &'static str {
        match self {
            Esito::Accettato => "accettato",
            Esito::Duplicato => "duplicato",
            Esito::Scartato => "scartato",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "accettato" => Some(Esito::Accettato),
            "duplicato" => Some(Esito::Duplicato),
            "scartato" => Some(Esito::Scartato),
            _ => None,
        }
    }
}

/// WaaS `codice_esito` (DOMAIN.md §2.5). Ordered by gravity: a flow's overall
/// code is the gravest code among its records and flow-level violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CodiceEsito {
    #[serde(rename = "OK")]
    Ok,
    /// Data inconsistency: business rules, reference tables, record not found.
    #[serde(rename = "DATI_NON_TROVATI")]
    DatiNonTrovati,
    /// Structure not compliant with the SIUSS specifications.
    #[serde(rename = "RICHIESTA_INVALIDA")]
    RichiestaInvalida,
    /// Any other processing error (internal).
    #[serde(rename = "ERRORE_GENERICO")]
    ErroreGenerico,
}

impl CodiceEsito {
    pub fn wire(self) -> &'static str {
        match self {
            CodiceEsito::Ok => "OK",
            CodiceEsito::DatiNonTrovati => "DATI_NON_TROVATI",
            CodiceEsito::RichiestaInvalida => "RICHIESTA_INVALIDA",
            CodiceEsito::ErroreGenerico => "ERRORE_GENERICO",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(CodiceEsito::Ok),
            "DATI_NON_TROVATI" => Some(CodiceEsito::DatiNonTrovati),
            "RICHIESTA_INVALIDA" => Some(CodiceEsito::RichiestaInvalida),
            "ERRORE_GENERICO" => Some(CodiceEsito::ErroreGenerico),
            _ => None,
        }
    }
}

/// What kind of check a violation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Not well-formed or refused XML (hostile constructs, encoding).
    Xml,
    /// Structure and simple types of the official XSD (and the channel rule).
    Schema,
    /// Business rules, codice fiscale, reference tables, register state.
    Dominio,
}

impl Category {
    pub fn wire(self) -> &'static str {
        match self {
            Category::Xml => "xml",
            Category::Schema => "schema",
            Category::Dominio => "dominio",
        }
    }
}

/// Severity of a violation under the profile in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Errore,
    Avviso,
}

impl Severity {
    pub fn wire(self) -> &'static str {
        match self {
            Severity::Errore => "errore",
            Severity::Avviso => "avviso",
        }
    }
}

/// One rule violation, as data. Serialised with the Italian receipt keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Stable rule code (see the rules catalogue), e.g. `PS_QUOTE_SOMMA`.
    #[serde(rename = "regola")]
    pub rule: String,
    #[serde(rename = "categoria")]
    pub category: Category,
    #[serde(rename = "gravita")]
    pub severity: Severity,
    /// Path of the offending field, e.g. `PrestazioniSociali/@ImportoMensile`.
    #[serde(rename = "campo")]
    pub field: String,
    /// Italian message telling an operator what to fix.
    #[serde(rename = "messaggio")]
    pub message: String,
    /// Line in the source document (XML line or CSV row), when known.
    #[serde(rename = "riga", skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
}

impl Violation {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Errore
    }

    /// WaaS code this violation maps to when it is an error.
    pub fn codice_esito(&self) -> CodiceEsito {
        match self.category {
            Category::Xml | Category::Schema => CodiceEsito::RichiestaInvalida,
            Category::Dominio => CodiceEsito::DatiNonTrovati,
        }
    }
}
