//! The storefront's integration tests: web started as it ships, over the
//! test's database, in front of real product, cart and order services
//! (each over a scratch database of its own), driven over HTTP the way a
//! browser without JavaScript drives it: GET pages, POST forms, follow
//! nothing automatically.

mod helpers;
mod metrics;
mod pages;
mod safety;
