//! Inhibition, as Alertmanager has it: while an alert matching a rule's `source_matchers`
//! fires, alerts matching its `target_matchers` that agree with it on every `equal` label
//! notify no one. (Without configuration, a rule's `critical` already replaces that rule's
//! `warning` for the same group: one alert per rule and group carries the highest severity
//! whose condition holds, and moving up is an `escalated` transition of that one alert.)

use std::collections::BTreeMap;

use serde_json::Value;

use super::matcher::{all_match, matchers_from_json, Matcher};
use super::FieldError;

#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub id: String,
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// An alert that is firing now, as inhibition sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringAlert {
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
}

const MAX_EQUAL: usize = 64;

impl InhibitRule {
    /// `{"source_matchers", "target_matchers", "equal"}`; errors name the field.
    pub fn from_json(id: String, value: &Value) -> Result<Self, FieldError> {
        let object = value
            .as_object()
            .ok_or_else(|| FieldError::new("", "an inhibit rule is a JSON object"))?;
        const FIELDS: [&str; 3] = ["source_matchers", "target_matchers", "equal"];
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(
                unknown.as_str(),
                format!("unknown field; an inhibit rule has {}", FIELDS.join(", ")),
            ));
        }
        let read = |field: &str| {
            let matchers = matchers_from_json(object.get(field)).map_err(|e| e.under(field))?;
            if matchers.is_empty() {
                return Err(FieldError::new(field, "at least one matcher is required"));
            }
            Ok(matchers)
        };
        let source_matchers = read("source_matchers")?;
        let target_matchers = read("target_matchers")?;
        let equal = match object.get("equal") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_EQUAL => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(FieldError::new(
                        format!("equal[{i}]"),
                        "must be a label name",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(FieldError::new(
                    "equal",
                    format!("must be a list of at most {MAX_EQUAL} label names"),
                ))
            }
        };
        Ok(Self {
            id,
            source_matchers,
            target_matchers,
            equal,
        })
    }

    /// The firing alert that inhibits `target` under this rule, if any (never itself).
    pub fn inhibitor<'a>(
        &self,
        target_fingerprint: &str,
        target: &BTreeMap<String, String>,
        firing: &'a [FiringAlert],
    ) -> Option<&'a FiringAlert> {
        if !all_match(&self.target_matchers, target) {
            return None;
        }
        firing.iter().find(|source| {
            source.fingerprint != target_fingerprint
                && all_match(&self.source_matchers, &source.labels)
                && self
                    .equal
                    .iter()
                    .all(|name| source.labels.get(name) == target.get(name))
        })
    }
}

/// Why `target` is inhibited, if it is: the first rule and source that hold.
pub fn inhibited_by(
    rules: &[InhibitRule],
    target_fingerprint: &str,
    target: &BTreeMap<String, String>,
    firing: &[FiringAlert],
) -> Option<String> {
    rules.iter().find_map(|rule| {
        rule.inhibitor(target_fingerprint, target, firing)
            .map(|source| {
                format!(
                    "inhibited by {} (inhibit rule {})",
                    source.labels.get("alertname").map_or_else(
                        || source.fingerprint.clone(),
                        |n| format!("{n} {}", source.fingerprint)
                    ),
                    rule.id
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_firing_source_inhibits_matching_targets_that_agree_on_equal_labels() {
        let rule = InhibitRule::from_json(
            "r1".into(),
            &json!({"source_matchers": ["alertname=NodeDown"], "target_matchers": [{"name": "severity", "op": "=~", "value": "warning|info"}], "equal": ["node"]}),
        )
        .expect("valid");
        let firing = vec![FiringAlert {
            fingerprint: "src".into(),
            labels: labels(&[("alertname", "NodeDown"), ("node", "n1")]),
        }];
        let target = labels(&[
            ("alertname", "DiskSlow"),
            ("severity", "warning"),
            ("node", "n1"),
        ]);
        let why =
            inhibited_by(std::slice::from_ref(&rule), "t", &target, &firing).expect("inhibited");
        assert_eq!(why, "inhibited by NodeDown src (inhibit rule r1)");
        // Another node, or a critical target: not inhibited.
        let other = labels(&[
            ("alertname", "DiskSlow"),
            ("severity", "warning"),
            ("node", "n2"),
        ]);
        assert!(inhibited_by(std::slice::from_ref(&rule), "t", &other, &firing).is_none());
        let critical = labels(&[
            ("alertname", "DiskSlow"),
            ("severity", "critical"),
            ("node", "n1"),
        ]);
        assert!(inhibited_by(std::slice::from_ref(&rule), "t", &critical, &firing).is_none());
        // An alert never inhibits itself.
        let source_as_target = labels(&[
            ("alertname", "NodeDown"),
            ("severity", "warning"),
            ("node", "n1"),
        ]);
        let own = vec![FiringAlert {
            fingerprint: "t".into(),
            labels: source_as_target.clone(),
        }];
        assert!(inhibited_by(&[rule], "t", &source_as_target, &own).is_none());
    }

    #[test]
    fn bad_inhibit_rules_name_the_field() {
        for (body, field) in [
            (json!({"target_matchers": ["a=b"]}), "source_matchers"),
            (
                json!({"source_matchers": ["a=b"], "target_matchers": [{"name": "x", "op": "~"}]}),
                "target_matchers[0].op",
            ),
            (
                json!({"source_matchers": ["a=b"], "target_matchers": ["c=d"], "equal": [""]}),
                "equal[0]",
            ),
            (
                json!({"source_matchers": ["a=b"], "target_matchers": ["c=d"], "source_match": {}}),
                "source_match",
            ),
        ] {
            let e = InhibitRule::from_json("x".into(), &body).expect_err("invalid");
            assert_eq!(e.field, field, "{body}");
        }
    }
}
