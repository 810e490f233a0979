//! The order service: checkout as a saga across product and cart, orders,
//! and the recovery worker that finishes or undoes interrupted checkouts.
//!
//! [`Order`] is what the platform's service skeleton (`shop_common::service`)
//! needs to know about it: its settings, state (with the product and cart
//! clients), routes, migrations and the recovery worker. Starting, serving
//! and stopping are the platform's, the same for every service.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fault;
pub mod metrics;
pub mod recovery;
pub mod routes;
pub mod saga;
pub mod state;

use shop_api::{CartClient, ProductClient};
use shop_common::service::{Platform, Service, Task};
use utoipa_axum::router::OpenApiRouter;

pub use config::{Config, Settings};
pub use state::AppState;

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The order service, for the platform's skeleton.
pub struct Order;

impl Service for Order {
    const NAME: &'static str = "order";
    type Settings = Settings;
    type State = AppState;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn state(platform: &Platform, settings: Settings) -> anyhow::Result<AppState> {
        let product = platform.peer("product", &settings.product_peer)?;
        let cart = platform.peer("cart", &settings.cart_peer)?;
        Ok(AppState {
            product: ProductClient::with_transport(product, &settings.product_url)
                .with_bearer(platform.service_token()),
            cart: CartClient::with_transport(cart, &settings.cart_url)
                .with_bearer(platform.service_token()),
            business: metrics::OrderMetrics::register(platform.metrics.registry()),
            db: platform.db.clone(),
            auth: platform.auth.clone(),
            settings,
        })
    }

    fn routes() -> OpenApiRouter<AppState> {
        routes::openapi_router()
    }

    fn tasks(state: &AppState) -> Vec<Task> {
        // Every recovery step is idempotent, so stopping mid-way is safe:
        // the next worker (after a restart, or another replica) repeats it.
        vec![recovery::task(state.clone())]
    }
}
