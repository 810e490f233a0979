//! The storefront binary: everything is in the library (and the
//! platform's `service::main`), so tests start it the way this does.

fn main() -> std::process::ExitCode {
    shop_common::service::main::<web::Web>()
}
