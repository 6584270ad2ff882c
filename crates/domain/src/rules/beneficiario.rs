//! `Beneficiario` of the PS-PSA-SINA flow: codice fiscale, Anagrafica and
//! residences. Checked once per beneficiary; its violations concern every
//! benefit of the beneficiary.

use super::defs::*;
use super::{RuleContext, check_paese, check_regione, indexed};
use crate::cf::{self, Cf, CfMismatch};
use crate::codes::Genere;
use crate::model::Beneficiario;
use crate::outcome::Violation;
use crate::reference::{self, LuogoCheck};

const CF_FIELD: &str = "Beneficiario/@CodiceFiscale";
const ANAGRAFICA: &str = "Beneficiario/Anagrafica";

/// Earliest plausible birth year: nobody alive was born before it.
pub(crate) const ANNO_NASCITA_MIN: i32 = 1880;

/// Checks the beneficiary: codice fiscale (CF_BENEFICIARIO) and its consistency
/// with the Anagrafica, birth year and place, citizenships, residences.
///
/// A cancellation record (`TipoOperazione="C"`) is checked only on the fields
/// of its key: attach to it the violations of [`check_beneficiario_chiave`]
/// instead (equivalently, only the `CF_BENEFICIARIO` violations of this
/// function), so that a wrong Anagrafica never blocks a cancellation.
pub fn check_beneficiario(ctx: &RuleContext, b: &Beneficiario, out: &mut Vec<Violation>) {
    let cf = check_cf(ctx, b, out);
    let a = &b.anagrafica;
    let anno: Option<i32> = a.anno_nascita.as_deref().and_then(|s| s.parse().ok());

    if let Some(y) = anno
        && (y > ctx.today.year || y < ANNO_NASCITA_MIN)
    {
        let why = if y > ctx.today.year {
            "è nel futuro"
        } else {
            "non è plausibile (precedente al 1880)"
        };
        ctx.push(
            out,
            &PS_ANNO_NASCITA,
            format!("{ANAGRAFICA}/@AnnoNascita"),
            format!("L'anno di nascita {y} {why}: correggere l'anno di nascita del beneficiario."),
        );
    }

    if let Some(Cf::Personal(p)) = cf {
        // Missing inputs are replaced by the CF's own data, so they never mismatch.
        let anno_cf = anno
            .and_then(|y| u16::try_from(y).ok())
            .unwrap_or(u16::from(p.year2()));
        let female = a.genere.map_or(p.is_female(), |g| g == Genere::Femmina);
        let luogo = a.luogo_nascita.as_deref().unwrap_or(p.belfiore());
        for m in p.mismatches(anno_cf, female, luogo) {
            let attr = match m {
                CfMismatch::Year { .. } => "AnnoNascita",
                CfMismatch::Sex { .. } => "Genere",
                CfMismatch::Birthplace { .. } => "LuogoNascita",
            };
            ctx.push(
                out,
                &CF_ANAGRAFICA,
                format!("{ANAGRAFICA}/@{attr}"),
                format!(
                    "{} ({}): verificare e correggere il dato anagrafico o il codice fiscale.",
                    m.message(),
                    p.as_str()
                ),
            );
        }
    }

    if let Some(luogo) = a.luogo_nascita.as_deref() {
        check_luogo_nascita(ctx, luogo, anno, out);
    }
    check_paese(
        ctx,
        a.codice_cittadinanza.as_deref(),
        || format!("{ANAGRAFICA}/@CodiceCittadinanza"),
        "di cittadinanza",
        out,
    );
    check_paese(
        ctx,
        a.codice_seconda_cittadinanza.as_deref(),
        || format!("{ANAGRAFICA}/@CodiceSecondaCittadinanza"),
        "della seconda cittadinanza",
        out,
    );

    for (i, ind) in b.indirizzi.iter().enumerate() {
        let path = |attr: &str| indexed("Beneficiario/Indirizzo", i, &format!("/@{attr}"));
        check_paese(
            ctx,
            ind.codice_nazione.as_deref(),
            || path("CodiceNazione"),
            "della nazione di residenza",
            out,
        );
        if ind.codice_nazione.as_deref() == Some("380") {
            for (attr, v, what) in [
                (
                    "CodiceRegione",
                    &ind.codice_regione,
                    "la regione (codifica DM 1986)",
                ),
                (
                    "CodiceComune",
                    &ind.codice_comune,
                    "il comune (codice ISTAT a 6 cifre)",
                ),
            ] {
                if v.is_none() {
                    ctx.push(
                        out,
                        &PS_INDIRIZZO_ITALIA,
                        path(attr),
                        format!(
                            "La residenza n. {} è in Italia (CodiceNazione 380) ma manca {attr}: \
                             indicare {what}.",
                            i + 1
                        ),
                    );
                }
            }
        }
        let regione = check_regione(
            ctx,
            ind.codice_regione.as_deref(),
            || path("CodiceRegione"),
            out,
        );
        let comune = ind.codice_comune.as_deref().and_then(|c| {
            let found = reference::comune_istat(c);
            if found.is_none() {
                ctx.push(
                    out,
                    &REF_COMUNE,
                    path("CodiceComune"),
                    format!(
                        "Il codice comune {c} non corrisponde ad alcun comune nell'elenco ISTAT: \
                         indicare il codice ISTAT a 6 cifre del comune di residenza (es. 058091 per Roma)."
                    ),
                );
            }
            found
        });
        if let (Some(r), Some(c)) = (regione, comune) {
            let atteso = reference::regione_dm1986_for_comune(c);
            if !atteso.is_empty() && atteso != r.code {
                let nome_atteso = reference::regione_dm1986(atteso).map_or("", |r| r.name);
                ctx.push(
                    out,
                    &PS_REGIONE_COMUNE,
                    path("CodiceRegione"),
                    format!(
                        "Il comune {} ({}, {}) è nella regione {atteso} {nome_atteso} ma CodiceRegione \
                         è {} {}: correggere la regione o il comune.",
                        c.istat, c.name, c.province, r.code, r.name
                    ),
                );
            }
        }
    }
}

/// The checks of a beneficiary whose records are all cancellations: only the
/// codice fiscale, which is part of the record key.
pub fn check_beneficiario_chiave(ctx: &RuleContext, b: &Beneficiario, out: &mut Vec<Violation>) {
    check_cf(ctx, b, out);
}

fn check_cf(ctx: &RuleContext, b: &Beneficiario, out: &mut Vec<Violation>) -> Option<Cf> {
    let raw = b.codice_fiscale.as_deref()?;
    match cf::check(raw) {
        Ok(c) => Some(c),
        Err(e) => {
            ctx.push(
                out,
                &CF_BENEFICIARIO,
                CF_FIELD,
                format!(
                    "Il codice fiscale {} non è valido. {}. Verificare il codice sul documento o \
                     sulla tessera sanitaria del beneficiario e correggerlo.",
                    raw.trim_end(),
                    e.message()
                ),
            );
            None
        }
    }
}

fn check_luogo_nascita(
    ctx: &RuleContext,
    luogo: &str,
    anno: Option<i32>,
    out: &mut Vec<Violation>,
) {
    let problem = match anno {
        Some(y) => match reference::luogo_nascita_valid(luogo, y) {
            LuogoCheck::Comune | LuogoCheck::StatoEstero { .. } => None,
            LuogoCheck::NotValidInYear => {
                let periodi = reference::belfiore_comune(luogo);
                let nome = periodi
                    .last()
                    .map_or(String::new(), |c| format!(" ({}, {})", c.name, c.province));
                Some(format!(
                    "Il luogo di nascita {luogo}{nome} non era un comune in vigore nel {y}: indicare \
                     il codice catastale del comune di nascita com'era nell'anno di nascita."
                ))
            }
            LuogoCheck::Unknown => Some(unknown_luogo(luogo)),
        },
        None => (reference::belfiore_comune(luogo).is_empty()
            && reference::stato_estero(luogo).is_none())
        .then(|| unknown_luogo(luogo)),
    };
    if let Some(msg) = problem {
        ctx.push(
            out,
            &REF_LUOGO_NASCITA,
            format!("{ANAGRAFICA}/@LuogoNascita"),
            msg,
        );
    }
}

fn unknown_luogo(luogo: &str) -> String {
    format!(
        "Il luogo di nascita {luogo} non è il codice catastale di un comune né il codice di uno stato \
         estero: indicare il codice catastale a 4 caratteri (es. H501 per Roma, Z110 per la Francia)."
    )
}
