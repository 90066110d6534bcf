//! Notifications end to end: channels through the API (validation, masked secrets, roles,
//! isolation, the test button), then alerts crossing a line reaching a real webhook
//! receiver and a real SMTP server, resolutions, grouping, policies, retries, dead
//! letters, `Retry-After`, and a hanging provider that holds back no other channel.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use tidewatch::domain::time::{Clock as _, OffsetClock};

use crate::alerts::{alerts_until, cpu_line, cpu_rule, create_rule};
use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, spawn_app_with_clock, tenant_with_key, write_lines,
    TestApp,
};
use crate::receivers::{HttpReceiver, Reply, SmtpSink};

pub(crate) async fn put_policies(app: &TestApp, token: &str, tree: Value) -> reqwest::Response {
    app.request(
        "PUT",
        "/api/v1/notification-policies",
        Some(token),
        Some(tree),
    )
    .await
}

/// Another tenant's credential gets 404 for every (method, body) on `path`.
async fn hidden_from(app: &TestApp, token: &str, path: &str, calls: &[(&str, Option<Value>)]) {
    for (method, body) in calls {
        let response = app.request(method, path, Some(token), body.clone()).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

pub(crate) async fn create_channel(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post("/api/v1/channels", token, body.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "create channel {body}"
    );
    response.json().await.unwrap()
}

/// A webhook channel named `hook` posting to `url`.
pub(crate) async fn webhook_channel(app: &TestApp, token: &str, url: &str) -> Value {
    create_channel(
        app,
        token,
        json!({"name": "hook", "kind": "webhook", "config": {"url": url}}),
    )
    .await
}

/// A rule on `cpu_busy` that notifies `channels` at once (`group_wait: 0s`).
pub(crate) fn notifying_rule(channels: &[&str]) -> Value {
    let mut rule = cpu_rule();
    rule["channels"] = json!(channels);
    rule["group_wait"] = json!("0s");
    rule["group_interval"] = json!("0s");
    rule
}

pub(crate) async fn notifications(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let body: Value = app
        .get(&format!("/api/v1/notifications{query}"), token)
        .await
        .json()
        .await
        .unwrap();
    body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls `/api/v1/notifications` until `done`; answers the rows.
pub(crate) async fn notifications_until(
    app: &TestApp,
    token: &str,
    query: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows = notifications(app, token, query).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[actix_web::test]
async fn channels_are_validated_masked_and_admin_only() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let token = &acme.admin_token;
    let created = create_channel(
        &app,
        token,
        json!({"name": "ops hook", "kind": "webhook",
               "config": {"url": "http://127.0.0.1:9/hook", "secret": "s3cret"}}),
    )
    .await;
    assert_eq!(created["config"]["secret"], "********");
    assert_eq!(created["config"]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(created["send_resolved"], true);
    let id = created["id"].as_str().unwrap();

    for (body, field) in [
        (
            json!({"name": "x", "kind": "carrier-pigeon", "config": {}}),
            "kind",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {}}),
            "config.url",
        ),
        (
            json!({"name": "x", "kind": "email", "config": {"to": ["not an address"]}}),
            "config.to[0]",
        ),
        (
            json!({"name": "", "kind": "webhook", "config": {"url": "http://a/"}}),
            "name",
        ),
        (
            json!({"name": "x", "kind": "slack", "config": {"url": "http://a/"}, "colour": 1}),
            "colour",
        ),
    ] {
        let message = assert_error(
            app.post("/api/v1/channels", token, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    assert_error(
        app.post(
            "/api/v1/channels",
            token,
            json!({"name": "ops hook", "kind": "webhook", "config": {"url": "http://a/"}}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // Sent back as answered, the secret stays; the stored config still has it.
    let mut update = created.clone();
    update["config"]["url"] = json!("http://127.0.0.1:9/other");
    let response = app
        .request(
            "PUT",
            &format!("/api/v1/channels/{id}"),
            Some(token),
            Some(update),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = app
        .state
        .store
        .channel(acme.id.parse().unwrap(), id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.config["secret"], "s3cret");
    assert_eq!(stored.config["url"], "http://127.0.0.1:9/other");

    // Viewers and editors read (masked); only admins write.
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    let (_, editor) = app.create_user(token, "eve@acme.test", "editor").await;
    let listed: Value = app
        .get("/api/v1/channels", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["channels"][0]["config"]["secret"], "********");
    for who in [&viewer, &editor] {
        assert_error(
            app.post(
                "/api/v1/channels",
                who,
                json!({"name": "y", "kind": "webhook", "config": {"url": "http://a/"}}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_error(
            app.delete(&format!("/api/v1/channels/{id}"), who).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }

    // Another tenant sees nothing and changes nothing.
    let globex = app.create_tenant("globex").await;
    for (method, path, body) in [
        ("GET", format!("/api/v1/channels/{id}"), None),
        (
            "PUT",
            format!("/api/v1/channels/{id}"),
            Some(created.clone()),
        ),
        ("DELETE", format!("/api/v1/channels/{id}"), None),
        ("POST", format!("/api/v1/channels/{id}/test"), None),
    ] {
        let response = app
            .request(method, &path, Some(&globex.admin_token), body)
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let theirs: Value = app
        .get("/api/v1/channels", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["channels"], json!([]));

    let response = app.delete(&format!("/api/v1/channels/{id}"), token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&format!("/api/v1/channels/{id}"), token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn the_test_button_reaches_every_kind_of_provider_as_it_expects() {
    let receiver = HttpReceiver::start();
    let smtp = SmtpSink::start().await;
    let smtp_url = smtp.url();
    let app = spawn_app_with(|c| c.smtp_url = Some(smtp_url)).await;
    let acme = app.create_tenant("acme").await;
    let token = &acme.admin_token;
    let base = receiver.base.clone();
    let kinds = [
        (
            "webhook",
            json!({"url": format!("{base}/hook"), "secret": "k"}),
        ),
        ("slack", json!({"url": format!("{base}/slack/T1/B1/x")})),
        ("teams", json!({"url": format!("{base}/teams")})),
        ("discord", json!({"url": format!("{base}/discord")})),
        (
            "telegram",
            json!({"bot_token": "123:abc", "chat_id": "-100", "base_url": base}),
        ),
        (
            "pagerduty",
            json!({"routing_key": "rk-1", "base_url": base}),
        ),
        ("opsgenie", json!({"api_key": "og-key", "base_url": base})),
        (
            "sms",
            json!({"account_sid": "AC42", "auth_token": "tok", "from": "+15550001", "to": ["+15550002"], "base_url": base}),
        ),
        (
            "email",
            json!({"to": ["ops@example.com"], "from": "Tidewatch <tw@example.com>"}),
        ),
    ];
    for (kind, config) in &kinds {
        let channel = create_channel(
            &app,
            token,
            json!({"name": kind, "kind": kind, "config": config}),
        )
        .await;
        let answer: Value = app
            .post(
                &format!("/api/v1/channels/{}/test", channel["id"].as_str().unwrap()),
                token,
                json!({}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["delivered"], true, "{kind}: {answer}");
        let expected_status = if *kind == "email" { 250 } else { 200 };
        assert_eq!(
            answer["provider_status"], expected_status,
            "{kind}: {answer}"
        );
    }
    let got = receiver.wait_for(8, Duration::from_secs(5)).await;
    assert!(got.iter().all(|r| r.method == "POST"), "{got:?}");
    let by_path = |prefix: &str| {
        got.iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("no request to {prefix}: {got:?}"))
    };

    let hook = by_path("/hook");
    let body = hook.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "webhook");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "TidewatchTest");
    assert!(hook.header("idempotency-key").is_some());
    assert_eq!(
        hook.header("x-tidewatch-signature").unwrap(),
        format!("sha256={}", hmac_hex("k", &hook.body))
    );

    let slack = by_path("/slack").json();
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(slack["text"].as_str().unwrap().contains("TidewatchTest"));

    let teams = by_path("/teams").json();
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );

    let discord = by_path("/discord").json();
    assert!(discord["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("TidewatchTest"));

    let telegram = by_path("/bot123:abc/sendMessage");
    assert_eq!(telegram.json()["chat_id"], "-100");

    let pagerduty = by_path("/v2/enqueue").json();
    assert_eq!(pagerduty["routing_key"], "rk-1");
    assert_eq!(pagerduty["event_action"], "trigger");
    assert_eq!(pagerduty["payload"]["severity"], "info");
    assert_eq!(pagerduty["dedup_key"].as_str().unwrap().len(), 32);

    let opsgenie = by_path("/v2/alerts");
    assert_eq!(opsgenie.header("authorization"), Some("GenieKey og-key"));
    assert!(opsgenie.json()["message"]
        .as_str()
        .unwrap()
        .contains("TidewatchTest"));

    let sms = by_path("/2010-04-01/Accounts/AC42/Messages.json");
    let form: Vec<(String, String)> = form_urlencoded::parse(&sms.body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("To"), "+15550002");
    assert_eq!(field("From"), "+15550001");
    assert!(field("Body").chars().count() <= 160);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("AC42:tok");
    assert_eq!(
        sms.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );

    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails[0].to, ["ops@example.com"]);
    assert_eq!(mails[0].from, "tw@example.com");
    assert!(
        mails[0].data.contains("multipart/alternative"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].data.contains("TidewatchTest"), "{}", mails[0].data);

    // A provider that refuses: the answer says so, with its status and body.
    receiver.script([Reply::Status(403)]);
    let channel = create_channel(
        &app,
        token,
        json!({"name": "refused", "kind": "discord", "config": {"url": format!("{base}/refuse")}}),
    )
    .await;
    let answer: Value = app
        .post(
            &format!("/api/v1/channels/{}/test", channel["id"].as_str().unwrap()),
            token,
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["delivered"], false, "{answer}");
    assert_eq!(answer["provider_status"], 403);
    assert_eq!(answer["provider_body"], "{\"answered\":403}");
}

#[actix_web::test]
async fn a_crossing_sample_reaches_a_signed_webhook_and_email_then_the_resolution_follows() {
    let receiver = HttpReceiver::start();
    let smtp = SmtpSink::start().await;
    let smtp_url = smtp.url();
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(smtp_url);
        c.smtp_from = Some("Tidewatch <alerts@acme.test>".into());
        c.external_url = Some("https://tidewatch.acme.test".into());
    })
    .await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = create_channel(
        &app,
        token,
        json!({"name": "hook", "kind": "webhook",
        "config": {"url": receiver.url("/alerts"), "secret": "hook-secret"}}),
    )
    .await;
    let mail = create_channel(
        &app,
        token,
        json!({"name": "mail", "kind": "email",
        "config": {"to": ["oncall@acme.test"]}}),
    )
    .await;
    let ids = [hook["id"].as_str().unwrap(), mail["id"].as_str().unwrap()];
    create_rule(&app, token, notifying_rule(&ids)).await;

    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let request = &got[0];
    let body = request.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["externalURL"], "https://tidewatch.acme.test");
    assert_eq!(body["groupLabels"], json!({"alertname": "HighCpu"}));
    assert_eq!(body["commonLabels"]["host"], "db1");
    assert_eq!(body["commonLabels"]["team"], "infra");
    assert_eq!(body["commonLabels"]["severity"], "critical");
    assert_eq!(
        body["alerts"][0]["annotations"]["summary"],
        "db1 is busy: 97"
    );
    assert_eq!(body["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    assert!(body["groupKey"]
        .as_str()
        .unwrap()
        .contains("alertname=\"HighCpu\""));
    assert!(body["alerts"][0]["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("https://tidewatch.acme.test/alerts/"));
    assert_eq!(
        request.header("x-tidewatch-signature").unwrap(),
        format!("sha256={}", hmac_hex("hook-secret", &request.body))
    );
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].to, ["oncall@acme.test"]);
    assert!(
        mails[0]
            .data
            .contains("Subject: [FIRING:1] HighCpu (critical)"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].data.contains("text/html"), "{}", mails[0].data);

    let sent = notifications_until(
        &app,
        token,
        "?status=sent",
        "two sent notifications",
        |rows| rows.len() == 2,
    )
    .await;
    for row in &sent {
        assert_eq!(row["transition"], "firing");
        assert_eq!(row["attempts"], 1);
        assert!(row["latency_ms"].as_i64().unwrap() >= 0, "{row}");
        assert!(
            row["provider_status"] == 200 || row["provider_status"] == 250,
            "{row}"
        );
    }

    // Over: the resolution follows, to both.
    write_lines(&app, &key, cpu_line("db1", 20.0)).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let resolved = got[1].json();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        mails[1]
            .data
            .contains("Subject: [RESOLVED:1] HighCpu (critical)"),
        "{}",
        mails[1].data
    );
    // Exactly once each.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);
}

#[actix_web::test]
async fn send_resolved_off_and_policies_route_alerts_without_rule_channels() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let infra = create_channel(
        &app,
        token,
        json!({"name": "infra", "kind": "webhook",
        "config": {"url": receiver.url("/infra")}, "send_resolved": false}),
    )
    .await;
    let other = create_channel(
        &app,
        token,
        json!({"name": "other", "kind": "webhook",
        "config": {"url": receiver.url("/other")}}),
    )
    .await;
    // Unknown channel ids and bad matchers are refused, naming the field.
    assert_error(
        put_policies(
            &app,
            token,
            json!({"channels": ["00000000-0000-0000-0000-000000000000"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let message = assert_error(
        put_policies(
            &app,
            token,
            json!({"routes": [{"matchers": [{"name": "team", "op": "~", "value": "x"}]}]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(
        message.starts_with("routes[0].matchers[0].op:"),
        "{message}"
    );
    let tree = json!({
        "channels": [other["id"]],
        "group_wait": "0s",
        "group_interval": "0s",
        "routes": [{"matchers": ["team=infra"], "channels": [infra["id"]]}]
    });
    let response = put_policies(&app, token, tree).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored: Value = app
        .get("/api/v1/notification-policies", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["routes"][0]["group_wait"], "0s",
        "inherited: {stored}"
    );
    assert_eq!(stored["repeat_interval"], "4h");

    // cpu_rule carries team=infra: the child route takes it, not the default.
    create_rule(&app, token, cpu_rule()).await;
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].path, "/infra");
    write_lines(&app, &key, cpu_line("db1", 20.0)).await;
    crate::alerts::alerts_until(&app, token, "the alert to end", |alerts| alerts.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // No resolution for a channel that does not want them, and nothing for the default.
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
    // A viewer reads the tree but cannot change it.
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_eq!(
        app.get("/api/v1/notification-policies", &viewer)
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        put_policies(&app, &viewer, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[actix_web::test]
async fn one_group_is_one_message_after_group_wait() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/g")).await;
    let mut rule = notifying_rule(&[hook["id"].as_str().unwrap()]);
    rule["group_wait"] = json!("1s");
    // A long name makes a long group key (it once overflowed a 64-character column on
    // PostgreSQL, which SQLite does not enforce).
    rule["name"] = json!("HighCpuOnTheDatabaseHostsOfTheProductionEnvironmentInEveryRegion");
    create_rule(&app, token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 97.0) + &cpu_line("db2", 98.0)).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 1, "one message for the group");
    let body = got[0].json();
    let hosts: Vec<&str> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2, "{body}");
    assert!(hosts.contains(&"db1") && hosts.contains(&"db2"));
}

#[actix_web::test]
async fn failures_are_retried_with_backoff_refusals_are_dead_letters_and_can_be_retried() {
    let flaky = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = create_channel(
        &app,
        token,
        json!({"name": "flaky", "kind": "webhook", "config": {"url": flaky.url("/f")}}),
    )
    .await;
    create_rule(&app, token, notifying_rule(&[hook["id"].as_str().unwrap()])).await;

    // Fails twice, then succeeds: one delivery, three attempts.
    flaky.script([Reply::Status(500), Reply::Status(502)]);
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let got = flaky.wait_for(3, Duration::from_secs(15)).await;
    let keys: Vec<&str> = got
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one idempotency key for all attempts: {keys:?}"
    );
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(700),
        "backoff before attempt 2"
    );
    let rows = notifications_until(&app, token, "?status=sent", "the delivery", |rows| {
        rows.len() == 1
    })
    .await;
    assert_eq!(rows[0]["attempts"], 3);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(flaky.received().len(), 3);

    // 429 with Retry-After: 2 — the next attempt waits at least 2 s.
    flaky.script([Reply::RetryAfter(429, 2)]);
    write_lines(&app, &key, cpu_line("db2", 97.0)).await;
    let got = flaky.wait_for(5, Duration::from_secs(15)).await;
    assert!(
        got[4].at - got[3].at >= Duration::from_secs(2),
        "Retry-After honoured: {:?}",
        got[4].at - got[3].at
    );

    // 400: a dead letter at once, with the provider's answer.
    flaky.script([Reply::Status(400)]);
    write_lines(&app, &key, cpu_line("db3", 97.0)).await;
    let dead = notifications_until(&app, token, "?status=dead", "a dead letter", |rows| {
        rows.len() == 1
    })
    .await;
    assert_eq!(dead[0]["attempts"], 1);
    assert_eq!(dead[0]["provider_status"], 400);
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("400"),
        "{}",
        dead[0]
    );
    let before = flaky.received().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        flaky.received().len(),
        before,
        "a dead letter is not retried on its own"
    );

    // Retried by hand: delivered.
    let id = dead[0]["id"].as_str().unwrap();
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_error(
        app.post(
            &format!("/api/v1/notifications/{id}/retry"),
            &viewer,
            json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let globex = app.create_tenant("globex").await;
    assert_error(
        app.post(
            &format!("/api/v1/notifications/{id}/retry"),
            &globex.admin_token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/api/v1/notifications/{id}"), &globex.admin_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(notifications(&app, &globex.admin_token, "")
        .await
        .is_empty());
    let response = app
        .post(
            &format!("/api/v1/notifications/{id}/retry"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    notifications_until(
        &app,
        token,
        &format!("?alert={}", dead[0]["alert_id"].as_str().unwrap()),
        "the retried delivery",
        |rows| rows.iter().any(|r| r["status"] == "sent"),
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/notifications/{id}/retry"),
            token,
            json!({}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        app.get("/api/v1/notifications?status=lost", token).await,
        StatusCode::BAD_REQUEST,
        "bad_parameter",
    )
    .await;
}

#[actix_web::test]
async fn a_hanging_provider_holds_back_no_other_channel() {
    let hanging = HttpReceiver::start();
    let healthy = HttpReceiver::start();
    let app = spawn_app_with(|c| c.notify_timeout_secs = 1).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    hanging.script([Reply::Hang(Duration::from_secs(5))]);
    let slow = create_channel(
        &app,
        token,
        json!({"name": "slow", "kind": "webhook", "config": {"url": hanging.url("/slow")}}),
    )
    .await;
    let fast = create_channel(
        &app,
        token,
        json!({"name": "fast", "kind": "webhook", "config": {"url": healthy.url("/fast")}}),
    )
    .await;
    create_rule(
        &app,
        token,
        notifying_rule(&[slow["id"].as_str().unwrap(), fast["id"].as_str().unwrap()]),
    )
    .await;
    let started = std::time::Instant::now();
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    healthy.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the healthy channel waited {:?}",
        started.elapsed()
    );
    // The hanging attempt times out and is tried again.
    let rows = notifications_until(
        &app,
        token,
        &format!("?channel={}", slow["id"].as_str().unwrap()),
        "a timed-out attempt",
        |rows| {
            rows.iter().any(|r| {
                r["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("timed out"))
            })
        },
    )
    .await;
    assert_eq!(rows[0]["status"], "failed");
    hanging.wait_for(2, Duration::from_secs(10)).await;
}

#[actix_web::test]
async fn silences_hold_back_exactly_what_they_match_and_say_so() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/s")).await;
    create_rule(&app, token, notifying_rule(&[hook["id"].as_str().unwrap()])).await;
    let ends_at = tidewatch::domain::time::rfc3339_ms(crate::metric_queries::now_ms() + 3_600_000);
    let silence_body = json!({"matchers": [{"name": "host", "op": "=", "value": "db1"}], "ends_at": ends_at, "comment": "db1 maintenance"});

    // Who may: editors, admins and `alerts` keys write; viewers read; others see nothing.
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_error(
        app.post("/api/v1/silences", &viewer, silence_body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post("/api/v1/silences", &key, silence_body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (_, alerts_key) = app.create_api_key(token, &["alerts"]).await;
    let response = app
        .post("/api/v1/silences", &alerts_key, silence_body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let silence: Value = response.json().await.unwrap();
    assert_eq!(silence["state"], "active");
    assert!(
        silence["created_by"]
            .as_str()
            .unwrap()
            .starts_with("api_key:"),
        "{silence}"
    );
    let id = silence["id"].as_str().unwrap();
    let listed: Value = app
        .get("/api/v1/silences?state=active", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1);
    let message = assert_error(
        app.post(
            "/api/v1/silences",
            token,
            json!({"matchers": [], "ends_at": ends_at}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("matchers:"), "{message}");
    let globex = app.create_tenant("globex").await;
    hidden_from(
        &app,
        &globex.admin_token,
        &format!("/api/v1/silences/{id}"),
        &[
            ("GET", None),
            ("PUT", Some(silence_body.clone())),
            ("DELETE", None),
        ],
    )
    .await;

    // db1 is silenced: it fires, nobody hears, the row says why.
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let held = notifications_until(
        &app,
        token,
        "?status=silenced",
        "a silenced notification",
        |rows| rows.len() == 1,
    )
    .await;
    assert_eq!(held[0]["last_error"], format!("silenced by {id}"));
    assert_eq!(held[0]["alert"]["labels"]["host"], "db1");
    // db2 is not: its message leaves db1 out.
    write_lines(&app, &key, cpu_line("db2", 97.0)).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let message = got[0].json();
    let hosts: Vec<&str> = message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["db2"]);

    // Ended early: listed as expired, kept.
    let ended: Value = app
        .delete(&format!("/api/v1/silences/{id}"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ended["state"], "expired");
    let listed: Value = app
        .get("/api/v1/silences?state=expired", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["silences"][0]["id"], id);
    let audit: Value = app
        .get("/api/v1/audit-log", token)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"silence.create") && actions.contains(&"silence.expire"),
        "{actions:?}"
    );
}

#[actix_web::test]
async fn alerts_posted_to_the_alertmanager_api_are_routed_and_resolved() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, ingest_key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/ext")).await;
    let response = put_policies(
        &app,
        token,
        json!({"channels": [hook["id"]], "group_wait": "0s", "group_interval": "0s"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, key) = app.create_api_key(token, &["alerts"]).await;
    let alert = json!([{"labels": {"alertname": "QueueStuck", "queue": "mail", "severity": "critical"},
                        "annotations": {"summary": "mail queue is stuck"},
                        "generatorURL": "http://vmalert.example/rule/1"}]);

    // Refusals: a viewer, an ingest key, bodies that are not alerts.
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_error(
        app.post("/api/v2/alerts", &viewer, alert.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post("/api/v2/alerts", &ingest_key, alert.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [
        json!({"labels": {}}),
        json!([{"labels": {}}]),
        json!([{"labels": {"a-b": "x"}}]),
        json!([{"labels": {"a": 1}}]),
        json!([{"labels": {"a": "x"}, "endsAt": "later"}]),
    ] {
        assert_error(
            app.post("/api/v2/alerts", &key, bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_alert",
        )
        .await;
    }

    let response = app.post("/api/v2/alerts", &key, alert.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = got[0].json();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["queue"], "mail");
    assert_eq!(
        body["alerts"][0]["annotations"]["summary"],
        "mail queue is stuck"
    );
    // Posted again (as Prometheus does every evaluation): no second message.
    app.post("/api/v2/alerts", &key, alert.clone()).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 1);
    let listed: Value = app
        .get("/api/v2/alerts", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["labels"]["alertname"], "QueueStuck");
    assert_eq!(listed[0]["receivers"][0]["name"], "hook");
    let receivers: Value = app
        .get("/api/v2/receivers", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(receivers, json!([{"name": "hook"}]));
    let status: Value = app.get("/api/v2/status", &key).await.json().await.unwrap();
    assert_eq!(status["cluster"]["status"], "ready");

    // Ended by endsAt: resolved.
    let mut ended = alert.clone();
    ended[0]["endsAt"] = json!(tidewatch::domain::time::rfc3339_ms(
        crate::metric_queries::now_ms() - 1_000
    ));
    app.post("/api/v2/alerts", &key, ended).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].json()["status"], "resolved");
    let listed: Value = app.get("/api/v2/alerts", &key).await.json().await.unwrap();
    assert_eq!(listed, json!([]));

    // An endsAt that passes on its own: the sweep resolves it.
    let mut brief = alert.clone();
    brief[0]["labels"]["queue"] = json!("sms");
    brief[0]["endsAt"] = json!(tidewatch::domain::time::rfc3339_ms(
        crate::metric_queries::now_ms() + 1_000
    ));
    app.post("/api/v2/alerts", &key, brief).await;
    let got = receiver.wait_for(4, Duration::from_secs(15)).await;
    assert_eq!(got[2].json()["status"], "firing");
    assert_eq!(got[3].json()["status"], "resolved");
    assert_eq!(got[3].json()["alerts"][0]["labels"]["queue"], "sms");
    // Nothing of it reaches another tenant.
    let globex = app.create_tenant("globex").await;
    let listed: Value = app
        .get("/api/v2/alerts", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
}

#[actix_web::test]
async fn mute_timings_hold_back_what_their_policies_route_while_in_force() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/m")).await;
    // Always in force, and never.
    let always = json!({"name": "always", "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "24:00"}], "location": "Europe/Berlin"}]});
    let never = json!({"name": "far future", "time_intervals": [{"years": ["2099"]}]});
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_error(
        app.post("/api/v1/mute-timings", &viewer, always.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let message = assert_error(
        app.post(
            "/api/v1/mute-timings",
            token,
            json!({"name": "bad", "time_intervals": [{"weekdays": ["funday"]}]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(
        message.starts_with("time_intervals[0].weekdays[0]:"),
        "{message}"
    );
    let created: Value = app
        .post("/api/v1/mute-timings", token, always.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["in_force"], true);
    let id = created["id"].as_str().unwrap();
    assert_error(
        app.post("/api/v1/mute-timings", token, always.clone())
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let far: Value = app
        .post("/api/v1/mute-timings", token, never)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(far["in_force"], false);

    // A policy naming a timing that does not exist is refused.
    let message = assert_error(
        put_policies(
            &app,
            token,
            json!({"channels": [hook["id"]], "mute_timings": ["nope"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("mute_timings:"), "{message}");
    let tree = json!({
        "channels": [hook["id"]], "group_wait": "0s", "group_interval": "0s",
        "routes": [
            {"matchers": ["host=db1"], "mute_timings": ["always"]},
            {"matchers": ["host=db2"], "active_timings": ["far future"]}
        ]
    });
    let response = put_policies(&app, token, tree).await;
    assert_eq!(response.status(), StatusCode::OK);
    // In use: not deletable.
    assert_error(
        app.delete(&format!("/api/v1/mute-timings/{id}"), token)
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    create_rule(&app, token, cpu_rule()).await;
    write_lines(
        &app,
        &key,
        cpu_line("db1", 97.0) + &cpu_line("db2", 97.0) + &cpu_line("db3", 97.0),
    )
    .await;
    let muted = notifications_until(
        &app,
        token,
        "?status=muted",
        "two muted notifications",
        |rows| rows.len() == 2,
    )
    .await;
    let mut reasons: Vec<&str> = muted
        .iter()
        .map(|r| r["last_error"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["muted by always", "outside its active timings (far future)"]
    );
    // db3 takes the default policy: delivered.
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["alerts"][0]["labels"]["host"], "db3");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 1);

    // Another tenant sees none of it.
    let globex = app.create_tenant("globex").await;
    hidden_from(
        &app,
        &globex.admin_token,
        &format!("/api/v1/mute-timings/{id}"),
        &[
            ("GET", None),
            ("PUT", Some(always.clone())),
            ("DELETE", None),
        ],
    )
    .await;
    let listed: Value = app
        .get("/api/v1/mute-timings", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["mute_timings"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_firing_source_inhibits_the_targets_that_agree_with_it() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/i")).await;
    let response = put_policies(
        &app,
        token,
        json!({"channels": [hook["id"]], "group_wait": "0s", "group_interval": "0s"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rule = json!({"source_matchers": ["alertname=NodeDown"], "target_matchers": ["severity=warning"], "equal": ["node"]});
    let (_, viewer) = app.create_user(token, "vic@acme.test", "viewer").await;
    assert_error(
        app.post("/api/v1/inhibit-rules", &viewer, rule.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let message = assert_error(
        app.post(
            "/api/v1/inhibit-rules",
            token,
            json!({"source_matchers": ["alertname=NodeDown"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("target_matchers:"), "{message}");
    let created: Value = app
        .post("/api/v1/inhibit-rules", token, rule.clone())
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["equal"], json!(["node"]));

    let (_, key) = app.create_api_key(token, &["alerts"]).await;
    let node_down =
        json!([{"labels": {"alertname": "NodeDown", "node": "n1", "severity": "critical"}}]);
    app.post("/api/v2/alerts", &key, node_down).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let targets = json!([
        {"labels": {"alertname": "DiskSlow", "node": "n1", "severity": "warning"}},
        {"labels": {"alertname": "DiskSlow", "node": "n2", "severity": "warning"}}
    ]);
    app.post("/api/v2/alerts", &key, targets).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let message = got[1].json();
    let nodes: Vec<&str> = message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["n2"], "{message}");
    let held = notifications_until(
        &app,
        token,
        "?status=silenced",
        "an inhibited notification",
        |rows| rows.len() == 1,
    )
    .await;
    let reason = held[0]["last_error"].as_str().unwrap();
    assert!(
        reason.starts_with("inhibited by NodeDown ")
            && reason.ends_with(&format!("(inhibit rule {id})")),
        "{reason}"
    );
    assert_eq!(held[0]["alert"]["labels"]["node"], "n1");

    let globex = app.create_tenant("globex").await;
    hidden_from(
        &app,
        &globex.admin_token,
        &format!("/api/v1/inhibit-rules/{id}"),
        &[("GET", None), ("PUT", Some(rule.clone())), ("DELETE", None)],
    )
    .await;
    let listed: Value = app
        .get("/api/v1/inhibit-rules", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["inhibit_rules"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.delete(&format!("/api/v1/inhibit-rules/{id}"), token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

/// The body of webhook message `n`'s alerts as (host, status) pairs.
fn hosts_in(received: &crate::receivers::Received) -> Vec<(String, String)> {
    let body = received.json();
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["host"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until `n` notifications are recorded as sent (a receiver holds a message a
/// moment before the notifier records it).
async fn sent_rows(app: &TestApp, token: &str, n: usize) {
    notifications_until(app, token, "?status=sent", "sent rows", |rows| {
        rows.len() >= n
    })
    .await;
}

#[actix_web::test]
async fn firing_groups_repeat_after_repeat_interval_except_acknowledged_alerts() {
    let clock = OffsetClock::shared();
    let receiver = HttpReceiver::start();
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/r")).await;
    let tree = json!({
        "channels": [hook["id"]], "group_by": ["alertname", "host"],
        "group_wait": "0s", "group_interval": "0s", "repeat_interval": "4h"
    });
    assert_eq!(
        put_policies(&app, token, tree).await.status(),
        StatusCode::OK
    );
    // A window long enough that the samples stay in it while hours pass.
    let mut rule = cpu_rule();
    rule["window"] = json!("24h");
    create_rule(&app, token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 97.0) + &cpu_line("db2", 97.0)).await;
    let first = receiver.wait_for(2, Duration::from_secs(10)).await;
    let mut hosts: Vec<String> = first.iter().map(|r| hosts_in(r)[0].0.clone()).collect();
    hosts.sort();
    assert_eq!(hosts, ["db1", "db2"]);
    // Recorded before time moves on: a repeat counts from the recorded send.
    sent_rows(&app, token, 2).await;

    // Not before the interval.
    clock.advance(Duration::from_secs(3 * 3600));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2, "no repeat before 4 h");

    let alerts = alerts_until(&app, token, "firing", |a| a.len() == 2).await;
    let db1 = alerts
        .iter()
        .find(|a| a["labels"]["host"] == "db1")
        .unwrap();
    let path = format!("/api/v1/alerts/{}/ack", db1["id"].as_str().unwrap());
    assert_eq!(
        app.post(&path, token, json!({"comment": "on it"}))
            .await
            .status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(3600 + 1));
    let repeated = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        hosts_in(&repeated[2]),
        [("db2".to_owned(), "firing".to_owned())]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the acknowledged db1 is not repeated"
    );
    sent_rows(&app, token, 3).await;
    // And again one interval later; db1 still not.
    clock.advance(Duration::from_secs(4 * 3600 + 1));
    let again = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(
        hosts_in(&again[3]),
        [("db2".to_owned(), "firing".to_owned())]
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 4);
}

#[actix_web::test]
async fn a_mute_timing_holds_back_until_its_window_ends_then_the_alert_is_sent() {
    let clock = OffsetClock::shared();
    let receiver = HttpReceiver::start();
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/w")).await;
    // A window from this minute to two minutes on, in a zone where that does not cross
    // midnight (Alertmanager's `times` cannot).
    let utc_minute = (clock.now_ms() / 60_000) % 1440;
    let (zone, local_minute) = if (60..1380).contains(&utc_minute) {
        ("UTC", utc_minute)
    } else {
        ("Etc/GMT-12", (utc_minute + 720) % 1440)
    };
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let window = json!({"name": "deploy window", "time_intervals": [{
        "times": [{"start_time": hhmm(local_minute), "end_time": hhmm(local_minute + 2)}],
        "location": zone
    }]});
    let created = app.post("/api/v1/mute-timings", token, window).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.json::<Value>().await.unwrap()["in_force"], true);
    let tree = json!({
        "channels": [hook["id"]], "group_wait": "0s", "group_interval": "0s",
        "routes": [{"matchers": ["team=infra"], "mute_timings": ["deploy window"]}]
    });
    assert_eq!(
        put_policies(&app, token, tree).await.status(),
        StatusCode::OK
    );
    let mut rule = cpu_rule();
    rule["window"] = json!("24h");
    create_rule(&app, token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let muted = notifications_until(&app, token, "?status=muted", "a muted row", |rows| {
        rows.len() == 1
    })
    .await;
    assert_eq!(muted[0]["last_error"], "muted by deploy window");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(receiver.received().is_empty(), "nothing while in force");

    // The window ends: the alert, still firing, goes out at the group's next interval.
    clock.advance(Duration::from_secs(3 * 60));
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hosts_in(&got[0]), [("db1".to_owned(), "firing".to_owned())]);
    // The receiver answered before the send was recorded.
    notifications_until(&app, token, "?status=sent", "the sent row", |rows| {
        rows.len() == 1
    })
    .await;
    // The held-back row stays recorded as it was.
    assert_eq!(notifications(&app, token, "?status=muted").await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 1, "sent once");
}

#[actix_web::test]
async fn a_channels_own_template_is_checked_with_its_position_and_shapes_its_messages() {
    let receiver = HttpReceiver::start();
    let smtp = SmtpSink::start().await;
    let smtp_url = smtp.url();
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(smtp_url);
        c.smtp_from = Some("tw@example.com".into());
    })
    .await;
    let acme = app.create_tenant("acme").await;
    let token = &acme.admin_token;
    let slack_url = receiver.url("/slack/T1/B1/x");
    let bad = json!({"name": "s", "kind": "slack", "config": {"url": slack_url},
                     "template": {"subject": "ok", "body": "fine\n{{ $labels.host }} {{ $nope }}"}});
    let message = assert_error(
        app.post("/api/v1/channels", token, bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(
        message.starts_with("template.body: line 2, column 23:"),
        "{message}"
    );
    for (template, field) in [
        (json!({"subject": "{{ if }}"}), "template.subject:"),
        (json!({"footer": "x"}), "template.footer:"),
        (json!("x"), "template:"),
    ] {
        let body = json!({"name": "s", "kind": "slack", "config": {"url": slack_url}, "template": template});
        let message = assert_error(
            app.post("/api/v1/channels", token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert!(message.starts_with(field), "{message}");
    }
    let template = json!({
        "subject": "{{ $status | toUpper }} {{ $alertname }} on {{ $labels.channel }}",
        "body": "{{ $annotations.summary }} | {{ $severity }} | value {{ $value }} | {{ $transition }}"
    });
    let slack = create_channel(
        &app,
        token,
        json!({"name": "ops", "kind": "slack", "config": {"url": slack_url}, "template": template}),
    )
    .await;
    assert_eq!(slack["template"], template);
    let mail = create_channel(
        &app,
        token,
        json!({"name": "mail", "kind": "email", "config": {"to": ["ops@example.com"]},
               "template": {"subject": "Tidewatch says {{ $alertname }}"}}),
    )
    .await;
    for channel in [&slack, &mail] {
        let path = format!("/api/v1/channels/{}/test", channel["id"].as_str().unwrap());
        let answer: Value = app
            .post(&path, token, json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["delivered"], true, "{answer}");
    }
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let body = got[0].json();
    assert_eq!(body["text"], "FIRING TidewatchTest on ops");
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        "FIRING TidewatchTest on ops"
    );
    assert_eq!(
        body["blocks"][1]["text"]["text"],
        "A test message from Tidewatch to the channel \"ops\" | info | value 1 | test"
    );
    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        mails[0]
            .data
            .contains("Subject: Tidewatch says TidewatchTest"),
        "{}",
        mails[0].data
    );
    // Without a body template the default text stays.
    assert!(mails[0].data.contains("Labels:"), "{}", mails[0].data);
}

#[actix_web::test]
async fn rate_limits_hold_back_a_storm_as_throttled_and_send_it_later() {
    let clock = OffsetClock::shared();
    let receiver = HttpReceiver::start();
    let app = spawn_app_with_clock(|c| c.notify_tenant_max_per_minute = 3, clock.clone()).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let message = assert_error(
        app.post(
            "/api/v1/channels",
            token,
            json!({"name": "x", "kind": "webhook", "config": {"url": receiver.url("/x")}, "max_per_minute": 0}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("max_per_minute:"), "{message}");
    // One message a minute on this channel; the tenant allows three a minute in all.
    let pager = create_channel(
        &app,
        token,
        json!({"name": "pager", "kind": "webhook", "config": {"url": receiver.url("/pager")}, "max_per_minute": 1}),
    )
    .await;
    assert_eq!(pager["max_per_minute"], 1);
    let tree = json!({
        "channels": [pager["id"]], "group_by": ["alertname", "host"],
        "group_wait": "0s", "group_interval": "0s"
    });
    assert_eq!(
        put_policies(&app, token, tree).await.status(),
        StatusCode::OK
    );
    let mut rule = cpu_rule();
    rule["window"] = json!("24h");
    create_rule(&app, token, rule).await;
    write_lines(
        &app,
        &key,
        cpu_line("db1", 97.0) + &cpu_line("db2", 97.0) + &cpu_line("db3", 97.0),
    )
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let throttled = notifications_until(
        &app,
        token,
        "?status=throttled",
        "two throttled rows",
        |rows| rows.len() == 2,
    )
    .await;
    for row in &throttled {
        assert_eq!(
            row["last_error"],
            "throttled: the channel's limit of 1 messages per minute was reached"
        );
        assert!(row["next_attempt_at"].is_string(), "{row}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "held back, not sent");
    // A minute on, the next group goes; another minute, the last. Nothing is lost.
    clock.advance(Duration::from_secs(61));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    clock.advance(Duration::from_secs(61));
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let mut hosts: Vec<String> = got.iter().map(|r| hosts_in(r)[0].0.clone()).collect();
    hosts.sort();
    assert_eq!(hosts, ["db1", "db2", "db3"]);
    notifications_until(&app, token, "?status=sent", "three sent rows", |rows| {
        rows.len() == 3
    })
    .await;

    // The tenant's own limit holds across channels: a channel of its own limit 100 still
    // waits once the tenant's three a minute are used.
    let wide = create_channel(
        &app,
        token,
        json!({"name": "wide", "kind": "webhook", "config": {"url": receiver.url("/wide")}, "max_per_minute": 100}),
    )
    .await;
    let tree = json!({
        "channels": [wide["id"]], "group_by": ["alertname", "host"],
        "group_wait": "0s", "group_interval": "0s"
    });
    assert_eq!(
        put_policies(&app, token, tree).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(61));
    let hosts: String = (4..=8).map(|n| cpu_line(&format!("db{n}"), 97.0)).collect();
    write_lines(&app, &key, hosts).await;
    let rows = notifications_until(
        &app,
        token,
        "?status=throttled",
        "tenant-throttled rows",
        |rows| !rows.is_empty(),
    )
    .await;
    assert_eq!(
        rows[0]["last_error"],
        "throttled: the tenant's limit of 3 messages per minute was reached"
    );
    receiver.wait_for(6, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 6, "three a minute");
}

#[actix_web::test]
async fn acknowledging_an_alert_acknowledges_its_pagerduty_incident_and_nothing_else() {
    let receiver = HttpReceiver::start();
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let pd = create_channel(
        &app,
        token,
        json!({"name": "pd", "kind": "pagerduty", "config": {"routing_key": "rk", "base_url": receiver.base}}),
    )
    .await;
    let hook = webhook_channel(&app, token, &receiver.url("/hook")).await;
    let rule = notifying_rule(&[pd["id"].as_str().unwrap(), hook["id"].as_str().unwrap()]);
    create_rule(&app, token, rule).await;
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let alerts = alerts_until(&app, token, "firing", |a| a.len() == 1).await;
    let path = format!("/api/v1/alerts/{}/ack", alerts[0]["id"].as_str().unwrap());
    assert_eq!(
        app.post(&path, token, json!({})).await.status(),
        StatusCode::OK
    );
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let events: Vec<(String, String)> = got
        .iter()
        .filter(|r| r.path == "/v2/enqueue")
        .map(|r| {
            let body = r.json();
            (
                body["event_action"].as_str().unwrap().to_owned(),
                body["dedup_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "trigger");
    assert_eq!(events[1].0, "acknowledge");
    assert_eq!(events[0].1, events[1].1, "one incident");
    write_lines(&app, &key, cpu_line("db1", 10.0)).await;
    let got = receiver.wait_for(5, Duration::from_secs(10)).await;
    let last_pd = got
        .iter()
        .rfind(|r| r.path == "/v2/enqueue")
        .unwrap()
        .json();
    assert_eq!(last_pd["event_action"], "resolve");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hooks: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| r.json()["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        hooks,
        ["firing", "resolved"],
        "the webhook hears no acknowledgement"
    );
    let acked = notifications(
        &app,
        token,
        &format!("?channel={}", pd["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        acked.iter().any(|r| r["transition"] == "acknowledged"),
        "{acked:?}"
    );
}

#[actix_web::test]
async fn a_flapping_alert_is_notified_once_as_flapping_and_once_as_stable() {
    let clock = OffsetClock::shared();
    let receiver = HttpReceiver::start();
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/f")).await;
    let mut rule = notifying_rule(&[hook["id"].as_str().unwrap()]);
    rule["window"] = json!("24h");
    rule["flap_max_changes"] = json!(2);
    rule["flap_window"] = json!("10m");
    create_rule(&app, token, rule).await;
    // Each change is notified until the one that makes it flap, which says `flapping`.
    let mut value = 10.0;
    let mut sent = 0;
    loop {
        value = if value > 50.0 { 10.0 } else { 97.0 };
        write_lines(&app, &key, cpu_line("db1", value)).await;
        let rows = notifications_until(&app, token, "?status=sent", "a new message", |rows| {
            rows.len() > sent
        })
        .await;
        sent = rows.len();
        if rows[0]["transition"] == "flapping" {
            break;
        }
        assert!(
            sent < 6,
            "flapping after more than 2 changes within 10 m: {rows:?}"
        );
    }
    let messages = receiver.wait_for(sent, Duration::from_secs(10)).await.len();
    // While it flaps, its changes notify no one.
    for _ in 0..4 {
        value = if value > 50.0 { 10.0 } else { 97.0 };
        write_lines(&app, &key, cpu_line("db1", value)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.received().len(),
        messages,
        "nothing while it flaps"
    );
    let rows = notifications(&app, token, "?status=sent").await;
    assert_eq!(rows.len(), sent);
    let flapping = rows
        .iter()
        .filter(|r| r["transition"] == "flapping")
        .count();
    assert_eq!(flapping, 1);

    // Ten minutes with no change: it settles (firing, as the last sample says).
    clock.advance(Duration::from_secs(11 * 60));
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    let got = receiver
        .wait_for(messages + 1, Duration::from_secs(10))
        .await;
    assert_eq!(got[messages].json()["status"], "firing");
    notifications_until(&app, token, "?status=sent", "the stable row sent", |rows| {
        rows.first().is_some_and(|r| r["transition"] == "stable")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), messages + 1);
}
