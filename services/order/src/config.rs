//! The order service's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::config::Env;
use shop_common::http_client::PeerConfig;
use shop_common::server::HttpConfig;

use crate::fault::FaultPoint;

/// Everything the service reads from the environment at start-up: the
/// platform's parts and [`Settings`].
pub type Config = shop_common::service::Config<Settings>;

/// Settings of the order service itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PRODUCT_URL`, `CART_URL`.
    pub product_url: String,
    pub cart_url: String,
    /// Timeouts, retries and breakers (`PRODUCT_*`, `CART_*`).
    pub product_peer: PeerConfig,
    pub cart_peer: PeerConfig,
    /// How often the recovery worker runs (`RECOVERY_INTERVAL_MS`, 5000).
    pub recovery_interval: Duration,
    /// A pending order older than this is the worker's to finish
    /// (`RECOVERY_AFTER_MS`, 30000). It must exceed the longest a checkout
    /// request can take, so the worker never races a live request.
    pub recovery_after: Duration,
    /// How long an Idempotency-Key is remembered (`IDEMPOTENCY_KEY_TTL_SECS`,
    /// 86400: a day, as Stripe does). After it, the key is forgotten: a
    /// request with it is a new checkout, and failed checkouts are deleted.
    pub idempotency_key_ttl: Duration,
    /// TEST ONLY: `ORDER_FAULT_POINT` makes the process exit abruptly at a
    /// saga step. Off unless set.
    pub fault_point: Option<FaultPoint>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            product_url: "http://product:8080".into(),
            cart_url: "http://cart:8080".into(),
            product_peer: PeerConfig::default(),
            cart_peer: PeerConfig::default(),
            recovery_interval: Duration::from_secs(5),
            recovery_after: Duration::from_secs(30),
            idempotency_key_ttl: Duration::from_secs(24 * 3600),
            fault_point: None,
        }
    }
}

impl shop_common::service::Settings for Settings {
    /// Reads and validates the service's own variables; see
    /// `docs/configuration.md`.
    fn from_env(env: &mut Env, http: &HttpConfig) -> Self {
        let d = Self::default();
        let recovery_after = env.millis("RECOVERY_AFTER_MS", d.recovery_after.as_millis() as u64);
        env.check(
            recovery_after > http.request_timeout,
            "RECOVERY_AFTER_MS",
            "must be longer than REQUEST_TIMEOUT_MS, or the worker could race a live checkout",
        );
        let idempotency_key_ttl =
            env.secs("IDEMPOTENCY_KEY_TTL_SECS", d.idempotency_key_ttl.as_secs());
        env.check(
            idempotency_key_ttl > recovery_after,
            "IDEMPOTENCY_KEY_TTL_SECS",
            "must be longer than RECOVERY_AFTER_MS: a key must outlive its checkout's recovery",
        );
        let fault_point = match env.raw("ORDER_FAULT_POINT").map(str::to_owned) {
            None => None,
            Some(raw) => {
                let parsed = raw.parse::<FaultPoint>();
                env.check(parsed.is_ok(), "ORDER_FAULT_POINT", FaultPoint::EXPECTED);
                parsed.ok()
            }
        };
        Self {
            product_url: env.http_url("PRODUCT_URL"),
            cart_url: env.http_url("CART_URL"),
            product_peer: PeerConfig::from_env(env, "PRODUCT", d.product_peer),
            cart_peer: PeerConfig::from_env(env, "CART", d.cart_peer),
            recovery_interval: env.millis(
                "RECOVERY_INTERVAL_MS",
                d.recovery_interval.as_millis() as u64,
            ),
            recovery_after,
            idempotency_key_ttl,
            fault_point,
        }
    }
}
