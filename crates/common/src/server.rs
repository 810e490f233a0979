//! The HTTP server: one middleware stack for every service, both listeners
//! and graceful shutdown. The service skeleton that uses them is in
//! [`crate::service`].

mod listener;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::response::IntoResponse;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::Env;
use crate::error::{self, ApiError, ProblemType};
use crate::health::Readiness;
use crate::metrics::{self, Metrics, UNMATCHED_ROUTE};
use crate::request_id::{self, REQUEST_ID_HEADER};

/// The largest `HTTP_MAX_HEADER_BYTES` accepted: a megabyte of headers is
/// already far beyond any real client.
const MAX_HEADER_BYTES_CEILING: usize = 1024 * 1024;

/// Listener addresses, limits and shutdown timing shared by all services.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The API listener (`HTTP_ADDR`).
    pub addr: SocketAddr,
    /// The admin listener for probes and metrics (`ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// Longest a request may take before a 503 timeout problem.
    pub request_timeout: Duration,
    /// Largest request body accepted; larger ones get 413.
    pub body_limit: usize,
    /// Requests handled at once; beyond it new ones are shed with 503.
    pub max_concurrent: usize,
    /// After SIGTERM: how long readiness reports 503 while the listener still
    /// accepts, so load balancers notice before connections are refused.
    pub drain_delay: Duration,
    /// After the drain: how long requests in flight may take to finish
    /// before the connections still open on either listener are closed.
    pub shutdown_timeout: Duration,
    /// Longest a client may take to send a request's header block, from the
    /// connection's start or the request's first byte. Bounds slowloris.
    pub header_read_timeout: Duration,
    /// Longest a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once on each listener; more are closed at once.
    pub max_connections: usize,
    /// Largest header block (names, values and separators) the service
    /// accepts; beyond it, a 431 problem.
    pub max_header_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: ([0, 0, 0, 0], 8080).into(),
            admin_addr: ([0, 0, 0, 0], 9090).into(),
            request_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            max_concurrent: 512,
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            // Longer than the idle timeout of the pools that reuse these
            // connections (60 s in `http_client::Peer`, and in most load
            // balancers), so the client always gives up on an idle
            // connection first. The other way round, a client could send a
            // request just as the server closes the connection under it.
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl HttpConfig {
    /// Reads `HTTP_ADDR`, `ADMIN_ADDR`, `REQUEST_TIMEOUT_MS`,
    /// `BODY_LIMIT_BYTES`, `MAX_CONCURRENT_REQUESTS`,
    /// `SHUTDOWN_DRAIN_DELAY_MS`, `SHUTDOWN_TIMEOUT_MS`,
    /// `HTTP_HEADER_READ_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS`,
    /// `HTTP_MAX_CONNECTIONS` and `HTTP_MAX_HEADER_BYTES`.
    pub fn from_env(env: &mut Env) -> Self {
        let d = Self::default();
        let body_limit = env.at_least("BODY_LIMIT_BYTES", d.body_limit, 1024);
        let max_concurrent = env.at_least("MAX_CONCURRENT_REQUESTS", d.max_concurrent, 1);
        let max_connections = env.at_least("HTTP_MAX_CONNECTIONS", d.max_connections, 1);
        let max_header_bytes = env.in_range(
            "HTTP_MAX_HEADER_BYTES",
            d.max_header_bytes,
            1024..=MAX_HEADER_BYTES_CEILING,
        );
        let drain_ms: u64 = env.optional("SHUTDOWN_DRAIN_DELAY_MS", 0);
        let addr = env.addr("HTTP_ADDR", "0.0.0.0:8080");
        let admin_addr = env.addr("ADMIN_ADDR", "0.0.0.0:9090");
        env.check(
            addr.port() == 0 || addr != admin_addr,
            "ADMIN_ADDR",
            "must differ from HTTP_ADDR",
        );
        Self {
            addr,
            admin_addr,
            request_timeout: env.millis("REQUEST_TIMEOUT_MS", 10_000),
            body_limit,
            max_concurrent,
            drain_delay: Duration::from_millis(drain_ms),
            shutdown_timeout: env.millis("SHUTDOWN_TIMEOUT_MS", 20_000),
            header_read_timeout: env.millis("HTTP_HEADER_READ_TIMEOUT_MS", 10_000),
            idle_timeout: env.millis("HTTP_IDLE_TIMEOUT_MS", 75_000),
            max_connections,
            max_header_bytes,
        }
    }
}

/// Wraps a service's routes in the platform middleware, outermost first:
/// request id (a client's kept only when safe), tracing span (continuing W3C trace context), problem+json
/// normalization, metrics, header size limit, NUL bytes in the URL refused, panic catching, load shedding with a global
/// concurrency limit, timeout, body limit.
///
/// It is applied with `Router::layer`, which wraps every route (and the
/// fallback) after routing, so spans and metrics see the route template.
pub fn stack(router: Router, config: &HttpConfig, metrics: &Metrics) -> Router {
    stack_with(router, config, metrics, error::render)
}

/// [`stack`] with errors rendered by `render` instead of as problem+json
/// (the storefront's HTML error pages).
pub fn stack_with(
    router: Router,
    config: &HttpConfig,
    metrics: &Metrics,
    render: error::Renderer,
) -> Router {
    let request_id_header = HeaderName::from_static(REQUEST_ID_HEADER);
    let middleware = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(request_id::drop_unsafe))
        .layer(SetRequestIdLayer::new(
            request_id_header.clone(),
            request_id::MakeUuidV7,
        ))
        .layer(PropagateRequestIdLayer::new(request_id_header))
        .layer(axum::middleware::from_fn(request_id::scope))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(axum::middleware::from_fn_with_state(
            render,
            error::normalize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.max_header_bytes,
            limit_header_bytes,
        ))
        .layer(axum::middleware::from_fn(crate::json::reject_nul_in_url))
        .layer(CatchPanicLayer::custom(error::handle_panic))
        .layer(HandleErrorLayer::new(error::handle_middleware_error))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(config.max_concurrent))
        .timeout(config.request_timeout)
        .layer(RequestBodyLimitLayer::new(config.body_limit));
    router
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .layer(middleware)
}

/// Answers 431 (a problem with the request id, through `normalize`) when
/// the request's header fields add up to more than `limit` bytes, counted
/// as on the wire: name, `": "`, value and CRLF. hyper's own limit is set
/// higher (see the `listener` module), so that only absurd request heads
/// get hyper's bare 431 instead of this one.
async fn limit_header_bytes(
    State(limit): State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > limit {
        let detail = format!("the header fields take {size} bytes; at most {limit} are accepted");
        return ApiError::new(ProblemType::HeadersTooLarge, detail).into_response();
    }
    next.run(req).await
}

/// The request span: method, route template, request id and trace id, its
/// parent taken from the `traceparent` header when the caller sent one.
fn make_span(req: &Request) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {}", req.method(), route),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = route,
        request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
    span
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// Serves `app` and `admin` until `shutdown` resolves, then: readiness turns
/// 503, the API listener keeps accepting for `drain_delay`, stops accepting,
/// idle connections close and requests in flight get up to
/// `shutdown_timeout` to finish, and the admin listener closes last (so
/// probes see the drain). At `drain_delay + shutdown_timeout` after the
/// signal, both listeners close whatever is still open: a client that never
/// finishes a request cannot keep the process alive.
///
/// Both listeners apply the connection limits of [`HttpConfig`]: the
/// header-read and idle timeouts and the connection cap (each listener has
/// its own `max_connections`, so a flood on one leaves the other usable).
pub async fn serve(
    app: Router,
    admin: Router,
    listener: TcpListener,
    admin_listener: TcpListener,
    readiness: Readiness,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = listener::Limits::from(config);
    // The moment both listeners close what is left, set once shutdown begins.
    let (deadline_tx, deadline_rx) = watch::channel(None::<Instant>);
    let (api_stopped_tx, api_stopped_rx) = oneshot::channel::<()>();
    let admin_task = tokio::spawn(listener::serve(
        "admin",
        admin_listener,
        admin,
        limits,
        async {
            let _ = api_stopped_rx.await;
        },
        deadline(deadline_rx.clone()),
    ));

    let drain = config.drain_delay;
    let hard_stop = drain + config.shutdown_timeout;
    let draining = async move {
        shutdown.await;
        readiness.begin_shutdown();
        // A deadline too far away to represent is no deadline.
        if let Some(at) = Instant::now().checked_add(hard_stop) {
            let _ = deadline_tx.send(Some(at));
        }
        tokio::time::sleep(drain).await;
        tracing::info!("no longer accepting connections; finishing requests in flight");
    };
    listener::serve(
        "http",
        listener,
        app,
        limits,
        draining,
        deadline(deadline_rx),
    )
    .await;
    let _ = api_stopped_tx.send(());
    admin_task.await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at the shutdown deadline, once [`serve`] has set one.
async fn deadline(mut deadline: watch::Receiver<Option<Instant>>) {
    let at = match deadline.wait_for(Option::is_some).await {
        Ok(at) => *at,
        Err(_) => None,
    };
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
