//! The one error type handlers return. Every lower-layer error classifies itself
//! ([`crate::error::Classify`]); [`status_of`] maps its kind to a status, once. Body:
//! `{"error":{"code":"…","message":"…"}}`, or, on the Prometheus API, the same inside
//! Prometheus' envelope (`status`, `errorType`), both from one [`ApiError`].

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::{Classify, ErrorKind};

/// An error answer: status, machine-readable code, human-readable message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// Which body shape answers it.
    pub shape: ErrorShape,
}

/// The body an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    /// `{"error":{"code","message"}}`
    #[default]
    Tidewatch,
    /// `{"status":"error","errorType","error":{"code","message"}}`, for the Prometheus
    /// HTTP API (Grafana and promtool read `errorType`).
    Prometheus,
}

/// The status for each kind of error: the one mapping.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E: Classify> From<E> for ApiError {
    fn from(err: E) -> Self {
        let kind = err.kind();
        if kind == ErrorKind::Internal {
            return Self::internal(err.to_string());
        }
        Self {
            retry_after_secs: err.retry_after_secs(),
            ..Self::new(status_of(kind), err.code(), err.public_message())
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_json`, `unauthorized`, `forbidden`, `not_found`, …
    pub code: String,
    /// What was wrong, for people.
    pub message: String,
}

/// The Prometheus API's error body, with our `error` object.
#[derive(Serialize)]
struct PrometheusErrorBody {
    status: &'static str,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: ErrorDetail,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            shape: ErrorShape::Tidewatch,
        }
    }

    /// The same error in the Prometheus API's envelope.
    pub fn in_prometheus_shape(self) -> Self {
        Self {
            shape: ErrorShape::Prometheus,
            ..self
        }
    }

    /// Prometheus' `errorType` for this error.
    pub fn prometheus_error_type(&self) -> &'static str {
        match (self.status, self.code) {
            (StatusCode::SERVICE_UNAVAILABLE, "timeout") => "timeout",
            (StatusCode::SERVICE_UNAVAILABLE, _) => "unavailable",
            (StatusCode::UNPROCESSABLE_ENTITY, _) => "execution",
            (StatusCode::INTERNAL_SERVER_ERROR, _) => "internal",
            (StatusCode::NOT_FOUND, _) => "not_found",
            _ => "bad_data",
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has details",
        )
    }
}

impl ApiError {
    /// The status with the headers this error implies (`Retry-After`, `WWW-Authenticate`),
    /// for any body shape (ours, or Prometheus's envelope around it).
    pub fn response_builder(&self) -> actix_web::HttpResponseBuilder {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let error = ErrorDetail {
            code: self.code.to_owned(),
            message: self.message.clone(),
        };
        match self.shape {
            ErrorShape::Tidewatch => self.response_builder().json(ErrorBody { error }),
            ErrorShape::Prometheus => self.response_builder().json(PrometheusErrorBody {
                status: "error",
                error_type: self.prometheus_error_type(),
                error,
            }),
        }
    }
}

/// Turns actix's JSON body errors into our shape: 413 over the limit, 415 for a wrong
/// content type, 400 for anything unparseable.
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ),
        JsonPayloadError::Payload(payload) => super::body::payload_error(payload),
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}"))
        }
        other => ApiError::bad_request("invalid_json", format!("invalid JSON body: {other}")),
    };
    api.into()
}

/// An id in the path that does not parse cannot name anything: 404, like an unknown id.
pub fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    // `PUT /api/v1/alert-rules/export` reaches the `{id}` route's extractor: a fixed path
    // that exists under other methods is answered 405 as routing would have.
    if let Some(response) = super::middleware::method_not_allowed(req) {
        return actix_web::error::InternalError::from_response(err, response).into();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such resource: {err}"),
    )
    .into()
}

pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
}
