//! User-facing credentials: email addresses and passwords.

use std::fmt;

use super::ValidationError;

/// The shape of an email address, as the OpenAPI document states it (one `@`, no spaces
/// or control characters, a dot inside the domain or `localhost`); the same text is the
/// check here, so the document and the server cannot disagree.
pub const EMAIL_PATTERN: &str =
    r"^[^@\x00-\x20]+@(localhost|[^@\x00-\x20.][^@\x00-\x20]*\.[^@\x00-\x20]*[^@\x00-\x20.])$";

/// Longest email address, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;

/// An email address, lowercased so lookups are case-insensitive. Checked for shape only
/// ([`EMAIL_PATTERN`]); callers trim what a person typed (login) before parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        static SHAPE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let shape =
            SHAPE.get_or_init(|| regex::Regex::new(EMAIL_PATTERN).expect("a valid pattern"));
        if !shape.is_match(raw) || raw.chars().count() > EMAIL_MAX_CHARS {
            return Err(ValidationError::new(
                "email",
                format!("\"{}\" is not a valid email address", raw.trim()),
            ));
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: at least 8 and at most 1024 characters (the upper bound keeps
/// hashing cost bounded). Debug output never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ValidationError::new(
                "password",
                format!("must be at least {} characters long", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "password",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        let cases = [
            ("Ops@Example.COM", Some("ops@example.com")),
            // Spaces are refused here; login trims what a person typed before parsing.
            ("  a@b.io ", None),
            ("a@b.io\t", None),
            ("a@b.c.", None),
            ("admin@localhost", Some("admin@localhost")),
            ("no-at-sign", None),
            ("@example.com", None),
            ("a@", None),
            ("a@b@c.com", None),
            ("a b@c.com", None),
            ("a@nodot", None),
            ("a@.com", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                Email::parse(raw).ok().as_ref().map(Email::as_str),
                expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(password.expose(), "correct horse");
        assert_eq!(format!("{password:?}"), "Password(***)");
    }
}
