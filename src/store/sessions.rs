//! Login sessions as families of rotating refresh tokens.
//!
//! A refresh token is used once: using it marks it used and issues the next one in the
//! same family. Presenting a used token again means it was stolen (or replayed), so the
//! whole family is revoked, ending the session for thief and owner alike.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use super::entities::refresh_token;
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{SessionId, TenantId, UserId};

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOwner {
    pub session: SessionId,
    pub user: UserId,
    pub tenant: Option<TenantId>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid; the new one is stored in the same session.
    Rotated(SessionOwner),
    /// The token had already been used: the session is now revoked.
    ReuseDetected,
    /// Unknown, expired or revoked.
    Invalid,
}

async fn insert_token<C: ConnectionTrait>(
    conn: &C,
    owner: SessionOwner,
    token_hash: String,
    expires_at_ms: i64,
) -> Result<(), StoreError> {
    refresh_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        family_id: Set(owner.session.to_string()),
        user_id: Set(owner.user.to_string()),
        tenant_id: Set(owner.tenant.map(|t| t.to_string())),
        token_hash: Set(token_hash),
        expires_at_ms: Set(expires_at_ms),
        used_at_ms: Set(None),
        revoked_at_ms: Set(None),
        created_at_ms: Set(now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

async fn revoke_family<C: ConnectionTrait>(conn: &C, session: SessionId) -> Result<(), StoreError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAtMs, Expr::value(now_ms()))
        .filter(refresh_token::Column::FamilyId.eq(session.to_string()))
        .filter(refresh_token::Column::RevokedAtMs.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Starts a session with its first refresh token.
    pub async fn start_session(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        token_hash: String,
        expires_at_ms: i64,
    ) -> Result<SessionId, StoreError> {
        let session = SessionId::generate();
        let owner = SessionOwner {
            session,
            user,
            tenant,
        };
        insert_token(self.db(), owner, token_hash, expires_at_ms).await?;
        Ok(session)
    }

    /// Exchanges a refresh token for the next one, detecting reuse.
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next_hash: String,
        next_expires_at_ms: i64,
    ) -> Result<Rotation, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(presented_hash))
            .one(&txn)
            .await?
        else {
            return Ok(Rotation::Invalid);
        };
        let now = now_ms();
        let owner = SessionOwner {
            session: parse_id(&row.family_id, "session")?,
            user: parse_id(&row.user_id, "user")?,
            tenant: row
                .tenant_id
                .as_deref()
                .map(|t| parse_id(t, "tenant"))
                .transpose()?,
        };
        if row.revoked_at_ms.is_some() || row.expires_at_ms <= now {
            return Ok(Rotation::Invalid);
        }
        // Marking used only if still unused makes two concurrent refreshes with the same
        // token resolve as one rotation and one reuse, never two rotations.
        let marked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAtMs, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(row.id.clone()))
            .filter(refresh_token::Column::UsedAtMs.is_null())
            .exec(&txn)
            .await?;
        if marked.rows_affected == 0 {
            revoke_family(&txn, owner.session).await?;
            txn.commit().await?;
            return Ok(Rotation::ReuseDetected);
        }
        insert_token(&txn, owner, next_hash, next_expires_at_ms).await?;
        txn.commit().await?;
        Ok(Rotation::Rotated(owner))
    }

    /// Ends a session: every token in it stops working, and so do access tokens that
    /// carry its id.
    pub async fn revoke_session(&self, session: SessionId) -> Result<(), StoreError> {
        revoke_family(self.db(), session).await
    }

    /// The session a refresh token belongs to, if the token is known.
    pub async fn session_of_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionId>, StoreError> {
        refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .one(self.db())
            .await?
            .map(|row| parse_id(&row.family_id, "session"))
            .transpose()
    }

    /// Whether a session still has an unrevoked token, i.e. has not been logged out or
    /// revoked for reuse.
    pub async fn session_is_active(&self, session: SessionId) -> Result<bool, StoreError> {
        let live = refresh_token::Entity::find()
            .filter(refresh_token::Column::FamilyId.eq(session.to_string()))
            .filter(refresh_token::Column::RevokedAtMs.is_null())
            .count(self.db())
            .await?;
        Ok(live > 0)
    }
}
