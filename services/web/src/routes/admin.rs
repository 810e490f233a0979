//! The catalog editor, for administrators: create a product, change its
//! price and stock, archive it. Each form is one call to product's admin
//! API with the administrator's token; changes are conditional on the
//! version the page showed (If-Match), so two editors cannot silently undo
//! each other's change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use shop_api::Money;
use shop_api::product::{ListProducts, NewProduct, ProductPatch};
use uuid::Uuid;

use super::{CsrfForm, Visit};
use crate::domain::money;
use crate::error::{Error, WebError, peer, render};
use crate::pages::{AdminPage, AdminProductView};
use crate::state::AppState;

/// Products on one page of the editor.
const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AdminQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// What the last form did, shown once (set by the redirect after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<String>,
}

/// The editor's messages, by the `done` value of the redirect.
fn message(done: &str) -> Option<&'static str> {
    match done {
        "created" => Some("Product created."),
        "saved" => Some("Changes saved."),
        "archived" => Some("Product archived: it is no longer in the catalog."),
        _ => None,
    }
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("/admin?done={what}")).into_response()
}

/// The price as typed in a form: `34.99` for 3499 in a two-decimal currency.
fn price_text(price: &Money) -> String {
    let shown = money::display(price);
    shown
        .rsplit_once(' ')
        .map_or(shown.clone(), |(n, _)| n.to_owned())
}

/// `GET /admin`.
pub async fn show(
    State(state): State<AppState>,
    visit: Visit,
    Query(query): Query<AdminQuery>,
) -> Result<Response, Error> {
    visit.admin()?;
    let page = state
        .product
        .list(&ListProducts {
            limit: Some(PAGE_SIZE),
            cursor: query.cursor.clone(),
            ..ListProducts::default()
        })
        .await
        .map_err(peer("product"))?;
    let products = page
        .items
        .iter()
        .map(|p| AdminProductView {
            id: p.id.to_string(),
            name: p.name.clone(),
            category: p.category.clone(),
            price: price_text(&p.price),
            currency: p.price.currency.clone(),
            stock: p.stock,
            version: p.version,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &AdminPage {
            chrome: visit.chrome("Catalog editor"),
            products,
            next: page.next_cursor.map(|c| format!("/admin?cursor={c}")),
            message: query.done.as_deref().and_then(message).map(str::to_owned),
        },
    ))
}

/// The new-product form.
#[derive(Debug, Deserialize)]
pub struct NewProductForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub price: String,
    pub currency: String,
    pub stock: i32,
}

fn parse_price(text: &str, currency: &str) -> Result<Money, Error> {
    let currency = currency.trim().to_owned();
    money::parse(text, &currency)
        .map(|amount| Money::new(amount, currency))
        .ok_or_else(|| {
            WebError::BadForm(format!("{text:?} is not a price: write it as 19.99")).into()
        })
}

/// `POST /admin/products`. The product API checks every field; its
/// refusal (a name too long, say) is shown as it words it.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { visit, form }: CsrfForm<NewProductForm>,
) -> Result<Response, Error> {
    let admin = visit.admin()?;
    let product = NewProduct {
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        category: form.category.trim().to_owned(),
        price: parse_price(&form.price, &form.currency)?,
        stock: form.stock,
    };
    state
        .product
        .clone()
        .with_bearer(&admin.token)
        .create(&product)
        .await
        .map_err(peer("product"))?;
    Ok(done("created"))
}

/// Applies `patch` if the product is still at `version` (If-Match with the
/// product's ETag, a quoted version); else product answers 412.
async fn patch_if_unchanged(
    state: &AppState,
    token: &str,
    id: Uuid,
    patch: &ProductPatch,
    version: i64,
) -> Result<(), Error> {
    let if_match = format!("\"{version}\"");
    state
        .product
        .clone()
        .with_bearer(token)
        .patch(id, patch, Some(&if_match))
        .await
        .map_err(peer("product"))?;
    Ok(())
}

/// The price-and-stock form, with the version the page showed.
#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    pub version: i64,
    pub price: String,
    pub currency: String,
    pub stock: i32,
}

/// `POST /admin/products/{id}`: new price and stock, if nobody changed the
/// product since the page was shown (else 412, shown as a page).
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { visit, form }: CsrfForm<UpdateForm>,
) -> Result<Response, Error> {
    let admin = visit.admin()?;
    let patch = ProductPatch {
        price: Some(parse_price(&form.price, &form.currency)?),
        stock: Some(form.stock),
        ..ProductPatch::default()
    };
    patch_if_unchanged(&state, &admin.token, id, &patch, form.version).await?;
    Ok(done("saved"))
}

/// The archive form.
#[derive(Debug, Deserialize)]
pub struct ArchiveForm {
    pub version: i64,
}

/// `POST /admin/products/{id}/archive`: out of the catalog (products are
/// never deleted: orders point at them).
pub async fn archive(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { visit, form }: CsrfForm<ArchiveForm>,
) -> Result<Response, Error> {
    let admin = visit.admin()?;
    let patch = ProductPatch {
        archived: Some(true),
        ..ProductPatch::default()
    };
    patch_if_unchanged(&state, &admin.token, id, &patch, form.version).await?;
    Ok(done("archived"))
}
