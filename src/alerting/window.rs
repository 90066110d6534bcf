//! The samples a threshold rule keeps for one group: each series' recent samples, and the
//! aggregation over them. Pure; the evaluator feeds it applied samples and asks for the
//! value at its clock's time.

use std::collections::{HashMap, VecDeque};

use super::rule::Aggregation;
use crate::domain::metrics::Sample;

/// One group's samples within the rule's window, per series (by label fingerprint).
#[derive(Debug, Clone, Default)]
pub struct GroupWindow {
    /// foldhash, not SipHash: one lookup per streamed sample, keyed by a fingerprint.
    series: HashMap<u64, VecDeque<Sample>, foldhash::fast::RandomState>,
    /// Whether only each series' newest sample matters (`last`).
    newest_only: bool,
}

impl GroupWindow {
    /// An empty window for `aggregation`. `last` needs only each series' newest sample
    /// (the newest is also the last to slide out), so its window keeps no other: a 1 m
    /// window of a series sampled every second holds one sample instead of sixty.
    pub fn for_aggregation(aggregation: Aggregation) -> Self {
        Self {
            series: HashMap::default(),
            newest_only: aggregation == Aggregation::Last,
        }
    }

    /// Adds samples of one series. Kept in time order; a timestamp already held is not
    /// added twice (a batch replayed after a restart's rebuild).
    pub fn push(&mut self, series: u64, samples: impl IntoIterator<Item = Sample>) {
        let held = self.series.entry(series).or_default();
        if self.newest_only {
            for sample in samples {
                match held.back_mut() {
                    Some(last) if last.timestamp_ms >= sample.timestamp_ms => {}
                    Some(last) => *last = sample,
                    None => held.push_back(sample),
                }
            }
            return;
        }
        for sample in samples {
            match held.back() {
                Some(last) if last.timestamp_ms < sample.timestamp_ms => held.push_back(sample),
                None => held.push_back(sample),
                Some(_) => {
                    let at = held.partition_point(|s| s.timestamp_ms < sample.timestamp_ms);
                    if held.get(at).map(|s| s.timestamp_ms) != Some(sample.timestamp_ms) {
                        held.insert(at, sample);
                    }
                }
            }
        }
    }

    /// Drops samples older than `oldest_ms`, and series left without samples; answers
    /// how many samples were dropped (none: the group's value cannot have changed).
    pub fn prune(&mut self, oldest_ms: i64) -> usize {
        let mut dropped = 0;
        let mut emptied = false;
        for samples in self.series.values_mut() {
            while samples.front().is_some_and(|s| s.timestamp_ms < oldest_ms) {
                samples.pop_front();
                dropped += 1;
            }
            emptied |= samples.is_empty();
        }
        // Walking the map again is only needed when a series ran empty.
        if emptied {
            self.series.retain(|_, samples| !samples.is_empty());
        }
        dropped
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn sample_count(&self) -> usize {
        self.series.values().map(VecDeque::len).sum()
    }

    /// The group's value over its samples from `since_ms` on (samples slightly ahead of
    /// the evaluator's clock count too), `None` without any; `window_ms` is the window's
    /// length, for `rate`.
    ///
    /// `last` is the newest sample of any series; `avg`, `min`, `max`, `sum`, `count` and
    /// the percentiles pool every sample of every series; `increase` is each series'
    /// rise (counter resets counted as Prometheus does: a drop restarts from zero),
    /// summed over the group; `rate` is that per second of the window.
    pub fn aggregate(
        &self,
        aggregation: Aggregation,
        since_ms: i64,
        window_ms: i64,
    ) -> Option<f64> {
        // Each series is in time order: its samples in range are a suffix. No copies: this
        // runs for every group a batch touches and for every group on every tick.
        let suffixes = || {
            self.series.values().filter_map(move |samples| {
                // Usually pruned to `since_ms` already: then the whole series is in range.
                let from = if samples.front().is_some_and(|s| s.timestamp_ms >= since_ms) {
                    0
                } else {
                    samples.partition_point(|s| s.timestamp_ms < since_ms)
                };
                (from < samples.len()).then(|| samples.range(from..))
            })
        };
        let values = || suffixes().flatten().map(|s| s.value);
        // Counting walks every sample: only the aggregations that need the count pay it.
        let count = || values().count() as f64;
        suffixes().next()?;
        Some(match aggregation {
            Aggregation::Last => suffixes()
                .filter_map(|mut s| s.next_back())
                .max_by_key(|s| s.timestamp_ms)
                .map_or(f64::NAN, |s| s.value),
            Aggregation::Avg => values().sum::<f64>() / count(),
            Aggregation::Min => values().fold(f64::INFINITY, f64::min),
            Aggregation::Max => values().fold(f64::NEG_INFINITY, f64::max),
            Aggregation::Sum => values().sum(),
            Aggregation::Count => count(),
            Aggregation::Increase => suffixes().map(increase).sum(),
            Aggregation::Rate => {
                let seconds = window_ms as f64 / 1000.0;
                suffixes().map(increase).sum::<f64>() / seconds.max(0.001)
            }
            Aggregation::P50 => quantile(values().collect(), 0.5),
            Aggregation::P90 => quantile(values().collect(), 0.9),
            Aggregation::P95 => quantile(values().collect(), 0.95),
            Aggregation::P99 => quantile(values().collect(), 0.99),
        })
    }
}

/// A counter's rise over its samples; a drop is a reset (the counter restarted from 0).
fn increase<'a>(samples: impl Iterator<Item = &'a Sample>) -> f64 {
    let mut rise = 0.0;
    let mut before: Option<f64> = None;
    for sample in samples {
        if let Some(before) = before {
            rise += if sample.value >= before {
                sample.value - before
            } else {
                sample.value
            };
        }
        before = Some(sample.value);
    }
    rise
}

/// The φ-quantile by linear interpolation between closest ranks, as PromQL's
/// `quantile_over_time` computes it.
fn quantile(mut values: Vec<f64>, phi: f64) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = phi * (values.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - lower as f64;
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// How many log records of one group arrived when, for a log rule's window: counts in
/// buckets of at least a second (a longer window has longer buckets, so a group holds at
/// most about 3,600 of them however many records arrive). Counts add: unlike samples,
/// two records at the same time are two.
#[derive(Debug, Clone)]
pub struct CountWindow {
    bucket_ms: i64,
    /// (bucket start, records), oldest first.
    buckets: VecDeque<(i64, u64)>,
    total: u64,
}

impl CountWindow {
    const MAX_BUCKETS: i64 = 3_600;

    pub fn for_window(window_ms: i64) -> Self {
        Self {
            bucket_ms: (window_ms / Self::MAX_BUCKETS).max(1_000),
            buckets: VecDeque::new(),
            total: 0,
        }
    }

    /// Adds `count` records at `timestamp_ms`; records older than the window's start are
    /// the caller's to leave out (they would be pruned at once).
    pub fn add(&mut self, timestamp_ms: i64, count: u64) {
        let bucket = timestamp_ms.div_euclid(self.bucket_ms) * self.bucket_ms;
        self.total += count;
        match self.buckets.back_mut() {
            Some((last, n)) if *last == bucket => *n += count,
            Some((last, _)) if *last < bucket => self.buckets.push_back((bucket, count)),
            None => self.buckets.push_back((bucket, count)),
            Some(_) => {
                // Out of order (a late record, or a batch replayed out of order).
                let at = self.buckets.partition_point(|(b, _)| *b < bucket);
                match self.buckets.get_mut(at) {
                    Some((b, n)) if *b == bucket => *n += count,
                    _ => self.buckets.insert(at, (bucket, count)),
                }
            }
        }
    }

    /// Forgets buckets that ended before `oldest_ms`; answers how many records went.
    pub fn prune(&mut self, oldest_ms: i64) -> u64 {
        let mut dropped = 0;
        while let Some(&(bucket, n)) = self.buckets.front() {
            if bucket + self.bucket_ms > oldest_ms {
                break;
            }
            self.buckets.pop_front();
            dropped += n;
        }
        self.total -= dropped;
        dropped
    }

    /// Records held (after the last prune).
    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(timestamp_ms: i64, value: f64) -> Sample {
        Sample {
            timestamp_ms,
            value,
        }
    }

    fn window() -> GroupWindow {
        let mut w = GroupWindow::default();
        w.push(1, [s(1_000, 1.0), s(2_000, 5.0), s(3_000, 3.0)]);
        w.push(2, [s(1_500, 10.0), s(2_500, 2.0)]);
        w
    }

    #[test]
    fn each_aggregation_over_a_group() {
        let w = window();
        let cases = [
            (Aggregation::Last, 3.0),
            (Aggregation::Avg, 21.0 / 5.0),
            (Aggregation::Min, 1.0),
            (Aggregation::Max, 10.0),
            (Aggregation::Sum, 21.0),
            (Aggregation::Count, 5.0),
            // Series 1: 1→5 (+4), 5→3 (reset: +3) = 7; series 2: 10→2 (reset: +2) = 2.
            (Aggregation::Increase, 9.0),
            (Aggregation::Rate, 9.0 / 3.0),
            (Aggregation::P50, 3.0),
            (Aggregation::P90, 5.0 + 0.6 * 5.0),
        ];
        for (aggregation, expected) in cases {
            let got = w
                .aggregate(aggregation, 0, 3_000)
                .expect("samples in range");
            assert!(
                (got - expected).abs() < 1e-9,
                "{aggregation:?}: {got} != {expected}"
            );
        }
    }

    #[test]
    fn only_the_range_counts_and_pruning_forgets() {
        let mut w = window();
        assert_eq!(w.aggregate(Aggregation::Count, 2_000, 1_000), Some(3.0));
        assert_eq!(w.aggregate(Aggregation::Max, 10_000, 10_000), None);
        w.prune(2_600);
        assert_eq!(w.sample_count(), 1);
        w.prune(5_000);
        assert!(w.is_empty());
    }

    #[test]
    fn a_last_window_keeps_only_the_newest_sample() {
        let mut w = GroupWindow::for_aggregation(Aggregation::Last);
        w.push(1, [s(1_000, 1.0), s(3_000, 3.0), s(2_000, 2.0)]);
        w.push(2, [s(2_500, 7.0)]);
        assert_eq!(w.sample_count(), 2);
        assert_eq!(w.aggregate(Aggregation::Last, 0, 5_000), Some(3.0));
        // Series 2's only sample is older than series 1's newest: it slides out first.
        w.prune(2_600);
        assert_eq!(w.aggregate(Aggregation::Last, 0, 5_000), Some(3.0));
        w.prune(3_001);
        assert!(w.is_empty());
    }

    #[test]
    fn samples_stay_ordered_and_unique() {
        let mut w = GroupWindow::default();
        w.push(
            7,
            [s(3_000, 3.0), s(1_000, 1.0), s(2_000, 2.0), s(2_000, 9.0)],
        );
        assert_eq!(w.sample_count(), 3);
        assert_eq!(w.aggregate(Aggregation::Last, 0, 5_000), Some(3.0));
        assert_eq!(w.aggregate(Aggregation::Sum, 0, 5_000), Some(6.0));
    }

    #[test]
    fn log_counts_add_up_and_slide_out_by_bucket() {
        let mut w = CountWindow::for_window(300_000);
        w.add(10_500, 2);
        w.add(10_900, 1);
        w.add(12_000, 4);
        // Late: lands in its own bucket, in order.
        w.add(11_100, 3);
        assert_eq!(w.count(), 10);
        // The bucket [10 s, 11 s) ends at 11 s: pruning to 11 s forgets it, not the next.
        assert_eq!(w.prune(11_000), 3);
        assert_eq!(w.count(), 7);
        assert_eq!(w.prune(13_000), 7);
        assert!(w.is_empty());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn long_windows_keep_few_buckets() {
        let day = 86_400_000;
        let mut w = CountWindow::for_window(day);
        for second in 0..86_400 {
            w.add(second * 1_000, 1);
        }
        assert_eq!(w.count(), 86_400);
        assert!(w.buckets.len() <= 3_600, "{}", w.buckets.len());
    }
}
