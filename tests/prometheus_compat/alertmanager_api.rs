//! Tidewatch as the Alertmanager of a real Prometheus (Debian's 2.42: `alerting.alertmanagers`
//! with an API key in `authorization`), and of amtool (Debian's `prometheus-alertmanager`):
//! Prometheus' alert reaches a webhook receiver through the tenant's notification policy;
//! amtool creates, lists and expires a silence.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::neighbours::{free_port, wait_until_ok, Process};
use crate::receivers::HttpReceiver;

const RULES: &str = r#"groups:
- name: am
  interval: 1s
  rules:
  - alert: DiskFull
    expr: vector(97) > 90
    labels:
      severity: warning
      team: storage
    annotations:
      summary: "disk at {{ $value }}%"
"#;

async fn alerts_key(app: &TestApp, token: &str) -> String {
    let (_, key) = app.create_api_key(token, &["alerts"]).await;
    key
}

/// Runs amtool against Tidewatch with `key` as its bearer credential; answers stdout.
async fn amtool(app: &TestApp, dir: &std::path::Path, key: &str, args: &[&str]) -> String {
    let config = dir.join("amtool-http.yml");
    std::fs::write(
        &config,
        format!("authorization:\n  type: Bearer\n  credentials: \"{key}\"\n"),
    )
    .unwrap();
    let mut cmd = Command::new("amtool");
    cmd.arg(format!("--alertmanager.url={}", app.address))
        .arg(format!("--http.config.file={}", config.display()))
        .args(args);
    let output = actix_web::rt::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("amtool runs (apt-get install prometheus-alertmanager)");
    assert!(
        output.status.success(),
        "amtool {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[actix_web::test]
async fn prometheus_sends_its_alerts_to_tidewatch_and_amtool_manages_silences() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let token = &acme.admin_token;
    let hook: Value = app
        .post(
            "/api/v1/channels",
            token,
            json!({"name": "storage-hook", "kind": "webhook", "config": {"url": receiver.url("/am")}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .request(
            "PUT",
            "/api/v1/notification-policies",
            Some(token),
            Some(json!({"channels": [hook["id"]], "group_wait": "0s", "group_by": ["alertname"]})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let key = alerts_key(&app, token).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let tidewatch_port = app.address.rsplit(':').next().unwrap().to_owned();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nalerting:\n  alertmanagers:\n  - api_version: v2\n    authorization:\n      type: Bearer\n      credentials: \"{key}\"\n    static_configs:\n    - targets: [\"127.0.0.1:{tidewatch_port}\"]\n"
        ),
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
    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
    // Its first send can precede the discovery of its Alertmanagers (then it is
    // dropped); without this the next one waits the default minute.
    .arg("--rules.alert.resend-delay=1s");
    let prometheus = Process::spawn("prometheus", cmd, dir.path().join("prometheus.log"));
    wait_until_ok(
        &app.client,
        &format!("http://127.0.0.1:{port}/-/ready"),
        &prometheus,
    )
    .await;

    // Prometheus' alert, routed by the policy, reaches the receiver.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while receiver.received().is_empty() {
        if std::time::Instant::now() > deadline {
            let posted = app.get("/api/v2/alerts", &key).await.text().await.unwrap();
            let rows = app
                .get("/api/v1/notifications", token)
                .await
                .text()
                .await
                .unwrap();
            panic!(
                "no notification within 30 s; alerts {posted}; notifications {rows}\n{}",
                prometheus.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.received();
    let body = got[0].json();
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "DiskFull");
    assert_eq!(body["alerts"][0]["labels"]["team"], "storage");
    assert_eq!(body["alerts"][0]["annotations"]["summary"], "disk at 97%");
    assert!(body["alerts"][0]["generatorURL"]
        .as_str()
        .unwrap()
        .contains(&port.to_string()));

    // The Alertmanager API lists it, in Alertmanager's shape.
    let listed: Value = app.get("/api/v2/alerts", &key).await.json().await.unwrap();
    let alert = &listed.as_array().unwrap()[0];
    assert_eq!(alert["labels"]["alertname"], "DiskFull");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["receivers"][0]["name"], "storage-hook");
    let groups: Value = app
        .get("/api/v2/alerts/groups", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(groups[0]["labels"], json!({"alertname": "DiskFull"}));
    assert_eq!(groups[0]["receiver"]["name"], "storage-hook");

    // amtool: add, query, expire.
    let id = amtool(
        &app,
        dir.path(),
        &key,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "--comment=disk swap",
            "--duration=1h",
        ],
    )
    .await;
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "amtool printed the silence id: {id:?}");
    let queried = amtool(&app, dir.path(), &key, &["silence", "query", "-o", "json"]).await;
    let silences: Value = serde_json::from_str(&queried).unwrap();
    assert_eq!(silences[0]["id"], id);
    assert_eq!(silences[0]["status"]["state"], "active");
    assert_eq!(silences[0]["comment"], "disk swap");
    assert_eq!(silences[0]["matchers"][0]["name"], "alertname");
    // Now the alert is suppressed.
    let listed: Value = app.get("/api/v2/alerts", &key).await.json().await.unwrap();
    assert_eq!(listed[0]["status"]["state"], "suppressed");
    assert_eq!(listed[0]["status"]["silencedBy"][0], id);
    amtool(&app, dir.path(), &key, &["silence", "expire", &id]).await;
    let queried = amtool(
        &app,
        dir.path(),
        &key,
        &["silence", "query", "--expired", "-o", "json"],
    )
    .await;
    let silences: Value = serde_json::from_str(&queried).unwrap();
    assert_eq!(silences[0]["status"]["state"], "expired", "{silences}");
    // The same silence is in Tidewatch's own API.
    let ours: Value = app
        .get(&format!("/api/v1/silences/{id}"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ours["state"], "expired");

    // Another tenant's key sees none of it.
    let globex = app.create_tenant("globex").await;
    let theirs = alerts_key(&app, &globex.admin_token).await;
    let listed: Value = app
        .get("/api/v2/alerts", &theirs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    assert_eq!(
        app.get(&format!("/api/v2/silence/{id}"), &theirs)
            .await
            .status(),
        404
    );
    drop(prometheus);
}
