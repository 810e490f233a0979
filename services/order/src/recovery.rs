//! The recovery worker: finishes or undoes checkouts a crash interrupted,
//! and retries follow-ups (cart cleanup, stock release) that failed.
//!
//! Every replica runs one. Work is claimed with `FOR UPDATE SKIP LOCKED`
//! plus a lease on the row, so replicas never work on the same order at the
//! same time, and a worker that dies mid-way only delays the order until the
//! lease ends. Every step is idempotent, so repeating one is harmless.

use std::time::Duration;

use crate::AppState;
use crate::db::orders as db;
use crate::saga::{self, Resolution};

/// Orders claimed per round.
const BATCH: i64 = 20;
/// How long a claim keeps other workers away.
const LEASE: Duration = Duration::from_secs(30);

/// Runs forever, every `recovery_interval`.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.recovery_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = round(&state).await {
            tracing::warn!(error = %e, "recovery round failed; retrying next tick");
        }
    }
}

/// One round: claims work and does it. Returns how many orders it touched.
pub async fn round(state: &AppState) -> anyhow::Result<usize> {
    let claimed = db::claim(&state.db, state.settings.recovery_after, LEASE, BATCH).await?;
    for order in &claimed {
        work_on(state, order).await?;
        db::unclaim(&state.db, order.id).await?;
    }
    Ok(claimed.len())
}

/// Resolves one claimed order and retries its follow-ups.
async fn work_on(state: &AppState, order: &db::Claimed) -> anyhow::Result<()> {
    if order.status == "pending" {
        let label = match saga::resolve(state, order.id, &order.user_id).await? {
            Resolution::Confirmed => "confirmed",
            Resolution::Failed => "failed",
            Resolution::Deferred => return Ok(()),
        };
        tracing::info!(order = %order.id, result = label, "recovered an interrupted checkout");
        state.business.recovered.with_label_values(&[label]).inc();
    }
    if order.cart_cleanup_pending {
        saga::clean_cart(state, order.id, &order.user_id).await;
    }
    if order.stock_release_pending {
        release_stock(state, order.id).await;
    }
    Ok(())
}

/// Returns a cancelled order's stock; on failure the flag stays for the
/// next round.
pub async fn release_stock(state: &AppState, id: uuid::Uuid) {
    match state.product.release(id).await {
        Ok(_) => {
            if let Err(e) = db::done_stock_release(&state.db, id).await {
                tracing::warn!(error = %e, order = %id, "stock released but not recorded; will repeat");
            }
        }
        Err(e) => tracing::warn!(error = %e, order = %id, "stock release deferred"),
    }
}
