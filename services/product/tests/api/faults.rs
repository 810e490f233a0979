//! The fault switches on the admin port (`shop_common::faults`), as a lab
//! uses them: `PUT /faults` a rule for a route, see the API misbehave as
//! the rule says and only where it says, watch it expire; and with
//! `FAULTS_ENABLED` unset, no `/faults` at all.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use product::Settings;
use serde_json::json;
use shop_common::testing::metric;
use sqlx::PgPool;

use crate::helpers::*;

const ITEM: &str = "/v1/products/{id}";

fn injected(metrics: &str, kind: &str) -> f64 {
    metric(
        metrics,
        "faults_injected_total",
        &[("kind", kind), ("target", ITEM)],
    )
}

fn changes(metrics: &str, action: &str) -> f64 {
    metric(metrics, "faults_changes_total", &[("action", action)])
}

#[sqlx::test]
async fn without_faults_enabled_there_is_no_faults_endpoint(db: PgPool) {
    let app = TestApp::spawn_without_faults(db, Settings::default()).await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let resp = app.faults(method.clone(), Some(json!({"rules": []}))).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{method} /faults");
    }
    assert!(
        !app.metrics().await.contains("faults_active_rules"),
        "no fault metrics either"
    );
}

#[sqlx::test]
async fn a_route_rule_fails_its_route_and_method_only_and_is_listed_and_cleared(db: PgPool) {
    let app = spawn(db).await;
    let id = app.create_product("Kettle", "kitchen", 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = format!("/v1/products/{id}");
    app.set_faults(json!([{"route": ITEM, "method": "GET", "error_rate": 1.0}]))
        .await;

    let resp = app.get(&item).await;
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.body["type"], "urn:shop:problem:unavailable");
    assert!(
        resp.body["detail"].as_str().unwrap().contains("injected"),
        "an injected 503 says so: {}",
        resp.body
    );
    // Another route, and another method on the same route, are untouched.
    assert_eq!(app.get("/v1/products").await.status, StatusCode::OK);
    let patch = app
        .with_admin()
        .send(
            app.with_admin()
                .request(Method::PATCH, &item)
                .header("if-match", "*")
                .json(&json!({"description": "still writable"})),
        )
        .await;
    assert_ne!(
        patch.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "PATCH is not GET: {}",
        patch.body
    );

    let listed = app.faults(Method::GET, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let rules = listed.body["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{}", listed.body);
    assert_eq!(rules[0]["route"], ITEM);
    let ttl = rules[0]["ttl_secs"].as_u64().unwrap();
    assert!(
        (299..=300).contains(&ttl),
        "default TTL, counting down: {ttl}"
    );
    let metrics = app.metrics().await;
    assert_eq!(injected(&metrics, "error"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "faults_active_rules", &[]), 1.0);
    assert_eq!(changes(&metrics, "replace"), 1.0);

    let cleared = app.faults(Method::DELETE, None).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.body["rules"], json!([]));
    assert_eq!(app.get(&item).await.status, StatusCode::OK, "healed");
    let metrics = app.metrics().await;
    assert_eq!(changes(&metrics, "clear"), 1.0);
    assert_eq!(metric(&metrics, "faults_active_rules", &[]), 0.0);
}

#[sqlx::test]
async fn a_latency_rule_delays_the_answer_by_at_least_its_latency(db: PgPool) {
    let app = spawn(db).await;
    let id = app.create_product("Kettle", "kitchen", 5).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_faults(json!([{"route": ITEM, "latency_ms": 300, "jitter_ms": 50}]))
        .await;
    let started = Instant::now();
    let resp = app.get(&format!("/v1/products/{id}")).await;
    // A lower bound only: a delay cannot be shorter than the rule, while
    // a busy machine may make it longer.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status, StatusCode::OK, "slow, not failed");
    assert_eq!(injected(&app.metrics().await, "latency"), 1.0);
}

#[sqlx::test]
async fn a_rule_heals_itself_when_its_ttl_runs_out(db: PgPool) {
    let app = spawn(db).await;
    app.set_faults(json!([{"route": "/v1/products", "error_rate": 1.0, "ttl_secs": 1}]))
        .await;
    assert_eq!(
        app.get("/v1/products").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/v1/products").await.status, StatusCode::OK);
    assert_eq!(app.faults(Method::GET, None).await.body["rules"], json!([]));
    assert_eq!(changes(&app.metrics().await, "expire"), 1.0);
}

#[sqlx::test]
async fn rules_naming_what_does_not_exist_are_refused_each_with_its_reason(db: PgPool) {
    let app = spawn(db).await;
    let resp = app
        .faults(
            Method::PUT,
            Some(json!({"rules": [
                {"route": "/v1/nothing/{id}", "error_rate": 1.0},
                {"peer": "warehouse", "unreachable": true},
                {"route": ITEM, "error_rate": 1.5, "ttl_secs": 0},
            ]})),
        )
        .await;
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        resp.body
    );
    let fields: Vec<&str> = resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "rules[0].route",
        "rules[1].peer",
        "rules[2].error_rate",
        "rules[2].ttl_secs",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let unknown = app
        .faults(
            Method::PUT,
            Some(json!({"rules": [{"route": ITEM, "latncy_ms": 5}]})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert_eq!(
        app.faults(Method::GET, None).await.body["rules"],
        json!([]),
        "nothing changed"
    );
}

/// `docker/tools/fault.pl`, the Compose stack's fault tool, run against
/// this service's admin port: it reads a rule as `cargo xtask fault` does
/// (`FaultRule::from_str`) and sets it, lists it and clears it.
#[sqlx::test]
async fn the_compose_fault_tool_sets_lists_and_clears_rules_as_xtask_reads_them(db: PgPool) {
    let app = spawn(db).await;
    let port = app.admin_url.rsplit(':').next().unwrap().to_owned();
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker/tools/fault.pl");
    // The tool blocks: it runs beside the runtime that serves the app.
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let port = port.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("perl")
                .arg(tool)
                .arg("127.0.0.1")
                .args(args)
                .env("ADMIN_PORT", port)
                .output()
                .expect("perl runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (out.status.success(), text)
        })
    };
    let texts = [
        "route=/v1/products/{id},method=GET,latency_ms=800,jitter_ms=200,ttl_secs=60",
        "route=/v1/products,error_rate=0.25",
    ];
    let (ok, out) = run(&texts).await.unwrap();
    assert!(ok, "{out}");
    let listed: shop_api::faults::FaultRules =
        serde_json::from_value(app.faults(Method::GET, None).await.body).unwrap();
    for (got, text) in listed.rules.iter().zip(texts) {
        let want: shop_api::faults::FaultRule = text.parse().unwrap();
        // What GET answers counts the TTL down; the rest is as read.
        assert!(got.ttl_secs <= want.ttl_secs && got.ttl_secs + 2 >= want.ttl_secs);
        let got = shop_api::faults::FaultRule {
            ttl_secs: want.ttl_secs,
            ..got.clone()
        };
        assert_eq!(got, want, "{text}");
    }
    assert_eq!(listed.rules.len(), 2);

    let (ok, out) = run(&["list"]).await.unwrap();
    assert!(ok && out.contains("/v1/products/{id}"), "{out}");
    let (ok, out) = run(&["peer=warehouse,unreachable"]).await.unwrap();
    assert!(
        !ok && out.contains("422"),
        "a refused rule fails the tool: {out}"
    );
    let (ok, out) = run(&["clear"]).await.unwrap();
    assert!(ok, "{out}");
    assert_eq!(app.faults(Method::GET, None).await.body["rules"], json!([]));
}
