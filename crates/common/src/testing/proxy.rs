//! [`FaultProxy`]: a stand-in for a peer's network, for tests of a
//! service's failure modes. It sits on loopback in front of a real service
//! and forwards every request, except those a rule says to answer with a
//! fault: never answer (a slow or cut-off peer), answer only after the real
//! service has done the work (the answer is lost on the way back), or
//! answer 503 without forwarding (a failing peer).
//!
//! The service under test is pointed at the proxy's URL instead of the
//! peer's; the peer itself is real, so every effect a test checks is real.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the proxy does with a request a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never answer, and never forward: the caller's timeout decides.
    Hang,
    /// Forward, let the peer finish, then never answer: the work is done
    /// but the caller cannot know.
    Lose,
    /// Answer 503 without forwarding.
    Fail,
}

#[derive(Debug, Clone)]
struct Rule {
    method: Method,
    path: String,
    fault: Fault,
}

impl Rule {
    /// `path` is an exact path, `*suffix` for any path ending so, or
    /// `prefix*` for any path starting so.
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method == method
            && if let Some(suffix) = self.path.strip_prefix('*') {
                path.ends_with(suffix)
            } else if let Some(prefix) = self.path.strip_suffix('*') {
                path.starts_with(prefix)
            } else {
                path == self.path
            }
    }
}

#[derive(Debug, Default)]
struct Shared {
    rules: Vec<Rule>,
    /// Every request seen, faulted or not: (method, path).
    seen: Vec<(Method, String)>,
}

/// A fault-injecting proxy in front of `upstream`, on a free loopback port,
/// until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// Point the service under test here instead of at the peer.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
}

impl FaultProxy {
    /// Starts forwarding everything to `upstream` (a base URL).
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            shared: shared.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared, task }
    }

    /// From now on, `method path` (exact, `*suffix` or `prefix*`) gets `fault`.
    pub fn fault(&self, method: Method, path: &str, fault: Fault) {
        self.lock().rules.push(Rule {
            method,
            path: path.to_owned(),
            fault,
        });
    }

    /// Forward everything again.
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// How many requests `method path` (exact, `*suffix` or `prefix*`) has seen.
    pub fn seen(&self, method: Method, path: &str) -> usize {
        let probe = Rule {
            method,
            path: path.to_owned(),
            fault: Fault::Fail,
        };
        let shared = self.lock();
        shared
            .seen
            .iter()
            .filter(|(m, p)| probe.matches(m, p))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("not poisoned")
    }
}

async fn forward(State(state): State<ProxyState>, req: Request) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let fault = {
        let mut shared = state.shared.lock().expect("not poisoned");
        shared.seen.push((method.clone(), path.clone()));
        shared
            .rules
            .iter()
            .find(|r| r.matches(&method, &path))
            .map(|r| r.fault)
    };
    match fault {
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Fail) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(Fault::Lose) | None => {}
    }
    let answer = send_upstream(&state, req).await;
    if fault == Some(Fault::Lose) {
        std::future::pending::<()>().await;
    }
    answer
}

async fn send_upstream(state: &ProxyState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = format!(
        "{}{}",
        state.upstream,
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    let sent = state
        .client
        .request(parts.method, target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(resp) = sent else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let mut headers = resp.headers().clone();
    // The body is passed on whole, so it is no longer chunked.
    headers.remove(axum::http::header::TRANSFER_ENCODING);
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}
