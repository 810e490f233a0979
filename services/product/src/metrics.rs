//! The product service's business metrics, beside the platform's RED
//! metrics in the same registry.

use prometheus::{
    IntCounter, IntCounterVec, Opts, Registry, register_int_counter_vec_with_registry,
    register_int_counter_with_registry,
};

/// Counters that tell how reservations and the read cache go.
#[derive(Clone)]
pub struct ProductMetrics {
    /// Reservation attempts by outcome: created, replayed, out_of_stock,
    /// unavailable, mismatch.
    pub reservations: IntCounterVec,
    /// Held reservations returned to stock by the sweeper.
    pub expired: IntCounter,
    /// `GET /v1/products/{id}` lookups in the read cache by result: hit
    /// (answered from memory) or miss (read from the database). Nothing
    /// is counted while the cache is off.
    pub cache_requests: IntCounterVec,
}

impl ProductMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let reservations = register_int_counter_vec_with_registry!(
            Opts::new(
                "product_reservations_total",
                "Reservation requests by outcome.",
            ),
            &["outcome"],
            registry
        )
        .expect("metric registered once");
        let expired = register_int_counter_with_registry!(
            "product_reservations_expired_total",
            "Held reservations whose stock the sweeper returned.",
            registry
        )
        .expect("metric registered once");
        let cache_requests = register_int_counter_vec_with_registry!(
            Opts::new(
                "product_cache_requests_total",
                "Product reads by whether the read cache had the product (hit) or the database was read (miss).",
            ),
            &["result"],
            registry
        )
        .expect("metric registered once");
        Self {
            reservations,
            expired,
            cache_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dashboards and alerts read these names, help texts and labels.
    #[test]
    fn names_help_and_labels_stay_as_published() {
        let registry = Registry::new();
        let m = ProductMetrics::register(&registry);
        m.reservations.with_label_values(&["created"]).inc();
        m.expired.inc();
        m.cache_requests.with_label_values(&["hit"]).inc();
        m.cache_requests.with_label_values(&["miss"]).inc();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let expected = [
            "# HELP product_cache_requests_total Product reads by whether the read cache had the product (hit) or the database was read (miss).",
            "# TYPE product_cache_requests_total counter",
            r#"product_cache_requests_total{result="hit"} 1"#,
            r#"product_cache_requests_total{result="miss"} 1"#,
            "# HELP product_reservations_expired_total Held reservations whose stock the sweeper returned.",
            "# TYPE product_reservations_expired_total counter",
            "product_reservations_expired_total 1",
            "# HELP product_reservations_total Reservation requests by outcome.",
            "# TYPE product_reservations_total counter",
            r#"product_reservations_total{outcome="created"} 1"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}
