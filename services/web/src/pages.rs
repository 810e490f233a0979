//! The pages: one askama template (in `templates/`) per struct here, each
//! checked at compile time against the fields it uses. Templates escape
//! every value they show (HTML escaping is on for `.html` files), so a
//! product named `<script>` is shown, never run.
//!
//! The structs hold text ready to show (money formatted, ids as strings):
//! the templates have no logic beyond loops and conditions.

use askama::Template;

pub use crate::routes::assets::STYLESHEET_PATH;

/// What every page's frame shows: the header (who is signed in, the
/// sign-out form) and the footer (request id and trace id, for learners to
/// follow one click through the logs and the trace).
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub user: Option<String>,
    pub admin: bool,
    /// The session's CSRF token, put in every POST form; empty without a
    /// session (no page then has a POST form).
    pub csrf: String,
    pub request_id: String,
    pub trace_id: Option<String>,
    pub title: String,
}

impl Chrome {
    pub fn stylesheet(&self) -> &'static str {
        STYLESHEET_PATH.as_str()
    }
}

/// A product as a card or a page shows it.
#[derive(Debug, Clone)]
pub struct ProductView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: String,
    pub stock: i32,
}

impl From<&shop_api::product::Product> for ProductView {
    fn from(p: &shop_api::product::Product) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            price: crate::domain::money::display(&p.price),
            stock: p.stock,
        }
    }
}

#[derive(Template)]
#[template(path = "catalog.html")]
pub struct CatalogPage {
    pub chrome: Chrome,
    pub q: String,
    pub category: String,
    pub products: Vec<ProductView>,
    /// The next page's URL (keyset pagination: the cursor of this one's end).
    pub next: Option<String>,
    pub signed_in: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct ProductPage {
    pub chrome: Chrome,
    pub product: ProductView,
    pub signed_in: bool,
    pub max_quantity: i32,
}

#[derive(Debug, Clone)]
pub struct CartLineView {
    pub product_id: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: String,
    pub line_total: String,
    pub available: bool,
}

#[derive(Template)]
#[template(path = "cart.html")]
pub struct CartPage {
    pub chrome: Chrome,
    pub lines: Vec<CartLineView>,
    pub total: Option<String>,
    pub prices_stale: bool,
    /// The Idempotency-Key of this rendering's checkout form: submitting
    /// the form twice (a double click, a reload, back-and-resubmit) sends
    /// the same key, so the second submission replays the first order.
    pub checkout_key: String,
    pub max_quantity: i32,
}

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: String,
    pub status: &'static str,
    pub total: String,
    pub created: String,
    pub lines: usize,
}

#[derive(Template)]
#[template(path = "orders.html")]
pub struct OrdersPage {
    pub chrome: Chrome,
    pub orders: Vec<OrderRow>,
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OrderLineView {
    pub product_id: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: String,
    pub line_total: String,
}

#[derive(Template)]
#[template(path = "order.html")]
pub struct OrderPage {
    pub chrome: Chrome,
    pub id: String,
    pub status: &'static str,
    pub lines: Vec<OrderLineView>,
    pub total: String,
    pub created: String,
    pub note: Option<String>,
    pub failure_reason: Option<String>,
    pub cancellable: bool,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    /// Whether development sign-in is switched on (`WEB_DEV_SIGN_IN`).
    pub enabled: bool,
    pub error: Option<String>,
    pub name: String,
    pub next: String,
}

#[derive(Debug, Clone)]
pub struct AdminProductView {
    pub id: String,
    pub name: String,
    pub category: String,
    /// The price as typed into the form (`34.99`), in `currency`.
    pub price: String,
    pub currency: String,
    pub stock: i32,
    pub version: i64,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub chrome: Chrome,
    pub products: Vec<AdminProductView>,
    pub next: Option<String>,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub heading: String,
    pub detail: String,
    /// On 401: where to come back to after signing in.
    pub sign_in_next: Option<String>,
}

#[derive(Template)]
#[template(path = "trace.html")]
pub struct TracePage {
    pub chrome: Chrome,
    pub trace_id: String,
}
