//! The cart service's integration tests: real PostgreSQL, a real product
//! service on a loopback socket, the full middleware stack.

mod cart;
mod helpers;
mod schema;
