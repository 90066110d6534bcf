//! Throughput and size of the storage codecs on 10,000 series × 120 samples.
//!
//! `cargo run --release --example codec_bench`; numbers go to bench/README.md.

mod pco_eval;

use std::hint::black_box;
use std::time::{Duration, Instant};

use tidewatch::domain::metrics::{Labels, MetricBatch, Sample, SeriesSamples};
use tidewatch::tsdb::{decode_chunk, decode_wal_record, encode_chunk, encode_wal_record};

const SERIES: usize = 10_000;
const SAMPLES: usize = 120;
const START_MS: i64 = 1_700_000_000_000;
const SCRAPE_MS: i64 = 15_000;
/// Timed passes; the best is reported, as the machine is shared.
const PASSES: usize = 5;

/// SplitMix64, so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Counter,
    NoisyGauge,
    RoundedGauge,
    Constant,
}

/// The mix of a node-exporter-like scrape: counters dominate, a fifth never changes.
const MIX: [(Kind, usize); 4] = [
    (Kind::Counter, 40),
    (Kind::NoisyGauge, 20),
    (Kind::RoundedGauge, 20),
    (Kind::Constant, 20),
];

fn kind_of(series: usize) -> Kind {
    let mut slot = series % 100;
    for (kind, share) in MIX {
        if slot < share {
            return kind;
        }
        slot -= share;
    }
    Kind::Constant
}

fn samples(kind: Kind, rng: &mut Rng) -> Vec<Sample> {
    let mut level = 1_000.0 * rng.unit();
    (0..SAMPLES as i64)
        .map(|i| {
            // Scrapes land a few milliseconds off the grid.
            let jitter = (rng.next_u64() % 11) as i64 - 5;
            let value = match kind {
                Kind::Counter => {
                    level += (rng.next_u64() % 500) as f64;
                    level.round()
                }
                Kind::NoisyGauge => {
                    level += rng.unit() - 0.5;
                    level + rng.unit() * 0.1
                }
                Kind::RoundedGauge => {
                    level = (level + rng.unit() - 0.5).abs();
                    (level * 100.0).round() / 100.0
                }
                Kind::Constant => 1.0,
            };
            Sample {
                timestamp_ms: START_MS + i * SCRAPE_MS + jitter,
                value,
            }
        })
        .collect()
}

fn labels(series: usize) -> Labels {
    Labels::with_name(
        &format!("node_metric_{}", series % 50),
        [
            ("instance", format!("host-{}:9100", series / 50)),
            ("job", "node".to_owned()),
            ("cpu", (series % 8).to_string()),
        ],
    )
}

pub(crate) fn best_of(mut pass: impl FnMut()) -> Duration {
    (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

pub(crate) fn report(what: &str, samples: usize, bytes: usize, encode: Duration, decode: Duration) {
    let rate = |d: Duration| samples as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{what:<34} {:>6.2} bytes/sample   encode {:>7.1} M samples/s   decode {:>7.1} M samples/s",
        bytes as f64 / samples as f64,
        rate(encode),
        rate(decode)
    );
}

fn bench_chunks(name: &str, series: &[Vec<Sample>]) {
    let total: usize = series.iter().map(Vec::len).sum();
    let chunks: Vec<Vec<u8>> = series
        .iter()
        .map(|s| encode_chunk(s).expect("generated timestamps increase"))
        .collect();
    let bytes = chunks.iter().map(Vec::len).sum();
    let encode = best_of(|| {
        for s in series {
            black_box(encode_chunk(black_box(s)).expect("generated timestamps increase"));
        }
    });
    let decode = best_of(|| {
        for c in &chunks {
            black_box(decode_chunk(black_box(c)).expect("chunk was just encoded"));
        }
    });
    report(name, total, bytes, encode, decode);
}

fn main() {
    let mut rng = Rng(42);
    let all: Vec<(usize, Vec<Sample>)> = (0..SERIES)
        .map(|i| (i, samples(kind_of(i), &mut rng)))
        .collect();

    let subsets: Vec<(String, Vec<Vec<Sample>>)> = std::iter::once(("all series".to_owned(), None))
        .chain(MIX.iter().map(|(k, _)| (format!("{k:?}"), Some(*k))))
        .map(|(name, kind)| {
            let series = all
                .iter()
                .filter(|(i, _)| kind.is_none_or(|k| kind_of(*i) == k))
                .map(|(_, s)| s.clone())
                .collect();
            (name, series)
        })
        .collect();
    println!("{SERIES} series × {SAMPLES} samples, best of {PASSES} passes\n");
    println!("chunk v1 (Gorilla), one chunk per series:");
    for (name, series) in &subsets {
        bench_chunks(&format!("  {name}"), series);
    }

    println!("\nPcodec 1.x (level 8), timestamps and values as two files per series:");
    for (name, series) in &subsets {
        pco_eval::bench(&format!("  {name}"), series);
    }

    // The WAL sees scrapes: every series once per batch, one sample each.
    let label_sets: Vec<Labels> = (0..SERIES).map(labels).collect();
    let batches: Vec<MetricBatch> = (0..SAMPLES)
        .map(|t| MetricBatch {
            series: all
                .iter()
                .map(|(i, s)| SeriesSamples {
                    labels: label_sets[*i].clone(),
                    samples: smallvec::smallvec![s[t]],
                    origin: Default::default(),
                })
                .collect(),
        })
        .collect();
    let records: Vec<Vec<u8>> = batches.iter().map(encode_wal_record).collect();
    let bytes = records.iter().map(Vec::len).sum();
    let encode = best_of(|| {
        for b in &batches {
            black_box(encode_wal_record(black_box(b)));
        }
    });
    let decode = best_of(|| {
        for r in &records {
            black_box(decode_wal_record(black_box(r)).expect("record was just encoded"));
        }
    });
    println!("\nWAL v1, {SAMPLES} records of {SERIES} series × 1 sample (labels included):");
    report(
        "  scrape-shaped batches",
        SERIES * SAMPLES,
        bytes,
        encode,
        decode,
    );
}
