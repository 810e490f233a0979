//! The cart service's SQL.

pub mod lines;
