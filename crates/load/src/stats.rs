//! What a run observed: latency histograms (HdrHistogram) per journey and
//! per step, status counts, a per-second timeline for the charts, and every
//! idempotency key with the orders its answers named (for the audit).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

/// A fresh histogram of microseconds: 1 µs to 1 hour at 3 significant
/// digits (0.1 % resolution), which is what wrk2 and HdrHistogram's own
/// tools use.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// How one request ended, as counted in `status_counts`: the HTTP status,
/// or `transport` when no answer came (reset, timeout, refused).
pub type Status = String;

/// The label for a request that got no HTTP answer.
pub const TRANSPORT: &str = "transport";
/// The label for an open-model journey not started because too many were
/// already in flight (`--max-in-flight`).
pub const DROPPED: &str = "dropped";

/// One journey step's figures.
#[derive(Debug)]
pub struct StepStats {
    pub latency: Histogram<u64>,
    pub statuses: BTreeMap<Status, u64>,
    pub errors: u64,
}

/// One journey kind's figures.
#[derive(Debug)]
pub struct JourneyStats {
    pub latency: Histogram<u64>,
    pub count: u64,
    pub errors: u64,
}

/// One second of the run, for the charts.
#[derive(Debug)]
pub struct Second {
    pub journeys: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

/// What became of one idempotency key.
#[derive(Debug, Default, Clone)]
pub struct KeyRecord {
    pub user: String,
    /// Every order id an answer for this key named.
    pub orders: BTreeSet<Uuid>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub steps: BTreeMap<&'static str, StepStats>,
    pub journeys: BTreeMap<&'static str, JourneyStats>,
    pub statuses: BTreeMap<Status, u64>,
    pub timeline: Vec<Second>,
    pub keys: HashMap<String, KeyRecord>,
    /// Distinct orders answered 201 (a replay of the same key counts once).
    pub placed: u64,
    pub out_of_stock: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub server_errors: u64,
}

/// The run's recorder, shared by every journey.
#[derive(Debug)]
pub struct Recorder {
    pub started: Instant,
    inner: Mutex<Stats>,
}

impl Recorder {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            inner: Mutex::new(Stats::default()),
        }
    }

    /// Locks the figures (for the progress line and the report).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one request of `step`: its latency, how it ended, and
    /// whether that was an error (an answer the step does not expect).
    pub fn step(&self, step: &'static str, latency: Duration, status: Status, error: bool) {
        let mut s = self.lock();
        s.requests += 1;
        if error {
            s.request_errors += 1;
        }
        if status.starts_with('5') {
            s.server_errors += 1;
        }
        *s.statuses.entry(status.clone()).or_default() += 1;
        let e = s.steps.entry(step).or_insert_with(|| StepStats {
            latency: histogram(),
            statuses: BTreeMap::new(),
            errors: 0,
        });
        e.latency.saturating_record(micros(latency));
        *e.statuses.entry(status).or_default() += 1;
        if error {
            e.errors += 1;
        }
    }

    /// Records one finished journey, with its latency measured from its
    /// intended start.
    pub fn journey(&self, name: &'static str, latency: Duration, error: bool) {
        let second = (Instant::now() - self.started).as_secs() as usize;
        let mut s = self.lock();
        let j = s.journeys.entry(name).or_insert_with(|| JourneyStats {
            latency: histogram(),
            count: 0,
            errors: 0,
        });
        j.latency.saturating_record(micros(latency));
        j.count += 1;
        if error {
            j.errors += 1;
        }
        while s.timeline.len() <= second {
            s.timeline.push(Second {
                journeys: 0,
                errors: 0,
                latency: histogram(),
            });
        }
        let sec = &mut s.timeline[second];
        sec.journeys += 1;
        if error {
            sec.errors += 1;
        }
        sec.latency.saturating_record(micros(latency));
    }

    /// Notes that `key` (of `user`) was sent; `order` when an answer named one.
    /// Returns false when the key already named another order: the
    /// exactly-once promise is broken.
    pub fn key(&self, user: &str, key: &str, order: Option<Uuid>) -> bool {
        let mut s = self.lock();
        let rec = s.keys.entry(key.to_owned()).or_insert_with(|| KeyRecord {
            user: user.to_owned(),
            orders: BTreeSet::new(),
        });
        let Some(order) = order else { return true };
        let first = rec.orders.is_empty();
        let new = rec.orders.insert(order);
        let consistent = rec.orders.len() == 1;
        if first && new {
            s.placed += 1;
        }
        consistent
    }

    /// Counts a checkout refused for lack of stock.
    pub fn out_of_stock(&self) {
        self.lock().out_of_stock += 1;
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = histogram();
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let p = Percentiles::of(&h);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn a_key_naming_two_orders_is_caught_and_placed_counts_once() {
        let r = Recorder::new(Instant::now());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(r.key("u", "k1", None));
        assert!(r.key("u", "k1", Some(a)));
        assert!(r.key("u", "k1", Some(a)), "a replay of the same order");
        assert!(!r.key("u", "k1", Some(b)), "a second order for one key");
        assert!(r.key("u", "k2", Some(b)));
        assert_eq!(r.lock().placed, 2);
    }

    #[test]
    fn steps_count_statuses_errors_and_server_errors() {
        let r = Recorder::new(Instant::now());
        r.step("x", Duration::from_millis(2), "200".into(), false);
        r.step("x", Duration::from_millis(3), "503".into(), true);
        r.step("y", Duration::from_millis(1), TRANSPORT.into(), true);
        let s = r.lock();
        assert_eq!((s.requests, s.request_errors, s.server_errors), (3, 2, 1));
        assert_eq!(s.steps["x"].statuses["503"], 1);
        assert_eq!(s.statuses[TRANSPORT], 1);
    }
}
