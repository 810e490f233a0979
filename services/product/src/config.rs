//! The product service's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::config::Env;
use shop_common::server::HttpConfig;

/// Everything the service reads from the environment at start-up: the
/// platform's parts and [`Settings`].
pub type Config = shop_common::service::Config<Settings>;

/// Settings of the product service itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a reservation holds stock before the sweeper returns it
    /// (`RESERVATION_TTL_SECS`, default 900).
    pub reservation_ttl: Duration,
    /// How often the sweeper looks for expired holds
    /// (`RESERVATION_SWEEP_INTERVAL_MS`, default 5000).
    pub sweep_interval: Duration,
    /// How long `GET /v1/products/{id}` may answer from this replica's read
    /// cache (`PRODUCT_CACHE_TTL_MS`, default 1000, at most
    /// [`MAX_CACHE_TTL_MS`]). Zero turns the cache off. It is also how old
    /// another replica's change (or a reservation's stock) may look.
    pub cache_ttl: Duration,
    /// How many products the cache keeps at most (`PRODUCT_CACHE_CAPACITY`,
    /// default 10000); beyond that the least useful are evicted.
    pub cache_capacity: u64,
}

/// The longest time-to-live the cache accepts: past a minute "a cached
/// answer is a little old" would stop being true.
pub const MAX_CACHE_TTL_MS: u64 = 60_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::from_secs(900),
            sweep_interval: Duration::from_secs(5),
            cache_ttl: Duration::from_millis(1000),
            cache_capacity: 10_000,
        }
    }
}

impl shop_common::service::Settings for Settings {
    /// Reads and validates the service's own variables; see
    /// `docs/configuration.md`.
    fn from_env(env: &mut Env, _http: &HttpConfig) -> Self {
        let d = Self::default();
        Self {
            reservation_ttl: env.secs("RESERVATION_TTL_SECS", d.reservation_ttl.as_secs()),
            sweep_interval: env.millis(
                "RESERVATION_SWEEP_INTERVAL_MS",
                d.sweep_interval.as_millis() as u64,
            ),
            // Not `env.millis`: zero is allowed here, and means no cache.
            cache_ttl: Duration::from_millis(env.in_range(
                "PRODUCT_CACHE_TTL_MS",
                d.cache_ttl.as_millis() as u64,
                0..=MAX_CACHE_TTL_MS,
            )),
            cache_capacity: env.at_least("PRODUCT_CACHE_CAPACITY", d.cache_capacity, 1),
        }
    }
}
