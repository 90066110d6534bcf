//! The per-tenant supervisor: the root of one tenant's actor tree. Later capabilities
//! (metric aggregation, alert evaluation) run as its children, so a fault in one tenant
//! stays in that tenant.

use std::time::Instant;

use actix::{Actor, Context, Handler, Message, MessageResult, Supervised};
use serde::Serialize;

use crate::domain::time::now_ms;
use crate::domain::TenantId;

/// One tenant's supervisor actor.
pub struct TenantSupervisor {
    tenant: TenantId,
    /// How many times this tenant's supervisor has been (re)started; 1 for the first.
    incarnation: u32,
    started: Instant,
    started_at_ms: i64,
    messages_handled: u64,
}

impl TenantSupervisor {
    pub fn new(tenant: TenantId, incarnation: u32) -> Self {
        Self {
            tenant,
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
