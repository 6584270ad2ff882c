//! The shared form model of one PS/PSA record (beneficiary, benefit and
//! optional SINA assessment) and of one SINBA record: which fields exist
//! (every attribute of the XSD elements involved, taken from the typed
//! model's schema tables), their Italian labels, how form values become the
//! typed model and back, and how the pipeline's violations find their field.
//!
//! Used by Acquisizione (new records) and Consultazione (record page,
//! cancellation, correction).

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, LazyLock};

use casellario_domain::codes::{CodeEnum, CodeTable, ComposizioneFamiglia, InvCiv};
use casellario_domain::model::{
    AttrDecl, Beneficiario, CODICE_PRESTAZIONE_ELEM, Ente, IdentificazioneFlusso, Indirizzo,
    PrestazioniSociali, PsRecord, Record, Sina, Sinba, XsdElement,
};
use casellario_domain::reference;
use casellario_domain::xsd::SimpleType;
use casellario_domain::{Esito, FlowType, Severity, Violation};
use casellario_formats::XmlFlowWriter;
use casellario_ingest::{InputFormat, RecordOutcome};
use casellario_store::Store;
use casellario_store::portal::{EnteProfile, NewAuditEvent};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::submit::{SubmitOptions, Submitted, submit_blocking};

/// Form values: control name → submitted values (several for checkboxes).
pub type Values = HashMap<String, Vec<String>>;

/// Cookie remembering the operator's codice fiscale between forms.
pub const CF_COOKIE: &str = "casellario_cfop";
/// Name of the operator's codice fiscale control.
pub const CF_OPERATORE: &str = "cf_operatore";
/// Name of the checkbox that adds the SINA assessment.
pub const SINA_TOGGLE: &str = "sina";

/// What kind of control a field is.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An XSD attribute with its simple type.
    Attr(SimpleType),
    /// `CodicePrestazione` of a benefit: a select of the benefit table.
    Benefit,
    /// A list of benefit codes (`CodicePrestazione` child elements).
    CodeList,
    /// A list of coded child elements: one checkbox per code.
    Checks(&'static CodeTable),
    /// The "add a SINA assessment" checkbox.
    Toggle,
}

#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Control name and id.
    pub name: String,
    /// Path of the field in violations, e.g. `PrestazioniSociali/@ImportoMensile`.
    pub path: String,
    /// Wire name, e.g. `ImportoMensile`.
    pub attr: &'static str,
    pub label: &'static str,
    pub required: bool,
    pub kind: Kind,
    pub hint: Option<&'static str>,
    pub show_when: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub id: String,
    pub legend: String,
    pub show_when: Option<&'static str>,
    /// Optional blocks shown closed (`<details>`).
    pub collapsed: bool,
    pub fields: Vec<FieldSpec>,
}

/// The Italian label of an attribute or child element of the two flows.
pub fn label(attr: &str) -> &'static str {
    match attr {
        "CFOperatore" => "Codice fiscale dell'operatore",
        "CodiceFiscale" => "Codice fiscale",
        "Cognome" => "Cognome",
        "Nome" => "Nome",
        "AnnoNascita" => "Anno di nascita",
        "LuogoNascita" => "Luogo di nascita (codice catastale)",
        "Genere" => "Genere",
        "CodiceCittadinanza" => "Cittadinanza",
        "CodiceSecondaCittadinanza" => "Seconda cittadinanza",
        "CodiceRegione" => "Regione (codifica DM 1986)",
        "CodiceComune" => "Comune (codice ISTAT)",
        "CodiceNazione" => "Nazione",
        "TipoOperazione" => "Tipo di operazione",
        "PresenzaProvaMezzi" => "Prova dei mezzi",
        "CaratterePrestazione" => "Carattere della prestazione",
        "NumeroProtocolloDSU" => "Numero di protocollo DSU",
        "AnnoProtocolloDSU" => "Anno del protocollo DSU",
        "DataDSU" => "Data della DSU",
        "CodicePrestazione" => "Codice prestazione",
        "DenominazionePrestazione" => "Denominazione della prestazione",
        "ProtocolloDomanda" => "Protocollo della domanda",
        "DataEvento" => "Data dell'evento",
        "DataInizioPrestazione" => "Data di inizio",
        "DataFinePrestazione" => "Data di fine",
        "DataErogazionePrestazione" => "Data di erogazione",
        "ImportoPrestazione" => "Importo della prestazione (€)",
        "PeriodoErogazione" => "Mesi di erogazione",
        "ImportoMensile" => "Importo mensile (€)",
        "ImportoQuotaEnte" => "Quota a carico dell'ente (€)",
        "ImportoQuotaUtente" => "Quota a carico dell'utente (€)",
        "ImportoQuotaSSN" => "Quota a carico del SSN (€)",
        "ImportoQuotaRichiesta" => "Quota massima richiesta all'utenza (€)",
        "ImportoSogliaISEE" => "Soglia ISEE di accesso (€)",
        "OreServizioMensile" => "Ore di servizio al mese",
        "PresaCarico" => "Presa in carico del servizio sociale",
        "AreaUtenza" => "Area di utenza",
        "Mobilita" => "Mobilità",
        "AttivitaVitaQuotidiana" => "Attività della vita quotidiana",
        "DisturbiAreaCognitiva" => "Disturbi dell'area cognitiva",
        "DisturbiComportamentali" => "Disturbi comportamentali",
        "NecessitaCureSanitarie" => "Necessità di cure sanitarie",
        "AreaReddituale" => "Area reddituale",
        "AreaSupporto" => "Rete di supporto",
        "FonteDerivazioneValutazione" => "Fonte della valutazione",
        "StrumentoValutazione" => "Strumento di valutazione",
        "FonteDerivazioneInvalidita" => "Fonte del dato di invalidità",
        "NecessitaInterventiSociali" => "Interventi sociali necessari (codici prestazione)",
        "InvaliditaCivile" => "Invalidità civile e certificazioni",
        "IDBeneficiario" => "Identificativo del minore (pseudonimo)",
        "MinoreStranieroNoAcc" => "Minore straniero non accompagnato",
        "CondizioneMinore" => "Condizione del minore",
        "LuogoVita" => "Luogo di vita",
        "ScuolaFrequentata" => "Scuola frequentata",
        "CondizioneLavoro" => "Condizione lavorativa",
        "Disabilita" => "Disabilità",
        "TipoDisabilita" => "Tipo di disabilità",
        "InvCivCertificazioni" => "Invalidità civile e certificazioni",
        "CodiceCittadinanzaPadre" => "Cittadinanza del padre",
        "CodiceCittadinanzaMadre" => "Cittadinanza della madre",
        "CodiceRegioneResidenzaPadre" => "Regione di residenza del padre",
        "CodiceRegioneResidenzaMadre" => "Regione di residenza della madre",
        "TitoloStudioPadre" => "Titolo di studio del padre",
        "TitoloStudioMadre" => "Titolo di studio della madre",
        "OccupazionePadre" => "Occupazione del padre",
        "OccupazioneMadre" => "Occupazione della madre",
        "DataPrimaSegnalazione" => "Data della prima segnalazione",
        "FonteSegnalazione" => "Fonte della segnalazione",
        "ValutazioneMinore" => "Valutazione del minore",
        "ValutazioneFamigliaMinore" => "Valutazione della famiglia",
        "SegnalazioneAutoritaGiudiziaria" => "Segnalazione all'autorità giudiziaria",
        "DataSegnalazione" => "Data della segnalazione",
        "ProvvedimentoGiudiziario" => "Provvedimento giudiziario",
        "DataProvvedimentoGiudiziario" => "Data del provvedimento",
        "AutoritaProvvedimento" => "Autorità che ha emesso il provvedimento",
        "PotestaTutela" => "Responsabilità genitoriale e tutela",
        "TipoProvvedimentoGiudiziario" => "Tipo di provvedimento",
        "FormaInterventoAffido" => "Forma dell'affidamento",
        "TipoInterventoAffido" => "Tipo di affidamento",
        "DurataAffido" => "Durata dell'affidamento",
        "CarattereAffido" => "Carattere dell'affidamento",
        "EsitoAffido" => "Esito dell'affidamento",
        "CarattereInserimentoResidenziale" => "Carattere dell'inserimento residenziale",
        "FormaInserimentoResidenziale" => "Forma dell'inserimento residenziale",
        "TipoInserimentoResidenziale" => "Tipo di inserimento residenziale",
        "EsitoInserimentoStruttura" => "Esito dell'inserimento in struttura",
        "MotivazioneChiusuraCarico" => "Motivo della chiusura della presa in carico",
        "SituazioneChiusuraCarico" => "Situazione alla chiusura della presa in carico",
        "CollaborazioniInterventi" => "Servizi che collaborano agli interventi",
        "NumeroComponentiISEE" => "Componenti del nucleo ISEE",
        "FasciaEtaBeneficiario" => "Fascia d'età",
        "FasciaISEEBeneficiario" => "Fascia ISEE",
        "CodiceRegioneResidenza" => "Regione di residenza (codifica DM 1986)",
        "CodiceNazioneResidenza" => "Nazione di residenza",
        "Prestazioni" => "Prestazioni erogate (codici prestazione)",
        "Famiglia" => "Composizione della famiglia",
        _ => "Campo",
    }
}

/// Hints shown under some fields.
fn hint(attr: &str) -> Option<&'static str> {
    Some(match attr {
        "CFOperatore" => "Codice fiscale di chi trasmette: viene ricordato per i prossimi invii.",
        "CodiceFiscale" => "16 caratteri (omocodia ammessa) oppure 11 cifre.",
        "AnnoNascita" => "4 cifre, es. 1948.",
        "LuogoNascita" => {
            "Codice catastale del comune (es. H501 Roma) o codice Z dello stato estero."
        }
        "CodiceCittadinanza"
        | "CodiceSecondaCittadinanza"
        | "CodiceNazione"
        | "CodiceNazioneResidenza"
        | "CodiceCittadinanzaPadre"
        | "CodiceCittadinanzaMadre" => {
            "Codice ISO 3166 numerico a 3 cifre: 380 Italia, 990 non disponibile."
        }
        "CodiceRegione"
        | "CodiceRegioneResidenza"
        | "CodiceRegioneResidenzaPadre"
        | "CodiceRegioneResidenzaMadre" => {
            "2 cifre, codifica DM 1986 (es. 08 Lazio). Obbligatoria per la residenza in Italia."
        }
        "CodiceComune" => {
            "6 cifre ISTAT (es. 058091 Roma). Obbligatorio per la residenza in Italia."
        }
        "TipoOperazione" => {
            "Inserimento per una nuova prestazione; per annullarne una già trasmessa usare la Consultazione."
        }
        "DenominazionePrestazione" => {
            "Il nome della prestazione presso l'ente, da 10 a 200 caratteri."
        }
        "ProtocolloDomanda" => "Il protocollo con cui l'ente ha registrato la domanda.",
        "DataFinePrestazione" => "Facoltativa; nello stesso anno della data di inizio.",
        "PeriodoErogazione" => "Numero di mesi coperti nell'anno, da 1 a 12.",
        "ImportoPrestazione"
        | "ImportoMensile"
        | "ImportoQuotaEnte"
        | "ImportoQuotaUtente"
        | "ImportoQuotaSSN"
        | "ImportoQuotaRichiesta"
        | "ImportoSogliaISEE" => "In euro, con la virgola per i decimali (es. 1250,00).",
        "OreServizioMensile" => "Ore e minuti come ore,minuti: 2,59 = 2 ore e 59 minuti.",
        "NumeroProtocolloDSU" => "Forma INPS-ISEE-AAAA-NNNNNNNNL-PP.",
        "AreaUtenza" => "Obbligatoria se c'è presa in carico.",
        "NecessitaInterventiSociali" | "Prestazioni" => {
            "Uno o più codici della tabella delle prestazioni, separati da spazi o virgole (es. A1.04 A2.08)."
        }
        "IDBeneficiario" => {
            "Pseudonimo assegnato dall'ente (es. numero di cartella): mai il codice fiscale o il nome."
        }
        "DataPrimaSegnalazione" | "DataSegnalazione" | "DataProvvedimentoGiudiziario" => {
            "Mese e anno, MM/AAAA (es. 03/2024)."
        }
        "NumeroComponentiISEE" => "Da 1 a 9.",
        _ => return None,
    })
}

fn decl<E: XsdElement>(attr: &'static str) -> AttrDecl {
    E::ATTRS
        .iter()
        .find(|d| d.name == attr)
        .copied()
        .unwrap_or(AttrDecl {
            name: attr,
            required: false,
            ty: SimpleType::Str { min: 0, max: 0 },
        })
}

fn field<E: XsdElement>(prefix: &str, base: &str, attr: &'static str) -> FieldSpec {
    let d = decl::<E>(attr);
    FieldSpec {
        name: format!("{prefix}{attr}"),
        path: format!("{base}/@{attr}"),
        attr,
        label: label(attr),
        required: d.required,
        kind: if attr == "CodicePrestazione" {
            Kind::Benefit
        } else {
            Kind::Attr(d.ty)
        },
        hint: hint(attr),
        show_when: None,
    }
}

fn fields<E: XsdElement>(prefix: &str, base: &str, attrs: &[&'static str]) -> Vec<FieldSpec> {
    attrs.iter().map(|a| field::<E>(prefix, base, a)).collect()
}

fn when(mut v: Vec<FieldSpec>, cond: &'static str) -> Vec<FieldSpec> {
    for f in &mut v {
        f.show_when = Some(cond);
    }
    v
}

fn section(id: &str, legend: &str, fields: Vec<FieldSpec>) -> SectionSpec {
    SectionSpec {
        id: id.to_string(),
        legend: legend.to_string(),
        show_when: None,
        collapsed: false,
        fields,
    }
}

fn cf_operatore() -> FieldSpec {
    FieldSpec {
        name: CF_OPERATORE.into(),
        path: "IdentificazioneFlusso/Ente/@CFOperatore".into(),
        ..field::<Ente>("", "IdentificazioneFlusso/Ente", "CFOperatore")
    }
}

/// Sections of the PS/PSA form (with the optional SINA assessment).
pub static PS_FORM: LazyLock<Vec<SectionSpec>> = LazyLock::new(|| {
    const P: &str = "PrestazioniSociali";
    let mut out = vec![
        section("operatore", "Operatore", vec![cf_operatore()]),
        section(
            "beneficiario",
            "Beneficiario",
            [
                fields::<Beneficiario>("b_", "Beneficiario", &["CodiceFiscale"]),
                fields::<casellario_domain::model::Anagrafica>(
                    "a_",
                    "Beneficiario/Anagrafica",
                    &[
                        "Cognome",
                        "Nome",
                        "AnnoNascita",
                        "LuogoNascita",
                        "Genere",
                        "CodiceCittadinanza",
                        "CodiceSecondaCittadinanza",
                    ],
                ),
            ]
            .concat(),
        ),
    ];
    for n in 1..=5 {
        let mut s = section(
            &format!("residenza{n}"),
            &if n == 1 {
                "Residenza".to_string()
            } else {
                format!("Residenza {n} (facoltativa)")
            },
            fields::<Indirizzo>(
                &format!("r{n}_"),
                &format!("Beneficiario/Indirizzo[{n}]"),
                &["CodiceNazione", "CodiceRegione", "CodiceComune"],
            ),
        );
        s.collapsed = n > 1;
        out.push(s);
    }
    let mut ops = fields::<PrestazioniSociali>("p_", P, &["TipoOperazione"]);
    ops.extend(fields::<PrestazioniSociali>(
        "p_",
        P,
        &[
            "CodicePrestazione",
            "DenominazionePrestazione",
            "ProtocolloDomanda",
            "CaratterePrestazione",
            "PresenzaProvaMezzi",
            "PresaCarico",
            "AreaUtenza",
            "DataEvento",
        ],
    ));
    for f in &mut ops {
        if f.attr == "CaratterePrestazione" {
            // Optional in the XSD, mandatory in the specification (§3.3).
            f.required = true;
        }
    }
    out.push(section("prestazione", "Prestazione", ops));
    out.push(section(
        "periodo",
        "Periodo e importi",
        [
            when(
                fields::<PrestazioniSociali>(
                    "p_",
                    P,
                    &[
                        "DataInizioPrestazione",
                        "DataFinePrestazione",
                        "PeriodoErogazione",
                        "ImportoMensile",
                    ],
                ),
                "p_CaratterePrestazione=1|",
            ),
            when(
                fields::<PrestazioniSociali>(
                    "p_",
                    P,
                    &["DataErogazionePrestazione", "ImportoPrestazione"],
                ),
                "p_CaratterePrestazione=2|",
            ),
            fields::<PrestazioniSociali>(
                "p_",
                P,
                &[
                    "ImportoQuotaEnte",
                    "ImportoQuotaUtente",
                    "ImportoQuotaSSN",
                    "ImportoQuotaRichiesta",
                    "ImportoSogliaISEE",
                    "OreServizioMensile",
                ],
            ),
        ]
        .concat(),
    ));
    let mut dsu = section(
        "dsu",
        "Dichiarazione sostitutiva unica (DSU)",
        fields::<PrestazioniSociali>(
            "p_",
            P,
            &["NumeroProtocolloDSU", "AnnoProtocolloDSU", "DataDSU"],
        ),
    );
    dsu.show_when = Some("p_PresenzaProvaMezzi=1|3|");
    out.push(dsu);
    out.push(section(
        "sina-scelta",
        "Valutazione SINA",
        vec![FieldSpec {
            name: SINA_TOGGLE.into(),
            path: "PrestazioniSociali/SINA".into(),
            attr: "SINA",
            label: "Aggiungere la valutazione SINA (disabilità e non autosufficienza)",
            required: false,
            kind: Kind::Toggle,
            hint: None,
            show_when: None,
        }],
    ));
    let mut sina = fields::<Sina>(
        "s_",
        "PrestazioniSociali/SINA",
        &[
            "Mobilita",
            "AttivitaVitaQuotidiana",
            "DisturbiAreaCognitiva",
            "DisturbiComportamentali",
            "NecessitaCureSanitarie",
            "AreaReddituale",
            "AreaSupporto",
            "FonteDerivazioneValutazione",
            "StrumentoValutazione",
            "FonteDerivazioneInvalidita",
        ],
    );
    sina.push(FieldSpec {
        name: "s_NecessitaInterventiSociali".into(),
        path: "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione".into(),
        attr: "NecessitaInterventiSociali",
        label: label("NecessitaInterventiSociali"),
        required: false,
        kind: Kind::CodeList,
        hint: hint("NecessitaInterventiSociali"),
        show_when: None,
    });
    sina.push(FieldSpec {
        name: "s_InvCiv".into(),
        path: "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv".into(),
        attr: "InvaliditaCivile",
        label: label("InvaliditaCivile"),
        required: false,
        kind: Kind::Checks(InvCiv::TABLE),
        hint: None,
        show_when: None,
    });
    let mut s = section("sina", "Valutazione SINA: dati", sina);
    s.show_when = Some("sina=1");
    out.push(s);
    out
});

/// Sections of the SINBA form.
pub static SINBA_FORM: LazyLock<Vec<SectionSpec>> = LazyLock::new(|| {
    const K: &str = "SINBA";
    let f = |attrs: &[&'static str]| fields::<Sinba>("k_", K, attrs);
    let prestazioni = FieldSpec {
        name: "k_Prestazioni".into(),
        path: "SINBA/Prestazioni/CodicePrestazione".into(),
        attr: "Prestazioni",
        label: label("Prestazioni"),
        required: true,
        kind: Kind::CodeList,
        hint: hint("Prestazioni"),
        show_when: None,
    };
    let famiglia = FieldSpec {
        name: "k_Famiglia".into(),
        path: "SINBA/Famiglia/ComposizioneFamiglia".into(),
        attr: "Famiglia",
        label: label("Famiglia"),
        required: true,
        kind: Kind::Checks(ComposizioneFamiglia::TABLE),
        hint: None,
        show_when: None,
    };
    vec![
        section("operatore", "Operatore", vec![cf_operatore()]),
        section(
            "minore",
            "Minore",
            f(&[
                "IDBeneficiario",
                "AnnoNascita",
                "FasciaEtaBeneficiario",
                "CodiceNazioneResidenza",
                "CodiceRegioneResidenza",
                "MinoreStranieroNoAcc",
                "CondizioneMinore",
                "LuogoVita",
                "ScuolaFrequentata",
                "CondizioneLavoro",
                "NumeroComponentiISEE",
                "FasciaISEEBeneficiario",
            ]),
        ),
        section(
            "disabilita",
            "Disabilità",
            [
                f(&["Disabilita"]),
                when(
                    f(&["TipoDisabilita", "InvCivCertificazioni"]),
                    "k_Disabilita=1",
                ),
            ]
            .concat(),
        ),
        section(
            "famiglia",
            "Famiglia",
            [
                vec![famiglia],
                f(&[
                    "CodiceCittadinanzaMadre",
                    "CodiceCittadinanzaPadre",
                    "CodiceRegioneResidenzaMadre",
                    "CodiceRegioneResidenzaPadre",
                    "TitoloStudioMadre",
                    "TitoloStudioPadre",
                    "OccupazioneMadre",
                    "OccupazionePadre",
                ]),
            ]
            .concat(),
        ),
        section(
            "segnalazione",
            "Segnalazione e valutazione",
            [
                f(&[
                    "DataPrimaSegnalazione",
                    "FonteSegnalazione",
                    "ValutazioneMinore",
                    "ValutazioneFamigliaMinore",
                    "SegnalazioneAutoritaGiudiziaria",
                ]),
                when(
                    f(&["DataSegnalazione"]),
                    "k_SegnalazioneAutoritaGiudiziaria=1",
                ),
            ]
            .concat(),
        ),
        section(
            "provvedimento",
            "Provvedimento giudiziario",
            [
                f(&["ProvvedimentoGiudiziario"]),
                when(
                    f(&[
                        "DataProvvedimentoGiudiziario",
                        "AutoritaProvvedimento",
                        "PotestaTutela",
                        "TipoProvvedimentoGiudiziario",
                    ]),
                    "k_ProvvedimentoGiudiziario=1",
                ),
            ]
            .concat(),
        ),
        section(
            "affido",
            "Affidamento familiare",
            f(&[
                "FormaInterventoAffido",
                "TipoInterventoAffido",
                "DurataAffido",
                "CarattereAffido",
                "EsitoAffido",
            ]),
        ),
        section(
            "residenziale",
            "Inserimento residenziale",
            f(&[
                "CarattereInserimentoResidenziale",
                "FormaInserimentoResidenziale",
                "TipoInserimentoResidenziale",
                "EsitoInserimentoStruttura",
            ]),
        ),
        section(
            "presa-carico",
            "Presa in carico e interventi",
            [
                vec![prestazioni],
                f(&[
                    "CollaborazioniInterventi",
                    "MotivazioneChiusuraCarico",
                    "SituazioneChiusuraCarico",
                ]),
            ]
            .concat(),
        ),
    ]
});

pub fn sections(tipo: FlowType) -> &'static [SectionSpec] {
    match tipo {
        FlowType::PsPsaSina => &PS_FORM,
        FlowType::Sinba => &SINBA_FORM,
    }
}

// ------------------------------------------------------------ values

/// Form pairs (repeated names allowed) as [`Values`], without the CSRF token.
pub fn values_from_pairs(pairs: Vec<(String, String)>) -> Values {
    let mut v = Values::new();
    for (k, x) in pairs {
        if k == "_csrf" {
            continue;
        }
        v.entry(k).or_default().push(x);
    }
    v
}

/// The first value of a control, trimmed ("" when absent).
pub fn get<'a>(v: &'a Values, name: &str) -> &'a str {
    v.get(name)
        .and_then(|x| x.first())
        .map(|s| s.trim())
        .unwrap_or("")
}

pub fn set(v: &mut Values, name: &str, value: impl Into<String>) {
    v.insert(name.to_string(), vec![value.into()]);
}

/// Operator input in the lexical form of the XSD type: Italian decimals,
/// Italian dates, upper-case codici fiscali.
fn normalize(ty: &SimpleType, raw: &str) -> String {
    match ty {
        SimpleType::Decimal => {
            let s: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '€')
                .collect();
            if s.contains(',') {
                s.replace('.', "").replace(',', ".")
            } else {
                s
            }
        }
        SimpleType::CodiceFiscale => raw.to_uppercase(),
        SimpleType::Date => {
            // gg/mm/aaaa → aaaa-mm-gg
            let p: Vec<&str> = raw.split('/').collect();
            match p.as_slice() {
                [d, m, y] if y.len() == 4 => format!("{y}-{m:0>2}-{d:0>2}"),
                _ => raw.to_string(),
            }
        }
        SimpleType::MeseAnno => {
            // aaaa-mm (input type=month) → mm/aaaa
            match raw.split_once('-') {
                Some((y, m)) if y.len() == 4 => format!("{m:0>2}/{y}"),
                _ => raw.to_string(),
            }
        }
        _ => raw.to_string(),
    }
}

/// A problem found before submitting (a value outside its XSD type): the
/// control name and the Italian message.
pub type FieldError = (String, String);

/// Sets the attributes of `el` from the controls `prefix` + attribute name;
/// true when at least one was given.
fn fill<E: XsdElement>(
    el: &mut E,
    v: &Values,
    prefix: &str,
    skip: &dyn Fn(&str) -> bool,
    errs: &mut Vec<FieldError>,
) -> bool {
    let mut any = false;
    for d in E::ATTRS {
        let name = format!("{prefix}{}", d.name);
        let raw = get(v, &name);
        if raw.is_empty() || skip(d.name) {
            continue;
        }
        any = true;
        if let Some((_, Err(e))) = el.set_attr(d.name, &normalize(&d.ty, raw)) {
            errs.push((name, format!("{}: {e}.", label(d.name))));
        }
    }
    any
}

/// Benefit codes typed in one control, separated by spaces, commas or semicolons.
fn codes(v: &Values, name: &str, errs: &mut Vec<FieldError>) -> Vec<String> {
    let mut out = Vec::new();
    for c in get(v, name)
        .split([' ', ',', ';', '\n', '\r', '\t'])
        .filter(|c| !c.is_empty())
    {
        let c = c.to_uppercase();
        if let Err(e) = CODICE_PRESTAZIONE_ELEM.check(&c) {
            errs.push((
                name.to_string(),
                format!("Codice prestazione \"{c}\": {e}."),
            ));
        }
        out.push(c);
    }
    out
}

fn checks<T: CodeEnum>(v: &Values, name: &str) -> Vec<T> {
    v.get(name)
        .map(|xs| xs.iter().filter_map(|x| T::from_code(x.trim())).collect())
        .unwrap_or_default()
}

/// A PS record from the form, and which form residence block each
/// `Indirizzo` of the record came from.
pub fn build_ps(v: &Values) -> Result<(PsRecord, Vec<usize>), Vec<FieldError>> {
    let mut errs = Vec::new();
    let none = |_: &str| false;
    let mut b = Beneficiario::default();
    fill(&mut b, v, "b_", &none, &mut errs);
    fill(&mut b.anagrafica, v, "a_", &none, &mut errs);
    let mut blocks = Vec::new();
    for n in 1..=5 {
        let mut i = Indirizzo::default();
        if fill(&mut i, v, &format!("r{n}_"), &none, &mut errs) {
            b.indirizzi.push(i);
            blocks.push(n);
        }
    }
    let carattere = get(v, "p_CaratterePrestazione").to_string();
    let ppm = get(v, "p_PresenzaProvaMezzi").to_string();
    // Fields that do not apply are ignored (hidden in the page).
    let skip = move |a: &str| match a {
        "DataErogazionePrestazione" | "ImportoPrestazione" => carattere == "1",
        "DataInizioPrestazione"
        | "DataFinePrestazione"
        | "PeriodoErogazione"
        | "ImportoMensile" => carattere == "2",
        "NumeroProtocolloDSU" | "AnnoProtocolloDSU" | "DataDSU" => ppm == "2" || ppm == "4",
        _ => false,
    };
    let mut p = PrestazioniSociali::default();
    fill(&mut p, v, "p_", &skip, &mut errs);
    if get(v, SINA_TOGGLE) == "1" {
        let mut s = Sina::default();
        fill(&mut s, v, "s_", &none, &mut errs);
        let needs = codes(v, "s_NecessitaInterventiSociali", &mut errs);
        s.necessita_interventi_sociali = (!needs.is_empty()).then_some(needs);
        let inv: Vec<InvCiv> = checks(v, "s_InvCiv");
        s.invalidita_civile = (!inv.is_empty()).then_some(inv);
        p.sina = Some(s);
    }
    if errs.is_empty() {
        Ok((
            PsRecord {
                beneficiario: Arc::new(b),
                prestazione: p,
            },
            blocks,
        ))
    } else {
        Err(errs)
    }
}

/// A SINBA record from the form.
pub fn build_sinba(v: &Values) -> Result<Sinba, Vec<FieldError>> {
    let mut errs = Vec::new();
    let dis = get(v, "k_Disabilita").to_string();
    let segn = get(v, "k_SegnalazioneAutoritaGiudiziaria").to_string();
    let provv = get(v, "k_ProvvedimentoGiudiziario").to_string();
    let skip = move |a: &str| match a {
        "TipoDisabilita" | "InvCivCertificazioni" => dis == "2",
        "DataSegnalazione" => segn == "2",
        "DataProvvedimentoGiudiziario"
        | "AutoritaProvvedimento"
        | "PotestaTutela"
        | "TipoProvvedimentoGiudiziario" => provv == "2",
        _ => false,
    };
    let mut s = Sinba::default();
    fill(&mut s, v, "k_", &skip, &mut errs);
    s.prestazioni = codes(v, "k_Prestazioni", &mut errs);
    s.famiglia = checks(v, "k_Famiglia");
    if errs.is_empty() { Ok(s) } else { Err(errs) }
}

/// The operator's codice fiscale as `Ente/@CFOperatore`, checked against the XSD.
pub fn cf_operatore_value(v: &Values) -> Result<String, FieldError> {
    let raw = get(v, CF_OPERATORE).to_uppercase();
    if raw.is_empty() {
        return Err((
            CF_OPERATORE.into(),
            "Indicare il codice fiscale dell'operatore che trasmette.".into(),
        ));
    }
    let mut e = Ente::default();
    match e.set_attr("CFOperatore", &raw) {
        Some((_, Err(err))) => Err((
            CF_OPERATORE.into(),
            format!("{}: {err}.", label("CFOperatore")),
        )),
        _ => Ok(raw),
    }
}

fn put_attrs<E: XsdElement>(out: &mut Values, el: &E, prefix: &str) {
    el.visit_attrs(&mut |n, x| set(out, &format!("{prefix}{n}"), x));
}

/// The form values that show `rec` (prefill of a correction, record page).
pub fn record_values(rec: &Record) -> Values {
    let mut v = Values::new();
    match rec {
        Record::Ps(ps) => {
            let b = &ps.beneficiario;
            put_attrs(&mut v, &**b, "b_");
            put_attrs(&mut v, &b.anagrafica, "a_");
            for (i, ind) in b.indirizzi.iter().enumerate().take(5) {
                put_attrs(&mut v, ind, &format!("r{}_", i + 1));
            }
            let p = &ps.prestazione;
            put_attrs(&mut v, p, "p_");
            if let Some(s) = &p.sina {
                set(&mut v, SINA_TOGGLE, "1");
                put_attrs(&mut v, s, "s_");
                if let Some(l) = &s.necessita_interventi_sociali {
                    set(&mut v, "s_NecessitaInterventiSociali", l.join(" "));
                }
                if let Some(l) = &s.invalidita_civile {
                    v.insert(
                        "s_InvCiv".into(),
                        l.iter().map(|c| c.code().to_string()).collect(),
                    );
                }
            }
        }
        Record::Sinba(s) => {
            put_attrs(&mut v, s, "k_");
            set(&mut v, "k_Prestazioni", s.prestazioni.join(" "));
            v.insert(
                "k_Famiglia".into(),
                s.famiglia.iter().map(|c| c.code().to_string()).collect(),
            );
        }
    }
    v
}

// ------------------------------------------------------------ problems

/// A violation or a form error as shown next to a field or in the summary.
#[derive(Debug, Clone)]
pub struct Problem {
    pub text: String,
    /// Rule code, empty for checks made by the form itself.
    pub rule: String,
    pub warning: bool,
}

/// A line of the error summary: a link to the field when there is one.
#[derive(Debug, Clone)]
pub struct SummaryItem {
    pub href: Option<String>,
    pub problem: Problem,
}

#[derive(Debug, Clone, Default)]
pub struct Problems {
    pub by_field: HashMap<String, Vec<Problem>>,
    pub summary: Vec<SummaryItem>,
    pub errors: usize,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }

    fn add(&mut self, name: Option<String>, p: Problem) {
        if !p.warning {
            self.errors += 1;
        }
        if let Some(n) = &name {
            self.by_field.entry(n.clone()).or_default().push(p.clone());
        }
        self.summary.push(SummaryItem {
            href: name.map(|n| format!("#{n}")),
            problem: p,
        });
    }

    pub fn from_field_errors(errs: Vec<FieldError>) -> Problems {
        let mut p = Problems::default();
        for (name, text) in errs {
            p.add(
                Some(name),
                Problem {
                    text,
                    rule: String::new(),
                    warning: false,
                },
            );
        }
        p
    }

    /// Places the pipeline's violations on the fields of `tipo`'s form.
    /// `blocks[i]` is the form block of the record's `Indirizzo[i+1]`.
    pub fn add_violations(&mut self, tipo: FlowType, vs: &[Violation], blocks: &[usize]) {
        for v in vs {
            let name = field_for(tipo, &v.field, blocks);
            self.add(
                name,
                Problem {
                    text: v.message.clone(),
                    rule: v.rule.clone(),
                    warning: v.severity != Severity::Errore,
                },
            );
        }
    }
}

/// The control showing the field at `path`, if the form has one.
pub fn field_for(tipo: FlowType, path: &str, blocks: &[usize]) -> Option<String> {
    let mut p = path.to_string();
    // Indirizzo[i] of the record → residence block of the form.
    if let Some(rest) = p.strip_prefix("Beneficiario/Indirizzo[")
        && let Some((i, tail)) = rest.split_once(']')
        && let Ok(i) = i.parse::<usize>()
    {
        let n = blocks.get(i.wrapping_sub(1)).copied().unwrap_or(i);
        p = format!("Beneficiario/Indirizzo[{n}]{tail}");
    } else if p.ends_with(']')
        && let Some(at) = p.rfind('[')
    {
        // One item of a list: the list's control.
        p.truncate(at);
    }
    let p = match p.as_str() {
        "SINBA/Prestazioni" => "SINBA/Prestazioni/CodicePrestazione",
        "SINBA/Famiglia" => "SINBA/Famiglia/ComposizioneFamiglia",
        "PrestazioniSociali/SINA/NecessitaInterventiSociali" => {
            "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione"
        }
        "PrestazioniSociali/SINA/InvaliditaCivile" => {
            "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv"
        }
        other => other,
    };
    sections(tipo)
        .iter()
        .flat_map(|s| &s.fields)
        .find(|f| f.path == p)
        .map(|f| f.name.clone())
}

// ------------------------------------------------------------ views

#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Debug, Clone)]
pub struct FieldView {
    pub name: String,
    pub label: &'static str,
    pub attr: &'static str,
    pub required: bool,
    /// text, select, checks, toggle
    pub control: &'static str,
    /// text, date, number
    pub input_type: &'static str,
    /// "", numeric, decimal
    pub inputmode: &'static str,
    pub mono: bool,
    /// 0 = no limit.
    pub maxlength: usize,
    pub value: String,
    pub options: Vec<Opt>,
    pub hint: Option<&'static str>,
    pub problems: Vec<Problem>,
    pub show_when: Option<&'static str>,
    pub wide: bool,
}

impl FieldView {
    /// `aria-describedby` value.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if !self.problems.is_empty() {
            ids.push(format!("{}-error", self.name));
        }
        ids.join(" ")
    }
    pub fn invalid(&self) -> bool {
        self.problems.iter().any(|p| !p.warning)
    }
}

#[derive(Debug, Clone)]
pub struct SectionView {
    pub id: String,
    pub legend: String,
    pub show_when: Option<&'static str>,
    pub collapsed: bool,
    pub fields: Vec<FieldView>,
}

fn table_options(t: &CodeTable, selected: &[String]) -> Vec<Opt> {
    t.entries
        .iter()
        .map(|(c, l)| Opt {
            value: (*c).to_string(),
            label: format!("{c} — {l}"),
            selected: selected.iter().any(|s| s == c),
        })
        .collect()
}

fn benefit_options(selected: &str) -> Vec<Opt> {
    let mut out: Vec<Opt> = reference::all_prestazioni()
        .iter()
        .map(|p| Opt {
            value: p.code.to_string(),
            label: format!("{} — {}", p.code, p.name),
            selected: p.code == selected,
        })
        .collect();
    if !selected.is_empty() && !out.iter().any(|o| o.selected) {
        out.insert(
            0,
            Opt {
                value: selected.to_string(),
                label: format!("{selected} — codice non presente nella tabella"),
                selected: true,
            },
        );
    }
    out
}

fn field_view(f: &FieldSpec, v: &Values, problems: &Problems) -> FieldView {
    let all = v.get(&f.name).cloned().unwrap_or_default();
    let value = get(v, &f.name).to_string();
    let mut fv = FieldView {
        name: f.name.clone(),
        label: f.label,
        attr: f.attr,
        required: f.required,
        control: "text",
        input_type: "text",
        inputmode: "",
        mono: false,
        maxlength: 0,
        value: value.clone(),
        options: Vec::new(),
        hint: f.hint,
        problems: problems.by_field.get(&f.name).cloned().unwrap_or_default(),
        show_when: f.show_when,
        wide: false,
    };
    match f.kind {
        Kind::Attr(ty) => match ty {
            SimpleType::Enum(t) => {
                fv.control = "select";
                fv.options = table_options(t, &all);
            }
            SimpleType::Date => fv.input_type = "date",
            SimpleType::Decimal => fv.inputmode = "decimal",
            SimpleType::Int { .. } => fv.inputmode = "numeric",
            SimpleType::Digits(n) => {
                fv.inputmode = "numeric";
                fv.mono = true;
                fv.maxlength = n;
            }
            SimpleType::CodiceFiscale => {
                fv.mono = true;
                fv.maxlength = 16;
            }
            SimpleType::MeseAnno => {
                fv.mono = true;
                fv.maxlength = 7;
            }
            SimpleType::Str { max, .. } => {
                fv.maxlength = max;
                fv.mono = max == 4;
                fv.wide = max >= 100;
            }
        },
        Kind::Benefit => {
            fv.control = "select";
            fv.options = benefit_options(&value);
            fv.wide = true;
        }
        Kind::CodeList => {
            fv.mono = true;
            fv.wide = true;
        }
        Kind::Checks(t) => {
            fv.control = "checks";
            fv.options = table_options(t, &all);
            fv.wide = true;
        }
        Kind::Toggle => {
            fv.control = "toggle";
            fv.wide = true;
        }
    }
    fv
}

/// The form's sections with values and problems, ready for the template.
pub fn view(tipo: FlowType, v: &Values, problems: &Problems) -> Vec<SectionView> {
    sections(tipo)
        .iter()
        .map(|s| {
            let fields: Vec<FieldView> = s
                .fields
                .iter()
                .map(|f| field_view(f, v, problems))
                .collect();
            // An optional block with something in it opens.
            let filled = fields
                .iter()
                .any(|f| !f.value.is_empty() || !f.problems.is_empty());
            SectionView {
                id: s.id.clone(),
                legend: s.legend.clone(),
                show_when: s.show_when,
                collapsed: s.collapsed && !filled,
                fields,
            }
        })
        .collect()
}

/// One line of a record page.
#[derive(Debug, Clone)]
pub struct DisplayRow {
    pub label: &'static str,
    pub attr: &'static str,
    pub value: String,
    pub mono: bool,
}

#[derive(Debug, Clone)]
pub struct DisplaySection {
    pub legend: String,
    pub rows: Vec<DisplayRow>,
}

/// Every field of `rec` with Italian labels and code labels.
pub fn display(rec: &Record) -> Vec<DisplaySection> {
    let tipo = rec.flow_type();
    let v = record_values(rec);
    let none = Problems::default();
    let mut out = Vec::new();
    for s in view(tipo, &v, &none) {
        let mut rows = Vec::new();
        for f in &s.fields {
            if f.control == "toggle" || f.name == CF_OPERATORE {
                continue;
            }
            let value = match f.control {
                "select" | "checks" => f
                    .options
                    .iter()
                    .filter(|o| o.selected)
                    .map(|o| o.label.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                _ if f.input_type == "date" => crate::fmt::it_date(&f.value),
                _ => f.value.clone(),
            };
            if value.is_empty() {
                continue;
            }
            rows.push(DisplayRow {
                label: f.label,
                attr: f.attr,
                value,
                mono: f.mono,
            });
        }
        if !rows.is_empty() {
            let legend = if s.id == "sina" {
                "Valutazione SINA".to_string()
            } else {
                s.legend.trim_end_matches(" (facoltativa)").to_string()
            };
            out.push(DisplaySection { legend, rows });
        }
    }
    out
}

// ------------------------------------------------------------ flows

/// The records of a flow built by the portal.
pub enum FlowRecords {
    /// Beneficiaries with their benefits, in order.
    Ps(Vec<(Arc<Beneficiario>, Vec<PrestazioniSociali>)>),
    Sinba(Vec<Sinba>),
}

impl FlowRecords {
    fn tipo(&self) -> FlowType {
        match self {
            FlowRecords::Ps(_) => FlowType::PsPsaSina,
            FlowRecords::Sinba(_) => FlowType::Sinba,
        }
    }
}

/// A fresh flow name (DOMAIN.md §2.6):
/// `{CodiceEnte}.{PS|SINBA}.{AAAAMMGG}.{progressivo di 8 cifre}`, the
/// progressive from the time of day, moved on while the ente already has a
/// flow with that name.
fn fresh_name(store: &Store, codice: &str, tipo: FlowType) -> Result<String, AppError> {
    let tag = match tipo {
        FlowType::PsPsaSina => "PS",
        FlowType::Sinba => "SINBA",
    };
    let d = crate::fmt::today();
    let now = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC));
    let t = now.time();
    let mut prog =
        (i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())) * 100
            + i64::from(t.subsec_nanosecond()) / 10_000_000;
    for _ in 0..1000 {
        let nome = format!(
            "{codice}.{tag}.{:04}{:02}{:02}.{prog:08}",
            d.year, d.month, d.day
        );
        if store.find_flow(codice, &nome)?.is_none() {
            return Ok(nome);
        }
        prog = (prog + 1) % 100_000_000;
    }
    Err(AppError::internal("nessun nome di flusso libero"))
}

fn flow_xml(id: &IdentificazioneFlusso, recs: &FlowRecords) -> std::io::Result<Vec<u8>> {
    let mut w = XmlFlowWriter::new(Vec::new(), recs.tipo(), id)?;
    match recs {
        FlowRecords::Ps(groups) => {
            for (b, ps) in groups {
                let refs: Vec<&PrestazioniSociali> = ps.iter().collect();
                w.write_beneficiario(b, &refs)?;
            }
        }
        FlowRecords::Sinba(list) => {
            for s in list {
                w.write_sinba(s)?;
            }
        }
    }
    w.finish()
}

/// Builds a flow of `recs` with the header of the user's ente and submits it
/// through the pipeline (channel Form), on the writer lane; audits it as
/// `action`.
pub async fn submit_records(
    state: &AppState,
    user: &CurrentUser,
    cf_operatore: String,
    recs: FlowRecords,
    action: &'static str,
    detail: serde_json::Value,
) -> Result<Submitted, AppError> {
    let ente_id = user.ente()?;
    let account_id = user.id();
    let username = user.account.username.clone();
    let profile = state.cfg.profile();
    state
        .db
        .write_small(move |s| {
            let ente: EnteProfile = s.ente_profile(ente_id)?.ok_or_else(AppError::not_found)?;
            let tipo = recs.tipo();
            let nome = fresh_name(s, &ente.codice, tipo)?;
            let id = IdentificazioneFlusso {
                nome: Some(nome.clone()),
                ente: Ente {
                    codice: Some(ente.codice.clone()),
                    denominazione: Some(ente.denominazione.chars().take(100).collect())
                        .filter(|d: &String| !d.is_empty()),
                    indirizzo: Some(ente.belfiore.clone()),
                    cf_operatore: Some(cf_operatore),
                },
            };
            let xml = flow_xml(&id, &recs).map_err(|e| AppError::internal(format!("xml: {e}")))?;
            let opts = SubmitOptions {
                channel: casellario_domain::Channel::Form,
                profile,
                expected: Some(tipo),
                ente_id,
                ente_codice: ente.codice.clone(),
                account_id: Some(account_id),
                source_name: Some(format!("Modulo web: {nome}")),
                format: InputFormat::Xml,
                size_hint: Some(xml.len() as u64),
                keep_outcomes: true,
            };
            let sub = submit_blocking(s, Cursor::new(xml), &opts, None)?;
            let mut detail = detail;
            if let Some(o) = detail.as_object_mut() {
                o.insert("flusso".into(), nome.into());
                o.insert("invio".into(), sub.submission_id.into());
                o.insert("codice_esito".into(), sub.report.codice_esito.wire().into());
            }
            s.audit(&NewAuditEvent {
                account_id: Some(account_id),
                username: Some(&username),
                action,
                ente_id: Some(ente_id),
                detail: &detail.to_string(),
                ip: None,
            })?;
            Ok(sub)
        })
        .await
}

/// Validates one record alone without storing anything (the pipeline's
/// dry run): used before a correction cancels the old record, so that a
/// correction whose new record would be rejected leaves the register as it is.
pub async fn dry_run(
    state: &AppState,
    user: &CurrentUser,
    cf_operatore: String,
    recs: FlowRecords,
) -> Result<(Vec<Violation>, Vec<RecordOutcome>), AppError> {
    let ente_id = user.ente()?;
    state
        .db
        .run(move |s| {
            let ente = s.ente_profile(ente_id)?.ok_or_else(AppError::not_found)?;
            let tipo = recs.tipo();
            let tag = match tipo {
                FlowType::PsPsaSina => "PS",
                FlowType::Sinba => "SINBA",
            };
            let d = crate::fmt::today();
            let id = IdentificazioneFlusso {
                nome: Some(format!(
                    "{}.{tag}.{:04}{:02}{:02}.00000000",
                    ente.codice, d.year, d.month, d.day
                )),
                ente: Ente {
                    codice: Some(ente.codice.clone()),
                    denominazione: None,
                    indirizzo: Some(ente.belfiore.clone()),
                    cf_operatore: Some(cf_operatore),
                },
            };
            let xml = flow_xml(&id, &recs).map_err(|e| AppError::internal(format!("xml: {e}")))?;
            let mut io = casellario_ingest::IngestOptions::new(d);
            io.channel = casellario_domain::Channel::Form;
            io.format = InputFormat::Xml;
            io.caller_ente = Some(ente.codice.clone());
            let mut ing = casellario_ingest::ingest(Cursor::new(xml), &io, None, None)
                .map_err(|e| AppError::internal(format!("pipeline: {e}")))?;
            let mut outcomes = Vec::new();
            ing.for_each_record(&mut |o| {
                outcomes.push(o);
                Ok(())
            })
            .map_err(|e| AppError::internal(format!("esiti: {e}")))?;
            Ok((ing.report.flow_violations, outcomes))
        })
        .await
}

// ------------------------------------------------------------ outcomes

/// One record's outcome as the result pages show it.
#[derive(Debug, Clone)]
pub struct OutcomeView {
    pub title: String,
    pub esito: &'static str,
    pub badge: &'static str,
    pub codice: &'static str,
    pub ref_id: Option<i64>,
    /// The record page, when the outcome is a live version.
    pub record_link: Option<String>,
    pub problems: Vec<Problem>,
}

pub fn badge(e: Esito) -> &'static str {
    match e {
        Esito::Accettato => "badge-ok",
        Esito::Duplicato => "badge-dup",
        Esito::Scartato => "badge-ko",
    }
}

/// The outcome of the record at `pos` (1-based) of a submission.
pub fn outcome_view(
    sub: &Submitted,
    pos: u64,
    title: impl Into<String>,
    links_version: bool,
) -> OutcomeView {
    let o = sub.outcomes.iter().find(|o| o.pos == pos);
    let esito = o.map(|o| o.esito).unwrap_or(Esito::Scartato);
    let mut problems: Vec<Problem> = sub
        .report
        .flow_violations
        .iter()
        .chain(o.map(|o| o.violations.as_slice()).unwrap_or(&[]))
        .map(|v| Problem {
            text: v.message.clone(),
            rule: v.rule.clone(),
            warning: v.severity != Severity::Errore,
        })
        .collect();
    problems.dedup_by(|a, b| a.text == b.text && a.rule == b.rule);
    let ref_id = o.and_then(|o| o.ref_id);
    OutcomeView {
        title: title.into(),
        esito: esito.wire(),
        badge: badge(esito),
        codice: o
            .map(|o| o.codice)
            .unwrap_or(sub.report.codice_esito)
            .wire(),
        ref_id,
        record_link: ref_id
            .filter(|_| links_version && esito != Esito::Scartato)
            .map(|id| format!("/consultazione/record/{id}")),
        problems,
    }
}

/// The record's outcome with every violation, when it was accepted.
pub fn accepted(sub: &Submitted, pos: u64) -> bool {
    !sub.report.rejected_whole
        && sub
            .outcomes
            .iter()
            .any(|o| o.pos == pos && o.esito != Esito::Scartato)
}

/// Every violation of the submission concerning the record at `pos`.
pub fn violations_of(sub: &Submitted, pos: u64) -> Vec<Violation> {
    sub.report
        .flow_violations
        .iter()
        .cloned()
        .chain(
            sub.outcomes
                .iter()
                .filter(|o| o.pos == pos)
                .flat_map(|o| o.violations.iter().cloned()),
        )
        .collect()
}

/// `Set-Cookie` remembering the operator's codice fiscale for a year.
pub fn cf_cookie(cf: &str, secure: bool) -> String {
    let mut c = format!(
        "{CF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000",
        cf.replace(' ', "")
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The remembered codice fiscale of the operator, if any.
pub fn remembered_cf(headers: &axum::http::HeaderMap) -> String {
    crate::auth::cookie_value(headers, CF_COOKIE)
        .filter(|v| v.len() <= 16 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use casellario_domain::model::Anagrafica;

    fn covered<E: XsdElement>(tipo: FlowType, base: &str) {
        for d in E::ATTRS {
            let path = format!("{base}/@{}", d.name);
            assert!(
                field_for(tipo, &path, &[1, 2, 3, 4, 5]).is_some(),
                "{path} has no field"
            );
            assert_ne!(label(d.name), "Campo", "{} has no label", d.name);
        }
    }

    #[test]
    fn every_record_attribute_has_a_field() {
        let ps = FlowType::PsPsaSina;
        covered::<Beneficiario>(ps, "Beneficiario");
        covered::<Anagrafica>(ps, "Beneficiario/Anagrafica");
        covered::<Indirizzo>(ps, "Beneficiario/Indirizzo[1]");
        covered::<PrestazioniSociali>(ps, "PrestazioniSociali");
        covered::<Sina>(ps, "PrestazioniSociali/SINA");
        covered::<Sinba>(FlowType::Sinba, "SINBA");
        assert!(
            field_for(
                ps,
                "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv[2]",
                &[]
            )
            .is_some()
        );
        assert!(
            field_for(
                FlowType::Sinba,
                "SINBA/Prestazioni/CodicePrestazione[1]",
                &[]
            )
            .is_some()
        );
        assert_eq!(
            field_for(ps, "Beneficiario/Indirizzo[2]/@CodiceComune", &[1, 3]).as_deref(),
            Some("r3_CodiceComune")
        );
        // Unique control names.
        for t in [FlowType::PsPsaSina, FlowType::Sinba] {
            let mut names: Vec<_> = sections(t)
                .iter()
                .flat_map(|s| &s.fields)
                .map(|f| &f.name)
                .collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(n, names.len());
        }
    }

    #[test]
    fn values_round_trip() {
        let mut v = Values::new();
        set(&mut v, "b_CodiceFiscale", "rssmra80a01h501u");
        set(&mut v, "a_Cognome", "Rossi");
        set(&mut v, "r1_CodiceNazione", "380");
        set(&mut v, "p_CaratterePrestazione", "2");
        set(&mut v, "p_ImportoPrestazione", "1.250,50");
        set(&mut v, "p_ImportoMensile", "99");
        set(&mut v, SINA_TOGGLE, "1");
        set(&mut v, "s_Mobilita", "2");
        set(&mut v, "s_NecessitaInterventiSociali", "a1.04, A2.08");
        v.insert("s_InvCiv".into(), vec!["1".into(), "5".into()]);
        let (ps, blocks) = build_ps(&v).expect("valid");
        assert_eq!(blocks, vec![1]);
        assert_eq!(
            ps.beneficiario.codice_fiscale.as_deref(),
            Some("RSSMRA80A01H501U")
        );
        assert_eq!(
            ps.prestazione
                .importo_prestazione
                .map(|d| d.to_string())
                .as_deref(),
            Some("1250.5")
        );
        // Periodic fields of a one-off benefit are ignored.
        assert!(ps.prestazione.importo_mensile.is_none());
        let sina = ps.prestazione.sina.clone().expect("sina");
        assert_eq!(sina.necessita_interventi_sociali.map(|l| l.len()), Some(2));
        let back = record_values(&Record::Ps(ps));
        assert_eq!(get(&back, "s_Mobilita"), "2");
        assert_eq!(back.get("s_InvCiv").map(Vec::len), Some(2));

        set(&mut v, "a_AnnoNascita", "19x8");
        let errs = build_ps(&v).expect_err("invalid");
        assert_eq!(errs[0].0, "a_AnnoNascita");
    }
}
