//! What HTTP handlers reach: the components built at start, each one handed over
//! explicitly. Nothing below `http/` sees this type.

use std::sync::Arc;

use crate::actors::notifier::NotifierConfig;
use crate::actors::registry::TenantRegistryHandle;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::time::SharedClock;
use crate::ingest::DecoderMemory;
use crate::metrics::{MetricsReader, MetricsWriter};
use crate::self_metrics::ServiceMetrics;
use crate::store::Store;

/// The handlers' view of the application.
pub struct AppState {
    /// Request-level limits (body sizes, timeouts) the handlers apply.
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: Authenticator,
    pub tenants: TenantRegistryHandle,
    pub writer: MetricsWriter,
    /// What ingest decoders remember across requests.
    pub decoder_memory: DecoderMemory,
    pub reader: MetricsReader,
    /// The log write path.
    pub logs: crate::logs::LogsWriter,
    /// The log read path (search, histogram, fields).
    pub logs_reader: crate::logs::LogsReader,
    /// Where the syslog listeners listen, when configured.
    pub syslog: crate::logs::syslog::SyslogAddresses,
    pub metrics: ServiceMetrics,
    pub redis: Option<redis::Client>,
    /// "Now" for requests: samples without a timestamp, queries without a time.
    pub clock: SharedClock,
    /// When the process started (Alertmanager's `uptime`).
    pub started_at_ms: i64,
    /// How notifications are sent (channel tests send with it too).
    pub notifier: Arc<NotifierConfig>,
}
