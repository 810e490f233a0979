//! The storefront's errors, and how any error (a handler's or the
//! framework's) becomes a page.
//!
//! Handlers fail with [`Error`], the platform's shared cases plus
//! [`WebError`]. Like every service's, an error becomes a `Problem` with
//! the right status; the platform's `normalize` middleware stamps the
//! request id on it, and [`page`] (this service's
//! `Service::render_problem`) shows it as a friendly HTML page instead of
//! problem+json: 503 when a service behind the store is down, 404 for an
//! unknown product or order, never a stack trace.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use shop_api::ClientError;
use shop_common::error::{ApiError, HandlerError, Problem, ProblemType, Rendered};

use crate::pages::{Chrome, ErrorPage};

/// Everything a page handler can fail with.
pub type Error = HandlerError<WebError>;

/// The failures only the storefront has.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A service behind the store failed or refused.
    #[error("{service}: {error}")]
    Peer {
        service: &'static str,
        error: ClientError,
    },
    #[error("sign in to see this page")]
    SignInNeeded,
    #[error("this page is for administrators")]
    AdminOnly,
    /// A POST without this session's CSRF token.
    #[error("the form's token does not match the session")]
    FormExpired,
    /// Development sign-in is switched off (`WEB_DEV_SIGN_IN`).
    #[error("development sign-in is off")]
    SignInOff,
    /// A form field that cannot be what it claims (a browser enforces the
    /// same rules, so only a hand-made request gets here).
    #[error("{0}")]
    BadForm(String),
}

impl From<WebError> for Error {
    fn from(e: WebError) -> Self {
        Self::Service(e)
    }
}

/// `?` on an API call: the error, with the service it came from.
pub fn peer(service: &'static str) -> impl FnOnce(ClientError) -> Error {
    move |error| WebError::Peer { service, error }.into()
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::Peer { service, error } => from_peer(service, error),
            WebError::SignInNeeded => {
                ApiError::new(ProblemType::Unauthorized, "Sign in to see this page.")
            }
            WebError::AdminOnly => ApiError::new(
                ProblemType::Forbidden,
                "This page is for administrators: sign in with the administrator box ticked.",
            ),
            WebError::FormExpired => ApiError::new(
                ProblemType::Forbidden,
                "This form has expired or did not come from this store. Go back, reload the page and try again.",
            ),
            WebError::SignInOff => ApiError::new(
                ProblemType::Forbidden,
                "Development sign-in is switched off here. In production, sign-in goes through your identity provider (OpenID Connect).",
            ),
            WebError::BadForm(detail) => ApiError::new(ProblemType::Validation, detail),
        }
    }
}

/// What a failed API call means for the person at the browser.
fn from_peer(service: &'static str, error: ClientError) -> ApiError {
    match error.problem() {
        // The API's own refusal (out of stock, not found, not cancellable):
        // its status and its words, which are written for people.
        Some(problem) if problem.status < 500 => match problem.status {
            404 => ApiError::new(ProblemType::NotFound, "There is no such page here."),
            401 => ApiError::new(
                ProblemType::Unauthorized,
                "Your session has ended. Sign in again.",
            ),
            _ => ApiError::from(problem.clone()),
        },
        _ => {
            tracing::warn!(service, error = %error, "a service behind the store failed");
            ApiError::new(
                ProblemType::Unavailable,
                format!("The {service} service is unavailable right now. Try again in a moment."),
            )
        }
    }
}

/// The headers every response of the storefront carries: a
/// Content-Security-Policy without `unsafe-inline` (no inline script or
/// style can run, even if something slipped past the escaping), no
/// framing, no MIME sniffing, no referrer leaving the site.
pub fn secure_headers(headers: &mut axum::http::HeaderMap) {
    const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// A rendered page as a response: HTML, never cached (pages show a
/// person's cart and orders), with the security headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    // A page is whole as it is: the platform must not turn a 422 form
    // page into a problem.
    resp.extensions_mut().insert(Rendered);
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(headers);
    resp
}

/// Renders a template, or a bare 500 when it cannot be (it always can:
/// templates are checked at compile time; only a formatting error could).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "a template failed to render");
            html(StatusCode::INTERNAL_SERVER_ERROR, "Internal error".into())
        }
    }
}

/// A problem as a page: what went wrong in words, the request id and trace
/// id to quote, and a way on. The storefront's `Service::render_problem`.
pub fn page(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let heading = match status.as_u16() {
        401 => "Please sign in",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not here",
        409 | 422 => "That did not work",
        413 | 431 => "Too much",
        503 => "Temporarily unavailable",
        500..=599 => "Something went wrong",
        _ => "That did not work",
    };
    // The platform's 5xx problems carry no internals; their words are safe.
    let detail = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.clone());
    let sign_in_next = (status == StatusCode::UNAUTHORIZED).then(|| {
        problem
            .instance
            .clone()
            .filter(|p| crate::routes::account::is_local_path(p))
            .unwrap_or_else(|| "/".to_owned())
    });
    let page = ErrorPage {
        chrome: Chrome {
            title: heading.to_owned(),
            request_id: problem.request_id.clone().unwrap_or_default(),
            trace_id: shop_common::telemetry::current_trace_id(),
            ..Chrome::default()
        },
        status: status.as_u16(),
        heading: heading.to_owned(),
        detail,
        sign_in_next,
    };
    let mut resp = render(status, &page);
    if matches!(status.as_u16(), 503 | 429) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}
