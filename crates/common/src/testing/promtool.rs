//! [`check_metrics`]: Prometheus's own linter on a service's `/metrics`.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Whether a missing `promtool` fails the test instead of skipping the
/// check: `SHOP_REQUIRE_PROMTOOL=1`, which `.ci/run` sets (it installs the
/// Debian package `prometheus`, which has the tool).
fn required() -> bool {
    std::env::var("SHOP_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1")
}

/// Pipes `exposition` (what `service`'s `/metrics` answered) through
/// `promtool check metrics` and panics with what it reports unless it is
/// clean: exposition syntax, and the naming conventions (counters end in
/// `_total`, base units in names, help on every metric, ...). Returns
/// whether the check ran: without `promtool` on the PATH it says so and
/// returns false, or fails when [`required`].
pub fn check_metrics(service: &str, exposition: &str) -> bool {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !required(),
                "SHOP_REQUIRE_PROMTOOL=1 but promtool is not on the PATH (Debian: apt-get install prometheus)"
            );
            eprintln!(
                "promtool check of {service}'s metrics skipped: promtool is not installed (Debian package prometheus)"
            );
            return false;
        }
        Err(e) => panic!("run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(exposition.as_bytes())
        .expect("write the metrics to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics on {service}'s /metrics ({}):\n{report}\n--- the metrics:\n{exposition}",
        out.status
    );
    true
}
