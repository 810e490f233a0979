//! Reservation rules: a valid request, and when a repeated request is the
//! same request.

use shop_api::FieldError;
use shop_api::product::{
    ReservationLineRequest, ReservationRequest, ReservationStatus, ReservedLine,
};
use uuid::Uuid;

use super::checked;

/// Most lines one reservation may carry.
pub const MAX_LINES: usize = 100;
/// Most units of one product one reservation may take.
pub const MAX_QUANTITY: i32 = 10_000;

/// A reservation request that keeps every rule, its lines sorted by
/// product id: the order in which rows are locked, so that two
/// reservations touching the same products can never deadlock. Only
/// [`Self::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidReservation {
    id: Uuid,
    lines: Vec<ReservationLineRequest>,
    commit: bool,
}

impl ValidReservation {
    /// Checks the request and sorts its lines.
    pub fn parse(req: ReservationRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            errors.push(FieldError {
                field: "lines".into(),
                message: format!("must have 1 to {MAX_LINES} lines"),
            });
        }
        for (i, line) in req.lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                errors.push(FieldError {
                    field: format!("lines[{i}].quantity"),
                    message: format!("must be between 1 and {MAX_QUANTITY}"),
                });
            }
        }
        let mut lines = req.lines;
        lines.sort_by_key(|l| l.product_id);
        if lines.windows(2).any(|w| w[0].product_id == w[1].product_id) {
            errors.push(FieldError {
                field: "lines".into(),
                message: "each product may appear once".into(),
            });
        }
        checked(
            Self {
                id: req.id,
                lines,
                commit: req.commit,
            },
            errors,
        )
    }

    /// The reservation id (the order's).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Sell at once: the reservation is made committed, not held.
    pub fn commit(&self) -> bool {
        self.commit
    }

    /// The status a new reservation starts in.
    pub fn initial_status(&self) -> ReservationStatus {
        if self.commit {
            ReservationStatus::Committed
        } else {
            ReservationStatus::Held
        }
    }

    /// The lines, sorted by product id.
    pub fn lines(&self) -> &[ReservationLineRequest] {
        &self.lines
    }

    pub fn product_ids(&self) -> Vec<Uuid> {
        self.lines.iter().map(|l| l.product_id).collect()
    }

    pub fn quantities(&self) -> Vec<i32> {
        self.lines.iter().map(|l| l.quantity).collect()
    }

    /// True when `existing` (a stored reservation's lines, sorted) is what
    /// this request asks for: an idempotent replay.
    pub fn same_lines_as(&self, existing: &[ReservedLine]) -> bool {
        self.lines.len() == existing.len()
            && self
                .lines
                .iter()
                .zip(existing)
                .all(|(a, b)| a.product_id == b.product_id && a.quantity == b.quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_api::Money;

    fn line(product_id: Uuid, quantity: i32) -> ReservationLineRequest {
        ReservationLineRequest {
            product_id,
            quantity,
        }
    }

    #[test]
    fn sorts_lines_by_product_id() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let req = ReservationRequest {
            id: Uuid::now_v7(),
            lines: vec![line(b, 1), line(a, 2)],
            commit: false,
        };
        assert_eq!(
            ValidReservation::parse(req).unwrap().product_ids(),
            vec![a, b]
        );
    }

    #[test]
    fn refuses_empty_duplicate_and_out_of_range_lines() {
        let a = Uuid::now_v7();
        let empty = ReservationRequest {
            id: a,
            lines: vec![],
            commit: false,
        };
        assert!(ValidReservation::parse(empty).is_err());
        let dup = ReservationRequest {
            id: a,
            lines: vec![line(a, 1), line(a, 1)],
            commit: false,
        };
        assert!(ValidReservation::parse(dup).is_err());
        let zero = ReservationRequest {
            id: a,
            lines: vec![line(a, 0)],
            commit: false,
        };
        assert_eq!(
            ValidReservation::parse(zero).unwrap_err()[0].field,
            "lines[0].quantity"
        );
    }

    #[test]
    fn replay_means_same_products_and_quantities() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let req = ValidReservation::parse(ReservationRequest {
            id: Uuid::now_v7(),
            lines: vec![line(a, 1), line(b, 2)],
            commit: false,
        })
        .unwrap();
        let stored = |qb| {
            vec![
                ReservedLine {
                    product_id: a,
                    quantity: 1,
                    unit_price: Money::new(1, "EUR"),
                },
                ReservedLine {
                    product_id: b,
                    quantity: qb,
                    unit_price: Money::new(1, "EUR"),
                },
            ]
        };
        assert!(req.same_lines_as(&stored(2)));
        assert!(!req.same_lines_as(&stored(3)));
        assert!(!req.same_lines_as(&stored(2)[..1]));
    }
}
