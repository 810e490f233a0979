//! Money as people read it: minor units shown with the currency's decimals.

use shop_api::Money;

/// Digits after the decimal point (ISO 4217). Most currencies have two;
/// these have none or three.
fn decimals(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `{"amount": 3499, "currency": "EUR"}` as `34.99 EUR`; integers only, no
/// floating point anywhere.
pub fn display(money: &Money) -> String {
    let places = decimals(&money.currency);
    let sign = if money.amount < 0 { "-" } else { "" };
    let amount = money.amount.unsigned_abs();
    if places == 0 {
        return format!("{sign}{amount} {}", money.currency);
    }
    let unit = 10u64.pow(places);
    format!(
        "{sign}{}.{:0width$} {}",
        amount / unit,
        amount % unit,
        money.currency,
        width = places as usize
    )
}

/// A price typed into a form (`34.99`, `34`, `34.9`) in minor units of
/// `currency`; `None` unless it is a plain non-negative decimal with at
/// most the currency's decimals.
pub fn parse(text: &str, currency: &str) -> Option<i64> {
    let places = decimals(currency) as usize;
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || !digits(frac)
        || frac.len() > places
    {
        return None;
    }
    let scale = 10i64.pow(places as u32);
    let frac_value = format!("{frac:0<places$}");
    let frac_value: i64 = if places == 0 {
        0
    } else {
        frac_value.parse().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(frac_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_with_the_currency_decimals() {
        assert_eq!(display(&Money::new(3499, "EUR")), "34.99 EUR");
        assert_eq!(display(&Money::new(5, "EUR")), "0.05 EUR");
        assert_eq!(display(&Money::new(0, "USD")), "0.00 USD");
        assert_eq!(display(&Money::new(1200, "JPY")), "1200 JPY");
        assert_eq!(display(&Money::new(1234, "KWD")), "1.234 KWD");
        assert_eq!(display(&Money::new(-250, "EUR")), "-2.50 EUR");
    }

    #[test]
    fn typed_prices_parse_to_minor_units() {
        assert_eq!(parse("34.99", "EUR"), Some(3499));
        assert_eq!(parse("34.9", "EUR"), Some(3490));
        assert_eq!(parse(" 34 ", "EUR"), Some(3400));
        assert_eq!(parse("1200", "JPY"), Some(1200));
        for bad in ["", "-1", "1.234", "1,00", "abc", ".5", "1e3", "1200.5"] {
            let currency = if bad == "1200.5" { "JPY" } else { "EUR" };
            assert_eq!(parse(bad, currency), None, "{bad}");
        }
    }
}
