//! `shop-load`: the binary. Parses the command line, runs, prints the
//! summary and exits with the run's outcome (see `shop-load --help`).

use std::process::ExitCode;

use clap::Parser;
use shop_load::cli::Args;

/// Bad usage (sysexits' EX_USAGE), so it never looks like an audit failure.
const USAGE: u8 = 64;
/// The run could not start.
const NOT_STARTED: u8 = 3;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shop-load: {e}");
            return ExitCode::from(NOT_STARTED);
        }
    };
    match runtime.block_on(shop_load::run(args)) {
        Ok((report, outcome)) => {
            println!("{}", report.summary());
            ExitCode::from(outcome.code())
        }
        Err(e) => {
            eprintln!("shop-load: {e:#}");
            ExitCode::from(NOT_STARTED)
        }
    }
}
