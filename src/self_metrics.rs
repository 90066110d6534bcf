//! The service's own metrics, served at `GET /metrics` in Prometheus text format.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(mailbox_pending.clone()),
            Box::new(tenant_supervisors.clone()),
            Box::new(tenant_supervisor_restarts.clone()),
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
        }
    }

    /// The exposition text for `GET /metrics`.
    pub fn render(&self) -> String {
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
