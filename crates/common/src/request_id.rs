//! Request ids: the `x-request-id` header, how an id is made or accepted,
//! and how it reaches the calls a request makes to other services. Every
//! log line, span and problem body quotes it, so one id follows a request
//! through all three services.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request id header, generated when the client sends none (or an
/// unsafe one) and echoed on every response and problem body.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being served, so outgoing calls carry it.
    pub static REQUEST_ID: String;
}

/// Request ids are UUID v7: unique, and sortable by time in logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeUuidV7;

impl MakeRequestId for MakeUuidV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// True for a request id a client may choose: the gateway's rule,
/// `[A-Za-z0-9._:-]{1,128}`. Anything else (too long, quotes, markup) would
/// be echoed into headers, problem bodies, logs and other services, so it is
/// replaced by a fresh id.
pub fn is_safe(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Middleware: drops a client's request id that is not [safe](is_safe)
/// (or sent twice), so the next layer makes a new one.
pub async fn drop_unsafe(mut req: Request, next: Next) -> Response {
    let unsafe_id = req
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !is_safe(v.as_bytes()));
    if unsafe_id {
        req.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(req).await
}

/// Middleware: makes the request id visible to outgoing calls made while
/// serving it ([`REQUEST_ID`], read by `http_client::Peer`).
pub async fn scope(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    REQUEST_ID.scope(id, next.run(req)).await
}

/// The id of the request being served, if any (none in background tasks).
pub fn current() -> Option<String> {
    REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn safe_ids_follow_the_gateways_rule() {
        assert!(super::is_safe(b"abc-123_x.y:z"));
        assert!(super::is_safe(&[b'a'; 128]));
        assert!(!super::is_safe(&[b'a'; 129]));
        assert!(!super::is_safe(b""));
        assert!(!super::is_safe(b"<script>"));
        assert!(!super::is_safe(b"a b"));
    }
}
