//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, …) with `by`/`without`,
//! reproducing Prometheus 2.x's arithmetic order so results are bit-identical.

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::engine::{Evaluator, StepValue, VectorSample};
use super::histogram::quantile;
use super::value::format_value;
use super::QueryError;
use crate::domain::metrics::{Label, Labels, METRIC_NAME_LABEL};

/// One output group while aggregating.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: usize,
    /// Members kept by `topk`/`bottomk` (as a heap) or all values for `quantile`.
    members: Vec<VectorSample>,
}

pub(crate) fn eval(ev: &Evaluator, agg: &AggregateExpr, ts: i64) -> Result<StepValue, QueryError> {
    let op = agg.op.to_string();
    let input = ev.eval_vector(&agg.expr, ts)?;
    let (without, mut grouping) = match &agg.modifier {
        Some(LabelModifier::Exclude(ls)) => (true, ls.labels.clone()),
        Some(LabelModifier::Include(ls)) => (false, ls.labels.clone()),
        None => (false, Vec::new()),
    };
    let param = agg.param.as_deref();
    let mut k = 0usize;
    let mut q = 0.0;
    let mut value_label = String::new();
    match op.as_str() {
        "topk" | "bottomk" => {
            let f = ev.eval_scalar(required(param, &op)?, ts)?;
            // Go's convertibleToInt64: within [MinInt64, MaxInt64] as floats (NaN is not).
            if !(f >= i64::MIN as f64 && f <= i64::MAX as f64) {
                return Err(QueryError::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_value(f)
                )));
            }
            let k_int = f as i64;
            if k_int < 1 {
                return Ok(StepValue::Vector(Vec::new()));
            }
            k = usize::try_from(k_int).unwrap_or(usize::MAX);
        }
        "quantile" => q = ev.eval_scalar(required(param, &op)?, ts)?,
        "count_values" => {
            value_label = match ev.eval(required(param, &op)?, ts)? {
                StepValue::Str(s) => s,
                _ => {
                    return Err(QueryError::BadData(
                        "count_values needs a string label".into(),
                    ))
                }
            };
            if !is_label_name_shape(&value_label) {
                return Err(QueryError::Execution(format!(
                    "invalid label name {value_label:?}"
                )));
            }
            if !without {
                grouping.push(value_label.clone());
            }
        }
        _ => {}
    }

    let mut caches = ev.group_keys.borrow_mut();
    let cache = caches.entry(agg as *const AggregateExpr).or_default();
    cache.bound(input.len());
    let mut index: HashMap<usize, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut groups: Vec<Group> = Vec::new();
    for mut sample in input {
        let key = if op == "count_values" {
            // A fresh label set per sample: nothing to remember across steps.
            sample.labels = sample
                .labels
                .with_label(&value_label, &format_value(sample.value));
            cache.key_id(group_key(&sample.labels, &grouping, without))
        } else {
            cache.key_id_of(&sample.labels, |labels| {
                group_key(labels, &grouping, without)
            })
        };
        let Some(&at) = index.get(&key) else {
            let labels = if without {
                sample
                    .labels
                    .filtered(|l| l.name != METRIC_NAME_LABEL && !grouping.contains(&l.name))
            } else {
                sample.labels.filtered(|l| grouping.contains(&l.name))
            };
            let value = match op.as_str() {
                "stddev" | "stdvar" => 0.0,
                "group" => 1.0,
                _ => sample.value,
            };
            index.insert(key, groups.len());
            groups.push(Group {
                labels,
                value,
                mean: sample.value,
                count: 1,
                members: vec![sample],
            });
            continue;
        };
        let group = &mut groups[at];
        let v = sample.value;
        match op.as_str() {
            "sum" => group.value += v,
            "avg" => {
                group.count += 1;
                let n = group.count as f64;
                let mean = group.mean;
                // An infinite mean stays put unless an opposite infinity or NaN arrives;
                // the incremental formula would turn it into NaN.
                let keep_inf = mean.is_infinite()
                    && ((v.is_infinite() && (mean > 0.0) == (v > 0.0))
                        || (!v.is_infinite() && !v.is_nan()));
                if !keep_inf {
                    group.mean += v / n - mean / n;
                }
            }
            "max" if group.value < v || group.value.is_nan() => group.value = v,
            "min" if group.value > v || group.value.is_nan() => group.value = v,
            "count" | "count_values" => group.count += 1,
            "stddev" | "stdvar" => {
                group.count += 1;
                let delta = v - group.mean;
                group.mean += delta / group.count as f64;
                group.value += delta * (v - group.mean);
            }
            "topk" => heap_offer(&mut group.members, sample, k, topk_less),
            "bottomk" => heap_offer(&mut group.members, sample, k, bottomk_less),
            "quantile" => group.members.push(sample),
            _ => {}
        }
    }
    drop(caches);

    let mut out = Vec::new();
    for group in groups {
        let value = match op.as_str() {
            "avg" => group.mean,
            "count" | "count_values" => group.count as f64,
            "stdvar" => group.value / group.count as f64,
            "stddev" => (group.value / group.count as f64).sqrt(),
            "quantile" => {
                let values: Vec<f64> = group.members.iter().map(|s| s.value).collect();
                quantile(q, values)
            }
            "topk" | "bottomk" => {
                let mut members = group.members;
                let top = op == "topk";
                // Highest first for topk, lowest first for bottomk; NaN always last.
                members.sort_by(|a, b| {
                    let order = nan_smallest(a.value, b.value);
                    let both_numbers = !a.value.is_nan() && !b.value.is_nan();
                    if both_numbers && !top {
                        order
                    } else {
                        order.reverse()
                    }
                });
                out.extend(members);
                continue;
            }
            _ => group.value,
        };
        out.push(VectorSample {
            labels: group.labels,
            value,
        });
    }
    Ok(StepValue::Vector(out))
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus's `LabelName.IsValid` (reserved names allowed).
fn is_label_name_shape(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn required<'a>(param: Option<&'a Expr>, op: &str) -> Result<&'a Expr, QueryError> {
    param.ok_or_else(|| QueryError::BadData(format!("{op} needs a parameter")))
}

/// One aggregation node's group keys, kept across the steps of a query: the same series
/// arrive at every step, so each label set's key is computed once and found again by the
/// label set's identity instead of by hashing its strings.
#[derive(Debug, Default)]
pub(crate) struct GroupKeys {
    /// Input label set identity → (that label set, kept alive so the identity stays
    /// unique; its key's id).
    by_input: HashMap<usize, (Labels, usize), foldhash::fast::RandomState>,
    /// Group key → its id.
    ids: HashMap<Vec<Label>, usize>,
}

impl GroupKeys {
    /// Inputs that build new label sets every step (`sum(abs(x))`) would grow the cache
    /// without bound; once it holds far more entries than a step has inputs, start over.
    fn bound(&mut self, inputs: usize) {
        if self.by_input.len() > 2 * inputs + 1024 {
            self.by_input.clear();
        }
    }

    fn key_id(&mut self, key: Vec<Label>) -> usize {
        let next = self.ids.len();
        *self.ids.entry(key).or_insert(next)
    }

    fn key_id_of(&mut self, labels: &Labels, key: impl FnOnce(&Labels) -> Vec<Label>) -> usize {
        if let Some((_, id)) = self.by_input.get(&labels.identity()) {
            return *id;
        }
        let id = self.key_id(key(labels));
        self.by_input
            .insert(labels.identity(), (labels.clone(), id));
        id
    }
}

/// The labels that decide a sample's group.
fn group_key(labels: &Labels, grouping: &[String], without: bool) -> Vec<Label> {
    labels
        .iter()
        .filter(|l| {
            let listed = grouping.contains(&l.name);
            if without {
                !listed && l.name != METRIC_NAME_LABEL
            } else {
                listed
            }
        })
        .cloned()
        .collect()
}

/// Total order with NaN below everything, for sorting.
fn nan_smallest(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Go's `vectorByValueHeap.Less`: a min-heap with NaN at the top, so NaN is evicted first.
fn topk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

/// Go's `vectorByReverseValueHeap.Less`: a max-heap with NaN at the top.
fn bottomk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a > b
}

/// Prometheus's topk/bottomk step: keep at most `k` members in a heap ordered by `less`,
/// replacing the top when `sample` beats it (or the top is NaN). Mirrors Go's
/// `container/heap` so ties resolve the same way.
fn heap_offer(
    heap: &mut Vec<VectorSample>,
    sample: VectorSample,
    k: usize,
    less: fn(f64, f64) -> bool,
) {
    let top_beaten = heap
        .first()
        .is_some_and(|top| less(top.value, sample.value) || top.value.is_nan());
    if heap.len() < k || top_beaten {
        if heap.len() == k {
            if k == 1 {
                heap[0] = sample;
                return;
            }
            // heap.Pop: move the top to the end, restore the heap, drop it.
            let last = heap.len() - 1;
            heap.swap(0, last);
            sift_down(heap, 0, last, less);
            heap.pop();
        }
        heap.push(sample);
        let last = heap.len() - 1;
        sift_up(heap, last, less);
    }
}

fn sift_up(heap: &mut [VectorSample], mut j: usize, less: fn(f64, f64) -> bool) {
    while j > 0 {
        let parent = (j - 1) / 2;
        if parent == j || !less(heap[j].value, heap[parent].value) {
            break;
        }
        heap.swap(parent, j);
        j = parent;
    }
}

fn sift_down(heap: &mut [VectorSample], mut i: usize, n: usize, less: fn(f64, f64) -> bool) {
    loop {
        let left = 2 * i + 1;
        if left >= n {
            break;
        }
        let mut child = left;
        if left + 1 < n && less(heap[left + 1].value, heap[left].value) {
            child = left + 1;
        }
        if !less(heap[child].value, heap[i].value) {
            break;
        }
        heap.swap(i, child);
        i = child;
    }
}
