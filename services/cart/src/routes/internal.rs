//! `/internal/v1/carts`: what the order service needs. Service credential
//! only; the gateway never routes `/internal`.

use axum::Json;
use axum::extract::{Path, State};
use shop_api::Problem;
use shop_api::cart::{RemoveLines, Removed, StoredCart};
use shop_common::auth::Service;

use crate::AppState;
use crate::db::lines as db;
use crate::error::Error;

/// A user's cart as stored, with line revisions.
#[utoipa::path(
    get, path = "/internal/v1/carts/{user_id}", tag = "internal",
    params(("user_id" = String, Path, description = "The user (token subject)")),
    security(("service" = [])),
    responses((status = 200, body = StoredCart))
)]
pub async fn stored(
    State(state): State<AppState>,
    _service: Service,
    Path(user_id): Path<String>,
) -> Result<Json<StoredCart>, Error> {
    let lines = db::lines(&state.db, &user_id).await?;
    Ok(Json(StoredCart {
        user_id,
        lines: lines.into_iter().map(Into::into).collect(),
    }))
}

/// Remove exactly the lines a checkout took (matching revisions).
#[utoipa::path(
    post, path = "/internal/v1/carts/{user_id}/remove", tag = "internal",
    params(("user_id" = String, Path, description = "The user (token subject)")),
    request_body = RemoveLines,
    security(("service" = [])),
    responses(
        (status = 200, body = Removed),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove_lines(
    State(state): State<AppState>,
    _service: Service,
    Path(user_id): Path<String>,
    Json(body): Json<RemoveLines>,
) -> Result<Json<Removed>, Error> {
    if body.lines.len() > shop_api::cart::MAX_LINES {
        return Err(Error::Validation(vec![shop_api::FieldError {
            field: "lines".into(),
            message: format!("at most {} lines", shop_api::cart::MAX_LINES),
        }]));
    }
    let removed = db::remove_revisions(&state.db, &user_id, &body.lines).await?;
    Ok(Json(Removed { removed }))
}
