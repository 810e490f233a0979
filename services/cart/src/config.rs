//! The cart service's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::config::Env;
use shop_common::http_client::PeerConfig;
use shop_common::server::HttpConfig;

/// Everything the service reads from the environment at start-up: the
/// platform's parts and [`Settings`].
pub type Config = shop_common::service::Config<Settings>;

/// Settings of the cart service itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The product service's base URL (`PRODUCT_URL`).
    pub product_url: String,
    /// Timeouts, retries and breaker for calls to product (`PRODUCT_*`).
    pub product_peer: PeerConfig,
    /// How long `GET /v1/cart` waits for fresh prices before answering with
    /// stored ones marked stale (`CART_PRICE_REFRESH_DEADLINE_MS`, 300).
    pub price_refresh_deadline: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            product_url: "http://product:8080".into(),
            product_peer: PeerConfig::default(),
            price_refresh_deadline: Duration::from_millis(300),
        }
    }
}

impl shop_common::service::Settings for Settings {
    /// Reads and validates the service's own variables; see
    /// `docs/configuration.md`.
    fn from_env(env: &mut Env, _http: &HttpConfig) -> Self {
        let d = Self::default();
        Self {
            product_url: env.http_url("PRODUCT_URL"),
            product_peer: PeerConfig::from_env(env, "PRODUCT", d.product_peer),
            price_refresh_deadline: env.millis(
                "CART_PRICE_REFRESH_DEADLINE_MS",
                d.price_refresh_deadline.as_millis() as u64,
            ),
        }
    }
}
