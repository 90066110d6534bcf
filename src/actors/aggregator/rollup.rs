//! Rollups: per-bucket count, sum, min, max and last of sealed samples, at 1 min and 1 h.

use std::collections::BTreeMap;

use crate::domain::metrics::Sample;
use crate::store::metrics::RollupRow;

/// The rollup resolutions kept, in seconds.
pub const RESOLUTIONS_SECS: [i32; 2] = [60, 3600];

/// Partial aggregates of `samples` (sorted) per bucket at every resolution. A bucket that
/// straddles two chunks yields two partial rows, which the store merges.
pub fn rollups_for(series_id: i64, samples: &[Sample]) -> Vec<RollupRow> {
    let mut rows = Vec::new();
    for resolution_secs in RESOLUTIONS_SECS {
        let width = i64::from(resolution_secs) * 1000;
        let mut buckets: BTreeMap<i64, RollupRow> = BTreeMap::new();
        for sample in samples {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
