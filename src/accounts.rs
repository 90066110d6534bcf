//! Account rules, one place for the HTTP API and the `tidewatch admin` CLI alike: tenant
//! names and slugs, passwords given or generated, user display names, API key names and
//! scopes. Pure apart from generating a password.

use crate::auth::secrets::generate_password;
use crate::domain::tenant::display_name;
use crate::domain::{ApiKeyScope, Password, TenantName, TenantSlug, ValidationError};

/// A tenant's name and slug; the slug derived from the name when none is given.
pub fn tenant_identity(
    name: &str,
    slug: Option<&str>,
) -> Result<(TenantName, TenantSlug), ValidationError> {
    let name = TenantName::parse(name)?;
    let slug = match slug {
        Some(raw) => TenantSlug::parse(raw)?,
        None => TenantSlug::from_name(&name)?,
    };
    Ok((name, slug))
}

/// The password given, checked, or a generated one; the generated text is answered
/// beside it so the caller can show it, once.
pub fn password_given_or_generated(
    given: Option<&str>,
) -> Result<(Password, Option<String>), ValidationError> {
    match given {
        Some(raw) => Ok((Password::parse(raw)?, None)),
        None => {
            let text = generate_password();
            Ok((Password::parse(&text)?, Some(text)))
        }
    }
}

/// A user's display name: optional (empty), at most 200 characters, trimmed.
pub fn user_name(raw: &str) -> Result<String, ValidationError> {
    if raw.chars().count() > crate::domain::tenant::DISPLAY_NAME_MAX_CHARS {
        return Err(ValidationError::new(
            "name",
            "must be at most 200 characters long",
        ));
    }
    Ok(raw.trim().to_owned())
}

/// An API key's name (1–200 characters, not only spaces) and its scopes (at least one;
/// sorted, without repeats).
pub fn api_key_definition(
    name: &str,
    scopes: &[ApiKeyScope],
) -> Result<(String, Vec<ApiKeyScope>), ValidationError> {
    let name = display_name(name, "name")?;
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ValidationError::new(
            "scopes",
            "give at least one of ingest, read, alerts",
        ));
    }
    Ok((name, scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_names_and_scopes_follow_one_rule() {
        assert!(api_key_definition("", &[ApiKeyScope::Read]).is_err());
        assert!(api_key_definition("   ", &[ApiKeyScope::Read]).is_err());
        assert!(api_key_definition(&"k".repeat(201), &[ApiKeyScope::Read]).is_err());
        assert_eq!(
            api_key_definition("ci", &[]).map_err(|e| e.field),
            Err("scopes")
        );
        assert_eq!(
            api_key_definition(
                " ci ",
                &[ApiKeyScope::Read, ApiKeyScope::Ingest, ApiKeyScope::Read]
            ),
            Ok((
                "ci".to_owned(),
                vec![ApiKeyScope::Ingest, ApiKeyScope::Read]
            ))
        );
    }

    #[test]
    fn a_password_is_checked_or_generated() {
        assert!(password_given_or_generated(Some("short")).is_err());
        let (_, shown) = password_given_or_generated(Some("correct horse battery")).unwrap();
        assert_eq!(shown, None);
        let (_, generated) = password_given_or_generated(None).unwrap();
        assert!(generated.is_some_and(|text| Password::parse(&text).is_ok()));
    }

    #[test]
    fn tenant_slugs_come_from_the_name_unless_given() {
        let (name, slug) = tenant_identity("Acme Corp", None).unwrap();
        assert_eq!((name.as_str(), slug.as_str()), ("Acme Corp", "acme-corp"));
        let (_, slug) = tenant_identity("Acme Corp", Some("acme")).unwrap();
        assert_eq!(slug.as_str(), "acme");
        assert!(tenant_identity("Acme", Some("Not A Slug")).is_err());
    }
}
