//! The catalog (search, category filter, keyset pagination) and the
//! product page: public reads of the product API, no sign-in needed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shop_api::cart::MAX_QUANTITY;
use shop_api::product::ListProducts;
use uuid::Uuid;

use super::Visit;
use crate::error::{Error, peer, render};
use crate::pages::{CatalogPage, ProductPage, ProductView};
use crate::state::AppState;

/// Products on one catalog page.
const PAGE_SIZE: u32 = 24;

/// The catalog's query string; empty fields mean "any".
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CatalogQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `GET /`: a page of the catalog.
pub async fn index(
    State(state): State<AppState>,
    visit: Visit,
    Query(query): Query<CatalogQuery>,
) -> Result<Response, Error> {
    let page = state
        .product
        .list(&ListProducts {
            category: some(&query.category),
            q: some(&query.q),
            limit: Some(PAGE_SIZE),
            cursor: query.cursor.clone(),
            ..ListProducts::default()
        })
        .await
        .map_err(peer("product"))?;
    let next = page.next_cursor.map(|cursor| {
        let next = CatalogQuery {
            q: query.q.trim().to_owned(),
            category: query.category.trim().to_owned(),
            cursor: Some(cursor),
        };
        format!(
            "/?{}",
            serde_urlencoded::to_string(&next).unwrap_or_default()
        )
    });
    let title = match some(&query.category) {
        Some(category) => format!("Catalog: {category}"),
        None => "Catalog".to_owned(),
    };
    Ok(render(
        StatusCode::OK,
        &CatalogPage {
            chrome: visit.chrome(title),
            q: query.q.trim().to_owned(),
            category: query.category.trim().to_owned(),
            products: page.items.iter().map(ProductView::from).collect(),
            next,
            signed_in: visit.user().is_ok(),
        },
    ))
}

/// `GET /products/{id}`: one product; 404 for an unknown or archived one.
pub async fn product(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let id: Uuid = id.parse().map_err(|_| Error::NotFound("product"))?;
    let product = state.product.get(id).await.map_err(peer("product"))?.body;
    if product.archived {
        return Err(Error::NotFound("product"));
    }
    Ok(render(
        StatusCode::OK,
        &ProductPage {
            chrome: visit.chrome(product.name.clone()),
            product: ProductView::from(&product),
            signed_in: visit.user().is_ok(),
            max_quantity: MAX_QUANTITY,
        },
    ))
}
