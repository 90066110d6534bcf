//! Binary operators: arithmetic, comparisons (with and without `bool`), and the set
//! operators, with Prometheus's vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) and metric-name rules.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::engine::{ensure_unique, Evaluator, StepValue, VectorSample};
use super::QueryError;
use crate::domain::metrics::{Label, Labels, METRIC_NAME_LABEL};

/// How the two sides of a vector/vector operation are matched.
struct Matching {
    card: Card,
    /// `on(...)` rather than `ignoring(...)`.
    on: bool,
    labels: Vec<String>,
    /// `group_x(...)` labels copied from the "one" side.
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
}

pub(crate) fn eval(ev: &Evaluator, expr: &BinaryExpr, ts: i64) -> Result<StepValue, QueryError> {
    let op = expr.op.to_string();
    let return_bool = expr.return_bool();
    let lhs = ev.eval(&expr.lhs, ts)?;
    let rhs = ev.eval(&expr.rhs, ts)?;
    let result = match (lhs, rhs) {
        (StepValue::Scalar(l), StepValue::Scalar(r)) => {
            let (value, keep) = apply(&op, l, r)?;
            return Ok(StepValue::Scalar(if is_comparison(&op) {
                f64::from(u8::from(keep))
            } else {
                value
            }));
        }
        (StepValue::Vector(l), StepValue::Scalar(r)) => {
            vector_scalar(&op, l, r, false, return_bool)?
        }
        (StepValue::Scalar(l), StepValue::Vector(r)) => {
            vector_scalar(&op, r, l, true, return_bool)?
        }
        (StepValue::Vector(l), StepValue::Vector(r)) => {
            let matching = matching(expr);
            match op.as_str() {
                "and" => set_and(l, r, &matching),
                "or" => set_or(l, r, &matching),
                "unless" => set_unless(l, r, &matching),
                _ => vector_vector(&op, l, r, &matching, return_bool)?,
            }
        }
        _ => {
            return Err(QueryError::BadData(format!(
                "operator {op} needs scalar or instant vector operands"
            )))
        }
    };
    ensure_unique(&result)?;
    Ok(StepValue::Vector(result))
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Arithmetic drops the metric name; comparisons keep it.
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// Prometheus's `vectorElemBinop`: the value, and whether a comparison holds.
fn apply(op: &str, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        // Rust's % on floats is C's fmod, as is Go's math.Mod.
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(QueryError::Unsupported(format!("operator {other}"))),
    })
}

fn vector_scalar(
    op: &str,
    vector: Vec<VectorSample>,
    scalar: f64,
    scalar_on_left: bool,
    return_bool: bool,
) -> Result<Vec<VectorSample>, QueryError> {
    let mut out = Vec::with_capacity(vector.len());
    for sample in vector {
        let (l, r) = if scalar_on_left {
            (scalar, sample.value)
        } else {
            (sample.value, scalar)
        };
        let (mut value, mut keep) = apply(op, l, r)?;
        // A filtering comparison always returns the vector's value, whichever side it is on.
        if is_comparison(op) && scalar_on_left {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                sample.labels.without_name()
            } else {
                sample.labels
            };
            out.push(VectorSample { labels, value });
        }
    }
    Ok(out)
}

fn matching(expr: &BinaryExpr) -> Matching {
    let Some(modifier) = &expr.modifier else {
        return Matching {
            card: Card::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
        };
    };
    let (on, labels) = match &modifier.matching {
        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
        None => (false, Vec::new()),
    };
    let (card, include) = match &modifier.card {
        VectorMatchCardinality::ManyToOne(ls) => (Card::ManyToOne, ls.labels.clone()),
        VectorMatchCardinality::OneToMany(ls) => (Card::OneToMany, ls.labels.clone()),
        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {
            (Card::OneToOne, Vec::new())
        }
    };
    Matching {
        card,
        on,
        labels,
        include,
    }
}

/// The labels two samples are matched on: the `on` labels, or all but the `ignoring`
/// labels and the metric name.
fn signature(labels: &Labels, matching: &Matching) -> Vec<Label> {
    labels
        .iter()
        .filter(|l| {
            let listed = matching.labels.contains(&l.name);
            if matching.on {
                listed
            } else {
                !listed && l.name != METRIC_NAME_LABEL
            }
        })
        .cloned()
        .collect()
}

/// Prometheus's `VectorBinop` for one-to-one and many-to-one/one-to-many matching.
fn vector_vector(
    op: &str,
    lhs: Vec<VectorSample>,
    rhs: Vec<VectorSample>,
    matching: &Matching,
    return_bool: bool,
) -> Result<Vec<VectorSample>, QueryError> {
    // Work as many-to-one throughout: for group_right the sides swap, and swap back for
    // the operation itself.
    let swapped = matching.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_side: HashMap<Vec<Label>, &VectorSample> = HashMap::new();
    for sample in &one {
        let sig = signature(&sample.labels, matching);
        if let Some(previous) = one_side.insert(sig.clone(), sample) {
            let side = if swapped { "left" } else { "right" };
            let group = Labels::from_pairs(sig.iter().map(|l| (l.name.clone(), l.value.clone())));
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                sample.labels, previous.labels
            )));
        }
    }
    let mut matched: HashMap<Vec<Label>, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for sample in &many {
        let sig = signature(&sample.labels, matching);
        let Some(other) = one_side.get(&sig) else {
            continue;
        };
        let (l, r) = if swapped {
            (other.value, sample.value)
        } else {
            (sample.value, other.value)
        };
        let (mut value, keep) = apply(op, l, r)?;
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&sample.labels, &other.labels, op, matching);
        if return_bool {
            labels = labels.without_name();
        }
        let inserted = matched.entry(sig).or_default();
        if matching.card == Card::OneToOne {
            if !inserted.is_empty() {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            inserted.insert(Labels::default());
        } else if !inserted.insert(labels.clone()) {
            return Err(QueryError::Execution(
                "multiple matches for labels: grouping labels must ensure unique results".into(),
            ));
        }
        out.push(VectorSample { labels, value });
    }
    Ok(out)
}

/// Prometheus's `resultMetric`: the "many" side's labels, minus the name for arithmetic,
/// reduced to the matching labels for one-to-one `on`, plus `group_x` labels from the
/// "one" side.
fn result_labels(many: &Labels, one: &Labels, op: &str, matching: &Matching) -> Labels {
    let mut labels = if drops_name(op) {
        many.without_name()
    } else {
        many.clone()
    };
    if matching.card == Card::OneToOne {
        labels = labels.filtered(|l| matching.labels.contains(&l.name) == matching.on);
    }
    for name in &matching.include {
        labels = labels.with_label(name, one.get(name).unwrap_or(""));
    }
    labels
}

fn signatures(samples: &[VectorSample], matching: &Matching) -> HashSet<Vec<Label>> {
    samples
        .iter()
        .map(|s| signature(&s.labels, matching))
        .collect()
}

fn set_and(
    lhs: Vec<VectorSample>,
    rhs: Vec<VectorSample>,
    matching: &Matching,
) -> Vec<VectorSample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right = signatures(&rhs, matching);
    lhs.into_iter()
        .filter(|s| right.contains(&signature(&s.labels, matching)))
        .collect()
}

fn set_or(
    lhs: Vec<VectorSample>,
    rhs: Vec<VectorSample>,
    matching: &Matching,
) -> Vec<VectorSample> {
    let left = signatures(&lhs, matching);
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&signature(&s.labels, matching))),
    );
    out
}

fn set_unless(
    lhs: Vec<VectorSample>,
    rhs: Vec<VectorSample>,
    matching: &Matching,
) -> Vec<VectorSample> {
    if rhs.is_empty() {
        return lhs;
    }
    let right = signatures(&rhs, matching);
    lhs.into_iter()
        .filter(|s| !right.contains(&signature(&s.labels, matching)))
        .collect()
}
