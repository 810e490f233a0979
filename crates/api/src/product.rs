//! The product service's wire types: catalog and stock reservations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder};
use utoipa::openapi::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::Money;

/// Most items one list page returns, and most ids one `ids=` filter takes.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// Items per page when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;

/// A product in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// A lower-case slug such as `kitchen`.
    pub category: String,
    /// The current unit price.
    pub price: Money,
    /// Units available to reserve now (held and sold units are not counted).
    pub stock: i32,
    /// Archived products stay readable by id but are not listed and cannot be
    /// reserved.
    pub archived: bool,
    /// Increases with every change; the ETag is derived from it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/products`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// 1 to 200 characters, no white space at either end.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// At most 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    pub description: String,
    /// A slug of lower-case letters, digits and dashes, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub category: String,
    #[schema(schema_with = price_schema)]
    pub price: Money,
    /// Initial stock, 0 to 1,000,000.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: i32,
}

/// Body of `PATCH /v1/products/{id}`: every field optional, only those given
/// change. Archive a product with `{"archived": true}`; nothing is deleted.
/// A field given as `null` is left as it is, and a patch that changes
/// nothing (no field, or only `null`s) is refused: at least one field must
/// have a value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct ProductPatch {
    /// 1 to 200 characters, no white space at either end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
    /// At most 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    /// A slug of lower-case letters, digits and dashes, 1 to 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_price_schema)]
    pub price: Option<Money>,
    /// Sets the available stock, 0 to 1,000,000 (units held by reservations
    /// are not part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// Query of `GET /v1/products`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProducts {
    /// Only products of this category (a slug of lower-case letters, digits
    /// and dashes, 1 to 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub category: Option<String>,
    /// Case-insensitive substring of the name: at most 100 characters once
    /// white space at either end is trimmed (then empty means no filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(schema_with = search_text_schema)]
    pub q: Option<String>,
    /// Comma-separated product ids, 1 to 100. Archived products are
    /// included when asked for by id, so a cart can tell they are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<Vec<Uuid>>, style = Form, explode = false, min_items = 1, max_items = 100)]
    pub ids: Option<String>,
    /// Page size, 1 to 100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; only cursors this
    /// service issued are accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// The schema of a price in a request: [`Money`] with an amount from 0 to
/// 10^12 minor units (the product service's `product::MAX_PRICE`; a test
/// there holds the two together).
fn price_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("0 to 10^12 minor units in an ISO 4217 currency."))
        .property(
            "amount",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .maximum(Some(1_000_000_000_000_i64)),
        )
        .property(
            "currency",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Z]{3}$")),
        )
        .required("amount")
        .required("currency")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

/// [`price_schema`], or `null` (no change).
fn optional_price_schema() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(price_schema())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// White space as `str::trim` sees it (Unicode `White_Space`), spelled as
/// the inside of a regular expression's character class. Spelled out
/// because `\s` means something else in every regex dialect.
const WHITE_SPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A product name: 1 to 200 characters, no white space at either end,
/// no NUL.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(200))
        .pattern(Some(format!(
            "^[^\\u0000{WHITE_SPACE}]([^\\u0000]*[^\\u0000{WHITE_SPACE}])?$"
        )))
        .build()
}

/// [`name_schema`], or `null` (no change).
fn optional_name_schema() -> Object {
    let mut schema = name_schema();
    schema.schema_type = [Type::String, Type::Null].into_iter().collect();
    schema
}

/// The `q` filter: at most 100 characters once trimmed, no NUL.
fn search_text_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^[{WHITE_SPACE}]*[^\\u0000]{{0,100}}[{WHITE_SPACE}]*$"
        )))
        .build()
}

/// One page of products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One line of a reservation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationLineRequest {
    pub product_id: Uuid,
    /// 1 to 10,000.
    #[schema(minimum = 1, maximum = 10_000)]
    pub quantity: i32,
}

/// Body of `POST /internal/v1/reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationRequest {
    /// Chosen by the caller (the order id), which makes the call idempotent:
    /// the same id with the same lines returns the first result.
    pub id: Uuid,
    /// 1 to 100 lines, each product at most once.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<ReservationLineRequest>,
    /// Sell at once: the reservation is made `committed`, not `held`, in
    /// the same transaction that takes the stock. For a caller that has
    /// already recorded what it sells (the order service records a pending
    /// order first, so a crash after this call is rolled forward). `false`
    /// (the default) holds the stock until `expires_at`, for a later
    /// `commit` or `release`. Repeating a held reservation's request with
    /// `commit: true` commits it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commit: bool,
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Stock is set aside until `expires_at`.
    Held,
    /// The stock is sold.
    Committed,
    /// The stock was returned on request.
    Released,
    /// The stock was returned because the hold outlived its TTL.
    Expired,
}

impl ReservationStatus {
    /// The name used on the wire and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Held, Self::Committed, Self::Released, Self::Expired]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Reading a stored status: an unknown one is an error, never a guess.
impl TryFrom<String> for ReservationStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("unknown reservation status `{s}`"))
    }
}

/// One reserved line with the authoritative unit price at reservation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservedLine {
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_price: Money,
}

/// A stock reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub id: Uuid,
    pub status: ReservationStatus,
    /// Sorted by product id.
    pub lines: Vec<ReservedLine>,
    /// When a held reservation is returned to stock by the sweeper.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
