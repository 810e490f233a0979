//! The order service's one error enum and how each case reaches the client.

use axum::response::{IntoResponse, Response};
use shop_common::error::{ApiError, FieldError, ProblemType};

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
