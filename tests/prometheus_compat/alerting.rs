//! One rule file loaded by a real Prometheus and imported into Tidewatch: both must fire
//! the same alert, and Tidewatch's `/api/v1/alerts` and `/api/v1/rules` must carry every
//! field Prometheus' do, with the same values where they mean the same thing — what
//! Grafana's Prometheus data source and alert list panel read.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::spawn_app;
use crate::neighbours::{free_port, wait_until_ok, Process};

const RULE_FILE: &str = r#"groups:
- name: compat
  interval: 1s
  rules:
  - alert: AlwaysOn
    expr: vector(7) > 0
    labels:
      severity: critical
      team: web
    annotations:
      summary: "value is {{ $value }}"
      description: "{{ $labels.team }} at {{ $value | humanize }} ({{ printf \"%.1f\" $value }})"
"#;

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `GET url` until its `data` satisfies `done` (20 s at most).
async fn data_until(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Ok(response) = request.send().await {
            if let Ok(body) = response.json::<Value>().await {
                if body["status"] == "success" && done(&body["data"]) {
                    return body["data"].clone();
                }
            }
        }
        assert!(Instant::now() < deadline, "{what}: not within 20 s ({url})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_same_rule_file_fires_the_same_alert_in_prometheus_and_tidewatch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULE_FILE).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\n",
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.path().join("data").display()
    ))
    .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let prometheus = Process::spawn("prometheus", cmd, dir.path().join("prometheus.log"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let prometheus_base = format!("http://127.0.0.1:{port}");
    wait_until_ok(&client, &format!("{prometheus_base}/-/ready"), &prometheus).await;

    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .client
        .post(app.url("/api/v1/alert-rules/import"))
        .bearer_auth(&acme.admin_token)
        .header("content-type", "application/yaml")
        .body(RULE_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let firing = |data: &Value| data["alerts"][0]["state"] == "firing";
    let theirs = data_until(
        &client,
        &format!("{prometheus_base}/api/v1/alerts"),
        None,
        "Prometheus firing",
        firing,
    )
    .await;
    let ours = data_until(
        &client,
        &app.url("/api/v1/alerts"),
        Some(&acme.admin_token),
        "Tidewatch firing",
        firing,
    )
    .await;
    let (their_alert, our_alert) = (&theirs["alerts"][0], &ours["alerts"][0]);
    let missing: Vec<_> = keys(their_alert)
        .difference(&keys(our_alert))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "alert fields Prometheus has and we lack: {missing:?}\n{their_alert}\n{our_alert}"
    );
    for field in ["labels", "annotations", "state", "value"] {
        assert_eq!(our_alert[field], their_alert[field], "alert {field}");
    }

    let rule_of = |data: &Value| data["groups"][0]["rules"][0].clone();
    let theirs = data_until(
        &client,
        &format!("{prometheus_base}/api/v1/rules"),
        None,
        "Prometheus rules",
        |d| rule_of(d)["state"] == "firing",
    )
    .await;
    let ours = data_until(
        &client,
        &app.url("/api/v1/rules"),
        Some(&acme.admin_token),
        "Tidewatch rules",
        |d| rule_of(d)["state"] == "firing" && rule_of(d)["health"] == "ok",
    )
    .await;
    let missing: Vec<_> = keys(&theirs["groups"][0])
        .difference(&keys(&ours["groups"][0]))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "group fields we lack: {missing:?}");
    let (their_rule, our_rule) = (rule_of(&theirs), rule_of(&ours));
    let missing: Vec<_> = keys(&their_rule)
        .difference(&keys(&our_rule))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "rule fields we lack: {missing:?}\n{their_rule}\n{our_rule}"
    );
    for field in [
        "name",
        "query",
        "duration",
        "labels",
        "annotations",
        "health",
        "type",
        "state",
    ] {
        assert_eq!(our_rule[field], their_rule[field], "rule {field}");
    }
    let missing: Vec<_> = keys(&their_rule["alerts"][0])
        .difference(&keys(&our_rule["alerts"][0]))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "rule alert fields we lack: {missing:?}");
    drop(prometheus);
}
