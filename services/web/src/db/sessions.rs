//! The `sessions` table: one row per browser session, keyed by the hash of
//! the id the cookie carries.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::session::{Session, SessionId, SignedIn};

/// The live session `id` names; `None` when there is none or it expired
/// (an expired row is the sweeper's to delete).
pub async fn find(db: &PgPool, id: &SessionId) -> sqlx::Result<Option<Session>> {
    let row: Option<(String, Option<String>, bool, Option<String>)> = sqlx::query_as(
        "SELECT csrf_token, user_id, admin, token FROM sessions \
         WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(id.hash())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(csrf_token, user_id, admin, token)| Session {
        csrf_token,
        user: user_id.zip(token).map(|(user_id, token)| SignedIn {
            user_id,
            admin,
            token,
        }),
    }))
}

/// Stores a new session under `id` until `expires_at`.
pub async fn insert(
    db: &PgPool,
    id: &SessionId,
    session: &Session,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let user = session.user.as_ref();
    sqlx::query(
        "INSERT INTO sessions (id_hash, csrf_token, user_id, admin, token, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.hash())
    .bind(&session.csrf_token)
    .bind(user.map(|u| &u.user_id))
    .bind(user.is_some_and(|u| u.admin))
    .bind(user.map(|u| &u.token))
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends the session `id` (sign-out, or the old id at sign-in).
pub async fn delete(db: &PgPool, id: &SessionId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id.hash())
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes expired sessions; returns how many.
pub async fn delete_expired(db: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
