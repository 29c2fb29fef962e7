//! UTC timestamps without a date library: RFC 3339 with microseconds (the
//! spool's format, so times compare as strings), and the civil date that
//! names an audit file.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC) of a time.
pub fn date_of(micros: i64) -> String {
    let (y, m, d) = civil_from_days(micros.div_euclid(86_400_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` of a time.
pub fn rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let tod = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{frac:06}Z",
        date_of(micros),
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.f]]` with `Z` or no zone
/// (both UTC), to microseconds since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) && !t.is_empty() {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut micros = days_from_civil(y, mo as u32, d as u32) * 86_400_000_000;
    if b.len() == 10 {
        return Some(micros);
    }
    if !matches!(b[10], b'T' | b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (num(11..13)?, num(14..16)?);
    let mut sec = 0;
    let mut frac = 0;
    if b.len() > 16 {
        if b[16] != b':' {
            return None;
        }
        sec = num(17..19)?;
        if b.len() > 19 {
            if b[19] != b'.' {
                return None;
            }
            let digits = s.get(20..)?;
            let six: String = digits.chars().chain("000000".chars()).take(6).collect();
            frac = six.parse().ok()?;
        }
    }
    micros += ((h * 60 + mi) * 60 + sec) * 1_000_000 + frac;
    Some(micros)
}

/// `--since`/`--until`: a duration back from now (`30s`, `15m`, `24h`,
/// `7d`) or a date/time (see [`parse_utc`]).
pub fn parse_bound(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    let unit = s.chars().last().unwrap_or(' ');
    let mult: Option<i64> = match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    };
    if let Some(mult) = mult
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
    {
        return Ok(now - n * mult * 1_000_000);
    }
    parse_utc(s).ok_or_else(|| {
        format!(
            "{s:?} is neither a duration (30m, 24h, 7d) nor a date (2026-11-21, 2026-11-21T10:00)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339() {
        for t in [
            0,
            1_700_000_000_123_456,
            951_782_400_000_000,
            4_102_444_799_999_999,
        ] {
            assert_eq!(parse_utc(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(date_of(951_782_400_000_000), "2000-02-29");
    }

    #[test]
    fn bounds_are_durations_or_dates() {
        let now = 1_000_000_000_000_000;
        assert_eq!(parse_bound("24h", now), Ok(now - 86_400_000_000));
        assert_eq!(
            parse_bound("2026-11-21", now),
            Ok(parse_utc("2026-11-21T00:00:00Z").unwrap())
        );
        assert!(parse_bound("yesterday", now).is_err());
    }
}
