//! `cargo xtask test` and `cargo xtask e2e`: the test runners, over a
//! PostgreSQL server ([`crate::pg`]) and a local stack ([`crate::stack`]).

use std::process::Command;

use anyhow::{Context, bail};

use crate::pg::DbServer;
use crate::stack::{self, Logs, Stack};

/// Runs the workspace's tests with `cargo nextest` when installed, else
/// `cargo test`, with `env` set.
fn run_cargo_tests(
    packages: &[&str],
    extra: &[String],
    env: &[(String, String)],
) -> anyhow::Result<()> {
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = Command::new("cargo");
    if nextest {
        cmd.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--no-fail-fast"]);
    }
    if packages.is_empty() {
        cmd.arg("--workspace");
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    // `cargo xtask test -- ARGS` and `cargo xtask test ARGS` mean the same.
    let extra = extra.strip_prefix(&["--".to_owned()]).unwrap_or(extra);
    let status = cmd
        .args(extra)
        .envs(env.iter().cloned())
        // The services build their queries at run time, so the database is
        // never needed to compile; keep it that way.
        .env("SQLX_OFFLINE", "true")
        .current_dir(crate::workspace_root())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}

/// `cargo xtask test`: every test in the workspace, the end-to-end suite
/// included, against one PostgreSQL server (`DATABASE_URL`, or a throwaway
/// cluster) and a local stack of the services on free ports.
pub fn run_tests(extra: &[String]) -> anyhow::Result<()> {
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start(&db, stack::free_endpoints(), Logs::Files)?;
    let mut env = stack.e2e_env();
    env.push(("DATABASE_URL".into(), db.admin_url()));
    // The tests that start services as processes use the binaries the stack
    // was just built from (`testing::service_binary`), rather than build
    // them once more in an environment of their own.
    env.push((
        "SHOP_SERVICE_BINARIES".into(),
        stack::binary_dir(stack::Profile::Debug)
            .display()
            .to_string(),
    ));
    let tested = run_cargo_tests(&[], extra, &env);
    // A failed run is the news; otherwise the services must also stop
    // cleanly after serving the whole suite.
    tested?;
    stack.stop()
}

/// `cargo xtask e2e`: the end-to-end suite alone. With `--against`, against
/// the stack the `SHOP_*_URL` variables name; otherwise against a local stack.
pub fn run_e2e(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("--against") {
        return run_cargo_tests(&["e2e"], &args[1..], &[]);
    }
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start(&db, stack::free_endpoints(), Logs::Files)?;
    run_cargo_tests(&["e2e"], args, &stack.e2e_env())?;
    stack.stop()
}
