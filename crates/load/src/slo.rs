//! Service level objectives: `--slo checkout.p99=50ms,errors=0.1%` parsed
//! into checks, and each check's PASS/FAIL verdict against a run's figures.
//!
//! A latency objective names a journey (`checkout`) or a step
//! (`checkout.place`) and a percentile (`p50`, `p90`, `p99`, `p999`, `max`).
//! An error objective is `errors` (every request of the run) or
//! `NAME.errors` (one journey's share of failed journeys, or one step's
//! share of failed requests).

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::schedule::parse_duration;
use crate::stats::{Percentiles, Stats};

/// The objectives a run is held to when `--slo` is not given.
pub const DEFAULT_SLOS: &str = "browse.p99=250ms,cart.p99=250ms,checkout.p99=500ms,errors=0.1%";

/// Which percentile a latency objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Quantile {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "p50" => Self::P50,
            "p90" => Self::P90,
            "p99" => Self::P99,
            "p999" | "p99.9" => Self::P999,
            "max" => Self::Max,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
        }
    }

    fn of(self, p: &Percentiles) -> f64 {
        match self {
            Self::P50 => p.p50,
            Self::P90 => p.p90,
            Self::P99 => p.p99,
            Self::P999 => p.p999,
            Self::Max => p.max,
        }
    }
}

/// One objective.
#[derive(Debug, Clone, PartialEq)]
pub enum Slo {
    /// `target`'s `quantile` latency at most `limit`.
    Latency {
        target: String,
        quantile: Quantile,
        limit: Duration,
    },
    /// At most `limit` (a fraction) of requests (or of `target`'s) failed.
    Errors { target: Option<String>, limit: f64 },
}

/// A run's objectives, as `--slo` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Slos(pub Vec<Slo>);

impl Slos {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        parse(text).map(Self)
    }
}

/// Parses a comma-separated list of objectives.
pub fn parse(text: &str) -> anyhow::Result<Vec<Slo>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(parse_one)
        .collect()
}

fn parse_one(part: &str) -> anyhow::Result<Slo> {
    let (name, value) = part
        .split_once('=')
        .with_context(|| format!("SLO `{part}` is not NAME=LIMIT (like checkout.p99=50ms)"))?;
    let (target, metric) = match name.rsplit_once('.') {
        Some((t, m)) => (Some(t.to_owned()), m),
        None => (None, name),
    };
    if metric == "errors" {
        let pct = value
            .strip_suffix('%')
            .with_context(|| format!("SLO `{part}`: an error limit is a percentage, like 0.1%"))?;
        let limit: f64 = pct
            .parse()
            .ok()
            .filter(|p: &f64| (0.0..=100.0).contains(p))
            .with_context(|| format!("SLO `{part}`: the percentage must be 0 to 100"))?;
        return Ok(Slo::Errors {
            target,
            limit: limit / 100.0,
        });
    }
    let Some(quantile) = Quantile::parse(metric) else {
        bail!("SLO `{part}`: `{metric}` is not p50, p90, p99, p999, max or errors");
    };
    let Some(target) = target else {
        bail!("SLO `{part}`: name a journey or step, like checkout.{metric}");
    };
    let limit = parse_duration(value).with_context(|| format!("SLO `{part}`"))?;
    Ok(Slo::Latency {
        target,
        quantile,
        limit,
    })
}

/// One objective's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// As written: `checkout.p99`.
    pub name: String,
    /// The limit as written: `50ms`, `0.1%`.
    pub limit: String,
    /// What the run measured, in the same unit; `None` when the run has no
    /// sample of the target (the check then passes, saying so).
    pub actual: Option<String>,
    pub pass: bool,
}

/// The verdicts of every objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub checks: Vec<Check>,
}

/// Holds `stats` to `slos`.
pub fn evaluate(slos: &[Slo], stats: &Stats) -> Verdict {
    let checks: Vec<Check> = slos.iter().map(|slo| check(slo, stats)).collect();
    Verdict {
        pass: checks.iter().all(|c| c.pass),
        checks,
    }
}

fn check(slo: &Slo, stats: &Stats) -> Check {
    match slo {
        Slo::Latency {
            target,
            quantile,
            limit,
        } => {
            let hist = stats
                .journeys
                .get(target.as_str())
                .map(|j| &j.latency)
                .or_else(|| stats.steps.get(target.as_str()).map(|s| &s.latency))
                .filter(|h| !h.is_empty());
            let limit_ms = limit.as_secs_f64() * 1000.0;
            let actual = hist.map(|h| quantile.of(&Percentiles::of(h)));
            Check {
                name: format!("{target}.{}", quantile.name()),
                limit: format!("{limit_ms}ms"),
                actual: actual.map(|a| format!("{a:.2}ms")),
                pass: actual.is_none_or(|a| a <= limit_ms),
            }
        }
        Slo::Errors { target, limit } => {
            let (errors, total) = match target.as_deref() {
                None => (stats.request_errors, stats.requests),
                Some(t) => match (stats.journeys.get(t), stats.steps.get(t)) {
                    (Some(j), _) => (j.errors, j.count),
                    (None, Some(s)) => (s.errors, s.latency.len()),
                    (None, None) => (0, 0),
                },
            };
            let rate = (total > 0).then(|| errors as f64 / total as f64);
            Check {
                name: match target {
                    Some(t) => format!("{t}.errors"),
                    None => "errors".into(),
                },
                limit: format!("{}%", limit * 100.0),
                actual: rate.map(|r| format!("{:.3}%", r * 100.0)),
                pass: rate.is_none_or(|r| r <= *limit),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn objectives_parse() {
        let slos =
            parse("checkout.p99=50ms, errors=0.1%,checkout.place.p999=1s,cart.errors=5%").unwrap();
        assert_eq!(
            slos,
            vec![
                Slo::Latency {
                    target: "checkout".into(),
                    quantile: Quantile::P99,
                    limit: Duration::from_millis(50)
                },
                Slo::Errors {
                    target: None,
                    limit: 0.001
                },
                Slo::Latency {
                    target: "checkout.place".into(),
                    quantile: Quantile::P999,
                    limit: Duration::from_secs(1)
                },
                Slo::Errors {
                    target: Some("cart".into()),
                    limit: 0.05
                },
            ]
        );
        assert_eq!(parse(DEFAULT_SLOS).unwrap().len(), 4);
    }

    #[test]
    fn bad_objectives_say_what_is_wrong() {
        for (bad, says) in [
            ("checkout.p99", "NAME=LIMIT"),
            ("checkout.p42=5ms", "p42"),
            ("p99=5ms", "name a journey"),
            ("errors=0.1", "percentage"),
            ("errors=120%", "0 to 100"),
            ("checkout.p99=fast", "duration"),
        ] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn verdicts_compare_the_measured_figures() {
        let r = Recorder::new(Instant::now());
        for ms in 1..=100 {
            r.journey("checkout", Duration::from_millis(ms), ms == 100);
            r.step(
                "checkout.place",
                Duration::from_millis(ms),
                "201".into(),
                ms > 98,
            );
        }
        let stats = r.lock();
        let v = evaluate(
            &parse(
                "checkout.p99=100ms,checkout.p50=10ms,errors=1%,checkout.errors=1%,browse.p99=1ms",
            )
            .unwrap(),
            &stats,
        );
        let by_name = |n: &str| v.checks.iter().find(|c| c.name == n).unwrap().clone();
        assert!(by_name("checkout.p99").pass);
        assert!(
            !by_name("checkout.p50").pass,
            "{:?}",
            by_name("checkout.p50")
        );
        assert!(!by_name("errors").pass, "2 of 100 requests failed");
        assert!(by_name("checkout.errors").pass, "1 of 100 journeys failed");
        let browse = by_name("browse.p99");
        assert!(
            browse.pass && browse.actual.is_none(),
            "no samples: {browse:?}"
        );
        assert!(!v.pass);
    }
}
