//! PS-PSA-SINA records: a beneficiary with 1–4 benefits.

use crate::benefits::{ETA_WEIGHTS, Eta, NECESSITA, SOGLIE_ISEE, SPECS, Spec};
use crate::names::{self, ORIGINI, Origine};
use crate::places::{PLACES, Place};
use crate::rng::{self, R, add_days, chance, range};
use crate::{EnteCtx, ErrorKind, Generator};
use casellario_domain::Date;
use casellario_domain::cf;
use casellario_domain::codes::*;
use casellario_domain::date::days_in_month;
use casellario_domain::model::{Anagrafica, Beneficiario, Indirizzo, PrestazioniSociali, Sina};
use casellario_domain::reference;
use casellario_domain::xsd::{XsDate, XsDecimal};

/// Benefits per beneficiary: mostly one, sometimes up to four.
pub fn draw_count(r: &mut R) -> u64 {
    *rng::weighted(r, &[(1u64, 55), (2, 25), (3, 13), (4, 7)])
}

/// Benefit pools by age profile and sex, restricted to the codes in force
/// for the whole reference year. Index: [`pool_index`].
pub type Pools = Vec<Vec<(&'static Spec, u32)>>;

pub fn pools(anno: i32) -> Pools {
    let jan = Date {
        year: anno,
        month: 1,
        day: 1,
    };
    let dec = Date {
        year: anno,
        month: 12,
        day: 31,
    };
    let in_force = |code: &str| {
        reference::prestazione(code).is_some_and(|p| p.valid_on(jan) && p.valid_on(dec))
    };
    let mut out = Vec::new();
    for (eta, _) in ETA_WEIGHTS {
        for female in [false, true] {
            out.push(
                SPECS
                    .iter()
                    .filter(|s| s.eta == *eta && (female || !s.solo_donne) && in_force(s.code))
                    .map(|s| (s, s.weight))
                    .collect(),
            );
        }
    }
    out
}

fn pool_index(eta: Eta, female: bool) -> usize {
    let i = ETA_WEIGHTS.iter().position(|(e, _)| *e == eta).unwrap_or(0);
    i * 2 + usize::from(female)
}

/// The beneficiary's registry data.
struct Persona {
    eta: Eta,
    birth: Date,
    female: bool,
    cognome: &'static str,
    nome: &'static str,
    luogo: &'static str,
    cittadinanza: &'static str,
    seconda: Option<&'static str>,
}

/// Probability of being born abroad, by age profile (≈8% overall).
fn p_estero(eta: Eta) -> f64 {
    match eta {
        Eta::Nido => 0.04,
        Eta::Scuola => 0.07,
        Eta::Universita => 0.06,
        Eta::Adulto => 0.15,
        Eta::Anziano => 0.02,
    }
}

fn origine(r: &mut R) -> &'static Origine {
    let total: u32 = ORIGINI.iter().map(|o| o.weight).sum();
    let mut x = range(r, 0, i64::from(total) - 1) as u32;
    for o in ORIGINI {
        if x < o.weight {
            return o;
        }
        x -= o.weight;
    }
    &ORIGINI[0]
}

fn comune_any(r: &mut R) -> Place {
    *rng::pick(r, &PLACES.comuni)
}

/// A comune of the ente's province (any comune if the seat is not one).
fn comune_vicino(r: &mut R, ente: &EnteCtx) -> Place {
    match ente.comune {
        Some(c) => {
            let prov = PLACES.province(c.c.province);
            if prov.is_empty() {
                c
            } else {
                PLACES.comuni[*rng::pick(r, prov) as usize]
            }
        }
        None => comune_any(r),
    }
}

/// A birthplace in Italy whose Belfiore code was in force on the birth day:
/// the ente's comune, its province, a big city, or anywhere.
fn luogo_italia(r: &mut R, ente: &EnteCtx, birth: Date) -> &'static str {
    for _ in 0..10 {
        let x = r_f64(r);
        let c = if x < 0.30 {
            match ente.comune {
                Some(c) => c,
                None => comune_any(r),
            }
        } else if x < 0.65 {
            comune_vicino(r, ente)
        } else if x < 0.80 {
            *rng::pick(r, &PLACES.grandi)
        } else {
            comune_any(r)
        };
        if c.valid_on(birth) {
            return c.c.belfiore;
        }
    }
    // Roma's code has been in force without interruption since 1884.
    "H501"
}

fn r_f64(r: &mut R) -> f64 {
    use rand::Rng;
    r.random::<f64>()
}

/// Second citizenships of Italians (descendants of emigrants, mixed couples).
const SECONDE: &[&str] = &["032", "076", "756", "250", "840", "276", "858"];

fn persona(r: &mut R, ente: &EnteCtx, anno: i32) -> Persona {
    let eta = *rng::weighted(r, ETA_WEIGHTS);
    let female = chance(
        r,
        match eta {
            Eta::Adulto => 0.56,
            Eta::Anziano => 0.62,
            _ => 0.49,
        },
    );
    let birth = match eta {
        // Born at least two months before the reference year starts, so every
        // benefit date follows the birth.
        Eta::Nido => rng::date_between(
            r,
            Date {
                year: anno - 3,
                month: 1,
                day: 1,
            },
            Date {
                year: anno - 1,
                month: 10,
                day: 31,
            },
        ),
        _ => {
            let (lo, hi) = eta.bounds();
            let hi = hi.min(anno - 1930);
            let y = anno - range(r, i64::from(lo), i64::from(hi)) as i32;
            rng::date_in_year(r, y)
        }
    };
    let italian_names = |r: &mut R| {
        let n = if female { names::NOMI_F } else { names::NOMI_M };
        (*rng::pick(r, names::COGNOMI), *rng::pick(r, n))
    };
    let foreign_names = |r: &mut R, o: &'static Origine| {
        let n = if female { o.nomi_f } else { o.nomi_m };
        (*rng::pick(r, o.cognomi), *rng::pick(r, n))
    };
    let child = matches!(eta, Eta::Nido | Eta::Scuola);
    let (cognome, nome, luogo, cittadinanza, seconda);
    if chance(r, p_estero(eta)) {
        let o = origine(r);
        (cognome, nome) = if chance(r, 0.9) {
            foreign_names(r, o)
        } else {
            italian_names(r)
        };
        luogo = o.belfiore;
        // Adults naturalised after years of residence keep the first citizenship.
        if !child && chance(r, 0.3) {
            (cittadinanza, seconda) = ("380", Some(o.iso));
        } else {
            (cittadinanza, seconda) = (o.iso, None);
        }
    } else if child && chance(r, 0.06) {
        // Born in Italy to foreign parents: foreign citizen until 18.
        let o = origine(r);
        (cognome, nome) = foreign_names(r, o);
        luogo = luogo_italia(r, ente, birth);
        (cittadinanza, seconda) = (o.iso, None);
    } else {
        (cognome, nome) = italian_names(r);
        luogo = luogo_italia(r, ente, birth);
        cittadinanza = "380";
        seconda = chance(r, 0.01).then(|| *rng::pick(r, SECONDE));
    }
    Persona {
        eta,
        birth,
        female,
        cognome,
        nome,
        luogo,
        cittadinanza,
        seconda,
    }
}

fn indirizzo(p: Place) -> Indirizzo {
    Indirizzo {
        codice_regione: Some(p.regione.to_string()),
        codice_comune: Some(p.c.istat.to_string()),
        codice_nazione: Some("380".to_string()),
    }
}

/// The CF of the operator sending the flow (a municipal employee).
pub fn operatore_cf(r: &mut R, ente: &EnteCtx, anno: i32) -> String {
    let female = chance(r, 0.7);
    let y = anno - range(r, 25, 64) as i32;
    let birth = rng::date_in_year(r, y);
    let luogo = luogo_italia(r, ente, birth);
    let n = if female { names::NOMI_F } else { names::NOMI_M };
    let (cognome, nome) = (*rng::pick(r, names::COGNOMI), *rng::pick(r, n));
    cf::compute(cognome, nome, birth, female, luogo)
}

/// One beneficiary with `errors.len()` benefits; `errors[i]` is the error
/// to inject in benefit `i` (beneficiary-level kinds only when there is one
/// benefit).
pub fn beneficiario(
    g: &mut Generator,
    errors: &[Option<ErrorKind>],
) -> (Beneficiario, Vec<PrestazioniSociali>) {
    let anno = g.anno;
    let r = &mut g.rng;
    let p = persona(r, &g.ente, anno);

    let mut codice_fiscale = cf::compute(p.cognome, p.nome, p.birth, p.female, p.luogo);
    if chance(r, 0.005) {
        // Omocodia only in positions 13-15: the XSD pattern wants digits in
        // the date part.
        codice_fiscale = cf::omocode_variant(&codice_fiscale, range(r, 1, 3) as u8);
    }

    let x = r_f64(r);
    let residenza = if x < 0.85 {
        match g.ente.comune {
            Some(c) => c,
            None => comune_vicino(r, &g.ente),
        }
    } else if x < 0.95 {
        comune_vicino(r, &g.ente)
    } else {
        comune_any(r)
    };
    let mut indirizzi = vec![indirizzo(residenza)];
    if chance(r, 0.1) {
        let altra = if chance(r, 0.6) {
            comune_vicino(r, &g.ente)
        } else {
            comune_any(r)
        };
        if altra.c.istat != residenza.c.istat {
            indirizzi.push(indirizzo(altra));
        }
    }

    let mut b = Beneficiario {
        codice_fiscale: Some(codice_fiscale),
        anagrafica: Anagrafica {
            cognome: Some(p.cognome.to_string()),
            nome: Some(p.nome.to_string()),
            anno_nascita: Some(format!("{:04}", p.birth.year)),
            luogo_nascita: Some(p.luogo.to_string()),
            genere: Some(if p.female {
                Genere::Femmina
            } else {
                Genere::Maschio
            }),
            codice_cittadinanza: Some(p.cittadinanza.to_string()),
            codice_seconda_cittadinanza: p.seconda.map(str::to_string),
        },
        indirizzi,
    };

    match errors.first().copied().flatten() {
        Some(ErrorKind::CfCarattereControllo) => {
            if let Some(cf) = &mut b.codice_fiscale {
                let last = cf.pop().map_or(b'A', |c| c as u8);
                let wrong = b'A' + (last - b'A' + range(r, 1, 25) as u8) % 26;
                cf.push(char::from(wrong));
            }
        }
        Some(ErrorKind::RegioneMancante) => b.indirizzi[0].codice_regione = None,
        _ => {}
    }

    // Distinct codes while the pool allows it; repeats (two applications for
    // the same kind of benefit in a year) only once it is exhausted.
    let pool = &g.pools[pool_index(p.eta, p.female)];
    let mut chosen: Vec<&'static Spec> = Vec::with_capacity(errors.len());
    for _ in 0..errors.len() {
        let mut s = *rng::weighted(r, pool);
        for _ in 0..10 {
            if !chosen.iter().any(|c| c.code == s.code) {
                break;
            }
            s = *rng::weighted(r, pool);
        }
        chosen.push(s);
    }
    let prestazioni = chosen
        .iter()
        .zip(errors)
        .map(|(s, e)| prestazione(g, s, &p, *e))
        .collect();
    (b, prestazioni)
}

fn dec(cents: i64) -> XsDecimal {
    XsDecimal::from_cents(cents)
}

fn xd(d: Date) -> XsDate {
    XsDate::from_date(d)
}

/// Start, end and months of a periodic benefit within `anno`: from the 1st
/// to the end of a month, or from a given day to the day before, several
/// months later; never past 31 December.
fn periodo(r: &mut R, anno: i32) -> (Date, Date, i32) {
    let m = range(r, 1, 12) as u8;
    let first = m == 12 || chance(r, 0.7);
    let d = if first { 1 } else { range(r, 2, 28) as u8 };
    let kmax = if first {
        13 - i64::from(m)
    } else {
        12 - i64::from(m)
    };
    let k = if chance(r, 0.4) {
        kmax
    } else {
        range(r, 1, kmax)
    };
    let start = Date {
        year: anno,
        month: m,
        day: d,
    };
    let end = if first {
        let em = m + k as u8 - 1;
        Date {
            year: anno,
            month: em,
            day: days_in_month(anno, em),
        }
    } else {
        Date {
            year: anno,
            month: m + k as u8,
            day: d - 1,
        }
    };
    (start, end, k as i32)
}

fn denominazione(code: &str) -> String {
    let name = reference::prestazione(code).map_or(code, |p| p.name);
    if name.chars().count() >= 10 {
        name.to_string()
    } else {
        format!("{name} - servizio comunale")
    }
}

fn prestazione(
    g: &mut Generator,
    spec: &'static Spec,
    p: &Persona,
    err: Option<ErrorKind>,
) -> PrestazioniSociali {
    let anno = g.anno;
    g.protocollo += 1;
    let protocollo = g.protocollo;
    let r = &mut g.rng;
    let mut ps = PrestazioniSociali::default();
    if chance(r, 0.5) {
        ps.tipo_operazione = Some(TipoOperazione::Inserimento);
    }
    ps.codice_prestazione = Some(spec.code.to_string());
    ps.denominazione_prestazione = Some(denominazione(spec.code));
    ps.protocollo_domanda = Some(format!("PROT-{anno}-{protocollo:06}"));

    let periodic = matches!(
        err,
        Some(ErrorKind::PeriodicoSenzaInizio | ErrorKind::FineAnnoSuccessivo)
    ) || chance(r, spec.periodic);
    let (total, ref_date) = if periodic {
        let (start, end, months) = periodo(r, anno);
        let total = range(
            r,
            i64::from(spec.mensile.0) * 100,
            i64::from(spec.mensile.1) * 100,
        );
        ps.carattere_prestazione = Some(CaratterePrestazione::Periodico);
        ps.data_inizio_prestazione = Some(xd(start));
        ps.data_fine_prestazione = Some(xd(end));
        ps.periodo_erogazione = Some(months);
        ps.importo_mensile = Some(dec(total));
        (total, start)
    } else {
        let date = rng::date_in_year(r, anno);
        let total = range(
            r,
            i64::from(spec.una_tantum.0) * 100,
            i64::from(spec.una_tantum.1) * 100,
        );
        ps.carattere_prestazione = Some(CaratterePrestazione::OccasionaleUnicaSoluzione);
        ps.data_erogazione_prestazione = Some(xd(date));
        ps.importo_prestazione = Some(dec(total));
        (total, date)
    };
    if chance(r, 0.6) {
        // The application (event) precedes the benefit, never the birth.
        let ev = add_days(ref_date, -range(r, 3, 60));
        ps.data_evento = Some(xd(ev.max(p.birth)));
    }

    if err == Some(ErrorKind::QuoteNonQuadrano) || chance(r, 0.75) {
        let utente = if spec.compartecipazione {
            total * range(r, 5, 40) / 100
        } else {
            0
        };
        let ssn = if spec.ssn {
            total * range(r, 20, 50) / 100
        } else {
            0
        };
        let mut ente = total - utente - ssn;
        if err == Some(ErrorKind::QuoteNonQuadrano) {
            ente += range(r, 1, 500);
        }
        ps.importo_quota_ente = Some(dec(ente));
        if utente > 0 || chance(r, 0.5) {
            ps.importo_quota_utente = Some(dec(utente));
        }
        if ssn > 0 {
            ps.importo_quota_ssn = Some(dec(ssn));
        }
        if spec.compartecipazione && chance(r, 0.2) {
            ps.importo_quota_richiesta = Some(dec(utente * range(r, 110, 200) / 100 + 100));
        }
    }
    if spec.isee && chance(r, 0.5) {
        ps.importo_soglia_isee = Some(dec(i64::from(*rng::pick(r, SOGLIE_ISEE)) * 100));
    }
    let forced_ore = err == Some(ErrorKind::OreMinutiNonValidi);
    if forced_ore || (spec.ore && chance(r, 0.85)) {
        // HH,MM: hours, then minutes as two decimals.
        let h = range(r, 2, 80);
        let m = if forced_ore { 75 } else { range(r, 0, 59) };
        ps.ore_servizio_mensile = Some(XsDecimal::new(i128::from(h * 100 + m), 2));
    }

    let x = r_f64(r);
    let con_dsu = err == Some(ErrorKind::DsuIncompleta) || (spec.isee && x < 0.85);
    ps.presenza_prova_mezzi = Some(if con_dsu {
        PresenzaProvaMezzi::PrestazioneSoggettaIsee
    } else if spec.isee && x < 0.90 {
        PresenzaProvaMezzi::PrestazioneGeneraleSoggettaIsee
    } else if spec.isee || x < 0.9 {
        PresenzaProvaMezzi::PrestazioneNonSoggettaProva
    } else {
        PresenzaProvaMezzi::PrestazioneSoggettaProvaMezzi
    });
    if con_dsu {
        // The DSU is signed some weeks or months before the benefit starts.
        let d = add_days(ref_date, -range(r, 5, 150));
        let letter = char::from(b'A' + range(r, 0, 25) as u8);
        let pp = *rng::weighted(r, &[(0u8, 90), (1, 8), (2, 2)]);
        ps.numero_protocollo_dsu = Some(format!(
            "INPS-ISEE-{:04}-{:08}{letter}-{pp:02}",
            d.year,
            range(r, 0, 99_999_999)
        ));
        ps.anno_protocollo_dsu = Some(format!("{:04}", d.year));
        ps.data_dsu = Some(xd(d));
    }

    let presa = err != Some(ErrorKind::PresaCaricoMancante)
        && (spec.presa_carico >= 1.0 || chance(r, spec.presa_carico));
    if presa {
        ps.presa_carico = Some(PresaCarico::Si);
        ps.area_utenza = Some(spec.area);
        // SINA goes with a presa in carico in the disability area; a few are
        // missing, as in real exports (a warning, SINA_MANCANTE).
        if spec.area == AreaUtenza::DisabilitaNonAutosufficienza && chance(r, 0.97) {
            ps.sina = Some(sina(r, p));
        }
    } else {
        ps.presa_carico = Some(PresaCarico::No);
    }

    match err {
        Some(ErrorKind::PeriodicoSenzaInizio) => ps.data_inizio_prestazione = None,
        Some(ErrorKind::FineAnnoSuccessivo) => {
            ps.data_fine_prestazione = Some(xd(Date {
                year: anno + 1,
                month: range(r, 1, 6) as u8,
                day: range(r, 1, 28) as u8,
            }));
        }
        Some(ErrorKind::CodiceSconosciuto) => ps.codice_prestazione = Some("A9.99".to_string()),
        Some(ErrorKind::DsuIncompleta) => match range(r, 0, 2) {
            0 => ps.data_dsu = None,
            1 => ps.anno_protocollo_dsu = None,
            _ => ps.numero_protocollo_dsu = None,
        },
        Some(ErrorKind::PresaCaricoMancante) => ps.presa_carico = None,
        Some(ErrorKind::DenominazioneCorta) => {
            let short = *rng::pick(r, &["Nido", "Mensa", "Sussidio", "Contrib.", "SAD", "ADI"]);
            ps.denominazione_prestazione = Some(short.to_string());
        }
        _ => {}
    }
    ps
}

/// A SINA assessment: one latent severity drives mobility, daily-living
/// dependency, health needs and civil invalidity, so the values hang together.
fn sina(r: &mut R, p: &Persona) -> Sina {
    let s = match p.eta {
        Eta::Anziano => *rng::weighted(r, &[(0usize, 25), (1, 45), (2, 30)]),
        _ => *rng::weighted(r, &[(0usize, 35), (1, 40), (2, 25)]),
    };
    let near = |r: &mut R| {
        (s as i64 + *rng::weighted(r, &[(-1i64, 15), (0, 70), (1, 15)])).clamp(0, 2) as usize
    };
    let mut out = Sina {
        mobilita: Some(rng::nth(near(r))),
        attivita_vita_quotidiana: Some(rng::nth(near(r))),
        disturbi_comportamentali: Some(rng::code(r, &[85, 15])),
        area_reddituale: Some(rng::code(r, &[35, 45, 20])),
        area_supporto: Some(rng::code(r, &[55, 30, 15])),
        fonte_derivazione_valutazione: Some(rng::code(r, &[45, 35, 10, 10])),
        strumento_valutazione: Some(rng::code(r, &[50, 5, 3, 3, 2, 7, 30])),
        ..Sina::default()
    };
    if chance(r, 0.7) {
        out.disturbi_area_cognitiva = Some(rng::nth(if p.eta == Eta::Anziano {
            near(r)
        } else {
            s.min(1)
        }));
    }
    if chance(r, 0.7) {
        out.necessita_cure_sanitarie = Some(rng::nth(near(r)));
    }
    if chance(r, 0.6) {
        let n = range(r, 1, 3) as usize;
        let mut codes: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let c = *rng::pick(r, NECESSITA);
            if !codes.iter().any(|x| x == c) {
                codes.push(c.to_string());
            }
        }
        out.necessita_interventi_sociali = Some(codes);
    }
    if chance(r, 0.5) {
        let mut inv = vec![match s {
            2 => InvCiv::CertificazioneInvaliditaCivileTotale,
            1 => {
                if chance(r, 0.5) {
                    InvCiv::CertificazioneInvaliditaCivileTotale3
                } else {
                    InvCiv::CertificazioneInvaliditaCivileParziale
                }
            }
            _ => InvCiv::CertificazioneInvaliditaCivileParziale,
        }];
        if chance(r, 0.3) {
            // L.104 art. 3 c. 3: serious handicap, often alongside.
            inv.push(InvCiv::CertificazioneL104Art6);
        }
        out.invalidita_civile = Some(inv);
        out.fonte_derivazione_invalidita = Some(rng::code(r, &[85, 15]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn periods_stay_in_year() {
        let mut r = R::seed_from_u64(7);
        for _ in 0..5000 {
            let (s, e, k) = periodo(&mut r, 2024);
            assert!(
                s <= e && e.year == 2024 && (1..=12).contains(&k),
                "{s} {e} {k}"
            );
            // Calendar months touched by the period are at least k.
            let touched = i32::from(e.month) - i32::from(s.month) + 1;
            assert!(k <= touched, "{s} {e} {k}");
        }
    }

    #[test]
    fn pools_are_never_empty() {
        for (i, p) in pools(2025).iter().enumerate() {
            assert!(!p.is_empty(), "pool {i}");
        }
        // A1.05.01 exists only from 2022.
        assert!(
            pools(2020)
                .iter()
                .flatten()
                .all(|(s, _)| s.code != "A1.05.01")
        );
    }

    #[test]
    fn reference_codes_exist() {
        for s in SPECS {
            let p = reference::prestazione(s.code).expect(s.code);
            // Codes known only by number (no official label) are left out.
            assert!(!p.name.contains("non pubblicata"), "{}", s.code);
            assert_eq!(p.solo_presa_in_carico, s.presa_carico >= 1.0, "{}", s.code);
        }
        for c in NECESSITA {
            assert!(reference::prestazione(c).is_some(), "{c}");
        }
        for o in ORIGINI {
            assert!(
                reference::stato_estero(o.belfiore).is_some(),
                "{}",
                o.belfiore
            );
            assert!(reference::paese_iso(o.iso).is_some(), "{}", o.iso);
        }
        for c in SECONDE {
            assert!(reference::paese_iso(c).is_some(), "{c}");
        }
    }
}
