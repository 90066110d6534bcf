//! Metric samples and series identities, as every ingest format produces them and the
//! aggregator, store and query engine consume them. Pure: no I/O.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, OnceLock};

use serde::Serialize;
use smallvec::SmallVec;

/// The label holding the metric name, as in the Prometheus data model.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// One label of a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A series' identity: its labels sorted by name, `__name__` included. Two label sets
/// with the same pairs are equal whatever order they arrived in. Shared behind an `Arc`:
/// queries copy label sets into every result point, so a clone must not copy strings.
#[derive(Clone, Default)]
pub struct Labels(Arc<LabelSet>);

#[derive(Default)]
struct LabelSet {
    labels: Vec<Label>,
    /// Computed once, on first use: the aggregator's series index hashes, and validation
    /// checks, every series of every request, and the ingest decoders hand them the same
    /// label sets again and again, so going over their strings each time was wasted work.
    facts: OnceLock<LabelFacts>,
}

/// What hashing and validation need to know about a label set.
#[derive(Debug, Clone, Copy)]
struct LabelFacts {
    hash: u64,
    /// A valid metric name is present and every label name is valid.
    names_valid: bool,
    /// Length in bytes of the longest name and of the longest value (saturating).
    longest_name: u32,
    longest_value: u32,
}

impl LabelFacts {
    fn of(labels: &Labels) -> Self {
        let longest = |len: Option<usize>| u32::try_from(len.unwrap_or(0)).unwrap_or(u32::MAX);
        Self {
            hash: LABELS_HASHER.hash_one(&labels.0.labels),
            names_valid: labels.metric_name().is_some_and(is_valid_metric_name)
                && labels.iter().all(|l| is_valid_label_name(&l.name)),
            longest_name: longest(labels.iter().map(|l| l.name.len()).max()),
            longest_value: longest(labels.iter().map(|l| l.value.len()).max()),
        }
    }
}

/// Hashes label sets for [`Labels`]' `Hash`: one keyed hasher for the process, so the
/// cached hashes agree with each other and tenants cannot precompute colliding sets.
static LABELS_HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        if let (Some(a), Some(b)) = (self.0.facts.get(), other.0.facts.get()) {
            if a.hash != b.hash {
                return false;
            }
        }
        self.0.labels == other.0.labels
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.facts().hash);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.labels.cmp(&other.0.labels)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.0.labels).finish()
    }
}

impl Labels {
    /// Builds a label set from pairs in any order. Empty values are dropped, as Prometheus
    /// treats an empty label value as an absent label. Duplicate names keep the last value.
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        // Stable sort, then keep the last of each name.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut deduped: Vec<Label> = Vec::with_capacity(labels.len());
        for label in labels {
            match deduped.last_mut() {
                Some(last) if last.name == label.name => *last = label,
                _ => deduped.push(label),
            }
        }
        Self::new(deduped)
    }

    /// A label set from labels whose names are known to be distinct and values non-empty
    /// (a decoder that has checked both); only sorts. Cheaper than [`Labels::from_pairs`]
    /// on the ingest path, where every series of every request builds one.
    pub fn from_distinct(mut labels: Vec<Label>) -> Self {
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        debug_assert!(labels.windows(2).all(|w| w[0].name != w[1].name));
        debug_assert!(labels.iter().all(|l| !l.value.is_empty()));
        Self::new(labels)
    }

    fn new(labels: Vec<Label>) -> Self {
        Self(Arc::new(LabelSet {
            labels,
            facts: OnceLock::new(),
        }))
    }

    fn facts(&self) -> &LabelFacts {
        self.0.facts.get_or_init(|| LabelFacts::of(self))
    }

    /// This label set's allocation, the same for every clone of it: a cheap key for caches
    /// that see the same label sets again and again. Equal label sets built separately
    /// have different identities; a cache keyed by it must hold a clone so the address is
    /// not reused while the entry lives.
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// A label set for metric `name` with further labels.
    pub fn with_name<I, N, V>(name: &str, pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut all: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .filter(|(n, _)| n != METRIC_NAME_LABEL)
            .collect();
        all.push((METRIC_NAME_LABEL.to_owned(), name.to_owned()));
        Self::from_pairs(all)
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME_LABEL)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .labels
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0.labels[i].value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.labels.iter()
    }

    pub fn len(&self) -> usize {
        self.0.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.labels.is_empty()
    }

    /// A JSON object of the labels with sorted keys: the stored form in the series index.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .labels
            .iter()
            .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Reads [`Labels::to_json`]'s output back.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| format!("labels {text:?}: {e}"))?;
        Ok(Self::from_pairs(map))
    }

    /// The labels for which `keep` holds, in the same order.
    pub fn filtered(&self, keep: impl Fn(&Label) -> bool) -> Labels {
        Labels::new(self.0.labels.iter().filter(|l| keep(l)).cloned().collect())
    }

    /// These labels without `__name__`.
    pub fn without_name(&self) -> Labels {
        self.filtered(|l| l.name != METRIC_NAME_LABEL)
    }

    /// These labels with `name` set to `value`; an empty value removes the label.
    pub fn with_label(&self, name: &str, value: &str) -> Labels {
        let mut labels: Vec<Label> = self
            .0
            .labels
            .iter()
            .filter(|l| l.name != name)
            .cloned()
            .collect();
        if !value.is_empty() {
            let at = labels.partition_point(|l| l.name.as_str() < name);
            labels.insert(
                at,
                Label {
                    name: name.to_owned(),
                    value: value.to_owned(),
                },
            );
        }
        Labels::new(labels)
    }

    /// A stable 64-bit fingerprint (FNV-1a over names and values with separators), the
    /// same on every run and platform, for the series index.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint_of(|_| true)
    }

    /// The fingerprint the labels `keep` selects would have as a label set of their own
    /// (`self.filtered(keep).fingerprint()`), without building that set.
    pub fn fingerprint_of(&self, keep: impl Fn(&Label) -> bool) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        for label in self.0.labels.iter().filter(|l| keep(l)) {
            for byte in label
                .name
                .bytes()
                .chain([0xff])
                .chain(label.value.bytes())
                .chain([0xff])
            {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(PRIME);
            }
        }
        hash
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="1",b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        f.write_str(name)?;
        let mut first = true;
        for label in self.0.labels.iter().filter(|l| l.name != METRIC_NAME_LABEL) {
            f.write_str(if first { "{" } else { "," })?;
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        if !first {
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// One value at one instant. NaN and ±Inf are allowed, as Prometheus allows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// Where a series was in its request, for error messages: `line 17`, `metrics[3]`,
/// `timeseries[2]`, an OTLP path. Line numbers and list indexes are kept as numbers: every
/// decoded series carries one, and formatting a string per line protocol line cost more
/// than parsing the line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// Not from a request (replayed from a write-ahead record); displays as nothing.
    #[default]
    Unknown,
    /// `line N` (1-based) of a text body.
    Line(usize),
    /// `list[index]`: `metrics[3]`, `timeseries[2]`.
    Item(&'static str, usize),
    /// Any other position, written out.
    Path(Box<str>),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => Ok(()),
            Self::Line(line) => write!(f, "line {line}"),
            Self::Item(list, index) => write!(f, "{list}[{index}]"),
            Self::Path(path) => f.write_str(path),
        }
    }
}

/// Samples of one series in one request, with where they came from in that request so
/// errors can point at it. Most requests carry one sample per series, so one is kept
/// inline instead of in an allocation of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: SmallVec<[Sample; 1]>,
    pub origin: Origin,
}

/// Everything one ingest request carries, decoded but not yet validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricBatch {
    pub series: Vec<SeriesSamples>,
}

impl MetricBatch {
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// Per-tenant validation limits for ingested samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleLimits {
    /// Labels per series, `__name__` not counted.
    pub max_labels: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    /// Samples older than this (the raw retention) are rejected.
    pub max_age_ms: i64,
    /// Samples further ahead of the server clock than this are rejected.
    pub max_future_ms: i64,
}

impl Default for SampleLimits {
    fn default() -> Self {
        Self {
            max_labels: 30,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 2048,
            max_age_ms: 15 * super::time::DAY_MS,
            max_future_ms: 10 * 60 * 1000,
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name's shape, reserved names included (what
/// Alertmanager accepts on posted alerts).
pub fn has_label_name_shape(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, and not reserved (`__…`) unless it is `__name__`.
pub fn is_valid_label_name(name: &str) -> bool {
    has_label_name_shape(name) && (!name.starts_with("__") || name == METRIC_NAME_LABEL)
}

/// Why one series or sample was refused, and where it was in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRejection {
    pub origin: String,
    pub reason: String,
}

impl fmt::Display for SampleRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

/// Checks every series and sample against the data model and `limits`. Returns at most
/// `max_reported` rejections, first ones first; an empty list means the batch is valid.
pub fn validate_batch(
    batch: &MetricBatch,
    limits: &SampleLimits,
    now_ms: i64,
    max_reported: usize,
) -> Vec<SampleRejection> {
    let mut rejections = Vec::new();
    for series in &batch.series {
        if rejections.len() >= max_reported {
            break;
        }
        let reject = |reason: String| SampleRejection {
            origin: series.origin.to_string(),
            reason,
        };
        if let Some(reason) = series_problem(&series.labels, limits) {
            rejections.push(reject(reason));
            continue;
        }
        let oldest = now_ms - limits.max_age_ms;
        let newest = now_ms + limits.max_future_ms;
        if let Some(sample) = series
            .samples
            .iter()
            .find(|s| s.timestamp_ms < oldest || s.timestamp_ms > newest)
        {
            let reason = if sample.timestamp_ms < oldest {
                format!(
                    "series {}: timestamp {} ms is older than the retention ({} days)",
                    series.labels,
                    sample.timestamp_ms,
                    limits.max_age_ms / 86_400_000
                )
            } else {
                format!(
                    "series {}: timestamp {} ms is more than {} s in the future",
                    series.labels,
                    sample.timestamp_ms,
                    limits.max_future_ms / 1000
                )
            };
            rejections.push(reject(reason));
        }
    }
    rejections
}

fn series_problem(labels: &Labels, limits: &SampleLimits) -> Option<String> {
    let facts = labels.facts();
    let within = |len: u32, limit: usize| usize::try_from(len).is_ok_and(|len| len <= limit);
    if facts.names_valid
        && labels.len() - 1 <= limits.max_labels
        && within(facts.longest_name, limits.max_label_name_bytes)
        && within(facts.longest_value, limits.max_label_value_bytes)
    {
        return None;
    }
    // Something is wrong: find the first problem and say what it is.
    let Some(name) = labels.metric_name() else {
        return Some("the series has no metric name".into());
    };
    if !is_valid_metric_name(name) {
        return Some(format!(
            "metric name {name:?} is invalid; names match [a-zA-Z_:][a-zA-Z0-9_:]*"
        ));
    }
    let count = labels.len() - 1;
    if count > limits.max_labels {
        return Some(format!(
            "series {labels} has {count} labels; at most {} are allowed",
            limits.max_labels
        ));
    }
    for label in labels.iter() {
        if !is_valid_label_name(&label.name) {
            return Some(format!(
                "label name {:?} is invalid; names match [a-zA-Z_][a-zA-Z0-9_]* and may not start with __",
                label.name
            ));
        }
        if label.name.len() > limits.max_label_name_bytes {
            return Some(format!(
                "label name {:?} is longer than {} bytes",
                label.name, limits.max_label_name_bytes
            ));
        }
        if label.value.len() > limits.max_label_value_bytes {
            return Some(format!(
                "label {} of {name} has a value of {} bytes; at most {} are allowed",
                label.name,
                label.value.len(),
                limits.max_label_value_bytes
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subsets_fingerprint_is_that_of_the_subset() {
        let labels = Labels::with_name("cpu", [("host", "a"), ("env", "prod"), ("dc", "x")]);
        let keep = |l: &Label| l.name == "host" || l.name == "dc";
        assert_eq!(
            labels.fingerprint_of(keep),
            labels.filtered(keep).fingerprint()
        );
        assert_eq!(labels.fingerprint_of(|_| true), labels.fingerprint());
    }

    #[test]
    fn labels_are_sorted_deduplicated_and_drop_empty_values() {
        let a = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let b = Labels::from_pairs([("a", "3"), ("b", "2")]);
        assert_eq!(a, b);
        assert_eq!(a.get("a"), Some("3"));
        assert_eq!(a.get("c"), None);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            Labels::from_pairs([("a", "3"), ("b", "22")]).fingerprint()
        );
        // Separators keep a="b c" apart from a="b", c.
        assert_ne!(
            Labels::from_pairs([("a", "bc")]).fingerprint(),
            Labels::from_pairs([("ab", "c")]).fingerprint()
        );
    }

    #[test]
    fn labels_round_trip_through_json() {
        let labels = Labels::with_name("cpu", [("b", "2"), ("a", "\"x\"")]);
        let text = labels.to_json();
        assert_eq!(text, r#"{"__name__":"cpu","a":"\"x\"","b":"2"}"#);
        assert_eq!(Labels::from_json(&text), Ok(labels));
        assert!(Labels::from_json("[1]").is_err());
    }

    #[test]
    fn labels_can_be_edited_without_losing_order() {
        let labels = Labels::with_name("cpu", [("host", "a"), ("dc", "x")]);
        for (edited, expected) in [
            (labels.without_name(), r#"{dc="x",host="a"}"#),
            (
                labels.with_label("env", "p"),
                r#"cpu{dc="x",env="p",host="a"}"#,
            ),
            (labels.with_label("host", "b"), r#"cpu{dc="x",host="b"}"#),
            (labels.with_label("host", ""), r#"cpu{dc="x"}"#),
            (labels.filtered(|l| l.name == "dc"), r#"{dc="x"}"#),
        ] {
            assert_eq!(edited.to_string(), expected);
        }
        assert_eq!(
            labels.with_label("a", "1"),
            Labels::with_name("cpu", [("host", "a"), ("dc", "x"), ("a", "1")])
        );
    }

    #[test]
    fn label_sets_built_apart_are_equal_and_hash_alike() {
        use std::hash::BuildHasher;
        let hasher = foldhash::fast::RandomState::default();
        let a = Labels::with_name("cpu", [("host", "a"), ("dc", "x")]);
        let b = Labels::from_pairs([("dc", "x"), ("__name__", "cpu"), ("host", "a")]);
        assert_ne!(a.identity(), b.identity());
        // Hash one first so the comparison meets one cached and one uncached hash.
        let hash_a = hasher.hash_one(&a);
        assert_eq!(a, b);
        assert_eq!(hash_a, hasher.hash_one(&b));
        assert_eq!(
            hash_a,
            hasher.hash_one(a.clone()),
            "clones share the cached hash"
        );
        let c = a.with_label("host", "b");
        assert_ne!(hasher.hash_one(&c), hash_a);
        assert_ne!(a, c, "different values with both hashes cached");
        assert_eq!(c, Labels::with_name("cpu", [("host", "b"), ("dc", "x")]));
        assert!(a < c, "ordered by the labels, not by the cache");
    }

    #[test]
    fn labels_print_in_prometheus_notation() {
        let labels = Labels::with_name("cpu", [("host", "a"), ("dc", "x\"y")]);
        assert_eq!(labels.to_string(), "cpu{dc=\"x\\\"y\",host=\"a\"}");
        assert_eq!(
            Labels::with_name("up", Vec::<(String, String)>::new()).to_string(),
            "up"
        );
    }

    #[test]
    fn names_follow_the_prometheus_data_model() {
        for (name, metric, label) in [
            ("cpu_usage", true, true),
            ("_x", true, true),
            ("a:b", true, false),
            ("9lives", false, false),
            ("", false, false),
            ("a-b", false, false),
            ("__name__", true, true),
            ("__reserved", true, false),
            ("ünï", false, false),
        ] {
            assert_eq!(is_valid_metric_name(name), metric, "metric {name:?}");
            assert_eq!(is_valid_label_name(name), label, "label {name:?}");
        }
    }

    fn batch(labels: Labels, ts: i64) -> MetricBatch {
        MetricBatch {
            series: vec![SeriesSamples {
                labels,
                samples: smallvec::smallvec![Sample {
                    timestamp_ms: ts,
                    value: f64::NAN,
                }],
                origin: Origin::Line(1),
            }],
        }
    }

    #[test]
    fn one_label_set_is_judged_afresh_under_each_limit() {
        // Validation remembers facts about a label set, not verdicts: the same set (same
        // allocation) passes or fails as the limits of each call say.
        let now = 1_700_000_000_000;
        let labels = Labels::with_name("cpu", [("host", "a".repeat(100)), ("dc", "x".into())]);
        let input = batch(labels.clone(), now);
        let loose = SampleLimits::default();
        let reasons = |limits: &SampleLimits| -> Vec<String> {
            validate_batch(&input, limits, now, 10)
                .into_iter()
                .map(|r| r.reason)
                .collect()
        };
        assert!(reasons(&loose).is_empty());
        let short_values = SampleLimits {
            max_label_value_bytes: 99,
            ..loose
        };
        assert!(
            reasons(&short_values)[0].contains("100 bytes"),
            "{:?}",
            reasons(&short_values)
        );
        let short_names = SampleLimits {
            max_label_name_bytes: 3,
            ..loose
        };
        assert!(reasons(&short_names)[0].contains("longer than 3 bytes"));
        let few_labels = SampleLimits {
            max_labels: 1,
            ..loose
        };
        assert!(reasons(&few_labels)[0].contains("2 labels"));
        assert!(reasons(&loose).is_empty(), "and passes again");
        let reserved = batch(labels.with_label("__reserved", "x"), now);
        assert!(validate_batch(&reserved, &loose, now, 10)[0]
            .reason
            .contains("may not start with __"));
    }

    #[test]
    fn validation_names_the_origin_and_the_problem() {
        let limits = SampleLimits::default();
        let now = 1_700_000_000_000;
        let ok = batch(Labels::with_name("cpu", [("host", "a")]), now);
        assert!(
            validate_batch(&ok, &limits, now, 10).is_empty(),
            "NaN is allowed"
        );

        let many: Vec<(String, String)> =
            (0..31).map(|i| (format!("l{i}"), "v".to_owned())).collect();
        let cases = [
            (
                batch(Labels::from_pairs([("host", "a")]), now),
                "no metric name",
            ),
            (
                batch(Labels::with_name("9x", [("a", "b")]), now),
                "metric name",
            ),
            (
                batch(Labels::with_name("cpu", [("bad-label", "b")]), now),
                "label name",
            ),
            (batch(Labels::with_name("cpu", many), now), "31 labels"),
            (
                batch(Labels::with_name("cpu", [("a", "x".repeat(2049))]), now),
                "2049 bytes",
            ),
            (
                batch(
                    Labels::with_name("cpu", [("a", "b")]),
                    now - limits.max_age_ms - 1,
                ),
                "older",
            ),
            (
                batch(
                    Labels::with_name("cpu", [("a", "b")]),
                    now + limits.max_future_ms + 1,
                ),
                "future",
            ),
        ];
        for (input, expected) in cases {
            let rejections = validate_batch(&input, &limits, now, 10);
            assert_eq!(rejections.len(), 1, "{expected}");
            assert_eq!(rejections[0].origin, "line 1");
            assert!(
                rejections[0].reason.contains(expected),
                "{} should say {expected}",
                rejections[0].reason
            );
        }
    }
}
