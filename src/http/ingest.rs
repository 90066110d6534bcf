//! Metric ingest endpoints, one per wire format, all served by one generic handler
//! ([`ingest`]) that builds the format's decoder, decodes, and hands the batch to the write
//! path ([`crate::metrics::MetricsWriter`]). All accept an API key with the `ingest` scope
//! (Bearer, `Token` or Basic) or an editor's or admin's JWT.

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use crate::auth::principal::Ingest;
use crate::domain::metrics::MetricBatch;
use crate::ingest::{
    decode_request, DecodeContext, Decoder, InfluxDecoder, JsonDecoder, OtlpDecoder, OtlpEncoding,
    RemoteWriteDecoder, RequestHead,
};
use crate::self_metrics::{IngestStage, StageTimer};

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// What one ingest request stored, and the decoder that read it (whose choices, such as
/// OTLP's encoding, shape the answer).
struct Ingested<D> {
    decoder: D,
    accepted_samples: usize,
}

/// The one ingest handler, for any metric decoder: builds the decoder from the request's
/// head, reads the body within the limit, decodes and stores it; answers the samples
/// acknowledged. Refusals are counted by their code in `tidewatch_ingest_rejections_total`
/// and their samples in `tidewatch_discarded_samples_total`.
async fn ingest<D: Decoder<Batch = MetricBatch>>(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Ingested<D>, ApiError> {
    let result = decode_and_store::<D>(state, access, req, payload).await;
    if let Err(e) = &result {
        state
            .metrics
            .ingest_rejections
            .with_label_values(&[e.code])
            .inc();
    }
    result
}

/// Builds the format's decoder from the request's head (`adjust` may set what the path
/// says, such as an Elasticsearch index), reads the body within the ingest limit and
/// decodes it: what every ingest handler, of any signal, starts with.
pub(super) async fn decode_body<D: Decoder>(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
    adjust: impl FnOnce(&mut D),
) -> Result<(D, D::Batch), ApiError> {
    let head = RequestHead {
        content_type: header(req, CONTENT_TYPE),
        query: req.query_string(),
    };
    let mut decoder = D::for_request(&head, &state.decoder_memory)?;
    adjust(&mut decoder);
    let limit = state.config.ingest_max_body_bytes;
    let content_length =
        header(req, actix_web::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    let body = super::body::read_limited(payload, content_length, limit).await?;
    let ctx = DecodeContext {
        now_ms: state.clock.now_ms(),
        max_decompressed_bytes: limit,
        max_series: DecodeContext::DEFAULT_MAX_SERIES,
        tenant: Some(access.tenant()),
    };
    let decoding = StageTimer::new(&state.metrics);
    let batch = decode_request(&decoder, &body, header(req, CONTENT_ENCODING), &ctx)?;
    decoding.lap(IngestStage::Decode);
    Ok((decoder, batch))
}

async fn decode_and_store<D: Decoder<Batch = MetricBatch>>(
    state: &AppState,
    access: &TenantAccess<Ingest>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Ingested<D>, ApiError> {
    let (decoder, batch) = decode_body::<D>(state, access, req, payload, |_| {}).await?;
    let samples = batch.sample_count() as u64;
    let accepted_samples = state
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
        })?;
    Ok(Ingested {
        decoder,
        accepted_samples,
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
    let accepted_samples = ingest::<JsonDecoder>(&state, &access, &req, payload)
        .await?
        .accepted_samples;
    Ok(web::Json(IngestReceipt { accepted_samples }))
}

/// The query parameters of the InfluxDB writes, as documented; the decoder reads them.
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct InfluxParams {
    /// `ns` (default), `us`, `ms` or `s`.
    pub precision: Option<String>,
}

/// InfluxDB 2.x line protocol write (`bucket` and `org` are accepted and ignored).
#[utoipa::path(
    params(InfluxParams),
    request_body(content = Option<String>, description = "line protocol; an empty body stores nothing and is answered 204", content_type = "text/plain"),
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
) -> Result<HttpResponse, ApiError> {
    ingest::<InfluxDecoder>(&state, &access, &req, payload).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// InfluxDB 1.x line protocol write (`db` and `rp` are accepted and ignored).
#[utoipa::path(
    params(InfluxParams),
    request_body(content = Option<String>, description = "line protocol; an empty body stores nothing and is answered 204", content_type = "text/plain"),
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
) -> Result<HttpResponse, ApiError> {
    ingest::<InfluxDecoder>(&state, &access, &req, payload).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Prometheus remote write 1.0 (snappy-compressed protobuf).
#[utoipa::path(
    path = "/write",
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
    ingest::<RemoteWriteDecoder>(&state, &access, &req, payload).await?;
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
    let ingested = ingest::<OtlpDecoder>(&state, &access, &req, payload).await?;
    // The answer in the request's encoding.
    Ok(if ingested.decoder.encoding == OtlpEncoding::Json {
        HttpResponse::Ok()
            .content_type("application/json")
            .body("{}")
    } else {
        HttpResponse::Ok()
            .content_type("application/x-protobuf")
            .body(Vec::<u8>::new())
    })
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root(influx_v1, __path_influx_v1);
    routes.root(influx_v2, __path_influx_v2);
    routes.root(otlp, __path_otlp);
    routes.api(json, __path_json);
    routes.api(remote_write, __path_remote_write);
}
