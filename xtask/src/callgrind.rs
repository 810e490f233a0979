//! `cargo xtask bench callgrind [reads|reads-uncached|checkout SERVICE]
//! [--requests=N]`: where one service's CPU goes, counted in instructions
//! by valgrind's callgrind. Instruction counts do not depend on what else
//! the machine is doing, so the figures compare across runs and machines
//! of one architecture, unlike timings.
//!
//! The stack is built with the `profiling` cargo profile (release code,
//! symbols kept) and the chosen service runs under
//! `valgrind --tool=callgrind --instr-atstart=no`: start-up is not
//! counted. Counting starts (`callgrind_control -i on`) after a warm-up
//! and stops when the service exits on SIGTERM; the work in between is
//! - `reads`: `--requests` (default 2,000) `GET /v1/products/{id}` over
//!   20 products, 8 at a time on kept-alive connections, read cache on;
//! - `reads-uncached`: the same with `PRODUCT_CACHE_TTL_MS=0`;
//! - `checkout SERVICE` (product, cart or order): shop-load's checkout
//!   scenario (add to cart, check out) with 2 users for `--seconds`
//!   (default 10), counted in the one service named.
//!
//! It prints instructions per request (or per checkout placed) and the
//! functions that cost most, inclusive and exclusive (`callgrind_annotate`).
//! The profile stays in `target/bench/callgrind/` for
//! `callgrind_annotate` or KCachegrind.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::pg::{DbServer, OutputChecked};
use crate::stack::{self, Logs, Profile, Stack};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")))
            .map(str::to_owned)
    };
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (work, service) = match words.as_slice() {
        [] | ["reads"] => (Work::Reads { cached: true }, "product"),
        ["reads-uncached"] => (Work::Reads { cached: false }, "product"),
        ["checkout", svc @ ("product" | "cart" | "order")] => (Work::Checkout, *svc),
        other => bail!(
            "unknown callgrind work {other:?}: reads, reads-uncached, or checkout product|cart|order"
        ),
    };
    let requests: usize = flag("requests").map_or(Ok(2000), |v| v.parse())?;
    let seconds: u64 = flag("seconds").map_or(Ok(10), |v| v.parse())?;
    let seconds = seconds.to_string();
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        if Command::new("which").arg(tool).output()?.stdout.is_empty() {
            bail!("{tool} is not installed (Debian: apt-get install valgrind)");
        }
    }

    let exe = crate::load::build_shop_load(Profile::Profiling)?;
    let dir = crate::workspace_root().join("target/bench/callgrind");
    std::fs::create_dir_all(&dir)?;
    let out_file = dir.join(format!("{service}.{}.out", work.name()));
    let _ = std::fs::remove_file(&out_file);
    let wrapper: Vec<String> = [
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        "--instr-atstart=no".to_owned(),
        format!("--callgrind-out-file={}", out_file.display()),
    ]
    .into();
    let extra: &[(&str, &str)] = match work {
        Work::Reads { cached: false } => &[("PRODUCT_CACHE_TTL_MS", "0")],
        _ => &[],
    };

    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start_wrapped(
        &db,
        stack::free_endpoints(),
        Logs::Files,
        Profile::Profiling,
        extra,
        Some((service, &wrapper)),
    )?;
    let pid = stack
        .pids()
        .into_iter()
        .find(|(name, _)| *name == service)
        .map(|(_, pid)| pid)
        .context("the profiled service is not in the stack")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let (done, unit) = match work {
        Work::Reads { .. } => {
            let url = stack.url("product");
            let ids = runtime.block_on(crate::dev::catalog_ids(&url, 20))?;
            runtime.block_on(reads(&url, &ids, 200))?;
            counting(pid, true)?;
            runtime.block_on(reads(&url, &ids, requests))?;
            (requests as f64, "request")
        }
        Work::Checkout => {
            let shop_load = |secs: &str, report: &Path| {
                crate::load::checkout_run(&exe, 2, secs, report, stack.e2e_env())
            };
            // The warm-up also creates the run's catalog.
            shop_load("2", &dir.join("warm-up.json"))?;
            counting(pid, true)?;
            let placed = shop_load(&seconds, &dir.join("checkout.json"))?;
            anyhow::ensure!(placed > 0.0, "no checkout was placed");
            (placed, "checkout placed")
        }
    };
    counting(pid, false)?;
    // SIGTERM: the service shuts down and valgrind writes the profile.
    stack.stop()?;
    drop(db);
    report(&out_file, done, unit)
}

#[derive(Debug, Clone, Copy)]
enum Work {
    Reads { cached: bool },
    Checkout,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Reads { cached: true } => "reads",
            Work::Reads { cached: false } => "reads-uncached",
            Work::Checkout => "checkout",
        }
    }
}

/// Switches callgrind's instrumentation (and so its counting) on or off in
/// process `pid`; it acts at the process's next basic block, so give it a
/// moment.
fn counting(pid: u32, on: bool) -> anyhow::Result<()> {
    Command::new("callgrind_control")
        .args(["-i", if on { "on" } else { "off" }])
        .arg(pid.to_string())
        .output_checked("callgrind_control")?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

/// `n` reads of random products of `ids`, 8 at a time, each answered 200.
async fn reads(url: &str, ids: &[uuid::Uuid], n: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, next, ids) = (client.clone(), next.clone(), ids.to_vec());
        let url = url.to_owned();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                // A spread that repeats: every product is read many times.
                let id = ids[(i * 7) % ids.len()];
                let resp = client.get(format!("{url}/v1/products/{id}")).send().await?;
                anyhow::ensure!(resp.status() == 200, "a read answered {}", resp.status());
                resp.bytes().await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Prints the total per unit of work and the costliest functions.
fn report(out_file: &Path, done: f64, unit: &str) -> anyhow::Result<()> {
    let annotate = |inclusive: bool| -> anyhow::Result<String> {
        let out = Command::new("callgrind_annotate")
            .arg(format!(
                "--inclusive={}",
                if inclusive { "yes" } else { "no" }
            ))
            .arg("--threshold=99")
            .arg(out_file)
            .output_checked("callgrind_annotate")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let exclusive = annotate(false)?;
    let total: f64 = exclusive
        .lines()
        .find(|l| l.contains("PROGRAM TOTALS"))
        .and_then(|l| l.split_whitespace().next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .context("callgrind_annotate printed no PROGRAM TOTALS")?;
    println!(
        "{:.0} instructions per {unit} ({total:.0} over {done:.0}); profile {}",
        total / done,
        out_file.display()
    );
    let functions = |text: &str, most: usize| {
        text.lines()
            .filter(|l| l.contains(" (") || l.contains(':'))
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .filter(|l| !l.contains("PROGRAM TOTALS"))
            .take(most)
            .map(|l| {
                let mut f = l.trim_start().splitn(2, ' ');
                let ir: f64 = f
                    .next()
                    .unwrap_or("0")
                    .replace(',', "")
                    .parse()
                    .unwrap_or(0.0);
                // After the count comes its share in parentheses, then
                // `file:function [object]`.
                let rest = f.next().unwrap_or("").trim_start();
                let name = rest
                    .strip_prefix('(')
                    .and_then(|r| r.split_once(')'))
                    .map_or(rest, |(_, name)| name)
                    .trim();
                format!(
                    "  {:>9.0} {:>5.1}%  {}",
                    ir / done,
                    100.0 * ir / total,
                    crate::profile::shorten(name, 120)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!("\ninclusive, per {unit} (instructions, share, function):");
    println!("{}", functions(&annotate(true)?, 40));
    println!("\nexclusive, per {unit}:");
    println!("{}", functions(&exclusive, 30));
    Ok(())
}
