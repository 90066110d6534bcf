//! A real Prometheus scrapes itself and Tidewatch every second and remote-writes everything
//! into a Tidewatch tenant; the same PromQL expressions, instant and range, must then give
//! the same series and values from Tidewatch's query API as from Prometheus's own.
//!
//! `alerting.rs`: the same rule file in both, and `/api/v1/alerts` and `/api/v1/rules`
//! answered in Prometheus' shape. `alertmanager_api.rs`: Tidewatch as Prometheus'
//! Alertmanager, and amtool managing silences in it.
//!
//! Needs `prometheus` and `amtool` on PATH (`apt-get install prometheus
//! prometheus-alertmanager`; `scripts/test.sh` installs them).
//! See `docs/prometheus-compat.md`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../api/receivers.rs"]
mod receivers;

mod alerting;
mod alertmanager_api;
mod neighbours;
mod results;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use neighbours::{now_ms, start_neighbours, Neighbours};
use results::{compare, parse_value, QueryResult, Verdict};

/// Compared at one instant T and over [T-10s, T] at a 1 s step.
const EXPRESSIONS: &[&str] = &[
    "up",
    "sum by (job)(up)",
    "prometheus_tsdb_head_series",
    "rate(prometheus_http_requests_total[10s])",
    "sum by (handler)(rate(prometheus_http_requests_total[10s]))",
    "increase(prometheus_http_requests_total{handler=\"/metrics\"}[10s])",
    "irate(process_cpu_seconds_total[10s])",
    "max_over_time(go_goroutines[10s])",
    "avg_over_time(go_goroutines[10s])",
    "histogram_quantile(0.9, sum by (le)(rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "topk(3, go_memstats_alloc_bytes)",
    "go_goroutines > 5",
    "go_goroutines * 2 + 1",
    "count(up) by (job)",
    "tidewatch_http_requests_total",
    "absent(nonexistent_metric)",
    "time()",
    "vector(1)",
];

/// Expressions whose differences are known Tidewatch bugs awaiting a decision: still
/// compared and shown in the table, but they do not fail the test. Empty means every
/// expression must match.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// The range query covers [T - RANGE_SECS, T]; the longest selector looks back another
/// WINDOW_SECS. Both systems must hold every sample of that span.
const RANGE_SECS: i64 = 10;
const WINDOW_SECS: i64 = 10;

/// One row of the comparison table.
struct Row {
    expression: &'static str,
    instant: (usize, Verdict),
    range: (usize, Verdict),
}

async fn compare_all(n: &Neighbours, t: i64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &expression in EXPRESSIONS {
        let want = QueryResult::parse(&n.instant(false, expression, t).await?)?;
        let have = QueryResult::parse(&n.instant(true, expression, t).await?)?;
        let instant = (want.series_count(), compare(&want, &have));
        let want = QueryResult::parse(&n.range(false, expression, t - RANGE_SECS, t).await?)?;
        let have = QueryResult::parse(&n.range(true, expression, t - RANGE_SECS, t).await?)?;
        let range = (want.series_count(), compare(&want, &have));
        rows.push(Row {
            expression,
            instant,
            range,
        });
    }
    Ok(rows)
}

fn known_difference(expression: &str) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(e, _)| *e == expression)
        .map(|(_, why)| *why)
}

fn failing(rows: &[Row]) -> usize {
    rows.iter()
        .filter(|r| known_difference(r.expression).is_none())
        .filter(|r| {
            matches!(r.instant.1, Verdict::Different(_))
                || matches!(r.range.1, Verdict::Different(_))
        })
        .count()
}

fn verdict_cell((series, verdict): &(usize, Verdict)) -> String {
    match verdict {
        Verdict::Exact => format!("{series:>3} series  exact"),
        Verdict::Approximate(d) => format!("{series:>3} series  ≈ ({d:.1e})"),
        Verdict::Different(p) => format!("{series:>3} series  DIFF ({})", p.len()),
    }
}

fn table(rows: &[Row], t: i64) -> String {
    let width = rows.iter().map(|r| r.expression.len()).max().unwrap_or(10);
    let mut out = format!(
        "Prometheus vs Tidewatch at T={t} (instant) and [T-{RANGE_SECS}s, T] step 1s (range)\n\
         {:width$} | {:24} | {:24} | note\n",
        "expression", "instant", "range"
    );
    for row in rows {
        let note = known_difference(row.expression)
            .map(|why| format!("known difference, skipped: {why}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:width$} | {:24} | {:24} | {note}",
            row.expression,
            verdict_cell(&row.instant),
            verdict_cell(&row.range)
        );
    }
    out
}

fn details(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        for (mode, verdict) in [("instant", &row.instant.1), ("range", &row.range.1)] {
            if let Verdict::Different(problems) = verdict {
                let _ = writeln!(out, "{} ({mode}):", row.expression);
                for problem in problems.iter().take(10) {
                    let _ = writeln!(out, "    {problem}");
                }
                if problems.len() > 10 {
                    let _ = writeln!(out, "    … {} more", problems.len() - 10);
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_tidewatch_answer_the_same_queries_over_remote_written_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = start_neighbours(dir.path()).await;
    let started = Instant::now();

    // Both systems must hold every sample from T - RANGE - WINDOW on, so T is chosen
    // after the first `up` sample either of them has (remote write drops samples older
    // than its own start) and a little before now (so scrapes up to T are committed).
    let deadline = started + Duration::from_secs(60);
    let t = loop {
        let spans = match (n.up_sample_span(false).await, n.up_sample_span(true).await) {
            (Ok(p), Ok(tw)) if p.len() == 2 && tw.len() == 2 => Some((p, tw)),
            _ => None,
        };
        if let Some((p, tw)) = spans {
            let first = p
                .values()
                .chain(tw.values())
                .map(|s| s.0)
                .max()
                .unwrap_or(0);
            let t = first / 1000 + 1 + RANGE_SECS + WINDOW_SECS + 1;
            let caught_up = tw.values().all(|&(_, last)| last > t * 1000);
            if caught_up && now_ms() >= (t + 2) * 1000 {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Tidewatch did not receive {} s of `up` samples within 60 s\n{}",
            RANGE_SECS + WINDOW_SECS + 2,
            n.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let count = QueryResult::parse(
        &n.instant(true, "count_over_time(up{job=\"prometheus\"}[1m])", t)
            .await
            .expect("count_over_time on tidewatch"),
    )
    .expect("count_over_time result");
    let QueryResult::Vector(count) = count else {
        panic!("count_over_time is not a vector: {count:?}");
    };
    let samples = count
        .values()
        .next()
        .and_then(|(_, v)| parse_value(v))
        .unwrap_or(0.0);
    assert!(samples >= 15.0, "only {samples} `up` samples up to T");

    // Samples ≤ T no longer change in Prometheus; remote write may still be delivering a
    // shard's last batch to Tidewatch, so a difference is only final once it persists.
    let settle = Instant::now() + Duration::from_secs(10);
    let mut attempts = 0;
    let rows = loop {
        attempts += 1;
        let rows = compare_all(&n, t)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", n.logs()));
        if failing(&rows) == 0 || Instant::now() >= settle {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    println!("{}", table(&rows, t));
    println!("comparison attempts: {attempts}");
    let details = details(&rows);
    if !details.is_empty() {
        println!("differences:\n{details}");
    }
    println!(
        "compared in {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        failing(&rows),
        0,
        "Tidewatch disagrees with Prometheus:\n{details}\n{}",
        n.logs()
    );
    let empty: Vec<&str> = rows
        .iter()
        .filter(|r| r.instant.0 == 0 || r.range.0 == 0)
        .map(|r| r.expression)
        .collect();
    assert!(
        empty.is_empty(),
        "Prometheus returned no series for {empty:?}, so they compared nothing"
    );
    // Tidewatch must have accepted every remote-write request (samples and metadata):
    // Prometheus logs rejected or retried batches under its `remote` component.
    let log = std::fs::read_to_string(&n.prometheus.log).unwrap_or_default();
    let rejected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("component=remote"))
        .filter(|l| l.contains("level=warn") || l.contains("level=error"))
        .collect();
    assert!(
        rejected.is_empty(),
        "Prometheus reports failed remote writes:\n{}",
        rejected.join("\n")
    );
}
