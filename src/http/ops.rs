//! Operations endpoints: liveness, readiness, the service's own metrics, the landing page.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or the error.
    pub database: String,
    /// `ok`, `not_configured`, or the error.
    pub redis: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessBody {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub checks: ReadinessChecks,
    /// Conditions that do not stop serving but weaken a promise, e.g. PostgreSQL's
    /// `synchronous_commit` not `on` (an acknowledged commit could be lost on a crash).
    pub warnings: Vec<String>,
}

/// The process is up.
#[utoipa::path(responses((status = 200, body = HealthBody)), tag = "ops")]
#[get("/healthz")]
pub async fn healthz() -> web::Json<HealthBody> {
    web::Json(HealthBody { status: "ok" })
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn check_redis(client: &redis::Client) -> Result<(), String> {
    let ping = async {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("timed out".into()),
    }
}

/// The database and (when configured) Redis answer; 503 otherwise.
#[utoipa::path(responses((status = 200, body = ReadinessBody), (status = 503, body = ReadinessBody)), tag = "ops")]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let redis = match &state.redis {
        Some(client) => check_redis(client).await.map(|()| "ok"),
        None => Ok("not_configured"),
    };
    let ready = database.is_ok() && redis.is_ok();
    let mut warnings = Vec::new();
    if database.is_ok() {
        if let Ok(Ok(Some(setting))) =
            tokio::time::timeout(CHECK_TIMEOUT, state.store.weak_synchronous_commit()).await
        {
            warnings.push(format!(
                "PostgreSQL synchronous_commit is {setting:?}, not \"on\": a database crash can lose acknowledged writes"
            ));
        }
    }
    let body = ReadinessBody {
        status: if ready { "ready" } else { "not_ready" },
        checks: ReadinessChecks {
            database: database.map(|()| "ok".to_owned()).unwrap_or_else(|e| e),
            redis: redis.map(str::to_owned).unwrap_or_else(|e| e),
        },
        warnings,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The service's own metrics in Prometheus text format.
#[utoipa::path(responses((status = 200, content_type = "text/plain", body = String)), tag = "ops")]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// The landing page from `static/`, built into the binary so it runs from anywhere.
#[get("/")]
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("../../static/index.html"))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root(healthz, __path_healthz);
    routes.root(readyz, __path_readyz);
    routes.root(metrics, __path_metrics);
    routes.root_undocumented(index);
}
