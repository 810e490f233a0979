//! The storefront's `/metrics` after a shopping session passes
//! `promtool check metrics` (product's, cart's and order's are checked by
//! order's tests, with the three as real processes; see
//! docs/observability.md).

use reqwest::StatusCode;
use shop_common::testing;
use sqlx::PgPool;

use crate::helpers::Store;

#[sqlx::test(migrations = false)]
async fn the_storefronts_metrics_pass_promtool_after_a_checkout(db: PgPool) {
    let store = Store::new(db).await;
    let kettle = store.product("Kettle", 2500, 3).await;
    let browser = store.browser();
    let csrf = browser.sign_in("prom", false).await;
    browser.add(&csrf, kettle.id, "1").await;
    let key = browser.get("/cart").await.field("idempotency_key");
    let placed = browser
        .post("/checkout", &[("csrf", &csrf), ("idempotency_key", &key)])
        .await;
    assert!(placed.location().starts_with("/orders/"), "{placed:?}");
    assert_eq!(
        browser.get("/no-such-page").await.status,
        StatusCode::NOT_FOUND
    );
    let out = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);

    let metrics = store.web.metrics().await;
    for family in [
        "http_server_requests_total",
        "http_client_requests_total",
        "web_checkouts_total",
        "web_sessions_total",
        "shop_build_info",
    ] {
        assert!(
            testing::metric(&metrics, family, &[]) > 0.0,
            "web has {family} series: {metrics}"
        );
    }
    testing::check_metrics("web", &metrics);
}
