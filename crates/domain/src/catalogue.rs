//! The rules catalogue: every check the register applies, with a stable code,
//! its category, its severity under each profile and an Italian title. The
//! shipped `docs/REGOLE.md` is generated from [`all_rules`].
//!
//! This module declares the XML and schema rules (the readers raise them) and
//! the register-state rules (the pipeline raises them); business rules live
//! in [`crate::rules`] and are appended by [`all_rules`].

use crate::outcome::{Category, Profile, Severity, Violation};

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// XML 1.0 well-formedness or the register's safety limits.
    Xml,
    /// JSON (RFC 8259) syntax and the JSON mirror of the XSDs (`docs/FLUSSO_JSON.md`).
    Json,
    /// The official XSD.
    Xsd,
    /// Annotations of the XSD / Allegato B-C of the WaaS technical specification.
    Specifica,
    /// Reference tables (codes that must exist and be valid at the record's date).
    Tabelle,
    /// Inferred from practice (DOMAIN.md §3.4): a warning unless stated.
    Dedotta,
    /// State of the register (keys, cancellations, idempotency).
    Registro,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Xml => "XML 1.0 / limiti di sicurezza",
            Source::Json => "JSON (RFC 8259) / tracciato JSON",
            Source::Xsd => "XSD ufficiale",
            Source::Specifica => "Specifica INPS (Allegati B e C, annotazioni XSD)",
            Source::Tabelle => "Tabelle di riferimento",
            Source::Dedotta => "Regola dedotta dalla prassi",
            Source::Registro => "Stato del registro",
        }
    }
}

/// A rule of the catalogue.
#[derive(Debug)]
pub struct RuleDef {
    pub code: &'static str,
    pub category: Category,
    pub source: Source,
    /// Severity under the `strict` profile.
    pub strict: Severity,
    /// Severity under the `compat` profile.
    pub compat: Severity,
    /// Which flows it applies to: "PS_PSA_SINA", "SINBA" or "tutti".
    pub flows: &'static str,
    /// What the rule requires, in Italian.
    pub title: &'static str,
    /// Why the severity was chosen, when it is a judgement (inferred rules made errors, etc.).
    pub note: &'static str,
}

impl RuleDef {
    pub fn severity(&self, p: Profile) -> Severity {
        match p {
            Profile::Strict => self.strict,
            Profile::Compat => self.compat,
        }
    }

    /// A violation of this rule under `profile`.
    pub fn violation(
        &self,
        profile: Profile,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Violation {
        Violation {
            rule: self.code.to_string(),
            category: self.category,
            severity: self.severity(profile),
            field: field.into(),
            message: message.into(),
            line: None,
        }
    }
}

const E: Severity = Severity::Errore;

macro_rules! rule {
    ($id:ident, $code:literal, $cat:ident, $src:ident, $strict:ident, $compat:ident, $flows:literal, $title:literal) => {
        rule!($id, $code, $cat, $src, $strict, $compat, $flows, $title, "");
    };
    ($id:ident, $code:literal, $cat:ident, $src:ident, $strict:ident, $compat:ident, $flows:literal, $title:literal, $note:literal) => {
        pub static $id: RuleDef = RuleDef {
            code: $code,
            category: Category::$cat,
            source: Source::$src,
            strict: $strict,
            compat: $compat,
            flows: $flows,
            title: $title,
            note: $note,
        };
    };
}
pub(crate) use rule as declare_rule;

// --- XML ---------------------------------------------------------------
rule!(
    XML_MALFORMATO,
    "XML_MALFORMATO",
    Xml,
    Xml,
    E,
    E,
    "tutti",
    "Il documento deve essere XML ben formato (tag chiusi, attributi tra virgolette, caratteri ammessi)."
);
rule!(
    XML_DTD,
    "XML_DTD",
    Xml,
    Xml,
    E,
    E,
    "tutti",
    "DTD ed entità non sono ammesse: il flusso non può contenere <!DOCTYPE> né riferimenti a entità esterne o definite.",
    "Rifiutate per sicurezza (entità ricorsive o esterne); gli XSD INPS non ne fanno uso."
);
rule!(
    XML_LIMITE,
    "XML_LIMITE",
    Xml,
    Xml,
    E,
    E,
    "tutti",
    "Il documento supera i limiti di sicurezza (tag o attributo oltre 1 MiB, annidamento oltre 64 livelli).",
    "Nessun flusso conforme si avvicina a questi limiti; servono a tenere la memoria limitata."
);
rule!(
    XML_CODIFICA,
    "XML_CODIFICA",
    Xml,
    Xml,
    E,
    E,
    "tutti",
    "La codifica dei caratteri deve essere UTF-8, UTF-16 o ISO-8859-1/Windows-1252 e coerente con la dichiarazione."
);
rule!(
    FORMATO_SCONOSCIUTO,
    "FORMATO_SCONOSCIUTO",
    Xml,
    Xml,
    E,
    E,
    "tutti",
    "Il file deve essere un flusso XML o CSV nel tracciato documentato."
);

// --- JSON (the JSON mirror of the flows, docs/FLUSSO_JSON.md) ------------
rule!(
    JSON_MALFORMATO,
    "JSON_MALFORMATO",
    Xml,
    Json,
    E,
    E,
    "tutti",
    "Il flusso JSON deve essere un unico valore JSON valido (RFC 8259): stringhe, numeri e parentesi ben formati, nessun carattere dopo la fine."
);
rule!(
    JSON_CODIFICA,
    "JSON_CODIFICA",
    Xml,
    Json,
    E,
    E,
    "tutti",
    "Il flusso JSON deve essere codificato in UTF-8."
);
rule!(
    JSON_LIMITE,
    "JSON_LIMITE",
    Xml,
    Json,
    E,
    E,
    "tutti",
    "Il flusso JSON supera i limiti di sicurezza (16 MiB, annidamento oltre 32 livelli, stringa oltre 64 KiB, elenco oltre 10.000 elementi, numero oltre 400 cifre).",
    "Nessun flusso conforme si avvicina a questi limiti; servono a tenere la memoria limitata."
);
rule!(
    JSON_CHIAVE_DUPLICATA,
    "JSON_CHIAVE_DUPLICATA",
    Xml,
    Json,
    E,
    E,
    "tutti",
    "Uno stesso oggetto JSON non può contenere due volte lo stesso membro.",
    "RFC 8259 lascia il significato indefinito: il registro rifiuta invece di scegliere un valore."
);
rule!(
    JSON_CARATTERE,
    "JSON_CARATTERE",
    Xml,
    Json,
    E,
    E,
    "tutti",
    "I valori devono contenere solo caratteri ammessi in XML 1.0 (niente caratteri di controllo diversi da tabulazione e a capo)."
);
rule!(
    JSON_MEMBRO_NON_PREVISTO,
    "JSON_MEMBRO_NON_PREVISTO",
    Schema,
    Json,
    E,
    E,
    "tutti",
    "Ogni membro di un oggetto deve essere un attributo o un elemento figlio previsto dall'XSD per quell'elemento, con il nome esatto dell'XSD."
);
rule!(
    JSON_TIPO,
    "JSON_TIPO",
    Schema,
    Json,
    E,
    E,
    "tutti",
    "Gli elementi sono oggetti, gli elementi ripetibili elenchi, gli attributi stringhe (numeri ammessi per gli attributi numerici)."
);

rule!(
    JSON_SCHEMA,
    "JSON_SCHEMA",
    Schema,
    Json,
    E,
    E,
    "tutti",
    "Un flusso JSON inviato all'API deve rispettare lo schema JSON pubblicato nel documento OpenAPI: membri obbligatori presenti, valori nel formato, nella lunghezza e tra i codici dell'XSD, numero di elementi ammesso.",
    "Lo schema traduce i vincoli dell'XSD: il flusso che lo viola è rifiutato subito con il percorso del campo, senza ricevuta."
);

// --- Schema ------------------------------------------------------------
rule!(
    XSD_RADICE,
    "XSD_RADICE",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "L'elemento radice deve essere Flusso nel namespace http://inps.it/Casellario."
);
rule!(
    XSD_ELEMENTO_INATTESO,
    "XSD_ELEMENTO_INATTESO",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Gli elementi devono essere quelli previsti dall'XSD, nell'ordine e nel numero previsti."
);
rule!(
    XSD_ELEMENTO_MANCANTE,
    "XSD_ELEMENTO_MANCANTE",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Gli elementi obbligatori dell'XSD devono essere presenti."
);
rule!(
    XSD_TESTO_NON_PREVISTO,
    "XSD_TESTO_NON_PREVISTO",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Gli elementi che contengono solo altri elementi non possono contenere testo."
);
rule!(
    XSD_ATTRIBUTO_MANCANTE,
    "XSD_ATTRIBUTO_MANCANTE",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Gli attributi obbligatori dell'XSD devono essere presenti."
);
rule!(
    XSD_ATTRIBUTO_NON_PREVISTO,
    "XSD_ATTRIBUTO_NON_PREVISTO",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Sono ammessi solo gli attributi dichiarati dall'XSD per ciascun elemento."
);
rule!(
    XSD_VALORE,
    "XSD_VALORE",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Ogni valore deve rispettare il tipo dell'XSD: lunghezza, formato, codici ammessi, date AAAA-MM-GG, decimali con il punto, interi nell'intervallo."
);
rule!(
    CANALE_UN_RECORD,
    "CANALE_UN_RECORD",
    Schema,
    Specifica,
    E,
    E,
    "tutti",
    "In cooperazione applicativa e WaaS il flusso deve contenere un solo beneficiario e una sola prestazione (un solo elemento SINBA).",
    "Errore in entrambi i profili: INPS stessa risponde RICHIESTA_INVALIDA a questi flussi."
);
rule!(
    FLUSSO_VUOTO,
    "FLUSSO_VUOTO",
    Schema,
    Xsd,
    E,
    E,
    "tutti",
    "Il flusso deve contenere almeno un record."
);

// --- Register state ----------------------------------------------------
rule!(
    REG_CHIAVE_GIA_PRESENTE,
    "REG_CHIAVE_GIA_PRESENTE",
    Dominio,
    Registro,
    E,
    E,
    "PS_PSA_SINA",
    "Una prestazione già presente con la stessa chiave e contenuto diverso va prima cancellata (TipoOperazione=\"C\") e poi reinserita."
);
rule!(
    REG_CANCELLAZIONE_SENZA_RECORD,
    "REG_CANCELLAZIONE_SENZA_RECORD",
    Dominio,
    Registro,
    E,
    E,
    "PS_PSA_SINA",
    "Una cancellazione deve riferirsi a una prestazione presente nel registro con la stessa chiave (ente, codice fiscale, CodicePrestazione, ProtocolloDomanda, data di inizio o di erogazione)."
);
rule!(
    REG_FLUSSO_NOME_RIUSATO,
    "REG_FLUSSO_NOME_RIUSATO",
    Schema,
    Registro,
    E,
    E,
    "tutti",
    "Il nome del flusso (IdentificazioneFlusso/@Nome) è unico per ente: un flusso con lo stesso nome e contenuto diverso è respinto."
);
rule!(
    REG_ENTE_NON_CORRISPONDENTE,
    "REG_ENTE_NON_CORRISPONDENTE",
    Schema,
    Registro,
    E,
    E,
    "tutti",
    "Il codice ente del flusso deve essere quello dell'ente che trasmette."
);

/// XML, schema and register rules declared here.
pub static BASE_RULES: &[&RuleDef] = &[
    &XML_MALFORMATO,
    &XML_DTD,
    &XML_LIMITE,
    &XML_CODIFICA,
    &FORMATO_SCONOSCIUTO,
    &JSON_MALFORMATO,
    &JSON_CODIFICA,
    &JSON_LIMITE,
    &JSON_CHIAVE_DUPLICATA,
    &JSON_CARATTERE,
    &JSON_MEMBRO_NON_PREVISTO,
    &JSON_TIPO,
    &JSON_SCHEMA,
    &XSD_RADICE,
    &XSD_ELEMENTO_INATTESO,
    &XSD_ELEMENTO_MANCANTE,
    &XSD_TESTO_NON_PREVISTO,
    &XSD_ATTRIBUTO_MANCANTE,
    &XSD_ATTRIBUTO_NON_PREVISTO,
    &XSD_VALORE,
    &CANALE_UN_RECORD,
    &FLUSSO_VUOTO,
    &REG_CHIAVE_GIA_PRESENTE,
    &REG_CANCELLAZIONE_SENZA_RECORD,
    &REG_FLUSSO_NOME_RIUSATO,
    &REG_ENTE_NON_CORRISPONDENTE,
];

pub use crate::rules::{all_rules, find_rule};

/// Looks a rule up by code.
pub fn find_base_rule(code: &str) -> Option<&'static RuleDef> {
    BASE_RULES.iter().copied().find(|r| r.code == code)
}
