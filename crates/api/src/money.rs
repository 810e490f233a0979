//! Money on the wire: integer minor units plus an ISO 4217 currency code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount of money. Never a float: `amount` counts minor units (cents for
/// EUR), so `{"amount": 1999, "currency": "EUR"}` is 19.99 EUR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (for example cents). Never negative for prices.
    #[schema(example = 1999)]
    pub amount: i64,
    /// ISO 4217 code: three upper-case letters.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

impl Money {
    /// Builds an amount; the caller is responsible for a valid currency.
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }

    /// True when `currency` looks like an ISO 4217 code.
    pub fn has_valid_currency(&self) -> bool {
        self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_minor_units_as_decimal() {
        assert_eq!(Money::new(1999, "EUR").to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, "USD").to_string(), "-0.05 USD");
    }

    #[test]
    fn validates_currency_codes() {
        assert!(Money::new(1, "EUR").has_valid_currency());
        assert!(!Money::new(1, "eur").has_valid_currency());
        assert!(!Money::new(1, "EURO").has_valid_currency());
    }

    #[test]
    fn rejects_floats_and_unknown_fields() {
        assert!(serde_json::from_str::<Money>(r#"{"amount":19.99,"currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"EUR","x":1}"#).is_err());
    }
}
