//! The two neighbours on loopback: the real `tidewatch` binary with a tenant and an API
//! key, and a real `prometheus` scraping itself and Tidewatch and remote-writing to it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::helpers;
use crate::results::QueryResult;

const TIDEWATCH: &str = env!("CARGO_BIN_EXE_tidewatch");
const ADMIN_PASSWORD: &str = "compat-root-password";
const TENANT_ADMIN_EMAIL: &str = "ops@compat.test";
const TENANT_ADMIN_PASSWORD: &str = "compat-ops-password";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The last lines of a child's log file, for failure messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A child process killed when the test ends, however it ends.
pub struct Process {
    name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Self {
        let out = File::create(&log).expect("log file");
        let child = cmd
            .stdout(out.try_clone().expect("log file handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts (is it installed?): {e}"));
        Self { name, child, log }
    }

    pub fn describe(&self) -> String {
        format!("--- {} log ---\n{}", self.name, log_tail(&self.log))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Already gone is fine; the test is over either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Neighbours {
    client: reqwest::Client,
    tidewatch: Process,
    tidewatch_base: String,
    pub prometheus: Process,
    prometheus_base: String,
    api_key: String,
}

impl Neighbours {
    pub fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.tidewatch.describe(),
            self.prometheus.describe()
        )
    }

    /// `GET <base>/api/v1/<path>?<params>`; the `data` of a successful answer.
    async fn prom_api(
        &self,
        tidewatch: bool,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, String> {
        let (base, system) = if tidewatch {
            (&self.tidewatch_base, "tidewatch")
        } else {
            (&self.prometheus_base, "prometheus")
        };
        let mut req = self
            .client
            .get(format!("{base}/api/v1/{path}"))
            .query(params);
        if tidewatch {
            req = req.bearer_auth(&self.api_key);
        }
        let response = req
            .send()
            .await
            .map_err(|e| format!("{system}: {path}: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{system}: {path}: answer is not JSON: {e}"))?;
        if status != 200 || body["status"] != "success" {
            return Err(format!("{system}: {path} {params:?}: {status} {body}"));
        }
        Ok(body["data"].clone())
    }

    pub async fn instant(
        &self,
        tidewatch: bool,
        query: &str,
        time_s: i64,
    ) -> Result<Value, String> {
        self.prom_api(
            tidewatch,
            "query",
            &[("query", query.to_owned()), ("time", time_s.to_string())],
        )
        .await
    }

    pub async fn range(
        &self,
        tidewatch: bool,
        query: &str,
        start_s: i64,
        end_s: i64,
    ) -> Result<Value, String> {
        self.prom_api(
            tidewatch,
            "query_range",
            &[
                ("query", query.to_owned()),
                ("start", start_s.to_string()),
                ("end", end_s.to_string()),
                ("step", "1".to_owned()),
            ],
        )
        .await
    }

    /// First and last raw sample time (ms) of every `up` series, keyed by labels.
    pub async fn up_sample_span(
        &self,
        tidewatch: bool,
    ) -> Result<BTreeMap<String, (i64, i64)>, String> {
        let data = self
            .instant(tidewatch, "up[5m]", now_ms() / 1000 + 1)
            .await?;
        let QueryResult::Matrix(series) = QueryResult::parse(&data)? else {
            return Err(format!("up[5m] is not a matrix: {data}"));
        };
        Ok(series
            .into_iter()
            .filter_map(|(labels, points)| Some((labels, (points.first()?.0, points.last()?.0))))
            .collect())
    }
}

/// Starts Tidewatch with a tenant and an ingest+read API key, then Prometheus writing to it.
pub async fn start_neighbours(dir: &Path) -> Neighbours {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("HTTP client");

    let data_dir = dir.join("tidewatch");
    std::fs::create_dir_all(&data_dir).expect("tidewatch data dir");
    let database_url = helpers::fresh_database_url(&data_dir).await;
    let tidewatch_port = free_port();
    let tidewatch_base = format!("http://127.0.0.1:{tidewatch_port}");
    let mut cmd = Command::new(TIDEWATCH);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database_url)
        .env("TIDEWATCH_DATA_DIR", &data_dir)
        .env("TIDEWATCH_BIND", format!("127.0.0.1:{tidewatch_port}"))
        .env("TIDEWATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TIDEWATCH_LOG_LEVEL", "info")
        .env("TIDEWATCH_WORKERS", "2");
    let tidewatch = Process::spawn("tidewatch", cmd, dir.join("tidewatch.log"));
    wait_until_ok(&client, &format!("{tidewatch_base}/healthz"), &tidewatch).await;

    let api_key = create_tenant_api_key(&client, &tidewatch_base).await;

    let prometheus_port = free_port();
    let prometheus_base = format!("http://127.0.0.1:{prometheus_port}");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{prometheus_port}"]
  - job_name: tidewatch
    static_configs:
      - targets: ["127.0.0.1:{tidewatch_port}"]
remote_write:
  - url: "{tidewatch_base}/api/v1/write"
    basic_auth:
      username: prometheus
      password: "{api_key}"
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#
        ),
    )
    .expect("write prometheus.yml");
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        // Keep the real scrape times instead of aligning them to the interval (hidden
        // flag, accepted by 2.42); both systems see the same timestamps either way.
        .arg("--no-scrape.adjust-timestamps")
        .arg("--log.level=info");
    let prometheus = Process::spawn("prometheus", cmd, dir.join("prometheus.log"));
    wait_until_ok(&client, &format!("{prometheus_base}/-/ready"), &prometheus).await;

    Neighbours {
        client,
        tidewatch,
        tidewatch_base,
        prometheus,
        prometheus_base,
        api_key,
    }
}

pub async fn wait_until_ok(client: &reqwest::Client, url: &str, process: &Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(url).send().await {
            if response.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within 30 s\n{}",
            process.describe()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let response = req.send().await.expect("request is sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Platform admin → tenant with an admin → that admin's API key with `ingest` and `read`.
async fn create_tenant_api_key(client: &reqwest::Client, base: &str) -> String {
    let login = format!("{base}/api/v1/auth/login");
    let (status, tokens) = post_json(
        client,
        &login,
        None,
        json!({"email": "admin@tidewatch.local", "password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "platform admin login: {tokens}");
    let platform = tokens["access_token"].as_str().expect("access token");
    let (status, tenant) = post_json(
        client,
        &format!("{base}/api/v1/admin/tenants"),
        Some(platform),
        json!({"name": "Prometheus Compat", "slug": "prom-compat",
               "admin_email": TENANT_ADMIN_EMAIL, "admin_password": TENANT_ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "create tenant: {tenant}");
    let (status, tokens) = post_json(
        client,
        &login,
        None,
        json!({"email": TENANT_ADMIN_EMAIL, "password": TENANT_ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "tenant admin login: {tokens}");
    let admin = tokens["access_token"].as_str().expect("access token");
    let (status, key) = post_json(
        client,
        &format!("{base}/api/v1/api-keys"),
        Some(admin),
        json!({"name": "prometheus", "scopes": ["ingest", "read"]}),
    )
    .await;
    assert_eq!(status, 201, "create API key: {key}");
    key["key"].as_str().expect("key").to_owned()
}
