//! The cart service's wire types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::Money;

/// Most distinct products one cart may hold.
pub const MAX_LINES: usize = 50;
/// Most units of one product per line.
pub const MAX_QUANTITY: i32 = 99;

/// Body of `PUT /v1/cart/items/{product_id}`: the line's new quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 1 to 99.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i32,
}

/// One line of a cart as the user sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartItem {
    pub product_id: Uuid,
    /// The product's name; empty when prices are stale and it was never known.
    pub name: String,
    pub quantity: i32,
    /// The current price, or the price at add time when `prices_stale`.
    pub unit_price: Money,
    pub line_total: Money,
    /// False when the product has been archived: checkout will refuse it.
    pub available: bool,
}

/// The user's cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    /// Sorted by the time each product was first added.
    pub items: Vec<CartItem>,
    /// Sum of the line totals; absent for an empty cart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    /// True when the product service could not be reached within the
    /// deadline: prices and availability are those stored when each item was
    /// added, and may be out of date. Checkout always uses current prices.
    pub prices_stale: bool,
}

/// One stored line, for the order service. `revision` changes whenever the
/// line does, so a checkout removes only what it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredLine {
    pub product_id: Uuid,
    pub quantity: i32,
    /// The price stored at add time (informative; product's is authoritative).
    pub unit_price: Money,
    pub revision: i64,
}

/// Query of the internal cart routes: whose cart. Any token subject is a
/// valid user id, so it travels as a query value, never a path segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CartOwner {
    /// The user (token subject): any text without NUL.
    #[param(pattern = r"^[^\u0000]*$")]
    pub user_id: String,
}

/// A user's cart as stored, for `GET /internal/v1/carts?user_id=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredCart {
    pub user_id: String,
    pub lines: Vec<StoredLine>,
}

/// A line a checkout took, identified with the revision it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRef {
    pub product_id: Uuid,
    pub revision: i64,
}

/// Body of `POST /internal/v1/carts/remove?user_id=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveLines {
    /// At most 50 (a cart's most lines).
    #[schema(max_items = 50)]
    pub lines: Vec<LineRef>,
}

/// Answer of the remove call: how many lines went (lines changed since the
/// checkout read them stay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Removed {
    pub removed: u64,
}
