//! Tenant names and slugs.

use super::ValidationError;

/// A tenant's URL-safe handle, used at login (`"tenant": "acme"`): lowercase ASCII
/// letters, digits and inner hyphens, 1–63 characters (a DNS label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if raw.is_empty() || raw.len() > 63 {
            return Err(ValidationError::new(
                "slug",
                "must be 1 to 63 characters long",
            ));
        }
        if !ok_chars || raw.starts_with('-') || raw.ends_with('-') {
            return Err(ValidationError::new(
                "slug",
                format!("\"{raw}\" may hold only lowercase letters, digits and inner hyphens"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A slug made from a display name: "Acme Corp." becomes "acme-corp".
    pub fn from_name(name: &TenantName) -> Result<Self, ValidationError> {
        let mut slug = String::new();
        for c in name.as_str().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let trimmed: String = slug.trim_end_matches('-').chars().take(63).collect();
        Self::parse(trimmed.trim_end_matches('-')).map_err(|_| {
            ValidationError::new(
                "slug",
                "cannot be derived from this name; give a slug explicitly",
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's display name: see [`display_name`]; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        display_name(raw, "name").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the OpenAPI document says of a required display name: at least one character that
/// is not a space or an ASCII control character (unanchored).
pub const DISPLAY_NAME_PATTERN: &str = r"[^\x00-\x20]";

/// Longest display name, in characters as sent.
pub const DISPLAY_NAME_MAX_CHARS: usize = 200;

/// A required display name (tenant, API key): 1–200 characters as sent, at least one of
/// them visible ([`DISPLAY_NAME_PATTERN`]); returned trimmed.
pub fn display_name(raw: &str, field: &'static str) -> Result<String, ValidationError> {
    let visible = raw.chars().any(|c| c > ' ');
    if !visible || raw.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            "must be 1 to 200 characters long, not only spaces",
        ));
    }
    Ok(raw.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_dns_labels_only() {
        let cases = [
            ("acme", true),
            ("acme-corp-2", true),
            ("a", true),
            ("", false),
            ("-acme", false),
            ("acme-", false),
            ("Acme", false),
            ("acme corp", false),
            ("ácme", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(TenantSlug::parse(raw).is_ok(), ok, "{raw:?}");
        }
        assert!(TenantSlug::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn slugs_derive_from_names() {
        let cases = [
            ("Acme Corp.", Some("acme-corp")),
            ("  Big   Co  ", Some("big-co")),
            ("Ünïcode Ltd", Some("n-code-ltd")),
            ("!!!", None),
        ];
        for (name, expected) in cases {
            let name = TenantName::parse(name).unwrap();
            let slug = TenantSlug::from_name(&name).ok();
            assert_eq!(slug.as_ref().map(TenantSlug::as_str), expected);
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TenantName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"x".repeat(201)).is_err());
    }
}
