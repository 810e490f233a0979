//! `cargo xtask load [--release] [ARGS...]`: the load generator
//! (`crates/load`, the `shop-load` binary) against a local stack it starts
//! on free ports, with the internal API at hand so the audit also reads
//! reservations. ARGS go to shop-load (`cargo xtask load -- --help`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::pg::{DbServer, OutputChecked};
use crate::stack::{self, Logs, Profile, Stack};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let release = args.first().map(String::as_str) == Some("--release");
    let rest = if release { &args[1..] } else { args };
    let rest = rest.strip_prefix(&["--".to_owned()]).unwrap_or(rest);
    let profile = if release {
        Profile::Release
    } else {
        Profile::Debug
    };
    let exe = build_shop_load(profile)?;
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start_with(&db, stack::free_endpoints(), Logs::Files, profile)?;
    let status = Command::new(&exe)
        .args(rest)
        .envs(stack.e2e_env())
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    drop(stack);
    drop(db);
    match status.code() {
        Some(0) => Ok(()),
        // shop-load's own exit code (1 SLO failed, 2 invariant violated,
        // ...) is the answer: pass it on unchanged.
        Some(code) => std::process::exit(code),
        None => bail!("shop-load was killed ({status})"),
    }
}

/// Builds shop-load in `profile` and returns the binary's path.
pub fn build_shop_load(profile: Profile) -> anyhow::Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "-p", "shop-load"])
        .args(profile.cargo_args())
        .current_dir(crate::workspace_root());
    if !cmd.status()?.success() {
        bail!("cargo build -p shop-load failed");
    }
    Ok(crate::stack::binary_dir(profile).join("shop-load"))
}

/// Runs shop-load's checkout scenario (add to cart, check out) with
/// `users` closed-loop users for `seconds`, against the stack `env` names,
/// writing its JSON report to `report`; returns the checkouts placed.
pub fn checkout_run(
    exe: &Path,
    users: u32,
    seconds: &str,
    report: &Path,
    env: Vec<(String, String)>,
) -> anyhow::Result<f64> {
    Command::new(exe)
        .args(["--scenario", "checkout", "--users"])
        .arg(users.to_string())
        .arg("--duration")
        .arg(format!("{seconds}s"))
        .args(["--quiet", "--report"])
        .arg(report)
        .envs(env)
        .output_checked("shop-load")?;
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(report)?)?;
    Ok(r["checkouts"]["placed"].as_f64().unwrap_or(0.0))
}
