//! Query API answers as comparable values, and the comparison itself.

use std::collections::BTreeMap;

use serde_json::Value;

/// Values that differ only in the last bits (e.g. a sum taken in another order) pass, but
/// are reported as approximate in the table.
const TOLERANCE: f64 = 1e-9;

/// A query API `data` object, with series keyed by their label set.
#[derive(Debug, PartialEq)]
pub enum QueryResult {
    Scalar(i64, String),
    Vector(BTreeMap<String, (i64, String)>),
    Matrix(BTreeMap<String, Vec<(i64, String)>>),
}

impl QueryResult {
    pub fn parse(data: &Value) -> Result<Self, String> {
        let result = &data["result"];
        match data["resultType"].as_str() {
            Some("scalar") => {
                let (t, v) = point(result)?;
                Ok(Self::Scalar(t, v))
            }
            Some("vector") => {
                let mut out = BTreeMap::new();
                for sample in result.as_array().ok_or("vector result is not a list")? {
                    let key = labels_key(&sample["metric"]);
                    let value = point(&sample["value"])?;
                    if out.insert(key.clone(), value).is_some() {
                        return Err(format!("duplicate series {key}"));
                    }
                }
                Ok(Self::Vector(out))
            }
            Some("matrix") => {
                let mut out = BTreeMap::new();
                for series in result.as_array().ok_or("matrix result is not a list")? {
                    let key = labels_key(&series["metric"]);
                    let points = series["values"]
                        .as_array()
                        .ok_or("matrix series without values")?
                        .iter()
                        .map(point)
                        .collect::<Result<Vec<_>, _>>()?;
                    if out.insert(key.clone(), points).is_some() {
                        return Err(format!("duplicate series {key}"));
                    }
                }
                Ok(Self::Matrix(out))
            }
            other => Err(format!("unexpected resultType {other:?} in {data}")),
        }
    }

    pub fn series_count(&self) -> usize {
        match self {
            Self::Scalar(..) => 1,
            Self::Vector(v) => v.len(),
            Self::Matrix(m) => m.len(),
        }
    }

    /// Every (series, timestamp ms, value) point.
    fn points(&self) -> BTreeMap<(String, i64), String> {
        match self {
            Self::Scalar(t, v) => BTreeMap::from([(("scalar".to_owned(), *t), v.clone())]),
            Self::Vector(v) => v
                .iter()
                .map(|(k, (t, v))| ((k.clone(), *t), v.clone()))
                .collect(),
            Self::Matrix(m) => m
                .iter()
                .flat_map(|(k, points)| points.iter().map(|(t, v)| ((k.clone(), *t), v.clone())))
                .collect(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Scalar(..) => "scalar",
            Self::Vector(..) => "vector",
            Self::Matrix(..) => "matrix",
        }
    }
}

/// `{a="1", b="2"}` with names sorted.
fn labels_key(metric: &Value) -> String {
    let labels: BTreeMap<&str, &str> = metric
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("<not a string>")))
                .collect()
        })
        .unwrap_or_default();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// `[1700000000.123, "42"]` → (ms, value text).
fn point(value: &Value) -> Result<(i64, String), String> {
    let seconds = value[0]
        .as_f64()
        .ok_or_else(|| format!("bad timestamp in {value}"))?;
    let text = value[1]
        .as_str()
        .ok_or_else(|| format!("bad value in {value}"))?;
    Ok(((seconds * 1000.0).round() as i64, text.to_owned()))
}

pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// How one expression in one query mode compared.
pub enum Verdict {
    Exact,
    /// Equal within [`TOLERANCE`]; the largest relative difference seen.
    Approximate(f64),
    Different(Vec<String>),
}

pub fn compare(expected: &QueryResult, got: &QueryResult) -> Verdict {
    let mut problems = Vec::new();
    if expected.kind() != got.kind() {
        problems.push(format!(
            "result type: prometheus {} tidewatch {}",
            expected.kind(),
            got.kind()
        ));
        return Verdict::Different(problems);
    }
    let (want, have) = (expected.points(), got.points());
    let mut worst: Option<f64> = None;
    for ((series, t), want_text) in &want {
        let Some(have_text) = have.get(&(series.clone(), *t)) else {
            problems.push(format!(
                "{series} @{t}: prometheus {want_text}, tidewatch has no point"
            ));
            continue;
        };
        let (w, h) = (parse_value(want_text), parse_value(have_text));
        let same = match (w, h) {
            (Some(w), Some(h)) if w.is_nan() && h.is_nan() => true,
            (Some(w), Some(h)) if w == h => true,
            (Some(w), Some(h)) if w.is_finite() && h.is_finite() => {
                let diff = (w - h).abs();
                let relative = diff / w.abs().max(h.abs());
                if diff <= TOLERANCE || relative <= TOLERANCE {
                    worst = Some(worst.unwrap_or(0.0).max(relative.min(diff)));
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !same {
            problems.push(format!(
                "{series} @{t}: prometheus {want_text}, tidewatch {have_text}"
            ));
        }
    }
    for ((series, t), have_text) in &have {
        if !want.contains_key(&(series.clone(), *t)) {
            problems.push(format!(
                "{series} @{t}: tidewatch {have_text}, prometheus has no point"
            ));
        }
    }
    match (problems.is_empty(), worst) {
        (false, _) => Verdict::Different(problems),
        (true, Some(worst)) => Verdict::Approximate(worst),
        (true, None) => Verdict::Exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (series, value) pairs of a vector result at one timestamp.
    type Points<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn comparison_treats_nan_as_equal_and_reports_missing_and_different_points() {
        let vector = |points: &[(&str, &str)]| {
            QueryResult::Vector(
                points
                    .iter()
                    .map(|(k, v)| (k.to_string(), (1000, v.to_string())))
                    .collect(),
            )
        };
        let cases: &[(Points, Points, &str)] = &[
            (&[("a", "1")], &[("a", "1")], "exact"),
            (&[("a", "NaN")], &[("a", "NaN")], "exact"),
            (&[("a", "+Inf")], &[("a", "+Inf")], "exact"),
            (
                &[("a", "0.3")],
                &[("a", "0.30000000000000004")],
                "approximate",
            ),
            (&[("a", "1")], &[("a", "1.001")], "different"),
            (&[("a", "NaN")], &[("a", "0")], "different"),
            (&[("a", "1")], &[], "different"),
            (&[], &[("a", "1")], "different"),
            (&[("a", "1")], &[("b", "1")], "different"),
        ];
        for (want, have, expected) in cases {
            let verdict = match compare(&vector(want), &vector(have)) {
                Verdict::Exact => "exact",
                Verdict::Approximate(_) => "approximate",
                Verdict::Different(_) => "different",
            };
            assert_eq!(verdict, *expected, "{want:?} vs {have:?}");
        }
        assert!(matches!(
            compare(
                &QueryResult::Scalar(1000, "1".into()),
                &vector(&[("a", "1")])
            ),
            Verdict::Different(_)
        ));
    }
}
