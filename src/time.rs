//! Dates and times without a time-zone database: Unix seconds to and from civil dates (for
//! PKCS#11 `CKA_START_DATE`) and RFC 3339 times as the trust policy writes them (`2026-01-01T00:00:00Z`, or with an offset
//! such as `+02:00`), to and from unix seconds. UTC only on output; no time zone database.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = ((mp + 2) % 12 + 1) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parse a fixed-width run of ASCII digits.
fn num(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Parse an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) to unix seconds.
/// Fractions of a second are dropped; a leap second (`:60`) counts as `:59`. Times before
/// 1970 are refused. The error says what is wrong.
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bad = |what: &str| {
        format!("{s:?} is not an RFC 3339 time ({what}); write e.g. \"2026-01-01T00:00:00Z\"")
    };
    if !s.is_ascii() {
        return Err(bad("not ASCII"));
    }
    if s.len() == 19 {
        return Err(bad("no time zone: add Z for UTC"));
    }
    if s.len() < 20 {
        return Err(bad("too short"));
    }
    let b = s.as_bytes();
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        num(s, 0..4),
        num(s, 5..7),
        num(s, 8..10),
        num(s, 11..13),
        num(s, 14..16),
        num(s, 17..19),
    ) else {
        return Err(bad("expected digits"));
    };
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || min > 59 || sec > 60 {
        return Err(bad("no such time of day"));
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("empty fraction of a second"));
        }
        rest = &frac[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad("expected Z or an offset like +02:00")),
            };
            let (Some(oh), Some(om)) = (num(rest, 1..3), num(rest, 4..6)) else {
                return Err(bad("expected Z or an offset like +02:00"));
            };
            if oh > 23 || om > 59 {
                return Err(bad("no such offset"));
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
        "" => return Err(bad("no time zone: add Z for UTC or an offset like +02:00")),
        _ => return Err(bad("expected Z or an offset like +02:00")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec.min(59)) - offset;
    u64::try_from(secs).map_err(|_| bad("before 1970"))
}

/// Now, in Unix seconds (0 on a clock before 1970, which no signature or record is valid at).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix seconds as RFC 3339 UTC (`2026-06-01T00:00:00Z`).
pub fn format_rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T02:00:00+02:00").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            parse_rfc3339("2025-12-31T19:00:00.123-05:00").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t12:00:00z").unwrap(),
            1_709_208_000
        );
        assert_eq!(format_rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_208_000), "2024-02-29T12:00:00Z");
        for t in [0u64, 951_782_400, 4_102_444_799, 1_234_567_890] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)).unwrap(), t);
        }
    }

    #[test]
    fn refuses_nonsense() {
        for s in [
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+2:00",
            "1969-12-31T23:59:59Z",
            "2026-01-01T00:00:00.Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
        assert!(
            parse_rfc3339("2026-01-01T00:00:00")
                .unwrap_err()
                .contains("add Z")
        );
    }
}
