//! What every handler (and the recovery worker) can reach.

use axum::extract::FromRef;
use shop_api::{CartClient, ProductClient};
use shop_common::auth::Auth;
use sqlx::PgPool;

use crate::config::Settings;
use crate::metrics::OrderMetrics;

/// The order service's state, built once at start-up by `Order::state`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub auth: Auth,
    pub settings: Settings,
    pub business: OrderMetrics,
    /// Product and cart, through the resilient client, with the service
    /// credential.
    pub product: ProductClient,
    pub cart: CartClient,
}
