//! The platform middleware on a toy router: panics, load shedding, metrics
//! labels, trace context, and the admin endpoints. No database needed.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use serde_json::Value;
use shop_common::health::{self, AdminState, Readiness};
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig};
use shop_common::telemetry::{self, TelemetryConfig};
use tower::ServiceExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_problem_without_the_payload() {
    let routes = Router::new().route(
        "/boom",
        get(|| async { panic!("secret internals: /etc/passwd") as &str }),
    );
    let app = server::stack(routes, &HttpConfig::default(), &Metrics::new("test"));
    let (status, headers, body) = send(&app, get_req("/boom")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["type"], "urn:shop:problem:internal");
    assert!(!body.to_string().contains("secret"), "{body}");
    assert_eq!(
        body["request_id"],
        headers["x-request-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_with_503() {
    let (entered_tx, entered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let routes = Router::new().route(
        "/slow",
        get(move || {
            let (entered, gate) = (entered_tx.clone(), gate.clone());
            async move {
                entered.send(()).await.unwrap();
                gate.notified().await;
                "done"
            }
        }),
    );
    let config = HttpConfig {
        max_concurrent: 1,
        ..HttpConfig::default()
    };
    let app = server::stack(routes, &config, &Metrics::new("test"));
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, get_req("/slow")).await.0 }
    });
    let mut entered_rx = entered_rx;
    tokio::time::timeout(Duration::from_secs(10), entered_rx.recv())
        .await
        .unwrap();

    let (status, headers, body) = send(&app, get_req("/slow")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "urn:shop:problem:overloaded");
    assert_eq!(headers["retry-after"], "1");

    release.notify_one();
    assert_eq!(first.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_use_route_templates_never_raw_paths() {
    let metrics = Metrics::new("test");
    let routes = Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<u32>| async move { id.to_string() }),
    );
    let app = server::stack(routes, &HttpConfig::default(), &metrics);
    send(&app, get_req("/items/12345")).await;
    send(&app, get_req("/items/oops")).await;
    send(&app, get_req("/random/path/987")).await;
    let text = metrics.render();
    assert!(
        text.contains(r#"route="/items/{id}",status="200""#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/items/{id}",status="400""#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    // Only the series (name and labels) matter: a duration value may
    // contain any digits.
    let series: Vec<&str> = text
        .lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect();
    assert!(
        series
            .iter()
            .all(|s| !s.contains("12345") && !s.contains("987")),
        "{text}"
    );
    assert!(text.contains("http_server_request_duration_seconds_bucket"));
    let build = text
        .lines()
        .find(|l| l.starts_with("shop_build_info{"))
        .expect("build info");
    assert!(
        build.contains(r#"service="test""#) && build.ends_with(" 1"),
        "{build}"
    );
}

/// With the services' own tracer provider (no exporter configured), asks
/// `/trace` with `traceparent` (if any) and returns the server span's trace
/// id and the `traceparent` an outgoing call would carry.
async fn trace_ids(traceparent: Option<&str>) -> (String, String) {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = telemetry::provider("test", &TelemetryConfig::default()).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let routes = Router::new().route(
        "/trace",
        get(|| async {
            let ctx = tracing::Span::current().context();
            // What `Peer` does for every outgoing call.
            let mut headers = axum::http::HeaderMap::new();
            opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(&ctx, &mut opentelemetry_http::HeaderInjector(&mut headers))
            });
            let out = headers
                .get("traceparent")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            format!("{} {out}", ctx.span().span_context().trace_id())
        }),
    );
    let app = server::stack(routes, &HttpConfig::default(), &Metrics::new("test"));
    let mut req = Request::get("/trace");
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let (id, out) = body.split_once(' ').unwrap();
    (id.to_owned(), out.to_owned())
}

#[tokio::test]
async fn incoming_w3c_trace_context_is_continued_sampled_or_not() {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    for flags in ["01", "00"] {
        let (id, out) = trace_ids(Some(&format!("00-{trace_id}-00f067aa0ba902b7-{flags}"))).await;
        assert_eq!(id, trace_id, "flags {flags}");
        assert!(
            out.starts_with(&format!("00-{trace_id}-")) && out.ends_with(&format!("-{flags}")),
            "outgoing calls carry the trace on, with its sampling decision: {out}"
        );
    }
}

#[tokio::test]
async fn without_trace_context_a_request_still_gets_a_trace_id_it_passes_on() {
    // Nothing is exported or recorded, but logs and downstream services
    // still share one trace id per request.
    let (id, out) = trace_ids(None).await;
    assert_eq!(id.len(), 32);
    assert_ne!(id, "0".repeat(32), "a real trace id");
    assert!(out.starts_with(&format!("00-{id}-")), "{out}");
    let (other, _) = trace_ids(None).await;
    assert_ne!(id, other, "one per request");
}

#[tokio::test]
async fn liveness_ignores_the_database_and_readiness_does_not() {
    // Nothing listens on port 1: every connection attempt fails at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let readiness = Readiness::default();
    let admin = health::router(AdminState {
        metrics: Metrics::new("test"),
        readiness: readiness.clone(),
        pool,
    });
    assert_eq!(send(&admin, get_req("/livez")).await.0, StatusCode::OK);
    let (status, _, body) = send(&admin, get_req("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "urn:shop:problem:unavailable");
    readiness.begin_shutdown();
    let (_, _, body) = send(&admin, get_req("/readyz")).await;
    assert_eq!(body["detail"], "shutting down");
    let (status, _, _) = send(&admin, get_req("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let metrics = Metrics::new("test");
    let app = server::stack(
        Router::new().route("/x", get(|| async { "x" })),
        &HttpConfig::default(),
        &metrics,
    );
    let series = |m: &Metrics| {
        m.render()
            .lines()
            .filter(|l| l.starts_with("http_server_requests_total{"))
            .count()
    };
    send(&app, get_req("/x")).await;
    let request = |method: &str| {
        Request::builder()
            .method(method)
            .uri("/x")
            .body(Body::empty())
            .unwrap()
    };
    send(&app, request("INVENTED0")).await;
    let before = series(&metrics);
    for i in 1..1000 {
        let (status, _, _) = send(&app, request(&format!("INVENTED{i}"))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(
        series(&metrics),
        before,
        "one `other` series for every invented method"
    );
    assert!(metrics.render().contains("method=\"other\""));
}
