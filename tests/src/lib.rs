//! Shop's end-to-end suite: scenarios driven through the public API of a
//! running stack, wherever it runs (local processes, Compose, a cluster).
//!
//! The stack is named by environment variables, which `cargo xtask e2e` and
//! `cargo xtask test` set for the local stack they start: either
//! `SHOP_GATEWAY_URL` (one URL routing every `/v1` path to its API and the
//! rest to the storefront, as the Compose gateway does) or
//! `SHOP_PRODUCT_URL`, `SHOP_CART_URL`, `SHOP_ORDER_URL` and `SHOP_WEB_URL`
//! (each overrides the gateway for its service), and `SHOP_INTERNAL_TOKEN`
//! for the internal routes, which a gateway never exposes. The stack must
//! accept tokens signed with the development key.

use shop_api::auth::dev;
use shop_api::{CartClient, OrderClient, ProductClient};

/// Where the stack under test answers.
#[derive(Debug, Clone)]
pub struct Stack {
    pub product_url: String,
    pub cart_url: String,
    pub order_url: String,
    /// The storefront (web): its pages, at `/`.
    pub web_url: String,
    pub internal_token: Option<String>,
    pub http: reqwest::Client,
}

fn url_of(service: &str, gateway: Option<&str>) -> String {
    let var = format!("SHOP_{}_URL", service.to_uppercase());
    match (std::env::var(&var).ok().filter(|v| !v.is_empty()), gateway) {
        (Some(url), _) => url,
        (None, Some(gateway)) => gateway.to_owned(),
        (None, None) => panic!(
            "neither {var} nor SHOP_GATEWAY_URL is set: run the suite with `cargo xtask e2e` \
             (which starts a local stack), or set them and use `cargo xtask e2e --against`"
        ),
    }
}

impl Stack {
    /// Reads the stack's location; panics with how to provide it.
    pub fn from_env() -> Self {
        let gateway = std::env::var("SHOP_GATEWAY_URL")
            .ok()
            .filter(|v| !v.is_empty());
        Self {
            product_url: url_of("product", gateway.as_deref()),
            cart_url: url_of("cart", gateway.as_deref()),
            order_url: url_of("order", gateway.as_deref()),
            web_url: url_of("web", gateway.as_deref()),
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

    /// `user`'s cart.
    pub fn cart_of(&self, user: &str) -> CartClient {
        CartClient::new(self.http.clone(), &self.cart_url).with_bearer(user_token(user))
    }

    /// `user`'s orders.
    pub fn orders_of(&self, user: &str) -> OrderClient {
        OrderClient::new(self.http.clone(), &self.order_url).with_bearer(user_token(user))
    }

    /// A new product in category `e2e` with `stock` units at `price` cents.
    pub async fn new_product(&self, stock: i32, price: i64) -> shop_api::product::Product {
        self.products_as_admin()
            .create(&shop_api::product::NewProduct {
                name: unique("E2E product"),
                description: "made by the end-to-end suite".into(),
                category: "e2e".into(),
                price: shop_api::Money::new(price, "EUR"),
                stock,
            })
            .await
            .expect("create a product")
            .body
    }

    /// `n` new users (ids from `prefix`), each with `product` in the cart
    /// once: the buyers of a burst of checkouts.
    pub async fn buyers(&self, prefix: &str, n: usize, product: uuid::Uuid) -> Vec<String> {
        let run = unique_id(prefix);
        let users: Vec<String> = (0..n).map(|i| format!("{run}-{i}")).collect();
        for user in &users {
            self.cart_of(user)
                .set_quantity(product, 1)
                .await
                .expect("put the product in the cart");
        }
        users
    }

    /// A product's available stock now, as anyone can read it: from the
    /// list, which reads the row every time, since `GET /v1/products/{id}`
    /// may answer from product's read cache with stock up to
    /// `PRODUCT_CACHE_TTL_MS` old (reservations do not invalidate it).
    pub async fn stock(&self, id: uuid::Uuid) -> i32 {
        let page = self
            .products()
            .list(&shop_api::product::ListProducts {
                ids: Some(id.to_string()),
                ..Default::default()
            })
            .await
            .expect("list the product");
        match page.items.as_slice() {
            [product] if product.id == id => product.stock,
            other => panic!("asked for product {id}, got {other:?}"),
        }
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

/// Like [`unique`], without spaces: for user ids and idempotency keys.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Docker Compose, for the tests that drive the Compose stack (the fault
/// tests): a command that runs `docker/compose.sh` from the workspace root,
/// with the arguments still to add. The script picks Compose v2 (`docker
/// compose`) when the Docker CLI has it, else v1 (`docker-compose`): the
/// one choice docker/ci.sh makes too, so a test never drives a different
/// Compose than the stack was started with. Awaited on the runtime, as
/// every docker command of the suite.
pub fn compose() -> tokio::process::Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent");
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(root.join("docker/compose.sh"))
        .current_dir(root);
    command
}

#[cfg(test)]
mod tests {
    /// The helper runs whichever Compose is installed, and that Compose
    /// accepts docker-compose.yml; on a machine without Compose there is
    /// nothing to run (docker/compose.sh exits 127).
    #[tokio::test]
    async fn compose_runs_the_installed_compose_on_the_repositorys_file() {
        let which = super::compose()
            .arg("--which")
            .output()
            .await
            .expect("bash runs docker/compose.sh");
        match which.status.code() {
            Some(127) => eprintln!("no Docker Compose on this machine: nothing to run"),
            Some(0) => {
                let cli = String::from_utf8_lossy(&which.stdout).trim().to_owned();
                assert!(
                    cli == "docker compose" || cli == "docker-compose",
                    "docker/compose.sh picked {cli:?}"
                );
                let config = super::compose()
                    .args(["config", "-q"])
                    .output()
                    .await
                    .expect("compose runs");
                assert!(
                    config.status.success(),
                    "{cli} config -q: {}",
                    String::from_utf8_lossy(&config.stderr)
                );
            }
            other => panic!(
                "docker/compose.sh --which exited {other:?}: {}",
                String::from_utf8_lossy(&which.stderr)
            ),
        }
    }
}
