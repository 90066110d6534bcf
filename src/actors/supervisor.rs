//! The per-tenant supervisor: the root of one tenant's actor tree. Each capability runs as
//! one of its children ([`TenantActors`]), so a fault in one tenant stays in that tenant
//! and a dead child is restarted on the next request for it.
//!
//! Adding a child (the alert evaluator, the log pipeline, the live hub): a field in
//! [`TenantActors`], one line in [`TenantActors::start`] and one in
//! [`TenantActors::stop`]; callers reach it through the registry's
//! [`TenantRegistryHandle::actors`](super::registry::TenantRegistryHandle::actors).

use std::time::Instant;

use actix::{Actor, ActorContext, Addr, Context, Handler, Message, MessageResult, Supervised};
use serde::Serialize;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::aggregator::{AggregatorConfig, AppliedBatch, MetricAggregator, StopAggregator};
use super::evaluator::{
    AlertDataSlot, AlertEvaluator, EvaluatorConfig, StopEvaluator, SubscribeTransitions,
};
use super::log_pipeline::{LogPipeline, LogPipelineConfig, StopLogPipeline};
use super::notifier::{Notifier, NotifierConfig, StopNotifier};
use crate::domain::time::SharedClock;
use crate::domain::TenantId;
use crate::self_metrics::ServiceMetrics;
use crate::store::Store;

/// What a tenant's actors need from the process: the store and the policies.
#[derive(Clone)]
pub struct TenantServices {
    pub store: Store,
    pub metrics: ServiceMetrics,
    pub aggregator: AggregatorConfig,
    pub evaluator: EvaluatorConfig,
    /// How evaluators query and write metrics; set once the metrics layer is built.
    pub alert_data: AlertDataSlot,
    pub clock: SharedClock,
    /// The thread every tenant's evaluator runs on: evaluating a large batch must not hold
    /// back the aggregators (whose admissions every ingest request waits for), nor they it.
    pub evaluator_thread: actix::ArbiterHandle,
    /// How notifications are delivered (channels' HTTP client, SMTP, retries).
    pub notifier: Arc<NotifierConfig>,
    /// The log pipeline's rate, stream limit and retention.
    pub logs: LogPipelineConfig,
}

/// The running children of one tenant's supervisor.
#[derive(Clone)]
pub struct TenantActors {
    /// The tenant's head: admits, applies and serves samples; checkpoints.
    pub aggregator: Addr<MetricAggregator>,
    /// Evaluates the tenant's alert rules on the aggregator's applied batches and a tick.
    pub evaluator: Addr<AlertEvaluator>,
    /// Delivers the notifications the evaluator wrote to the outbox.
    pub notifier: Addr<Notifier>,
    /// Admits log batches, announces committed ones, applies log retention.
    pub log_pipeline: Addr<LogPipeline>,
    /// Set by the evaluator while the tenant has rules: such a tenant is never idle.
    watching: Arc<AtomicBool>,
    /// Set by the notifier while notifications wait or posted alerts fire: never idle.
    notifying: Arc<AtomicBool>,
}

impl TenantActors {
    /// Starts every child. `applied` are the subscribers the aggregator tells about
    /// every batch it applies.
    fn start(
        tenant: TenantId,
        services: &TenantServices,
        applied: &[actix::Recipient<AppliedBatch>],
    ) -> Self {
        // The evaluator first: the aggregator is built with it as a subscriber, and the
        // evaluator is built knowing nothing of the aggregator.
        let watching = Arc::new(AtomicBool::new(false));
        let evaluator = {
            let (store, clock) = (services.store.clone(), services.clock.clone());
            let (data, config, watching) = (
                services.alert_data.clone(),
                services.evaluator,
                watching.clone(),
            );
            AlertEvaluator::start_in_arbiter(&services.evaluator_thread, move |_| {
                AlertEvaluator::new(tenant, store, clock, data, config, watching)
            })
        };
        let notifying = Arc::new(AtomicBool::new(false));
        let notifier = Notifier::new(
            tenant,
            services.store.clone(),
            services.clock.clone(),
            services.notifier.clone(),
            notifying.clone(),
        )
        .start();
        evaluator.do_send(SubscribeTransitions(notifier.clone().recipient()));
        let mut subscribers = applied.to_vec();
        subscribers.push(evaluator.clone().recipient());
        let aggregator = MetricAggregator::new(
            tenant,
            services.store.clone(),
            services.aggregator,
            services.metrics.clone(),
            services.clock.clone(),
        )
        .with_subscribers(subscribers)
        .start();
        let log_pipeline = LogPipeline::new(
            tenant,
            services.store.clone(),
            services.clock.clone(),
            services.logs,
        )
        .with_evaluator(evaluator.clone().recipient())
        .start();
        Self {
            aggregator,
            evaluator,
            notifier,
            log_pipeline,
            watching,
            notifying,
        }
    }

    /// All children still running (a panic drops an actor's mailbox).
    pub fn connected(&self) -> bool {
        self.aggregator.connected()
            && self.evaluator.connected()
            && self.notifier.connected()
            && self.log_pipeline.connected()
    }

    /// Whether the tenant has rules to evaluate or notifications to look after, so must
    /// keep running when idle.
    pub fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed) || self.notifying.load(Ordering::Relaxed)
    }

    /// Tells every child to stop; answers the aggregator, for callers that wait for its
    /// last checkpoint.
    fn stop(self) -> Addr<MetricAggregator> {
        self.evaluator.do_send(StopEvaluator);
        self.notifier.do_send(StopNotifier);
        self.log_pipeline.do_send(StopLogPipeline);
        self.aggregator.do_send(StopAggregator);
        self.aggregator
    }
}

/// One tenant's supervisor actor.
pub struct TenantSupervisor {
    tenant: TenantId,
    services: TenantServices,
    actors: Option<TenantActors>,
    /// Subscribers to applied batches, kept here so a restarted aggregator has them too.
    applied_subscribers: Vec<actix::Recipient<AppliedBatch>>,
    /// How many times this tenant's supervisor has been (re)started; 1 for the first.
    incarnation: u32,
    started: Instant,
    started_at_ms: i64,
    messages_handled: u64,
}

impl TenantSupervisor {
    pub fn new(tenant: TenantId, incarnation: u32, services: TenantServices) -> Self {
        Self {
            tenant,
            started_at_ms: services.clock.now_ms(),
            services,
            actors: None,
            applied_subscribers: Vec::new(),
            incarnation,
            started: Instant::now(),
            messages_handled: 0,
        }
    }
}

impl Actor for TenantSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(tenant = %self.tenant, incarnation = self.incarnation, "tenant supervisor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Children have timers of their own; tell them to stop rather than rely on
        // dropped addresses.
        if let Some(actors) = self.actors.take() {
            actors.stop();
        }
    }
}

impl TenantSupervisor {
    /// The tenant's actors, started on first use; a child that died is started again
    /// (the aggregator rebuilding its head from the database).
    fn actors(&mut self) -> TenantActors {
        if let Some(actors) = self.actors.take() {
            if actors.connected() {
                self.actors = Some(actors.clone());
                return actors;
            }
            tracing::warn!(tenant = %self.tenant, "a tenant actor died; restarting it");
            actors.stop();
        }
        let actors = TenantActors::start(self.tenant, &self.services, &self.applied_subscribers);
        self.actors = Some(actors.clone());
        actors
    }
}

/// The tenant's actors, started if needed.
#[derive(Message)]
#[rtype(result = "TenantActors")]
pub struct GetTenantActors;

impl Handler<GetTenantActors> for TenantSupervisor {
    type Result = MessageResult<GetTenantActors>;

    fn handle(&mut self, _: GetTenantActors, _: &mut Self::Context) -> Self::Result {
        self.messages_handled += 1;
        MessageResult(self.actors())
    }
}

/// Tell `0` about every batch the tenant's aggregator applies, from now on and across
/// aggregator restarts. The recipient's mailbox bounds what it may fall behind.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeApplied(pub actix::Recipient<AppliedBatch>);

impl Handler<SubscribeApplied> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeApplied, _: &mut Self::Context) {
        self.messages_handled += 1;
        self.applied_subscribers
            .retain(|subscriber| subscriber.connected());
        self.applied_subscribers.push(msg.0.clone());
        match self.actors.as_ref().filter(|actors| actors.connected()) {
            Some(running) => running
                .aggregator
                .do_send(super::aggregator::Subscribe(msg.0)),
            // Started with every subscriber, this one included.
            None => drop(self.actors()),
        }
    }
}

/// Stop the tenant's actors (tenant deleted or disabled, or shutdown); answers the
/// aggregator it told to stop, if one was running, for callers that wait for it.
#[derive(Message)]
#[rtype(result = "Option<Addr<MetricAggregator>>")]
pub struct StopSupervisor;

impl Handler<StopSupervisor> for TenantSupervisor {
    type Result = MessageResult<StopSupervisor>;

    fn handle(&mut self, _: StopSupervisor, ctx: &mut Self::Context) -> Self::Result {
        let aggregator = self.actors.take().map(TenantActors::stop);
        ctx.stop();
        MessageResult(aggregator)
    }
}

impl Supervised for TenantSupervisor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.incarnation += 1;
        self.started = Instant::now();
        self.started_at_ms = self.services.clock.now_ms();
        tracing::warn!(tenant = %self.tenant, incarnation = self.incarnation, "tenant supervisor restarting");
    }
}

/// What a tenant's runtime looks like right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TenantRuntime {
    pub tenant_id: String,
    /// 1 for the first start; higher after restarts.
    pub incarnation: u32,
    pub started_at_ms: i64,
    pub uptime_ms: u64,
    pub messages_handled: u64,
}

/// Asks a supervisor to describe its runtime.
#[derive(Message)]
#[rtype(result = "TenantRuntime")]
pub struct DescribeRuntime;

impl Handler<DescribeRuntime> for TenantSupervisor {
    type Result = MessageResult<DescribeRuntime>;

    fn handle(&mut self, _: DescribeRuntime, _: &mut Self::Context) -> Self::Result {
        self.messages_handled += 1;
        MessageResult(TenantRuntime {
            tenant_id: self.tenant.to_string(),
            incarnation: self.incarnation,
            started_at_ms: self.started_at_ms,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            messages_handled: self.messages_handled,
        })
    }
}

/// Test-only fault injection: makes the supervisor panic inside a handler.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(test)]
impl Handler<Crash> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Self::Context) {
        panic!("injected fault in tenant {}", self.tenant);
    }
}
