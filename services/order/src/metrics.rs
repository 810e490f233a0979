//! The order service's business metrics.

use prometheus::{IntCounterVec, Opts, Registry, register_int_counter_vec_with_registry};

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
        let checkouts = register_int_counter_vec_with_registry!(
            Opts::new("order_checkouts_total", "Checkout answers by outcome."),
            &["outcome"],
            registry
        )
        .expect("metric registered once");
        let recovered = register_int_counter_vec_with_registry!(
            Opts::new(
                "order_recovered_total",
                "Interrupted checkouts resolved by the recovery worker.",
            ),
            &["result"],
            registry
        )
        .expect("metric registered once");
        Self {
            checkouts,
            recovered,
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
        let m = OrderMetrics::register(&registry);
        m.checkouts.with_label_values(&["confirmed"]).inc();
        m.recovered.with_label_values(&["failed"]).inc();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let expected = [
            "# HELP order_checkouts_total Checkout answers by outcome.",
            "# TYPE order_checkouts_total counter",
            r#"order_checkouts_total{outcome="confirmed"} 1"#,
            "# HELP order_recovered_total Interrupted checkouts resolved by the recovery worker.",
            "# TYPE order_recovered_total counter",
            r#"order_recovered_total{result="failed"} 1"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}
