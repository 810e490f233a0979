//! Shop's end-to-end suite: scenarios driven through the public API of a
//! running stack, wherever it runs (local processes, Compose, a cluster).
//!
//! The stack is named by environment variables, which `cargo xtask e2e` and
//! `cargo xtask test` set for the local stack they start:
//! `SHOP_PRODUCT_URL` (and, as they land, `SHOP_CART_URL`,
//! `SHOP_ORDER_URL`, or one gateway URL for all), and
//! `SHOP_INTERNAL_TOKEN` for the internal routes. The stack must accept
//! tokens signed with the development key.

use shop_api::ProductClient;
use shop_api::auth::dev;

/// Where the stack under test answers.
#[derive(Debug, Clone)]
pub struct Stack {
    pub product_url: String,
    pub internal_token: Option<String>,
    pub http: reqwest::Client,
}

impl Stack {
    /// Reads the stack's location; panics with how to provide it.
    pub fn from_env() -> Self {
        let product_url = std::env::var("SHOP_PRODUCT_URL").unwrap_or_else(|_| {
            panic!(
                "SHOP_PRODUCT_URL is not set: run the suite with `cargo xtask e2e` \
                 (which starts a local stack), or set SHOP_*_URL and use `cargo xtask e2e --against`"
            )
        });
        Self {
            product_url,
            internal_token: std::env::var("SHOP_INTERNAL_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            http: reqwest::Client::new(),
        }
    }

    /// The catalog as anyone sees it.
    pub fn products(&self) -> ProductClient {
        ProductClient::new(self.http.clone(), &self.product_url)
    }

    /// The catalog as an admin.
    pub fn products_as_admin(&self) -> ProductClient {
        self.products()
            .with_bearer(dev::token("e2e-admin", true, 600))
    }

    /// The product service's internal API, when the suite may reach it
    /// (not through a gateway, which never routes `/internal`).
    pub fn products_as_service(&self) -> Option<ProductClient> {
        self.internal_token
            .as_ref()
            .map(|t| self.products().with_bearer(t.clone()))
    }
}

/// A user token for `user`, valid for ten minutes.
pub fn user_token(user: &str) -> String {
    dev::token(user, false, 600)
}

/// A name no other run of the suite uses, so runs can share a stack.
pub fn unique(prefix: &str) -> String {
    format!("{prefix} {}", uuid::Uuid::now_v7().simple())
}
