//! Queries and tenant restarts the metrics tests share.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

pub fn now_ms() -> i64 {
    tidewatch::domain::time::now_ms()
}

/// Runs an instant query and returns `data.result`.
pub async fn query(app: &TestApp, key: &str, promql: &str, time_ms: i64) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/query"))
        .bearer_auth(key)
        .query(&[
            ("query", promql.to_owned()),
            ("time", format!("{:.3}", time_ms as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "query {promql}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The single value of an instant query, as text.
pub async fn single_value(app: &TestApp, key: &str, promql: &str, time_ms: i64) -> String {
    let result = query(app, key, promql, time_ms).await;
    assert_eq!(result.len(), 1, "{promql}: {result:?}");
    result[0]["value"][1].as_str().unwrap().to_owned()
}

pub async fn series_count(app: &TestApp, key: &str) -> usize {
    let body: Value = app
        .client
        .get(app.url("/api/v1/series"))
        .bearer_auth(key)
        .query(&[("match[]", "{__name__=~\".+\"}")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().len()
}

/// Stops the tenant's actors so the next request rebuilds the head from the database.
pub async fn restart_tenant(app: &TestApp, tenant_id: &str) {
    let tenant = tenant_id.parse().unwrap();
    app.state.tenants.stop(tenant).await.unwrap();
}
