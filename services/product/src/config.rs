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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::from_secs(900),
            sweep_interval: Duration::from_secs(5),
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
        }
    }
}
