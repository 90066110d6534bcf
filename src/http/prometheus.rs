//! The Prometheus HTTP query API, same parameters and response JSON, so Grafana's
//! Prometheus data source works unchanged: `/api/v1/query`, `/query_range`, `/series`,
//! `/labels`, `/label/{name}/values`, `/status/buildinfo`. Errors keep Prometheus's
//! `status` and `errorType` fields beside Tidewatch's `error` object.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::{get, route, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::TenantAccess;
use super::state::AppState;
use crate::auth::principal::Read;
use crate::metrics::{QueryBudget, RangeQuery, SeriesQuery};
use crate::promql::{parse_duration, parse_limit, parse_time, TimeParam};

fn bad_data(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_data", message)
}

/// A Prometheus API answer: any error it ends in is rendered in Prometheus' envelope.
async fn prometheus_answer(
    answer: impl std::future::Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    answer.await.map_err(ApiError::in_prometheus_shape)
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
    ) -> Result<Self, ApiError> {
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

    fn required(&self, name: &str) -> Result<&str, ApiError> {
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
fn point_in_time(text: &str, name: &str) -> Result<i64, ApiError> {
    match parse_time(text, name)? {
        TimeParam::At(ms) => Ok(ms),
        TimeParam::Unbounded => Err(bad_data(format!(
            "invalid parameter {name:?}: {text:?} is not a usable time for this query"
        ))),
    }
}

fn success(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "data": data}))
}

/// The request's budget: `TIDEWATCH_QUERY_TIMEOUT_SECS`, or a shorter `timeout`
/// parameter, counted from now across parsing, fetching and evaluating.
fn budget(state: &AppState, params: &Params) -> Result<QueryBudget, ApiError> {
    let requested = match params.one("timeout") {
        Some(text) => {
            let ms = parse_duration(text, "timeout")?;
            if ms <= 0 {
                return Err(bad_data(
                    "invalid parameter \"timeout\": must be greater than 0",
                ));
            }
            Some(Duration::from_millis(ms as u64))
        }
        None => None,
    };
    Ok(state.reader.budget(requested))
}

async fn instant_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let budget = budget(state, params)?;
    let text = params.required("query")?.to_owned();
    let time = match params.one("time") {
        Some(text) => point_in_time(text, "time")?,
        None => state.clock.now_ms(),
    };
    let value = state.reader.instant(tenant, text, time, &budget).await?;
    Ok(success(value))
}

async fn range_query(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let budget = budget(state, params)?;
    let range = RangeQuery {
        text: params.required("query")?.to_owned(),
        start_ms: point_in_time(params.required("start")?, "start")?,
        end_ms: point_in_time(params.required("end")?, "end")?,
        step_ms: parse_duration(params.required("step")?, "step")?,
    };
    let value = state.reader.range(tenant, range, &budget).await?;
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
    path = "/query",
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
) -> Result<HttpResponse, ApiError> {
    prometheus_answer(async {
        let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
        instant_query(&state, access.tenant(), &params).await
    })
    .await
}

/// Range query (`query`, `start`, `end`, `step`, `timeout`); GET or form POST.
#[utoipa::path(
    method(get, post),
    path = "/query_range",
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
) -> Result<HttpResponse, ApiError> {
    prometheus_answer(async {
        let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
        range_query(&state, access.tenant(), &params).await
    })
    .await
}

/// The label sets a metadata request (`match[]`, `start`, `end`, `limit`) refers to,
/// within the query timeout, and how many answers the request asks for at most.
async fn found_series(
    state: &AppState,
    tenant: crate::domain::TenantId,
    params: &Params,
    require_match: bool,
) -> Result<(BTreeSet<crate::domain::metrics::Labels>, usize), ApiError> {
    let budget = budget(state, params)?;
    // Prometheus' `limit`: 0 or absent means no limit.
    let limit = params
        .one("limit")
        .map(parse_limit)
        .transpose()?
        .flatten()
        .unwrap_or(usize::MAX);
    let matches: Vec<String> = params
        .all("match[]")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if matches.is_empty() && require_match {
        return Err(bad_data("no match[] parameter provided"));
    }
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        match params.one(name).map(|t| parse_time(t, name)).transpose()? {
            Some(TimeParam::At(ms)) => Ok(Some(ms)),
            Some(TimeParam::Unbounded) | None => Ok(None),
        }
    };
    let lookup = SeriesQuery {
        matches,
        start_ms: bound("start")?,
        end_ms: bound("end")?,
    };
    let found = state.reader.series(tenant, lookup, &budget).await?;
    Ok((found, limit))
}

/// Series matching `match[]` in the time range.
#[utoipa::path(
    method(get, post),
    path = "/series",
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
) -> Result<HttpResponse, ApiError> {
    prometheus_answer(async {
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
    })
    .await
}

/// Label names, optionally of series matching `match[]`.
#[utoipa::path(
    method(get, post),
    path = "/labels",
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
) -> Result<HttpResponse, ApiError> {
    prometheus_answer(async {
        let params = Params::read(&req, payload, state.config.max_body_bytes).await?;
        let (found, limit) = found_series(&state, access.tenant(), &params, false).await?;
        let names: BTreeSet<&str> = found
            .iter()
            .flat_map(|found_labels| found_labels.iter().map(|l| l.name.as_str()))
            .collect();
        Ok(success(names.into_iter().take(limit).collect::<Vec<_>>()))
    })
    .await
}

/// Values of one label, optionally of series matching `match[]`.
#[utoipa::path(
    get,
    path = "/label/{name}/values",
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
) -> Result<HttpResponse, ApiError> {
    prometheus_answer(async {
        let params = Params(url_pairs(req.query_string().as_bytes()));
        let (found, limit) = found_series(&state, access.tenant(), &params, false).await?;
        let values: BTreeSet<&str> = found
            .iter()
            .filter_map(|found_labels| found_labels.get(&name))
            .collect();
        Ok(success(values.into_iter().take(limit).collect::<Vec<_>>()))
    })
    .await
}

/// Build information, in Prometheus's shape (Grafana reads it to pick features).
#[utoipa::path(
    get,
    path = "/status/buildinfo",
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

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(query, __path_query);
    routes.api(query_range, __path_query_range);
    routes.api(series, __path_series);
    routes.api(labels, __path_labels);
    routes.api(label_values, __path_label_values);
    routes.api(buildinfo, __path_buildinfo);
}
