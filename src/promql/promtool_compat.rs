//! Checks the engine against real Prometheus. Every case in `compat_cases.rs` is evaluated
//! by our engine and compared with its expected samples, and the same case is written as
//! a `promtool test rules` file so Prometheus itself confirms the expected samples.
//! promtool compares floats exactly, so agreement is bit-for-bit (NaN, which promtool can
//! never match, is compared from the samples it prints).

use std::fmt::Write as _;
use std::process::Command;

use super::compat_cases::{CompatCase, CASES};
use super::numeric::go_parse_float;
use super::series_notation::{parse_duration_ms, parse_labels, parse_values};
use super::{parse, Engine, InMemorySeries, QueryLimits, QueryValue};
use crate::domain::metrics::Labels;

const INTERVAL_MS: i64 = 60_000;

type Samples = Vec<(Labels, f64)>;

fn sorted(mut samples: Samples) -> Samples {
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    samples
}

fn same(a: &Samples, b: &Samples) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, va), (lb, vb))| {
            la == lb && (va.to_bits() == vb.to_bits() || (va.is_nan() && vb.is_nan()))
        })
}

fn expected(case: &CompatCase) -> Samples {
    sorted(
        case.expected
            .iter()
            .map(|(labels, value)| {
                let v = go_parse_float(value).unwrap_or_else(|| panic!("{value} in {}", case.expr));
                (parse_labels(labels), v)
            })
            .collect(),
    )
}

fn evaluate(case: &CompatCase) -> Result<Samples, String> {
    let source = InMemorySeries::new(
        case.series
            .iter()
            .map(|(labels, values)| (parse_labels(labels), parse_values(values, INTERVAL_MS)))
            .collect(),
    );
    let expr = parse(case.expr).map_err(|e| e.to_string())?;
    let engine = Engine::new(QueryLimits::default());
    let t = parse_duration_ms(case.eval_time);
    match engine
        .instant(&expr, t, &source)
        .map_err(|e| e.to_string())?
    {
        QueryValue::Scalar { value, .. } => Ok(vec![(Labels::default(), value)]),
        QueryValue::Vector(samples) => Ok(sorted(
            samples.into_iter().map(|s| (s.labels, s.value)).collect(),
        )),
        other => Err(format!("unexpected result {other:?}")),
    }
}

fn show(samples: &Samples) -> String {
    let items: Vec<String> = samples
        .iter()
        .map(|(l, v)| format!("(r#\"{l}\"#, \"{}\")", super::format_value(*v)))
        .collect();
    format!("&[{}]", items.join(", "))
}

#[test]
fn engine_gives_the_expected_samples() {
    let mut failures = Vec::new();
    for case in CASES {
        let want = expected(case);
        if let Some(error) = case.error {
            match evaluate(case) {
                Err(e) if e.contains(error) => {}
                other => failures.push(format!(
                    "{} @ {}: want error {error:?}, got {other:?}",
                    case.expr, case.eval_time
                )),
            }
            continue;
        }
        match evaluate(case) {
            Ok(got) if same(&got, &want) => {}
            Ok(got) => failures.push(format!(
                "{} @ {}: got {}, want {}",
                case.expr,
                case.eval_time,
                show(&got),
                show(&want)
            )),
            Err(e) => failures.push(format!("{} @ {}: error {e}", case.expr, case.eval_time)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(CASES.len() >= 60, "keep at least 60 cases");
}

/// Single-quoted YAML scalar.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn yaml_float(value: f64) -> String {
    if value.is_nan() {
        ".nan".into()
    } else if value == f64::INFINITY {
        ".inf".into()
    } else if value == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        // Shortest round-trip form: YAML reads back the identical float.
        format!("{value:e}")
    }
}

fn promtool_file(case: &CompatCase) -> String {
    let mut out = String::from("tests:\n  - interval: 1m\n    input_series:\n");
    for (labels, values) in case.series {
        let _ = write!(
            out,
            "      - series: {}\n        values: {}\n",
            quoted(labels),
            quoted(values)
        );
    }
    let samples = expected(case);
    let _ = write!(
        out,
        "    promql_expr_test:\n      - expr: {}\n        eval_time: {}\n        exp_samples:{}\n",
        quoted(case.expr),
        case.eval_time,
        if samples.is_empty() { " []" } else { "" }
    );
    for (labels, value) in samples {
        let _ = write!(
            out,
            "          - labels: {}\n            value: {}\n",
            quoted(&promtool_labels(&labels)),
            yaml_float(value)
        );
    }
    out
}

/// `{__name__="x", a="1"}`: the form promtool prints and parses.
fn promtool_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The samples in promtool's `got: {…} 1E+00, {…} NaN` line.
fn parse_promtool_got(line: &str) -> Samples {
    let mut samples = Vec::new();
    let mut rest = line.trim();
    if rest == "nil" {
        return samples;
    }
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("closing brace") + open;
        let labels = parse_labels(&rest[open..=close]);
        let after = rest[close + 1..].trim_start();
        let end = after.find(", {").unwrap_or(after.len());
        let value = go_parse_float(after[..end].trim()).expect("promtool prints a number");
        samples.push((labels, value));
        rest = &after[end..];
    }
    sorted(samples)
}

#[test]
fn promtool_agrees_with_the_expected_samples() {
    let available = Command::new("promtool").arg("--version").output();
    assert!(
        available.is_ok_and(|o| o.status.success()),
        "promtool (Prometheus 2.x) is needed to check PromQL compatibility: \
         run `apt-get install prometheus` (scripts/test.sh installs it)"
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.yml"));
        std::fs::write(&path, promtool_file(case)).expect("write promtool test file");
        let output = Command::new("promtool")
            .args(["test", "rules"])
            .arg(&path)
            .output()
            .expect("run promtool");
        if output.status.success() {
            if let Some(error) = case.error {
                failures.push(format!(
                    "case {i}: {}: Prometheus did not fail with {error:?}",
                    case.expr
                ));
            }
            continue;
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(error) = case.error {
            if !text.contains("err: ") || !text.contains(error) {
                failures.push(format!(
                    "case {i}: {}: want error {error:?}: {text}",
                    case.expr
                ));
            }
            continue;
        }
        // promtool cannot match NaN; accept when what it printed equals the expectation.
        let got = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("got:"))
            .map(parse_promtool_got);
        match got {
            Some(got) if same(&got, &expected(case)) => {}
            Some(got) => failures.push(format!(
                "case {i}: {} @ {}: Prometheus gives {}, table says {}",
                case.expr,
                case.eval_time,
                show(&got),
                show(&expected(case))
            )),
            None => failures.push(format!(
                "case {i}: {} @ {}: {text}",
                case.expr, case.eval_time
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn promtool_output_is_parsed() {
    let got = parse_promtool_got(r#"{__name__="x", a="1"} 5E+00, {a="2"} NaN, {} -Inf"#);
    let want = sorted(vec![
        (Labels::with_name("x", [("a", "1")]), 5.0),
        (Labels::from_pairs([("a", "2")]), f64::NAN),
        (Labels::default(), f64::NEG_INFINITY),
    ]);
    assert!(same(&got, &want), "{got:?}");
    assert_eq!(parse_promtool_got("nil"), Vec::new());
}
