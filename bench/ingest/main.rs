//! Load generator for the end-to-end benchmarks driven by `bench/run.sh`: InfluxDB line
//! protocol ingest, one-sample-per-series loads for memory, and query latency. Every
//! subcommand is bounded (request timeouts, an overall deadline) and prints one JSON object
//! on stdout, so the driver can put Tidewatch and VictoriaMetrics side by side.
//!
//! `cargo run --release --example ingest_bench -- --help`

mod latency;
mod load;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Tidewatch / VictoriaMetrics load generator (see bench/README.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Counter series `cpu_usage,host=hNNNN,region=rN user=<counter>` (one sample per line),
    /// `steps` timestamps `step_ms` apart ending at `end_ms`; each sender owns a contiguous
    /// share of the series and sends them in time order.
    Ingest {
        #[command(flatten)]
        target: load::Target,
        #[arg(long, default_value_t = 1_000)]
        hosts: usize,
        #[arg(long, default_value_t = 10)]
        regions: usize,
        #[arg(long, default_value_t = 240)]
        steps: usize,
        #[arg(long, default_value_t = 15_000)]
        step_ms: i64,
        /// Timestamp of the last step (ms); default: now rounded down to the step, minus one step.
        #[arg(long)]
        end_ms: Option<i64>,
    },
    /// One sample per series `mem_probe,host=hNNNNNNN,region=rN,job=node value=1` for
    /// series indexes `from..to`, all at `ts_ms`.
    Series {
        #[command(flatten)]
        target: load::Target,
        #[arg(long)]
        from: usize,
        #[arg(long)]
        to: usize,
        #[arg(long)]
        ts_ms: Option<i64>,
    },
    /// Runs one `query_range` `runs` times in sequence (after one unmeasured warm-up) and
    /// reports latency percentiles and the number of series returned.
    Query {
        /// `…/api/v1/query_range`
        #[arg(long)]
        url: String,
        /// Value of the `Authorization` header, if any.
        #[arg(long)]
        auth: Option<String>,
        #[arg(long)]
        query: String,
        /// Range start and end, Unix seconds.
        #[arg(long)]
        start: f64,
        #[arg(long)]
        end: f64,
        #[arg(long, default_value = "15")]
        step: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Extra `name=value` query parameters (e.g. `nocache=1` for VictoriaMetrics).
        #[arg(long = "param")]
        params: Vec<String>,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let report = match Cli::parse().command {
        Command::Ingest {
            target,
            hosts,
            regions,
            steps,
            step_ms,
            end_ms,
        } => {
            let end_ms = end_ms.unwrap_or_else(|| now_ms() / step_ms * step_ms - step_ms);
            let shape = load::CounterLoad {
                hosts,
                regions,
                steps,
                step_ms,
                end_ms,
            };
            let bodies = shape.bodies(target.senders, target.batch_lines);
            let mut report = load::send_all(&target, bodies).await?;
            report["series"] = (hosts * regions).into();
            report["start_ms"] = (end_ms - (steps as i64 - 1) * step_ms).into();
            report["end_ms"] = end_ms.into();
            report
        }
        Command::Series {
            target,
            from,
            to,
            ts_ms,
        } => {
            let bodies = load::probe_bodies(
                from..to,
                ts_ms.unwrap_or_else(now_ms),
                target.senders,
                target.batch_lines,
            );
            let mut report = load::send_all(&target, bodies).await?;
            report["series"] = (to - from).into();
            report
        }
        Command::Query {
            url,
            auth,
            query,
            start,
            end,
            step,
            runs,
            params,
            timeout_secs,
        } => {
            latency::measure(latency::RangeQuery {
                url,
                auth,
                query,
                start,
                end,
                step,
                runs,
                params,
                timeout: Duration::from_secs(timeout_secs),
            })
            .await?
        }
    };
    println!("{report}");
    Ok(())
}
