//! The bearer token contract: which claims a Shop JWT carries.
//!
//! Services verify tokens (see `shop_common::auth`); an identity provider
//! issues them. For local use and tests, the `dev-tokens` feature mints them
//! with the committed development key in `dev/keys/`.

use serde::{Deserialize, Serialize};

/// The role that allows catalog writes.
pub const ADMIN_ROLE: &str = "admin";

/// The claims of a user token. `iss`, `aud`, `exp` and `sub` are required;
/// a token without one of them is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id. It owns carts and orders; never taken from a body.
    pub sub: String,
    pub iss: String,
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Roles such as [`ADMIN_ROLE`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// The issuer development tokens carry.
pub const DEV_ISSUER: &str = "shop-dev";
/// The audience development tokens carry.
pub const DEV_AUDIENCE: &str = "shop";

/// The public half of the committed development key pair (`dev/keys/`).
/// Services refuse to start with it unless `DEVELOPMENT_MODE=true`.
pub const DEV_PUBLIC_KEY_PEM: &str = include_str!("../../../dev/keys/dev-public.pem");

/// The service credential of development stacks (Compose, `cargo xtask
/// dev`, the dev overlay). Public knowledge: services refuse it unless
/// `DEVELOPMENT_MODE=true`.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token-not-for-production-use";

/// Minting tokens with the committed, public, development-only key.
#[cfg(feature = "dev-tokens")]
pub mod dev {
    use super::*;

    /// DEVELOPMENT ONLY: anyone can read this key. See `dev/keys/README.md`.
    pub const DEV_PRIVATE_KEY_PEM: &str = include_str!("../../../dev/keys/dev-private.pem");
    /// The public half, what services verify development tokens with.
    pub use super::DEV_PUBLIC_KEY_PEM;

    /// Signs `claims` (any JSON object, so tests can forge bad ones) with
    /// ES256 and the given PKCS#8 PEM key.
    pub fn sign<T: Serialize>(
        claims: &T,
        private_key_pem: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(private_key_pem.as_bytes())?;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            claims,
            &key,
        )
    }

    /// Development claims for `subject`, valid for `ttl_secs` from now.
    pub fn claims(subject: &str, admin: bool, ttl_secs: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: subject.to_owned(),
            iss: DEV_ISSUER.to_owned(),
            aud: DEV_AUDIENCE.to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
            roles: if admin {
                vec![ADMIN_ROLE.to_owned()]
            } else {
                Vec::new()
            },
        }
    }

    /// A development token for `subject`, valid for `ttl_secs`.
    pub fn token(subject: &str, admin: bool, ttl_secs: i64) -> String {
        sign(&claims(subject, admin, ttl_secs), DEV_PRIVATE_KEY_PEM)
            .expect("the committed development key signs")
    }
}
