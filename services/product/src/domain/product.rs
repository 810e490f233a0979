//! Catalog rules: what a valid product, change and list query are, and
//! how ETags compare. Wire types go in, checked types come out, and
//! `db::products` takes nothing else. ETags and their comparisons are the
//! `headers` crate's (RFC 9110), which the routes' `TypedHeader`
//! extractors fill.

use headers::{ETag, IfMatch, IfNoneMatch};
use shop_api::FieldError;
use shop_api::Money;
use shop_api::product::{ListProducts, MAX_PAGE_LIMIT, NewProduct, ProductPatch};
use shop_common::pagination::{decode_cursor, page_limit};
use uuid::Uuid;

use super::checked;

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

/// A new product that keeps every catalog rule. Only [`Self::parse`] makes
/// one, so `db::products::insert` can never store a product that breaks
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewProduct(NewProduct);

impl ValidNewProduct {
    /// Checks `POST /v1/products`'s body, naming every rule it breaks.
    pub fn parse(p: NewProduct) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_name(&p.name, &mut errors);
        check_description(&p.description, &mut errors);
        check_category(&p.category, &mut errors);
        check_price(&p.price, &mut errors);
        check_stock(p.stock, &mut errors);
        checked(Self(p), errors)
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn description(&self) -> &str {
        &self.0.description
    }

    pub fn category(&self) -> &str {
        &self.0.category
    }

    pub fn price(&self) -> &Money {
        &self.0.price
    }

    pub fn stock(&self) -> i32 {
        self.0.stock
    }
}

/// A change to a product that keeps every catalog rule and changes at
/// least one field. Only [`Self::parse`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPatch(ProductPatch);

impl ValidPatch {
    /// Checks `PATCH /v1/products/{id}`'s body, naming every rule it
    /// breaks. An empty patch is refused too, since it is almost certainly
    /// a client bug.
    pub fn parse(p: ProductPatch) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if p == ProductPatch::default() {
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
        checked(Self(p), errors)
    }

    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    pub fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }

    pub fn price(&self) -> Option<&Money> {
        self.0.price.as_ref()
    }

    pub fn stock(&self) -> Option<i32> {
        self.0.stock
    }

    pub fn archived(&self) -> Option<bool> {
        self.0.archived
    }
}

/// The strong ETag of a product version: the version number, quoted.
pub fn etag(version: i64) -> ETag {
    format!("\"{version}\"")
        .parse()
        .expect("a quoted number is a valid entity tag")
}

/// `If-None-Match`: true when the client's copy is current (answer 304).
/// Weak comparison, as RFC 9110 prescribes for this header, and `*`
/// matches any version. Tags that do not parse match nothing.
pub fn not_modified(if_none_match: &IfNoneMatch, version: i64) -> bool {
    !if_none_match.precondition_passes(&etag(version))
}

/// What a change asks of the product's current version (`If-Match`).
#[derive(Debug, Clone, PartialEq)]
pub enum Precondition {
    /// No `If-Match`, or `If-Match: *`: whichever version is current.
    Any,
    /// Only a current version whose ETag the header lists, by strong
    /// comparison (RFC 9110): a weak tag, or one we never issued, never
    /// matches.
    IfMatch(IfMatch),
}

impl Precondition {
    /// The precondition of a request with this `If-Match`, if any.
    pub fn parse(if_match: Option<IfMatch>) -> Self {
        match if_match {
            Some(m) if !m.is_any() => Self::IfMatch(m),
            _ => Self::Any,
        }
    }

    /// True when a change may apply to `version`.
    pub fn allows(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::IfMatch(m) => m.precondition_passes(&etag(version)),
        }
    }
}

/// A list query that keeps every rule, ready for SQL. Only
/// [`Self::parse`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    category: Option<String>,
    name_pattern: Option<String>,
    ids: Option<Vec<Uuid>>,
    after: Option<Uuid>,
    limit: u32,
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

impl ListQuery {
    /// Checks `GET /v1/products`'s parameters, naming every one that
    /// breaks a rule.
    pub fn parse(q: ListProducts) -> Result<Self, Vec<FieldError>> {
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
        checked(
            Self {
                category: q.category,
                name_pattern,
                ids,
                after,
                limit,
            },
            errors,
        )
    }

    /// Only products of this category.
    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    /// A LIKE pattern (already escaped) matching the name anywhere.
    pub fn name_pattern(&self) -> Option<&str> {
        self.name_pattern.as_deref()
    }

    /// Only these products, archived ones included.
    pub fn ids(&self) -> Option<&[Uuid]> {
        self.ids.as_deref()
    }

    /// Only products after this id (the cursor).
    pub fn after(&self) -> Option<Uuid> {
        self.after
    }

    /// Page size, 1 to [`MAX_PAGE_LIMIT`].
    pub fn limit(&self) -> u32 {
        self.limit
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
    fn accepts_a_valid_product_and_keeps_its_fields() {
        let valid = ValidNewProduct::parse(new_product()).unwrap();
        assert_eq!(valid.name(), "Kettle");
        assert_eq!(valid.description(), "");
        assert_eq!(valid.category(), "kitchen");
        assert_eq!(valid.price(), &Money::new(2499, "EUR"));
        assert_eq!(valid.stock(), 3);
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
        let fields: Vec<_> = ValidNewProduct::parse(p)
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
        assert_eq!(
            ValidPatch::parse(ProductPatch::default()).unwrap_err()[0].field,
            ""
        );
        let p = ProductPatch {
            archived: Some(true),
            ..Default::default()
        };
        let valid = ValidPatch::parse(p).unwrap();
        assert_eq!(valid.archived(), Some(true));
        assert_eq!(valid.name(), None);
    }

    #[test]
    fn a_patch_names_every_bad_field_it_carries() {
        let p = ProductPatch {
            name: Some(" padded ".into()),
            description: Some("x".repeat(2001)),
            price: Some(Money::new(MAX_PRICE + 1, "EUR")),
            stock: Some(MAX_STOCK),
            ..Default::default()
        };
        let fields: Vec<_> = ValidPatch::parse(p)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "description", "price.amount"]);
        let p = ProductPatch {
            category: Some("garden".into()),
            price: Some(Money::new(MAX_PRICE, "USD")),
            ..Default::default()
        };
        let valid = ValidPatch::parse(p).unwrap();
        assert_eq!(valid.category(), Some("garden"));
        assert_eq!(valid.price(), Some(&Money::new(MAX_PRICE, "USD")));
        assert_eq!(valid.stock(), None);
    }

    /// A header as a client sends it, decoded as the `TypedHeader`
    /// extractor decodes it.
    fn header<H: headers::Header>(value: &'static str) -> H {
        let value = headers::HeaderValue::from_static(value);
        H::decode(&mut std::iter::once(&value)).expect("decodes")
    }

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(7), "\"7\"".parse::<ETag>().unwrap());
        assert!(!etag(7).is_weak());
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let hits = |value| not_modified(&header::<IfNoneMatch>(value), 7);
        assert!(hits("\"7\""));
        assert!(hits("W/\"7\""));
        assert!(hits("\"1\", \"7\""));
        assert!(hits("*"));
        assert!(!hits("\"8\""));
        assert!(!hits("\"07\""), "tags are opaque, not numbers");
        assert!(!hits("garbage"));
    }

    #[test]
    fn if_match_compares_strongly() {
        let allows = |value| Precondition::parse(Some(header::<IfMatch>(value))).allows(7);
        assert!(allows("\"7\""));
        assert!(allows("\"1\", \"7\""), "any member of the list");
        assert!(allows("*"));
        assert!(!allows("W/\"7\""));
        assert!(!allows("\"8\""));
        assert!(!allows("\"07\""));
        assert!(!allows("garbage"));
        assert_eq!(Precondition::parse(None), Precondition::Any);
        assert_eq!(
            Precondition::parse(Some(header::<IfMatch>("*"))),
            Precondition::Any
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        let q = ListProducts {
            cursor: Some(shop_common::pagination::encode_cursor(id)),
            ..Default::default()
        };
        assert_eq!(ListQuery::parse(q).unwrap().after(), Some(id));
        let bad = ListProducts {
            cursor: Some("not-a-cursor!".into()),
            ..Default::default()
        };
        assert_eq!(ListQuery::parse(bad).unwrap_err()[0].field, "cursor");
    }

    #[test]
    fn list_limits_are_enforced() {
        let q = |limit| ListProducts {
            limit: Some(limit),
            ..Default::default()
        };
        assert!(ListQuery::parse(q(0)).is_err());
        assert!(ListQuery::parse(q(101)).is_err());
        assert_eq!(ListQuery::parse(q(100)).unwrap().limit(), 100);
        assert_eq!(
            ListQuery::parse(ListProducts::default()).unwrap().limit(),
            20
        );
        let many = (0..101)
            .map(|_| Uuid::now_v7().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let ids = ListProducts {
            ids: Some(many),
            ..Default::default()
        };
        assert_eq!(ListQuery::parse(ids).unwrap_err()[0].field, "ids");
    }

    #[test]
    fn list_filters_are_kept_ready_for_sql() {
        let id = Uuid::now_v7();
        let q = ListQuery::parse(ListProducts {
            category: Some("kitchen".into()),
            q: Some("  50%  ".into()),
            ids: Some(format!(" {id} ,")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.category(), Some("kitchen"));
        assert_eq!(q.name_pattern(), Some("%50\\%%"));
        assert_eq!(q.ids(), Some(&[id][..]));
        assert_eq!(q.after(), None);
        let blank = ListQuery::parse(ListProducts {
            q: Some("   ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(blank.name_pattern(), None, "a blank search is no filter");
        let fields: Vec<_> = ListQuery::parse(ListProducts {
            category: Some("Kitchen".into()),
            q: Some("q".repeat(101)),
            ids: Some(",".into()),
            ..Default::default()
        })
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
        assert_eq!(fields, ["category", "q", "ids"]);
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
