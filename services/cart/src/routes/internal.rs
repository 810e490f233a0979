//! `/internal/v1/carts`: what the order service needs. Service credential
//! only; the gateway never routes `/internal`.
//!
//! The user is a query parameter, not a path segment: a user id is any
//! token subject, and subjects such as `.` or `..` cannot survive as path
//! segments (URL parsers resolve them, even percent-encoded as `%2E%2E`),
//! while a query value is opaque to every parser.

use axum::Json;
use axum::extract::{Query, State};
use shop_api::cart::{CartOwner, RemoveLines, Removed, StoredCart};
use shop_common::auth::Service;
use shop_common::json::JsonObject;

use crate::db::cart_lines as db;
use crate::domain::cart::Removal;
use crate::error::Error;
use crate::state::AppState;

/// A user's cart as stored, with line revisions.
#[utoipa::path(
    get, path = "/internal/v1/carts", tag = "internal", operation_id = "get_stored_cart",
    params(CartOwner),
    security(("service" = [])),
    responses(
        (status = 200, description = "The cart as stored (no lines for a user without one)", body = StoredCart),
        (status = 400, description = "`user_id` missing, repeated, or an unknown parameter"),
    )
)]
pub async fn stored(
    State(state): State<AppState>,
    _service: Service,
    Query(CartOwner { user_id }): Query<CartOwner>,
) -> Result<Json<StoredCart>, Error> {
    let lines = db::lines(&state.db, &user_id).await?;
    Ok(Json(StoredCart {
        user_id,
        lines: lines.into_iter().map(Into::into).collect(),
    }))
}

/// Remove exactly the lines a checkout took (matching revisions).
#[utoipa::path(
    post, path = "/internal/v1/carts/remove", tag = "internal", operation_id = "remove_cart_lines",
    params(CartOwner),
    request_body = RemoveLines,
    security(("service" = [])),
    responses(
        (status = 200, description = "How many lines went (a line changed since its revision stays)", body = Removed),
        (status = 400, description = "`user_id` missing, repeated, or an unknown parameter"),
        (status = 422, description = "A field missing, unknown or invalid, or more than 50 lines"),
    )
)]
pub async fn remove_lines(
    State(state): State<AppState>,
    _service: Service,
    Query(CartOwner { user_id }): Query<CartOwner>,
    JsonObject(body): JsonObject<RemoveLines>,
) -> Result<Json<Removed>, Error> {
    let removal = Removal::parse(body)?;
    let removed = db::remove_revisions(&state.db, &user_id, &removal).await?;
    Ok(Json(Removed { removed }))
}
