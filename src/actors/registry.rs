//! The tenant registry: one per process, owning the map from tenant to supervisor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    Supervisor, WrapFuture,
};

use super::aggregator::MetricAggregator;
use super::supervisor::{
    DescribeRuntime, GetAggregator, StopSupervisor, TenantRuntime, TenantServices, TenantSupervisor,
};
use crate::domain::TenantId;
use crate::self_metrics::ServiceMetrics;

/// Why a tenant's supervisor could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the tenant's supervisor stopped while handling the request: {0}")]
    SupervisorLost(actix::MailboxError),
    #[error("the tenant registry is not running: {0}")]
    RegistryLost(actix::MailboxError),
}

/// The `actor` label of the registry's mailbox gauge.
const MAILBOX: &str = "tenant_registry";

struct RunningSupervisor {
    addr: Addr<TenantSupervisor>,
    incarnation: u32,
    last_used: Instant,
}

/// Owns one [`TenantSupervisor`] per active tenant.
pub struct TenantRegistry {
    supervisors: HashMap<TenantId, RunningSupervisor>,
    idle_after: Duration,
    metrics: ServiceMetrics,
    services: TenantServices,
}

impl TenantRegistry {
    pub fn new(idle_after: Duration, services: TenantServices) -> Self {
        Self {
            supervisors: HashMap::new(),
            idle_after,
            metrics: services.metrics.clone(),
            services,
        }
    }

    /// The tenant's supervisor: started on first use, and started again if the previous
    /// one died (a panic drops its mailbox, which `connected()` reveals).
    fn supervisor_for(&mut self, tenant: TenantId) -> Addr<TenantSupervisor> {
        let now = Instant::now();
        if let Some(running) = self.supervisors.get_mut(&tenant) {
            if running.addr.connected() {
                running.last_used = now;
                return running.addr.clone();
            }
        }
        let incarnation = match self.supervisors.get(&tenant) {
            Some(dead) => {
                self.metrics.tenant_supervisor_restarts.inc();
                tracing::warn!(%tenant, "tenant supervisor died; restarting it");
                dead.incarnation + 1
            }
            None => 1,
        };
        let services = self.services.clone();
        let addr = Supervisor::start(move |_| TenantSupervisor::new(tenant, incarnation, services));
        self.supervisors.insert(
            tenant,
            RunningSupervisor {
                addr: addr.clone(),
                incarnation,
                last_used: now,
            },
        );
        self.metrics
            .tenant_supervisors
            .set(self.supervisors.len() as i64);
        addr
    }

    /// One message left the mailbox (the handle counted it in).
    fn message_taken(&self) {
        self.metrics
            .mailbox_pending
            .with_label_values(&[MAILBOX])
            .dec();
    }

    /// Idle tenants cost nothing: their actors are stopped and rebuilt on next use.
    fn stop_idle(&mut self) {
        let idle_after = self.idle_after;
        self.supervisors.retain(|tenant, running| {
            let keep = running.last_used.elapsed() < idle_after && running.addr.connected();
            if !keep {
                tracing::debug!(%tenant, "stopping idle tenant supervisor");
                running.addr.do_send(StopSupervisor);
            }
            keep
        });
        self.metrics
            .tenant_supervisors
            .set(self.supervisors.len() as i64);
    }
}

impl Actor for TenantRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let sweep_every =
            (self.idle_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        ctx.run_interval(sweep_every, |registry, _| registry.stop_idle());
    }
}

/// Describe a tenant's runtime, starting its supervisor if needed.
#[derive(Message)]
#[rtype(result = "Result<TenantRuntime, RegistryError>")]
pub struct DescribeTenant {
    pub tenant: TenantId,
}

impl Handler<DescribeTenant> for TenantRegistry {
    type Result = ResponseActFuture<Self, Result<TenantRuntime, RegistryError>>;

    fn handle(&mut self, msg: DescribeTenant, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        let addr = self.supervisor_for(msg.tenant);
        Box::pin(
            async move { addr.send(DescribeRuntime).await }
                .into_actor(self)
                .map(|result, _, _| result.map_err(RegistryError::SupervisorLost)),
        )
    }
}

/// The tenant's metric aggregator, starting the tenant's actors if needed.
#[derive(Message)]
#[rtype(result = "Result<Addr<MetricAggregator>, RegistryError>")]
pub struct TenantAggregator {
    pub tenant: TenantId,
}

impl Handler<TenantAggregator> for TenantRegistry {
    type Result = ResponseActFuture<Self, Result<Addr<MetricAggregator>, RegistryError>>;

    fn handle(&mut self, msg: TenantAggregator, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        let addr = self.supervisor_for(msg.tenant);
        Box::pin(
            async move { addr.send(GetAggregator).await }
                .into_actor(self)
                .map(|result, _, _| result.map_err(RegistryError::SupervisorLost)),
        )
    }
}

/// Stop a tenant's supervisor (the tenant was deleted or disabled).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTenant {
    pub tenant: TenantId,
}

impl Handler<StopTenant> for TenantRegistry {
    type Result = ();

    fn handle(&mut self, msg: StopTenant, _: &mut Self::Context) {
        self.message_taken();
        if let Some(running) = self.supervisors.remove(&msg.tenant) {
            running.addr.do_send(StopSupervisor);
        }
        self.metrics
            .tenant_supervisors
            .set(self.supervisors.len() as i64);
    }
}

/// Forget every tenant's supervisor and answer them, for shutdown to stop and wait for.
#[derive(Message)]
#[rtype(result = "Vec<Addr<TenantSupervisor>>")]
struct TakeAllSupervisors;

impl Handler<TakeAllSupervisors> for TenantRegistry {
    type Result = actix::MessageResult<TakeAllSupervisors>;

    fn handle(&mut self, _: TakeAllSupervisors, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        let taken = self.supervisors.drain().map(|(_, r)| r.addr).collect();
        self.metrics.tenant_supervisors.set(0);
        actix::MessageResult(taken)
    }
}

/// The tenants whose supervisors are running.
#[derive(Message)]
#[rtype(result = "Vec<TenantId>")]
pub struct RunningTenants;

impl Handler<RunningTenants> for TenantRegistry {
    type Result = Vec<TenantId>;

    fn handle(&mut self, _: RunningTenants, _: &mut Self::Context) -> Vec<TenantId> {
        self.message_taken();
        self.supervisors
            .iter()
            .filter(|(_, running)| running.addr.connected())
            .map(|(tenant, _)| *tenant)
            .collect()
    }
}

/// The way the rest of the service talks to the registry: it counts messages in flight
/// for the `actor_mailbox_pending` metric.
#[derive(Clone)]
pub struct TenantRegistryHandle {
    addr: Addr<TenantRegistry>,
    metrics: ServiceMetrics,
}

impl TenantRegistryHandle {
    pub fn start(idle_after: Duration, services: TenantServices) -> Self {
        let metrics = services.metrics.clone();
        let addr = TenantRegistry::new(idle_after, services).start();
        Self { addr, metrics }
    }

    async fn send<M>(&self, msg: M) -> Result<M::Result, RegistryError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        TenantRegistry: Handler<M>,
    {
        self.metrics
            .mailbox_pending
            .with_label_values(&[MAILBOX])
            .inc();
        self.addr
            .send(msg)
            .await
            .map_err(RegistryError::RegistryLost)
    }

    pub async fn describe(&self, tenant: TenantId) -> Result<TenantRuntime, RegistryError> {
        self.send(DescribeTenant { tenant }).await?
    }

    pub async fn aggregator(
        &self,
        tenant: TenantId,
    ) -> Result<Addr<MetricAggregator>, RegistryError> {
        self.send(TenantAggregator { tenant }).await?
    }

    pub async fn stop(&self, tenant: TenantId) -> Result<(), RegistryError> {
        self.send(StopTenant { tenant }).await
    }

    /// Stops every tenant's actors and waits (at most `wait`) until their aggregators have
    /// stopped, letting checkpoints in flight commit first. For process shutdown, after the
    /// HTTP server has drained: actors still running when the runtime ends are dropped
    /// outside it, mid-transaction.
    pub async fn shutdown(&self, wait: Duration) -> Result<(), RegistryError> {
        let deadline = Instant::now() + wait;
        let mut aggregators = Vec::new();
        for supervisor in self.send(TakeAllSupervisors).await? {
            // A supervisor that died already has nothing left to wait for.
            if let Ok(Some(aggregator)) = supervisor.send(StopSupervisor).await {
                aggregators.push(aggregator);
            }
        }
        while aggregators.iter().any(Addr::connected) {
            if Instant::now() >= deadline {
                tracing::warn!("tenant actors still running at shutdown; stopping anyway");
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    pub async fn running(&self) -> Result<Vec<TenantId>, RegistryError> {
        self.send(RunningTenants).await
    }

    #[cfg(test)]
    pub(crate) async fn supervisor_addr(&self, tenant: TenantId) -> Addr<TenantSupervisor> {
        self.send(SupervisorAddr { tenant })
            .await
            .expect("registry running")
    }
}

#[cfg(test)]
#[derive(Message)]
#[rtype(result = "Addr<TenantSupervisor>")]
struct SupervisorAddr {
    tenant: TenantId,
}

#[cfg(test)]
impl Handler<SupervisorAddr> for TenantRegistry {
    type Result = actix::MessageResult<SupervisorAddr>;

    fn handle(&mut self, msg: SupervisorAddr, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        actix::MessageResult(self.supervisor_for(msg.tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::aggregator::AggregatorConfig;
    use crate::actors::supervisor::Crash;
    use crate::store::Store;

    async fn services(metrics: ServiceMetrics) -> TenantServices {
        let store = Store::connect("sqlite::memory:", 1)
            .await
            .expect("in-memory SQLite");
        store.migrate().await.expect("migrations");
        TenantServices {
            store,
            metrics,
            aggregator: AggregatorConfig::default(),
        }
    }

    async fn poll_until<F, Fut>(mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check().await {
            assert!(Instant::now() < deadline, "condition not met within 5 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[actix_rt::test]
    async fn a_crashed_tenant_comes_back_and_others_are_untouched() {
        let metrics = ServiceMetrics::new();
        let registry =
            TenantRegistryHandle::start(Duration::from_secs(600), services(metrics.clone()).await);
        let (a, b) = (TenantId::generate(), TenantId::generate());

        let a_before = registry.describe(a).await.unwrap();
        let b_before = registry.describe(b).await.unwrap();
        assert_eq!(a_before.incarnation, 1);
        let b_addr = registry.supervisor_addr(b).await;

        let a_addr = registry.supervisor_addr(a).await;
        // The panic ends A's actor; the send sees its mailbox dropped.
        assert!(a_addr.send(Crash).await.is_err());
        poll_until(|| {
            let a_addr = a_addr.clone();
            async move { !a_addr.connected() }
        })
        .await;

        // B is the same actor as before, still counting its messages.
        let b_after = registry.describe(b).await.unwrap();
        assert_eq!(b_after.incarnation, 1);
        assert_eq!(b_after.started_at_ms, b_before.started_at_ms);
        assert_eq!(b_after.messages_handled, b_before.messages_handled + 1);
        assert!(b_addr.connected());

        // A comes back as a new incarnation on its next message.
        let a_after = registry.describe(a).await.unwrap();
        assert_eq!(a_after.incarnation, 2);
        assert_eq!(a_after.messages_handled, 1);
        assert_eq!(metrics.tenant_supervisor_restarts.get(), 1);
    }

    #[actix_rt::test]
    async fn idle_tenants_are_stopped() {
        let registry = TenantRegistryHandle::start(
            Duration::from_millis(200),
            services(ServiceMetrics::new()).await,
        );
        let tenant = TenantId::generate();
        registry.describe(tenant).await.unwrap();
        assert_eq!(registry.running().await.unwrap(), vec![tenant]);
        poll_until(|| {
            let registry = registry.clone();
            async move { registry.running().await.unwrap().is_empty() }
        })
        .await;
    }

    #[actix_rt::test]
    async fn stopping_a_tenant_removes_only_it() {
        let registry = TenantRegistryHandle::start(
            Duration::from_secs(600),
            services(ServiceMetrics::new()).await,
        );
        let (a, b) = (TenantId::generate(), TenantId::generate());
        registry.describe(a).await.unwrap();
        registry.describe(b).await.unwrap();
        registry.stop(a).await.unwrap();
        assert_eq!(registry.running().await.unwrap(), vec![b]);
    }
}
