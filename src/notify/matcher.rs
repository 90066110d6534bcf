//! Label matchers as Alertmanager has them: `=`, `!=`, `=~`, `!~`, regexes anchored at
//! both ends. Accepted as `{"name","value","op"}` objects or as `name="value"` text.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "=" => Self::Equal,
            "!=" => Self::NotEqual,
            "=~" => Self::Regex,
            "!~" => Self::NotRegex,
            _ => return None,
        })
    }
}

/// One matcher. A missing label matches as the empty value, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

const MAX_REGEX_BYTES: usize = 64 * 1024;

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, FieldError> {
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(MAX_REGEX_BYTES * 16)
                    .build()
                    .map_err(|e| FieldError::new("value", format!("not a valid regex: {e}")))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Reads one matcher: an object `{"name","value","op"}` (`op` defaults to `=`) or text
    /// `name="value"`, `name=~"re"` (quotes optional).
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::String(text) => Self::parse_text(text),
            Value::Object(object) => {
                let text_field = |field: &str| match object.get(field) {
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    None | Some(Value::Null) => Ok(None),
                    Some(_) => Err(FieldError::new(field, "must be a string")),
                };
                let name =
                    text_field("name")?.ok_or_else(|| FieldError::new("name", "is required"))?;
                let value = text_field("value")?.unwrap_or("");
                let flag = |field: &str| match object.get(field) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Bool(b)) => Ok(Some(*b)),
                    Some(_) => Err(FieldError::new(field, "must be true or false")),
                };
                // Alertmanager's API spells the operator as two flags.
                let (is_regex, is_equal) = (flag("isRegex")?, flag("isEqual")?);
                let op = match text_field("op")? {
                    None if is_regex.is_some() || is_equal.is_some() => {
                        match (is_regex.unwrap_or(false), is_equal.unwrap_or(true)) {
                            (false, true) => MatchOp::Equal,
                            (false, false) => MatchOp::NotEqual,
                            (true, true) => MatchOp::Regex,
                            (true, false) => MatchOp::NotRegex,
                        }
                    }
                    None => MatchOp::Equal,
                    Some(op) => MatchOp::parse(op).ok_or_else(|| {
                        FieldError::new("op", format!("{op:?} is not one of =, !=, =~, !~"))
                    })?,
                };
                Self::new(name, op, value)
            }
            _ => Err(FieldError::new(
                "",
                "a matcher is an object {\"name\",\"value\",\"op\"} or text like name=\"value\"",
            )),
        }
    }

    fn parse_text(text: &str) -> Result<Self, FieldError> {
        let text = text.trim();
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| FieldError::new("", format!("{text:?} has no operator")))?;
        let name = text[..at].trim();
        let rest = &text[at..];
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .ok_or_else(|| FieldError::new("", format!("{text:?} has no operator")))?;
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_owned(),
        };
        let op = MatchOp::parse(op).expect("one of the four operators was found");
        Self::new(name, op, &value)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({"name": self.name, "op": self.op.as_str(), "value": self.value})
    }

    /// Alertmanager's shape: `{"name","value","isRegex","isEqual"}`.
    pub fn to_alertmanager(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "value": self.value,
            "isRegex": matches!(self.op, MatchOp::Regex | MatchOp::NotRegex),
            "isEqual": matches!(self.op, MatchOp::Equal | MatchOp::Regex),
        })
    }
}

/// Reads a list of matchers; errors name the index (`[1].op`).
pub fn matchers_from_json(value: Option<&Value>) -> Result<Vec<Matcher>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Matcher::from_json(item).map_err(|e| {
                    if e.field.is_empty() {
                        FieldError::new(format!("[{i}]"), e.message)
                    } else {
                        e.under(&format!("[{i}]"))
                    }
                })
            })
            .collect(),
        Some(_) => Err(FieldError::new("", "must be a list of matchers")),
    }
}

pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
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
    fn matchers_read_as_objects_or_text_and_match_like_alertmanager() {
        let l = labels(&[("severity", "critical"), ("team", "web")]);
        let cases = [
            (json!({"name": "severity", "value": "critical"}), true),
            (
                json!({"name": "severity", "op": "!=", "value": "critical"}),
                false,
            ),
            (json!({"name": "team", "op": "=~", "value": "we.*"}), true),
            // Anchored: a regex must match the whole value.
            (json!({"name": "team", "op": "=~", "value": "e"}), false),
            (
                json!({"name": "team", "op": "!~", "value": "db|cache"}),
                true,
            ),
            // A missing label is the empty value.
            (json!({"name": "region", "value": ""}), true),
            (json!("severity=\"critical\""), true),
            (json!("team=~we.+"), true),
            (json!("team != web"), false),
            (
                json!({"name": "team", "value": "w.*", "isRegex": true}),
                true,
            ),
            (
                json!({"name": "team", "value": "web", "isRegex": false, "isEqual": false}),
                false,
            ),
        ];
        for (matcher, expected) in cases {
            let m = Matcher::from_json(&matcher).expect("valid matcher");
            assert_eq!(m.matches(&l), expected, "{matcher}");
        }
    }

    #[test]
    fn bad_matchers_name_the_field() {
        let e = matchers_from_json(Some(&json!([{"name": "a"}, {"name": "b", "op": "~"}])))
            .expect_err("bad op");
        assert_eq!(e.field, "[1].op");
        let e = matchers_from_json(Some(&json!([{"name": "a", "op": "=~", "value": "("}])))
            .expect_err("bad regex");
        assert_eq!(e.field, "[0].value");
        let e = matchers_from_json(Some(&json!(["novalue"]))).expect_err("no operator");
        assert_eq!(e.field, "[0]");
    }
}
