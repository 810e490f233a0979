//! The storefront: server-rendered HTML pages over the product, cart and
//! order APIs, a backend for frontend (BFF). The browser gets pages and a
//! session cookie; the user's token stays on the server, in the sessions
//! table, and every call to an API carries it (see `docs/web.md`).
//!
//! [`Web`] is what the platform's service skeleton (`shop_common::service`)
//! needs to know about it, as for the other services: its settings, state
//! (the three API clients), routes, migrations (sessions), the session
//! sweeper, and one thing only it has: errors shown as pages, not as
//! problem+json.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod state;

use std::time::Duration;

use shop_api::{CartClient, OrderClient, ProductClient};
use shop_common::error::Problem;
use shop_common::service::{Platform, Service, Task};
use utoipa_axum::router::OpenApiRouter;

pub use config::{Config, Settings};
pub use state::AppState;

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How often expired sessions are deleted.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The storefront, for the platform's skeleton.
pub struct Web;

impl Service for Web {
    const NAME: &'static str = "web";
    type Settings = Settings;
    type State = AppState;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn state(platform: &Platform, settings: Settings) -> anyhow::Result<AppState> {
        let product = platform.peer("product", &settings.product_peer)?;
        let cart = platform.peer("cart", &settings.cart_peer)?;
        let order = platform.peer("order", &settings.order_peer)?;
        Ok(AppState {
            product: ProductClient::with_transport(product, &settings.product_url),
            cart: CartClient::with_transport(cart, &settings.cart_url),
            order: OrderClient::with_transport(order, &settings.order_url),
            business: metrics::WebMetrics::register(platform.metrics.registry()),
            db: platform.db.clone(),
            settings,
        })
    }

    fn routes() -> OpenApiRouter<AppState> {
        routes::router()
    }

    fn render_problem(problem: Problem) -> axum::response::Response {
        error::page(problem)
    }

    fn tasks(state: &AppState) -> Vec<Task> {
        // One DELETE per round: stopping at any point is harmless.
        let db = state.db.clone();
        vec![shop_common::service::every(SWEEP_INTERVAL, move || {
            let db = db.clone();
            async move {
                match db::sessions::delete_expired(&db).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sessions = n, "expired sessions deleted"),
                    Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                }
            }
        })]
    }
}
