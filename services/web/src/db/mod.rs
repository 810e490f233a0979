//! The storefront's queries: its own database holds only sessions.

pub mod sessions;
