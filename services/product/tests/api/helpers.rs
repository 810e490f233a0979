//! Shared test plumbing: the product service started as it ships (see
//! `shop_common::testing::TestApp`), and the requests the tests make often.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use product::{Product, Settings};
use serde_json::{Value, json};
use shop_common::server::HttpConfig;
use sqlx::PgPool;
use uuid::Uuid;

pub use shop_common::testing::{Resp, TEST_INTERNAL_TOKEN, admin_token, user_token};

/// The product service under test.
pub type TestApp = shop_common::testing::TestApp<Product>;

/// Product started over the test's database with default settings.
pub async fn spawn(db: PgPool) -> TestApp {
    TestApp::spawn(db, Settings::default()).await
}

/// Product started with settings and HTTP settings of the test's choosing.
pub async fn spawn_with(db: PgPool, settings: Settings, http: HttpConfig) -> TestApp {
    TestApp::spawn_with(db, settings, http).await
}

/// The calls product's tests make again and again.
pub trait ProductCalls {
    /// Creates a product as admin and returns its JSON.
    async fn create_product(&self, name: &str, category: &str, stock: i32) -> Value;
    /// Reserves as the order service would.
    async fn reserve(&self, id: Uuid, lines: &[(Uuid, i32)]) -> Resp;
    /// A POST with the service credential and no body.
    async fn internal_post(&self, path: &str) -> Resp;
    /// The product's available stock, read straight from the database.
    async fn stock(&self, id: Uuid) -> i32;
}

impl ProductCalls for TestApp {
    async fn create_product(&self, name: &str, category: &str, stock: i32) -> Value {
        let resp = self
            .with_admin()
            .call(
                Method::POST,
                "/v1/products",
                Some(json!({
                    "name": name,
                    "category": category,
                    "price": {"amount": 1250, "currency": "EUR"},
                    "stock": stock,
                })),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
        resp.body
    }

    async fn reserve(&self, id: Uuid, lines: &[(Uuid, i32)]) -> Resp {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(p, q)| json!({"product_id": p, "quantity": q}))
            .collect();
        self.with_service()
            .call(
                Method::POST,
                "/internal/v1/reservations",
                Some(json!({"id": id, "lines": lines})),
            )
            .await
    }

    async fn internal_post(&self, path: &str) -> Resp {
        self.with_service().call(Method::POST, path, None).await
    }

    async fn stock(&self, id: Uuid) -> i32 {
        sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

/// Available + held + committed units of a product, in one snapshot: the
/// conservation law every stock change must keep.
pub async fn accounted_units(db: &PgPool, id: Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT p.stock::int8, \
           COALESCE((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id \
                     WHERE l.product_id = p.id AND r.status = 'held'), 0)::int8, \
           COALESCE((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id \
                     WHERE l.product_id = p.id AND r.status = 'committed'), 0)::int8 \
         FROM products p WHERE p.id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .unwrap()
}

pub fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// Settings with a reservation TTL short enough to expire within a test.
/// The background sweeper runs once at start and then not again within a
/// test, so the tests sweep by hand, when they choose.
pub fn short_ttl() -> Settings {
    Settings {
        reservation_ttl: Duration::from_millis(300),
        sweep_interval: Duration::from_secs(3600),
        ..Settings::default()
    }
}

/// The platform's required variables, valid, plus `extra`.
pub fn env_with(extra: &[(&str, &str)]) -> shop_common::config::Env {
    let base = [
        ("DATABASE_URL", "postgres://product:secret@db:5432/product"),
        (
            "AUTH_JWT_PUBLIC_KEY",
            shop_api::auth::dev::DEV_PUBLIC_KEY_PEM,
        ),
        ("AUTH_ISSUER", "shop-dev"),
        ("AUTH_AUDIENCE", "shop"),
        ("INTERNAL_TOKEN", "0123456789abcdef0123456789abcdef"),
        ("DEVELOPMENT_MODE", "true"),
    ];
    shop_common::config::Env::from_map(
        base.iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}
