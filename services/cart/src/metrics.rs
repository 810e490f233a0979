//! The cart service's business metrics.

use prometheus::{IntCounterVec, Opts, Registry, register_int_counter_vec_with_registry};

/// Counters that tell how carts are served.
#[derive(Clone)]
pub struct CartMetrics {
    /// Price refreshes on `GET /v1/cart` by outcome: fresh or stale.
    pub price_refresh: IntCounterVec,
}

impl CartMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let price_refresh = register_int_counter_vec_with_registry!(
            Opts::new(
                "cart_price_refresh_total",
                "Cart reads by price outcome: fresh (product answered) or stale (stored prices).",
            ),
            &["outcome"],
            registry
        )
        .expect("metric registered once");
        Self { price_refresh }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dashboards and alerts read these names, help texts and labels.
    #[test]
    fn names_help_and_labels_stay_as_published() {
        let registry = Registry::new();
        let m = CartMetrics::register(&registry);
        m.price_refresh.with_label_values(&["fresh"]).inc();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let expected = [
            "# HELP cart_price_refresh_total Cart reads by price outcome: fresh (product answered) or stale (stored prices).",
            "# TYPE cart_price_refresh_total counter",
            r#"cart_price_refresh_total{outcome="fresh"} 1"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}
