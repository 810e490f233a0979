//! Orders, their lines, stored answers and recovery claims. Request input
//! comes as `domain::order`'s checked types, never as wire types.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use shop_api::Money;
use shop_api::cart::{LineRef, StoredLine};
use shop_api::order::{Order, OrderLine, OrderStatus};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::order::{IdempotencyKey, ListQuery, ValidCheckout};

/// What `begin` found.
#[derive(Debug)]
pub enum Begin {
    /// A new pending order, recorded at this time: this request runs the
    /// saga.
    Started(DateTime<Utc>),
    /// The key was used before.
    Existing(Existing),
}

/// An earlier order under the same key.
#[derive(Debug, sqlx::FromRow)]
pub struct Existing {
    pub request_body: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
}

/// Records a pending order under (user, key) with the cart `lines` it
/// read, unless the key is taken.
pub async fn begin(
    db: &PgPool,
    id: Uuid,
    user: &str,
    key: &IdempotencyKey,
    body: &ValidCheckout,
    lines: &[StoredLine],
) -> sqlx::Result<Begin> {
    // The key can be freed between our insert and our select (a transient
    // failure of the request holding it finished just then): try again,
    // a few times at most. Each lap means another request just finished
    // with this key, so three in a row is a client hammering it.
    for _ in 0..3 {
        if let Some(begun) = try_begin(db, id, user, key, body, lines).await? {
            return Ok(begun);
        }
    }
    Err(sqlx::Error::Protocol(
        "idempotency key freed and taken repeatedly; giving up".into(),
    ))
}

async fn try_begin(
    db: &PgPool,
    id: Uuid,
    user: &str,
    key: &IdempotencyKey,
    body: &ValidCheckout,
    lines: &[StoredLine],
) -> sqlx::Result<Option<Begin>> {
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let revisions: Vec<i64> = lines.iter().map(|l| l.revision).collect();
    // The order and the cart lines it read, in one statement: the lines
    // go in only with a new order (not when the key was taken). The
    // creation time comes back with the insert: the confirmed order's
    // stored answer is built from it without reading the row again.
    let inserted: Option<DateTime<Utc>> = sqlx::query_scalar(
        "WITH new_order AS ( \
           INSERT INTO orders (id, user_id, idempotency_key, request_body, note, status) \
           VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT (user_id, idempotency_key) DO NOTHING \
           RETURNING id, created_at), \
         new_lines AS ( \
           INSERT INTO order_lines (order_id, product_id, quantity, cart_revision) \
           SELECT new_order.id, l.* FROM new_order, \
             unnest($6::uuid[], $7::int4[], $8::int8[]) AS l(product_id, quantity, revision)) \
         SELECT created_at FROM new_order",
    )
    .bind(id)
    .bind(user)
    .bind(key.as_str())
    .bind(body.canonical())
    .bind(body.note())
    .bind(&ids)
    .bind(&quantities)
    .bind(&revisions)
    .fetch_optional(db)
    .await?;
    if let Some(created_at) = inserted {
        return Ok(Some(Begin::Started(created_at)));
    }
    let existing = sqlx::query_as::<_, Existing>(
        "SELECT request_body, response_status, response_body FROM orders \
         WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user)
    .bind(key.as_str())
    .fetch_optional(db)
    .await?;
    Ok(existing.map(Begin::Existing))
}

/// Marks a pending order failed. With `answer`, that answer is stored and
/// replayed for the key; without, the key is freed so a retry starts over
/// (used when the failure was transient). False if the order was no longer
/// pending (someone else resolved it).
pub async fn fail(
    db: &PgPool,
    order: Uuid,
    reason: &str,
    answer: Option<(u16, &str)>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE orders SET status = 'failed', failure_reason = $2, \
           response_status = $3, response_body = $4, \
           idempotency_key = CASE WHEN $3::int4 IS NULL THEN NULL ELSE idempotency_key END, \
           updated_at = now() \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(order)
    .bind(reason)
    .bind(answer.map(|(s, _)| i32::from(s)))
    .bind(answer.map(|(_, b)| b))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A pending order as the saga knows it: enough to write its confirmed
/// answer without reading it back.
#[derive(Debug, Clone, Copy)]
pub struct Pending<'a> {
    pub id: Uuid,
    pub note: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// Confirms a pending order with the reservation's prices and stores the
/// 201 answer, in one statement (one round trip, one commit), with the
/// cart-cleanup flag set when `cleanup_owed` (the cart still holds the
/// order's lines: the recovery worker removes them). Returns that
/// answer (the order as JSON, exactly what `get` reads back), or `None`
/// when the order was no longer pending.
pub async fn confirm(
    db: &PgPool,
    order: Pending<'_>,
    lines: &[OrderLine],
    total: Option<&Money>,
    cleanup_owed: bool,
) -> sqlx::Result<Option<String>> {
    // PostgreSQL keeps microseconds: the answer must show the time exactly
    // as a later read of the row will.
    let now = Utc::now()
        .duration_trunc(chrono::TimeDelta::microseconds(1))
        .expect("a microsecond fits any time");
    let mut lines = lines.to_vec();
    lines.sort_by_key(|l| l.product_id); // the order `get` lists them in
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price.amount).collect();
    let currencies: Vec<String> = lines
        .iter()
        .map(|l| l.unit_price.currency.clone())
        .collect();
    let body = serde_json::to_string(&Order {
        id: order.id,
        status: OrderStatus::Confirmed,
        lines,
        total: total.cloned(),
        note: order.note.map(str::to_owned),
        failure_reason: None,
        created_at: order.created_at,
        updated_at: now,
    })
    .expect("an order serializes");
    // The lines are priced only if the order row was still pending (the
    // join on `confirmed`); both updates commit together or not at all.
    let confirmed: i64 = sqlx::query_scalar(
        "WITH confirmed AS ( \
           UPDATE orders SET status = 'confirmed', total_amount = $2, currency = $3, \
             cart_cleanup_pending = $9, updated_at = $4, \
             response_status = 201, response_body = $5 \
           WHERE id = $1 AND status = 'pending' RETURNING id), \
         priced AS ( \
           UPDATE order_lines o SET unit_price_amount = p.amount, currency = p.currency \
           FROM confirmed, unnest($6::uuid[], $7::int8[], $8::text[]) AS p(product_id, amount, currency) \
           WHERE o.order_id = confirmed.id AND o.product_id = p.product_id) \
         SELECT count(*) FROM confirmed",
    )
    .bind(order.id)
    .bind(total.map(|t| t.amount))
    .bind(total.map(|t| t.currency.clone()))
    .bind(now)
    .bind(&body)
    .bind(&ids)
    .bind(&prices)
    .bind(&currencies)
    .bind(cleanup_owed)
    .fetch_one(db)
    .await?;
    Ok((confirmed == 1).then_some(body))
}

/// The stored answer of an order.
pub async fn answer(db: &PgPool, order: Uuid) -> sqlx::Result<Option<(i32, String)>> {
    let row: Option<(Option<i32>, Option<String>)> =
        sqlx::query_as("SELECT response_status, response_body FROM orders WHERE id = $1")
            .bind(order)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(s, b)| Some((s?, b?))))
}

#[derive(sqlx::FromRow)]
struct Head {
    id: Uuid,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    note: Option<String>,
    failure_reason: Option<String>,
    total_amount: Option<i64>,
    currency: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    order_id: Uuid,
    product_id: Uuid,
    quantity: i32,
    unit_price_amount: Option<i64>,
    currency: Option<String>,
}

const HEAD: &str =
    "id, status, note, failure_reason, total_amount, currency, created_at, updated_at";

fn assemble(heads: Vec<Head>, lines: Vec<LineRow>) -> Vec<Order> {
    heads
        .into_iter()
        .map(|h| Order {
            id: h.id,
            status: h.status,
            lines: lines
                .iter()
                .filter(|l| l.order_id == h.id)
                .filter_map(|l| {
                    let unit_price = Money::new(l.unit_price_amount?, l.currency.clone()?);
                    Some(OrderLine {
                        product_id: l.product_id,
                        quantity: l.quantity,
                        line_total: Money::new(
                            unit_price.amount.saturating_mul(i64::from(l.quantity)),
                            unit_price.currency.clone(),
                        ),
                        unit_price,
                    })
                })
                .collect(),
            total: h
                .total_amount
                .zip(h.currency)
                .map(|(a, c)| Money::new(a, c)),
            note: h.note,
            failure_reason: h.failure_reason,
            created_at: h.created_at,
            updated_at: h.updated_at,
        })
        .collect()
}

async fn lines_of(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as::<_, LineRow>(
        "SELECT order_id, product_id, quantity, unit_price_amount, currency FROM order_lines \
         WHERE order_id = ANY($1) ORDER BY product_id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// One of the user's orders; another user's is `None`, exactly like a
/// missing one.
pub async fn get(db: &PgPool, user: &str, order: Uuid) -> sqlx::Result<Option<Order>> {
    let mut conn = db.acquire().await?;
    let head = sqlx::query_as::<_, Head>(sqlx::AssertSqlSafe(format!(
        "SELECT {HEAD} FROM orders WHERE id = $1 AND user_id = $2"
    )))
    .bind(order)
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(head) = head else { return Ok(None) };
    let lines = lines_of(&mut conn, &[order]).await?;
    Ok(assemble(vec![head], lines).pop())
}

/// A page of the user's orders, newest first, and whether more follow.
pub async fn list(db: &PgPool, user: &str, q: &ListQuery) -> sqlx::Result<(Vec<Order>, bool)> {
    let limit = q.limit();
    let mut conn = db.acquire().await?;
    let mut heads = sqlx::query_as::<_, Head>(sqlx::AssertSqlSafe(format!(
        "SELECT {HEAD} FROM orders WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(user)
    .bind(q.before())
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await?;
    let more = heads.len() > limit as usize;
    heads.truncate(limit as usize);
    let ids: Vec<Uuid> = heads.iter().map(|h| h.id).collect();
    let lines = lines_of(&mut conn, &ids).await?;
    Ok((assemble(heads, lines), more))
}

/// Outcome of a cancellation request.
#[derive(Debug)]
pub enum Cancel {
    /// Cancelled now or before; the stock release may still be pending.
    Cancelled,
    NotFound,
    /// Pending or failed orders cannot be cancelled.
    NotCancellable,
}

/// Cancels a confirmed order of the user's and marks its stock for release.
pub async fn cancel(db: &PgPool, user: &str, order: Uuid) -> sqlx::Result<Cancel> {
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE orders o SET status = CASE WHEN o.status = 'confirmed' THEN 'cancelled' ELSE o.status END, \
           stock_release_pending = o.stock_release_pending OR o.status = 'confirmed', \
           updated_at = CASE WHEN o.status = 'confirmed' THEN now() ELSE o.updated_at END \
         WHERE o.id = $1 AND o.user_id = $2 RETURNING o.status",
    )
    .bind(order)
    .bind(user)
    .fetch_optional(db)
    .await?;
    Ok(match status.map(OrderStatus::try_from).transpose() {
        Ok(None) => Cancel::NotFound,
        Ok(Some(OrderStatus::Cancelled)) => Cancel::Cancelled,
        Ok(Some(_)) => Cancel::NotCancellable,
        Err(e) => return Err(sqlx::Error::Decode(e.into())),
    })
}

/// Clears the cart-cleanup flag of an order once its cart is clean (the
/// recovery worker's cleanup; the request path records it in `confirm`).
pub async fn done_cart_cleanup(db: &PgPool, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET cart_cleanup_pending = false WHERE id = $1")
        .bind(order)
        .execute(db)
        .await
        .map(|_| ())
}

/// Clears the stock-release flag once product released the reservation.
pub async fn done_stock_release(db: &PgPool, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET stock_release_pending = false WHERE id = $1")
        .bind(order)
        .execute(db)
        .await
        .map(|_| ())
}

/// The cart lines to remove for a confirmed order: each line's product
/// and the cart revision the checkout read.
pub async fn cart_refs(db: &PgPool, order: Uuid) -> sqlx::Result<Vec<LineRef>> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT product_id, cart_revision FROM order_lines WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, revision)| LineRef {
            product_id,
            revision,
        })
        .collect())
}

/// Work the recovery worker claimed.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub user_id: String,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    pub cart_cleanup_pending: bool,
    pub stock_release_pending: bool,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Claimed {
    /// The order as the saga needs it.
    pub fn pending(&self) -> Pending<'_> {
        Pending {
            id: self.id,
            note: self.note.as_deref(),
            created_at: self.created_at,
        }
    }
}

/// Claims up to `limit` orders needing work for `lease`: pending ones older
/// than `stale_after` and any with follow-ups pending. Another worker skips
/// claimed rows until the lease ends, so replicas share the work.
pub async fn claim(
    db: &PgPool,
    stale_after: Duration,
    lease: Duration,
    limit: i64,
    skip: &[Uuid],
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as::<_, Claimed>(
        "UPDATE orders SET recovery_lease_until = now() + make_interval(secs => $2) \
         WHERE id IN ( \
           SELECT id FROM orders \
           WHERE ((status = 'pending' AND created_at < now() - make_interval(secs => $1)) \
                  OR ((cart_cleanup_pending OR stock_release_pending) \
                      AND updated_at < now() - make_interval(secs => $1))) \
             AND (recovery_lease_until IS NULL OR recovery_lease_until < now()) \
             AND id <> ALL($4) \
           ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, user_id, status, cart_cleanup_pending, stock_release_pending, note, created_at",
    )
    .bind(stale_after.as_secs_f64())
    .bind(lease.as_secs_f64())
    .bind(limit)
    .bind(skip)
    .fetch_all(db)
    .await
}

/// Ends a worker's claim, so the order is eligible again next round (when
/// the work was deferred) without waiting for the lease to run out.
pub async fn unclaim(db: &PgPool, order: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET recovery_lease_until = NULL WHERE id = $1")
        .bind(order)
        .execute(db)
        .await
        .map(|_| ())
}

/// Forgets idempotency keys older than `ttl`, at most `limit` orders at a
/// time: a finished order (confirmed or cancelled) keeps its row but loses
/// its key and stored answer, so the key may start a new checkout; a failed
/// checkout (empty cart, out of stock, ...) is deleted with its lines.
/// Pending orders are the recovery worker's and are never touched. Returns
/// how many orders it changed.
pub async fn forget_keys(db: &PgPool, ttl: Duration, limit: i64) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let failed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'failed' \
           AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(ttl.as_secs_f64())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM order_lines WHERE order_id = ANY($1)")
        .bind(&failed)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM orders WHERE id = ANY($1)")
        .bind(&failed)
        .execute(&mut *tx)
        .await?;
    let forgotten = sqlx::query(
        "UPDATE orders SET idempotency_key = NULL, response_status = NULL, response_body = NULL \
         WHERE id IN ( \
           SELECT id FROM orders WHERE status IN ('confirmed', 'cancelled') \
             AND idempotency_key IS NOT NULL \
             AND created_at < now() - make_interval(secs => $1) \
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(ttl.as_secs_f64())
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(failed.len() as u64 + forgotten)
}
