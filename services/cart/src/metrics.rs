//! The cart service's business metrics.

use prometheus::{IntCounterVec, Opts, Registry};

/// Counters that tell how carts are served.
#[derive(Clone)]
pub struct CartMetrics {
    /// Price refreshes on `GET /v1/cart` by outcome: fresh or stale.
    pub price_refresh: IntCounterVec,
}

impl CartMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let price_refresh = IntCounterVec::new(
            Opts::new(
                "cart_price_refresh_total",
                "Cart reads by price outcome: fresh (product answered) or stale (stored prices).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(price_refresh.clone()))
            .expect("registered once");
        Self { price_refresh }
    }
}
