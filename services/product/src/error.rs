//! The product service's errors: the platform's shared cases
//! ([`HandlerError`]) plus [`ProductError`], the ones only product has, each
//! mapped to a registered problem type.

use shop_common::error::{ApiError, HandlerError, Problem, ProblemType};
use uuid::Uuid;

/// Everything a product handler can fail with.
pub type Error = HandlerError<ProductError>;

/// The failures only the product service has.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("If-Match does not match the current version")]
    PreconditionFailed,
    #[error("out of stock")]
    OutOfStock(Vec<Uuid>),
    #[error("products unavailable")]
    ProductUnavailable(Vec<Uuid>),
    #[error("reservation id reused with other lines")]
    ReservationMismatch,
}

impl From<ProductError> for Error {
    fn from(e: ProductError) -> Self {
        Self::Service(e)
    }
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::PreconditionFailed => ApiError::new(
                ProblemType::PreconditionFailed,
                "the product changed since you read it; fetch it again and retry",
            ),
            ProductError::OutOfStock(ids) => Problem::new(ProblemType::OutOfStock)
                .with_detail("not enough stock for the listed products")
                .with_product_ids(ids)
                .into(),
            ProductError::ProductUnavailable(ids) => Problem::new(ProblemType::ProductUnavailable)
                .with_detail("the listed products do not exist or are archived")
                .with_product_ids(ids)
                .into(),
            ProductError::ReservationMismatch => ApiError::new(
                ProblemType::IdempotencyMismatch,
                "this reservation id was already used with other lines",
            ),
        }
    }
}
