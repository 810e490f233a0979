//! The cart's rules, free of HTTP and SQL.

pub mod cart;
