//! `PrestazioniSociali` (one benefit record) and its nested `SINA`.

use super::defs::*;
use super::{RuleContext, indexed};
use crate::Date;
use crate::codes::{
    AreaUtenza, CaratterePrestazione, PresaCarico, PresenzaProvaMezzi, TipoOperazione,
};
use crate::model::{Beneficiario, PrestazioniSociali};
use crate::outcome::Violation;
use crate::reference;
use crate::xsd::{XsDate, XsDecimal};

fn f(attr: &str) -> String {
    format!("PrestazioniSociali/@{attr}")
}

/// Earliest plausible date of a benefit, an event or a DSU.
const DATA_MIN: Date = Date {
    year: 1900,
    month: 1,
    day: 1,
};

/// Checks one benefit of beneficiary `b` (the beneficiary itself is checked
/// by [`super::check_beneficiario`]).
///
/// A cancellation (`TipoOperazione="C"`) is checked only on the fields that
/// form the record key: `CodicePrestazione` must exist in the benefit table
/// (not necessarily be in force: what was inserted must be cancellable) and
/// the date that keys the record (`DataInizioPrestazione` for a periodic
/// benefit, `DataErogazionePrestazione` for a one-off one) must be present.
/// The beneficiary's codice fiscale is the third key field: see
/// [`super::check_beneficiario_chiave`].
pub fn check_prestazione(
    ctx: &RuleContext,
    b: &Beneficiario,
    p: &PrestazioniSociali,
    out: &mut Vec<Violation>,
) {
    let carattere = p.carattere_prestazione;
    if p.tipo_operazione == Some(TipoOperazione::Cancellazione) {
        check_codice(ctx, p, None, out);
        match carattere {
            Some(CaratterePrestazione::Periodico) => require(
                ctx,
                p.data_inizio_prestazione.is_some(),
                &PS_PERIODICA_CAMPI,
                "DataInizioPrestazione",
                "periodica (CaratterePrestazione=1)",
                out,
            ),
            Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => require(
                ctx,
                p.data_erogazione_prestazione.is_some(),
                &PS_OCCASIONALE_CAMPI,
                "DataErogazionePrestazione",
                "occasionale (CaratterePrestazione=2)",
                out,
            ),
            None => {}
        }
        return;
    }

    // Carattere and the fields it makes mandatory.
    match carattere {
        None => ctx.push(
            out,
            &PS_CARATTERE_MANCANTE,
            f("CaratterePrestazione"),
            "Manca CaratterePrestazione: indicare 1 se la prestazione è periodica o 2 se è occasionale (unica soluzione).",
        ),
        Some(CaratterePrestazione::Periodico) => {
            require(ctx, p.data_inizio_prestazione.is_some(), &PS_PERIODICA_CAMPI, "DataInizioPrestazione", "periodica (CaratterePrestazione=1)", out);
            require(ctx, p.importo_mensile.is_some(), &PS_PERIODICA_CAMPI, "ImportoMensile", "periodica (CaratterePrestazione=1)", out);
        }
        Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => {
            require(ctx, p.data_erogazione_prestazione.is_some(), &PS_OCCASIONALE_CAMPI, "DataErogazionePrestazione", "occasionale (CaratterePrestazione=2)", out);
            require(ctx, p.importo_prestazione.is_some(), &PS_OCCASIONALE_CAMPI, "ImportoPrestazione", "occasionale (CaratterePrestazione=2)", out);
        }
    }

    check_importi(ctx, p, out);
    check_date(ctx, b, p, out);
    check_dsu(ctx, p, out);

    if p.presa_carico == Some(PresaCarico::Si) && p.area_utenza.is_none() {
        ctx.push(
            out,
            &PS_AREA_UTENZA,
            f("AreaUtenza"),
            "C'è presa in carico (PresaCarico=1) ma manca AreaUtenza: indicare 1 (famiglia e minori), \
             2 (disabilità e non autosufficienza) o 3 (povertà ed esclusione sociale).",
        );
    }

    if let Some(ore) = p.ore_servizio_mensile
        && !ore.is_negative()
    {
        let (_, minuti, esatto) = ore.split(2);
        let why = if !esatto {
            Some("ha più di due decimali".to_string())
        } else if minuti > 59 {
            Some(format!("indicherebbe {minuti} minuti"))
        } else {
            None
        };
        if let Some(why) = why {
            ctx.push(
                out,
                &PS_ORE_FORMATO,
                f("OreServizioMensile"),
                format!(
                    "OreServizioMensile {ore} {why}: il formato è ore.minuti, con i minuti da 00 a 59 \
                     (es. 2.45 per 2 ore e 45 minuti, 3.30 per 3 ore e mezza)."
                ),
            );
        }
    }

    check_codice(ctx, p, data_chiave(p).map(|(_, d)| d), out);
    check_sina(ctx, p, out);
}

/// The date that keys the record and against which the benefit code's
/// validity is checked, with its attribute name.
fn data_chiave(p: &PrestazioniSociali) -> Option<(&'static str, XsDate)> {
    let inizio = p
        .data_inizio_prestazione
        .map(|d| ("DataInizioPrestazione", d));
    let erogazione = p
        .data_erogazione_prestazione
        .map(|d| ("DataErogazionePrestazione", d));
    match p.carattere_prestazione {
        Some(CaratterePrestazione::Periodico) => inizio,
        Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => erogazione,
        None => inizio.or(erogazione),
    }
}

fn require(
    ctx: &RuleContext,
    present: bool,
    rule: &crate::catalogue::RuleDef,
    attr: &str,
    carattere: &str,
    out: &mut Vec<Violation>,
) {
    if !present {
        ctx.push(
            out,
            rule,
            f(attr),
            format!("La prestazione è {carattere} ma manca {attr}, obbligatorio in questo caso: indicarlo."),
        );
    }
}

fn check_importi(ctx: &RuleContext, p: &PrestazioniSociali, out: &mut Vec<Violation>) {
    for (attr, v) in [
        ("ImportoMensile", p.importo_mensile),
        ("ImportoPrestazione", p.importo_prestazione),
    ] {
        if let Some(v) = v
            && !v.is_positive()
        {
            ctx.push(
                out,
                &PS_IMPORTO_NON_POSITIVO,
                f(attr),
                format!("{attr} è {v}: deve essere maggiore di zero. Indicare l'importo erogato in euro."),
            );
        }
    }
    for (attr, v) in [
        ("ImportoQuotaEnte", p.importo_quota_ente),
        ("ImportoQuotaUtente", p.importo_quota_utente),
        ("ImportoQuotaSSN", p.importo_quota_ssn),
        ("ImportoQuotaRichiesta", p.importo_quota_richiesta),
        ("ImportoSogliaISEE", p.importo_soglia_isee),
        ("OreServizioMensile", p.ore_servizio_mensile),
    ] {
        if let Some(v) = v
            && v.is_negative()
        {
            ctx.push(
                out,
                &PS_IMPORTO_NEGATIVO,
                f(attr),
                format!("{attr} è {v}: non può essere negativo. Correggere il valore."),
            );
        }
    }
    for (attr, v) in [
        ("ImportoQuotaEnte", p.importo_quota_ente),
        ("ImportoQuotaSSN", p.importo_quota_ssn),
    ] {
        if v.is_some_and(|v| v.is_zero()) {
            ctx.push(
                out,
                &PS_QUOTA_ZERO,
                f(attr),
                format!(
                    "{attr} è 0 ma la specifica la vuole maggiore di zero: se la quota non c'è, \
                     omettere l'attributo."
                ),
            );
        }
    }

    let quote = [
        ("Ente", "ImportoQuotaEnte", p.importo_quota_ente),
        ("Utente", "ImportoQuotaUtente", p.importo_quota_utente),
        ("SSN", "ImportoQuotaSSN", p.importo_quota_ssn),
    ];
    let Some(&(_, primo, _)) = quote.iter().find(|q| q.2.is_some()) else {
        return;
    };
    let (totale, nome_totale) = match p.carattere_prestazione {
        Some(CaratterePrestazione::Periodico) => (p.importo_mensile, "l'importo mensile"),
        Some(CaratterePrestazione::OccasionaleUnicaSoluzione) => {
            (p.importo_prestazione, "l'importo della prestazione")
        }
        None => (None, ""),
    };
    let Some(totale) = totale else { return };
    let somma = quote.iter().try_fold(XsDecimal::ZERO, |acc, q| {
        acc.checked_add(q.2.unwrap_or(XsDecimal::ZERO))
    });
    if let Some(somma) = somma
        && somma != totale
    {
        let dettaglio = quote
            .iter()
            .map(|(n, _, v)| format!("{n} {}", v.unwrap_or(XsDecimal::ZERO)))
            .collect::<Vec<_>>()
            .join(" + ");
        ctx.push(
            out,
            &PS_QUOTE_SOMMA,
            f(primo),
            format!(
                "La somma delle quote ({dettaglio}) è {somma} ma {nome_totale} è {totale}: correggere le quote o l'importo."
            ),
        );
    }
}

fn check_date(
    ctx: &RuleContext,
    b: &Beneficiario,
    p: &PrestazioniSociali,
    out: &mut Vec<Violation>,
) {
    if let (Some(inizio), Some(fine)) = (p.data_inizio_prestazione, p.data_fine_prestazione) {
        if fine.date() < inizio.date() {
            ctx.push(
                out,
                &PS_DATA_FINE_PRECEDENTE,
                f("DataFinePrestazione"),
                format!(
                    "DataFinePrestazione {fine} precede DataInizioPrestazione {inizio}: correggere le date."
                ),
            );
        } else if fine.year != inizio.year {
            ctx.push(
                out,
                &PS_DATA_FINE_ANNO,
                f("DataFinePrestazione"),
                format!(
                    "La prestazione inizia il {inizio} e finisce il {fine}, in un altro anno: inviare un \
                     record per ciascun anno (il primo con fine al 31/12/{}, il successivo con inizio \
                     all'01/01/{}), ripartendo periodo e importi.",
                    inizio.year,
                    inizio.year + 1
                ),
            );
        }
    }

    if let (Some(n), Some(inizio)) = (p.periodo_erogazione, p.data_inizio_prestazione) {
        let limite = match p.data_fine_prestazione {
            Some(fine) if fine.year == inizio.year && fine.date() >= inizio.date() => Some((
                i32::from(fine.month) - i32::from(inizio.month) + 1,
                format!("tra {inizio} e {fine}"),
            )),
            None => Some((
                13 - i32::from(inizio.month),
                format!("da {inizio} a fine anno"),
            )),
            Some(_) => None,
        };
        if let Some((mesi, tra)) = limite
            && n > mesi
        {
            ctx.push(
                out,
                &PS_PERIODO_EROGAZIONE,
                f("PeriodoErogazione"),
                format!(
                    "PeriodoErogazione è {n} mesi ma {tra} ci sono solo {mesi} mesi di calendario: \
                     correggere il numero di mesi o le date."
                ),
            );
        }
    }

    let anno_nascita: Option<i32> = b
        .anagrafica
        .anno_nascita
        .as_deref()
        .and_then(|s| s.parse().ok());
    // A birth year in the future is already PS_ANNO_NASCITA.
    if let (Some((attr, d)), Some(y)) = (data_chiave(p), anno_nascita)
        && d.year < y
        && y <= ctx.today.year
    {
        ctx.push(
            out,
            &PS_PRESTAZIONE_PRIMA_NASCITA,
            f(attr),
            format!(
                "{attr} è {d} ma il beneficiario è nato nel {y}: verificare la data della prestazione \
                 e l'anno di nascita."
            ),
        );
    }

    let max = Date {
        year: ctx.today.year + 1,
        month: 12,
        day: 31,
    };
    for (attr, d) in [
        ("DataEvento", p.data_evento),
        ("DataInizioPrestazione", p.data_inizio_prestazione),
        ("DataFinePrestazione", p.data_fine_prestazione),
        ("DataErogazionePrestazione", p.data_erogazione_prestazione),
        ("DataDSU", p.data_dsu),
    ] {
        let Some(d) = d else { continue };
        let why = if d.date() > max {
            "è troppo lontana nel futuro"
        } else if d.date() < DATA_MIN {
            "è anteriore al 1900"
        } else {
            continue;
        };
        ctx.push(
            out,
            &PS_DATA_IMPLAUSIBILE,
            f(attr),
            format!("{attr} {d} {why}: verificare la data (formato AAAA-MM-GG)."),
        );
    }
}

/// `INPS-ISEE-AAAA-NNNNNNNNL-PP`; returns the year.
pub(crate) fn parse_protocollo_dsu(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("INPS-ISEE-")?;
    let b = rest.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (b.len() == 17
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..13)
        && b[13].is_ascii_uppercase()
        && b[14] == b'-'
        && digits(15..17))
    .then(|| &rest[..4])
}

fn check_dsu(ctx: &RuleContext, p: &PrestazioniSociali, out: &mut Vec<Violation>) {
    let numero = p
        .numero_protocollo_dsu
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let anno = p.anno_protocollo_dsu.as_deref();
    let campi = [
        ("NumeroProtocolloDSU", numero.is_some()),
        ("AnnoProtocolloDSU", anno.is_some()),
        ("DataDSU", p.data_dsu.is_some()),
    ];
    let presenti = campi.iter().filter(|c| c.1).count();
    if presenti == 0 {
        if p.presenza_prova_mezzi == Some(PresenzaProvaMezzi::PrestazioneSoggettaIsee) {
            ctx.push(
                out,
                &PS_DSU_ATTESA,
                f("NumeroProtocolloDSU"),
                "La prestazione è soggetta a ISEE (PresenzaProvaMezzi=1) ma non riporta la DSU: indicare \
                 NumeroProtocolloDSU, AnnoProtocolloDSU e DataDSU della dichiarazione usata.",
            );
        }
        return;
    }
    if presenti < campi.len() {
        let mancanti: Vec<&str> = campi.iter().filter(|c| !c.1).map(|c| c.0).collect();
        let indicati: Vec<&str> = campi.iter().filter(|c| c.1).map(|c| c.0).collect();
        ctx.push(
            out,
            &PS_DSU_INCOMPLETA,
            f(mancanti[0]),
            format!(
                "I dati della DSU sono incompleti (compilati: {}; mancanti: {}): compilare tutti e tre \
                 i campi oppure nessuno.",
                indicati.join(", "),
                mancanti.join(", ")
            ),
        );
    }
    let anno_protocollo = match numero {
        Some(n) => {
            let y = parse_protocollo_dsu(n);
            if y.is_none() {
                ctx.push(
                    out,
                    &PS_DSU_PROTOCOLLO,
                    f("NumeroProtocolloDSU"),
                    format!(
                        "Il protocollo DSU \"{n}\" non ha la forma INPS-ISEE-AAAA-NNNNNNNNL-PP (es. \
                         INPS-ISEE-2020-00597381W-00): copiarlo dall'attestazione ISEE."
                    ),
                );
            }
            y
        }
        None => None,
    };
    if let Some(anno) = anno {
        let mut diverse = Vec::new();
        if let Some(d) = p.data_dsu
            && anno.parse::<i32>() != Ok(d.year)
        {
            diverse.push(format!("a DataDSU {d}"));
        }
        if let Some(y) = anno_protocollo
            && y != anno
        {
            diverse.push(format!("all'anno {y} del protocollo"));
        }
        if !diverse.is_empty() {
            ctx.push(
                out,
                &PS_DSU_ANNO,
                f("AnnoProtocolloDSU"),
                format!(
                    "AnnoProtocolloDSU è {anno} ma non corrisponde {}: verificare i dati della DSU.",
                    diverse.join(" né ")
                ),
            );
        }
    }
}

/// REF_PRESTAZIONE (always) and REF_PRESTAZIONE_DATA (when `data` is given)
/// on the benefit code, then PS_SOLO_PRESA_IN_CARICO.
fn check_codice(
    ctx: &RuleContext,
    p: &PrestazioniSociali,
    data: Option<XsDate>,
    out: &mut Vec<Violation>,
) {
    let Some(code) = p.codice_prestazione.as_deref() else {
        return;
    };
    let Some(t) = reference::prestazione(code) else {
        ctx.push(
            out,
            &REF_PRESTAZIONE,
            f("CodicePrestazione"),
            codice_sconosciuto(code),
        );
        return;
    };
    let cancellazione = p.tipo_operazione == Some(TipoOperazione::Cancellazione);
    if cancellazione {
        return;
    }
    if let Some(d) = data
        && !t.valid_on(d.date())
    {
        let dal = t.valid_from.map_or(String::new(), |d| format!(" dal {d}"));
        let al = t.valid_to.map_or(String::new(), |d| format!(" al {d}"));
        ctx.push(
            out,
            &REF_PRESTAZIONE_DATA,
            f("CodicePrestazione"),
            format!(
                "Il codice prestazione {code} ({}) è in vigore{dal}{al}: non può essere usato per una \
                 prestazione del {d}. Usare il codice in vigore a quella data.",
                t.name
            ),
        );
    }
    if t.solo_presa_in_carico && p.presa_carico == Some(PresaCarico::No) {
        ctx.push(
            out,
            &PS_SOLO_PRESA_IN_CARICO,
            f("PresaCarico"),
            format!(
                "La prestazione {code} si trasmette solo con presa in carico del servizio sociale ma \
                 PresaCarico è 2: se c'è presa in carico indicare PresaCarico=1, altrimenti non \
                 trasmettere la prestazione."
            ),
        );
    }
}

pub(super) fn codice_sconosciuto(code: &str) -> String {
    format!(
        "Il codice prestazione {code} non esiste nella tabella dei codici delle prestazioni: usare un \
         codice della tabella (es. A1.16, A2.07, A3.03), rispettando maiuscole e punti."
    )
}

fn check_sina(ctx: &RuleContext, p: &PrestazioniSociali, out: &mut Vec<Violation>) {
    match &p.sina {
        None => {
            if p.presa_carico == Some(PresaCarico::Si)
                && p.area_utenza == Some(AreaUtenza::DisabilitaNonAutosufficienza)
            {
                ctx.push(
                    out,
                    &SINA_MANCANTE,
                    "PrestazioniSociali/SINA",
                    "C'è presa in carico nell'area disabilità e non autosufficienza (AreaUtenza=2) ma manca \
                     la valutazione SINA: aggiungere l'elemento SINA con la valutazione multidimensionale.",
                );
            }
        }
        Some(sina) => {
            if p.presa_carico == Some(PresaCarico::No) {
                ctx.push(
                    out,
                    &SINA_SENZA_PRESA_IN_CARICO,
                    "PrestazioniSociali/SINA",
                    "La prestazione riporta la valutazione SINA ma PresaCarico è 2: la SINA si invia solo \
                     con presa in carico. Correggere PresaCarico o togliere la SINA.",
                );
            }
            for (i, code) in sina
                .necessita_interventi_sociali
                .iter()
                .flatten()
                .enumerate()
            {
                if reference::prestazione(code).is_none() {
                    ctx.push(
                        out,
                        &REF_PRESTAZIONE,
                        indexed(
                            "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione",
                            i,
                            "",
                        ),
                        codice_sconosciuto(code),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocollo_dsu() {
        assert_eq!(
            parse_protocollo_dsu("INPS-ISEE-2020-00597381W-00"),
            Some("2020")
        );
        for bad in [
            "INPS-ISEE-2020-00597381W-0",
            "INPS-ISEE-2020-0059738W-00",
            "INPS-ISEE-2020-00597381w-00",
            "inps-isee-2020-00597381W-00",
            "INPS-ISEE-20X0-00597381W-00",
            "INPS-ISEE-2020-00597381W-00 ",
            "",
        ] {
            assert_eq!(parse_protocollo_dsu(bad), None, "{bad}");
        }
    }
}
