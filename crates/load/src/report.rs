//! The run's report: the JSON document (`--report`), the one-page HTML
//! with inline SVG charts (`--html`, no scripts, nothing fetched), and the
//! summary printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Serialize;

use crate::audit::Audit;
use crate::cli::Model;
use crate::slo::Verdict;
use crate::stats::{Percentiles, Stats};

/// One journey's or step's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub count: u64,
    pub errors: u64,
    pub per_s: f64,
    pub latency_ms: Percentiles,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub status_counts: BTreeMap<String, u64>,
}

/// Checkouts that placed an order.
#[derive(Debug, Clone, Serialize)]
pub struct Checkouts {
    pub placed: u64,
    pub per_s: f64,
    pub out_of_stock: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub second: usize,
    pub journeys: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The JSON report (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: Model,
    pub scenario: String,
    pub target: String,
    pub duration_s: f64,
    pub journeys: BTreeMap<String, Figures>,
    pub steps: BTreeMap<String, Figures>,
    pub checkouts: Checkouts,
    pub requests: u64,
    pub status_counts: BTreeMap<String, u64>,
    pub slo: Verdict,
    pub audit: Audit,
    pub timeline: Vec<Point>,
    /// CPU seconds shop-load itself used (user + system), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
}

/// Summarises `stats` over `duration_s` seconds.
#[allow(clippy::too_many_arguments)]
pub fn build(
    stats: &Stats,
    model: Model,
    scenario: &str,
    target: &str,
    duration_s: f64,
    slo: Verdict,
    audit: Audit,
) -> Report {
    let per_s = |n: u64| n as f64 / duration_s.max(1e-9);
    Report {
        model,
        scenario: scenario.to_owned(),
        target: target.to_owned(),
        duration_s,
        journeys: stats
            .journeys
            .iter()
            .map(|(name, j)| {
                let f = Figures {
                    count: j.count,
                    errors: j.errors,
                    per_s: per_s(j.count),
                    latency_ms: Percentiles::of(&j.latency),
                    status_counts: BTreeMap::new(),
                };
                ((*name).to_owned(), f)
            })
            .collect(),
        steps: stats
            .steps
            .iter()
            .map(|(name, s)| {
                let f = Figures {
                    count: s.latency.len(),
                    errors: s.errors,
                    per_s: per_s(s.latency.len()),
                    latency_ms: Percentiles::of(&s.latency),
                    status_counts: s.statuses.clone(),
                };
                ((*name).to_owned(), f)
            })
            .collect(),
        checkouts: Checkouts {
            placed: stats.placed,
            per_s: per_s(stats.placed),
            out_of_stock: stats.out_of_stock,
        },
        requests: stats.requests,
        status_counts: stats.statuses.clone(),
        slo,
        audit,
        // Whole seconds of the load only: journeys still in flight when it
        // ended finish in a last, partial second that would look like a
        // collapse on the chart (they count in every total all the same).
        timeline: stats
            .timeline
            .iter()
            .take((duration_s.round() as usize).max(1))
            .enumerate()
            .map(|(second, s)| {
                let p = Percentiles::of(&s.latency);
                Point {
                    second,
                    journeys: s.journeys,
                    errors: s.errors,
                    p50_ms: if s.journeys == 0 { 0.0 } else { p.p50 },
                    p99_ms: if s.journeys == 0 { 0.0 } else { p.p99 },
                }
            })
            .collect(),
        cpu_s: own_cpu_seconds(),
    }
}

/// This process's CPU time so far, from /proc (Linux only).
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

impl Report {
    /// The human summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} model, {:.1} s, {} requests against {}",
            match self.model {
                Model::Closed => "closed",
                Model::Open => "open",
            },
            self.duration_s,
            self.requests,
            self.target
        );
        let _ = writeln!(
            out,
            "\n{:<22} {:>8} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "journey / step",
            "count",
            "errors",
            "per s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        );
        for (name, f) in self.journeys.iter().chain(self.steps.iter()) {
            let l = &f.latency_ms;
            let _ = writeln!(
                out,
                "{name:<22} {:>8} {:>7} {:>8.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                f.count, f.errors, f.per_s, l.p50, l.p90, l.p99, l.p999, l.max
            );
        }
        let _ = writeln!(
            out,
            "\ncheckouts placed: {} ({:.1}/s), refused out of stock: {}",
            self.checkouts.placed, self.checkouts.per_s, self.checkouts.out_of_stock
        );
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(out, "status counts: {}", statuses.join(", "));
        let _ = writeln!(out, "\nSLOs:");
        for c in &self.slo.checks {
            let _ = writeln!(
                out,
                "  {} {:<24} limit {:<10} measured {}",
                if c.pass { "PASS" } else { "FAIL" },
                c.name,
                c.limit,
                c.actual.as_deref().unwrap_or("no samples")
            );
        }
        let a = &self.audit;
        let _ = writeln!(
            out,
            "\naudit: {} ({} products balanced, {} orders, reservations {}, settled in {:.1} s)",
            if a.ok { "OK" } else { "VIOLATED" },
            a.products,
            a.orders,
            if a.reservations_checked {
                "read from the internal API"
            } else {
                "not read (no --internal-token)"
            },
            a.settle_s
        );
        for m in &a.mismatches {
            let _ = writeln!(out, "  {m}");
        }
        out
    }

    /// The one-page HTML report. Long (about 125 lines) because it is a
    /// template: the page's markup in order, which reads best as one piece.
    pub fn html(&self) -> String {
        let xs: Vec<f64> = self.timeline.iter().map(|p| p.second as f64).collect();
        let series = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
            xs.iter()
                .copied()
                .zip(self.timeline.iter().map(f))
                .collect()
        };
        let charts = [
            chart(
                "Throughput (journeys started and finished per second)",
                "journeys/s",
                &[("journeys", series(&|p| p.journeys as f64), BLUE)],
            ),
            chart(
                "Errors per second",
                "errors/s",
                &[("errors", series(&|p| p.errors as f64), RED)],
            ),
            chart(
                "Journey latency per second (ms)",
                "ms",
                &[
                    ("p50", series(&|p| p.p50_ms), GREEN),
                    ("p99", series(&|p| p.p99_ms), MAGENTA),
                ],
            ),
        ];
        let mut rows = String::new();
        for (name, f) in self.journeys.iter().chain(self.steps.iter()) {
            let l = &f.latency_ms;
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
                esc(name),
                f.count,
                f.errors,
                f.per_s,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max
            );
        }
        let mut slo_rows = String::new();
        for c in &self.slo.checks {
            let _ = write!(
                slo_rows,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if c.pass { "pass" } else { "fail" },
                if c.pass { "PASS" } else { "FAIL" },
                esc(&c.name),
                esc(&c.limit),
                esc(c.actual.as_deref().unwrap_or("no samples"))
            );
        }
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(s, n)| format!("<code>{}</code>: {n}", esc(s)))
            .collect();
        let mismatches: String = self
            .audit
            .mismatches
            .iter()
            .map(|m| format!("<li>{}</li>", esc(&m.to_string())))
            .collect();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop-load report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.pass td:first-child {{ color: #176317; font-weight: bold; }}
.fail td:first-child, .bad {{ color: #a11; font-weight: bold; }}
.ok {{ color: #176317; font-weight: bold; }}
svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>shop-load report</h1>
<p>{model} model, scenario <code>{scenario}</code>, {duration:.1} s against <code>{target}</code>; {requests} requests; {placed} checkouts placed ({per_s:.1}/s).</p>
<h2>Over time</h2>
{charts}
<h2>Latency (ms; {latency_from})</h2>
<table><tr><th>journey / step</th><th>count</th><th>errors</th><th>per s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{rows}</table>
<p>Status counts: {statuses}</p>
<h2>SLOs: <span class="{slo_class}">{slo_verdict}</span></h2>
<table><tr><th>verdict</th><th>objective</th><th>limit</th><th>measured</th></tr>{slo_rows}</table>
<h2>Audit: <span class="{audit_class}">{audit_verdict}</span></h2>
<p>{products} products balanced (initial = available + sold + held), {orders} orders checked; reservations {reservations}.</p>
<ul>{mismatches}</ul>
</body></html>
"#,
            model = match self.model {
                Model::Closed => "Closed",
                Model::Open => "Open",
            },
            scenario = esc(&self.scenario),
            duration = self.duration_s,
            target = esc(&self.target),
            requests = self.requests,
            placed = self.checkouts.placed,
            per_s = self.checkouts.per_s,
            charts = charts.join("\n"),
            latency_from = match self.model {
                Model::Closed => "closed model: from each journey's start",
                Model::Open => "open model: from each journey's intended start",
            },
            statuses = statuses.join(", "),
            slo_class = if self.slo.pass { "ok" } else { "bad" },
            slo_verdict = if self.slo.pass { "PASS" } else { "FAIL" },
            audit_class = if self.audit.ok { "ok" } else { "bad" },
            audit_verdict = if self.audit.ok { "OK" } else { "VIOLATED" },
            products = self.audit.products,
            orders = self.audit.orders,
            reservations = if self.audit.reservations_checked {
                "read from the internal API"
            } else {
                "not read (no internal token)"
            },
        )
    }
}

/// One named, coloured line of a chart.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// One line chart as an SVG element.
fn chart(title: &str, unit: &str, lines: &[Line<'_>]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 260)).into_drawing_area();
        let x_max = lines
            .iter()
            .flat_map(|(_, pts, _)| pts.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let y_max = lines
            .iter()
            .flat_map(|(_, pts, _)| pts.iter().map(|p| p.1))
            .fold(1.0, f64::max)
            * 1.1;
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut c = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
            c.configure_mesh().x_desc("second").y_desc(unit).draw()?;
            for (name, pts, color) in lines {
                let color = *color;
                c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
            c.configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return format!("<p>(chart {title} could not be drawn)</p>");
        }
    }
    svg
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
