//! The order service's rules, free of HTTP and SQL.

pub mod checkout;
pub mod order;
