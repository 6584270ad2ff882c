//! Coded values of the two XSDs: one Rust enum per enumerated simple type,
//! generated from the XSDs (`codes_gen.rs`) through the [`code_enum!`] macro.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A code table as data: the XSD type name and its (code, Italian label) pairs,
/// in XSD order. Used for generic validation, forms and documentation.
#[derive(Debug)]
pub struct CodeTable {
    pub xsd_type: &'static str,
    pub entries: &'static [(&'static str, &'static str)],
}

impl CodeTable {
    pub fn contains(&self, code: &str) -> bool {
        self.entries.iter().any(|(c, _)| *c == code)
    }
    pub fn label(&self, code: &str) -> Option<&'static str> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, l)| *l)
    }
}

/// Common behaviour of the generated code enums.
pub trait CodeEnum: Sized + Copy + 'static {
    const TABLE: &'static CodeTable;
    fn code(self) -> &'static str;
    fn label(self) -> &'static str;
    fn from_code(s: &str) -> Option<Self>;
}

/// Declares an enum for an XSD enumeration: variant = "code", "label".
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $xsd:ident => $name:ident { $( $variant:ident = $code:literal, $label:literal; )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( #[doc = $label] $variant, )+ }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];
        }

        impl $crate::codes::CodeEnum for $name {
            const TABLE: &'static $crate::codes::CodeTable = &$crate::codes::CodeTable {
                xsd_type: stringify!($xsd),
                entries: &[ $( ($code, $label), )+ ],
            };
            fn code(self) -> &'static str {
                match self { $( $name::$variant => $code, )+ }
            }
            fn label(self) -> &'static str {
                match self { $( $name::$variant => $label, )+ }
            }
            fn from_code(s: &str) -> Option<Self> {
                match s { $( $code => Some($name::$variant), )+ _ => None }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::codes::serialize_code(*self, s)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::codes::deserialize_code(d)
            }
        }
    };
}

#[doc(hidden)]
pub fn serialize_code<T: CodeEnum, S: Serializer>(v: T, s: S) -> Result<S::Ok, S::Error> {
    v.code().serialize(s)
}

#[doc(hidden)]
pub fn deserialize_code<'de, T: CodeEnum, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    T::from_code(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "codice '{s}' non previsto da {}",
            T::TABLE.xsd_type
        ))
    })
}

include!("codes_gen.rs");

/// Every code table of both XSDs, for documentation and forms.
pub fn all_tables() -> Vec<&'static CodeTable> {
    macro_rules! t { ($($n:ident),*) => { vec![$(<$n as CodeEnum>::TABLE),*] } }
    t!(
        Genere,
        TipoOperazione,
        PresenzaProvaMezzi,
        CaratterePrestazione,
        PresaCarico,
        AreaUtenza,
        Mobilita,
        AttivitaVitaQuotidiana,
        DisturbiAreaCognitiva,
        DisturbiComportamentali,
        NecessitaCureSanitarie,
        AreaReddituale,
        AreaSupporto,
        FonteDerivazioneValutazione,
        StrumentoValutazione,
        InvCiv,
        FonteDerivazioneInvalidita,
        ComposizioneFamiglia,
        MinoreStranieroNoAcc,
        CondizioneMinore,
        LuogoVita,
        ScuolaFrequentata,
        CondizioneLavoro,
        Disabilita,
        TipoDisabilita,
        InvCivCertificazioni,
        TitoloStudio,
        Occupazione,
        FonteSegnalazione,
        ValutazioneMinore,
        ValutazioneFamigliaMinore,
        SegnalazioneAutoritaGiudiziaria,
        ProvvedimentoGiudiziario,
        AutoritaProvvedimento,
        PotestaTutela,
        TipoProvvedimentoGiudiziario,
        FormaInterventoAffido,
        TipoInterventoAffido,
        DurataAffido,
        CarattereAffido,
        EsitoAffido,
        CarattereInserimentoResidenziale,
        FormaInserimentoResidenziale,
        TipoInserimentoResidenziale,
        EsitoInserimentoStruttura,
        MotivazioneChiusuraCarico,
        SituazioneChiusuraCarico,
        CollaborazioniInterventi,
        FasciaEtaBeneficiario,
        FasciaISEEBeneficiario
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip() {
        assert_eq!(all_tables().len(), 50);
        for t in all_tables() {
            assert!(!t.entries.is_empty());
        }
        assert_eq!(Genere::from_code("2"), Some(Genere::Femmina));
        assert_eq!(Genere::from_code(" 2"), None);
        assert_eq!(CaratterePrestazione::Periodico.code(), "1");
        assert_eq!(
            TipoOperazione::from_code("C"),
            Some(TipoOperazione::Cancellazione)
        );
        assert_eq!(FonteSegnalazione::ALL.len(), 14);
    }
}
