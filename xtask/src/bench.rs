//! `cargo xtask bench`: figures, never assertions. Timings on a shared
//! machine swing a lot, so each figure is printed beside a baseline
//! measured in the same run.
//!
//! - `bench [--release] [N]`: N sequential checkouts on a local stack,
//!   latency percentiles (the `checkout_bench` binary of the e2e package).
//! - `bench reads`: `GET /v1/products/{id}` with random ids under wrk,
//!   beside `pgbench -S` on the same PostgreSQL, as a ratio; plus the
//!   services' idle memory. Needs `wrk` (Debian package `wrk`).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::pg::DbServer;
use crate::stack::{self, Logs, Profile, Stack};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("reads") {
        return reads();
    }
    checkouts(args)
}

fn checkouts(args: &[String]) -> anyhow::Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let n = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "1000".into());
    let profile = if release {
        Profile::Release
    } else {
        Profile::Debug
    };
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start_with(&db, stack::free_endpoints()?, Logs::Files, profile)?;
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "--quiet", "-p", "e2e", "--bin", "checkout_bench"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .arg("--")
        .arg(&n)
        .envs(stack.e2e_env())
        .current_dir(crate::workspace_root())
        .status()?;
    anyhow::ensure!(status.success(), "the benchmark failed ({status})");
    Ok(())
}

/// The first number after `label` in `text`.
fn figure(text: &str, label: &str) -> Option<f64> {
    let rest = &text[text.find(label)? + label.len()..];
    let rest = rest.trim_start_matches(|c: char| !c.is_ascii_digit());
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn output(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn reads() -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed (Debian: apt-get install wrk)");
    }
    let db = DbServer::from_env_or_start()?;
    let bin = crate::pg::find_bin_dir()?;
    let stack = Stack::start_with(&db, stack::free_endpoints()?, Logs::Files, Profile::Release)?;
    std::thread::sleep(Duration::from_secs(2));
    println!("idle memory (RSS) after start-up:");
    for (name, kib) in stack.rss_kib() {
        println!("  {name:<8} {:.1} MiB", kib as f64 / 1024.0);
    }

    // The product catalog, loaded through the API, and a wrk script that
    // asks for a random one of its ids on every request.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let product_url = stack.url("product");
    let ids = runtime.block_on(async {
        crate::dev::load_catalog(&product_url).await?;
        let page = shop_api::ProductClient::new(reqwest::Client::new(), &product_url)
            .list(&shop_api::product::ListProducts {
                limit: Some(100),
                ..Default::default()
            })
            .await?;
        anyhow::Ok(
            page.items
                .into_iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>(),
        )
    })?;
    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("random-product.lua");
    let list = ids
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(
        &script,
        format!(
            "local ids = {{{list}}}\nmath.randomseed(os.time())\n\
             request = function() return wrk.format(\"GET\", \"/v1/products/\" .. ids[math.random(#ids)]) end\n"
        ),
    )?;

    // The baseline: PostgreSQL's own primary-key reads on the same server.
    db.psql("CREATE DATABASE pgbench")?;
    let mut pg_url = reqwest::Url::parse(&db.admin_url())?;
    pg_url.set_path("pgbench");
    output(
        Command::new(bin.join("pgbench")).args(["-i", "-s", "10", "-q", pg_url.as_str()]),
        "pgbench -i",
    )?;
    let pgbench_cmd = format!("pgbench -S -M prepared -c16 -j1 -T10 {pg_url}");
    let pg = output(
        Command::new(bin.join("pgbench")).args([
            "-S",
            "-M",
            "prepared",
            "-c16",
            "-j1",
            "-T10",
            pg_url.as_str(),
        ]),
        "pgbench -S",
    )?;
    let tps = figure(&pg, "tps = ").context("pgbench printed no tps")?;

    let wrk_cmd = format!("wrk -t1 -c64 -d10s -s {} {product_url}", script.display());
    let wrk = output(
        Command::new("wrk")
            .args(["-t1", "-c64", "-d10s", "-s"])
            .arg(&script)
            .arg(&product_url),
        "wrk",
    )?;
    let rps = figure(&wrk, "Requests/sec:").context("wrk printed no Requests/sec")?;
    let non_2xx = figure(&wrk, "Non-2xx or 3xx responses:").unwrap_or(0.0);
    let latency = wrk
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .unwrap_or("")
        .trim();

    println!("\n{pgbench_cmd}\n  {tps:.0} tps");
    println!("{wrk_cmd}\n  {rps:.0} requests/s, non-2xx: {non_2xx}\n  {latency}");
    println!("\nGET /v1/products/{{id}} / pgbench -S = {:.2}", rps / tps);
    println!("after load:");
    for (name, kib) in stack.rss_kib() {
        println!("  {name:<8} {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
