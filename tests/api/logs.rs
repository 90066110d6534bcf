//! Logs through HTTP: every ingest format, the query language, pagination under concurrent
//! ingest, histogram and fields, limits, bad input, who may ingest and search, and tenant
//! isolation. Each runs on SQLite and on PostgreSQL (`scripts/test.sh`).

use std::io::Write;

use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, post_raw, spawn_app, spawn_app_with, tenant_with_key, TestApp};

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// The records a query finds (newest first), as JSON.
pub async fn search(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    // All of time: some records carry fixed timestamps, which leave any "last hour".
    let end = (now_ns() + 3_600_000_000_000).to_string();
    search_page(
        app,
        key,
        &[
            ("query", query),
            ("limit", "1000"),
            ("start", "1"),
            ("end", &end),
        ],
    )
    .await["records"]
        .as_array()
        .unwrap()
        .clone()
}

async fn search_page(app: &TestApp, key: &str, params: &[(&str, &str)]) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/logs"))
        .query(params)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "search {params:?}");
    response.json().await.unwrap()
}

fn messages(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect()
}

async fn ingest_text(app: &TestApp, key: &str, query: &str, body: &str) -> reqwest::Response {
    post_raw(
        app,
        &format!("/api/v1/ingest/logs{query}"),
        &format!("Bearer {key}"),
        "text/plain",
        body.as_bytes().to_vec(),
    )
    .await
}

#[actix_web::test]
async fn records_in_every_native_shape_are_normalised_and_found() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let text = concat!(
        "level=error msg=\"dial tcp: connection refused\" service=api host=web-1 status=502 user.id=42\n",
        "<36>1 2026-12-03T09:00:00.5Z gw sshd 77 - - Failed password for root\n",
        "10.0.0.1 - - [03/Dec/2026:09:10:00 +0000] \"GET /healthz HTTP/1.1\" 404 12 \"-\" \"probe\"\n",
        "2026-12-03 09:20:00,123 ERROR [main] com.example.App - boom\n",
        "\tat com.example.App.run(App.java:10)\n",
        "just words\n",
    );
    let response = ingest_text(&app, &key, "?service=edge&host=lb-1", text).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["accepted_records"],
        5
    );
    let json_body = json!([
        {"ts": "2026-12-03T09:30:00Z", "level": "WARNING", "msg": "disk low", "service": "db", "host": "db-1", "disk": {"free": 0.05}},
        {"@timestamp": "2026-12-03T09:31:00Z", "message": "json two", "labels": {"env": "prod"}}
    ]);
    let response = app.post("/api/v1/ingest/logs", &key, json_body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = post_raw(
        &app,
        "/api/v1/ingest/logs",
        &format!("Bearer {key}"),
        "application/x-ndjson",
        b"{\"msg\":\"nd one\",\"lvl\":\"debug\"}\n{\"msg\":\"nd two\",\"severity\":\"crit\"}\n"
            .to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let start = "2026-12-03T00:00:00Z";
    let end = (now_ns() + 60_000_000_000).to_string();
    let all = search_page(
        &app,
        &key,
        &[("start", start), ("end", &end), ("limit", "100")],
    )
    .await;
    let records = all["records"].as_array().unwrap();
    assert_eq!(records.len(), 9, "{all}");
    let refused = records
        .iter()
        .find(|r| r["message"] == "dial tcp: connection refused")
        .unwrap();
    assert_eq!(refused["level"], "error");
    assert_eq!(refused["service"], "api");
    assert_eq!(refused["host"], "web-1");
    assert_eq!(refused["fields"]["status"], "502");
    let sshd = records.iter().find(|r| r["service"] == "sshd").unwrap();
    assert_eq!(
        (sshd["level"].as_str(), sshd["host"].as_str()),
        (Some("warn"), Some("gw"))
    );
    assert_eq!(sshd["timestamp"], "2026-12-03T09:00:00.500Z");
    let access = records
        .iter()
        .find(|r| r["fields"]["path"] == "/healthz")
        .unwrap();
    assert_eq!(
        (access["level"].as_str(), access["service"].as_str()),
        (Some("warn"), Some("edge"))
    );
    assert_eq!(access["fields"]["status"], 404);
    let trace = records
        .iter()
        .find(|r| r["level"] == "error" && r["service"] == "edge")
        .unwrap();
    assert!(
        trace["message"]
            .as_str()
            .unwrap()
            .contains("boom\n\tat com.example.App.run"),
        "{trace}"
    );
    let disk = records.iter().find(|r| r["message"] == "disk low").unwrap();
    assert_eq!(disk["fields"]["disk.free"], 0.05);
    assert_eq!(disk["level"], "warn");
    let labelled = records.iter().find(|r| r["message"] == "json two").unwrap();
    assert_eq!(labelled["labels"]["env"], "prod");

    // The query language over those records.
    let found = |query: &'static str| {
        let (app, key, end) = (&app, &key, end.clone());
        async move {
            let page = search_page(
                app,
                key,
                &[
                    ("query", query),
                    ("start", start),
                    ("end", &end),
                    ("limit", "100"),
                ],
            )
            .await;
            let mut m: Vec<String> = page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["message"]
                        .as_str()
                        .unwrap()
                        .lines()
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            m.sort();
            m
        }
    };
    assert_eq!(
        found("\"connection refused\"").await,
        ["dial tcp: connection refused"]
    );
    assert_eq!(
        found("level:error service:api").await,
        ["dial tcp: connection refused"]
    );
    assert_eq!(found("status>=500").await, ["dial tcp: connection refused"]);
    assert_eq!(found("user.id:42").await, ["dial tcp: connection refused"]);
    assert_eq!(found("host:db-*").await, ["disk low"]);
    assert_eq!(
        found("level>=error -service:api").await,
        ["[main] com.example.App - boom", "nd two"]
    );
    assert_eq!(
        found("env:prod OR (service:sshd AND password)").await,
        ["Failed password for root", "json two"]
    );
    assert_eq!(found("disk.free<0.1").await, ["disk low"]);
    assert_eq!(found("nothing-matches-this").await, Vec::<String>::new());

    let response = app.get("/api/v1/logs?query=%22unterminated", &key).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_query").await;
    assert!(message.contains("unterminated quote"), "{message}");
    for bad in [
        "start=yesterday",
        "limit=0",
        "limit=6000",
        "direction=sideways",
        "cursor=bm9wZQ",
    ] {
        let response = app.get(&format!("/api/v1/logs?{bad}"), &key).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}

#[actix_web::test]
async fn a_bad_record_stores_nothing_of_its_request() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let response = post_raw(
        &app,
        "/api/v1/ingest/logs",
        &format!("Bearer {key}"),
        "application/x-ndjson",
        b"{\"msg\":\"good\"}\n{\"msg\": broken}\n".to_vec(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("line 2: invalid JSON"), "{message}");
    let response = app
        .post("/api/v1/ingest/logs", &key, json!([{"msg": "good"}, 7]))
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("records[1]"), "{message}");
    let mut many = serde_json::Map::new();
    for i in 0..300 {
        many.insert(format!("f{i}"), json!(i));
    }
    many.insert("msg".into(), json!("too wide"));
    let response = app
        .post("/api/v1/ingest/logs", &key, json!([{"msg": "good"}, many]))
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("records[1]: 300 fields"), "{message}");
    let response = post_raw(
        &app,
        "/api/v1/ingest/logs",
        &format!("Bearer {key}"),
        "text/csv",
        b"a,b".to_vec(),
    )
    .await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(
        search(&app, &key, "").await.is_empty(),
        "nothing was stored"
    );

    // A record over 64 KiB is kept, cut and marked.
    let response = app
        .post(
            "/api/v1/ingest/logs",
            &key,
            json!([{"msg": "x".repeat(100_000)}]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let records = search(&app, &key, "").await;
    assert_eq!(records[0]["fields"]["truncated"], true);
    assert!(records[0]["message"].as_str().unwrap().len() <= 64 * 1024);
}

#[actix_web::test]
async fn bodies_over_the_limit_and_gzip_bombs_are_413() {
    let app = spawn_app_with(|c| c.ingest_max_body_bytes = 64 * 1024).await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let big = "line of text\n".repeat(10_000);
    let response = ingest_text(&app, &key, "", &big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/ingest/logs"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Within the limit, gzip is read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"zipped one\nzipped two\n").unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/ingest/logs"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(search(&app, &key, "zipped").await.len(), 2);
}

#[actix_web::test]
async fn the_ingest_rate_and_the_stream_limit_answer_429_and_422() {
    let app = spawn_app_with(|c| {
        c.log_ingest_records_per_sec = 10;
        c.log_max_streams = 3;
    })
    .await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let batch = "r\n".repeat(15);
    assert_eq!(
        ingest_text(&app, &key, "", &batch).await.status(),
        StatusCode::OK
    );
    let response = ingest_text(&app, &key, "", &batch).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(
        search(&app, &key, "").await.len(),
        15,
        "the refused batch stored nothing"
    );

    let app = spawn_app_with(|c| c.log_max_streams = 3).await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let streams = json!([
        {"msg": "a", "service": "s1"}, {"msg": "b", "service": "s2"}, {"msg": "c", "service": "s3"}
    ]);
    assert_eq!(
        app.post("/api/v1/ingest/logs", &key, streams)
            .await
            .status(),
        StatusCode::OK
    );
    let response = app
        .post(
            "/api/v1/ingest/logs",
            &key,
            json!([{"msg": "d", "service": "s1"}, {"msg": "e", "service": "s4"}]),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "stream_limit").await;
    let response = app
        .post(
            "/api/v1/ingest/logs",
            &key,
            json!([{"msg": "f", "service": "s2"}]),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "known streams still pass"
    );
}

#[actix_web::test]
async fn otlp_logs_in_protobuf_and_json() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("host.name", "web-3"),
                    kv("service.instance.id", "8f1c"),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now_ns() as u64,
                    severity_number: 13,
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("payment declined".into())),
                    }),
                    attributes: vec![KeyValue {
                        key: "order_id".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::IntValue(991)),
                        }),
                        ..Default::default()
                    }],
                    trace_id: vec![0xab; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = post_raw(
        &app,
        "/v1/logs",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let records = search(&app, &key, "service:checkout").await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r["host"].as_str(), r["level"].as_str()),
        (Some("web-3"), Some("warn"))
    );
    assert_eq!(r["fields"]["order_id"], 991);
    assert_eq!(r["fields"]["trace_id"], "ab".repeat(16));
    assert_eq!(
        r["fields"]["service.instance.id"], "8f1c",
        "per-process attributes are fields"
    );
    assert!(r["labels"].get("service.instance.id").is_none());

    let body = json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeLogs": [{"logRecords": [{"severityText": "ERROR", "body": {"stringValue": "json export"}}]}]}]});
    let response = app.post("/v1/logs", &key, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "{}");
    let records = search(&app, &key, "service:cart level:error").await;
    assert_eq!(messages(&records), ["json export"]);
    let response = post_raw(
        &app,
        "/v1/logs",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        b"\xff\xff".to_vec(),
    )
    .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[actix_web::test]
async fn loki_pushes_in_protobuf_and_gzipped_json() {
    use tidewatch::ingest::logs::loki::proto;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let ts = now_ns();
    let push = proto::PushRequest {
        streams: vec![proto::StreamAdapter {
            labels: r#"{app="billing", env="prod"}"#.into(),
            entries: vec![proto::EntryAdapter {
                timestamp: Some(proto::Timestamp {
                    seconds: ts / 1_000_000_000,
                    nanos: (ts % 1_000_000_000) as i32,
                }),
                line: "level=error msg=\"charge failed\"".into(),
                structured_metadata: vec![proto::LabelPairAdapter {
                    name: "trace_id".into(),
                    value: "abc123".into(),
                }],
            }],
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&push.encode_to_vec())
        .unwrap();
    let response = post_raw(
        &app,
        "/loki/api/v1/push",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let records = search(&app, &key, "app:billing").await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["message"], "level=error msg=\"charge failed\"");
    assert_eq!(r["labels"], json!({"app": "billing", "env": "prod"}));
    assert_eq!(
        (r["service"].as_str(), r["level"].as_str()),
        (Some("billing"), Some("error"))
    );
    assert_eq!(r["fields"]["trace_id"], "abc123");
    assert_eq!(r["timestamp_ns"], ts.to_string());

    let json_push = json!({"streams": [{"stream": {"job": "varlogs", "host": "h9"}, "values": [[ts.to_string(), "from json"]]}]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(json_push.to_string().as_bytes()).unwrap();
    let response = app
        .client
        .post(app.url("/loki/api/v1/push"))
        // python-logging-loki and Grafana Alloy's basic_auth: any user, the key as password.
        .basic_auth("tenant", Some(&key))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let records = search(&app, &key, "job:varlogs").await;
    assert_eq!(
        (records[0]["service"].as_str(), records[0]["host"].as_str()),
        (Some("varlogs"), Some("h9"))
    );

    let response = app
        .post(
            "/loki/api/v1/push",
            &key,
            json!({"streams": [{"stream": {}, "values": [["not-a-time", "x"]]}]}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("streams[0].values[0]"), "{message}");
}

#[actix_web::test]
async fn elasticsearch_shippers_find_a_cluster_and_bulk_in() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    for path in ["/es", "/es/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-elastic-product"], "Elasticsearch");
        let info: Value = response.json().await.unwrap();
        assert!(info["version"]["number"]
            .as_str()
            .unwrap()
            .starts_with("8."));
    }
    let response = app
        .client
        .head(app.url("/es/_index_template/filebeat-8"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .client
        .put(app.url("/es/_index_template/filebeat-8"))
        .json(&json!({"index_patterns": ["filebeat-*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let bulk = concat!(
        "{\"create\":{\"_index\":\"filebeat-8\"}}\n",
        "{\"@timestamp\":\"2026-12-03T09:00:00.000Z\",\"message\":\"bulk one\",\"log\":{\"level\":\"error\"},\"host\":{\"name\":\"fb-1\"}}\n",
        "{\"index\":{}}\n",
        "{\"message\":\"bulk two\",\"service\":{\"name\":\"api\"}}\n",
    );
    let response = app
        .client
        .post(app.url("/es/vector-logs/_bulk"))
        .basic_auth("elastic", Some(&key))
        .header("content-type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["errors"], false);
    assert_eq!(answer["items"][0]["create"]["status"], 201);
    assert_eq!(answer["items"][0]["create"]["_index"], "filebeat-8");
    assert_eq!(answer["items"][1]["index"]["_index"], "vector-logs");
    let records = search(&app, &key, "index:filebeat-8").await;
    assert_eq!(
        (records[0]["level"].as_str(), records[0]["host"].as_str()),
        (Some("error"), Some("fb-1"))
    );
    let records = search(&app, &key, "service:api").await;
    assert_eq!(messages(&records), ["bulk two"]);

    let response = post_raw(
        &app,
        "/api/v1/logs/_bulk",
        &format!("Bearer {key}"),
        "application/x-ndjson",
        b"{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n".to_vec(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("line 1"), "{message}");
    let response = post_raw(
        &app,
        "/es/_bulk",
        &format!("Bearer {key}"),
        "application/x-ndjson",
        b"\n  \n".to_vec(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("empty"), "{message}");
    // The bulk paths are no discovery calls: other methods there are 405, as anywhere.
    for request in [
        app.client.get(app.url("/es/_bulk")),
        app.client.put(app.url("/es/app/_bulk")),
        app.client.head(app.url("/es/_bulk")),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
    }
    let response = app
        .client
        .post(app.url("/es/_bulk"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn pages_stay_stable_while_new_records_arrive() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let base = now_ns() - 600_000_000_000;
    for batch in 0..5 {
        // Equal timestamps across batches too: the order is time, then block, then position.
        let records: Vec<Value> = (0..50)
            .map(|i| json!({"msg": format!("old {batch}-{i}"), "ts": (base + (i % 10) as i64 * 1_000_000_000).to_string()}))
            .collect();
        assert_eq!(
            app.post("/api/v1/ingest/logs", &key, Value::Array(records))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let end = (now_ns() + 60_000_000_000).to_string();
    let start = (base - 1).to_string();
    for direction in ["backward", "forward"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut params = vec![
                ("query", "old"),
                ("limit", "40"),
                ("start", start.as_str()),
                ("end", end.as_str()),
                ("direction", direction),
            ];
            if let Some(c) = cursor.as_deref() {
                params.push(("cursor", c));
            }
            let page = search_page(&app, &key, &params).await;
            // Meanwhile new records arrive, newer and as old as the ones paged.
            let fresh = json!([{"msg": format!("old fresh {pages}")}, {"msg": format!("old late {pages}"), "ts": base.to_string()}]);
            app.post("/api/v1/ingest/logs", &key, fresh).await;
            let records = page["records"].as_array().unwrap();
            let times: Vec<i64> = records
                .iter()
                .map(|r| r["timestamp_ns"].as_str().unwrap().parse().unwrap())
                .collect();
            let ordered = match direction {
                "backward" => times.windows(2).all(|w| w[0] >= w[1]),
                _ => times.windows(2).all(|w| w[0] <= w[1]),
            };
            assert!(ordered, "{direction} page {pages} is in order: {times:?}");
            seen.extend(
                records
                    .iter()
                    .map(|r| r["message"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 30, "paging ends");
        }
        let original: Vec<&String> = seen
            .iter()
            .filter(|m| !m.contains("fresh") && !m.contains("late"))
            .collect();
        let mut unique = original.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            original.len(),
            250,
            "{direction}: every original record once"
        );
        assert_eq!(unique.len(), 250, "{direction}: no record twice");
    }
}

#[actix_web::test]
async fn histogram_fields_and_values_count_what_matches() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let base = (now_ns() / 60_000_000_000 - 10) * 60_000_000_000;
    let records: Vec<Value> = (0..30)
        .map(|i| {
            json!({"msg": "tick", "ts": (base + i * 20_000_000_000).to_string(),
                   "level": if i % 3 == 0 { "error" } else { "info" },
                   "service": if i % 2 == 0 { "api" } else { "web" }, "status": 200 + i})
        })
        .collect();
    assert_eq!(
        app.post("/api/v1/ingest/logs", &key, Value::Array(records))
            .await
            .status(),
        StatusCode::OK
    );
    let (start, end) = (base.to_string(), (base + 600_000_000_000).to_string());
    let response = app
        .client
        .get(app.url("/api/v1/logs/histogram"))
        .query(&[
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "1m"),
            ("query", "tick"),
        ])
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let histogram: Value = response.json().await.unwrap();
    assert_eq!(histogram["total"], 30);
    assert_eq!(histogram["step"], 60.0);
    let buckets = histogram["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    assert_eq!(
        buckets[0]["time"].as_f64().unwrap() as i64,
        base / 1_000_000_000
    );
    assert_eq!(
        buckets[0]["counts"],
        json!({"trace": 0, "debug": 0, "info": 2, "warn": 0, "error": 1, "fatal": 0})
    );
    let errors: u64 = buckets
        .iter()
        .map(|b| b["counts"]["error"].as_u64().unwrap())
        .sum();
    assert_eq!(errors, 10);

    let response = app
        .client
        .get(app.url("/api/v1/logs/histogram"))
        .query(&[
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "1m"),
            ("query", "service:api level:error"),
        ])
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["total"], 5);
    let response = app.get("/api/v1/logs/histogram?step=0.001", &key).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;

    let query = [("start", start.as_str()), ("end", end.as_str())];
    let fields: Value = app
        .client
        .get(app.url("/api/v1/logs/fields"))
        .query(&query)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<(&str, u64)> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["count"].as_u64().unwrap()))
        .collect();
    assert!(
        names.contains(&("status", 30)) && names.contains(&("service", 30)),
        "{fields}"
    );
    assert_eq!(fields["records_sampled"], 30);
    let values: Value = app
        .client
        .get(app.url("/api/v1/logs/fields/service/values"))
        .query(&[
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("query", "level:error"),
        ])
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        values["values"],
        json!([{"value": "api", "count": 5}, {"value": "web", "count": 5}])
    );
}

#[actix_web::test]
async fn who_may_ingest_and_search_logs_and_no_tenant_sees_another() {
    let app = spawn_app().await;
    let (acme, acme_key) = tenant_with_key(&app, "acme").await;
    let (_, globex_key) = tenant_with_key(&app, "globex").await;
    let (_, viewer) = app
        .create_user(&acme.admin_token, "viewer@acme.test", "viewer")
        .await;
    let (_, read_key) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let (_, ingest_key) = app.create_api_key(&acme.admin_token, &["ingest"]).await;
    assert_eq!(
        ingest_text(&app, &ingest_key, "?service=secret", "acme only\n")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        ingest_text(&app, &viewer, "", "viewer\n").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ingest_text(&app, &read_key, "", "reader\n").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/logs", &ingest_key).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(search(&app, &viewer, "acme").await.len(), 1);
    assert_eq!(search(&app, &read_key, "acme").await.len(), 1);
    assert_eq!(search(&app, &acme_key, "service:secret").await.len(), 1);

    // Another tenant's credential sees nothing of it, by any read.
    assert!(search(&app, &globex_key, "").await.is_empty());
    assert!(search(&app, &globex_key, "service:secret").await.is_empty());
    let histogram: Value = app
        .get("/api/v1/logs/histogram", &globex_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(histogram["total"], 0);
    let fields: Value = app
        .get("/api/v1/logs/fields", &globex_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fields["records_sampled"], 0);
    let values: Value = app
        .get("/api/v1/logs/fields/service/values", &globex_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(values["values"], json!([]));
    // A cursor from one tenant's page reads nothing of it for another.
    let page = search_page(&app, &acme_key, &[("limit", "1")]).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let other = search_page(&app, &globex_key, &[("cursor", cursor)]).await;
    assert_eq!(other["records"], json!([]));
    assert_eq!(
        app.client
            .post(app.url("/api/v1/ingest/logs"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn retention_deletes_blocks_past_the_tenant_retention() {
    let app = spawn_app_with(|c| c.log_retention_days = 7).await;
    let (tenant, key) = tenant_with_key(&app, "acme").await;
    let old = now_ns() - 8 * 86_400_000_000_000;
    let response = app
        .post(
            "/api/v1/ingest/logs",
            &key,
            json!([{"msg": "ancient", "ts": old.to_string()}]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.post("/api/v1/ingest/logs", &key, json!([{"msg": "recent"}]))
            .await
            .status(),
        StatusCode::OK
    );
    let everything = [("start", "1"), ("limit", "100")];
    assert_eq!(
        search_page(&app, &key, &everything).await["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let tenant_id: tidewatch::domain::TenantId = tenant.id.parse().unwrap();
    let pipeline = app
        .state
        .tenants
        .actors(tenant_id)
        .await
        .unwrap()
        .log_pipeline;
    let deleted = pipeline
        .send(tidewatch::actors::log_pipeline::SweepLogRetention)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted, 1);
    let records = search_page(&app, &key, &everything).await;
    assert_eq!(messages(records["records"].as_array().unwrap()), ["recent"]);
}

#[actix_web::test]
async fn per_tenant_log_overrides_apply_to_that_tenant_only() {
    let app = spawn_app_with(|c| c.log_retention_days = 7).await;
    let platform = app.platform_token().await;
    let (acme, acme_key) = tenant_with_key(&app, "acme").await;
    let (_, globex_key) = tenant_with_key(&app, "globex").await;
    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &platform,
            json!({"limits": {"log_retention_days": 1, "log_ingest_records_per_sec": 2, "log_max_streams": 3}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["limits"]["log_retention_days"], 1);
    assert_eq!(body["limits"]["log_max_streams"], 3);
    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &platform,
            json!({"limits": {"log_retention_days": 0}}),
        )
        .await;
    let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(message.contains("limits.log_retention_days"), "{message}");

    // Two days old: past acme's day, within globex's week.
    let two_days_ago = (now_ns() - 2 * 86_400_000_000_000).to_string();
    for key in [&acme_key, &globex_key] {
        let response = app
            .post(
                "/api/v1/ingest/logs",
                key,
                json!([{"msg": "two days old", "ts": two_days_ago}]),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    tidewatch::actors::log_pipeline::sweep_all_tenants(&app.state.store, &app.state.clock, 7).await;
    let everything = [("start", "1"), ("limit", "100")];
    let left = |key: String| {
        let app = &app;
        async move {
            search_page(app, &key, &everything).await["records"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(left(acme_key.clone()).await, 0, "acme keeps a day");
    assert_eq!(
        left(globex_key.clone()).await,
        1,
        "globex keeps the default week"
    );

    // acme's rate: 2 records a second (bursts of 4). A full bucket admits one batch over
    // it; the next batch of 10 right after is refused. globex's default is far away.
    let batch: Vec<Value> = (0..10).map(|i| json!({"msg": format!("r{i}")})).collect();
    for _ in 0..2 {
        app.post("/api/v1/ingest/logs", &acme_key, json!(batch.clone()))
            .await;
    }
    let response = app
        .post("/api/v1/ingest/logs", &acme_key, json!(batch.clone()))
        .await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    for _ in 0..3 {
        let response = app
            .post("/api/v1/ingest/logs", &globex_key, json!(batch.clone()))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// Every page of `query` (newest first, `limit` per page) as messages with their times.
async fn all_pages(app: &TestApp, key: &str, query: &str, limit: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("query", query), ("start", "1"), ("limit", limit)];
        if let Some(c) = &cursor {
            params.push(("cursor", c.as_str()));
        }
        let page = search_page(app, key, &params).await;
        for record in page["records"].as_array().unwrap() {
            out.push((
                record["timestamp_ns"].as_str().unwrap().to_owned(),
                record["message"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

/// The histogram's total over the last two hours, by minute.
async fn histogram_total(app: &TestApp, key: &str) -> u64 {
    let start = ((now_ns() / 1_000_000_000) - 7_200).to_string();
    let response = app
        .client
        .get(app.url("/api/v1/logs/histogram"))
        .query(&[("start", start.as_str()), ("step", "60s")])
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["total"].as_u64().unwrap()
}

#[actix_web::test]
async fn compaction_merges_batches_into_time_partitions_and_every_read_answers_the_same() {
    use tidewatch::logs::compactor::{compact_tenant, CompactionPolicy};
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let tenant: tidewatch::domain::TenantId = acme.id.parse().unwrap();
    // Six batches whose records interleave over 50 minutes (as shippers that batch for a
    // long time send them), and one time all six share.
    let base = now_ns() - 3_600_000_000_000;
    for batch in 0..6i64 {
        let mut records: Vec<Value> = (0..50i64)
            .map(|i| {
                let words = if i % 7 == 0 { "connection refused" } else { "ok" };
                json!({"ts": (base + (i * 6 + batch) * 10_000_000_000).to_string(),
                       "service": format!("svc-{}", batch % 2), "level": if i % 5 == 0 { "error" } else { "info" },
                       "msg": format!("{words} b{batch} r{i}")})
            })
            .collect();
        records.push(json!({"ts": base.to_string(), "msg": format!("tie b{batch}")}));
        let response = app.post("/api/v1/ingest/logs", &key, json!(records)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let queries = [
        "",
        "\"connection refused\"",
        "level:error service:svc-1",
        "tie",
    ];
    let mut before = Vec::new();
    for query in queries {
        before.push(all_pages(&app, &key, query, "17").await);
    }
    assert_eq!(before[0].len(), 306);
    let total_before = histogram_total(&app, &key).await;
    assert_eq!(total_before, 306);

    let store = &app.state.store;
    let blocks = |store: tidewatch::store::Store| async move {
        store
            .log_block_metas(tenant, i64::MIN, i64::MAX, 10_000)
            .await
            .unwrap()
    };
    assert_eq!(blocks(store.clone()).await.len(), 6);
    let policy = CompactionPolicy {
        min_age: std::time::Duration::ZERO,
        target_records: 20,
        ..CompactionPolicy::default()
    };
    let done = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!((done.blocks_read, done.records), (6, 306));
    let after = blocks(store.clone()).await;
    assert_eq!(after.len(), done.blocks_written);
    // No block spans a 5-minute boundary or holds more than 20 records.
    for meta in &after {
        assert!(meta.record_count <= 20, "{meta:?}");
        let partition = 300_000_000_000i64;
        assert_eq!(
            meta.min_ts_ns.div_euclid(partition),
            meta.max_ts_ns.div_euclid(partition),
            "{meta:?}"
        );
    }
    // Every read answers exactly as before, page by page, ties in their order.
    for (query, expected) in queries.iter().zip(&before) {
        assert_eq!(
            &all_pages(&app, &key, query, "17").await,
            expected,
            "{query:?}"
        );
    }
    assert_eq!(histogram_total(&app, &key).await, total_before);
    // A compacted block is not compacted again; a new batch is, alone.
    let again = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!(again.blocks_read, 0);
    let response = app
        .post("/api/v1/ingest/logs", &key, json!([{"msg": "late"}]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let late = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!((late.blocks_read, late.records), (1, 1));
    assert_eq!(all_pages(&app, &key, "late", "5").await.len(), 1);
    // A late record in an old partition: compacted alone first, then merged with the
    // partition's other small block.
    let in_first = (base + 5_000_000_000).to_string();
    let response = app
        .post(
            "/api/v1/ingest/logs",
            &key,
            json!([{"msg": "very late", "ts": in_first}]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let alone = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!((alone.blocks_read, alone.records), (1, 1));
    let merged = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!(merged.blocks_read, 2, "{merged:?}");
    let settled = compact_tenant(store, &app.state.clock, tenant, policy)
        .await
        .unwrap();
    assert_eq!(settled.blocks_read, 0);
    let mut expected = before[0].clone();
    expected.push((in_first, "very late".to_owned()));
    expected.sort_by(|a, b| {
        b.0.parse::<i64>()
            .unwrap()
            .cmp(&a.0.parse::<i64>().unwrap())
    });
    let mut got = all_pages(&app, &key, "", "17").await;
    got.retain(|(_, m)| m != "late");
    // Same records; equal times may be in another order than this sort's.
    let key_of = |v: &Vec<(String, String)>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    assert_eq!(key_of(&got), key_of(&expected));
    assert_eq!(histogram_total(&app, &key).await, 308);
}
