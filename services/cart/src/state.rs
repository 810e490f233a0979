//! What every handler (and background task) can reach.

use axum::extract::FromRef;
use shop_api::ProductClient;
use shop_common::auth::Auth;
use sqlx::PgPool;

use crate::config::Settings;
use crate::metrics::CartMetrics;

/// The cart service's state, built once at start-up by `Cart::state`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub auth: Auth,
    pub settings: Settings,
    pub business: CartMetrics,
    /// The product service, through the resilient client, with the service
    /// credential.
    pub product: ProductClient,
}
