//! The order service's one error enum and how each case reaches the client.

use axum::response::{IntoResponse, Response};
use shop_api::Problem;
use shop_common::error::{ApiError, FieldError, ProblemType};

use crate::domain::checkout::{Cause, Outcome, Refusal};

/// Everything an order handler can fail with (checkout outcomes that are
/// stored and replayed are answers, not errors: see `saga`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("idempotency key reused with another request")]
    IdempotencyMismatch,
    #[error("{0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Vec<FieldError>> for Error {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => ApiError::not_found(what),
            Error::Validation(errors) => ApiError::validation(errors),
            Error::BadRequest(detail) => ApiError::new(ProblemType::BadRequest, detail),
            Error::Conflict(detail) => ApiError::new(ProblemType::Conflict, detail),
            Error::IdempotencyMismatch => ApiError::new(
                ProblemType::IdempotencyMismatch,
                "this Idempotency-Key was used with a different request body",
            ),
            Error::Unavailable(detail) => ApiError::new(ProblemType::Unavailable, detail),
            Error::Database(e) => e.into(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// The problem a refused checkout answers, stored and replayed for its
/// key. It carries the request id and path of the request that made it,
/// like every problem; replays send it byte for byte, so they quote the
/// first request (the one whose logs tell the story).
pub fn refusal(refusal: &Refusal) -> Problem {
    let (kind, detail, ids) = match refusal {
        Refusal::EmptyCart => (ProblemType::Validation, "the cart is empty", &[][..]),
        Refusal::OutOfStock(ids) => (
            ProblemType::OutOfStock,
            "not enough stock for the listed products",
            &ids[..],
        ),
        Refusal::Unavailable(ids) => (
            ProblemType::ProductUnavailable,
            "the cart holds products that no longer exist or are archived",
            &ids[..],
        ),
        Refusal::MixedCurrencies(ids) => (
            ProblemType::ProductUnavailable,
            "one order has one currency, and the listed products are now priced in another: \
             remove them from the cart and add them again to see their current price",
            &ids[..],
        ),
    };
    let mut p = Problem::new(kind)
        .with_detail(detail)
        .with_product_ids(ids.to_vec());
    p.instance = Some("/v1/orders".to_owned());
    p.request_id = shop_common::request_id::current();
    p
}

/// The 503 a checkout answers when it did not finish: with a fresh start
/// when nothing can be held, with "the same key" when the order is pending.
pub fn retry(outcome: &Outcome) -> Error {
    Error::Unavailable(match outcome {
        Outcome::Retry(Cause::CartDown) => "the cart service is unavailable; retry shortly",
        Outcome::Retry(Cause::HoldExpired) => {
            "the checkout took too long; retry with the same Idempotency-Key"
        }
        Outcome::Retry(Cause::ProductDown | Cause::NothingReserved) => {
            "the product service is unavailable; retry shortly"
        }
        _ => "the product service is unavailable; retry with the same Idempotency-Key",
    })
}
