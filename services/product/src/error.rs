//! The product service's one error enum and how each case reaches the
//! client: every variant maps to a registered problem type.

use axum::response::{IntoResponse, Response};
use shop_common::error::{ApiError, FieldError, Problem, ProblemType};
use uuid::Uuid;

/// Everything a product handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("If-Match does not match the current version")]
    PreconditionFailed,
    #[error("out of stock")]
    OutOfStock(Vec<Uuid>),
    #[error("products unavailable")]
    ProductUnavailable(Vec<Uuid>),
    #[error("reservation id reused with other lines")]
    ReservationMismatch,
    #[error("{0}")]
    Conflict(&'static str),
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
            Error::PreconditionFailed => ApiError::new(
                ProblemType::PreconditionFailed,
                "the product changed since you read it; fetch it again and retry",
            ),
            Error::OutOfStock(ids) => Problem::new(ProblemType::OutOfStock)
                .with_detail("not enough stock for the listed products")
                .with_product_ids(ids)
                .into(),
            Error::ProductUnavailable(ids) => Problem::new(ProblemType::ProductUnavailable)
                .with_detail("the listed products do not exist or are archived")
                .with_product_ids(ids)
                .into(),
            Error::ReservationMismatch => ApiError::new(
                ProblemType::IdempotencyMismatch,
                "this reservation id was already used with other lines",
            ),
            Error::Conflict(detail) => ApiError::new(ProblemType::Conflict, detail),
            Error::Database(e) => e.into(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
