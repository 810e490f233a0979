//! What every handler (and background task) can reach.

use axum::extract::FromRef;
use shop_common::auth::Auth;
use sqlx::PgPool;

use crate::config::Settings;
use crate::metrics::ProductMetrics;

/// The product service's state, built once at start-up by `Product::state`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub auth: Auth,
    pub settings: Settings,
    pub business: ProductMetrics,
}
