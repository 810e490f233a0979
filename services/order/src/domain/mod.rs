//! The order service's rules, free of HTTP and SQL.

pub mod order;
