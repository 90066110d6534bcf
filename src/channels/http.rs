//! Sending to HTTP providers and reading their answer the one way every kind needs: 2xx is
//! delivered; 408, 429, 5xx and network errors are retried (`Retry-After` honoured on 429
//! and 503); any other 4xx is refused (retrying will not help).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::{DeliveryError, ProviderAnswer};

/// At most this long a provider may ask us to wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_rfc3339_weak(text)
            .ok()
            .or_else(|| httpdate(text))?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `Retry-After` as an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`).
fn httpdate(text: &str) -> Option<SystemTime> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u32 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    humantime::parse_rfc3339(&format!("{year:04}-{month:02}-{day:02}T{time}Z")).ok()
}

/// Sends a request and classifies the answer.
pub async fn send(request: RequestBuilder) -> Result<ProviderAnswer, DeliveryError> {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            // reqwest's error names the URL, which may carry a token (Slack, Telegram).
            return Err(DeliveryError::Retry {
                message: format!("{what}: {}", without_url(&e)),
                answer: None,
                after: None,
            });
        }
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    let answer = ProviderAnswer::new(Some(status.as_u16()), &body);
    if status.is_success() {
        return Ok(answer);
    }
    let message = format!("the provider answered {status}");
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        let after = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then_some(wait)
        .flatten();
        return Err(DeliveryError::Retry {
            message,
            answer: Some(answer),
            after,
        });
    }
    Err(DeliveryError::Refused {
        message,
        answer: Some(answer),
    })
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    // The cause chain says what actually went wrong (refused, reset, …).
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        // In the past: no wait.
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().expect("header"));
        assert_eq!(retry_after(&headers), None);
        assert!(httpdate("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
    }
}
