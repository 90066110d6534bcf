//! The service's own metrics, served at `GET /metrics` in Prometheus text format.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Counters and gauges about Tidewatch itself (not tenants' metrics).
#[derive(Clone)]
pub struct ServiceMetrics {
    registry: Registry,
    /// Requests by matched route pattern, method and status.
    pub http_requests: IntCounterVec,
    /// Request latency by matched route pattern and method.
    pub http_latency: HistogramVec,
    /// Messages sent to an actor and not yet handled, by actor kind.
    pub mailbox_pending: IntGaugeVec,
    /// Tenant supervisors currently running.
    pub tenant_supervisors: IntGauge,
    /// Tenant supervisors restarted after a crash.
    pub tenant_supervisor_restarts: IntCounter,
    /// Write-ahead records per group-commit transaction.
    pub wal_commit_group_size: Histogram,
    /// Time spent in each stage of the metrics write path (decode, admit, encode, commit,
    /// apply), so a slow ingest can be pinned on one stage.
    pub ingest_stage_seconds: HistogramVec,
    /// Samples acknowledged (durably stored) by ingest.
    pub ingested_samples: IntCounter,
    pub ingested_log_records: IntCounter,
    pub syslog_dropped_messages: IntCounter,
    /// Ingest requests refused, by reason.
    pub ingest_rejections: IntCounterVec,
    /// Samples held in memory by all tenants' aggregators.
    pub head_samples: IntGauge,
    /// Series held by all tenants' aggregators.
    pub head_series: IntGauge,
    /// Samples in refused ingest requests, by tenant and reason (the refusal's code).
    pub discarded_samples: IntCounterVec,
    /// Applied batches a subscriber missed because its mailbox was full.
    pub applied_batches_missed: IntCounter,
    /// Unexpected panics (read from `panic_net` at each scrape).
    panics: IntCounter,
}

impl ServiceMetrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("tidewatch".into()), None).expect("a static, valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("static metric definition");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("static metric definition");
        let mailbox_pending = IntGaugeVec::new(
            Opts::new(
                "actor_mailbox_pending",
                "Messages sent to an actor and not yet handled",
            ),
            &["actor"],
        )
        .expect("static metric definition");
        let tenant_supervisors =
            IntGauge::new("tenant_supervisors", "Tenant supervisor actors running")
                .expect("static metric definition");
        let tenant_supervisor_restarts = IntCounter::new(
            "tenant_supervisor_restarts_total",
            "Tenant supervisors restarted after a crash",
        )
        .expect("static metric definition");
        let wal_commit_group_size = Histogram::with_opts(
            HistogramOpts::new(
                "wal_commit_group_size",
                "Write-ahead records per group commit",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )
        .expect("static metric definition");
        let ingest_stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "ingest_stage_seconds",
                "Time per ingest request in each write-path stage",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ]),
            &["stage"],
        )
        .expect("static metric definition");
        let ingested_samples =
            IntCounter::new("ingested_samples_total", "Samples acknowledged by ingest")
                .expect("static metric definition");
        let ingested_log_records = IntCounter::new(
            "ingested_log_records_total",
            "Log records acknowledged by ingest",
        )
        .expect("valid metric");
        let syslog_dropped_messages = IntCounter::new(
            "syslog_dropped_messages_total",
            "Syslog messages not stored: queue full, key revoked or ingest refused",
        )
        .expect("valid metric");
        let ingest_rejections = IntCounterVec::new(
            Opts::new(
                "ingest_rejections_total",
                "Ingest requests refused, by reason",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        let head_samples = IntGauge::new("head_samples", "Samples held in memory by aggregators")
            .expect("static metric definition");
        let head_series = IntGauge::new("head_series", "Series held in memory by aggregators")
            .expect("static metric definition");
        let discarded_samples = IntCounterVec::new(
            Opts::new(
                "discarded_samples_total",
                "Samples in refused ingest requests, by tenant and reason",
            ),
            &["tenant", "reason"],
        )
        .expect("static metric definition");
        let applied_batches_missed = IntCounter::new(
            "applied_batches_missed_total",
            "Applied batches a subscriber (alerting, live views) missed: its mailbox was full",
        )
        .expect("static metric definition");
        let panics = IntCounter::new(
            "panics_total",
            "Unexpected panics; each was logged with its backtrace",
        )
        .expect("static metric definition");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(mailbox_pending.clone()),
            Box::new(tenant_supervisors.clone()),
            Box::new(tenant_supervisor_restarts.clone()),
            Box::new(wal_commit_group_size.clone()),
            Box::new(ingest_stage_seconds.clone()),
            Box::new(ingested_samples.clone()),
            Box::new(ingested_log_records.clone()),
            Box::new(syslog_dropped_messages.clone()),
            Box::new(ingest_rejections.clone()),
            Box::new(head_samples.clone()),
            Box::new(head_series.clone()),
            Box::new(discarded_samples.clone()),
            Box::new(applied_batches_missed.clone()),
            Box::new(panics.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            http_requests,
            http_latency,
            mailbox_pending,
            tenant_supervisors,
            tenant_supervisor_restarts,
            wal_commit_group_size,
            ingest_stage_seconds,
            ingested_samples,
            ingested_log_records,
            syslog_dropped_messages,
            ingest_rejections,
            head_samples,
            head_series,
            discarded_samples,
            applied_batches_missed,
            panics,
        }
    }

    /// The exposition text for `GET /metrics`.
    pub fn render(&self) -> String {
        let panics = crate::panic_net::panics_total();
        self.panics.inc_by(panics.saturating_sub(self.panics.get()));
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding into a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A stage of the metrics write path, the `stage` label of `ingest_stage_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStage {
    Decode,
    Validate,
    Encode,
    Admit,
    Commit,
    WalTransaction,
}

impl IngestStage {
    pub fn label(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Validate => "validate",
            Self::Encode => "encode",
            Self::Admit => "admit",
            Self::Commit => "commit",
            Self::WalTransaction => "wal_transaction",
        }
    }
}

/// Observes how long each write-path stage took into `ingest_stage_seconds`.
pub struct StageTimer<'a> {
    metrics: &'a ServiceMetrics,
    since: std::time::Instant,
}

impl<'a> StageTimer<'a> {
    pub fn new(metrics: &'a ServiceMetrics) -> Self {
        Self {
            metrics,
            since: std::time::Instant::now(),
        }
    }

    /// Records the time since the previous lap as `stage` and starts the next lap.
    pub fn lap(self, stage: IngestStage) -> Self {
        self.metrics
            .ingest_stage_seconds
            .with_label_values(&[stage.label()])
            .observe(self.since.elapsed().as_secs_f64());
        Self::new(self.metrics)
    }
}
