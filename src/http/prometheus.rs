//! The Prometheus HTTP query API, same parameters and response JSON, so Grafana's
//! Prometheus data source works unchanged: `/api/v1/query`, `/query_range`, `/series`,
//! `/labels`, `/label/{name}/values`, `/status/buildinfo`. Errors keep Prometheus's
//! `status` and `errorType` fields beside Tidewatch's `error` object.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{get, route, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::extractor::TenantAccess;
use crate::auth::principal::Read;
use crate::domain::time::now_ms;
use crate::query::{
    parse_duration, parse_limit, parse_time, parse_within, required_selections, Engine, Expr,
    QueryError, QueryLimits, Selection, TimeParam,
};
use crate::query_threads::QueryThreadError;
use crate::read_path::{matching_series, prefetch, Prefetched, ReadError};

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
        self.api.response_builder().json(json!({
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
                api: ApiError {
                    retry_after_secs: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        other.to_string(),
                    )
                },
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
    /// Reads the form body (POST) within `max_body` bytes; over it is 413 in our shape.
    async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        max_body: usize,
    ) -> Result<Self, PromError> {
        let mut pairs: Vec<(String, String)> = url_pairs(req.query_string().as_bytes());
        let form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            let body = super::body::read_limited(payload, None, max_body).await?;
            pairs.extend(url_pairs(&body));
        }
        Ok(Self(pairs))
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

    fn required(&self, name: &str) -> Result<&str, PromError> {
        self.one(name)
            .ok_or_else(|| bad_data(format!("invalid parameter {name:?}: missing")))
    }
}

fn url_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A time parameter that must be a point in time.
fn point_in_time(text: &str, name: &str) -> Result<i64, PromError> {
    match parse_time(text, name)? {
        TimeParam::At(ms) => Ok(ms),
        TimeParam::Unbounded => Err(bad_data(format!(
            "invalid parameter {name:?}: {text:?} is not a usable time for this query"
        ))),
    }
}

fn check_order(start_ms: i64, end_ms: i64) -> Result<(), PromError> {
    if end_ms < start_ms {
        return Err(bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    Ok(())
}

fn success(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "data": data}))
}

/// One query request's budget: `TIDEWATCH_QUERY_TIMEOUT_SECS`, or a shorter `timeout`
/// parameter, counted from the request's start across parsing, fetching and evaluating.
struct Budget {
    deadline: Instant,
}

impl Budget {
    fn new(state: &AppState, params: &Params) -> Result<Self, PromError> {
        let configured = Duration::from_secs(state.config.query_timeout_secs);
        let timeout = match params.one("timeout") {
            Some(text) => {
                let ms = parse_duration(text, "timeout")?;
                if ms <= 0 {
                    return Err(bad_data(
                        "invalid parameter \"timeout\": must be greater than 0",
                    ));
                }
                Duration::from_millis(ms as u64).min(configured)
            }
            None => configured,
        };
        Ok(Self {
            deadline: Instant::now() + timeout,
        })
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn engine(&self, state: &AppState) -> Engine {
        Engine::new(QueryLimits {
            max_points_per_series: state.config.query_max_points_per_series,
            max_series: state.config.query_max_series,
            timeout: self.remaining(),
            ..QueryLimits::default()
        })
    }

    /// Runs `work` until the deadline; past it, 503 `timeout` and the work is dropped.
    async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, PromError>>,
    ) -> Result<T, PromError> {
        tokio::time::timeout(self.remaining(), work)
            .await
            .unwrap_or_else(|_| Err(QueryError::Timeout.into()))
    }

    /// Runs `job` on a query thread within the deadline.
    async fn on_query_thread<T: Send + 'static>(
        &self,
        state: &AppState,
        job: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, PromError> {
        self.within(async {
            match state.query_threads.run(job).await {
                Ok(outcome) => outcome.map_err(PromError::from),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}

impl From<QueryThreadError> for PromError {
    fn from(err: QueryThreadError) -> Self {
        match err {
            QueryThreadError::Busy { .. } => Self {
                api: ApiError {
                    retry_after_secs: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "overloaded",
                        err.to_string(),
                    )
                },
                error_type: "unavailable",
            },
            QueryThreadError::Panicked => Self {
                api: ApiError::internal(err.to_string()),
                error_type: "internal",
            },
        }
    }
}

/// Parses the query on a query thread and fetches what it needs for `[start_ms, end_ms]`,
/// both within the request's budget.
async fn parse_and_fetch(
    state: &AppState,
    tenant: crate::domain::TenantId,
    budget: &Budget,
    query_text: String,
    start_ms: i64,
    end_ms: i64,
) -> Result<(Expr, Prefetched), PromError> {
    let limits = state.config.expression_limits();
    let lookback = QueryLimits::default().lookback_ms;
    let (expr, selections) = budget
        .on_query_thread(state, move || {
            let expr = parse_within(&query_text, &limits)?;
            let selections = required_selections(&expr, start_ms, end_ms, lookback);
            Ok((expr, selections))
        })
        .await?;
    let data = budget
        .within(async {
            Ok(prefetch(state, tenant, selections, state.config.query_max_series).await?)
        })
        .await?;
    Ok((expr, data))
}

async fn instant_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, PromError> {
    let budget = Budget::new(state, params)?;
    let query_text = params.required("query")?.to_owned();
    let time = match params.one("time") {
        Some(text) => point_in_time(text, "time")?,
        None => now_ms(),
    };
    let (expr, data) = parse_and_fetch(state, tenant, &budget, query_text, time, time).await?;
    let engine = budget.engine(state);
    let value = budget
        .on_query_thread(state, move || engine.instant(&expr, time, &data))
        .await?;
    Ok(success(value))
}

async fn range_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, PromError> {
    let budget = Budget::new(state, params)?;
    let query_text = params.required("query")?.to_owned();
    let start = point_in_time(params.required("start")?, "start")?;
    let end = point_in_time(params.required("end")?, "end")?;
    let step = parse_duration(params.required("step")?, "step")?;
    check_order(start, end)?;
    if step <= 0 {
        return Err(bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    let max_points = state.config.query_max_points_per_series;
    if (end - start) / step + 1 > max_points as i64 {
        return Err(QueryError::LimitExceeded(format!(
            "exceeded maximum resolution of {max_points} points per timeseries. Try decreasing the query resolution (?step=XX)"
        ))
        .into());
    }
    let (expr, data) = parse_and_fetch(state, tenant, &budget, query_text, start, end).await?;
    let engine = budget.engine(state);
    let value = budget
        .on_query_thread(state, move || engine.range(&expr, start, end, step, &data))
        .await?;
    Ok(success(value))
}

/// The form body of `POST /api/v1/query` (the OpenAPI document's description of it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read as `Params`; this type only describes the form
pub struct InstantQueryForm {
    query: String,
    time: Option<String>,
    timeout: Option<String>,
}

/// The form body of `POST /api/v1/query_range`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RangeQueryForm {
    query: String,
    start: String,
    end: String,
    step: String,
    timeout: Option<String>,
}

/// The form body of `POST /api/v1/series` and `/labels`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MetadataForm {
    #[schema(rename = "match[]")]
    matches: Option<Vec<String>>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
    timeout: Option<String>,
}

/// Instant query (`query`, `time`, `timeout`); GET or form POST.
#[utoipa::path(
    method(get, post),
    path = "/api/v1/query",
    request_body(content = InstantQueryForm, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
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
    payload: web::Payload,
) -> Result<HttpResponse, PromError> {
    let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
    instant_query(&state, access.tenant(), &params).await
}

/// Range query (`query`, `start`, `end`, `step`, `timeout`); GET or form POST.
#[utoipa::path(
    method(get, post),
    path = "/api/v1/query_range",
    request_body(content = RangeQueryForm, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
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
    payload: web::Payload,
) -> Result<HttpResponse, PromError> {
    let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
    range_query(&state, access.tenant(), &params).await
}

/// The `match[]` selectors and time range of a metadata request, parsed on a query thread.
async fn metadata_selections(
    state: &AppState,
    budget: &Budget,
    params: &Params,
    require_match: bool,
) -> Result<(Vec<Selection>, bool), PromError> {
    let matches: Vec<String> = params
        .all("match[]")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if matches.is_empty() && require_match {
        return Err(bad_data("no match[] parameter provided"));
    }
    if matches.len() > state.config.query_max_selectors {
        return Err(bad_data(format!(
            "{} match[] parameters; the limit is {} (TIDEWATCH_QUERY_MAX_SELECTORS)",
            matches.len(),
            state.config.query_max_selectors
        )));
    }
    let bound = |name: &str| -> Result<Option<i64>, PromError> {
        match params.one(name).map(|t| parse_time(t, name)).transpose()? {
            Some(TimeParam::At(ms)) => Ok(Some(ms)),
            Some(TimeParam::Unbounded) | None => Ok(None),
        }
    };
    let (start, end) = (bound("start")?, bound("end")?);
    if let (Some(start), Some(end)) = (start, end) {
        check_order(start, end)?;
    }
    let ranged = start.is_some() || end.is_some();
    let (start, end) = (start.unwrap_or(i64::MIN / 2), end.unwrap_or(i64::MAX / 2));
    let texts = if matches.is_empty() {
        vec!["{__name__=~\".+\"}".to_owned()]
    } else {
        matches
    };
    let limits = state.config.expression_limits();
    let selections = budget
        .on_query_thread(state, move || {
            texts
                .iter()
                .map(|text| {
                    let expr = parse_within(text, &limits)?;
                    let Expr::VectorSelector(selector) = expr else {
                        return Err(QueryError::BadData(format!(
                            "invalid parameter \"match[]\": {text:?} is not a series selector"
                        )));
                    };
                    Ok(Selection {
                        matchers: selector_matchers(&selector),
                        start_ms: start,
                        end_ms: end,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok((selections, ranged))
}

/// The label sets a metadata request (`match[]`, `start`, `end`, `limit`) refers to,
/// within the query timeout, and how many answers the request asks for at most.
async fn found_series(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
    require_match: bool,
) -> Result<(BTreeSet<crate::domain::metrics::Labels>, usize), PromError> {
    let budget = Budget::new(state, params)?;
    // Prometheus' `limit`: 0 or absent means no limit.
    let limit = params
        .one("limit")
        .map(parse_limit)
        .transpose()?
        .flatten()
        .unwrap_or(usize::MAX);
    let (selections, ranged) = metadata_selections(state, &budget, params, require_match).await?;
    let found = budget
        .within(async {
            Ok(matching_series(
                state,
                tenant,
                selections,
                state.config.query_max_series,
                ranged,
            )
            .await?)
        })
        .await?;
    Ok((found, limit))
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
    method(get, post),
    path = "/api/v1/series",
    request_body(content = MetadataForm, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
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
    payload: web::Payload,
) -> Result<HttpResponse, PromError> {
    let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
    let (found, limit) = found_series(&state, access.tenant(), &params, true).await?;
    let data: Vec<Value> = found
        .iter()
        .take(limit)
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
    method(get, post),
    path = "/api/v1/labels",
    request_body(content = MetadataForm, description = "the same parameters, form-encoded (POST)", content_type = "application/x-www-form-urlencoded"),
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
    payload: web::Payload,
) -> Result<HttpResponse, PromError> {
    let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
    let (found, limit) = found_series(&state, access.tenant(), &params, false).await?;
    let names: BTreeSet<&str> = found
        .iter()
        .flat_map(|found_labels| found_labels.iter().map(|l| l.name.as_str()))
        .collect();
    Ok(success(names.into_iter().take(limit).collect::<Vec<_>>()))
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
    let params = Params(url_pairs(req.query_string().as_bytes()));
    let (found, limit) = found_series(&state, access.tenant(), &params, false).await?;
    let values: BTreeSet<&str> = found
        .iter()
        .filter_map(|found_labels| found_labels.get(&name))
        .collect();
    Ok(success(values.into_iter().take(limit).collect::<Vec<_>>()))
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
