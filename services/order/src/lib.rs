//! The order service: checkout as a saga across product and cart, orders,
//! and the recovery worker that finishes or undoes interrupted checkouts.
//!
//! `app` builds the router without sockets, for in-process tests; `run`
//! connects the database, starts the recovery worker and serves until
//! shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fault;
pub mod metrics;
pub mod recovery;
pub mod routes;
pub mod saga;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shop_api::{CartClient, ProductClient};
use shop_common::auth::Auth;
use shop_common::http_client::{ClientMetrics, Peer};
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig, Listeners};
use sqlx::PgPool;

pub use config::{Config, Settings};

/// The service name in logs, traces and metrics.
pub const SERVICE: &str = "order";

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
    pub business: metrics::OrderMetrics,
    /// Product and cart, through the resilient client, with the service
    /// credential.
    pub product: ProductClient,
    pub cart: CartClient,
}

impl AppState {
    /// Wires a state: business metrics and the clients of both peers.
    pub fn new(
        db: PgPool,
        auth: Auth,
        settings: Settings,
        http: HttpConfig,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let client_metrics = ClientMetrics::register(metrics.registry());
        let token = auth.service_token().to_owned();
        let product_peer = Peer::new(
            "product",
            settings.product_peer.clone(),
            client_metrics.clone(),
        )?;
        let cart_peer = Peer::new("cart", settings.cart_peer.clone(), client_metrics)?;
        Ok(Self {
            product: ProductClient::with_transport(Arc::new(product_peer), &settings.product_url)
                .with_bearer(token.clone()),
            cart: CartClient::with_transport(Arc::new(cart_peer), &settings.cart_url)
                .with_bearer(token),
            business: metrics::OrderMetrics::register(metrics.registry()),
            db,
            auth,
            settings,
            http,
            metrics,
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
/// port, drain) with the order API and the recovery worker.
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
            // Every recovery step is idempotent, so stopping mid-way is safe:
            // the next worker (after a restart, or another replica) repeats it.
            let worker = tokio::spawn(recovery::run(state.clone()));
            Ok((app(state), vec![worker]))
        },
    )
    .await
}
