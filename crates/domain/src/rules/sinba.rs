//! `SINBA` (children and families, pseudonymous).

use super::defs::*;
use super::{RuleContext, check_paese, check_regione, indexed};
use crate::cf;
use crate::codes::{
    CodeEnum, Disabilita, FasciaEtaBeneficiario, ProvvedimentoGiudiziario,
    SegnalazioneAutoritaGiudiziaria,
};
use crate::model::Sinba;
use crate::outcome::Violation;
use crate::reference;

fn f(attr: &str) -> String {
    format!("SINBA/@{attr}")
}

/// Checks one SINBA record.
pub fn check_sinba(ctx: &RuleContext, s: &Sinba, out: &mut Vec<Violation>) {
    if let Some(id) = s.id_beneficiario.as_deref()
        && looks_like_cf(id)
    {
        ctx.push(
            out,
            &SINBA_ID_CODICE_FISCALE,
            f("IDBeneficiario"),
            "IDBeneficiario sembra contenere un codice fiscale: nel SINBA il minore è identificato solo da \
             uno pseudonimo assegnato dall'ente (es. il numero di cartella). Sostituirlo con lo \
             pseudonimo, senza codice fiscale né nome.",
        );
    }

    // Residence and parents.
    if s.codice_nazione_residenza.as_deref() == Some("380") && s.codice_regione_residenza.is_none()
    {
        ctx.push(
            out,
            &SINBA_REGIONE_OBBLIGATORIA,
            f("CodiceRegioneResidenza"),
            "Il minore risiede in Italia (CodiceNazioneResidenza 380) ma manca CodiceRegioneResidenza: \
             indicare la regione di residenza (codifica DM 1986, es. 08 Lazio).",
        );
    }
    check_regione(
        ctx,
        s.codice_regione_residenza.as_deref(),
        || f("CodiceRegioneResidenza"),
        out,
    );
    check_regione(
        ctx,
        s.codice_regione_residenza_padre.as_deref(),
        || f("CodiceRegioneResidenzaPadre"),
        out,
    );
    check_regione(
        ctx,
        s.codice_regione_residenza_madre.as_deref(),
        || f("CodiceRegioneResidenzaMadre"),
        out,
    );
    check_paese(
        ctx,
        s.codice_nazione_residenza.as_deref(),
        || f("CodiceNazioneResidenza"),
        "della nazione di residenza",
        out,
    );
    check_paese(
        ctx,
        s.codice_cittadinanza_padre.as_deref(),
        || f("CodiceCittadinanzaPadre"),
        "di cittadinanza del padre",
        out,
    );
    check_paese(
        ctx,
        s.codice_cittadinanza_madre.as_deref(),
        || f("CodiceCittadinanzaMadre"),
        "di cittadinanza della madre",
        out,
    );

    for (i, code) in s.prestazioni.iter().enumerate() {
        if reference::prestazione(code).is_none() {
            ctx.push(
                out,
                &REF_PRESTAZIONE,
                indexed("SINBA/Prestazioni/CodicePrestazione", i, ""),
                super::ps::codice_sconosciuto(code),
            );
        }
    }

    if let Some(n) = s.numero_componenti_isee
        && n < 1
    {
        ctx.push(
            out,
            &SINBA_NUMERO_COMPONENTI_ISEE,
            f("NumeroComponentiISEE"),
            format!(
                "NumeroComponentiISEE è {n}: il nucleo ISEE ha almeno un componente (da 1 a 9). \
                 Correggere il valore o ometterlo se non noto."
            ),
        );
    }

    match s.disabilita {
        Some(Disabilita::Si) => {
            for (attr, present) in [
                ("TipoDisabilita", s.tipo_disabilita.is_some()),
                ("InvCivCertificazioni", s.inv_civ_certificazioni.is_some()),
            ] {
                if !present {
                    ctx.push(
                        out,
                        &SINBA_DISABILITA,
                        f(attr),
                        format!(
                            "Il minore ha una disabilità (Disabilita=1) ma manca {attr}: indicarlo."
                        ),
                    );
                }
            }
        }
        Some(Disabilita::No) => {
            for (attr, present) in [
                ("TipoDisabilita", s.tipo_disabilita.is_some()),
                ("InvCivCertificazioni", s.inv_civ_certificazioni.is_some()),
            ] {
                if present {
                    ctx.push(
                        out,
                        &SINBA_DISABILITA,
                        f(attr),
                        format!(
                            "È indicato {attr} ma Disabilita è 2 (nessuna disabilità): correggere \
                             Disabilita o togliere {attr}."
                        ),
                    );
                }
            }
        }
        None => {}
    }

    evento_con_data(
        ctx,
        s.segnalazione_autorita_giudiziaria
            .map(|v| v == SegnalazioneAutoritaGiudiziaria::Si),
        s.data_segnalazione.is_some(),
        &SINBA_SEGNALAZIONE_DATA,
        (
            "SegnalazioneAutoritaGiudiziaria",
            "DataSegnalazione",
            "della segnalazione all'autorità giudiziaria",
        ),
        out,
    );
    evento_con_data(
        ctx,
        s.provvedimento_giudiziario
            .map(|v| v == ProvvedimentoGiudiziario::Si),
        s.data_provvedimento_giudiziario.is_some(),
        &SINBA_PROVVEDIMENTO_DATA,
        (
            "ProvvedimentoGiudiziario",
            "DataProvvedimentoGiudiziario",
            "del provvedimento giudiziario",
        ),
        out,
    );

    let date = [
        ("DataPrimaSegnalazione", s.data_prima_segnalazione),
        ("DataSegnalazione", s.data_segnalazione),
        (
            "DataProvvedimentoGiudiziario",
            s.data_provvedimento_giudiziario,
        ),
    ];
    let oggi = (ctx.today.year, ctx.today.month);
    for (attr, d) in date {
        if let Some(d) = d
            && (i32::from(d.year), d.month) > oggi
        {
            ctx.push(
                out,
                &SINBA_DATA_FUTURA,
                f(attr),
                format!(
                    "{attr} {d} è nel futuro: indicare il mese e l'anno (MM/AAAA) in cui l'evento è avvenuto."
                ),
            );
        }
    }

    let anno: Option<i32> = s.anno_nascita.as_deref().and_then(|a| a.parse().ok());
    if let Some(y) = anno
        && y > ctx.today.year
    {
        ctx.push(
            out,
            &SINBA_ANNO_NASCITA,
            f("AnnoNascita"),
            format!("L'anno di nascita {y} è nel futuro: correggere l'anno di nascita del minore."),
        );
    }

    if let (Some(y), Some(fascia)) = (anno, s.fascia_eta_beneficiario) {
        let (rif, da) = match date.iter().filter_map(|(_, d)| *d).max() {
            Some(d) => (
                i32::from(d.year),
                format!("nel {} (data più recente del record, {d})", d.year),
            ),
            None => (ctx.today.year, format!("nel {}", ctx.today.year)),
        };
        if y <= rif && !fascia_coerente(fascia, rif - y) {
            let eta = rif - y;
            ctx.push(
                out,
                &SINBA_FASCIA_ETA,
                f("FasciaEtaBeneficiario"),
                format!(
                    "La fascia d'età {} ({}) non corrisponde all'anno di nascita {y}: {da} il minore \
                     aveva {} o {eta} anni. Verificare la fascia d'età e l'anno di nascita.",
                    fascia.code(),
                    fascia.label(),
                    eta - 1
                ),
            );
        }
    }
}

/// Whether the band fits an age known to be `d - 1` or `d` (only the birth
/// year is known). Band k covers 3(k-1) to 3k years, bounds shared.
fn fascia_coerente(fascia: FasciaEtaBeneficiario, d: i32) -> bool {
    let k: i32 = fascia.code().parse().unwrap_or(0);
    let (lo, hi) = (3 * (k - 1), 3 * k);
    [d - 1, d].iter().any(|a| (lo..=hi).contains(a))
}

/// "Yes ⇒ date, no ⇒ no date" for the judicial referral and measure.
fn evento_con_data(
    ctx: &RuleContext,
    si: Option<bool>,
    data: bool,
    rule: &crate::catalogue::RuleDef,
    (flag, attr, di_cosa): (&str, &str, &str),
    out: &mut Vec<Violation>,
) {
    match (si, data) {
        (Some(true), false) => ctx.push(
            out,
            rule,
            f(attr),
            format!("{flag} è 1 ma manca {attr}: indicare mese e anno (MM/AAAA) {di_cosa}."),
        ),
        (Some(false), true) => ctx.push(
            out,
            rule,
            f(attr),
            format!("È indicato {attr} ma {flag} è 2: correggere {flag} o togliere {attr}."),
        ),
        _ => {}
    }
}

/// A personal codice fiscale inside a pseudonym: the whole id (spaces
/// ignored) has the shape of one, or any 16 characters of it form a valid one.
pub(crate) fn looks_like_cf(id: &str) -> bool {
    // IDBeneficiario is at most 20 characters (XSD): a stack buffer suffices.
    let mut buf = [0u8; 32];
    let mut n = 0;
    for c in id.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if n == buf.len() {
            return false;
        }
        buf[n] = c.to_ascii_uppercase();
        n += 1;
    }
    let b = &buf[..n];
    if b.len() == 16 && cf_shape(b) {
        return true;
    }
    b.windows(16)
        .any(|w| cf_shape(w) && std::str::from_utf8(w).is_ok_and(|s| cf::check(s).is_ok()))
}

/// Shape of a personal CF (omocodia letters allowed in the digit positions).
fn cf_shape(w: &[u8]) -> bool {
    const OMOCODIA: &[u8] = b"LMNPQRSTUV";
    const MESI: &[u8] = b"ABCDEHLMPRST";
    let digit = |c: &u8| c.is_ascii_digit() || OMOCODIA.contains(c);
    w.len() == 16
        && w[..6].iter().all(u8::is_ascii_uppercase)
        && w[6..8].iter().all(digit)
        && MESI.contains(&w[8])
        && w[9..11].iter().all(digit)
        && w[11].is_ascii_uppercase()
        && w[12..15].iter().all(digit)
        && w[15].is_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf_in_pseudonimi() {
        for yes in [
            "RSSMRK66C14H501U",
            "rssmrk66c14h501u",
            "RSS MRK 66C14 H501U",
            "H501RSSMRK66C14H501U",
            "AAABBB39M66A351C",
        ] {
            assert!(looks_like_cf(yes), "{yes}");
        }
        for no in [
            "PROVA BENEF",
            "H501123456",
            "12345678901",
            "H501AAABBB39M66A351C",
            "CASO-2021-000123",
        ] {
            assert!(!looks_like_cf(no), "{no}");
        }
    }

    #[test]
    fn fasce() {
        use FasciaEtaBeneficiario as F;
        assert!(fascia_coerente(F::V103Anni, 0));
        assert!(fascia_coerente(F::V236Anni, 7));
        assert!(!fascia_coerente(F::V236Anni, 11));
        assert!(fascia_coerente(F::V61518Anni, 19));
        assert!(!fascia_coerente(F::V61518Anni, 20));
        assert!(!fascia_coerente(F::V103Anni, 5));
    }
}
