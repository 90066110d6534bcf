//! Metric ingest endpoints, one per wire format: each decodes with its format's decoder
//! and hands the batch to the shared write path ([`crate::metrics::MetricsWriter`]). All accept an API
//! key with the `ingest` scope (Bearer, `Token` or Basic) or an editor's or admin's JWT.

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use crate::auth::principal::Ingest;
use crate::domain::time::now_ms;
use crate::ingest::{
    decode_request, DecodeContext, InfluxDecoder, JsonDecoder, MetricDecoder, OtlpDecoder,
    OtlpEncoding, Precision, RemoteWriteDecoder,
};
use crate::self_metrics::{IngestStage, StageTimer};

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Decodes and stores one request; returns the samples acknowledged. Refusals are counted
/// by their error code in `tidewatch_ingest_rejections_total`.
async fn ingest_with(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
    decoder: &dyn MetricDecoder,
    precision: Precision,
) -> Result<usize, ApiError> {
    let result = decode_and_store(state, access, req, payload, decoder, precision).await;
    if let Err(e) = &result {
        state
            .metrics
            .ingest_rejections
            .with_label_values(&[e.code])
            .inc();
    }
    result
}

async fn decode_and_store(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
    decoder: &dyn MetricDecoder,
    precision: Precision,
) -> Result<usize, ApiError> {
    let limit = state.config.ingest_max_body_bytes;
    let content_length =
        header(req, actix_web::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    let body = super::body::read_limited(payload, content_length, limit).await?;
    let ctx = DecodeContext {
        now_ms: now_ms(),
        max_decompressed_bytes: limit,
        max_series: DecodeContext::DEFAULT_MAX_SERIES,
        precision,
        tenant: Some(access.tenant()),
    };
    let decoding = StageTimer::new(&state.metrics);
    let batch = decode_request(decoder, &body, header(req, CONTENT_ENCODING), &ctx)?;
    decoding.lap(IngestStage::Decode);
    let samples = batch.sample_count() as u64;
    state
        .writer
        .write(access.tenant(), batch)
        .await
        .map_err(|failure| {
            let refusal = ApiError::from(failure);
            state
                .metrics
                .discarded_samples
                .with_label_values(&[access.tenant().to_string().as_str(), refusal.code])
                .inc_by(samples);
            refusal
        })
}

#[derive(Serialize, ToSchema)]
pub struct IngestReceipt {
    /// Samples durably stored by this request.
    pub accepted_samples: usize,
}

/// Tidewatch's JSON format: `{"metrics":[{"name","labels","value","timestamp"?}]}`.
#[utoipa::path(
    request_body(content = String, description = "{\"metrics\":[{\"name\":\"cpu_usage\",\"labels\":{\"host\":\"a\"},\"value\":1.5,\"timestamp\":1700000000000}]}", content_type = "application/json"),
    responses(
        (status = 200, body = IngestReceipt),
        (status = 400, body = ErrorBody, description = "malformed or invalid samples; nothing stored"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "a Content-Type other than application/json"),
        (status = 422, body = ErrorBody, description = "the tenant's series limit"),
        (status = 429, body = ErrorBody, description = "the tenant's ingest rate limit"),
    ),
    security(("bearer" = [])),
    tag = "ingest"
)]
#[post("/ingest/metrics")]
pub async fn json(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<IngestReceipt>, ApiError> {
    JsonDecoder::check_content_type(header(&req, CONTENT_TYPE))?;
    let accepted_samples = ingest_with(
        &state,
        &access,
        &req,
        payload,
        &JsonDecoder,
        Precision::default(),
    )
    .await?;
    Ok(web::Json(IngestReceipt { accepted_samples }))
}

#[derive(Deserialize, IntoParams)]
pub struct InfluxParams {
    /// `ns` (default), `us`, `ms` or `s`.
    pub precision: Option<String>,
}

async fn influx(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<InfluxParams>,
) -> Result<HttpResponse, ApiError> {
    let precision = match params.precision.as_deref() {
        Some(text) => Precision::parse(text)?,
        None => Precision::default(),
    };
    ingest_with(&state, &access, &req, payload, &InfluxDecoder, precision).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// InfluxDB 2.x line protocol write (`bucket` and `org` are accepted and ignored).
#[utoipa::path(
    params(InfluxParams),
    request_body(content = String, description = "line protocol", content_type = "text/plain"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "ingest"
)]
#[post("/api/v2/write")]
pub async fn influx_v2(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<InfluxParams>,
) -> Result<HttpResponse, ApiError> {
    influx(state, access, req, payload, params).await
}

/// InfluxDB 1.x line protocol write (`db` and `rp` are accepted and ignored).
#[utoipa::path(
    params(InfluxParams),
    request_body(content = String, description = "line protocol", content_type = "text/plain"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "ingest"
)]
#[post("/write")]
pub async fn influx_v1(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<InfluxParams>,
) -> Result<HttpResponse, ApiError> {
    influx(state, access, req, payload, params).await
}

/// Prometheus remote write 1.0 (snappy-compressed protobuf).
#[utoipa::path(
    path = "/api/v1/write",
    request_body(content = Vec<u8>, description = "snappy-compressed prometheus.WriteRequest", content_type = "application/x-protobuf"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "ingest"
)]
#[post("/write")]
pub async fn remote_write(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    RemoteWriteDecoder::check_content_type(header(&req, CONTENT_TYPE))?;
    ingest_with(
        &state,
        &access,
        &req,
        payload,
        &RemoteWriteDecoder,
        Precision::default(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// OTLP/HTTP metrics export, protobuf or JSON; the answer is an empty
/// `ExportMetricsServiceResponse` in the request's encoding.
#[utoipa::path(
    request_body(content = Vec<u8>, description = "ExportMetricsServiceRequest", content_type = "application/x-protobuf"),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "ingest"
)]
#[post("/v1/metrics")]
pub async fn otlp(
    state: web::Data<AppState>,
    access: TenantAccess<Ingest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let decoder = OtlpDecoder::for_content_type(header(&req, CONTENT_TYPE))?;
    let answer_json = matches!(decoder.encoding, OtlpEncoding::Json);
    ingest_with(
        &state,
        &access,
        &req,
        payload,
        &decoder,
        Precision::default(),
    )
    .await?;
    Ok(if answer_json {
        HttpResponse::Ok()
            .content_type("application/json")
            .body("{}")
    } else {
        HttpResponse::Ok()
            .content_type("application/x-protobuf")
            .body(Vec::<u8>::new())
    })
}
