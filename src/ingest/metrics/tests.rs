//! Tests of the shared pieces, and helpers for the formats' tests.

use super::*;
use crate::domain::metrics::validate_batch;
use crate::ingest::{decode_request, media_type, DecodeContext, Decoder};

pub(crate) const NOW: i64 = 1_700_000_000_000;

/// A one-sample series, as most formats produce.
pub(crate) fn series(
    name: &str,
    labels: &[(&str, &str)],
    timestamp_ms: i64,
    value: f64,
    origin: &str,
) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::with_name(name, labels.iter().copied()),
        samples: smallvec::smallvec![Sample {
            timestamp_ms,
            value,
        }],
        origin: origin_of(origin),
    }
}

/// The [`Origin`] a decoder gives for `text` as it is displayed: `line 3`, `metrics[2]`,
/// `timeseries[0]`, anything else a path.
pub(crate) fn origin_of(text: &str) -> Origin {
    let number = |digits: &str| digits.parse::<usize>().ok();
    if let Some(line) = text.strip_prefix("line ").and_then(number) {
        return Origin::Line(line);
    }
    for list in ["metrics", "timeseries"] {
        let index = text
            .strip_prefix(list)
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(number);
        if let Some(index) = index {
            return Origin::Item(list, index);
        }
    }
    Origin::Path(text.into())
}

/// The messages of a `Malformed`, failing the test on anything else.
pub(crate) fn malformed(result: Result<MetricBatch, IngestError>) -> Vec<String> {
    match result {
        Err(IngestError::Malformed { errors }) => errors,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// Asserts that decoding `body` fails with exactly one message containing `expected`.
pub(crate) fn assert_one_error(result: Result<MetricBatch, IngestError>, expected: &str) {
    let errors = malformed(result);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(expected),
        "{:?} should contain {expected:?}",
        errors[0]
    );
}

#[test]
fn decode_request_decompresses_then_decodes() {
    let body = b"cpu value=1 1700000000000\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, body).expect("write to memory");
    let gzipped = encoder.finish().expect("finish in memory");
    let mut ctx = DecodeContext::new(NOW);
    let influx = InfluxDecoder::with_precision(Precision::Milliseconds);
    let batch = decode_request(&influx, &gzipped, Some("gzip"), &ctx).expect("decodes");
    assert_eq!(
        batch.series,
        vec![series("cpu", &[], 1_700_000_000_000, 1.0, "line 1")]
    );

    ctx.max_decompressed_bytes = 10;
    assert_eq!(
        decode_request(&influx, &gzipped, Some("gzip"), &ctx),
        Err(IngestError::TooLarge { limit: 10 })
    );
}

#[test]
fn remote_write_implies_snappy_when_no_encoding_is_sent() {
    let ctx = DecodeContext::new(NOW);
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&[])
        .expect("compress in memory");
    let batch = decode_request(&RemoteWriteDecoder, &compressed, None, &ctx).expect("decodes");
    assert!(batch.series.is_empty());
    // An explicit encoding wins.
    let batch = decode_request(&RemoteWriteDecoder, &[], Some("identity"), &ctx).expect("decodes");
    assert!(batch.series.is_empty());
}

#[test]
fn too_many_series_is_refused_while_decoding() {
    let mut ctx = DecodeContext::new(NOW);
    ctx.max_series = 3;
    let body = b"m a=1,b=2\nm c=3,d=4\n";
    assert_eq!(
        InfluxDecoder::default().decode(body, &ctx),
        Err(IngestError::TooManySeries { limit: 3 })
    );
    ctx.max_series = 4;
    assert_eq!(
        InfluxDecoder::default()
            .decode(body, &ctx)
            .map(|b| b.series.len()),
        Ok(4)
    );
}

#[test]
fn at_most_ten_errors_are_reported_first_ones_first() {
    let body = (1..=25).map(|i| format!("bad{i}\n")).collect::<String>();
    let errors =
        malformed(InfluxDecoder::default().decode(body.as_bytes(), &DecodeContext::new(NOW)));
    assert_eq!(errors.len(), MAX_REPORTED_ERRORS);
    assert!(errors[0].starts_with("line 1: "), "{}", errors[0]);
    assert!(errors[9].starts_with("line 10: "), "{}", errors[9]);
}

#[test]
fn errors_render_with_every_message() {
    let error = IngestError::Malformed {
        errors: vec!["line 1: a".into(), "line 2: b".into()],
    };
    assert_eq!(
        error.to_string(),
        "malformed request body: line 1: a; line 2: b"
    );
    assert_eq!(
        IngestError::TooLarge { limit: 5 }.to_string(),
        "the decompressed request body is larger than 5 bytes"
    );
}

#[test]
fn media_types_drop_parameters_and_case() {
    for (header, expected) in [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        (" text/plain ;x=y", "text/plain"),
        ("", ""),
    ] {
        assert_eq!(media_type(header), expected);
    }
}

#[test]
fn invalid_names_are_kept_for_validate_batch_to_report_with_their_origin() {
    let body = b"cpu.load,data-center=x value=1\n";
    let batch = InfluxDecoder::default()
        .decode(body, &DecodeContext::new(NOW))
        .expect("decodes: names are the data model's business");
    let rejections = validate_batch(&batch, &Default::default(), NOW, 10);
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].origin, "line 1");
    assert!(
        rejections[0].reason.contains("\"cpu.load\""),
        "{}",
        rejections[0]
    );
}
