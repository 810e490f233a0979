//! The checkout saga. Each step is a short local transaction or one
//! idempotent call to another service; the order row records how far it
//! got, so a crash at any point leaves something the recovery worker can
//! finish (roll forward) or undo (roll back).
//!
//! 1. record a pending order under (user, Idempotency-Key);
//! 2. read the cart (empty: 422, stored so replays agree);
//! 3. reserve stock, reservation id = order id (out of stock: 409, stored);
//! 4. commit the reservation;
//! 5. confirm the order with the reservation's prices, store the 201;
//! 6. remove exactly the checked-out lines from the cart (retried later if
//!    cart is down);
//! 7. answer 201.
//!
//! A failure of product or cart before anything was reserved fails the
//! order and frees the key (503; the retry starts over): that includes a
//! reserve call that provably never reached product (connection refused,
//! breaker open). After a reservation may exist (the reserve call timed out
//! or was cut off), the order stays pending and the answer is a 503
//! saying "retry with the same key": the worker resolves it, and the retry
//! then replays the outcome. See docs/checkout.md.

use axum::http::StatusCode;
use shop_api::cart::RemoveLines;
use shop_api::order::Checkout;
use shop_api::product::{ReservationLineRequest, ReservationRequest, ReservationStatus};
use shop_api::{ClientError, Problem, ProblemType};
use uuid::Uuid;

use crate::AppState;
use crate::db::orders::{self as db, Begin};
use crate::domain::order;
use crate::error::Error;
use crate::fault::{FaultPoint, maybe_crash};
use shop_common::http_client::REQUEST_ID;

/// A checkout's answer: what is sent now and replayed for the key later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// JSON: an order for 201, a problem otherwise.
    pub body: String,
    pub order_id: Option<Uuid>,
}

impl Answer {
    pub fn is_problem(&self) -> bool {
        !self.status.is_success()
    }
}

/// A stored checkout problem. It carries the request id and path of the
/// request that made it, like every problem; replays send it byte for byte,
/// so they quote the first request (the one whose logs tell the story).
fn problem(kind: ProblemType, detail: &str, product_ids: Vec<Uuid>) -> (StatusCode, String) {
    let mut p = Problem::new(kind)
        .with_detail(detail)
        .with_product_ids(product_ids);
    p.instance = Some("/v1/orders".to_owned());
    p.request_id = REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .filter(|id| !id.is_empty());
    let status = StatusCode::from_u16(p.status).expect("registered status");
    (status, serde_json::to_string(&p).expect("serializable"))
}

/// Runs (or replays) a checkout for `user` under `key`.
pub async fn checkout(
    state: &AppState,
    user: &str,
    key: &str,
    body: &Checkout,
) -> Result<Answer, Error> {
    let canonical = order::canonical(body)?;
    let id = Uuid::now_v7();
    let count = |outcome: &str| state.business.checkouts.with_label_values(&[outcome]).inc();
    match db::begin(&state.db, id, user, key, &canonical, body.note.as_deref()).await? {
        Begin::Started => {}
        Begin::Existing(e) if e.request_body != canonical => {
            return Err(Error::IdempotencyMismatch);
        }
        Begin::Existing(e) => {
            return match (e.response_status, e.response_body) {
                (Some(status), Some(body)) => {
                    count("replayed");
                    Ok(Answer {
                        status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
                        order_id: serde_json::from_str::<shop_api::order::Order>(&body)
                            .ok()
                            .map(|o| o.id),
                        body,
                    })
                }
                _ => {
                    count("in_flight");
                    Err(Error::Conflict(
                        "a checkout with this Idempotency-Key is still in progress; retry shortly",
                    ))
                }
            };
        }
    }

    // 2. Read the cart.
    let cart = match state.cart.stored(user).await {
        Ok(cart) => cart,
        Err(e) => {
            tracing::warn!(error = %e, "checkout: cart unavailable");
            db::fail(&state.db, id, "cart service unavailable", None).await?;
            count("dependency_down");
            return Err(Error::Unavailable(
                "the cart service is unavailable; retry shortly",
            ));
        }
    };
    if cart.lines.is_empty() {
        let (status, body) = problem(ProblemType::Validation, "the cart is empty", vec![]);
        db::fail(&state.db, id, "empty cart", Some((status.as_u16(), &body))).await?;
        count("empty_cart");
        return Ok(Answer {
            status,
            body,
            order_id: None,
        });
    }
    db::save_lines(&state.db, id, &cart.lines).await?;

    // 3. Reserve, with the order id as reservation id: retries and the
    // worker can always find it.
    let request = ReservationRequest {
        id,
        lines: cart
            .lines
            .iter()
            .map(|l| ReservationLineRequest {
                product_id: l.product_id,
                quantity: l.quantity,
            })
            .collect(),
    };
    let reservation = match state.product.reserve(&request).await {
        Ok(r) => r.body,
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::OutOfStock) => {
            let (status, body) = problem(
                ProblemType::OutOfStock,
                "not enough stock for the listed products",
                p.product_ids,
            );
            db::fail(
                &state.db,
                id,
                "out of stock",
                Some((status.as_u16(), &body)),
            )
            .await?;
            count("out_of_stock");
            return Ok(Answer {
                status,
                body,
                order_id: None,
            });
        }
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::ProductUnavailable) => {
            let (status, body) = problem(
                ProblemType::ProductUnavailable,
                "the cart holds products that no longer exist or are archived",
                p.product_ids,
            );
            db::fail(
                &state.db,
                id,
                "products unavailable",
                Some((status.as_u16(), &body)),
            )
            .await?;
            count("unavailable_products");
            return Ok(Answer {
                status,
                body,
                order_id: None,
            });
        }
        // The request never left this process (every connect refused, or
        // the breaker open): no reservation can exist, so this is like a
        // cart failure: the order fails and the key is free at once.
        Err(e) if e.never_reached_peer() => {
            tracing::warn!(error = %e, order = %id, "checkout: product unreachable");
            db::fail(&state.db, id, "product service unreachable", None).await?;
            count("dependency_down");
            return Err(Error::Unavailable(
                "the product service is unavailable; retry shortly",
            ));
        }
        Err(e) => return interrupted(state, id, "reserve", e).await,
    };
    maybe_crash(state.settings.fault_point, FaultPoint::AfterReserve);

    // One order, one currency: a product whose currency changed since it
    // went into the cart is refused before anything is sold.
    let cart_currency = cart.lines.first().map(|l| l.unit_price.currency.as_str());
    if let Some(odd) = order::currency_conflict(&reservation.lines, cart_currency) {
        count("mixed_currencies");
        return match refuse_mixed_currencies(state, id, odd).await? {
            Some(answer) => Ok(answer),
            None => Err(Error::Unavailable(
                "the product service is unavailable; retry with the same Idempotency-Key",
            )),
        };
    }

    // 4. Commit.
    match state.product.commit(id).await {
        Ok(_) => {}
        Err(ClientError::Problem(p)) if p.status == 409 => {
            // The hold expired before we committed: its stock is going back.
            db::fail(&state.db, id, "reservation expired", None).await?;
            count("dependency_down");
            return Err(Error::Unavailable(
                "the checkout took too long; retry with the same Idempotency-Key",
            ));
        }
        Err(e) => return interrupted(state, id, "commit", e).await,
    }
    maybe_crash(state.settings.fault_point, FaultPoint::AfterCommit);

    // 5. Confirm with the reservation's prices.
    let answer = confirm(state, id, &reservation.lines).await?;
    maybe_crash(state.settings.fault_point, FaultPoint::AfterConfirm);

    // 6. Clear the checked-out lines; the worker retries if cart is down.
    clean_cart(state, id, user).await;
    count("confirmed");
    Ok(answer)
}

/// Confirms the order (or, if someone else already resolved it, returns the
/// stored answer).
pub async fn confirm(
    state: &AppState,
    id: Uuid,
    reserved: &[shop_api::product::ReservedLine],
) -> Result<Answer, Error> {
    let (lines, total) = match order::priced_lines(reserved) {
        Ok(priced) => priced,
        // Checked before the commit, so only reachable if that check is
        // bypassed; still, never add amounts in two currencies.
        Err(odd) => {
            return match refuse_mixed_currencies(state, id, odd).await? {
                Some(answer) => Ok(answer),
                None => Err(Error::Unavailable(
                    "the product service is unavailable; retry with the same Idempotency-Key",
                )),
            };
        }
    };
    db::confirm(&state.db, id, &lines, total.as_ref()).await?;
    match db::answer(&state.db, id).await? {
        Some((status, body)) => Ok(Answer {
            status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
            body,
            order_id: Some(id),
        }),
        None => Err(Error::Conflict("the order was resolved elsewhere")),
    }
}

/// Releases the order's reservation and fails the order with a stored 422
/// naming the products whose currency differs. `None` when product could
/// not release it now: the order stays pending and the recovery worker
/// does the same later.
async fn refuse_mixed_currencies(
    state: &AppState,
    id: Uuid,
    odd: Vec<Uuid>,
) -> Result<Option<Answer>, Error> {
    match state.product.release(id).await {
        Ok(_) => {}
        Err(e) if e.problem().is_some_and(|p| p.status == 404) => {}
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "mixed currencies: release deferred");
            return Ok(None);
        }
    }
    let (status, body) = problem(
        ProblemType::ProductUnavailable,
        "one order has one currency, and the listed products are now priced in another: \
         remove them from the cart and add them again to see their current price",
        odd,
    );
    db::fail(
        &state.db,
        id,
        "mixed currencies",
        Some((status.as_u16(), &body)),
    )
    .await?;
    Ok(Some(Answer {
        status,
        body,
        order_id: None,
    }))
}

/// Removes the order's lines from the cart; on failure leaves the
/// follow-up flag for the worker. Idempotent.
pub async fn clean_cart(state: &AppState, id: Uuid, user: &str) {
    let lines = match db::cart_refs(&state.db, id).await {
        Ok(lines) => lines,
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "cart cleanup deferred");
            return;
        }
    };
    match state.cart.remove_lines(user, &RemoveLines { lines }).await {
        Ok(_) => {
            if let Err(e) = db::done_cart_cleanup(&state.db, id).await {
                tracing::warn!(error = %e, order = %id, "cart cleanup done but not recorded; will repeat");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "cart cleanup deferred to the recovery worker")
        }
    }
}

/// product did not give a definite answer at `step`: a reservation may
/// exist. If releasing it succeeds now, the order fails and the key is
/// freed; otherwise the order stays pending for the worker.
async fn interrupted(
    state: &AppState,
    id: Uuid,
    step: &str,
    cause: ClientError,
) -> Result<Answer, Error> {
    tracing::warn!(error = %cause, order = %id, step, "checkout interrupted");
    state
        .business
        .checkouts
        .with_label_values(&["dependency_down"])
        .inc();
    if step == "reserve" {
        match state.product.release(id).await {
            Ok(_) => {
                db::fail(&state.db, id, "product service unavailable", None).await?;
            }
            Err(e) if e.problem().is_some_and(|p| p.status == 404) => {
                db::fail(&state.db, id, "product service unavailable", None).await?;
            }
            Err(_) => {}
        }
    }
    Err(Error::Unavailable(
        "the product service is unavailable; retry with the same Idempotency-Key",
    ))
}

/// What the recovery worker did with one pending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Confirmed,
    Failed,
    /// product could not be asked; try again next round.
    Deferred,
}

/// Rolls a stale pending order forward (reservation held or committed) or
/// back (released, expired or never made).
pub async fn resolve(state: &AppState, id: Uuid, user: &str) -> Result<Resolution, Error> {
    let reservation = match state.product.reservation(id).await {
        Ok(r) => Some(r),
        Err(e) if e.problem().is_some_and(|p| p.status == 404) => None,
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "recovery: product unavailable, deferring");
            return Ok(Resolution::Deferred);
        }
    };
    let Some(reservation) = reservation else {
        db::fail(&state.db, id, "interrupted before stock was reserved", None).await?;
        return Ok(Resolution::Failed);
    };
    if reservation.status == ReservationStatus::Held
        && let Some(odd) = order::currency_conflict(&reservation.lines, None)
    {
        return Ok(match refuse_mixed_currencies(state, id, odd).await? {
            Some(_) => Resolution::Failed,
            None => Resolution::Deferred,
        });
    }
    match reservation.status {
        ReservationStatus::Held => match state.product.commit(id).await {
            Ok(_) => {}
            Err(ClientError::Problem(p)) if p.status == 409 => {
                db::fail(&state.db, id, "reservation expired", None).await?;
                return Ok(Resolution::Failed);
            }
            Err(_) => return Ok(Resolution::Deferred),
        },
        ReservationStatus::Committed => {}
        ReservationStatus::Released | ReservationStatus::Expired => {
            db::fail(&state.db, id, "reservation released", None).await?;
            return Ok(Resolution::Failed);
        }
    }
    confirm(state, id, &reservation.lines).await?;
    clean_cart(state, id, user).await;
    Ok(Resolution::Confirmed)
}
