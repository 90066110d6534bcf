//! Each log format: a good body and the records it becomes, bad bodies and what they say.

use prost::Message;
use serde_json::json;

use super::*;
use crate::domain::logs::Level;
use crate::ingest::{decode_request, DecodeContext, Decoder, DecoderMemory, RequestHead};

const NOW_MS: i64 = 1_764_756_000_000;

fn decode<D: Decoder>(
    content_type: &str,
    query: &str,
    body: &[u8],
) -> Result<D::Batch, IngestError> {
    let head = RequestHead {
        content_type: Some(content_type),
        query,
    };
    let decoder = D::for_request(&head, &DecoderMemory::default())?;
    decode_request(&decoder, body, None, &DecodeContext::new(NOW_MS))
}

fn malformed(result: Result<impl std::fmt::Debug, IngestError>) -> Vec<String> {
    match result {
        Err(IngestError::Malformed { errors }) => errors,
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn native_bodies_in_three_shapes() {
    let batch = decode::<NativeLogDecoder>(
        "application/json",
        "service=api&host=web-1",
        br#"[{"msg":"a","level":"warn"},"level=error msg=\"b c\" k=v",{"message":"c","service":"db"}]"#,
    )
    .unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(
        (batch.records[0].level, batch.records[0].service.as_str()),
        (Level::Warn, "api")
    );
    assert_eq!(
        (batch.records[1].level, batch.records[1].message.as_str()),
        (Level::Error, "b c")
    );
    assert_eq!(batch.records[2].service, "db");
    assert_eq!(batch.records[0].timestamp_ns, NOW_MS * 1_000_000);

    let batch = decode::<NativeLogDecoder>(
        "application/x-ndjson",
        "",
        b"{\"msg\":\"a\"}\n\n{\"msg\":\"b\"}\n",
    )
    .unwrap();
    assert_eq!(batch.origin(1), "line 3");

    let batch =
        decode::<NativeLogDecoder>("text/plain; charset=utf-8", "", b"one\ntwo\n  continued\n")
            .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.records[1].message, "two\n  continued");
}

#[test]
fn native_refusals_name_the_line_or_item() {
    let errors = malformed(decode::<NativeLogDecoder>(
        "application/x-ndjson",
        "",
        b"{\"msg\":\"a\"}\n{not json\n[1]\n",
    ));
    assert_eq!(errors.len(), 2);
    assert!(errors[0].starts_with("line 2: invalid JSON"), "{errors:?}");
    assert!(
        errors[1].starts_with("line 3: expected a JSON object"),
        "{errors:?}"
    );
    let errors = malformed(decode::<NativeLogDecoder>(
        "application/json",
        "",
        b"[{},42]",
    ));
    assert!(
        errors[0].starts_with("records[1]: expected an object"),
        "{errors:?}"
    );
    let errors = malformed(decode::<NativeLogDecoder>(
        "text/plain",
        "",
        b"ok\nbad \xff\n",
    ));
    assert!(
        errors[0].starts_with("line 2: the body is not valid UTF-8"),
        "{errors:?}"
    );
    assert!(matches!(
        decode::<NativeLogDecoder>("application/x-www-form-urlencoded", "", b"a"),
        Err(IngestError::UnsupportedMediaType(_))
    ));
}

#[test]
fn loki_json_and_protobuf_pushes() {
    let body = json!({"streams": [{
        "stream": {"app": "billing", "env": "prod", "host": "b-1"},
        "values": [
            ["1764756000000000001", "level=error msg=\"charge failed\""],
            ["1764756000000000002", "plain line", {"trace_id": "abc123"}]
        ]
    }]});
    let batch =
        decode::<LokiPushDecoder>("application/json", "", body.to_string().as_bytes()).unwrap();
    assert_eq!(batch.len(), 2);
    let first = &batch.records[0];
    assert_eq!(
        (first.service.as_str(), first.host.as_str()),
        ("billing", "b-1")
    );
    assert_eq!(first.level, Level::Error, "level detected from the line");
    assert_eq!(
        first.message, "level=error msg=\"charge failed\"",
        "the line is kept whole"
    );
    assert_eq!(first.labels["env"], "prod");
    assert_eq!(batch.records[1].fields["trace_id"], json!("abc123"));
    assert_eq!(batch.records[1].timestamp_ns, 1_764_756_000_000_000_002);

    let push = loki::proto::PushRequest {
        streams: vec![loki::proto::StreamAdapter {
            labels: r#"{app="billing", level="warn", quote="a \"b\""}"#.into(),
            entries: vec![loki::proto::EntryAdapter {
                timestamp: Some(loki::proto::Timestamp {
                    seconds: 1_764_756_000,
                    nanos: 5,
                }),
                line: "hello".into(),
                structured_metadata: vec![loki::proto::LabelPairAdapter {
                    name: "trace_id".into(),
                    value: "t1".into(),
                }],
            }],
            hash: 0,
        }],
    };
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&push.encode_to_vec())
        .unwrap();
    let batch = decode::<LokiPushDecoder>("application/x-protobuf", "", &compressed).unwrap();
    let record = &batch.records[0];
    assert_eq!(record.timestamp_ns, 1_764_756_000_000_000_005);
    assert_eq!(record.level, Level::Warn);
    assert_eq!(record.labels["quote"], "a \"b\"");
    assert_eq!(record.fields["trace_id"], json!("t1"));

    let errors = malformed(decode::<LokiPushDecoder>(
        "application/json",
        "",
        br#"{"streams":[{"stream":{},"values":[["soon","x"],["1",2]]}]}"#,
    ));
    assert!(errors[0].starts_with("streams[0].values[1]"), "{errors:?}");
    let errors = malformed(decode::<LokiPushDecoder>(
        "application/json",
        "",
        br#"{"streams":[{"stream":{},"values":[["soon","x"]]}]}"#,
    ));
    assert!(
        errors[0].starts_with("streams[0].values[0]: the timestamp"),
        "{errors:?}"
    );
}

#[test]
fn otlp_json_logs() {
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "host.name", "value": {"stringValue": "web-3"}},
            {"key": "deployment.environment", "value": {"stringValue": "prod"}}
        ]},
        "scopeLogs": [{"scope": {"name": "app.logger"}, "logRecords": [
            {"timeUnixNano": "1764756000000000000", "severityNumber": 13, "severityText": "WARN",
             "body": {"stringValue": "payment declined"},
             "attributes": [{"key": "order_id", "value": {"intValue": "991"}}],
             "traceId": "5b8efff798038103d269b633813fc60c"},
            {"observedTimeUnixNano": "1764756000000000009", "severityText": "Error",
             "body": {"kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "structured"}}, {"key": "code", "value": {"intValue": "7"}}]}}}
        ]}]
    }]});
    let batch =
        decode::<OtlpLogDecoder>("application/json", "", body.to_string().as_bytes()).unwrap();
    let first = &batch.records[0];
    assert_eq!(
        (first.service.as_str(), first.host.as_str(), first.level),
        ("checkout", "web-3", Level::Warn)
    );
    assert_eq!(first.message, "payment declined");
    assert_eq!(first.fields["order_id"], json!(991));
    assert_eq!(
        first.fields["trace_id"],
        json!("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(first.labels["deployment.environment"], "prod");
    let second = &batch.records[1];
    assert_eq!(
        (second.level, second.message.as_str()),
        (Level::Error, "structured")
    );
    assert_eq!(second.fields["code"], json!(7));
    assert_eq!(second.timestamp_ns, 1_764_756_000_000_000_009);
    assert_eq!(
        batch.origin(1),
        "resourceLogs[0].scopeLogs[0].logRecords[1]"
    );
    assert!(matches!(
        decode::<OtlpLogDecoder>("application/json", "", b"[]"),
        Err(IngestError::Malformed { .. })
    ));
}

#[test]
fn elasticsearch_bulk_pairs() {
    let body = concat!(
        "{\"index\":{\"_index\":\"app-logs\",\"_id\":\"a1\"}}\n",
        "{\"@timestamp\":\"2026-12-01T10:00:00Z\",\"message\":\"hello\",\"log.level\":\"error\",\"host\":{\"name\":\"h1\"}}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"second\"}\n",
    );
    let decoder = EsBulkDecoder {
        path_index: Some("filebeat".into()),
    };
    let batch =
        decode_request(&decoder, body.as_bytes(), None, &DecodeContext::new(NOW_MS)).unwrap();
    assert_eq!(batch.items.len(), 2);
    assert_eq!(
        (batch.items[0].action, batch.items[0].id.as_str()),
        ("index", "a1")
    );
    assert_eq!(
        (batch.items[1].action, batch.items[1].index.as_str()),
        ("create", "filebeat")
    );
    let first = &batch.logs.records[0];
    assert_eq!(
        (
            first.level,
            first.host.as_str(),
            first.labels["index"].as_str()
        ),
        (Level::Error, "h1", "app-logs")
    );
    assert_eq!(batch.logs.origin(1), "line 4");

    let errors = malformed(decode_request(
        &EsBulkDecoder::default(),
        b"{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n",
        None,
        &DecodeContext::new(NOW_MS),
    ));
    assert!(
        errors[0].contains("\"delete\" is not supported"),
        "{errors:?}"
    );
    let errors = malformed(decode_request(
        &EsBulkDecoder::default(),
        b"{\"index\":{}}\n{}\n",
        None,
        &DecodeContext::new(NOW_MS),
    ));
    assert!(errors[0].contains("no _index"), "{errors:?}");
}

#[test]
fn label_sets_in_text_form() {
    assert_eq!(
        parse_label_set(r#"{a="1", b="x,y", c="q\"uote"}"#).unwrap(),
        [("a", "1"), ("b", "x,y"), ("c", "q\"uote")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<BTreeMap<_, _>>()
    );
    assert!(parse_label_set("{}").unwrap().is_empty());
    for bad in [
        "a=\"1\"",
        "{a=1}",
        "{a=\"1\" b=\"2\"}",
        "{=\"x\"}",
        "{a=\"open}",
    ] {
        assert!(parse_label_set(bad).is_err(), "{bad}");
    }
}
