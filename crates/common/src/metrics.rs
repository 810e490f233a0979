//! Prometheus metrics: RED metrics per route template, database pool gauges
//! and build info, in one registry per service served on the admin port.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder, register_histogram_vec_with_registry, register_int_counter_vec_with_registry,
    register_int_gauge_vec_with_registry, register_int_gauge_with_registry,
};

/// Label used for requests that matched no route (404s), so that scanning
/// random paths cannot create unbounded label values.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A service's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    pool: IntGaugeVec,
    pool_max: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with the platform metrics registered. Every series
    /// carries a `service` label.
    pub fn new(service: &str) -> Self {
        let labels = [("service".to_owned(), service.to_owned())].into();
        let registry = Registry::new_custom(None, Some(labels)).expect("valid registry labels");
        // Each macro creates a metric and registers it in one step; an
        // error means a bad name or one registered twice, both bugs.
        let requests = register_int_counter_vec_with_registry!(
            Opts::new(
                "http_server_requests_total",
                "HTTP requests answered, by route template and status.",
            ),
            &["method", "route", "status"],
            registry
        )
        .expect("metric registered once");
        let duration = register_histogram_vec_with_registry!(
            HistogramOpts::new(
                "http_server_request_duration_seconds",
                "Time from request received to response headers, by route template and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route", "status"],
            registry
        )
        .expect("metric registered once");
        let in_flight = register_int_gauge_with_registry!(
            "http_server_requests_in_flight",
            "Requests being handled now.",
            registry
        )
        .expect("metric registered once");
        let pool = register_int_gauge_vec_with_registry!(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by state (idle or in_use).",
            ),
            &["state"],
            registry
        )
        .expect("metric registered once");
        let pool_max = register_int_gauge_with_registry!(
            "db_pool_max_connections",
            "Configured pool size.",
            registry
        )
        .expect("metric registered once");
        register_int_gauge_vec_with_registry!(
            Opts::new("shop_build_info", "Always 1; labels say what is running."),
            &["version"],
            registry
        )
        .expect("metric registered once")
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                duration,
                in_flight,
                pool,
                pool_max,
            }),
        }
    }

    /// The registry, for a service's own business metrics.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Copies the pool's current state into the gauges (called at scrape).
    pub fn observe_pool(&self, pool: &sqlx::PgPool) {
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        self.inner.pool.with_label_values(&["idle"]).set(idle);
        self.inner
            .pool
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
        self.inner
            .pool_max
            .set(i64::from(pool.options().get_max_connections()));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition format is UTF-8")
    }
}

/// The `method` label: the standard methods by name, anything else
/// `other`. A client may send any token as a method, and each new label
/// value would be a new time series kept forever.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware recording one request. It runs after routing, so the route
/// label is the template (`/v1/products/{id}`), never the raw path.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    metrics.inner.in_flight.inc();
    let resp = next.run(req).await;
    metrics.inner.in_flight.dec();
    let status = resp.status().as_u16().to_string();
    let labels = [method, route.as_str(), status.as_str()];
    metrics.inner.requests.with_label_values(&labels).inc();
    metrics
        .inner
        .duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    resp
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The `# HELP` and `# TYPE` lines and each series without its value:
    /// what dashboards, alerts and tests depend on.
    pub(crate) fn exposition_shape(text: &str) -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("_bucket{") && !l.contains("_sum{"))
            .map(|l| match l.strip_prefix('#') {
                Some(_) => l.to_owned(),
                None => l
                    .rsplit_once(' ')
                    .map_or(l, |(series, _)| series)
                    .to_owned(),
            })
            .collect()
    }

    #[test]
    fn platform_metric_names_help_and_labels_stay_as_published() {
        let metrics = Metrics::new("svc");
        let labels = ["GET", "/v1/things/{id}", "200"];
        metrics.inner.requests.with_label_values(&labels).inc();
        metrics
            .inner
            .duration
            .with_label_values(&labels)
            .observe(0.01);
        metrics.inner.pool.with_label_values(&["idle"]).set(1);
        let shape = exposition_shape(&metrics.render());
        let version = env!("CARGO_PKG_VERSION");
        let expected = [
            "# HELP db_pool_connections Database pool connections by state (idle or in_use).",
            "# TYPE db_pool_connections gauge",
            r#"db_pool_connections{state="idle",service="svc"}"#,
            "# HELP db_pool_max_connections Configured pool size.",
            "# TYPE db_pool_max_connections gauge",
            r#"db_pool_max_connections{service="svc"}"#,
            "# HELP http_server_request_duration_seconds Time from request received to response headers, by route template and status.",
            "# TYPE http_server_request_duration_seconds histogram",
            r#"http_server_request_duration_seconds_count{method="GET",route="/v1/things/{id}",status="200",service="svc"}"#,
            "# HELP http_server_requests_in_flight Requests being handled now.",
            "# TYPE http_server_requests_in_flight gauge",
            r#"http_server_requests_in_flight{service="svc"}"#,
            "# HELP http_server_requests_total HTTP requests answered, by route template and status.",
            "# TYPE http_server_requests_total counter",
            r#"http_server_requests_total{method="GET",route="/v1/things/{id}",status="200",service="svc"}"#,
            "# HELP shop_build_info Always 1; labels say what is running.",
            "# TYPE shop_build_info gauge",
            &format!(r#"shop_build_info{{version="{version}",service="svc"}}"#),
        ];
        assert_eq!(shape, expected);
    }
}
