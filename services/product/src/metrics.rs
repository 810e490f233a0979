//! The product service's business metrics, beside the platform's RED
//! metrics in the same registry.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Counters that tell how reservations go.
#[derive(Clone)]
pub struct ProductMetrics {
    /// Reservation attempts by outcome: created, replayed, out_of_stock,
    /// unavailable, mismatch.
    pub reservations: IntCounterVec,
    /// Held reservations returned to stock by the sweeper.
    pub expired: IntCounter,
}

impl ProductMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let reservations = IntCounterVec::new(
            Opts::new(
                "product_reservations_total",
                "Reservation requests by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let expired = IntCounter::new(
            "product_reservations_expired_total",
            "Held reservations whose stock the sweeper returned.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(reservations.clone()))
            .expect("registered once");
        registry
            .register(Box::new(expired.clone()))
            .expect("registered once");
        Self {
            reservations,
            expired,
        }
    }
}
