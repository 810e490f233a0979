//! The cart service's one error enum and how each case reaches the client.

use axum::response::{IntoResponse, Response};
use shop_api::ClientError;
use shop_common::error::{ApiError, FieldError, Problem, ProblemType};
use uuid::Uuid;

/// Everything a cart handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("product unavailable")]
    ProductUnavailable(Uuid),
    #[error("the product service is unavailable")]
    ProductServiceDown(#[source] ClientError),
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
            Error::ProductUnavailable(id) => Problem::new(ProblemType::ProductUnavailable)
                .with_detail("the product does not exist or is archived")
                .with_product_ids(vec![id])
                .into(),
            Error::ProductServiceDown(cause) => {
                tracing::warn!(error = %cause, "product service unavailable");
                ApiError::new(
                    ProblemType::Unavailable,
                    "the product service is unavailable; retry shortly",
                )
            }
            Error::Database(e) => e.into(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
