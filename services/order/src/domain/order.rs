//! Order rules: idempotency keys, what makes two checkout requests the same,
//! and how an order is priced from its reservation.

use shop_api::Money;
use shop_api::order::{Checkout, MAX_IDEMPOTENCY_KEY_LEN, OrderLine};
use shop_api::product::ReservedLine;
use uuid::Uuid;

/// Checks an `Idempotency-Key` value: 1 to 255 visible ASCII characters.
pub fn validate_key(key: Option<&str>) -> Result<String, String> {
    let key = key.ok_or("the Idempotency-Key header is required for checkout")?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("Idempotency-Key must be visible ASCII characters".into());
    }
    Ok(key.to_owned())
}

/// Most characters in a checkout note.
pub const MAX_NOTE: usize = 500;

/// Validates a checkout body and returns its canonical form: two requests
/// are "the same" for idempotency when their canonical forms are equal
/// (whitespace and key order do not matter).
pub fn canonical(body: &Checkout) -> Result<String, Vec<shop_api::FieldError>> {
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE)
    {
        return Err(vec![shop_api::FieldError {
            field: "note".into(),
            message: format!("must be at most {MAX_NOTE} characters"),
        }]);
    }
    Ok(serde_json::to_string(body).expect("serializable"))
}

/// One order has one currency. When the reserved prices are in more than
/// one (an admin changed a product's currency after it went into a cart),
/// returns the products priced in another currency than `expected` (the
/// cart's), or than most lines when no currency is expected. `None` when
/// the order can be priced.
pub fn currency_conflict(reserved: &[ReservedLine], expected: Option<&str>) -> Option<Vec<Uuid>> {
    let first = reserved.first()?;
    if reserved
        .iter()
        .all(|l| l.unit_price.currency == first.unit_price.currency)
    {
        return None;
    }
    let expected = match expected {
        Some(c) if reserved.iter().any(|l| l.unit_price.currency == c) => c.to_owned(),
        _ => {
            // The currency of most lines; ties go to the smallest code, so
            // the answer never depends on line order.
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for l in reserved {
                *counts.entry(&l.unit_price.currency).or_default() += 1;
            }
            let most = counts.values().copied().max().unwrap_or(0);
            counts
                .into_iter()
                .find(|(_, n)| *n == most)
                .map(|(c, _)| c.to_owned())
                .unwrap_or_default()
        }
    };
    let mut odd: Vec<Uuid> = reserved
        .iter()
        .filter(|l| l.unit_price.currency != expected)
        .map(|l| l.product_id)
        .collect();
    odd.sort();
    Some(odd)
}

/// Order lines priced by the reservation, and their total; the products in
/// another currency when the lines are not all in one (amounts in two
/// currencies are never added).
pub fn priced_lines(
    reserved: &[ReservedLine],
) -> Result<(Vec<OrderLine>, Option<Money>), Vec<Uuid>> {
    if let Some(odd) = currency_conflict(reserved, None) {
        return Err(odd);
    }
    let lines: Vec<OrderLine> = reserved
        .iter()
        .map(|l| OrderLine {
            product_id: l.product_id,
            quantity: l.quantity,
            line_total: Money::new(
                l.unit_price.amount.saturating_mul(i64::from(l.quantity)),
                l.unit_price.currency.clone(),
            ),
            unit_price: l.unit_price.clone(),
        })
        .collect();
    let total = lines.first().map(|first| {
        Money::new(
            lines
                .iter()
                .map(|l| l.line_total.amount)
                .fold(0, i64::saturating_add),
            first.line_total.currency.clone(),
        )
    });
    Ok((lines, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_required_and_bounded() {
        assert!(validate_key(None).is_err());
        assert!(validate_key(Some("")).is_err());
        assert!(validate_key(Some(&"k".repeat(256))).is_err());
        assert!(validate_key(Some("has space")).is_err());
        assert_eq!(validate_key(Some(&"k".repeat(255))).unwrap().len(), 255);
    }

    #[test]
    fn canonical_bodies_ignore_formatting() {
        let a: Checkout = serde_json::from_str(r#"{ "note" : "hi" }"#).unwrap();
        let b: Checkout = serde_json::from_str(r#"{"note":"hi"}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        let c: Checkout = serde_json::from_str(r#"{}"#).unwrap();
        assert_ne!(canonical(&a), canonical(&c));
        let long = Checkout {
            note: Some("x".repeat(501)),
        };
        assert!(canonical(&long).is_err());
    }

    #[test]
    fn totals_sum_the_lines() {
        let line = |amount, quantity| ReservedLine {
            product_id: Uuid::now_v7(),
            quantity,
            unit_price: Money::new(amount, "EUR"),
        };
        let (lines, total) = priced_lines(&[line(250, 2), line(100, 1)]).unwrap();
        assert_eq!(lines[0].line_total, Money::new(500, "EUR"));
        assert_eq!(total, Some(Money::new(600, "EUR")));
    }

    #[test]
    fn amounts_in_two_currencies_are_never_added() {
        let line = |currency: &str| ReservedLine {
            product_id: Uuid::now_v7(),
            quantity: 1,
            unit_price: Money::new(100, currency),
        };
        let (eur, usd, eur2) = (line("EUR"), line("USD"), line("EUR"));
        let all = [eur.clone(), usd.clone(), eur2.clone()];
        assert_eq!(priced_lines(&all).unwrap_err(), vec![usd.product_id]);
        // The cart's currency decides which products are the odd ones...
        let mut both = vec![usd.product_id];
        both.sort();
        assert_eq!(currency_conflict(&all, Some("EUR")), Some(both));
        let mut eurs = vec![eur.product_id, eur2.product_id];
        eurs.sort();
        assert_eq!(currency_conflict(&all, Some("USD")), Some(eurs));
        // ...and a tie without one is decided by the code, not line order.
        let tie = [usd.clone(), eur.clone()];
        assert_eq!(currency_conflict(&tie, None), Some(vec![usd.product_id]));
        assert_eq!(currency_conflict(&[eur, eur2], Some("USD")), None);
    }
}
