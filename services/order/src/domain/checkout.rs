//! The checkout saga as a state machine: where a checkout stands
//! ([`Progress`]) and what a step came to ([`Event`]) go in; what happens
//! next ([`Step`]: the new progress and the [`Action`] to perform) comes
//! out. No I/O, no HTTP, no SQL: `saga.rs` performs the actions, for the
//! request path and the recovery worker alike, and the handler turns the
//! final [`Outcome`] into a response.
//!
//! The one rule behind every transition: until product may hold stock for
//! the order, any failure fails the order and frees its key (a retry starts
//! over); once it may, the order stays pending unless the machine knows
//! where the stock is, and the recovery worker finds out later. See the
//! diagram in docs/checkout.md.

use shop_api::Money;
use shop_api::cart::StoredLine;
use shop_api::order::OrderLine;
use shop_api::product::ReservedLine;
use uuid::Uuid;

use super::order;

/// How far a checkout has got (the order row records it: a pending order,
/// its saved lines, and what product holds for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A pending order is recorded under the key; nothing else happened.
    Recorded,
    /// The cart's lines are saved with the order and a reservation asked for.
    Reserving {
        /// The cart's currency, which every reserved price must share.
        currency: Option<String>,
    },
    /// Stock may be held: a release was asked for, and why.
    Releasing(Why),
    /// product holds stock for the order; a commit was asked for (the
    /// recovery worker's path only: the request path sells at once).
    Committing { lines: Vec<ReservedLine> },
    /// product sold the stock for the order: only the confirm is left.
    Sold { lines: Vec<ReservedLine> },
}

/// Why a reservation is being released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The reserve call got no definite answer: stock may be held for an
    /// order this request is about to give up on.
    Interrupted,
    /// The reserved prices are in more than one currency.
    MixedCurrencies(Vec<Uuid>),
}

/// What a step came to: a peer's answer, reduced to what the saga needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The cart as stored (read while the order was recorded: the request
    /// path starts the machine with it).
    Cart(Reply<Vec<StoredLine>>),
    Reserve(ReserveReply),
    Commit(CommitReply),
    Release(Reply<()>),
    /// The recovery worker asked product about a stale pending order.
    Found(Lookup),
}

/// A call that either worked, provably never reached the peer (no effect),
/// or ended without a definite answer (it may have had its effect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    Ok(T),
    NeverReached,
    Unknown,
}

impl<T> Reply<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        match self {
            Self::Ok(v) => Reply::Ok(f(v)),
            Self::NeverReached => Reply::NeverReached,
            Self::Unknown => Reply::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveReply {
    /// Sold: the request path reserves and commits in one call.
    Reserved(Vec<ReservedLine>),
    OutOfStock(Vec<Uuid>),
    Unavailable(Vec<Uuid>),
    NeverReached,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitReply {
    Committed,
    /// The hold was released or expired before the commit (409).
    Gone,
    Unknown,
}

/// What product says about an order's reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Held(Vec<ReservedLine>),
    Committed(Vec<ReservedLine>),
    /// Released or expired: its stock went back.
    Gone,
    /// No reservation with the order's id.
    Missing,
    Unknown,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Reserve these lines (saved with the order) and sell them at once.
    Reserve(Vec<StoredLine>),
    /// Commit a held reservation (the recovery worker found one).
    Commit,
    Release,
    /// Confirm the order at these prices, clean the cart, answer 201.
    Confirm {
        lines: Vec<OrderLine>,
        total: Option<Money>,
    },
    /// Record the outcome and stop.
    Finish(Outcome),
}

/// How a checkout ends (for now: `Pending` is picked up again later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Confirmed: stock sold, order stands.
    Placed,
    /// Refused for good: the answer is stored and replayed for the key.
    Refused(Refusal),
    /// Failed before anything could be sold; the key is freed, so a retry
    /// starts over.
    Retry(Cause),
    /// Stock may be held and nobody knows: the order stays pending for the
    /// recovery worker; a retry with the same key gets its result.
    Pending,
}

/// A checkout refused with an answer the client can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    EmptyCart,
    OutOfStock(Vec<Uuid>),
    Unavailable(Vec<Uuid>),
    MixedCurrencies(Vec<Uuid>),
}

/// Why a checkout failed without an answer worth storing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    CartDown,
    ProductDown,
    /// The hold expired (or was released) before it was committed.
    HoldExpired,
    /// A crash hit before the reserve call (the worker found nothing).
    NothingReserved,
}

impl Outcome {
    /// The `outcome` label of the checkout metric, and the failure reason
    /// an order keeps.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Placed => "confirmed",
            Self::Refused(Refusal::EmptyCart) => "empty_cart",
            Self::Refused(Refusal::OutOfStock(_)) => "out_of_stock",
            Self::Refused(Refusal::Unavailable(_)) => "unavailable_products",
            Self::Refused(Refusal::MixedCurrencies(_)) => "mixed_currencies",
            Self::Retry(Cause::CartDown) => "cart_down",
            Self::Retry(Cause::ProductDown) => "product_down",
            Self::Retry(Cause::HoldExpired) => "hold_expired",
            Self::Retry(Cause::NothingReserved) => "nothing_reserved",
            Self::Pending => "interrupted",
        }
    }
}

/// One transition: the progress to record and the action to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub progress: Progress,
    pub action: Action,
}

fn step(progress: Progress, action: Action) -> Step {
    Step { progress, action }
}

fn finish(progress: Progress, outcome: Outcome) -> Step {
    step(progress, Action::Finish(outcome))
}

/// The next step of a checkout at `progress` after `event`. Pairs that
/// cannot happen (a commit reply while reading the cart) leave the order
/// pending, which is always safe: the recovery worker asks product.
pub fn next(progress: Progress, event: Event) -> Step {
    use Progress::*;
    match (progress, event) {
        // 2. The cart. Nothing is reserved yet, so any failure frees the key.
        (Recorded, Event::Cart(Reply::Ok(lines))) if lines.is_empty() => {
            finish(Recorded, Outcome::Refused(Refusal::EmptyCart))
        }
        (Recorded, Event::Cart(Reply::Ok(lines))) => step(
            Reserving {
                currency: lines.first().map(|l| l.unit_price.currency.clone()),
            },
            Action::Reserve(lines),
        ),
        (Recorded, Event::Cart(_)) => finish(Recorded, Outcome::Retry(Cause::CartDown)),

        // 3. The sale: reserved and committed in one call, because the
        // pending order already records what is being sold.
        (Reserving { currency }, Event::Reserve(ReserveReply::Reserved(lines))) => {
            match order::currency_conflict(&lines, currency.as_deref()) {
                Some(odd) => step(Releasing(Why::MixedCurrencies(odd)), Action::Release),
                None => confirm(lines),
            }
        }
        (p @ Reserving { .. }, Event::Reserve(ReserveReply::OutOfStock(ids))) => {
            finish(p, Outcome::Refused(Refusal::OutOfStock(ids)))
        }
        (p @ Reserving { .. }, Event::Reserve(ReserveReply::Unavailable(ids))) => {
            finish(p, Outcome::Refused(Refusal::Unavailable(ids)))
        }
        // Provably never sent: no reservation can exist.
        (p @ Reserving { .. }, Event::Reserve(ReserveReply::NeverReached)) => {
            finish(p, Outcome::Retry(Cause::ProductDown))
        }
        // It may have landed: release it now if product answers, which
        // also refuses the reserve if it is still on its way.
        (Reserving { .. }, Event::Reserve(ReserveReply::Unknown)) => {
            step(Releasing(Why::Interrupted), Action::Release)
        }

        // Releasing: known to be back only when product says so.
        (Releasing(why), Event::Release(Reply::Ok(()))) => {
            let outcome = match &why {
                Why::Interrupted => Outcome::Retry(Cause::ProductDown),
                Why::MixedCurrencies(odd) => {
                    Outcome::Refused(Refusal::MixedCurrencies(odd.clone()))
                }
            };
            finish(Releasing(why), outcome)
        }
        (p @ Releasing(_), Event::Release(_)) => finish(p, Outcome::Pending),

        // The worker's commit of a hold (made by an order version that
        // reserved and committed in two calls, or by another caller).
        (Committing { lines }, Event::Commit(CommitReply::Committed)) => confirm(lines),
        (p @ Committing { .. }, Event::Commit(CommitReply::Gone)) => {
            finish(p, Outcome::Retry(Cause::HoldExpired))
        }
        (p @ Committing { .. }, Event::Commit(CommitReply::Unknown)) => finish(p, Outcome::Pending),

        // The recovery worker, on a pending order it found stale: product
        // says where the stock is, and the saga goes on from there.
        (_, Event::Found(Lookup::Missing)) => {
            finish(Recorded, Outcome::Retry(Cause::NothingReserved))
        }
        (_, Event::Found(Lookup::Gone)) => finish(Recorded, Outcome::Retry(Cause::HoldExpired)),
        (p, Event::Found(Lookup::Unknown)) => finish(p, Outcome::Pending),
        (_, Event::Found(Lookup::Held(lines))) => match order::currency_conflict(&lines, None) {
            Some(odd) => step(Releasing(Why::MixedCurrencies(odd)), Action::Release),
            None => step(Committing { lines }, Action::Commit),
        },
        (_, Event::Found(Lookup::Committed(lines))) => confirm(lines),

        // Anything else is a driver bug; leaving the order pending is safe.
        (p, _) => finish(p, Outcome::Pending),
    }
}

/// Sold: confirm at the reserved prices, unless they mix currencies (only
/// possible if the check before the sale was bypassed), in which case
/// the sale is undone.
fn confirm(lines: Vec<ReservedLine>) -> Step {
    match order::priced_lines(&lines) {
        Ok((priced, total)) => step(
            Progress::Sold { lines },
            Action::Confirm {
                lines: priced,
                total,
            },
        ),
        Err(odd) => step(
            Progress::Releasing(Why::MixedCurrencies(odd)),
            Action::Release,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn stored(n: u128, currency: &str) -> StoredLine {
        StoredLine {
            product_id: id(n),
            quantity: 1,
            unit_price: Money::new(100, currency),
            revision: n as i64,
        }
    }

    fn reserved(n: u128, currency: &str) -> ReservedLine {
        ReservedLine {
            product_id: id(n),
            quantity: 2,
            unit_price: Money::new(150, currency),
        }
    }

    fn eur() -> Progress {
        Progress::Reserving {
            currency: Some("EUR".into()),
        }
    }

    fn held() -> Progress {
        Progress::Committing {
            lines: vec![reserved(1, "EUR")],
        }
    }

    fn outcome(s: &Step) -> Option<&Outcome> {
        match &s.action {
            Action::Finish(o) => Some(o),
            _ => None,
        }
    }

    /// Every progress, and every event the driver can produce.
    fn all_progress() -> Vec<Progress> {
        vec![
            Progress::Recorded,
            eur(),
            Progress::Releasing(Why::Interrupted),
            Progress::Releasing(Why::MixedCurrencies(vec![id(2)])),
            held(),
            Progress::Sold {
                lines: vec![reserved(1, "EUR")],
            },
        ]
    }

    fn all_events() -> Vec<Event> {
        let lines = vec![reserved(1, "EUR")];
        vec![
            Event::Cart(Reply::Ok(vec![])),
            Event::Cart(Reply::Ok(vec![stored(1, "EUR")])),
            Event::Cart(Reply::NeverReached),
            Event::Cart(Reply::Unknown),
            Event::Reserve(ReserveReply::Reserved(lines.clone())),
            Event::Reserve(ReserveReply::Reserved(vec![
                reserved(1, "EUR"),
                reserved(2, "USD"),
            ])),
            Event::Reserve(ReserveReply::OutOfStock(vec![id(1)])),
            Event::Reserve(ReserveReply::Unavailable(vec![id(1)])),
            Event::Reserve(ReserveReply::NeverReached),
            Event::Reserve(ReserveReply::Unknown),
            Event::Commit(CommitReply::Committed),
            Event::Commit(CommitReply::Gone),
            Event::Commit(CommitReply::Unknown),
            Event::Release(Reply::Ok(())),
            Event::Release(Reply::NeverReached),
            Event::Release(Reply::Unknown),
            Event::Found(Lookup::Held(lines.clone())),
            Event::Found(Lookup::Committed(lines)),
            Event::Found(Lookup::Gone),
            Event::Found(Lookup::Missing),
            Event::Found(Lookup::Unknown),
        ]
    }

    /// The safety property, over every (progress, event) pair: the key is
    /// freed or an answer stored only where no stock can be held for the
    /// order (or its release was confirmed); a confirmation only follows a
    /// sale (a reserve that sells at once, or a commit); everything else
    /// leaves the order pending or acts on.
    #[test]
    fn no_pair_gives_up_on_stock_that_may_be_held() {
        for p in all_progress() {
            for e in all_events() {
                let s = next(p.clone(), e.clone());
                // Stock may be held for the order after this event unless
                // the event says otherwise.
                let may_hold = match (&p, &e) {
                    (_, Event::Found(Lookup::Missing | Lookup::Gone)) => false,
                    (_, Event::Found(_)) => true,
                    (Progress::Recorded, _) => false,
                    (Progress::Reserving { .. }, Event::Reserve(r)) => {
                        matches!(r, ReserveReply::Reserved(_) | ReserveReply::Unknown)
                    }
                    (Progress::Reserving { .. }, _) => true,
                    (Progress::Releasing(_), Event::Release(Reply::Ok(()))) => false,
                    (Progress::Committing { .. }, Event::Commit(CommitReply::Gone)) => false,
                    _ => true,
                };
                if let Some(o) = outcome(&s) {
                    let gives_up = matches!(o, Outcome::Refused(_) | Outcome::Retry(_));
                    assert!(
                        !(gives_up && may_hold),
                        "{p:?} + {e:?} gives up ({o:?}) while stock may be held"
                    );
                }
                if let Action::Confirm { .. } = s.action {
                    assert!(
                        matches!(
                            (&p, &e),
                            (
                                Progress::Committing { .. },
                                Event::Commit(CommitReply::Committed)
                            ) | (
                                Progress::Reserving { .. },
                                Event::Reserve(ReserveReply::Reserved(_))
                            ) | (_, Event::Found(Lookup::Committed(_)))
                        ),
                        "{p:?} + {e:?} confirms without a sale"
                    );
                }
            }
        }
    }

    #[test]
    fn the_happy_path_reads_sells_and_confirms() {
        let s = next(
            Progress::Recorded,
            Event::Cart(Reply::Ok(vec![stored(1, "EUR")])),
        );
        assert_eq!(s.action, Action::Reserve(vec![stored(1, "EUR")]));
        assert_eq!(s.progress, eur());
        let s = next(
            s.progress,
            Event::Reserve(ReserveReply::Reserved(vec![reserved(1, "EUR")])),
        );
        let Action::Confirm { lines, total } = s.action else {
            panic!("{s:?}")
        };
        assert_eq!(lines[0].line_total, Money::new(300, "EUR"));
        assert_eq!(total, Some(Money::new(300, "EUR")));
    }

    #[test]
    fn the_worker_commits_a_hold_then_confirms() {
        let s = next(
            Progress::Recorded,
            Event::Found(Lookup::Held(vec![reserved(1, "EUR")])),
        );
        assert_eq!(s.action, Action::Commit);
        let s = next(s.progress, Event::Commit(CommitReply::Committed));
        assert!(matches!(s.action, Action::Confirm { .. }), "{s:?}");
    }

    #[test]
    fn refusals_are_stored_answers() {
        let cases = [
            (
                Progress::Recorded,
                Event::Cart(Reply::Ok(vec![])),
                Refusal::EmptyCart,
            ),
            (
                eur(),
                Event::Reserve(ReserveReply::OutOfStock(vec![id(1)])),
                Refusal::OutOfStock(vec![id(1)]),
            ),
            (
                eur(),
                Event::Reserve(ReserveReply::Unavailable(vec![id(3)])),
                Refusal::Unavailable(vec![id(3)]),
            ),
            (
                Progress::Releasing(Why::MixedCurrencies(vec![id(2)])),
                Event::Release(Reply::Ok(())),
                Refusal::MixedCurrencies(vec![id(2)]),
            ),
        ];
        for (p, e, refusal) in cases {
            assert_eq!(outcome(&next(p, e)), Some(&Outcome::Refused(refusal)));
        }
    }

    #[test]
    fn failures_before_any_stock_free_the_key() {
        for reply in [Reply::NeverReached, Reply::Unknown] {
            let s = next(Progress::Recorded, Event::Cart(reply));
            assert_eq!(outcome(&s), Some(&Outcome::Retry(Cause::CartDown)));
        }
        let s = next(eur(), Event::Reserve(ReserveReply::NeverReached));
        assert_eq!(outcome(&s), Some(&Outcome::Retry(Cause::ProductDown)));
        let s = next(held(), Event::Commit(CommitReply::Gone));
        assert_eq!(outcome(&s), Some(&Outcome::Retry(Cause::HoldExpired)));
    }

    #[test]
    fn an_unknown_reserve_is_released_or_left_pending() {
        let s = next(eur(), Event::Reserve(ReserveReply::Unknown));
        assert_eq!(s.action, Action::Release);
        let freed = next(s.progress.clone(), Event::Release(Reply::Ok(())));
        assert_eq!(outcome(&freed), Some(&Outcome::Retry(Cause::ProductDown)));
        for reply in [Reply::NeverReached, Reply::Unknown] {
            let kept = next(s.progress.clone(), Event::Release(reply));
            assert_eq!(outcome(&kept), Some(&Outcome::Pending));
        }
        let s = next(held(), Event::Commit(CommitReply::Unknown));
        assert_eq!(outcome(&s), Some(&Outcome::Pending));
    }

    #[test]
    fn mixed_currencies_are_released_then_refused() {
        let s = next(
            eur(),
            Event::Reserve(ReserveReply::Reserved(vec![
                reserved(1, "EUR"),
                reserved(2, "USD"),
            ])),
        );
        assert_eq!(
            s.progress,
            Progress::Releasing(Why::MixedCurrencies(vec![id(2)]))
        );
        assert_eq!(s.action, Action::Release);
    }

    #[test]
    fn the_worker_goes_on_from_what_product_says() {
        for p in all_progress() {
            let s = next(
                p.clone(),
                Event::Found(Lookup::Held(vec![reserved(1, "EUR")])),
            );
            assert_eq!(s.action, Action::Commit, "{p:?}");
            let s = next(
                p.clone(),
                Event::Found(Lookup::Committed(vec![reserved(1, "EUR")])),
            );
            assert!(matches!(s.action, Action::Confirm { .. }), "{p:?}");
            let s = next(p.clone(), Event::Found(Lookup::Missing));
            assert_eq!(outcome(&s), Some(&Outcome::Retry(Cause::NothingReserved)));
            let s = next(p.clone(), Event::Found(Lookup::Gone));
            assert_eq!(outcome(&s), Some(&Outcome::Retry(Cause::HoldExpired)));
            let s = next(p.clone(), Event::Found(Lookup::Unknown));
            assert_eq!(outcome(&s), Some(&Outcome::Pending));
            let s = next(
                p,
                Event::Found(Lookup::Held(vec![reserved(1, "EUR"), reserved(2, "USD")])),
            );
            assert_eq!(s.action, Action::Release);
        }
    }

    #[test]
    fn labels_are_distinct() {
        let outcomes = [
            Outcome::Placed,
            Outcome::Refused(Refusal::EmptyCart),
            Outcome::Refused(Refusal::OutOfStock(vec![])),
            Outcome::Refused(Refusal::Unavailable(vec![])),
            Outcome::Refused(Refusal::MixedCurrencies(vec![])),
            Outcome::Retry(Cause::CartDown),
            Outcome::Retry(Cause::ProductDown),
            Outcome::Retry(Cause::HoldExpired),
            Outcome::Retry(Cause::NothingReserved),
            Outcome::Pending,
        ];
        let mut labels: Vec<_> = outcomes.iter().map(Outcome::label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), outcomes.len());
    }
}
