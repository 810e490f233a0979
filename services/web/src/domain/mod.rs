//! The storefront's types and rules: no axum, no sqlx.

pub mod money;
pub mod session;
