//! `cargo xtask fault`: the fault switches of a running stack (docs/labs/),
//! through a service's admin port: set rules, list them, clear them. The
//! same commands without Rust: `docker/tools/fault.pl` (Compose) or curl.

use anyhow::{Context, bail};
use shop_api::faults::{FaultRule, FaultRules};

use crate::stack;

const USAGE: &str = "usage: cargo xtask fault SERVICE list|clear|RULE... [--admin URL]
  RULE: key=value pairs joined by commas, a bare key meaning true, e.g.
    route=/v1/products/{id},latency_ms=800,jitter_ms=200
    route=/v1/orders,method=POST,error_rate=0.5,ttl_secs=60
    peer=product,unreachable
  Setting rules replaces those in force; each lasts ttl_secs (default 300).
  --admin: the service's admin URL (default: `cargo xtask dev`'s, such as
  http://127.0.0.1:9081 for product)";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut admin = None;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--admin" => admin = Some(it.next().context("--admin needs a URL")?.clone()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s => words.push(s.to_owned()),
        }
    }
    let Some((service, rest)) = words.split_first() else {
        bail!("{USAGE}");
    };
    if rest.is_empty() {
        bail!("{USAGE}");
    }
    let admin = match admin {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let e = stack::fixed_endpoints()
                .into_iter()
                .find(|e| e.name == service)
                .with_context(|| format!("no service {service:?}; give --admin URL"))?;
            format!("http://127.0.0.1:{}", e.admin_port)
        }
    };
    let url = format!("{admin}/faults");
    let http = reqwest::Client::new();
    let request = match rest {
        [word] if word == "list" => http.get(&url),
        [word] if word == "clear" => http.delete(&url),
        rules => {
            let rules = rules
                .iter()
                .map(|r| {
                    r.parse::<FaultRule>()
                        .map_err(|e| anyhow::anyhow!("{r:?}: {e}\n{USAGE}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            http.put(&url).json(&FaultRules { rules })
        }
    };
    tokio::runtime::Runtime::new()?.block_on(async {
        let resp = request
            .send()
            .await
            .with_context(|| format!("{url}: is the stack running (`cargo xtask dev`)?"))?;
        let status = resp.status();
        let body = resp.text().await?;
        println!("{service}: {status} {body}");
        match status.as_u16() {
            200 => Ok(()),
            404 => {
                bail!("no fault switches at {url}: the service runs without FAULTS_ENABLED=true")
            }
            _ => bail!("{url} refused the change"),
        }
    })
}
