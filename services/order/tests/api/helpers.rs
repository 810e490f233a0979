//! A whole shop for tests: product and cart served on loopback over their
//! own scratch databases, and order over the `#[sqlx::test]` database, each
//! started through the function production uses.

use std::time::Duration;

use cart::Cart;
use order::Order;
use product::Product;
use reqwest::StatusCode;
use shop_api::product::NewProduct;
use shop_api::{CartClient, Money, OrderClient, ProductClient};
use shop_common::http_client::PeerConfig;
use shop_common::server::HttpConfig;
use shop_common::testing::{FaultProxy, TestApp};
use sqlx::PgPool;
use uuid::Uuid;

pub use shop_common::testing::{TEST_INTERNAL_TOKEN, admin_token, user_token};

/// Product, cart and order, each started as it ships (see
/// `shop_common::testing::TestApp`): order over the test's database, the
/// others over scratch databases of their own.
pub struct Shop {
    pub product: TestApp<Product>,
    pub product_db: PgPool,
    pub cart: TestApp<Cart>,
    pub order: TestApp<Order>,
    /// Order's state, for running its functions (a recovery round) by hand.
    pub state: order::AppState,
    pub http: reqwest::Client,
}

/// Peer settings: patient when `patient` (load tests on a busy machine),
/// quick to give up otherwise (failure tests).
pub fn peer(patient: bool) -> PeerConfig {
    if patient {
        PeerConfig {
            attempt_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            breaker_threshold: 1000,
            ..PeerConfig::default()
        }
    } else {
        PeerConfig {
            attempt_timeout: Duration::from_millis(500),
            deadline: Duration::from_secs(1),
            ..PeerConfig::default()
        }
    }
}

/// Order's settings in tests: the recovery worker's background round runs
/// once at start and then not within a test (tests run `recovery::round`
/// by hand, on orders they know are idle, which `recovery_after: 0` lets it
/// claim at once).
pub fn order_settings(product_url: &str, cart_url: &str, patient: bool) -> order::Settings {
    order::Settings {
        product_url: product_url.to_owned(),
        cart_url: cart_url.to_owned(),
        product_peer: peer(patient),
        cart_peer: peer(patient),
        recovery_interval: Duration::from_secs(3600),
        recovery_after: Duration::ZERO,
        idempotency_key_ttl: Duration::from_secs(24 * 3600),
        fault_point: None,
    }
}

/// Fault proxies between order and its peers (see [`Shop::with_faults`]).
pub struct Faults {
    pub product: FaultProxy,
    pub cart: FaultProxy,
}

impl Shop {
    /// A shop whose order service reaches product and cart through fault
    /// proxies, for the failure table's rows: a call can be made to hang,
    /// to lose its answer, or to fail. Its breakers never open (a test of
    /// the breaker starts an order replica of its own), so each test sees
    /// exactly the faults it sets.
    pub async fn with_faults(order_db: PgPool) -> (Self, Faults) {
        let shop = Self::start(order_db.clone(), false).await;
        let faults = Faults {
            product: FaultProxy::start(&shop.product.url).await,
            cart: FaultProxy::start(&shop.cart.url).await,
        };
        let mut settings = order_settings(&faults.product.url, &faults.cart.url, false);
        settings.product_peer.breaker_threshold = u32::MAX;
        settings.cart_peer.breaker_threshold = u32::MAX;
        // The order service of `start` goes; one behind the proxies takes
        // over the same database.
        shop.order.shutdown().await.unwrap();
        let order = TestApp::<Order>::spawn(order_db, settings).await;
        let shop = Self {
            state: order.state.clone(),
            order,
            ..shop
        };
        (shop, faults)
    }

    /// One recovery round, run by hand: how many orders it handled.
    pub async fn recovery_round(&self) -> usize {
        order::recovery::round(&self.state).await.unwrap()
    }

    pub async fn start(order_db: PgPool, patient: bool) -> Self {
        let product = TestApp::<Product>::spawn_scratch(product::Settings::default()).await;
        let cart = TestApp::<Cart>::spawn_scratch(cart::Settings {
            product_url: product.url.clone(),
            product_peer: peer(patient),
            price_refresh_deadline: Duration::from_millis(500),
        })
        .await;
        let http_config = HttpConfig {
            request_timeout: Duration::from_secs(if patient { 120 } else { 10 }),
            ..HttpConfig::default()
        };
        let settings = order_settings(&product.url, &cart.url, patient);
        let order = TestApp::<Order>::spawn_with(order_db, settings, http_config).await;
        Self {
            product_db: product.db.clone(),
            state: order.state.clone(),
            product,
            cart,
            order,
            http: reqwest::Client::new(),
        }
    }

    pub fn products(&self) -> ProductClient {
        ProductClient::new(self.http.clone(), &self.product.url).with_bearer(admin_token())
    }

    pub fn cart_of(&self, user: &str) -> CartClient {
        CartClient::new(self.http.clone(), &self.cart.url).with_bearer(user_token(user))
    }

    pub fn orders_of(&self, user: &str) -> OrderClient {
        OrderClient::new(self.http.clone(), &self.order.url).with_bearer(user_token(user))
    }

    pub async fn new_product(&self, stock: i32, price: i64) -> Uuid {
        self.products()
            .create(&NewProduct {
                name: format!("Product {}", Uuid::now_v7().simple()),
                description: String::new(),
                category: "misc".into(),
                price: Money::new(price, "EUR"),
                stock,
            })
            .await
            .unwrap()
            .body
            .id
    }

    /// (available, held, sold) units of a product in one snapshot.
    pub async fn units(&self, product: Uuid) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT p.stock::int8, \
               COALESCE((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id \
                         WHERE l.product_id = p.id AND r.status = 'held'), 0)::int8, \
               COALESCE((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id \
                         WHERE l.product_id = p.id AND r.status = 'committed'), 0)::int8 \
             FROM products p WHERE p.id = $1",
        )
        .bind(product)
        .fetch_one(&self.product_db)
        .await
        .unwrap()
    }

    /// A checkout sent by hand, answered with status, headers and raw body.
    pub async fn checkout_raw(
        &self,
        user: &str,
        key: Option<&str>,
        body: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, bytes::Bytes) {
        let mut req = self
            .http
            .post(format!("{}/v1/orders", self.order.url))
            .bearer_auth(user_token(user))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap())
    }

    /// Orders rows of `user` by status, straight from the database.
    pub async fn order_count(&self, user: &str, status: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1 AND status = $2")
            .bind(user)
            .bind(status)
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
}

/// A pending order as a crash before the reserve call leaves it: recorded,
/// nothing reserved.
pub async fn interrupted_order(db: &PgPool, user: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, user_id, idempotency_key, request_body, status, created_at) \
         VALUES ($1, $2, $3, '{}', 'pending', now() - interval '1 minute')",
    )
    .bind(id)
    .bind(user)
    .bind(format!("key-{id}"))
    .execute(db)
    .await
    .unwrap();
    id
}
