//! The cart service's SQL.

pub mod cart_lines;
