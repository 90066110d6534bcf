//! Builds the whole application (store, actors, HTTP server) from a [`Config`]. `main`
//! and the integration tests call the same [`Application::build`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use tracing_actix_web::TracingLogger;

use crate::actors::aggregator::AggregatorConfig;
use crate::actors::evaluator::{AlertDataSlot, EvaluatorConfig};
use crate::actors::login_throttle::{LoginThrottle, ThrottleLimits};
use crate::actors::persister::{Persister, PersisterLimits};
use crate::actors::registry::TenantRegistryHandle;
use crate::actors::supervisor::TenantServices;
use crate::auth::jwt::{load_or_create_secret, JwtKeys};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::time::{SharedClock, SystemClock};
use crate::http::error::{json_error, path_error, query_error};
pub use crate::http::state::AppState;
use crate::metrics::{AlertDataAccess, MetricsReader, MetricsWriter, ReaderLimits};
use crate::query_threads::QueryThreads;
use crate::self_metrics::ServiceMetrics;
use crate::store::Store;

/// A built, not yet running, application.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    generated_admin_password: Option<String>,
}

impl Application {
    /// Binds `config.bind` and builds everything. Must run inside an actix system.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("binding TIDEWATCH_BIND={}", config.bind))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds on an already bound listener (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_with_clock(config, listener, SystemClock::shared()).await
    }

    /// Builds with the given clock for the decisions that read one (tests move time on).
    pub async fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        crate::panic_net::install_hook();
        let store = Store::connect_with(
            &config.database_url,
            config.database_max_connections,
            Duration::from_secs(config.database_acquire_timeout_secs),
        )
        .await
        .context("connecting to DATABASE_URL")?;
        if let Some(setting) = store.weak_synchronous_commit().await? {
            tracing::warn!(
                synchronous_commit = %setting,
                "PostgreSQL's synchronous_commit is not on: a server crash can lose commits Tidewatch has acknowledged; set synchronous_commit = on"
            );
        }
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        let secret = load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)
            .with_context(|| {
                format!("loading the JWT secret from {}", config.data_dir.display())
            })?;
        let jwt = JwtKeys::new(
            &secret,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl_secs,
        );
        let generated_admin_password = crate::admin::ensure_platform_admin(&store, &config).await?;
        let redis = config
            .redis_url
            .as_deref()
            .map(redis::Client::open)
            .transpose()
            .context("REDIS_URL")?;

        let metrics = ServiceMetrics::new();
        let alert_data = AlertDataSlot::default();
        let notifier = Arc::new(crate::actors::notifier::NotifierConfig::from_config(
            &config,
            redis.clone(),
        ));
        let services = TenantServices {
            store: store.clone(),
            metrics: metrics.clone(),
            aggregator: AggregatorConfig::from_config(&config),
            evaluator: EvaluatorConfig {
                max_alerts_per_rule: config.alert_max_instances_per_rule,
                expression: config.expression_limits(),
            },
            alert_data: alert_data.clone(),
            clock: clock.clone(),
            evaluator_thread: actix::Arbiter::new().handle(),
            notifier: notifier.clone(),
            logs: crate::actors::log_pipeline::LogPipelineConfig::from_config(&config),
        };
        let tenants =
            TenantRegistryHandle::start(Duration::from_secs(config.tenant_idle_secs), services);
        // Its own thread: commits are waited on by every ingest request, and on the System
        // thread they queued behind the aggregators' work.
        let persister = {
            let (store, metrics) = (store.clone(), metrics.clone());
            Persister::start_in_arbiter(&actix::Arbiter::new().handle(), move |_| {
                Persister::new(store, PersisterLimits::default(), metrics)
            })
        };
        let log_persister = {
            let (store, metrics) = (store.clone(), metrics.clone());
            Persister::<crate::store::logs::LogBlockAppend>::start_in_arbiter(
                &actix::Arbiter::new().handle(),
                move |_| Persister::new(store, PersisterLimits::default(), metrics),
            )
        };
        let logs = crate::logs::LogsWriter::new(
            tenants.clone(),
            log_persister,
            metrics.clone(),
            config.record_limits(),
        );
        let logs_reader = crate::logs::LogsReader::new(
            store.clone(),
            crate::logs::LogReaderLimits {
                timeout: Duration::from_secs(config.query_timeout_secs),
                ..crate::logs::LogReaderLimits::default()
            },
        );
        let login_throttle = LoginThrottle::new(ThrottleLimits {
            per_account: config.login_max_failures_per_account,
            per_address: config.login_max_failures_per_address,
            window: Duration::from_secs(config.login_failure_window_secs),
        })
        .start();

        let query_threads = QueryThreads::start(
            match config.query_threads {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n,
            },
            config.query_queue,
        )
        .context("starting the query threads")?;
        let writer = MetricsWriter::new(
            tenants.clone(),
            persister,
            metrics.clone(),
            config.sample_limits(),
            clock.clone(),
        );
        let reader = MetricsReader::new(
            tenants.clone(),
            store.clone(),
            query_threads,
            ReaderLimits {
                timeout: Duration::from_secs(config.query_timeout_secs),
                max_series: config.query_max_series,
                max_points_per_series: config.query_max_points_per_series,
                expression: config.expression_limits(),
            },
        );
        let _ = alert_data.set(Arc::new(AlertDataAccess {
            reader: reader.clone(),
            writer: writer.clone(),
            logs: logs_reader.clone(),
            timeout: Duration::from_millis(config.alert_eval_timeout_ms),
        }));
        wake_alerting_tenants(store.clone(), tenants.clone());
        apply_log_retention(store.clone(), clock.clone(), config.log_retention_days);
        compact_logs(store.clone(), clock.clone(), &config);
        listen_for_notifier_wakes(&notifier, tenants.clone());
        let auth = Authenticator::new(
            store.clone(),
            jwt,
            login_throttle,
            config.refresh_token_ttl_secs,
            clock.clone(),
        );
        let syslog = crate::logs::syslog::start(
            crate::logs::syslog::SyslogConfig {
                tcp_bind: config.syslog_tcp_bind.clone(),
                udp_bind: config.syslog_udp_bind.clone(),
                tls_bind: config.syslog_tls_bind.clone(),
                tls_cert: config.syslog_tls_cert.clone(),
                tls_key: config.syslog_tls_key.clone(),
                api_key: config.syslog_api_key.clone(),
            },
            auth.clone(),
            logs.clone(),
            clock.clone(),
            metrics.syslog_dropped_messages.clone(),
        )
        .await?;
        let max_body = config.max_body_bytes;
        let body_timeout =
            crate::http::body::BodyTimeout(Duration::from_secs(config.body_timeout_secs));
        let workers = config.workers;
        let shutdown_timeout = config.shutdown_timeout_secs;
        let state = web::Data::new(AppState {
            config: Arc::new(config),
            store,
            auth,
            tenants,
            writer,
            decoder_memory: crate::ingest::DecoderMemory::default(),
            reader,
            logs,
            logs_reader,
            syslog,
            metrics,
            redis,
            started_at_ms: clock.now_ms(),
            clock,
            notifier,
        });
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(body_timeout)
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(json_error),
                )
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .configure(crate::http::configure)
                .default_service(web::to(crate::http::middleware::unknown_route))
                .wrap(from_fn(crate::http::middleware::catch_request_panics))
                .wrap(from_fn(crate::http::body::limit_body_time))
                .wrap(from_fn(crate::http::middleware::observe_request))
                .wrap(TracingLogger::default())
        })
        .shutdown_timeout(shutdown_timeout);
        if workers > 0 {
            server = server.workers(workers);
        }
        let port = listener.local_addr()?.port();
        let server = server.listen(listener)?.run();
        Ok(Self {
            port,
            server,
            state,
            generated_admin_password,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The platform admin password generated on this start, if one was.
    pub fn generated_admin_password(&self) -> Option<&str> {
        self.generated_admin_password.as_deref()
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        if let Err(e) = self.state.tenants.shutdown(TENANT_SHUTDOWN_WAIT).await {
            tracing::warn!(error = %e, "stopping tenant actors at shutdown");
        }
        Ok(())
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Runs the server in the background of the current actix system.
    pub fn spawn(self) -> (u16, web::Data<AppState>, actix_web::dev::ServerHandle) {
        let handle = self.server.handle();
        let (port, state) = (self.port, self.state.clone());
        actix_web::rt::spawn(self.server);
        (port, state, handle)
    }
}

/// How long shutdown waits for tenants' actors to finish what they are writing.
const TENANT_SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// With Redis: another replica wrote a tenant's outbox; the tenant's notifier here looks
/// if it is the one delivering (a tenant not running here has nothing to deliver here).
fn listen_for_notifier_wakes(
    notifier: &crate::actors::notifier::NotifierConfig,
    tenants: TenantRegistryHandle,
) {
    let Some(replicas) = notifier.replicas.clone() else {
        return;
    };
    actix_rt::spawn(async move {
        replicas
            .listen(|tenant, wake| {
                if let Some(actors) = tenants.running_actors(tenant) {
                    actors
                        .notifier
                        .do_send(crate::actors::notifier::RemoteWake(wake));
                }
            })
            .await
    });
}

/// Log retention for every tenant, at start and every ten minutes after.
fn apply_log_retention(store: Store, clock: SharedClock, retention_days: u64) {
    actix_rt::spawn(async move {
        loop {
            crate::actors::log_pipeline::sweep_all_tenants(&store, &clock, retention_days).await;
            tokio::time::sleep(crate::actors::log_pipeline::RETENTION_EVERY).await;
        }
    });
}

/// Merges committed log blocks into time-partitioned ones, every
/// `TIDEWATCH_LOG_COMPACTION_INTERVAL_SECS` (0: never), for every tenant.
fn compact_logs(store: Store, clock: SharedClock, config: &Config) {
    if config.log_compaction_interval_secs == 0 {
        return;
    }
    let every = Duration::from_secs(config.log_compaction_interval_secs);
    let policy = crate::logs::compactor::CompactionPolicy {
        min_age: Duration::from_secs(config.log_compaction_min_age_secs),
        ..Default::default()
    };
    actix_rt::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            crate::logs::compactor::compact_all_tenants(&store, &clock, policy, 100).await;
        }
    });
}

/// Tenants with alert rules must be evaluated from the start, not on their first request:
/// their evaluators load rules, rebuild windows and resume (no-data and PromQL rules need
/// no request to run).
fn wake_alerting_tenants(store: Store, tenants: TenantRegistryHandle) {
    actix_rt::spawn(async move {
        match store.tenants_with_enabled_alert_rules().await {
            Ok(ids) => {
                for tenant in ids {
                    if let Err(e) = tenants.actors(tenant).await {
                        tracing::warn!(%tenant, error = %e, "starting the tenant's alert evaluator failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing tenants with alert rules failed"),
        }
    });
}
