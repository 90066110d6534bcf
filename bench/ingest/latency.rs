//! Sequential `query_range` timing: p50/p99 over the measured runs, and a check of the
//! number of series each answer returns.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct RangeQuery {
    pub url: String,
    pub auth: Option<String>,
    pub query: String,
    pub start: f64,
    pub end: f64,
    pub step: String,
    pub runs: usize,
    pub params: Vec<String>,
    pub timeout: Duration,
}

/// Series and points in a successful Prometheus API answer, or the error text.
fn shape_of(status: reqwest::StatusCode, body: &str) -> Result<(usize, usize), String> {
    let parsed: Value = serde_json::from_str(body).map_err(|e| {
        format!(
            "HTTP {status}: not JSON ({e}): {}",
            body.chars().take(400).collect::<String>()
        )
    })?;
    if !status.is_success() || parsed["status"] != "success" {
        return Err(format!(
            "HTTP {status}: {}",
            body.chars().take(600).collect::<String>()
        ));
    }
    let result = parsed["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let points = result
        .iter()
        .map(|s| s["values"].as_array().map_or(0, Vec::len))
        .sum();
    Ok((result.len(), points))
}

pub async fn measure(q: RangeQuery) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder().timeout(q.timeout).build()?;
    let mut form: Vec<(String, String)> = vec![
        ("query".into(), q.query.clone()),
        ("start".into(), format!("{:.3}", q.start)),
        ("end".into(), format!("{:.3}", q.end)),
        ("step".into(), q.step.clone()),
    ];
    for param in &q.params {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        form.push((name.into(), value.into()));
    }
    let mut latencies_ms = Vec::with_capacity(q.runs);
    let mut shapes = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    // Run 0 is a warm-up and is not timed into the percentiles.
    for run in 0..=q.runs {
        let mut request = client.get(&q.url).query(&form);
        if let Some(auth) = &q.auth {
            request = request.header("authorization", auth);
        }
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Ok(body) => shape_of(status, &body),
                    Err(e) => Err(format!("reading the answer: {e}")),
                }
            }
            Err(e) => Err(format!("transport: {e}")),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok(shape) => {
                if run > 0 {
                    latencies_ms.push(elapsed_ms);
                }
                shapes.push(shape);
            }
            Err(text) => {
                errors += 1;
                first_error.get_or_insert(text);
            }
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let pick = |p: f64| -> Value {
        if latencies_ms.is_empty() {
            return Value::Null;
        }
        let rank = ((p / 100.0) * latencies_ms.len() as f64).ceil() as usize;
        latencies_ms[rank.clamp(1, latencies_ms.len()) - 1].into()
    };
    shapes.dedup();
    Ok(json!({
        "runs": latencies_ms.len(),
        "errors": errors,
        "first_error": first_error,
        "p50_ms": pick(50.0),
        "p99_ms": pick(99.0),
        "min_ms": latencies_ms.first(),
        "max_ms": latencies_ms.last(),
        "series": shapes.first().map(|s| s.0),
        "points": shapes.first().map(|s| s.1),
        "consistent_answers": shapes.len() <= 1,
    }))
}
