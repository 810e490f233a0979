//! [`TestApp`]: a service started for a test through the function
//! production uses (`service::start`), on loopback port 0, over a test
//! database, with a client that speaks to it over a real socket.
//!
//! Like zero2prod's `spawn_app`: what a test exercises is what ships, from
//! migrations and state wiring to the middleware, the admin port and the
//! background tasks. `TEST_LOG=1` (or a filter such as `TEST_LOG=debug`)
//! shows the service's logs in the test output.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

use super::{Scratch, TEST_INTERNAL_TOKEN, admin_token, auth_config, user_token};
use crate::server::HttpConfig;
use crate::service::{self, Config, Listeners, Running, Service};

/// A running service and a client for it. Clones share the service; each
/// clone carries its own credential (see [`TestApp::with_user`]).
pub struct TestApp<S: Service> {
    /// The API's base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin port's base URL (`/livez`, `/readyz`, `/metrics`).
    pub admin_url: String,
    /// The state the service runs with, for calling its functions directly
    /// (a sweep, a recovery round) and for its metrics.
    pub state: S::State,
    /// The service's database, for checks no API shows.
    pub db: PgPool,
    settings: S::Settings,
    http: HttpConfig,
    client: reqwest::Client,
    token: Option<String>,
    running: Arc<Mutex<Option<Stoppable<S>>>>,
    scratch: Option<Scratch>,
    /// Whether the fault switches are on (they are unless a test starts the
    /// service with [`TestApp::spawn_without_faults`]).
    faults: bool,
}

/// The handle that stops a running service.
struct Stoppable<S: Service> {
    stop: oneshot::Sender<()>,
    running: Running<S>,
}

impl<S: Service> Clone for TestApp<S> {
    fn clone(&self) -> Self {
        Self {
            url: self.url.clone(),
            admin_url: self.admin_url.clone(),
            state: self.state.clone(),
            db: self.db.clone(),
            settings: self.settings.clone(),
            http: self.http.clone(),
            client: self.client.clone(),
            token: self.token.clone(),
            running: self.running.clone(),
            scratch: self.scratch.clone(),
            faults: self.faults,
        }
    }
}

impl<S: Service> TestApp<S> {
    /// Starts the service over `db` (a `#[sqlx::test]` pool) with `settings`
    /// and the platform's default HTTP settings.
    pub async fn spawn(db: PgPool, settings: S::Settings) -> Self {
        Self::spawn_with(db, settings, HttpConfig::default()).await
    }

    /// Starts the service over a scratch database of its own, dropped when
    /// the last clone of the returned app is: for a peer service a test
    /// needs beside the one it tests.
    pub async fn spawn_scratch(settings: S::Settings) -> Self {
        let scratch = super::scratch_database(S::migrator()).await;
        let mut app = Self::spawn(scratch.pool.clone(), settings).await;
        app.scratch = Some(scratch);
        app
    }

    /// Starts the service with `http` settings of the test's choosing. Its
    /// addresses are ignored: the API listens on a free loopback port (or,
    /// from [`TestApp::restart`], on the port it had), the admin port too.
    pub async fn spawn_with(db: PgPool, settings: S::Settings, http: HttpConfig) -> Self {
        Self::start_on(db, settings, http, ([127, 0, 0, 1], 0).into(), None, true).await
    }

    /// Starts the service as production does by default: without the fault
    /// switches (`FAULTS_ENABLED` unset).
    pub async fn spawn_without_faults(db: PgPool, settings: S::Settings) -> Self {
        let addr = ([127, 0, 0, 1], 0).into();
        Self::start_on(db, settings, HttpConfig::default(), addr, None, false).await
    }

    async fn start_on(
        db: PgPool,
        settings: S::Settings,
        http: HttpConfig,
        addr: SocketAddr,
        scratch: Option<Scratch>,
        faults: bool,
    ) -> Self {
        init_test_log();
        let listeners = Listeners {
            http: tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind the API port on loopback"),
            admin: tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .expect("bind the admin port on loopback"),
        };
        let config = Config {
            http: http.clone(),
            db: Default::default(),
            auth: auth_config(),
            telemetry: Default::default(),
            // Tests switch faults on through the admin port, as a lab does.
            faults: crate::faults::FaultsConfig { enabled: faults },
            settings: settings.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let running = service::start::<S>(config, db.clone(), listeners, async {
            let _ = stopped.await;
        })
        .await
        .unwrap_or_else(|e| panic!("{} failed to start: {e:#}", S::NAME));
        Self {
            url: format!("http://{}", running.http_addr),
            admin_url: format!("http://{}", running.admin_addr),
            state: running.state.clone(),
            db,
            settings,
            http,
            client: reqwest::Client::new(),
            token: None,
            running: Arc::new(Mutex::new(Some(Stoppable { stop, running }))),
            scratch,
            faults,
        }
    }

    /// Shuts the service down as SIGTERM would (readiness 503, drain,
    /// in-flight requests finish, listeners close) and returns how serving
    /// ended. Peers see connections refused from then on. Idempotent.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        let taken = self.running.lock().expect("not poisoned").take();
        match taken {
            Some(Stoppable { stop, running }) => {
                let _ = stop.send(());
                running.stopped().await
            }
            None => Ok(()),
        }
    }

    /// Shuts the service down and starts it again on the same API address,
    /// database and settings: a restart, as its peers see it. The returned
    /// app has this one's credential.
    pub async fn restart(&self) -> Self {
        self.shutdown().await.expect("the service stopped cleanly");
        let addr: SocketAddr = self
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("own address");
        let mut app = Self::start_on(
            self.db.clone(),
            self.settings.clone(),
            self.http.clone(),
            addr,
            self.scratch.clone(),
            self.faults,
        )
        .await;
        app.token = self.token.clone();
        app
    }

    /// The same service, called as user `subject` (a development token).
    pub fn with_user(&self, subject: &str) -> Self {
        self.with_token(user_token(subject))
    }

    /// The same service, called with the admin role.
    pub fn with_admin(&self) -> Self {
        self.with_token(admin_token())
    }

    /// The same service, called with the service credential (`/internal`).
    pub fn with_service(&self) -> Self {
        self.with_token(TEST_INTERNAL_TOKEN.to_owned())
    }

    /// The same service, called with `token` as the bearer.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        let mut app = self.clone();
        app.token = Some(token.into());
        app
    }

    /// The same service, called with `token` when there is one, without a
    /// credential otherwise (for tests that go through both).
    pub fn with_optional_token(&self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.with_token(token),
            None => self.anonymous(),
        }
    }

    /// The same service, called without a credential.
    pub fn anonymous(&self) -> Self {
        let mut app = self.clone();
        app.token = None;
        app
    }

    /// A request to `path` with this app's credential, to add headers or a
    /// body of one's own before [`TestApp::send`].
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("the service answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("the whole body");
        Resp::new(status, headers, bytes)
    }

    /// A request with an optional JSON body, answered whole.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let req = self.request(method, path);
        let req = match body {
            Some(body) => req.json(&body),
            None => req,
        };
        self.send(req).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// `method /faults` on the admin port (`PUT` with `rules`, a
    /// [`shop_api::faults::FaultRules`] as JSON), answered whole.
    pub async fn faults(&self, method: Method, rules: Option<Value>) -> Resp {
        let req = self
            .client
            .request(method, format!("{}/faults", self.admin_url));
        let req = match rules {
            Some(rules) => req.json(&rules),
            None => req,
        };
        self.send(req).await
    }

    /// Replaces the fault rules with `rules` (a JSON array of rules) and
    /// checks they were taken.
    pub async fn set_faults(&self, rules: Value) {
        let resp = self
            .faults(Method::PUT, Some(serde_json::json!({ "rules": rules })))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "faults refused: {}", resp.body);
    }

    /// The admin port's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin_url))
            .send()
            .await
            .expect("the admin port answers")
            .text()
            .await
            .expect("metrics text")
    }
}

/// A response, read whole: status, headers, the raw bytes and the body as
/// JSON (`Null` when empty, a JSON string when it is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
    pub body: Value,
}

impl Resp {
    fn new(status: StatusCode, headers: HeaderMap, bytes: Bytes) -> Self {
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            bytes,
            body,
        }
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a wire type of `shop-api`; panics with the body if it
    /// does not parse.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "the body is not a {}: {e}: {}",
                std::any::type_name::<T>(),
                self.body
            )
        })
    }

    /// Asserts the status, the RFC 9457 shape, the registered type `slug`
    /// and the request id (in the body and the header alike).
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some(crate::error::PROBLEM_JSON),
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:shop:problem:{slug}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string(), "body: {}", self.body);
        let request_id = self.header("x-request-id").expect("x-request-id header");
        assert_eq!(self.body["request_id"], request_id);
        self
    }
}

/// Once per process: tracing as production has it (trace ids on every
/// request, nothing exported) and, with `TEST_LOG` set, the services' logs
/// in the test's output (the value is a log filter; `1` or `true` means
/// `info`).
fn init_test_log() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static PROVIDER: OnceLock<Option<opentelemetry_sdk::trace::SdkTracerProvider>> =
        OnceLock::new();
    PROVIDER.get_or_init(|| {
        // As in production (`telemetry::init`): W3C trace context and a
        // tracer that records nothing, so requests get trace ids (taken
        // from `traceparent` when a caller sends one) and pass them on.
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider =
            crate::telemetry::provider("test", &crate::telemetry::TelemetryConfig::default())
                .ok()?;
        let otel = crate::telemetry::trace_layer(&provider, "test", false)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        let log = std::env::var("TEST_LOG").ok().map(|filter| {
            let filter = match filter.as_str() {
                "" | "1" | "true" => "info".to_owned(),
                other => other.to_owned(),
            };
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::new(filter))
        });
        let _ = tracing_subscriber::registry()
            .with(otel)
            .with(log)
            .try_init();
        Some(provider)
    });
}
