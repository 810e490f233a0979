//! The invariant audit after a run: once in-flight work has settled, every
//! unit of stock is accounted for, every idempotency key made at most one
//! order, and nothing answered 5xx. It reads only the APIs (public, and the
//! internal reservation API when given a service credential), never a
//! database, so it works against any deployment.
//!
//! The balance, per product the run touched:
//!
//! ```text
//! initial stock = available now + units in confirmed orders + units still held
//! ```
//!
//! Held units must reach 0: a reservation is committed (sold) or returned.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use shop_api::ClientError;
use shop_api::order::{ListOrders, Order, OrderStatus};
use shop_api::product::{ListProducts, ReservationStatus};
use tokio::time::Instant;
use uuid::Uuid;

use crate::journeys::World;

/// The audit's findings.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub ok: bool,
    /// How many products were balanced.
    pub products: usize,
    /// Orders the run's users placed during the run.
    pub orders: usize,
    /// Whether held reservations were read (needs the internal API).
    pub reservations_checked: bool,
    /// Seconds spent waiting for in-flight work to settle.
    pub settle_s: f64,
    pub mismatches: Vec<Mismatch>,
}

/// One violated invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// A product's units do not add up (or some are still held).
    Stock {
        product: Uuid,
        name: String,
        initial: i64,
        available: i64,
        sold: i64,
        held: i64,
        /// available + sold + held - initial: units made (> 0) or lost (< 0).
        difference: i64,
    },
    /// One idempotency key named more than one order.
    Idempotency { key: String, orders: Vec<Uuid> },
    /// A user has more new orders than keys it sent.
    ExtraOrders {
        user: String,
        keys: usize,
        orders: usize,
    },
    /// An order of the run was still pending when the wait ended.
    Pending { order: Uuid },
    /// Answers with a 5xx status (none is expected of a healthy run).
    ServerErrors { count: u64 },
    /// The audit could not read what it needs.
    Unreadable { what: String, error: String },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stock {
                product,
                name,
                initial,
                available,
                sold,
                held,
                difference,
            } => write!(
                f,
                "product {product} ({name}): initial {initial} != available {available} + sold {sold} + held {held} (difference {difference:+})"
            ),
            Self::Idempotency { key, orders } => {
                write!(f, "key {key} made {} orders: {orders:?}", orders.len())
            }
            Self::ExtraOrders { user, keys, orders } => {
                write!(f, "{user} sent {keys} keys but has {orders} new orders")
            }
            Self::Pending { order } => write!(f, "order {order} is still pending"),
            Self::ServerErrors { count } => write!(f, "{count} answers were 5xx"),
            Self::Unreadable { what, error } => write!(f, "could not read {what}: {error}"),
        }
    }
}

/// What one look at the system found.
struct Snapshot {
    mismatches: Vec<Mismatch>,
    orders: usize,
    /// True when something is still moving (pending orders, held units,
    /// units not yet balanced): worth looking again.
    unsettled: bool,
}

/// Audits the run, waiting up to `settle` for in-flight work to finish.
pub async fn audit(world: &World, settle: Duration, allow_5xx: bool) -> Audit {
    let started = Instant::now();
    let snapshot = loop {
        let snap = look(world).await;
        if !snap.unsettled || started.elapsed() >= settle {
            break snap;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut mismatches = snapshot.mismatches;
    let stats = world.recorder.lock();
    for (key, rec) in &stats.keys {
        if rec.orders.len() > 1 {
            mismatches.push(Mismatch::Idempotency {
                key: key.clone(),
                orders: rec.orders.iter().copied().collect(),
            });
        }
    }
    if stats.server_errors > 0 && !allow_5xx {
        mismatches.push(Mismatch::ServerErrors {
            count: stats.server_errors,
        });
    }
    Audit {
        ok: mismatches.is_empty(),
        products: world.catalog.initial.len(),
        orders: snapshot.orders,
        reservations_checked: world.target.internal_token.is_some(),
        settle_s: started.elapsed().as_secs_f64(),
        mismatches,
    }
}

/// One look at the system: the run's orders, the units still held, and
/// each product's balance. Everything found wrong is a mismatch; anything
/// still moving makes the snapshot unsettled (worth another look).
async fn look(world: &World) -> Snapshot {
    let mut snap = Snapshot {
        mismatches: Vec::new(),
        orders: 0,
        unsettled: false,
    };
    let orders = run_orders(world, &mut snap).await;
    snap.orders = orders.len();
    let mut sold: BTreeMap<Uuid, i64> = BTreeMap::new();
    for o in &orders {
        match o.status {
            OrderStatus::Confirmed => {
                for l in &o.lines {
                    *sold.entry(l.product_id).or_default() += i64::from(l.quantity);
                }
            }
            OrderStatus::Pending => {
                snap.unsettled = true;
                snap.mismatches.push(Mismatch::Pending { order: o.id });
            }
            OrderStatus::Failed | OrderStatus::Cancelled => {}
        }
    }
    let held = held_units(world, &orders, &mut snap).await;
    balance(world, &sold, &held, &mut snap).await;
    snap
}

/// Every order the run's users placed since the run began; a user with
/// more new orders than keys it sent is a mismatch.
async fn run_orders(world: &World, snap: &mut Snapshot) -> Vec<Order> {
    let before = world
        .users
        .before
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let keys_per_user = {
        let stats = world.recorder.lock();
        let mut k: BTreeMap<String, usize> = BTreeMap::new();
        for rec in stats.keys.values() {
            *k.entry(rec.user.clone()).or_default() += 1;
        }
        k
    };
    let mut orders: Vec<Order> = Vec::new();
    for (user, known) in &before {
        match new_orders(&known.orders, known.watermark).await {
            Ok(list) => {
                let keys = keys_per_user.get(user).copied().unwrap_or(0);
                if list.len() > keys {
                    snap.mismatches.push(Mismatch::ExtraOrders {
                        user: user.clone(),
                        keys,
                        orders: list.len(),
                    });
                }
                orders.extend(list);
            }
            Err(e) => {
                snap.unsettled = true;
                snap.mismatches.push(Mismatch::Unreadable {
                    what: format!("the orders of {user}"),
                    error: e.to_string(),
                });
            }
        }
    }
    orders
}

/// Units still held for the run's orders, per product, when the internal
/// API is at hand (empty otherwise).
async fn held_units(world: &World, orders: &[Order], snap: &mut Snapshot) -> BTreeMap<Uuid, i64> {
    let mut held: BTreeMap<Uuid, i64> = BTreeMap::new();
    let Some(internal) = world.target.internal_products() else {
        return held;
    };
    for o in orders {
        match internal.reservation(o.id).await {
            Ok(r) if r.status == ReservationStatus::Held => {
                snap.unsettled = true;
                for l in r.lines {
                    *held.entry(l.product_id).or_default() += i64::from(l.quantity);
                }
            }
            Ok(_) => {}
            Err(ClientError::Problem(p)) if p.kind() == Some(shop_api::ProblemType::NotFound) => {}
            Err(e) => snap.mismatches.push(Mismatch::Unreadable {
                what: format!("reservation {}", o.id),
                error: e.to_string(),
            }),
        }
    }
    held
}

/// Each product's balance: initial = available now + sold + held, and
/// nothing held. Reads the stock a page of ids at a time (archived
/// products included, as an id filter returns them).
async fn balance(
    world: &World,
    sold: &BTreeMap<Uuid, i64>,
    held: &BTreeMap<Uuid, i64>,
    snap: &mut Snapshot,
) {
    let ids: Vec<Uuid> = world.catalog.initial.keys().copied().collect();
    let products = world.target.products();
    for chunk in ids.chunks(100) {
        let list = ListProducts {
            ids: Some(
                chunk
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            limit: Some(100),
            ..Default::default()
        };
        let page = match products.list(&list).await {
            Ok(page) => page,
            Err(e) => {
                snap.unsettled = true;
                snap.mismatches.push(Mismatch::Unreadable {
                    what: "product stock".into(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        let seen: BTreeSet<Uuid> = page.items.iter().map(|p| p.id).collect();
        for p in page.items {
            let initial = world.catalog.initial[&p.id];
            let available = i64::from(p.stock);
            let sold = sold.get(&p.id).copied().unwrap_or(0);
            let held = held.get(&p.id).copied().unwrap_or(0);
            let difference = available + sold + held - initial;
            if difference != 0 || held != 0 {
                snap.unsettled = true;
                snap.mismatches.push(Mismatch::Stock {
                    product: p.id,
                    name: p.name,
                    initial,
                    available,
                    sold,
                    held,
                    difference,
                });
            }
        }
        for id in chunk.iter().filter(|id| !seen.contains(id)) {
            snap.mismatches.push(Mismatch::Unreadable {
                what: format!("product {id}"),
                error: "not returned by the catalog".into(),
            });
        }
    }
}

/// A user's orders newer than `watermark` (its newest order before the
/// run), newest first.
async fn new_orders(
    client: &shop_api::OrderClient,
    watermark: Option<Uuid>,
) -> Result<Vec<Order>, ClientError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .list(&ListOrders {
                limit: Some(100),
                cursor: cursor.take(),
            })
            .await?;
        for o in page.items {
            if Some(o.id) == watermark {
                return Ok(out);
            }
            out.push(o);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
