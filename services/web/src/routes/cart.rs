//! The cart page, its forms (add, change a quantity, remove) and the
//! checkout form, each a call to the cart or order API with the user's
//! token.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shop_api::ProblemType;
use shop_api::cart::MAX_QUANTITY;
use shop_api::order::{Checkout, MAX_IDEMPOTENCY_KEY_LEN};
use uuid::Uuid;

use super::{CsrfForm, Visit};
use crate::domain::money;
use crate::error::{Error, WebError, peer, render};
use crate::pages::{CartLineView, CartPage};
use crate::state::AppState;

/// `GET /cart`: the lines with their current prices, or the stored ones
/// marked stale when product did not answer in time (the cart API decides).
pub async fn show(State(state): State<AppState>, visit: Visit) -> Result<Response, Error> {
    let user = visit.user()?;
    let cart = state
        .cart
        .clone()
        .with_bearer(&user.token)
        .get()
        .await
        .map_err(peer("cart"))?;
    let lines = cart
        .items
        .iter()
        .map(|item| CartLineView {
            product_id: item.product_id.to_string(),
            name: item.name.clone(),
            quantity: item.quantity,
            unit_price: money::display(&item.unit_price),
            line_total: money::display(&item.line_total),
            available: item.available,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &CartPage {
            chrome: visit.chrome("Your cart"),
            lines,
            total: cart.total.as_ref().map(money::display),
            prices_stale: cart.prices_stale,
            // A new key for each rendering of the page: one key per
            // checkout the person means to make.
            checkout_key: Uuid::now_v7().to_string(),
            max_quantity: MAX_QUANTITY,
        },
    ))
}

/// The add-to-cart form.
#[derive(Debug, Deserialize)]
pub struct AddForm {
    pub product_id: Uuid,
    pub quantity: i32,
}

/// The quantity form.
#[derive(Debug, Deserialize)]
pub struct QuantityForm {
    pub quantity: i32,
}

/// Forms whose only field is the CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

fn quantity(q: i32) -> Result<i32, Error> {
    if (1..=MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(WebError::BadForm(format!("a quantity is 1 to {MAX_QUANTITY}")).into())
    }
}

/// `POST /cart/items`: adds `quantity` to what the cart holds of the
/// product (the API sets quantities; adding is the store's idea), capped at
/// the most a line may hold.
pub async fn add(
    State(state): State<AppState>,
    CsrfForm { visit, form }: CsrfForm<AddForm>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    let adding = quantity(form.quantity)?;
    let cart = state.cart.clone().with_bearer(&user.token);
    let held = cart
        .get()
        .await
        .map_err(peer("cart"))?
        .items
        .iter()
        .find(|i| i.product_id == form.product_id)
        .map_or(0, |i| i.quantity);
    let wanted = (held + adding).min(MAX_QUANTITY);
    cart.set_quantity(form.product_id, wanted)
        .await
        .map_err(peer("cart"))?;
    Ok(Redirect::to("/cart").into_response())
}

/// `POST /cart/items/{product_id}`: sets a line's quantity.
pub async fn set_quantity(
    State(state): State<AppState>,
    Path(product_id): Path<Uuid>,
    CsrfForm { visit, form }: CsrfForm<QuantityForm>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    state
        .cart
        .clone()
        .with_bearer(&user.token)
        .set_quantity(product_id, quantity(form.quantity)?)
        .await
        .map_err(peer("cart"))?;
    Ok(Redirect::to("/cart").into_response())
}

/// `POST /cart/items/{product_id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    Path(product_id): Path<Uuid>,
    CsrfForm { visit, .. }: CsrfForm<NoFields>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    state
        .cart
        .clone()
        .with_bearer(&user.token)
        .remove_item(product_id)
        .await
        .map_err(peer("cart"))?;
    Ok(Redirect::to("/cart").into_response())
}

/// The checkout form: the key the cart page was rendered with.
#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    pub idempotency_key: String,
}

/// How often, and how long apart, a submission whose key is still in
/// flight (the first click's request is still running) asks again for
/// the first one's answer.
const IN_FLIGHT_POLLS: u32 = 40;
const IN_FLIGHT_POLL_EVERY: Duration = Duration::from_millis(100);

/// `POST /checkout`: checks out with the form's key, then redirects to the
/// order (POST/redirect/GET). A second submission of the same form (a
/// double click, a reload, back and submit again) sends the same key, so
/// the order API replays the first order instead of placing another; if
/// the first is still running, this waits for its answer.
pub async fn checkout(
    State(state): State<AppState>,
    CsrfForm { visit, form }: CsrfForm<CheckoutForm>,
) -> Result<Response, Error> {
    let user = visit.user()?;
    let key = form.idempotency_key.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(WebError::BadForm("the checkout form has no valid key".into()).into());
    }
    let order = state.order.clone().with_bearer(&user.token);
    let counter = &state.business.checkouts;
    let mut polls = 0;
    let answer = loop {
        match order.checkout(key, &Checkout::default()).await {
            Err(e)
                if polls < IN_FLIGHT_POLLS
                    && e.problem().and_then(|p| p.kind()) == Some(ProblemType::Conflict) =>
            {
                polls += 1;
                tokio::time::sleep(IN_FLIGHT_POLL_EVERY).await;
            }
            other => break other,
        }
    };
    match answer {
        Ok(placed) => {
            counter.with_label_values(&["ordered"]).inc();
            Ok(Redirect::to(&format!("/orders/{}", placed.body.id)).into_response())
        }
        Err(e) => {
            let outcome = if e.is_unavailable() {
                "unavailable"
            } else {
                "refused"
            };
            counter.with_label_values(&[outcome]).inc();
            Err(peer("order")(e))
        }
    }
}
