//! The storefront's configuration: the platform's settings plus its own.

use std::time::Duration;

use shop_common::config::Env;
use shop_common::http_client::PeerConfig;
use shop_common::server::HttpConfig;

/// Everything the service reads from the environment at start-up: the
/// platform's parts and [`Settings`].
pub type Config = shop_common::service::Config<Settings>;

/// The longest a session (and the token minted for it) may live.
const MAX_SESSION_TTL_SECS: u64 = 24 * 3600;

/// Settings of the storefront itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PRODUCT_URL`, `CART_URL`, `ORDER_URL`: the public APIs the pages are
    /// made from (the storefront calls no internal route).
    pub product_url: String,
    pub cart_url: String,
    pub order_url: String,
    /// Timeouts, retries and breakers (`PRODUCT_*`, `CART_*`, `ORDER_*`).
    pub product_peer: PeerConfig,
    pub cart_peer: PeerConfig,
    pub order_peer: PeerConfig,
    /// `WEB_DEV_SIGN_IN` (false): the "sign in as" form, which mints a
    /// token with the committed development key. Only on a development
    /// stack: it needs `DEVELOPMENT_MODE=true`.
    pub dev_sign_in: bool,
    /// The private key (PKCS#8 PEM) development sign-in signs tokens with,
    /// `WEB_DEV_SIGNING_KEY` (the PEM itself) or read from
    /// `WEB_DEV_SIGNING_KEY_FILE`, one of them required with
    /// `WEB_DEV_SIGN_IN=true` (images carry no private key; Compose, the
    /// dev overlay and `cargo xtask dev` pass the committed development
    /// key, `dev/keys/dev-private.pem`).
    pub dev_signing_key: Option<String>,
    /// How long a signed-in session (and its token) lives
    /// (`WEB_SESSION_TTL_SECS`, 28800: a working day; at most a day and at
    /// most `AUTH_MAX_TOKEN_TTL`).
    pub session_ttl: Duration,
    /// `WEB_TRACE_URL`: the tracing UI (Jaeger) that the trace id in each
    /// page's footer links to, such as `http://127.0.0.1:16686`. Empty: the
    /// link explains how to turn tracing on.
    pub trace_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            product_url: "http://product:8080".into(),
            cart_url: "http://cart:8080".into(),
            order_url: "http://order:8080".into(),
            product_peer: PeerConfig::default(),
            cart_peer: PeerConfig::default(),
            order_peer: PeerConfig::default(),
            dev_sign_in: false,
            dev_signing_key: None,
            session_ttl: Duration::from_secs(8 * 3600),
            trace_url: None,
        }
    }
}

impl shop_common::service::Settings for Settings {
    /// Reads and validates the service's own variables; see
    /// `docs/configuration.md`.
    fn from_env(env: &mut Env, _http: &HttpConfig) -> Self {
        let d = Self::default();
        let dev_sign_in: bool = env.optional("WEB_DEV_SIGN_IN", false);
        let development: bool = env.optional("DEVELOPMENT_MODE", false);
        env.check(
            !dev_sign_in || development,
            "WEB_DEV_SIGN_IN",
            "mints tokens with the public development key: it needs DEVELOPMENT_MODE=true",
        );
        let inline = env
            .raw("WEB_DEV_SIGNING_KEY")
            .map(|pem| pem.replace("\\n", "\n"));
        let file = env.raw("WEB_DEV_SIGNING_KEY_FILE").map(str::to_owned);
        let dev_signing_key = match inline.map(Ok).or(file.map(Err)) {
            Some(Ok(pem)) => {
                let signs = shop_api::auth::dev::sign(
                    &shop_api::auth::dev::claims("key-check", false, 60),
                    &pem,
                )
                .is_ok();
                env.check(
                    signs,
                    "WEB_DEV_SIGNING_KEY",
                    "is not an EC private key in PKCS#8 PEM form",
                );
                Some(pem)
            }
            Some(Err(path)) => match std::fs::read_to_string(&path) {
                // Checked by signing once, so a bad key stops the service
                // here, not every sign-in later.
                Ok(pem) => {
                    let signs = shop_api::auth::dev::sign(
                        &shop_api::auth::dev::claims("key-check", false, 60),
                        &pem,
                    )
                    .is_ok();
                    env.check(
                        signs,
                        "WEB_DEV_SIGNING_KEY_FILE",
                        &format!("({path}) is not an EC private key in PKCS#8 PEM form"),
                    );
                    Some(pem)
                }
                Err(e) => {
                    env.check(
                        false,
                        "WEB_DEV_SIGNING_KEY_FILE",
                        &format!("cannot be read ({path}): {e}"),
                    );
                    None
                }
            },
            None => {
                env.check(
                    !dev_sign_in,
                    "WEB_DEV_SIGNING_KEY_FILE",
                    "(or WEB_DEV_SIGNING_KEY) is required with WEB_DEV_SIGN_IN=true: the key sign-in signs tokens with",
                );
                None
            }
        };
        let session_ttl = env.in_range(
            "WEB_SESSION_TTL_SECS",
            d.session_ttl.as_secs(),
            60..=MAX_SESSION_TTL_SECS,
        );
        let max_token_ttl = env.secs("AUTH_MAX_TOKEN_TTL", MAX_SESSION_TTL_SECS);
        env.check(
            session_ttl <= max_token_ttl.as_secs(),
            "WEB_SESSION_TTL_SECS",
            "must not exceed AUTH_MAX_TOKEN_TTL: the APIs would refuse the session's token",
        );
        let trace_url = env
            .raw("WEB_TRACE_URL")
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty());
        if let Some(url) = &trace_url {
            env.check(
                url.starts_with("http://") || url.starts_with("https://"),
                "WEB_TRACE_URL",
                "must be an http:// or https:// URL",
            );
        }
        Self {
            product_url: env.http_url("PRODUCT_URL"),
            cart_url: env.http_url("CART_URL"),
            order_url: env.http_url("ORDER_URL"),
            product_peer: PeerConfig::from_env(env, "PRODUCT", d.product_peer),
            cart_peer: PeerConfig::from_env(env, "CART", d.cart_peer),
            order_peer: PeerConfig::from_env(env, "ORDER", d.order_peer),
            dev_sign_in,
            dev_signing_key,
            session_ttl: Duration::from_secs(session_ttl),
            trace_url,
        }
    }
}
