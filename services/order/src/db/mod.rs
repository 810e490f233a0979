//! The order service's SQL. No transaction here ever spans an HTTP call:
//! the saga moves between short transactions, and the order row records
//! how far it got.

pub mod orders;
