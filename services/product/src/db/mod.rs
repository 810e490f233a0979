//! The product service's SQL. Each function is one unit of work against its
//! own database; transactions never span an HTTP call.

pub mod products;
pub mod reservations;
