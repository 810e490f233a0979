//! The fault switches' wire form: what `PUT /faults` on a service's admin
//! port takes and `GET /faults` answers (see `crates/common/src/faults.rs`
//! for what the service does with it, and `docs/labs/` for how to use it).
//!
//! ```json
//! {"rules": [
//!   {"route": "/v1/products/{id}", "latency_ms": 300, "jitter_ms": 100},
//!   {"peer": "product", "error_rate": 0.5, "ttl_secs": 60},
//!   {"peer": "cart", "unreachable": true}
//! ]}
//! ```

use serde::{Deserialize, Serialize};

/// How long a rule lasts when `ttl_secs` is not given: long enough for a
/// lab, short enough that a forgotten fault heals itself.
pub const DEFAULT_FAULT_TTL_SECS: u64 = 300;
/// The longest TTL a rule may ask for (a day).
pub const MAX_FAULT_TTL_SECS: u64 = 86_400;
/// The longest latency (and jitter) a rule may add: a minute.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;
/// Rules at once on one service.
pub const MAX_FAULT_RULES: usize = 32;

/// Every rule in force on one service. `PUT` replaces them all; `GET`
/// answers them with `ttl_secs` counting down, so what `GET` answers can
/// be sent back with `PUT`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRules {
    pub rules: Vec<FaultRule>,
}

/// One fault. It applies to incoming requests of one route template
/// (`route`, optionally only one `method`) or to outgoing calls to one peer
/// service (`peer`), never both; and it does at least one thing: adds
/// latency (`latency_ms` plus a random share of `jitter_ms`), fails
/// `error_rate` of the matching requests with a 503 problem (spread evenly,
/// the first one failing, so a lab's numbers repeat), or, for a peer, makes
/// it `unreachable` (connection refused, as the client sees it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_ms: u64,
    #[serde(default, skip_serializing_if = "is_zero_rate")]
    pub error_rate: f64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

impl Default for FaultRule {
    fn default() -> Self {
        Self {
            route: None,
            method: None,
            peer: None,
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            unreachable: false,
            ttl_secs: DEFAULT_FAULT_TTL_SECS,
        }
    }
}

impl FaultRule {
    /// A rule on incoming requests of `route` (a template, as routed).
    pub fn route(route: &str) -> Self {
        Self {
            route: Some(route.to_owned()),
            ..Self::default()
        }
    }

    /// A rule on outgoing calls to `peer`.
    pub fn peer(peer: &str) -> Self {
        Self {
            peer: Some(peer.to_owned()),
            ..Self::default()
        }
    }
}

/// The command-line form of a rule, shared by `cargo xtask fault` and
/// `docker/tools/fault.pl`: `key=value` pairs joined by commas, a bare
/// `unreachable` meaning `unreachable=true`, such as
/// `route=/v1/products/{id},latency_ms=800` or `peer=product,unreachable`.
/// Only the syntax is checked here; the service checks the meaning
/// (a known route, a rate between 0 and 1, ...).
impl std::str::FromStr for FaultRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rule = Self::default();
        for pair in text.split(',') {
            let (key, value) = match pair.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (pair, None),
            };
            let number = |v: Option<&str>| -> Result<u64, String> {
                v.and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{key} takes a whole number: {pair:?}"))
            };
            let word = |v: Option<&str>| -> Result<Option<String>, String> {
                match v {
                    Some(v) if !v.is_empty() => Ok(Some(v.to_owned())),
                    _ => Err(format!("{key} takes a value: {pair:?}")),
                }
            };
            match key {
                "route" => rule.route = word(value)?,
                "peer" => rule.peer = word(value)?,
                "method" => rule.method = word(value)?,
                "latency_ms" => rule.latency_ms = number(value)?,
                "jitter_ms" => rule.jitter_ms = number(value)?,
                "ttl_secs" => rule.ttl_secs = number(value)?,
                "error_rate" => {
                    rule.error_rate = value
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| format!("error_rate takes a number: {pair:?}"))?
                }
                "unreachable" => {
                    rule.unreachable = match value {
                        None | Some("true") => true,
                        Some("false") => false,
                        _ => return Err(format!("unreachable takes true or false: {pair:?}")),
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown key {key:?} (keys: route, peer, method, latency_ms, \
                         jitter_ms, error_rate, unreachable, ttl_secs)"
                    ));
                }
            }
        }
        Ok(rule)
    }
}

fn default_ttl() -> u64 {
    DEFAULT_FAULT_TTL_SECS
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_rate(v: &f64) -> bool {
    *v == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_round_trips_and_defaults_its_ttl() {
        let rules: FaultRules =
            serde_json::from_str(r#"{"rules":[{"peer":"product","error_rate":0.5}]}"#).unwrap();
        assert_eq!(rules.rules[0].ttl_secs, DEFAULT_FAULT_TTL_SECS);
        assert_eq!(rules.rules[0].error_rate, 0.5);
        let json = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rules":[{"peer":"product","error_rate":0.5,"ttl_secs":300}]})
        );
    }

    #[test]
    fn the_command_line_form_reads_every_key_and_refuses_what_it_cannot_read() {
        let rule: FaultRule = "route=/v1/orders,method=POST,latency_ms=800,jitter_ms=200,\
                               error_rate=0.25,ttl_secs=60"
            .parse()
            .unwrap();
        assert_eq!(
            rule,
            FaultRule {
                method: Some("POST".into()),
                latency_ms: 800,
                jitter_ms: 200,
                error_rate: 0.25,
                ttl_secs: 60,
                ..FaultRule::route("/v1/orders")
            }
        );
        let rule: FaultRule = "peer=product,unreachable".parse().unwrap();
        assert_eq!(
            rule,
            FaultRule {
                unreachable: true,
                ..FaultRule::peer("product")
            }
        );
        for bad in [
            "latency=5",
            "latency_ms=soon",
            "route=",
            "unreachable=yes",
            "",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let typo = serde_json::from_str::<FaultRules>(r#"{"rules":[{"peer":"p","latency":5}]}"#);
        assert!(typo.is_err());
    }
}
