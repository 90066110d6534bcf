//! The `tidewatch` command: `serve` (default), `migrate`, and `admin …` for bootstrap and
//! break-glass work.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidewatch::app::Application;
use tidewatch::config::Config;
use tidewatch::domain::{ApiKeyScope, Role};
use tidewatch::store::Store;
use tidewatch::{admin, telemetry};

/// mimalloc rather than glibc's malloc: ingest allocates a few small strings per sample
/// on every HTTP worker at once, and glibc's arenas spent a fifth of the workers' CPU on
/// it (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Multi-tenant monitoring and alerting"
)]
struct Cli {
    /// A TOML file with configuration; TIDEWATCH_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Bootstrap and break-glass operations on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the subcommand names are a documented contract
enum AdminCommand {
    /// Create a tenant.
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: Option<String>,
    },
    /// Create a user (or reset an existing user's password) and add them to a tenant.
    CreateUser {
        #[arg(long)]
        email: String,
        /// Generated and printed when absent.
        #[arg(long)]
        password: Option<String>,
        /// Tenant slug or id.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "viewer")]
        role: Role,
        #[arg(long)]
        platform_admin: bool,
    },
    /// Create an API key for a tenant; prints the key once.
    CreateApiKey {
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: ingest, read, alerts.
        #[arg(long, value_delimiter = ',', default_value = "ingest")]
        scopes: Vec<ApiKeyScope>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(config.log_format, &config.log_level) {
        eprintln!("error: configuration key {e:#}");
        return ExitCode::from(2);
    }
    let outcome =
        actix_web::rt::System::new().block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config.clone()).await?;
            tracing::info!(bind = %config.bind, port = app.port(), "tidewatch listening");
            app.run_until_stopped().await?;
            tracing::info!("tidewatch stopped");
        }
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations applied");
        }
        Command::Admin(admin_command) => {
            let store = open_store(&config).await?;
            let output = match admin_command {
                AdminCommand::CreateTenant { name, slug } => {
                    admin::create_tenant(&store, &name, slug.as_deref()).await?
                }
                AdminCommand::CreateUser {
                    email,
                    password,
                    tenant,
                    role,
                    platform_admin,
                } => {
                    admin::create_user(
                        &store,
                        admin::CreateUserCommand {
                            email: &email,
                            password: password.as_deref(),
                            tenant: tenant.as_deref(),
                            role,
                            platform_admin,
                        },
                    )
                    .await?
                }
                AdminCommand::CreateApiKey {
                    tenant,
                    name,
                    scopes,
                } => admin::create_api_key(&store, &tenant, &name, &scopes).await?,
            };
            println!("{}", serde_json::to_string_pretty(&output)?);
        }
    }
    Ok(())
}
