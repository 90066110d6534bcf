//! Rollups: per-bucket count, sum, min, max and last of sealed samples, at 1 min and 1 h.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::domain::metrics::Sample;
use crate::store::metrics::RollupRow;

/// The rollup resolutions kept, in seconds.
pub const RESOLUTIONS_SECS: [i32; 2] = [60, 3600];

/// Partial aggregates of `samples` (sorted) per bucket at every resolution. A bucket that
/// straddles two chunks yields two partial rows, which the store merges.
///
/// NaN samples are left out: staleness markers (which end a series, e.g. the evaluator's
/// `ALERTS`) are not values, as in Prometheus' range functions; and SQLite stores a NaN
/// as NULL, which the rollup columns refuse, so one NaN would stop every checkpoint of
/// the tenant. A bucket of NaN only has no row. (Raw samples keep every NaN.)
pub fn rollups_for(series_id: i64, samples: &[Sample]) -> Vec<RollupRow> {
    let mut rows = Vec::new();
    for resolution_secs in RESOLUTIONS_SECS {
        let width = i64::from(resolution_secs) * 1000;
        let mut buckets: BTreeMap<i64, RollupRow> = BTreeMap::new();
        for sample in samples.iter().filter(|s| !s.value.is_nan()) {
            let start = sample.timestamp_ms.div_euclid(width) * width;
            let row = buckets.entry(start).or_insert(RollupRow {
                series_id,
                resolution_secs,
                bucket_start_ms: start,
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                last: sample.value,
            });
            row.count += 1;
            row.sum += sample.value;
            row.min = row.min.min(sample.value);
            row.max = row.max.max(sample.value);
            row.last = sample.value;
        }
        rows.extend(buckets.into_values());
    }
    rows
}

/// Folds rows for the same series, resolution and bucket into one, keeping the order of
/// first appearance; a later row's `last` wins, so rows must come in time order per series
/// (as a checkpoint plan's chunks do). One checkpoint may seal several chunks of a series
/// whose buckets meet, and PostgreSQL refuses to upsert one row twice in one statement.
pub fn merge_partials(rows: Vec<RollupRow>) -> Vec<RollupRow> {
    let mut merged: Vec<RollupRow> = Vec::with_capacity(rows.len());
    let mut at: HashMap<(i64, i32, i64), usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    for row in rows {
        match at.entry((row.series_id, row.resolution_secs, row.bucket_start_ms)) {
            Entry::Occupied(earlier) => {
                let into = &mut merged[*earlier.get()];
                into.count += row.count;
                into.sum += row.sum;
                into.min = into.min.min(row.min);
                into.max = into.max.max(row.max);
                into.last = row.last;
            }
            Entry::Vacant(slot) => {
                slot.insert(merged.len());
                merged.push(row);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_staleness_markers_are_not_rolled_up() {
        let samples: Vec<Sample> = [
            (0, 1.0),
            (10_000, f64::NAN),
            (20_000, crate::promql::stale_nan()),
            (120_000, f64::NAN),
        ]
        .iter()
        .map(|(t, v)| Sample {
            timestamp_ms: *t,
            value: *v,
        })
        .collect();
        let rows = rollups_for(7, &samples);
        assert_eq!(
            rows.len(),
            2,
            "one row per resolution, none for the NaN-only minute"
        );
        assert!(rows
            .iter()
            .all(|r| r.count == 1 && r.sum == 1.0 && r.last == 1.0));
    }

    #[test]
    fn buckets_aggregate_per_resolution() {
        let samples: Vec<Sample> = [(0, 1.0), (30_000, 3.0), (60_000, 2.0), (3_600_000, 10.0)]
            .iter()
            .map(|(t, v)| Sample {
                timestamp_ms: *t,
                value: *v,
            })
            .collect();
        let rows = rollups_for(7, &samples);
        let minute: Vec<_> = rows.iter().filter(|r| r.resolution_secs == 60).collect();
        assert_eq!(minute.len(), 3);
        assert_eq!(
            (
                minute[0].count,
                minute[0].sum,
                minute[0].min,
                minute[0].max,
                minute[0].last
            ),
            (2, 4.0, 1.0, 3.0, 3.0)
        );
        let hour: Vec<_> = rows.iter().filter(|r| r.resolution_secs == 3600).collect();
        assert_eq!(hour.len(), 2);
        assert_eq!((hour[0].count, hour[0].sum, hour[0].last), (3, 6.0, 2.0));
        assert_eq!(hour[1].bucket_start_ms, 3_600_000);
        assert!(rows.iter().all(|r| r.series_id == 7));
    }

    #[test]
    fn partial_rows_of_one_bucket_merge_in_time_order() {
        let at = |t: i64, v: f64| Sample {
            timestamp_ms: t,
            value: v,
        };
        // Two chunks of series 1 meeting inside minute 1, and one chunk of series 2.
        let first = [at(0, 5.0), at(61_000, 1.0)];
        let second = [at(62_000, 9.0), at(63_000, 2.0)];
        let other = [at(61_000, 7.0)];
        let mut rows = rollups_for(1, &first);
        rows.extend(rollups_for(2, &other));
        rows.extend(rollups_for(1, &second));
        let merged = merge_partials(rows);
        let minute = |series: i64, start: i64| {
            merged
                .iter()
                .find(|r| {
                    r.series_id == series && r.resolution_secs == 60 && r.bucket_start_ms == start
                })
                .map(|r| (r.count, r.sum, r.min, r.max, r.last))
        };
        assert_eq!(minute(1, 0), Some((1, 5.0, 5.0, 5.0, 5.0)));
        assert_eq!(minute(1, 60_000), Some((3, 12.0, 1.0, 9.0, 2.0)));
        assert_eq!(minute(2, 60_000), Some((1, 7.0, 7.0, 7.0, 7.0)));
        let hours: Vec<_> = merged
            .iter()
            .filter(|r| r.resolution_secs == 3600)
            .map(|r| (r.series_id, r.count, r.last))
            .collect();
        assert_eq!(
            hours,
            [(1, 4, 2.0), (2, 1, 7.0)],
            "one row per series and hour, in order"
        );
        assert_eq!(merged.len(), 5, "no key twice: {merged:?}");
    }
}
