//! Cart lines. Every query is scoped by `user_id`: there is no query that
//! can touch another user's cart. Input comes as `domain::cart`'s checked
//! types, never as wire types.

use shop_api::Money;
use shop_api::cart::MAX_LINES;
use shop_api::product::Product;
use sqlx::PgPool;
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

/// The user's lines, oldest first.
pub async fn lines(db: &PgPool, user: &str) -> sqlx::Result<Vec<Line>> {
    sqlx::query_as::<_, Row>(
        "SELECT product_id, quantity, unit_price_amount, currency, name, revision FROM cart_lines \
         WHERE user_id = $1 ORDER BY added_at, product_id",
    )
    .bind(user)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Line::from).collect())
}

/// The advisory lock that serializes one user's cart changes: a number
/// derived from the user id by a hash every replica and every version
/// computes alike (a name-based UUID, RFC 9562's version 5).
fn lock_key(user: &str) -> i64 {
    let (high, _) = Uuid::new_v5(&Uuid::NAMESPACE_OID, user.as_bytes()).as_u64_pair();
    high.cast_signed()
}

/// Sets a line's quantity (adding the line if new) if the cart's rule
/// allows it: at most [`MAX_LINES`] products, one currency. The user's
/// cart changes are serialized by an advisory lock, so two concurrent adds
/// cannot both pass the limit. Lock, read, check and write run inside
/// PostgreSQL, in the function `cart_set_quantity` (migrations/0002): one
/// round trip and one commit where four statements took four. The function
/// only decides whether the line may be set; when it may not, it returns
/// the cart's lines and `check` (the rule in Rust) says why.
pub async fn set_quantity<E>(
    db: &PgPool,
    user: &str,
    product: &Product,
    quantity: Quantity,
    check: impl FnOnce(&[Line]) -> Result<(), E>,
) -> sqlx::Result<Result<Line, E>> {
    #[derive(sqlx::FromRow)]
    struct Set {
        outcome: String,
        #[sqlx(flatten)]
        line: Row,
    }
    let rows = sqlx::query_as::<_, Set>(
        "SELECT outcome, product_id, quantity, unit_price_amount, currency, name, revision \
         FROM cart_set_quantity($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user)
    .bind(lock_key(user))
    .bind(product.id)
    .bind(quantity.get())
    .bind(product.price.amount)
    .bind(&product.price.currency)
    .bind(&product.name)
    .bind(i32::try_from(MAX_LINES).expect("MAX_LINES fits an int4"))
    .fetch_all(db)
    .await?;
    match rows.first().map(|r| r.outcome.as_str()) {
        Some("set") => Ok(Ok(rows.into_iter().next().expect("one row").line.into())),
        Some("refused") => {
            let existing: Vec<Line> = rows.into_iter().map(|r| r.line.into()).collect();
            if let Err(e) = check(&existing) {
                return Ok(Err(e));
            }
            // The function refused what the rule allows: the two disagree,
            // a bug to report, not a cart to change.
            Err(sqlx::Error::Protocol(
                "cart_set_quantity refused a line the cart's rule allows".into(),
            ))
        }
        other => Err(sqlx::Error::Protocol(format!(
            "cart_set_quantity answered {other:?}"
        ))),
    }
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
