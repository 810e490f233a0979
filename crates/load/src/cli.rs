//! The command line: every flag of `shop-load`, with the environment
//! variables that can stand in for the target flags (what a container or a
//! Kubernetes Job sets).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::schedule::{Stages, parse_duration};
use crate::slo::{self, Slos};

/// Shop's load generator: weighted journeys against a running Shop, then
/// SLO verdicts and an audit of the system's invariants.
#[derive(Debug, Clone, Parser)]
#[command(name = "shop-load", version, after_help = EXAMPLES)]
pub struct Args {
    /// One URL for the whole public API (a gateway or ingress).
    #[arg(long, env = "SHOP_GATEWAY_URL", value_name = "URL")]
    pub gateway: Option<String>,
    /// The product service (overrides --gateway for it).
    #[arg(long, env = "SHOP_PRODUCT_URL", value_name = "URL")]
    pub product: Option<String>,
    /// The cart service (overrides --gateway for it).
    #[arg(long, env = "SHOP_CART_URL", value_name = "URL")]
    pub cart: Option<String>,
    /// The order service (overrides --gateway for it).
    #[arg(long, env = "SHOP_ORDER_URL", value_name = "URL")]
    pub order: Option<String>,
    /// The service credential: lets the audit read reservations on the
    /// product service's internal API (needs --product pointing at the
    /// service, never a gateway).
    #[arg(
        long,
        env = "SHOP_INTERNAL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub internal_token: Option<String>,

    /// Journey weights (names fixed, weights free).
    #[arg(long, default_value = "browse=80,cart=15,checkout=5", value_parser = Mix::parse)]
    pub mix: Mix,
    /// `mix` runs the weighted journeys; `checkout` only add-to-cart + checkout.
    #[arg(long, value_enum, default_value_t = Scenario::Mix)]
    pub scenario: Scenario,

    /// The load model: closed (N users, one request at a time each) or open
    /// (journeys started at a fixed rate whatever the answers do). Default:
    /// open when --rate is given, closed otherwise.
    #[arg(long, value_enum)]
    pub model: Option<Model>,
    /// Closed model: concurrent users.
    #[arg(long, value_name = "N")]
    pub users: Option<u32>,
    /// Open model: journeys started per second.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// A load shape instead of a flat --users/--rate for --duration: each
    /// DURATION:TARGET ramps linearly from the previous target (0 at first).
    #[arg(long, value_parser = Stages::parse, value_name = "STAGES")]
    pub stages: Option<Stages>,
    /// How long to run (without --stages).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Open model: most journeys in flight; a start beyond it is counted as
    /// `dropped` (an error) instead of piling up without bound.
    #[arg(long, default_value_t = 2000)]
    pub max_in_flight: usize,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Objectives, comma-separated (see docs/load-testing.md).
    #[arg(long, default_value = slo::DEFAULT_SLOS, value_parser = Slos::parse)]
    pub slo: Slos,
    /// Exit 1 when an SLO fails (an audit failure always exits 2).
    #[arg(long)]
    pub fail_on_slo: bool,

    /// `own`: create products with ample stock and archive them at the end;
    /// `existing`: use the catalog as it is.
    #[arg(long, value_enum, default_value_t = CatalogMode::Own)]
    pub catalog: CatalogMode,
    /// With --catalog existing: top every product up to --stock units first.
    #[arg(long)]
    pub restock: bool,
    /// With --catalog own: how many products to create.
    #[arg(long, default_value_t = 20)]
    pub products: usize,
    /// Units per product (own catalog), or the level --restock tops up to.
    #[arg(long, default_value_t = 1_000_000)]
    pub stock: i32,
    /// PKCS#8 PEM EC key the services trust, to sign load-user-N and admin
    /// tokens. Default: the committed development key.
    #[arg(long, env = "LOAD_SIGNING_KEY_FILE", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Users are PREFIX-0, PREFIX-1, ... Two runs at once against one
    /// stack need different prefixes, or each audit sees the other's orders.
    #[arg(long, default_value = "load-user", value_name = "PREFIX")]
    pub user_prefix: String,
    /// Token issuer and audience, as the services expect them.
    #[arg(long, env = "AUTH_ISSUER", default_value = shop_api::auth::DEV_ISSUER)]
    pub issuer: String,
    #[arg(long, env = "AUTH_AUDIENCE", default_value = shop_api::auth::DEV_AUDIENCE)]
    pub audience: String,

    /// How long the audit waits for in-flight work (pending orders, held
    /// reservations) to settle.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub settle_timeout: Duration,
    /// Do not count 5xx answers as an invariant violation (for runs that
    /// inject faults on purpose).
    #[arg(long)]
    pub allow_5xx: bool,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Write the one-page HTML report (charts inline, no scripts) here.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Seed of the journeys' random choices, for a repeatable run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

const EXAMPLES: &str = "examples:
  shop-load --gateway http://127.0.0.1:8080 --users 16 --duration 30s
  shop-load --gateway http://127.0.0.1:8080 --rate 100 --duration 1m --slo checkout.p99=50ms,errors=0.1% --fail-on-slo
  shop-load --gateway http://127.0.0.1:8080 --model open --stages 10s:50,30s:200,10s:0 --html report.html
  shop-load --product http://127.0.0.1:8081 --cart http://127.0.0.1:8082 --order http://127.0.0.1:8083 \\
            --internal-token \"$INTERNAL_TOKEN\" --scenario checkout --users 16 --duration 15s

exit codes: 0 done (SLOs passed, or not enforced), 1 an SLO failed with --fail-on-slo,
2 an invariant was violated, 3 the run could not start (target unreachable, bad key), 64 bad usage";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Mix,
    Checkout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    Closed,
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogMode {
    Own,
    Existing,
}

/// The three journeys, by weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    pub browse: u32,
    pub cart: u32,
    pub checkout: u32,
}

impl Mix {
    /// Parses `browse=80,cart=15,checkout=5`; an unnamed journey weighs 0.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut mix = Mix {
            browse: 0,
            cart: 0,
            checkout: 0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .with_context(|| format!("`{part}` is not NAME=WEIGHT"))?;
            let w: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("`{part}`: the weight must be a whole number"))?;
            match name.trim() {
                "browse" => mix.browse = w,
                "cart" => mix.cart = w,
                "checkout" => mix.checkout = w,
                other => bail!("unknown journey `{other}` (browse, cart or checkout)"),
            }
        }
        if mix.browse + mix.cart + mix.checkout == 0 {
            bail!("--mix needs a journey with a weight above 0");
        }
        Ok(mix)
    }
}

impl Args {
    /// The load model this invocation asks for.
    pub fn model(&self) -> Model {
        self.model.unwrap_or(if self.rate.is_some() {
            Model::Open
        } else {
            Model::Closed
        })
    }

    /// The load shape: --stages, or the flat --users/--rate for --duration.
    pub fn shape(&self) -> anyhow::Result<Stages> {
        if let Some(stages) = &self.stages {
            return Ok(stages.clone());
        }
        let value = match self.model() {
            Model::Closed => {
                if self.rate.is_some() {
                    bail!("--rate belongs to the open model (drop --model closed)");
                }
                f64::from(self.users.unwrap_or(10))
            }
            Model::Open => {
                if self.users.is_some() {
                    bail!("--users belongs to the closed model (use --rate with --model open)");
                }
                self.rate
                    .context("the open model needs --rate R (journeys per second)")?
            }
        };
        if !(value.is_finite() && value > 0.0) {
            bail!("--users / --rate must be above 0");
        }
        Ok(Stages::constant(self.duration, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("shop-load").chain(line.split_whitespace()))
    }

    #[test]
    fn mix_parses_and_refuses_unknown_journeys() {
        assert_eq!(
            Mix::parse("browse=80, cart=15,checkout=5").unwrap(),
            Mix {
                browse: 80,
                cart: 15,
                checkout: 5
            }
        );
        assert_eq!(Mix::parse("checkout=1").unwrap().browse, 0);
        assert!(Mix::parse("buy=5").is_err());
        assert!(Mix::parse("browse=0").is_err());
        assert!(Mix::parse("browse=x").is_err());
    }

    #[test]
    fn the_model_follows_the_flags() {
        let a = args("--gateway http://x --users 16").unwrap();
        assert_eq!(a.model(), Model::Closed);
        assert_eq!(a.shape().unwrap().peak(), 16.0);
        let a = args("--gateway http://x --rate 170 --duration 15s").unwrap();
        assert_eq!(a.model(), Model::Open);
        assert_eq!(a.shape().unwrap().total(), Duration::from_secs(15));
        let a = args("--gateway http://x --model open --stages 10s:50,30s:200,10s:0").unwrap();
        assert_eq!(a.shape().unwrap().total(), Duration::from_secs(50));
        assert!(
            args("--gateway http://x --model open")
                .unwrap()
                .shape()
                .is_err()
        );
        assert!(
            args("--gateway http://x --users 3 --model open")
                .unwrap()
                .shape()
                .is_err()
        );
        assert!(args("--gateway http://x --slo p99=1ms").is_err());
        assert!(args("--gateway http://x --stages 10s").is_err());
    }
}
