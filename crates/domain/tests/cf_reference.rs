//! Codice fiscale and reference tables: known vectors, properties, lookups.
#![allow(clippy::unwrap_used)]

use casellario_domain::Date;
use casellario_domain::cf::{self, Cf, CfError, CfMismatch};
use casellario_domain::reference::{self, LuogoCheck};
use proptest::prelude::*;

fn personal(s: &str) -> cf::PersonalCf {
    match cf::check(s) {
        Ok(Cf::Personal(p)) => p,
        other => panic!("{s}: {other:?}"),
    }
}

fn d(y: i32, m: u8, day: u8) -> Date {
    Date::new(y, m, day).unwrap()
}

// ---------------------------------------------------------------- known CFs

#[test]
fn known_valid_vectors() {
    for s in [
        "RSSMRK66C14H501U",
        "XXXXXX80P20B501B",
        "GHBLDE25A42H199X",
        "BLTMHL77S04E889G",
        "RSSMRA80A01H501U",
    ] {
        personal(s);
        personal(&s.to_lowercase());
    }
    let p = personal("RSSMRK66C14H501U");
    assert_eq!(
        (p.year2(), p.month(), p.day(), p.is_female()),
        (66, 3, 14, false)
    );
    assert_eq!(p.belfiore(), "H501");
    assert!(!p.is_omocode());
    assert!(p.mismatches(1966, false, "h501").is_empty());
    let g = personal("GHBLDE25A42H199X");
    assert_eq!((g.day(), g.is_female()), (2, true));
}

#[test]
fn known_invalid_vectors() {
    assert_eq!(
        cf::check("AAABBB39M66A351C"),
        Err(CfError::CheckChar {
            expected: 'T',
            found: 'C'
        })
    );
    assert_eq!(
        cf::check("CCCDDD25A42H199X"),
        Err(CfError::CheckChar {
            expected: 'E',
            found: 'X'
        })
    );
    assert_eq!(
        CfError::CheckChar {
            expected: 'T',
            found: 'C'
        }
        .message(),
        "Il carattere di controllo del codice fiscale è errato: atteso T, trovato C"
    );
    assert_eq!(cf::check("RSSMRK66C14H501"), Err(CfError::Length));
    assert_eq!(cf::check("RSSMRK66C14H501U "), Err(CfError::Length));
    assert_eq!(cf::check("RSSMRK66F14H501U"), Err(CfError::BadMonth));
    assert_eq!(cf::check("RSSMRK66C34H501U"), Err(CfError::BadDay));
    assert_eq!(cf::check("RSSMRK66C00H501U"), Err(CfError::BadDay));
    assert_eq!(
        cf::check("RSSMRKA6C14H501U"),
        Err(CfError::BadChar { pos: 7 })
    );
    assert_eq!(
        cf::check("RSSMR166C14H501U"),
        Err(CfError::BadChar { pos: 6 })
    );
    assert_eq!(
        cf::check("RSSMRK66C14H5-1U"),
        Err(CfError::BadChar { pos: 14 })
    );
}

#[test]
fn mismatches_with_anagrafica() {
    let p = personal("AAABBB39M66A351T");
    assert!(p.mismatches(1939, true, "A351").is_empty());
    let m = p.mismatches(1940, false, "H501");
    assert_eq!(m.len(), 3);
    assert!(matches!(
        m[0],
        CfMismatch::Year {
            cf_year2: 39,
            anno_nascita: 1940
        }
    ));
    assert!(matches!(m[1], CfMismatch::Sex { cf_female: true }));
    assert!(m[2].message().contains("H501"));
    // Omocodia-decoded birthplace and year.
    let o = personal(&cf::omocode_variant("AAABBB39M66A351T", 7));
    assert!(o.is_omocode());
    assert!(o.mismatches(1939, true, "A351").is_empty());
}

#[test]
fn numeric_codes() {
    assert!(matches!(cf::check("06363391001"), Ok(Cf::Numeric(_))));
    assert!(matches!(cf::check("06363391001     "), Ok(Cf::Numeric(_))));
    assert_eq!(cf::check("06363391001      "), Err(CfError::Length));
    assert_eq!(
        cf::check("06363391001  x"),
        Err(CfError::BadChar { pos: 14 })
    );
    assert_eq!(
        cf::check("06363391002"),
        Err(CfError::NumericCheckDigit {
            expected: '1',
            found: '2'
        })
    );
    assert_eq!(cf::check("0636339100"), Err(CfError::Length));
    assert_eq!(cf::normalize("06363391001   "), "06363391001");
    assert_eq!(cf::normalize("rssmrk66c14h501u"), "RSSMRK66C14H501U");
    assert_eq!(cf::check("06363391001  ").unwrap().as_str(), "06363391001");
}

#[test]
fn compute_known() {
    assert_eq!(
        cf::compute("Rossi", "Mario", d(1980, 1, 1), false, "H501"),
        "RSSMRA80A01H501U"
    );
    assert_eq!(
        cf::omocode_variant("RSSMRA80A01H501U", 0),
        "RSSMRA80A01H501U"
    );
    assert!(cf::omocode_variant("RSSMRA80A01H501U", 1).starts_with("RSSMRA80A01H50M"));
}

#[test]
fn exhaustive_single_substitution_on_known_vectors() {
    for s in [
        "RSSMRK66C14H501U",
        "XXXXXX80P20B501B",
        "GHBLDE25A42H199X",
        "BLTMHL77S04E889G",
    ] {
        for pos in 0..16 {
            for &c in ALNUM {
                let mut b = s.as_bytes().to_vec();
                if b[pos] == c {
                    continue;
                }
                b[pos] = c;
                let t = String::from_utf8(b).unwrap();
                assert!(cf::check(&t).is_err(), "{t} accepted");
            }
        }
    }
}

#[test]
fn all_omocodia_combinations_decode() {
    // The Agenzia substitutes from the right, but validation accepts any
    // subset of the seven positions (2^7 combinations).
    const POS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
    let base = personal("GHBLDE25A42H199X");
    for mask in 0u32..128 {
        let mut b = *b"GHBLDE25A42H199X";
        for (k, &i) in POS.iter().enumerate() {
            if mask & (1 << k) != 0 {
                b[i] = b"LMNPQRSTUV"[usize::from(b[i] - b'0')];
            }
        }
        let mut first15 = [0u8; 15];
        first15.copy_from_slice(&b[..15]);
        b[15] = cf::compute_check_char(&first15);
        let p = personal(std::str::from_utf8(&b).unwrap());
        assert_eq!(p.is_omocode(), mask != 0);
        assert_eq!(
            (p.year2(), p.month(), p.day(), p.is_female(), p.belfiore()),
            (
                base.year2(),
                base.month(),
                base.day(),
                base.is_female(),
                base.belfiore()
            )
        );
    }
}

// ---------------------------------------------------------------- properties

fn name() -> impl Strategy<Value = String> {
    "[A-Za-zàèéìòùÀÈ' -]{0,20}"
}

fn birth() -> impl Strategy<Value = Date> {
    (1900i32..2030, 1u8..=12, 1u8..=31)
        .prop_map(|(y, m, day)| Date::new(y, m, day.min(28)).unwrap())
}

fn belfiore() -> impl Strategy<Value = String> {
    "[A-Z][0-9]{3}"
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compute_then_check(c in name(), n in name(), b in birth(), f in any::<bool>(), bf in belfiore()) {
        let s = cf::compute(&c, &n, b, f, &bf);
        let p = personal(&s);
        prop_assert_eq!(u16::from(p.year2()), (b.year % 100) as u16);
        prop_assert_eq!((p.month(), p.day(), p.is_female()), (b.month, b.day, f));
        prop_assert_eq!(p.belfiore(), bf.as_str());
        prop_assert!(!p.is_omocode());
        for level in 1..=7u8 {
            let v = cf::omocode_variant(&s, level);
            let o = personal(&v);
            prop_assert!(o.is_omocode());
            prop_assert_eq!(
                (o.year2(), o.month(), o.day(), o.is_female(), o.belfiore_bytes()),
                (p.year2(), p.month(), p.day(), p.is_female(), p.belfiore_bytes())
            );
        }
    }

    #[test]
    fn single_substitution_detected(
        c in name(), n in name(), b in birth(), f in any::<bool>(), bf in belfiore(),
        level in 0..=7u8, pos in 0usize..16, shift in 1usize..36,
    ) {
        let s = cf::omocode_variant(&cf::compute(&c, &n, b, f, &bf), level);
        let mut bytes = s.clone().into_bytes();
        let cur = ALNUM.iter().position(|&a| a == bytes[pos]).unwrap();
        bytes[pos] = ALNUM[(cur + shift) % 36];
        let t = String::from_utf8(bytes).unwrap();
        prop_assert!(cf::check(&t).is_err(), "{} -> {} accepted", s, t);
    }

    #[test]
    fn numeric_roundtrip_and_substitution(first in "[0-9]{10}", pos in 0usize..11, shift in 1u8..10) {
        let s = cf::compute_numeric(&first);
        prop_assert!(matches!(cf::check(&s), Ok(Cf::Numeric(_))));
        let mut bytes = s.clone().into_bytes();
        bytes[pos] = b'0' + (bytes[pos] - b'0' + shift) % 10;
        let t = String::from_utf8(bytes).unwrap();
        prop_assert!(cf::check(&t).is_err(), "{} -> {} accepted", s, t);
    }
}

// ---------------------------------------------------------------- reference

#[test]
fn belfiore_comuni() {
    let today = d(2025, 6, 1);
    assert!(reference::belfiore_valid_on("H501", today));
    assert_eq!(
        reference::belfiore_comune("H501").last().unwrap().name,
        "Roma"
    );
    assert_eq!(reference::belfiore_comune("a351")[0].name, "Aragona");
    // M174 Zibello merged into Polesine Zibello on 2016-01-01: the ANPR
    // cessation date is the last day of validity.
    assert!(reference::belfiore_valid_on("M174", d(1980, 1, 1)));
    assert!(reference::belfiore_valid_on("M174", d(2015, 12, 31)));
    assert!(!reference::belfiore_valid_on("M174", d(2016, 1, 1)));
    assert!(!reference::belfiore_valid_on("M174", today));
    assert!(reference::belfiore_valid_in_year("M174", 2015));
    assert!(!reference::belfiore_valid_in_year("M174", 2016));
    // A004 Abbadia Cerreto moved from MI to LO in 1992, keeping its code.
    assert_eq!(reference::belfiore_comune("A004").len(), 2);
    assert!(reference::belfiore_valid_on("A004", today));
    assert!(reference::belfiore_comune("Z110").is_empty());
    assert_eq!(
        reference::luogo_nascita_valid("H501", 1966),
        LuogoCheck::Comune
    );
    assert_eq!(
        reference::luogo_nascita_valid("M174", 2000),
        LuogoCheck::Comune
    );
    assert_eq!(
        reference::luogo_nascita_valid("M174", 2020),
        LuogoCheck::NotValidInYear
    );
    assert_eq!(
        reference::luogo_nascita_valid("Z110", 1950),
        LuogoCheck::StatoEstero {
            valid_in_year: true
        }
    );
    assert_eq!(
        reference::luogo_nascita_valid("Z999", 1950),
        LuogoCheck::Unknown
    );
    assert_eq!(
        reference::luogo_nascita_valid("ND", 1950),
        LuogoCheck::Unknown
    );
}

#[test]
fn stati_esteri() {
    assert_eq!(reference::stato_estero("Z110").unwrap().name, "Francia");
    assert_eq!(
        reference::stato_estero("Z601").unwrap().name_en,
        "Bolivia, Plurinational State Of"
    );
    assert!(reference::stato_estero_valid_in_year("Z350", 1950));
    assert!(!reference::stato_estero_valid_in_year("Z350", 1990));
    assert!(reference::stato_estero("H501").is_none());
}

#[test]
fn comuni_and_regions() {
    let pe = reference::comune_istat("068001").unwrap();
    assert_eq!(pe.province, "PE");
    assert_eq!(reference::regione_dm1986_for_comune(pe), "01");
    assert_eq!(reference::regione_dm1986("01").unwrap().name, "Abruzzo");
    let bz = reference::comune_istat("021008").unwrap();
    assert_eq!(bz.name, "Bolzano");
    assert_eq!(reference::regione_dm1986_for_comune(bz), "03");
    assert_eq!(
        reference::regione_dm1986_for_comune(reference::comune_istat("022205").unwrap()),
        "18"
    );
    assert_eq!(
        reference::regione_dm1986_for_comune(reference::comune_istat("001001").unwrap()),
        "13"
    );
    assert_eq!(
        reference::comune_by_belfiore("h501").unwrap().istat,
        "058091"
    );
    assert!(reference::comune_istat("999999").is_none());
    // Every comune maps to a known DM 1986 region, and every current Belfiore
    // code is in the historical table and valid today.
    for code in ["001001", "021008", "092009", "111107"] {
        if let Some(c) = reference::comune_istat(code) {
            assert!(reference::regione_dm1986(reference::regione_dm1986_for_comune(c)).is_some());
        }
    }
}

#[test]
fn every_comune_is_consistent() {
    let today = d(2025, 6, 1);
    let n = reference::counts().comuni;
    let mut checked = 0;
    for p in 1..=120 {
        for k in 1..=400 {
            let code = format!("{p:03}{k:03}");
            let Some(c) = reference::comune_istat(&code) else {
                continue;
            };
            checked += 1;
            let dm = reference::regione_dm1986_for_comune(c);
            assert!(reference::regione_dm1986(dm).is_some(), "{code}");
            assert!(
                reference::belfiore_valid_on(c.belfiore, today),
                "{code} {}",
                c.belfiore
            );
        }
    }
    assert_eq!(checked, n);
}

#[test]
fn prestazioni() {
    let a217 = reference::prestazione("A2.17").unwrap();
    assert!(a217.solo_presa_in_carico);
    assert_eq!(a217.confidence, "dedotto");
    assert!(
        reference::prestazione("A2.16")
            .unwrap()
            .solo_presa_in_carico
    );
    assert!(
        !reference::prestazione("A2.15")
            .unwrap()
            .solo_presa_in_carico
    );
    assert_eq!(
        reference::prestazione("A3.04").unwrap().name,
        "Edilizia residenziale pubblica"
    );
    let a10501 = reference::prestazione("A1.05.01").unwrap();
    assert!(!a10501.valid_on(d(2020, 1, 1)));
    assert!(a10501.valid_on(d(2023, 1, 1)));
    assert!(
        reference::prestazione("A1.01")
            .unwrap()
            .valid_on(d(1990, 1, 1))
    );
    assert!(reference::prestazione("A9.99").is_none());
    assert_eq!(reference::all_prestazioni().len(), 58);
}

#[test]
fn paesi_iso() {
    assert_eq!(reference::paese_iso("380").unwrap().alpha2, "IT");
    assert_eq!(reference::paese_iso("250").unwrap().alpha3, "FRA");
    assert_eq!(reference::paese_iso("276").unwrap().alpha2, "DE");
    assert_eq!(reference::paese_iso("756").unwrap().alpha2, "CH");
    assert_eq!(reference::paese_iso("840").unwrap().alpha2, "US");
    assert_eq!(reference::paese_iso("990").unwrap().name, "Non disponibile");
    assert!(reference::paese_iso("999").is_none());
}

#[test]
fn counts_line() {
    let c = reference::counts();
    assert_eq!(
        (c.comuni, c.stati, c.prestazioni, c.paesi),
        (7896, 213, 58, 250)
    );
    assert!(c.belfiore > 9000 && c.belfiore_periods > c.belfiore);
    assert!(c.to_string().contains("7896 comuni"));
}
