//! Simple types and facets of the two XSDs, checked exactly as libxml2
//! (`xmllint --schema`, the reference INPS and the enti use) checks them.
//!
//! Deviations of libxml2 2.9 from the letter of XSD 1.0 that we reproduce on
//! purpose, because the differential test holds us to xmllint's verdicts:
//! - `xs:decimal` accepts at most 24 digits once leading zeros of the integer
//!   part are dropped (trailing fractional zeros count); surrounding
//!   whitespace is collapsed;
//! - `xs:date` and `xs:int` get no whitespace collapsing in attributes;
//! - `\d` in patterns is the Unicode 4.0 `Nd` category (plus Ethiopic digits).

use crate::codes::CodeTable;
use crate::date::days_in_month;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The simple type of an attribute or of a text-only element.
#[derive(Debug, Clone, Copy)]
pub enum SimpleType {
    /// `xs:string` with length facets, in characters.
    Str { min: usize, max: usize },
    /// `xs:string` with `pattern="([0-9]{n})"`.
    Digits(usize),
    /// The codice fiscale pattern
    /// `([A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z][A-Za-z0-9]{3}[A-Za-z])|(\d{11} {0,5})`.
    CodiceFiscale,
    /// SINBA `DataMeseAnnoType`: `((0[1-9])|(1[0-2]))[/](19|20)[0-9]{2}`.
    MeseAnno,
    /// `xs:string` enumeration.
    Enum(&'static CodeTable),
    /// `xs:date`.
    Date,
    /// `xs:decimal`.
    Decimal,
    /// `xs:int` with optional inclusive bounds.
    Int { min: Option<i32>, max: Option<i32> },
}

/// Why a lexical value does not belong to its simple type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FacetError {
    #[error("lunghezza {len} caratteri: deve essere tra {min} e {max}")]
    Length { len: usize, min: usize, max: usize },
    #[error("formato non valido: {expected}")]
    Pattern { expected: &'static str },
    #[error("valore non previsto: ammessi {allowed}")]
    Enumeration { allowed: String },
    #[error("data non valida: usare il formato AAAA-MM-GG con una data esistente")]
    Date,
    #[error(
        "numero decimale non valido: usare cifre e il punto come separatore (es. 101.23), al massimo 24 cifre"
    )]
    Decimal,
    #[error("numero intero non valido")]
    Int,
    #[error("valore {value} fuori dall'intervallo ammesso ({range})")]
    Range { value: i64, range: String },
}

impl SimpleType {
    /// A short Italian description of the expected format, for messages and forms.
    pub fn describe(&self) -> String {
        match self {
            SimpleType::Str { min, max } if min == max => format!("testo di {min} caratteri"),
            SimpleType::Str { min, max } => format!("testo da {min} a {max} caratteri"),
            SimpleType::Digits(n) => format!("{n} cifre"),
            SimpleType::CodiceFiscale => "codice fiscale di 16 caratteri o 11 cifre".to_string(),
            SimpleType::MeseAnno => "mese e anno nel formato MM/AAAA".to_string(),
            SimpleType::Enum(t) => format!(
                "uno dei codici {}",
                t.entries
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            SimpleType::Date => "data AAAA-MM-GG".to_string(),
            SimpleType::Decimal => "numero decimale con il punto (es. 101.23)".to_string(),
            SimpleType::Int { min, max } => match (min, max) {
                (Some(a), Some(b)) => format!("numero intero da {a} a {b}"),
                (None, Some(b)) => format!("numero intero fino a {b}"),
                (Some(a), None) => format!("numero intero da {a}"),
                (None, None) => "numero intero".to_string(),
            },
        }
    }

    /// Checks a lexical value (attribute value after XML attribute-value
    /// normalisation, or element text).
    pub fn check(&self, raw: &str) -> Result<(), FacetError> {
        match *self {
            SimpleType::Str { min, max } => check_len(raw, min, max),
            SimpleType::Digits(n) => {
                if raw.len() == n && raw.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(FacetError::Pattern {
                        expected: digits_desc(n),
                    })
                }
            }
            SimpleType::CodiceFiscale => {
                if cf_pattern(raw) {
                    Ok(())
                } else {
                    Err(FacetError::Pattern {
                        expected: "16 caratteri alfanumerici (codice fiscale personale) oppure 11 cifre",
                    })
                }
            }
            SimpleType::MeseAnno => MeseAnno::parse(raw).map(|_| ()),
            SimpleType::Enum(t) => {
                if t.contains(raw) {
                    Ok(())
                } else {
                    Err(FacetError::Enumeration {
                        allowed: t
                            .entries
                            .iter()
                            .map(|(c, _)| *c)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
            SimpleType::Date => XsDate::parse(raw).map(|_| ()),
            SimpleType::Decimal => XsDecimal::parse(raw).map(|_| ()),
            SimpleType::Int { min, max } => parse_int(raw, min, max).map(|_| ()),
        }
    }
}

fn digits_desc(n: usize) -> &'static str {
    match n {
        2 => "2 cifre",
        3 => "3 cifre",
        4 => "4 cifre",
        6 => "6 cifre",
        _ => "cifre",
    }
}

fn check_len(raw: &str, min: usize, max: usize) -> Result<(), FacetError> {
    // Fast path: byte length bounds the character count from above.
    let len = if raw.is_ascii() {
        raw.len()
    } else {
        raw.chars().count()
    };
    if len < min || len > max {
        Err(FacetError::Length { len, min, max })
    } else {
        Ok(())
    }
}

/// `\d` as libxml2 2.9 understands it: Unicode 4.0 decimal digits (and the
/// Ethiopic digits, `No` today but accepted by libxml2).
pub fn is_xsd_digit(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x0030, 0x0039),
        (0x0660, 0x0669),
        (0x06F0, 0x06F9),
        (0x0966, 0x096F),
        (0x09E6, 0x09EF),
        (0x0A66, 0x0A6F),
        (0x0AE6, 0x0AEF),
        (0x0B66, 0x0B6F),
        (0x0BE7, 0x0BEF),
        (0x0C66, 0x0C6F),
        (0x0CE6, 0x0CEF),
        (0x0D66, 0x0D6F),
        (0x0E50, 0x0E59),
        (0x0ED0, 0x0ED9),
        (0x0F20, 0x0F29),
        (0x1040, 0x1049),
        (0x1369, 0x1371),
        (0x17E0, 0x17E9),
        (0x1810, 0x1819),
        (0x1946, 0x194F),
        (0xFF10, 0xFF19),
        (0x104A0, 0x104A9),
        (0x1D7CE, 0x1D7FF),
    ];
    let u = c as u32;
    if u < 0x80 {
        return c.is_ascii_digit();
    }
    RANGES.iter().any(|&(a, b)| a <= u && u <= b)
}

fn cf_pattern(raw: &str) -> bool {
    let b = raw.as_bytes();
    // Personal branch, ASCII fast path.
    if b.len() == 16 && raw.is_ascii() && b[0].is_ascii_alphabetic() {
        return b[..6].iter().all(u8::is_ascii_alphabetic)
            && b[6..8].iter().all(u8::is_ascii_digit)
            && b[8].is_ascii_alphabetic()
            && b[9..11].iter().all(u8::is_ascii_digit)
            && b[11].is_ascii_alphabetic()
            && b[12..15].iter().all(u8::is_ascii_alphanumeric)
            && b[15].is_ascii_alphabetic();
    }
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() == 16 {
        let alpha = |c: char| c.is_ascii_alphabetic();
        let personal = chars[..6].iter().all(|&c| alpha(c))
            && chars[6..8].iter().all(|&c| is_xsd_digit(c))
            && alpha(chars[8])
            && chars[9..11].iter().all(|&c| is_xsd_digit(c))
            && alpha(chars[11])
            && chars[12..15].iter().all(|&c| c.is_ascii_alphanumeric())
            && alpha(chars[15]);
        if personal {
            return true;
        }
    }
    // Numeric branch: 11 digits then 0..=5 spaces.
    let digits = chars.iter().take_while(|&&c| is_xsd_digit(c)).count();
    digits == 11 && chars.len() <= 16 && chars[11..].iter().all(|&c| c == ' ')
}

fn parse_int(raw: &str, min: Option<i32>, max: Option<i32>) -> Result<i32, FacetError> {
    let b = raw.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(FacetError::Int);
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v * 10 + i64::from(d - b'0');
        if v > i64::from(i32::MAX) + 1 {
            return Err(FacetError::Int);
        }
    }
    if neg {
        v = -v;
    }
    let v = i32::try_from(v).map_err(|_| FacetError::Int)?;
    let range = || match (min, max) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        (None, Some(b)) => format!("fino a {b}"),
        (Some(a), None) => format!("da {a}"),
        (None, None) => String::new(),
    };
    if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
        return Err(FacetError::Range {
            value: i64::from(v),
            range: range(),
        });
    }
    Ok(v)
}

/// Parses an `xs:int` with the given bounds.
pub fn parse_xs_int(raw: &str, min: Option<i32>, max: Option<i32>) -> Result<i32, FacetError> {
    parse_int(raw, min, max)
}

/// An `xs:date` value, timezone kept so that it is written back as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XsDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    /// Offset in minutes; `Some(0)` for `Z`.
    pub tz_minutes: Option<i16>,
    /// Whether the offset was written `Z` (vs `+00:00`).
    pub tz_z: bool,
}

impl XsDate {
    pub fn from_date(d: crate::Date) -> XsDate {
        XsDate {
            year: d.year,
            month: d.month,
            day: d.day,
            tz_minutes: None,
            tz_z: false,
        }
    }

    /// The calendar date, timezone ignored.
    pub fn date(&self) -> crate::Date {
        crate::Date {
            year: self.year,
            month: self.month,
            day: self.day,
        }
    }

    pub fn parse(raw: &str) -> Result<XsDate, FacetError> {
        let b = raw.as_bytes();
        let mut i = 0;
        let neg = b.first() == Some(&b'-');
        if neg {
            i = 1;
        }
        let ystart = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let ylen = i - ystart;
        if ylen < 4 || (ylen > 4 && b[ystart] == b'0') || ylen > 9 {
            return Err(FacetError::Date);
        }
        let mut year: i64 = 0;
        for &d in &b[ystart..i] {
            year = year * 10 + i64::from(d - b'0');
        }
        if year == 0 {
            return Err(FacetError::Date);
        }
        let rest = &b[i..];
        if rest.len() < 6 || rest[0] != b'-' || rest[3] != b'-' {
            return Err(FacetError::Date);
        }
        let two = |x: &[u8]| -> Option<u8> {
            if x.len() == 2 && x[0].is_ascii_digit() && x[1].is_ascii_digit() {
                Some((x[0] - b'0') * 10 + (x[1] - b'0'))
            } else {
                None
            }
        };
        let month = two(&rest[1..3]).ok_or(FacetError::Date)?;
        let day = two(&rest[4..6]).ok_or(FacetError::Date)?;
        let year = i32::try_from(if neg { -year } else { year }).map_err(|_| FacetError::Date)?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(FacetError::Date);
        }
        let tz = &rest[6..];
        let (tz_minutes, tz_z) = match tz {
            [] => (None, false),
            [b'Z'] => (Some(0), true),
            [s @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let h = two(&[*h1, *h2]).ok_or(FacetError::Date)?;
                let m = two(&[*m1, *m2]).ok_or(FacetError::Date)?;
                if m > 59 || h > 14 || (h == 14 && m > 0) {
                    return Err(FacetError::Date);
                }
                let total = i16::from(h) * 60 + i16::from(m);
                (Some(if *s == b'-' { -total } else { total }), false)
            }
            _ => return Err(FacetError::Date),
        };
        Ok(XsDate {
            year,
            month,
            day,
            tz_minutes,
            tz_z,
        })
    }
}

impl XsDate {
    /// Appends the lexical form to `out` (the hot path of payload encoding:
    /// no formatter machinery for the common 4-digit-year date).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if (1000..=9999).contains(&self.year) && self.tz_minutes.is_none() {
            let y = self.year as u32;
            out.extend_from_slice(&[
                b'0' + (y / 1000) as u8,
                b'0' + (y / 100 % 10) as u8,
                b'0' + (y / 10 % 10) as u8,
                b'0' + (y % 10) as u8,
                b'-',
                b'0' + self.month / 10,
                b'0' + self.month % 10,
                b'-',
                b'0' + self.day / 10,
                b'0' + self.day % 10,
            ]);
        } else {
            use std::io::Write;
            let _ = write!(out, "{self}");
        }
    }
}

impl fmt::Display for XsDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.year < 0 {
            write!(f, "-{:04}", -i64::from(self.year))?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{:02}-{:02}", self.month, self.day)?;
        match self.tz_minutes {
            None => Ok(()),
            Some(0) if self.tz_z => f.write_str("Z"),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let a = m.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 60, a % 60)
            }
        }
    }
}

impl Serialize for XsDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for XsDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        XsDate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An `xs:decimal` value: `mantissa × 10^-scale`, normalised (no trailing
/// fractional zeros), so that `1.50` and `1.5` are the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XsDecimal {
    mantissa: i128,
    scale: u8,
}

impl XsDecimal {
    pub const ZERO: XsDecimal = XsDecimal {
        mantissa: 0,
        scale: 0,
    };

    pub fn new(mantissa: i128, scale: u8) -> XsDecimal {
        // Amounts fit in 64 bits: strip trailing zeros without 128-bit
        // division (a library call per digit).
        if let Ok(mut m) = i64::try_from(mantissa) {
            let mut scale = scale;
            while scale > 0 && m % 10 == 0 {
                m /= 10;
                scale -= 1;
            }
            return XsDecimal {
                mantissa: i128::from(m),
                scale,
            };
        }
        let mut d = XsDecimal { mantissa, scale };
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    /// From a number of cents.
    pub fn from_cents(cents: i64) -> XsDecimal {
        XsDecimal::new(i128::from(cents), 2)
    }

    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }
    pub fn scale(&self) -> u8 {
        self.scale
    }
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
    pub fn is_positive(&self) -> bool {
        self.mantissa > 0
    }
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// The integer part and the fractional digits scaled to `digits` places,
    /// truncated (e.g. `2.59` with 2 → (2, 59)). Used for the `HH,MM` rule.
    pub fn split(&self, digits: u8) -> (i128, i128, bool) {
        let p = 10i128.pow(u32::from(self.scale));
        let int = self.mantissa / p;
        let frac = (self.mantissa % p).abs();
        let exact = self.scale <= digits;
        let frac = if self.scale <= digits {
            frac * 10i128.pow(u32::from(digits - self.scale))
        } else {
            frac / 10i128.pow(u32::from(self.scale - digits))
        };
        (int, frac, exact)
    }

    /// Exact sum (scales aligned); `None` on overflow.
    pub fn checked_add(self, o: XsDecimal) -> Option<XsDecimal> {
        let s = self.scale.max(o.scale);
        let a = self
            .mantissa
            .checked_mul(10i128.checked_pow(u32::from(s - self.scale))?)?;
        let b = o
            .mantissa
            .checked_mul(10i128.checked_pow(u32::from(s - o.scale))?)?;
        Some(XsDecimal::new(a.checked_add(b)?, s))
    }

    pub fn parse(raw: &str) -> Result<XsDecimal, FacetError> {
        // XML white space is ASCII: trimmed bytewise.
        let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let b = raw.as_bytes();
        let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
        let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
        let b = &b[start..end];
        let (neg, body) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        let dot = body.iter().position(|&c| c == b'.');
        let (int, frac) = match dot {
            Some(p) => (&body[..p], &body[p + 1..]),
            None => (body, &body[body.len()..]),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.iter().all(u8::is_ascii_digit)
            || !frac.iter().all(u8::is_ascii_digit)
        {
            return Err(FacetError::Decimal);
        }
        let int = &int[int.iter().take_while(|&&c| c == b'0').count()..];
        // libxml2 keeps at most 24 digits: significant integer digits plus all
        // fractional digits, trailing zeros included.
        if int.len() + frac.len() > 24 {
            return Err(FacetError::Decimal);
        }
        let mut m: i128 = 0;
        for &c in int.iter().chain(frac.iter()) {
            m = m * 10 + i128::from(c - b'0');
        }
        let scale = u8::try_from(frac.len()).map_err(|_| FacetError::Decimal)?;
        Ok(XsDecimal::new(if neg { -m } else { m }, scale))
    }
}

impl PartialOrd for XsDecimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for XsDecimal {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let s = self.scale.max(o.scale);
        let a = self.mantissa * 10i128.pow(u32::from(s - self.scale));
        let b = o.mantissa * 10i128.pow(u32::from(s - o.scale));
        a.cmp(&b)
    }
}

/// Appends the decimal digits of `v` to `out`.
pub fn push_u128(out: &mut Vec<u8>, mut v: u128) {
    if let Ok(v) = u64::try_from(v) {
        return push_u64(out, v);
    }
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// [`push_u128`] in 64-bit arithmetic.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

impl XsDecimal {
    /// Appends the canonical lexical form to `out` (same text as `Display`).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if self.mantissa < 0 {
            out.push(b'-');
        }
        let a = self.mantissa.unsigned_abs();
        // The usual amount: 64-bit arithmetic (no 128-bit division calls).
        if let (Ok(a), true) = (u64::try_from(a), self.scale <= 19) {
            if self.scale == 0 {
                return push_u64(out, a);
            }
            let p = 10u64.pow(u32::from(self.scale));
            push_u64(out, a / p);
            out.push(b'.');
            let frac = a % p;
            let width = usize::from(self.scale);
            let start = out.len();
            push_u64(out, frac);
            let written = out.len() - start;
            if written < width {
                out.splice(start..start, std::iter::repeat_n(b'0', width - written));
            }
            return;
        }
        if self.scale == 0 {
            push_u128(out, a);
            return;
        }
        let p = 10u128.pow(u32::from(self.scale));
        push_u128(out, a / p);
        out.push(b'.');
        let frac = a % p;
        let start = out.len();
        push_u128(out, frac);
        let width = usize::from(self.scale);
        let written = out.len() - start;
        if written < width {
            // Left-pad the fraction with zeros.
            out.splice(start..start, std::iter::repeat_n(b'0', width - written));
        }
    }
}

impl fmt::Display for XsDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let p = 10i128.pow(u32::from(self.scale));
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let a = self.mantissa.unsigned_abs();
        let p = p.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$}",
            a / p,
            a % p,
            width = usize::from(self.scale)
        )
    }
}

impl Serialize for XsDecimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for XsDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        XsDecimal::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// SINBA `MM/AAAA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeseAnno {
    pub year: u16,
    pub month: u8,
}

impl MeseAnno {
    pub fn parse(raw: &str) -> Result<MeseAnno, FacetError> {
        let b = raw.as_bytes();
        let err = FacetError::Pattern {
            expected: "mese e anno nel formato MM/AAAA (anni 1900-2099)",
        };
        if b.len() != 7 || b[2] != b'/' || !b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit) {
            return Err(err);
        }
        let month = (b[0] - b'0') * 10 + (b[1] - b'0');
        let century = &b[3..5];
        if !(1..=12).contains(&month) || !(century == b"19" || century == b"20") {
            return Err(err);
        }
        let year = b[3..7]
            .iter()
            .fold(0u16, |a, &c| a * 10 + u16::from(c - b'0'));
        Ok(MeseAnno { year, month })
    }
}

impl MeseAnno {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let y = u32::from(self.year);
        out.extend_from_slice(&[
            b'0' + self.month / 10,
            b'0' + self.month % 10,
            b'/',
            b'0' + (y / 1000 % 10) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
        ]);
    }
}

impl fmt::Display for MeseAnno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:04}", self.month, self.year)
    }
}

impl Serialize for MeseAnno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for MeseAnno {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        MeseAnno::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verdicts below were read off `xmllint --schema` (libxml2 2.9.14).
    #[test]
    fn decimal_like_libxml2() {
        for ok in [
            "1",
            "1.",
            ".5",
            "-.5",
            "+1.50",
            " 1.5 ",
            "123456789012345678901234",
            "000000000000000000000000001",
            "0.000000000000000000000001",
            "12345678901234567890.1234",
            "1.50000000000000000000000",
            "0.0",
            "-0",
            "+.0",
            "-000.000",
        ] {
            assert!(XsDecimal::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1,5",
            "",
            "1e3",
            "1234567890123456789012345",
            "0.1234567890123456789012345",
            "1.000000000000000000000000",
            "--1",
            ".",
            "+",
            "1 2",
            "0.00000000000000000000000000",
        ] {
            assert!(XsDecimal::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            XsDecimal::parse("1.50").unwrap_or(XsDecimal::ZERO),
            XsDecimal::parse("1.5").unwrap_or(XsDecimal::ZERO)
        );
        assert_eq!(
            XsDecimal::parse("-000.500").map(|d| d.to_string()),
            Ok("-0.5".to_string())
        );
        assert_eq!(
            XsDecimal::parse("2.59").map(|d| d.split(2)),
            Ok((2, 59, true))
        );
    }

    #[test]
    fn date_like_libxml2() {
        for ok in [
            "2020-01-01",
            "2024-02-29",
            "0001-01-01",
            "-0001-01-01",
            "10000-01-01",
            "2020-01-01Z",
            "2020-01-01+01:00",
            "2020-01-01+14:00",
            "2020-01-01-13:59",
            "2020-01-01-14:00",
            "-2020-01-01Z",
            "2000-02-29",
        ] {
            assert!(XsDate::parse(ok).is_ok(), "{ok}");
            assert_eq!(XsDate::parse(ok).map(|d| d.to_string()), Ok(ok.to_string()));
        }
        for bad in [
            "2020-02-30",
            "2023-02-29",
            "0000-01-01",
            "02020-01-01",
            "2020-01-01+14:01",
            "2020-1-01",
            " 2020-01-01",
            "2020-01-01 ",
            "2020-01-01T00:00:00",
            "2020-13-01",
            "2020-01-32",
            "2020-01-01+1:00",
            "2020-01-01+24:00",
            "2020-01-01z",
            "2020-01-01+00:60",
            "1900-02-29",
        ] {
            assert!(XsDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fast_writers_match_display() {
        for d in [
            "2020-01-01",
            "0001-01-01",
            "-0001-01-01",
            "10000-01-01",
            "2020-01-01Z",
            "2020-01-01-13:59",
        ] {
            let x = XsDate::parse(d).unwrap_or(XsDate::from_date(crate::Date {
                year: 1,
                month: 1,
                day: 1,
            }));
            let mut out = Vec::new();
            x.write_to(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), x.to_string());
        }
        for v in [
            "0",
            "-0.5",
            "101.23",
            "0.001",
            "-12345678901234567890.1234",
            "1.05",
            "7",
            "100",
        ] {
            let x = XsDecimal::parse(v).unwrap_or(XsDecimal::ZERO);
            let mut out = Vec::new();
            x.write_to(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), x.to_string(), "{v}");
        }
        let m = MeseAnno::parse("03/2012").unwrap_or(MeseAnno { year: 0, month: 0 });
        let mut out = Vec::new();
        m.write_to(&mut out);
        assert_eq!(out, b"03/2012");
    }

    #[test]
    fn int_and_patterns() {
        let r = |s| parse_xs_int(s, Some(1), Some(12));
        assert_eq!(r("+12"), Ok(12));
        assert_eq!(r("0012"), Ok(12));
        assert!(
            r(" 5").is_err()
                && r("5 ").is_err()
                && r("13").is_err()
                && r("0").is_err()
                && r("5.0").is_err()
        );
        assert_eq!(parse_xs_int("-2147483648", None, Some(9)), Ok(i32::MIN));
        assert!(parse_xs_int("-2147483649", None, Some(9)).is_err());
        let cf = SimpleType::CodiceFiscale;
        for ok in [
            "RSSMRK66C14H501U",
            "rssmrk66c14h501u",
            "12345678901",
            "12345678901     ",
            "RSSMRK66C14H50LU",
            "RSSMRK٦٦C14H501U",
        ] {
            assert!(cf.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "12345678901      ",
            "RSSMRK6LC14H501U",
            " RSSMRK66C14H501U",
            "RSSMRK66C14H501U ",
            "RSSMRK߀߀C14H501U",
        ] {
            assert!(cf.check(bad).is_err(), "{bad}");
        }
        let s = SimpleType::Str { min: 5, max: 10 };
        assert!(
            s.check("àèìòù").is_ok() && s.check("😀😀😀😀😀").is_ok() && s.check("abcd").is_err()
        );
        assert!(SimpleType::MeseAnno.check("03/2012").is_ok());
        assert!(
            SimpleType::MeseAnno.check("13/2012").is_err()
                && SimpleType::MeseAnno.check("03/2112").is_err()
        );
    }
}
