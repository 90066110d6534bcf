//! Function calls on instant vectors and scalars; range-vector functions are in
//! `range_functions.rs`.

use std::cmp::Ordering;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::engine::{ensure_unique, Evaluator, StepValue, VectorSample};
use super::histogram::histogram_quantile;
use super::numeric::{go_log10, go_log2, go_max, go_min};
use super::support::RANGE_FUNCTIONS;
use super::{range_functions, QueryError};
use crate::domain::metrics::{Labels, METRIC_NAME_LABEL};

pub(crate) fn eval_call(ev: &Evaluator, call: &Call, ts: i64) -> Result<StepValue, QueryError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if RANGE_FUNCTIONS.contains(&name) {
        return range_functions::eval(ev, name, &args, ts);
    }
    let arg = |i: usize| {
        args.get(i).copied().ok_or_else(|| {
            QueryError::BadData(format!("missing argument {} in call to {name}", i + 1))
        })
    };
    let result = match name {
        "time" => return Ok(StepValue::Scalar(ts as f64 / 1000.0)),
        "scalar" => {
            let input = ev.eval_vector(arg(0)?, ts)?;
            return Ok(StepValue::Scalar(match input.as_slice() {
                [only] => only.value,
                _ => f64::NAN,
            }));
        }
        "vector" => vec![VectorSample {
            labels: Labels::default(),
            value: ev.eval_scalar(arg(0)?, ts)?,
        }],
        "absent" => {
            if ev.eval_vector(arg(0)?, ts)?.is_empty() {
                vec![VectorSample {
                    labels: absent_labels(arg(0)?),
                    value: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "abs" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::abs),
        "ceil" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::ceil),
        "floor" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::floor),
        "exp" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::exp),
        "sqrt" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::sqrt),
        "ln" => map_values(ev.eval_vector(arg(0)?, ts)?, f64::ln),
        "log2" => map_values(ev.eval_vector(arg(0)?, ts)?, go_log2),
        "log10" => map_values(ev.eval_vector(arg(0)?, ts)?, go_log10),
        "sgn" => map_values(ev.eval_vector(arg(0)?, ts)?, |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "clamp" => {
            let input = ev.eval_vector(arg(0)?, ts)?;
            let min = ev.eval_scalar(arg(1)?, ts)?;
            let max = ev.eval_scalar(arg(2)?, ts)?;
            if max < min {
                Vec::new()
            } else {
                map_values(input, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_min" => {
            let input = ev.eval_vector(arg(0)?, ts)?;
            let min = ev.eval_scalar(arg(1)?, ts)?;
            map_values(input, |v| go_max(min, v))
        }
        "clamp_max" => {
            let input = ev.eval_vector(arg(0)?, ts)?;
            let max = ev.eval_scalar(arg(1)?, ts)?;
            map_values(input, |v| go_min(max, v))
        }
        "round" => {
            let input = ev.eval_vector(arg(0)?, ts)?;
            let to_nearest = match args.get(1) {
                Some(expr) => ev.eval_scalar(expr, ts)?,
                None => 1.0,
            };
            // Prometheus divides by the inverse: fewer floating point surprises.
            let inverse = 1.0 / to_nearest;
            map_values(input, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, ts)?;
            histogram_quantile(q, ev.eval_vector(arg(1)?, ts)?)
        }
        "sort" | "sort_desc" => {
            let mut input = ev.eval_vector(arg(0)?, ts)?;
            let descending = name == "sort_desc";
            // NaN goes last either way.
            input.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let order = a.value.partial_cmp(&b.value).unwrap_or(Ordering::Equal);
                    if descending {
                        order.reverse()
                    } else {
                        order
                    }
                }
            });
            input
        }
        other => return Err(QueryError::Unsupported(format!("function {other}"))),
    };
    ensure_unique(&result)?;
    Ok(StepValue::Vector(result))
}

/// Applies `f` to every value and drops the metric name, as Prometheus's `simpleFunc`.
fn map_values(input: Vec<VectorSample>, f: impl Fn(f64) -> f64) -> Vec<VectorSample> {
    input
        .into_iter()
        .map(|s| VectorSample {
            labels: s.labels.without_name(),
            value: f(s.value),
        })
        .collect()
}

/// The labels `absent(...)` reports: those fixed by equality matchers of a selector
/// argument, minus any label also constrained otherwise (Prometheus's
/// `createLabelsForAbsentFunction`). Anything but a bare selector gives no labels.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match arg {
        Expr::VectorSelector(vs) => &vs.matchers.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers.matchers,
        _ => return Labels::default(),
    };
    let mut set: Vec<(&str, &str)> = Vec::new();
    let mut ambiguous: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME_LABEL {
            continue;
        }
        // A label set to "" is absent, so a later equality matcher may still set it.
        let has = set.iter().any(|(n, v)| *n == m.name && !v.is_empty());
        if m.op == MatchOp::Equal && !has {
            set.retain(|(n, _)| *n != m.name);
            set.push((&m.name, &m.value));
        } else {
            ambiguous.push(&m.name);
        }
    }
    Labels::from_pairs(set.into_iter().filter(|(n, _)| !ambiguous.contains(n)))
}
