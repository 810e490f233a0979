//! The product service: the catalog (products, prices, stock) and stock
//! reservations, the one place stock changes.
//!
//! [`Product`] is what the platform's service skeleton
//! (`shop_common::service`) needs to know about it: its settings, state
//! (the read cache among it), routes, migrations and the reservation
//! sweeper. Starting, serving and stopping are the platform's, the same for
//! every service.

pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod state;
pub mod sweeper;

use shop_common::service::{Platform, Service, Task};
use utoipa_axum::router::OpenApiRouter;

pub use config::{Config, Settings};
pub use state::AppState;

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The product service, for the platform's skeleton.
pub struct Product;

impl Service for Product {
    const NAME: &'static str = "product";
    type Settings = Settings;
    type State = AppState;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn state(platform: &Platform, settings: Settings) -> anyhow::Result<AppState> {
        let business = metrics::ProductMetrics::register(platform.metrics.registry());
        Ok(AppState {
            cache: cache::ProductCache::new(&settings, &business),
            business,
            db: platform.db.clone(),
            auth: platform.auth.clone(),
            settings,
        })
    }

    fn routes() -> OpenApiRouter<AppState> {
        routes::openapi_router()
    }

    fn tasks(state: &AppState) -> Vec<Task> {
        // A sweep runs in one transaction per reservation, so stopping it
        // mid-way rolls back cleanly.
        vec![sweeper::task(state.clone())]
    }
}
