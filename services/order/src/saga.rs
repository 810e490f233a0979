//! The checkout saga's driver: it performs what the state machine in
//! [`domain::checkout`](crate::domain::checkout) decides, one action at a
//! time, and feeds each result back as an event. The machine holds every
//! decision; this file holds only I/O: the order row, the calls to cart and
//! product, and the crash points of the tests. The request path
//! ([`checkout`]) and the recovery worker ([`resolve`]) share [`drive`].
//!
//! docs/checkout.md walks the machine with a diagram of its states.

use shop_api::cart::{LineRef, RemoveLines, StoredLine};
use shop_api::order::OrderLine;
use shop_api::product::{ReservationLineRequest, ReservationRequest, ReservationStatus};
use shop_api::{ClientError, Money, ProblemType};
use uuid::Uuid;

use crate::db::orders::{self as db, Begin};
use crate::domain::checkout::{
    self, Action, CommitReply, Event, Lookup, Outcome, Progress, Reply, ReserveReply, Step,
};
use crate::domain::order::{IdempotencyKey, ValidCheckout};
use crate::error::{self, Error, OrderError};
use crate::fault::{FaultPoint, maybe_crash};
use crate::state::AppState;

/// An answer stored for a key: sent now and replayed for retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// JSON: an order for 201, a problem otherwise.
    pub body: String,
}

impl Answer {
    pub fn is_problem(&self) -> bool {
        !(200..300).contains(&self.status)
    }
}

/// A finished drive: the outcome, and the stored answer when there is one
/// (a placed order, a refusal).
#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    pub answer: Option<Answer>,
}

/// The order a drive works on.
#[derive(Debug, Clone, Copy)]
pub struct Ticket<'a> {
    pub order: db::Pending<'a>,
    pub user: &'a str,
}

/// Runs (or replays) a checkout for `user` under `key`.
pub async fn checkout(
    state: &AppState,
    user: &str,
    key: &IdempotencyKey,
    body: &ValidCheckout,
) -> Result<Answer, Error> {
    let id = Uuid::now_v7();
    let count = |outcome: &str| state.business.checkouts.with_label_values(&[outcome]).inc();
    // The cart first, then the order with the lines it read, in one
    // statement. A replay wastes that read; a new checkout, the common
    // case, saves a transaction (the lines saved on their own).
    let cart = state.cart.stored(user).await;
    let lines = cart.as_ref().map_or(&[][..], |c| &c.lines[..]);
    let begun = db::begin(&state.db, id, user, key, body, lines).await;
    let created_at = match begun? {
        Begin::Started(created_at) => created_at,
        Begin::Existing(e) if e.request_body != body.canonical() => {
            return Err(OrderError::IdempotencyMismatch.into());
        }
        Begin::Existing(e) => {
            return match (e.response_status, e.response_body) {
                (Some(status), Some(body)) => {
                    count("replayed");
                    Ok(Answer {
                        status: u16::try_from(status).unwrap_or(500),
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
    };
    let order = db::Pending {
        id,
        note: body.note(),
        created_at,
    };
    let cart = Event::Cart(reply(cart).map(|c| c.lines));
    let finished = drive(state, Ticket { order, user }, Progress::Recorded, cart).await?;
    count(finished.outcome.label());
    match finished.answer {
        Some(answer) => Ok(answer),
        None => Err(error::retry(&finished.outcome)),
    }
}

/// What the recovery worker did with one pending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Confirmed,
    Failed,
    /// product could not tell or act; try again next round.
    Deferred,
}

/// Finishes (rolls forward) or undoes (rolls back) a stale pending order,
/// starting from what product says about its reservation.
pub async fn resolve(state: &AppState, order: &db::Claimed) -> Result<Resolution, Error> {
    let lookup = lookup(state, order.id).await;
    let ticket = Ticket {
        order: order.pending(),
        user: &order.user_id,
    };
    let finished = drive(state, ticket, Progress::Recorded, Event::Found(lookup)).await?;
    Ok(match finished.outcome {
        Outcome::Placed => Resolution::Confirmed,
        Outcome::Refused(_) | Outcome::Retry(_) => Resolution::Failed,
        Outcome::Pending => Resolution::Deferred,
    })
}

/// Performs the machine's actions from `progress` and `event` until it
/// finishes. Every action is one local transaction or one idempotent call,
/// so a crash anywhere leaves a state a later drive can continue from.
pub async fn drive(
    state: &AppState,
    ticket: Ticket<'_>,
    mut progress: Progress,
    mut event: Event,
) -> Result<Finished, Error> {
    let id = ticket.order.id;
    // The cart lines this drive saved, if it read the cart: the cleanup
    // needs them and need not read them back.
    let mut saved: Option<Vec<LineRef>> = None;
    loop {
        let Step {
            progress: next,
            action,
        } = checkout::next(progress, event);
        progress = next;
        event = match action {
            Action::Reserve(lines) => {
                // `checkout` saved these lines with the order.
                saved = Some(lines.iter().map(line_ref).collect());
                maybe_crash(state.settings.fault_point, FaultPoint::BeforeReserve);
                let reply = reserve(state, id, &lines).await;
                if let ReserveReply::Reserved(_) = reply {
                    maybe_crash(state.settings.fault_point, FaultPoint::AfterReserve);
                }
                Event::Reserve(reply)
            }
            Action::Commit => Event::Commit(commit(state, id).await),
            Action::Release => Event::Release(reply(state.product.release(id).await).map(|_| ())),
            Action::Confirm { lines, total } => {
                // The cart is cleaned before the order is confirmed, so the
                // confirm can record in the same statement whether the
                // cleanup is still owed: no flag to clear afterwards. This
                // order is safe because the stock is sold: from here the
                // order can only end confirmed (by this drive or by the
                // worker's roll-forward). A drive that did not read the
                // cart (the worker's) owes the cleanup, which the worker
                // does right after the same way.
                let cart_cleaned = match saved {
                    Some(refs) => clean_cart(state, id, ticket.user, refs).await,
                    None => false,
                };
                maybe_crash(state.settings.fault_point, FaultPoint::AfterCleanup);
                let answer =
                    confirm(state, ticket.order, &lines, total.as_ref(), !cart_cleaned).await?;
                maybe_crash(state.settings.fault_point, FaultPoint::AfterConfirm);
                return Ok(Finished {
                    outcome: Outcome::Placed,
                    answer: Some(answer),
                });
            }
            Action::Finish(outcome) => return record(state, id, outcome).await,
        };
    }
}

fn line_ref(line: &StoredLine) -> LineRef {
    LineRef {
        product_id: line.product_id,
        revision: line.revision,
    }
}

/// Records how a checkout ended: a refusal is stored as its answer, a
/// retry frees the key, a pending order is left for the worker.
async fn record(state: &AppState, id: Uuid, outcome: Outcome) -> Result<Finished, Error> {
    let answer = match &outcome {
        Outcome::Refused(refusal) => {
            let problem = error::refusal(refusal);
            let answer = Answer {
                status: problem.status,
                body: serde_json::to_string(&problem).expect("a problem serializes"),
            };
            let stored = Some((answer.status, answer.body.as_str()));
            if db::fail(&state.db, id, outcome.label(), stored).await? {
                Some(answer)
            } else {
                stored_answer(state, id).await?
            }
        }
        Outcome::Retry(_) => {
            db::fail(&state.db, id, outcome.label(), None).await?;
            None
        }
        Outcome::Pending | Outcome::Placed => None,
    };
    if let Outcome::Pending = outcome {
        tracing::warn!(order = %id, "checkout interrupted; the recovery worker will finish it");
    }
    Ok(Finished { outcome, answer })
}

/// Confirms the order at `lines`' prices and stores the 201, recording
/// whether its cart still needs cleaning (`cleanup_owed`); if someone else
/// resolved it first, their stored answer.
async fn confirm(
    state: &AppState,
    order: db::Pending<'_>,
    lines: &[OrderLine],
    total: Option<&Money>,
    cleanup_owed: bool,
) -> Result<Answer, Error> {
    match db::confirm(&state.db, order, lines, total, cleanup_owed).await? {
        Some(body) => Ok(Answer { status: 201, body }),
        None => stored_answer(state, order.id)
            .await?
            .ok_or(Error::Conflict("the order was resolved elsewhere")),
    }
}

async fn stored_answer(state: &AppState, id: Uuid) -> Result<Option<Answer>, Error> {
    Ok(db::answer(&state.db, id)
        .await?
        .map(|(status, body)| Answer {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }))
}

/// A call's result as the machine sees it.
fn reply<T>(result: Result<T, ClientError>) -> Reply<T> {
    match result {
        Ok(v) => Reply::Ok(v),
        Err(e) if e.never_reached_peer() => Reply::NeverReached,
        Err(e) => {
            tracing::warn!(error = %e, "a checkout call got no definite answer");
            Reply::Unknown
        }
    }
}

/// Reserves the cart's lines with the order id as reservation id, so a
/// retry or the worker can always find the reservation, and sells them in
/// the same call (`commit`): the pending order already records the sale,
/// so a hold would add a call and a transaction and protect nothing (a
/// crash after this call is rolled forward by the worker all the same).
async fn reserve(state: &AppState, id: Uuid, lines: &[StoredLine]) -> ReserveReply {
    let request = ReservationRequest {
        id,
        commit: true,
        lines: lines
            .iter()
            .map(|l| ReservationLineRequest {
                product_id: l.product_id,
                quantity: l.quantity,
            })
            .collect(),
    };
    match state.product.reserve(&request).await {
        Ok(r) => ReserveReply::Reserved(r.body.lines),
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::OutOfStock) => {
            ReserveReply::OutOfStock(p.product_ids)
        }
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::ProductUnavailable) => {
            ReserveReply::Unavailable(p.product_ids)
        }
        Err(e) => match reply::<()>(Err(e)) {
            Reply::NeverReached => ReserveReply::NeverReached,
            _ => ReserveReply::Unknown,
        },
    }
}

async fn commit(state: &AppState, id: Uuid) -> CommitReply {
    match state.product.commit(id).await {
        Ok(_) => CommitReply::Committed,
        // Released or expired before the commit: its stock is going back.
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::Conflict) => {
            CommitReply::Gone
        }
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "commit got no definite answer");
            CommitReply::Unknown
        }
    }
}

/// What product says about an order's reservation.
async fn lookup(state: &AppState, id: Uuid) -> Lookup {
    match state.product.reservation(id).await {
        Ok(r) => match r.status {
            ReservationStatus::Held => Lookup::Held(r.lines),
            ReservationStatus::Committed => Lookup::Committed(r.lines),
            ReservationStatus::Released | ReservationStatus::Expired => Lookup::Gone,
        },
        Err(ClientError::Problem(p)) if p.kind() == Some(ProblemType::NotFound) => Lookup::Missing,
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "recovery: product unavailable, deferring");
            Lookup::Unknown
        }
    }
}

/// The recovery worker's cart cleanup: the order's saved lines out of the
/// cart, then its flag cleared at once (not batched: the worker is on
/// nobody's path, and a flag left set would make it claim the order
/// again). Idempotent.
pub async fn clean_cart_now(state: &AppState, id: Uuid, user: &str) -> Result<(), Error> {
    let refs = db::cart_refs(&state.db, id).await?;
    if clean_cart(state, id, user, refs).await {
        db::done_cart_cleanup(&state.db, id).await?;
    }
    Ok(())
}

/// Removes the order's lines (`refs`) from the cart. True when they are
/// gone; false leaves the cleanup to the worker (the order's flag stays
/// or is set). Idempotent.
async fn clean_cart(state: &AppState, id: Uuid, user: &str, refs: Vec<LineRef>) -> bool {
    match state
        .cart
        .remove_lines(user, &RemoveLines { lines: refs })
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, order = %id, "cart cleanup deferred to the recovery worker");
            false
        }
    }
}

/// Returns a cancelled order's stock; on failure the flag stays for the
/// recovery worker's next round. Idempotent.
pub async fn release_stock(state: &AppState, id: Uuid) {
    match state.product.release(id).await {
        Ok(_) => {
            if let Err(e) = db::done_stock_release(&state.db, id).await {
                tracing::warn!(error = %e, order = %id, "stock released but not recorded; will repeat");
            }
        }
        Err(e) => tracing::warn!(error = %e, order = %id, "stock release deferred"),
    }
}
