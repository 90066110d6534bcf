//! Tracing set-up: human-readable or JSON lines, filtered by the configured level.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (several apps in one test process)
/// are ignored because the first subscriber already serves them all.
/// `level` was checked by [`crate::config::Config::validate`]; should it still not parse,
/// this is an error rather than a silent `info`.
pub fn init(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| anyhow::anyhow!("TIDEWATCH_LOG_LEVEL \"{level}\": {e}"))?;
    // Logs go to stderr so that command output on stdout (`tidewatch admin …`) stays
    // machine-readable; colour only when a person is watching.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // An error means a subscriber is already installed, which is what we want.
    drop(installed);
    Ok(())
}
