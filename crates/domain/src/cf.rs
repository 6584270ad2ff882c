//! Codice fiscale: validation, decoding, consistency with the Anagrafica and
//! generation (for synthetic data). DOMAIN.md §7.
//!
//! Validation is allocation-free because it runs once per record on flows of
//! millions of records; only generation and error reporting allocate.
//!
//! Positions in errors are 1-based, as an operator counts characters.

use crate::date::Date;
use std::fmt;
use thiserror::Error;

/// Month letters, January first.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Omocodia letters standing for the digits 0..=9.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
/// 0-based positions that may carry omocodia letters, rightmost first (the
/// order in which the Agenzia delle Entrate substitutes them).
const OMOCODE_POSITIONS: [usize; 7] = [14, 13, 12, 10, 9, 7, 6];
/// Value of `0..=9` / `A..=Z` at odd (1-based) positions; digits share the
/// values of `A..=J`.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// A syntactically valid codice fiscale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cf {
    /// 16-character code of a natural person.
    Personal(PersonalCf),
    /// 11-digit numeric code (legal entities, provisional codes of persons).
    Numeric([u8; 11]),
}

impl Cf {
    /// The normalised code (uppercase, no padding).
    pub fn as_str(&self) -> &str {
        match self {
            Cf::Personal(p) => p.as_str(),
            Cf::Numeric(n) => ascii_str(n),
        }
    }
}

impl fmt::Display for Cf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid 16-character codice fiscale, stored uppercase, with its decoded
/// birth data (after omocodia substitution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonalCf {
    raw: [u8; 16],
    year2: u8,
    month: u8,
    /// Day as encoded: 1..=31, or 41..=71 for women.
    day_code: u8,
    belfiore: [u8; 4],
    omocode: bool,
}

impl PersonalCf {
    /// The code as written (uppercase, omocodia letters kept).
    pub fn as_str(&self) -> &str {
        ascii_str(&self.raw)
    }
    /// Last two digits of the birth year.
    pub fn year2(&self) -> u8 {
        self.year2
    }
    /// Birth month, 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day of the month, 1..=31 (the +40 for women removed).
    pub fn day(&self) -> u8 {
        if self.day_code > 40 {
            self.day_code - 40
        } else {
            self.day_code
        }
    }
    pub fn is_female(&self) -> bool {
        self.day_code > 40
    }
    /// Belfiore code of the birthplace, omocodia decoded (e.g. `H501`).
    pub fn belfiore(&self) -> &str {
        ascii_str(&self.belfiore)
    }
    pub fn belfiore_bytes(&self) -> [u8; 4] {
        self.belfiore
    }
    /// True when at least one digit was replaced by an omocodia letter.
    pub fn is_omocode(&self) -> bool {
        self.omocode
    }

    /// Differences between the data encoded in the CF and the beneficiary's
    /// Anagrafica. Empty when consistent. `luogo_nascita` is a Belfiore code,
    /// compared case-insensitively and ignoring surrounding spaces.
    pub fn mismatches(
        &self,
        anno_nascita: u16,
        female: bool,
        luogo_nascita: &str,
    ) -> Vec<CfMismatch> {
        let mut out = Vec::new();
        if anno_nascita % 100 != u16::from(self.year2) {
            out.push(CfMismatch::Year {
                cf_year2: self.year2,
                anno_nascita,
            });
        }
        if female != self.is_female() {
            out.push(CfMismatch::Sex {
                cf_female: self.is_female(),
            });
        }
        let luogo = luogo_nascita.trim();
        if !luogo.eq_ignore_ascii_case(self.belfiore()) {
            out.push(CfMismatch::Birthplace {
                cf: self.belfiore,
                luogo_nascita: luogo.to_ascii_uppercase(),
            });
        }
        out
    }
}

impl fmt::Display for PersonalCf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A difference between the CF and the Anagrafica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfMismatch {
    Year { cf_year2: u8, anno_nascita: u16 },
    Sex { cf_female: bool },
    Birthplace { cf: [u8; 4], luogo_nascita: String },
}

impl CfMismatch {
    /// Explanation for an operator, in Italian.
    pub fn message(&self) -> String {
        match self {
            CfMismatch::Year {
                cf_year2,
                anno_nascita,
            } => format!(
                "L'anno di nascita {anno_nascita} non corrisponde al codice fiscale, che indica un anno che termina per {cf_year2:02}"
            ),
            CfMismatch::Sex { cf_female } => {
                let (cf, an) = if *cf_female {
                    ("femminile", "maschile")
                } else {
                    ("maschile", "femminile")
                };
                format!(
                    "Il sesso indicato ({an}) non corrisponde al codice fiscale, che indica sesso {cf}"
                )
            }
            CfMismatch::Birthplace { cf, luogo_nascita } => format!(
                "Il luogo di nascita {luogo_nascita} non corrisponde al codice fiscale, che indica {}",
                ascii_str(cf)
            ),
        }
    }
}

impl fmt::Display for CfMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// Why a codice fiscale is invalid. `Display` gives the Italian message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CfError {
    #[error(
        "Il codice fiscale deve avere 16 caratteri (persona fisica) oppure 11 cifre (codice numerico)"
    )]
    Length,
    #[error("Il codice fiscale contiene un carattere non ammesso in posizione {pos}")]
    BadChar { pos: usize },
    #[error("Il mese di nascita nel codice fiscale (nona posizione) non è valido")]
    BadMonth,
    #[error(
        "Il giorno di nascita nel codice fiscale (posizioni 10-11) non è valido: deve essere tra 01 e 31, oppure tra 41 e 71 per le donne"
    )]
    BadDay,
    #[error(
        "Il carattere di controllo del codice fiscale è errato: atteso {expected}, trovato {found}"
    )]
    CheckChar { expected: char, found: char },
    #[error(
        "La cifra di controllo del codice fiscale numerico è errata: attesa {expected}, trovata {found}"
    )]
    NumericCheckDigit { expected: char, found: char },
}

impl CfError {
    /// Explanation for an operator, in Italian.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Uppercases letters and drops the trailing spaces the XSD allows after an
/// 11-digit code (`\d{11} {0,5}`). Anything else is left as it is.
pub fn normalize(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() > 11 && b[..11].iter().all(u8::is_ascii_digit) && b[11..].iter().all(|&c| c == b' ')
    {
        return s[..11].to_owned();
    }
    s.to_ascii_uppercase()
}

/// Validates a raw attribute value: letters in any case; trailing spaces only
/// after an 11-digit code.
pub fn check(s: &str) -> Result<Cf, CfError> {
    let b = s.as_bytes();
    let numeric_prefix = b.len() >= 11 && b[..11].iter().all(u8::is_ascii_digit);
    if numeric_prefix && b.len() <= 16 {
        if let Some(i) = b[11..].iter().position(|&c| c != b' ') {
            return Err(CfError::BadChar { pos: 12 + i });
        }
        let mut n = [0u8; 11];
        n.copy_from_slice(&b[..11]);
        let expected = luhn_digit(&n[..10]);
        if n[10] != expected {
            return Err(CfError::NumericCheckDigit {
                expected: char::from(expected),
                found: char::from(n[10]),
            });
        }
        return Ok(Cf::Numeric(n));
    }
    if b.len() != 16 {
        return Err(CfError::Length);
    }
    let mut raw = [0u8; 16];
    for (i, (&c, r)) in b.iter().zip(raw.iter_mut()).enumerate() {
        let c = c.to_ascii_uppercase();
        let ok = match i {
            0..=5 | 8 | 11 | 15 => c.is_ascii_uppercase(),
            _ => c.is_ascii_digit() || OMOCODIA.contains(&c),
        };
        if !ok {
            return Err(CfError::BadChar { pos: i + 1 });
        }
        *r = c;
    }
    let digit = |i: usize| -> u8 {
        let c = raw[i];
        if c.is_ascii_digit() {
            c - b'0'
        } else {
            // Validated above: an omocodia letter.
            OMOCODIA.iter().position(|&o| o == c).map_or(0, |p| p as u8)
        }
    };
    let omocode = OMOCODE_POSITIONS
        .iter()
        .any(|&i| raw[i].is_ascii_uppercase());
    let month = match MONTHS.iter().position(|&m| m == raw[8]) {
        Some(p) => p as u8 + 1,
        None => return Err(CfError::BadMonth),
    };
    let day_code = digit(9) * 10 + digit(10);
    if !matches!(day_code, 1..=31 | 41..=71) {
        return Err(CfError::BadDay);
    }
    let mut first15 = [0u8; 15];
    first15.copy_from_slice(&raw[..15]);
    let expected = compute_check_char(&first15);
    if raw[15] != expected {
        return Err(CfError::CheckChar {
            expected: char::from(expected),
            found: char::from(raw[15]),
        });
    }
    Ok(Cf::Personal(PersonalCf {
        raw,
        year2: digit(6) * 10 + digit(7),
        month,
        day_code,
        belfiore: [
            raw[11],
            b'0' + digit(12),
            b'0' + digit(13),
            b'0' + digit(14),
        ],
        omocode,
    }))
}

/// Check character (CIN) of the first 15 characters, DOMAIN.md §7.1. Letters
/// in either case; any other byte counts as `0`/`A` (callers validate first).
pub fn compute_check_char(first15: &[u8; 15]) -> u8 {
    let mut sum = 0u32;
    for (i, &c) in first15.iter().enumerate() {
        let c = c.to_ascii_uppercase();
        let v = if c.is_ascii_digit() {
            c - b'0'
        } else if c.is_ascii_uppercase() {
            c - b'A'
        } else {
            0
        };
        // i is 0-based, so even i is an odd (1-based) position.
        sum += u32::from(if i % 2 == 0 {
            ODD_VALUES[usize::from(v)]
        } else {
            v
        });
    }
    b'A' + (sum % 26) as u8
}

/// Luhn check digit of a numeric code's first 10 digits (DOMAIN.md §7.2).
fn luhn_digit(first10: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &c) in first10.iter().enumerate() {
        let d = u32::from(c.wrapping_sub(b'0') % 10);
        sum += if i % 2 == 0 {
            d
        } else {
            let d2 = d * 2;
            if d2 > 9 { d2 - 9 } else { d2 }
        };
    }
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// Appends the check digit to the first 10 digits of a numeric code. The
/// input is expected to be 10 ASCII digits (non-digits are reduced mod 10).
pub fn compute_numeric(first10: &str) -> String {
    let mut s = String::with_capacity(11);
    s.push_str(first10);
    s.push(char::from(luhn_digit(first10.as_bytes())));
    s
}

/// Builds the personal CF of a person (DOMAIN.md §7.1). `belfiore` is the
/// 4-character code of the birthplace. Accents are stripped and non-letters
/// ignored in names, as the Agenzia delle Entrate does.
pub fn compute(cognome: &str, nome: &str, birth: Date, female: bool, belfiore: &str) -> String {
    let mut s = String::with_capacity(16);
    let (cons, vows) = split_letters(cognome);
    push_name_part(&mut s, &cons, &vows, false);
    let (cons, vows) = split_letters(nome);
    push_name_part(&mut s, &cons, &vows, true);
    let y = birth.year.rem_euclid(100);
    s.push(char::from(b'0' + (y / 10) as u8));
    s.push(char::from(b'0' + (y % 10) as u8));
    s.push(char::from(
        MONTHS[usize::from(birth.month.clamp(1, 12) - 1)],
    ));
    let day = birth.day + if female { 40 } else { 0 };
    s.push(char::from(b'0' + day / 10));
    s.push(char::from(b'0' + day % 10));
    s.push_str(&belfiore.to_ascii_uppercase());
    let mut first15 = [b'X'; 15];
    for (d, c) in first15.iter_mut().zip(s.bytes()) {
        *d = c;
    }
    s.push(char::from(compute_check_char(&first15)));
    s
}

/// Omocodic variant of a personal CF: the `level` rightmost substitutable
/// digits (positions 15, 14, 13, 11, 10, 8, 7) become omocodia letters and the
/// check character is recomputed. Level is capped at 7; a string that is not
/// 16 characters long is returned uppercased and otherwise unchanged.
pub fn omocode_variant(cf: &str, level: u8) -> String {
    let mut b: Vec<u8> = cf.bytes().map(|c| c.to_ascii_uppercase()).collect();
    if b.len() != 16 {
        return cf.to_ascii_uppercase();
    }
    for &i in OMOCODE_POSITIONS.iter().take(usize::from(level.min(7))) {
        if b[i].is_ascii_digit() {
            b[i] = OMOCODIA[usize::from(b[i] - b'0')];
        }
    }
    let mut first15 = [0u8; 15];
    first15.copy_from_slice(&b[..15]);
    b[15] = compute_check_char(&first15);
    b.into_iter().map(char::from).collect()
}

/// Consonants and vowels of a name, uppercase, accents stripped.
fn split_letters(name: &str) -> (Vec<u8>, Vec<u8>) {
    let mut cons = Vec::new();
    let mut vows = Vec::new();
    for c in name.chars() {
        let Some(l) = base_letter(c) else { continue };
        if matches!(l, b'A' | b'E' | b'I' | b'O' | b'U') {
            vows.push(l);
        } else {
            cons.push(l);
        }
    }
    (cons, vows)
}

fn push_name_part(s: &mut String, cons: &[u8], vows: &[u8], first_name: bool) {
    if first_name && cons.len() >= 4 {
        for &i in &[0, 2, 3] {
            s.push(char::from(cons[i]));
        }
        return;
    }
    cons.iter()
        .chain(vows)
        .chain(b"XXX")
        .take(3)
        .for_each(|&c| s.push(char::from(c)));
}

/// Uppercase ASCII letter for a letter, accents stripped; `None` for anything
/// else (spaces, apostrophes, hyphens, digits).
fn base_letter(c: char) -> Option<u8> {
    if c.is_ascii_alphabetic() {
        return Some(c.to_ascii_uppercase() as u8);
    }
    let l = match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => b'A',
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => b'C',
        'ď' | 'đ' => b'D',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => b'E',
        'ğ' | 'ģ' => b'G',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => b'I',
        'ķ' => b'K',
        'ł' | 'ľ' | 'ļ' | 'ĺ' => b'L',
        'ñ' | 'ń' | 'ň' | 'ņ' => b'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => b'O',
        'ř' | 'ŕ' => b'R',
        'ś' | 'š' | 'ş' | 'ș' | 'ß' => b'S',
        'ť' | 'ţ' | 'ț' => b'T',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => b'U',
        'ý' | 'ÿ' => b'Y',
        'ź' | 'ż' | 'ž' => b'Z',
        _ => return None,
    };
    Some(l)
}

/// The codes are ASCII by construction, so this never falls back.
fn ascii_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known() {
        // Partita IVA of the Agenzia delle Entrate (06363391001).
        assert_eq!(compute_numeric("0636339100"), "06363391001");
    }

    #[test]
    fn name_rules() {
        let d = Date {
            year: 1966,
            month: 3,
            day: 14,
        };
        assert!(compute("Rossi", "Mario", d, false, "H501").starts_with("RSSMRA"));
        // Four or more consonants: 1st, 3rd and 4th.
        assert!(compute("Rossi", "Francesco", d, false, "H501").starts_with("RSSFNC"));
        assert!(compute("Fo", "Al", d, false, "H501").starts_with("FOXLAX"));
        assert!(compute("D'Àlema", "Nicolò", d, false, "H501").starts_with("DLMNCL"));
    }
}
