//! Order rules: checked types for what a request brings (its
//! idempotency key, its checkout body, its list query: each parsed once,
//! and the only form `db::orders` takes), what makes two checkout requests
//! the same, and how an order is priced from its reservation.

use shop_api::order::{Checkout, ListOrders, MAX_IDEMPOTENCY_KEY_LEN, OrderLine};
use shop_api::product::ReservedLine;
use shop_api::{FieldError, Money};
use shop_common::pagination::{decode_cursor, page_limit};
use uuid::Uuid;

/// An `Idempotency-Key` value: 1 to 255 visible ASCII characters. Only
/// [`Self::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks the header's bytes, if it came. A bad key is a malformed
    /// request (400), not a bad body field, so the error is the problem's
    /// detail rather than a list of field errors.
    pub fn parse(header: Option<&[u8]>) -> Result<Self, String> {
        let key = header.ok_or("the Idempotency-Key header is required for checkout")?;
        // What an HTTP library will show as text: visible ASCII, spaces and
        // tabs. Anything else is refused before the length is looked at.
        let key = match std::str::from_utf8(key) {
            Ok(text)
                if text
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) =>
            {
                text
            }
            _ => return Err("Idempotency-Key must be visible ASCII characters".into()),
        };
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("Idempotency-Key must be visible ASCII characters".into());
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most characters in a checkout note.
pub const MAX_NOTE: usize = 500;

/// A checkout body that keeps every rule, with its canonical form: two
/// requests are "the same" for idempotency when their canonical forms are
/// equal (whitespace and key order do not matter). Only [`Self::parse`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCheckout {
    canonical: String,
    note: Option<String>,
}

impl ValidCheckout {
    /// Checks `POST /v1/orders`'s body.
    pub fn parse(body: Checkout) -> Result<Self, Vec<FieldError>> {
        if body
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE)
        {
            return Err(vec![FieldError {
                field: "note".into(),
                message: format!("must be at most {MAX_NOTE} characters"),
            }]);
        }
        Ok(Self {
            canonical: serde_json::to_string(&body).expect("serializable"),
            note: body.note,
        })
    }

    /// The body as stored and compared for the key.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}

/// A valid `GET /v1/orders` query. Only [`Self::parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    before: Option<Uuid>,
    limit: u32,
}

impl ListQuery {
    /// Checks the parameters, naming every one that breaks a rule.
    pub fn parse(q: ListOrders) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = page_limit(q.limit).unwrap_or_else(|e| {
            errors.push(e);
            1
        });
        let before = match q.cursor.as_deref().map(decode_cursor) {
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            Some(Ok(id)) => Some(id),
            None => None,
        };
        if errors.is_empty() {
            Ok(Self { before, limit })
        } else {
            Err(errors)
        }
    }

    /// Only orders older than this id (the cursor): the list is newest first.
    pub fn before(&self) -> Option<Uuid> {
        self.before
    }

    /// Page size, 1 to 100.
    pub fn limit(&self) -> u32 {
        self.limit
    }
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
        let parse = |key: &str| IdempotencyKey::parse(Some(key.as_bytes()));
        let required = IdempotencyKey::parse(None).unwrap_err();
        assert_eq!(
            required,
            "the Idempotency-Key header is required for checkout"
        );
        let length = "Idempotency-Key must be 1 to 255 characters";
        let ascii = "Idempotency-Key must be visible ASCII characters";
        assert_eq!(parse("").unwrap_err(), length);
        assert_eq!(parse(&"k".repeat(256)).unwrap_err(), length);
        assert_eq!(parse("has space").unwrap_err(), ascii);
        assert_eq!(parse(&" ".repeat(256)).unwrap_err(), length);
        assert_eq!(parse("k\u{e9}").unwrap_err(), ascii);
        let mut long_and_binary = vec![b'k'; 300];
        long_and_binary.push(0xff);
        assert_eq!(
            IdempotencyKey::parse(Some(&long_and_binary)).unwrap_err(),
            ascii,
            "bytes no header text can hold are refused before the length"
        );
        assert_eq!(parse(&"k".repeat(255)).unwrap().as_str().len(), 255);
        assert_eq!(parse("a-Key_1!~").unwrap().as_str(), "a-Key_1!~");
    }

    #[test]
    fn canonical_bodies_ignore_formatting() {
        let parse = |json| ValidCheckout::parse(serde_json::from_str(json).unwrap()).unwrap();
        let (a, b) = (parse(r#"{ "note" : "hi" }"#), parse(r#"{"note":"hi"}"#));
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.note(), Some("hi"));
        let c = parse(r#"{}"#);
        assert_ne!(a.canonical(), c.canonical());
        assert_eq!(c.note(), None);
        let long = Checkout {
            note: Some("x".repeat(501)),
        };
        assert_eq!(ValidCheckout::parse(long).unwrap_err()[0].field, "note");
    }

    #[test]
    fn list_queries_name_every_bad_parameter() {
        let id = Uuid::now_v7();
        let q = ListQuery::parse(ListOrders {
            limit: Some(5),
            cursor: Some(shop_common::pagination::encode_cursor(id)),
        })
        .unwrap();
        assert_eq!((q.before(), q.limit()), (Some(id), 5));
        assert_eq!(ListQuery::parse(ListOrders::default()).unwrap().limit(), 20);
        let fields: Vec<_> = ListQuery::parse(ListOrders {
            limit: Some(0),
            cursor: Some("zzz".into()),
        })
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
        assert_eq!(fields, ["limit", "cursor"]);
        assert!(
            ListQuery::parse(ListOrders {
                limit: Some(101),
                cursor: None,
            })
            .is_err()
        );
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
