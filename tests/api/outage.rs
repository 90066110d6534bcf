//! PostgreSQL goes away under a running service: every endpoint answers 503 `unavailable`
//! with `Retry-After` within the pool's 2 s wait (never 500, never a hang), `/readyz` says
//! not ready, and when the database is back everything works again without a restart and
//! no acknowledged sample is missing. The test runs a PostgreSQL server of its own (in a
//! temp dir, on a free port) so it can stop it; the shared one is never touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{post_raw, spawn_app_with, tenant_with_key, write_lines, TestApp};

/// A throw-away PostgreSQL cluster. Runs as the `postgres` user when the test runs as root
/// (PostgreSQL refuses to run as root).
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn init() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql (scripts/test.sh installs them)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("a PostgreSQL version with pg_ctl");
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path()));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Self { dir, bin, port };
        pg.run_as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run_as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.run_as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn run_as_postgres(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        run(command.args(args).current_dir(self.dir.path()));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pid = Path::new(&self.data()).join("postmaster.pid");
        if pid.exists() {
            self.stop();
        }
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn lines_at(app: &TestApp, key: &str, from: i64, count: i64) -> reqwest::Response {
    let lines: String = (from..from + count)
        .map(|i| format!("outage,host=a value={i} {}\n", 1_000 * i + base_ms()))
        .collect();
    post_raw(
        app,
        "/api/v2/write?precision=ms",
        &format!("Token {key}"),
        "text/plain",
        lines.into_bytes(),
    )
    .await
}

fn base_ms() -> i64 {
    // A fixed minute in the last hour, so all samples are within the head window.
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| tidewatch::domain::time::now_ms() / 60_000 * 60_000 - 30 * 60_000)
}

#[actix_web::test]
async fn a_database_outage_is_503_everywhere_and_recovers_without_a_restart() {
    let pg = PrivatePostgres::init();
    pg.start();
    let app = spawn_app_with(|c| c.database_url = pg.url()).await;
    let (tenant, key) = tenant_with_key(&app, "outage").await;
    assert_eq!(
        lines_at(&app, &key, 0, 100).await.status(),
        StatusCode::NO_CONTENT
    );

    pg.stop();
    let login = json!({"email": "admin@outage.test", "password": crate::helpers::password_for("admin@outage.test")});
    for attempt in 0..2 {
        for what in ["ingest", "query", "tenant", "users", "login"] {
            let started = Instant::now();
            let response = match what {
                "ingest" => lines_at(&app, &key, 1000, 10).await,
                "query" => app.get("/api/v1/query?query=outage", &key).await,
                "tenant" => app.get("/api/v1/tenant", &key).await,
                "users" => app.get("/api/v1/users", &tenant.admin_token).await,
                _ => {
                    app.request("POST", "/api/v1/auth/login", None, Some(login.clone()))
                        .await
                }
            };
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(3),
                "{what}: answered after {took:?}"
            );
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{what} (round {attempt})"
            );
            assert!(
                response.headers().contains_key("retry-after"),
                "{what}: Retry-After"
            );
            let body: Value = response.json().await.expect("a JSON error");
            assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
        }
    }
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    pg.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("answered")
            .status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after the database came back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Ingest may need one retry while the pool replaces its dead connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = lines_at(&app, &key, 100, 100).await.status();
        if status == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "only 503 while recovering"
        );
        assert!(Instant::now() < deadline, "ingest did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    write_lines(&app, &key, format!("outage,host=b value=1 {}\n", base_ms())).await;
    let end = (base_ms() + 300_000) as f64 / 1000.0;
    let response = app
        .client
        .get(app.url("/api/v1/query"))
        .bearer_auth(&key)
        .query(&[
            ("query", "count_over_time(outage{host=\"a\"}[10m])"),
            ("time", &end.to_string()),
        ])
        .send()
        .await
        .expect("answered");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["data"]["result"][0]["value"][1], "200",
        "every acknowledged sample: {body}"
    );
}
