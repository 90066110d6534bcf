use super::*;
use crate::tsdb::testdata::{self, TestRng, START_MS};

fn series(name: &str, host: &str, samples: Vec<Sample>) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::with_name(name, [("host", host), ("job", "node")]),
        samples: samples.into(),
        origin: Origin::Path(format!("series of {host}").into()),
    }
}

/// The batch as it should come back: same series and bits, origins dropped.
fn assert_same(name: &str, decoded: &MetricBatch, expected: &MetricBatch) {
    assert_eq!(decoded.series.len(), expected.series.len(), "{name}");
    for (i, (d, e)) in decoded.series.iter().zip(&expected.series).enumerate() {
        assert_eq!(d.labels, e.labels, "{name}: series {i} labels");
        assert_eq!(d.origin, Origin::Unknown, "{name}: series {i} origin");
        let bits = |s: &SeriesSamples| -> Vec<(i64, u64)> {
            s.samples
                .iter()
                .map(|x| (x.timestamp_ms, x.value.to_bits()))
                .collect()
        };
        assert_eq!(bits(d), bits(e), "{name}: series {i} samples");
    }
}

fn batch_cases() -> Vec<(&'static str, MetricBatch)> {
    let mut rng = TestRng::new(17);
    let one = |s: Vec<Sample>| MetricBatch {
        series: vec![series("m", "a", s)],
    };
    let at = |timestamp_ms, value| Sample {
        timestamp_ms,
        value,
    };
    let many_series = MetricBatch {
        series: (0..200)
            .map(|i| {
                let host = format!("host-{}", i % 20);
                let name = if i % 2 == 0 {
                    "cpu_seconds"
                } else {
                    "mem_bytes"
                };
                series(name, &host, testdata::counter(4, &mut rng))
            })
            .collect(),
    };
    vec![
        ("empty batch", MetricBatch::default()),
        ("series without samples", one(vec![])),
        ("one sample", one(vec![at(START_MS, 1.5)])),
        ("regular counter", one(testdata::counter(120, &mut rng))),
        ("noisy gauge", one(testdata::noisy_gauge(120, &mut rng))),
        ("constant", one(testdata::constant(120, 7.0))),
        (
            "unsorted, duplicate and extreme timestamps",
            one(vec![
                at(START_MS, 1.0),
                at(START_MS - 60_000, 2.0),
                at(START_MS - 60_000, 3.0),
                at(i64::MIN, 4.0),
                at(i64::MAX, 5.0),
                at(-1, 6.0),
            ]),
        ),
        (
            "special values",
            one(vec![
                at(1, f64::NAN),
                at(2, f64::from_bits(0xfff8_dead_beef_0042)),
                at(3, -0.0),
                at(4, f64::INFINITY),
                at(5, f64::NEG_INFINITY),
                at(6, f64::from_bits(1)),
                at(7, 0.0),
            ]),
        ),
        (
            "random bit patterns",
            one((0..200)
                .map(|i| at(i, f64::from_bits(rng.next_u64())))
                .collect()),
        ),
        ("many series sharing labels", many_series),
        (
            "unicode and a series without labels",
            MetricBatch {
                series: vec![
                    SeriesSamples {
                        labels: Labels::with_name("temp", [("city", "Zürich ☀")]),
                        samples: smallvec::smallvec![at(1, 21.5)],
                        origin: Origin::Unknown,
                    },
                    SeriesSamples {
                        labels: Labels::default(),
                        samples: smallvec::smallvec![at(2, 1.0)],
                        origin: Origin::Unknown,
                    },
                ],
            },
        ),
    ]
}

#[test]
fn records_round_trip() {
    for (name, batch) in batch_cases() {
        let record = encode_wal_record(&batch);
        assert_eq!(record[0], WAL_FORMAT_V1, "{name}");
        let decoded = decode_wal_record(&record).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same(name, &decoded, &batch);
    }
}

#[test]
fn repeated_label_strings_are_stored_once() {
    let (_, batch) = batch_cases()
        .into_iter()
        .find(|(name, _)| *name == "many series sharing labels")
        .unwrap();
    let payload = payload_of(&batch);
    let mut cursor = ByteCursor::new(&payload);
    // __name__, cpu_seconds, host, 20 hosts, job, node, mem_bytes.
    assert_eq!(cursor.uvarint(), Some(26));
}

#[test]
fn incompressible_payloads_are_stored_raw() {
    let mut rng = TestRng::new(1);
    let noise = MetricBatch {
        series: vec![series(
            "m",
            "a",
            (0..50)
                .map(|i| Sample {
                    timestamp_ms: rng.next_u64() as i64,
                    value: f64::from_bits(rng.next_u64() | (i << 60)),
                })
                .collect(),
        )],
    };
    let record = encode_wal_record(&noise);
    assert_eq!(record[1], COMPRESSION_NONE);
    assert_same("noise", &decode_wal_record(&record).unwrap(), &noise);
    let regular = MetricBatch {
        series: vec![series("m", "a", testdata::constant(120, 1.0))],
    };
    assert_eq!(encode_wal_record(&regular)[1], COMPRESSION_SNAPPY);
}

/// Frames a hand-made payload the way the encoder would, so payload checks are reached.
fn framed(compression: u8, body: &[u8]) -> Vec<u8> {
    let mut record = vec![WAL_FORMAT_V1, compression];
    record.extend_from_slice(body);
    let crc = crc32fast::hash(&record);
    record.extend_from_slice(&crc.to_le_bytes());
    record
}

/// Whether a decoding error is the one a case expects.
type ErrorCheck = Box<dyn Fn(&WalError) -> bool>;

#[test]
fn torn_and_corrupt_records_are_detected() {
    let mut rng = TestRng::new(23);
    let batch = MetricBatch {
        series: vec![series("m", "a", testdata::noisy_gauge(120, &mut rng))],
    };
    let valid = encode_wal_record(&batch);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        f(&mut bytes);
        bytes
    };
    let malformed = |part: WalPart| move |e: &WalError| matches!(e, WalError::Malformed { part: p, .. } if *p == part);
    let cases: Vec<(&str, Vec<u8>, ErrorCheck)> = vec![
        (
            "empty",
            vec![],
            Box::new(|e| *e == WalError::TooShort { len: 0 }),
        ),
        (
            "version 2",
            with(&|b| b[0] = 2),
            Box::new(|e| *e == WalError::UnsupportedVersion(2)),
        ),
        (
            "torn tail",
            valid[..valid.len() / 2].to_vec(),
            Box::new(checksum),
        ),
        ("flipped bit", with(&|b| b[20] ^= 0x10), Box::new(checksum)),
        (
            "checksum flipped",
            with(&|b| *b.last_mut().unwrap() ^= 1),
            Box::new(checksum),
        ),
        ("appended byte", with(&|b| b.push(0)), Box::new(checksum)),
        (
            "compression 7",
            framed(7, &[0]),
            Box::new(|e| *e == WalError::UnknownCompression(7)),
        ),
        (
            "snappy garbage",
            framed(COMPRESSION_SNAPPY, &[0xff, 0xff, 0xff]),
            Box::new(|e| matches!(e, WalError::Decompress(_))),
        ),
        (
            "dictionary count too big",
            framed(COMPRESSION_NONE, &[0x7f, 0]),
            Box::new(malformed(WalPart::Dictionary)),
        ),
        (
            "dictionary string not UTF-8",
            framed(COMPRESSION_NONE, &[1, 1, 0xff, 0]),
            Box::new(malformed(WalPart::Dictionary)),
        ),
        (
            "label index outside the dictionary",
            framed(COMPRESSION_NONE, &[1, 1, b'a', 1, 1, 0, 1, 0]),
            Box::new(malformed(WalPart::Series(0))),
        ),
        (
            "value tag wider than 8 bytes",
            framed(COMPRESSION_NONE, &[0, 1, 0, 1, 0, 0x45, 0, 0, 0, 0, 0]),
            Box::new(malformed(WalPart::Series(0))),
        ),
        (
            "bytes after the last series",
            framed(COMPRESSION_NONE, &[0, 0, 9]),
            Box::new(malformed(WalPart::End)),
        ),
    ];
    for (name, record, expected) in cases {
        match decode_wal_record(&record) {
            Err(e) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
            Ok(batch) => panic!("{name}: decoded {} series", batch.series.len()),
        }
    }
}

fn checksum(e: &WalError) -> bool {
    matches!(e, WalError::ChecksumMismatch { .. })
}

#[test]
fn random_payloads_never_panic() {
    let mut rng = TestRng::new(31);
    let valid = payload_of(&MetricBatch {
        series: vec![series("m", "a", testdata::counter(30, &mut rng))],
    });
    for round in 0..20_000 {
        let mut body: Vec<u8> = if round % 2 == 0 {
            (0..rng.next_u64() % 48)
                .map(|_| rng.next_u64() as u8)
                .collect()
        } else {
            valid.clone()
        };
        if let Some(byte) = body.get_mut((rng.next_u64() as usize) % valid.len()) {
            *byte ^= 1 << (rng.next_u64() % 8);
        }
        let compression = if round % 3 == 0 {
            COMPRESSION_SNAPPY
        } else {
            COMPRESSION_NONE
        };
        // Either outcome is fine; a panic or an unbounded allocation is not.
        let _ = decode_wal_record(&framed(compression, &body));
    }
}

type SeriesMaker = fn(&mut TestRng) -> Vec<Sample>;

/// Record sizes per kind of series, printed for bench/README.md (`-- --nocapture`) and held
/// to a budget a little above what they are (bytes/sample: one 120-sample series, then a
/// 100-series × 1-sample scrape with its labels), so an encoding change that bloats the
/// write-ahead table fails here.
#[test]
fn size_report_within_budget() {
    let mut rng = TestRng::new(2024);
    let kinds: [(&str, SeriesMaker, f64, f64); 3] = [
        (
            "regular 15 s counter",
            |r| testdata::counter(120, r),
            4.0,
            14.0,
        ),
        ("noisy gauge", |r| testdata::noisy_gauge(120, r), 10.5, 21.0),
        ("constant", |_| testdata::constant(120, 1.0), 1.0, 10.0),
    ];
    for (name, make, whole_budget, scrape_budget) in kinds {
        // A scrape-shaped batch: 100 series of one kind, one sample each.
        let scrape = MetricBatch {
            series: (0..100)
                .map(|i| {
                    series(
                        "node_metric",
                        &format!("h{i}"),
                        make(&mut rng)[..1].to_vec(),
                    )
                })
                .collect(),
        };
        let whole = MetricBatch {
            series: vec![series("node_metric", "h", make(&mut rng))],
        };
        let shapes = [
            ("100 series × 1 sample", scrape, scrape_budget),
            ("1 series × 120", whole, whole_budget),
        ];
        for (shape, batch, budget) in shapes {
            let bytes = encode_wal_record(&batch).len();
            let per_sample = bytes as f64 / batch.sample_count() as f64;
            println!("wal v1, {name}, {shape}: {bytes} bytes, {per_sample:.2} bytes/sample");
            assert!(
                per_sample <= budget,
                "{name}, {shape}: {per_sample:.2} bytes/sample is over the budget of {budget}"
            );
        }
    }
}

/// The uncompressed payload of `batch`.
fn payload_of(batch: &MetricBatch) -> Vec<u8> {
    let (mut body, mut payload) = (Vec::new(), Vec::new());
    encode_payload(
        batch,
        &mut Dictionary::default(),
        &mut WrittenLabels::default(),
        &mut body,
        &mut payload,
    );
    payload
}

#[test]
fn a_label_set_repeated_in_a_batch_is_written_as_if_built_each_time() {
    let at = |t: i64, v: f64| Sample {
        timestamp_ms: START_MS + t,
        value: v,
    };
    let shared = Labels::with_name("cpu", [("host", "a"), ("job", "node")]);
    let other = Labels::with_name("cpu", [("host", "b"), ("job", "node")]);
    let entry = |labels: &Labels, sample: Sample| SeriesSamples {
        labels: labels.clone(),
        samples: smallvec::smallvec![sample],
        origin: Origin::Unknown,
    };
    let sharing = MetricBatch {
        series: vec![
            entry(&shared, at(0, 1.0)),
            entry(&other, at(0, 2.0)),
            entry(&shared, at(15, 3.0)),
        ],
    };
    // The same content with a separate label set per entry.
    let rebuilt = MetricBatch {
        series: sharing
            .series
            .iter()
            .map(|s| {
                let pairs: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                entry(&Labels::from_pairs(pairs), s.samples[0])
            })
            .collect(),
    };
    assert_ne!(
        rebuilt.series[0].labels.identity(),
        rebuilt.series[2].labels.identity()
    );
    assert_eq!(payload_of(&sharing), payload_of(&rebuilt));
    let decoded = decode_wal_record(&encode_wal_record(&sharing)).expect("decodes");
    assert_same("repeated label set", &decoded, &sharing);
}

#[test]
fn reused_buffers_encode_each_record_alone() {
    // A big record, then a small one on the same thread: the small one must not carry
    // anything of the first (the scratch buffers are cleared, not just overwritten).
    let big = MetricBatch {
        series: (0..500)
            .map(|i| {
                let at = Sample {
                    timestamp_ms: START_MS + i,
                    value: i as f64,
                };
                series("cpu", &format!("h{i}"), vec![at])
            })
            .collect(),
    };
    let small = MetricBatch {
        series: vec![series(
            "mem",
            "a",
            vec![
                Sample {
                    timestamp_ms: START_MS,
                    value: 1.0,
                },
                Sample {
                    timestamp_ms: START_MS + 1,
                    value: 2.0,
                },
            ],
        )],
    };
    let first = encode_wal_record(&big);
    let second = encode_wal_record(&small);
    assert!(second.len() < first.len() / 10);
    assert_eq!(decode_wal_record(&second).unwrap().series.len(), 1);
    assert_eq!(decode_wal_record(&first).unwrap().series.len(), 500);
    assert_eq!(encode_wal_record(&small), second, "same input, same bytes");
}
