//! `cargo xtask`: the project's developer commands, in Rust so they run
//! wherever cargo does.
//!
//! - `cargo xtask test`: every test, against a throwaway PostgreSQL unless
//!   `DATABASE_URL` is set (the README's test command).
//! - `cargo xtask e2e [--against]`: the end-to-end suite, against a local
//!   stack it starts, or with `--against` against the stack named by the
//!   `SHOP_*_URL` variables (a compose stack, say).
//! - `cargo xtask dev`: a throwaway PostgreSQL and the services with the demo
//!   catalog, until Ctrl-C.
//! - `cargo xtask load [--release] [ARGS]`: shop-load against a local stack.
//! - `cargo xtask schemathesis`: every operation of the three services
//!   fuzzed by schemathesis (pinned) against its OpenAPI document, on a
//!   local stack.
//! - `cargo xtask k8s`: the Kubernetes manifests validated offline.
//! - `cargo xtask standins`: local stand-ins for the base images, built from
//!   Debian packages, for machines that cannot pull images.
//! - `cargo xtask containers`: the container stage of CI (stand-ins, lint,
//!   images, compose up, e2e and fault tests through the gateway, down).
//! - `cargo xtask token <subject> [--admin] [--ttl SECS]`: a development
//!   bearer token.
//! - `cargo xtask fault SERVICE list|clear|RULE...`: the fault switches of a
//!   running stack (docs/labs/).

mod bench;
mod callgrind;
mod dev;
mod fault;
mod gateway;
mod load;
mod pg;
mod profile;
mod schemathesis;
mod stack;
mod tests;
mod token;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test [ARGS...]                      run every test (ARGS go to the test runner)
  e2e [--against] [ARGS...]           run the end-to-end suite on a local stack, or with
                                      --against on the one SHOP_*_URL names
  dev                                 run the stack locally with the demo catalog
  load [--release] [ARGS...]          run shop-load (ARGS; `load -- --help` lists them)
                                      against a local stack it starts
  bench                               every Performance figure of the README, three
                                      rounds, medians (release build; needs wrk)
  bench sequential [--release] [N]    N sequential checkouts on a local stack (default
                                      1000), printing latency percentiles
  bench checkout                      16 closed-loop users of add-to-cart + checkout for
                                      15 s (shop-load) beside pgbench -N, with the CPU
                                      seconds of every process, then the open model at
                                      half that rate (release build)
  bench reads                         product reads under wrk beside pgbench -S, the
                                      same through the gateway's nginx.conf (with the
                                      host's nginx), and the services' memory (needs wrk)
  bench faults                        product reads with the fault switches off, on
                                      with no rules, and on with a rule elsewhere
                                      (release build; needs wrk)
  bench profile [--seconds=N]         statements and commits per checkout in each
                                      service's database (pg_stat_statements)
  bench callgrind [reads|reads-uncached|checkout SERVICE] [--requests=N] [--seconds=N]
                                      instructions per request (or checkout) in one
                                      service and the functions they go to (valgrind)
  schemathesis [--install] [--max-examples N] [--only RUN] [-- ARGS]
                                      hold every operation of the three services to its
                                      OpenAPI document (schemathesis, pinned, in a venv
                                      under ~/.cache; all checks, stateful phase) on a
                                      local stack; --install only installs it
  k8s                                 validate the Kubernetes manifests offline
                                      (render, kubernetes-validate, checkov)
  standins [IMAGE...]                 build the local stand-in base images from Debian
                                      packages (needs root and mmdebstrap)
  containers                          build the images, start the compose stack, run
                                      the e2e and fault tests through the gateway,
                                      take it down (docker/ci.sh)
  token <subject> [--admin] [--ttl SECS]
                                      print a development bearer token
  fault SERVICE list|clear|RULE... [--admin URL]
                                      set, list or clear the fault switches of a
                                      running stack (docs/labs/; `fault --help`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => tests::run_tests(&args[1..]),
        Some("dev") => dev::run(),
        Some("e2e") => tests::run_e2e(&args[1..]),
        Some("token") => token::run(&args[1..]),
        Some("fault") => fault::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("load") => load::run(&args[1..]),
        Some("schemathesis") => schemathesis::run(&args[1..]),
        Some("k8s") => script("k8s/validate.sh", &args[1..]),
        Some("standins") => script("docker/standins/build.sh", &args[1..]),
        Some("containers") => script("docker/ci.sh", &args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one of the project's bash scripts from the workspace root.
fn script(path: &str, args: &[String]) -> anyhow::Result<()> {
    let status = std::process::Command::new("bash")
        .arg(path)
        .args(args)
        .current_dir(workspace_root())
        .status()?;
    anyhow::ensure!(status.success(), "{path} failed ({status})");
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}
