//! The `tidewatch` binary as an operator uses it: first start, restart, admin commands,
//! bad configuration, SIGTERM.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_tidewatch");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tidewatch` command with a clean environment pointing at `database_url` and `data_dir`.
fn tidewatch(database_url: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(BINARY);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("TIDEWATCH_DATA_DIR", data_dir)
        .env("TIDEWATCH_LOG_LEVEL", "info")
        .env("TIDEWATCH_WORKERS", "1");
    cmd
}

struct RunningServer {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl RunningServer {
    fn start(mut cmd: Command) -> Self {
        let port = free_port();
        let mut child = cmd
            .env("TIDEWATCH_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tidewatch starts");
        let log_output = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(log_output).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            lines,
        };
        server.wait_until_healthy();
        server
    }

    fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::blocking_get(&format!("{}/healthz", self.base)) {
                if response == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line printed so far.
    fn log(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        self.stop_with_sigterm()
    }

    /// SIGTERM; checks the exit is clean and answers the log lines not read before,
    /// through the last one the process printed.
    fn terminate_and_read_log(mut self) -> Vec<String> {
        let status = self.stop_with_sigterm();
        assert!(status.success(), "SIGTERM is a clean shutdown: {status}");
        // The process has exited: its stderr closes and the reader thread hangs up.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return lines,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the log did not close"),
            }
        }
    }

    fn stop_with_sigterm(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Blocking HTTP for tests that drive a child process (no async runtime needed).
mod reqwest {
    pub fn blocking_get(url: &str) -> Result<u16, String> {
        super::runtime().block_on(async {
            ::reqwest::get(url)
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    runtime().block_on(async {
        let client = ::reqwest::Client::new();
        let mut req = client.request(
            ::reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            url,
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn database_url(data_dir: &Path) -> String {
    runtime().block_on(helpers::fresh_database_url(data_dir))
}

#[test]
fn first_start_prints_admin_credentials_that_log_in_and_tokens_survive_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let server = RunningServer::start(tidewatch(&db, data_dir.path()));
    let log = server.log().join("\n");
    let password = log
        .split("password=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no generated password in the log:\n{log}"))
        .to_owned();
    let (status, tokens) = call(
        "POST",
        &format!("{}/api/v1/auth/login", server.base),
        None,
        Some(json!({"email": "admin@tidewatch.local", "password": password})),
    );
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        server.terminate().code(),
        Some(0),
        "SIGTERM is a clean shutdown"
    );

    // Second start: no new password, and the generated JWT secret was kept.
    let server = RunningServer::start(tidewatch(&db, data_dir.path()));
    let (status, me) = call(
        "GET",
        &format!("{}/api/v1/auth/me", server.base),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["platform_admin"], true);
    assert!(
        !server.log().join("\n").contains("password="),
        "the password is printed only once"
    );
    server.terminate();
}

#[test]
fn admin_commands_bootstrap_a_tenant_user_and_api_key() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let run = |args: &[&str]| -> Value {
        let output = tidewatch(&db, data_dir.path()).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        serde_json::from_str(stdout.trim()).unwrap_or(Value::String(stdout))
    };
    assert_eq!(
        run(&["migrate"]),
        Value::String("migrations applied\n".into())
    );
    let tenant = run(&["admin", "create-tenant", "--name", "Acme Corp"]);
    assert_eq!(tenant["slug"], "acme-corp");
    let user = run(&[
        "admin",
        "create-user",
        "--email",
        "ops@acme.test",
        "--password",
        "ops-password",
        "--tenant",
        "acme-corp",
        "--role",
        "admin",
    ]);
    assert_eq!(user["tenant_id"], tenant["id"]);
    let key = run(&[
        "admin",
        "create-api-key",
        "--tenant",
        "acme-corp",
        "--name",
        "agent",
        "--scopes",
        "ingest,read",
    ]);
    let key = key["key"].as_str().unwrap().to_owned();
    // The API's rule for key names holds on the command line too.
    for name in ["", "   "] {
        let refused = tidewatch(&db, data_dir.path())
            .args([
                "admin",
                "create-api-key",
                "--tenant",
                "acme-corp",
                "--name",
                name,
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "name {name:?} was accepted");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--name"), "{stderr}");
    }

    let mut serve = tidewatch(&db, data_dir.path());
    serve.env("TIDEWATCH_ADMIN_PASSWORD", "root-password");
    let server = RunningServer::start(serve);
    let (status, seen) = call(
        "GET",
        &format!("{}/api/v1/tenant", server.base),
        Some(&key),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(seen["slug"], "acme-corp");
    let (status, tokens) = call(
        "POST",
        &format!("{}/api/v1/auth/login", server.base),
        None,
        Some(json!({"email": "ops@acme.test", "password": "ops-password"})),
    );
    assert_eq!(status, 200);
    assert_eq!(tokens["role"], "admin");
    server.terminate();
}

#[test]
fn a_bad_configuration_value_fails_fast_naming_the_key() {
    let data_dir = tempfile::tempdir().unwrap();
    let cases = [
        ("TIDEWATCH_BIND", "not-an-address"),
        ("TIDEWATCH_MAX_BODY_BYTES", "lots"),
        ("REDIS_URL", "http://wrong"),
        ("TIDEWATCH_LOG_LEVEL", "verbose"),
        ("TIDEWATCH_LOG_LEVEL", "tidewatch=loud"),
    ];
    for (key, value) in cases {
        let output = tidewatch("sqlite::memory:", data_dir.path())
            .env(key, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        let named = key.trim_start_matches("TIDEWATCH_").to_lowercase();
        assert!(stderr.contains(&named), "{key}: {stderr}");
    }
}

/// Logs in as the platform admin, creates a tenant with an admin and returns an API key
/// with `ingest` and `read`.
fn bootstrap_tenant_key(base: &str, admin_password: &str) -> String {
    let (status, tokens) = call(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": "admin@tidewatch.local", "password": admin_password})),
    );
    assert_eq!(status, 200, "{tokens}");
    let platform = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, created) = call(
        "POST",
        &format!("{base}/api/v1/admin/tenants"),
        Some(&platform),
        Some(
            json!({"name": "Crash", "slug": "crash", "admin_email": "ops@crash.test", "admin_password": "ops-password"}),
        ),
    );
    assert_eq!(status, 201, "{created}");
    let (_, tokens) = call(
        "POST",
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": "ops@crash.test", "password": "ops-password"})),
    );
    let admin = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, key) = call(
        "POST",
        &format!("{base}/api/v1/api-keys"),
        Some(&admin),
        Some(json!({"name": "load", "scopes": ["ingest", "read"]})),
    );
    assert_eq!(status, 201, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

const SAMPLES_PER_BATCH: i64 = 50;

/// `(sender, batch)` of every batch a 2xx acknowledged.
type Acknowledged = std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>>;

/// Load from 4 sender threads until `stop` is set, the server goes away or `batches`
/// per sender are sent (bounded even if nothing stops it): `request(client, sender,
/// batch)` builds each batch's request, and a `success` status acknowledges it.
fn start_senders(
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    batches: usize,
    success: u16,
    request: impl Fn(&::reqwest::Client, usize, usize) -> ::reqwest::RequestBuilder
        + Send
        + Sync
        + 'static,
) -> (Acknowledged, Vec<std::thread::JoinHandle<()>>) {
    use std::sync::atomic::Ordering;
    let acked = Acknowledged::default();
    let request = std::sync::Arc::new(request);
    let senders = (0..4)
        .map(|sender| {
            let (acked, stop, request) = (acked.clone(), stop.clone(), request.clone());
            std::thread::spawn(move || {
                let rt = runtime();
                let client = ::reqwest::Client::new();
                for batch in 0..batches {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match rt.block_on(request(&client, sender, batch).send()) {
                        Ok(response) if response.status().as_u16() == success => {
                            acked.lock().unwrap().push((sender, batch))
                        }
                        // A server shutting down may refuse a request; nothing of it is
                        // acknowledged, and the senders stop.
                        Ok(response) if response.status().as_u16() == 503 => break,
                        Ok(response) => panic!("unexpected status {}", response.status()),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    (acked, senders)
}

/// Line protocol load: 50-sample batches, at most 400 per sender.
fn start_load(
    base: &str,
    key: &str,
    base_ms: i64,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Acknowledged, Vec<std::thread::JoinHandle<()>>) {
    let (base, key) = (base.to_owned(), key.to_owned());
    start_senders(stop, 400, 204, move |client, sender, batch| {
        let body: String = (0..SAMPLES_PER_BATCH)
            .map(|i| {
                format!(
                    "crash_test,sender={sender},batch={batch} value={i} {}\n",
                    base_ms + i * 1000
                )
            })
            .collect();
        client
            .post(format!("{base}/api/v2/write?precision=ms"))
            .header("authorization", format!("Token {key}"))
            .body(body)
    })
}

fn wait_for_acknowledged(acked: &Acknowledged, batches: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < batches {
        assert!(Instant::now() < deadline, "load did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every acknowledged batch is stored whole on `server`, and no batch partly.
fn assert_acknowledged_batches_stored(
    server: &RunningServer,
    key: &str,
    base_ms: i64,
    acked: &[(usize, usize)],
) {
    let at = base_ms + SAMPLES_PER_BATCH * 1000;
    let (status, body) = call(
        "GET",
        &format!(
            "{}/api/v1/query?query=count_over_time(crash_test[2h])&time={}",
            server.base,
            at / 1000
        ),
        Some(key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let stored: std::collections::HashMap<(String, String), String> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let metric = &r["metric"];
            (
                (
                    metric["sender"].as_str().unwrap().to_owned(),
                    metric["batch"].as_str().unwrap().to_owned(),
                ),
                r["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = acked
        .iter()
        .filter(|(s, b)| {
            stored
                .get(&(s.to_string(), b.to_string()))
                .map(String::as_str)
                != Some(&SAMPLES_PER_BATCH.to_string())
        })
        .collect();
    println!(
        "acknowledged batches: {}, stored batches: {}",
        acked.len(),
        stored.len()
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged batches lost or incomplete: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        stored
            .values()
            .all(|count| count == &SAMPLES_PER_BATCH.to_string()),
        "a batch was stored partially"
    );
}

/// A server on `db` that checkpoints every `checkpoint_after` samples.
fn crash_test_server(db: &str, data_dir: &Path, checkpoint_after: &str) -> Command {
    let mut cmd = tidewatch(db, data_dir);
    cmd.env("TIDEWATCH_ADMIN_PASSWORD", "root-password")
        .env("TIDEWATCH_CHECKPOINT_AFTER_SAMPLES", checkpoint_after);
    cmd
}

/// Starts a server on a fresh database that checkpoints every `checkpoint_after` samples,
/// writes to it from 4 senders until 60 batches are acknowledged, hands it to `stop_server`
/// (which ends the process its own way and checks what it likes), then restarts on the
/// same database and checks every acknowledged batch is there, whole.
fn acknowledged_batches_survive(checkpoint_after: &str, stop_server: impl FnOnce(RunningServer)) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let serve = || crash_test_server(&db, data_dir.path(), checkpoint_after);
    let server = RunningServer::start(serve());
    let key = bootstrap_tenant_key(&server.base, "root-password");
    let base_ms = tidewatch::domain::time::now_ms() - 30 * 60 * 1000;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, senders) = start_load(&server.base, &key, base_ms, &stop);

    wait_for_acknowledged(&acked, 60);
    stop_server(server);
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    let acked = acked.lock().unwrap().clone();

    // Restart on the same database: every acknowledged batch is complete.
    let server = RunningServer::start(serve());
    assert_acknowledged_batches_stored(&server, &key, base_ms, &acked);
    server.terminate();
}

#[test]
fn acknowledged_samples_survive_kill_9_under_load() {
    // Checkpoints during the load, so sealing is interrupted too.
    acknowledged_batches_survive("2000", |mut server| {
        server.child.kill().expect("SIGKILL");
        server.child.wait().unwrap();
    });
}

#[test]
fn sigterm_under_load_exits_cleanly_and_keeps_every_acknowledged_sample() {
    // A checkpoint every 10 batches, so one is often being written when the signal comes.
    // (One that fails then — its connection may belong to a stopping HTTP worker — is
    // redone after the restart: the write-ahead records still hold everything.)
    acknowledged_batches_survive("500", |server| {
        let log_before = server.log();
        let lines = server.terminate_and_read_log();
        let failures: Vec<&String> = log_before
            .iter()
            .chain(&lines)
            .filter(|line| line.contains("panicked"))
            .collect();
        assert!(failures.is_empty(), "shutdown went wrong: {failures:#?}");
        assert!(
            lines.iter().any(|line| line.contains("tidewatch stopped")),
            "no clean stop in {lines:#?}"
        );
    });
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let output = tidewatch(&db, data_dir.path())
        .env("TIDEWATCH_LOG_FORMAT", "json")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success());
    let log = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "migrations log something");
    for line in lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{entry}"
        );
    }
}

#[test]
fn migrate_creates_the_sqlite_directory_it_needs() {
    let data_dir = tempfile::tempdir().unwrap();
    let nested = data_dir.path().join("not/yet/there");
    let url = format!("sqlite://{}/tidewatch.db?mode=rwc", nested.display());
    let output = tidewatch(&url, data_dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(nested.join("tidewatch.db").exists());
}

/// Polls `GET {path}` with `token` until `done` holds on the body (10 s at most).
fn poll_until(
    base: &str,
    path: &str,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call("GET", &format!("{base}{path}"), Some(token), None);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {what}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_firing_alert_survives_kill_9_without_a_new_transition() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let serve = || crash_test_server(&db, data_dir.path(), "100000");
    let mut server = RunningServer::start(serve());
    let key = bootstrap_tenant_key(&server.base, "root-password");
    let (_, tokens) = call(
        "POST",
        &format!("{}/api/v1/auth/login", server.base),
        None,
        Some(json!({"email": "ops@crash.test", "password": "ops-password"})),
    );
    let admin = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, rule) = call(
        "POST",
        &format!("{}/api/v1/alert-rules", server.base),
        Some(&admin),
        Some(
            json!({"name": "Hot", "kind": "threshold", "selector": "temp", "aggregation": "last",
            "window": "5m", "group_by": ["room"], "op": ">", "threshold": 30, "for": "0s"}),
        ),
    );
    assert_eq!(status, 201, "{rule}");
    let write = |base: &str, value: f64| {
        let line = format!(
            "temp,room=a value={value} {}",
            tidewatch::domain::time::now_ms()
        );
        runtime().block_on(async {
            let response = ::reqwest::Client::new()
                .post(format!("{base}/api/v2/write?precision=ms"))
                .header("authorization", format!("Token {key}"))
                .body(line)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 204);
        });
    };
    write(&server.base, 45.0);
    let firing = poll_until(&server.base, "/api/v1/alerts", &admin, "firing", |b| {
        b["data"]["alerts"][0]["state"] == "firing"
    });
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();

    let server = RunningServer::start(serve());
    // Its tenant's evaluator starts with the process (no request needed) and finds the
    // alert still firing: same alert, no new transition.
    poll_until(
        &server.base,
        "/api/v1/rules",
        &admin,
        "the rule evaluated",
        |b| b["data"]["groups"][0]["rules"][0]["health"] == "ok",
    );
    let after = poll_until(&server.base, "/api/v1/alerts", &admin, "firing", |b| {
        b["data"]["alerts"][0]["state"] == "firing"
    });
    assert_eq!(
        after["data"]["alerts"][0]["id"],
        firing["data"]["alerts"][0]["id"]
    );
    let (_, history) = call(
        "GET",
        &format!("{}/api/v1/alerts/history", server.base),
        Some(&admin),
        None,
    );
    assert_eq!(history["events"].as_array().unwrap().len(), 1, "{history}");
    write(&server.base, 20.0);
    poll_until(&server.base, "/api/v1/alerts", &admin, "resolved", |b| {
        b["data"]["alerts"] == json!([])
    });
    server.terminate();
}

/// A minimal HTTP receiver on `port` (a thread): answers 200 to every request and keeps
/// each body.
fn receive_on(port: u16) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{Read, Write};
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port is free");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    bodies
}

#[test]
fn a_decided_notification_survives_kill_9_and_a_restart_sends_no_duplicate() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let serve = || crash_test_server(&db, data_dir.path(), "100000");
    let mut server = RunningServer::start(serve());
    let key = bootstrap_tenant_key(&server.base, "root-password");
    let (_, tokens) = call(
        "POST",
        &format!("{}/api/v1/auth/login", server.base),
        None,
        Some(json!({"email": "ops@crash.test", "password": "ops-password"})),
    );
    let admin = tokens["access_token"].as_str().unwrap().to_owned();
    // The receiver is down at first: the notification is decided, then waits.
    let receiver_port = free_port();
    let (status, channel) = call(
        "POST",
        &format!("{}/api/v1/channels", server.base),
        Some(&admin),
        Some(json!({"name": "hook", "kind": "webhook",
                    "config": {"url": format!("http://127.0.0.1:{receiver_port}/hook")}})),
    );
    assert_eq!(status, 201, "{channel}");
    let (status, rule) = call(
        "POST",
        &format!("{}/api/v1/alert-rules", server.base),
        Some(&admin),
        Some(
            json!({"name": "Hot", "kind": "threshold", "selector": "temp", "aggregation": "last",
            "window": "5m", "group_by": ["room"], "op": ">", "threshold": 30, "for": "0s",
            "channels": [channel["id"]], "group_wait": "0s"}),
        ),
    );
    assert_eq!(status, 201, "{rule}");
    let line = format!("temp,room=a value=45 {}", tidewatch::domain::time::now_ms());
    runtime().block_on(async {
        let response = ::reqwest::Client::new()
            .post(format!("{}/api/v2/write?precision=ms", server.base))
            .header("authorization", format!("Token {key}"))
            .body(line)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
    });
    poll_until(
        &server.base,
        "/api/v1/notifications",
        &admin,
        "a failed attempt",
        |b| {
            b["notifications"][0]["attempts"].as_u64() >= Some(1)
                && b["notifications"][0]["status"] == "failed"
        },
    );
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();

    // The receiver comes up; the restarted service delivers what it had decided.
    let bodies = receive_on(receiver_port);
    let mut server = RunningServer::start(serve());
    let deadline = Instant::now() + Duration::from_secs(20);
    while bodies.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the decided notification was not delivered after the restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let message: Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(message["status"], "firing");
    assert_eq!(message["alerts"][0]["labels"]["room"], "a");
    poll_until(
        &server.base,
        "/api/v1/notifications",
        &admin,
        "the delivery recorded",
        |b| b["notifications"][0]["status"] == "sent",
    );

    // Killed again with the alert still firing: the restart sends nothing new (no new
    // transition, and the group's repeat interval has not passed).
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    let server = RunningServer::start(serve());
    poll_until(
        &server.base,
        "/api/v1/alerts",
        &admin,
        "still firing",
        |b| b["data"]["alerts"][0]["state"] == "firing",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        bodies.lock().unwrap().len(),
        1,
        "no duplicate after the restart"
    );
    server.terminate();
}

const RECORDS_PER_BATCH: usize = 50;

/// NDJSON log load: 50-record batches, at most 200 per sender.
fn start_log_load(
    base: &str,
    key: &str,
    base_ms: i64,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Acknowledged, Vec<std::thread::JoinHandle<()>>) {
    let (base, key) = (base.to_owned(), key.to_owned());
    start_senders(stop, 200, 200, move |client, sender, batch| {
        let body: String = (0..RECORDS_PER_BATCH)
            .map(|i| {
                format!(
                    "{}\n",
                    json!({"ts": base_ms + i as i64 * 1000, "service": "crash",
                           "level": "warn", "batch_id": format!("{sender}-{batch}"),
                           "msg": format!("record {i} of batch {sender}-{batch}")})
                )
            })
            .collect();
        client
            .post(format!("{base}/api/v1/ingest/logs"))
            .bearer_auth(&key)
            .header("content-type", "application/x-ndjson")
            .body(body)
    })
}

#[test]
fn acknowledged_log_records_survive_kill_9_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let data_dir = tempfile::tempdir().unwrap();
    let db = database_url(data_dir.path());
    let serve = || crash_test_server(&db, data_dir.path(), "2000");
    let server = RunningServer::start(serve());
    let key = bootstrap_tenant_key(&server.base, "root-password");
    let base_ms = tidewatch::domain::time::now_ms() - 30 * 60 * 1000;
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, senders) = start_log_load(&server.base, &key, base_ms, &stop);
    wait_for_acknowledged(&acked, 40);
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    let acked = acked.lock().unwrap().clone();

    // Restarted on the same database: every acknowledged batch is there, whole, and no
    // batch is there in part (the total is a whole number of batches).
    let server = RunningServer::start(serve());
    let (start, end) = (
        base_ms / 1000 - 60,
        tidewatch::domain::time::now_ms() / 1000 + 60,
    );
    for (sender, batch) in &acked {
        let (status, body) = call(
            "GET",
            &format!(
                "{}/api/v1/logs?query=batch_id:{sender}-{batch}&start={start}&end={end}&limit=100",
                server.base
            ),
            Some(&key),
            None,
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["records"].as_array().unwrap().len(),
            RECORDS_PER_BATCH,
            "batch {sender}-{batch} was acknowledged"
        );
    }
    let (status, body) = call(
        "GET",
        &format!(
            "{}/api/v1/logs/histogram?query=service:crash&start={start}&end={end}&step=1h",
            server.base
        ),
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let total = body["total"].as_u64().unwrap() as usize;
    println!(
        "acknowledged log batches: {}, stored records: {total}",
        acked.len()
    );
    assert!(total >= acked.len() * RECORDS_PER_BATCH, "{total}");
    assert_eq!(total % RECORDS_PER_BATCH, 0, "a batch was stored in part");
    server.terminate();
}
