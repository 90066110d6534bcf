//! Quantiles: `histogram_quantile` over classic `le` buckets (Prometheus's
//! `bucketQuantile`) and the interpolated quantile behind `quantile` and
//! `quantile_over_time`.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::engine::VectorSample;
use super::numeric::go_parse_float;
use crate::domain::metrics::{Label, Labels, METRIC_NAME_LABEL};

const BUCKET_LABEL: &str = "le";

/// The `q`-quantile of `values` with linear interpolation between closest ranks, as
/// Prometheus's `quantile`: NaN for no values, ±Inf for `q` outside `[0, 1]`.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as in Go's vectorByValueHeap.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper_bound: f64,
    count: f64,
}

/// `histogram_quantile(q, buckets)`: groups samples by their labels without `le`, and
/// estimates the quantile of each group; samples without a parseable `le` are skipped.
/// Output labels drop `__name__` and `le`.
pub(crate) fn histogram_quantile(q: f64, input: Vec<VectorSample>) -> Vec<VectorSample> {
    let mut index: HashMap<Vec<Label>, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    for sample in input {
        let Some(upper_bound) = sample.labels.get(BUCKET_LABEL).and_then(go_parse_float) else {
            continue;
        };
        let key: Vec<Label> = sample
            .labels
            .iter()
            .filter(|l| l.name != BUCKET_LABEL)
            .cloned()
            .collect();
        let bucket = Bucket {
            upper_bound,
            count: sample.value,
        };
        match index.get(&key) {
            Some(&at) => groups[at].1.push(bucket),
            None => {
                index.insert(key, groups.len());
                let labels = sample
                    .labels
                    .filtered(|l| l.name != BUCKET_LABEL && l.name != METRIC_NAME_LABEL);
                groups.push((labels, vec![bucket]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| VectorSample {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Prometheus's `bucketQuantile`: needs a `+Inf` bucket, merges equal bounds, forces the
/// counts monotonic, and interpolates linearly inside the bucket holding the rank.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(Ordering::Equal)
    });
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let mut buckets = coalesce(buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // sort.Search over all but the +Inf bucket.
    let searched = buckets.len() - 1;
    let b = buckets[..searched].partition_point(|bucket| bucket.count < rank);
    if b == searched {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Merges buckets with the same upper bound by adding their counts.
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        match out.last_mut() {
            Some(last) if last.upper_bound == bucket.upper_bound => last.count += bucket.count,
            _ => out.push(bucket),
        }
    }
    out
}

/// Raises any count lower than an earlier one to that earlier count, as scrapes of
/// buckets at slightly different moments can make them non-monotonic.
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for bucket in buckets {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn bucket_quantile_follows_prometheus() {
        let inf = f64::INFINITY;
        type Case<'a> = (f64, &'a [(f64, f64)], f64);
        let cases: &[Case] = &[
            (0.5, &[(1.0, 10.0), (2.0, 20.0), (inf, 20.0)], 1.0),
            (0.75, &[(1.0, 10.0), (2.0, 20.0), (inf, 20.0)], 1.5),
            (0.99, &[(1.0, 10.0), (inf, 20.0)], 1.0),
            (0.5, &[(1.0, 10.0), (2.0, 20.0)], f64::NAN),
            (0.5, &[(inf, 20.0)], f64::NAN),
            (0.5, &[(1.0, 0.0), (inf, 0.0)], f64::NAN),
            (-1.0, &[(1.0, 1.0), (inf, 1.0)], f64::NEG_INFINITY),
            (2.0, &[(1.0, 1.0), (inf, 1.0)], inf),
            (0.5, &[(-1.0, 5.0), (inf, 10.0)], -1.0),
            // Non-monotonic counts are raised: (2, 5) becomes (2, 10).
            (
                0.5,
                &[(1.0, 10.0), (2.0, 5.0), (3.0, 20.0), (inf, 20.0)],
                1.0,
            ),
            // Duplicate bounds are merged.
            (
                0.5,
                &[(1.0, 5.0), (1.0, 5.0), (2.0, 20.0), (inf, 20.0)],
                1.0,
            ),
        ];
        for (q, input, expected) in cases {
            let got = bucket_quantile(*q, buckets(input));
            assert!(
                got == *expected || (got.is_nan() && expected.is_nan()),
                "q={q} {input:?}: got {got}, want {expected}"
            );
        }
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        for (q, values, expected) in [
            (0.5, vec![1.0, 2.0, 3.0, 4.0], 2.5),
            (0.0, vec![3.0, 1.0], 1.0),
            (1.0, vec![3.0, 1.0], 3.0),
            (0.9, vec![10.0], 10.0),
            (1.5, vec![1.0], f64::INFINITY),
        ] {
            assert_eq!(quantile(q, values), expected);
        }
        assert!(quantile(0.5, vec![]).is_nan());
    }
}
