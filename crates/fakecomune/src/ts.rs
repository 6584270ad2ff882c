//! Epoch milliseconds ⇄ the RFC 3339 strings of the WaaS wire (`ts_flusso`).

/// Latest instant rendered: 9999-12-31T23:59:59.999Z (RFC 3339 has 4-digit years).
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Civil date (year, month, day) of a day count since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`). Hand-rolled because it runs once
/// per published flow (100,000+ per benchmark) and cannot fail.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `ms` clamped to what the wire can carry (0 ..= year 9999).
pub fn clamp(ms: i64) -> i64 {
    ms.clamp(0, MAX_MS)
}

/// RFC 3339 UTC with milliseconds and `Z`, as in the spec's example
/// (`2023-11-27T11:04:56.852Z`). Out-of-range inputs are clamped.
pub fn format_ms(ms: i64) -> String {
    let ms = clamp(ms);
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `yyyymmdd` (UTC) of `ms`, for flow names.
pub fn yyyymmdd(ms: i64) -> u32 {
    let (y, m, d) = civil_from_days(clamp(ms).div_euclid(86_400_000));
    // y is 1970..=9999 after clamping, so this fits.
    (y as u32) * 10_000 + m * 100 + d
}

/// Parses an RFC 3339 `date-time` (any offset) into epoch milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_spec_example() {
        let ms = parse_ms("2023-11-27T11:04:56.852Z");
        assert_eq!(ms, Some(1_701_083_096_852));
        assert_eq!(format_ms(1_701_083_096_852), "2023-11-27T11:04:56.852Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(yyyymmdd(1_701_083_096_852), 20231127);
    }

    #[test]
    fn agrees_with_the_time_crate() {
        let mut ms = 0i64;
        while ms < MAX_MS {
            let s = format_ms(ms);
            assert_eq!(parse_ms(&s), Some(ms), "{s}");
            ms = ms * 3 + 86_399_917;
        }
        assert_eq!(
            parse_ms("2024-02-29T23:59:59.999+01:00"),
            Some(1_709_247_599_999)
        );
        assert_eq!(parse_ms("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_ms("ieri"), None);
    }
}
