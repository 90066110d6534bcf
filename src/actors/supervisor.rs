//! The per-tenant supervisor: the root of one tenant's actor tree. Later capabilities
//! (metric aggregation, alert evaluation) run as its children, so a fault in one tenant
//! stays in that tenant.

use std::time::Instant;

use actix::{Actor, ActorContext, Addr, Context, Handler, Message, MessageResult, Supervised};
use serde::Serialize;

use super::aggregator::{AggregatorConfig, MetricAggregator};
use crate::domain::time::now_ms;
use crate::domain::TenantId;
use crate::self_metrics::ServiceMetrics;
use crate::store::Store;

/// What a tenant's actors need from the process: the store and the policies.
#[derive(Clone)]
pub struct TenantServices {
    pub store: Store,
    pub metrics: ServiceMetrics,
    pub aggregator: AggregatorConfig,
}

/// One tenant's supervisor actor.
pub struct TenantSupervisor {
    tenant: TenantId,
    services: TenantServices,
    aggregator: Option<Addr<MetricAggregator>>,
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
            services,
            aggregator: None,
            incarnation,
            started: Instant::now(),
            started_at_ms: now_ms(),
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
        if let Some(aggregator) = self.aggregator.take() {
            aggregator.do_send(super::aggregator::StopAggregator);
        }
    }
}

impl TenantSupervisor {
    /// The tenant's aggregator, started on first use and started again (rebuilding its
    /// head from the database) if it died.
    fn aggregator(&mut self) -> Addr<MetricAggregator> {
        if let Some(addr) = &self.aggregator {
            if addr.connected() {
                return addr.clone();
            }
            tracing::warn!(tenant = %self.tenant, "metric aggregator died; restarting it");
        }
        let services = &self.services;
        let addr = MetricAggregator::new(
            self.tenant,
            services.store.clone(),
            services.aggregator,
            services.metrics.clone(),
        )
        .start();
        self.aggregator = Some(addr.clone());
        addr
    }
}

/// The tenant's metric aggregator.
#[derive(Message)]
#[rtype(result = "Addr<MetricAggregator>")]
pub struct GetAggregator;

impl Handler<GetAggregator> for TenantSupervisor {
    type Result = MessageResult<GetAggregator>;

    fn handle(&mut self, _: GetAggregator, _: &mut Self::Context) -> Self::Result {
        self.messages_handled += 1;
        MessageResult(self.aggregator())
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
        let aggregator = self.aggregator.take();
        if let Some(aggregator) = &aggregator {
            aggregator.do_send(super::aggregator::StopAggregator);
        }
        ctx.stop();
        MessageResult(aggregator)
    }
}

impl Supervised for TenantSupervisor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.incarnation += 1;
        self.started = Instant::now();
        self.started_at_ms = now_ms();
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
