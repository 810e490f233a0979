//! The order service binary: configuration, telemetry, run. Everything else
//! is in the library so tests can drive it in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    shop_common::server::main(
        order::SERVICE,
        order::Config::from_env,
        |c| &c.telemetry,
        |c| &c.http,
        order::run,
    )
}
