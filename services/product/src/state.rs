//! What every handler (and background task) can reach.

use axum::extract::FromRef;
use shop_common::auth::Auth;
use sqlx::PgPool;

use crate::cache::ProductCache;
use crate::config::Settings;
use crate::metrics::ProductMetrics;

/// The product service's state, built once at start-up by `Product::state`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub auth: Auth,
    pub settings: Settings,
    pub business: ProductMetrics,
    /// The read cache of `GET /v1/products/{id}`; `None` when
    /// `PRODUCT_CACHE_TTL_MS` is 0.
    pub cache: Option<ProductCache>,
}
