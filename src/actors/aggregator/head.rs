//! The in-memory head of one tenant's time series: the series index, recent samples
//! (the head window) and the samples not yet sealed into chunks. Pure data structure; the
//! aggregator actor owns one and drives it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::domain::metrics::{Labels, MetricBatch, Origin, Sample, SeriesSamples};
use crate::ingest::IngestError;

/// A series id, unique within a tenant and stable across restarts (stored in the index).
pub type SeriesId = i64;

/// One series in the head.
#[derive(Debug, Clone)]
pub struct HeadSeries {
    pub labels: Arc<Labels>,
    /// Sorted by time, no duplicate timestamps.
    pub samples: Vec<Sample>,
    /// Samples at or before this are sealed in chunks; later ones live only in the
    /// write-ahead table and here.
    pub sealed_until_ms: Option<i64>,
}

impl HeadSeries {
    fn unsealed_start(&self) -> usize {
        match self.sealed_until_ms {
            Some(sealed) => self.samples.partition_point(|s| s.timestamp_ms <= sealed),
            None => 0,
        }
    }

    /// Marks everything up to `timestamp_ms` sealed; the boundary never moves back.
    fn seal_through(&mut self, timestamp_ms: i64) {
        self.sealed_until_ms = Some(
            self.sealed_until_ms
                .map_or(timestamp_ms, |s| s.max(timestamp_ms)),
        );
    }

    /// Inserts in time order; the same timestamp again replaces the value.
    fn insert_sorted(&mut self, sample: Sample) {
        if self
            .samples
            .last()
            .is_none_or(|last| last.timestamp_ms < sample.timestamp_ms)
        {
            self.samples.push(sample);
            return;
        }
        match self
            .samples
            .binary_search_by_key(&sample.timestamp_ms, |s| s.timestamp_ms)
        {
            Ok(i) => self.samples[i] = sample,
            Err(i) => self.samples.insert(i, sample),
        }
    }

    /// What the head holds at `sample`'s timestamp: `Some(true)` the same value (bit for
    /// bit), `Some(false)` another value, `None` nothing.
    fn holds(&self, sample: &Sample) -> Option<bool> {
        if self
            .samples
            .last()
            .is_none_or(|last| last.timestamp_ms < sample.timestamp_ms)
        {
            return None;
        }
        self.samples
            .binary_search_by_key(&sample.timestamp_ms, |s| s.timestamp_ms)
            .ok()
            .map(|i| self.samples[i].value.to_bits() == sample.value.to_bits())
    }

    /// A batch's samples for this series against what it holds: a different value at a
    /// held timestamp is a duplicate; a timestamp at or before the sealed boundary that is
    /// no longer held is too old.
    fn check_admission(&self, series: &SeriesSamples) -> Result<(), IngestError> {
        for sample in &series.samples {
            match self.holds(sample) {
                Some(true) => {}
                Some(false) => return Err(duplicate(series, sample.timestamp_ms)),
                None => {
                    if let Some(sealed) = self.sealed_until_ms.filter(|s| sample.timestamp_ms <= *s)
                    {
                        return Err(IngestError::TooOld {
                            origin: series.origin.to_string(),
                            series: series.labels.to_string(),
                            sealed_until_ms: sealed,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    pub fn unsealed(&self) -> &[Sample] {
        &self.samples[self.unsealed_start()..]
    }
}

fn duplicate(series: &SeriesSamples, timestamp_ms: i64) -> IngestError {
    IngestError::DuplicateSample {
        origin: series.origin.to_string(),
        series: series.labels.to_string(),
        timestamp_ms,
    }
}

/// Two samples of one series entry with one timestamp and different values.
fn check_within_series(series: &SeriesSamples) -> Result<(), IngestError> {
    let samples = &series.samples;
    if samples
        .windows(2)
        .all(|w| w[0].timestamp_ms < w[1].timestamp_ms)
    {
        return Ok(()); // the usual case: one sample, or samples in time order
    }
    let mut sorted: Vec<Sample> = samples.to_vec();
    sorted.sort_by_key(|s| s.timestamp_ms);
    first_conflict(&sorted).map_or(Ok(()), |ts| Err(duplicate(series, ts)))
}

/// Conflicts between the entries of one label set given several times in a batch;
/// `repeats` pairs each later entry with the first.
fn check_repeated_series(
    batch: &MetricBatch,
    repeats: &[(usize, usize)],
) -> Result<(), IngestError> {
    if repeats.is_empty() {
        return Ok(());
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(first, later) in repeats {
        groups
            .entry(first)
            .or_insert_with(|| vec![first])
            .push(later);
    }
    for entries in groups.values() {
        let mut samples: Vec<Sample> = entries
            .iter()
            .flat_map(|&i| batch.series[i].samples.iter().copied())
            .collect();
        samples.sort_by_key(|s| s.timestamp_ms);
        if let Some(ts) = first_conflict(&samples) {
            // Name the later of the entries that conflict.
            let at = entries
                .iter()
                .rev()
                .find(|&&i| batch.series[i].samples.iter().any(|s| s.timestamp_ms == ts))
                .copied()
                .unwrap_or(entries[0]);
            return Err(duplicate(&batch.series[at], ts));
        }
    }
    Ok(())
}

/// The first timestamp that appears with two different values in time-sorted samples.
fn first_conflict(sorted: &[Sample]) -> Option<i64> {
    sorted
        .windows(2)
        .find(|w| {
            w[0].timestamp_ms == w[1].timestamp_ms && w[0].value.to_bits() != w[1].value.to_bits()
        })
        .map(|w| w[0].timestamp_ms)
}

/// What one checkpoint seals and carries over.
#[derive(Debug, Default)]
pub struct CheckpointPlan {
    /// Chunks to seal: series and its samples (sorted, ≤ the chunk size).
    pub chunks: Vec<(SeriesId, Vec<Sample>)>,
    /// Series created since the last checkpoint, to add to the stored index.
    pub new_series: Vec<(SeriesId, Arc<Labels>)>,
    /// Samples that stay open, to be re-written as one write-ahead record.
    pub carry_over: MetricBatch,
}

/// How chunks are cut.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPolicy {
    pub max_samples: usize,
    /// An open chunk whose first sample is older than this is sealed even if not full.
    pub max_span_ms: i64,
}

/// The head of one tenant.
#[derive(Debug, Default)]
pub struct Head {
    /// Series by label set. foldhash (seeded per process) instead of SipHash: this lookup
    /// runs for every ingested series, and foldhash is several times cheaper while still
    /// keyed, so tenants cannot precompute colliding label sets.
    ids: HashMap<Arc<Labels>, SeriesId, foldhash::fast::RandomState>,
    series: HashMap<SeriesId, HeadSeries, foldhash::fast::RandomState>,
    by_name: HashMap<String, Vec<SeriesId>, foldhash::fast::RandomState>,
    unpersisted: Vec<SeriesId>,
    sample_count: usize,
    /// Samples at or after this instant are all in memory (older ones may be only in chunks).
    covered_from_ms: i64,
}

impl Head {
    pub fn new(covered_from_ms: i64) -> Self {
        Self {
            covered_from_ms,
            ..Self::default()
        }
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.sample_count
    }

    pub fn covered_from_ms(&self) -> i64 {
        self.covered_from_ms
    }

    pub fn get(&self, id: SeriesId) -> Option<&HeadSeries> {
        self.series.get(&id)
    }

    pub fn id_of(&self, labels: &Labels) -> Option<SeriesId> {
        self.ids.get(labels).copied()
    }

    /// Adds a series known from the stored index (at start).
    pub fn restore_series(&mut self, id: SeriesId, labels: Labels) {
        self.insert_series(id, Arc::new(labels));
    }

    /// Records how far a series is sealed in stored chunks (at start), including chunks
    /// older than the head window, so late samples cannot reopen them.
    pub fn restore_sealed_boundary(&mut self, id: SeriesId, sealed_until_ms: i64) {
        if let Some(series) = self.series.get_mut(&id) {
            series.seal_through(sealed_until_ms);
        }
    }

    /// Adds sealed samples read back from chunks (at start), so the head window is in memory.
    pub fn restore_sealed(&mut self, id: SeriesId, samples: &[Sample]) {
        let Some(series) = self.series.get_mut(&id) else {
            return;
        };
        let before = series.samples.len();
        for sample in samples {
            series.insert_sorted(*sample);
        }
        if let Some(last) = samples.last() {
            series.seal_through(last.timestamp_ms);
        }
        self.sample_count += series.samples.len() - before;
    }

    fn insert_series(&mut self, id: SeriesId, labels: Arc<Labels>) {
        let name = labels.metric_name().unwrap_or_default().to_owned();
        self.ids.insert(labels.clone(), id);
        self.by_name.entry(name).or_default().push(id);
        self.series.insert(
            id,
            HeadSeries {
                labels,
                samples: Vec::new(),
                sealed_until_ms: None,
            },
        );
    }

    /// A new id: the label fingerprint, probing upward past the rare collision, so ids are
    /// stable for a label set in practice and never shared.
    fn new_id(&self, labels: &Labels) -> SeriesId {
        let mut id = labels.fingerprint() as i64;
        while self.series.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        id
    }

    /// Whether `batch` may be stored: the series limit holds and no sample is older than
    /// what its series has already sealed. Changes nothing; answers each batch series' id
    /// where the series exists already (`None` for new ones), for [`Head::append`].
    ///
    /// `reserved` are new series of batches admitted earlier and not applied yet: they count
    /// against the limit already, so concurrent requests cannot overshoot it together.
    pub fn admit(
        &self,
        batch: &MetricBatch,
        max_series: usize,
        reserved: &HashSet<&Labels, foldhash::fast::RandomState>,
    ) -> Result<Vec<Option<SeriesId>>, IngestError> {
        let mut resolved = Vec::with_capacity(batch.series.len());
        // Each batch series' first position, by id (known series) or label set (new ones):
        // a label set given twice in one batch is checked for conflicting samples after.
        let mut known_at: HashMap<SeriesId, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(batch.series.len(), Default::default());
        let mut new_at: HashMap<&Labels, usize, foldhash::fast::RandomState> = HashMap::default();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for (index, series) in batch.series.iter().enumerate() {
            check_within_series(series)?;
            match self.ids.get(&series.labels) {
                Some(id) => {
                    self.series[id].check_admission(series)?;
                    if let Some(&first) = known_at.get(id) {
                        repeats.push((first, index));
                    } else {
                        known_at.insert(*id, index);
                    }
                    resolved.push(Some(*id));
                }
                None => {
                    match new_at.get(&series.labels) {
                        Some(&first) => repeats.push((first, index)),
                        None => {
                            new_at.insert(&series.labels, index);
                            if !reserved.contains(&series.labels)
                                && self.series.len() + reserved.len() + new_at.len() > max_series
                            {
                                return Err(IngestError::SeriesLimit {
                                    limit: max_series,
                                    series: series.labels.to_string(),
                                });
                            }
                        }
                    }
                    resolved.push(None);
                }
            }
        }
        check_repeated_series(batch, &repeats)?;
        Ok(resolved)
    }

    /// Adds a durable batch. `resolved` is what [`Head::admit`] answered for it (series
    /// are never removed from a head, so those ids still hold), or empty to look every
    /// series up. Samples are kept sorted; a repeated timestamp keeps the last value
    /// written; a sample older than its series' sealed chunks (admitted concurrently with
    /// a checkpoint) is dropped and counted in the return value.
    pub fn append(&mut self, batch: &MetricBatch, resolved: &[Option<SeriesId>]) -> usize {
        let mut dropped = 0;
        for (
            index,
            SeriesSamples {
                labels, samples, ..
            },
        ) in batch.series.iter().enumerate()
        {
            let known = resolved
                .get(index)
                .copied()
                .flatten()
                .or_else(|| self.ids.get(labels).copied());
            let id = match known {
                Some(id) => id,
                None => {
                    let id = self.new_id(labels);
                    self.insert_series(id, Arc::new(labels.clone()));
                    self.unpersisted.push(id);
                    id
                }
            };
            let series = self.series.get_mut(&id).expect("ids name existing series");
            let before = series.samples.len();
            for sample in samples {
                if series
                    .sealed_until_ms
                    .is_some_and(|sealed| sample.timestamp_ms <= sealed)
                {
                    // An identical retry of a sealed sample changes nothing; anything
                    // else here was admitted concurrently with a checkpoint.
                    if series.holds(sample) != Some(true) {
                        dropped += 1;
                    }
                    continue;
                }
                series.insert_sorted(*sample);
            }
            self.sample_count += series.samples.len() - before;
        }
        dropped
    }

    /// Series whose labels pass `filter` (looked up by metric name when given), with their
    /// in-memory samples in `[start_ms, end_ms]`.
    pub fn select(
        &self,
        metric_name: Option<&str>,
        filter: &dyn Fn(&Labels) -> bool,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(SeriesId, Arc<Labels>, Vec<Sample>)> {
        let candidates: Box<dyn Iterator<Item = SeriesId> + '_> = match metric_name {
            Some(name) => Box::new(self.by_name.get(name).into_iter().flatten().copied()),
            None => Box::new(self.series.keys().copied()),
        };
        let mut out = Vec::new();
        for id in candidates {
            let series = &self.series[&id];
            if !filter(&series.labels) {
                continue;
            }
            let from = series
                .samples
                .partition_point(|s| s.timestamp_ms < start_ms);
            let to = series
                .samples
                .partition_point(|s| s.timestamp_ms <= end_ms)
                .max(from);
            out.push((id, series.labels.clone(), series.samples[from..to].to_vec()));
        }
        out
    }

    /// Decides what the next checkpoint seals: full chunks, and open chunks older than the
    /// span limit; everything else is carried over.
    ///
    /// `in_flight` maps series to the oldest timestamp of samples admitted for them but not
    /// applied yet (their requests are committing): nothing at or after it is sealed, or
    /// those samples — durable and about to be acknowledged — would land behind the sealed
    /// boundary and be dropped.
    pub fn plan_checkpoint(
        &self,
        now_ms: i64,
        policy: ChunkPolicy,
        in_flight: &HashMap<SeriesId, i64>,
    ) -> CheckpointPlan {
        let mut plan = CheckpointPlan {
            new_series: self
                .unpersisted
                .iter()
                .map(|id| (*id, self.series[id].labels.clone()))
                .collect(),
            ..CheckpointPlan::default()
        };
        let mut ids: Vec<&SeriesId> = self.series.keys().collect();
        ids.sort();
        for id in ids {
            let series = &self.series[id];
            let mut open = series.unsealed();
            // Sealed samples all come before the in-flight ones, so the boundary stays
            // below them and their append keeps them.
            let sealable_until = in_flight.get(id).copied().unwrap_or(i64::MAX);
            let mut sealable = &open[..open.partition_point(|s| s.timestamp_ms < sealable_until)];
            // A chunk holds at most `max_samples` samples spanning at most `max_span_ms`, so
            // retention can drop old chunks without touching recent samples.
            while let Some(first) = sealable.first() {
                let span_end = first.timestamp_ms.saturating_add(policy.max_span_ms);
                let in_span = sealable.partition_point(|s| s.timestamp_ms < span_end);
                let take = in_span.min(policy.max_samples);
                let full = take == policy.max_samples;
                let span_closed = in_span < sealable.len() || span_end <= now_ms;
                if !(full || span_closed) {
                    break;
                }
                plan.chunks.push((*id, sealable[..take].to_vec()));
                sealable = &sealable[take..];
                open = &open[take..];
            }
            if !open.is_empty() {
                plan.carry_over.series.push(SeriesSamples {
                    labels: (*series.labels).clone(),
                    samples: open.into(),
                    origin: Origin::Unknown,
                });
            }
        }
        plan
    }

    /// Records that a checkpoint was written.
    pub fn checkpoint_written(&mut self, plan: &CheckpointPlan) {
        for (id, samples) in &plan.chunks {
            if let (Some(series), Some(last)) = (self.series.get_mut(id), samples.last()) {
                series.seal_through(last.timestamp_ms);
            }
        }
        let written: HashSet<SeriesId> = plan.new_series.iter().map(|(id, _)| *id).collect();
        self.unpersisted.retain(|id| !written.contains(id));
    }

    /// Forgets sealed samples older than `keep_from_ms`: they stay queryable from chunks.
    pub fn trim(&mut self, keep_from_ms: i64) {
        let mut removed = 0;
        for series in self.series.values_mut() {
            let sealed = series.sealed_until_ms.unwrap_or(i64::MIN);
            let cut = series
                .samples
                .partition_point(|s| s.timestamp_ms < keep_from_ms && s.timestamp_ms <= sealed);
            if cut > 0 {
                series.samples.drain(..cut);
                removed += cut;
            }
        }
        self.sample_count -= removed;
        self.covered_from_ms = self.covered_from_ms.max(keep_from_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(name: &str, host: &str, points: &[(i64, f64)]) -> MetricBatch {
        MetricBatch {
            series: vec![SeriesSamples {
                labels: Labels::with_name(name, [("host", host)]),
                samples: points
                    .iter()
                    .map(|(t, v)| Sample {
                        timestamp_ms: *t,
                        value: *v,
                    })
                    .collect(),
                origin: Origin::Line(1),
            }],
        }
    }

    fn all(head: &Head) -> Vec<(Arc<Labels>, Vec<Sample>)> {
        let mut out: Vec<_> = head
            .select(None, &|_| true, i64::MIN, i64::MAX)
            .into_iter()
            .map(|(_, l, s)| (l, s))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn appends_sort_and_deduplicate() {
        let mut head = Head::new(0);
        head.append(&batch("cpu", "a", &[(3, 3.0), (1, 1.0)]), &[]);
        head.append(&batch("cpu", "a", &[(2, 2.0), (3, 30.0)]), &[]);
        head.append(&batch("cpu", "b", &[(1, 9.0)]), &[]);
        let series = all(&head);
        assert_eq!(series.len(), 2);
        let values: Vec<(i64, f64)> = series[0]
            .1
            .iter()
            .map(|s| (s.timestamp_ms, s.value))
            .collect();
        assert_eq!(values, vec![(1, 1.0), (2, 2.0), (3, 30.0)]);
        assert_eq!(head.sample_count(), 4);
        assert_eq!(head.series_count(), 2);
    }

    #[test]
    fn selection_uses_name_filter_and_time() {
        let mut head = Head::new(0);
        head.append(&batch("cpu", "a", &[(1, 1.0), (5, 5.0), (9, 9.0)]), &[]);
        head.append(&batch("mem", "a", &[(1, 1.0)]), &[]);
        let picked = head.select(Some("cpu"), &|l| l.get("host") == Some("a"), 2, 9);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].2.len(), 2);
        assert!(head.select(Some("disk"), &|_| true, 0, 10).is_empty());
    }

    #[test]
    fn admission_resolves_known_series_for_the_append() {
        let mut head = Head::new(0);
        head.append(&batch("cpu", "a", &[(1, 1.0)]), &[]);
        let a = head.id_of(&Labels::with_name("cpu", [("host", "a")]));
        let mut two = batch("cpu", "b", &[(2, 2.0)]);
        two.series.extend(batch("cpu", "a", &[(2, 20.0)]).series);
        two.series.extend(batch("cpu", "b", &[(3, 3.0)]).series);
        // Two new entries for the same series count once against the limit (1 + 1 ≤ 2).
        let resolved = head
            .admit(&two, 2, &HashSet::default())
            .expect("within the limit");
        assert_eq!(resolved, vec![None, a, None]);
        assert_eq!(head.append(&two, &resolved), 0);
        let b = head.id_of(&Labels::with_name("cpu", [("host", "b")]));
        let values = |id: Option<SeriesId>| -> Vec<(i64, f64)> {
            head.get(id.unwrap())
                .unwrap()
                .samples
                .iter()
                .map(|s| (s.timestamp_ms, s.value))
                .collect()
        };
        assert_eq!(values(a), vec![(1, 1.0), (2, 20.0)]);
        assert_eq!(values(b), vec![(2, 2.0), (3, 3.0)]);
        assert_eq!(head.series_count(), 2);
    }

    #[test]
    fn new_series_of_batches_in_flight_count_against_the_limit() {
        let head = Head::new(0);
        let first = batch("cpu", "a", &[(1, 1.0)]);
        let second = batch("cpu", "b", &[(1, 1.0)]);
        let reserved: HashSet<&Labels, foldhash::fast::RandomState> =
            first.series.iter().map(|s| &s.labels).collect();
        assert!(matches!(
            head.admit(&second, 1, &reserved),
            Err(IngestError::SeriesLimit { limit: 1, .. })
        ));
        // The same new series again is not counted twice.
        assert_eq!(head.admit(&first, 1, &reserved), Ok(vec![None]));
        assert_eq!(head.admit(&second, 2, &reserved), Ok(vec![None]));
    }

    #[test]
    fn admission_enforces_series_limit_and_sealed_boundary() {
        let mut head = Head::new(0);
        head.append(&batch("cpu", "a", &[(1, 1.0)]), &[]);
        let known = head.id_of(&Labels::with_name("cpu", [("host", "a")]));
        assert!(known.is_some());
        assert_eq!(
            head.admit(&batch("cpu", "a", &[(2, 1.0)]), 1, &HashSet::default()),
            Ok(vec![known])
        );
        match head.admit(&batch("cpu", "b", &[(2, 1.0)]), 1, &HashSet::default()) {
            Err(IngestError::SeriesLimit { limit: 1, series }) => {
                assert_eq!(series, "cpu{host=\"b\"}")
            }
            other => panic!("{other:?}"),
        }
        let plan = head.plan_checkpoint(
            1_000_000_000,
            ChunkPolicy {
                max_samples: 120,
                max_span_ms: 10,
            },
            &HashMap::new(),
        );
        assert_eq!(plan.chunks.len(), 1, "an old open chunk is sealed");
        head.checkpoint_written(&plan);
        assert!(matches!(
            head.admit(&batch("cpu", "a", &[(0, 5.0)]), 10, &HashSet::default()),
            Err(IngestError::TooOld { .. })
        ));
        assert!(matches!(
            head.admit(&batch("cpu", "a", &[(1, 5.0)]), 10, &HashSet::default()),
            Err(IngestError::DuplicateSample {
                timestamp_ms: 1,
                ..
            })
        ));
        // The same sample again (a sender's retry) is admitted, and changes nothing.
        assert_eq!(
            head.admit(&batch("cpu", "a", &[(1, 1.0)]), 10, &HashSet::default()),
            Ok(vec![known])
        );
        assert_eq!(head.append(&batch("cpu", "a", &[(1, 1.0)]), &[]), 0);
        assert_eq!(
            head.append(&batch("cpu", "a", &[(1, 5.0), (7, 7.0)]), &[]),
            1,
            "the sealed-over sample is dropped"
        );
    }

    #[test]
    fn a_timestamp_with_two_values_is_a_duplicate_and_the_same_value_is_not() {
        let mut head = Head::new(0);
        head.append(&batch("cpu", "a", &[(10, 1.0), (20, f64::NAN)]), &[]);
        let none = HashSet::default();
        let two = |a: MetricBatch, b: MetricBatch| MetricBatch {
            series: a.series.into_iter().chain(b.series).collect(),
        };
        let cases: Vec<(&str, MetricBatch, Option<i64>)> = vec![
            (
                "other value, stored",
                batch("cpu", "a", &[(10, 2.0)]),
                Some(10),
            ),
            (
                "same value, stored",
                batch("cpu", "a", &[(10, 1.0), (30, 3.0)]),
                None,
            ),
            (
                "same NaN bits, stored",
                batch("cpu", "a", &[(20, f64::NAN)]),
                None,
            ),
            (
                "two values in one entry",
                batch("cpu", "b", &[(5, 1.0), (5, 2.0)]),
                Some(5),
            ),
            (
                "one value twice in one entry",
                batch("cpu", "b", &[(5, 1.0), (5, 1.0)]),
                None,
            ),
            (
                "two entries of a new series",
                two(
                    batch("cpu", "c", &[(5, 1.0)]),
                    batch("cpu", "c", &[(5, 9.0)]),
                ),
                Some(5),
            ),
            (
                "two entries of a stored series",
                two(
                    batch("cpu", "a", &[(40, 1.0)]),
                    batch("cpu", "a", &[(40, 9.0)]),
                ),
                Some(40),
            ),
            (
                "two entries, other timestamps",
                two(
                    batch("cpu", "c", &[(5, 1.0)]),
                    batch("cpu", "c", &[(6, 9.0)]),
                ),
                None,
            ),
        ];
        for (what, batch, expected) in cases {
            match (head.admit(&batch, 100, &none), expected) {
                (Ok(_), None) => {}
                (Err(IngestError::DuplicateSample { timestamp_ms, .. }), Some(ts)) => {
                    assert_eq!(timestamp_ms, ts, "{what}")
                }
                (other, _) => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn checkpoints_never_seal_past_samples_still_committing() {
        let mut head = Head::new(0);
        let points: Vec<(i64, f64)> = (0..130).map(|i| (i * 1_000, i as f64)).collect();
        head.append(&batch("cpu", "a", &points), &[]);
        let id = head
            .id_of(&Labels::with_name("cpu", [("host", "a")]))
            .unwrap();
        // A request admitted a sample at 50.5 s; it is committing while the checkpoint runs.
        let late = batch("cpu", "a", &[(50_500, -1.0)]);
        let resolved = head
            .admit(&late, 10, &HashSet::default())
            .expect("admitted before any seal");
        let policy = ChunkPolicy {
            max_samples: 20,
            max_span_ms: 7_200_000,
        };
        let plan = head.plan_checkpoint(200_000, policy, &HashMap::from([(id, 50_500)]));
        let sealed: Vec<i64> = plan
            .chunks
            .iter()
            .flat_map(|(_, s)| s.iter().map(|p| p.timestamp_ms))
            .collect();
        assert!(
            sealed.iter().all(|&t| t < 50_500),
            "sealed up to {:?}",
            sealed.last()
        );
        // Without the request in flight six full chunks would be sealed (through 119 s).
        assert_eq!(sealed.len(), 40, "only the full chunks before 50.5 s");
        assert_eq!(plan.carry_over.sample_count(), 130 - 40);
        head.checkpoint_written(&plan);
        assert_eq!(
            head.append(&late, &resolved),
            0,
            "the committed sample is kept"
        );
        let kept = head
            .get(id)
            .unwrap()
            .samples
            .iter()
            .any(|s| s.timestamp_ms == 50_500);
        assert!(kept);
    }

    #[test]
    fn checkpoints_seal_full_chunks_and_carry_the_rest() {
        let mut head = Head::new(0);
        let points: Vec<(i64, f64)> = (0..250).map(|i| (1_000 + i * 15_000, i as f64)).collect();
        head.append(&batch("cpu", "a", &points), &[]);
        head.append(&batch("cpu", "b", &[(5_000_000, 1.0)]), &[]);
        let now = 1_000 + 250 * 15_000;
        let plan = head.plan_checkpoint(
            now,
            ChunkPolicy {
                max_samples: 120,
                max_span_ms: 7_200_000,
            },
            &HashMap::new(),
        );
        assert_eq!(plan.chunks.len(), 2);
        assert!(plan.chunks.iter().all(|(_, s)| s.len() == 120));
        assert_eq!(plan.new_series.len(), 2);
        assert_eq!(plan.carry_over.sample_count(), 10 + 1);
        head.checkpoint_written(&plan);
        let again = head.plan_checkpoint(
            now,
            ChunkPolicy {
                max_samples: 120,
                max_span_ms: 7_200_000,
            },
            &HashMap::new(),
        );
        assert!(again.chunks.is_empty() && again.new_series.is_empty());
        assert_eq!(again.carry_over.sample_count(), 11);

        // Trimming drops only sealed samples older than the cut.
        head.trim(1_000 + 200 * 15_000);
        assert_eq!(
            head.sample_count(),
            40 + 10 + 1,
            "sealed samples inside the window stay"
        );
        assert_eq!(head.covered_from_ms(), 1_000 + 200 * 15_000);
    }

    #[test]
    fn ids_survive_restore_and_avoid_collisions() {
        let mut head = Head::new(0);
        let labels = Labels::with_name("cpu", [("host", "a")]);
        let taken = labels.fingerprint() as i64;
        head.restore_series(taken, Labels::with_name("other", [("x", "y")]));
        head.append(&batch("cpu", "a", &[(1, 1.0)]), &[]);
        assert_eq!(head.id_of(&labels), Some(taken.wrapping_add(1)));
    }
}
