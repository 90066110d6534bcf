//! The notification side of the alerting benchmark: a webhook receiver that notes when
//! each message arrives, and the same measurement for the peer — Prometheus scraping a
//! gauge this process serves, evaluating `bench_trigger > 100` (`for: 0s`) and sending to
//! Alertmanager (`group_wait: 0s`), which posts to the same receiver.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One webhook message and when it arrived.
#[derive(Clone)]
pub struct Arrival {
    pub at: Instant,
    pub body: Value,
}

/// An HTTP server on 127.0.0.1: records every POST body (a webhook), and answers
/// `GET /metrics` with `bench_trigger <gauge>` (for the peer's Prometheus to scrape).
#[derive(Clone)]
pub struct Neighbour {
    pub port: u16,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    gauge: Arc<AtomicU64>,
}

async fn serve(
    stream: TcpStream,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    gauge: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let at = Instant::now();
        let answer = if request_line.starts_with("GET /metrics") {
            let value = f64::from_bits(gauge.load(Ordering::Relaxed));
            format!("# TYPE bench_trigger gauge\nbench_trigger {value}\n")
        } else {
            if let Ok(body) = serde_json::from_slice::<Value>(&body) {
                arrivals
                    .lock()
                    .expect("not poisoned")
                    .push(Arrival { at, body });
            }
            String::new()
        };
        write
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .as_bytes(),
            )
            .await?;
    }
}

impl Neighbour {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the receiver")?;
        let port = listener.local_addr()?.port();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let gauge = Arc::new(AtomicU64::new(0f64.to_bits()));
        let (kept, value) = (arrivals.clone(), gauge.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, kept.clone(), value.clone()));
            }
        });
        Ok(Self {
            port,
            arrivals,
            gauge,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_gauge(&self, value: f64) {
        self.gauge.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Waits for a message with `status` that arrived after `since`; answers its arrival.
    pub async fn wait_for(
        &self,
        since: Instant,
        status: &str,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = since + timeout;
        loop {
            let found = self
                .arrivals
                .lock()
                .expect("not poisoned")
                .iter()
                .find(|a| a.at >= since && a.body["status"] == status)
                .map(|a| a.at);
            if let Some(at) = found {
                return Ok(at);
            }
            if Instant::now() > deadline {
                bail!("no {status} webhook within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Kills a child process when dropped.
struct Spawned(Child, &'static str);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(
    name: &'static str,
    program: &str,
    args: &[String],
    log: &std::path::Path,
) -> anyhow::Result<Spawned> {
    let out = std::fs::File::create(log)?;
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .with_context(|| {
            format!("starting {program} (apt-get install prometheus prometheus-alertmanager)")
        })?;
    Ok(Spawned(child, name))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn ready(url: &str, what: &Spawned) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!("{} did not get ready at {url}", what.1))
}

/// Prometheus (1 s scrape and evaluation, `for: 0s`) + Alertmanager (`group_wait: 0s`):
/// from setting the gauge over the line to the webhook holding the firing message.
pub async fn run_peer(trials: usize, timeout: Duration) -> anyhow::Result<Value> {
    let neighbour = Neighbour::start().await?;
    let dir = std::env::temp_dir().join(format!("tw-notify-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (prom_port, am_port) = (free_port()?, free_port()?);
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n- name: bench\n  rules:\n  - alert: BenchTrigger\n    expr: bench_trigger > 100\n    for: 0s\n",
    )?;
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             scrape_configs:\n- job_name: bench\n  static_configs: [{{targets: [\"127.0.0.1:{}\"]}}]\n\
             alerting:\n  alertmanagers:\n  - api_version: v2\n    static_configs: [{{targets: [\"127.0.0.1:{am_port}\"]}}]\n",
            neighbour.port
        ),
    )?;
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: bench\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n- name: bench\n  webhook_configs:\n  - url: \"{}\"\n    send_resolved: true\n",
            neighbour.url("/hook")
        ),
    )?;
    let arg = |s: String| s;
    let alertmanager = spawn(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            )),
            arg(format!("--storage.path={}", dir.join("am-data").display())),
            arg(format!("--web.listen-address=127.0.0.1:{am_port}")),
            "--cluster.listen-address=".into(),
        ],
        &dir.join("alertmanager.log"),
    )?;
    ready(
        &format!("http://127.0.0.1:{am_port}/-/ready"),
        &alertmanager,
    )
    .await?;
    let prometheus = spawn(
        "prometheus",
        "prometheus",
        &[
            arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            )),
            arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            )),
            arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        ],
        &dir.join("prometheus.log"),
    )?;
    ready(
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        &prometheus,
    )
    .await?;

    let trial = || async {
        let t0 = Instant::now();
        neighbour.set_gauge(200.0);
        let fired = neighbour.wait_for(t0, "firing", timeout).await?;
        let r0 = Instant::now();
        neighbour.set_gauge(0.0);
        neighbour.wait_for(r0, "resolved", timeout).await?;
        anyhow::Ok(super::ms(fired - t0))
    };
    // Warm-up: Prometheus may send before it has found its Alertmanager (then it drops
    // the alert and waits its resend delay); that is start-up, not the steady state.
    let warmup = trial().await;
    let mut notified = Vec::with_capacity(trials);
    let mut failures = 0;
    for _ in 0..trials {
        match trial().await {
            Ok(ms) => notified.push(ms),
            Err(e) => {
                failures += 1;
                eprintln!("alert_bench peer: trial failed: {e:#}");
                neighbour.set_gauge(0.0);
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rand::random_range(50..=150))).await;
    }
    drop(prometheus);
    drop(alertmanager);
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = json!({
        "trials_ok": notified.len(),
        "trials_failed": failures,
        "warmup_ok": warmup.is_ok(),
    });
    super::spread(&mut report, "notified", &mut notified);
    Ok(report)
}
