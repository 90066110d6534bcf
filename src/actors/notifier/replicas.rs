//! Delivery across replicas, with `REDIS_URL` set: one replica at a time delivers a
//! tenant's notifications, the one holding the tenant's lease in Redis, so group timers,
//! repeats and rate limits have one owner; the others wake it over pub/sub when they
//! write to the outbox. The outbox rows stay the truth (and PostgreSQL's row claims still
//! keep two senders apart), so a lost lease or a lost wake-up delays, never drops.
//!
//! Without Redis, or while Redis cannot be reached, every replica delivers on its own.

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::domain::TenantId;

/// How long a lease lasts unless renewed; the holder renews every [`RENEW_EVERY`], so a
/// replica that dies hands its tenants over within this.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

const LEASE_PREFIX: &str = "tidewatch:notifier:lease:";
const WAKE_CHANNEL: &str = "tidewatch:notifier:wake";

/// Take the lease if free, renew it if ours; 1 when we hold it afterwards.
const HOLD: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Give the lease up, if it is still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// What a wake-up asks of the holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Rows were written: read the outbox.
    Outbox,
    /// Channels, silences, mute timings or inhibit rules changed: read them again.
    Config,
}

impl Wake {
    fn as_str(self) -> &'static str {
        match self {
            Wake::Outbox => "outbox",
            Wake::Config => "config",
        }
    }

    /// `<tenant id> <outbox|config>`, as published.
    fn payload(self, tenant: TenantId) -> String {
        format!("{tenant} {}", self.as_str())
    }

    /// Reads back what [`Wake::payload`] wrote.
    pub fn parse(payload: &str) -> Option<(TenantId, Wake)> {
        let (tenant, kind) = payload.split_once(' ')?;
        let wake = match kind {
            "outbox" => Wake::Outbox,
            "config" => Wake::Config,
            _ => return None,
        };
        Some((tenant.parse().ok()?, wake))
    }
}

/// This process's link to the other replicas; one per process.
pub struct Replicas {
    client: redis::Client,
    /// Names this process in the leases it holds.
    id: String,
    connection: OnceCell<ConnectionManager>,
}

impl Replicas {
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            id: uuid::Uuid::new_v4().to_string(),
            connection: OnceCell::new(),
        }
    }

    /// The value this process writes to the leases it holds.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The Redis key of a tenant's delivery lease.
    fn lease_key(tenant: TenantId) -> String {
        format!("{LEASE_PREFIX}{tenant}")
    }

    /// Connected on first use (so a Redis that is down at start delays nothing else);
    /// reconnects by itself afterwards.
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_millis(500)));
                self.client.get_connection_manager_with_config(config)
            })
            .await
            .cloned()
    }

    /// Runs a lease script on the tenant's lease with this process's id and `extra`
    /// arguments; the script's answer.
    async fn on_lease(
        &self,
        script: &str,
        tenant: TenantId,
        extra: &[u64],
    ) -> redis::RedisResult<i64> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(script)
            .arg(1)
            .arg(Self::lease_key(tenant))
            .arg(&self.id)
            .arg(extra);
        command.query_async(&mut self.connection().await?).await
    }

    /// Takes or renews the tenant's lease; whether this process holds it now.
    pub async fn hold(&self, tenant: TenantId) -> redis::RedisResult<bool> {
        let ttl_ms = LEASE_TTL.as_millis() as u64;
        Ok(self.on_lease(HOLD, tenant, &[ttl_ms]).await? == 1)
    }

    /// Gives the tenant's lease up (the tenant stops here), so another replica takes it
    /// at once rather than after [`LEASE_TTL`].
    pub async fn release(&self, tenant: TenantId) -> redis::RedisResult<()> {
        self.on_lease(RELEASE, tenant, &[]).await.map(drop)
    }

    /// Tells whichever replica holds the tenant's lease to look now.
    pub async fn wake(&self, tenant: TenantId, wake: Wake) -> redis::RedisResult<()> {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(WAKE_CHANNEL)
            .arg(wake.payload(tenant))
            .query_async(&mut self.connection().await?)
            .await?;
        Ok(())
    }

    /// Listens for wake-ups for as long as the process runs (reconnecting after Redis
    /// goes away) and hands each to `on_wake`.
    pub async fn listen(&self, on_wake: impl Fn(TenantId, Wake)) {
        let mut failures = 0u32;
        loop {
            match self.subscribe().await {
                Ok(mut pubsub) => {
                    failures = 0;
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let parsed = message
                            .get_payload::<String>()
                            .ok()
                            .and_then(|payload| Wake::parse(&payload));
                        if let Some((tenant, wake)) = parsed {
                            on_wake(tenant, wake);
                        }
                    }
                    tracing::warn!("the Redis wake-up subscription ended; subscribing again");
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %e, "subscribing to notifier wake-ups in Redis failed; retrying (the outbox is still polled)");
                    }
                }
            }
            actix_rt::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(WAKE_CHANNEL).await?;
        Ok(pubsub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_read_back_as_written() {
        let tenant = TenantId::generate();
        for wake in [Wake::Outbox, Wake::Config] {
            assert_eq!(Wake::parse(&wake.payload(tenant)), Some((tenant, wake)));
        }
        assert_eq!(Wake::parse("not-a-tenant outbox"), None);
        assert_eq!(Wake::parse(&format!("{tenant} other")), None);
        assert_eq!(Wake::parse(&tenant.to_string()), None);
    }
}
