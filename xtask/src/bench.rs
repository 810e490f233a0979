//! `cargo xtask bench`: figures, never assertions. Timings on a shared
//! machine swing a lot, so each figure is printed beside a baseline
//! measured in the same run.
//!
//! - `bench`: every figure below, three rounds each, with the medians:
//!   the README's Performance table comes from it.
//! - `bench sequential [--release] [N]`: N sequential checkouts on a local
//!   stack, latency percentiles (the `checkout_bench` binary of the e2e
//!   package).
//! - `bench reads`: `GET /v1/products/{id}` with random ids under wrk,
//!   beside `pgbench -S` on the same PostgreSQL, as a ratio; the same
//!   reads through the Compose gateway's nginx.conf run by the host's nginx
//!   (when installed), as a ratio to direct; plus the services' idle
//!   memory. Needs `wrk` (Debian package `wrk`).
//! - `bench checkout`: shop-load's checkout scenario (16 closed-loop users
//!   of add-to-cart + checkout, 15 s) beside `pgbench -N`, as a ratio, with
//!   the CPU seconds every process spent (the services, PostgreSQL and
//!   shop-load itself, each split into user and kernel time), read from
//!   /proc; beside them the *checkout floor*: pgbench running one
//!   checkout's own statements (`xtask/bench/checkout-floor.sql`) on the
//!   same server, the most checkouts per second PostgreSQL can do here,
//!   so the ratio to `pgbench -N` has a ceiling to be read against; then
//!   the open model at half the rate it measured, for the latency of a
//!   busy but not saturated stack.
//! - `bench profile [--seconds=N]`: the statements and commits per
//!   checkout in each service's database (`pg_stat_statements`); see
//!   [`crate::profile`].
//! - `bench callgrind [reads|reads-uncached|checkout SERVICE]`: one
//!   service's instructions per request or checkout, and the functions
//!   they go to (valgrind's callgrind); see [`crate::callgrind`].

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::pg::DbServer;
use crate::stack::{self, Logs, Profile, Stack};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        None => all(),
        Some("reads") => reads(),
        Some("faults") => faults_cost(),
        Some("checkout") => checkout_load(),
        Some("profile") => crate::profile::run(&args[1..]),
        Some("callgrind") => crate::callgrind::run(&args[1..]),
        Some("sequential") => checkouts(&args[1..]),
        Some(other) => bail!("unknown bench {other:?} (see cargo xtask help)"),
    }
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
    let stack = Stack::start_with(&db, stack::free_endpoints(), Logs::Files, profile)?;
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
    let stack = Stack::start_with(&db, stack::free_endpoints(), Logs::Files, Profile::Release)?;
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
    let ids = runtime.block_on(crate::dev::catalog_ids(&product_url, 100))?;
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
    let (pgbench_cmd, tps) = pgbench(&db, &bin, "-S")?;

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

    // The same reads through the Compose gateway's nginx.conf, beside the
    // direct figure just taken.
    match crate::gateway::LocalGateway::start(&stack)? {
        None => println!("\n(no nginx installed: the read through the gateway is not measured)"),
        Some(gateway) => {
            let through = output(
                Command::new("wrk")
                    .args(["-t1", "-c64", "-d10s", "-s"])
                    .arg(&script)
                    .arg(gateway.url()),
                "wrk through the gateway",
            )?;
            let g_rps = figure(&through, "Requests/sec:").context("wrk printed no Requests/sec")?;
            let g_bad = figure(&through, "Non-2xx or 3xx responses:").unwrap_or(0.0);
            println!(
                "\nwrk -t1 -c64 -d10s through docker/gateway/nginx.conf (the host's nginx)\n  {g_rps:.0} requests/s, non-2xx: {g_bad}"
            );
            println!("\nthrough the gateway / direct = {:.2}", g_rps / rps);
        }
    }
    println!("after load:");
    for (name, kib) in stack.rss_kib() {
        println!("  {name:<8} {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// `bench faults`: what the fault switches cost a request when they are
/// on but idle, beside the same reads with them off (as in production),
/// five rounds each, alternating, a fresh database and product each time.
/// Off, the fault middleware is not installed at all, so "off" is the
/// platform's own cost; "on, no rules" adds the middleware's look at an
/// empty rule list; "on, a rule elsewhere" adds a scan past a rule for
/// another route, which every request of a lab pays.
fn faults_cost() -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed (Debian: apt-get install wrk)");
    }
    let modes: [(&str, &str, bool); 3] = [
        ("off (production)", "false", false),
        ("on, no rules", "true", false),
        ("on, a rule on another route", "true", true),
    ];
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for round in 1..=5 {
        for (i, (label, enabled, rule)) in modes.iter().enumerate() {
            let db = DbServer::from_env_or_start()?;
            let product: Vec<_> = stack::free_endpoints()
                .into_iter()
                .filter(|e| e.name == "product")
                .collect();
            let stack = Stack::start_configured(
                &db,
                product,
                Logs::Files,
                Profile::Release,
                &[("FAULTS_ENABLED", enabled)],
            )?;
            let url = stack.url("product");
            let admin = format!("http://127.0.0.1:{}", stack.endpoints[0].admin_port);
            let id = runtime.block_on(async {
                crate::dev::load_catalog(&url).await?;
                if *rule {
                    let rules = shop_api::faults::FaultRules {
                        rules: vec![shop_api::faults::FaultRule {
                            latency_ms: 1,
                            ..shop_api::faults::FaultRule::route("/v1/products")
                        }],
                    };
                    reqwest::Client::new()
                        .put(format!("{admin}/faults"))
                        .json(&rules)
                        .send()
                        .await?
                        .error_for_status()?;
                }
                let page = shop_api::ProductClient::new(reqwest::Client::new(), &url)
                    .list(&shop_api::product::ListProducts {
                        limit: Some(1),
                        ..Default::default()
                    })
                    .await?;
                anyhow::Ok(page.items[0].id)
            })?;
            let wrk = output(
                Command::new("wrk")
                    .args(["-t1", "-c64", "-d8s"])
                    .arg(format!("{url}/v1/products/{id}")),
                "wrk",
            )?;
            let rps = figure(&wrk, "Requests/sec:").context("wrk printed no Requests/sec")?;
            println!("round {round}: faults {label:<28} {rps:>8.0} requests/s");
            figures[i].push(rps);
            drop(stack);
            drop(db);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let off = median(&mut figures[0].clone());
    println!(
        "
GET /v1/products/{{id}} (cached read, default log level), wrk -t1 -c64 -d8s, medians of 5:"
    );
    for ((label, _, _), runs) in modes.iter().zip(&mut figures) {
        let m = median(runs);
        println!(
            "  faults {label:<28} {m:>8.0} requests/s   / off = {:.3}",
            m / off
        );
    }
    Ok(())
}

/// How every pgbench load of `bench` runs: prepared statements, 16
/// clients on one thread, 10 s. The baselines and the checkout floor share
/// it, so their ratios compare like with like.
const PGBENCH_LOAD: [&str; 5] = ["-M", "prepared", "-c16", "-j1", "-T10"];

/// (Re)creates `name` on `db`: a database left by an earlier run on a
/// server of one's own (`DATABASE_URL`) is dropped first.
fn fresh_database(db: &DbServer, name: &str) -> anyhow::Result<()> {
    db.psql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
    db.psql(&format!("CREATE DATABASE \"{name}\""))
}

/// Runs pgbench with `args` against `database` on `db`. Returns the
/// command line (to print beside the figure) and pgbench's output.
fn run_pgbench(
    db: &DbServer,
    bin: &std::path::Path,
    database: &str,
    args: &[&str],
) -> anyhow::Result<(String, String)> {
    let url = db.url_in(database);
    let out = output(
        Command::new(bin.join("pgbench"))
            .args(args)
            .arg(url.as_str()),
        &format!("pgbench {}", args.join(" ")),
    )?;
    Ok((format!("pgbench {} {url}", args.join(" ")), out))
}

/// Creates a pgbench database (scale 10) on `db` and runs `pgbench MODE`
/// with [`PGBENCH_LOAD`] against it: PostgreSQL's own figure on the same
/// server, the baseline of every ratio. Returns the command and tps.
fn pgbench(db: &DbServer, bin: &std::path::Path, mode: &str) -> anyhow::Result<(String, f64)> {
    fresh_database(db, "pgbench")?;
    run_pgbench(db, bin, "pgbench", &["-i", "-s", "10", "-q"])?;
    let args: Vec<&str> = [mode].into_iter().chain(PGBENCH_LOAD).collect();
    let (cmd, out) = run_pgbench(db, bin, "pgbench", &args)?;
    let tps = figure(&out, "tps = ").context("pgbench printed no tps")?;
    Ok((cmd, tps))
}

/// The checkout floor: PostgreSQL alone running one add-to-cart +
/// checkout's statements, from a pgbench script
/// (`xtask/bench/checkout-floor.sql`), with [`PGBENCH_LOAD`]. Returns the
/// command and its rate (checkouts per second).
fn checkout_floor(db: &DbServer, bin: &std::path::Path) -> anyhow::Result<(String, f64)> {
    floor_database(db, "floor")?;
    let (cmd, out) = run_floor(db, bin, "floor", &PGBENCH_LOAD)?;
    let tps = figure(&out, "tps = ").context("pgbench printed no tps")?;
    Ok((cmd, tps))
}

/// Makes the database `name` for the checkout floor: the three services'
/// schemas, made by their own migration files in order (their table and
/// function names do not clash), and a catalog of 20 products as
/// shop-load's.
fn floor_database(db: &DbServer, name: &str) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    fresh_database(db, name)?;
    for service in ["product", "cart", "order"] {
        let dir = root.join("services").join(service).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            db.psql_file_in(name, &file)?;
        }
    }
    // Ids 00000000-0000-0000-0000-000000000010 to ...29: the script names
    // them from a random number, with no lookup.
    db.query_in(
        name,
        "INSERT INTO products (id, name, category, price_amount, currency, stock) \
         SELECT ('00000000-0000-0000-0000-0000000000' || n)::uuid, 'Product ' || n, 'floor', \
           1999, 'EUR', 1000000000 FROM generate_series(10, 29) n",
    )?;
    db.query_in(name, "VACUUM ANALYZE")?;
    Ok(())
}

/// Runs the checkout floor's script on the database `name` with pgbench's
/// `args` (statement mode, clients, duration or count); fails if any
/// checkout failed. Returns the command as run and pgbench's output.
fn run_floor(
    db: &DbServer,
    bin: &std::path::Path,
    name: &str,
    args: &[&str],
) -> anyhow::Result<(String, String)> {
    let script = crate::workspace_root().join("xtask/bench/checkout-floor.sql");
    let script = script.to_str().context("the workspace path is not UTF-8")?;
    let args: Vec<&str> = ["-n"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["-f", script])
        .collect();
    let (cmd, out) = run_pgbench(db, bin, name, &args)?;
    anyhow::ensure!(
        figure(&out, "number of failed transactions: ") == Some(0.0),
        "the checkout floor script failed:\n{out}"
    );
    Ok((cmd, out))
}

/// CPU seconds a process has used, in user space and in the kernel, from
/// /proc/PID/stat; with `children`, also what its exited children used (a
/// PostgreSQL server's backends come and go). The split says where a hop
/// costs: a service's kernel time is mostly loopback TCP (send, receive,
/// wake-ups), which only fewer round trips can cut.
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: f64,
    kernel: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.user + self.kernel
    }
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user + o.user,
            kernel: self.kernel + o.kernel,
        }
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user - o.user,
            kernel: self.kernel - o.kernel,
        }
    }
}

fn cpu_seconds(pid: u32, children: bool) -> Cpu {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Cpu::default();
    };
    let Some(close) = stat.rfind(')') else {
        return Cpu::default();
    };
    let f: Vec<f64> = stat[close + 2..]
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // Fields 14-17 of proc(5): utime, stime, cutime, cstime (clock ticks).
    let field = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    let own = Cpu {
        user: field(11),
        kernel: field(12),
    };
    let waited = Cpu {
        user: field(13),
        kernel: field(14),
    };
    if children { own + waited } else { own }
}

/// CPU seconds of a PostgreSQL server: the postmaster, the children it
/// reaped, and the children still running.
fn postgres_cpu_seconds(postmaster: u32) -> Cpu {
    let mut total = cpu_seconds(postmaster, true);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(postmaster) {
            total = total + cpu_seconds(pid, false);
        }
    }
    total
}

/// `bench checkout`: see the module docs.
fn checkout_load() -> anyhow::Result<()> {
    let exe = crate::load::build_shop_load(Profile::Release)?;
    let db = DbServer::from_env_or_start()?;
    let bin = crate::pg::find_bin_dir()?;
    let stack = Stack::start_with(&db, stack::free_endpoints(), Logs::Files, Profile::Release)?;

    let (pgbench_cmd, tps) = pgbench(&db, &bin, "-N")?;
    let (floor_cmd, floor) = checkout_floor(&db, &bin)?;

    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("checkout.json");
    let html = dir.join("checkout.html");
    let load_args = [
        "--scenario",
        "checkout",
        "--users",
        "16",
        "--duration",
        "15s",
        "--quiet",
    ];
    let cpu = || {
        let mut v: Vec<(&str, Cpu)> = stack
            .pids()
            .into_iter()
            .map(|(name, pid)| (name, cpu_seconds(pid, false)))
            .collect();
        if let Some(pm) = db.postmaster_pid() {
            v.push(("postgres", postgres_cpu_seconds(pm)));
        }
        v
    };
    // A fresh start for the databases, as pgbench gives its own tables
    // (it vacuums them before it runs): the earlier runs' dead rows are
    // not this run's work.
    vacuum(&db, &bin)?;
    let load = Command::new(&exe)
        .args(load_args)
        .arg("--report")
        .arg(&report)
        .arg("--html")
        .arg(&html)
        .envs(stack.e2e_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting shop-load")?;
    // CPU is counted over a window in the middle of the load phase: past
    // shop-load's set-up (its catalog) and before its audit, which reads
    // back every order and reservation and is no checkout's cost.
    let load_pid = load.id();
    let with_load = |mut v: Vec<(&'static str, Cpu)>| {
        v.push(("shop-load", cpu_seconds(load_pid, false)));
        v
    };
    std::thread::sleep(Duration::from_secs(3));
    let before = with_load(cpu());
    std::thread::sleep(Duration::from_secs(CPU_WINDOW_SECS));
    let after = with_load(cpu());
    let finished = load.wait_with_output().context("waiting for shop-load")?;
    let out = String::from_utf8_lossy(&finished.stdout).into_owned();
    anyhow::ensure!(
        finished.status.success(),
        "shop-load failed ({}):\n{out}\n{}",
        finished.status,
        String::from_utf8_lossy(&finished.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
    let per_s = r["checkouts"]["per_s"].as_f64().unwrap_or(0.0);
    let placed = r["checkouts"]["placed"].as_f64().unwrap_or(0.0);
    let ms = |path: &[&str]| {
        path.iter()
            .fold(&r, |v, k| &v[*k])
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    println!("{out}");
    println!("{pgbench_cmd}\n  {tps:.0} tps");
    println!(
        "shop-load {} (report {})\n  {per_s:.0} checkouts/s ({placed:.0} placed), audit {}",
        load_args.join(" "),
        report.display(),
        if r["audit"]["ok"] == true {
            "OK"
        } else {
            "VIOLATED"
        }
    );
    println!(
        "  add-to-cart + checkout: p50 {:.2} ms, p99 {:.2} ms; POST /v1/orders alone: p50 {:.2} ms, p99 {:.2} ms",
        ms(&["journeys", "checkout", "latency_ms", "p50"]),
        ms(&["journeys", "checkout", "latency_ms", "p99"]),
        ms(&["steps", "checkout.place", "latency_ms", "p50"]),
        ms(&["steps", "checkout.place", "latency_ms", "p99"]),
    );
    println!("{floor_cmd}\n  {floor:.0} checkouts/s (PostgreSQL alone, one checkout's statements)");
    println!("\ncheckouts/s / pgbench -N tps = {:.3}", per_s / tps);
    println!(
        "checkout floor / pgbench -N tps = {:.3} (the most the ratio above can be on this machine)",
        floor / tps
    );
    println!(
        "checkouts/s / checkout floor = {:.3} (the share of PostgreSQL's best the stack reaches)",
        per_s / floor
    );
    println!(
        "\nCPU seconds over {CPU_WINDOW_SECS} s of the load (from its 3rd second), and per checkout at {per_s:.0}/s:"
    );
    let rows: Vec<(&str, Cpu)> = before
        .iter()
        .zip(&after)
        .map(|((name, b), (_, a))| (*name, *a - *b))
        .collect();
    if db.postmaster_pid().is_none() {
        println!("  (PostgreSQL is not local: DATABASE_URL is set, so its CPU is not measured)");
    }
    let per_checkout = 1000.0 / (per_s * CPU_WINDOW_SECS as f64).max(1.0);
    println!(
        "  {:<10} {:>8}  {:>12}  {:>18}",
        "", "seconds", "ms/checkout", "of which in kernel"
    );
    let all = rows.iter().fold(Cpu::default(), |sum, (_, c)| sum + *c);
    for (name, secs) in rows.into_iter().chain([("all", all)]) {
        println!(
            "  {name:<10} {:>8.2}  {:>12.3}  {:>15.0} %",
            secs.total(),
            secs.total() * per_checkout,
            100.0 * secs.kernel / secs.total().max(1e-9)
        );
    }
    anyhow::ensure!(r["audit"]["ok"] == true, "the audit found a violation");

    // The open model at half the saturation rate just measured: the
    // latency a user sees when the stack is busy but not overloaded.
    vacuum(&db, &bin)?;
    let rate = (per_s / 2.0).round().max(1.0);
    let open = dir.join("checkout-open.json");
    let rate_arg = format!("{rate}");
    let open_args = [
        "--scenario",
        "checkout",
        "--rate",
        &rate_arg,
        "--duration",
        "15s",
        "--quiet",
    ];
    output(
        Command::new(&exe)
            .args(open_args)
            .arg("--report")
            .arg(&open)
            .envs(stack.e2e_env()),
        "shop-load (open model)",
    )?;
    let o: serde_json::Value = serde_json::from_slice(&std::fs::read(&open)?)?;
    let at = |path: &[&str]| {
        path.iter()
            .fold(&o, |v, k| &v[*k])
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    println!(
        "
shop-load {} (half the rate above)
  add-to-cart + checkout: p50 {:.2} ms, p99 {:.2} ms, audit {}",
        open_args.join(" "),
        at(&["journeys", "checkout", "latency_ms", "p50"]),
        at(&["journeys", "checkout", "latency_ms", "p99"]),
        if o["audit"]["ok"] == true {
            "OK"
        } else {
            "VIOLATED"
        }
    );
    anyhow::ensure!(o["audit"]["ok"] == true, "the audit found a violation");
    Ok(())
}

/// How long `bench checkout` counts CPU, in the middle of its 15 s run.
const CPU_WINDOW_SECS: u64 = 10;

/// `VACUUM ANALYZE` in every database of the server.
fn vacuum(db: &DbServer, bin: &std::path::Path) -> anyhow::Result<()> {
    output(
        Command::new(bin.join("vacuumdb"))
            .args(["--all", "--analyze", "--quiet", "--maintenance-db"])
            .arg(db.admin_url()),
        "vacuumdb",
    )?;
    Ok(())
}

/// `bench` alone: every figure of the README's Performance table, each
/// beside its baseline from the same run, the median of `ROUNDS` rounds.
/// Each round is a whole `bench reads` or `bench checkout` (its own
/// PostgreSQL and stack), run as a child of this process so that the
/// cache-off round can set `PRODUCT_CACHE_TTL_MS=0` for its stack alone.
fn all() -> anyhow::Result<()> {
    const ROUNDS: usize = 3;
    let xtask = std::env::current_exe()?;
    let round = |args: &[&str], env: &[(&str, &str)]| -> anyhow::Result<String> {
        let out = output(
            Command::new(&xtask)
                .args(args)
                .envs(env.iter().copied())
                .current_dir(crate::workspace_root()),
            &format!("xtask {}", args.join(" ")),
        )?;
        print!("{out}");
        Ok(out)
    };
    let mut reads_on = Vec::new();
    let mut reads_off = Vec::new();
    let mut checkouts = Vec::new();
    let mut floor = Vec::new();
    let mut of_floor = Vec::new();
    let mut p99_saturated = Vec::new();
    let mut p99_open = Vec::new();
    let mut rss = Vec::new();
    let mut gateway = Vec::new();
    for n in 1..=ROUNDS {
        println!("\n=== round {n} of {ROUNDS}: reads, cache on");
        let out = round(&["bench", "reads"], &[])?;
        reads_on.push(figure(&out, "pgbench -S = ").context("no read ratio")?);
        gateway.push(figure(&out, "gateway / direct = ").unwrap_or(f64::NAN));
        rss.push(max_idle_rss(&out));
        println!("\n=== round {n} of {ROUNDS}: reads, cache off");
        let out = round(&["bench", "reads"], &[("PRODUCT_CACHE_TTL_MS", "0")])?;
        reads_off.push(figure(&out, "pgbench -S = ").context("no read ratio")?);
        println!("\n=== round {n} of {ROUNDS}: checkouts");
        let out = round(&["bench", "checkout"], &[])?;
        checkouts
            .push(figure(&out, "checkouts/s / pgbench -N tps = ").context("no checkout ratio")?);
        floor.push(figure(&out, "checkout floor / pgbench -N tps = ").unwrap_or(f64::NAN));
        of_floor.push(figure(&out, "checkouts/s / checkout floor = ").unwrap_or(f64::NAN));
        // The journey's summary lines, saturated first, then the open
        // model (shop-load's own table has "p99" in its header too).
        let mut p99s = out
            .lines()
            .filter(|l| l.trim_start().starts_with("add-to-cart + checkout:"))
            .map(|l| figure(l, "p99 "));
        p99_saturated.push(p99s.next().flatten().unwrap_or(f64::NAN));
        p99_open.push(p99s.next_back().flatten().unwrap_or(f64::NAN));
    }
    println!("\n=== medians of {ROUNDS} rounds (every round's figures are above)");
    println!(
        "checkouts/s (16 closed-loop users) / pgbench -N tps     {:.3}",
        median(&mut checkouts)
    );
    println!(
        "checkout floor (PostgreSQL alone) / pgbench -N tps     {:.3}",
        median(&mut floor)
    );
    println!(
        "checkouts/s / checkout floor                            {:.3}",
        median(&mut of_floor)
    );
    println!(
        "add-to-cart + checkout p99, saturated (16 users)        {:.1} ms",
        median(&mut p99_saturated)
    );
    println!(
        "add-to-cart + checkout p99, open model at half the rate  {:.1} ms",
        median(&mut p99_open)
    );
    println!(
        "GET /v1/products/{{id}} / pgbench -S, cache on           {:.2}",
        median(&mut reads_on)
    );
    println!(
        "GET /v1/products/{{id}} / pgbench -S, cache off          {:.2}",
        median(&mut reads_off)
    );
    println!(
        "GET /v1/products/{{id}} through the gateway / direct      {:.2}",
        median(&mut gateway)
    );
    println!(
        "largest idle RSS of a service after start-up           {:.1} MiB",
        median(&mut rss)
    );
    Ok(())
}

/// The largest "NAME X MiB" line under "idle memory" in `bench reads`.
fn max_idle_rss(out: &str) -> f64 {
    out.split("idle memory")
        .nth(1)
        .unwrap_or("")
        .lines()
        .skip(1)
        .take_while(|l| l.trim_end().ends_with("MiB"))
        .filter_map(|l| figure(l, " "))
        .fold(0.0, f64::max)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor's script does a whole checkout each time, as the services
    /// would: were a migration to change what a statement needs, the script
    /// would fail here rather than measure something else.
    #[test]
    fn the_checkout_floor_places_whole_checkouts() {
        let db = DbServer::from_env_or_start().unwrap();
        let bin = crate::pg::find_bin_dir().unwrap();
        let name = format!("floor_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        floor_database(&db, &name).unwrap();
        let (_, out) =
            run_floor(&db, &bin, &name, &["-M", "prepared", "-c4", "-j1", "-t5"]).unwrap();
        assert!(
            out.contains("number of transactions actually processed: 20/20"),
            "{out}"
        );
        let found = db
            .query_in(
                &name,
                "SELECT (SELECT count(*) FROM orders WHERE status = 'confirmed' \
                   AND response_status = 201 AND response_body LIKE '{\"id\":\"' || id || '\"%'), \
                 (SELECT count(*) FROM orders), \
                 (SELECT count(*) FROM order_lines WHERE unit_price_amount = 1999), \
                 (SELECT count(*) FROM reservations WHERE status = 'committed'), \
                 (SELECT count(*) FROM cart_lines), \
                 (SELECT sum(quantity) FROM order_lines) \
                   = (SELECT 20 * 1000000000::int8 - sum(stock) FROM products)",
            )
            .unwrap();
        let _ = db.psql(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"));
        // 20 orders confirmed with their answers stored, each line priced,
        // 20 sales, every cart emptied, and the stock down by exactly what
        // the orders hold.
        assert_eq!(found.trim(), "20|20|20|20|0|t");
    }
}
