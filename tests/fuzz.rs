//! Fuzz targets for every entry point that takes bytes from the network: the PromQL entry
//! point (limits, parse, then evaluation over a small fixture), each ingest decoder (metrics
//! and logs, the latter through to the stored block), both log query languages, and what
//! tenants write into alert rules (annotation templates, Prometheus rule files).
//!
//! `cargo fuzz` needs a nightly toolchain this project's machines do not have, so this is a
//! mutation fuzzer of its own: it starts from the seeds in `tests/fuzz_corpus/<target>/`
//! (kept in the repository, with any input a run found to fail), mutates them (bit flips,
//! byte edits, inserted dictionary tokens, deleted/duplicated ranges, splices of two
//! seeds) and runs each input with a panic catcher and a clock. A target fails on a panic
//! or an input that takes longer than `SLOW` — and writes that input into its corpus as
//! `crash-<hash>` so it stays a regression seed.
//!
//! `TIDEWATCH_FUZZ_SECS` sets each target's budget (default 3 s; the test script runs 30 s
//! per target once), `TIDEWATCH_FUZZ_SEED` the random seed (default: from the clock,
//! printed so a failure can be replayed).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prost::Message;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tidewatch::domain::metrics::{Labels, Sample};
use tidewatch::ingest::{
    decode_request, DecodeContext, Decoder, InfluxDecoder, JsonDecoder, OtlpDecoder,
    RemoteWriteDecoder,
};
use tidewatch::promql::{parse_within, Engine, ExpressionLimits, InMemorySeries, QueryLimits};

/// One input may take at most this long (decoders and the engine are linear; a slower
/// input means a quadratic path or a missing limit).
const SLOW: Duration = Duration::from_secs(2);

const NOW_MS: i64 = 1_700_000_000_000;

fn budget() -> Duration {
    let secs = std::env::var("TIDEWATCH_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target)
}

/// The seeds on disk for `target`, plus `built` ones.
fn seeds(target: &str, built: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seeds = built;
    if let Ok(entries) = std::fs::read_dir(corpus_dir(target)) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.file_name().is_some_and(|n| n != "README") {
                seeds.push(std::fs::read(&path).expect("a corpus file is readable"));
            }
        }
    }
    assert!(!seeds.is_empty(), "target {target} has no seeds");
    seeds
}

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut input = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=6) {
        let len = input.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..=len)
        };
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = rng.random();
            }
            2 if !dictionary.is_empty() => {
                let token = dictionary[rng.random_range(0..dictionary.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                input.drain(at.min(end)..end);
            }
            4 if len > 0 => {
                let from = rng.random_range(0..len);
                let end = (from + rng.random_range(1..=64)).min(len);
                let piece: Vec<u8> = input[from..end].to_vec();
                for _ in 0..rng.random_range(1..=8) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    input.truncate(at);
                    input.extend_from_slice(&other[from..]);
                }
            }
            _ => {
                let bytes: Vec<u8> = (0..rng.random_range(1..=4)).map(|_| rng.random()).collect();
                input.splice(at..at, bytes);
            }
        }
    }
    input
}

/// Runs `check` on mutated inputs for the budget; fails on a panic or a slow input.
fn fuzz(target: &str, seeds: Vec<Vec<u8>>, dictionary: &[&[u8]], check: impl Fn(&[u8])) {
    let seed = std::env::var("TIDEWATCH_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!(
        "fuzz {target}: seed {seed} (TIDEWATCH_FUZZ_SEED), budget {:?}",
        budget()
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    // Every seed as it is first, then mutations until the budget is spent.
    let mut pending: Vec<Vec<u8>> = seeds.clone();
    while !pending.is_empty() || Instant::now() < deadline {
        let input = pending
            .pop()
            .unwrap_or_else(|| mutate(&mut rng, &seeds, dictionary));
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let mut took = started.elapsed();
        runs += 1;
        if outcome.is_ok() && took > SLOW {
            // Wall time: the targets run in parallel on few cores, and a thread can be kept
            // off the CPU for seconds. A slow input is slow again; a stall is not.
            let again = Instant::now();
            let _ = catch_unwind(AssertUnwindSafe(|| check(&input)));
            took = took.min(again.elapsed());
        }
        if outcome.is_err() || took > SLOW {
            let path = save_crash(target, &input);
            panic!(
                "fuzz {target}: {} on input saved as {} (seed {seed}, after {runs} runs): {:?}",
                if outcome.is_err() {
                    "panic"
                } else {
                    "slow input"
                },
                path.display(),
                String::from_utf8_lossy(&input[..input.len().min(300)])
            );
        }
    }
    eprintln!("fuzz {target}: {runs} inputs, no failure");
    assert!(
        runs > seeds.len() as u64 || budget().is_zero(),
        "the budget allowed no mutations"
    );
}

fn save_crash(target: &str, input: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut hasher);
    let path = corpus_dir(target).join(format!("crash-{:016x}", hasher.finish()));
    let _ = std::fs::create_dir_all(corpus_dir(target));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

fn context() -> DecodeContext {
    DecodeContext {
        now_ms: NOW_MS,
        max_decompressed_bytes: 1 << 20,
        max_series: DecodeContext::DEFAULT_MAX_SERIES,
        tenant: None,
    }
}

fn fixture() -> InMemorySeries {
    let series = |name: &str, pairs: &[(&str, &str)], step: f64| {
        let samples = (0..60)
            .map(|i| Sample {
                timestamp_ms: NOW_MS - 3_600_000 + i * 60_000,
                value: step * i as f64,
            })
            .collect();
        (Labels::with_name(name, pairs.iter().copied()), samples)
    };
    InMemorySeries::new(vec![
        series("up", &[("job", "api"), ("instance", "1")], 0.0),
        series("up", &[("job", "db"), ("instance", "2")], 1.0),
        series("http_requests_total", &[("code", "200")], 10.0),
        series("http_requests_total", &[("code", "500")], 0.5),
        series("req_bucket", &[("le", "0.1")], 1.0),
        series("req_bucket", &[("le", "1")], 2.0),
        series("req_bucket", &[("le", "+Inf")], 3.0),
    ])
}

const PROMQL_TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"[5m]",
    b"[1e9999]",
    b"[0s]",
    b"[5m:1m]",
    b" offset 1e9999",
    b" offset -5m",
    b" @ 1e300",
    b" @ start()",
    b"NaN",
    b"Inf",
    b"-Inf",
    b"1e308",
    b"-0",
    b"9223372036854775807",
    b" by (job)",
    b" without (le)",
    b" on(job) group_left",
    b" bool ",
    b" and ",
    b" or ",
    b" unless ",
    b" atan2 ",
    b"^",
    b"%",
    b"==",
    b"!=",
    b"=~\".*\"",
    b"\"",
    b"\\",
    b",",
    b"topk(",
    b"quantile(",
    b"histogram_quantile(",
    b"count_values(\"x\",",
    b"sum(",
    b"rate(",
    b"clamp(",
    b"round(",
    b"absent(",
    b"vector(",
    b"scalar(",
    b"sort(",
    b"#",
    b"\n",
    b"__name__",
    b"le=\"+Inf\"",
];

#[test]
fn fuzz_promql_parse_and_evaluate() {
    // The parser's expected panics (caught by `quietly`) are then not printed.
    tidewatch::panic_net::install_hook();
    let source = fixture();
    let limits = ExpressionLimits::default();
    let engine = Engine::new(QueryLimits {
        timeout: Duration::from_secs(1),
        ..QueryLimits::default()
    });
    fuzz(
        "promql",
        seeds("promql", Vec::new()),
        PROMQL_TOKENS,
        |input| {
            let text = String::from_utf8_lossy(input);
            let Ok(expr) = parse_within(&text, &limits) else {
                return;
            };
            let _ = engine.instant(&expr, NOW_MS, &source);
            let _ = engine.range(&expr, NOW_MS - 1_800_000, NOW_MS, 60_000, &source);
        },
    );
}

const LINE_TOKENS: &[&[u8]] = &[
    b",",
    b"=",
    b" ",
    b"\\",
    b"\"",
    b"\n",
    b"i",
    b"u",
    b"t",
    b"f",
    b"true",
    b"1e9999",
    b"NaN",
    b"-9223372036854775808",
    b"18446744073709551615",
    b"\\ ",
    b"\\,",
    b"\\=",
    b"#",
    b"\r\n",
];

#[test]
fn fuzz_influx_line_protocol() {
    let ctx = context();
    let influx = InfluxDecoder::default();
    fuzz(
        "influx",
        seeds("influx", Vec::new()),
        LINE_TOKENS,
        |input| {
            let _ = influx.decode(input, &ctx);
        },
    );
}

const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"1e9999",
    b"-1",
    b"\"NaN\"",
    b"\"labels\"",
    b"\"value\"",
    b"\"timestamp\"",
    b"\"name\"",
    b"\\u0000",
    b"\\ud800",
    b"18446744073709551616",
    b"0.5",
];

#[test]
fn fuzz_json_ingest() {
    let ctx = context();
    fuzz("json", seeds("json", Vec::new()), JSON_TOKENS, |input| {
        let _ = JsonDecoder.decode(input, &ctx);
    });
}

/// A remote-write request (uncompressed protobuf) with several series shapes.
fn remote_write_seed() -> Vec<u8> {
    use tidewatch::ingest::metrics::remote_write::proto;
    let label = |name: &str, value: &str| proto::Label {
        name: name.into(),
        value: value.into(),
    };
    proto::WriteRequest {
        timeseries: vec![
            proto::TimeSeries {
                labels: vec![label("__name__", "up"), label("job", "api")],
                samples: vec![
                    proto::Sample {
                        value: 1.0,
                        timestamp: NOW_MS,
                    },
                    proto::Sample {
                        value: f64::NAN,
                        timestamp: NOW_MS + 1000,
                    },
                ],
                ..Default::default()
            },
            proto::TimeSeries {
                labels: vec![label("__name__", "x"), label("a", "b"), label("c", "")],
                samples: vec![proto::Sample {
                    value: -0.5,
                    timestamp: NOW_MS,
                }],
                ..Default::default()
            },
        ],
    }
    .encode_to_vec()
}

#[test]
fn fuzz_remote_write() {
    let ctx = context();
    let plain = remote_write_seed();
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&plain)
        .expect("compresses");
    let corpus = seeds("remote_write", vec![plain, compressed]);
    fuzz(
        "remote_write",
        corpus,
        &[b"\x0a", b"\x12", b"\x09", b"\x10", b"\xff\xff\xff\xff\x0f"],
        |input| {
            // The protobuf parser behind snappy (most inputs), and snappy itself.
            let packed = snap::raw::Encoder::new()
                .compress_vec(input)
                .expect("compresses");
            let _ = decode_request(&RemoteWriteDecoder, &packed, None, &ctx);
            let _ = decode_request(&RemoteWriteDecoder, input, None, &ctx);
        },
    );
}

#[test]
fn fuzz_otlp_json_and_protobuf() {
    let ctx = context();
    let json = OtlpDecoder::for_content_type(Some("application/json")).expect("JSON decoder");
    let protobuf =
        OtlpDecoder::for_content_type(Some("application/x-protobuf")).expect("protobuf decoder");
    let json_seeds = seeds("otlp_json", Vec::new());
    let built: Vec<Vec<u8>> = json_seeds
        .iter()
        .filter_map(|text| {
            serde_json::from_slice::<
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
            >(text)
            .ok()
            .map(|request| request.encode_to_vec())
        })
        .collect();
    assert!(!built.is_empty(), "the OTLP JSON seeds parse");
    let mut corpus = json_seeds;
    corpus.extend(built);
    fuzz("otlp_json", corpus, JSON_TOKENS, |input| {
        let _ = json.decode(input, &ctx);
        let _ = protobuf.decode(input, &ctx);
        let _ = decode_request(&protobuf, input, Some("gzip"), &ctx);
    });
}

const TEMPLATE_TOKENS: &[&[u8]] = &[
    b"{{",
    b"}}",
    b"{{-",
    b"-}}",
    b"$labels",
    b"$value",
    b"$",
    b".",
    b"|",
    b"(",
    b")",
    b"if",
    b"else",
    b"end",
    b"range",
    b"with",
    b":=",
    b"=",
    b"printf",
    b"\"%",
    b"%v",
    b"%-999999d",
    b"humanize",
    b"humanizeDuration",
    b"reReplaceAll",
    b"\"(a*)*\"",
    b"index",
    b"len",
    b"/*",
    b"*/",
    b"`",
    b"1e308",
    b"-0x1p-1074",
];

#[test]
fn fuzz_annotation_templates() {
    use std::collections::BTreeMap;
    use tidewatch::alerting::template::{Template, TemplateData};
    let labels = BTreeMap::from([
        ("host".to_owned(), "db1".to_owned()),
        ("path".to_owned(), "aaaa".to_owned()),
    ]);
    let none = BTreeMap::new();
    fuzz(
        "template",
        seeds("template", Vec::new()),
        TEMPLATE_TOKENS,
        |input| {
            let text = String::from_utf8_lossy(input);
            if let Ok(template) = Template::parse(&text) {
                for value in [0.5, f64::NAN, -1e300] {
                    let _ = template.render(&TemplateData {
                        labels: &labels,
                        external_labels: &none,
                        value,
                    });
                }
            }
        },
    );
}

const RULE_FILE_TOKENS: &[&[u8]] = &[
    b"groups:",
    b"- name: ",
    b"rules:",
    b"- alert: ",
    b"expr: ",
    b"for: ",
    b"labels:",
    b"annotations:",
    b"record: ",
    b"\n  ",
    b"\n",
    b"&a",
    b"*a",
    b"!!binary",
    b"{",
    b"[",
    b"? ",
    b"|",
    b">",
    b"'",
];

#[test]
fn fuzz_prometheus_rule_files() {
    fuzz(
        "rule_file",
        seeds("rule_file", Vec::new()),
        RULE_FILE_TOKENS,
        |input| {
            let _ = tidewatch::alerting::rule_file::import(&String::from_utf8_lossy(input));
        },
    );
}

const LOG_TOKENS: &[&[u8]] = &[
    b"{\"",
    b"\":",
    b"\"level\":",
    b"\"msg\":",
    b"\"ts\":",
    b"\"@timestamp\":",
    b"\"streams\":[",
    b"\"values\":[[",
    b"\"resourceLogs\":[",
    b"\"logRecords\":[",
    b"{\"index\":{}}\n",
    b"{\"create\":{\"_index\":\"a\"}}\n",
    b"\n",
    b"\n  at ",
    b"<34>1 ",
    b"<13>Dec  1 10:00:00 ",
    b"[a@1 k=\"v\"]",
    b"level=",
    b"=\"",
    b" ERROR ",
    b"1733047200123456789",
    b"-9223372036854775808",
    b"1e400",
    b"\\u0000",
    b"\xef\xbb\xbf",
    b"\xff",
];

/// Every log decoder, then what every accepted batch goes through before it is stored:
/// the record limits, the block encoder (columns, Bloom filter) and the column decoders,
/// which must give back as many records as went in.
#[test]
fn fuzz_log_decoders() {
    use tidewatch::domain::logs::{enforce_limits, for_each_token, LogRecord, RecordLimits};
    use tidewatch::ingest::logs::loki::proto as loki;
    use tidewatch::ingest::logs::{
        syslog, CarriesLogs, EsBulkDecoder, LokiPushDecoder, NativeLogDecoder, OtlpLogDecoder,
        RecordDefaults,
    };
    use tidewatch::ingest::{DecoderMemory, RequestHead};
    use tidewatch::tsdb::log_block;

    let ctx = context();
    let memory = DecoderMemory::default();
    let head = |content_type| RequestHead {
        content_type: Some(content_type),
        query: "service=fuzz&host=h",
    };
    let native = ["application/json", "application/x-ndjson", "text/plain"]
        .map(|t| NativeLogDecoder::for_request(&head(t), &memory).unwrap());
    let otlp = ["application/json", "application/x-protobuf"]
        .map(|t| OtlpLogDecoder::for_request(&head(t), &memory).unwrap());
    let loki_json = LokiPushDecoder::for_request(&head("application/json"), &memory).unwrap();
    let loki_protobuf =
        LokiPushDecoder::for_request(&head("application/x-protobuf"), &memory).unwrap();
    let bulk = EsBulkDecoder {
        path_index: Some("fuzz".into()),
    };
    let limits = RecordLimits::default();
    let defaults = RecordDefaults::default();

    let stored = |mut records: Vec<LogRecord>| {
        let problems = enforce_limits(&mut records, &|i| format!("record {i}"), &limits, 10);
        if !problems.is_empty() {
            return;
        }
        for record in &records {
            for_each_token(&record.message, |_| {});
        }
        let count = records.len();
        let Some(block) = log_block::encode_block(&mut records) else {
            return;
        };
        let (times, _) = log_block::decode_times(&block.times).unwrap();
        let (_, stream_of) = log_block::decode_streams(&block.streams).unwrap();
        let messages = log_block::decode_texts(&block.messages, "messages").unwrap();
        let fields = log_block::decode_texts(&block.fields, "fields").unwrap();
        assert_eq!(
            [times.len(), stream_of.len(), messages.len(), fields.len()],
            [count; 4]
        );
    };

    let json_seeds = seeds("logs", Vec::new());
    let mut built: Vec<Vec<u8>> = json_seeds
        .iter()
        .filter_map(|text| {
            serde_json::from_slice::<
                opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest,
            >(text)
            .ok()
            .map(|request| request.encode_to_vec())
        })
        .collect();
    assert!(!built.is_empty(), "an OTLP/JSON logs seed parses");
    built.push(
        loki::PushRequest {
            streams: vec![loki::StreamAdapter {
                labels: "{job=\"api\", level=\"error\"}".into(),
                entries: vec![loki::EntryAdapter {
                    timestamp: Some(loki::Timestamp {
                        seconds: 1_733_047_200,
                        nanos: 5,
                    }),
                    line: "GET /x 500".into(),
                    structured_metadata: vec![loki::LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                }],
                hash: 0,
            }],
        }
        .encode_to_vec(),
    );
    let mut corpus = json_seeds;
    corpus.extend(built);
    fuzz("logs", corpus, LOG_TOKENS, |input| {
        for decoder in &native {
            if let Ok(batch) = decode_request(decoder, input, None, &ctx) {
                stored(batch.records);
            }
        }
        for decoder in &otlp {
            if let Ok(batch) = decode_request(decoder, input, None, &ctx) {
                stored(batch.records);
            }
        }
        if let Ok(batch) = decode_request(&loki_json, input, None, &ctx) {
            stored(batch.records);
        }
        // Loki's protobuf comes snappy-compressed: the parser behind snappy, and snappy.
        let packed = snap::raw::Encoder::new()
            .compress_vec(input)
            .expect("compresses");
        if let Ok(batch) = decode_request(&loki_protobuf, &packed, None, &ctx) {
            stored(batch.records);
        }
        let _ = decode_request(&loki_protobuf, input, None, &ctx);
        if let Ok(mut batch) = decode_request(&bulk, input, Some("gzip"), &ctx)
            .or_else(|_| decode_request(&bulk, input, None, &ctx))
        {
            stored(batch.take_logs().records);
        }
        if let Ok(text) = std::str::from_utf8(input) {
            for line in text.lines() {
                if let Some(record) = syslog::parse(line, &defaults) {
                    stored(vec![record]);
                }
            }
        }
    });
}

const LOG_QUERY_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"=~",
    b"!~",
    b"!=",
    b"|=",
    b"|~",
    b"| json",
    b"| logfmt",
    b"| line_format \"",
    b"{{.",
    b"}}",
    b"[5m]",
    b"[10000y]",
    b"by (",
    b"without (",
    b"sum",
    b"topk(",
    b"rate(",
    b"count_over_time(",
    b"bytes_rate(",
    b"(",
    b")",
    b"\"",
    b"\\",
    b"*",
    b"?",
    b"OR",
    b"AND",
    b"NOT ",
    b"-",
    b"level>=",
    b":",
    b">",
    b"<=",
    b"1e308",
    b"(a*)*",
    b"\xff",
];

/// Both query languages (Tidewatch's log query language and the LogQL subset): parse
/// whatever arrives, and match what parses against a record.
#[test]
fn fuzz_log_queries() {
    use tidewatch::ingest::logs::{normalise, RecordDefaults};
    use tidewatch::logquery::{logql, Expr};

    let record = normalise::from_line(
        "2026-12-01T10:00:00Z level=error msg=\"connection refused\" status=502 service=api",
        &RecordDefaults::default(),
    );
    fuzz(
        "log_queries",
        seeds("log_queries", Vec::new()),
        LOG_QUERY_TOKENS,
        |input| {
            let Ok(text) = std::str::from_utf8(input) else {
                return;
            };
            if let Ok(expr) = Expr::parse(text) {
                let _ = expr.matches(&record);
            }
            let _ = logql::parse(text);
        },
    );
}
