//! The resilient HTTP client every service-to-service call goes through.
//!
//! A [`Peer`] is one pooled `reqwest` client per downstream service
//! (keep-alive on: without it throughput here drops to about a third), with:
//! - a connect timeout, a per-attempt timeout and an overall deadline;
//! - retries with exponential backoff and full jitter, for idempotent calls
//!   only, at most `max_retries` times, never after a 4xx;
//! - a circuit breaker: after `breaker_threshold` consecutive failures calls
//!   fail in microseconds for `breaker_cooldown`, then one probe decides;
//! - an honest failure: `ClientError::Unreachable` or `CircuitOpen` only when
//!   no attempt can have reached the peer, so a caller knows when a
//!   non-idempotent call certainly had no effect;
//! - a client span per attempt (OpenTelemetry kind client, a child of the
//!   request's span), whose W3C trace context the peer continues, and the
//!   request id propagated;
//! - metrics per peer: requests by outcome, duration, retries, breaker state.
//!
//! It implements [`shop_api::Transport`], so the typed clients of
//! `shop_api` run on it unchanged.
//!
//! # Why the retry loop and the breaker are written here
//!
//! Retry and circuit-breaker crates exist (tower's `retry` and `limit`
//! layers, `backoff`, `failsafe` and the like), and this module keeps its
//! own on purpose, because the callers need answers none of them gives:
//!
//! - **A call that never reached the peer is known not to have happened.**
//!   The loop tracks, across all attempts, whether any of them may have
//!   been delivered: only a connect error proves one was not, while a
//!   timeout or a reset after connecting may have been acted on. Only when
//!   none was delivered does the call end as `Unreachable` or
//!   `CircuitOpen` (`ClientError::never_reached_peer`), and the checkout
//!   saga relies on it: a reservation that never reached product cannot
//!   exist, so the checkout ends at once and a retry starts afresh, while
//!   one that may have landed must be released first. Calling a failure
//!   "never sent" when it was sent would leave stock held for nobody. A
//!   generic retry policy sees the last error, not the history of the call.
//! - **The answer is the last attempt's.** When the breaker opens or the
//!   deadline passes mid-call, the caller gets what the previous attempt
//!   got (a 503 from the peer says more than "circuit open").
//! - **One deadline bounds the whole call**, waits included, and each
//!   attempt is capped by both the per-try timeout and what remains of it.
//! - **The breaker's probe cannot be lost.** A half-open breaker lets
//!   exactly one call through, and a probe whose caller gave up (its
//!   future dropped) counts as a failure, so the breaker never stays
//!   half-open with nobody left to decide; and every change shows in the
//!   `http_client_circuit_state` gauge.
//! - **Metrics per peer** count each attempt by outcome and each retry.
//!
//! Each of these is a few lines beside the others, tested below and in
//! `tests/http_client.rs`; wiring them into a generic layer would cost more
//! code than it saves.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry_http::HeaderInjector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    register_histogram_vec_with_registry, register_int_counter_vec_with_registry,
    register_int_gauge_vec_with_registry,
};
use reqwest::Response;
use shop_api::client::BoxFuture;
use shop_api::{ClientError, Idempotency, Transport};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::Env;
use crate::faults::Faults;

use crate::request_id::REQUEST_ID;

/// Timeouts, retries and breaker settings for one peer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
    pub max_retries: u32,
    /// The first retry waits up to this long; each further one doubles it.
    pub backoff: Duration,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(5),
            max_retries: 2,
            backoff: Duration::from_millis(50),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(5),
        }
    }
}

impl PeerConfig {
    /// Reads `<PREFIX>_CONNECT_TIMEOUT_MS`, `<PREFIX>_ATTEMPT_TIMEOUT_MS`,
    /// `<PREFIX>_DEADLINE_MS`, `<PREFIX>_MAX_RETRIES`,
    /// `<PREFIX>_BREAKER_THRESHOLD` and `<PREFIX>_BREAKER_COOLDOWN_MS`, with
    /// `defaults` for the unset ones.
    pub fn from_env(env: &mut Env, prefix: &str, defaults: PeerConfig) -> Self {
        let v = |s: &str| format!("{prefix}_{s}");
        let max_retries = env.in_range(&v("MAX_RETRIES"), defaults.max_retries, 0..=5);
        let breaker_threshold =
            env.at_least(&v("BREAKER_THRESHOLD"), defaults.breaker_threshold, 1);
        Self {
            connect_timeout: env.millis(
                &v("CONNECT_TIMEOUT_MS"),
                defaults.connect_timeout.as_millis() as u64,
            ),
            attempt_timeout: env.millis(
                &v("ATTEMPT_TIMEOUT_MS"),
                defaults.attempt_timeout.as_millis() as u64,
            ),
            deadline: env.millis(&v("DEADLINE_MS"), defaults.deadline.as_millis() as u64),
            max_retries,
            backoff: defaults.backoff,
            breaker_threshold,
            breaker_cooldown: env.millis(
                &v("BREAKER_COOLDOWN_MS"),
                defaults.breaker_cooldown.as_millis() as u64,
            ),
        }
    }
}

/// Breaker states, also the value of the `http_client_circuit_state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; everyone else fails fast until it returns.
    HalfOpen,
}

/// A consecutive-failure circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold,
            cooldown,
        }
    }

    /// May a call go out now? `None` when not. Moves an open breaker whose
    /// cooldown passed to half-open and lets exactly that one call through
    /// as the probe. The permit records the call's outcome; a permit dropped
    /// without one (the caller gave up: its own deadline, a cancelled
    /// request) counts as a failure if it was the probe, so the breaker can
    /// never stay half-open with nobody left to decide.
    pub fn allow(&self) -> Option<Permit<'_>> {
        let mut state = self.state.lock().expect("breaker lock");
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => return None,
        };
        Some(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    pub fn record_success(&self) {
        *self.state.lock().expect("breaker lock") = State::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }

    pub fn state(&self) -> BreakerState {
        match *self.state.lock().expect("breaker lock") {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

/// Leave to make one call, from [`Breaker::allow`]; say how it went with
/// [`Permit::success`] or [`Permit::failure`].
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.recorded = true;
        self.breaker.record_success();
    }

    pub fn failure(mut self) {
        self.recorded = true;
        self.breaker.record_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // An abandoned probe decided nothing: treat it as failed, which
        // reopens the breaker for one more cooldown instead of leaving it
        // half-open forever. An abandoned ordinary call counts for nothing.
        if self.probe && !self.recorded {
            self.breaker.record_failure();
        }
    }
}

/// Client metrics, one set per service, labelled by peer.
#[derive(Clone, Debug)]
pub struct ClientMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    retries: IntCounterVec,
    breaker: IntGaugeVec,
}

impl ClientMetrics {
    /// Creates and registers the client metrics.
    pub fn register(registry: &Registry) -> Self {
        let requests = register_int_counter_vec_with_registry!(
            Opts::new(
                "http_client_requests_total",
                "Calls to other services by peer, method and outcome (status code, error, circuit_open).",
            ),
            &["peer", "method", "outcome"],
            registry
        )
        .expect("metric registered once");
        let duration = register_histogram_vec_with_registry!(
            HistogramOpts::new(
                "http_client_request_duration_seconds",
                "Duration of one call, retries included.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["peer", "method"],
            registry
        )
        .expect("metric registered once");
        let retries = register_int_counter_vec_with_registry!(
            Opts::new("http_client_retries_total", "Retried attempts by peer."),
            &["peer"],
            registry
        )
        .expect("metric registered once");
        let breaker = register_int_gauge_vec_with_registry!(
            Opts::new(
                "http_client_circuit_state",
                "Circuit breaker per peer: 0 closed, 1 open, 2 half-open.",
            ),
            &["peer"],
            registry
        )
        .expect("metric registered once");
        Self {
            requests,
            duration,
            retries,
            breaker,
        }
    }
}

/// One downstream service.
#[derive(Debug)]
pub struct Peer {
    name: &'static str,
    http: reqwest::Client,
    config: PeerConfig,
    breaker: Breaker,
    metrics: ClientMetrics,
    /// The fault rules, when `FAULTS_ENABLED` (see [`crate::faults`]).
    faults: Option<Faults>,
}

impl Peer {
    pub fn new(
        name: &'static str,
        config: PeerConfig,
        metrics: ClientMetrics,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        metrics
            .breaker
            .with_label_values(&[name])
            .set(BreakerState::Closed as i64);
        Ok(Self {
            name,
            breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
            http,
            config,
            metrics,
            faults: None,
        })
    }

    /// The same peer, its attempts subject to `faults`' peer rules.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    fn set_breaker_gauge(&self) {
        self.metrics
            .breaker
            .with_label_values(&[self.name])
            .set(self.breaker.state() as i64);
    }

    /// Adds `x-request-id` for the current request.
    fn propagate(request: &mut reqwest::Request) {
        if let Ok(Ok(id)) = REQUEST_ID.try_with(|id| reqwest::header::HeaderValue::from_str(id)) {
            request.headers_mut().insert("x-request-id", id);
        }
    }

    /// Starts the client span of one attempt (`attempt` 0 is the first
    /// try), a child of the current span (the request's), and writes its
    /// context into the attempt's `traceparent`, so that the peer's server
    /// span is its child: a trace shows each call from both ends, retries
    /// as spans of their own. Made with the OpenTelemetry API rather than
    /// as a `tracing` span, so log lines stay in the request's span and
    /// keep its fields. Unsampled (nothing exported), the span records
    /// nothing, and its attributes are not even built.
    fn client_span(&self, request: &mut reqwest::Request, attempt: u32) -> opentelemetry::Context {
        let parent = tracing::Span::current().context();
        let tracer = opentelemetry::global::tracer("shop_common::http_client");
        let mut span = tracer
            .span_builder(format!("{} {}", request.method(), self.name))
            .with_kind(SpanKind::Client)
            .start_with_context(&tracer, &parent);
        if span.is_recording() {
            let url = request.url();
            span.set_attribute(KeyValue::new("peer.service", self.name));
            span.set_attribute(KeyValue::new(
                "http.request.method",
                request.method().as_str().to_owned(),
            ));
            span.set_attribute(KeyValue::new("url.full", url.to_string()));
            if let Some(host) = url.host_str() {
                span.set_attribute(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                span.set_attribute(KeyValue::new("server.port", i64::from(port)));
            }
            if attempt > 0 {
                span.set_attribute(KeyValue::new(
                    "http.request.resend_count",
                    i64::from(attempt),
                ));
            }
        }
        let context = parent.with_span(span);
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut HeaderInjector(request.headers_mut()))
        });
        context
    }

    /// Ends an attempt's client span with what the attempt got: the status
    /// code, or the kind of failure (a 5xx, a transport error or the
    /// timeout mark the span as an error).
    fn end_client_span(context: &opentelemetry::Context, outcome: &Attempt) {
        let span = context.span();
        if span.is_recording() {
            let error = match outcome {
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status.as_u16()),
                    ));
                    status.is_server_error().then(|| status.as_str().to_owned())
                }
                Ok(Err(e)) if e.is_connect() => Some("connect".to_owned()),
                Ok(Err(_)) => Some("transport".to_owned()),
                Err(_) => Some("timeout".to_owned()),
            };
            if let Some(error) = error {
                span.set_attribute(KeyValue::new("error.type", error.clone()));
                span.set_status(Status::error(error));
            }
        }
        span.end();
    }

    async fn call(
        &self,
        mut request: reqwest::Request,
        idempotency: Idempotency,
    ) -> Result<Response, ClientError> {
        Self::propagate(&mut request);
        let method = request.method().as_str().to_owned();
        let started = Instant::now();
        let deadline = started + self.config.deadline;
        let retries = match idempotency {
            Idempotency::Idempotent => self.config.max_retries,
            Idempotency::NotIdempotent => 0,
        };
        let result = self.attempts(request, &method, deadline, retries).await;
        self.metrics
            .duration
            .with_label_values(&[self.name, &method])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// The retry loop. It is long (about 95 lines) on purpose: it is the
    /// lesson of this module, read top to bottom (breaker permit, attempt
    /// under its timeout and the deadline, what counts as "never reached",
    /// backoff), and splitting it would scatter the one rule the saga relies
    /// on across helpers that each show only part of it.
    async fn attempts(
        &self,
        request: reqwest::Request,
        method: &str,
        deadline: Instant,
        retries: u32,
    ) -> Result<Response, ClientError> {
        let count = |outcome: &str| {
            self.metrics
                .requests
                .with_label_values(&[self.name, method, outcome])
                .inc()
        };
        let mut original = Some(request);
        let mut attempt = 0;
        // Whether any attempt so far may have reached the peer. Only a
        // connect error proves an attempt did not; callers rely on the
        // difference (see `ClientError::never_reached_peer`).
        let mut maybe_delivered = false;
        // The previous attempt's outcome, answered if no retry can follow.
        let mut previous: Option<Attempt> = None;
        loop {
            let Some(permit) = self.breaker.allow() else {
                count("circuit_open");
                self.set_breaker_gauge();
                // Mid-call, the breaker ends the retries: answer what the
                // last attempt got, which says more than "circuit open".
                return match previous {
                    Some(outcome) => self.finish(outcome, maybe_delivered),
                    None => Err(ClientError::CircuitOpen(self.name.to_owned())),
                };
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return match previous {
                    Some(outcome) => self.finish(outcome, maybe_delivered),
                    None => Err(ClientError::DeadlineExceeded(self.name.to_owned())),
                };
            }
            // Send a copy while a retry may follow, the original on the last
            // try. Bodies here are bytes, so copies always succeed.
            let copy = if attempt < retries {
                original.as_ref().and_then(reqwest::Request::try_clone)
            } else {
                None
            };
            let last = copy.is_none();
            let Some(mut sent) = copy.or_else(|| original.take()) else {
                return Err(ClientError::DeadlineExceeded(self.name.to_owned()));
            };
            let span = self.client_span(&mut sent, attempt);
            // The whole exchange, body included, is bounded by the attempt
            // timeout and the deadline: a peer that sends its headers and
            // then stalls must not hold the caller until TCP gives up.
            let outcome = tokio::time::timeout(
                remaining.min(self.config.attempt_timeout),
                self.exchange(sent),
            )
            .await;
            Self::end_client_span(&span, &outcome);
            let failed = match &outcome {
                Ok(Ok(resp)) => {
                    count(resp.status().as_str());
                    maybe_delivered = true;
                    resp.status().is_server_error()
                }
                Ok(Err(e)) => {
                    count("error");
                    maybe_delivered |= !e.is_connect();
                    true
                }
                Err(_) => {
                    count("timeout");
                    // Perhaps still connecting, perhaps written: unknown.
                    maybe_delivered = true;
                    true
                }
            };
            if failed {
                permit.failure();
            } else {
                permit.success();
            }
            self.set_breaker_gauge();
            if !failed || last {
                return self.finish(outcome, maybe_delivered);
            }
            previous = Some(outcome);
            // Full jitter: a random wait in [0, backoff * 2^attempt), so
            // clients that failed together do not retry together.
            let cap = self.config.backoff.saturating_mul(1 << attempt.min(10));
            let wait = cap.mul_f64(rand::random::<f64>());
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
            attempt += 1;
            self.metrics.retries.with_label_values(&[self.name]).inc();
        }
    }

    /// The call's answer from its last attempt's outcome.
    fn finish(&self, outcome: Attempt, maybe_delivered: bool) -> Result<Response, ClientError> {
        match outcome {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(source)) if !maybe_delivered => Err(ClientError::Unreachable {
                peer: self.name.to_owned(),
                source,
            }),
            Ok(Err(e)) => Err(ClientError::Transport(e)),
            Err(_) => Err(ClientError::DeadlineExceeded(self.name.to_owned())),
        }
    }
}

impl Peer {
    /// One attempt, after what the fault rules for this peer say: a delay
    /// (inside the attempt timeout, as a slow peer's would be), a 503 as
    /// if the peer had answered it, or a connection refused (the request
    /// goes to port 0 of loopback, which refuses every connection: the
    /// client sees exactly what it sees of a peer that is down).
    async fn exchange(&self, mut request: reqwest::Request) -> reqwest::Result<Response> {
        if let Some(hit) = self.faults.as_ref().and_then(|f| f.outgoing(self.name)) {
            if !hit.delay.is_zero() {
                tokio::time::sleep(hit.delay).await;
            }
            if hit.unreachable {
                let url = request.url_mut();
                let _ = url.set_ip_host([127, 0, 0, 1].into());
                let _ = url.set_port(Some(0));
            } else if hit.fail {
                return Ok(Response::from(crate::faults::injected_response()));
            }
        }
        exchange(&self.http, request).await
    }
}

/// Sends `request` and reads the whole response body, returning the
/// response with its body in memory (bodies between services are small).
async fn exchange(http: &reqwest::Client, request: reqwest::Request) -> reqwest::Result<Response> {
    let resp = http.execute(request).await?;
    let mut head = http::Response::builder()
        .status(resp.status())
        .version(resp.version());
    if let Some(headers) = head.headers_mut() {
        *headers = resp.headers().clone();
    }
    let body = resp.bytes().await?;
    Ok(Response::from(
        head.body(body)
            .expect("status and headers came from a response"),
    ))
}

/// One attempt's outcome: an answer, a transport error, or its timeout.
type Attempt = Result<Result<Response, reqwest::Error>, tokio::time::error::Elapsed>;

impl Transport for Peer {
    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn send(
        &self,
        request: reqwest::Request,
        idempotency: Idempotency,
    ) -> BoxFuture<'_, Result<Response, ClientError>> {
        Box::pin(self.call(request, idempotency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_metric_names_help_and_labels_stay_as_published() {
        let registry = Registry::new();
        let m = ClientMetrics::register(&registry);
        m.requests
            .with_label_values(&["product", "GET", "200"])
            .inc();
        m.duration
            .with_label_values(&["product", "GET"])
            .observe(0.01);
        m.retries.with_label_values(&["product"]).inc();
        m.breaker.with_label_values(&["product"]).set(0);
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut text,
        )
        .unwrap();
        let shape = crate::metrics::tests::exposition_shape(&String::from_utf8(text).unwrap());
        assert_eq!(
            shape,
            [
                "# HELP http_client_circuit_state Circuit breaker per peer: 0 closed, 1 open, 2 half-open.",
                "# TYPE http_client_circuit_state gauge",
                r#"http_client_circuit_state{peer="product"}"#,
                "# HELP http_client_request_duration_seconds Duration of one call, retries included.",
                "# TYPE http_client_request_duration_seconds histogram",
                r#"http_client_request_duration_seconds_count{method="GET",peer="product"}"#,
                "# HELP http_client_requests_total Calls to other services by peer, method and outcome (status code, error, circuit_open).",
                "# TYPE http_client_requests_total counter",
                r#"http_client_requests_total{method="GET",outcome="200",peer="product"}"#,
                "# HELP http_client_retries_total Retried attempts by peer.",
                "# TYPE http_client_retries_total counter",
                r#"http_client_retries_total{peer="product"}"#,
            ]
        );
    }

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_cooldown() {
        let b = Breaker::new(3, Duration::from_millis(0));
        for _ in 0..2 {
            b.record_failure();
            assert_eq!(b.state(), BreakerState::Closed);
        }
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        // Zero cooldown: the next call is the probe, and only it.
        let probe = b.allow().expect("the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow().is_none());
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);
        b.allow().expect("the next probe").success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow().is_some());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_none(), "open for the whole cooldown");
    }

    #[test]
    fn an_abandoned_probe_reopens_the_breaker_instead_of_sticking() {
        let b = Breaker::new(1, Duration::from_millis(0));
        b.record_failure();
        let probe = b.allow().expect("the probe");
        assert!(b.allow().is_none(), "one probe at a time");
        // The caller's future is dropped mid-call: no outcome recorded.
        drop(probe);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(
            b.allow().is_some(),
            "after the cooldown, a new probe goes out"
        );
        // An ordinary call abandoned while closed counts for nothing.
        let b = Breaker::new(1, Duration::from_secs(60));
        drop(b.allow().expect("closed"));
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
