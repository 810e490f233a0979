//! What every handler (and background task) can reach.

use axum::extract::FromRef;
use shop_api::{CartClient, OrderClient, ProductClient};
use sqlx::PgPool;

use crate::config::Settings;
use crate::metrics::WebMetrics;

/// The storefront's state, built once at start-up by `Web::state`.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The sessions table.
    pub db: PgPool,
    pub settings: Settings,
    pub business: WebMetrics,
    /// The three public APIs, through the resilient client, with no
    /// credential: each call carries the signed-in user's token
    /// (`Client::with_bearer`), never the service credential.
    pub product: ProductClient,
    pub cart: CartClient,
    pub order: OrderClient,
}
