//! Reference tables compiled into the binary (see `data/SOURCES.md`): ISTAT
//! comuni, historical Belfiore codes, foreign states, DM 1986 regions, benefit
//! codes and ISO 3166-1 numeric countries.
//!
//! Each table is parsed once, on first use, from the embedded CSV. Records
//! borrow their text from the embedded strings and maps are keyed by slices of
//! them, so lookups (on the hot path of validating millions of records) never
//! allocate.

use crate::date::Date;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

mod csv;

const ISTAT_COMUNI: &str = include_str!("../data/istat-comuni.csv");
const BELFIORE_COMUNI: &str = include_str!("../data/belfiore-comuni-storici.csv");
const STATI_ESTERI: &str = include_str!("../data/belfiore-stati-esteri.csv");
const REGIONI_DM1986: &str = include_str!("../data/regioni-dm1986.csv");
const PRESTAZIONI: &str = include_str!("../data/prestazioni.csv");
const ISO3166: &str = include_str!("../data/iso3166-numerico.csv");

/// FNV-1a: the keys are short, fixed and compiled in (no HashDoS exposure),
/// and SipHash would dominate the cost of a lookup.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Map<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

/// Uppercases a short code into a stack buffer so lookups accept any case
/// without allocating. `None` if the code is longer than `N` or not ASCII.
fn upper<'b, const N: usize>(code: &str, buf: &'b mut [u8; N]) -> Option<&'b str> {
    let b = code.as_bytes();
    if b.len() > N || !code.is_ascii() {
        return None;
    }
    let out = &mut buf[..b.len()];
    for (d, s) in out.iter_mut().zip(b) {
        *d = s.to_ascii_uppercase();
    }
    std::str::from_utf8(out).ok()
}

fn opt_date(s: &str, what: &str) -> Option<Date> {
    if s.is_empty() {
        return None;
    }
    Some(Date::parse_iso(s).unwrap_or_else(|| panic!("{what}: data non valida {s:?}")))
}

/// True if `[from, to]` (both inclusive, open when `None`) meets `[a, b]`.
fn overlaps(from: Option<Date>, to: Option<Date>, a: Date, b: Date) -> bool {
    from.is_none_or(|f| f <= b) && to.is_none_or(|t| t >= a)
}

fn year_bounds(year: i32) -> (Date, Date) {
    (
        Date {
            year,
            month: 1,
            day: 1,
        },
        Date {
            year,
            month: 12,
            day: 31,
        },
    )
}

// ---------------------------------------------------------------- ISTAT comuni

/// A current comune (ISTAT "Elenco comuni italiani").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comune {
    /// 6-digit ISTAT code (province + progressive), e.g. `068001`.
    pub istat: &'static str,
    pub name: &'static str,
    /// Bilingual name where one exists (e.g. `Bolzano/Bozen`).
    pub full_name: &'static str,
    /// Province sigla, e.g. `PE`.
    pub province: &'static str,
    pub belfiore: &'static str,
    /// ISTAT region code (01 Piemonte … 20 Sardegna), not the DM 1986 one.
    pub region_istat: &'static str,
    pub region_name: &'static str,
    pub nuts3: &'static str,
}

struct Comuni {
    rows: Vec<Comune>,
    by_istat: Map<u32>,
    by_belfiore: Map<u32>,
}

static COMUNI: LazyLock<Comuni> = LazyLock::new(|| {
    let mut rows = Vec::with_capacity(8000);
    for f in csv::records::<8>(ISTAT_COMUNI, "istat-comuni.csv") {
        rows.push(Comune {
            region_istat: f[0],
            region_name: f[1],
            istat: f[2],
            name: f[3],
            full_name: f[4],
            province: f[5],
            belfiore: f[6],
            nuts3: f[7],
        });
    }
    let mut by_istat = Map::default();
    let mut by_belfiore = Map::default();
    for (i, c) in rows.iter().enumerate() {
        by_istat.insert(c.istat, i as u32);
        by_belfiore.insert(c.belfiore, i as u32);
    }
    Comuni {
        rows,
        by_istat,
        by_belfiore,
    }
});

/// The current comune with this 6-digit ISTAT code.
pub fn comune_istat(code: &str) -> Option<&'static Comune> {
    let t = &*COMUNI;
    t.by_istat.get(code).map(|&i| &t.rows[i as usize])
}

/// The current comune with this Belfiore code (case-insensitive).
pub fn comune_by_belfiore(code: &str) -> Option<&'static Comune> {
    let mut buf = [0u8; 4];
    let code = upper(code, &mut buf)?;
    let t = &*COMUNI;
    t.by_belfiore.get(code).map(|&i| &t.rows[i as usize])
}

// ------------------------------------------------------ historical Belfiore

/// One validity period of a Belfiore code of a comune (ANPR archive). A code
/// has several rows when the comune changed name or province, or was
/// suppressed and re-established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BelfioreComune {
    pub code: &'static str,
    pub name: &'static str,
    pub province: &'static str,
    /// First day of validity (`None`: unknown, treated as always).
    pub valid_from: Option<Date>,
    /// Last day of validity, inclusive (`None`: still valid).
    pub valid_to: Option<Date>,
    pub active: bool,
}

impl BelfioreComune {
    pub fn valid_on(&self, d: Date) -> bool {
        overlaps(self.valid_from, self.valid_to, d, d)
    }
    pub fn valid_in_year(&self, year: i32) -> bool {
        let (a, b) = year_bounds(year);
        overlaps(self.valid_from, self.valid_to, a, b)
    }
}

struct Belfiori {
    rows: Vec<BelfioreComune>,
    /// Code → (start, end) in `rows`, which is grouped by code.
    by_code: Map<(u32, u32)>,
    distinct: usize,
}

static BELFIORI: LazyLock<Belfiori> = LazyLock::new(|| {
    let mut rows = Vec::with_capacity(20_000);
    for f in csv::records::<6>(BELFIORE_COMUNI, "belfiore-comuni-storici.csv") {
        // The ANPR archive has rows without a code ("ND"): unusable here.
        if f[0].len() != 4 {
            continue;
        }
        rows.push(BelfioreComune {
            code: f[0],
            name: f[1],
            province: f[2],
            valid_from: opt_date(f[3], "belfiore-comuni-storici.csv"),
            valid_to: opt_date(f[4], "belfiore-comuni-storici.csv"),
            active: f[5] == "1",
        });
    }
    rows.sort_by(|a, b| a.code.cmp(b.code).then(a.valid_from.cmp(&b.valid_from)));
    let mut by_code = Map::default();
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || rows[i].code != rows[start].code {
            by_code.insert(rows[start].code, (start as u32, i as u32));
            start = i;
        }
    }
    let distinct = by_code.len();
    Belfiori {
        rows,
        by_code,
        distinct,
    }
});

/// All validity periods of a comune's Belfiore code, oldest first; empty if
/// unknown (foreign states are in [`stato_estero`]). Case-insensitive.
pub fn belfiore_comune(code: &str) -> &'static [BelfioreComune] {
    let mut buf = [0u8; 4];
    let Some(code) = upper(code, &mut buf) else {
        return &[];
    };
    let t = &*BELFIORI;
    match t.by_code.get(code) {
        Some(&(a, b)) => &t.rows[a as usize..b as usize],
        None => &[],
    }
}

/// The comune's Belfiore code was in force on that day.
pub fn belfiore_valid_on(code: &str, d: Date) -> bool {
    belfiore_comune(code).iter().any(|r| r.valid_on(d))
}

/// The comune's Belfiore code was in force on at least one day of that year.
pub fn belfiore_valid_in_year(code: &str, year: i32) -> bool {
    belfiore_comune(code).iter().any(|r| r.valid_in_year(year))
}

// ------------------------------------------------------------ foreign states

/// A foreign state with its Belfiore Z-code (ANPR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatoEstero {
    pub code: &'static str,
    pub name: &'static str,
    /// May be empty in the source.
    pub name_en: &'static str,
    pub valid_from: Option<Date>,
    /// Inclusive; `None` if still existing.
    pub valid_to: Option<Date>,
    pub active: bool,
}

impl StatoEstero {
    pub fn valid_in_year(&self, year: i32) -> bool {
        let (a, b) = year_bounds(year);
        overlaps(self.valid_from, self.valid_to, a, b)
    }
}

struct Stati {
    rows: Vec<StatoEstero>,
    by_code: Map<u32>,
}

static STATI: LazyLock<Stati> = LazyLock::new(|| {
    let rows: Vec<StatoEstero> = csv::records::<6>(STATI_ESTERI, "belfiore-stati-esteri.csv")
        .map(|f| StatoEstero {
            code: f[0],
            name: f[1],
            name_en: f[2],
            valid_from: opt_date(f[3], "belfiore-stati-esteri.csv"),
            valid_to: opt_date(f[4], "belfiore-stati-esteri.csv"),
            active: f[5] == "1",
        })
        .collect();
    let by_code = rows
        .iter()
        .enumerate()
        .map(|(i, s)| (s.code, i as u32))
        .collect();
    Stati { rows, by_code }
});

/// The foreign state with this Z-code (case-insensitive).
pub fn stato_estero(code: &str) -> Option<&'static StatoEstero> {
    let mut buf = [0u8; 4];
    let code = upper(code, &mut buf)?;
    let t = &*STATI;
    t.by_code.get(code).map(|&i| &t.rows[i as usize])
}

pub fn stato_estero_valid_in_year(code: &str, year: i32) -> bool {
    stato_estero(code).is_some_and(|s| s.valid_in_year(year))
}

/// Outcome of checking a birthplace (Belfiore code) against the birth year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuogoCheck {
    /// A comune whose code was in force in that year.
    Comune,
    /// A foreign state. `valid_in_year` is reported apart because codes of
    /// today's states are commonly used for births before they existed.
    StatoEstero { valid_in_year: bool },
    /// A known comune code, but not in force in that year.
    NotValidInYear,
    /// Not a known comune or foreign state code.
    Unknown,
}

pub fn luogo_nascita_valid(code: &str, year: i32) -> LuogoCheck {
    let rows = belfiore_comune(code);
    if !rows.is_empty() {
        return if rows.iter().any(|r| r.valid_in_year(year)) {
            LuogoCheck::Comune
        } else {
            LuogoCheck::NotValidInYear
        };
    }
    match stato_estero(code) {
        Some(s) => LuogoCheck::StatoEstero {
            valid_in_year: s.valid_in_year(year),
        },
        None => LuogoCheck::Unknown,
    }
}

// ------------------------------------------------------------ DM 1986 regions

/// A region in the "codifica DM 1986" used by `CodiceRegione` in the flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regione {
    /// 01 Abruzzo … 21 Veneto; 03 Bolzano and 18 Trento are separate.
    pub code: &'static str,
    pub name: &'static str,
    /// ISTAT region code (04 for both Bolzano and Trento).
    pub region_istat: &'static str,
}

struct Regioni {
    rows: Vec<Regione>,
    by_code: Map<u32>,
    /// ISTAT region → DM 1986 code, for every region but 04.
    by_istat: Map<&'static str>,
}

static REGIONI: LazyLock<Regioni> = LazyLock::new(|| {
    let rows: Vec<Regione> = csv::records::<3>(REGIONI_DM1986, "regioni-dm1986.csv")
        .map(|f| Regione {
            code: f[0],
            name: f[1],
            region_istat: f[2],
        })
        .collect();
    let by_code = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.code, i as u32))
        .collect();
    let by_istat = rows
        .iter()
        .filter(|r| r.region_istat != "04")
        .map(|r| (r.region_istat, r.code))
        .collect();
    Regioni {
        rows,
        by_code,
        by_istat,
    }
});

pub fn regione_dm1986(code: &str) -> Option<&'static Regione> {
    let t = &*REGIONI;
    t.by_code.get(code).map(|&i| &t.rows[i as usize])
}

/// The DM 1986 region code a comune belongs to. Trentino-Alto Adige (ISTAT
/// 04) splits by province: BZ → 03, otherwise (TN) → 18.
pub fn regione_dm1986_for_comune(c: &Comune) -> &'static str {
    if c.region_istat == "04" {
        return if c.province == "BZ" { "03" } else { "18" };
    }
    REGIONI.by_istat.get(c.region_istat).copied().unwrap_or("")
}

// ------------------------------------------------------------ benefit codes

/// A benefit code (*tabella dei codici delle prestazioni*), DOMAIN.md §4.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prestazione {
    pub code: &'static str,
    pub name: &'static str,
    /// A1, A2, A3.
    pub section: &'static str,
    /// `confermato`, `secondario`, `campione INPS`, `dedotto`.
    pub confidence: &'static str,
    pub note: &'static str,
    pub valid_from: Option<Date>,
    /// Inclusive.
    pub valid_to: Option<Date>,
    /// To be transmitted only together with a presa in carico (A2.16–A2.29).
    pub solo_presa_in_carico: bool,
}

impl Prestazione {
    pub fn valid_on(&self, d: Date) -> bool {
        overlaps(self.valid_from, self.valid_to, d, d)
    }
}

struct Prestazioni {
    rows: Vec<Prestazione>,
    by_code: Map<u32>,
}

static PRESTAZIONI_T: LazyLock<Prestazioni> = LazyLock::new(|| {
    let rows: Vec<Prestazione> = csv::records::<8>(PRESTAZIONI, "prestazioni.csv")
        .map(|f| Prestazione {
            code: f[0],
            name: f[1],
            section: f[2],
            confidence: f[3],
            note: f[4],
            valid_from: opt_date(f[5], "prestazioni.csv"),
            valid_to: opt_date(f[6], "prestazioni.csv"),
            solo_presa_in_carico: f[7] == "1",
        })
        .collect();
    let by_code = rows
        .iter()
        .enumerate()
        .map(|(i, p)| (p.code, i as u32))
        .collect();
    Prestazioni { rows, by_code }
});

pub fn prestazione(code: &str) -> Option<&'static Prestazione> {
    let t = &*PRESTAZIONI_T;
    t.by_code.get(code).map(|&i| &t.rows[i as usize])
}

/// All benefit codes, in code order.
pub fn all_prestazioni() -> &'static [Prestazione] {
    &PRESTAZIONI_T.rows
}

// ------------------------------------------------------------ ISO 3166-1

/// An ISO 3166-1 country, or `990` (non disponibile), as used by the
/// citizenship and nation fields of the flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paese {
    /// 3-digit numeric code, e.g. `380`.
    pub numeric: &'static str,
    /// Empty for 990.
    pub alpha2: &'static str,
    pub alpha3: &'static str,
    pub name: &'static str,
    pub name_en: &'static str,
}

struct Paesi {
    rows: Vec<Paese>,
    by_code: Map<u32>,
}

static PAESI: LazyLock<Paesi> = LazyLock::new(|| {
    let rows: Vec<Paese> = csv::records::<5>(ISO3166, "iso3166-numerico.csv")
        .map(|f| Paese {
            numeric: f[0],
            alpha2: f[1],
            alpha3: f[2],
            name: f[3],
            name_en: f[4],
        })
        .collect();
    let by_code = rows
        .iter()
        .enumerate()
        .map(|(i, p)| (p.numeric, i as u32))
        .collect();
    Paesi { rows, by_code }
});

/// The country with this 3-digit numeric code (`990` = non disponibile).
pub fn paese_iso(code: &str) -> Option<&'static Paese> {
    let t = &*PAESI;
    t.by_code.get(code).map(|&i| &t.rows[i as usize])
}

// ------------------------------------------------------------ diagnostics

/// Sizes of the loaded tables, for a diagnostics line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub comuni: usize,
    /// Distinct Belfiore codes of comuni (current and ceased).
    pub belfiore: usize,
    /// Validity periods behind those codes.
    pub belfiore_periods: usize,
    pub stati: usize,
    pub prestazioni: usize,
    pub paesi: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tabelle di riferimento: {} comuni, {} codici Belfiore ({} periodi), {} stati esteri, {} prestazioni, {} paesi ISO 3166",
            self.comuni,
            self.belfiore,
            self.belfiore_periods,
            self.stati,
            self.prestazioni,
            self.paesi
        )
    }
}

/// Loads every table (if not yet loaded) and returns their sizes.
pub fn counts() -> Counts {
    Counts {
        comuni: COMUNI.rows.len(),
        belfiore: BELFIORI.distinct,
        belfiore_periods: BELFIORI.rows.len(),
        stati: STATI.rows.len(),
        prestazioni: PRESTAZIONI_T.rows.len(),
        paesi: PAESI.rows.len(),
    }
}
