//! The order service's errors: the platform's shared cases
//! ([`HandlerError`]) plus [`OrderError`], the ones only order has, and the
//! problems a finished checkout answers with.

use shop_api::Problem;
use shop_common::error::{ApiError, HandlerError, ProblemType};

use crate::domain::checkout::{Cause, Outcome, Refusal};

/// Everything an order handler can fail with (checkout outcomes that are
/// stored and replayed are answers, not errors: see `saga`).
pub type Error = HandlerError<OrderError>;

/// The failures only the order service has: both are about the
/// Idempotency-Key.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    BadRequest(String),
    #[error("idempotency key reused with another request")]
    IdempotencyMismatch,
}

impl From<OrderError> for Error {
    fn from(e: OrderError) -> Self {
        Self::Service(e)
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::BadRequest(detail) => ApiError::new(ProblemType::BadRequest, detail),
            OrderError::IdempotencyMismatch => ApiError::new(
                ProblemType::IdempotencyMismatch,
                "this Idempotency-Key was used with a different request body",
            ),
        }
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
