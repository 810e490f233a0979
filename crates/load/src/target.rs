//! The system under load: where its services answer, and the tokens the
//! run signs for its users (`load-user-N`) and its catalog admin.

use std::time::Duration;

use anyhow::{Context, bail};
use shop_api::auth::{ADMIN_ROLE, Claims, dev};
use shop_api::{CartClient, OrderClient, ProductClient};

use crate::cli::Args;

/// Where the run sends its requests, and how it signs its tokens.
#[derive(Debug, Clone)]
pub struct Target {
    pub product_url: String,
    pub cart_url: String,
    pub order_url: String,
    pub internal_token: Option<String>,
    pub http: reqwest::Client,
    signing_key: String,
    /// True when the key is the committed (public) development key.
    pub dev_key: bool,
    issuer: String,
    audience: String,
}

impl Target {
    /// The target the arguments name. Fails with what is missing.
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
        let pick = |own: &Option<String>, name: &str| -> anyhow::Result<String> {
            own.clone()
                .or_else(|| args.gateway.clone())
                .filter(|u| !u.is_empty())
                .map(|u| u.trim_end_matches('/').to_owned())
                .with_context(|| {
                    format!("no URL for {name}: give --gateway URL, or --{name} URL (or SHOP_GATEWAY_URL)")
                })
        };
        let (signing_key, dev_key) = match &args.signing_key {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the signing key {}", path.display()))?,
                false,
            ),
            None => (dev::DEV_PRIVATE_KEY_PEM.to_owned(), true),
        };
        let http = reqwest::Client::builder()
            .timeout(args.timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(4096)
            .tcp_nodelay(true)
            .build()?;
        let target = Self {
            product_url: pick(&args.product, "product")?,
            cart_url: pick(&args.cart, "cart")?,
            order_url: pick(&args.order, "order")?,
            internal_token: args.internal_token.clone().filter(|t| !t.is_empty()),
            http,
            signing_key,
            dev_key,
            issuer: args.issuer.clone(),
            audience: args.audience.clone(),
        };
        // Fail now, not on the first journey, when the key cannot sign.
        target
            .token("load-key-check", false)
            .context("the signing key cannot sign an ES256 token (a PKCS#8 PEM EC P-256 key?)")?;
        Ok(target)
    }

    /// True when every URL points at this machine.
    pub fn is_loopback(&self) -> bool {
        [&self.product_url, &self.cart_url, &self.order_url]
            .iter()
            .all(|u| {
                reqwest::Url::parse(u)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .is_some_and(|h| {
                        h == "localhost"
                            || h == "[::1]"
                            || h.parse::<std::net::Ipv4Addr>()
                                .is_ok_and(|ip| ip.is_loopback())
                    })
            })
    }

    /// A token for `subject`, valid for six hours (longer than any run).
    pub fn token(&self, subject: &str, admin: bool) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + 6 * 3600,
            iat: Some(now),
            roles: if admin {
                vec![ADMIN_ROLE.to_owned()]
            } else {
                Vec::new()
            },
        };
        Ok(dev::sign(&claims, &self.signing_key)?)
    }

    /// The public catalog.
    pub fn products(&self) -> ProductClient {
        ProductClient::new(self.http.clone(), &self.product_url)
    }

    /// The catalog as the run's admin (`load-admin`).
    pub fn admin_products(&self) -> anyhow::Result<ProductClient> {
        Ok(self.products().with_bearer(self.token("load-admin", true)?))
    }

    /// The product service's internal API, when a service credential was given.
    pub fn internal_products(&self) -> Option<ProductClient> {
        self.internal_token
            .as_ref()
            .map(|t| self.products().with_bearer(t.clone()))
    }

    pub fn cart(&self, token: &str) -> CartClient {
        CartClient::new(self.http.clone(), &self.cart_url).with_bearer(token)
    }

    pub fn orders(&self, token: &str) -> OrderClient {
        OrderClient::new(self.http.clone(), &self.order_url).with_bearer(token)
    }

    /// Refuses to go on when the product service does not answer at all.
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        match self
            .products()
            .list(&shop_api::product::ListProducts {
                limit: Some(1),
                ..Default::default()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => bail!(
                "the product API at {} does not answer: {e}",
                self.product_url
            ),
        }
    }
}
