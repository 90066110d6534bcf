//! Log ingest in the formats shippers speak (Tidewatch JSON/NDJSON/text, OTLP/HTTP, Loki
//! push, Elasticsearch bulk) and the log search API (records, histogram, fields). Ingest
//! accepts an API key with the `ingest` scope (Bearer, `Token` or Basic with the key as
//! password) or an editor's or admin's JWT; reads accept any tenant role or a `read` key.

use actix_web::{get, head, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::ingest::decode_body;
use super::middleware::method_not_allowed;
use super::state::AppState;
use crate::auth::principal::{Ingest, Read};
use crate::domain::logs::{Level, LogRecord};
use crate::ingest::logs::{
    CarriesLogs, EsBulkDecoder, LokiPushDecoder, NativeLogDecoder, OtlpLogDecoder,
};
use crate::ingest::{Decoder, OtlpEncoding};
use crate::logs::{Direction, HistogramRequest, LogsWritten, RecordKey, SearchRequest};

/// Decodes and stores one log ingest request; counts refusals by code.
async fn ingest_logs<D>(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
    adjust: impl FnOnce(&mut D),
) -> Result<(D, D::Batch, LogsWritten), ApiError>
where
    D: Decoder,
    D::Batch: CarriesLogs,
{
    let result = async {
        let (decoder, mut batch) = decode_body::<D>(state, access, req, payload, adjust).await?;
        let written = state.logs.write(access.tenant(), batch.take_logs()).await?;
        Ok::<_, ApiError>((decoder, batch, written))
    }
    .await;
    if let Err(e) = &result {
        state
            .metrics
            .ingest_rejections
            .with_label_values(&[e.code])
            .inc();
    }
    result
}

#[derive(Serialize, ToSchema)]
pub struct LogIngestReceipt {
    /// Records durably stored by this request.
    pub accepted_records: usize,
}

/// Parameters of Tidewatch's own log ingest.
#[derive(Deserialize, IntoParams)]
#[allow(dead_code)]
pub struct NativeIngestParams {
    /// The service of records that name none.
    pub service: Option<String>,
    /// The host of records that name none.
    pub host: Option<String>,
}

/// The JSON body of `POST /api/v1/ingest/logs`, for the document only:
/// `NativeLogDecoder` reads the body.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NativeLogBody {
    /// Records: objects, or strings read as text lines.
    Records(Vec<NativeLogEntry>),
    /// One record.
    Record(std::collections::HashMap<String, serde_json::Value>),
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NativeLogEntry {
    Record(std::collections::HashMap<String, serde_json::Value>),
    Line(String),
}

/// Tidewatch's log ingest: a JSON array of records (or one record), NDJSON
/// (`application/x-ndjson`), or plain text (`text/plain`, one record per line; indented
/// lines continue the record above). All or nothing.
#[utoipa::path(
    params(NativeIngestParams),
    request_body(content = NativeLogBody, description = "[{\"ts\":\"2026-12-01T10:00:00Z\",\"level\":\"error\",\"msg\":\"connection refused\",\"service\":\"api\"}]", content_type = "application/json"),
    responses(
        (status = 200, body = LogIngestReceipt),
        (status = 400, body = ErrorBody, description = "malformed body, naming the line or item; nothing stored"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the tenant's stream limit"),
        (status = 429, body = ErrorBody, description = "the tenant's log ingest rate"),
    ),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/ingest/logs")]
pub async fn ingest_native(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<LogIngestReceipt>, ApiError> {
    let (_, _, written) =
        ingest_logs::<NativeLogDecoder>(&state, &access, &req, payload, |_| {}).await?;
    Ok(web::Json(LogIngestReceipt {
        accepted_records: written.records,
    }))
}

/// OTLP/HTTP logs export, protobuf or JSON; the answer is an empty
/// `ExportLogsServiceResponse` in the request's encoding (never a partial success).
#[utoipa::path(
    request_body(content = Vec<u8>, description = "ExportLogsServiceRequest", content_type = "application/x-protobuf"),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/v1/logs")]
pub async fn otlp(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (decoder, _, _) =
        ingest_logs::<OtlpLogDecoder>(&state, &access, &req, payload, |_| {}).await?;
    Ok(if decoder.encoding == OtlpEncoding::Json {
        HttpResponse::Ok()
            .content_type("application/json")
            .body("{}")
    } else {
        HttpResponse::Ok()
            .content_type("application/x-protobuf")
            .body(Vec::<u8>::new())
    })
}

/// Loki push (protobuf + snappy, or JSON), as Promtail, Grafana Alloy, Fluent Bit and
/// Vector send it; answered 204 as Loki does.
#[utoipa::path(
    request_body(content = Vec<u8>, description = "snappy-compressed logproto.PushRequest, or the JSON push", content_type = "application/x-protobuf"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/loki/api/v1/push")]
pub async fn loki_push(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    ingest_logs::<LokiPushDecoder>(&state, &access, &req, payload, |_| {}).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Elasticsearch's bulk answer.
#[derive(Serialize, ToSchema)]
pub struct BulkAnswer {
    pub took: u64,
    pub errors: bool,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

async fn bulk(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
    index: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let (_, batch, _) =
        ingest_logs::<EsBulkDecoder>(state, access, req, payload, |d| d.path_index = index).await?;
    let items = batch
        .items
        .iter()
        .enumerate()
        .map(|(seq, item)| {
            serde_json::json!({
                item.action: {
                    "_index": item.index,
                    "_id": item.id,
                    "_version": 1,
                    "result": "created",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": seq,
                    "_primary_term": 1,
                    "status": 201
                }
            })
        })
        .collect();
    Ok(elastic(HttpResponse::Ok()).json(BulkAnswer {
        took: started.elapsed().as_millis() as u64,
        errors: false,
        items,
    }))
}

/// Every Elasticsearch answer says which product it is (the official clients check).
fn elastic(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header(("X-Elastic-Product", "Elasticsearch"));
    builder
}

/// Elasticsearch bulk (`index`/`create` action and document pairs, NDJSON); the index
/// becomes the stream label `index`. Answered in Elasticsearch's shape.
#[utoipa::path(
    path = "/logs/_bulk",
    request_body(content = String, description = "{\"index\":{\"_index\":\"app\"}}\\n{\"message\":\"hello\"}\\n", content_type = "application/x-ndjson"),
    responses((status = 200, body = BulkAnswer), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/logs/_bulk")]
pub async fn bulk_api(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    bulk(&state, &access, &req, payload, None).await
}

/// The Elasticsearch-compatible bulk endpoint for shippers configured with
/// `http://tidewatch:8080/es` as their Elasticsearch URL.
#[utoipa::path(
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = BulkAnswer), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/es/_bulk")]
pub async fn es_bulk(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    bulk(&state, &access, &req, payload, None).await
}

/// Bulk into the index the path names (for actions that name none).
#[utoipa::path(
    params(("index" = String, Path, description = "the default index")),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = BulkAnswer), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[post("/es/{index}/_bulk")]
pub async fn es_index_bulk(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
    index: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    bulk(&state, &access, &req, payload, Some(index.into_inner())).await
}

fn es_info() -> serde_json::Value {
    serde_json::json!({
        "name": "tidewatch",
        "cluster_name": "tidewatch",
        "cluster_uuid": "tidewatch-logs",
        "version": {
            "number": "8.11.0",
            "build_flavor": "default",
            "build_type": "tidewatch",
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

/// `GET /es/`: the version shippers check before sending (Filebeat and Vector refuse an
/// unknown one). No credential needed: it says nothing about any tenant.
#[get("/es/")]
async fn es_root() -> HttpResponse {
    elastic(HttpResponse::Ok()).json(es_info())
}

#[get("/es")]
async fn es_root_bare() -> HttpResponse {
    elastic(HttpResponse::Ok()).json(es_info())
}

#[head("/es/")]
async fn es_root_head() -> HttpResponse {
    elastic(HttpResponse::Ok()).finish()
}

#[head("/es")]
async fn es_root_head_bare() -> HttpResponse {
    elastic(HttpResponse::Ok()).finish()
}

/// The set-up calls shippers make before sending (index templates, ILM policies, data
/// streams, license and health checks), answered harmlessly: Tidewatch keeps no indices.
///
/// A documented path under another method (`GET /es/_bulk`) is no discovery call: it is
/// answered 405 with `Allow`, as anywhere else.
#[get("/es/{rest:.*}")]
async fn es_discovery_get(req: HttpRequest, rest: web::Path<String>) -> HttpResponse {
    if let Some(refused) = method_not_allowed(&req) {
        return refused;
    }
    let body = match rest.as_str() {
        "_license" => {
            serde_json::json!({"license": {"status": "active", "type": "basic", "uid": "tidewatch"}})
        }
        "_xpack" => {
            serde_json::json!({"features": {}, "license": {"status": "active", "type": "basic"}})
        }
        path if path.starts_with("_cluster/health") => {
            serde_json::json!({"cluster_name": "tidewatch", "status": "green"})
        }
        _ => serde_json::json!({}),
    };
    elastic(HttpResponse::Ok()).json(body)
}

#[head("/es/{rest:.*}")]
async fn es_discovery_head(req: HttpRequest) -> HttpResponse {
    method_not_allowed(&req).unwrap_or_else(|| elastic(HttpResponse::Ok()).finish())
}

#[put("/es/{rest:.*}")]
async fn es_discovery_put(req: HttpRequest) -> HttpResponse {
    method_not_allowed(&req).unwrap_or_else(|| {
        elastic(HttpResponse::Ok()).json(serde_json::json!({"acknowledged": true}))
    })
}

/// A log record as the search API answers it.
#[derive(Serialize, ToSchema)]
pub struct LogRecordOut {
    /// RFC 3339, nanoseconds, UTC.
    pub timestamp: String,
    /// Unix nanoseconds, as text (beyond what JSON numbers hold exactly).
    pub timestamp_ns: String,
    #[schema(value_type = String)]
    pub level: Level,
    pub service: String,
    pub host: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
}

impl From<LogRecord> for LogRecordOut {
    fn from(r: LogRecord) -> Self {
        Self {
            timestamp: rfc3339_ns(r.timestamp_ns),
            timestamp_ns: r.timestamp_ns.to_string(),
            level: r.level,
            service: r.service,
            host: r.host,
            message: r.message,
            labels: r.labels,
            fields: r.fields,
        }
    }
}

pub(crate) fn rfc3339_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub records: Vec<LogRecordOut>,
    /// Pass as `cursor` for the next page; null when this page is the last.
    pub next_cursor: Option<String>,
}

/// A time parameter: RFC 3339, or a Unix time in s, ms, µs or ns (told apart by size,
/// fractions allowed), as Loki and Grafana send them.
pub(crate) fn log_time(text: &str, name: &str) -> Result<i64, ApiError> {
    crate::ingest::logs::normalise::parse_timestamp(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{name}: {text:?} is not RFC 3339 or a Unix time in s, ms, µs or ns"),
        )
    })
}

/// `start`/`end` with their defaults: the last hour up to now.
pub(crate) fn time_range(
    state: &AppState,
    start: Option<&str>,
    end: Option<&str>,
    default_span_ns: i64,
) -> Result<(i64, i64), ApiError> {
    let end = match end {
        Some(text) => log_time(text, "end")?,
        None => state.clock.now_ms().saturating_mul(1_000_000),
    };
    let start = match start {
        Some(text) => log_time(text, "start")?,
        None => end.saturating_sub(default_span_ns),
    };
    if start > end {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "start is after end",
        ));
    }
    Ok((start, end))
}

const HOUR_NS: i64 = 3_600_000_000_000;

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// The query language (README "Searching logs"); empty matches everything.
    pub query: Option<String>,
    /// RFC 3339 or Unix time; default `end` − 1 h.
    pub start: Option<String>,
    /// RFC 3339 or Unix time; default now.
    pub end: Option<String>,
    /// Records per page, 1–5000 (default 100).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// `backward` (newest first, default) or `forward`.
    pub direction: Option<String>,
}

/// Searches the tenant's log records.
#[utoipa::path(
    params(SearchParams),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody, description = "a query, time, limit, cursor or direction that cannot be read")),
    security(("bearer" = [])),
    tag = "logs"
)]
#[get("/logs")]
pub async fn search(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    params: web::Query<SearchParams>,
) -> Result<web::Json<LogPage>, ApiError> {
    let (start_ns, end_ns) = time_range(
        &state,
        params.start.as_deref(),
        params.end.as_deref(),
        HOUR_NS,
    )?;
    let direction = match params.direction.as_deref() {
        None | Some("backward") => Direction::Backward,
        Some("forward") => Direction::Forward,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("direction: {other:?} is neither backward nor forward"),
            ))
        }
    };
    let limit = params.limit.unwrap_or(100) as usize;
    let max = state.logs_reader.limits().max_limit;
    if limit == 0 || limit > max {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit: {limit} is not between 1 and {max}"),
        ));
    }
    let cursor = params
        .cursor
        .as_deref()
        .map(RecordKey::from_cursor)
        .transpose()?;
    let page = state
        .logs_reader
        .search(
            access.tenant(),
            SearchRequest {
                query: params.query.clone().unwrap_or_default(),
                start_ns,
                end_ns,
                limit,
                cursor,
                direction,
            },
        )
        .await?;
    Ok(web::Json(LogPage {
        records: page.records.into_iter().map(|r| r.record.into()).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct HistogramParams {
    pub query: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// A duration (`60s`, `5m`) or seconds; default: the range in 60 buckets.
    pub step: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HistogramBucket {
    /// The bucket's start, Unix seconds.
    pub time: f64,
    /// Records per level.
    #[schema(value_type = Object)]
    pub counts: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize, ToSchema)]
pub struct HistogramAnswer {
    /// Seconds per bucket.
    pub step: f64,
    pub buckets: Vec<HistogramBucket>,
    pub total: u64,
}

/// Matching records counted per step and level.
#[utoipa::path(
    params(HistogramParams),
    responses((status = 200, body = HistogramAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[get("/logs/histogram")]
pub async fn histogram(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    params: web::Query<HistogramParams>,
) -> Result<web::Json<HistogramAnswer>, ApiError> {
    let (start_ns, end_ns) = time_range(
        &state,
        params.start.as_deref(),
        params.end.as_deref(),
        HOUR_NS,
    )?;
    let step_ns = match params.step.as_deref() {
        Some(text) => crate::promql::parse_duration(text, "step")?.saturating_mul(1_000_000),
        None => ((end_ns - start_ns) / 60).max(1_000_000_000),
    };
    if step_ns <= 0 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "step must be positive",
        ));
    }
    // Buckets start at multiples of the step, so the same step always gives the same
    // bucket edges (a refreshing chart does not shift).
    let start_ns = start_ns - start_ns.rem_euclid(step_ns);
    let histogram = state
        .logs_reader
        .histogram(
            access.tenant(),
            HistogramRequest {
                query: params.query.clone().unwrap_or_default(),
                start_ns,
                end_ns: end_ns.max(start_ns.saturating_add(1)),
                step_ns,
            },
        )
        .await?;
    let buckets = histogram
        .buckets
        .iter()
        .enumerate()
        .map(|(i, counts)| HistogramBucket {
            time: (histogram.start_ns + i as i64 * step_ns) as f64 / 1e9,
            counts: Level::ALL
                .iter()
                .map(|l| (l.as_str(), counts[l.code() as usize]))
                .collect(),
        })
        .collect();
    Ok(web::Json(HistogramAnswer {
        step: step_ns as f64 / 1e9,
        buckets,
        total: histogram.total,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct FieldParams {
    pub query: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct ValuesParams {
    pub query: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// Values to list, 1–1000, default 10.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldCount {
    pub name: String,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct FieldsAnswer {
    pub fields: Vec<FieldCount>,
    /// The newest matching records the counts come from (at most 10,000).
    pub records_sampled: u64,
}

/// Field names seen (built-in, labels, fields) with how many records have each.
#[utoipa::path(
    params(FieldParams),
    responses((status = 200, body = FieldsAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[get("/logs/fields")]
pub async fn fields(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    params: web::Query<FieldParams>,
) -> Result<web::Json<FieldsAnswer>, ApiError> {
    let (start_ns, end_ns) = time_range(
        &state,
        params.start.as_deref(),
        params.end.as_deref(),
        HOUR_NS,
    )?;
    let counts = state
        .logs_reader
        .field_names(
            access.tenant(),
            params.query.as_deref().unwrap_or(""),
            start_ns,
            end_ns,
        )
        .await?;
    Ok(web::Json(FieldsAnswer {
        fields: counts
            .counts
            .into_iter()
            .map(|c| FieldCount {
                name: c.name,
                count: c.count,
            })
            .collect(),
        records_sampled: counts.records_sampled,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ValuesAnswer {
    pub field: String,
    pub values: Vec<ValueCount>,
    pub records_sampled: u64,
}

/// The most common values of one field among the newest matching records.
#[utoipa::path(
    params(("name" = String, Path, description = "level, service, host, a label or a field"), ValuesParams),
    responses((status = 200, body = ValuesAnswer), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "logs"
)]
#[get("/logs/fields/{name}/values")]
pub async fn field_values(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    name: web::Path<String>,
    params: web::Query<ValuesParams>,
) -> Result<web::Json<ValuesAnswer>, ApiError> {
    let (start_ns, end_ns) = time_range(
        &state,
        params.start.as_deref(),
        params.end.as_deref(),
        HOUR_NS,
    )?;
    let limit = params.limit.unwrap_or(10) as usize;
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit: {limit} is not between 1 and 1000"),
        ));
    }
    let name = name.into_inner();
    let counts = state
        .logs_reader
        .field_values(
            access.tenant(),
            &name,
            params.query.as_deref().unwrap_or(""),
            start_ns,
            end_ns,
        )
        .await?;
    Ok(web::Json(ValuesAnswer {
        field: name,
        values: counts
            .counts
            .into_iter()
            .take(limit)
            .map(|c| ValueCount {
                value: c.name,
                count: c.count,
            })
            .collect(),
        records_sampled: counts.records_sampled,
    }))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root(otlp, __path_otlp);
    routes.root(loki_push, __path_loki_push);
    routes.root(es_bulk, __path_es_bulk);
    routes.root(es_index_bulk, __path_es_index_bulk);
    routes.root_undocumented(es_root);
    routes.root_undocumented(es_root_bare);
    routes.root_undocumented(es_root_head);
    routes.root_undocumented(es_root_head_bare);
    routes.root_undocumented(es_discovery_get);
    routes.root_undocumented(es_discovery_head);
    routes.root_undocumented(es_discovery_put);
    routes.api(ingest_native, __path_ingest_native);
    routes.api(bulk_api, __path_bulk_api);
    routes.api(search, __path_search);
    routes.api(histogram, __path_histogram);
    routes.api(fields, __path_fields);
    routes.api(field_values, __path_field_values);
}
