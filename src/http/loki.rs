//! Loki's query API, so Grafana's Loki data source (and `logcli`) read Tidewatch's logs
//! unchanged: `query_range`, `query`, `labels`, `label/{name}/values`, `series`,
//! `index/stats`, in Loki's answer shapes, over the LogQL subset of `logquery::logql`.
//! Times are Unix ns (or s/ms/µs, or RFC 3339) as Loki reads them. Errors keep
//! Tidewatch's `{"error":{"code","message"}}` shape; a query outside the subset is a 400
//! naming what is not supported.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::logs::{log_time, time_range};
use super::state::AppState;
use crate::auth::principal::Read;
use crate::logquery::logql::{self, Query};
use crate::logs::Direction;

const HOUR_NS: i64 = 3_600_000_000_000;
/// Points per series a range query may ask for (as Prometheus and Loki).
const MAX_POINTS: i64 = 11_000;

/// The query string as (name, value) pairs; repeated names (`match[]`) kept.
fn params(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_query", message)
}

fn parse_query(text: Option<&str>) -> Result<Query, ApiError> {
    let text = text.ok_or_else(|| bad("query is required"))?;
    logql::parse(text).map_err(|e| bad(format!("parse error: {e}")))
}

fn log_query_only(text: Option<&str>) -> Result<Arc<logql::LogQuery>, ApiError> {
    match parse_query(text)? {
        Query::Logs(q) => Ok(Arc::new(q)),
        Query::Metric(_) => Err(bad(
            "a log stream selector is expected here, not a metric query",
        )),
    }
}

fn direction(params: &[(String, String)]) -> Result<Direction, ApiError> {
    match param(params, "direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("direction: {other:?} is neither backward nor forward"),
        )),
    }
}

fn limit(state: &AppState, params: &[(String, String)]) -> Result<usize, ApiError> {
    let max = state.logs_reader.limits().max_limit;
    match param(params, "limit") {
        None => Ok(100),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("limit: {text:?} is not between 1 and {max}"),
            )),
        },
    }
}

/// `start`/`end` (or `since`, a duration back from `end`), default the last hour.
fn range(state: &AppState, params: &[(String, String)]) -> Result<(i64, i64), ApiError> {
    let (start, end) = time_range(state, param(params, "start"), param(params, "end"), HOUR_NS)?;
    match (param(params, "start"), param(params, "since")) {
        (None, Some(since)) => {
            let span = crate::promql::parse_duration(since, "since")?.saturating_mul(1_000_000);
            Ok((end.saturating_sub(span), end))
        }
        _ => Ok((start, end)),
    }
}

fn ns_text(ns: i64) -> String {
    ns.to_string()
}

fn streams_answer(streams: Vec<crate::logs::LokiStream>) -> Value {
    let result: Vec<Value> = streams
        .into_iter()
        .map(|s| {
            json!({
                "stream": s.labels,
                "values": s.entries.into_iter().map(|(t, line)| json!([ns_text(t), line])).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"status": "success", "data": {"resultType": "streams", "result": result, "stats": {}}})
}

fn sample_value(v: f64) -> String {
    crate::promql::format_value(v)
}

/// Loki's answer to `query_range`: streams for a log query, a matrix for a metric query.
#[derive(Serialize, ToSchema)]
pub struct LokiAnswer {
    /// `success`.
    pub status: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

fn answer(value: Value) -> web::Json<Value> {
    web::Json(value)
}

/// LogQL over a time range: streams of lines, or a metric query's matrix.
#[utoipa::path(
    params(
        ("query" = String, Query, description = "LogQL (the subset in README \"Grafana's Loki data source\")"),
        ("start" = Option<String>, Query, description = "Unix ns (or s/ms/µs) or RFC 3339; default end − 1 h"),
        ("end" = Option<String>, Query, description = "default now"),
        ("since" = Option<String>, Query, description = "a duration before end, instead of start"),
        ("limit" = Option<u32>, Query, description = "lines, 1–5000 (default 100)"),
        ("direction" = Option<String>, Query, description = "backward (default) or forward"),
        ("step" = Option<String>, Query, description = "metric queries: seconds or a duration"),
    ),
    responses((status = 200, body = LokiAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/query_range")]
pub async fn loki_query_range(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let params = params(&req);
    let query = parse_query(param(&params, "query"))?;
    let (start, end) = range(&state, &params)?;
    match query {
        Query::Logs(q) => {
            let streams = state
                .logs_reader
                .loki_streams(
                    access.tenant(),
                    Arc::new(q),
                    start,
                    end,
                    limit(&state, &params)?,
                    direction(&params)?,
                )
                .await?;
            Ok(answer(streams_answer(streams)))
        }
        Query::Metric(expr) => {
            let step = match param(&params, "step") {
                Some(text) => {
                    crate::promql::parse_duration(text, "step")?.saturating_mul(1_000_000)
                }
                // Loki's default: the range in about 250 steps, at least a second.
                None => ((end - start) / 250).max(1_000_000_000),
            };
            if step <= 0 {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    "step must be positive",
                ));
            }
            if (end - start) / step > MAX_POINTS {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("more than {MAX_POINTS} points per series: make the step longer or the range shorter"),
                ));
            }
            let series = state
                .logs_reader
                .loki_metric(access.tenant(), &expr, start, end, step)
                .await?;
            let result: Vec<Value> = series
                .into_iter()
                .map(|(labels, values)| {
                    json!({
                        "metric": labels,
                        "values": values.into_iter().map(|(t, v)| json!([t as f64 / 1e9, sample_value(v)])).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(answer(
                json!({"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {}}}),
            ))
        }
    }
}

/// LogQL at one time: a metric query's vector, or a log query's lines up to that time.
#[utoipa::path(
    params(
        ("query" = String, Query, description = "LogQL"),
        ("time" = Option<String>, Query, description = "Unix ns (or s/ms/µs) or RFC 3339; default now"),
        ("limit" = Option<u32>, Query, description = "lines, 1–5000 (default 100)"),
        ("direction" = Option<String>, Query, description = "backward (default) or forward"),
    ),
    responses((status = 200, body = LokiAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/query")]
pub async fn loki_query(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let params = params(&req);
    let query = parse_query(param(&params, "query"))?;
    let time = match param(&params, "time") {
        Some(text) => log_time(text, "time")?,
        None => state.clock.now_ms().saturating_mul(1_000_000),
    };
    match query {
        Query::Logs(q) => {
            let streams = state
                .logs_reader
                .loki_streams(
                    access.tenant(),
                    Arc::new(q),
                    time - HOUR_NS,
                    time,
                    limit(&state, &params)?,
                    direction(&params)?,
                )
                .await?;
            Ok(answer(streams_answer(streams)))
        }
        Query::Metric(expr) => {
            let series = state
                .logs_reader
                .loki_metric(access.tenant(), &expr, time, time, 0)
                .await?;
            let result: Vec<Value> = series
                .into_iter()
                .filter_map(|(labels, values)| {
                    values
                        .last()
                        .map(|(t, v)| json!({"metric": labels, "value": [*t as f64 / 1e9, sample_value(*v)]}))
                })
                .collect();
            Ok(answer(
                json!({"status": "success", "data": {"resultType": "vector", "result": result, "stats": {}}}),
            ))
        }
    }
}

/// Loki's list answers (`labels`, `label/{name}/values`).
#[derive(Serialize, ToSchema)]
pub struct LokiList {
    pub status: String,
    pub data: Vec<String>,
}

/// Loki's `series` answer: the label sets of the streams found.
#[derive(Serialize, ToSchema)]
pub struct LokiSeries {
    pub status: String,
    pub data: Vec<BTreeMap<String, String>>,
}

async fn label_sets(
    state: &AppState,
    access: &TenantAccess<Read>,
    params: &[(String, String)],
    selector: Option<&str>,
) -> Result<std::collections::BTreeSet<BTreeMap<String, String>>, ApiError> {
    let (start, end) = range(state, params)?;
    let selector = selector.map(|q| log_query_only(Some(q))).transpose()?;
    Ok(state
        .logs_reader
        .loki_label_sets(access.tenant(), selector, start, end)
        .await?)
}

/// Label names of the streams in the range (Grafana's health check and label browser).
#[utoipa::path(
    params(
        ("start" = Option<String>, Query, description = "default end − 1 h"),
        ("end" = Option<String>, Query, description = "default now"),
        ("query" = Option<String>, Query, description = "a stream selector to narrow the streams"),
    ),
    responses((status = 200, body = LokiList), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/labels")]
pub async fn loki_labels(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
) -> Result<web::Json<LokiList>, ApiError> {
    let params = params(&req);
    let sets = label_sets(&state, &access, &params, param(&params, "query")).await?;
    let names: std::collections::BTreeSet<String> =
        sets.into_iter().flat_map(|s| s.into_keys()).collect();
    Ok(web::Json(LokiList {
        status: "success".into(),
        data: names.into_iter().collect(),
    }))
}

/// The values one label has among the streams in the range.
#[utoipa::path(
    params(
        ("name" = String, Path, description = "a label name"),
        ("start" = Option<String>, Query, description = "default end − 1 h"),
        ("end" = Option<String>, Query, description = "default now"),
        ("query" = Option<String>, Query, description = "a stream selector to narrow the streams"),
    ),
    responses((status = 200, body = LokiList), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/label/{name}/values")]
pub async fn loki_label_values(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    name: web::Path<String>,
    req: HttpRequest,
) -> Result<web::Json<LokiList>, ApiError> {
    let params = params(&req);
    let sets = label_sets(&state, &access, &params, param(&params, "query")).await?;
    let values: std::collections::BTreeSet<String> = sets
        .into_iter()
        .filter_map(|mut s| s.remove(name.as_str()))
        .collect();
    Ok(web::Json(LokiList {
        status: "success".into(),
        data: values.into_iter().collect(),
    }))
}

/// The streams (label sets) the `match[]` selectors match in the range.
#[utoipa::path(
    params(
        ("match[]" = Vec<String>, Query, description = "stream selectors; a stream matching any is listed (none: all)"),
        ("start" = Option<String>, Query, description = "default end − 1 h"),
        ("end" = Option<String>, Query, description = "default now"),
    ),
    responses((status = 200, body = LokiSeries), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/series")]
pub async fn loki_series(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let params = params(&req);
    let selectors: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "match[]" || k == "match")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut all = std::collections::BTreeSet::new();
    if selectors.is_empty() {
        all = label_sets(&state, &access, &params, None).await?;
    }
    for selector in selectors {
        all.extend(label_sets(&state, &access, &params, Some(selector)).await?);
    }
    Ok(answer(
        json!({"status": "success", "data": all.into_iter().collect::<Vec<_>>()}),
    ))
}

/// Loki's index figures for a selector over the range (Grafana asks before querying).
#[derive(Serialize, ToSchema)]
pub struct IndexStatsAnswer {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// How many streams, blocks, records and bytes a selector covers in the range.
#[utoipa::path(
    params(
        ("query" = String, Query, description = "a stream selector"),
        ("start" = Option<String>, Query, description = "default end − 1 h"),
        ("end" = Option<String>, Query, description = "default now"),
    ),
    responses((status = 200, body = IndexStatsAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "loki"
)]
#[get("/loki/api/v1/index/stats")]
pub async fn loki_index_stats(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
) -> Result<web::Json<IndexStatsAnswer>, ApiError> {
    let params = params(&req);
    let query = log_query_only(param(&params, "query"))?;
    let (start, end) = range(&state, &params)?;
    let stats = state
        .logs_reader
        .loki_index_stats(access.tenant(), query, start, end)
        .await?;
    Ok(web::Json(IndexStatsAnswer {
        streams: stats.streams,
        chunks: stats.chunks,
        entries: stats.entries,
        bytes: stats.bytes,
    }))
}

/// `GET /loki/api/v1/tail`: a WebSocket of the lines the LogQL query keeps — first the
/// newest `limit` (default 100) since `start` (default an hour ago), then each as it is
/// committed. Not in the OpenAPI document (a WebSocket is no request/response
/// operation); README "Grafana's Loki data source" describes it.
#[get("/loki/api/v1/tail")]
pub async fn loki_tail(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let wants_websocket = req
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        return Err(bad(
            "the tail is a WebSocket: connect with Upgrade: websocket (as Grafana and logcli --tail do)",
        ));
    }
    let params = params(&req);
    let query = log_query_only(param(&params, "query"))?;
    if let Some(delay) = param(&params, "delay_for") {
        match delay.parse::<u64>() {
            Ok(0..=5) => {}
            _ => return Err(bad(format!("delay_for: {delay:?} is not 0 to 5 seconds"))),
        }
    }
    let now_ns = state.clock.now_ms().saturating_mul(1_000_000);
    let start = match param(&params, "start") {
        Some(_) => range(&state, &params)?.0,
        None => now_ns.saturating_sub(HOUR_NS),
    };
    let history = state
        .logs_reader
        .loki_streams(
            access.tenant(),
            query.clone(),
            start,
            now_ns,
            limit(&state, &params)?,
            Direction::Backward,
        )
        .await?
        .into_iter()
        .map(|stream| {
            let mut entries = stream.entries;
            entries.sort_by_key(|(ns, _)| *ns);
            (stream.labels, entries)
        })
        .collect();
    let pipeline = state.tenants.actors(access.tenant()).await?.log_pipeline;
    let session = crate::ws::loki_tail::TailSession {
        query,
        subscribe: pipeline.recipient(),
        history,
    };
    crate::ws::loki_tail::start(session, &req, payload)
        .map_err(|e| bad(format!("the WebSocket handshake failed: {e}")))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root(loki_query_range, __path_loki_query_range);
    routes.root(loki_query, __path_loki_query);
    routes.root(loki_labels, __path_loki_labels);
    routes.root(loki_label_values, __path_loki_label_values);
    routes.root(loki_series, __path_loki_series);
    routes.root(loki_index_stats, __path_loki_index_stats);
    routes.root_undocumented(loki_tail);
}
