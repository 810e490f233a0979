//! When journeys start: load shapes (`--stages`), the open model's fixed
//! arrival schedule and the closed model's user count over time.
//!
//! The open model is the one that tells the truth about latency under
//! load: journeys start on a schedule computed in advance, whatever the
//! answers do, so a server stall shows up as latency measured from the
//! *intended* start instead of silently slowing the generator down
//! (coordinated omission; see docs/load-testing.md).

use std::time::Duration;

use anyhow::{Context, bail};

/// One linear segment of a load shape: over `duration`, the target (users
/// or journeys per second) goes from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub duration: Duration,
    pub from: f64,
    pub to: f64,
}

/// A load shape: consecutive linear segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages(pub Vec<Segment>);

impl Stages {
    /// A flat shape: `value` for `duration`.
    pub fn constant(duration: Duration, value: f64) -> Self {
        Self(vec![Segment {
            duration,
            from: value,
            to: value,
        }])
    }

    /// Parses `10s:50,30s:200,10s:0`: each stage ramps linearly from the
    /// previous stage's target (0 before the first) to its own, as k6 does.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut previous = 0.0;
        let mut segments = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (d, v) = part
                .split_once(':')
                .with_context(|| format!("stage `{part}` is not DURATION:TARGET (like 30s:200)"))?;
            let duration = parse_duration(d)?;
            let to: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .with_context(|| format!("stage `{part}`: the target must be a number >= 0"))?;
            segments.push(Segment {
                duration,
                from: previous,
                to,
            });
            previous = to;
        }
        if segments.is_empty() {
            bail!("--stages needs at least one DURATION:TARGET");
        }
        Ok(Self(segments))
    }

    /// The whole shape's length.
    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }

    /// The highest target anywhere in the shape.
    pub fn peak(&self) -> f64 {
        self.0.iter().fold(0.0, |m, s| m.max(s.from).max(s.to))
    }

    /// The target at `t` from the start; `None` once the shape is over.
    pub fn at(&self, t: Duration) -> Option<f64> {
        let mut start = Duration::ZERO;
        for s in &self.0 {
            if t < start + s.duration {
                let frac = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return Some(s.from + (s.to - s.from) * frac);
            }
            start += s.duration;
        }
        None
    }

    /// The open model's intended start times, from the start of the run:
    /// the k-th journey starts where the integral of the rate reaches k
    /// (k = 0, 1, 2, ...). Exact for linear segments, so `R` per second for
    /// `T` seconds gives `R*T` starts, evenly spaced, whatever happens to the
    /// journeys themselves.
    pub fn start_times(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut segment = 0;
        let mut seg_start = 0.0_f64;
        // The area still needed (from the current segment's start) for the
        // next start.
        let mut need = 0.0_f64;
        std::iter::from_fn(move || {
            while let Some(s) = self.0.get(segment) {
                let d = s.duration.as_secs_f64();
                let (a, b) = (s.from, s.to);
                let area = a * d + (b - a) * d / 2.0;
                // Solve a*u + (b-a)/(2d)*u^2 = need for u in [0, d).
                let u = if need <= 0.0 {
                    Some(0.0)
                } else if (b - a).abs() < 1e-12 {
                    (a > 0.0).then(|| need / a)
                } else {
                    let c2 = (b - a) / (2.0 * d);
                    let disc = a * a + 4.0 * c2 * need;
                    (disc >= 0.0).then(|| (-a + disc.sqrt()) / (2.0 * c2))
                };
                match u {
                    // The rate is zero at the very start of a segment.
                    Some(u) if u < d && (need > 0.0 || a > 0.0 || b > 0.0) => {
                        need += 1.0;
                        return Some(Duration::from_secs_f64(seg_start + u.max(0.0)));
                    }
                    _ => {
                        need -= area;
                        seg_start += d;
                        segment += 1;
                    }
                }
            }
            None
        })
    }
}

/// Parses `500ms`, `15s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .with_context(|| format!("`{text}` is not a duration (like 500ms, 15s or 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("`{text}`: unknown unit `{unit}` (ms, s, m or h)"),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn a_constant_rate_starts_rate_times_duration_journeys_evenly() {
        for (rate, secs) in [(10.0, 3), (170.0, 15), (7.0, 1), (0.5, 10)] {
            let stages = Stages::constant(Duration::from_secs(secs), rate);
            let starts: Vec<_> = stages.start_times().collect();
            let expected = rate * secs as f64;
            assert!(
                (starts.len() as f64 - expected).abs() <= 1.0,
                "{rate}/s for {secs}s: {} starts",
                starts.len()
            );
            let gap = Duration::from_secs_f64(1.0 / rate);
            for pair in starts.windows(2) {
                let d = pair[1] - pair[0];
                assert!(d.abs_diff(gap) < Duration::from_micros(10), "{d:?}");
            }
        }
    }

    #[test]
    fn a_ramp_starts_the_area_under_it() {
        // 0 -> 100/s over 10 s, then flat 100/s for 5 s, then 100 -> 0 in 5 s:
        // 500 + 500 + 250 starts.
        let stages = Stages::parse("10s:100,5s:100,5s:0").unwrap();
        let starts: Vec<_> = stages.start_times().collect();
        assert!((starts.len() as i64 - 1250).abs() <= 1, "{}", starts.len());
        assert!(starts.windows(2).all(|p| p[0] <= p[1]));
        assert!(*starts.last().unwrap() < stages.total());
        // Sparse at the start of the ramp, dense at its top.
        let first_second = starts.iter().filter(|t| t.as_secs() < 1).count();
        let eleventh = starts.iter().filter(|t| t.as_secs() == 10).count();
        assert!(first_second <= 6 && (99..=101).contains(&eleventh));
    }

    #[test]
    fn a_zero_rate_starts_nothing() {
        assert_eq!(
            Stages::constant(Duration::from_secs(5), 0.0)
                .start_times()
                .count(),
            0
        );
        let starts: Vec<_> = Stages::parse("2s:0,1s:0").unwrap().start_times().collect();
        assert!(starts.is_empty(), "{starts:?}");
    }

    #[test]
    fn stages_and_durations_parse_with_clear_errors() {
        let s = Stages::parse("10s:50,30s:200,10s:0").unwrap();
        assert_eq!(s.total(), Duration::from_secs(50));
        assert_eq!(s.peak(), 200.0);
        assert_eq!(s.at(Duration::from_secs(5)), Some(25.0));
        assert_eq!(s.at(Duration::from_secs(25)), Some(125.0));
        assert_eq!(s.at(Duration::from_secs(50)), None);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        for bad in ["", "10s", "x:5", "10s:-1", "10q:5"] {
            assert!(Stages::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("fast").is_err());
    }

    /// The scheduler itself, over tokio's paused clock: `R`/s for `T` s
    /// starts `R*T` journeys, and a journey that takes far longer than the
    /// gap between starts delays none of the later starts.
    #[tokio::test(start_paused = true)]
    async fn slow_journeys_do_not_delay_the_open_schedule() {
        let (rate, secs) = (50.0, 4);
        let stages = Stages::constant(Duration::from_secs(secs), rate);
        let started = Arc::new(AtomicU64::new(0));
        let worst_lag = Arc::new(AtomicU64::new(0));
        let begin = tokio::time::Instant::now();
        let (s, w) = (started.clone(), worst_lag.clone());
        crate::driver::open_loop(&stages, begin, move |intended| {
            let lag = tokio::time::Instant::now() - intended;
            w.fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
            s.fetch_add(1, Ordering::Relaxed);
            // Every journey is slow: ten seconds, far beyond the 20 ms gap.
            tokio::spawn(tokio::time::sleep(Duration::from_secs(10)));
        })
        .await;
        let n = started.load(Ordering::Relaxed);
        assert!((n as f64 - rate * secs as f64).abs() <= 1.0, "{n} starts");
        assert_eq!(worst_lag.load(Ordering::Relaxed), 0, "a start was late");
        assert!(begin.elapsed() < Duration::from_secs(secs) + Duration::from_millis(50));
    }
}
