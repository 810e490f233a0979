//! Shared test plumbing: an app over a test database, and requests that
//! return status, headers and JSON in one value.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use product::{AppState, Settings};
use serde_json::{Value, json};
use shop_common::metrics::Metrics;
use shop_common::server::HttpConfig;
use shop_common::testing;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub use shop_common::testing::{TEST_INTERNAL_TOKEN, admin_token, user_token};

/// The app under test plus its state, for direct database checks.
#[derive(Clone)]
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape and the registered type, and returns self.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:shop:problem:{slug}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        let request_id = self.header("x-request-id").expect("x-request-id header");
        assert_eq!(self.body["request_id"], request_id);
        self
    }
}

impl TestApp {
    pub fn new(db: PgPool) -> Self {
        Self::with_settings(db, Settings::default(), HttpConfig::default())
    }

    pub fn with_settings(db: PgPool, settings: Settings, http: HttpConfig) -> Self {
        let state = AppState::new(
            db,
            testing::auth(),
            settings,
            http,
            Metrics::new(product::SERVICE),
        );
        Self {
            router: product::app(state.clone()),
            state,
        }
    }

    /// Sends a request through the full middleware stack.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A JSON request with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, None).await
    }

    /// Creates a product as admin and returns its JSON.
    pub async fn create_product(&self, name: &str, category: &str, stock: i32) -> Value {
        let resp = self
            .call(
                Method::POST,
                "/v1/products",
                Some(&admin_token()),
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

    /// Reserves as the order service would.
    pub async fn reserve(&self, id: Uuid, lines: &[(Uuid, i32)]) -> Resp {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(p, q)| json!({"product_id": p, "quantity": q}))
            .collect();
        self.call(
            Method::POST,
            "/internal/v1/reservations",
            Some(TEST_INTERNAL_TOKEN),
            Some(json!({"id": id, "lines": lines})),
        )
        .await
    }

    pub async fn internal_post(&self, path: &str) -> Resp {
        self.call(Method::POST, path, Some(TEST_INTERNAL_TOKEN), None)
            .await
    }

    /// The product's available stock, read straight from the database.
    pub async fn stock(&self, id: Uuid) -> i32 {
        sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&self.state.db)
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
pub fn short_ttl() -> Settings {
    Settings {
        reservation_ttl: Duration::from_millis(300),
        ..Settings::default()
    }
}
