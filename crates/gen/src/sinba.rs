//! SINBA records: a child in the care of the social services, identified by
//! a pseudonym, with the family and judicial context kept coherent.

use crate::benefits::SINBA_PRESTAZIONI;
use crate::names::ORIGINI;
use crate::places::PLACES;
use crate::rng::{self, R, chance, range};
use crate::{ErrorKind, Generator};
use casellario_domain::codes::*;
use casellario_domain::model::Sinba;
use casellario_domain::xsd::MeseAnno;

fn ma(year: i32, month: i64) -> MeseAnno {
    MeseAnno {
        year: year as u16,
        month: month as u8,
    }
}

/// A month between `from` and December of `anno`, inclusive.
fn mese_dopo(r: &mut R, from: MeseAnno, anno: i32) -> MeseAnno {
    let a = i64::from(from.year) * 12 + i64::from(from.month) - 1;
    let b = i64::from(anno) * 12 + 11;
    let x = range(r, a, b.max(a));
    ma((x / 12) as i32, x % 12 + 1)
}

fn cittadinanza_genitore(r: &mut R) -> String {
    if chance(r, 0.85) {
        "380".to_string()
    } else {
        rng::pick(r, ORIGINI).iso.to_string()
    }
}

pub fn sinba(g: &mut Generator, err: Option<ErrorKind>) -> Sinba {
    let anno = g.anno;
    let r = &mut g.rng;
    g.caso += range(r, 1, 3) as u64;
    let id = format!("{}{:0w$}", g.ente.belfiore, g.caso, w = g.caso_width);
    // Teenagers are referred more often than toddlers.
    let eta = *rng::weighted(
        r,
        &[
            (0i32, 3),
            (1, 4),
            (2, 4),
            (3, 5),
            (4, 5),
            (5, 5),
            (6, 5),
            (7, 6),
            (8, 6),
            (9, 6),
            (10, 6),
            (11, 6),
            (12, 7),
            (13, 7),
            (14, 7),
            (15, 7),
            (16, 6),
            (17, 5),
        ],
    );
    let nascita = anno - eta;
    let msna = eta >= 14 && chance(r, 0.05);
    let mut s = Sinba {
        id_beneficiario: Some(id),
        anno_nascita: Some(format!("{nascita:04}")),
        ..Sinba::default()
    };

    s.minore_straniero_no_acc = Some(if msna {
        MinoreStranieroNoAcc::Si
    } else {
        MinoreStranieroNoAcc::No
    });
    s.condizione_minore = Some(if msna {
        CondizioneMinore::NonOrfano
    } else {
        rng::code(r, &[93, 1, 3, 2, 1])
    });
    let luogo: LuogoVita = if msna {
        LuogoVita::StrutturaResidenzialeSociale
    } else {
        rng::code(r, &[75, 6, 8, 9, 1, if eta >= 14 { 1 } else { 0 }])
    };
    s.luogo_vita = Some(luogo);
    s.scuola_frequentata = Some(match eta {
        0..=2 => rng::code(r, &[70, 0, 30]),
        3..=5 => rng::code(r, &[10, 0, 0, 90]),
        6..=10 => rng::code(r, &[0, 3, 0, 0, 97]),
        11..=13 => rng::code(r, &[2, 3, 0, 0, 0, 95]),
        _ => rng::code(r, &[15, 3, 0, 0, 0, 0, 67, 15]),
    });
    s.condizione_lavoro = Some(if eta < 16 {
        CondizioneLavoro::InattivoNonEtaLavoro
    } else {
        rng::code(r, &[80, 5, 5, 10])
    });
    if chance(r, 0.12) {
        s.disabilita = Some(Disabilita::Si);
        s.tipo_disabilita = Some(rng::code(r, &[50, 25, 10, 15]));
        s.inv_civ_certificazioni = Some(rng::code(r, &[20, 15, 10, 35, 20]));
    } else {
        s.disabilita = Some(Disabilita::No);
    }

    // Dates: first referral, then (maybe) referral to the judicial authority
    // and a court measure, all by December of the reference year.
    let prima = ma(
        range(r, i64::from(nascita.max(anno - 8)), i64::from(anno)) as i32,
        range(r, 1, 12),
    );
    s.data_prima_segnalazione = Some(prima);
    s.fonte_segnalazione = Some(rng::code(
        r,
        &[5, 20, 12, 5, 6, 2, 2, 10, 3, 6, 14, 2, 12, 1],
    ));
    s.valutazione_minore = Some(if msna {
        ValutazioneMinore::MinoreStranieroNonAccompagnato
    } else {
        let dropout = if eta >= 11 { 6 } else { 0 };
        rng::code(r, &[15, 25, 2, 4, 6, 2, 8, 3, 10, 3, 0, 0, dropout])
    });
    s.valutazione_famiglia_minore = Some(if msna {
        ValutazioneFamigliaMinore::NessunaSpecifica
    } else {
        rng::code(r, &[10, 30, 6, 6, 4, 15, 6, 2, 4, 1, 2, 10, 4])
    });
    let mut ultima = prima;
    if chance(r, 0.35) {
        s.segnalazione_autorita_giudiziaria = Some(SegnalazioneAutoritaGiudiziaria::Si);
        let d = mese_dopo(r, prima, anno);
        s.data_segnalazione = Some(d);
        ultima = ultima.max(d);
    } else {
        s.segnalazione_autorita_giudiziaria = Some(SegnalazioneAutoritaGiudiziaria::No);
    }
    let segnalato =
        s.segnalazione_autorita_giudiziaria == Some(SegnalazioneAutoritaGiudiziaria::Si);
    if chance(r, if segnalato { 0.6 } else { 0.05 })
        || luogo == LuogoVita::FamigliaAffidataria && chance(r, 0.7)
    {
        s.provvedimento_giudiziario = Some(ProvvedimentoGiudiziario::Si);
        let d = mese_dopo(r, ultima, anno);
        s.data_provvedimento_giudiziario = Some(d);
        ultima = ultima.max(d);
        s.autorita_provvedimento = Some(rng::code(r, &[15, 70, 5, 10]));
        s.tipo_provvedimento_giudiziario = Some(if luogo == LuogoVita::FamigliaAffidataria {
            TipoProvvedimentoGiudiziario::AffidamentoFamiliare
        } else {
            rng::code(r, &[3, 1, 1, 10, 40, 10, 30, 5])
        });
        if chance(r, 0.4) {
            s.potesta_tutela = Some(rng::code(r, &[25, 10, 45, 15, 5]));
        }
    } else {
        s.provvedimento_giudiziario = Some(ProvvedimentoGiudiziario::No);
    }
    if luogo == LuogoVita::FamigliaAffidataria {
        let giudiziale = s.provvedimento_giudiziario == Some(ProvvedimentoGiudiziario::Si);
        s.forma_intervento_affido = Some(if giudiziale {
            FormaInterventoAffido::Giudiziario
        } else {
            FormaInterventoAffido::Consensuale
        });
        s.tipo_intervento_affido = Some(rng::code(r, &[30, 70]));
        s.durata_affido = Some(rng::code(r, &[85, 15]));
        s.carattere_affido = Some(rng::code(r, &[90, 10]));
    }
    if luogo == LuogoVita::StrutturaResidenzialeSociale {
        s.carattere_inserimento_residenziale = Some(if msna {
            CarattereInserimentoResidenziale::ComunitarioAccoglienzaEmergenza
        } else {
            rng::code(r, &[5, 5, 10, 10, 5, 10, 35, 10, 5, 5])
        });
        s.forma_inserimento_residenziale = Some(rng::code(r, &[40, 60]));
        s.tipo_inserimento_residenziale = Some(if msna {
            TipoInserimentoResidenziale::SenzaGenitore
        } else {
            rng::code(r, &[20, 80])
        });
    }
    if chance(r, 0.1) {
        s.motivazione_chiusura_carico = Some(rng::code(
            r,
            &[10, 5, if eta >= 17 { 20 } else { 0 }, 35, 10, 2, 3, 0, 10],
        ));
        s.situazione_chiusura_carico = Some(rng::code(r, &[60, 5, 3, 3, 1, 2, 1, 5]));
    }
    if chance(r, 0.5) {
        s.collaborazioni_interventi = Some(rng::code(r, &[5, 15, 20, 10, 20, 5, 15, 8, 2]));
    }
    if chance(r, 0.5) {
        s.numero_componenti_isee = Some(*rng::weighted(
            r,
            &[(2, 15), (3, 30), (4, 30), (5, 15), (6, 7), (7, 3)],
        ));
        s.fascia_isee_beneficiario = Some(rng::code(r, &[5, 15, 20, 18, 14, 10, 10, 8]));
    }
    // The band of the age reached in the year of the latest date of the record.
    let eta_rif = (i32::from(ultima.year) - nascita).clamp(0, 17) as usize;
    s.fascia_eta_beneficiario = Some(rng::nth(eta_rif / 3));

    let regione = if g.ente.regione.is_empty() {
        rng::pick(r, &PLACES.comuni).regione
    } else {
        g.ente.regione
    };
    if err == Some(ErrorKind::SinbaRegioneMancante) || chance(r, 0.98) {
        s.codice_nazione_residenza = Some("380".to_string());
        if err != Some(ErrorKind::SinbaRegioneMancante) {
            s.codice_regione_residenza = Some(regione.to_string());
        }
    } else {
        s.codice_nazione_residenza = Some(rng::pick(r, ORIGINI).iso.to_string());
    }

    // Household: who lives with the child (never empty; at most four kinds).
    let mut fam: Vec<ComposizioneFamiglia> = Vec::with_capacity(4);
    if msna {
        fam.push(ComposizioneFamiglia::AltriConviventi);
    } else {
        for (m, p) in [
            (ComposizioneFamiglia::Madre, 0.92),
            (ComposizioneFamiglia::Padre, 0.65),
            (ComposizioneFamiglia::FratelliSorelle, 0.5),
            (ComposizioneFamiglia::Nonno, 0.12),
            (ComposizioneFamiglia::CompagnoMadrePadre, 0.08),
            (ComposizioneFamiglia::AltriConviventi, 0.05),
        ] {
            if fam.len() < 4 && chance(r, p) {
                fam.push(m);
            }
        }
        if fam.is_empty() {
            fam.push(ComposizioneFamiglia::Madre);
        }
    }
    if fam.contains(&ComposizioneFamiglia::Madre) {
        s.codice_cittadinanza_madre = Some(cittadinanza_genitore(r));
        s.codice_regione_residenza_madre = Some(regione.to_string());
        s.titolo_studio_madre = Some(rng::code(r, &[3, 5, 35, 15, 32, 10]));
        s.occupazione_madre = Some(rng::code(r, &[45, 20, 5, 20, 2, 2, 3, 3]));
    }
    if fam.contains(&ComposizioneFamiglia::Padre) {
        s.codice_cittadinanza_padre = Some(cittadinanza_genitore(r));
        s.codice_regione_residenza_padre = Some(regione.to_string());
        s.titolo_studio_padre = Some(rng::code(r, &[3, 5, 38, 17, 29, 8]));
        s.occupazione_padre = Some(rng::code(r, &[70, 18, 3, 1, 1, 3, 2, 2]));
    }
    s.famiglia = fam;

    // Benefits fitting the age: nursery codes below 3, school codes from 3.
    let n = range(r, 1, 3) as usize;
    let mut codes: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n * 4 {
        if codes.len() == n {
            break;
        }
        let c = *rng::pick(r, SINBA_PRESTAZIONI);
        let nido = matches!(c, "A3.03" | "A1.07" | "A2.10");
        let scuola = matches!(c, "A2.11" | "A2.12" | "A1.09");
        if (nido && eta > 2) || (scuola && eta < 3) || codes.iter().any(|x| x == c) {
            continue;
        }
        codes.push(c.to_string());
    }
    if codes.is_empty() {
        codes.push("A2.02".to_string());
    }
    if err == Some(ErrorKind::SinbaCodiceSconosciuto) {
        let i = range(r, 0, codes.len() as i64 - 1) as usize;
        codes[i] = "A9.99".to_string();
    }
    s.prestazioni = codes;
    s
}
