//! Shop's wire contract: the JSON types every service speaks and typed clients
//! for them.
//!
//! Services, the end-to-end suite and tools all depend on this crate, so a
//! change to a type here is a change to the public API: keep it additive.

pub mod auth;
pub mod cart;
pub mod client;
pub mod faults;
pub mod money;
pub mod order;
pub mod problem;
pub mod product;

pub use client::{CartClient, ClientError, Idempotency, OrderClient, ProductClient, Transport};
pub use money::Money;
pub use problem::{FieldError, Problem, ProblemType};
