//! Deterministic sample series for the codec tests, shaped like what scrapes produce.

use crate::domain::metrics::Sample;

/// A 2023 instant, so timestamps have realistic magnitudes.
pub(crate) const START_MS: i64 = 1_700_000_000_000;
pub(crate) const SCRAPE_MS: i64 = 15_000;

/// SplitMix64: small, seedable and good enough for test data.
pub(crate) struct TestRng(u64);

impl TestRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-span, span].
    pub(crate) fn jitter(&mut self, span: i64) -> i64 {
        (self.next_u64() % (2 * span as u64 + 1)) as i64 - span
    }
}

pub(crate) fn regular_timestamps(n: usize) -> impl Iterator<Item = i64> {
    (0..n as i64).map(|i| START_MS + i * SCRAPE_MS)
}

/// Scrape timestamps a few milliseconds off the 15 s grid, as real scrapes are.
pub(crate) fn jittered_timestamps(n: usize, rng: &mut TestRng) -> Vec<i64> {
    regular_timestamps(n).map(|t| t + rng.jitter(5)).collect()
}

fn zip(timestamps: impl IntoIterator<Item = i64>, values: Vec<f64>) -> Vec<Sample> {
    timestamps
        .into_iter()
        .zip(values)
        .map(|(timestamp_ms, value)| Sample {
            timestamp_ms,
            value,
        })
        .collect()
}

/// A request counter on the regular grid: integer increments of varying size.
pub(crate) fn counter(n: usize, rng: &mut TestRng) -> Vec<Sample> {
    let mut total = 1_000_000.0;
    let values = (0..n)
        .map(|_| {
            total += (rng.next_u64() % 200) as f64;
            total
        })
        .collect();
    zip(regular_timestamps(n), values)
}

/// A full-precision gauge (CPU seconds rate, temperature …) wandering with noise.
pub(crate) fn noisy_gauge(n: usize, rng: &mut TestRng) -> Vec<Sample> {
    let mut level = 50.0;
    let values = (0..n)
        .map(|_| {
            level += rng.unit() - 0.5;
            level + rng.unit() * 0.1
        })
        .collect();
    zip(jittered_timestamps(n, rng), values)
}

/// A gauge reported with two decimals, like load averages or percentages.
pub(crate) fn rounded_gauge(n: usize, rng: &mut TestRng) -> Vec<Sample> {
    let mut level: f64 = 1.0;
    let values = (0..n)
        .map(|_| {
            level = (level + rng.unit() * 0.2 - 0.1).abs();
            (level * 100.0).round() / 100.0
        })
        .collect();
    zip(regular_timestamps(n), values)
}

pub(crate) fn constant(n: usize, value: f64) -> Vec<Sample> {
    zip(regular_timestamps(n), vec![value; n])
}
