//! One error vocabulary. Every layer's error says what kind of failure it is
//! ([`ErrorKind`]), with a stable machine-readable code ([`Classify`]); the HTTP layer
//! maps kinds to statuses once (`http::error`), and the Prometheus API's `errorType` is
//! derived from the same. Pure: no HTTP types here.
//!
//! Adding an error kind: a variant here and its status in `http::error::status_of`.

/// What kind of failure an error is, whatever layer raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed: unparseable, a bad parameter (400).
    InvalidInput,
    /// Well-formed, but refused by a rule: a field's constraint, a limit (422).
    Unprocessable,
    /// No valid credential (401).
    Unauthorized,
    /// A valid credential without the permission (403).
    Forbidden,
    /// Nothing by that id, in the caller's tenant (404).
    NotFound,
    /// Clashes with what exists (409).
    Conflict,
    /// Over a size limit (413).
    TooLarge,
    /// A content type or encoding the endpoint does not read (415).
    UnsupportedMediaType,
    /// Over a rate limit; retry later (429).
    RateLimited,
    /// A dependency (database, a tenant's actors, the query threads) cannot serve now;
    /// nothing was changed; retry (503).
    Unavailable,
    /// A fault of ours; details go to the log, not to the client (500).
    Internal,
}

/// An error that knows its kind and code.
pub trait Classify: std::fmt::Display {
    fn kind(&self) -> ErrorKind;

    /// Stable, machine-readable, `snake_case`: `invalid_json`, `series_limit`, …
    fn code(&self) -> &'static str;

    /// When the client may retry, for kinds that say "later".
    fn retry_after_secs(&self) -> Option<u64> {
        None
    }

    /// What the client is told. Internal and unavailable errors usually keep their
    /// details for the log.
    fn public_message(&self) -> String {
        self.to_string()
    }
}
