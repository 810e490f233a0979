//! The storefront's business metrics.

use prometheus::{IntCounterVec, Opts, Registry, register_int_counter_vec_with_registry};

/// Counters that tell what people do in the store.
#[derive(Clone)]
pub struct WebMetrics {
    /// Checkout form submissions by outcome: ordered (the order API
    /// answered with an order: a new one, or the replay of the one the
    /// form's key made), refused (empty cart, out of stock) or unavailable.
    pub checkouts: IntCounterVec,
    /// Sign-ins and sign-outs.
    pub sessions: IntCounterVec,
}

impl WebMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &Registry) -> Self {
        let checkouts = register_int_counter_vec_with_registry!(
            Opts::new(
                "web_checkouts_total",
                "Checkout form submissions by outcome: ordered, refused or unavailable.",
            ),
            &["outcome"],
            registry
        )
        .expect("metric registered once");
        let sessions = register_int_counter_vec_with_registry!(
            Opts::new(
                "web_sessions_total",
                "Session changes by event: sign_in or sign_out.",
            ),
            &["event"],
            registry
        )
        .expect("metric registered once");
        Self {
            checkouts,
            sessions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dashboards read these names, help texts and labels.
    #[test]
    fn names_help_and_labels_stay_as_published() {
        let registry = Registry::new();
        let m = WebMetrics::register(&registry);
        m.checkouts.with_label_values(&["ordered"]).inc();
        m.sessions.with_label_values(&["sign_in"]).inc();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let expected = [
            "# HELP web_checkouts_total Checkout form submissions by outcome: ordered, refused or unavailable.",
            "# TYPE web_checkouts_total counter",
            r#"web_checkouts_total{outcome="ordered"} 1"#,
            "# HELP web_sessions_total Session changes by event: sign_in or sign_out.",
            "# TYPE web_sessions_total counter",
            r#"web_sessions_total{event="sign_in"} 1"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}
