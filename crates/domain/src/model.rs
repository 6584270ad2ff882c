//! Typed model of every element and attribute of `PS_PSA_SINA201812.xsd` and
//! `SINBA.xsd`. Each element struct is declared once, with its attributes'
//! XSD names, cardinality and simple types; the macro derives the struct, its
//! schema table ([`AttrDecl`]), a checked setter used by the readers and an
//! attribute visitor used by the writers. Field values are `None` when the
//! attribute is absent (or was rejected by its facets: the record then
//! carries a schema violation and is never stored).

use crate::codes::*;
use crate::xsd::{FacetError, MeseAnno, SimpleType, XsDate, XsDecimal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Namespace of both flows.
pub const NAMESPACE: &str = "http://inps.it/Casellario";

/// One attribute declaration of the XSD.
#[derive(Debug, Clone, Copy)]
pub struct AttrDecl {
    pub name: &'static str,
    pub required: bool,
    pub ty: SimpleType,
}

/// Values an attribute can hold, with their XSD lexical mapping.
pub trait XsdValue: Sized {
    fn parse_as(ty: &SimpleType, raw: &str) -> Result<Self, FacetError>;
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R;
    /// Appends the lexical form (UTF-8) to `out`, without an intermediate String.
    fn write_lexical(&self, out: &mut Vec<u8>) {
        self.with_lexical(|s| out.extend_from_slice(s.as_bytes()));
    }
}

impl XsdValue for String {
    fn parse_as(ty: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        ty.check(raw)?;
        Ok(raw.to_owned())
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(self)
    }
}

impl XsdValue for XsDate {
    fn write_lexical(&self, out: &mut Vec<u8>) {
        self.write_to(out);
    }
    fn parse_as(_: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        XsDate::parse(raw)
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.to_string())
    }
}

impl XsdValue for XsDecimal {
    fn write_lexical(&self, out: &mut Vec<u8>) {
        self.write_to(out);
    }
    fn parse_as(_: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        XsDecimal::parse(raw)
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.to_string())
    }
}

impl XsdValue for MeseAnno {
    fn write_lexical(&self, out: &mut Vec<u8>) {
        self.write_to(out);
    }
    fn parse_as(_: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        MeseAnno::parse(raw)
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.to_string())
    }
}

impl XsdValue for i32 {
    fn write_lexical(&self, out: &mut Vec<u8>) {
        if *self < 0 {
            out.push(b'-');
        }
        crate::xsd::push_u128(out, u128::from(self.unsigned_abs()));
    }
    fn parse_as(ty: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        match *ty {
            SimpleType::Int { min, max } => crate::xsd::parse_xs_int(raw, min, max),
            _ => Err(FacetError::Int),
        }
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.to_string())
    }
}

impl<T: CodeEnum> XsdValue for T {
    fn parse_as(ty: &SimpleType, raw: &str) -> Result<Self, FacetError> {
        T::from_code(raw).ok_or_else(|| {
            ty.check(raw).err().unwrap_or(FacetError::Enumeration {
                allowed: String::new(),
            })
        })
    }
    fn with_lexical<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(self.code())
    }
}

#[doc(hidden)]
pub const fn required_mask(attrs: &[AttrDecl]) -> u64 {
    assert!(attrs.len() <= 64, "the readers track attributes in a u64");
    let mut m = 0u64;
    let mut i = 0;
    while i < attrs.len() {
        if attrs[i].required {
            m |= 1u64 << i;
        }
        i += 1;
    }
    m
}

#[doc(hidden)]
pub const fn attr_pos(attrs: &[AttrDecl], name: &str) -> u32 {
    let n = name.as_bytes();
    let mut i = 0;
    while i < attrs.len() {
        let a = attrs[i].name.as_bytes();
        if a.len() == n.len() {
            let mut j = 0;
            while j < a.len() && a[j] == n[j] {
                j += 1;
            }
            if j == a.len() {
                return i as u32;
            }
        }
        i += 1;
    }
    panic!("attribute not declared")
}

/// Schema-level behaviour shared by all element structs.
pub trait XsdElement {
    const ELEMENT: &'static str;
    const ATTRS: &'static [AttrDecl];
    /// Bit `i` set for each required attribute `ATTRS[i]`.
    const REQUIRED: u64 = required_mask(Self::ATTRS);
    /// Sets an attribute from its lexical value. `None` when the element
    /// declares no attribute with this name; otherwise the attribute's index
    /// in [`XsdElement::ATTRS`] and the facet check's result.
    fn set_attr(&mut self, name: &str, raw: &str) -> Option<(u32, Result<(), FacetError>)>;
    /// Visits present attributes in XSD declaration order with their lexical value.
    fn visit_attrs(&self, f: &mut dyn FnMut(&'static str, &str));
    /// Compact canonical encoding of the present attributes: for each, its
    /// index in [`XsdElement::ATTRS`], a 2-byte length and the lexical value;
    /// then `0xFF`. Used for stored payloads (see [`crate::codec`]).
    fn encode_attrs(&self, out: &mut Vec<u8>);
    /// Required attributes whose bit is not set in `seen`.
    fn missing_required(seen: u64) -> impl Iterator<Item = &'static AttrDecl> {
        let missing = Self::REQUIRED & !seen;
        // Nothing to walk in the usual case (all present).
        let n = if missing == 0 { 0 } else { Self::ATTRS.len() };
        Self::ATTRS[..n]
            .iter()
            .enumerate()
            .filter(move |(i, _)| missing & (1u64 << i) != 0)
            .map(|(_, a)| a)
    }
    /// The lexical value of one attribute, if present.
    fn lexical(&self, name: &str) -> Option<String> {
        let mut out = None;
        self.visit_attrs(&mut |n, v| {
            if n == name {
                out = Some(v.to_owned());
            }
        });
        out
    }
}

macro_rules! xsd_element {
    (
        $(#[$meta:meta])*
        $name:ident = $elem:literal {
            $( $field:ident : $ty:ty = $attr:literal, $req:literal, $st:expr; )*
        }
        $( extra { $( $(#[$fmeta:meta])* $xfield:ident : $xty:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct $name {
            $(
                #[serde(rename = $attr, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            $( $( $(#[$fmeta])* pub $xfield: $xty, )* )?
        }

        impl XsdElement for $name {
            const ELEMENT: &'static str = $elem;
            const ATTRS: &'static [AttrDecl] = &[ $( AttrDecl { name: $attr, required: $req, ty: $st }, )* ];

            fn set_attr(&mut self, name: &str, raw: &str) -> Option<(u32, Result<(), FacetError>)> {
                match name {
                    $(
                        $attr => {
                            const I: u32 = attr_pos(<$name as XsdElement>::ATTRS, $attr);
                            Some((I, <$ty as XsdValue>::parse_as(&$st, raw).map(|v| { self.$field = Some(v); })))
                        }
                    )*
                    _ => None,
                }
            }

            fn encode_attrs(&self, out: &mut Vec<u8>) {
                $(
                    if let Some(v) = &self.$field {
                        const I: u32 = attr_pos(<$name as XsdElement>::ATTRS, $attr);
                        out.push(I as u8);
                        let at = out.len();
                        out.extend_from_slice(&[0, 0]);
                        v.write_lexical(out);
                        let len = u16::try_from(out.len() - at - 2).unwrap_or(u16::MAX);
                        out[at..at + 2].copy_from_slice(&len.to_le_bytes());
                    }
                )*
                out.push(0xFF);
            }

            fn visit_attrs(&self, f: &mut dyn FnMut(&'static str, &str)) {
                $(
                    if let Some(v) = &self.$field {
                        v.with_lexical(|s| f($attr, s));
                    }
                )*
            }
        }
    };
}

const fn s(min: usize, max: usize) -> SimpleType {
    SimpleType::Str { min, max }
}
const fn e<T: CodeEnum>() -> SimpleType {
    SimpleType::Enum(T::TABLE)
}
const D2: SimpleType = SimpleType::Digits(2);
const D3: SimpleType = SimpleType::Digits(3);
const D4: SimpleType = SimpleType::Digits(4);
const D6: SimpleType = SimpleType::Digits(6);
const CF: SimpleType = SimpleType::CodiceFiscale;
const DATE: SimpleType = SimpleType::Date;
const DEC: SimpleType = SimpleType::Decimal;
const MA: SimpleType = SimpleType::MeseAnno;

/// Simple type of `CodicePrestazione` elements (SINA needs, SINBA benefits).
pub const CODICE_PRESTAZIONE_ELEM: SimpleType = s(5, 10);

xsd_element! {
    /// `Ente`: the body sending the flow.
    Ente = "Ente" {
        codice: String = "Codice", true, s(1, 32);
        denominazione: String = "Denominazione", false, s(1, 100);
        indirizzo: String = "Indirizzo", true, s(4, 4);
        cf_operatore: String = "CFOperatore", true, CF;
    }
}

xsd_element! {
    /// `IdentificazioneFlusso`: flow name and sender.
    IdentificazioneFlusso = "IdentificazioneFlusso" {
        nome: String = "Nome", true, s(0, 50);
    }
    extra {
        #[serde(rename = "Ente")]
        ente: Ente,
    }
}

xsd_element! {
    /// `Anagrafica` of a beneficiary.
    Anagrafica = "Anagrafica" {
        cognome: String = "Cognome", true, s(1, 36);
        nome: String = "Nome", true, s(1, 36);
        anno_nascita: String = "AnnoNascita", true, D4;
        luogo_nascita: String = "LuogoNascita", true, s(4, 4);
        genere: Genere = "Genere", true, e::<Genere>();
        codice_cittadinanza: String = "CodiceCittadinanza", true, D3;
        codice_seconda_cittadinanza: String = "CodiceSecondaCittadinanza", false, D3;
    }
}

xsd_element! {
    /// `Indirizzo`: a residence (1 to 5 per beneficiary).
    Indirizzo = "Indirizzo" {
        codice_regione: String = "CodiceRegione", false, D2;
        codice_comune: String = "CodiceComune", false, D6;
        codice_nazione: String = "CodiceNazione", true, D3;
    }
}

xsd_element! {
    /// `Beneficiario`: the person, with registry data and residences.
    Beneficiario = "Beneficiario" {
        codice_fiscale: String = "CodiceFiscale", true, CF;
    }
    extra {
        #[serde(rename = "Anagrafica")]
        anagrafica: Anagrafica,
        #[serde(rename = "Indirizzo")]
        indirizzi: Vec<Indirizzo>,
    }
}

xsd_element! {
    /// `SINA`: disability and dependency assessment nested in a benefit.
    Sina = "SINA" {
        mobilita: Mobilita = "Mobilita", true, e::<Mobilita>();
        attivita_vita_quotidiana: AttivitaVitaQuotidiana = "AttivitaVitaQuotidiana", true, e::<AttivitaVitaQuotidiana>();
        disturbi_area_cognitiva: DisturbiAreaCognitiva = "DisturbiAreaCognitiva", false, e::<DisturbiAreaCognitiva>();
        disturbi_comportamentali: DisturbiComportamentali = "DisturbiComportamentali", true, e::<DisturbiComportamentali>();
        necessita_cure_sanitarie: NecessitaCureSanitarie = "NecessitaCureSanitarie", false, e::<NecessitaCureSanitarie>();
        area_reddituale: AreaReddituale = "AreaReddituale", true, e::<AreaReddituale>();
        area_supporto: AreaSupporto = "AreaSupporto", true, e::<AreaSupporto>();
        fonte_derivazione_valutazione: FonteDerivazioneValutazione = "FonteDerivazioneValutazione", true, e::<FonteDerivazioneValutazione>();
        strumento_valutazione: StrumentoValutazione = "StrumentoValutazione", true, e::<StrumentoValutazione>();
        fonte_derivazione_invalidita: FonteDerivazioneInvalidita = "FonteDerivazioneInvalidita", false, e::<FonteDerivazioneInvalidita>();
    }
    extra {
        /// `NecessitaInterventiSociali/CodicePrestazione` (wrapper absent = `None`).
        #[serde(rename = "NecessitaInterventiSociali", default, skip_serializing_if = "Option::is_none")]
        necessita_interventi_sociali: Option<Vec<String>>,
        /// `InvaliditaCivile/InvCiv` (wrapper absent = `None`).
        #[serde(rename = "InvaliditaCivile", default, skip_serializing_if = "Option::is_none")]
        invalidita_civile: Option<Vec<InvCiv>>,
    }
}

xsd_element! {
    /// `PrestazioniSociali`: one benefit (the unit of a PS record).
    PrestazioniSociali = "PrestazioniSociali" {
        tipo_operazione: TipoOperazione = "TipoOperazione", false, e::<TipoOperazione>();
        presenza_prova_mezzi: PresenzaProvaMezzi = "PresenzaProvaMezzi", true, e::<PresenzaProvaMezzi>();
        carattere_prestazione: CaratterePrestazione = "CaratterePrestazione", false, e::<CaratterePrestazione>();
        numero_protocollo_dsu: String = "NumeroProtocolloDSU", false, s(0, 30);
        anno_protocollo_dsu: String = "AnnoProtocolloDSU", false, D4;
        data_dsu: XsDate = "DataDSU", false, DATE;
        codice_prestazione: String = "CodicePrestazione", true, s(5, 10);
        denominazione_prestazione: String = "DenominazionePrestazione", true, s(10, 200);
        protocollo_domanda: String = "ProtocolloDomanda", true, s(1, 32);
        data_evento: XsDate = "DataEvento", false, DATE;
        data_inizio_prestazione: XsDate = "DataInizioPrestazione", false, DATE;
        data_fine_prestazione: XsDate = "DataFinePrestazione", false, DATE;
        data_erogazione_prestazione: XsDate = "DataErogazionePrestazione", false, DATE;
        importo_prestazione: XsDecimal = "ImportoPrestazione", false, DEC;
        periodo_erogazione: i32 = "PeriodoErogazione", false, SimpleType::Int { min: Some(1), max: Some(12) };
        importo_mensile: XsDecimal = "ImportoMensile", false, DEC;
        importo_quota_ente: XsDecimal = "ImportoQuotaEnte", false, DEC;
        importo_quota_utente: XsDecimal = "ImportoQuotaUtente", false, DEC;
        importo_quota_ssn: XsDecimal = "ImportoQuotaSSN", false, DEC;
        importo_quota_richiesta: XsDecimal = "ImportoQuotaRichiesta", false, DEC;
        importo_soglia_isee: XsDecimal = "ImportoSogliaISEE", false, DEC;
        ore_servizio_mensile: XsDecimal = "OreServizioMensile", false, DEC;
        presa_carico: PresaCarico = "PresaCarico", true, e::<PresaCarico>();
        area_utenza: AreaUtenza = "AreaUtenza", false, e::<AreaUtenza>();
    }
    extra {
        #[serde(rename = "SINA", default, skip_serializing_if = "Option::is_none")]
        sina: Option<Sina>,
    }
}

xsd_element! {
    /// `SINBA`: one child-and-family record (the unit of a SINBA flow).
    Sinba = "SINBA" {
        id_beneficiario: String = "IDBeneficiario", true, s(1, 20);
        minore_straniero_no_acc: MinoreStranieroNoAcc = "MinoreStranieroNoAcc", true, e::<MinoreStranieroNoAcc>();
        condizione_minore: CondizioneMinore = "CondizioneMinore", true, e::<CondizioneMinore>();
        luogo_vita: LuogoVita = "LuogoVita", true, e::<LuogoVita>();
        scuola_frequentata: ScuolaFrequentata = "ScuolaFrequentata", true, e::<ScuolaFrequentata>();
        condizione_lavoro: CondizioneLavoro = "CondizioneLavoro", true, e::<CondizioneLavoro>();
        disabilita: Disabilita = "Disabilita", true, e::<Disabilita>();
        tipo_disabilita: TipoDisabilita = "TipoDisabilita", false, e::<TipoDisabilita>();
        inv_civ_certificazioni: InvCivCertificazioni = "InvCivCertificazioni", false, e::<InvCivCertificazioni>();
        codice_cittadinanza_padre: String = "CodiceCittadinanzaPadre", false, D3;
        codice_cittadinanza_madre: String = "CodiceCittadinanzaMadre", false, D3;
        codice_regione_residenza_padre: String = "CodiceRegioneResidenzaPadre", false, D2;
        codice_regione_residenza_madre: String = "CodiceRegioneResidenzaMadre", false, D2;
        titolo_studio_padre: TitoloStudio = "TitoloStudioPadre", false, e::<TitoloStudio>();
        titolo_studio_madre: TitoloStudio = "TitoloStudioMadre", false, e::<TitoloStudio>();
        occupazione_padre: Occupazione = "OccupazionePadre", false, e::<Occupazione>();
        occupazione_madre: Occupazione = "OccupazioneMadre", false, e::<Occupazione>();
        data_prima_segnalazione: MeseAnno = "DataPrimaSegnalazione", true, MA;
        fonte_segnalazione: FonteSegnalazione = "FonteSegnalazione", true, e::<FonteSegnalazione>();
        valutazione_minore: ValutazioneMinore = "ValutazioneMinore", true, e::<ValutazioneMinore>();
        valutazione_famiglia_minore: ValutazioneFamigliaMinore = "ValutazioneFamigliaMinore", true, e::<ValutazioneFamigliaMinore>();
        segnalazione_autorita_giudiziaria: SegnalazioneAutoritaGiudiziaria = "SegnalazioneAutoritaGiudiziaria", true, e::<SegnalazioneAutoritaGiudiziaria>();
        data_segnalazione: MeseAnno = "DataSegnalazione", false, MA;
        provvedimento_giudiziario: ProvvedimentoGiudiziario = "ProvvedimentoGiudiziario", true, e::<ProvvedimentoGiudiziario>();
        data_provvedimento_giudiziario: MeseAnno = "DataProvvedimentoGiudiziario", false, MA;
        autorita_provvedimento: AutoritaProvvedimento = "AutoritaProvvedimento", false, e::<AutoritaProvvedimento>();
        potesta_tutela: PotestaTutela = "PotestaTutela", false, e::<PotestaTutela>();
        tipo_provvedimento_giudiziario: TipoProvvedimentoGiudiziario = "TipoProvvedimentoGiudiziario", false, e::<TipoProvvedimentoGiudiziario>();
        forma_intervento_affido: FormaInterventoAffido = "FormaInterventoAffido", false, e::<FormaInterventoAffido>();
        tipo_intervento_affido: TipoInterventoAffido = "TipoInterventoAffido", false, e::<TipoInterventoAffido>();
        durata_affido: DurataAffido = "DurataAffido", false, e::<DurataAffido>();
        carattere_affido: CarattereAffido = "CarattereAffido", false, e::<CarattereAffido>();
        esito_affido: EsitoAffido = "EsitoAffido", false, e::<EsitoAffido>();
        carattere_inserimento_residenziale: CarattereInserimentoResidenziale = "CarattereInserimentoResidenziale", false, e::<CarattereInserimentoResidenziale>();
        forma_inserimento_residenziale: FormaInserimentoResidenziale = "FormaInserimentoResidenziale", false, e::<FormaInserimentoResidenziale>();
        tipo_inserimento_residenziale: TipoInserimentoResidenziale = "TipoInserimentoResidenziale", false, e::<TipoInserimentoResidenziale>();
        esito_inserimento_struttura: EsitoInserimentoStruttura = "EsitoInserimentoStruttura", false, e::<EsitoInserimentoStruttura>();
        motivazione_chiusura_carico: MotivazioneChiusuraCarico = "MotivazioneChiusuraCarico", false, e::<MotivazioneChiusuraCarico>();
        situazione_chiusura_carico: SituazioneChiusuraCarico = "SituazioneChiusuraCarico", false, e::<SituazioneChiusuraCarico>();
        collaborazioni_interventi: CollaborazioniInterventi = "CollaborazioniInterventi", false, e::<CollaborazioniInterventi>();
        numero_componenti_isee: i32 = "NumeroComponentiISEE", false, SimpleType::Int { min: None, max: Some(9) };
        fascia_eta_beneficiario: FasciaEtaBeneficiario = "FasciaEtaBeneficiario", true, e::<FasciaEtaBeneficiario>();
        fascia_isee_beneficiario: FasciaISEEBeneficiario = "FasciaISEEBeneficiario", false, e::<FasciaISEEBeneficiario>();
        anno_nascita: String = "AnnoNascita", true, D4;
        codice_regione_residenza: String = "CodiceRegioneResidenza", false, D2;
        codice_nazione_residenza: String = "CodiceNazioneResidenza", true, D3;
    }
    extra {
        /// `Prestazioni/CodicePrestazione`.
        #[serde(rename = "Prestazioni")]
        prestazioni: Vec<String>,
        /// `Famiglia/ComposizioneFamiglia`.
        #[serde(rename = "Famiglia")]
        famiglia: Vec<ComposizioneFamiglia>,
    }
}

/// One PS/PSA record: a benefit together with its beneficiary. Records of the
/// same `Beneficiario` element share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsRecord {
    #[serde(rename = "Beneficiario")]
    pub beneficiario: Arc<Beneficiario>,
    #[serde(rename = "PrestazioniSociali")]
    pub prestazione: PrestazioniSociali,
}

/// A record of either flow.
// SINBA records are larger than PS ones; they travel in batches by value and
// boxing would cost an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    #[serde(rename = "PS")]
    Ps(PsRecord),
    #[serde(rename = "SINBA")]
    Sinba(Sinba),
}

impl Record {
    pub fn flow_type(&self) -> crate::FlowType {
        match self {
            Record::Ps(_) => crate::FlowType::PsPsaSina,
            Record::Sinba(_) => crate::FlowType::Sinba,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_visit() {
        let mut p = PrestazioniSociali::default();
        assert_eq!(
            p.set_attr("ImportoMensile", "101.230")
                .map(|(i, r)| (i, r.is_ok())),
            Some((15, true))
        );
        assert!(p.set_attr("Foo", "x").is_none());
        assert!(matches!(
            p.set_attr("PresaCarico", "3"),
            Some((22, Err(FacetError::Enumeration { .. })))
        ));
        assert!(
            p.set_attr("CodicePrestazione", "A1.16")
                .is_some_and(|(_, r)| r.is_ok())
        );
        let mut seen = Vec::new();
        p.visit_attrs(&mut |n, v| seen.push(format!("{n}={v}")));
        assert_eq!(
            seen,
            vec!["CodicePrestazione=A1.16", "ImportoMensile=101.23"]
        );
        let missing: Vec<_> = PrestazioniSociali::missing_required(1 << 6)
            .map(|a| a.name)
            .collect();
        assert_eq!(
            missing,
            vec![
                "PresenzaProvaMezzi",
                "DenominazionePrestazione",
                "ProtocolloDomanda",
                "PresaCarico"
            ]
        );
        assert_eq!(Sinba::ATTRS.len(), 46);
    }
}
