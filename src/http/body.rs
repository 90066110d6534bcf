//! Request bodies: read within a size limit, and within a time limit, so a client that
//! trickles a body (or never finishes it) holds a connection for at most
//! `TIDEWATCH_BODY_TIMEOUT_SECS` and then gets 408 `body_timeout`.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::{Stream, StreamExt};

use super::error::ApiError;

/// Reads the body up to `limit` bytes; more is 413 without reading the rest. The buffer
/// is sized from `Content-Length` (within the limit), so a large body is not copied
/// again each time the buffer would have doubled.
pub async fn read_limited(
    mut payload: web::Payload,
    content_length: Option<usize>,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::with_capacity(content_length.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is larger than the limit of {limit} bytes"),
    )
}

/// What reading a body failed on, in our error shape.
pub fn payload_error(err: &PayloadError) -> ApiError {
    match err {
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", io.to_string())
        }
        PayloadError::Overflow => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is larger than the limit",
        ),
        _ => ApiError::bad_request("invalid_body", format!("reading the request body: {err}")),
    }
}

/// How long a body may take, handed to [`limit_body_time`] through app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Middleware: the request's body stream fails with a time-out error once the body has
/// taken longer than [`BodyTimeout`] since the headers arrived. WebSocket upgrades are
/// left alone: their "body" is the connection.
pub async fn limit_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let upgrade = req.headers().contains_key(actix_web::http::header::UPGRADE);
    if let (false, Some(timeout)) = (upgrade, req.app_data::<BodyTimeout>().copied()) {
        let inner = req.take_payload();
        let timed = TimedPayload {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout.0)),
            timeout: timeout.0,
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(timed),
        });
    }
    next.call(req).await
}

struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl Stream for TimedPayload {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let message = format!(
                "the request body was not received within {} s (TIDEWATCH_BODY_TIMEOUT_SECS)",
                self.timeout.as_secs()
            );
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                message,
            )))));
        }
        Poll::Pending
    }
}

/// A JSON request body that must be an object. serde builds a struct from an array too
/// (`["a@b.c","pw"]` fills fields by position), which no client means and the OpenAPI
/// document does not allow; this refuses it, then deserialises as `web::Json` would (same
/// size limit, content-type check and error shape).
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = value.await?;
            if !value.is_object() {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    "invalid JSON body: expected a JSON object",
                )
                .into());
            }
            serde_json::from_value(value).map(JsonObject).map_err(|e| {
                ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")).into()
            })
        })
    }
}

/// For a nested object field: `null`/absent or an object, never an array.
pub fn object_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error as _;
    use serde::Deserialize as _;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        value @ serde_json::Value::Object(_) => serde_json::from_value(value)
            .map(Some)
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom("expected a JSON object or null")),
    }
}
