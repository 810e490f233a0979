//! `/v1/cart`: the caller's own cart. There is no way to name another
//! user's cart: the owner is always the token's subject.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shop_api::cart::{Cart, CartItem, SetQuantity};
use shop_api::product::{ListProducts, Product};
use shop_common::auth::User;
use shop_common::json::JsonObject;
use uuid::Uuid;

use crate::db::cart_lines as db;
use crate::domain::cart::{self, Line, Quantity};
use crate::error::{CartError, Error};
use crate::state::AppState;

/// Read the cart, with prices refreshed from the catalog when it answers
/// within the deadline, else the stored prices marked stale.
#[utoipa::path(
    get, path = "/v1/cart", tag = "cart", operation_id = "get_cart",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cart; `prices_stale` says whether prices are current", body = Cart),
    )
)]
pub async fn get(State(state): State<AppState>, user: User) -> Result<Json<Cart>, Error> {
    let lines = db::lines(&state.db, &user.id).await?;
    if lines.is_empty() {
        return Ok(Json(cart::price(lines, Some(&HashMap::new()))));
    }
    let catalog = fresh_products(&state, &lines).await;
    let outcome = if catalog.is_some() { "fresh" } else { "stale" };
    state
        .business
        .price_refresh
        .with_label_values(&[outcome])
        .inc();
    Ok(Json(cart::price(lines, catalog.as_ref())))
}

/// Current products for the lines, in one batch call, or `None` when the
/// product service does not answer within the refresh deadline.
async fn fresh_products(state: &AppState, lines: &[Line]) -> Option<HashMap<Uuid, Product>> {
    let ids = lines
        .iter()
        .map(|l| l.product_id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let query = ListProducts {
        ids: Some(ids),
        limit: Some(shop_api::product::MAX_PAGE_LIMIT),
        ..Default::default()
    };
    let call = state.product.list(&query);
    match tokio::time::timeout(state.settings.price_refresh_deadline, call).await {
        Ok(Ok(page)) => Some(page.items.into_iter().map(|p| (p.id, p)).collect()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "price refresh failed; serving stored prices");
            None
        }
        Err(_) => {
            tracing::warn!("price refresh timed out; serving stored prices");
            None
        }
    }
}

/// Set how many of a product the cart holds (adding it if new).
#[utoipa::path(
    put, path = "/v1/cart/items/{product_id}", tag = "cart", operation_id = "set_cart_item",
    params(("product_id" = Uuid, Path, description = "Product id")),
    request_body = SetQuantity,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The line as stored", body = CartItem,
            links(
                ("RemoveCartItem" = (operation_id = "remove_cart_item", parameters(("product_id" = "$request.path.product_id")), description = "Take the product out of the cart again")),
            )
        ),
        (status = 400, description = "The product id is not a UUID"),
        (status = 422, description = "Bad quantity, too many lines, other currency, or unknown/archived product"),
        (status = 503, description = "The product service (or the database) is unavailable"),
    )
)]
pub async fn set_quantity(
    State(state): State<AppState>,
    user: User,
    Path(product_id): Path<Uuid>,
    JsonObject(body): JsonObject<SetQuantity>,
) -> Result<Json<CartItem>, Error> {
    let quantity = Quantity::parse(body.quantity)?;
    let product = match state.product.get(product_id).await {
        Ok(p) => p.body,
        Err(e) if e.problem().and_then(|p| p.kind()) == Some(shop_api::ProblemType::NotFound) => {
            return Err(CartError::ProductUnavailable(product_id).into());
        }
        // Anything else (down, slow, or an answer we cannot use) means the
        // catalog cannot vouch for the product right now.
        Err(e) => return Err(CartError::ProductServiceDown(e).into()),
    };
    if product.archived {
        return Err(CartError::ProductUnavailable(product_id).into());
    }
    let line = db::set_quantity(&state.db, &user.id, &product, quantity, |existing| {
        cart::check_addition(existing, &product)
    })
    .await??;
    let priced = cart::price(vec![line], Some(&HashMap::from([(product.id, product)])));
    Ok(Json(
        priced.items.into_iter().next().expect("one line priced"),
    ))
}

/// Remove a product from the cart. Removing one that is not there is a 404.
#[utoipa::path(
    delete, path = "/v1/cart/items/{product_id}", tag = "cart", operation_id = "remove_cart_item",
    params(("product_id" = Uuid, Path, description = "Product id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The product id is not a UUID"),
        (status = 404, description = "The product is not in the cart"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    user: User,
    Path(product_id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    if db::remove(&state.db, &user.id, product_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("cart item"))
    }
}

/// Empty the cart.
#[utoipa::path(
    delete, path = "/v1/cart", tag = "cart", operation_id = "clear_cart",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Emptied"),
    )
)]
pub async fn clear(State(state): State<AppState>, user: User) -> Result<StatusCode, Error> {
    db::clear(&state.db, &user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
