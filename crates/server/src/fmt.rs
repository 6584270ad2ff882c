//! Formatting for people: Italian numbers and dates in Italian time.

/// Numbers as templates see them: by value, or by reference inside loops.
pub trait Num: Copy {
    fn get(self) -> u64;
}
impl Num for u64 {
    fn get(self) -> u64 {
        self
    }
}
impl Num for &u64 {
    fn get(self) -> u64 {
        *self
    }
}
impl Num for &&u64 {
    fn get(self) -> u64 {
        **self
    }
}

/// Timestamps as templates see them.
pub trait Millis: Copy {
    fn get(self) -> i64;
}
impl Millis for i64 {
    fn get(self) -> i64 {
        self
    }
}
impl Millis for &i64 {
    fn get(self) -> i64 {
        *self
    }
}
impl Millis for &&i64 {
    fn get(self) -> i64 {
        **self
    }
}

/// 1234567 → "1.234.567".
pub fn it_num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Unix milliseconds → "27/11/2026 11:24" in Europe/Rome.
pub fn it_datetime(ms: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    match jiff::tz::TimeZone::get("Europe/Rome") {
        Ok(tz) => ts.to_zoned(tz).strftime("%d/%m/%Y %H:%M").to_string(),
        Err(_) => ts.strftime("%d/%m/%Y %H:%M UTC").to_string(),
    }
}

/// "2026-11-27" → "27/11/2026"; anything else unchanged.
pub fn it_date(iso: &str) -> String {
    let b = iso.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        format!("{}/{}/{}", &iso[8..10], &iso[5..7], &iso[..4])
    } else {
        iso.to_string()
    }
}

/// Bytes as "69,2 MB".
pub fn it_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["byte", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} byte")
    } else {
        format!("{v:.1} {}", UNITS[u]).replace('.', ",")
    }
}

/// Now, in unix milliseconds (the store's `learnt_at` unit).
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Today's date in Italy.
pub fn today() -> casellario_domain::Date {
    let now = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC));
    let days = now
        .date()
        .since(jiff::civil::date(1970, 1, 1))
        .map(|s| s.get_days());
    casellario_domain::Date::from_days(i64::from(days.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn italian_formats() {
        assert_eq!(it_num(0), "0");
        assert_eq!(it_num(999), "999");
        assert_eq!(it_num(1000), "1.000");
        assert_eq!(it_num(1_234_567), "1.234.567");
        assert_eq!(it_date("2026-11-27"), "27/11/2026");
        assert_eq!(it_bytes(69_200_000), "69,2 MB");
        assert_eq!(it_bytes(12), "12 byte");
        // 2026-07-01T10:00Z is 12:00 in Rome (summer time).
        assert_eq!(it_datetime(1_782_900_000_000), "01/07/2026 12:00");
    }
}
