//! The one error type handlers return, and how every lower-layer error maps onto an
//! HTTP status and a stable `code`. Body: `{"error":{"code":"…","message":"…"}}`.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::actors::registry::RegistryError;
use crate::auth::AuthError;
use crate::domain::ValidationError;
use crate::store::StoreError;

/// An error answer: status, machine-readable code, human-readable message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
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

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
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
        self.response_builder().json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        })
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::MissingCredential
            | AuthError::MalformedCredential(_)
            | AuthError::InvalidToken
            | AuthError::InvalidApiKey
            | AuthError::InvalidLogin
            | AuthError::Disabled => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
            AuthError::TenantRequired => Self::bad_request("tenant_required", message),
            AuthError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AuthError::RateLimited { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            AuthError::Store(store) => store.into(),
            AuthError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "database unavailable");
                Self {
                    retry_after_secs: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the database is unavailable; nothing was changed; retry shortly",
                    )
                }
            }
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            err.to_string(),
        )
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_unavailable",
            err.to_string(),
        )
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
pub fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
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

impl From<crate::metrics::IngestFailure> for ApiError {
    fn from(err: crate::metrics::IngestFailure) -> Self {
        use crate::actors::aggregator::head::AdmitError;
        use crate::actors::aggregator::Refusal;
        use crate::actors::persister::PersistError;
        use crate::metrics::{IngestFailure, RefusalError};
        let message = err.to_string();
        match err {
            IngestFailure::Invalid(_) => Self::bad_request("invalid_samples", message),
            IngestFailure::Refused(RefusalError(Refusal::Admit(AdmitError::SeriesLimit { limit, series }))) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "series_limit",
                format!("the tenant has reached its limit of {limit} active series; refused new series {series}; nothing was stored"),
            ),
            IngestFailure::Refused(RefusalError(Refusal::Admit(AdmitError::TooOld { origin, series, sealed_until_ms }))) => Self::bad_request(
                "out_of_order",
                format!("{origin}: series {series} already has sealed samples up to {sealed_until_ms} ms; older samples are rejected; nothing was stored"),
            ),
            IngestFailure::Refused(RefusalError(Refusal::Admit(AdmitError::DuplicateSample { origin, series, timestamp_ms }))) => Self::bad_request(
                "duplicate_sample",
                format!("{origin}: duplicate sample for timestamp {timestamp_ms} ms: series {series} already has a different value there; nothing was stored"),
            ),
            IngestFailure::Refused(RefusalError(Refusal::Admit(AdmitError::BeyondRetention { origin, series, retention_days }))) => Self::bad_request(
                "invalid_samples",
                format!("{origin}: series {series} has a sample older than the tenant's retention of {retention_days} days; nothing was stored"),
            ),
            IngestFailure::Refused(RefusalError(Refusal::RateLimited { retry_after_secs })) => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("the tenant's ingest rate limit is exceeded; retry in {retry_after_secs} s; nothing was stored"),
                )
            },
            IngestFailure::Refused(RefusalError(Refusal::NotReady(detail))) => {
                tracing::error!(%detail, "aggregator not ready");
                Self {
                    retry_after_secs: Some(5),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the tenant's metric store is not ready; retry shortly")
                }
            }
            IngestFailure::Persist(PersistError::Overloaded { .. }) => Self {
                retry_after_secs: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
            },
            IngestFailure::Persist(_) | IngestFailure::Registry(_) => {
                tracing::error!(%message, "ingest failed");
                Self {
                    retry_after_secs: Some(1),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "storing the batch failed; nothing was acknowledged; retry")
                }
            }
        }
    }
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(err: crate::ingest::IngestError) -> Self {
        use crate::ingest::IngestError;
        let message = err.to_string();
        match err {
            IngestError::Malformed { .. } => {
                Self::bad_request("invalid_body", format!("{message}; nothing was stored"))
            }
            IngestError::TooLarge { .. } | IngestError::TooManySeries { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedMediaType(_) => {
                Self::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    message,
                )
            }
        }
    }
}
