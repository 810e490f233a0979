//! Test plumbing: a whole store (product, cart, order and web, each started
//! through the function production uses) and a browser-like client with a
//! cookie jar that reads the forms' hidden fields out of the pages.

use std::time::Duration;

use cart::Cart;
use order::Order;
use product::Product;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use shop_api::product::{NewProduct, Product as ProductBody};
use shop_api::{Money, ProductClient};
use shop_common::http_client::PeerConfig;
use shop_common::testing::{FaultProxy, TestApp, admin_token};
use sqlx::PgPool;
use web::Web;

/// Peer settings that give up quickly, so failure tests stay short.
pub fn quick() -> PeerConfig {
    PeerConfig {
        attempt_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(3),
        ..PeerConfig::default()
    }
}

/// The storefront's settings over the given API base URLs.
pub fn web_settings(product: &str, cart: &str, order: &str) -> web::Settings {
    web::Settings {
        product_url: product.to_owned(),
        cart_url: cart.to_owned(),
        order_url: order.to_owned(),
        product_peer: quick(),
        cart_peer: quick(),
        order_peer: quick(),
        dev_sign_in: true,
        dev_signing_key: Some(shop_api::auth::dev::DEV_PRIVATE_KEY_PEM.to_owned()),
        ..web::Settings::default()
    }
}

/// Four services, as a store.
pub struct Store {
    pub product: TestApp<Product>,
    /// Cart reaches product through this, so a test can make product
    /// unreachable for cart alone (stale prices).
    pub cart_to_product: FaultProxy,
    // Cart and order run as long as the store does; tests reach them
    // through web only.
    #[allow(dead_code)]
    pub cart: TestApp<Cart>,
    #[allow(dead_code)]
    pub order: TestApp<Order>,
    pub web: TestApp<Web>,
}

impl Store {
    pub async fn new(db: PgPool) -> Self {
        Self::with(db, |s| s).await
    }

    /// A store whose web settings `adjust` changes (sign-in off, say).
    pub async fn with(db: PgPool, adjust: impl FnOnce(web::Settings) -> web::Settings) -> Self {
        let product = TestApp::<Product>::spawn_scratch(product::Settings {
            // Reads straight from the database, so a test sees its writes.
            cache_ttl: Duration::ZERO,
            ..product::Settings::default()
        })
        .await;
        let cart_to_product = FaultProxy::start(&product.url).await;
        let cart = TestApp::<Cart>::spawn_scratch(cart::Settings {
            product_url: cart_to_product.url.clone(),
            product_peer: quick(),
            ..cart::Settings::default()
        })
        .await;
        let order = TestApp::<Order>::spawn_scratch(order::Settings {
            product_url: product.url.clone(),
            cart_url: cart.url.clone(),
            product_peer: quick(),
            cart_peer: quick(),
            recovery_interval: Duration::from_secs(3600),
            ..order::Settings::default()
        })
        .await;
        let settings = adjust(web_settings(&product.url, &cart.url, &order.url));
        let web = TestApp::<Web>::spawn(db, settings).await;
        Self {
            product,
            cart_to_product,
            cart,
            order,
            web,
        }
    }

    /// A product in the catalog, made through the admin API.
    pub async fn product(&self, name: &str, amount: i64, stock: i32) -> ProductBody {
        self.product_in(name, "kitchen", amount, stock).await
    }

    pub async fn product_in(
        &self,
        name: &str,
        category: &str,
        amount: i64,
        stock: i32,
    ) -> ProductBody {
        ProductClient::new(reqwest::Client::new(), &self.product.url)
            .with_bearer(admin_token())
            .create(&NewProduct {
                name: name.to_owned(),
                description: format!("{name}, for tests."),
                category: category.to_owned(),
                price: Money::new(amount, "EUR"),
                stock,
            })
            .await
            .expect("product created")
            .body
    }

    /// The stock product has of `id` now.
    pub async fn stock(&self, id: uuid::Uuid) -> i32 {
        ProductClient::new(reqwest::Client::new(), &self.product.url)
            .get(id)
            .await
            .expect("product read")
            .body
            .stock
    }

    /// A new browser (its own cookie jar) pointed at the store.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.web.url)
    }
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Where a redirect sends the browser.
    pub fn location(&self) -> &str {
        assert_eq!(
            self.status,
            StatusCode::SEE_OTHER,
            "expected a redirect: {}",
            self.body
        );
        self.header("location")
    }

    /// The value of the first hidden field `name` on the page.
    pub fn field(&self, name: &str) -> String {
        self.fields(name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no field {name} on the page:\n{}", self.body))
    }

    /// The values of every field `name` on the page.
    pub fn fields(&self, name: &str) -> Vec<String> {
        let marker = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&marker)
            .map(|(at, _)| {
                let rest = &self.body[at + marker.len()..];
                rest[..rest.find('"').expect("a closing quote")].to_owned()
            })
            .collect()
    }

    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "the page ({}) does not contain {text:?}:\n{}",
            self.status,
            self.body
        );
        self
    }

    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "the page contains {text:?}:\n{}",
            self.body
        );
        self
    }
}

/// A browser without JavaScript: a cookie jar, no redirect followed on its
/// own (tests look at each one).
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .expect("client"),
        }
    }

    async fn page(resp: reqwest::Response) -> Page {
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.expect("a body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// Submits a form: `fields` urlencoded, as a browser would.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(format!("{}{path}", self.base))
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Adds `quantity` of `product` through the add-to-cart form.
    pub async fn add(&self, csrf: &str, product: uuid::Uuid, quantity: &str) {
        let done = self
            .post(
                "/cart/items",
                &[
                    ("csrf", csrf),
                    ("product_id", &product.to_string()),
                    ("quantity", quantity),
                ],
            )
            .await;
        assert_eq!(done.location(), "/cart");
    }

    /// Signs in as `name`, going on to `next`.
    pub async fn sign_in_at(&self, next: &str, name: &str) {
        let csrf = self.get("/sign-in").await.field("csrf");
        let done = self
            .post(
                "/sign-in",
                &[("csrf", &csrf), ("name", name), ("next", next)],
            )
            .await;
        assert_eq!(done.location(), next);
    }

    /// Signs in as `name` through the form; returns the CSRF token of the
    /// new session (read from the next page).
    pub async fn sign_in(&self, name: &str, admin: bool) -> String {
        let form = self.get("/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.field("csrf");
        let mut fields = vec![("csrf", csrf.as_str()), ("name", name), ("next", "/")];
        if admin {
            fields.push(("admin", "true"));
        }
        let done = self.post("/sign-in", &fields).await;
        assert_eq!(done.location(), "/");
        self.get("/")
            .await
            .assert_contains(&format!("Signed in as <strong>{name}</strong>"))
            .field("csrf")
    }
}

/// The platform's required variables, valid, plus `extra`.
pub fn env_with(extra: &[(&str, &str)]) -> shop_common::config::Env {
    let base = [
        ("DATABASE_URL", "postgres://web:secret@db:5432/web"),
        ("AUTH_JWT_PUBLIC_KEY", shop_api::auth::DEV_PUBLIC_KEY_PEM),
        ("AUTH_ISSUER", "shop-dev"),
        ("AUTH_AUDIENCE", "shop"),
        ("INTERNAL_TOKEN", "0123456789abcdef0123456789abcdef"),
        ("PRODUCT_URL", "http://product:8080"),
        ("CART_URL", "http://cart:8080"),
        ("ORDER_URL", "http://order:8080"),
    ];
    shop_common::config::Env::from_map(
        base.iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A base URL where nothing answers: a listener kept bound (so no other
/// test's server can take the port) that never accepts, so calls time out.
pub async fn dead_url() -> (String, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    (url, listener)
}
