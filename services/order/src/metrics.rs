//! The order service's business metrics.

use prometheus::{IntCounterVec, Opts, Registry};

/// Counters that tell how checkouts go.
#[derive(Clone)]
pub struct OrderMetrics {
    /// Checkout answers by outcome: confirmed, replayed, in_flight,
    /// out_of_stock, empty_cart, unavailable_products, dependency_down.
    pub checkouts: IntCounterVec,
    /// Orders the recovery worker resolved, by result: confirmed, failed.
    pub recovered: IntCounterVec,
}

impl OrderMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let checkouts = IntCounterVec::new(
            Opts::new("order_checkouts_total", "Checkout answers by outcome."),
            &["outcome"],
        )
        .expect("valid metric");
        let recovered = IntCounterVec::new(
            Opts::new(
                "order_recovered_total",
                "Interrupted checkouts resolved by the recovery worker.",
            ),
            &["result"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(checkouts.clone()))
            .expect("registered once");
        registry
            .register(Box::new(recovered.clone()))
            .expect("registered once");
        Self {
            checkouts,
            recovered,
        }
    }
}
