//! The product service's integration tests: one binary, real PostgreSQL (a
//! fresh database per test via `#[sqlx::test]`), the full middleware stack
//! in-process, and real sockets where concurrency or shutdown matter.

mod auth;
mod cache;
mod catalog;
mod concurrency;
mod errors;
mod faults;
mod helpers;
mod locking;
mod plans;
mod reservations;
mod schema;
mod shutdown;
mod startup;
