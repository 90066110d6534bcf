//! Bootstrap and break-glass operations: the first platform admin, and the
//! `tidewatch admin …` commands that work straight on the database.

use anyhow::{bail, Context};
use serde_json::json;

use crate::accounts;
use crate::auth::password::hash_password;
use crate::auth::secrets::generate_api_key;
use crate::config::Config;
use crate::domain::{ApiKeyScope, Email, Role};

use crate::store::api_keys::NewApiKey;
use crate::store::users::NewUser;
use crate::store::Store;

/// Creates the platform admin on first start. Returns the password when it was generated
/// (it is also logged, once).
pub async fn ensure_platform_admin(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Option<String>> {
    if store.any_platform_admin().await? {
        return Ok(None);
    }
    let email = Email::parse(&config.admin_email).context("TIDEWATCH_ADMIN_EMAIL")?;
    let (password, generated) =
        accounts::password_given_or_generated(config.admin_password.as_deref())
            .context("TIDEWATCH_ADMIN_PASSWORD")?;
    if store.find_user_by_email(&email).await?.is_some() {
        bail!("TIDEWATCH_ADMIN_EMAIL {email} belongs to an existing user who is not a platform admin; choose another email");
    }
    store
        .create_platform_admin(NewUser {
            email: email.clone(),
            name: "Platform admin".into(),
            password_hash: hash_password(&password).await?,
        })
        .await?;
    match &generated {
        Some(password) => tracing::warn!(
            email = %email,
            password = %password,
            "created the platform admin with a generated password; it is shown only this once"
        ),
        None => tracing::info!(email = %email, "created the platform admin"),
    }
    Ok(generated)
}

/// `tidewatch admin create-tenant`.
pub async fn create_tenant(
    store: &Store,
    name: &str,
    slug: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let (name, slug) = accounts::tenant_identity(name, slug)?;
    let (tenant, _) = store
        .create_tenant(slug, name, None, Some("cli".into()))
        .await?;
    Ok(json!({"id": tenant.id.to_string(), "slug": tenant.slug, "name": tenant.name}))
}

/// What `tidewatch admin create-user` is asked to do.
pub struct CreateUserCommand<'a> {
    pub email: &'a str,
    pub password: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub role: Role,
    pub platform_admin: bool,
}

/// `tidewatch admin create-user`: creates a user, or (break-glass) resets the password
/// of an existing one when `--password` is given; adds the membership when a tenant is named.
pub async fn create_user(
    store: &Store,
    cmd: CreateUserCommand<'_>,
) -> anyhow::Result<serde_json::Value> {
    let email = Email::parse(cmd.email)?;
    let tenant = match cmd.tenant {
        Some(handle) => Some(
            store
                .find_tenant_by_slug_or_id(handle)
                .await?
                .with_context(|| format!("no tenant \"{handle}\""))?,
        ),
        None if cmd.platform_admin => None,
        None => bail!("a user needs --tenant (or --platform-admin)"),
    };
    let (password, generated) = accounts::password_given_or_generated(cmd.password)?;
    let password_hash = hash_password(&password).await?;
    let (user_id, generated) = match store.find_user_by_email(&email).await? {
        Some(user) => {
            if cmd.password.is_some() {
                store
                    .set_user_credentials(user.id, Some(password_hash), Some(false))
                    .await?;
            }
            (user.id, None)
        }
        None => {
            let new_user = NewUser {
                email: email.clone(),
                name: String::new(),
                password_hash,
            };
            let id = match (&tenant, cmd.platform_admin) {
                (_, true) => store.create_platform_admin(new_user).await?.id,
                (Some(t), false) => {
                    store
                        .create_member(t.id, new_user, cmd.role, Some("cli".into()))
                        .await?
                        .user
                        .id
                }
                (None, false) => unreachable!("checked above: a tenant is required"),
            };
            (id, generated)
        }
    };
    if let Some(t) = &tenant {
        if store.membership(t.id, user_id).await?.is_none() {
            store.add_member(t.id, user_id, cmd.role).await?;
        }
    }
    Ok(json!({
        "user_id": user_id.to_string(),
        "email": email.as_str(),
        "tenant_id": tenant.as_ref().map(|t| t.id.to_string()),
        "role": tenant.as_ref().map(|_| cmd.role),
        "generated_password": generated,
    }))
}

/// `tidewatch admin create-api-key`.
pub async fn create_api_key(
    store: &Store,
    tenant: &str,
    name: &str,
    scopes: &[ApiKeyScope],
) -> anyhow::Result<serde_json::Value> {
    let (name, scopes) = accounts::api_key_definition(name, scopes)
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field, e.message))?;
    let tenant = store
        .find_tenant_by_slug_or_id(tenant)
        .await?
        .with_context(|| format!("no tenant \"{tenant}\""))?;
    let generated = generate_api_key();
    let record = store
        .create_api_key(
            tenant.id,
            NewApiKey {
                name,
                prefix: generated.prefix,
                key_hash: generated.hash,
                scopes,
                created_by: Some("cli".into()),
            },
        )
        .await?;
    Ok(
        json!({"id": record.id.to_string(), "key": generated.key, "prefix": record.prefix, "tenant_id": tenant.id.to_string()}),
    )
}
