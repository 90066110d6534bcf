//! Functions over range vectors (`rate`, `increase`, `*_over_time`, …), each a
//! transcription of the Prometheus 2.x function so results are bit-identical.

use promql_parser::parser::{Expr, MatrixSelector};

use std::collections::HashSet;

use super::engine::{ensure_unique, Evaluator, Series, StepValue, VectorSample};
use super::functions::absent_labels;
use super::histogram::quantile;
use super::selection::duration_ms;
use super::{numeric, QueryError};
use crate::domain::metrics::{Labels, Sample};

/// The most results (series × steps) one range function precomputes for a range query;
/// beyond this its steps are evaluated one at a time, holding one step in memory.
const PRECOMPUTABLE_POINTS: usize = 20_000_000;

pub(crate) fn eval(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    ts: i64,
) -> Result<StepValue, QueryError> {
    let matrix_at = usize::from(name == "quantile_over_time");
    let matrix_arg = args
        .get(matrix_at)
        .copied()
        .ok_or_else(|| QueryError::BadData(format!("{name} needs a range vector argument")))?;
    let ms = matrix_selector(matrix_arg)?;
    let scalar_expr = match name {
        "quantile_over_time" => Some(0),
        "predict_linear" => Some(1),
        _ => None,
    }
    .map(|at| {
        args.get(at)
            .copied()
            .ok_or_else(|| QueryError::BadData(format!("{name} needs a scalar argument")))
    })
    .transpose()?;
    if name != "absent_over_time" {
        if let Some(out) = precomputed_step(ev, name, ms, scalar_expr, ts)? {
            return Ok(StepValue::Vector(out));
        }
    }
    let scalar_arg = match scalar_expr {
        Some(expr) => ev.eval_scalar(expr, ts)?,
        None => 0.0,
    };
    let window = RangeWindow::at(ev, ms, ts);
    let mut out = Vec::new();
    let mut any_samples = false;
    for series in ev.series(&ms.vs) {
        let points = ev.window(ms, series, ts);
        if points.is_empty() {
            continue;
        }
        any_samples = true;
        if let Some(value) = value_of(name, &points, window, ts, scalar_arg)? {
            out.push(VectorSample {
                labels: output_labels(name, series),
                value,
            });
        }
    }
    if name == "absent_over_time" && !any_samples {
        out.push(VectorSample {
            labels: absent_labels(matrix_arg),
            value: 1.0,
        });
    }
    ensure_unique(&out)?;
    Ok(StepValue::Vector(out))
}

/// Step `ts` of a range query from results computed for every step at once, computing
/// them on first use. `None` when this call cannot be precomputed: an instant query, a
/// scalar argument that may change between steps, or more points than
/// [`PRECOMPUTABLE_POINTS`] to hold.
///
/// Why: evaluating step by step visits every series at every step, and with thousands of
/// series each visit misses the CPU caches (binary searches into cold memory); walking
/// each series once with a sliding window over all steps reads its samples in order.
fn precomputed_step(
    ev: &Evaluator,
    name: &str,
    ms: &MatrixSelector,
    scalar_expr: Option<&Expr>,
    ts: i64,
) -> Result<Option<Vec<VectorSample>>, QueryError> {
    let Some(grid) = ev.steps else {
        return Ok(None);
    };
    let Some(step) = grid.index_of(ts) else {
        return Ok(None);
    };
    let key = ms as *const MatrixSelector;
    if let Some(steps) = ev.precomputed.borrow_mut().get_mut(&key) {
        return Ok(steps[step].take());
    }
    let scalar_arg = match scalar_expr.map(unparenthesised) {
        None => 0.0,
        Some(Expr::NumberLiteral(n)) => n.val,
        Some(_) => return Ok(None),
    };
    let series = ev.series(&ms.vs);
    if series.len().saturating_mul(grid.count) > PRECOMPUTABLE_POINTS {
        return Ok(None);
    }
    let mut steps: Vec<Vec<VectorSample>> = vec![Vec::new(); grid.count];
    let mut filtered = Vec::new();
    for s in series {
        ev.check_deadline()?;
        let samples = &s.samples;
        let has_stale = samples.iter().any(|p| numeric::is_stale_nan(p.value));
        let labels = output_labels(name, s);
        let (mut from, mut to) = (0, 0);
        for (at, step_ts) in grid.times().enumerate() {
            // Reference times never decrease from step to step (offset shifts them all,
            // `@` pins them), so both edges of the window only move forward.
            let window = RangeWindow::at(ev, ms, step_ts);
            while from < samples.len() && samples[from].timestamp_ms < window.start_ms {
                from += 1;
            }
            to = to.max(from);
            while to < samples.len() && samples[to].timestamp_ms <= window.end_ms {
                to += 1;
            }
            let points: &[Sample] = if has_stale {
                filtered.clear();
                filtered.extend(
                    samples[from..to]
                        .iter()
                        .filter(|p| !numeric::is_stale_nan(p.value)),
                );
                &filtered
            } else {
                &samples[from..to]
            };
            if points.is_empty() {
                continue;
            }
            if let Some(value) = value_of(name, points, window, step_ts, scalar_arg)? {
                steps[at].push(VectorSample {
                    labels: labels.clone(),
                    value,
                });
            }
        }
    }
    // Output labels repeat within a step only if they repeat among the series.
    let mut distinct = HashSet::with_capacity(series.len());
    if !series
        .iter()
        .all(|s| distinct.insert(output_labels(name, s)))
    {
        for step in &steps {
            ensure_unique(step)?;
        }
    }
    let mut steps: Vec<Option<Vec<VectorSample>>> = steps.into_iter().map(Some).collect();
    let this_step = steps[step].take();
    ev.precomputed.borrow_mut().insert(key, steps);
    Ok(this_step)
}

fn unparenthesised(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparenthesised(&p.expr),
        other => other,
    }
}

/// The labels a range function's output sample carries: `last_over_time` keeps the
/// metric name, the others drop it.
fn output_labels(name: &str, series: &Series) -> Labels {
    if name == "last_over_time" {
        series.labels.clone()
    } else {
        series.unnamed.clone()
    }
}

/// `name` over one series' window `points` (not empty, staleness markers removed).
fn value_of(
    name: &str,
    points: &[Sample],
    window: RangeWindow,
    ts: i64,
    scalar_arg: f64,
) -> Result<Option<f64>, QueryError> {
    Ok(match name {
        "rate" => extrapolated_rate(points, window, true, true),
        "increase" => extrapolated_rate(points, window, true, false),
        "delta" => extrapolated_rate(points, window, false, false),
        "irate" => instant_value(points, true),
        "idelta" => instant_value(points, false),
        "deriv" => (points.len() >= 2).then(|| linear_regression(points, points[0].timestamp_ms).0),
        "predict_linear" => (points.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(points, ts);
            slope * scalar_arg + intercept
        }),
        "changes" => Some(count_pairs(points, |prev, cur| {
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })),
        "resets" => Some(count_pairs(points, |prev, cur| cur < prev)),
        "avg_over_time" => Some(avg(points)),
        "min_over_time" => Some(points.iter().fold(points[0].value, |min, p| {
            if p.value < min || min.is_nan() {
                p.value
            } else {
                min
            }
        })),
        "max_over_time" => Some(points.iter().fold(points[0].value, |max, p| {
            if p.value > max || max.is_nan() {
                p.value
            } else {
                max
            }
        })),
        "sum_over_time" => Some(sum(points)),
        "count_over_time" => Some(points.len() as f64),
        "last_over_time" => points.last().map(|p| p.value),
        "quantile_over_time" => Some(quantile(
            scalar_arg,
            points.iter().map(|p| p.value).collect(),
        )),
        "stddev_over_time" => Some(variance(points).sqrt()),
        "stdvar_over_time" => Some(variance(points)),
        "present_over_time" => Some(1.0),
        "absent_over_time" => None,
        other => return Err(QueryError::Unsupported(format!("function {other}"))),
    })
}

/// The range selector a range function reads, through parentheses.
fn matrix_selector(expr: &Expr) -> Result<&MatrixSelector, QueryError> {
    match expr {
        Expr::MatrixSelector(ms) => Ok(ms),
        Expr::Paren(p) => matrix_selector(&p.expr),
        Expr::Subquery(_) => Err(QueryError::Unsupported("subqueries".into())),
        _ => Err(QueryError::BadData(
            "expected a range vector selector as argument".into(),
        )),
    }
}

/// The bounds of a range selector's window at one step, after offset and `@`.
#[derive(Debug, Clone, Copy)]
struct RangeWindow {
    start_ms: i64,
    end_ms: i64,
}

impl RangeWindow {
    fn at(ev: &Evaluator, ms: &MatrixSelector, ts: i64) -> Self {
        let end_ms = ev.reference_time(&ms.vs, ts);
        Self {
            start_ms: end_ms - duration_ms(ms.range),
            end_ms,
        }
    }
}

/// Prometheus's `extrapolatedRate` for `rate`, `increase` and `delta`: the change over the
/// samples (adding back counter resets), extrapolated towards the window's edges when the
/// first/last sample is within 1.1 average intervals of them (else by half an interval),
/// never extrapolating a counter below zero.
fn extrapolated_rate(
    points: &[Sample],
    window: RangeWindow,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for p in &points[1..] {
            if p.value < prev {
                result += prev;
            }
            prev = p.value;
        }
    }
    let mut duration_to_start = (first.timestamp_ms - window.start_ms) as f64 / 1000.0;
    let duration_to_end = (window.end_ms - last.timestamp_ms) as f64 / 1000.0;
    let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average_interval = sampled_interval / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first.value >= 0.0 {
        // The counter would have hit zero this long before the first sample.
        let duration_to_zero = sampled_interval * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_interval * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_interval / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_interval / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (window.end_ms - window.start_ms) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus's `instantValue` for `irate` and `idelta`: the last two samples only.
fn instant_value(points: &[Sample], is_rate: bool) -> Option<f64> {
    let [.., previous, last] = points else {
        return None;
    };
    let mut result = if is_rate && last.value < previous.value {
        last.value
    } else {
        last.value - previous.value
    };
    let interval_ms = last.timestamp_ms - previous.timestamp_ms;
    if interval_ms == 0 {
        return None;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// Prometheus's `linearRegression` (least squares with Kahan sums), times in seconds
/// relative to `intercept_ms`: `(slope, intercept)`.
fn linear_regression(points: &[Sample], intercept_ms: i64) -> (f64, f64) {
    let first = points[0].value;
    if points.iter().all(|p| p.value == first) {
        return if first.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, first)
        };
    }
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for p in points {
        n += 1.0;
        let x = (p.timestamp_ms - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(p.value, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * p.value, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Neumaier's improved Kahan summation step, as Prometheus's `kahanSumInc`.
fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn sum(points: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in points {
        (sum, c) = kahan_sum_inc(p.value, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// Incremental mean with Kahan compensation; an infinite mean is kept rather than turned
/// into NaN by the update formula.
fn avg(points: &[Sample]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0_f64, 0.0, 0.0);
    for p in points {
        count += 1.0;
        let v = p.value;
        if mean.is_infinite()
            && ((v.is_infinite() && (mean > 0.0) == (v > 0.0)) || (!v.is_infinite() && !v.is_nan()))
        {
            continue;
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// Population variance with Welford's method and Kahan compensation.
fn variance(points: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.value - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.value - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// How many consecutive pairs `(previous, current)` satisfy `counts`.
fn count_pairs(points: &[Sample], counts: impl Fn(f64, f64) -> bool) -> f64 {
    points
        .windows(2)
        .filter(|pair| counts(pair[0].value, pair[1].value))
        .count() as f64
}
