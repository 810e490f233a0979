//! Shop's platform crate: everything the three services do the same way.
//!
//! A service calls into this crate for configuration ([`config`]), logs and
//! traces ([`telemetry`]), Prometheus metrics ([`metrics`]), `/livez` and
//! `/readyz` ([`health`]), the HTTP middleware stack and graceful shutdown
//! ([`server`]), request bodies ([`json`]), problem+json errors ([`error`]), JWT and service
//! authentication ([`auth`]), the PostgreSQL pool ([`db`]), the error
//! responses every OpenAPI document lists ([`openapi`]), and the skeleton
//! every service is built on ([`service`]). Keeping these
//! here means a reader who learns one service has learned all three.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod faults;
pub mod health;
pub mod http_client;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod request_id;
pub mod server;
pub mod service;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::ApiError;
