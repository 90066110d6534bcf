//! Loki's query API as Grafana's Loki data source calls it: the health check (labels),
//! the label browser, log and metric queries over query_range and query, series, index
//! stats, the live tail over a WebSocket, refusals naming what is not supported, and no
//! tenant seeing another's streams.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, tenant_with_key, TestApp};

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Loki's float-second timestamps as whole ms (JSON floats do not round-trip exactly).
fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn points(values: &Value) -> Vec<(i64, String)> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                ms(v[0].as_f64().unwrap()),
                v[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn loki_get(
    app: &TestApp,
    key: &str,
    path: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .query(params)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn loki_ok(app: &TestApp, key: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let response = loki_get(app, key, path, params).await;
    assert_eq!(response.status(), StatusCode::OK, "{path} {params:?}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body
}

/// Pushes three streams over the last minutes: billing/prod (JSON lines), billing/dev
/// (logfmt) and search (text); returns the push time.
async fn push_fixture(app: &TestApp, key: &str) -> i64 {
    let t = now_ns() - 120_000_000_000;
    let at = |s: i64| (t + s * 1_000_000_000).to_string();
    let push = json!({"streams": [
        {"stream": {"app": "billing", "env": "prod"}, "values": [
            [at(0), r#"{"level":"error","msg":"charge failed","status":502}"#],
            [at(10), r#"{"level":"info","msg":"charge ok","status":200}"#],
            [at(70), r#"{"level":"error","msg":"charge failed","status":503}"#]
        ]},
        {"stream": {"app": "billing", "env": "dev"}, "values": [
            [at(5), "level=info msg=\"dev charge\" duration=12"]
        ]},
        {"stream": {"app": "search"}, "values": [
            [at(20), "connection refused by upstream"]
        ]}
    ]});
    let response = app.post("/loki/api/v1/push", key, push).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    t
}

#[actix_web::test]
async fn grafana_browses_labels_and_queries_streams() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = push_fixture(&app, &key).await;
    let (start, end) = ((t - 60_000_000_000).to_string(), now_ns().to_string());
    let range = [("start", start.as_str()), ("end", end.as_str())];

    let labels = loki_ok(&app, &key, "/loki/api/v1/labels", &range).await;
    assert_eq!(labels["data"], json!(["app", "env", "service_name"]));
    let values = loki_ok(&app, &key, "/loki/api/v1/label/app/values", &range).await;
    assert_eq!(values["data"], json!(["billing", "search"]));
    let values = loki_ok(
        &app,
        &key,
        "/loki/api/v1/label/env/values",
        &[
            ("start", &start),
            ("end", &end),
            ("query", r#"{app="billing"}"#),
        ],
    )
    .await;
    assert_eq!(values["data"], json!(["dev", "prod"]));

    let body = loki_ok(
        &app,
        &key,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app="billing"} |= "charge""#),
            ("start", &start),
            ("end", &end),
            ("limit", "10"),
            ("direction", "backward"),
        ],
    )
    .await;
    assert_eq!(body["data"]["resultType"], "streams");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{body}");
    let prod = result
        .iter()
        .find(|s| s["stream"]["env"] == "prod")
        .unwrap();
    assert_eq!(
        prod["stream"],
        json!({"app": "billing", "env": "prod", "service_name": "billing"})
    );
    let values = prod["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(
        values[0][0],
        (t + 70_000_000_000).to_string(),
        "newest first"
    );
    assert_eq!(
        values[0][1],
        r#"{"level":"error","msg":"charge failed","status":503}"#
    );

    // A pipeline: parsed labels join the stream, line_format rewrites the line.
    let body = loki_ok(&app, &key, "/loki/api/v1/query_range", &[("query", r#"{app="billing", env="prod"} | json | status >= 500 | line_format "{{.msg}} ({{.status}})""#), ("start", &start), ("end", &end), ("direction", "forward")]).await;
    let result = body["data"]["result"].as_array().unwrap();
    let lines: Vec<&str> = result
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[1].as_str().unwrap())
        })
        .collect();
    assert_eq!(lines, ["charge failed (502)", "charge failed (503)"]);
    assert_eq!(result[0]["stream"]["level"], "error");

    let body = loki_ok(
        &app,
        &key,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app=~".+"} |~ "refused|dev""#),
            ("start", &start),
            ("end", &end),
        ],
    )
    .await;
    assert_eq!(body["data"]["result"].as_array().unwrap().len(), 2);

    let series = loki_ok(
        &app,
        &key,
        "/loki/api/v1/series",
        &[
            ("match[]", r#"{app="search"}"#),
            ("start", &start),
            ("end", &end),
        ],
    )
    .await;
    assert_eq!(
        series["data"],
        json!([{"app": "search", "service_name": "search"}])
    );

    let response = loki_get(
        &app,
        &key,
        "/loki/api/v1/index/stats",
        &[
            ("query", r#"{app="billing"}"#),
            ("start", &start),
            ("end", &end),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stats: Value = response.json().await.unwrap();
    assert_eq!(
        (stats["streams"].as_u64(), stats["entries"].as_u64()),
        (Some(2), Some(4)),
        "{stats}"
    );
}

#[actix_web::test]
async fn metric_queries_answer_matrices_and_vectors() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = push_fixture(&app, &key).await;
    // Steps at t+60 s and t+120 s, one-minute windows (t, t+60] and (t+60, t+120].
    let (start, end) = (
        (t + 60_000_000_000).to_string(),
        (t + 120_000_000_000).to_string(),
    );
    let body = loki_ok(
        &app,
        &key,
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#,
            ),
            ("start", &start),
            ("end", &end),
            ("step", "60"),
        ],
    )
    .await;
    assert_eq!(body["data"]["resultType"], "matrix");
    let result = body["data"]["result"].as_array().unwrap();
    let billing = result
        .iter()
        .find(|s| s["metric"]["app"] == "billing")
        .unwrap();
    let t1 = (t + 60_000_000_000) as f64 / 1e9;
    let t2 = (t + 120_000_000_000) as f64 / 1e9;
    assert_eq!(billing["metric"], json!({"app": "billing"}));
    assert_eq!(
        points(&billing["values"]),
        [(ms(t1), "2".to_owned()), (ms(t2), "1".to_owned())],
        "{body}"
    );
    let search = result
        .iter()
        .find(|s| s["metric"]["app"] == "search")
        .unwrap();
    assert_eq!(points(&search["values"]), [(ms(t1), "1".to_owned())]);

    let body = loki_ok(
        &app,
        &key,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum(count_over_time({app="billing"} | json | status >= 500 [5m]))"#,
            ),
            ("time", &end),
        ],
    )
    .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let vector = body["data"]["result"].as_array().unwrap();
    assert_eq!(vector.len(), 1, "{body}");
    assert_eq!(vector[0]["metric"], json!({}));
    assert_eq!(
        points(&json!([vector[0]["value"]])),
        [(ms(t2), "2".to_owned())]
    );

    let body = loki_ok(
        &app,
        &key,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"topk(1, sum by (env) (bytes_over_time({app="billing"}[5m])))"#,
            ),
            ("time", &end),
        ],
    )
    .await;
    assert_eq!(body["data"]["result"][0]["metric"]["env"], "prod");
}

#[actix_web::test]
async fn what_is_outside_the_subset_is_a_400_naming_it_and_tenants_stay_apart() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let (_, other) = tenant_with_key(&app, "globex").await;
    push_fixture(&app, &key).await;
    for (query, named) in [
        (r#"{app="a"} | pattern "<ip>""#, "pattern"),
        (
            r#"quantile_over_time(0.99, {app="a"} | unwrap latency [5m])"#,
            "quantile_over_time",
        ),
        (r#"{app="a""#, "'}' expected"),
    ] {
        let response = loki_get(&app, &key, "/loki/api/v1/query_range", &[("query", query)]).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_query").await;
        assert!(message.contains(named), "{query}: {message}");
    }
    let response = loki_get(
        &app,
        &key,
        "/loki/api/v1/query_range",
        &[("query", r#"{app="a"}"#), ("limit", "0")],
    )
    .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;

    let start = (now_ns() - 3_600_000_000_000).to_string();
    let labels = loki_ok(&app, &other, "/loki/api/v1/labels", &[("start", &start)]).await;
    assert_eq!(labels["data"], json!([]));
    let body = loki_ok(
        &app,
        &other,
        "/loki/api/v1/query_range",
        &[("query", r#"{app=~".+"}"#), ("start", &start)],
    )
    .await;
    assert_eq!(body["data"]["result"], json!([]));
    let body = loki_ok(&app, &other, "/loki/api/v1/series", &[("start", &start)]).await;
    assert_eq!(body["data"], json!([]));
    let response = app
        .client
        .get(app.url("/loki/api/v1/labels"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Reads the next text frame of a tail socket as JSON (answering pings), within 10 s.
async fn next_tail_message<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>> + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a tail message within 10 s")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            awc::ws::Frame::Text(bytes) => return serde_json::from_slice(&bytes).unwrap(),
            awc::ws::Frame::Ping(_) | awc::ws::Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A tail message's (stream labels, line) pairs.
fn tail_lines(message: &Value) -> Vec<(Value, String)> {
    let mut out = Vec::new();
    for stream in message["streams"].as_array().unwrap() {
        for value in stream["values"].as_array().unwrap() {
            out.push((
                stream["stream"].clone(),
                value[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

#[actix_web::test]
async fn the_tail_sends_recent_lines_then_each_commit_the_query_keeps() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let (_, other_key) = tenant_with_key(&app, "other").await;
    push_fixture(&app, &key).await;
    let url = format!(
        "{}?query={}&limit=10",
        app.url("/loki/api/v1/tail").replace("http://", "ws://"),
        form_urlencoded::byte_serialize(br#"{app="billing"} |= "charge" | json | status >= 500"#)
            .collect::<String>()
    );
    let client = awc::Client::new();
    let (response, mut socket) = client
        .ws(&url)
        .bearer_auth(&key)
        .connect()
        .await
        .expect("the tail upgrades");
    assert_eq!(response.status().as_u16(), 101);

    // First the stored lines the query keeps, oldest first.
    let history = next_tail_message(&mut socket).await;
    let lines: Vec<String> = tail_lines(&history).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        lines,
        [
            r#"{"level":"error","msg":"charge failed","status":502}"#,
            r#"{"level":"error","msg":"charge failed","status":503}"#
        ]
    );

    // Then what is committed: only what the query keeps, and only this tenant's.
    let push = |status: u16| {
        json!({"streams": [{"stream": {"app": "billing", "env": "prod"}, "values": [
            [now_ns().to_string(), format!(r#"{{"level":"error","msg":"charge failed","status":{status}}}"#)]
        ]}]})
    };
    for (who, status) in [(&other_key, 504), (&key, 200), (&key, 500)] {
        let response = app.post("/loki/api/v1/push", who, push(status)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let live = next_tail_message(&mut socket).await;
    let got = tail_lines(&live);
    assert_eq!(got.len(), 1, "{live}");
    assert!(got[0].1.contains("\"status\":500"), "{live}");
    assert_eq!(got[0].0["app"], "billing");
    assert_eq!(
        got[0].0["status"], "500",
        "json labels are the stream's: {live}"
    );
}

#[actix_web::test]
async fn the_tail_refuses_what_it_cannot_serve() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    // Not a WebSocket: a 400 in the error shape, not a handshake failure page.
    let response = loki_get(&app, &key, "/loki/api/v1/tail", &[("query", "{app=\"x\"}")]).await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_query").await;
    let ws_url = |query: &str| {
        format!(
            "{}?query={}",
            app.url("/loki/api/v1/tail").replace("http://", "ws://"),
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        )
    };
    let client = awc::Client::new();
    // No credential: 401 before any upgrade.
    match client.ws(ws_url("{app=\"x\"}")).connect().await {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 401)
        }
        other => panic!("expected a 401, got {:?}", other.map(|(r, _)| r.status())),
    }
    // A metric query is no tail.
    match client
        .ws(ws_url("count_over_time({app=\"x\"}[1m])"))
        .bearer_auth(&key)
        .connect()
        .await
    {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 400)
        }
        other => panic!("expected a 400, got {:?}", other.map(|(r, _)| r.status())),
    }
}
