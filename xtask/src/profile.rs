//! `cargo xtask bench profile`: where a checkout's database work goes.
//! Runs shop-load's checkout scenario on a release stack over a throwaway
//! PostgreSQL with `pg_stat_statements` loaded, then prints, per checkout
//! placed, the statements each service's database was sent (every round
//! trip: `BEGIN` and `COMMIT` count, as they cost one each; statements run
//! inside others, such as foreign-key checks, do not; cart's `BEGIN; SELECT
//! pg_advisory_xact_lock(...)` is one round trip counted as two), the transactions
//! committed (read-only ones too: each autocommitted `SELECT` is one), and
//! the top statements by calls and by time. Counts, not timings: they are the
//! same on a busy machine as on a quiet one, so they compare across runs.

use std::collections::BTreeMap;

use crate::pg::DbServer;
use crate::stack::{self, Logs, Profile, Stack};

/// The three service databases, as the local stack names them.
const DATABASES: [&str; 3] = ["product", "cart", "order"];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let seconds = args
        .iter()
        .find_map(|a| a.strip_prefix("--seconds="))
        .unwrap_or("10");
    let exe = crate::load::build_shop_load(Profile::Release)?;
    // Its own cluster, whatever DATABASE_URL says: the library must be
    // loaded at server start.
    let db = DbServer::throwaway(
        // `top`: the statements clients sent (one round trip each), not
        // those run inside them (foreign-key checks, functions).
        // `track_planning`: time spent planning, apart from executing (a
        // statement planned afresh on every call shows it here).
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top \
         -c pg_stat_statements.track_planning=on",
    )?;
    db.psql("CREATE EXTENSION pg_stat_statements")?;
    let stack = Stack::start_with(&db, stack::free_endpoints(), Logs::Files, Profile::Release)?;

    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("profile.json");
    // Seed the catalog first, so the counts below are the checkouts' own.
    crate::load::checkout_run(
        &exe,
        1,
        "1",
        &dir.join("profile-seed.json"),
        stack.e2e_env(),
    )?;
    db.psql("SELECT pg_stat_statements_reset()")?;
    let commits_before = commits(&db)?;
    let tables_before = tables(&db)?;
    // Without the service credential the audit balances stock without
    // reading every order's reservation, so its reads stay out of the
    // counts (a few list pages in all).
    let env: Vec<(String, String)> = stack
        .e2e_env()
        .into_iter()
        .filter(|(k, _)| k != "SHOP_INTERNAL_TOKEN")
        .collect();
    let placed = crate::load::checkout_run(&exe, 16, seconds, &report, env)?;
    let commits_after = commits(&db)?;
    let tables_after = tables(&db)?;
    anyhow::ensure!(placed > 0.0, "no checkout was placed");

    println!(
        "shop-load --scenario checkout --users 16 --duration {seconds}s: {placed:.0} checkouts placed\n\
         (the audit's reads at the end count too: a few list pages in all)\n"
    );
    println!("per checkout      statements   commits");
    let statements = statements(&db)?;
    let (mut all_statements, mut all_commits) = (0.0, 0.0);
    for name in DATABASES {
        let calls: f64 = statements
            .iter()
            .filter(|s| s.database == name)
            .map(|s| s.calls)
            .sum();
        let committed = commits_after.get(name).copied().unwrap_or(0.0)
            - commits_before.get(name).copied().unwrap_or(0.0);
        all_statements += calls;
        all_commits += committed;
        println!(
            "  {name:<14} {:>10.1} {:>9.1}",
            calls / placed,
            committed / placed
        );
    }
    println!(
        "  {:<14} {:>10.1} {:>9.1}",
        "all",
        all_statements / placed,
        all_commits / placed
    );

    let planned: f64 = statements.iter().map(|s| s.plan_ms).sum();
    let executed: f64 = statements.iter().map(|s| s.total_ms).sum();
    println!(
        "  planning {:.3} ms, executing {:.3} ms per checkout (server time of the statements above)",
        planned / placed,
        executed / placed
    );

    println!(
        "\nstatements by calls per checkout (database, calls, plans, mean plan ms, mean exec ms, statement):"
    );
    for s in statements.iter().take(25) {
        println!(
            "  {:<8} {:>5.2} {:>5.2} {:>7.3} {:>7.3}  {}",
            s.database,
            s.calls / placed,
            s.plans / placed,
            s.plan_ms / s.plans.max(1.0),
            s.mean_ms,
            shorten(&s.query, 100)
        );
    }
    println!(
        "\nper checkout, each table (database.table: sequential scans and the rows they read, \
         index scans, rows written, of which HOT updates):"
    );
    for (table, after) in &tables_after {
        let before = tables_before.get(table).copied().unwrap_or_default();
        let d: Vec<f64> = after
            .iter()
            .zip(before)
            .map(|(a, b)| (a - b) / placed)
            .collect();
        if d.iter().all(|v| *v < 0.005) {
            continue;
        }
        println!(
            "  {table:<28} seq {:>5.2} ({:>7.1} rows)  idx {:>5.2}  written {:>5.2} (HOT {:>5.2})",
            d[0], d[1], d[2], d[3], d[4]
        );
    }

    let mut by_time = statements.clone();
    by_time.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    println!("\nstatements by total time (database, ms per checkout, statement):");
    for s in by_time.iter().take(10) {
        println!(
            "  {:<8} {:>7.3}  {}",
            s.database,
            s.total_ms / placed,
            shorten(&s.query, 110)
        );
    }
    drop(stack);
    Ok(())
}

#[derive(Clone)]
struct Statement {
    database: String,
    calls: f64,
    total_ms: f64,
    mean_ms: f64,
    /// How often it was planned, and the time that took in all.
    plans: f64,
    plan_ms: f64,
    query: String,
}

/// Every statement the services' databases ran since the reset, most
/// called first.
fn statements(db: &DbServer) -> anyhow::Result<Vec<Statement>> {
    let rows = db.query(
        "SELECT d.datname, s.calls, s.total_exec_time, s.mean_exec_time, s.plans, s.total_plan_time, \
           regexp_replace(s.query, '\\s+', ' ', 'g') \
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname IN ('product', 'cart', 'order') ORDER BY s.calls DESC",
    )?;
    Ok(rows
        .lines()
        .filter_map(|line| {
            let mut f = line.splitn(7, '|');
            Some(Statement {
                database: f.next()?.to_owned(),
                calls: f.next()?.parse().ok()?,
                total_ms: f.next()?.parse().ok()?,
                mean_ms: f.next()?.parse().ok()?,
                plans: f.next()?.parse().ok()?,
                plan_ms: f.next()?.parse().ok()?,
                query: f.next()?.to_owned(),
            })
        })
        .collect())
}

/// Transactions committed so far, per service database.
fn commits(db: &DbServer) -> anyhow::Result<BTreeMap<String, f64>> {
    // The statistics are sent at most every half second; a fresh snapshot
    // is forced so the counts are the ones of this moment.
    let rows = db.query(
        "SELECT pg_stat_clear_snapshot(); SELECT datname, xact_commit FROM pg_stat_database \
         WHERE datname IN ('product', 'cart', 'order')",
    )?;
    Ok(rows
        .lines()
        .filter_map(|line| {
            let (name, n) = line.split_once('|')?;
            Some((name.to_owned(), n.trim().parse().ok()?))
        })
        .collect())
}

/// Per table of the service databases: sequential scans, rows they read,
/// index scans, rows inserted, updated or deleted, and HOT updates, so far.
fn tables(db: &DbServer) -> anyhow::Result<BTreeMap<String, [f64; 5]>> {
    let mut all = BTreeMap::new();
    for name in DATABASES {
        // As in `commits`: a fresh snapshot of the statistics.
        let rows = db.query_in(
            name,
            "SELECT pg_stat_clear_snapshot(); SELECT relname, seq_scan, seq_tup_read, \
               coalesce(idx_scan, 0), n_tup_ins + n_tup_upd + n_tup_del, n_tup_hot_upd \
             FROM pg_stat_user_tables",
        )?;
        for line in rows.lines() {
            let f: Vec<&str> = line.split('|').collect();
            let [table, counts @ ..] = f.as_slice() else {
                continue;
            };
            let mut v = [0.0; 5];
            for (slot, n) in v.iter_mut().zip(counts) {
                *slot = n.trim().parse().unwrap_or(0.0);
            }
            all.insert(format!("{name}.{table}"), v);
        }
    }
    Ok(all)
}

pub fn shorten(s: &str, most: usize) -> String {
    if s.chars().count() <= most {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(most).collect::<String>())
    }
}
