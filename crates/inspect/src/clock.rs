//! Times in the snapshot format: ISO-8601 in UTC with milliseconds, as JavaScript's
//! `Date.prototype.toISOString` writes them, so files from the CLI and the API compare.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of `days` since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `millis` since the epoch as `2026-11-29T13:04:05.678Z`.
pub fn iso_time(millis: i64) -> String {
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Now, as `iso_time` writes it.
pub fn now_iso() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    iso_time(millis)
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or with a `±HH:MM` offset),
/// or `None` when `text` is not such a time.
pub fn parse_iso(text: &str) -> Option<i64> {
    let number = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let (date, time) = text.split_once('T')?;
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (
        number(parts.next()?)?,
        number(parts.next()?)?,
        number(parts.next()?)?,
    );
    let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (hours, minutes) = time[at + 1..].split_once(':')?;
        let minutes = number(hours)? * 60 + number(minutes)?;
        (
            &time[..at],
            if &time[at..=at] == "-" {
                -minutes
            } else {
                minutes
            },
        )
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut hms = hms.splitn(3, ':');
    let (hour, minute, second) = (
        number(hms.next()?)?,
        number(hms.next()?)?,
        number(hms.next()?)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let millis = number(&format!("{fraction:0<3}")[..3])?;
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute - offset_minutes) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_as_javascript_writes_them() {
        // new Date(1795957445678).toISOString()
        assert_eq!(iso_time(1_795_957_445_678), "2026-11-29T13:04:05.678Z");
        assert_eq!(
            parse_iso("2026-11-29T13:04:05.678Z"),
            Some(1_795_957_445_678)
        );
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_iso("2026-11-29T14:04:05.678+01:00"),
            Some(1_795_957_445_678)
        );
        assert_eq!(parse_iso("yesterday"), None);
    }
}
