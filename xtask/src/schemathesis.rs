//! `cargo xtask schemathesis`: every operation of the three services fuzzed
//! by [schemathesis](https://schemathesis.readthedocs.io) against its own
//! `/openapi.json`, on a local stack started on free ports with the demo
//! catalog. Each run uses every check (`--checks all`: statuses, content
//! types, headers and bodies as documented, schema-invalid requests
//! refused, schema-valid ones accepted, no 5xx, auth not ignored, 405 with
//! `Allow`, ...), and the stateful phase follows the documents' OpenAPI
//! links (create a product, read it, patch it; reserve, commit, release;
//! check out, read the order, cancel it).
//!
//! The runs ([`RUNS`]), one schemathesis process each, its summary printed:
//! product as an admin (writes succeed) and as a user (writes are 403),
//! cart, and order twice (see `order-stateful`). Each run has a user of its
//! own. The internal routes are tested in the same runs as the public ones:
//! the documents name their security scheme (`service`), and the run's
//! configuration gives schemathesis the service credential for exactly that
//! scheme (the routes are never exposed through the gateway, but the
//! services serve them, so they keep their contract too). The stack trusts
//! the development key and credential.
//!
//! What the configuration allows beyond schemathesis' defaults, and why, is
//! in [`Run::config`] and [`HOOKS`]: answers that depend on state rather
//! than on the request's shape (412; a 422 for a product that does not
//! exist, or an empty cart), and integers written as integers.
//!
//! The schemathesis version is pinned in `xtask/schemathesis-requirements.txt`
//! and installed into a virtualenv under `~/.cache` on first use (`.ci/run`
//! installs it in the background ahead of time). Any failure or server
//! error fails the task; each run's full output is in
//! `target/schemathesis/<run>.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use shop_api::auth::dev;
use shop_api::product::ListProducts;
use shop_api::{CartClient, ProductClient};

use crate::pg::DbServer;
use crate::stack::{self, DEV_INTERNAL_TOKEN, Logs, Stack};

/// The pinned schemathesis release (one line `schemathesis==X.Y.Z`), also
/// what `.ci/run` installs.
const REQUIREMENTS: &str = include_str!("../schemathesis-requirements.txt");

/// The version [`REQUIREMENTS`] pins.
fn pinned_version() -> &'static str {
    REQUIREMENTS
        .lines()
        .find_map(|l| l.trim().strip_prefix("schemathesis=="))
        .expect("xtask/schemathesis-requirements.txt pins schemathesis==X.Y.Z")
}

/// Test cases per operation and phase; enough to find what is missing from
/// a document, small enough for a few minutes on two cores.
const DEFAULT_MAX_EXAMPLES: u32 = 30;

const USAGE: &str =
    "usage: cargo xtask schemathesis [--install] [--max-examples N] [--only RUN] [-- ARGS]
  --install         only create the virtualenv with schemathesis (pinned), then exit
  --max-examples N  test cases per operation and phase (default 30)
  --only RUN        only this run (repeatable): product-admin, product-user, cart,
                    order, order-stateful
  ARGS              passed to every `schemathesis run` (e.g. --seed 1)";

/// One schemathesis run: one service's document, as one user.
struct Run {
    name: &'static str,
    service: &'static str,
    /// The token's subject; a user of its own per run, so runs never share
    /// a cart or orders.
    user: &'static str,
    admin: bool,
    phases: &'static str,
    /// Put a line in the user's cart first, so a checkout can succeed.
    cart_line: bool,
}

const ALL_PHASES: &str = "examples,coverage,fuzzing,stateful";

/// Every run, in order.
const RUNS: &[Run] = &[
    Run {
        name: "product-admin",
        service: "product",
        user: "schemathesis-admin",
        admin: true,
        phases: ALL_PHASES,
        cart_line: false,
    },
    Run {
        name: "product-user",
        service: "product",
        user: "schemathesis-user",
        admin: false,
        phases: ALL_PHASES,
        cart_line: false,
    },
    Run {
        name: "cart",
        service: "cart",
        user: "schemathesis-cart",
        admin: false,
        phases: ALL_PHASES,
        cart_line: false,
    },
    Run {
        name: "order",
        service: "order",
        user: "schemathesis-order",
        admin: false,
        phases: "examples,coverage,fuzzing",
        cart_line: true,
    },
    // A checkout takes the whole cart, so only a user's first one succeeds:
    // the stateful phase gets a user whose cart still holds a line, and
    // follows the links checkout -> read -> cancel from there.
    Run {
        name: "order-stateful",
        service: "order",
        user: "schemathesis-checkout",
        admin: false,
        phases: "stateful",
        cart_line: true,
    },
];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut install_only = false;
    let mut max_examples = DEFAULT_MAX_EXAMPLES;
    let mut only = Vec::new();
    let mut extra = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--install" => install_only = true,
            "--max-examples" => {
                max_examples = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("--max-examples needs a number")?;
            }
            "--only" => {
                let name = it.next().context("--only needs a run name")?;
                if !RUNS.iter().any(|r| r.name == name) {
                    bail!("no run named {name}\n{USAGE}");
                }
                only.push(name.clone());
            }
            "--" => extra.extend(it.by_ref().cloned()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let exe = ensure_installed()?;
    if install_only {
        return Ok(());
    }
    let runs: Vec<&Run> = RUNS
        .iter()
        .filter(|r| only.is_empty() || only.iter().any(|o| o == r.name))
        .collect();

    let started = Instant::now();
    let db = DbServer::from_env_or_start()?;
    let stack = Stack::start(&db, stack::free_endpoints(), Logs::Files)?;
    let out_dir = crate::workspace_root().join("target/schemathesis");
    std::fs::create_dir_all(&out_dir)?;
    let product_ids = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(seed(&stack, &runs))?;
    let hooks = out_dir.join("hooks.py");
    std::fs::write(&hooks, HOOKS)?;

    let mut failed = Vec::new();
    for run in &runs {
        let config = out_dir.join(format!("{}.toml", run.name));
        std::fs::write(&config, run.config(&product_ids, &hooks))?;
        let log = out_dir.join(format!("{}.log", run.name));
        let file = std::fs::File::create(&log)?;
        let url = stack.url(run.service);
        let t = Instant::now();
        let status = Command::new(&exe)
            .arg("--config-file")
            .arg(&config)
            .arg("--no-color")
            .arg("run")
            .arg(format!("{url}/openapi.json"))
            .args(["--url", &url, "--checks", "all", "--phases", run.phases])
            .args(["--max-examples", &max_examples.to_string()])
            .args(&extra)
            // Its example database and caches go to target/, not the tree.
            .current_dir(&out_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .status()
            .context("running schemathesis")?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        println!(
            "schemathesis {:<15} {:>3} s  {}",
            run.name,
            t.elapsed().as_secs(),
            summary(&text)
        );
        if !status.success() {
            failed.push((run.name, log, text));
        }
    }
    drop(stack);
    drop(db);
    for (name, log, text) in &failed {
        println!("\n---- {name} ({}) ----\n{text}", log.display());
    }
    println!(
        "schemathesis {}: {} runs in {} s, logs in {}",
        pinned_version(),
        runs.len(),
        started.elapsed().as_secs(),
        out_dir.display()
    );
    if !failed.is_empty() {
        let names: Vec<_> = failed.iter().map(|f| f.0).collect();
        bail!("schemathesis failed: {}", names.join(", "));
    }
    Ok(())
}

/// Loads the demo catalog and puts one line in the cart of each run that
/// asks for it. Returns the ids of the products in stock.
async fn seed(stack: &Stack, runs: &[&Run]) -> anyhow::Result<Vec<uuid::Uuid>> {
    let product_url = stack.url("product");
    crate::dev::load_catalog(&product_url).await?;
    let http = reqwest::Client::new();
    let page = ProductClient::new(http.clone(), &product_url)
        .list(&ListProducts {
            limit: Some(shop_api::product::MAX_PAGE_LIMIT),
            ..Default::default()
        })
        .await?;
    let ids: Vec<_> = page
        .items
        .iter()
        .filter(|p| p.stock > 0)
        .map(|p| p.id)
        .collect();
    let first = *ids
        .first()
        .context("the demo catalog has products in stock")?;
    for run in runs.iter().filter(|r| r.cart_line) {
        CartClient::new(http.clone(), stack.url("cart"))
            .with_bearer(run.token())
            .set_quantity(first, 1)
            .await?;
    }
    Ok(ids)
}

impl Run {
    /// A development token for the run's user, valid for an hour.
    fn token(&self) -> String {
        dev::token(self.user, self.admin, 3600)
    }

    /// The run's `schemathesis.toml`: a credential per security scheme of
    /// the documents (`bearer` for users, `service` for the internal
    /// routes), the catalog's product ids as a dictionary for product ids in
    /// paths and lines (often, not always, so unknown ids are tried too),
    /// and the statuses that answer a schema-valid request by the state it
    /// meets.
    fn config(&self, product_ids: &[uuid::Uuid], hooks: &Path) -> String {
        let ids = product_ids
            .iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"# Written by `cargo xtask schemathesis` for the {name} run.
hooks = "{hooks}"

[auth.openapi.bearer]
bearer = "{token}"

[auth.openapi.service]
bearer = "{DEV_INTERNAL_TOKEN}"

[dictionaries.products]
values = [{ids}]

[parameters]
"path.product_id" = {{ dictionary = "products", probability = 0.5 }}
"body.lines[*].product_id" = {{ dictionary = "products", probability = 0.9 }}

# A schema-valid request may still be refused for the state it meets:
# schemathesis accepts 404 and 409 for that by default; 412 is the same kind
# (`If-Match` names an older version of the product).
[checks.positive_data_acceptance]
expected-statuses = [{STATE}]

# 422 is a state answer too where the request names something that must
# exist or hold: products in the catalog and not archived (cart line,
# reservation), a cart of at most 50 lines in one currency, a non-empty cart
# (checkout), a key or reservation id not used before with another body. Elsewhere a 422 for a schema-valid
# request means the document misses a rule, and fails the run.
[[operations]]
include-operation-id = ["set_cart_item", "create_reservation", "checkout"]
checks.positive_data_acceptance.expected-statuses = [{STATE}, "422"]
"#,
            STATE = r#""2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx""#,
            name = self.name,
            token = self.token(),
            hooks = hooks.display(),
        )
    }
}

/// schemathesis hooks (Python), loaded by every run.
///
/// JSON Schema counts `2.0` as an integer, so schemathesis sends whole
/// floats for `integer` fields of JSON bodies as schema-valid data. The
/// services read integers with serde, which takes `2` and answers `2.0`
/// with a 422; each document's description says integers are written as
/// integers, but a JSON Schema cannot say "no fraction part". So this hook
/// writes whole floats as integers in the schema-valid requests (the
/// schema-invalid ones go as generated). Should the services ever accept
/// `2.0`, delete the hook.
const HOOKS: &str = r#"# Written by `cargo xtask schemathesis`; see HOOKS in xtask/src/schemathesis.rs.
import schemathesis


def _integers(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive:
        case.body = _integers(case.body)
"#;

/// schemathesis' closing summary in one line: the counts line (`N
/// generated, M found K unique failures` or `N generated, N passed`) and
/// the verdict of the last banner (`No issues found`, `2 failures, 1
/// error`, `1 warning`).
fn summary(output: &str) -> String {
    let counts = output
        .lines()
        .map(str::trim)
        .rfind(|l| l.contains(" generated"))
        .unwrap_or("(no summary line; see the log)");
    let verdict = output
        .lines()
        .filter_map(|l| {
            l.strip_prefix('=')?
                .trim_matches('=')
                .trim()
                .rsplit_once(" in ")
        })
        .map(|(verdict, _time)| verdict)
        .next_back()
        .unwrap_or("");
    format!("{counts}  [{verdict}]")
}

/// The virtualenv holding the pinned schemathesis: `SHOP_SCHEMATHESIS_VENV`,
/// else `~/.cache/shop-schemathesis`.
fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHOP_SCHEMATHESIS_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/shop-schemathesis")
}

/// The schemathesis executable at the pinned version, installed when
/// missing or at another version.
fn ensure_installed() -> anyhow::Result<PathBuf> {
    let version = pinned_version();
    let venv = venv_dir();
    let exe = venv.join("bin/schemathesis");
    if installed_version(&exe).as_deref() == Some(version) {
        return Ok(exe);
    }
    eprintln!(
        "xtask: installing schemathesis {version} into {}",
        venv.display()
    );
    if !venv.join("bin/pip").is_file() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv (Debian: apt-get install python3-venv)")?;
        if !status.success() {
            bail!("python3 -m venv failed (Debian: apt-get install python3-venv)");
        }
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(crate::workspace_root().join("xtask/schemathesis-requirements.txt"))
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install schemathesis=={version} failed");
    }
    match installed_version(&exe) {
        Some(v) if v == version => Ok(exe),
        other => bail!("{} reports version {other:?}", exe.display()),
    }
}

/// `schemathesis --version` says `schemathesis, version 4.32.5`.
fn installed_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.trim().rsplit(' ').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_the_counts_and_the_verdict() {
        let output = "Test cases:\n  550 generated, 14 found 14 unique failures, 8 skipped\n\n\
            Seed: 1\n\n===== 14 failures in 6.20s =====\n";
        assert_eq!(
            summary(output),
            "550 generated, 14 found 14 unique failures, 8 skipped  [14 failures]"
        );
        let output = "=== FAILURES ===\n  3 generated, 3 passed\n=== No issues found in 1.5s ===";
        assert_eq!(summary(output), "3 generated, 3 passed  [No issues found]");
    }

    #[test]
    fn the_pin_is_one_version() {
        let v = pinned_version();
        assert!(v.split('.').all(|n| n.parse::<u32>().is_ok()), "{v}");
    }

    #[test]
    fn run_names_are_unique() {
        let mut names: Vec<_> = RUNS.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RUNS.len());
    }
}
