//! The current comuni, grouped by province, for residences and birthplaces.
//! The domain crate exposes lookups but no listing, so the ISTAT codes are
//! read from its embedded CSV and resolved through its own lookup: every
//! comune handed out is the domain's record.

use casellario_domain::Date;
use casellario_domain::reference::{self, Comune};
use std::collections::HashMap;
use std::sync::LazyLock;

const ISTAT_COMUNI: &str = include_str!("../../domain/data/istat-comuni.csv");

/// Belfiore codes of the largest cities (hospitals, migration): a share of
/// birthplaces comes from here.
const GRANDI: &[&str] = &[
    "H501", "F205", "F839", "L219", "G273", "D969", "A944", "D612", "A662", "C351", "L736", "L781",
    "H224", "G224", "L424", "H703", "B354", "G478", "G337", "E506", "A271", "G999", "H294", "D643",
];

/// A comune with what the generator needs precomputed, so that the hot
/// path does no table lookups.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub c: &'static Comune,
    /// DM 1986 region code.
    pub regione: &'static str,
    /// The Belfiore code has been in force without interruption since this
    /// day: any birth from then on may carry it.
    pub since: Date,
}

impl Place {
    fn new(c: &'static Comune) -> Place {
        Place {
            c,
            regione: reference::regione_dm1986_for_comune(c),
            since: in_force_since(c.belfiore),
        }
    }

    pub fn valid_on(&self, d: Date) -> bool {
        d >= self.since
    }
}

/// Start of the last unbroken run of validity periods of a Belfiore code
/// that is still open; far future if the code is not in force today.
fn in_force_since(code: &str) -> Date {
    let never = Date {
        year: 9999,
        month: 12,
        day: 31,
    };
    let rows = reference::belfiore_comune(code);
    let Some(last) = rows.iter().rposition(|r| r.valid_to.is_none()) else {
        return never;
    };
    let mut since = rows[last].valid_from;
    for r in rows[..last].iter().rev() {
        match (since, r.valid_to) {
            (Some(s), Some(t))
                if t.to_days() + 1 >= s.to_days() && r.valid_from.is_none_or(|f| f < s) =>
            {
                since = r.valid_from;
            }
            _ => break,
        }
    }
    since.unwrap_or(Date {
        year: 1,
        month: 1,
        day: 1,
    })
}

pub struct Places {
    pub comuni: Vec<Place>,
    by_province: HashMap<&'static str, Vec<u32>>,
    pub grandi: Vec<Place>,
}

impl Places {
    /// Comuni of a province (indices into `comuni`).
    pub fn province(&self, sigla: &str) -> &[u32] {
        self.by_province.get(sigla).map_or(&[], Vec::as_slice)
    }
}

pub static PLACES: LazyLock<Places> = LazyLock::new(|| {
    let comuni: Vec<Place> = ISTAT_COMUNI
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(2))
        .filter_map(reference::comune_istat)
        .map(Place::new)
        .collect();
    let mut by_province: HashMap<&'static str, Vec<u32>> = HashMap::new();
    for (i, p) in comuni.iter().enumerate() {
        by_province.entry(p.c.province).or_default().push(i as u32);
    }
    let grandi = GRANDI
        .iter()
        .filter_map(|b| reference::comune_by_belfiore(b))
        .map(Place::new)
        .collect();
    Places {
        comuni,
        by_province,
        grandi,
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comune_resolves() {
        let p = &*PLACES;
        assert_eq!(
            p.comuni.len(),
            ISTAT_COMUNI
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .count()
        );
        assert!(p.comuni.len() > 7800);
        assert_eq!(p.grandi.len(), GRANDI.len());
        assert!(p.province("RM").len() > 100);
    }

    #[test]
    fn since_agrees_with_the_reference_table() {
        let p = &*PLACES;
        let mut recent = 0;
        for pl in &p.comuni {
            assert!(!pl.regione.is_empty(), "{}", pl.c.name);
            if pl.since.year > 1930 {
                recent += 1;
            }
            for d in [pl.since, Date::from_days(pl.since.to_days() + 400)] {
                if d.year < 2026 {
                    assert!(
                        reference::belfiore_valid_on(pl.c.belfiore, d),
                        "{} {d}",
                        pl.c.belfiore
                    );
                }
            }
        }
        // Comuni born of recent mergers exist: birthplaces must skip them for older people.
        assert!(recent > 50, "{recent}");
        let roma = p
            .grandi
            .iter()
            .find(|g| g.c.belfiore == "H501")
            .expect("Roma");
        assert!(roma.since.year <= 1884);
    }
}
