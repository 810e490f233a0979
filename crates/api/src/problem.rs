//! Problem details (RFC 9457): the one error shape every service answers
//! with, and the registry of problem types shared by all of them.
//!
//! The registry is documented for humans in `docs/problems.md`; a test there
//! keeps the two in step.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every problem type any Shop service can answer with.
///
/// Clients match on [`Problem::type_`]; the HTTP status alone is ambiguous
/// (409 can mean "out of stock" or "request in flight").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    /// 400: the request is malformed (bad JSON syntax, bad query or path value).
    BadRequest,
    /// 401: no credential, or one that does not verify.
    Unauthorized,
    /// 403: a valid credential without the needed permission.
    Forbidden,
    /// 404: no such resource, or one the caller may not see.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the resource is in a state that does not allow this change.
    Conflict,
    /// 409: not enough stock for one or more products.
    OutOfStock,
    /// 412: `If-Match` did not match the current version.
    PreconditionFailed,
    /// 413: the request body is larger than the service accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 431: the request's header fields are larger than the service accepts.
    HeadersTooLarge,
    /// 422: well-formed JSON that breaks a rule (unknown or missing field,
    /// value out of range).
    Validation,
    /// 422: an idempotency key or reservation id reused with another body.
    IdempotencyMismatch,
    /// 422: a referenced product does not exist or is archived.
    ProductUnavailable,
    /// 500: a bug or an unexpected failure; the body carries no internals.
    Internal,
    /// 503: the service is shedding load; retry after `Retry-After`.
    Overloaded,
    /// 503: the request took longer than the service's deadline.
    Timeout,
    /// 503: a dependency is unavailable or the service is shutting down.
    Unavailable,
}

impl ProblemType {
    /// Every registered type, for documentation and tests.
    pub const ALL: [ProblemType; 18] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::OutOfStock,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::HeadersTooLarge,
        Self::Validation,
        Self::IdempotencyMismatch,
        Self::ProductUnavailable,
        Self::Internal,
        Self::Overloaded,
        Self::Timeout,
        Self::Unavailable,
    ];

    /// The short, stable name used in the type URI.
    pub const fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::OutOfStock => "out-of-stock",
            Self::PreconditionFailed => "precondition-failed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::HeadersTooLarge => "headers-too-large",
            Self::Validation => "validation",
            Self::IdempotencyMismatch => "idempotency-mismatch",
            Self::ProductUnavailable => "product-unavailable",
            Self::Internal => "internal",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
        }
    }

    /// The HTTP status this type is always sent with.
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict | Self::OutOfStock => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::HeadersTooLarge => 431,
            Self::Validation | Self::IdempotencyMismatch | Self::ProductUnavailable => 422,
            Self::Internal => 500,
            Self::Overloaded | Self::Timeout | Self::Unavailable => 503,
        }
    }

    /// A short human summary that never changes between occurrences.
    pub const fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict",
            Self::OutOfStock => "Out of stock",
            Self::PreconditionFailed => "Precondition failed",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::HeadersTooLarge => "Request header fields too large",
            Self::Validation => "Validation failed",
            Self::IdempotencyMismatch => "Idempotency key reused with another request",
            Self::ProductUnavailable => "Product unavailable",
            Self::Internal => "Internal error",
            Self::Overloaded => "Service overloaded",
            Self::Timeout => "Request timed out",
            Self::Unavailable => "Service unavailable",
        }
    }

    /// The `type` URI. A URN rather than a URL: it identifies, it is not
    /// meant to be fetched (RFC 9457 section 3.1.1 allows both).
    pub fn uri(self) -> String {
        format!("urn:shop:problem:{}", self.slug())
    }

    /// The registered type with this URI, if any.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let slug = uri.strip_prefix("urn:shop:problem:")?;
        Self::ALL.into_iter().find(|t| t.slug() == slug)
    }

    /// The generic type for a status, used when a framework layer (not our
    /// handler code) produced the error.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Validation,
            431 => Self::HeadersTooLarge,
            408 | 504 => Self::Timeout,
            503 => Self::Unavailable,
            400..=499 => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}

/// One invalid field of a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field's JSON name, dotted for nested fields (`price.currency`).
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI from the registry, `urn:shop:problem:<slug>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:shop:problem:not-found")]
    pub type_: String,
    /// The registry's title for `type`.
    pub title: String,
    /// Always equal to the HTTP status of the response.
    pub status: u16,
    /// What went wrong this time, for a human. Never internals on a 5xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (also in the `x-request-id` header), to quote when
    /// reporting a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `validation`: each invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `out-of-stock` and `product-unavailable`: the products concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_ids: Vec<Uuid>,
}

impl Problem {
    /// A problem of a registered type with no detail yet.
    pub fn new(kind: ProblemType) -> Self {
        Self {
            type_: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: None,
            instance: None,
            request_id: None,
            errors: Vec::new(),
            product_ids: Vec::new(),
        }
    }

    /// Adds a human-readable detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds field errors (for `validation`).
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Names the products concerned.
    pub fn with_product_ids(mut self, ids: Vec<Uuid>) -> Self {
        self.product_ids = ids;
        self
    }

    /// The registered type, when `type_` is one.
    pub fn kind(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_uri() {
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_uri(&kind.uri()), Some(kind));
            assert!((400..600).contains(&kind.status()));
        }
    }

    #[test]
    fn slugs_are_unique() {
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
    }

    #[test]
    fn generic_type_for_status_keeps_the_status() {
        for status in [
            400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 431, 500, 503,
        ] {
            assert_eq!(ProblemType::for_status(status).status(), status);
        }
    }

    #[test]
    fn serializes_type_and_omits_empty_members() {
        let json = serde_json::to_value(Problem::new(ProblemType::NotFound)).unwrap();
        assert_eq!(json["type"], "urn:shop:problem:not-found");
        assert_eq!(json["status"], 404);
        assert!(json.get("errors").is_none());
        assert!(json.get("detail").is_none());
    }
}

#[cfg(test)]
mod docs {
    use super::*;

    /// docs/problems.md documents every registered type with its status.
    #[test]
    fn the_registry_documentation_lists_every_type() {
        let doc = include_str!("../../../docs/problems.md");
        for kind in ProblemType::ALL {
            let row = format!("| `{}` | {} |", kind.uri(), kind.status());
            assert!(
                doc.contains(&row),
                "docs/problems.md lacks the row starting {row}"
            );
        }
        let rows = doc
            .lines()
            .filter(|l| l.starts_with("| `urn:shop:problem:"))
            .count();
        assert_eq!(
            rows,
            ProblemType::ALL.len(),
            "docs/problems.md lists a type the code lacks"
        );
    }
}
