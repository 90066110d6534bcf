//! API keys: stored as a public prefix plus a hash of the secret.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Set, Statement,
};
use serde_json::json;

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::api_key;
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{ApiKeyId, ApiKeyScope, TenantId};

/// An API key as read back; the secret itself is never stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<ApiKeyScope>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl TryFrom<api_key::Model> for ApiKeyRecord {
    type Error = StoreError;
    fn try_from(row: api_key::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&row.id, "api key")?,
            tenant: parse_id(&row.tenant_id, "tenant")?,
            name: row.name,
            prefix: row.prefix,
            key_hash: row.key_hash,
            scopes: ApiKeyScope::parse_list(&row.scopes).map_err(StoreError::Corrupt)?,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            revoked_at_ms: row.revoked_at_ms,
        })
    }
}

/// A key to store: its public prefix, the hash of its secret, and what it may do.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<ApiKeyScope>,
    pub created_by: Option<String>,
}

impl Store {
    pub async fn create_api_key(
        &self,
        tenant: TenantId,
        key: NewApiKey,
    ) -> Result<ApiKeyRecord, StoreError> {
        let txn = self.begin_write().await?;
        let id = ApiKeyId::generate();
        let row = api_key::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(tenant.to_string()),
            name: Set(key.name.clone()),
            prefix: Set(key.prefix),
            key_hash: Set(key.key_hash),
            scopes: Set(ApiKeyScope::join(&key.scopes)),
            created_by: Set(key.created_by.clone()),
            created_at_ms: Set(now_ms()),
            last_used_at_ms: Set(None),
            revoked_at_ms: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "API key prefix collision; try again"))?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: key.created_by,
                action: AuditAction::ApiKeyCreate,
                target: id.to_string(),
                details: json!({"name": key.name, "scopes": key.scopes}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(api_key::Column::CreatedAtMs)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Revokes a key of this tenant. Another tenant's key id is "not found".
    pub async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        actor: Option<String>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = api_key::Entity::find_by_id(id.to_string())
            .filter(api_key::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
        else {
            return Err(StoreError::NotFound("API key"));
        };
        if row.revoked_at_ms.is_none() {
            let mut active: api_key::ActiveModel = row.into();
            active.revoked_at_ms = Set(Some(now_ms()));
            active.update(&txn).await?;
        }
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor,
                action: AuditAction::ApiKeyRevoke,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// For authentication: the key a credential names by its public prefix, with its
    /// tenant's `disabled` flag (`None` if the tenant is gone), in one query, since every
    /// request with a key asks. Not tenant-scoped: the key is what tells us the tenant.
    pub async fn find_api_key_with_tenant_state(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<bool>)>, StoreError> {
        let backend = self.backend();
        let sql = format!(
            "SELECT k.id, k.tenant_id, k.name, k.prefix, k.key_hash, k.scopes, k.created_by, \
             k.created_at_ms, k.last_used_at_ms, k.revoked_at_ms, t.disabled AS tenant_disabled \
             FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = {}",
            super::metrics::placeholder(backend, 1)
        );
        let Some(row) = self
            .db()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [prefix.into()],
            ))
            .await?
        else {
            return Ok(None);
        };
        let tenant_disabled: Option<bool> = row.try_get("", "tenant_disabled")?;
        let key = api_key::Model::from_query_result(&row, "")?;
        Ok(Some((key.try_into()?, tenant_disabled)))
    }
}
