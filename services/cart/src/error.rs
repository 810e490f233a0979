//! The cart service's errors: the platform's shared cases
//! ([`HandlerError`]) plus [`CartError`], the ones only cart has.

use shop_api::ClientError;
use shop_common::error::{ApiError, HandlerError, Problem, ProblemType};
use uuid::Uuid;

/// Everything a cart handler can fail with.
pub type Error = HandlerError<CartError>;

/// The failures only the cart service has: both are about its peer.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("product unavailable")]
    ProductUnavailable(Uuid),
    #[error("the product service is unavailable")]
    ProductServiceDown(#[source] ClientError),
}

impl From<CartError> for Error {
    fn from(e: CartError) -> Self {
        Self::Service(e)
    }
}

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::ProductUnavailable(id) => Problem::new(ProblemType::ProductUnavailable)
                .with_detail("the product does not exist or is archived")
                .with_product_ids(vec![id])
                .into(),
            CartError::ProductServiceDown(cause) => {
                tracing::warn!(error = %cause, "product service unavailable");
                ApiError::new(
                    ProblemType::Unavailable,
                    "the product service is unavailable; retry shortly",
                )
            }
        }
    }
}
