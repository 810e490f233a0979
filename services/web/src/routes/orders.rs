//! My orders, one order (with product names from the catalog: the page
//! joins two services' answers, which is what a BFF is for) and the cancel
//! form.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shop_api::order::{ListOrders, Order, OrderStatus};
use shop_api::product::ListProducts;
use uuid::Uuid;

use super::cart::NoFields;
use super::{CsrfForm, Visit};
use crate::domain::money;
use crate::error::{Error, peer, render};
use crate::pages::{OrderLineView, OrderPage, OrderRow, OrdersPage};
use crate::state::AppState;

/// Orders on one page of the list.
const PAGE_SIZE: u32 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    pub cursor: Option<String>,
}

fn when(order: &Order) -> String {
    order.created_at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn total(order: &Order) -> String {
    order
        .total
        .as_ref()
        .map_or_else(|| "-".to_owned(), money::display)
}

/// `GET /orders`: the user's orders, newest first.
pub async fn list(
    State(state): State<AppState>,
    visit: Visit,
    Query(query): Query<OrdersQuery>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    let page = state
        .order
        .clone()
        .with_bearer(&user.token)
        .list(&ListOrders {
            limit: Some(PAGE_SIZE),
            cursor: query.cursor,
        })
        .await
        .map_err(peer("order"))?;
    let orders = page
        .items
        .iter()
        .map(|o| OrderRow {
            id: o.id.to_string(),
            status: o.status.as_str(),
            total: total(o),
            created: when(o),
            lines: o.lines.len(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &OrdersPage {
            chrome: visit.chrome("Your orders"),
            orders,
            next: page.next_cursor.map(|c| format!("/orders?cursor={c}")),
        },
    ))
}

/// Product names for `ids`, from one list call; a product the catalog no
/// longer shows keeps its id as its name.
async fn names(state: &AppState, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let page = state
        .product
        .list(&ListProducts {
            ids: Some(ids.join(",")),
            limit: Some(shop_api::product::MAX_PAGE_LIMIT),
            ..ListProducts::default()
        })
        .await
        .map_err(peer("product"))?;
    Ok(page.items.into_iter().map(|p| (p.id, p.name)).collect())
}

/// `GET /orders/{id}`: one order; 404 for an unknown one or another
/// user's (the order API cannot tell them apart, by design).
pub async fn show(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    let id: Uuid = id.parse().map_err(|_| Error::NotFound("order"))?;
    let order = state
        .order
        .clone()
        .with_bearer(&user.token)
        .get(id)
        .await
        .map_err(peer("order"))?;
    let names = names(&state, order.lines.iter().map(|l| l.product_id).collect()).await?;
    let lines = order
        .lines
        .iter()
        .map(|l| OrderLineView {
            product_id: l.product_id.to_string(),
            name: names
                .get(&l.product_id)
                .cloned()
                .unwrap_or_else(|| l.product_id.to_string()),
            quantity: l.quantity,
            unit_price: money::display(&l.unit_price),
            line_total: money::display(&l.line_total),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &OrderPage {
            chrome: visit.chrome(format!("Order {}", order.id)),
            id: order.id.to_string(),
            status: order.status.as_str(),
            total: total(&order),
            created: when(&order),
            note: order.note.clone(),
            failure_reason: order.failure_reason.clone(),
            // The order API cancels confirmed orders only.
            cancellable: order.status == OrderStatus::Confirmed,
            lines,
        },
    ))
}

/// `POST /orders/{id}/cancel`: cancels (the order API returns the stock),
/// then shows the order.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { visit, .. }: CsrfForm<NoFields>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    state
        .order
        .clone()
        .with_bearer(&user.token)
        .cancel(id)
        .await
        .map_err(peer("order"))?;
    Ok(Redirect::to(&format!("/orders/{id}")).into_response())
}
