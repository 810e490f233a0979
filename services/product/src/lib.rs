//! The product service: the catalog (products, prices, stock) and stock
//! reservations, the one place stock changes.
//!
//! `app` builds the router without sockets, for in-process tests; `run`
//! connects the database, starts the sweeper and serves until shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod sweeper;

use std::future::Future;

use axum::Router;
use axum::extract::FromRef;
use shop_common::auth::Auth;
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig, Listeners};
use sqlx::PgPool;

pub use config::{Config, Settings};

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "product";

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub auth: Auth,
    pub settings: Settings,
    pub http: HttpConfig,
    pub metrics: Metrics,
    pub business: metrics::ProductMetrics,
}

impl AppState {
    /// Wires a state, registering the service's business metrics.
    pub fn new(
        db: PgPool,
        auth: Auth,
        settings: Settings,
        http: HttpConfig,
        metrics: Metrics,
    ) -> Self {
        let business = metrics::ProductMetrics::register(metrics.registry());
        Self {
            db,
            auth,
            settings,
            http,
            metrics,
            business,
        }
    }
}

/// The API router with the platform middleware; no sockets involved.
pub fn app(state: AppState) -> Router {
    let http = state.http.clone();
    let metrics = state.metrics.clone();
    server::stack(routes::router(state), &http, &metrics)
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(config: Config, listeners: Listeners) -> anyhow::Result<()> {
    run_until(config, listeners, server::shutdown_signal()).await
}

/// Runs until `shutdown` resolves: the platform's run (database, admin
/// port, drain) with the product API and the reservation sweeper.
pub async fn run_until(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Config {
        http,
        db,
        auth,
        settings,
        ..
    } = config;
    server::run_service(
        SERVICE,
        &http.clone(),
        &db,
        &auth,
        &MIGRATOR,
        listeners,
        shutdown,
        |p| {
            let state = AppState::new(p.pool, p.auth, settings, http, p.metrics);
            // A sweep runs in one transaction per reservation, so stopping it
            // mid-way rolls back cleanly.
            let sweeper = tokio::spawn(sweeper::run(state.clone()));
            Ok((app(state), vec![sweeper]))
        },
    )
    .await
}
