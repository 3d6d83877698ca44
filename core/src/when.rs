//! Timestamps as identity endpoints and CLIs write them, read as leniently as the official
//! Python SDKs read them (docs/CONFORMANCE.md): RFC 3339 and the ISO 8601 forms botocore's
//! dateutil accepts, unix seconds as a number or a string, and a CLI's naive local time.

/// Unix seconds from an RFC 3339 / ISO 8601 date-time: `T` or a space between date and time,
/// optional fractional seconds (any number of digits), and a zone of `Z`, `+hh:mm`, `+hhmm`,
/// `+hh`, ` UTC` or ` GMT`. A time without a zone is refused: its meaning depends on a
/// machine the answer came from.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    let (local, offset) = split_zone(text.trim())?;
    Some(civil_seconds(local)? - offset)
}

/// Unix seconds from a naive local date-time such as `2024-01-02 03:04:05.123456` (what
/// `az` before 2.54 prints in `expiresOn`), read in this process's time zone (`TZ`), as
/// Python's `datetime.timestamp()` reads it.
#[cfg(unix)]
pub(crate) fn parse_local_datetime(text: &str) -> Option<i64> {
    let fields = fields(text.trim())?;
    // SAFETY: mktime reads a fully initialised tm; tzset reads TZ as Python's time module does.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = fields.year - 1900;
        tm.tm_mon = fields.month as i32 - 1;
        tm.tm_mday = fields.day as i32;
        tm.tm_hour = fields.hour as i32;
        tm.tm_min = fields.minute as i32;
        tm.tm_sec = fields.second as i32;
        tm.tm_isdst = -1;
        let t = libc::mktime(&mut tm);
        (t != -1).then_some(t)
    }
}

/// Windows has no `mktime` in its C runtime's public names: the zone's offset now, from
/// `localtime_s`, which differs from mktime's answer only for a time across a DST change.
#[cfg(windows)]
pub(crate) fn parse_local_datetime(text: &str) -> Option<i64> {
    let naive = civil_seconds(text.trim())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as libc::time_t;
    // SAFETY: localtime_s writes a fully initialised tm from a valid time.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (libc::localtime_s(&mut tm, &now) == 0).then_some(tm)?
    };
    let local_now = days_from_civil(tm.tm_year + 1900, tm.tm_mon as u32 + 1, tm.tm_mday as u32)
        * 86_400
        + i64::from(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    Some(naive - (local_now - now as i64))
}

/// Unix seconds from a JSON value holding them: an integer, a float (truncated, as Python's
/// `int()` truncates), or a string of an integer with optional surrounding space and sign.
pub(crate) fn unix_seconds(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        serde_json::Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix('+').unwrap_or(s);
            let body = digits.strip_prefix('-').unwrap_or(digits);
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        }
        _ => None,
    }
}

struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// The date-time before its zone, and the zone's offset east of UTC in seconds.
fn split_zone(text: &str) -> Option<(&str, i64)> {
    for suffix in [" UTC", " GMT", "UTC", "GMT"] {
        if let Some(rest) = text.strip_suffix(suffix) {
            return Some((rest.trim_end(), 0));
        }
    }
    if let Some(rest) = text.strip_suffix(['Z', 'z']) {
        return Some((rest, 0));
    }
    // An offset starts at the last sign after the time's start (the date has '-' too).
    let time_start = text.find(['T', 't', ' '])?;
    let sign_at = text[time_start..].rfind(['+', '-'])? + time_start;
    let (local, zone) = text.split_at(sign_at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 23 || minutes > 59 || zone[1..].matches(':').count() > 1 {
        return None;
    }
    Some((local.trim_end(), sign * (hours * 3600 + minutes * 60)))
}

fn civil_seconds(local: &str) -> Option<i64> {
    let f = fields(local)?;
    let days = days_from_civil(f.year, f.month, f.day);
    Some(days * 86_400 + i64::from(f.hour * 3600 + f.minute * 60 + f.second))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction]`, the fraction dropped (expiry is kept in seconds).
fn fields(text: &str) -> Option<Fields> {
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let punct = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punct.iter().any(|(i, c)| b[*i] != *c) {
        return None;
    }
    // `get`: byte 19 may fall inside a multi-byte character (found by core/tests/fuzz_sdk.rs).
    let rest = text.get(19..)?;
    if !rest.is_empty() {
        let frac = rest.strip_prefix(['.', ','])?;
        if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let f = Fields {
        year: num(0..4)? as i32,
        month: num(5..7)?,
        day: num(8..10)?,
        hour: num(11..13)?,
        minute: num(14..16)?,
        second: num(17..19)?,
    };
    let valid = (1..=12).contains(&f.month)
        && f.day >= 1
        && f.day <= days_in_month(f.year, f.month)
        && f.hour < 24
        && f.minute < 60
        && f.second < 61;
    valid.then_some(f)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `secs` as `YYYY-MM-DDTHH:MM:SSZ`, the one form every parser reads (aws-config's included).
pub(crate) fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Inverse of days_from_civil (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_323_045; // 2026-01-02T03:04:05Z

    #[test]
    fn a_multibyte_character_where_the_fraction_starts_is_refused() {
        assert_eq!(parse_datetime("2030-01-02T03:04:0\u{e9}Z"), None);
        assert_eq!(parse_datetime("2030-01-02T03:04:05\u{e9}Z"), None);
        assert_eq!(parse_local_datetime("2030-01-02 03:04:05\u{e9}"), None);
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_utc(T), "2026-01-02T03:04:05Z");
        for secs in [0, 951_782_400, 4_107_542_399, T, 253_402_300_799] {
            assert_eq!(parse_datetime(&format_utc(secs)), Some(secs), "{secs}");
        }
    }

    #[test]
    fn every_zone_form_botocore_accepts() {
        for text in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.1234567Z",
            "2026-01-02T03:04:05.123z",
            "2026-01-02 03:04:05Z",
            "2026-01-02T03:04:05+00:00",
            "2026-01-02T03:04:05.5+0000",
            "2026-01-01T22:04:05-05:00",
            "2026-01-01T22:04:05-0500",
            "2026-01-01T22:04:05-05",
            "2026-01-02T08:34:05+05:30",
            "2026-01-02T03:04:05 UTC",
            "2026-01-02T03:04:05UTC",
            "2026-01-02 03:04:05 GMT",
            " 2026-01-02T03:04:05Z\n",
        ] {
            assert_eq!(parse_datetime(text), Some(T), "{text}");
        }
    }

    #[test]
    fn malformed_or_zoneless_times_are_refused() {
        for text in [
            "",
            "2026-01-02T03:04:05",
            "2026-01-02",
            "2026-13-02T03:04:05Z",
            "2026-02-30T03:04:05Z",
            "2026-01-02T25:04:05Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+5:00",
            "2026-01-02T03:04:05+24:00",
            "1/16/2020 5:24:12 AM +00:00",
            "tomorrow",
            "2026-01-02T03:04:05+00:00:00",
        ] {
            assert_eq!(parse_datetime(text), None, "{text:?}");
        }
    }

    #[test]
    fn leap_years_and_old_dates() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_datetime("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_datetime("2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn unix_seconds_as_python_int_reads_them() {
        use serde_json::json;
        assert_eq!(unix_seconds(&json!(1700000000)), Some(1_700_000_000));
        assert_eq!(unix_seconds(&json!("1700000000")), Some(1_700_000_000));
        assert_eq!(unix_seconds(&json!(" 3599 ")), Some(3599));
        assert_eq!(unix_seconds(&json!(3599.9)), Some(3599));
        assert_eq!(unix_seconds(&json!("+60")), Some(60));
        for bad in [
            json!("3599.0"),
            json!(""),
            json!("1e3"),
            json!(true),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(unix_seconds(&bad), None, "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn local_time_follows_tz() {
        // The process's zone is whatever the test runner has; compare with libc's own view.
        let utc = parse_datetime("2026-01-02T03:04:05Z").unwrap();
        let local = parse_local_datetime("2026-01-02 03:04:05.123456").unwrap();
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t = local as libc::time_t;
        unsafe { libc::localtime_r(&t, &mut tm) };
        assert_eq!(local + tm.tm_gmtoff, utc);
        assert_eq!(parse_local_datetime("2026-01-02 03:04:05"), Some(local));
        assert_eq!(parse_local_datetime("not a time"), None);
    }
}
