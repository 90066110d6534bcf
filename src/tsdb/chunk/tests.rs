use super::*;
use crate::tsdb::testdata::{self, TestRng, START_MS};

fn at(timestamp_ms: i64, value: f64) -> Sample {
    Sample {
        timestamp_ms,
        value,
    }
}

/// Compares value bits, so NaN payloads and -0.0 count.
fn assert_same(name: &str, decoded: &[Sample], expected: &[Sample]) {
    assert_eq!(decoded.len(), expected.len(), "{name}: sample count");
    for (i, (d, e)) in decoded.iter().zip(expected).enumerate() {
        assert_eq!(d.timestamp_ms, e.timestamp_ms, "{name}: timestamp {i}");
        assert_eq!(
            d.value.to_bits(),
            e.value.to_bits(),
            "{name}: value {i} ({} vs {})",
            d.value,
            e.value
        );
    }
}

fn round_trip_cases() -> Vec<(&'static str, Vec<Sample>)> {
    let mut rng = TestRng::new(7);
    let specials = [
        f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        f64::from_bits(0xfff8_dead_beef_0042), // negative NaN with payload
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(1), // smallest subnormal
        -f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0,
    ];
    let random_bits: Vec<f64> = (0..300).map(|_| f64::from_bits(rng.next_u64())).collect();
    let mut random_walk_ts = START_MS;
    let random_walk: Vec<Sample> = (0..500)
        .map(|_| {
            random_walk_ts += 1 + (rng.next_u64() % 100_000) as i64;
            at(random_walk_ts, rng.unit() * 1e6 - 5e5)
        })
        .collect();
    vec![
        ("empty", vec![]),
        ("one sample", vec![at(START_MS, 42.5)]),
        ("one sample at i64::MIN", vec![at(i64::MIN, f64::NAN)]),
        (
            "regular 15 s",
            testdata::regular_timestamps(120)
                .map(|t| at(t, 1.0))
                .collect(),
        ),
        (
            "jittered intervals",
            testdata::jittered_timestamps(120, &mut rng)
                .into_iter()
                .map(|t| at(t, 3.25))
                .collect(),
        ),
        ("counter", testdata::counter(120, &mut rng)),
        ("noisy gauge", testdata::noisy_gauge(120, &mut rng)),
        ("rounded gauge", testdata::rounded_gauge(120, &mut rng)),
        ("constant", testdata::constant(120, 0.5)),
        ("random walk", random_walk),
        (
            "special values",
            specials
                .iter()
                .enumerate()
                .map(|(i, &v)| at(i as i64, v))
                .collect(),
        ),
        (
            "random bit patterns",
            random_bits
                .iter()
                .enumerate()
                .map(|(i, &v)| at(i as i64 * 1000, v))
                .collect(),
        ),
        (
            "huge gaps across the i64 range",
            vec![
                at(i64::MIN, 1.0),
                at(i64::MIN + 1, 2.0),
                at(-1, 3.0),
                at(0, 4.0),
                at(1, 5.0),
                at(i64::MAX - 1, 6.0),
                at(i64::MAX, 7.0),
            ],
        ),
        (
            "delta-of-delta bucket edges",
            [
                1,
                8192,
                8193,
                -8192,
                65_536,
                -65_537,
                524_288,
                -524_289,
                1 << 40,
            ]
            .iter()
            .scan((0i64, 1_000_000_000i64), |(ts, delta), &dod| {
                *delta += dod;
                *ts += *delta;
                Some(at(*ts, 0.0))
            })
            .collect(),
        ),
    ]
}

#[test]
fn chunks_round_trip_exactly() {
    for (name, samples) in round_trip_cases() {
        let bytes = encode_chunk(&samples).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bytes[0], CHUNK_FORMAT_V1, "{name}");
        let decoded = decode_chunk(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same(name, &decoded, &samples);

        let streamed: Vec<Sample> = ChunkIter::new(&bytes)
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        assert_same(name, &streamed, &samples);
    }
}

#[test]
fn encoding_refuses_unsorted_or_duplicate_timestamps() {
    for (name, samples, index) in [
        ("duplicate", vec![at(1, 0.0), at(2, 0.0), at(2, 1.0)], 2),
        ("decreasing", vec![at(5, 0.0), at(4, 0.0)], 1),
        ("wrapped", vec![at(i64::MAX, 0.0), at(i64::MIN, 0.0)], 1),
    ] {
        match encode_chunk(&samples) {
            Err(ChunkError::NotIncreasing { index: got, .. }) => assert_eq!(got, index, "{name}"),
            other => panic!("{name}: expected NotIncreasing, got {other:?}"),
        }
    }
}

/// Whether a decoding error is the one a case expects.
type ErrorCheck = fn(&ChunkError) -> bool;

#[test]
fn corrupt_chunks_are_reported() {
    let mut rng = TestRng::new(11);
    let valid = encode_chunk(&testdata::counter(120, &mut rng)).unwrap();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        f(&mut bytes);
        bytes
    };
    // Version, count 2, first timestamp 0, first value 0.0, then dod `0` and a value
    // `10` that reuses a window none has set.
    let mut reuse_without_window = vec![1, 2, 0];
    reuse_without_window.extend_from_slice(&[0; 8]);
    reuse_without_window.push(0b0100_0000);
    // As above with a `11` window of 31 leading zeros and 64 meaningful bits.
    let mut too_wide = reuse_without_window.clone();
    *too_wide.last_mut().unwrap() = 0b0111_1111;
    too_wide.extend_from_slice(&[0b1000_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Count 2 then i64::MAX, then a dod of +1 that overflows it.
    let mut overflow = vec![1, 2];
    put_ivarint(&mut overflow, i64::MAX);
    overflow.extend_from_slice(&[0; 8]);
    overflow.extend_from_slice(&[0b1000_0000, 0b0000_0010]);
    // Count 2^28 - 1 in front of a one-byte bit stream.
    let mut huge_count = vec![1, 0xff, 0xff, 0xff, 0x7f, 0];
    huge_count.extend_from_slice(&[0; 9]);
    // Two samples 1 ms apart: 17 bits of stream, so the last byte has 7 padding bits.
    let mut padding_set = encode_chunk(&[at(0, 0.0), at(1, 0.0)]).unwrap();
    *padding_set.last_mut().unwrap() |= 1;

    let cases: Vec<(&str, Vec<u8>, ErrorCheck)> = vec![
        ("empty", vec![], |e| *e == ChunkError::Empty),
        ("version 9", vec![9, 0], |e| {
            *e == ChunkError::UnsupportedVersion(9)
        }),
        ("no count", vec![1], |e| {
            matches!(e, ChunkError::TruncatedHeader(_))
        }),
        ("no first value", vec![1, 1, 0, 0], |e| {
            matches!(e, ChunkError::TruncatedHeader(_))
        }),
        ("huge count", huge_count, |e| {
            matches!(e, ChunkError::ImpossibleCount { .. })
        }),
        ("last byte cut", with(&|b| b.truncate(b.len() - 1)), |e| {
            matches!(e, ChunkError::TruncatedSample { .. })
        }),
        ("byte appended", with(&|b| b.push(0)), |e| {
            *e == ChunkError::TrailingData
        }),
        ("padding set", padding_set, |e| {
            *e == ChunkError::TrailingData
        }),
        ("window reused before set", reuse_without_window, |e| {
            matches!(e, ChunkError::Corrupt { index: 1, .. })
        }),
        ("window too wide", too_wide, |e| {
            matches!(e, ChunkError::Corrupt { index: 1, .. })
        }),
        ("timestamp overflow", overflow, |e| {
            matches!(e, ChunkError::Corrupt { index: 1, .. })
        }),
    ];
    for (name, bytes, expected) in cases {
        match decode_chunk(&bytes) {
            Err(e) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
            Ok(samples) => panic!("{name}: decoded {} samples", samples.len()),
        }
    }
}

#[test]
fn every_strict_prefix_of_a_chunk_is_refused() {
    let mut rng = TestRng::new(3);
    for samples in [
        testdata::counter(120, &mut rng),
        testdata::constant(120, 1.0),
    ] {
        let bytes = encode_chunk(&samples).unwrap();
        for len in 0..bytes.len() {
            assert!(
                decode_chunk(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = TestRng::new(99);
    let valid = encode_chunk(&testdata::noisy_gauge(120, &mut rng)).unwrap();
    for round in 0..20_000 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            let len = (rng.next_u64() % 64) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(first) = b.first_mut() {
                *first = CHUNK_FORMAT_V1;
            }
            b
        } else {
            let mut b = valid.clone();
            for _ in 0..1 + rng.next_u64() % 3 {
                let bit = (rng.next_u64() % (b.len() as u64 * 8)) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            b.truncate(b.len() - (rng.next_u64() % 4) as usize);
            b
        };
        // Either outcome is fine; a panic or an unbounded allocation is not.
        if let Ok(samples) = decode_chunk(&bytes) {
            assert!(samples.len() <= bytes.len() * 4 + 1);
        }
        if let Ok(iter) = ChunkIter::new(&bytes) {
            assert!(iter.count() <= bytes.len() * 4 + 2);
        }
    }
}

#[test]
fn iteration_stops_after_the_first_error() {
    let mut rng = TestRng::new(5);
    let bytes = encode_chunk(&testdata::counter(120, &mut rng)).unwrap();
    let cut = &bytes[..bytes.len() - 10];
    let items: Vec<_> = ChunkIter::new(cut).unwrap().collect();
    let errors = items.iter().filter(|i| i.is_err()).count();
    assert_eq!(errors, 1);
    assert!(items.last().unwrap().is_err());
}

#[test]
fn size_report() {
    let mut rng = TestRng::new(2024);
    let cases = [
        ("regular 15 s counter", testdata::counter(120, &mut rng)),
        (
            "noisy gauge (full precision)",
            testdata::noisy_gauge(120, &mut rng),
        ),
        (
            "gauge with 2 decimals",
            testdata::rounded_gauge(120, &mut rng),
        ),
        ("constant", testdata::constant(120, 1.0)),
    ];
    for (name, samples) in cases {
        let bytes = encode_chunk(&samples).unwrap().len();
        let per_sample = bytes as f64 / samples.len() as f64;
        println!("chunk v1, {name}: {bytes} bytes, {per_sample:.2} bytes/sample");
        assert!(per_sample < 16.0, "{name} should compress at all");
    }
}
