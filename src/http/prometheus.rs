//! The Prometheus HTTP query API, same parameters and response JSON, so Grafana's
//! Prometheus data source works unchanged: `/api/v1/query`, `/query_range`, `/series`,
//! `/labels`, `/label/{name}/values`, `/status/buildinfo`. Errors keep Prometheus's
//! `status` and `errorType` fields beside Tidewatch's `error` object.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, route, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::extractor::TenantAccess;
use crate::auth::principal::Read;
use crate::domain::time::now_ms;
use crate::query::{parse, required_selections, Engine, QueryError, QueryLimits, Selection};
use crate::read_path::{matching_series, prefetch, ReadError};

/// An error in Prometheus's envelope.
#[derive(Debug)]
pub struct PromError {
    api: ApiError,
    error_type: &'static str,
}

impl std::fmt::Display for PromError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.api.fmt(f)
    }
}

impl ResponseError for PromError {
    fn status_code(&self) -> StatusCode {
        self.api.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.api.status).json(json!({
            "status": "error",
            "errorType": self.error_type,
            "error": {"code": self.api.code, "message": self.api.message},
        }))
    }
}

fn bad_data(message: impl Into<String>) -> PromError {
    PromError {
        api: ApiError::bad_request("bad_data", message),
        error_type: "bad_data",
    }
}

impl From<QueryError> for PromError {
    fn from(err: QueryError) -> Self {
        let error_type = err.error_type();
        let message = err.to_string();
        let api = match err {
            QueryError::BadData(_) => ApiError::bad_request("bad_data", message),
            QueryError::Unsupported(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported", message)
            }
            QueryError::LimitExceeded(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded", message)
            }
            QueryError::Execution(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "execution", message)
            }
            QueryError::Timeout => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
            }
        };
        Self { api, error_type }
    }
}

impl From<ReadError> for PromError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Query(q) => q.into(),
            other => Self {
                api: ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    other.to_string(),
                ),
                error_type: "unavailable",
            },
        }
    }
}

impl From<ApiError> for PromError {
    fn from(api: ApiError) -> Self {
        Self {
            api,
            error_type: "bad_data",
        }
    }
}

/// Request parameters from the query string and, for POST, the form body; `match[]`
/// may repeat.
struct Params(Vec<(String, String)>);

impl Params {
    fn from_request(req: &HttpRequest, body: &web::Bytes) -> Self {
        let mut pairs: Vec<(String, String)> = url_pairs(req.query_string().as_bytes());
        let form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            pairs.extend(url_pairs(body));
        }
        Self(pairs)
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn url_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A Prometheus time: Unix seconds (fractional allowed) or RFC 3339.
fn parse_time(text: &str, name: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok((seconds * 1000.0).round() as i64);
        }
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            bad_data(format!(
                "invalid parameter {name:?}: cannot parse {text:?} to a valid timestamp"
            ))
        })
}

/// A Prometheus duration: float seconds or `1m30s` style.
fn parse_duration(text: &str, name: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok((seconds * 1000.0).round() as i64);
        }
    }
    promql_parser::util::parse_duration(text)
        .map(|d: Duration| d.as_millis() as i64)
        .map_err(|_| {
            bad_data(format!(
                "invalid parameter {name:?}: cannot parse {text:?} to a valid duration"
            ))
        })
}

fn success(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "data": data}))
}

fn engine(state: &AppState, timeout_param: Option<&str>) -> Result<Engine, PromError> {
    let configured = Duration::from_secs(state.config.query_timeout_secs);
    let timeout = match timeout_param {
        Some(text) => {
            Duration::from_millis(parse_duration(text, "timeout")?.max(1) as u64).min(configured)
        }
        None => configured,
    };
    Ok(Engine::new(QueryLimits {
        max_points_per_series: state.config.query_max_points_per_series,
        max_series: state.config.query_max_series,
        timeout,
        ..QueryLimits::default()
    }))
}

async fn instant_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, PromError> {
    let query_text = params
        .one("query")
        .ok_or_else(|| bad_data("invalid parameter \"query\": missing"))?;
    let time = match params.one("time") {
        Some(text) => parse_time(text, "time")?,
        None => now_ms(),
    };
    let engine = engine(state, params.one("timeout"))?;
    let expr = parse(query_text)?;
    let selections = required_selections(&expr, time, time, engine.limits().lookback_ms);
    let data = prefetch(state, tenant, selections, state.config.query_max_series).await?;
    let value = web::block(move || engine.instant(&expr, time, &data))
        .await
        .map_err(|e| ApiError::internal(format!("query task: {e}")))??;
    Ok(success(value))
}

async fn range_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, PromError> {
    let query_text = params
        .one("query")
        .ok_or_else(|| bad_data("invalid parameter \"query\": missing"))?;
    let start = parse_time(
        params
            .one("start")
            .ok_or_else(|| bad_data("invalid parameter \"start\": missing"))?,
        "start",
    )?;
    let end = parse_time(
        params
            .one("end")
            .ok_or_else(|| bad_data("invalid parameter \"end\": missing"))?,
        "end",
    )?;
    let step = parse_duration(
        params
            .one("step")
            .ok_or_else(|| bad_data("invalid parameter \"step\": missing"))?,
        "step",
    )?;
    if end < start {
        return Err(bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    let engine = engine(state, params.one("timeout"))?;
    let points = (end - start) / step + 1;
    if points as usize > engine.limits().max_points_per_series {
        return Err(QueryError::LimitExceeded(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            engine.limits().max_points_per_series
        ))
        .into());
    }
    let expr = parse(query_text)?;
    let selections = required_selections(&expr, start, end, engine.limits().lookback_ms);
    let data = prefetch(state, tenant, selections, state.config.query_max_series).await?;
    let value = web::block(move || engine.range(&expr, start, end, step, &data))
        .await
        .map_err(|e| ApiError::internal(format!("query task: {e}")))??;
    Ok(success(value))
}

/// Instant query (`query`, `time`, `timeout`); GET or form POST.
#[utoipa::path(
    get,
    path = "/api/v1/query",
    request_body(content = String, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
    params(("query" = String, Query, description = "PromQL expression"), ("time" = Option<String>, Query, description = "Unix seconds or RFC 3339; default now"), ("timeout" = Option<String>, Query)),
    responses(
        (status = 200, description = "Prometheus {status, data: {resultType, result}}", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[route("/query", method = "GET", method = "POST")]
pub async fn query(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PromError> {
    instant_query(&state, access.tenant(), &Params::from_request(&req, &body)).await
}

/// Range query (`query`, `start`, `end`, `step`, `timeout`); GET or form POST.
#[utoipa::path(
    get,
    path = "/api/v1/query_range",
    request_body(content = String, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
    params(("query" = String, Query, description = "PromQL expression"), ("start" = String, Query), ("end" = String, Query), ("step" = String, Query, description = "duration or float seconds"), ("timeout" = Option<String>, Query)),
    responses(
        (status = 200, description = "Prometheus matrix result", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[route("/query_range", method = "GET", method = "POST")]
pub async fn query_range(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PromError> {
    range_query(&state, access.tenant(), &Params::from_request(&req, &body)).await
}

/// The `match[]` selectors and time range of a metadata request.
fn metadata_selections(
    params: &Params,
    require_match: bool,
) -> Result<(Vec<Selection>, bool), PromError> {
    let matches = params.all("match[]");
    if matches.is_empty() && require_match {
        return Err(bad_data("no match[] parameter provided"));
    }
    let start = params
        .one("start")
        .map(|t| parse_time(t, "start"))
        .transpose()?;
    let end = params
        .one("end")
        .map(|t| parse_time(t, "end"))
        .transpose()?;
    let ranged = start.is_some() || end.is_some();
    let (start, end) = (start.unwrap_or(i64::MIN / 2), end.unwrap_or(i64::MAX / 2));
    let texts: Vec<&str> = if matches.is_empty() {
        vec!["{__name__=~\".+\"}"]
    } else {
        matches
    };
    let mut selections = Vec::new();
    for text in texts {
        let expr = parse(text)?;
        let promql_parser::parser::Expr::VectorSelector(selector) = expr else {
            return Err(bad_data(format!(
                "invalid parameter \"match[]\": {text:?} is not a series selector"
            )));
        };
        selections.push(Selection {
            matchers: selector_matchers(&selector),
            start_ms: start,
            end_ms: end,
        });
    }
    Ok((selections, ranged))
}

/// The label sets a metadata request (`match[]`, `start`, `end`) refers to.
async fn found_series(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
    require_match: bool,
) -> Result<BTreeSet<crate::domain::metrics::Labels>, PromError> {
    let (selections, ranged) = metadata_selections(params, require_match)?;
    Ok(matching_series(
        state,
        tenant,
        selections,
        state.config.query_max_series,
        ranged,
    )
    .await?)
}

/// A selector's matchers with its metric name as a `__name__` matcher.
fn selector_matchers(
    selector: &promql_parser::parser::VectorSelector,
) -> promql_parser::label::Matchers {
    let mut matchers = selector.matchers.clone();
    if let Some(name) = &selector.name {
        matchers.matchers.push(promql_parser::label::Matcher::new(
            promql_parser::label::MatchOp::Equal,
            crate::domain::metrics::METRIC_NAME_LABEL,
            name,
        ));
    }
    matchers
}

/// Series matching `match[]` in the time range.
#[utoipa::path(
    get,
    path = "/api/v1/series",
    request_body(content = String, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
    params(("match[]" = Option<Vec<String>>, Query, description = "series selectors"), ("start" = Option<String>, Query), ("end" = Option<String>, Query)),
    responses(
        (status = 200, description = "label sets", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[route("/series", method = "GET", method = "POST")]
pub async fn series(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&req, &body);
    let found = found_series(&state, access.tenant(), &params, true).await?;
    let data: Vec<Value> = found
        .iter()
        .map(|found_labels| {
            Value::Object(
                found_labels
                    .iter()
                    .map(|l| (l.name.clone(), Value::String(l.value.clone())))
                    .collect(),
            )
        })
        .collect();
    Ok(success(data))
}

/// Label names, optionally of series matching `match[]`.
#[utoipa::path(
    get,
    path = "/api/v1/labels",
    request_body(content = String, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
    params(("match[]" = Option<Vec<String>>, Query, description = "series selectors"), ("start" = Option<String>, Query), ("end" = Option<String>, Query)),
    responses(
        (status = 200, description = "label names", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[route("/labels", method = "GET", method = "POST")]
pub async fn labels(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&req, &body);
    let found = found_series(&state, access.tenant(), &params, false).await?;
    let names: BTreeSet<&str> = found
        .iter()
        .flat_map(|found_labels| found_labels.iter().map(|l| l.name.as_str()))
        .collect();
    Ok(success(names))
}

/// Values of one label, optionally of series matching `match[]`.
#[utoipa::path(
    get,
    path = "/api/v1/label/{name}/values",
    params(("name" = String, Path), ("match[]" = Option<Vec<String>>, Query, description = "series selectors"), ("start" = Option<String>, Query), ("end" = Option<String>, Query)),
    responses(
        (status = 200, description = "label values", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[get("/label/{name}/values")]
pub async fn label_values(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&req, &web::Bytes::new());
    let found = found_series(&state, access.tenant(), &params, false).await?;
    let values: BTreeSet<&str> = found
        .iter()
        .filter_map(|found_labels| found_labels.get(&name))
        .collect();
    Ok(success(values))
}

/// Build information, in Prometheus's shape (Grafana reads it to pick features).
#[utoipa::path(
    get,
    path = "/api/v1/status/buildinfo",
    params(),
    responses(
        (status = 200, description = "build information", body = Object),
        (status = 400, description = "bad_data", body = Object),
        (status = 422, description = "unsupported, limit_exceeded or execution error", body = Object),
    ),
    security(("bearer" = [])),
    tag = "prometheus"
)]
#[get("/status/buildinfo")]
pub async fn buildinfo(_access: TenantAccess<Read>) -> HttpResponse {
    success(json!({
        "version": "2.42.0",
        "revision": concat!("tidewatch-", env!("CARGO_PKG_VERSION")),
        "branch": "main",
        "buildUser": "tidewatch",
        "buildDate": "",
        "goVersion": "n/a (Tidewatch is written in Rust)",
        "application": "tidewatch",
        "tidewatchVersion": env!("CARGO_PKG_VERSION"),
    }))
}
