//! Deterministic line-protocol bodies and the concurrent senders that post them.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where and how to send.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Write URL, e.g. `http://127.0.0.1:8080/api/v2/write?precision=ms`.
    #[arg(long)]
    pub url: String,
    /// Value of the `Authorization` header, if any (`Token tw_…`).
    #[arg(long)]
    pub auth: Option<String>,
    /// Concurrent senders; each owns a contiguous share of the series.
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// Lines (= samples) per request.
    #[arg(long, default_value_t = 5_000)]
    pub batch_lines: usize,
    /// Stop sending new requests after this long.
    #[arg(long, default_value_t = 900)]
    pub deadline_secs: u64,
    #[arg(long, default_value_t = 120)]
    pub request_timeout_secs: u64,
}

/// SplitMix64, so every run sends the same values.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One request body and the samples it carries.
pub struct Body {
    pub text: String,
    pub samples: usize,
}

/// `hosts × regions` counter series, `steps` samples each.
pub struct CounterLoad {
    pub hosts: usize,
    pub regions: usize,
    pub steps: usize,
    pub step_ms: i64,
    pub end_ms: i64,
}

fn share(total: usize, senders: usize, sender: usize) -> Range<usize> {
    total * sender / senders..total * (sender + 1) / senders
}

/// Cuts `lines` into bodies of `batch_lines`.
fn batches(lines: impl Iterator<Item = String>, batch_lines: usize) -> Vec<Body> {
    let mut bodies = Vec::new();
    let mut text = String::new();
    let mut samples = 0;
    for line in lines {
        text.push_str(&line);
        samples += 1;
        if samples == batch_lines {
            bodies.push(Body {
                text: std::mem::take(&mut text),
                samples,
            });
            samples = 0;
        }
    }
    if samples > 0 {
        bodies.push(Body { text, samples });
    }
    bodies
}

impl CounterLoad {
    /// Per sender, its bodies in send order: time step by time step over its series.
    /// Each counter grows by 0.00–14.99 per step (two decimals, like CPU seconds).
    pub fn bodies(&self, senders: usize, batch_lines: usize) -> Vec<Vec<Body>> {
        let series = self.hosts * self.regions;
        let start_ms = self.end_ms - (self.steps as i64 - 1) * self.step_ms;
        (0..senders)
            .map(|sender| {
                let mine = share(series, senders, sender);
                let mut cents: Vec<u64> = mine.clone().map(|i| i as u64 * 7 % 100_000).collect();
                let mut rng = Rng(sender as u64);
                let lines = (0..self.steps).flat_map(|step| {
                    let ts = start_ms + step as i64 * self.step_ms;
                    mine.clone()
                        .zip(0..)
                        .map(|(i, slot)| {
                            cents[slot] += rng.next_u64() % 1_500;
                            let (host, region) = (i / self.regions, i % self.regions);
                            let value = cents[slot];
                            format!(
                                "cpu_usage,host=h{host:04},region=r{region} user={}.{:02} {ts}\n",
                                value / 100,
                                value % 100
                            )
                        })
                        .collect::<Vec<_>>()
                });
                batches(lines, batch_lines)
            })
            .collect()
    }
}

/// Per sender, bodies with one sample for each series index in its share of `range`.
pub fn probe_bodies(
    range: Range<usize>,
    ts_ms: i64,
    senders: usize,
    batch_lines: usize,
) -> Vec<Vec<Body>> {
    let total = range.len();
    (0..senders)
        .map(|sender| {
            let mine = share(total, senders, sender);
            let lines = mine.map(|k| {
                let i = range.start + k;
                let mut line = String::with_capacity(64);
                writeln!(
                    line,
                    "mem_probe,host=h{i:07},region=r{},job=node value=1 {ts_ms}",
                    i % 10
                )
                .expect("writing to a String cannot fail");
                line
            });
            batches(lines, batch_lines)
        })
        .collect()
}

#[derive(Default)]
struct SenderResult {
    acked_samples: usize,
    ok_requests: usize,
    error_requests: usize,
    error_samples: usize,
    latencies_ms: Vec<f64>,
    first_error: Option<String>,
    stopped_by_deadline: bool,
}

fn cpu_secs_of_self() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is the 14th field.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Posts every sender's bodies in order, senders concurrently; counts only 2xx as acknowledged.
pub async fn send_all(target: &Target, per_sender: Vec<Vec<Body>>) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(target.request_timeout_secs))
        .pool_max_idle_per_host(per_sender.len())
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(target.deadline_secs);
    let target = Arc::new(target.clone());
    let cpu_before = cpu_secs_of_self();
    let started = Instant::now();
    let tasks: Vec<_> = per_sender
        .into_iter()
        .map(|bodies| {
            let (client, target) = (client.clone(), target.clone());
            tokio::spawn(async move {
                let mut result = SenderResult::default();
                for body in bodies {
                    if Instant::now() >= deadline {
                        result.stopped_by_deadline = true;
                        break;
                    }
                    let mut request = client
                        .post(&target.url)
                        .header("content-type", "text/plain; charset=utf-8")
                        .body(body.text);
                    if let Some(auth) = &target.auth {
                        request = request.header("authorization", auth);
                    }
                    let sent = Instant::now();
                    let outcome = match request.send().await {
                        Ok(response) if response.status().is_success() => Ok(()),
                        Ok(response) => {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            Err(format!(
                                "HTTP {status}: {}",
                                text.chars().take(600).collect::<String>()
                            ))
                        }
                        Err(e) => Err(format!("transport: {e}")),
                    };
                    result.latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                    match outcome {
                        Ok(()) => {
                            result.ok_requests += 1;
                            result.acked_samples += body.samples;
                        }
                        Err(text) => {
                            result.error_requests += 1;
                            result.error_samples += body.samples;
                            result.first_error.get_or_insert(text);
                        }
                    }
                }
                result
            })
        })
        .collect();
    let mut total = SenderResult::default();
    for task in tasks {
        let r = task.await?;
        total.acked_samples += r.acked_samples;
        total.ok_requests += r.ok_requests;
        total.error_requests += r.error_requests;
        total.error_samples += r.error_samples;
        total.latencies_ms.extend(r.latencies_ms);
        total.stopped_by_deadline |= r.stopped_by_deadline;
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies_ms.sort_by(f64::total_cmp);
    Ok(json!({
        "elapsed_secs": elapsed,
        "acked_samples": total.acked_samples,
        "samples_per_sec": total.acked_samples as f64 / elapsed,
        "ok_requests": total.ok_requests,
        "error_requests": total.error_requests,
        "error_samples": total.error_samples,
        "first_error": total.first_error,
        "stopped_by_deadline": total.stopped_by_deadline,
        "request_p50_ms": percentile(&total.latencies_ms, 50.0),
        "request_p99_ms": percentile(&total.latencies_ms, 99.0),
        "loadgen_cpu_secs": cpu_secs_of_self() - cpu_before,
    }))
}
