//! Typed async clients for Shop's services, over any `reqwest::Client`.
//!
//! Each method maps one endpoint: a 2xx body is decoded into its type, any
//! other answer into [`ClientError::Problem`], so callers match on problem
//! types instead of parsing bodies.

use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::Problem;
use crate::product::{
    ListProducts, NewProduct, Product, ProductPage, ProductPatch, Reservation, ReservationRequest,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with a problem (any non-2xx status).
    #[error("{0}")]
    Problem(Problem),
    /// The request never got an answer (connect error, timeout, reset).
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
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
}

/// A decoded response together with the headers callers may need.
#[derive(Debug, Clone)]
pub struct Tagged<T> {
    pub body: T,
    pub status: StatusCode,
    pub etag: Option<String>,
    pub location: Option<String>,
}

/// Client of the product service.
#[derive(Debug, Clone)]
pub struct ProductClient {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
}

impl ProductClient {
    /// `base` is the service root, such as `http://127.0.0.1:8081`.
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            bearer: None,
        }
    }

    /// The same client sending `Authorization: Bearer <token>` (a user or
    /// admin JWT, or the service credential for internal routes).
    pub fn with_bearer(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.bearer {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// `GET /v1/products`.
    pub async fn list(&self, query: &ListProducts) -> Result<ProductPage, ClientError> {
        let resp = self
            .request(Method::GET, "/v1/products")
            .query(query)
            .send()
            .await?;
        Ok(decode(resp).await?.body)
    }

    /// `GET /v1/products/{id}`.
    pub async fn get(&self, id: Uuid) -> Result<Tagged<Product>, ClientError> {
        let resp = self
            .request(Method::GET, &format!("/v1/products/{id}"))
            .send()
            .await?;
        decode(resp).await
    }

    /// `POST /v1/products` (admin).
    pub async fn create(&self, product: &NewProduct) -> Result<Tagged<Product>, ClientError> {
        let resp = self
            .request(Method::POST, "/v1/products")
            .json(product)
            .send()
            .await?;
        decode(resp).await
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
        decode(req.send().await?).await
    }

    /// `POST /internal/v1/reservations` (service credential). 201 the first
    /// time, 200 on an idempotent replay.
    pub async fn reserve(
        &self,
        request: &ReservationRequest,
    ) -> Result<Tagged<Reservation>, ClientError> {
        let resp = self
            .request(Method::POST, "/internal/v1/reservations")
            .json(request)
            .send()
            .await?;
        decode(resp).await
    }

    /// `GET /internal/v1/reservations/{id}` (service credential).
    pub async fn reservation(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let path = format!("/internal/v1/reservations/{id}");
        Ok(decode(self.request(Method::GET, &path).send().await?)
            .await?
            .body)
    }

    /// `POST /internal/v1/reservations/{id}/commit` (service credential).
    pub async fn commit(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let path = format!("/internal/v1/reservations/{id}/commit");
        Ok(decode(self.request(Method::POST, &path).send().await?)
            .await?
            .body)
    }

    /// `POST /internal/v1/reservations/{id}/release` (service credential).
    pub async fn release(&self, id: Uuid) -> Result<Reservation, ClientError> {
        let path = format!("/internal/v1/reservations/{id}/release");
        Ok(decode(self.request(Method::POST, &path).send().await?)
            .await?
            .body)
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
    let location = header(header::LOCATION);
    let bytes = resp.bytes().await?;
    if status.is_success() {
        match serde_json::from_slice(&bytes) {
            Ok(body) => Ok(Tagged {
                body,
                status,
                etag,
                location,
            }),
            Err(_) => Err(unexpected(status, &bytes)),
        }
    } else {
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ClientError::Problem(problem)),
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
