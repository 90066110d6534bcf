//! Strict parsing of the Prometheus API's numeric parameters (`time`, `start`, `end`,
//! `step`, `timeout`, `limit`): every value is finite, inside the millisecond range the
//! engine computes with, and named in the error when it is not. Never a panic: the
//! PromQL crate's own duration parser panics on `Inf` and overflows on large unit counts,
//! so it is not used here.

use super::limits::MAX_QUERY_DURATION_MS;
use super::QueryError;

/// A time parameter: a point, or one of the open ends Prometheus clients send for
/// "no bound" (`minTime`/`maxTime` of the Prometheus API, as RFC 3339 text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeParam {
    At(i64),
    Unbounded,
}

/// The text Prometheus's API uses for its smallest and largest times.
const OPEN_ENDS: [&str; 4] = [
    "-292273086-05-16T16:47:06Z",
    "292277026596-12-04T15:30:07Z",
    "292277026596-12-04T15:30:07.999999999Z",
    "-292273086-05-16T16:47:06.000Z",
];

/// A time: Unix seconds (fractional allowed) or RFC 3339, within ±10,000 years of 1970.
pub fn parse_time(text: &str, name: &str) -> Result<TimeParam, QueryError> {
    let invalid = |why: &str| {
        QueryError::BadData(format!(
            "invalid parameter {name:?}: cannot parse {:?} to a valid timestamp: {why}",
            clip(text)
        ))
    };
    if OPEN_ENDS.contains(&text) {
        return Ok(TimeParam::Unbounded);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_ms(seconds)
            .map(TimeParam::At)
            .ok_or_else(|| invalid("not a finite number of seconds within 10000 years of 1970"));
    }
    let parsed = humantime::parse_rfc3339_weak(text).map_err(|_| invalid("not RFC 3339"))?;
    let ms = match parsed.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok(),
        Err(before) => i64::try_from(before.duration().as_millis())
            .ok()
            .map(|ms| -ms),
    };
    ms.filter(|ms| ms.abs() <= MAX_QUERY_DURATION_MS)
        .map(TimeParam::At)
        .ok_or_else(|| invalid("more than 10000 years from 1970"))
}

/// A duration: float seconds or Prometheus units (`1h30m`, `500ms`), at most 10,000 years.
/// Negative values are returned as such; callers that need a positive one say so.
pub fn parse_duration(text: &str, name: &str) -> Result<i64, QueryError> {
    let invalid = || {
        QueryError::BadData(format!(
            "invalid parameter {name:?}: cannot parse {:?} to a valid duration (float seconds or units like 1m30s, at most 10000 years)",
            clip(text)
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_ms(seconds).ok_or_else(invalid);
    }
    unit_duration_ms(text)
        .filter(|ms| *ms <= MAX_QUERY_DURATION_MS)
        .ok_or_else(invalid)
}

/// A `limit`: a non-negative integer; 0 means none.
pub fn parse_limit(text: &str) -> Result<Option<usize>, QueryError> {
    match text.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Err(_) => Err(QueryError::BadData(format!(
            "invalid parameter \"limit\": {:?} is not a non-negative integer",
            clip(text)
        ))),
    }
}

fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() <= MAX_QUERY_DURATION_MS as f64).then_some(ms as i64)
}

/// `1y2w3d4h5m6s7ms`: each unit at most once, in that order, as Prometheus requires.
fn unit_duration_ms(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" before "m": the longest unit that matches.
        let (index, (unit, scale)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len())?;
        rest = &rest[unit.len()..];
        total = total.checked_add(number.checked_mul(*scale)?)?;
        next_unit = index + 1;
    }
    Some(total)
}

/// At most 64 characters of a parameter, for error messages.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `end` must not be before `start` (range queries and series lookups alike), named as
/// Prometheus' HTTP API names it.
pub fn check_time_order(start_ms: i64, end_ms: i64) -> Result<(), QueryError> {
    if end_ms < start_ms {
        return Err(super::engine::RangeProblem::EndBeforeStart.naming_parameter());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_parsed_strictly() {
        let ok = [
            ("1700000000", TimeParam::At(1_700_000_000_000)),
            ("1700000000.123", TimeParam::At(1_700_000_000_123)),
            ("-1", TimeParam::At(-1000)),
            ("2023-11-14T22:13:20Z", TimeParam::At(1_700_000_000_000)),
            ("-292273086-05-16T16:47:06Z", TimeParam::Unbounded),
            (
                "292277026596-12-04T15:30:07.999999999Z",
                TimeParam::Unbounded,
            ),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_time(text, "time"), Ok(expected), "{text}");
        }
        for text in [
            "NaN",
            "Inf",
            "-Inf",
            "+Inf",
            "1e20",
            "1e9999",
            "",
            "yesterday",
            "99999-01-01T00:00:00Z",
        ] {
            match parse_time(text, "start") {
                Err(QueryError::BadData(m)) => assert!(m.contains("\"start\""), "{m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn durations_are_parsed_strictly() {
        let ok = [
            ("15", 15_000),
            ("0.5", 500),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1h", 3_600_000),
            ("2w1d", 15 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("-15", -15_000),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text, "step"), Ok(expected), "{text}");
        }
        for text in [
            "NaN",
            "Inf",
            "-Inf",
            "1e20",
            "1e9999",
            "",
            "5x",
            "m",
            "1s1m",
            "1m1m",
            "99999999999999999999s",
            "20000y",
            "9223372036854775807ms5",
        ] {
            match parse_duration(text, "step") {
                Err(QueryError::BadData(m)) => assert!(m.contains("\"step\""), "{m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn limits_are_non_negative_integers() {
        assert_eq!(parse_limit("0"), Ok(None));
        assert_eq!(parse_limit("10"), Ok(Some(10)));
        for text in ["-1", "1.5", "NaN", "", "ten"] {
            assert!(parse_limit(text).is_err(), "{text}");
        }
    }
}
