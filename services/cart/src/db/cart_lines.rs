//! Cart lines. Every query is scoped by `user_id`: there is no query that
//! can touch another user's cart. Input comes as `domain::cart`'s checked
//! types, never as wire types.

use shop_api::Money;
use shop_api::product::Product;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::cart::{Line, Quantity, Removal};

#[derive(sqlx::FromRow)]
struct Row {
    product_id: Uuid,
    quantity: i32,
    unit_price_amount: i64,
    currency: String,
    name: String,
    revision: i64,
}

impl From<Row> for Line {
    fn from(r: Row) -> Self {
        Line {
            product_id: r.product_id,
            quantity: r.quantity,
            unit_price: Money::new(r.unit_price_amount, r.currency),
            name: r.name,
            revision: r.revision,
        }
    }
}

async fn lines_on(conn: &mut PgConnection, user: &str) -> sqlx::Result<Vec<Line>> {
    sqlx::query_as::<_, Row>(
        "SELECT product_id, quantity, unit_price_amount, currency, name, revision FROM cart_lines \
         WHERE user_id = $1 ORDER BY added_at, product_id",
    )
    .bind(user)
    .fetch_all(conn)
    .await
    .map(|rows| rows.into_iter().map(Line::from).collect())
}

/// The user's lines, oldest first.
pub async fn lines(db: &PgPool, user: &str) -> sqlx::Result<Vec<Line>> {
    lines_on(&mut *db.acquire().await?, user).await
}

/// The advisory lock that serializes one user's cart changes: a number
/// derived from the user id by a hash every replica and every version
/// computes alike (a name-based UUID, RFC 9562's version 5), so it can be
/// written into the `BEGIN` statement itself.
fn lock_key(user: &str) -> i64 {
    let (high, _) = Uuid::new_v5(&Uuid::NAMESPACE_OID, user.as_bytes()).as_u64_pair();
    high.cast_signed()
}

/// Sets a line's quantity (adding the line if new) after `check` approves
/// it against the user's current lines. The user's carts are serialized by
/// an advisory lock, so two concurrent adds cannot both pass the 50-line
/// limit. The lock is taken by the statement that begins the transaction
/// (one round trip for both; the key is a number, so nothing the user
/// sent is written into SQL), before the lines are read: a read in a later
/// statement sees every change committed by whoever held the lock before.
pub async fn set_quantity<E>(
    db: &PgPool,
    user: &str,
    product: &Product,
    quantity: Quantity,
    check: impl FnOnce(&[Line]) -> Result<(), E>,
) -> sqlx::Result<Result<Line, E>> {
    let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({})", lock_key(user));
    let mut tx = db.begin_with(sqlx::AssertSqlSafe(begin)).await?;
    let existing = lines_on(&mut tx, user).await?;
    if let Err(e) = check(&existing) {
        return Ok(Err(e));
    }
    let row = sqlx::query_as::<_, Row>(
        "INSERT INTO cart_lines (user_id, product_id, quantity, unit_price_amount, currency, name) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, product_id) DO UPDATE SET \
           quantity = EXCLUDED.quantity, unit_price_amount = EXCLUDED.unit_price_amount, \
           currency = EXCLUDED.currency, name = EXCLUDED.name, \
           revision = nextval('cart_line_revisions'), updated_at = now() \
         RETURNING product_id, quantity, unit_price_amount, currency, name, revision",
    )
    .bind(user)
    .bind(product.id)
    .bind(quantity.get())
    .bind(product.price.amount)
    .bind(&product.price.currency)
    .bind(&product.name)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(row.into()))
}

/// Removes one line; true when it existed.
pub async fn remove(db: &PgPool, user: &str, product_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM cart_lines WHERE user_id = $1 AND product_id = $2")
        .bind(user)
        .bind(product_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Empties the cart.
pub async fn clear(db: &PgPool, user: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cart_lines WHERE user_id = $1")
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes exactly the lines a checkout read: a line changed since (another
/// revision) stays. Returns how many went.
pub async fn remove_revisions(db: &PgPool, user: &str, removal: &Removal) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = removal.lines().iter().map(|r| r.product_id).collect();
    let revisions: Vec<i64> = removal.lines().iter().map(|r| r.revision).collect();
    let done = sqlx::query(
        "DELETE FROM cart_lines c USING unnest($2::uuid[], $3::int8[]) AS r(product_id, revision) \
         WHERE c.user_id = $1 AND c.product_id = r.product_id AND c.revision = r.revision",
    )
    .bind(user)
    .bind(&ids)
    .bind(&revisions)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    /// Every replica, whatever version it runs, must take the same lock
    /// for a user: the key is fixed by RFC 9562, not by this build.
    #[test]
    fn the_lock_key_is_the_name_based_uuid_of_the_user() {
        // uuid.uuid5(uuid.NAMESPACE_OID, "alice") in Python is
        // f7d8be13-2a72-5104-...: its first 64 bits, as a signed number.
        assert_eq!(lock_key("alice"), -587_510_761_846_058_748);
        assert_ne!(lock_key("alice"), lock_key("bob"));
    }
}
