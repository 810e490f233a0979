//! The product service's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::auth::AuthConfig;
use shop_common::config::Env;
use shop_common::db::DbConfig;
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

impl Config {
    /// Reads and validates every variable; see `docs/configuration.md`.
    pub fn from_env(env: &mut Env) -> Self {
        let d = Settings::default();
        Self {
            http: HttpConfig::from_env(env),
            db: DbConfig::from_env(env),
            auth: AuthConfig::from_env(env),
            telemetry: TelemetryConfig::from_env(env),
            settings: Settings {
                reservation_ttl: env.secs("RESERVATION_TTL_SECS", d.reservation_ttl.as_secs()),
                sweep_interval: env.millis(
                    "RESERVATION_SWEEP_INTERVAL_MS",
                    d.sweep_interval.as_millis() as u64,
                ),
            },
        }
    }
}
