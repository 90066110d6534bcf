//! Alert rules and alert evaluation through HTTP: CRUD and validation, then samples that
//! cross a line becoming firing alerts (in `/api/v1/alerts`, `/api/v1/rules` and
//! `ALERTS`), resolving, their history, acknowledgement, and restarts.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, tenant_with_key, write_lines, TestApp};
use crate::metric_queries::{now_ms, query, restart_tenant};

pub fn cpu_rule() -> Value {
    json!({
        "name": "HighCpu",
        "kind": "threshold",
        "selector": "cpu_busy{env=\"prod\"}",
        "aggregation": "last",
        "window": "1m",
        "group_by": ["host"],
        "op": ">",
        "threshold": 90,
        "resolve_threshold": 80,
        "for": "0s",
        "severity": "critical",
        "labels": {"team": "infra"},
        "annotations": {"summary": "{{ $labels.host }} is busy: {{ $value }}"}
    })
}

pub async fn create_rule(app: &TestApp, token: &str, rule: Value) -> Value {
    let response = app.post("/api/v1/alert-rules", token, rule).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create rule");
    response.json().await.unwrap()
}

/// Polls `GET path` until `done` holds on the body (or fails after 10 s); answers it.
pub async fn get_until(
    app: &TestApp,
    token: &str,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get(path, token).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/api/v1/alerts` until `done` holds on its alerts; answers them.
pub async fn alerts_until(
    app: &TestApp,
    token: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let body = get_until(app, token, "/api/v1/alerts", what, |body| {
        body["status"] == "success"
            && done(
                body["data"]["alerts"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            )
    })
    .await;
    body["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `/api/v1/query` of `promql` at the current time, as a path.
fn query_path(promql: &str) -> String {
    format!(
        "/api/v1/query?query={}",
        form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
    )
}

pub fn cpu_line(host: &str, value: f64) -> String {
    format!("cpu_busy,env=prod,host={host} value={value} {}\n", now_ms())
}

#[actix_web::test]
async fn rules_are_created_read_listed_changed_and_deleted() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let created = create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "HighCpu");
    assert_eq!(created["enabled"], true);
    assert!(created["created_at"].is_string());

    let promql = create_rule(
        &app,
        &acme.admin_token,
        json!({"name": "Errors", "kind": "promql", "expr": "sum by (job) (rate(http_errors_total[5m])) > 10", "interval": "15s", "labels": {"team": "web"}}),
    )
    .await;

    let got: Value = app
        .get(&format!("/api/v1/alert-rules/{id}"), &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["selector"], "cpu_busy{env=\"prod\"}");

    let names = |body: Value| -> Vec<String> {
        body["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (filter, expected) in [
        ("", vec!["HighCpu", "Errors"]),
        ("?kind=promql", vec!["Errors"]),
        ("?kind=threshold", vec!["HighCpu"]),
        ("?label=team=web", vec!["Errors"]),
        ("?label=team=web&label=team=infra", vec![]),
        ("?enabled=false", vec![]),
    ] {
        let body: Value = app
            .get(&format!("/api/v1/alert-rules{filter}"), &acme.admin_token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(names(body), expected, "filter {filter:?}");
    }
    assert_error(
        app.get("/api/v1/alert-rules?kind=sql", &acme.admin_token)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_parameter",
    )
    .await;

    // PATCH merges; PUT replaces.
    let patched: Value = app
        .patch(
            &format!("/api/v1/alert-rules/{id}"),
            &acme.admin_token,
            json!({"threshold": 95, "enabled": false, "labels": {"team": null, "tier": "db"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["threshold"], 95);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["labels"], json!({"tier": "db"}));
    assert_eq!(patched["aggregation"], "last", "untouched fields stay");
    let mut replacement = cpu_rule();
    replacement["name"] = json!("HighCpuAgain");
    let response = app
        .request(
            "PUT",
            &format!("/api/v1/alert-rules/{id}"),
            Some(&acme.admin_token),
            Some(replacement),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["name"], "HighCpuAgain");
    assert_eq!(replaced["enabled"], true);

    // Every write is in the audit log.
    let audit: Value = app
        .get("/api/v1/audit-log", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("alert_rule."))
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "alert_rule.create")
            .count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "alert_rule.update")
            .count(),
        2
    );

    let promql_id = promql["id"].as_str().unwrap();
    let response = app
        .delete(
            &format!("/api/v1/alert-rules/{promql_id}"),
            &acme.admin_token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(
            &format!("/api/v1/alert-rules/{promql_id}"),
            &acme.admin_token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn invalid_rules_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut rule = cpu_rule();
        change(&mut rule);
        rule
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|r| r["window"] = json!("soon")), "window"),
        (with(&|r| r["aggregation"] = json!("median")), "aggregation"),
        (with(&|r| r["selector"] = json!("rate(x[5m])")), "selector"),
        (with(&|r| r["selector"] = json!("cpu{")), "selector"),
        (with(&|r| r["colour"] = json!("red")), "colour"),
        (
            with(&|r| {
                let o = r.as_object_mut().unwrap();
                for k in ["op", "threshold", "resolve_threshold", "severity"] {
                    o.remove(k);
                }
                o.insert(
                    "thresholds".into(),
                    json!([{"severity": "warning", "op": ">", "value": 1}, {"severity": "critical", "op": ">", "value": "high"}]),
                );
            }),
            "thresholds[1].value",
        ),
        (
            json!({"name": "p", "kind": "promql", "expr": "up ==", "interval": "15s"}),
            "expr",
        ),
        (
            json!({"name": "p", "kind": "promql", "expr": "up == 0", "interval": "100ms"}),
            "interval",
        ),
        (json!({"name": "p", "kind": "logs"}), "kind"),
        (
            with(&|r| r["annotations"] = json!({"summary": "{{ if $value }}unclosed"})),
            "annotations.summary",
        ),
        (json!({"name": " ", "kind": "promql", "expr": "up"}), "name"),
    ];
    for (rule, field) in cases {
        let response = app
            .post("/api/v1/alert-rules", &acme.admin_token, rule.clone())
            .await;
        let message =
            assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(
            message.starts_with(&format!("{field}:")),
            "{rule}: {message:?} should name {field}"
        );
    }
    let rules: Value = app
        .get("/api/v1/alert-rules", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rules["rules"], json!([]), "nothing was stored");
}

#[actix_web::test]
async fn the_rules_per_tenant_limit_is_enforced() {
    let app = crate::helpers::spawn_app_with(|c| c.alert_max_rules = 2).await;
    let acme = app.create_tenant("acme").await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let response = app
        .post("/api/v1/alert-rules", &acme.admin_token, cpu_rule())
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded").await;
}

#[actix_web::test]
async fn a_sample_over_the_line_fires_and_recovery_resolves() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let rule = create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    write_lines(&app, &key, cpu_line("db1", 50.0)).await;
    write_lines(&app, &key, cpu_line("db1", 97.0) + &cpu_line("db2", 10.0)).await;

    let alerts = alerts_until(&app, &acme.admin_token, "a firing alert", |a| {
        a.iter().any(|a| a["state"] == "firing")
    })
    .await;
    assert_eq!(alerts.len(), 1, "db2 is fine: {alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], "HighCpu");
    assert_eq!(alert["labels"]["host"], "db1");
    assert_eq!(alert["labels"]["team"], "infra");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["rule_id"], rule_id.as_str());
    assert_eq!(alert["value"], "9.7e+01");
    assert_eq!(alert["annotations"]["summary"], "db1 is busy: 97");
    assert_eq!(alert["acknowledged"], false);
    assert!(alert["activeAt"].is_string());
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    let alert_id = alert["id"].as_str().unwrap().to_owned();

    // The same alert in /api/v1/rules, and as ALERTS.
    let rules: Value = app.get("/api/v1/rules", &key).await.json().await.unwrap();
    let listed = &rules["data"]["groups"][0]["rules"][0];
    assert_eq!(listed["name"], "HighCpu");
    assert_eq!(listed["state"], "firing");
    assert_eq!(listed["health"], "ok");
    assert_eq!(listed["type"], "alerting");
    assert_eq!(listed["alerts"][0]["labels"]["host"], "db1");
    assert_eq!(
        listed["query"],
        "(max by (host) (last_over_time(cpu_busy{env=\"prod\"}[1m]))) > 90"
    );
    let alerts_series = get_until(
        &app,
        &key,
        &query_path("ALERTS{alertname=\"HighCpu\"}"),
        "ALERTS",
        |b| {
            b["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        },
    )
    .await;
    let series = alerts_series["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["metric"]["alertstate"], "firing");
    assert_eq!(series[0]["metric"]["host"], "db1");
    assert_eq!(series[0]["metric"]["severity"], "critical");
    assert_eq!(series[0]["value"][1], "1");
    let for_state = query(
        &app,
        &key,
        "ALERTS_FOR_STATE{alertname=\"HighCpu\"}",
        now_ms(),
    )
    .await;
    assert_eq!(for_state.len(), 1, "{for_state:?}");

    // Hysteresis: 85 is under the threshold but over the resolve threshold.
    write_lines(&app, &key, cpu_line("db1", 85.0)).await;
    let still = alerts_until(&app, &acme.admin_token, "the alert kept", |a| {
        a.first().is_some_and(|a| a["value"] == "8.5e+01")
    })
    .await;
    assert_eq!(still[0]["state"], "firing");
    write_lines(&app, &key, cpu_line("db1", 20.0)).await;
    alerts_until(&app, &acme.admin_token, "the alert resolved", |a| {
        a.is_empty()
    })
    .await;

    // The alert stays readable by id, resolved, and its history holds both transitions.
    let resolved: Value = app
        .get(&format!("/api/v1/alerts/{alert_id}"), &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["state"], "inactive");
    let history: Value = app
        .get(
            &format!("/api/v1/alerts/history?rule_id={rule_id}"),
            &acme.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    let transitions: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transition"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, vec!["resolved", "firing"], "newest first");
    assert_eq!(history["events"][1]["value"], 97.0);
    assert_eq!(history["events"][1]["alert_id"], alert_id.as_str());
    // The staleness marker is written right after the transition: ALERTS ends.
    get_until(
        &app,
        &key,
        &query_path("ALERTS{alertname=\"HighCpu\"}"),
        "ALERTS to end",
        |b| b["data"]["result"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
}

#[actix_web::test]
async fn severities_escalate_within_one_alert() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let mut rule = cpu_rule();
    let o = rule.as_object_mut().unwrap();
    for k in ["op", "threshold", "resolve_threshold", "severity"] {
        o.remove(k);
    }
    o.insert(
        "thresholds".into(),
        json!([{"severity": "warning", "op": ">", "value": 70}, {"severity": "critical", "op": ">", "value": 90}]),
    );
    create_rule(&app, &acme.admin_token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 75.0)).await;
    let first = alerts_until(&app, &acme.admin_token, "a warning", |a| {
        a.first().is_some_and(|a| a["severity"] == "warning")
    })
    .await;
    write_lines(&app, &key, cpu_line("db1", 95.0)).await;
    let escalated = alerts_until(&app, &acme.admin_token, "critical", |a| {
        a.first().is_some_and(|a| a["severity"] == "critical")
    })
    .await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["id"], first[0]["id"], "one alert, escalated");
    let history: Value = app
        .get("/api/v1/alerts/history", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["events"][0]["transition"], "escalated");
    assert_eq!(history["events"][1]["transition"], "firing");
}

#[actix_web::test]
async fn acknowledging_marks_a_firing_alert_until_taken_back() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let (_, viewer) = app
        .create_user(&acme.admin_token, "viewer@acme.test", "viewer")
        .await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    let alerts = alerts_until(&app, &acme.admin_token, "firing", |a| !a.is_empty()).await;
    let id = alerts[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/alerts/{id}/ack");
    assert_error(
        app.post(&path, &viewer, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let response = app
        .post(&path, &acme.admin_token, json!({"comment": "on it"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let acked: Value = response.json().await.unwrap();
    assert_eq!(acked["acknowledged"], true);
    assert_eq!(acked["acknowledgement"]["comment"], "on it");
    assert_eq!(acked["state"], "firing");
    // A new sample does not clear it.
    write_lines(&app, &key, cpu_line("db1", 98.0)).await;
    let listed = alerts_until(&app, &viewer, "still acknowledged", |a| {
        a.first().is_some_and(|a| a["value"] == "9.8e+01")
    })
    .await;
    assert_eq!(listed[0]["acknowledged"], true);
    let response = app.delete(&path, &acme.admin_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["acknowledged"], false);
}

#[actix_web::test]
async fn a_restart_keeps_firing_alerts_firing_without_a_new_transition() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    let before = alerts_until(&app, &acme.admin_token, "firing", |a| !a.is_empty()).await;
    restart_tenant(&app, &acme.id).await;
    // Ask until the restarted evaluator has evaluated (its rules answer health again).
    get_until(&app, &key, "/api/v1/rules", "the evaluator back", |b| {
        b["data"]["groups"][0]["rules"][0]["health"] == "ok"
    })
    .await;
    let after = alerts_until(&app, &acme.admin_token, "still firing", |a| !a.is_empty()).await;
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(after[0]["state"], "firing");
    assert_eq!(after[0]["activeAt"], before[0]["activeAt"]);
    let history: Value = app
        .get("/api/v1/alerts/history", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["events"].as_array().unwrap().len(), 1, "{history}");
    // And it still resolves.
    write_lines(&app, &key, cpu_line("db1", 1.0)).await;
    alerts_until(&app, &acme.admin_token, "resolved", |a| a.is_empty()).await;
}

#[actix_web::test]
async fn a_promql_rule_fires_per_result_series() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    create_rule(
        &app,
        &acme.admin_token,
        json!({"name": "QueueDeep", "kind": "promql", "expr": "queue_depth > 100", "interval": "1s", "labels": {"severity": "critical"}}),
    )
    .await;
    let t = now_ms();
    write_lines(
        &app,
        &key,
        format!("queue_depth,queue=a value=500 {t}\nqueue_depth,queue=b value=5 {t}\n"),
    )
    .await;
    let alerts = alerts_until(&app, &acme.admin_token, "a PromQL alert", |a| !a.is_empty()).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["labels"]["queue"], "a");
    assert_eq!(alerts[0]["labels"]["alertname"], "QueueDeep");
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(alerts[0]["value"], "5e+02");
}

#[actix_web::test]
async fn another_tenant_cannot_read_or_change_rules_or_alerts() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let globex = app.create_tenant("globex").await;
    let rule = create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let rule_id = rule["id"].as_str().unwrap();
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    let alerts = alerts_until(&app, &acme.admin_token, "firing", |a| !a.is_empty()).await;
    let alert_id = alerts[0]["id"].as_str().unwrap();

    for (method, path, body) in [
        ("GET", format!("/api/v1/alert-rules/{rule_id}"), None),
        (
            "PUT",
            format!("/api/v1/alert-rules/{rule_id}"),
            Some(cpu_rule()),
        ),
        (
            "PATCH",
            format!("/api/v1/alert-rules/{rule_id}"),
            Some(json!({"threshold": 1})),
        ),
        ("DELETE", format!("/api/v1/alert-rules/{rule_id}"), None),
        ("GET", format!("/api/v1/alerts/{alert_id}"), None),
        (
            "POST",
            format!("/api/v1/alerts/{alert_id}/ack"),
            Some(json!({})),
        ),
        ("DELETE", format!("/api/v1/alerts/{alert_id}/ack"), None),
    ] {
        let response = app
            .request(method, &path, Some(&globex.admin_token), body)
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    for path in [
        "/api/v1/alert-rules",
        "/api/v1/alerts",
        "/api/v1/rules",
        "/api/v1/alerts/history",
    ] {
        let body: Value = app
            .get(path, &globex.admin_token)
            .await
            .json()
            .await
            .unwrap();
        let text = body.to_string();
        assert!(
            !text.contains(rule_id) && !text.contains(alert_id) && !text.contains("HighCpu"),
            "{path} leaks acme's rule or alert: {text}"
        );
    }
    let unchanged: Value = app
        .get(&format!("/api/v1/alert-rules/{rule_id}"), &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["threshold"], 90);
    let still = alerts_until(&app, &acme.admin_token, "still firing", |a| !a.is_empty()).await;
    assert_eq!(still[0]["acknowledged"], false);
}

/// A rule file as people write them (Prometheus' documentation examples and the node
/// exporter mixin's style), with a recording rule and a broken rule among them.
const PROMETHEUS_RULE_FILE: &str = r#"groups:
- name: example
  interval: 30s
  rules:
  - record: code:prometheus_http_requests_total:sum
    expr: sum by (code) (prometheus_http_requests_total)
  - alert: HighRequestLatency
    expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
    for: 10m
    keep_firing_for: 5m
    labels:
      severity: page
    annotations:
      summary: High request latency
- name: node
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels:
      severity: critical
    annotations:
      summary: "Instance {{ $labels.instance }} down"
      description: "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes."
  - alert: HostOutOfMemory
    expr: (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10) and ON (instance, nodename) (node_uname_info{nodename=~".+"})
    for: 2m
    labels:
      severity: warning
    annotations:
      summary: Host out of memory (instance {{ $labels.instance }})
      description: "Node memory is filling up (< 10% left)\n  VALUE = {{ $value }}\n  LABELS = {{ $labels }}"
  - alert: Broken
    expr: sum(rate(x[5m]) >
"#;

fn promtool_accepts(rule_file: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, rule_file).unwrap();
    let output = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .map_err(|e| {
            format!("promtool (Debian's prometheus package; scripts/test.sh installs it): {e}")
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[actix_web::test]
async fn a_prometheus_rule_file_imports_and_the_export_passes_promtool() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .client
        .post(app.url("/api/v1/alert-rules/import"))
        .bearer_auth(&acme.admin_token)
        .header("content-type", "application/yaml")
        .body(PROMETHEUS_RULE_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    let created: Vec<&str> = report["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        created,
        vec!["HighRequestLatency", "InstanceDown", "HostOutOfMemory"]
    );
    assert_eq!(report["created"][0]["interval"], "30s");
    assert_eq!(report["created"][0]["keep_firing_for"], "5m");
    assert_eq!(
        report["skipped"][0]["name"],
        "code:prometheus_http_requests_total:sum"
    );
    assert_eq!(report["refused"][0]["name"], "Broken");
    assert_eq!(report["refused"][0]["group"], "node");
    assert_eq!(report["refused"][0]["index"], 2);
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("expr:"),
        "{report}"
    );

    // Threshold rules export as PromQL, one Prometheus rule per severity.
    let mut levels = cpu_rule();
    let o = levels.as_object_mut().unwrap();
    for k in ["op", "threshold", "resolve_threshold", "severity"] {
        o.remove(k);
    }
    o.insert(
        "thresholds".into(),
        json!([{"severity": "warning", "op": ">", "value": 70}, {"severity": "critical", "op": ">=", "value": 90}]),
    );
    o.insert("aggregation".into(), json!("p95"));
    create_rule(&app, &acme.admin_token, levels).await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;

    let response = app
        .get("/api/v1/alert-rules/export", &acme.admin_token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/yaml"
    );
    let exported = response.text().await.unwrap();
    promtool_accepts(&exported).unwrap_or_else(|e| panic!("promtool refused:\n{e}\n{exported}"));
    for expected in [
        "alert: InstanceDown",
        "keep_firing_for: 5m",
        "interval: 30s",
        "quantile_over_time(0.95, cpu_busy{env=\"prod\"}[1m])",
        "severity: warning",
        "severity: critical",
    ] {
        assert!(
            exported.contains(expected),
            "{expected:?} missing from\n{exported}"
        );
    }
    // A round trip: the export imports back into another tenant.
    let globex = app.create_tenant("globex").await;
    let report: Value = app
        .client
        .post(app.url("/api/v1/alert-rules/import"))
        .bearer_auth(&globex.admin_token)
        .header("content-type", "application/yaml")
        .body(exported)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["created"].as_array().unwrap().len(), 6, "{report}");
    assert_eq!(report["refused"], json!([]));
}

#[actix_web::test]
async fn imports_refuse_what_is_not_a_yaml_rule_file() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let send = |content_type: &'static str, body: &'static str| {
        app.client
            .post(app.url("/api/v1/alert-rules/import"))
            .bearer_auth(&acme.admin_token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        send("application/json", "{}").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        send("application/yaml", "groups: [[[").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_yaml",
    )
    .await;
}

#[actix_web::test]
async fn a_preview_replays_a_draft_over_stored_data() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let base = now_ms() - 30 * 60_000;
    let mut lines = String::new();
    for minute in 0..20 {
        let value = if (5..10).contains(&minute) { 99 } else { 10 };
        lines.push_str(&format!(
            "cpu_busy,env=prod,host=db1 value={value} {}\n",
            base + minute * 60_000
        ));
    }
    write_lines(&app, &key, lines).await;
    let mut draft = cpu_rule();
    draft["start"] = json!((base / 1000).to_string());
    draft["end"] = json!(((base + 25 * 60_000) / 1000).to_string());
    draft["for"] = json!("2m");
    let response = app
        .post("/api/v1/alert-rules/preview", &acme.admin_token, draft)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let preview: Value = response.json().await.unwrap();
    let seen: Vec<(i64, &str)> = preview["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let at = chrono_ms(t["at"].as_str().unwrap());
            ((at - base) / 60_000, t["transition"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        vec![(5, "pending"), (7, "firing"), (10, "resolved")],
        "{preview}"
    );
    assert_eq!(preview["truncated"], false);
    // Nothing was stored: a preview is not a rule.
    let rules: Value = app
        .get("/api/v1/alert-rules", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rules["rules"], json!([]));

    let promql = json!({"name": "Hot", "kind": "promql", "expr": "cpu_busy > 90", "interval": "1m",
        "start": (base / 1000).to_string(), "end": ((base + 25 * 60_000) / 1000).to_string()});
    let preview: Value = app
        .post("/api/v1/alert-rules/preview", &acme.admin_token, promql)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = preview["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transition"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["firing", "resolved"], "{preview}");
    assert_error(
        app.post(
            "/api/v1/alert-rules/preview",
            &acme.admin_token,
            json!({"name": "x", "kind": "promql", "expr": "up", "start": "1000", "end": "10"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_parameter",
    )
    .await;
}

/// Milliseconds of an RFC 3339 time as Tidewatch writes it.
fn chrono_ms(text: &str) -> i64 {
    tidewatch::promql::parse_time(text, "at")
        .map(|t| match t {
            tidewatch::promql::TimeParam::At(ms) => ms,
            tidewatch::promql::TimeParam::Unbounded => panic!("{text}"),
        })
        .unwrap()
}

#[actix_web::test]
async fn a_promql_rule_over_its_alert_limit_fails_visibly() {
    let app = crate::helpers::spawn_app_with(|c| c.alert_max_instances_per_rule = 2).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    create_rule(
        &app,
        &acme.admin_token,
        json!({"name": "Many", "kind": "promql", "expr": "queue_depth > 0", "interval": "1s"}),
    )
    .await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let t = now_ms();
    write_lines(
        &app,
        &key,
        format!(
            "queue_depth,queue=a value=1 {t}\nqueue_depth,queue=b value=1 {t}\nqueue_depth,queue=c value=1 {t}\n"
        ),
    )
    .await;
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    let named_many = |b: &Value| {
        b["data"]["groups"][0]["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["name"] == "Many"))
            .cloned()
            .unwrap_or_default()
    };
    let rules = get_until(&app, &key, "/api/v1/rules", "Many to fail", |b| {
        named_many(b)["health"] == "err"
    })
    .await;
    let many = named_many(&rules);
    assert!(
        many["lastError"]
            .as_str()
            .unwrap()
            .contains("more than the 2 alerts"),
        "{many}"
    );
    assert_eq!(many["alerts"], json!([]), "no partial result");
    // The other rule is not stopped by it.
    let alerts = alerts_until(&app, &acme.admin_token, "HighCpu firing", |a| {
        a.iter().any(|a| a["labels"]["alertname"] == "HighCpu")
    })
    .await;
    assert_eq!(alerts.len(), 1);
}

/// Collects the transitions the evaluator hands on.
struct Collector(tokio::sync::mpsc::UnboundedSender<tidewatch::actors::evaluator::AlertTransition>);

impl actix::Actor for Collector {
    type Context = actix::Context<Self>;
}

impl actix::Handler<tidewatch::actors::evaluator::AlertTransition> for Collector {
    type Result = ();

    fn handle(
        &mut self,
        msg: tidewatch::actors::evaluator::AlertTransition,
        _: &mut Self::Context,
    ) {
        let _ = self.0.send(msg);
    }
}

#[actix_web::test]
async fn transitions_are_handed_on_once_written() {
    use actix::Actor as _;
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let collector = Collector(sender).start();
    let actors = app
        .state
        .tenants
        .actors(acme.id.parse().unwrap())
        .await
        .unwrap();
    actors
        .evaluator
        .send(tidewatch::actors::evaluator::SubscribeTransitions(
            collector.recipient(),
        ))
        .await
        .unwrap();
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    let firing = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a transition within 10 s")
        .unwrap();
    assert_eq!(firing.transition.name(), "firing");
    assert_eq!(firing.labels["host"], "db1");
    assert_eq!(firing.annotations["summary"], "db1 is busy: 99");
    assert_eq!(firing.value, 99.0);
    // Written before it was handed on: the history already has it.
    let history: Value = app
        .get("/api/v1/alerts/history", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["events"][0]["alert_id"],
        firing.alert_id.to_string()
    );
    write_lines(&app, &key, cpu_line("db1", 1.0)).await;
    let resolved = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a transition within 10 s")
        .unwrap();
    assert_eq!(resolved.transition.name(), "resolved");
    assert_eq!(resolved.alert_id, firing.alert_id);
}

#[actix_web::test]
async fn silence_after_no_data_after_fires_a_no_data_alert() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let mut rule = cpu_rule();
    rule["no_data"] = json!("alerting");
    rule["no_data_after"] = json!("1s");
    let rule = create_rule(&app, &acme.admin_token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 10.0)).await;
    let alerts = alerts_until(&app, &acme.admin_token, "a no-data alert", |a| {
        a.first().is_some_and(|a| a["state"] == "firing")
    })
    .await;
    assert_eq!(alerts[0]["no_data"], true);
    assert_eq!(
        alerts[0]["severity"], "critical",
        "no data fires at the highest level"
    );
    let history: Value = app
        .get(
            &format!(
                "/api/v1/alerts/history?rule_id={}",
                rule["id"].as_str().unwrap()
            ),
            &acme.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    let transitions: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transition"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, vec!["firing", "nodata"], "newest first");
    // Data again: the alert's condition is judged on it (10 is fine), and it resolves.
    write_lines(&app, &key, cpu_line("db1", 10.0)).await;
    alerts_until(&app, &acme.admin_token, "resolved", |a| a.is_empty()).await;
}

#[actix_web::test]
async fn deleting_a_rule_resolves_its_alerts_in_the_history() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let rule = create_rule(&app, &acme.admin_token, cpu_rule()).await;
    let rule_id = rule["id"].as_str().unwrap();
    write_lines(&app, &key, cpu_line("db1", 99.0)).await;
    alerts_until(&app, &acme.admin_token, "firing", |a| !a.is_empty()).await;
    let response = app
        .delete(&format!("/api/v1/alert-rules/{rule_id}"), &acme.admin_token)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        alerts_until(&app, &acme.admin_token, "no alerts", |a| a.is_empty())
            .await
            .is_empty()
    );
    let history = get_until(
        &app,
        &acme.admin_token,
        &format!("/api/v1/alerts/history?rule_id={rule_id}"),
        "a resolved event",
        |b| b["events"][0]["transition"] == "resolved",
    )
    .await;
    assert_eq!(history["events"][1]["transition"], "firing");
}
