//! Alert latency under load, driven by `bench/alerting.sh`: ingest → `firing` written for a
//! threshold rule with `for: 0s`, trial after trial, while a background load of
//! line-protocol samples flows into series that a thousand other threshold rules watch;
//! then the server's CPU per sample with and without those rules. Everything is bounded
//! (request timeouts, per-trial timeouts, an overall deadline) and the result is one JSON
//! object on stdout.
//!
//! `cargo run --release --example alert_bench -- --help`

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;

mod notify;

#[derive(Parser, Clone)]
#[command(about = "Tidewatch alerting benchmark (see bench/alerting.sh)")]
struct Cli {
    /// Tidewatch's base URL, e.g. `http://127.0.0.1:8080` (not needed with `--peer`).
    #[arg(long, default_value = "")]
    url: String,
    /// A tenant admin's access token (alert rules, alerts).
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true, default_value = "")]
    token: String,
    /// An API key with the ingest scope (line protocol writes).
    #[arg(long, env = "BENCH_KEY", hide_env_values = true, default_value = "")]
    key: String,
    /// Tidewatch's process id, for its CPU time (`/proc/PID/stat`).
    #[arg(long, default_value_t = 0)]
    pid: u32,
    /// Measure ingest → the webhook receiver holding the notification (a webhook channel
    /// on the trigger rule, `group_wait: 0s`) instead of ingest → `firing` written.
    #[arg(long)]
    notify: bool,
    /// Measure the peer instead of Tidewatch: Prometheus + Alertmanager (Debian's
    /// packages), 1 s scrape and evaluation, `for: 0s`, `group_wait: 0s`.
    #[arg(long)]
    peer: bool,
    /// Trials for the peer (each takes seconds).
    #[arg(long, default_value_t = 20)]
    peer_trials: usize,
    /// Clock ticks per second (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Also sum the CPU time of every running `postgres` process over the CPU windows.
    #[arg(long)]
    pg_cpu: bool,
    /// Background threshold rules, on metrics `bench_m0` … (never reached).
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Background metrics; × `hosts` = background series.
    #[arg(long, default_value_t = 1_000)]
    metrics: usize,
    #[arg(long, default_value_t = 10)]
    hosts: usize,
    /// Background samples per second, over all series.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Background senders; each owns a share of the series and sends all of it once per
    /// period (series / rate), the senders staggered evenly within the period.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Measured trials (after one unmeasured warm-up trial).
    #[arg(long, default_value_t = 100)]
    trials: usize,
    /// Length of each CPU window (with rules, then without).
    #[arg(long, default_value_t = 20)]
    cpu_secs: u64,
    /// Background load before the first trial.
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// The service's database (read-only use): the trials watch `alert_events` there for
    /// the firing event's commit, the "ingest → `firing` written".
    #[arg(long)]
    db_url: Option<String>,
    /// Pause between two reads of `alert_events` while watching for the commit.
    #[arg(long, default_value_t = 250)]
    db_poll_us: u64,
    /// Pause after deleting the rules, before the window without them.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
    /// Pause between two polls; 0 = poll again at once.
    #[arg(long, default_value_t = 0)]
    poll_sleep_us: u64,
    /// Longest wait for an alert to fire, or to be gone, in one trial.
    #[arg(long, default_value_t = 10)]
    trial_timeout_secs: u64,
    #[arg(long, default_value_t = 10)]
    request_timeout_secs: u64,
    /// Everything ends after this long.
    #[arg(long, default_value_t = 1_800)]
    deadline_secs: u64,
    /// Concurrent requests while creating and deleting rules.
    #[arg(long, default_value_t = 4)]
    admin_concurrency: usize,
}

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
        * 1e3
}

/// The start of an answer, for error texts.
fn clip(text: &str) -> String {
    text.chars().take(400).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest rank, as `bench/ingest` computes it; `None` without values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `prefix_p50_ms`, `_p90_ms`, `_p99_ms`, `_max_ms` of `values` into `report`.
fn spread(report: &mut Value, prefix: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        report[format!("{prefix}_{name}_ms")] = percentile(values, p).into();
    }
}

/// utime + stime of one process, in seconds.
fn cpu_secs(pid: &str, clk_tck: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it: utime is the 14th field overall.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)?
        .iter()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Some(ticks as f64 / clk_tck as f64)
}

/// CPU seconds of every running `postgres` process (a shared server: an upper bound, and
/// processes that exit take their time with them).
fn postgres_cpu_secs(clk_tck: u64) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .filter_map(|pid| cpu_secs(&pid, clk_tck))
        .sum()
}

/// The JSON API with a tenant admin's token.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

async fn answer(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {}", clip(&text));
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: not JSON: {}", clip(&text)))
}

impl Api {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        answer(response, &format!("GET {path}")).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        answer(response, &format!("POST {path}")).await
    }

    async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let response = self
            .client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("DELETE {path}"))?;
        answer(response, &format!("DELETE {path}")).await.map(drop)
    }

    /// The active alerts of one rule (`state=firing` when `firing`).
    async fn alerts(&self, rule: &str, firing: bool) -> anyhow::Result<Vec<Value>> {
        let state = if firing { "&state=firing" } else { "" };
        let answer = self
            .get(&format!("/api/v1/alerts?rule_id={rule}{state}"))
            .await?;
        answer["data"]["alerts"].as_array().cloned().ok_or_else(|| {
            anyhow!(
                "GET /api/v1/alerts: no data.alerts in {}",
                clip(&answer.to_string())
            )
        })
    }
}

/// Line-protocol writes with the API key.
#[derive(Clone)]
struct Writer {
    client: reqwest::Client,
    url: String,
    auth: String,
}

impl Writer {
    async fn write(&self, body: String) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!("HTTP {status}: {}", clip(&text)))
    }
}

fn threshold_rule(name: &str, threshold: f64) -> Value {
    json!({
        "name": name,
        "kind": "threshold",
        "selector": name,
        "aggregation": "last",
        "window": "1m",
        "group_by": ["host"],
        "op": ">",
        "threshold": threshold,
        "for": "0s",
        "severity": "warning",
    })
}

/// What the background senders did, summed.
#[derive(Default)]
struct LoadStats {
    acked_samples: AtomicU64,
    ok_requests: AtomicU64,
    error_requests: AtomicU64,
    /// Periods a sender could not start in time (its previous request ran over).
    missed_periods: AtomicU64,
    latencies_ms: Mutex<Vec<f64>>,
    first_error: Mutex<Option<String>>,
}

impl LoadStats {
    fn acked(&self) -> u64 {
        self.acked_samples.load(Ordering::Relaxed)
    }
}

struct Load {
    stop: Arc<AtomicBool>,
    stats: Arc<LoadStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

fn share(total: usize, parts: usize, part: usize) -> Range<usize> {
    total * part / parts..total * (part + 1) / parts
}

/// Starts the background senders: series `j` is `bench_m{j / hosts},host=h{j % hosts}`,
/// one sample per series per period, timestamps = now (strictly increasing per sender).
fn start_load(cli: &Cli, writer: Writer) -> Load {
    let series = cli.metrics * cli.hosts;
    let period = Duration::from_secs_f64(series as f64 / cli.rate as f64);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(LoadStats::default());
    let senders = cli.senders.clamp(1, series.max(1));
    let hosts = cli.hosts;
    let tasks = (0..senders)
        .map(|sender| {
            let (writer, stop, stats) = (writer.clone(), stop.clone(), stats.clone());
            let mine = share(series, senders, sender);
            let offset = period.mul_f64(sender as f64 / senders as f64);
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut ticker = tokio::time::interval(period);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                let mut last_ts = 0_i64;
                let mut previous: Option<tokio::time::Instant> = None;
                let mut round = 0_u64;
                let mut body = String::with_capacity(mine.len() * 40);
                loop {
                    let tick = ticker.tick().await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Some(previous) = previous {
                        let periods = (tick - previous).as_secs_f64() / period.as_secs_f64();
                        let missed = (periods.round() as u64).saturating_sub(1);
                        stats.missed_periods.fetch_add(missed, Ordering::Relaxed);
                    }
                    previous = Some(tick);
                    let ts = (wall_ms() as i64).max(last_ts + 1);
                    last_ts = ts;
                    body.clear();
                    for j in mine.clone() {
                        // Values 0–999: far below every background rule's threshold.
                        let value = (j as u64 * 7 + round * 13) % 1_000;
                        writeln!(
                            body,
                            "bench_m{},host=h{} value={value} {ts}",
                            j / hosts,
                            j % hosts
                        )
                        .expect("writing to a String cannot fail");
                    }
                    round += 1;
                    let sent = Instant::now();
                    let outcome = writer.write(body.clone()).await;
                    let took = ms(sent.elapsed());
                    stats
                        .latencies_ms
                        .lock()
                        .expect("no sender panics holding the lock")
                        .push(took);
                    match outcome {
                        Ok(()) => {
                            stats.ok_requests.fetch_add(1, Ordering::Relaxed);
                            stats
                                .acked_samples
                                .fetch_add(mine.len() as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            stats.error_requests.fetch_add(1, Ordering::Relaxed);
                            stats
                                .first_error
                                .lock()
                                .expect("no sender panics holding the lock")
                                .get_or_insert(e);
                        }
                    }
                }
            })
        })
        .collect();
    Load {
        stop,
        stats,
        tasks,
        started: Instant::now(),
    }
}

/// Trigger timestamps, strictly increasing (a second value at a held timestamp is refused).
struct Trigger {
    writer: Writer,
    last_ts: i64,
}

impl Trigger {
    async fn set(&mut self, value: u32) -> anyhow::Result<()> {
        let ts = (wall_ms() as i64).max(self.last_ts + 1);
        self.last_ts = ts;
        self.writer
            .write(format!("bench_trigger,host=t value={value} {ts}\n"))
            .await
            .map_err(|e| anyhow!("writing bench_trigger={value}: {e}"))
    }
}

/// Watches the service's own database for the trigger rule's firing event: a row there is
/// committed, so the first read that sees it bounds "ingest → `firing` written" to within
/// one read (≈ `db_poll_us` + a query round trip).
struct EventWatch {
    db: sea_orm::DatabaseConnection,
    rule: String,
    pause: Duration,
}

impl EventWatch {
    /// Waits for a firing event of the rule decided at or after `since_wall_ms`; answers
    /// when it became visible, relative to `t0`.
    async fn firing_written(
        &self,
        t0: Instant,
        since_wall_ms: f64,
        timeout: Duration,
    ) -> anyhow::Result<f64> {
        use sea_orm::{ConnectionTrait, Statement};
        // Both values are ours (a UUID and an integer): no quoting concerns.
        let sql = format!(
            "SELECT COUNT(*) AS n FROM alert_events WHERE rule_id = '{}' \
             AND transition = 'firing' AND at_ms >= {}",
            self.rule, since_wall_ms as i64
        );
        let backend = self.db.get_database_backend();
        loop {
            let row = self
                .db
                .query_one_raw(Statement::from_string(backend, sql.clone()))
                .await?
                .ok_or_else(|| anyhow!("COUNT(*) answered no row"))?;
            let n: i64 = row.try_get("", "n")?;
            if n > 0 {
                return Ok(ms(t0.elapsed()));
            }
            if t0.elapsed() > timeout {
                bail!("no firing event in alert_events after {timeout:?}");
            }
            tokio::time::sleep(self.pause).await;
        }
    }
}

struct Trial {
    fire_ms: f64,
    /// From just before the write to the first read of the database that shows the
    /// firing event committed.
    written_ms: Option<f64>,
    /// History `at` of the firing event minus the wall clock just before the write.
    evaluator_ms: Option<f64>,
    trigger_ack_ms: f64,
    polls: usize,
    resolve_ms: f64,
}

struct Polling<'a> {
    api: &'a Api,
    rule: &'a str,
    timeout: Duration,
    sleep: Duration,
    round_trips_ms: &'a mut Vec<f64>,
}

impl Polling<'_> {
    /// Polls the rule's alerts until `done` holds for the list; answers the list and the
    /// number of polls.
    async fn until(
        &mut self,
        since: Instant,
        firing: bool,
        done: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<(Vec<Value>, usize)> {
        let mut polls = 0;
        loop {
            if since.elapsed() > self.timeout {
                bail!(
                    "no {} after {:?} ({polls} polls)",
                    if firing {
                        "firing alert"
                    } else {
                        "end of the alert"
                    },
                    self.timeout
                );
            }
            let sent = Instant::now();
            let alerts = self.api.alerts(self.rule, firing).await?;
            self.round_trips_ms.push(ms(sent.elapsed()));
            polls += 1;
            if done(&alerts) {
                return Ok((alerts, polls));
            }
            if !self.sleep.is_zero() {
                tokio::time::sleep(self.sleep).await;
            }
        }
    }
}

fn is_firing(alerts: &[Value]) -> bool {
    alerts.iter().any(|a| a["state"] == "firing")
}

/// The firing event's time for one alert, from its history (the evaluator's clock, ms).
async fn fired_at_ms(api: &Api, alert_id: &str) -> anyhow::Result<Option<f64>> {
    let answer = api
        .get(&format!(
            "/api/v1/alerts/history?alert_id={alert_id}&limit=20"
        ))
        .await?;
    let Some(at) = answer["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["transition"] == "firing"))
        .and_then(|e| e["at"].as_str())
    else {
        return Ok(None);
    };
    let at = humantime::parse_rfc3339_weak(at).with_context(|| format!("history at {at:?}"))?;
    Ok(Some(
        at.duration_since(UNIX_EPOCH)
            .context("history at before 1970")?
            .as_secs_f64()
            * 1e3,
    ))
}

/// One trial: write 200, poll until firing; read the firing event; write 0, poll until the
/// alert is gone.
async fn trial(
    trigger: &mut Trigger,
    polling: &mut Polling<'_>,
    watch: Option<&EventWatch>,
) -> anyhow::Result<Trial> {
    let wall_before = wall_ms();
    let t0 = Instant::now();
    // The event may be committed before the write's answer arrives: watch from the start.
    let write = async {
        trigger.set(200).await?;
        anyhow::Ok(ms(t0.elapsed()))
    };
    let written = async {
        match watch {
            Some(w) => w
                .firing_written(t0, wall_before, polling.timeout)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (trigger_ack_ms, written_ms) = tokio::try_join!(write, written)?;
    let (alerts, polls) = polling.until(t0, true, is_firing).await?;
    let fire_ms = ms(t0.elapsed());
    let alert_id = alerts
        .iter()
        .find(|a| a["state"] == "firing")
        .and_then(|a| a["id"].as_str())
        .ok_or_else(|| anyhow!("a firing alert without an id"))?
        .to_owned();
    let evaluator_ms = fired_at_ms(polling.api, &alert_id)
        .await?
        .map(|at| at - wall_before);
    let resolve_ms = reset(trigger, polling).await?;
    Ok(Trial {
        fire_ms,
        written_ms,
        evaluator_ms,
        trigger_ack_ms,
        polls,
        resolve_ms,
    })
}

/// One notification trial: write 200, wait for the webhook's firing message; write 0,
/// wait for the resolved one. Answers (notified, the write's own answer, resolved), ms.
async fn notify_trial(
    trigger: &mut Trigger,
    neighbour: &notify::Neighbour,
    timeout: Duration,
) -> anyhow::Result<(f64, f64, f64)> {
    let t0 = Instant::now();
    trigger.set(200).await?;
    let ack = ms(t0.elapsed());
    let fired = neighbour.wait_for(t0, "firing", timeout).await?;
    let r0 = Instant::now();
    trigger.set(0).await?;
    let resolved = neighbour.wait_for(r0, "resolved", timeout).await?;
    Ok((ms(fired - t0), ack, ms(resolved - r0)))
}

/// Writes 0 and waits until the rule has no active alert; answers how long that took.
async fn reset(trigger: &mut Trigger, polling: &mut Polling<'_>) -> anyhow::Result<f64> {
    let r0 = Instant::now();
    trigger.set(0).await?;
    polling.until(r0, false, <[Value]>::is_empty).await?;
    Ok(ms(r0.elapsed()))
}

struct Window {
    secs: f64,
    server_cpu: f64,
    postgres_cpu: Option<f64>,
    loadgen_cpu: f64,
    samples: u64,
}

/// Server (and PostgreSQL, load generator) CPU over `secs` of background load.
async fn cpu_window(cli: &Cli, stats: &LoadStats, secs: u64) -> anyhow::Result<Window> {
    let pid = cli.pid.to_string();
    let server =
        || cpu_secs(&pid, cli.clk_tck).ok_or_else(|| anyhow!("tidewatch (pid {pid}) is gone"));
    let postgres = || cli.pg_cpu.then(|| postgres_cpu_secs(cli.clk_tck));
    let own = || cpu_secs("self", cli.clk_tck).unwrap_or(f64::NAN);
    let (server0, postgres0, own0, samples0) = (server()?, postgres(), own(), stats.acked());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (server1, postgres1, own1, samples1) = (server()?, postgres(), own(), stats.acked());
    Ok(Window {
        secs: started.elapsed().as_secs_f64(),
        server_cpu: server1 - server0,
        postgres_cpu: postgres0.zip(postgres1).map(|(a, b)| b - a),
        loadgen_cpu: own1 - own0,
        samples: samples1 - samples0,
    })
}

/// One counter of Tidewatch's `/metrics`, if it is there.
async fn self_metric(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|line| line.split([' ', '{']).next() == Some(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    let timeout = Duration::from_secs(cli.request_timeout_secs);
    let client = |idle| {
        reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(idle)
            .build()
    };
    let base = cli.url.trim_end_matches('/').to_owned();
    let api = Api {
        client: client(cli.admin_concurrency.max(1))?,
        base: base.clone(),
        token: cli.token.clone(),
    };
    let write_url = format!("{base}/api/v2/write?precision=ms");
    let auth = format!("Token {}", cli.key);
    let load_writer = Writer {
        client: client(cli.senders.max(1))?,
        url: write_url.clone(),
        auth: auth.clone(),
    };
    let mut trigger = Trigger {
        writer: Writer {
            client: client(1)?,
            url: write_url,
            auth,
        },
        last_ts: 0,
    };
    let poller = Api {
        client: client(1)?,
        ..api.clone()
    };
    let series = cli.metrics * cli.hosts;
    let mut report = json!({
        "rules": cli.rules,
        "series": series,
        "target_samples_per_sec": cli.rate,
        "senders": cli.senders,
        "trials": cli.trials,
        "cpu_window_target_secs": cli.cpu_secs,
    });

    // Rules: the background ones, then the trigger.
    let started = Instant::now();
    let mut rule_ids: Vec<String> = stream::iter(0..cli.rules)
        .map(|i| {
            let api = api.clone();
            async move {
                let created = api
                    .post(
                        "/api/v1/alert-rules",
                        &threshold_rule(&format!("bench_m{i}"), 1e6),
                    )
                    .await?;
                created["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("rule bench_m{i} created without an id: {created}"))
            }
        })
        .buffer_unordered(cli.admin_concurrency.max(1))
        .try_collect()
        .await?;
    let neighbour = if cli.notify {
        Some(notify::Neighbour::start().await?)
    } else {
        None
    };
    let mut trigger_rule_body = threshold_rule("bench_trigger", 100.0);
    if let Some(neighbour) = &neighbour {
        let channel = api
            .post(
                "/api/v1/channels",
                &json!({"name": "bench-hook", "kind": "webhook",
                        "config": {"url": neighbour.url("/hook")}, "send_resolved": true,
                        // Latency is measured here, not the rate limit.
                        "max_per_minute": 100_000}),
            )
            .await?;
        trigger_rule_body["channels"] = json!([channel["id"]]);
        // Each trial is an episode of its own: the trigger changes state every ~100 ms by
        // design, which flap detection would otherwise fold into one `flapping` message.
        trigger_rule_body["flap_max_changes"] = json!(1_000_000);
        trigger_rule_body["group_wait"] = json!("0s");
        trigger_rule_body["group_interval"] = json!("0s");
    }
    let created = api.post("/api/v1/alert-rules", &trigger_rule_body).await?;
    let trigger_rule = created["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the trigger rule was created without an id: {created}"))?
        .to_owned();
    rule_ids.push(trigger_rule.clone());
    report["rules_create_secs"] = started.elapsed().as_secs_f64().into();
    eprintln!(
        "alert_bench: {} rules created in {:.1} s; background load {series} series at {} samples/s",
        rule_ids.len(),
        started.elapsed().as_secs_f64(),
        cli.rate
    );

    let load = start_load(&cli, load_writer);
    tokio::time::sleep(Duration::from_secs(cli.warmup_secs)).await;

    // Trials.
    let mut round_trips_ms = Vec::new();
    let mut polling = Polling {
        api: &poller,
        rule: &trigger_rule,
        timeout: Duration::from_secs(cli.trial_timeout_secs),
        sleep: Duration::from_micros(cli.poll_sleep_us),
        round_trips_ms: &mut round_trips_ms,
    };
    let watch = match &cli.db_url {
        Some(url) => Some(EventWatch {
            db: sea_orm::Database::connect(url.as_str())
                .await
                .with_context(|| format!("connecting to {url}"))?,
            rule: trigger_rule.clone(),
            pause: Duration::from_micros(cli.db_poll_us),
        }),
        None => None,
    };
    if let Some(neighbour) = &neighbour {
        let timeout = Duration::from_secs(cli.trial_timeout_secs);
        let warmup = notify_trial(&mut trigger, neighbour, timeout).await?;
        report["warmup_notified_ms"] = warmup.0.into();
        let (mut notified, mut acks, mut resolved) = (Vec::new(), Vec::new(), Vec::new());
        let mut failures = 0;
        let (started, acked_before) = (Instant::now(), load.stats.acked());
        for n in 0..cli.trials {
            match notify_trial(&mut trigger, neighbour, timeout).await {
                Ok((fired, ack, resolve)) => {
                    notified.push(fired);
                    acks.push(ack);
                    resolved.push(resolve);
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("alert_bench: notify trial {n} failed: {e:#}");
                    if report["first_trial_error"].is_null() {
                        report["first_trial_error"] = format!("trial {n}: {e:#}").into();
                    }
                    trigger.set(0).await?;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(rand::random_range(50..=150))).await;
        }
        report["trials_ok"] = notified.len().into();
        report["trials_failed"] = failures.into();
        report["trial_phase_samples_per_sec"] =
            ((load.stats.acked() - acked_before) as f64 / started.elapsed().as_secs_f64()).into();
        spread(&mut report, "notified", &mut notified);
        spread(&mut report, "trigger_ack", &mut acks);
        spread(&mut report, "notify_resolve", &mut resolved);
        load.stop.store(true, Ordering::Relaxed);
        for task in load.tasks {
            task.await?;
        }
        let stats = &load.stats;
        report["load_samples_per_sec"] =
            (stats.acked() as f64 / load.started.elapsed().as_secs_f64()).into();
        report["load_error_requests"] = stats.error_requests.load(Ordering::Relaxed).into();
        let mut latencies =
            std::mem::take(&mut *stats.latencies_ms.lock().expect("the senders have ended"));
        spread(&mut report, "load_request", &mut latencies);
        let notifications = api
            .get("/api/v1/notifications?status=sent&limit=1000")
            .await?;
        let mut recorded: Vec<f64> = notifications["notifications"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r["latency_ms"].as_f64())
                    .collect()
            })
            .unwrap_or_default();
        spread(&mut report, "recorded_latency", &mut recorded);
        return Ok(report);
    }
    let warmup = trial(&mut trigger, &mut polling, watch.as_ref()).await?;
    report["warmup_fire_ms"] = warmup.fire_ms.into();
    tokio::time::sleep(Duration::from_millis(100)).await;
    polling.round_trips_ms.clear();
    let (trials_started, acked_before) = (Instant::now(), load.stats.acked());
    let (mut fire, mut written, mut evaluator, mut ack, mut polls, mut resolve) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut failures = 0;
    let mut first_failure: Option<String> = None;
    for n in 0..cli.trials {
        match trial(&mut trigger, &mut polling, watch.as_ref()).await {
            Ok(t) => {
                fire.push(t.fire_ms);
                written.extend(t.written_ms);
                evaluator.extend(t.evaluator_ms);
                ack.push(t.trigger_ack_ms);
                polls.push(t.polls as f64);
                resolve.push(t.resolve_ms);
            }
            Err(e) => {
                failures += 1;
                eprintln!("alert_bench: trial {n} failed: {e:#}");
                first_failure.get_or_insert(format!("trial {n}: {e:#}"));
                // The next trial needs the alert gone; without that, stop.
                reset(&mut trigger, &mut polling)
                    .await
                    .context("after a failed trial, the alert did not end")?;
            }
        }
        let pause = rand::random_range(50..=150);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let trial_secs = trials_started.elapsed().as_secs_f64();
    report["trials_ok"] = fire.len().into();
    report["trials_failed"] = failures.into();
    report["trials_without_firing_event"] = (fire.len() - evaluator.len()).into();
    report["first_trial_error"] = first_failure.into();
    report["trial_phase_samples_per_sec"] =
        ((load.stats.acked() - acked_before) as f64 / trial_secs).into();
    spread(&mut report, "fire", &mut fire);
    spread(&mut report, "written", &mut written);
    spread(&mut report, "evaluator", &mut evaluator);
    spread(&mut report, "trigger_ack", &mut ack);
    spread(&mut report, "poll", &mut round_trips_ms);
    spread(&mut report, "resolve", &mut resolve);
    polls.sort_by(f64::total_cmp);
    report["polls_per_trial_p50"] = percentile(&polls, 50.0).into();
    report["polls_per_trial_max"] = percentile(&polls, 100.0).into();
    eprintln!(
        "alert_bench: {} trials in {trial_secs:.1} s; CPU windows of {} s next",
        cli.trials, cli.cpu_secs
    );

    // CPU per sample: with the rules, then without.
    let with = cpu_window(&cli, &load.stats, cli.cpu_secs).await?;
    let started = Instant::now();
    stream::iter(rule_ids.iter())
        .map(|id| {
            let api = api.clone();
            async move { api.delete(&format!("/api/v1/alert-rules/{id}")).await }
        })
        .buffer_unordered(cli.admin_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    report["rules_delete_secs"] = started.elapsed().as_secs_f64().into();
    tokio::time::sleep(Duration::from_secs(cli.settle_secs)).await;
    let without = cpu_window(&cli, &load.stats, cli.cpu_secs).await?;
    for (name, w) in [("with_rules", &with), ("without_rules", &without)] {
        report[format!("window_{name}_secs")] = w.secs.into();
        report[format!("server_cpu_{name}_secs")] = w.server_cpu.into();
        report[format!("samples_{name}")] = w.samples.into();
        report[format!("samples_per_sec_{name}")] = (w.samples as f64 / w.secs).into();
        report[format!("server_us_per_sample_{name}")] =
            (w.server_cpu / w.samples as f64 * 1e6).into();
        report[format!("postgres_cpu_{name}_secs")] = w.postgres_cpu.into();
        report[format!("loadgen_cpu_{name}_secs")] = w.loadgen_cpu.into();
    }
    // Each window per sample, so a small difference in the rate between them does not count.
    report["evaluator_us_per_sample"] = ((with.server_cpu / with.samples as f64
        - without.server_cpu / without.samples as f64)
        * 1e6)
        .into();

    // The load, over its whole run.
    load.stop.store(true, Ordering::Relaxed);
    for task in load.tasks {
        task.await?;
    }
    let load_secs = load.started.elapsed().as_secs_f64();
    let stats = &load.stats;
    report["load_secs"] = load_secs.into();
    report["load_acked_samples"] = stats.acked().into();
    report["load_samples_per_sec"] = (stats.acked() as f64 / load_secs).into();
    report["load_ok_requests"] = stats.ok_requests.load(Ordering::Relaxed).into();
    report["load_error_requests"] = stats.error_requests.load(Ordering::Relaxed).into();
    report["load_missed_periods"] = stats.missed_periods.load(Ordering::Relaxed).into();
    report["load_first_error"] = stats
        .first_error
        .lock()
        .expect("the senders have ended")
        .clone()
        .into();
    let mut latencies =
        std::mem::take(&mut *stats.latencies_ms.lock().expect("the senders have ended"));
    spread(&mut report, "load_request", &mut latencies);
    report["applied_batches_missed"] =
        self_metric(&api.client, &base, "tidewatch_applied_batches_missed_total")
            .await
            .into();
    Ok(report)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let deadline = Duration::from_secs(cli.deadline_secs);
    if cli.peer {
        let timeout = Duration::from_secs(cli.trial_timeout_secs.max(30));
        let report = tokio::time::timeout(deadline, notify::run_peer(cli.peer_trials, timeout))
            .await
            .map_err(|_| anyhow!("the peer did not end within the deadline ({deadline:?})"))??;
        println!("{report}");
        return Ok(());
    }
    let report = tokio::time::timeout(deadline, run(cli))
        .await
        .map_err(|_| anyhow!("the benchmark did not end within its deadline ({deadline:?})"))??;
    println!("{report}");
    Ok(())
}
