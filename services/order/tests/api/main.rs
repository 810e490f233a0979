//! The order service's integration tests: real PostgreSQL for all three
//! services, real product and cart services on loopback sockets, and the
//! order service in-process or, for crash tests, as a real process.

mod checkout;
mod crash;
mod docs;
mod failures;
mod faults;
mod helpers;
mod load;
mod observability;
mod recovery;
mod schema;
