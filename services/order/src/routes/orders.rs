//! `/v1/orders`: checkout and the caller's orders. Another user's order is
//! 404 on every route, exactly like one that does not exist.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shop_api::order::{Checkout, IDEMPOTENCY_KEY, ListOrders, Order, OrderPage};
use shop_common::auth::User;
use shop_common::error::PROBLEM_JSON;
use shop_common::json::JsonObject;
use shop_common::pagination;
use uuid::Uuid;

use crate::db::orders::{self as db, Cancel};
use crate::domain::order::{IdempotencyKey, ListQuery, ValidCheckout};
use crate::error::{Error, OrderError};
use crate::saga;
use crate::state::AppState;

/// The `Idempotency-Key` header, parsed as an extractor so that a bad key
/// is refused before the body is read.
impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(IDEMPOTENCY_KEY)
            .map(HeaderValue::as_bytes);
        IdempotencyKey::parse(header).map_err(|e| OrderError::BadRequest(e).into())
    }
}

/// Check out the caller's whole cart. Safe to retry with the same
/// `Idempotency-Key`: the first answer is replayed.
#[utoipa::path(
    post, path = "/v1/orders", tag = "orders", operation_id = "checkout",
    request_body = Checkout,
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters, unique per checkout attempt")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Confirmed. Replays answer the same.", body = Order,
            headers(("Location" = String, description = "The order's URL, `/v1/orders/{id}`")),
            links(
                ("GetOrder" = (operation_id = "get_order", parameters(("id" = "$response.body#/id")), description = "Read the new order")),
                ("CancelOrder" = (operation_id = "cancel_order", parameters(("id" = "$response.body#/id")), description = "Cancel the new order")),
            )
        ),
        (status = 400, description = "Missing or malformed Idempotency-Key"),
        (status = 409, description = "Out of stock (stored), or this key is still in flight"),
        (status = 422, description = "Empty cart or unavailable products (stored), key reused with another body, or invalid body"),
        (status = 503, description = "A dependency is down: retry with the same key"),
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    user: User,
    key: IdempotencyKey,
    JsonObject(body): JsonObject<Checkout>,
) -> Result<Response, Error> {
    let body = ValidCheckout::parse(body)?;
    let answer = saga::checkout(&state, &user.id, &key, &body).await?;
    let content_type = if answer.is_problem() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let created = status == StatusCode::CREATED;
    let location = created
        .then(|| serde_json::from_str::<Order>(&answer.body).ok())
        .flatten()
        .map(|o| format!("/v1/orders/{}", o.id));
    let mut resp = (status, answer.body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The caller's orders, newest first.
#[utoipa::path(
    get, path = "/v1/orders", tag = "orders", operation_id = "list_orders",
    params(ListOrders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = OrderPage),
        (status = 400, description = "An unknown parameter, a repeated one, or a value that does not parse (`limit=x`)"),
        (status = 422, description = "A parameter out of range or of the wrong shape (each listed in `errors`)"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<ListOrders>,
) -> Result<Json<OrderPage>, Error> {
    let query = ListQuery::parse(query)?;
    let (items, more) = db::list(&state.db, &user.id, &query).await?;
    let next_cursor = match items.last() {
        Some(last) if more => Some(pagination::encode_cursor(last.id)),
        _ => None,
    };
    Ok(Json(OrderPage { items, next_cursor }))
}

/// One of the caller's orders.
#[utoipa::path(
    get, path = "/v1/orders/{id}", tag = "orders", operation_id = "get_order",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = Order,
            links(
                ("CancelOrder" = (operation_id = "cancel_order", parameters(("id" = "$request.path.id")), description = "Cancel this order")),
            )
        ),
        (status = 400, description = "The id is not a UUID"),
        (status = 404, description = "No order with this id among the caller's"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<Order>, Error> {
    db::get(&state.db, &user.id, id)
        .await?
        .map(Json)
        .ok_or(Error::NotFound("order"))
}

/// Cancel a confirmed order and return its stock. Idempotent.
#[utoipa::path(
    post, path = "/v1/orders/{id}/cancel", tag = "orders", operation_id = "cancel_order",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled (its stock is released now, or by the recovery worker if product is down)", body = Order,
            links(
                ("GetOrder" = (operation_id = "get_order", parameters(("id" = "$request.path.id")), description = "Read the cancelled order")),
            )
        ),
        (status = 400, description = "The id is not a UUID"),
        (status = 404, description = "No order with this id among the caller's"),
        (status = 409, description = "Pending or failed orders cannot be cancelled"),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<Order>, Error> {
    match db::cancel(&state.db, &user.id, id).await? {
        Cancel::NotFound => return Err(Error::NotFound("order")),
        Cancel::NotCancellable => {
            return Err(Error::Conflict("only confirmed orders can be cancelled"));
        }
        Cancel::Cancelled => {}
    }
    saga::release_stock(&state, id).await;
    db::get(&state.db, &user.id, id)
        .await?
        .map(Json)
        .ok_or(Error::NotFound("order"))
}
