//! The cart service binary: configuration, telemetry, run. Everything else
//! is in the library so tests can drive it in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    shop_common::server::main(
        cart::SERVICE,
        cart::Config::from_env,
        |c| &c.telemetry,
        |c| &c.http,
        cart::run,
    )
}
