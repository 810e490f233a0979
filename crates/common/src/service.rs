//! The one service skeleton: what every service is made of, and the
//! functions that start one, in production and in tests alike.
//!
//! A service implements [`Service`]: its name, its own settings, its state,
//! its routes (with their OpenAPI description), its migrations and its
//! background tasks. Everything else (configuration of the platform parts,
//! the database pool, metrics, the admin port, the middleware stack,
//! `/openapi.json`, graceful shutdown, the binary's `main`) is done here,
//! once, so a reader who knows one service knows all three.
//!
//! ```text
//! main::<S>()          the binary: config, telemetry, listeners, run
//!   run::<S>()         connect to the database, then start and wait
//!     start::<S>()     migrate, build state, spawn tasks, serve: tests call this
//! ```
//!
//! Integration tests start a service through [`start`], the same function
//! production runs (see `testing::TestApp`), so migrations, the admin port
//! and background tasks are exercised by every test, not only by the tests
//! that spawn a binary.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{Auth, AuthConfig};
use crate::config::{ConfigError, Env};
use crate::db::DbConfig;
use crate::faults::{Faults, FaultsConfig};
use crate::health::{AdminState, Readiness};
use crate::http_client::{ClientMetrics, Peer, PeerConfig};
use crate::metrics::Metrics;
use crate::openapi::ProblemResponses;
use crate::server::{self, HttpConfig};
use crate::telemetry::TelemetryConfig;

/// A background task: a future the platform spawns beside the server and
/// aborts at shutdown. It must be safe to stop at any await point (each unit
/// of its work is one transaction, or idempotent).
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What makes a service: the parts that are its own.
pub trait Service: Sized + 'static {
    /// The name in logs, traces and metrics.
    const NAME: &'static str;
    /// The service's own settings, read after the platform's.
    type Settings: Settings;
    /// What every handler can reach (a `#[derive(Clone, FromRef)]` struct).
    type State: Clone + Send + Sync + 'static;

    /// The migrations of the service's own database.
    fn migrator() -> &'static Migrator;

    /// Wires the state from the platform's parts and the settings.
    fn state(platform: &Platform, settings: Self::Settings) -> anyhow::Result<Self::State>;

    /// The routes with the OpenAPI document they describe (the platform adds
    /// the shared error responses and `/openapi.json`).
    fn routes() -> OpenApiRouter<Self::State>;

    /// How an error (a handler's, or the framework's: 404, 405, a timeout,
    /// a panic) is shown: problem+json by default; the storefront shows a
    /// page.
    fn render_problem(problem: crate::error::Problem) -> axum::response::Response {
        crate::error::render(problem)
    }

    /// Background tasks to run beside the server; none by default.
    fn tasks(state: &Self::State) -> Vec<Task> {
        let _ = state;
        Vec::new()
    }
}

/// A background task that runs `round` every `period`, the first time one
/// period after start (not at once: work left from before start already
/// waited its TTL or lease, far longer than a period, and a test that starts
/// the service knows no round runs behind its back until then). A round
/// that overruns delays the next one instead of bunching them up.
pub fn every<F, Fut>(period: Duration, mut round: F) -> Task
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::pin(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            round().await;
        }
    })
}

/// A service's own settings, read from the environment. `http` is the
/// platform's already-read HTTP settings, for checks that relate the two.
pub trait Settings: Clone + Debug + Send + Sync + Sized + 'static {
    fn from_env(env: &mut Env, http: &HttpConfig) -> Self;
}

/// Everything a service reads from the environment at start-up: the
/// platform's parts and the service's own `settings`.
#[derive(Debug, Clone, Default)]
pub struct Config<T> {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub faults: FaultsConfig,
    pub settings: T,
}

impl<T: Settings> Config<T> {
    /// Reads and validates every variable; see `docs/configuration.md`.
    /// Errors are collected in `env` and reported together by `Env::finish`.
    pub fn from_env(env: &mut Env) -> Self {
        let http = HttpConfig::from_env(env);
        let settings = T::from_env(env, &http);
        Self {
            db: DbConfig::from_env(env),
            auth: AuthConfig::from_env(env),
            telemetry: TelemetryConfig::from_env(env),
            faults: FaultsConfig::from_env(env),
            http,
            settings,
        }
    }
}

/// The platform's parts a service builds its state from.
#[derive(Debug, Clone)]
pub struct Platform {
    pub db: PgPool,
    pub auth: Auth,
    pub http: HttpConfig,
    pub metrics: Metrics,
    client_metrics: ClientMetrics,
    /// The fault rules, when `FAULTS_ENABLED`.
    faults: Option<Faults>,
}

impl Platform {
    /// A resilient client for calls to `name` (with this service's metrics),
    /// for a typed client of `shop-api` to run on.
    pub fn peer(&self, name: &'static str, config: &PeerConfig) -> anyhow::Result<Arc<Peer>> {
        let mut peer = Peer::new(name, config.clone(), self.client_metrics.clone())?;
        if let Some(faults) = &self.faults {
            faults.add_peer(name);
            peer = peer.with_faults(faults.clone());
        }
        Ok(Arc::new(peer))
    }

    /// The service credential, sent as the bearer on `/internal` calls.
    pub fn service_token(&self) -> String {
        self.auth.service_token().to_owned()
    }
}

/// The routes with the platform's error responses on every operation.
pub fn openapi_router<S: Service>() -> OpenApiRouter<S::State> {
    let mut router = S::routes();
    // Once every route is in: the platform's errors, on every operation.
    ProblemResponses.modify(router.get_openapi_mut());
    router
}

/// The service's OpenAPI document (also served at `/openapi.json`).
pub fn openapi<S: Service>() -> utoipa::openapi::OpenApi {
    openapi_router::<S>().split_for_parts().1
}

/// The API router: the service's routes and `/openapi.json`, state applied,
/// inside the platform middleware, with the fault switches' middleware
/// innermost when `faults` is given. No sockets involved.
pub fn app<S: Service>(
    state: S::State,
    http: &HttpConfig,
    metrics: &Metrics,
    faults: Option<&Faults>,
) -> Router {
    let (router, api) = openapi_router::<S>().split_for_parts();
    let mut router = router.with_state(state);
    if let Some(faults) = faults {
        // `Router::layer` wraps the routes added so far, after routing: the
        // middleware sees the route template, and runs inside the timeout,
        // the load shedding and the metrics, as a slow handler would.
        faults.add_routes(api.paths.paths.keys().map(String::as_str));
        router = router.layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            crate::faults::inject,
        ));
    }
    let api = Arc::new(api);
    let router = router.route(
        "/openapi.json",
        get(move || async move { axum::Json(api.as_ref().clone()) }),
    );
    server::stack_with(router, http, metrics, S::render_problem)
}

/// The two bound listeners a service runs on.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds both addresses of `config` (port 0 picks a free port).
    pub async fn bind(config: &HttpConfig) -> anyhow::Result<Self> {
        use anyhow::Context;
        let http = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR {}", config.addr))?;
        let admin = TcpListener::bind(config.admin_addr)
            .await
            .with_context(|| format!("binding ADMIN_ADDR {}", config.admin_addr))?;
        Ok(Self { http, admin })
    }
}

/// A started service: its state, where it listens, and the task serving it.
pub struct Running<S: Service> {
    pub state: S::State,
    pub http_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl<S: Service> Running<S> {
    /// Waits until the service has stopped (after its shutdown future
    /// resolved and the drain finished) and returns how serving ended.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.served.await?
    }
}

/// Starts a service on a connected pool: migrate, build the state, spawn the
/// background tasks and serve both listeners until `shutdown` resolves. On
/// return the service is serving; [`Running::stopped`] waits for the end.
/// The background tasks are aborted after the drain; the pool is the
/// caller's to close.
pub async fn start<S: Service>(
    config: Config<S::Settings>,
    pool: PgPool,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running<S>> {
    crate::db::migrate(&pool, S::migrator()).await?;
    let metrics = Metrics::new(S::NAME);
    let faults = config
        .faults
        .enabled
        .then(|| Faults::new(metrics.registry()));
    let platform = Platform {
        db: pool.clone(),
        auth: Auth::new(&config.auth)?,
        http: config.http.clone(),
        client_metrics: ClientMetrics::register(metrics.registry()),
        metrics: metrics.clone(),
        faults: faults.clone(),
    };
    let state = S::state(&platform, config.settings)?;
    let app = app::<S>(state.clone(), &config.http, &metrics, faults.as_ref());
    let readiness = Readiness::default();
    let mut admin = crate::health::router(AdminState {
        metrics,
        readiness: readiness.clone(),
        pool: pool.clone(),
    });
    if let Some(faults) = faults {
        tracing::warn!("FAULTS_ENABLED: fault switches at /faults on the admin port");
        admin = admin.merge(crate::faults::admin_router(faults));
    }
    let http_addr = listeners.http.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let tasks: Vec<_> = S::tasks(&state).into_iter().map(tokio::spawn).collect();
    let http = config.http;
    let served = tokio::spawn(async move {
        let result = server::serve(
            app,
            admin,
            listeners.http,
            listeners.admin,
            readiness,
            &http,
            shutdown,
        )
        .await;
        for task in tasks {
            task.abort();
        }
        result
    });
    Ok(Running {
        state,
        http_addr,
        admin_addr,
        served,
    })
}

/// Connects to the database (waiting up to 30 s for it, so a service that
/// starts before its database waits instead of crash-looping), starts the
/// service and runs it until `shutdown` resolves and the drain is over.
pub async fn run<S: Service>(
    config: Config<S::Settings>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = crate::db::connect(&config.db, Duration::from_secs(30)).await?;
    let result = match start::<S>(config, pool.clone(), listeners, shutdown).await {
        Ok(running) => running.stopped().await,
        Err(e) => Err(e),
    };
    pool.close().await;
    result
}

/// The binary's `main`: the `healthcheck` subcommand, configuration,
/// telemetry, runtime, listeners, then [`run`] until SIGTERM or SIGINT.
/// Exit code 2 for bad configuration, 1 for a failure while running.
pub fn main<S: Service>() -> ExitCode {
    let service = S::NAME;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck();
    }
    let mut env = Env::from_process();
    let config = Config::<S::Settings>::from_env(&mut env);
    let config = match env.finish(config) {
        Ok(c) => c,
        Err(ConfigError(errors)) => {
            eprintln!("{service}: invalid configuration:");
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{service}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let _telemetry = crate::telemetry::init(service, &config.telemetry)?;
        let listeners = Listeners::bind(&config.http).await?;
        tracing::info!(
            service,
            version = env!("CARGO_PKG_VERSION"),
            http = %listeners.http.local_addr()?,
            admin = %listeners.admin.local_addr()?,
            "starting"
        );
        let result = run::<S>(config, listeners, server::shutdown_signal()).await;
        if let Err(e) = &result {
            tracing::error!(error = format!("{e:#}"), "{service} failed");
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{service}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `<binary> healthcheck`: exits 0 when `/readyz` on the admin port answers
/// 200. Container images have no shell or curl, so the binary checks itself.
fn healthcheck() -> ExitCode {
    use std::io::{Read, Write};
    let mut env = Env::from_process();
    let admin = env.addr("ADMIN_ADDR", "0.0.0.0:9090");
    let target = SocketAddr::from(([127, 0, 0, 1], admin.port()));
    let check = || -> std::io::Result<bool> {
        let timeout = Duration::from_secs(2);
        let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("healthcheck: {target}: {e}");
            ExitCode::FAILURE
        }
    }
}
