//! Typed async clients for Shop's services over a pluggable [`Transport`].
//!
//! Each method maps one endpoint: a 2xx body is decoded into its type, any
//! other answer into [`ClientError::Problem`], so callers match on problem
//! types instead of parsing bodies. A plain `reqwest::Client` is a transport;
//! services use `shop_common::http_client::Peer`, which adds deadlines,
//! retries for idempotent calls, a circuit breaker, trace propagation and
//! metrics underneath the same methods.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::Problem;
use crate::cart::{Cart, CartItem, CartOwner, RemoveLines, Removed, SetQuantity, StoredCart};
use crate::order::{Checkout, IDEMPOTENCY_KEY, ListOrders, Order, OrderPage};
use crate::product::{
    ListProducts, NewProduct, Product, ProductPage, ProductPatch, Reservation, ReservationRequest,
};

/// A boxed future, so [`Transport`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether repeating a request is harmless. Only idempotent calls are ever
/// retried: GETs, and POSTs whose effect is keyed (a reservation id, an
/// idempotency key). Every method below carries one decision, and
/// `crates/common/tests/typed_client_retries.rs` holds each to it (a new
/// method fails that test until it is listed there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// Sends requests. Implemented by `reqwest::Client` (one attempt, no
/// deadline beyond the client's own) and by the platform's resilient peer.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// The client that builds requests (and holds the connection pool).
    fn http(&self) -> &reqwest::Client;
    /// Sends one logical call, which may be several attempts.
    fn send(
        &self,
        request: reqwest::Request,
        idempotency: Idempotency,
    ) -> BoxFuture<'_, Result<Response, ClientError>>;
}

impl Transport for reqwest::Client {
    fn http(&self) -> &reqwest::Client {
        self
    }

    fn send(
        &self,
        request: reqwest::Request,
        _: Idempotency,
    ) -> BoxFuture<'_, Result<Response, ClientError>> {
        Box::pin(async move { Ok(self.execute(request).await?) })
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with a problem (any non-2xx status). Boxed:
    /// it is the largest variant, and errors travel by value.
    #[error("{0}")]
    Problem(Box<Problem>),
    /// The request never got an answer (reset, attempt timeout, or a
    /// connect error after an earlier attempt that may have arrived).
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// No attempt of the call reached the peer: every connection was
    /// refused or could not be made, so not a byte of the request was
    /// written. Unlike [`ClientError::Transport`], the call certainly had
    /// no effect.
    #[error("{peer} unreachable: {source}")]
    Unreachable {
        peer: String,
        source: reqwest::Error,
    },
    /// The call's overall deadline passed before an answer.
    #[error("deadline exceeded calling {0}")]
    DeadlineExceeded(String),
    /// The peer failed repeatedly; calls fail fast, sending nothing, until
    /// a probe succeeds.
    #[error("circuit open for {0}")]
    CircuitOpen(String),
    /// The service answered something that is not the documented shape.
    #[error("unexpected response {status}: {body}")]
    Unexpected { status: StatusCode, body: String },
}

impl ClientError {
    /// The problem, when the service answered with one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Problem(p) => Some(p),
            _ => None,
        }
    }

    /// True when the peer could not give a definite answer (no response, a
    /// 5xx, an open circuit): the outcome of a non-idempotent call is unknown.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Problem(p) => p.status >= 500,
            Self::Unexpected { status, .. } => status.is_server_error(),
            Self::Transport(_)
            | Self::Unreachable { .. }
            | Self::DeadlineExceeded(_)
            | Self::CircuitOpen(_) => true,
        }
    }

    /// True when the request certainly never reached the peer (connection
    /// refused on every attempt, or the circuit open before the first): a
    /// non-idempotent call had no effect and may be treated as not made.
    /// Every other failure leaves the outcome unknown.
    pub fn never_reached_peer(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::CircuitOpen(_))
    }
}

/// A decoded response together with the headers callers may need.
#[derive(Debug, Clone)]
pub struct Tagged<T> {
    pub body: T,
    pub status: StatusCode,
    pub etag: Option<String>,
}

/// Marker types naming which service a [`Client`] talks to.
pub mod service {
    #[derive(Debug, Clone, Copy)]
    pub struct Product;
    #[derive(Debug, Clone, Copy)]
    pub struct Cart;
    #[derive(Debug, Clone, Copy)]
    pub struct Order;
}

/// A client of one service; see the aliases below for the methods.
#[derive(Debug)]
pub struct Client<S> {
    transport: Arc<dyn Transport>,
    base: String,
    bearer: Option<String>,
    _service: PhantomData<S>,
}

impl<S> Clone for Client<S> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
            base: self.base.clone(),
            bearer: self.bearer.clone(),
            _service: PhantomData,
        }
    }
}

/// Client of the product service.
pub type ProductClient = Client<service::Product>;
/// Client of the cart service.
pub type CartClient = Client<service::Cart>;
/// Client of the order service.
pub type OrderClient = Client<service::Order>;

impl<S> Client<S> {
    /// A client over a plain `reqwest::Client`. `base` is the service root,
    /// such as `http://127.0.0.1:8081`.
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self::with_transport(Arc::new(http), base)
    }

    /// A client over any transport (the platform's resilient peer, say).
    pub fn with_transport(transport: Arc<dyn Transport>, base: impl Into<String>) -> Self {
        Self {
            transport,
            base: base.into().trim_end_matches('/').to_owned(),
            bearer: None,
            _service: PhantomData,
        }
    }

    /// The same client sending `Authorization: Bearer <token>` (a user or
    /// admin JWT, or the service credential for internal routes).
    pub fn with_bearer(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .transport
            .http()
            .request(method, format!("{}{path}", self.base));
        match &self.bearer {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(
        &self,
        builder: RequestBuilder,
        idempotency: Idempotency,
    ) -> Result<Response, ClientError> {
        self.transport.send(builder.build()?, idempotency).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        idempotency: Idempotency,
    ) -> Result<Tagged<T>, ClientError> {
        decode(self.send(builder, idempotency).await?).await
    }

    /// A call answered with 204 No Content on success.
    async fn call_no_content(
        &self,
        builder: RequestBuilder,
        idempotency: Idempotency,
    ) -> Result<(), ClientError> {
        let resp = self.send(builder, idempotency).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        decode::<serde_json::Value>(resp).await.map(|_| ())
    }
}

use Idempotency::{Idempotent, NotIdempotent};

impl ProductClient {
    /// `GET /v1/products`.
    pub async fn list(&self, query: &ListProducts) -> Result<ProductPage, ClientError> {
        let req = self.request(Method::GET, "/v1/products").query(query);
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `GET /v1/products/{id}`.
    pub async fn get(&self, id: Uuid) -> Result<Tagged<Product>, ClientError> {
        self.call(
            self.request(Method::GET, &format!("/v1/products/{id}")),
            Idempotent,
        )
        .await
    }

    /// `GET /v1/products/{id}` with `If-None-Match: etag`: `None` when the
    /// product is unchanged (304 Not Modified), else the current product.
    pub async fn revalidate(
        &self,
        id: Uuid,
        etag: &str,
    ) -> Result<Option<Tagged<Product>>, ClientError> {
        let req = self
            .request(Method::GET, &format!("/v1/products/{id}"))
            .header(header::IF_NONE_MATCH, etag);
        let resp = self.send(req, Idempotent).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        decode(resp).await.map(Some)
    }

    /// `POST /v1/products` (admin).
    pub async fn create(&self, product: &NewProduct) -> Result<Tagged<Product>, ClientError> {
        let req = self.request(Method::POST, "/v1/products").json(product);
        self.call(req, NotIdempotent).await
    }

    /// `PATCH /v1/products/{id}` (admin), conditional when `if_match` is given.
    pub async fn patch(
        &self,
        id: Uuid,
        patch: &ProductPatch,
        if_match: Option<&str>,
    ) -> Result<Tagged<Product>, ClientError> {
        let mut req = self
            .request(Method::PATCH, &format!("/v1/products/{id}"))
            .json(patch);
        if let Some(etag) = if_match {
            req = req.header(header::IF_MATCH, etag);
        }
        self.call(req, NotIdempotent).await
    }

    /// `POST /internal/v1/reservations` (service credential). 201 the first
    /// time, 200 on a replay. Idempotent by the reservation id.
    pub async fn reserve(
        &self,
        request: &ReservationRequest,
    ) -> Result<Tagged<Reservation>, ClientError> {
        let req = self
            .request(Method::POST, "/internal/v1/reservations")
            .json(request);
        self.call(req, Idempotent).await
    }

    /// `GET /internal/v1/reservations/{id}` (service credential).
    pub async fn reservation(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let req = self.request(Method::GET, &format!("/internal/v1/reservations/{id}"));
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `POST /internal/v1/reservations/{id}/commit` (service credential).
    pub async fn commit(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let req = self.request(
            Method::POST,
            &format!("/internal/v1/reservations/{id}/commit"),
        );
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `POST /internal/v1/reservations/{id}/release` (service credential).
    pub async fn release(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let req = self.request(
            Method::POST,
            &format!("/internal/v1/reservations/{id}/release"),
        );
        Ok(self.call(req, Idempotent).await?.body)
    }
}

impl CartClient {
    /// `GET /v1/cart` (the token's user).
    pub async fn get(&self) -> Result<Cart, ClientError> {
        Ok(self
            .call(self.request(Method::GET, "/v1/cart"), Idempotent)
            .await?
            .body)
    }

    /// `PUT /v1/cart/items/{product_id}`. Idempotent: it sets, not adds.
    pub async fn set_quantity(
        &self,
        product_id: Uuid,
        quantity: i32,
    ) -> Result<CartItem, ClientError> {
        let req = self
            .request(Method::PUT, &format!("/v1/cart/items/{product_id}"))
            .json(&SetQuantity { quantity });
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `DELETE /v1/cart/items/{product_id}`.
    pub async fn remove_item(&self, product_id: Uuid) -> Result<(), ClientError> {
        let req = self.request(Method::DELETE, &format!("/v1/cart/items/{product_id}"));
        self.call_no_content(req, Idempotent).await
    }

    /// `DELETE /v1/cart`.
    pub async fn clear(&self) -> Result<(), ClientError> {
        self.call_no_content(self.request(Method::DELETE, "/v1/cart"), Idempotent)
            .await
    }

    /// `GET /internal/v1/carts?user_id=` (service credential).
    pub async fn stored(&self, user_id: &str) -> Result<StoredCart, ClientError> {
        let req = self
            .request(Method::GET, "/internal/v1/carts")
            .query(&CartOwner {
                user_id: user_id.to_owned(),
            });
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `POST /internal/v1/carts/remove?user_id=` (service credential).
    /// Idempotent: removing lines by revision twice removes them once.
    pub async fn remove_lines(
        &self,
        user_id: &str,
        lines: &RemoveLines,
    ) -> Result<Removed, ClientError> {
        let req = self
            .request(Method::POST, "/internal/v1/carts/remove")
            .query(&CartOwner {
                user_id: user_id.to_owned(),
            })
            .json(lines);
        Ok(self.call(req, Idempotent).await?.body)
    }
}

impl OrderClient {
    /// `POST /v1/orders` with an `Idempotency-Key`: check out the whole cart.
    pub async fn checkout(
        &self,
        idempotency_key: &str,
        body: &Checkout,
    ) -> Result<Tagged<Order>, ClientError> {
        let req = self
            .request(Method::POST, "/v1/orders")
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .json(body);
        self.call(req, Idempotent).await
    }

    /// `GET /v1/orders`.
    pub async fn list(&self, query: &ListOrders) -> Result<OrderPage, ClientError> {
        let req = self.request(Method::GET, "/v1/orders").query(query);
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `GET /v1/orders/{id}`.
    pub async fn get(&self, id: Uuid) -> Result<Order, ClientError> {
        let req = self.request(Method::GET, &format!("/v1/orders/{id}"));
        Ok(self.call(req, Idempotent).await?.body)
    }

    /// `POST /v1/orders/{id}/cancel`. Idempotent.
    pub async fn cancel(&self, id: Uuid) -> Result<Order, ClientError> {
        let req = self.request(Method::POST, &format!("/v1/orders/{id}/cancel"));
        Ok(self.call(req, Idempotent).await?.body)
    }
}

/// Decodes a 2xx body as `T`, anything else as a [`Problem`].
async fn decode<T: DeserializeOwned>(resp: Response) -> Result<Tagged<T>, ClientError> {
    let status = resp.status();
    let header = |name: header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header(header::ETAG);
    let bytes = resp.bytes().await?;
    if status.is_success() {
        match serde_json::from_slice(&bytes) {
            Ok(body) => Ok(Tagged { body, status, etag }),
            Err(_) => Err(unexpected(status, &bytes)),
        }
    } else {
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ClientError::Problem(Box::new(problem))),
            Err(_) => Err(unexpected(status, &bytes)),
        }
    }
}

fn unexpected(status: StatusCode, bytes: &[u8]) -> ClientError {
    ClientError::Unexpected {
        status,
        body: String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
    }
}
