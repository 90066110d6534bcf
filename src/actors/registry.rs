//! The tenant registry: one per process, owning the map from tenant to supervisor.
//!
//! Requests reach a tenant's actors through [`TenantRegistryHandle::actors`]: a shared
//! directory answers running tenants without a message; only a tenant's first request
//! (or one after its actors died or idled out) goes through the registry's mailbox to
//! start them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    Supervisor, WrapFuture,
};

use super::aggregator::{AppliedBatch, MetricAggregator};
use super::supervisor::{
    DescribeRuntime, GetTenantActors, StopSupervisor, SubscribeApplied, TenantActors,
    TenantRuntime, TenantServices, TenantSupervisor,
};
use crate::domain::TenantId;
use crate::error::{Classify, ErrorKind};
use crate::ingest::IngestError;
use crate::self_metrics::ServiceMetrics;

/// Why a tenant's supervisor could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the tenant's supervisor stopped while handling the request: {0}")]
    SupervisorLost(actix::MailboxError),
    #[error("the tenant registry is not running: {0}")]
    RegistryLost(actix::MailboxError),
}

impl From<RegistryError> for IngestError {
    fn from(err: RegistryError) -> Self {
        IngestError::StorageFailed(err.to_string())
    }
}

impl Classify for RegistryError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }

    fn code(&self) -> &'static str {
        "tenant_unavailable"
    }
}

/// The `actor` label of the registry's mailbox gauge.
const MAILBOX: &str = "tenant_registry";

/// When a tenant was last used: milliseconds since the directory's epoch, written by
/// every request (through the directory or the registry) and read by the idle sweep.
type LastUsed = Arc<AtomicU64>;

struct DirectoryEntry {
    actors: TenantActors,
    last_used: LastUsed,
}

/// Running tenants' actors, shared by the registry (which writes it) and every handle
/// (which reads it), so a request for a running tenant crosses no mailbox to find them.
struct Directory {
    epoch: Instant,
    entries: RwLock<HashMap<TenantId, DirectoryEntry>>,
}

impl Directory {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn touch(&self, last_used: &LastUsed) {
        last_used.store(self.now(), Ordering::Relaxed);
    }

    /// The tenant's actors if they are all running.
    fn lookup(&self, tenant: TenantId) -> Option<TenantActors> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&tenant)?;
        if !entry.actors.connected() {
            return None;
        }
        self.touch(&entry.last_used);
        Some(entry.actors.clone())
    }

    fn insert(&self, tenant: TenantId, actors: TenantActors, last_used: LastUsed) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(tenant, DirectoryEntry { actors, last_used });
    }

    /// Whether the tenant's evaluator has rules (then idleness does not stop it).
    fn watching(&self, tenant: TenantId) -> bool {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(&tenant).is_some_and(|e| e.actors.watching())
    }

    fn remove(&self, tenant: TenantId) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&tenant);
    }

    fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.clear();
    }
}

struct RunningSupervisor {
    addr: Addr<TenantSupervisor>,
    incarnation: u32,
    last_used: LastUsed,
}

/// Owns one [`TenantSupervisor`] per active tenant.
pub struct TenantRegistry {
    supervisors: HashMap<TenantId, RunningSupervisor>,
    directory: Arc<Directory>,
    idle_after: Duration,
    metrics: ServiceMetrics,
    services: TenantServices,
}

impl TenantRegistry {
    fn new(idle_after: Duration, services: TenantServices, directory: Arc<Directory>) -> Self {
        Self {
            supervisors: HashMap::new(),
            directory,
            idle_after,
            metrics: services.metrics.clone(),
            services,
        }
    }

    /// The tenant's supervisor: started on first use, and started again if the previous
    /// one died (a panic drops its mailbox, which `connected()` reveals).
    fn supervisor_for(&mut self, tenant: TenantId) -> (Addr<TenantSupervisor>, LastUsed) {
        if let Some(running) = self.supervisors.get_mut(&tenant) {
            if running.addr.connected() {
                self.directory.touch(&running.last_used);
                return (running.addr.clone(), running.last_used.clone());
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
        self.directory.remove(tenant);
        let services = self.services.clone();
        let addr = Supervisor::start(move |_| TenantSupervisor::new(tenant, incarnation, services));
        let last_used = Arc::new(AtomicU64::new(self.directory.now()));
        self.supervisors.insert(
            tenant,
            RunningSupervisor {
                addr: addr.clone(),
                incarnation,
                last_used: last_used.clone(),
            },
        );
        self.metrics
            .tenant_supervisors
            .set(self.supervisors.len() as i64);
        (addr, last_used)
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
        let idle_after = self.idle_after.as_millis() as u64;
        let now = self.directory.now();
        let directory = self.directory.clone();
        self.supervisors.retain(|tenant, running| {
            let idle = now.saturating_sub(running.last_used.load(Ordering::Relaxed));
            let keep =
                (idle < idle_after || directory.watching(*tenant)) && running.addr.connected();
            if !keep {
                tracing::debug!(%tenant, "stopping idle tenant supervisor");
                directory.remove(*tenant);
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
        let (addr, _) = self.supervisor_for(msg.tenant);
        Box::pin(
            async move { addr.send(DescribeRuntime).await }
                .into_actor(self)
                .map(|result, _, _| result.map_err(RegistryError::SupervisorLost)),
        )
    }
}

/// The tenant's actors, starting them if needed; entered in the directory.
#[derive(Message)]
#[rtype(result = "Result<TenantActors, RegistryError>")]
struct StartTenantActors {
    tenant: TenantId,
}

impl Handler<StartTenantActors> for TenantRegistry {
    type Result = ResponseActFuture<Self, Result<TenantActors, RegistryError>>;

    fn handle(&mut self, msg: StartTenantActors, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        let tenant = msg.tenant;
        let (addr, last_used) = self.supervisor_for(tenant);
        let still_current = addr.clone();
        Box::pin(
            async move { addr.send(GetTenantActors).await }
                .into_actor(self)
                .map(move |result, registry, _| {
                    let actors = result.map_err(RegistryError::SupervisorLost)?;
                    // Unless the tenant was stopped (or restarted) while its actors started.
                    let current = registry
                        .supervisors
                        .get(&tenant)
                        .is_some_and(|running| running.addr == still_current);
                    if current {
                        registry.directory.insert(tenant, actors.clone(), last_used);
                    }
                    Ok(actors)
                }),
        )
    }
}

/// Subscribe to a tenant's applied batches (starting its actors if needed).
#[derive(Message)]
#[rtype(result = "Result<(), RegistryError>")]
struct SubscribeTenant {
    tenant: TenantId,
    subscriber: actix::Recipient<AppliedBatch>,
}

impl Handler<SubscribeTenant> for TenantRegistry {
    type Result = ResponseActFuture<Self, Result<(), RegistryError>>;

    fn handle(&mut self, msg: SubscribeTenant, _: &mut Self::Context) -> Self::Result {
        self.message_taken();
        let (addr, _) = self.supervisor_for(msg.tenant);
        Box::pin(
            async move { addr.send(SubscribeApplied(msg.subscriber)).await }
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
        self.directory.remove(msg.tenant);
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
        self.directory.clear();
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
    directory: Arc<Directory>,
    metrics: ServiceMetrics,
}

impl TenantRegistryHandle {
    pub fn start(idle_after: Duration, services: TenantServices) -> Self {
        let metrics = services.metrics.clone();
        let directory = Arc::new(Directory {
            epoch: Instant::now(),
            entries: RwLock::new(HashMap::new()),
        });
        let addr = TenantRegistry::new(idle_after, services, directory.clone()).start();
        Self {
            addr,
            directory,
            metrics,
        }
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

    /// The tenant's actors, started if they are not running.
    pub async fn actors(&self, tenant: TenantId) -> Result<TenantActors, RegistryError> {
        if let Some(actors) = self.directory.lookup(tenant) {
            return Ok(actors);
        }
        self.send(StartTenantActors { tenant }).await?
    }

    /// The tenant's actors if they are running here; starts nothing.
    pub fn running_actors(&self, tenant: TenantId) -> Option<TenantActors> {
        self.directory.lookup(tenant)
    }

    pub async fn aggregator(
        &self,
        tenant: TenantId,
    ) -> Result<Addr<MetricAggregator>, RegistryError> {
        Ok(self.actors(tenant).await?.aggregator)
    }

    /// Tell `subscriber` about every batch the tenant's aggregator applies from now on.
    pub async fn subscribe_applied(
        &self,
        tenant: TenantId,
        subscriber: actix::Recipient<AppliedBatch>,
    ) -> Result<(), RegistryError> {
        self.send(SubscribeTenant { tenant, subscriber }).await?
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
        actix::MessageResult(self.supervisor_for(msg.tenant).0)
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
            evaluator: Default::default(),
            alert_data: Default::default(),
            clock: crate::domain::time::SystemClock::shared(),
            evaluator_thread: actix::Arbiter::current(),
            notifier: std::sync::Arc::new(crate::actors::notifier::NotifierConfig::from_config(
                &crate::config::Config::default(),
                None,
            )),
            logs: crate::actors::log_pipeline::LogPipelineConfig::from_config(
                &crate::config::Config::default(),
            ),
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
