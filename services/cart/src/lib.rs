//! The cart service: one cart per user (the token's subject), priced by the
//! product service, and still answering when product is down.
//!
//! `app` builds the router without sockets, for in-process tests; `run`
//! connects the database and serves until shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shop_api::ProductClient;
use shop_common::auth::Auth;
use shop_common::http_client::{ClientMetrics, Peer};
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig, Listeners};
use sqlx::PgPool;

pub use config::{Config, Settings};

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "cart";

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
    pub business: metrics::CartMetrics,
    /// The product service, through the resilient client, with the service
    /// credential.
    pub product: ProductClient,
}

impl AppState {
    /// Wires a state: business metrics and the product client.
    pub fn new(
        db: PgPool,
        auth: Auth,
        settings: Settings,
        http: HttpConfig,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let client_metrics = ClientMetrics::register(metrics.registry());
        let peer = Peer::new("product", settings.product_peer.clone(), client_metrics)?;
        let product = ProductClient::with_transport(Arc::new(peer), &settings.product_url)
            .with_bearer(auth.service_token().to_owned());
        Ok(Self {
            business: metrics::CartMetrics::register(metrics.registry()),
            db,
            auth,
            settings,
            http,
            metrics,
            product,
        })
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
/// port, drain) with the cart API.
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
            let state = AppState::new(p.pool, p.auth, settings, http, p.metrics)?;
            Ok((app(state), vec![]))
        },
    )
    .await
}
