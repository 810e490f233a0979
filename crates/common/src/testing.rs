//! Test helpers (feature `testing`): platform pieces wired for tests with the
//! development keys. Never compiled into a service binary.

use shop_api::auth::dev;
use shop_api::auth::{DEV_AUDIENCE, DEV_ISSUER};

use crate::auth::{Auth, AuthConfig};

/// The service credential tests use.
pub const TEST_INTERNAL_TOKEN: &str = "test-internal-token-0123456789abcdef";

/// Auth configured with the development public key and the test credential.
pub fn auth_config() -> AuthConfig {
    AuthConfig {
        public_key_pem: dev::DEV_PUBLIC_KEY_PEM.to_owned(),
        issuer: DEV_ISSUER.to_owned(),
        audience: DEV_AUDIENCE.to_owned(),
        internal_token: TEST_INTERNAL_TOKEN.to_owned(),
    }
}

/// The verifier for [`auth_config`].
pub fn auth() -> Auth {
    Auth::new(&auth_config()).expect("development key parses")
}

/// A user token for `subject`, valid for an hour.
pub fn user_token(subject: &str) -> String {
    dev::token(subject, false, 3600)
}

/// An admin token, valid for an hour.
pub fn admin_token() -> String {
    dev::token("admin", true, 3600)
}
