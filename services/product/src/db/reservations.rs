//! Stock reservations: the only code that changes stock after creation.
//!
//! Lock order, everywhere: the reservation row first, then product rows in
//! ascending id. With one global order, concurrent reservations, releases
//! and sweeps can wait for each other but never deadlock.

use chrono::{DateTime, Utc};
use shop_api::Money;
use shop_api::product::{Reservation, ReservationStatus, ReservedLine};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

use crate::domain::reservation::ValidReservation;

#[derive(Clone, sqlx::FromRow)]
struct Head {
    id: Uuid,
    #[sqlx(try_from = "String")]
    status: ReservationStatus,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    product_id: Uuid,
    quantity: i32,
    unit_price_amount: i64,
    currency: String,
}

/// Reads a reservation with its lines (sorted by product id).
pub async fn get(db: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Reservation>> {
    let head = sqlx::query_as::<_, Head>(
        "SELECT id, status, expires_at, created_at, updated_at FROM reservations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    let Some(head) = head else { return Ok(None) };
    let lines = sqlx::query_as::<_, LineRow>(
        "SELECT product_id, quantity, unit_price_amount, currency FROM reservation_lines \
         WHERE reservation_id = $1 ORDER BY product_id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    Ok(Some(assemble(head, lines)))
}

fn assemble(head: Head, lines: Vec<LineRow>) -> Reservation {
    Reservation {
        id: head.id,
        status: head.status,
        lines: lines
            .into_iter()
            .map(|l| ReservedLine {
                product_id: l.product_id,
                quantity: l.quantity,
                unit_price: Money::new(l.unit_price_amount, l.currency),
            })
            .collect(),
        expires_at: head.expires_at,
        created_at: head.created_at,
        updated_at: head.updated_at,
    }
}

/// What a reservation attempt came to.
#[derive(Debug)]
pub enum ReserveOutcome {
    /// Stock was taken.
    Created(Reservation),
    /// The id was seen before with the same lines: the first result (a
    /// held one committed now, when the request sells at once).
    Replayed(Reservation),
    /// The request sells at once, and the id's earlier hold was released
    /// or has expired: nothing can be sold under it.
    Gone(&'static str),
    /// The id was seen before with other lines.
    Mismatch,
    /// The id was released before any reservation was made with it: a
    /// caller gave up on it, so a late request must not take stock.
    Released,
    /// Not enough stock for these products; nothing was taken.
    OutOfStock(Vec<Uuid>),
    /// These products do not exist or are archived; nothing was taken.
    Unavailable(Vec<Uuid>),
}

/// A product as the reservation found it under its lock; `None` columns:
/// no such product.
#[derive(sqlx::FromRow)]
struct Locked {
    /// `NULL` in the one row of an id already taken.
    product_id: Option<Uuid>,
    stock: Option<i32>,
    archived: Option<bool>,
    price_amount: Option<i64>,
    currency: Option<String>,
}

/// One row of `reserve_stock` (migrations/0003): the outcome, the
/// claimed head (all `NULL` when the id was taken), and one requested
/// line's product.
#[derive(sqlx::FromRow)]
struct Reserved {
    outcome: String,
    id: Uuid,
    status: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    product: Locked,
}

/// Takes stock for every line or for none, in one transaction: claim the
/// id, lock the products in id order, check every line, take the stock and
/// record the lines. The steps run inside PostgreSQL, in the function
/// `reserve_stock` (migrations/0003): one round trip and one commit where
/// five statements took five. A request that sells at once (`commit`)
/// claims the id as `committed` straight away: one transaction, where a
/// hold and a commit take two. The function decides only whether every
/// line can be served; which refusal it is stays with [`refusal`].
pub async fn reserve(
    db: &PgPool,
    req: &ValidReservation,
    ttl: Duration,
) -> sqlx::Result<ReserveOutcome> {
    let rows = sqlx::query_as::<_, Reserved>(
        "SELECT outcome, id, status, expires_at, created_at, updated_at, \
           product_id, stock, archived, price_amount, currency \
         FROM reserve_stock($1, $2, $3, $4, $5)",
    )
    .bind(req.id())
    .bind(req.initial_status().as_str())
    .bind(ttl.as_secs_f64())
    .bind(req.product_ids())
    .bind(req.quantities())
    .fetch_all(db)
    .await?;
    let outcome = rows.first().map(|r| r.outcome.as_str());
    match outcome {
        Some("taken") => return existing(db, req).await,
        Some("refused") => {
            let locked: Vec<&Locked> = rows.iter().map(|r| &r.product).collect();
            // The function refused what the rules allow: the two disagree,
            // a bug to report (nothing was taken), as cart does.
            return refusal(req, &locked).map(Ok).unwrap_or_else(|| {
                Err(sqlx::Error::Protocol(
                    "reserve_stock refused a reservation the rules allow".into(),
                ))
            });
        }
        Some("created") => {}
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "reserve_stock answered {other:?}"
            )));
        }
    }
    let head = rows
        .first()
        .and_then(|h| {
            Some(Head {
                id: h.id,
                status: ReservationStatus::parse(h.status.as_deref()?)?,
                expires_at: h.expires_at?,
                created_at: h.created_at?,
                updated_at: h.updated_at?,
            })
        })
        .ok_or_else(|| sqlx::Error::Protocol("reserve_stock: no reservation head".into()))?;
    // Everything the answer shows is known here: the claimed row, the
    // request's lines and the prices just locked (nothing to read back).
    let lines = req
        .lines()
        .iter()
        .zip(&rows)
        .map(|(line, row)| {
            let p = &row.product;
            Some(ReservedLine {
                product_id: line.product_id,
                quantity: line.quantity,
                unit_price: Money::new(p.price_amount?, p.currency.clone()?),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| sqlx::Error::Protocol("reserve_stock: a line without a price".into()))?;
    Ok(ReserveOutcome::Created(Reservation {
        id: head.id,
        status: head.status,
        lines,
        expires_at: head.expires_at,
        created_at: head.created_at,
        updated_at: head.updated_at,
    }))
}

/// The answer for an id already taken: the same lines replay it (a hold
/// asked again to sell at once is committed now), a tombstone (released
/// before it was ever made, see `release`) refuses it, other lines are a
/// mismatch.
async fn existing(db: &PgPool, req: &ValidReservation) -> sqlx::Result<ReserveOutcome> {
    let mut conn = db.acquire().await?;
    let found = get(&mut conn, req.id()).await?;
    drop(conn);
    Ok(match found {
        Some(existing)
            if req.same_lines_as(&existing.lines)
                && req.commit()
                && existing.status == ReservationStatus::Held =>
        {
            match commit(db, req.id()).await? {
                TransitionOutcome::Done(r) => ReserveOutcome::Replayed(r),
                TransitionOutcome::Conflict(_, why) => ReserveOutcome::Gone(why),
                TransitionOutcome::NotFound => ReserveOutcome::Mismatch,
            }
        }
        Some(existing) if req.same_lines_as(&existing.lines) => ReserveOutcome::Replayed(existing),
        Some(existing)
            if existing.lines.is_empty() && existing.status == ReservationStatus::Released =>
        {
            ReserveOutcome::Released
        }
        _ => ReserveOutcome::Mismatch,
    })
}

/// All-or-nothing: every line checked before anything changes. Unknown or
/// archived products refuse the whole reservation first, then short stock.
fn refusal(req: &ValidReservation, locked: &[&Locked]) -> Option<ReserveOutcome> {
    let mut unavailable = Vec::new();
    let mut short = Vec::new();
    for line in req.lines() {
        let found = locked
            .iter()
            .find(|p| p.product_id == Some(line.product_id))
            .and_then(|p| Some((p.archived?, p.stock?)));
        match found {
            Some((true, _)) | None => unavailable.push(line.product_id),
            Some((false, stock)) if stock < line.quantity => short.push(line.product_id),
            Some(_) => {}
        }
    }
    if !unavailable.is_empty() {
        Some(ReserveOutcome::Unavailable(unavailable))
    } else if !short.is_empty() {
        Some(ReserveOutcome::OutOfStock(short))
    } else {
        None
    }
}

/// What a commit or release came to.
#[derive(Debug)]
pub enum TransitionOutcome {
    /// Done now, or had already been done (idempotent).
    Done(Reservation),
    NotFound,
    /// The reservation's state forbids it (committing a released or expired
    /// reservation, releasing nothing, ...).
    Conflict(Reservation, &'static str),
}

/// Marks a held, unexpired reservation as sold.
pub async fn commit(db: &PgPool, id: Uuid) -> sqlx::Result<TransitionOutcome> {
    if let Some(done) = commit_held(db, id).await? {
        return Ok(TransitionOutcome::Done(done));
    }
    // Not held, or expired: the slow path says why, under the row's lock.
    let mut tx = db.begin().await?;
    let Some(head) = lock_head(&mut tx, id, false).await? else {
        return Ok(TransitionOutcome::NotFound);
    };
    let outcome = match head.status {
        ReservationStatus::Held if head.expires_at > Utc::now() => {
            // Held and fresh now, though the fast path found it otherwise:
            // its reserve committed in between. Commit it as that would have.
            sqlx::query(
                "UPDATE reservations SET status = 'committed', updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            TransitionOutcome::Done(get(&mut tx, id).await?.expect("locked"))
        }
        status => {
            let r = get(&mut tx, id).await?.expect("locked");
            match status {
                ReservationStatus::Committed => TransitionOutcome::Done(r),
                ReservationStatus::Held => TransitionOutcome::Conflict(
                    r,
                    "the reservation has expired; its stock is being returned",
                ),
                ReservationStatus::Released | ReservationStatus::Expired => {
                    TransitionOutcome::Conflict(
                        r,
                        "the reservation was released; its stock is gone back",
                    )
                }
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The common case in one statement (one round trip, one commit): a held,
/// unexpired reservation becomes committed and comes back with its lines.
/// `None` when it was not held or has expired. The `UPDATE` takes the row
/// lock like `lock_head`, and PostgreSQL re-checks its condition after
/// waiting for a concurrent release or sweep, so it never commits a
/// reservation that is gone.
async fn commit_held(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Reservation>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        head: Head,
        #[sqlx(flatten)]
        line: LineRow,
    }
    let rows = sqlx::query_as::<_, Row>(
        "WITH r AS ( \
           UPDATE reservations SET status = 'committed', updated_at = now() \
           WHERE id = $1 AND status = 'held' AND expires_at > now() \
           RETURNING id, status, expires_at, created_at, updated_at) \
         SELECT r.*, l.product_id, l.quantity, l.unit_price_amount, l.currency \
         FROM r JOIN reservation_lines l ON l.reservation_id = r.id ORDER BY l.product_id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let Some(head) = rows.first().map(|r| r.head.clone()) else {
        return Ok(None);
    };
    Ok(Some(assemble(
        head,
        rows.into_iter().map(|r| r.line).collect(),
    )))
}

/// Returns the stock of a held or committed reservation (a cancelled order
/// releases a committed one). Releasing twice is a no-op.
///
/// Releasing an id nobody reserved leaves a tombstone: a `released`
/// reservation without lines. A caller releases an id it is unsure about
/// (its reserve call timed out); the reserve may still be on its way, and
/// when it arrives the tombstone refuses it, so no stock is held for an
/// order that already failed. If that reserve is mid-transaction right now,
/// inserting the tombstone waits for it on the primary key, and the
/// reservation it made is then released like any other.
pub async fn release(db: &PgPool, id: Uuid) -> sqlx::Result<TransitionOutcome> {
    let mut tx = db.begin().await?;
    if lock_head(&mut tx, id, false).await?.is_none() {
        sqlx::query(
            "INSERT INTO reservations (id, status, expires_at) VALUES ($1, 'released', now()) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let Some(head) = lock_head(&mut tx, id, false).await? else {
        return Ok(TransitionOutcome::NotFound);
    };
    if matches!(
        head.status,
        ReservationStatus::Held | ReservationStatus::Committed
    ) {
        return_stock(&mut tx, id, ReservationStatus::Released).await?;
    }
    let r = get(&mut tx, id).await?.expect("locked");
    tx.commit().await?;
    Ok(TransitionOutcome::Done(r))
}

/// Expires one held reservation past its TTL, unless another transaction
/// (a commit, another replica's sweeper) holds it: then it is skipped and
/// looked at again on the next sweep. True when stock was returned.
pub async fn expire(db: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let expired = match lock_head(&mut tx, id, true).await? {
        Some(head) if head.status == ReservationStatus::Held && head.expires_at <= Utc::now() => {
            return_stock(&mut tx, id, ReservationStatus::Expired).await?;
            true
        }
        _ => false,
    };
    tx.commit().await?;
    Ok(expired)
}

/// Held reservations past their expiry, oldest first.
pub async fn expired_ids(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM reservations WHERE status = 'held' AND expires_at <= now() \
         ORDER BY expires_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

async fn lock_head(
    tx: &mut PgConnection,
    id: Uuid,
    skip_locked: bool,
) -> sqlx::Result<Option<Head>> {
    let sql = if skip_locked {
        "SELECT id, status, expires_at, created_at, updated_at FROM reservations WHERE id = $1 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT id, status, expires_at, created_at, updated_at FROM reservations WHERE id = $1 FOR UPDATE"
    };
    sqlx::query_as::<_, Head>(sql)
        .bind(id)
        .fetch_optional(tx)
        .await
}

/// Puts a locked reservation's units back on the shelf and sets its final
/// status. Product rows are locked in id order first (see the module doc).
async fn return_stock(tx: &mut PgConnection, id: Uuid, to: ReservationStatus) -> sqlx::Result<()> {
    sqlx::query(
        "SELECT p.id FROM products p JOIN reservation_lines l ON l.product_id = p.id \
         WHERE l.reservation_id = $1 ORDER BY p.id FOR UPDATE OF p",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE products p SET stock = p.stock + l.quantity, version = p.version + 1, updated_at = now() \
         FROM reservation_lines l WHERE l.reservation_id = $1 AND p.id = l.product_id",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(to.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}
