//! Pcodec on the same chunks, to judge whether a chunk format version 2 would pay off.
//! Timestamps and values are compressed as two standalone Pcodec files per series.

use std::hint::black_box;

use pco::standalone::{simple_compress, simple_decompress};
use pco::ChunkConfig;
use tidewatch::domain::metrics::Sample;

use crate::{best_of, report};

fn encode(samples: &[Sample], config: &ChunkConfig) -> (Vec<u8>, Vec<u8>) {
    let timestamps: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    (
        simple_compress(&timestamps, config).expect("pco takes any i64"),
        simple_compress(&values, config).expect("pco takes any f64"),
    )
}

fn decode(timestamps: &[u8], values: &[u8]) -> Vec<Sample> {
    let timestamps = simple_decompress::<i64>(timestamps).expect("just encoded");
    let values = simple_decompress::<f64>(values).expect("just encoded");
    timestamps
        .into_iter()
        .zip(values)
        .map(|(timestamp_ms, value)| Sample {
            timestamp_ms,
            value,
        })
        .collect()
}

pub fn bench(name: &str, series: &[Vec<Sample>]) {
    let config = ChunkConfig::default();
    let total: usize = series.iter().map(Vec::len).sum();
    let files: Vec<(Vec<u8>, Vec<u8>)> = series.iter().map(|s| encode(s, &config)).collect();
    let bytes = files.iter().map(|(t, v)| t.len() + v.len()).sum();
    for (s, (t, v)) in series.iter().zip(&files) {
        let back = decode(t, v);
        assert!(
            back.iter()
                .zip(s)
                .all(|(a, b)| a.timestamp_ms == b.timestamp_ms
                    && a.value.to_bits() == b.value.to_bits()),
            "pco must round-trip exactly"
        );
    }
    let encode_time = best_of(|| {
        for s in series {
            black_box(encode(black_box(s), &config));
        }
    });
    let decode_time = best_of(|| {
        for (t, v) in &files {
            black_box(decode(black_box(t), black_box(v)));
        }
    });
    report(name, total, bytes, encode_time, decode_time);
}
