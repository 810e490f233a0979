//! The reservation sweeper: returns the stock of holds that outlived their
//! TTL, so a caller that crashed between reserve and commit leaks nothing.
//!
//! Every replica runs one. Each expiry is its own transaction that re-checks
//! the row under a `SKIP LOCKED` lock, so sweepers never double-return stock
//! and never wait on each other or on a commit in progress.

use shop_common::service::{Task, every};

use crate::db::reservations;
use crate::state::AppState;

/// Reservations expired per database round.
const BATCH: i64 = 100;

/// The sweeper: a [`tick`] every `sweep_interval` (see
/// `shop_common::service::every` for when the first one runs).
pub fn task(state: AppState) -> Task {
    every(state.settings.sweep_interval, move || {
        let state = state.clone();
        async move { tick(&state).await }
    })
}

/// One tick: a sweep, logged; an error waits for the next tick.
pub async fn tick(state: &AppState) {
    match sweep(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(expired = n, "returned stock of expired reservations"),
        Err(e) => tracing::warn!(error = %e, "reservation sweep failed; retrying next tick"),
    }
}

/// One pass: expires every held reservation past its TTL. Returns how many
/// it expired.
pub async fn sweep(state: &AppState) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let ids = reservations::expired_ids(&state.db, BATCH).await?;
        let mut expired_now = 0;
        for id in &ids {
            if reservations::expire(&state.db, *id).await? {
                expired_now += 1;
                state.business.expired.inc();
            }
        }
        total += expired_now;
        // Stop when the batch was short, or when every row in it was locked
        // by someone else (they will finish it; do not spin on them).
        if (ids.len() as i64) < BATCH || expired_now == 0 {
            return Ok(total);
        }
    }
}
