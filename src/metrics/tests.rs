//! The write path as a component: what it tells the aggregator's subscribers, and time
//! decided by the injected clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};

use super::MetricsWriter;
use crate::actors::aggregator::{AggregatorConfig, AppliedBatch};
use crate::actors::persister::{Persister, PersisterLimits};
use crate::actors::registry::TenantRegistryHandle;
use crate::actors::supervisor::TenantServices;
use crate::domain::metrics::{Labels, MetricBatch, Origin, Sample, SampleLimits, SeriesSamples};
use crate::domain::time::{ManualClock, SharedClock, DAY_MS};
use crate::domain::{TenantId, TenantName, TenantSlug};
use crate::self_metrics::ServiceMetrics;
use crate::store::Store;

const T0: i64 = 1_800_000_000_000;

/// A writer on a fresh in-memory database holding tenants `a` and `b`.
async fn writer(clock: SharedClock) -> (MetricsWriter, TenantRegistryHandle, [TenantId; 2]) {
    let store = Store::connect("sqlite::memory:", 1)
        .await
        .expect("in-memory SQLite");
    store.migrate().await.expect("migrations");
    let mut tenants = Vec::new();
    for slug in ["a", "b"] {
        let (tenant, _) = store
            .create_tenant(
                TenantSlug::parse(slug).expect("a valid slug"),
                TenantName::parse(slug).expect("a valid name"),
                None,
                None,
            )
            .await
            .expect("tenant created");
        tenants.push(tenant.id);
    }
    let metrics = ServiceMetrics::new();
    let registry = TenantRegistryHandle::start(
        Duration::from_secs(600),
        TenantServices {
            store: store.clone(),
            metrics: metrics.clone(),
            aggregator: AggregatorConfig {
                raw_retention_ms: DAY_MS,
                ..AggregatorConfig::default()
            },
            evaluator: Default::default(),
            alert_data: Default::default(),
            clock: clock.clone(),
            evaluator_thread: actix::Arbiter::current(),
            notifier: std::sync::Arc::new(crate::actors::notifier::NotifierConfig::from_config(
                &crate::config::Config::default(),
                None,
            )),
            logs: crate::actors::log_pipeline::LogPipelineConfig::from_config(
                &crate::config::Config::default(),
            ),
        },
    );
    let persister = Persister::new(store, PersisterLimits::default(), metrics.clone()).start();
    let limits = SampleLimits {
        max_age_ms: DAY_MS,
        ..SampleLimits::default()
    };
    let writer = MetricsWriter::new(registry.clone(), persister, metrics, limits, clock);
    (writer, registry, [tenants[0], tenants[1]])
}

fn one_sample(host: &str, timestamp_ms: i64, value: f64) -> MetricBatch {
    MetricBatch {
        series: vec![SeriesSamples {
            labels: Labels::with_name("cpu", [("host", host)]),
            samples: smallvec::smallvec![Sample {
                timestamp_ms,
                value
            }],
            origin: Origin::Line(1),
        }],
    }
}

/// (sequence, host, value) per applied sample.
type Seen = Arc<Mutex<Vec<(u64, String, f64)>>>;

/// Records what it is told.
struct Collector {
    seen: Seen,
}

impl Actor for Collector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
    }
}

impl Handler<AppliedBatch> for Collector {
    type Result = ();

    fn handle(&mut self, msg: AppliedBatch, _: &mut Self::Context) {
        let mut seen = self.seen.lock().expect("not poisoned");
        for series in &msg.batch.series {
            for sample in &series.samples {
                let host = series.labels.get("host").unwrap_or_default().to_owned();
                seen.push((msg.sequence, host, sample.value));
            }
        }
    }
}

async fn wait_for(seen: &Seen, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.lock().expect("not poisoned").len() < count {
        assert!(Instant::now() < deadline, "subscriber saw too little");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A collector subscribed to `tenant`'s applied batches; what it saw.
async fn subscribe(tenants: &TenantRegistryHandle, tenant: TenantId) -> Seen {
    let seen = Seen::default();
    let collector = Collector { seen: seen.clone() }.start();
    tenants
        .subscribe_applied(tenant, collector.recipient())
        .await
        .expect("subscribed");
    seen
}

#[actix_rt::test]
async fn a_subscriber_sees_every_applied_batch_in_order() {
    let clock = ManualClock::at(T0);
    let (writer, tenants, [tenant, other]) = writer(clock).await;
    let seen = subscribe(&tenants, tenant).await;

    for i in 0..50 {
        let at = T0 - 60_000 + i * 1000;
        assert_eq!(
            writer
                .write(tenant, one_sample("a", at, i as f64))
                .await
                .expect("stored"),
            1
        );
        // Another tenant's batches are not this subscriber's business.
        assert_eq!(
            writer
                .write(other, one_sample("b", at, -1.0))
                .await
                .expect("stored"),
            1
        );
    }
    wait_for(&seen, 50).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seen = seen.lock().expect("not poisoned").clone();
    let expected: Vec<(u64, String, f64)> = (0..50)
        .map(|i| (i as u64 + 1, "a".to_owned(), i as f64))
        .collect();
    assert_eq!(seen, expected);
}

#[actix_rt::test]
async fn subscribers_survive_an_aggregator_restart() {
    let clock = ManualClock::at(T0);
    let (writer, tenants, [tenant, _]) = writer(clock).await;
    let seen = subscribe(&tenants, tenant).await;
    assert_eq!(
        writer
            .write(tenant, one_sample("a", T0 - 2000, 1.0))
            .await
            .expect("stored"),
        1
    );
    wait_for(&seen, 1).await;

    let aggregator = tenants.aggregator(tenant).await.expect("running");
    aggregator.do_send(crate::actors::aggregator::StopAggregator);
    let deadline = Instant::now() + Duration::from_secs(5);
    while aggregator.connected() {
        assert!(Instant::now() < deadline, "aggregator did not stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        writer
            .write(tenant, one_sample("a", T0 - 1000, 2.0))
            .await
            .expect("stored"),
        1
    );
    wait_for(&seen, 2).await;
    let seen = seen.lock().expect("not poisoned").clone();
    // The restarted aggregator counts from 1 again.
    assert_eq!(
        seen,
        vec![(1, "a".to_owned(), 1.0), (1, "a".to_owned(), 2.0)]
    );
}

#[actix_rt::test]
async fn retention_is_judged_by_the_injected_clock() {
    let clock = ManualClock::at(T0);
    let (writer, _, [tenant, _]) = writer(clock.clone()).await;
    let old = T0 - DAY_MS / 2;
    assert_eq!(
        writer
            .write(tenant, one_sample("a", old, 1.0))
            .await
            .expect("stored"),
        1
    );
    // A day later the same timestamp is past the one-day retention.
    clock.advance(Duration::from_millis(DAY_MS as u64));
    let refused = writer.write(tenant, one_sample("a", old + 1, 2.0)).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("older")),
        "{refused:?}"
    );
    // And a sample at the new "now" is fine.
    assert_eq!(
        writer
            .write(tenant, one_sample("a", T0 + DAY_MS, 3.0))
            .await
            .expect("stored"),
        1
    );
}
