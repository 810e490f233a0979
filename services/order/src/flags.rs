//! The cart-cleanup flags the request path clears, in batches (a group
//! commit): one UPDATE for every checkout whose cart was cleaned while the
//! last one ran, instead of a commit per checkout. Each request waits for
//! its batch, so when the 201 is sent the flag is cleared, exactly as with
//! a statement of its own. A flag left set (the process stopped first)
//! costs only a repeated cleanup by the recovery worker, which is
//! idempotent: the lines went already, so it removes nothing.
//!
//! The writer is a task of its own, outside every request, so each flag
//! comes with the span of the request that queued it, and a batch's
//! statement runs in the span of its first request: its log lines (sqlx's,
//! a failure's warning) carry that request's `request_id` and `trace_id`
//! like every other line logged on the request's behalf.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use shop_common::service::Task;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::db::orders as db;

/// Most flags cleared by one statement.
const BATCH: usize = 512;

/// An order whose cart is clean, who waits for its flag, and the span of
/// the request that waits.
type Cleared = (Uuid, oneshot::Sender<()>, tracing::Span);

/// The queue of orders whose carts are clean, and its writer task.
#[derive(Clone)]
pub struct CleanupFlags {
    db: PgPool,
    tx: mpsc::UnboundedSender<Cleared>,
    /// Taken once, by [`Self::task`].
    rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Cleared>>>>,
    /// Whether [`Self::task`] was started: until it is, nobody reads the
    /// queue, and [`Self::clear`] writes the flag itself.
    writer: Arc<AtomicBool>,
}

impl CleanupFlags {
    pub fn new(db: PgPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            db,
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
            writer: Arc::default(),
        }
    }

    /// Clears the flag of `order` with the next batch; returns when that
    /// batch is written (or failed: then the worker repeats the cleanup).
    pub async fn clear(&self, order: Uuid) {
        let (done, written) = oneshot::channel();
        if self.writer.load(Ordering::Acquire)
            && self
                .tx
                .send((order, done, tracing::Span::current()))
                .is_ok()
        {
            // An error means the writer stopped with the batch unwritten
            // (shutting down): the worker repeats the cleanup then.
            let _ = written.await;
            return;
        }
        // No writer (not started, or stopped): one statement of its own.
        if let Err(e) = db::done_cart_cleanup(&self.db, &[order]).await {
            tracing::warn!(error = %e, %order, "cart cleanup done but not recorded; the worker will repeat it");
        }
    }

    /// The writer: waits for a flag, then clears it with every other one
    /// queued meanwhile, in one statement.
    pub fn task(&self) -> Task {
        let rx = self.rx.lock().expect("not poisoned").take();
        let db = self.db.clone();
        self.writer.store(rx.is_some(), Ordering::Release);
        Box::pin(async move {
            let Some(mut rx) = rx else { return };
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let ids: Vec<Uuid> = batch.iter().map(|(id, _, _)| *id).collect();
                let span = batch[0].2.clone();
                async {
                    if let Err(e) = db::done_cart_cleanup(&db, &ids).await {
                        tracing::warn!(error = %e, orders = ids.len(), "cart cleanup done but not recorded; the worker will repeat it");
                    }
                }
                .instrument(span)
                .await;
                for (_, done, _) in batch.drain(..) {
                    let _ = done.send(());
                }
            }
        })
    }
}
