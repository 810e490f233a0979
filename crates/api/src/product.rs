//! The product service's wire types: catalog and stock reservations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    /// 1 to 200 characters.
    pub name: String,
    /// At most 2000 characters.
    #[serde(default)]
    pub description: String,
    /// A slug of lower-case letters, digits and dashes, 1 to 64 characters.
    pub category: String,
    pub price: Money,
    /// Initial stock, at least 0.
    #[serde(default)]
    pub stock: i32,
}

/// Body of `PATCH /v1/products/{id}`: every field optional, only those given
/// change. Archive a product with `{"archived": true}`; nothing is deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// Sets the available stock (units held by reservations are not part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// Query of `GET /v1/products`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProducts {
    /// Only products of this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Case-insensitive substring of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Comma-separated product ids, at most 100. Archived products are
    /// included when asked for by id, so a cart can tell they are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
    /// Page size, 1 to 100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
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
    /// At least 1.
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
    pub lines: Vec<ReservationLineRequest>,
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
