//! The cart service's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::auth::AuthConfig;
use shop_common::config::Env;
use shop_common::db::DbConfig;
use shop_common::http_client::PeerConfig;
use shop_common::server::HttpConfig;
use shop_common::telemetry::TelemetryConfig;

/// Everything the service reads from the environment at start-up.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub settings: Settings,
}

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

impl Config {
    /// Reads and validates every variable; see `docs/configuration.md`.
    pub fn from_env(env: &mut Env) -> Self {
        let d = Settings::default();
        let product_url: String = env.required("PRODUCT_URL");
        if !product_url.is_empty() {
            env.check(
                product_url.starts_with("http://") || product_url.starts_with("https://"),
                "PRODUCT_URL",
                "must be an http:// or https:// URL",
            );
        }
        Self {
            http: HttpConfig::from_env(env),
            db: DbConfig::from_env(env),
            auth: AuthConfig::from_env(env),
            telemetry: TelemetryConfig::from_env(env),
            settings: Settings {
                product_url,
                product_peer: PeerConfig::from_env(env, "PRODUCT", d.product_peer),
                price_refresh_deadline: env.millis(
                    "CART_PRICE_REFRESH_DEADLINE_MS",
                    d.price_refresh_deadline.as_millis() as u64,
                ),
            },
        }
    }
}
