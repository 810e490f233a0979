//! The admin port: `/livez`, `/readyz` and `/metrics`, kept off the API port
//! so probes and scrapes never compete with (or get routed like) user
//! traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::error::{ApiError, ProblemType};
use crate::metrics::Metrics;

/// Whether the service is shutting down. Readiness reports 503 from the
/// moment this is set, so load balancers stop sending traffic before the
/// listener closes.
#[derive(Clone, Default, Debug)]
pub struct Readiness {
    shutting_down: Arc<AtomicBool>,
}

impl Readiness {
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// What the admin endpoints look at.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub pool: sqlx::PgPool,
}

/// How long readiness waits for the database before calling it down.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Liveness: the process answers. It never touches the database, so a
/// database outage makes pods unready, not restarted in a loop.
async fn livez() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Readiness: not shutting down and the database answers.
async fn readyz(State(state): State<AdminState>) -> Response {
    if state.readiness.is_shutting_down() {
        return ApiError::new(ProblemType::Unavailable, "shutting down").into_response();
    }
    let ping = sqlx::query("SELECT 1").execute(&state.pool);
    match tokio::time::timeout(DB_CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => axum::Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            ApiError::new(ProblemType::Unavailable, "database unavailable").into_response()
        }
        Err(_) => {
            ApiError::new(ProblemType::Unavailable, "database check timed out").into_response()
        }
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    state.metrics.observe_pool(&state.pool);
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
