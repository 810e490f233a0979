//! Catalog rules: what a valid product is, ETags and list queries.

use shop_api::FieldError;
use shop_api::Money;
use shop_api::product::{ListProducts, MAX_PAGE_LIMIT, NewProduct, ProductPatch};
use shop_common::pagination::{decode_cursor, page_limit};
use uuid::Uuid;

/// Largest stock one product may carry.
pub const MAX_STOCK: i32 = 1_000_000;
/// Largest price in minor units (10 billion in major units).
pub const MAX_PRICE: i64 = 1_000_000_000_000;

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message: message.into(),
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let len = name.trim().chars().count();
    if len == 0 || len > 200 || name.trim() != name {
        errors.push(field(
            "name",
            "must be 1 to 200 characters without surrounding spaces",
        ));
    }
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > 2000 {
        errors.push(field("description", "must be at most 2000 characters"));
    }
}

/// True for a slug of lower-case ASCII letters, digits and dashes.
pub fn is_category(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_category(category: &str, errors: &mut Vec<FieldError>) {
    if !is_category(category) {
        errors.push(field(
            "category",
            "must be 1 to 64 lower-case letters, digits or dashes",
        ));
    }
}

fn check_price(price: &Money, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_PRICE).contains(&price.amount) {
        errors.push(field(
            "price.amount",
            format!("must be between 0 and {MAX_PRICE} minor units"),
        ));
    }
    if !price.has_valid_currency() {
        errors.push(field(
            "price.currency",
            "must be an ISO 4217 code such as EUR",
        ));
    }
}

fn check_stock(stock: i32, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_STOCK).contains(&stock) {
        errors.push(field("stock", format!("must be between 0 and {MAX_STOCK}")));
    }
}

/// Every rule a new product breaks.
pub fn validate_new(p: &NewProduct) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    check_name(&p.name, &mut errors);
    check_description(&p.description, &mut errors);
    check_category(&p.category, &mut errors);
    check_price(&p.price, &mut errors);
    check_stock(p.stock, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Every rule a patch breaks; an empty patch is refused too, since it is
/// almost certainly a client bug.
pub fn validate_patch(p: &ProductPatch) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if p == &ProductPatch::default() {
        errors.push(field("", "the patch changes nothing"));
    }
    if let Some(name) = &p.name {
        check_name(name, &mut errors);
    }
    if let Some(description) = &p.description {
        check_description(description, &mut errors);
    }
    if let Some(category) = &p.category {
        check_category(category, &mut errors);
    }
    if let Some(price) = &p.price {
        check_price(price, &mut errors);
    }
    if let Some(stock) = p.stock {
        check_stock(stock, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The strong ETag of a product version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Parses one entity tag, weak or strong, into the version it names.
fn version_of(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// `If-None-Match`: true when the client's copy is current (answer 304).
/// Weak comparison, as RFC 9110 prescribes for this header.
pub fn none_match_hits(header: &str, version: i64) -> bool {
    header.trim() == "*" || header.split(',').any(|t| version_of(t) == Some(version))
}

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// Exactly this version (strong comparison).
    Version(i64),
    /// Nothing we ever issued: it can never match.
    Never,
}

/// Parses `If-Match`. Weak tags never match (RFC 9110 strong comparison).
pub fn parse_if_match(header: &str) -> IfMatch {
    let header = header.trim();
    if header == "*" {
        return IfMatch::Any;
    }
    let strong = |t: &str| !t.trim().starts_with("W/");
    match header.split(',').find(|t| strong(t)).and_then(version_of) {
        Some(v) => IfMatch::Version(v),
        None => IfMatch::Never,
    }
}

/// A validated list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub category: Option<String>,
    /// A LIKE pattern (already escaped) matching the name anywhere.
    pub name_pattern: Option<String>,
    pub ids: Option<Vec<Uuid>>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// Escapes LIKE wildcards so `q` matches literally.
pub fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Validates list parameters.
pub fn list_query(q: &ListProducts) -> Result<ListQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let limit = page_limit(q.limit).unwrap_or_else(|e| {
        errors.push(e);
        MAX_PAGE_LIMIT
    });
    if let Some(category) = &q.category {
        check_category(category, &mut errors);
    }
    let name_pattern = match q.q.as_deref().map(str::trim) {
        Some(text) if text.chars().count() > 100 => {
            errors.push(field("q", "must be at most 100 characters"));
            None
        }
        Some("") | None => None,
        Some(text) => Some(like_pattern(text)),
    };
    let ids = match &q.ids {
        None => None,
        Some(raw) => {
            let parsed: Result<Vec<Uuid>, _> = raw
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<Uuid>())
                .collect();
            match parsed {
                Ok(ids) if ids.is_empty() => {
                    errors.push(field("ids", "must name at least one id"));
                    None
                }
                Ok(ids) if ids.len() > MAX_PAGE_LIMIT as usize => {
                    errors.push(field("ids", format!("at most {MAX_PAGE_LIMIT} ids")));
                    None
                }
                Ok(ids) => Some(ids),
                Err(_) => {
                    errors.push(field("ids", "must be comma-separated UUIDs"));
                    None
                }
            }
        }
    };
    let after = match q.cursor.as_deref().map(decode_cursor) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    };
    if errors.is_empty() {
        Ok(ListQuery {
            category: q.category.clone(),
            name_pattern,
            ids,
            after,
            limit,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_product() -> NewProduct {
        NewProduct {
            name: "Kettle".into(),
            description: String::new(),
            category: "kitchen".into(),
            price: Money::new(2499, "EUR"),
            stock: 3,
        }
    }

    #[test]
    fn accepts_a_valid_product() {
        assert_eq!(validate_new(&new_product()), Ok(()));
    }

    #[test]
    fn names_every_bad_field() {
        let p = NewProduct {
            name: " ".into(),
            category: "Kitchen Stuff".into(),
            price: Money::new(-1, "eur"),
            stock: -1,
            ..new_product()
        };
        let fields: Vec<_> = validate_new(&p)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "category",
                "price.amount",
                "price.currency",
                "stock"
            ]
        );
    }

    #[test]
    fn empty_patch_is_refused() {
        assert!(validate_patch(&ProductPatch::default()).is_err());
        let p = ProductPatch {
            archived: Some(true),
            ..Default::default()
        };
        assert!(validate_patch(&p).is_ok());
    }

    #[test]
    fn etags_compare_as_rfc_9110_says() {
        assert_eq!(etag(7), "\"7\"");
        assert!(none_match_hits("\"7\"", 7));
        assert!(none_match_hits("W/\"7\"", 7));
        assert!(none_match_hits("\"1\", \"7\"", 7));
        assert!(none_match_hits("*", 7));
        assert!(!none_match_hits("\"8\"", 7));
        assert_eq!(parse_if_match("\"7\""), IfMatch::Version(7));
        assert_eq!(parse_if_match("*"), IfMatch::Any);
        assert_eq!(parse_if_match("W/\"7\""), IfMatch::Never);
        assert_eq!(parse_if_match("garbage"), IfMatch::Never);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        let q = ListProducts {
            cursor: Some(shop_common::pagination::encode_cursor(id)),
            ..Default::default()
        };
        assert_eq!(list_query(&q).unwrap().after, Some(id));
        let bad = ListProducts {
            cursor: Some("not-a-cursor!".into()),
            ..Default::default()
        };
        assert_eq!(list_query(&bad).unwrap_err()[0].field, "cursor");
    }

    #[test]
    fn list_limits_are_enforced() {
        let q = |limit| ListProducts {
            limit: Some(limit),
            ..Default::default()
        };
        assert!(list_query(&q(0)).is_err());
        assert!(list_query(&q(101)).is_err());
        assert_eq!(list_query(&q(100)).unwrap().limit, 100);
        assert_eq!(list_query(&ListProducts::default()).unwrap().limit, 20);
        let many = (0..101)
            .map(|_| Uuid::now_v7().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let ids = ListProducts {
            ids: Some(many),
            ..Default::default()
        };
        assert_eq!(list_query(&ids).unwrap_err()[0].field, "ids");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
