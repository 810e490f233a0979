//! Fault switches at run time: latency, errors and unreachable peers,
//! switched on and off over a service's admin port, for labs and chaos
//! experiments (`docs/labs/`).
//!
//! Off unless `FAULTS_ENABLED=true`, which needs `DEVELOPMENT_MODE=true`
//! (anyone who reaches the admin port could otherwise break the service).
//! When off, nothing of this module is on the hot path: the middleware is
//! not installed, peers carry no [`Faults`], and `/faults` answers 404.
//!
//! When on, the admin port serves:
//! - `GET /faults`: the rules in force, each with the seconds it has left;
//! - `PUT /faults`: replaces every rule (a [`FaultRules`] body);
//! - `DELETE /faults`: clears them.
//!
//! A rule matches incoming requests by route template (the middleware
//! [`inject`], installed inside the platform stack so metrics, the timeout
//! and load shedding see the injected latency and errors as they would see
//! real ones) or outgoing calls by peer name (in `http_client::Peer`, per
//! attempt, inside the attempt timeout, so retries and the breaker react as
//! they would to a real fault). Each rule expires after its TTL, so a
//! forgotten fault heals itself. Every change is logged and counted in
//! `faults_changes_total`, every injection in `faults_injected_total`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use shop_api::faults::{
    FaultRule, FaultRules, MAX_FAULT_LATENCY_MS, MAX_FAULT_RULES, MAX_FAULT_TTL_SECS,
};
use shop_api::{FieldError, Problem, ProblemType};

use crate::config::Env;
use crate::error::ApiError;
use crate::json::JsonObject;

/// Whether the fault switches exist at all (`FAULTS_ENABLED`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultsConfig {
    pub enabled: bool,
}

impl FaultsConfig {
    /// Reads `FAULTS_ENABLED` (default false); true needs
    /// `DEVELOPMENT_MODE=true`.
    pub fn from_env(env: &mut Env) -> Self {
        let enabled: bool = env.optional("FAULTS_ENABLED", false);
        let development: bool = env.optional("DEVELOPMENT_MODE", false);
        env.check(
            !enabled || development,
            "FAULTS_ENABLED",
            "needs DEVELOPMENT_MODE=true: the fault switches let anyone who reaches the admin \
             port slow or break the service",
        );
        Self { enabled }
    }
}

/// The fault rules of one service, shared by its middleware, its peers and
/// its admin port. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: RwLock<Vec<Active>>,
    /// What rules may name: this service's route templates and peers.
    routes: RwLock<BTreeSet<String>>,
    peers: RwLock<BTreeSet<String>>,
    metrics: FaultMetrics,
}

/// A rule in force: until when, and how many requests it has matched (for
/// spreading `error_rate` evenly).
#[derive(Debug)]
struct Active {
    rule: FaultRule,
    method: Option<Method>,
    expires: Instant,
    seen: AtomicU64,
}

/// What to do to one request or attempt: the sum of every matching rule.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Injection {
    pub delay: Duration,
    pub fail: bool,
    pub unreachable: bool,
}

#[derive(Debug)]
struct FaultMetrics {
    injected: IntCounterVec,
    changes: IntCounterVec,
    active: IntGauge,
}

/// Where a request or call is going, for matching rules.
enum Target<'a> {
    Route(&'a Method, &'a str),
    Peer(&'a str),
}

impl Faults {
    /// Fault rules for a service whose metrics live in `registry`: none in
    /// force yet.
    pub fn new(registry: &Registry) -> Self {
        let injected = IntCounterVec::new(
            Opts::new(
                "faults_injected_total",
                "Faults injected, by kind (latency, error, unreachable) and target (a route, or peer:NAME).",
            ),
            &["kind", "target"],
        )
        .expect("valid metric");
        let changes = IntCounterVec::new(
            Opts::new(
                "faults_changes_total",
                "Changes to the fault rules, by action (replace, clear, expire).",
            ),
            &["action"],
        )
        .expect("valid metric");
        let active =
            IntGauge::new("faults_active_rules", "Fault rules in force.").expect("valid metric");
        for m in [
            Box::new(injected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(changes.clone()),
            Box::new(active.clone()),
        ] {
            registry.register(m).expect("fault metrics registered once");
        }
        Self {
            inner: Arc::new(Inner {
                rules: RwLock::default(),
                routes: RwLock::default(),
                peers: RwLock::default(),
                metrics: FaultMetrics {
                    injected,
                    changes,
                    active,
                },
            }),
        }
    }

    /// Makes `routes` (templates, as routed) nameable by rules.
    pub fn add_routes<'a>(&self, routes: impl IntoIterator<Item = &'a str>) {
        let mut known = self.inner.routes.write().expect("not poisoned");
        known.extend(routes.into_iter().map(str::to_owned));
    }

    /// Makes `peer` nameable by rules (`Platform::peer` calls this).
    pub fn add_peer(&self, peer: &str) {
        let mut known = self.inner.peers.write().expect("not poisoned");
        known.insert(peer.to_owned());
    }

    /// What to do to an incoming request of `method` on `route`.
    pub fn incoming(&self, method: &Method, route: &str) -> Option<Injection> {
        self.find(Target::Route(method, route))
    }

    /// What to do to one attempt of a call to `peer`.
    pub fn outgoing(&self, peer: &str) -> Option<Injection> {
        self.find(Target::Peer(peer))
    }

    fn find(&self, target: Target<'_>) -> Option<Injection> {
        // No rule in force, as between labs: one atomic load, no clock and
        // no lock (`faults_active_rules` is kept with the rules, under
        // their write lock).
        if self.inner.metrics.active.get() == 0 {
            return None;
        }
        let now = Instant::now();
        let mut hit: Option<Injection> = None;
        let mut expired = false;
        {
            let rules = self.inner.rules.read().expect("not poisoned");
            for active in rules.iter() {
                if active.expires <= now {
                    expired = true;
                    continue;
                }
                if !active.matches(&target) {
                    continue;
                }
                let injection = active.roll();
                let label = match target {
                    Target::Route(_, route) => route.to_owned(),
                    Target::Peer(peer) => format!("peer:{peer}"),
                };
                self.count(&injection, &label);
                let sum = hit.get_or_insert_with(Injection::default);
                sum.delay += injection.delay;
                sum.fail |= injection.fail;
                sum.unreachable |= injection.unreachable;
            }
        }
        if expired {
            self.purge();
        }
        hit
    }

    fn count(&self, injection: &Injection, target: &str) {
        let injected = &self.inner.metrics.injected;
        if !injection.delay.is_zero() {
            injected.with_label_values(&["latency", target]).inc();
        }
        if injection.unreachable {
            injected.with_label_values(&["unreachable", target]).inc();
        } else if injection.fail {
            injected.with_label_values(&["error", target]).inc();
        }
    }

    /// Drops expired rules, logging each.
    fn purge(&self) {
        let now = Instant::now();
        let mut rules = self.inner.rules.write().expect("not poisoned");
        rules.retain(|active| {
            let live = active.expires > now;
            if !live {
                tracing::warn!(rule = ?active.rule, "fault rule expired");
                self.inner
                    .metrics
                    .changes
                    .with_label_values(&["expire"])
                    .inc();
            }
            live
        });
        self.inner.metrics.active.set(rules.len() as i64);
    }

    /// The rules in force, each with the whole seconds it has left (at
    /// least 1, so the answer can be sent back with `PUT`).
    pub fn list(&self) -> FaultRules {
        self.purge();
        let now = Instant::now();
        let rules = self.inner.rules.read().expect("not poisoned");
        FaultRules {
            rules: rules
                .iter()
                .map(|active| FaultRule {
                    ttl_secs: active
                        .expires
                        .saturating_duration_since(now)
                        .as_secs_f64()
                        .ceil()
                        .max(1.0) as u64,
                    ..active.rule.clone()
                })
                .collect(),
        }
    }

    /// Replaces every rule, after checking each; nothing changes when one
    /// is invalid.
    pub fn replace(&self, new: FaultRules) -> Result<(), Vec<FieldError>> {
        let checked = self.check(&new)?;
        let now = Instant::now();
        let active: Vec<Active> = new
            .rules
            .into_iter()
            .zip(checked)
            .map(|(rule, method)| Active {
                expires: now + Duration::from_secs(rule.ttl_secs),
                rule,
                method,
                seen: AtomicU64::new(0),
            })
            .collect();
        let mut rules = self.inner.rules.write().expect("not poisoned");
        tracing::warn!(rules = ?active.iter().map(|a| &a.rule).collect::<Vec<_>>(), "fault rules replaced");
        *rules = active;
        self.inner.metrics.active.set(rules.len() as i64);
        self.inner
            .metrics
            .changes
            .with_label_values(&["replace"])
            .inc();
        Ok(())
    }

    /// Clears every rule.
    pub fn clear(&self) {
        let mut rules = self.inner.rules.write().expect("not poisoned");
        tracing::warn!(cleared = rules.len(), "fault rules cleared");
        rules.clear();
        self.inner.metrics.active.set(0);
        self.inner
            .metrics
            .changes
            .with_label_values(&["clear"])
            .inc();
    }

    /// Every problem with `new`, each naming its rule's index; the parsed
    /// method of each rule when there is none.
    fn check(&self, new: &FaultRules) -> Result<Vec<Option<Method>>, Vec<FieldError>> {
        let routes = self.inner.routes.read().expect("not poisoned");
        let peers = self.inner.peers.read().expect("not poisoned");
        let mut errors = Vec::new();
        if new.rules.len() > MAX_FAULT_RULES {
            errors.push(field_error(
                "rules",
                format!("at most {MAX_FAULT_RULES} rules"),
            ));
        }
        let methods = new
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| check_rule(i, rule, &routes, &peers, &mut errors))
            .collect();
        if errors.is_empty() {
            Ok(methods)
        } else {
            Err(errors)
        }
    }
}

/// One rule's problems, pushed to `errors`; its method, parsed.
fn check_rule(
    i: usize,
    rule: &FaultRule,
    routes: &BTreeSet<String>,
    peers: &BTreeSet<String>,
    errors: &mut Vec<FieldError>,
) -> Option<Method> {
    let mut fail = |field: &str, message: String| {
        errors.push(field_error(format!("rules[{i}].{field}"), message));
    };
    let list = |names: &BTreeSet<String>| names.iter().cloned().collect::<Vec<_>>().join(", ");
    match (&rule.route, &rule.peer) {
        (Some(_), Some(_)) | (None, None) => fail(
            "route",
            "give exactly one of route (incoming requests) and peer (outgoing calls)".into(),
        ),
        (Some(route), None) if !routes.contains(route) => fail(
            "route",
            format!(
                "{route:?} is not a route of this service; its routes: {}",
                list(routes)
            ),
        ),
        (None, Some(peer)) if !peers.contains(peer) => {
            let known = if peers.is_empty() {
                "it calls no other service".to_owned()
            } else {
                format!("its peers: {}", list(peers))
            };
            fail(
                "peer",
                format!("{peer:?} is not a peer of this service; {known}"),
            );
        }
        _ => {}
    }
    let method = match (&rule.method, &rule.route) {
        (None, _) => None,
        (Some(_), None) => {
            fail("method", "applies to route rules only".into());
            None
        }
        (Some(m), Some(_)) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => Some(method),
            Err(_) => {
                fail("method", format!("{m:?} is not an HTTP method"));
                None
            }
        },
    };
    for (field, value) in [
        ("latency_ms", rule.latency_ms),
        ("jitter_ms", rule.jitter_ms),
    ] {
        if value > MAX_FAULT_LATENCY_MS {
            fail(field, format!("at most {MAX_FAULT_LATENCY_MS}"));
        }
    }
    if !(0.0..=1.0).contains(&rule.error_rate) {
        fail("error_rate", "must be between 0 and 1".into());
    }
    if rule.unreachable && rule.peer.is_none() {
        fail("unreachable", "applies to peer rules only".into());
    }
    if !(1..=MAX_FAULT_TTL_SECS).contains(&rule.ttl_secs) {
        fail(
            "ttl_secs",
            format!("must be between 1 and {MAX_FAULT_TTL_SECS}"),
        );
    }
    let does_something =
        rule.latency_ms > 0 || rule.jitter_ms > 0 || rule.error_rate > 0.0 || rule.unreachable;
    if !does_something {
        fail(
            "latency_ms",
            "the rule does nothing: give latency_ms, jitter_ms, error_rate or unreachable".into(),
        );
    }
    method
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl Active {
    fn matches(&self, target: &Target<'_>) -> bool {
        match *target {
            Target::Route(method, route) => {
                self.rule.route.as_deref() == Some(route)
                    && self.method.as_ref().is_none_or(|m| m == method)
            }
            Target::Peer(peer) => self.rule.peer.as_deref() == Some(peer),
        }
    }

    /// This rule's effect on the next matching request. `error_rate` is
    /// spread evenly: request `n` (from 0) fails when `ceil((n+1)·rate)`
    /// passes `ceil(n·rate)`, so the first fails, and then one in every
    /// `1/rate`: repeatable, unlike a coin toss, so a test or a lab can
    /// count on it.
    fn roll(&self) -> Injection {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        let rate = self.rule.error_rate;
        let fail = rate > 0.0 && ((n + 1.0) * rate).ceil() > (n * rate).ceil();
        let jitter = if self.rule.jitter_ms > 0 {
            rand::random_range(0..=self.rule.jitter_ms)
        } else {
            0
        };
        Injection {
            delay: Duration::from_millis(self.rule.latency_ms + jitter),
            fail,
            unreachable: self.rule.unreachable,
        }
    }
}

/// The middleware: delays or fails an incoming request as the matching
/// rules say. Installed only when faults are enabled.
pub async fn inject(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let Some(hit) = route.and_then(|route| faults.incoming(req.method(), route)) else {
        return next.run(req).await;
    };
    if !hit.delay.is_zero() {
        tokio::time::sleep(hit.delay).await;
    }
    if hit.fail {
        return ApiError::new(ProblemType::Unavailable, INJECTED).into_response();
    }
    next.run(req).await
}

/// The detail of every injected 503, so nobody mistakes it for a real one.
pub const INJECTED: &str = "injected fault (FAULTS_ENABLED): see GET /faults on the admin port";

/// The 503 problem an outgoing call gets from an `error_rate` rule, as if
/// the peer had answered it.
pub fn injected_response() -> http::Response<Vec<u8>> {
    let problem = Problem::new(ProblemType::Unavailable).with_detail(INJECTED);
    http::Response::builder()
        .status(503)
        .header(http::header::CONTENT_TYPE, shop_api::problem::PROBLEM_JSON)
        .body(serde_json::to_vec(&problem).expect("a problem serializes"))
        .expect("a valid response")
}

/// `/faults` on the admin port.
pub fn admin_router(faults: Faults) -> Router {
    Router::new()
        .route("/faults", get(list).put(replace).delete(clear))
        .with_state(faults)
}

async fn list(State(faults): State<Faults>) -> axum::Json<FaultRules> {
    axum::Json(faults.list())
}

async fn replace(
    State(faults): State<Faults>,
    JsonObject(rules): JsonObject<FaultRules>,
) -> Result<axum::Json<FaultRules>, ApiError> {
    faults.replace(rules).map_err(ApiError::validation)?;
    Ok(axum::Json(faults.list()))
}

async fn clear(State(faults): State<Faults>) -> axum::Json<FaultRules> {
    faults.clear();
    axum::Json(faults.list())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> Faults {
        let faults = Faults::new(&Registry::new());
        faults.add_routes(["/v1/things/{id}", "/v1/things"]);
        faults.add_peer("product");
        faults
    }

    fn put(faults: &Faults, rules: Vec<FaultRule>) {
        faults.replace(FaultRules { rules }).expect("valid rules");
    }

    #[test]
    fn an_error_rate_fails_that_share_of_requests_the_first_one_first() {
        let faults = faults();
        put(
            &faults,
            vec![FaultRule {
                error_rate: 0.25,
                ..FaultRule::peer("product")
            }],
        );
        let failed: Vec<bool> = (0..8)
            .map(|_| faults.outgoing("product").unwrap().fail)
            .collect();
        assert_eq!(
            failed,
            [true, false, false, false, true, false, false, false]
        );
    }

    #[test]
    fn rules_match_their_route_and_method_or_their_peer_only() {
        let faults = faults();
        put(
            &faults,
            vec![
                FaultRule {
                    method: Some("get".into()),
                    latency_ms: 10,
                    ..FaultRule::route("/v1/things/{id}")
                },
                FaultRule {
                    unreachable: true,
                    ..FaultRule::peer("product")
                },
            ],
        );
        let hit = faults.incoming(&Method::GET, "/v1/things/{id}").unwrap();
        assert_eq!(hit.delay, Duration::from_millis(10));
        assert!(!hit.fail && !hit.unreachable);
        assert_eq!(faults.incoming(&Method::POST, "/v1/things/{id}"), None);
        assert_eq!(faults.incoming(&Method::GET, "/v1/things"), None);
        assert!(faults.outgoing("product").unwrap().unreachable);
        assert_eq!(faults.outgoing("cart"), None);
    }

    #[test]
    fn latency_and_jitter_stay_within_their_bounds() {
        let faults = faults();
        put(
            &faults,
            vec![FaultRule {
                latency_ms: 20,
                jitter_ms: 5,
                ..FaultRule::route("/v1/things")
            }],
        );
        for _ in 0..50 {
            let delay = faults.incoming(&Method::GET, "/v1/things").unwrap().delay;
            assert!((20..=25).contains(&delay.as_millis()), "{delay:?}");
        }
    }

    #[test]
    fn invalid_rules_are_refused_each_with_a_reason_and_change_nothing() {
        let faults = faults();
        put(
            &faults,
            vec![FaultRule {
                latency_ms: 1,
                ..FaultRule::route("/v1/things")
            }],
        );
        let bad = vec![
            FaultRule {
                latency_ms: 1,
                ..FaultRule::route("/v1/nope")
            },
            FaultRule {
                latency_ms: 1,
                ..FaultRule::peer("nobody")
            },
            FaultRule::peer("product"),
            FaultRule {
                error_rate: 1.5,
                ttl_secs: 0,
                ..FaultRule::peer("product")
            },
            FaultRule {
                unreachable: true,
                method: Some("G E T".into()),
                ..FaultRule::route("/v1/things")
            },
            FaultRule {
                peer: Some("product".into()),
                latency_ms: MAX_FAULT_LATENCY_MS + 1,
                ..FaultRule::route("/v1/things")
            },
        ];
        let errors = faults.replace(FaultRules { rules: bad }).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rules[0].route",
                "rules[1].peer",
                "rules[2].latency_ms",
                "rules[3].error_rate",
                "rules[3].ttl_secs",
                "rules[4].method",
                "rules[4].unreachable",
                "rules[5].route",
                "rules[5].latency_ms",
            ],
            "{errors:?}"
        );
        assert_eq!(faults.list().rules.len(), 1, "the old rules stand");
    }

    #[test]
    fn faults_are_off_by_default_and_need_development_mode() {
        let mut env = Env::from_map(Default::default());
        assert!(!FaultsConfig::from_env(&mut env).enabled);
        assert!(env.finish(()).is_ok());

        let vars = [("FAULTS_ENABLED", "true")];
        let mut env = Env::from_map(vars.map(|(k, v)| (k.into(), v.into())).into());
        FaultsConfig::from_env(&mut env);
        let err = env.finish(()).unwrap_err();
        assert!(err.0[0].contains("DEVELOPMENT_MODE"), "{err}");

        let vars = [("FAULTS_ENABLED", "true"), ("DEVELOPMENT_MODE", "true")];
        let mut env = Env::from_map(vars.map(|(k, v)| (k.into(), v.into())).into());
        assert!(FaultsConfig::from_env(&mut env).enabled);
        assert!(env.finish(()).is_ok());
    }
}
