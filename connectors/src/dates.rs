//! Lenient timestamp parsing. Feeds write dates in every format there is; a date we cannot read is
//! reported as a warning, never dropped silently. Dates without a time zone are taken as UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Time zone abbreviations feeds actually use, with their offsets in hours.
const ZONES: [(&str, i32); 16] = [
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -5),
    ("EDT", -4),
    ("CST", -6),
    ("CDT", -5),
    ("MST", -7),
    ("MDT", -6),
    ("PST", -8),
    ("PDT", -7),
    ("CET", 1),
    ("CEST", 2),
    ("MSK", 3),
    ("BST", 1),
];

/// Parses `text` as a timestamp, trying strict formats first and then progressively looser ones.
pub fn parse_lenient(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > 100 {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(text) {
        return Some(d.with_timezone(&Utc));
    }
    // Drop a leading day name ("Mon, ", "lundi ") which is often wrong or localised.
    let without_day = match text.split_once(", ") {
        Some((day, rest)) if day.chars().all(char::is_alphabetic) => rest,
        _ => text,
    };
    let (body, offset) = split_zone(without_day);
    let body = body.trim().trim_end_matches(',');
    const WITH_TIME: [&str; 12] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%d %B %Y %H:%M:%S",
        "%d %B %Y %H:%M",
        "%b %d %Y %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%d/%m/%Y %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
    ];
    for f in WITH_TIME {
        if let Ok(naive) = NaiveDateTime::parse_from_str(body, f) {
            return Some(apply_offset(naive, offset));
        }
    }
    const DATE_ONLY: [&str; 8] =
        ["%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y"];
    for f in DATE_ONLY {
        if let Ok(date) = NaiveDate::parse_from_str(body, f) {
            return Some(apply_offset(date.and_hms_opt(0, 0, 0)?, offset));
        }
    }
    // A month (`2024-03`) or a year (`2023`), as statistics are dated: its first day.
    let (year, month) = match body.split_once('-') {
        Some((year, month)) if month.len() == 2 => (year, month.parse::<u32>().ok()?),
        Some(_) => return None,
        None => (body, 1),
    };
    let year = year.parse::<i32>().ok().filter(|y| year.len() == 4 && (1900..=2200).contains(y))?;
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    Some(apply_offset(date.and_hms_opt(0, 0, 0)?, offset))
}

/// Splits a trailing zone (`+0200`, `+02:00`, `GMT`, `CEST`) from `text`.
fn split_zone(text: &str) -> (&str, Option<FixedOffset>) {
    let Some((body, last)) = text.rsplit_once(' ') else {
        return (text, None);
    };
    if let Some((_, hours)) = ZONES.iter().find(|(name, _)| name.eq_ignore_ascii_case(last)) {
        return (body, FixedOffset::east_opt(hours * 3600));
    }
    let digits: String = last.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = match last.chars().next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => return (text, None),
    };
    if digits.len() != 4 {
        return (text, None);
    }
    let hours: i32 = digits[..2].parse().unwrap_or(0);
    let minutes: i32 = digits[2..].parse().unwrap_or(0);
    (body, FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)))
}

fn apply_offset(naive: NaiveDateTime, offset: Option<FixedOffset>) -> DateTime<Utc> {
    match offset.and_then(|o| o.from_local_datetime(&naive).single()) {
        Some(d) => d.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&naive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> String {
        parse_lenient(text).map(|d| d.to_rfc3339()).unwrap_or_else(|| "none".into())
    }

    #[test]
    fn standard_formats_parse() {
        assert_eq!(iso("2026-11-02T10:00:00+01:00"), "2026-11-02T09:00:00+00:00");
        assert_eq!(iso("Mon, 02 Nov 2026 10:00:00 GMT"), "2026-11-02T10:00:00+00:00");
    }

    #[test]
    fn dates_without_zone_are_utc() {
        assert_eq!(iso("2026-11-02 10:00:00"), "2026-11-02T10:00:00+00:00");
        assert_eq!(iso("2026-11-02T10:00"), "2026-11-02T10:00:00+00:00");
        assert_eq!(iso("2026-11-02"), "2026-11-02T00:00:00+00:00");
    }

    #[test]
    fn odd_formats_parse() {
        assert_eq!(iso("Tuesday, 02 Nov 2026 10:00:00 CEST"), "2026-11-02T08:00:00+00:00");
        assert_eq!(iso("02 November 2026 10:00 +0300"), "2026-11-02T07:00:00+00:00");
        assert_eq!(iso("November 2, 2026"), "2026-11-02T00:00:00+00:00");
        assert_eq!(iso("02.11.2026"), "2026-11-02T00:00:00+00:00");
    }

    #[test]
    fn statistics_dated_by_month_or_year_start_on_its_first_day() {
        assert_eq!(iso("2024-03"), "2024-03-01T00:00:00+00:00");
        assert_eq!(iso("2023"), "2023-01-01T00:00:00+00:00");
        assert_eq!(iso("2024-13"), "none");
        assert_eq!(iso("123"), "none");
        assert_eq!(iso("99999"), "none");
        assert_eq!(iso("2024-3-1x"), "none");
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(iso("yesterday-ish"), "none");
        assert_eq!(iso(""), "none");
    }
}
