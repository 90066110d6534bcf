//! One typed configuration, read once at start from defaults, an optional TOML file and
//! the environment (environment wins). Nothing else in the crate reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::domain::time::DAY_MS;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Every option of the service. Field `x` is set by `TIDEWATCH_X` or by `x = …` in the
/// config file; `database_url` and `redis_url` also by the conventional `DATABASE_URL`
/// and `REDIS_URL`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// SQLite (`sqlite://…`) or PostgreSQL (`postgres://…`) connection string.
    pub database_url: String,
    /// Maximum database connections in the pool.
    pub database_max_connections: u32,
    /// Redis for queues and cross-replica pub/sub; unset means in-process.
    pub redis_url: Option<String>,
    /// Directory for local state (SQLite file, generated JWT secret).
    pub data_dir: PathBuf,
    /// HS256 secret for access tokens; unset means generate one into `data_dir`.
    pub jwt_secret: Option<String>,
    /// `iss` claim written into and required of access tokens.
    pub jwt_issuer: String,
    /// `aud` claim written into and required of access tokens.
    pub jwt_audience: String,
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token, in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Email of the platform admin created on first start.
    pub admin_email: String,
    /// Password of that admin; unset means generate one and log it once.
    pub admin_password: Option<String>,
    /// Largest accepted JSON request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Failed logins per account within the window before 429.
    pub login_max_failures_per_account: u32,
    /// Failed logins per client address within the window before 429.
    pub login_max_failures_per_address: u32,
    /// Length of the failed-login window, in seconds.
    pub login_failure_window_secs: u64,
    /// A tenant's supervisor actor stops after this many seconds without messages.
    pub tenant_idle_secs: u64,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Largest ingest body, in bytes, after decompression (413 above it).
    pub ingest_max_body_bytes: usize,
    /// Recent raw samples each tenant keeps in memory, in seconds.
    pub head_window_secs: u64,
    /// Active series a tenant may have (422 for a batch that would exceed it).
    pub max_series_per_tenant: usize,
    /// Sustained ingest rate per tenant, samples per second (429 above it).
    pub ingest_samples_per_sec: u64,
    /// Burst allowance above that rate, in samples.
    pub ingest_burst_samples: u64,
    /// Raw samples are kept this many days.
    pub raw_retention_days: u64,
    /// 1 min and 1 h rollups are kept this many days.
    pub rollup_retention_days: u64,
    /// A tenant checkpoints (seals chunks, trims the write-ahead table) after this many
    /// samples …
    pub checkpoint_after_samples: usize,
    /// … or this many seconds, whichever comes first.
    pub checkpoint_interval_secs: u64,
    /// Longest a query may run, in seconds.
    pub query_timeout_secs: u64,
    /// Most series one query may select.
    pub query_max_series: usize,
    /// Most points per series a range query may return (Prometheus: 11,000).
    pub query_max_points_per_series: usize,
    /// Longest query expression, in bytes (400 above it, before parsing).
    pub query_max_length: usize,
    /// Deepest query expression: brackets plus operators along one path (400 above it,
    /// before parsing).
    pub query_max_depth: usize,
    /// Most series selectors in one query expression.
    pub query_max_selectors: usize,
    /// Most label matchers in one query expression, over all its selectors.
    pub query_max_matchers: usize,
    /// Threads that parse and evaluate queries; 0 means one per CPU core.
    pub query_threads: usize,
    /// Queries that may wait for a query thread; more are answered 503 at once.
    pub query_queue: usize,
    /// Longest time a client may take to send a request body, in seconds (408 past it).
    pub body_timeout_secs: u64,
    /// Longest a request waits for a database connection, in seconds (503 past it).
    pub database_acquire_timeout_secs: u64,
    /// Alert rules a tenant may have (422 past it).
    pub alert_max_rules: u64,
    /// Alerts (groups) one rule may have at once: a threshold rule ignores new groups past
    /// it, a PromQL rule whose result has more series fails, both with a visible error.
    pub alert_max_instances_per_rule: usize,
    /// Longest one PromQL rule's evaluation may take, in milliseconds.
    pub alert_eval_timeout_ms: u64,
    /// The SMTP server e-mail channels use: `smtp://host:2525` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`.
    pub smtp_url: Option<String>,
    /// The sender of notification e-mails, e.g. `Tidewatch <alerts@example.com>`.
    pub smtp_from: Option<String>,
    /// Where users reach Tidewatch, for links in notifications; default `http://` + bind.
    pub external_url: Option<String>,
    /// Longest one notification attempt may take, in seconds.
    pub notify_timeout_secs: u64,
    /// Attempts per notification before it becomes a dead letter.
    pub notify_max_attempts: u32,
    /// Longest wait between two attempts, in seconds (backoff doubles from 1 s up to it).
    pub notify_backoff_max_secs: u64,
    /// Notifications in flight per channel at once.
    pub notify_channel_concurrency: usize,
    /// Messages per minute one tenant's channels may send together; more wait, recorded
    /// as `throttled`.
    pub notify_tenant_max_per_minute: u32,
    /// Messages per minute for a channel without its own `max_per_minute` (SMS channels:
    /// a sixth of it, at least 1).
    pub notify_channel_max_per_minute: u32,
    /// How often, in milliseconds, the notifier looks at the outbox without being told
    /// to (transitions, and with Redis other replicas, wake it at once).
    pub notify_poll_ms: u64,
    /// Sustained log ingest per tenant, records per second (429 above it; bursts of
    /// twice this pass).
    pub log_ingest_records_per_sec: u64,
    /// Log records are kept this many days.
    pub log_retention_days: u64,
    /// How often committed log blocks are compacted into time-partitioned ones; 0: never.
    pub log_compaction_interval_secs: u64,
    /// Blocks committed more recently than this are left for a later round.
    pub log_compaction_min_age_secs: u64,
    /// A bigger log record is cut to this size and marked `truncated: true`.
    pub log_max_record_bytes: usize,
    /// Fields one log record may have (400 above it).
    pub log_max_fields: usize,
    /// Stream labels one log record may have (400 above it).
    pub log_max_labels: usize,
    /// Distinct streams (label sets with service and host) a tenant may send to within an
    /// hour (422 for a batch that would exceed it).
    pub log_max_streams: usize,
    /// Address of the syslog TCP listener (octet counting and newline framing); unset:
    /// no listener.
    pub syslog_tcp_bind: Option<String>,
    /// Address of the syslog UDP listener; unset: no listener.
    pub syslog_udp_bind: Option<String>,
    /// Address of the syslog TLS listener (RFC 5425, octet counting or newline framing
    /// inside TLS); unset: no listener. Needs `syslog_tls_cert` and `syslog_tls_key`.
    pub syslog_tls_bind: Option<String>,
    /// PEM file of the TLS listener's certificate chain (leaf first).
    pub syslog_tls_cert: Option<String>,
    /// PEM file of its private key (PKCS#8, PKCS#1 or SEC1).
    pub syslog_tls_key: Option<String>,
    /// The ingest API key whose tenant syslog messages belong to (syslog carries no
    /// credential); required when a listener is set, checked at start and every 5 s.
    pub syslog_api_key: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info` or `tidewatch=debug,info`.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        // The query engine's own defaults, so each value has one source.
        let expression = crate::promql::ExpressionLimits::default();
        let query = crate::promql::QueryLimits::default();
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://./data/tidewatch.db?mode=rwc".into(),
            database_max_connections: 16,
            redis_url: None,
            data_dir: PathBuf::from("./data"),
            jwt_secret: None,
            jwt_issuer: "tidewatch".into(),
            jwt_audience: "tidewatch-api".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            admin_email: "admin@tidewatch.local".into(),
            admin_password: None,
            max_body_bytes: 1024 * 1024,
            login_max_failures_per_account: 5,
            login_max_failures_per_address: 20,
            login_failure_window_secs: 900,
            tenant_idle_secs: 600,
            workers: 0,
            shutdown_timeout_secs: 30,
            ingest_max_body_bytes: 16 * 1024 * 1024,
            head_window_secs: 2 * 3600,
            max_series_per_tenant: 1_000_000,
            ingest_samples_per_sec: 5_000_000,
            ingest_burst_samples: 10_000_000,
            raw_retention_days: 15,
            rollup_retention_days: 400,
            checkpoint_after_samples: 2_000_000,
            checkpoint_interval_secs: 300,
            query_timeout_secs: query.timeout.as_secs(),
            query_max_series: query.max_series,
            query_max_points_per_series: query.max_points_per_series,
            query_max_length: expression.max_length,
            query_max_depth: expression.max_depth,
            query_max_selectors: expression.max_selectors,
            query_max_matchers: expression.max_matchers,
            query_threads: 0,
            query_queue: 64,
            body_timeout_secs: 30,
            database_acquire_timeout_secs: 2,
            alert_max_rules: 1000,
            alert_max_instances_per_rule: 1000,
            alert_eval_timeout_ms: 10_000,
            smtp_url: None,
            smtp_from: None,
            external_url: None,
            notify_timeout_secs: 10,
            notify_max_attempts: 8,
            notify_backoff_max_secs: 300,
            notify_channel_concurrency: 4,
            notify_tenant_max_per_minute: 600,
            notify_channel_max_per_minute: 60,
            notify_poll_ms: 1000,
            log_ingest_records_per_sec: 500_000,
            log_retention_days: 7,
            log_compaction_interval_secs: 10,
            log_compaction_min_age_secs: 30,
            log_max_record_bytes: 64 * 1024,
            log_max_fields: 256,
            log_max_labels: 15,
            log_max_streams: 10_000,
            syslog_tcp_bind: None,
            syslog_udp_bind: None,
            syslog_tls_bind: None,
            syslog_tls_cert: None,
            syslog_tls_key: None,
            syslog_api_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
        }
    }
}

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid {
                    key: "--config",
                    message: format!("file {} does not exist", path.display()),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .merge(Env::prefixed("TIDEWATCH_"))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: addresses, URL schemes, non-zero limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.bind.parse::<SocketAddr>().is_err() {
            return invalid(
                "TIDEWATCH_BIND",
                format!(
                    "\"{}\" is not a socket address like 127.0.0.1:8080",
                    self.bind
                ),
            );
        }
        let scheme_ok = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| self.database_url.starts_with(p));
        if !scheme_ok {
            return invalid(
                "DATABASE_URL",
                "must start with sqlite: or postgres://".into(),
            );
        }
        if let Some(url) = &self.redis_url {
            if let Err(e) = redis::Client::open(url.as_str()) {
                return invalid("REDIS_URL", format!("\"{url}\" is not a Redis URL: {e}"));
            }
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                return invalid(
                    "TIDEWATCH_JWT_SECRET",
                    "must be at least 32 bytes long".into(),
                );
            }
        }
        if !(10..=60_000).contains(&self.notify_poll_ms) {
            return invalid(
                "TIDEWATCH_NOTIFY_POLL_MS",
                "must be from 10 to 60000".into(),
            );
        }
        let positive: [(&'static str, u64); 41] = [
            ("TIDEWATCH_NOTIFY_TIMEOUT_SECS", self.notify_timeout_secs),
            (
                "TIDEWATCH_NOTIFY_MAX_ATTEMPTS",
                self.notify_max_attempts.into(),
            ),
            (
                "TIDEWATCH_NOTIFY_BACKOFF_MAX_SECS",
                self.notify_backoff_max_secs,
            ),
            (
                "TIDEWATCH_NOTIFY_CHANNEL_CONCURRENCY",
                self.notify_channel_concurrency as u64,
            ),
            (
                "TIDEWATCH_NOTIFY_TENANT_MAX_PER_MINUTE",
                self.notify_tenant_max_per_minute.into(),
            ),
            (
                "TIDEWATCH_NOTIFY_CHANNEL_MAX_PER_MINUTE",
                self.notify_channel_max_per_minute.into(),
            ),
            ("TIDEWATCH_ALERT_MAX_RULES", self.alert_max_rules),
            (
                "TIDEWATCH_ALERT_MAX_INSTANCES_PER_RULE",
                self.alert_max_instances_per_rule as u64,
            ),
            (
                "TIDEWATCH_ALERT_EVAL_TIMEOUT_MS",
                self.alert_eval_timeout_ms,
            ),
            ("TIDEWATCH_QUERY_MAX_LENGTH", self.query_max_length as u64),
            ("TIDEWATCH_QUERY_MAX_DEPTH", self.query_max_depth as u64),
            (
                "TIDEWATCH_QUERY_MAX_SELECTORS",
                self.query_max_selectors as u64,
            ),
            (
                "TIDEWATCH_QUERY_MAX_MATCHERS",
                self.query_max_matchers as u64,
            ),
            ("TIDEWATCH_QUERY_QUEUE", self.query_queue as u64),
            ("TIDEWATCH_BODY_TIMEOUT_SECS", self.body_timeout_secs),
            (
                "TIDEWATCH_DATABASE_ACQUIRE_TIMEOUT_SECS",
                self.database_acquire_timeout_secs,
            ),
            (
                "TIDEWATCH_INGEST_MAX_BODY_BYTES",
                self.ingest_max_body_bytes as u64,
            ),
            ("TIDEWATCH_HEAD_WINDOW_SECS", self.head_window_secs),
            (
                "TIDEWATCH_MAX_SERIES_PER_TENANT",
                self.max_series_per_tenant as u64,
            ),
            (
                "TIDEWATCH_INGEST_SAMPLES_PER_SEC",
                self.ingest_samples_per_sec,
            ),
            ("TIDEWATCH_INGEST_BURST_SAMPLES", self.ingest_burst_samples),
            ("TIDEWATCH_RAW_RETENTION_DAYS", self.raw_retention_days),
            (
                "TIDEWATCH_LOG_INGEST_RECORDS_PER_SEC",
                self.log_ingest_records_per_sec,
            ),
            ("TIDEWATCH_LOG_RETENTION_DAYS", self.log_retention_days),
            (
                "TIDEWATCH_LOG_MAX_RECORD_BYTES",
                self.log_max_record_bytes as u64,
            ),
            ("TIDEWATCH_LOG_MAX_FIELDS", self.log_max_fields as u64),
            ("TIDEWATCH_LOG_MAX_LABELS", self.log_max_labels as u64),
            ("TIDEWATCH_LOG_MAX_STREAMS", self.log_max_streams as u64),
            (
                "TIDEWATCH_ROLLUP_RETENTION_DAYS",
                self.rollup_retention_days,
            ),
            (
                "TIDEWATCH_CHECKPOINT_AFTER_SAMPLES",
                self.checkpoint_after_samples as u64,
            ),
            (
                "TIDEWATCH_CHECKPOINT_INTERVAL_SECS",
                self.checkpoint_interval_secs,
            ),
            ("TIDEWATCH_QUERY_TIMEOUT_SECS", self.query_timeout_secs),
            ("TIDEWATCH_QUERY_MAX_SERIES", self.query_max_series as u64),
            (
                "TIDEWATCH_QUERY_MAX_POINTS_PER_SERIES",
                self.query_max_points_per_series as u64,
            ),
            (
                "TIDEWATCH_ACCESS_TOKEN_TTL_SECS",
                self.access_token_ttl_secs,
            ),
            (
                "TIDEWATCH_REFRESH_TOKEN_TTL_SECS",
                self.refresh_token_ttl_secs,
            ),
            ("TIDEWATCH_MAX_BODY_BYTES", self.max_body_bytes as u64),
            (
                "TIDEWATCH_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.login_max_failures_per_account.into(),
            ),
            (
                "TIDEWATCH_LOGIN_MAX_FAILURES_PER_ADDRESS",
                self.login_max_failures_per_address.into(),
            ),
            (
                "TIDEWATCH_LOGIN_FAILURE_WINDOW_SECS",
                self.login_failure_window_secs,
            ),
            (
                "TIDEWATCH_DATABASE_MAX_CONNECTIONS",
                self.database_max_connections.into(),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return invalid(key, "must be greater than 0".into());
            }
        }
        if let Some(url) = &self.smtp_url {
            use lettre::{AsyncSmtpTransport, Tokio1Executor};
            if AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_err() {
                return invalid(
                    "TIDEWATCH_SMTP_URL",
                    "must be smtp://host:port, smtp://host:port?tls=required or smtps://user:pass@host:465".into(),
                );
            }
        }
        if let Some(from) = &self.smtp_from {
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return invalid(
                    "TIDEWATCH_SMTP_FROM",
                    format!("{from:?} is not an address like Tidewatch <alerts@example.com>"),
                );
            }
        }
        if let Some(url) = &self.external_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(
                    "TIDEWATCH_EXTERNAL_URL",
                    "must be an http:// or https:// URL".into(),
                );
            }
        }
        if let Some(password) = &self.admin_password {
            if let Err(e) = crate::domain::Password::parse(password) {
                return invalid("TIDEWATCH_ADMIN_PASSWORD", e.message);
            }
        }
        if let Err(e) = crate::domain::Email::parse(&self.admin_email) {
            return invalid("TIDEWATCH_ADMIN_EMAIL", e.message);
        }
        if let Err(message) = check_log_filter(&self.log_level) {
            return invalid("TIDEWATCH_LOG_LEVEL", message);
        }
        Ok(())
    }

    /// Limits every ingested sample is checked against.
    pub fn sample_limits(&self) -> crate::domain::metrics::SampleLimits {
        crate::domain::metrics::SampleLimits {
            max_age_ms: self.raw_retention_days as i64 * DAY_MS,
            ..crate::domain::metrics::SampleLimits::default()
        }
    }

    /// Limits every log record is held to.
    pub fn record_limits(&self) -> crate::domain::logs::RecordLimits {
        crate::domain::logs::RecordLimits {
            max_record_bytes: self.log_max_record_bytes,
            max_fields: self.log_max_fields,
            max_labels: self.log_max_labels,
            max_streams: self.log_max_streams,
        }
    }

    /// Limits every query expression is checked against.
    pub fn expression_limits(&self) -> crate::promql::ExpressionLimits {
        crate::promql::ExpressionLimits {
            max_length: self.query_max_length,
            max_depth: self.query_max_depth,
            max_selectors: self.query_max_selectors,
            max_matchers: self.query_max_matchers,
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// A tracing filter whose every directive is a level (`info`) or `target=level`
/// (`tidewatch=debug`). A bare word that is not a level would parse as a target and
/// silently log almost nothing, so it is refused too.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let explain = |detail: String| {
        format!("\"{filter}\" is not a log filter like info or tidewatch=debug,info: {detail}")
    };
    for directive in filter.split(',').map(str::trim) {
        let bare_word = !directive.contains(['=', '[', ':']);
        if directive.is_empty()
            || (bare_word && !LEVELS.contains(&directive.to_lowercase().as_str()))
        {
            return Err(explain(format!(
                "{directive:?} is neither a level ({}) nor target=level",
                LEVELS.join(", ")
            )));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| explain(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its own large error type
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    type BreakConfig = fn(&mut Config);

    #[test]
    fn invalid_values_name_their_key() {
        let cases: [(BreakConfig, &str); 8] = [
            (|c| c.bind = "nowhere".into(), "TIDEWATCH_BIND"),
            (|c| c.notify_poll_ms = 5, "TIDEWATCH_NOTIFY_POLL_MS"),
            (|c| c.database_url = "mysql://x".into(), "DATABASE_URL"),
            (|c| c.redis_url = Some("http://x".into()), "REDIS_URL"),
            (
                |c| c.jwt_secret = Some("short".into()),
                "TIDEWATCH_JWT_SECRET",
            ),
            (|c| c.max_body_bytes = 0, "TIDEWATCH_MAX_BODY_BYTES"),
            (|c| c.log_level = "loud".into(), "TIDEWATCH_LOG_LEVEL"),
            (
                |c| c.log_level = "tidewatch=loud".into(),
                "TIDEWATCH_LOG_LEVEL",
            ),
        ];
        for (break_it, key) in cases {
            let mut config = Config::default();
            break_it(&mut config);
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(key), "{message} should name {key}");
        }
    }

    #[test]
    fn log_filters_are_levels_or_directives() {
        for good in [
            "info",
            "DEBUG",
            "tidewatch=debug,info",
            "warn,actix_web=error",
            "off",
        ] {
            assert_eq!(check_log_filter(good), Ok(()), "{good}");
        }
        for bad in ["", "verbose", "info,", "tidewatch=loud"] {
            assert!(check_log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tw.toml",
                "bind = \"127.0.0.1:9000\"\nlog_level = \"debug\"",
            )?;
            jail.set_env("TIDEWATCH_BIND", "127.0.0.1:9001");
            jail.set_env("DATABASE_URL", "postgres://db/x");
            let config = Config::load(Some(Path::new("tw.toml"))).expect("loads");
            assert_eq!(config.bind, "127.0.0.1:9001");
            assert_eq!(config.log_level, "debug");
            assert_eq!(config.database_url, "postgres://db/x");
            Ok(())
        });
    }

    #[test]
    fn a_mistyped_environment_value_fails_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TIDEWATCH_MAX_BODY_BYTES", "lots");
            let message = Config::load(None).unwrap_err().to_string();
            assert!(
                message.to_lowercase().contains("max_body_bytes"),
                "{message}"
            );
            Ok(())
        });
    }
}
