//! The cart service: one cart per user (the token's subject), priced by the
//! product service, and still answering when product is down.
//!
//! [`Cart`] is what the platform's service skeleton (`shop_common::service`)
//! needs to know about it: its settings, state (with the product client),
//! routes and migrations. Starting, serving and stopping are the
//! platform's, the same for every service.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod state;

use shop_api::ProductClient;
use shop_common::service::{Platform, Service};
use utoipa_axum::router::OpenApiRouter;

pub use config::{Config, Settings};
pub use state::AppState;

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The cart service, for the platform's skeleton.
pub struct Cart;

impl Service for Cart {
    const NAME: &'static str = "cart";
    type Settings = Settings;
    type State = AppState;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn state(platform: &Platform, settings: Settings) -> anyhow::Result<AppState> {
        let peer = platform.peer("product", &settings.product_peer)?;
        Ok(AppState {
            product: ProductClient::with_transport(peer, &settings.product_url)
                .with_bearer(platform.service_token()),
            business: metrics::CartMetrics::register(platform.metrics.registry()),
            db: platform.db.clone(),
            auth: platform.auth.clone(),
            settings,
        })
    }

    fn routes() -> OpenApiRouter<AppState> {
        routes::openapi_router()
    }
}
