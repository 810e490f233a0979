//! The recovery worker: finishes or undoes checkouts a crash interrupted,
//! retries follow-ups (cart cleanup, stock release) that failed, and
//! forgets idempotency keys past their retention.
//!
//! Every replica runs one. Orders are claimed one at a time with
//! `FOR UPDATE SKIP LOCKED` plus a lease on the row, and the work on one
//! order is cut off before its lease ends ([`WORK_LIMIT`] < [`LEASE`]), so
//! two replicas never work on the same order at the same time. A worker
//! that dies mid-way only delays the order until the lease ends. Every step
//! is idempotent, so repeating one (after a cut-off or a crash) is harmless.

use std::time::Duration;

use shop_common::service::{Task, every};

use crate::db::orders as db;
use crate::saga::{self, Resolution};
use crate::state::AppState;

/// Most orders handled per round.
const BATCH: usize = 20;
/// How long a claim keeps other workers away from one order.
pub const LEASE: Duration = Duration::from_secs(30);
/// Longest the work on one order may take: a few calls, each bounded by
/// its peer's deadline (5 s by default), well inside the lease.
pub const WORK_LIMIT: Duration = Duration::from_secs(20);
const _: () = assert!(
    WORK_LIMIT.as_secs() < LEASE.as_secs(),
    "the work must end inside the lease"
);

/// The worker: a [`tick`] every `recovery_interval` (see
/// `shop_common::service::every` for when the first one runs).
pub fn task(state: AppState) -> Task {
    every(state.settings.recovery_interval, move || {
        let state = state.clone();
        async move { tick(&state).await }
    })
}

/// One tick: a recovery round, then forgetting keys past their retention.
/// Errors are logged; the next tick tries again.
pub async fn tick(state: &AppState) {
    if let Err(e) = round(state).await {
        tracing::warn!(error = %e, "recovery round failed; retrying next tick");
    }
    match db::forget_keys(&state.db, state.settings.idempotency_key_ttl, 500).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(orders = n, "forgot expired idempotency keys"),
        Err(e) => {
            tracing::warn!(error = %e, "forgetting expired keys failed; retrying next tick")
        }
    }
}

/// One round: claims orders one by one and works on each. An error on one
/// order is logged and the round goes on with the next. Returns how many
/// orders it touched.
pub async fn round(state: &AppState) -> anyhow::Result<usize> {
    // Orders seen this round, so one that keeps failing is not claimed
    // again and again: it waits for the next round.
    let mut seen = Vec::new();
    while seen.len() < BATCH {
        let Some(order) = db::claim(&state.db, state.settings.recovery_after, LEASE, 1, &seen)
            .await?
            .pop()
        else {
            break;
        };
        seen.push(order.id);
        match tokio::time::timeout(WORK_LIMIT, work_on(state, &order)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, order = %order.id, "recovery of this order failed; next round retries")
            }
            Err(_) => {
                tracing::warn!(order = %order.id, "recovery of this order took too long; next round retries")
            }
        }
        // Best effort: if this fails, the lease simply runs out.
        if let Err(e) = db::unclaim(&state.db, order.id).await {
            tracing::warn!(error = %e, order = %order.id, "could not end the claim");
        }
    }
    Ok(seen.len())
}

/// Resolves one claimed order and retries its follow-ups.
async fn work_on(state: &AppState, order: &db::Claimed) -> anyhow::Result<()> {
    let mut confirmed = false;
    if order.status == shop_api::order::OrderStatus::Pending {
        let resolution = saga::resolve(state, order).await?;
        let label = match resolution {
            Resolution::Confirmed => "confirmed",
            Resolution::Failed => "failed",
            Resolution::Deferred => return Ok(()),
        };
        tracing::info!(order = %order.id, result = label, "recovered an interrupted checkout");
        state.business.recovered.with_label_values(&[label]).inc();
        confirmed = resolution == Resolution::Confirmed;
    }
    // An order confirmed just now has its cleanup flag set, like one whose
    // cleanup failed earlier.
    if order.cart_cleanup_pending || confirmed {
        saga::clean_cart_now(state, order.id, &order.user_id).await?;
    }
    if order.stock_release_pending {
        saga::release_stock(state, order.id).await;
    }
    Ok(())
}
