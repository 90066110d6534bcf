//! Silences: label matchers and a time range; while one is active, the alerts it matches
//! change state as usual but notify no one. Read in Tidewatch's shape (`matchers` with
//! `op`, `starts_at`, `ends_at`, `comment`) or Alertmanager's (`isRegex`/`isEqual`,
//! `startsAt`, `endsAt`, `createdBy`, `comment`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::matcher::{all_match, matchers_from_json, Matcher};
use super::FieldError;

/// The longest a silence may last.
const MAX_SILENCE_MS: i64 = 366 * 24 * 3_600_000;
const MAX_COMMENT_CHARS: usize = 2_000;
const MAX_MATCHERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

/// A silence as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceDraft {
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    /// Alertmanager's `createdBy`, when given (Tidewatch records the credential anyway).
    pub created_by: Option<String>,
}

/// A silence in force or not, with what routing needs to apply it.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

impl Silence {
    pub fn state(&self, now_ms: i64) -> SilenceState {
        state_of(self.starts_at_ms, self.ends_at_ms, now_ms)
    }

    /// Whether it holds back an alert with `labels` at `now_ms`.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now_ms: i64) -> bool {
        self.state(now_ms) == SilenceState::Active && all_match(&self.matchers, labels)
    }
}

pub fn state_of(starts_at_ms: i64, ends_at_ms: i64, now_ms: i64) -> SilenceState {
    if now_ms >= ends_at_ms {
        SilenceState::Expired
    } else if now_ms < starts_at_ms {
        SilenceState::Pending
    } else {
        SilenceState::Active
    }
}

/// RFC 3339 text to ms.
pub fn time_field(object: &Map<String, Value>, field: &str) -> Result<Option<i64>, FieldError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => humantime::parse_rfc3339_weak(text)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| Some(d.as_millis() as i64))
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("{text:?} is not an RFC 3339 time like 2026-12-02T10:00:00Z"),
                )
            }),
        Some(_) => Err(FieldError::new(field, "must be an RFC 3339 time text")),
    }
}

impl SilenceDraft {
    /// Reads either shape; `starts_at` defaults to now. Fields named as sent.
    pub fn from_json(body: &Value, now_ms: i64) -> Result<Self, FieldError> {
        let object = body
            .as_object()
            .ok_or_else(|| FieldError::new("", "a silence is a JSON object"))?;
        let alertmanager = object.contains_key("startsAt") || object.contains_key("endsAt");
        let (starts_field, ends_field) = if alertmanager {
            ("startsAt", "endsAt")
        } else {
            ("starts_at", "ends_at")
        };
        let matchers =
            matchers_from_json(object.get("matchers")).map_err(|e| e.under("matchers"))?;
        if matchers.is_empty() {
            return Err(FieldError::new(
                "matchers",
                "at least one matcher is required",
            ));
        }
        if matchers.len() > MAX_MATCHERS {
            return Err(FieldError::new(
                "matchers",
                format!("at most {MAX_MATCHERS}"),
            ));
        }
        // A silence that matches every alert (only empty-matching matchers) is a mistake
        // Alertmanager refuses too.
        if matchers.iter().all(|m| m.matches(&BTreeMap::new())) {
            return Err(FieldError::new(
                "matchers",
                "would match every alert: at least one matcher must not match an empty value",
            ));
        }
        let starts_at_ms = time_field(object, starts_field)?.unwrap_or(now_ms);
        let ends_at_ms = time_field(object, ends_field)?
            .ok_or_else(|| FieldError::new(ends_field, "is required"))?;
        if ends_at_ms <= starts_at_ms {
            return Err(FieldError::new(
                ends_field,
                format!("must be after {starts_field}"),
            ));
        }
        if ends_at_ms - starts_at_ms > MAX_SILENCE_MS {
            return Err(FieldError::new(
                ends_field,
                "a silence lasts at most 366 days",
            ));
        }
        if ends_at_ms <= now_ms {
            return Err(FieldError::new(ends_field, "is in the past"));
        }
        let comment = match object.get("comment") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.chars().count() <= MAX_COMMENT_CHARS => s.clone(),
            Some(Value::String(_)) => {
                return Err(FieldError::new(
                    "comment",
                    format!("at most {MAX_COMMENT_CHARS} characters"),
                ))
            }
            Some(_) => return Err(FieldError::new("comment", "must be a string")),
        };
        let created_by = match object.get("createdBy") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.chars().take(200).collect()),
            _ => None,
        };
        Ok(Self {
            matchers,
            starts_at_ms,
            ends_at_ms,
            comment,
            created_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    #[test]
    fn both_shapes_read_and_silences_mute_only_while_active() {
        let ours = SilenceDraft::from_json(
            &json!({"matchers": [{"name": "host", "value": "db1"}], "ends_at": "2027-01-15T08:00:00Z", "comment": "maintenance"}),
            NOW,
        )
        .expect("valid");
        assert_eq!(ours.starts_at_ms, NOW);
        let theirs = SilenceDraft::from_json(
            &json!({"matchers": [{"name": "host", "value": "db.*", "isRegex": true}],
                    "startsAt": "2027-01-15T07:00:00Z", "endsAt": "2027-01-15T08:00:00Z",
                    "createdBy": "amtool", "comment": "x"}),
            NOW,
        )
        .expect("valid");
        assert_eq!(theirs.created_by.as_deref(), Some("amtool"));
        let silence = Silence {
            id: "s".into(),
            matchers: theirs.matchers,
            starts_at_ms: theirs.starts_at_ms,
            ends_at_ms: theirs.ends_at_ms,
        };
        let labels: BTreeMap<String, String> = [("host".to_owned(), "db1".to_owned())].into();
        assert!(!silence.mutes(&labels, theirs.starts_at_ms - 1));
        assert!(silence.mutes(&labels, theirs.starts_at_ms));
        assert!(!silence.mutes(&labels, theirs.ends_at_ms));
        assert_eq!(silence.state(theirs.ends_at_ms), SilenceState::Expired);
    }

    #[test]
    fn bad_silences_name_the_field() {
        for (body, field) in [
            (json!({"ends_at": "2027-01-01T00:00:00Z"}), "matchers"),
            (
                json!({"matchers": [{"name": "a", "value": ""}], "ends_at": "2027-01-01T00:00:00Z"}),
                "matchers",
            ),
            (
                json!({"matchers": [{"name": "a", "value": "x"}]}),
                "ends_at",
            ),
            (
                json!({"matchers": [{"name": "a", "value": "x"}], "ends_at": "soon"}),
                "ends_at",
            ),
            (
                json!({"matchers": [{"name": "a", "value": "x"}], "ends_at": "2020-01-01T00:00:00Z"}),
                "ends_at",
            ),
            (
                json!({"matchers": [{"name": "a", "value": "x"}], "startsAt": "2027-01-02T00:00:00Z", "endsAt": "2027-01-01T00:00:00Z"}),
                "endsAt",
            ),
            (
                json!({"matchers": [{"name": "a", "op": "<", "value": "x"}], "ends_at": "2027-01-01T00:00:00Z"}),
                "matchers[0].op",
            ),
        ] {
            let e = SilenceDraft::from_json(&body, NOW).expect_err("invalid");
            assert_eq!(e.field, field, "{body}");
        }
    }
}
