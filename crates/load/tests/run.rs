//! shop-load against a live stack: a short smoke run of every journey, and
//! the audit catching a fault planted behind the run's back.
//!
//! The stack is the one `cargo xtask test` starts (the `SHOP_*_URL` and
//! `SHOP_INTERNAL_TOKEN` variables name it), as for the end-to-end suite.

use std::time::Duration;

use shop_api::auth::dev;
use shop_api::product::ProductPatch;
use shop_load::audit::Mismatch;
use shop_load::cli::Args;
use shop_load::{Outcome, Run};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests with `cargo xtask test`, which starts a stack")
    })
}

/// Arguments against the test stack, plus `extra`.
fn args(extra: &str) -> Args {
    let base = format!(
        "shop-load --product {} --cart {} --order {} --internal-token {} --quiet \
         --user-prefix load-test-{} {extra}",
        env("SHOP_PRODUCT_URL"),
        env("SHOP_CART_URL"),
        env("SHOP_ORDER_URL"),
        env("SHOP_INTERNAL_TOKEN"),
        uuid::Uuid::now_v7().simple(),
    );
    clap::Parser::try_parse_from(base.split_whitespace()).expect("valid arguments")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_open_run_makes_every_journey_and_the_audit_passes() {
    let dir = std::env::temp_dir().join(format!("shop-load-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, html) = (dir.join("report.json"), dir.join("report.html"));
    let a = args(&format!(
        "--rate 12 --duration 10s --mix browse=50,cart=25,checkout=25 --seed 7 --report {} --html {}",
        json.display(),
        html.display()
    ));
    let mut run = Run::prepare(a).await.expect("prepare");
    run.drive().await;
    let (report, outcome) = run.finish().await.expect("finish");
    assert!(report.audit.ok, "{}", report.summary());
    assert_eq!(outcome, Outcome::Done, "{}", report.summary());

    // The JSON report has the documented shape.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["model"], "open");
    assert!(v["duration_s"].as_f64().unwrap() >= 10.0);
    for journey in ["browse", "cart", "checkout"] {
        let j = &v["journeys"][journey];
        assert!(j["count"].as_u64().unwrap() > 0, "{journey} never ran: {v}");
        assert_eq!(j["errors"], 0, "{journey}: {v}");
        assert!(j["per_s"].as_f64().unwrap() > 0.0);
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(j["latency_ms"][p].as_f64().unwrap() > 0.0, "{journey}.{p}");
        }
    }
    // 12/s for 10 s: 120 journeys started on schedule (within one).
    let started: u64 = ["browse", "cart", "checkout"]
        .iter()
        .map(|j| v["journeys"][j]["count"].as_u64().unwrap())
        .sum();
    assert!((119..=121).contains(&started), "{started} journeys");
    assert!(v["checkouts"]["placed"].as_u64().unwrap() > 0);
    assert!(v["checkouts"]["per_s"].as_f64().is_some());
    assert!(v["status_counts"]["201"].as_u64().unwrap() > 0);
    assert!(v["status_counts"]["200"].as_u64().unwrap() > 0);
    assert!(v["slo"]["pass"].is_boolean() && v["slo"]["checks"].as_array().unwrap().len() == 4);
    assert_eq!(v["audit"]["ok"], true);
    assert_eq!(v["audit"]["products"], 20);
    assert!(v["audit"]["mismatches"].as_array().unwrap().is_empty());
    assert!(v["timeline"].as_array().unwrap().len() >= 10);
    // The open model set up its first users (a tenth of a second's
    // arrivals at 12/s: 2) before the clock started: their set-up is in no
    // journey and not in the report; only users made on demand later are.
    let users = run.world.users.before.lock().unwrap().len() as u64;
    let set_up_in_run = v["steps"]["setup.clear"]["count"].as_u64().unwrap_or(0);
    assert!(users >= 2, "{users} users");
    assert_eq!(set_up_in_run, users - 2, "{v}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.matches("<svg").count() == 3);
    assert!(!page.contains("<script"), "the report loads nothing");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_names_a_product_whose_stock_changed_behind_the_runs_back() {
    let mut run = Run::prepare(args(
        "--users 2 --duration 2s --scenario checkout --products 3 --stock 500 --settle-timeout 2s",
    ))
    .await
    .expect("prepare");
    run.drive().await;

    // An admin adds 7 units to one product the run works on: units from
    // nowhere, as a double-committed reservation or a lost sale would look.
    let product = run.world.catalog.products[1].clone();
    let admin = shop_api::ProductClient::new(reqwest::Client::new(), env("SHOP_PRODUCT_URL"))
        .with_bearer(dev::token("planted-fault", true, 60));
    // The stock of now: from the list, which product never caches (a
    // single-product read may be up to PRODUCT_CACHE_TTL_MS old, and a
    // read-modify-write on it would plant another number).
    let now = admin
        .list(&shop_api::product::ListProducts {
            ids: Some(product.id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap()
        .items[0]
        .stock;
    admin
        .patch(
            product.id,
            &ProductPatch {
                stock: Some(now + 7),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();

    let (report, outcome) = run.finish().await.expect("finish");
    assert_eq!(outcome, Outcome::InvariantViolated, "{}", report.summary());
    assert!(!report.audit.ok);
    let stock: Vec<_> = report
        .audit
        .mismatches
        .iter()
        .filter(|m| matches!(m, Mismatch::Stock { .. }))
        .collect();
    assert_eq!(stock.len(), 1, "only the touched product: {stock:?}");
    let Mismatch::Stock {
        product: id,
        difference,
        held,
        ..
    } = stock[0]
    else {
        unreachable!()
    };
    assert_eq!((*id, *difference, *held), (product.id, 7, 0));
    assert!(report.summary().contains(&product.id.to_string()));
    assert!(report.audit.settle_s >= Duration::from_secs(2).as_secs_f64());
}
