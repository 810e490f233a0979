//! The cart-cleanup flags the request path clears, in batches: one UPDATE
//! for every checkout whose cart was cleaned while the last one ran,
//! instead of a commit per checkout. A flag left set (the process stopped
//! before its batch was written) costs only a repeated cleanup by the
//! recovery worker, which is idempotent: the lines went already, so it
//! removes nothing and clears the flag.

use std::sync::{Arc, Mutex};

use shop_common::service::Task;
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::orders as db;

/// Most flags cleared by one statement.
const BATCH: usize = 512;

/// The queue of orders whose carts are clean, and its writer task.
#[derive(Clone)]
pub struct CleanupFlags {
    tx: mpsc::UnboundedSender<Uuid>,
    /// Taken once, by [`Self::task`].
    rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Uuid>>>>,
}

impl Default for CleanupFlags {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }
}

impl CleanupFlags {
    /// Queues the flag of `order` to be cleared.
    pub fn done(&self, order: Uuid) {
        // Only fails when the task is gone (shutting down): the worker
        // repeats the cleanup then.
        let _ = self.tx.send(order);
    }

    /// The writer: waits for a flag, then clears it with every other one
    /// queued meanwhile, in one statement.
    pub fn task(&self, db: PgPool) -> Task {
        let rx = self.rx.lock().expect("not poisoned").take();
        Box::pin(async move {
            let Some(mut rx) = rx else { return };
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = db::done_cart_cleanup(&db, &batch).await {
                    tracing::warn!(error = %e, orders = batch.len(), "cart cleanup done but not recorded; the worker will repeat it");
                }
                batch.clear();
            }
        })
    }
}
