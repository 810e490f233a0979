//! Test plumbing: cart started as it ships (see
//! `shop_common::testing::TestApp`) over the test's database, a real product
//! service beside it on its own scratch database, and the calls the tests
//! make often.

use std::ops::Deref;
use std::time::Duration;

use axum::http::Method;
use cart::Cart;
use product::Product;
use serde_json::json;
use shop_api::ProductClient;
use shop_api::product::NewProduct;
use shop_common::http_client::PeerConfig;
use shop_common::testing::TestApp;
use sqlx::PgPool;
use uuid::Uuid;

pub use shop_common::testing::{Resp, admin_token, user_token};

/// Cart under test (it derefs to its `TestApp`), with the product service
/// it prices from.
pub struct TestCart {
    pub app: TestApp<Cart>,
    pub product: TestApp<Product>,
    pub product_db: PgPool,
}

impl Deref for TestCart {
    type Target = TestApp<Cart>;
    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

/// Settings that fail fast when product is down, so tests stay quick.
pub fn fast_settings(product_url: &str) -> cart::Settings {
    cart::Settings {
        product_url: product_url.to_owned(),
        product_peer: PeerConfig {
            attempt_timeout: Duration::from_millis(500),
            deadline: Duration::from_secs(1),
            ..PeerConfig::default()
        },
        price_refresh_deadline: Duration::from_millis(500),
    }
}

impl TestCart {
    pub async fn new(db: PgPool) -> Self {
        let product = TestApp::<Product>::spawn_scratch(product::Settings::default()).await;
        let app = TestApp::<Cart>::spawn(db, fast_settings(&product.url)).await;
        Self {
            app,
            product_db: product.db.clone(),
            product,
        }
    }

    /// A product in the real product service.
    pub async fn product(&self, name: &str, price: i64, currency: &str) -> Uuid {
        ProductClient::new(reqwest::Client::new(), &self.product.url)
            .with_bearer(admin_token())
            .create(&NewProduct {
                name: name.into(),
                description: String::new(),
                category: "misc".into(),
                price: shop_api::Money::new(price, currency),
                stock: 100,
            })
            .await
            .unwrap()
            .body
            .id
    }

    pub async fn put(&self, user: &str, product: Uuid, quantity: i32) -> Resp {
        self.with_user(user)
            .call(
                Method::PUT,
                &format!("/v1/cart/items/{product}"),
                Some(json!({ "quantity": quantity })),
            )
            .await
    }

    pub async fn cart(&self, user: &str) -> Resp {
        self.with_user(user).get("/v1/cart").await
    }
}
