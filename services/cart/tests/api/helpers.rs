//! Test plumbing: a cart over a test database, a real product service
//! beside it, and requests read whole.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shop_api::ProductClient;
use shop_api::product::NewProduct;
use shop_common::http_client::PeerConfig;
use shop_common::metrics::Metrics;
use shop_common::server::HttpConfig;
use shop_common::testing::{self, Served};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub use shop_common::testing::{TEST_INTERNAL_TOKEN, admin_token, user_token};

pub struct TestCart {
    pub router: Router,
    pub product: Served,
    pub product_db: PgPool,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: Option<String>,
}

impl Resp {
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(
            self.body["type"],
            format!("urn:shop:problem:{slug}"),
            "{}",
            self.body
        );
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
        let product_db = testing::scratch_database(&product::MIGRATOR).await.pool;
        let product_state = product::AppState::new(
            product_db.clone(),
            testing::auth(),
            product::Settings::default(),
            HttpConfig::default(),
            Metrics::new(product::SERVICE),
        );
        let product = testing::serve(product::app(product_state), None).await;
        let state = cart::AppState::new(
            db,
            testing::auth(),
            fast_settings(&product.url),
            HttpConfig::default(),
            Metrics::new(cart::SERVICE),
        )
        .unwrap();
        Self {
            router: cart::app(state),
            product,
            product_db,
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

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            content_type,
        }
    }

    pub async fn put(&self, user: &str, product: Uuid, quantity: i32) -> Resp {
        self.call(
            Method::PUT,
            &format!("/v1/cart/items/{product}"),
            Some(&user_token(user)),
            Some(json!({ "quantity": quantity })),
        )
        .await
    }

    pub async fn cart(&self, user: &str) -> Resp {
        self.call(Method::GET, "/v1/cart", Some(&user_token(user)), None)
            .await
    }
}
