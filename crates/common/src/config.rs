//! Configuration from environment variables, validated once at start-up.
//!
//! [`Env`] collects every problem before giving up, so an operator fixes a
//! bad deployment in one round: each message names the variable.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Reads and validates variables, remembering every error, and the name of
/// every variable it was asked for (what a deployment may set: the manifest
/// tests hold the Kubernetes manifests to exactly that list).
pub struct Env {
    vars: HashMap<String, String>,
    errors: Vec<String>,
    read: RefCell<BTreeSet<String>>,
}

/// Every invalid or missing variable, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    /// A fixed set of variables, for tests.
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
            read: RefCell::default(),
        }
    }

    /// Every variable name read so far, set or not, sorted.
    pub fn names_read(&self) -> Vec<String> {
        self.read.borrow().iter().cloned().collect()
    }

    /// The raw value, treating an empty string as unset.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.read.borrow_mut().insert(name.to_owned());
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set; records an error when it is missing or
    /// does not parse, and returns `T::default()` so reading can go on.
    pub fn required<T>(&mut self, name: &str) -> T
    where
        T: FromStr + Default,
        T::Err: fmt::Display,
    {
        match self.raw(name).map(str::to_owned) {
            None => {
                self.errors.push(format!("{name} is required but not set"));
                T::default()
            }
            Some(raw) => self.parse(name, &raw).unwrap_or_default(),
        }
    }

    /// A variable with a default.
    pub fn optional<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name).map(str::to_owned) {
            None => default,
            Some(raw) => self.parse(name, &raw).unwrap_or(default),
        }
    }

    /// A number with a default that must lie in `range` (checked at
    /// start, so a typo fails the deploy, not a request).
    pub fn in_range<T>(&mut self, name: &str, default: T, range: RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + fmt::Display,
        T::Err: fmt::Display,
    {
        let value = self.optional(name, default);
        let message = format!("must be between {} and {}", range.start(), range.end());
        self.check(range.contains(&value), name, &message);
        value
    }

    /// A number with a default, at least `min`.
    pub fn at_least<T>(&mut self, name: &str, default: T, min: T) -> T
    where
        T: FromStr + PartialOrd + fmt::Display,
        T::Err: fmt::Display,
    {
        let value = self.optional(name, default);
        self.check(value >= min, name, &format!("must be at least {min}"));
        value
    }

    /// A duration given in milliseconds, at least 1.
    pub fn millis(&mut self, name: &str, default_ms: u64) -> Duration {
        let ms: u64 = self.optional(name, default_ms);
        self.check(ms >= 1, name, "must be at least 1 (milliseconds)");
        Duration::from_millis(ms)
    }

    /// A duration given in whole seconds, at least 1.
    pub fn secs(&mut self, name: &str, default_secs: u64) -> Duration {
        let secs: u64 = self.optional(name, default_secs);
        self.check(secs >= 1, name, "must be at least 1 (seconds)");
        Duration::from_secs(secs)
    }

    /// A socket address such as `0.0.0.0:8080`.
    pub fn addr(&mut self, name: &str, default: &str) -> SocketAddr {
        let fallback = default.parse().expect("default address parses");
        self.optional(name, fallback)
    }

    /// A required `http://` or `https://` URL, such as a peer's base URL.
    pub fn http_url(&mut self, name: &str) -> String {
        let url: String = self.required(name);
        if !url.is_empty() {
            self.check(
                url.starts_with("http://") || url.starts_with("https://"),
                name,
                "must be an http:// or https:// URL",
            );
        }
        url
    }

    /// Records `message` for `name` unless `ok`.
    pub fn check(&mut self, ok: bool, name: &str, message: &str) {
        if !ok {
            self.errors.push(format!("{name} {message}"));
        }
    }

    fn parse<T>(&mut self, name: &str, raw: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match raw.trim().parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(format!("{name}={raw:?} is invalid: {e}"));
                None
            }
        }
    }

    /// `value` when every variable read so far was valid.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn reports_every_bad_variable_by_name() {
        let mut e = env(&[("PORT_A", "x"), ("TIMEOUT_MS", "0")]);
        let _: u16 = e.required("PORT_A");
        let _: String = e.required("MISSING");
        let _ = e.millis("TIMEOUT_MS", 5);
        let err = e.finish(()).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let text = err.to_string();
        for name in ["PORT_A", "MISSING", "TIMEOUT_MS"] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn defaults_apply_and_empty_counts_as_unset() {
        let mut e = env(&[("A", ""), ("B", " 7 ")]);
        assert_eq!(e.optional("A", 3u32), 3);
        assert_eq!(e.optional("B", 3u32), 7);
        assert_eq!(e.secs("C", 9), Duration::from_secs(9));
        assert!(e.finish(()).is_ok());
    }
}
