//! Cart rules: valid quantities and removals (checked types, parsed once
//! from the wire and the only thing `db::cart_lines` takes), line limits, single
//! currency, and how a cart is priced from stored lines and (when
//! reachable) the catalog.

use std::collections::HashMap;

use shop_api::cart::{Cart, CartItem, LineRef, MAX_LINES, MAX_QUANTITY, RemoveLines, StoredLine};
use shop_api::product::Product;
use shop_api::{FieldError, Money};
use uuid::Uuid;

/// A stored line with the name and price saved at add time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_price: Money,
    pub name: String,
    pub revision: i64,
}

impl From<Line> for StoredLine {
    fn from(l: Line) -> Self {
        StoredLine {
            product_id: l.product_id,
            quantity: l.quantity,
            unit_price: l.unit_price,
            revision: l.revision,
        }
    }
}

fn field(name: &str, message: String) -> Vec<FieldError> {
    vec![FieldError {
        field: name.to_owned(),
        message,
    }]
}

/// A quantity a line may be set to: 1 to [`MAX_QUANTITY`]. Only
/// [`Self::parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    /// Checks `PUT /v1/cart/items/{id}`'s quantity.
    pub fn parse(quantity: i32) -> Result<Self, Vec<FieldError>> {
        if (1..=MAX_QUANTITY).contains(&quantity) {
            Ok(Self(quantity))
        } else {
            Err(field(
                "quantity",
                format!("must be between 1 and {MAX_QUANTITY}"),
            ))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// The lines a checkout took, at most [`MAX_LINES`] (no cart holds more).
/// Only [`Self::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal(Vec<LineRef>);

impl Removal {
    /// Checks `POST /internal/v1/carts/remove`'s body.
    pub fn parse(body: RemoveLines) -> Result<Self, Vec<FieldError>> {
        if body.lines.len() > MAX_LINES {
            return Err(field("lines", format!("at most {MAX_LINES} lines")));
        }
        Ok(Self(body.lines))
    }

    /// Each line with the revision the checkout read.
    pub fn lines(&self) -> &[LineRef] {
        &self.0
    }
}

/// Whether `product` may join a cart holding `existing` lines: at most
/// [`MAX_LINES`] products, one currency.
pub fn check_addition(existing: &[Line], product: &Product) -> Result<(), Vec<FieldError>> {
    let already = existing.iter().any(|l| l.product_id == product.id);
    if !already && existing.len() >= MAX_LINES {
        return Err(field(
            "product_id",
            format!("a cart holds at most {MAX_LINES} products"),
        ));
    }
    if let Some(other) = existing
        .iter()
        .find(|l| l.unit_price.currency != product.price.currency)
    {
        return Err(field(
            "product_id",
            format!(
                "this product is priced in {}, the cart in {}",
                product.price.currency, other.unit_price.currency
            ),
        ));
    }
    Ok(())
}

fn times(price: &Money, quantity: i32) -> Money {
    Money::new(
        price.amount.saturating_mul(i64::from(quantity)),
        price.currency.clone(),
    )
}

/// Prices a cart. With `catalog` (fresh products by id) lines take current
/// names, prices and availability; without it (product unreachable) they
/// keep what was stored and the cart says `prices_stale`.
pub fn price(lines: Vec<Line>, catalog: Option<&HashMap<Uuid, Product>>) -> Cart {
    let items: Vec<CartItem> = lines
        .into_iter()
        .map(|line| {
            let (name, unit_price, available) = match catalog.map(|c| c.get(&line.product_id)) {
                Some(Some(p)) => (p.name.clone(), p.price.clone(), !p.archived),
                // The catalog answered without this product: it is gone.
                Some(None) => (line.name, line.unit_price, false),
                None => (line.name, line.unit_price, true),
            };
            CartItem {
                product_id: line.product_id,
                line_total: times(&unit_price, line.quantity),
                name,
                quantity: line.quantity,
                unit_price,
                available,
            }
        })
        .collect();
    let total = items.first().map(|first| {
        let amount = items
            .iter()
            .map(|i| i.line_total.amount)
            .fold(0i64, i64::saturating_add);
        Money::new(amount, first.line_total.currency.clone())
    });
    Cart {
        items,
        total,
        prices_stale: catalog.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(price: i64, quantity: i32) -> Line {
        Line {
            product_id: Uuid::now_v7(),
            quantity,
            unit_price: Money::new(price, "EUR"),
            name: "stored".into(),
            revision: 1,
        }
    }

    fn product(id: Uuid, price: i64, currency: &str, archived: bool) -> Product {
        let now = chrono::Utc::now();
        Product {
            id,
            name: "fresh".into(),
            description: String::new(),
            category: "misc".into(),
            price: Money::new(price, currency),
            stock: 1,
            archived,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(Quantity::parse(0).unwrap_err()[0].field, "quantity");
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(99).unwrap().get(), 99);
        assert!(Quantity::parse(100).is_err());
        assert!(Quantity::parse(-1).is_err());
    }

    #[test]
    fn a_removal_holds_at_most_a_cartful_of_lines() {
        let refs = |n: usize| RemoveLines {
            lines: (0..n)
                .map(|i| LineRef {
                    product_id: Uuid::now_v7(),
                    revision: i as i64,
                })
                .collect(),
        };
        assert_eq!(Removal::parse(refs(0)).unwrap().lines(), &[]);
        let full = refs(MAX_LINES);
        assert_eq!(
            Removal::parse(full.clone()).unwrap().lines(),
            &full.lines[..]
        );
        let errors = Removal::parse(refs(MAX_LINES + 1)).unwrap_err();
        assert_eq!(errors[0].field, "lines");
        assert_eq!(errors[0].message, "at most 50 lines");
    }

    #[test]
    fn stale_carts_keep_stored_prices() {
        let cart = price(vec![line(100, 2), line(50, 1)], None);
        assert!(cart.prices_stale);
        assert_eq!(cart.total, Some(Money::new(250, "EUR")));
        assert_eq!(cart.items[0].name, "stored");
    }

    #[test]
    fn fresh_prices_and_availability_win() {
        let (a, b) = (line(100, 2), line(50, 1));
        let catalog: HashMap<_, _> =
            [(a.product_id, product(a.product_id, 120, "EUR", false))].into();
        let cart = price(vec![a, b], Some(&catalog));
        assert!(!cart.prices_stale);
        assert_eq!(cart.items[0].unit_price.amount, 120);
        assert!(cart.items[0].available);
        assert!(
            !cart.items[1].available,
            "missing from the catalog means gone"
        );
        assert_eq!(cart.total, Some(Money::new(290, "EUR")));
    }

    #[test]
    fn a_cart_has_one_currency_and_at_most_fifty_products() {
        let existing = vec![line(100, 1)];
        assert!(check_addition(&existing, &product(Uuid::now_v7(), 1, "USD", false)).is_err());
        assert!(check_addition(&existing, &product(Uuid::now_v7(), 1, "EUR", false)).is_ok());
        let full: Vec<Line> = (0..MAX_LINES).map(|_| line(1, 1)).collect();
        assert!(check_addition(&full, &product(Uuid::now_v7(), 1, "EUR", false)).is_err());
        let again = product(full[0].product_id, 1, "EUR", false);
        assert!(
            check_addition(&full, &again).is_ok(),
            "changing a line is not adding one"
        );
    }
}
