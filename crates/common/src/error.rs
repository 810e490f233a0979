//! Errors as RFC 9457 problem+json, for handler errors and framework errors
//! alike.
//!
//! Handlers return [`ApiError`] (a [`Problem`] of a registered type). Errors
//! produced outside handler code (axum's extractor rejections, the 404 and
//! 405 fallbacks, body limits, panics, timeouts, load shedding) come out of
//! the framework as bare status codes; [`normalize`] turns every such
//! response into the same problem+json shape and stamps the request id on
//! all of them. One mechanism, so no error path can forget it.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
pub use shop_api::problem::{FieldError, PROBLEM_JSON, Problem, ProblemType};

use crate::request_id::REQUEST_ID_HEADER;

/// A problem as a handler error. `?` converts database errors into a 500
/// (logged, never shown) so handlers stay short.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// A problem of `kind` with a detail for the client.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem::new(kind).with_detail(detail)))
    }

    /// 404 for a resource the caller may not see or that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemType::NotFound, format!("{what} not found"))
    }

    /// 422 listing each invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self(Box::new(
            Problem::new(ProblemType::Validation)
                .with_detail(detail)
                .with_errors(errors),
        ))
    }

    /// A 500 whose cause is logged here and never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self(Box::new(Problem::new(ProblemType::Internal)))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(Box::new(p))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // The pool could not give a connection in time: the database is
            // down or saturated, which is a 503 the client may retry.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::new(ProblemType::Unavailable, "database unavailable")
            }
            _ => Self::internal(e),
        }
    }
}

/// The error every handler returns: the cases all services share, and
/// `Service(E)` for the ones a service adds (its own enum, which says how
/// each case becomes a problem by converting into [`ApiError`]). Each
/// service names it once: `pub type Error = HandlerError<ProductError>;`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError<E> {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Service(E),
}

impl<E> From<Vec<FieldError>> for HandlerError<E> {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

impl<E: Into<ApiError>> From<HandlerError<E>> for ApiError {
    fn from(e: HandlerError<E>) -> Self {
        match e {
            HandlerError::NotFound(what) => ApiError::not_found(what),
            HandlerError::Validation(errors) => ApiError::validation(errors),
            HandlerError::Conflict(detail) => ApiError::new(ProblemType::Conflict, detail),
            HandlerError::Unavailable(detail) => ApiError::new(ProblemType::Unavailable, detail),
            HandlerError::Database(e) => e.into(),
            HandlerError::Service(e) => e.into(),
        }
    }
}

impl<E: Into<ApiError>> IntoResponse for HandlerError<E> {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render(*self.0)
    }
}

/// Serializes a problem with its status, content type and the headers its
/// type calls for. The problem also rides in the response extensions so
/// [`normalize`] can stamp the request id without parsing the body.
pub fn render(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    match problem.kind() {
        Some(ProblemType::Overloaded | ProblemType::Unavailable | ProblemType::Timeout) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Some(ProblemType::Unauthorized) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    resp.extensions_mut().insert(problem);
    resp
}

/// Longest framework error text copied into `detail`.
const MAX_DETAIL: usize = 512;

/// A response extension: this error response is a page its service made
/// whole (a form shown again with what was wrong, say); [`normalize`]
/// passes it as it is. Only the storefront sets it.
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// How a problem becomes a response: [`render`] (problem+json) for the APIs;
/// the storefront renders the same problem as an HTML page.
pub type Renderer = fn(Problem) -> Response;

/// Middleware: every 4xx and 5xx leaves as a problem, rendered by `render`
/// (problem+json for the APIs), carrying the request id and path. Framework
/// errors get the registered type for their status; their text becomes the
/// detail on 4xx only, so 5xx never leak internals.
pub async fn normalize(State(render): State<Renderer>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<Rendered>().is_some()
    {
        return resp;
    }
    let is_problem_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem_json && resp.extensions().get::<Problem>().is_none() {
        // A stored problem being replayed verbatim (an idempotent retry):
        // it already carries the request id of the request that made it.
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        None => {
            let text = match body.collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            from_framework(status, text.trim())
        }
    };
    problem.request_id = request_id;
    problem.instance = Some(path);
    // Keep the headers the framework set (Allow on 405, for example) but not
    // the ones describing the old body.
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut out = render(problem);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE {
            out.headers_mut().entry(name).or_insert(value.clone());
        }
    }
    *out.status_mut() = status;
    out
}

fn from_framework(status: StatusCode, text: &str) -> Problem {
    let kind = ProblemType::for_status(status.as_u16());
    let mut problem = Problem::new(kind);
    // The registered status wins over a framework's unusual code (say 408),
    // except that the response keeps the status it was sent with, so keep
    // `status` equal to it.
    problem.status = status.as_u16();
    if status.is_client_error() && !text.is_empty() {
        let mut detail: String = text.chars().take(MAX_DETAIL).collect();
        if detail.len() < text.len() {
            detail.push('…');
        }
        problem.detail = Some(detail);
    } else if status == StatusCode::NOT_FOUND {
        problem.detail = Some("no such route".to_owned());
    }
    problem
}

/// Converts errors from tower middleware (timeouts, load shedding) into
/// problems; used with axum's `HandleErrorLayer`.
pub async fn handle_middleware_error(err: tower::BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        render(Problem::new(ProblemType::Timeout).with_detail("the request took too long"))
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        render(
            Problem::new(ProblemType::Overloaded)
                .with_detail("too many requests in flight; retry shortly"),
        )
    } else {
        ApiError::internal(err).into_response()
    }
}

/// Turns a caught panic into a 500 problem; the payload is logged, not sent.
pub fn handle_panic(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}
