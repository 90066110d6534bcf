//! Mute timings: named recurring windows in the shape of Alertmanager's `time_intervals`
//! (`times`, `weekdays`, `days_of_month`, `months`, `years`, `location`). A policy's
//! `mute_timings` hold its notifications back while one of them is in force; its
//! `active_timings` hold them back while none is.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::FieldError;

/// One interval: every field given must hold (a missing field holds always).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`.
    times: Vec<(u32, u32)>,
    /// 0 = Sunday … 6 = Saturday, inclusive ranges.
    weekdays: Vec<(u32, u32)>,
    /// 1…31 or −1 (the last day) …, inclusive ranges.
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(u32, u32)>,
    years: Vec<(i32, i32)>,
    location: Tz,
}

/// A named set of intervals; in force when any interval holds.
#[derive(Debug, Clone, PartialEq)]
pub struct MuteTiming {
    pub name: String,
    pub intervals: Vec<TimeInterval>,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const MAX_INTERVALS: usize = 100;

fn strings<'a>(object: &'a Map<String, Value>, field: &str) -> Result<Vec<&'a str>, FieldError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| FieldError::new(format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        Some(_) => Err(FieldError::new(field, "must be a list of strings")),
    }
}

/// `a` or `a:b`, each end read by `one`; answers inclusive bounds.
fn range<T: Copy + PartialOrd>(text: &str, one: impl Fn(&str) -> Option<T>) -> Option<(T, T)> {
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (one(a.trim())?, one(b.trim())?),
        None => {
            let v = one(text.trim())?;
            (v, v)
        }
    };
    (a <= b).then_some((a, b))
}

fn ranges<T: Copy + PartialOrd>(
    object: &Map<String, Value>,
    field: &str,
    what: &str,
    one: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(T, T)>, FieldError> {
    strings(object, field)?
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            range(text, &one).ok_or_else(|| {
                FieldError::new(format!("{field}[{i}]"), format!("{text:?} is not {what}"))
            })
        })
        .collect()
}

fn clock_minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn named(names: &[&str], text: &str) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    names.iter().position(|n| *n == lower).map(|i| i as u32)
}

impl TimeInterval {
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let object = value
            .as_object()
            .ok_or_else(|| FieldError::new("", "an interval is a JSON object"))?;
        const FIELDS: [&str; 6] = [
            "times",
            "weekdays",
            "days_of_month",
            "months",
            "years",
            "location",
        ];
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(
                unknown.as_str(),
                format!("unknown field; an interval has {}", FIELDS.join(", ")),
            ));
        }
        let mut times = Vec::new();
        if let Some(list) = object.get("times").filter(|v| !v.is_null()) {
            let items = list.as_array().ok_or_else(|| {
                FieldError::new("times", "must be a list of {start_time, end_time}")
            })?;
            for (i, item) in items.iter().enumerate() {
                let at = |f: &str| {
                    item.get(f)
                        .and_then(Value::as_str)
                        .and_then(clock_minutes)
                        .ok_or_else(|| {
                            FieldError::new(
                                format!("times[{i}].{f}"),
                                "must be a time like 09:00 (00:00 to 24:00)",
                            )
                        })
                };
                let (start, end) = (at("start_time")?, at("end_time")?);
                if start >= end {
                    return Err(FieldError::new(
                        format!("times[{i}].end_time"),
                        "must be after start_time",
                    ));
                }
                times.push((start, end));
            }
        }
        let weekdays = ranges(
            object,
            "weekdays",
            "a weekday or range like monday:friday",
            |t| named(&WEEKDAYS, t),
        )?;
        let days_of_month = ranges(
            object,
            "days_of_month",
            "a day of the month (1 to 31, -1 the last) or a range like 1:5",
            |t| {
                t.parse::<i32>()
                    .ok()
                    .filter(|d| (1..=31).contains(d) || (-31..=-1).contains(d))
            },
        )?;
        if let Some(i) = days_of_month.iter().position(|(a, b)| (*a < 0) != (*b < 0)) {
            return Err(FieldError::new(
                format!("days_of_month[{i}]"),
                "a range's ends are both positive or both negative",
            ));
        }
        let months = ranges(
            object,
            "months",
            "a month (name or 1 to 12) or a range like may:august",
            |t| {
                named(&MONTHS, t)
                    .map(|m| m + 1)
                    .or_else(|| t.parse::<u32>().ok().filter(|m| (1..=12).contains(m)))
            },
        )?;
        let years = ranges(object, "years", "a year or a range like 2025:2027", |t| {
            t.parse::<i32>().ok().filter(|y| (1970..=9999).contains(y))
        })?;
        let location = match object.get("location") {
            None | Some(Value::Null) => Tz::UTC,
            Some(Value::String(name)) if name == "Local" => Tz::UTC,
            Some(Value::String(name)) => name.parse::<Tz>().map_err(|_| {
                FieldError::new(
                    "location",
                    format!("{name:?} is not a time zone like Europe/Berlin"),
                )
            })?,
            Some(_) => return Err(FieldError::new("location", "must be a time zone name")),
        };
        Ok(Self {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            location,
        })
    }

    /// Whether the instant `at_ms` falls in the interval, read in its time zone.
    pub fn contains(&self, at_ms: i64) -> bool {
        let Some(utc) = chrono::DateTime::from_timestamp_millis(at_ms) else {
            return false;
        };
        let local = self.location.from_utc_datetime(&utc.naive_utc());
        let minute = local.hour() * 60 + local.minute();
        let in_times =
            self.times.is_empty() || self.times.iter().any(|(s, e)| (*s..*e).contains(&minute));
        let weekday = local.weekday().num_days_from_sunday();
        let in_weekdays = self.weekdays.is_empty()
            || self
                .weekdays
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&weekday));
        let day = local.day() as i32;
        let days_in_month = days_in_month(local.year(), local.month()) as i32;
        let in_days = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|(a, b)| {
                let resolve = |d: i32| if d < 0 { days_in_month + 1 + d } else { d };
                (resolve(*a)..=resolve(*b)).contains(&day)
            });
        let month = local.month();
        let in_months =
            self.months.is_empty() || self.months.iter().any(|(a, b)| (*a..=*b).contains(&month));
        let year = local.year();
        let in_years =
            self.years.is_empty() || self.years.iter().any(|(a, b)| (*a..=*b).contains(&year));
        in_times && in_weekdays && in_days && in_months && in_years
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

impl MuteTiming {
    /// `{"name", "time_intervals": [...]}`; errors name the field.
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let object = value
            .as_object()
            .ok_or_else(|| FieldError::new("", "a mute timing is a JSON object"))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !["name", "time_intervals"].contains(&k.as_str()))
        {
            return Err(FieldError::new(
                unknown.as_str(),
                "unknown field; a mute timing has name, time_intervals",
            ));
        }
        let name = match object.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= 200 => {
                n.trim().to_owned()
            }
            _ => {
                return Err(FieldError::new(
                    "name",
                    "must be 1 to 200 characters long, not only spaces",
                ))
            }
        };
        let items = match object.get("time_intervals") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_INTERVALS => items,
            _ => {
                return Err(FieldError::new(
                    "time_intervals",
                    format!("must list 1 to {MAX_INTERVALS} intervals"),
                ))
            }
        };
        let intervals = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                TimeInterval::from_json(item).map_err(|e| {
                    let at = format!("time_intervals[{i}]");
                    if e.field.is_empty() {
                        FieldError::new(at, e.message)
                    } else {
                        e.under(&at)
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { name, intervals })
    }

    pub fn in_force(&self, at_ms: i64) -> bool {
        self.intervals.iter().any(|i| i.contains(at_ms))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid time")
            .timestamp_millis()
    }

    #[test]
    fn intervals_hold_in_their_time_zone_with_every_field() {
        let nights = MuteTiming::from_json(&json!({
            "name": "nights and weekends",
            "time_intervals": [
                {"times": [{"start_time": "00:00", "end_time": "08:00"}], "weekdays": ["monday:friday"], "location": "Europe/Berlin"},
                {"weekdays": ["saturday", "sunday"], "location": "Europe/Berlin"}
            ]
        }))
        .expect("valid");
        // Wednesday 2026-12-02: 06:59 UTC is 07:59 in Berlin (muted), 07:00 UTC is 08:00.
        assert!(nights.in_force(ms("2026-12-02T06:59:00Z")));
        assert!(!nights.in_force(ms("2026-12-02T07:00:00Z")));
        // Saturday in Berlin starts at 23:00 UTC on Friday.
        assert!(!nights.in_force(ms("2026-12-04T22:59:00Z")));
        assert!(nights.in_force(ms("2026-12-04T23:00:00Z")));

        let month_end = TimeInterval::from_json(
            &json!({"days_of_month": ["-2:-1"], "months": ["february"], "years": ["2028"]}),
        )
        .expect("valid");
        // 2028 is a leap year: the last two days of February are the 28th and 29th.
        assert!(!month_end.contains(ms("2028-02-27T12:00:00Z")));
        assert!(month_end.contains(ms("2028-02-28T12:00:00Z")));
        assert!(month_end.contains(ms("2028-02-29T23:59:00Z")));
        assert!(!month_end.contains(ms("2027-02-28T12:00:00Z")));
        let whole_day = TimeInterval::from_json(
            &json!({"times": [{"start_time": "00:00", "end_time": "24:00"}], "months": ["12"]}),
        )
        .expect("valid");
        assert!(whole_day.contains(ms("2026-12-31T23:59:59Z")));
        assert!(!whole_day.contains(ms("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn bad_timings_name_the_field() {
        for (body, field) in [
            (json!({"name": "x", "time_intervals": []}), "time_intervals"),
            (json!({"name": "", "time_intervals": [{}]}), "name"),
            (
                json!({"name": "x", "time_intervals": [{"weekdays": ["funday"]}]}),
                "time_intervals[0].weekdays[0]",
            ),
            (
                json!({"name": "x", "time_intervals": [{"times": [{"start_time": "18:00", "end_time": "09:00"}]}]}),
                "time_intervals[0].times[0].end_time",
            ),
            (
                json!({"name": "x", "time_intervals": [{"times": [{"start_time": "25:00", "end_time": "26:00"}]}]}),
                "time_intervals[0].times[0].start_time",
            ),
            (
                json!({"name": "x", "time_intervals": [{"days_of_month": ["-1:5"]}]}),
                "time_intervals[0].days_of_month[0]",
            ),
            (
                json!({"name": "x", "time_intervals": [{"location": "Mars/Olympus"}]}),
                "time_intervals[0].location",
            ),
            (
                json!({"name": "x", "time_intervals": [{"hours": ["1"]}]}),
                "time_intervals[0].hours",
            ),
        ] {
            let e = MuteTiming::from_json(&body).expect_err("invalid");
            assert_eq!(e.field, field, "{body}");
        }
    }
}
