//! The product service's rules, free of HTTP and SQL: validation, ETags,
//! cursors, reservation requests. Everything here is a pure function, tested
//! beside its code.

pub mod catalog;
pub mod reservation;
