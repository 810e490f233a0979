//! `shop-load`: Shop's load generator. It drives weighted journeys
//! (browse, cart, checkout) through the public API under a closed or open
//! load model, records latency in HdrHistograms, holds the run to its SLOs
//! and finally audits the system's invariants (no unit of stock made or
//! lost, one order per idempotency key, no 5xx).
//!
//! A run has three phases, each a public function so tests can step in
//! between them: [`Run::prepare`] (target, catalog), [`Run::drive`] (the
//! load) and [`Run::finish`] (audit, verdicts, report, clean-up).
//! docs/load-testing.md explains the models and how to read the figures.

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod driver;
pub mod journeys;
pub mod report;
pub mod schedule;
pub mod slo;
pub mod stats;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::cli::{Args, Scenario};
use crate::journeys::{Users, World};
use crate::report::Report;
use crate::schedule::Stages;
use crate::stats::Recorder;
use crate::target::Target;

/// How a run ended, as the process exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: done; SLOs passed or were not enforced.
    Done,
    /// 1: an SLO failed and `--fail-on-slo` was given.
    SloFailed,
    /// 2: an invariant was violated (whatever the SLOs say).
    InvariantViolated,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::SloFailed => 1,
            Self::InvariantViolated => 2,
        }
    }
}

/// A prepared run.
#[derive(Debug)]
pub struct Run {
    pub args: Args,
    pub world: Arc<World>,
    pub stages: Stages,
    /// How long the load ran (set by [`Run::drive`]).
    pub driven: Duration,
}

impl Run {
    /// Checks the arguments and the target, and creates (or reads) the
    /// run's catalog.
    pub async fn prepare(args: Args) -> anyhow::Result<Self> {
        let stages = args.shape()?;
        let target = Target::from_args(&args)?;
        if target.dev_key && !target.is_loopback() {
            eprintln!(
                "\n!!! WARNING: signing tokens with the committed DEVELOPMENT key against a \
                 non-loopback target.\n!!! A deployment that accepts it accepts anyone's \
                 tokens. Pass --signing-key FILE for a real deployment.\n"
            );
        }
        target.check_reachable().await?;
        let seed = args.seed.unwrap_or_else(rand::random);
        let run_id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
        let catalog = Catalog::prepare(&target, &args, &run_id).await?;
        let world = World {
            target,
            catalog,
            recorder: Arc::new(Recorder::new(Instant::now())),
            scenario: args.scenario,
            mix: args.mix,
            run_id,
            seed,
            user_prefix: args.user_prefix.clone(),
            users: Users::default(),
        };
        Ok(Self {
            args,
            world: Arc::new(world),
            stages,
            driven: Duration::ZERO,
        })
    }

    /// Runs the load shape to its end, with a progress line unless quiet.
    pub async fn drive(&mut self) {
        if self.args.model() == cli::Model::Open {
            let n = users_to_warm(self.stages.peak(), self.args.max_in_flight);
            let failed = self.world.warm_users(n).await;
            if failed > 0 && !self.args.quiet {
                eprintln!("shop-load: {failed} of {n} users could not be set up before the run");
            }
        }
        // The clock starts now, not when the catalog was made (nor the
        // open model's first users).
        let recorder = Arc::new(Recorder::new(Instant::now()));
        Arc::get_mut(&mut self.world)
            .expect("the world is not shared before the run")
            .recorder = recorder;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let progress = (!self.args.quiet).then(|| {
            tokio::spawn(driver::progress(
                self.world.clone(),
                self.stages.total(),
                stopped,
            ))
        });
        driver::drive(
            self.world.clone(),
            self.args.model(),
            &self.stages,
            self.args.max_in_flight,
            self.args.timeout * 3,
        )
        .await;
        self.driven = self.world.recorder.started.elapsed();
        let _ = stop.send(());
        if let Some(p) = progress {
            let _ = p.await;
        }
    }

    /// Audits, evaluates the SLOs, writes the reports and archives the
    /// run's products.
    pub async fn finish(&self) -> anyhow::Result<(Report, Outcome)> {
        let duration_s = self.driven.as_secs_f64();
        let audit = audit::audit(&self.world, self.args.settle_timeout, self.args.allow_5xx).await;
        let report = {
            let stats = self.world.recorder.lock();
            let verdict = slo::evaluate(&self.args.slo.0, &stats);
            report::build(
                &stats,
                self.args.model(),
                match self.args.scenario {
                    Scenario::Mix => "mix",
                    Scenario::Checkout => "checkout",
                },
                &self.world.target.order_url,
                duration_s,
                verdict,
                audit,
            )
        };
        if let Some(path) = &self.args.report {
            std::fs::write(path, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if let Some(path) = &self.args.html {
            std::fs::write(path, report.html())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if let Err(e) = self.world.catalog.archive(&self.world.target).await {
            eprintln!("shop-load: could not archive the run's products: {e:#}");
        }
        let outcome = if !report.audit.ok {
            Outcome::InvariantViolated
        } else if !report.slo.pass && self.args.fail_on_slo {
            Outcome::SloFailed
        } else {
            Outcome::Done
        };
        Ok((report, outcome))
    }
}

/// How many users the open model sets up before its clock starts: a tenth
/// of a second's arrivals at the peak rate (at least one, at most 100 and
/// `max_in_flight`), which covers the journeys in flight at once while
/// answers are quicker than 100 ms. A burst beyond it makes more users on
/// demand, and their set-up counts in those journeys' latency.
fn users_to_warm(peak_rate: f64, max_in_flight: usize) -> usize {
    ((peak_rate / 10.0).ceil() as usize).clamp(1, max_in_flight.clamp(1, 100))
}

/// The whole run, as the binary does it. Errors before the load starts
/// (bad key, target down) come back as `Err`.
pub async fn run(args: Args) -> anyhow::Result<(Report, Outcome)> {
    let quiet = args.quiet;
    let mut run = Run::prepare(args).await?;
    if !quiet {
        eprintln!(
            "shop-load: {} model, {:.0} s, {} products; target {}",
            match run.args.model() {
                cli::Model::Closed => "closed",
                cli::Model::Open => "open",
            },
            run.stages.total().as_secs_f64(),
            run.world.catalog.products.len(),
            run.world.target.order_url
        );
    }
    run.drive().await;
    run.finish().await
}

#[cfg(test)]
mod tests {
    use super::users_to_warm;

    #[test]
    fn the_open_model_warms_a_tenth_of_a_seconds_arrivals_within_bounds() {
        assert_eq!(users_to_warm(12.0, 2000), 2);
        assert_eq!(users_to_warm(225.0, 2000), 23);
        assert_eq!(users_to_warm(0.5, 2000), 1);
        assert_eq!(users_to_warm(5000.0, 2000), 100);
        assert_eq!(users_to_warm(5000.0, 30), 30);
        assert_eq!(users_to_warm(50.0, 0), 1);
    }
}
