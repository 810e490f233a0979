//! The checkout under the fault switches (`shop_common::faults`), set on
//! order's admin port as the labs set them: product made unreachable (the
//! checkout fails fast, nothing held, the key free for a retry) and
//! product failing half its calls (the idempotent calls are retried and
//! the checkout sells once).

use axum::http::Method;
use reqwest::StatusCode;
use serde_json::json;
use shop_common::testing::metric;
use sqlx::PgPool;

use crate::helpers::*;

/// Order's calls to product that ended with `outcome` (a status code,
/// `error` or `timeout`).
async fn product_calls(shop: &Shop, outcome: &str) -> f64 {
    let metrics = shop.order.metrics().await;
    metric(
        &metrics,
        "http_client_requests_total",
        &[("peer", "product"), ("outcome", outcome)],
    )
}

/// Alice's checkout with `key`, which must be placed and confirmed.
async fn confirmed_checkout(shop: &Shop, key: &str) {
    let (status, _, body) = shop.checkout_raw("alice", Some(key), "{}").await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(json(&body)["status"], "confirmed", "{text}");
}

#[sqlx::test]
async fn with_product_unreachable_checkout_fails_fast_and_holds_nothing(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    shop.order
        .set_faults(json!([{"peer": "product", "unreachable": true}]))
        .await;

    let (status, _, body) = shop.checkout_raw("alice", Some("down"), "{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["type"], "urn:shop:problem:unavailable");
    // Fast, shown without a clock: every attempt was refused at connect,
    // none waited for a timeout; and nothing reached product.
    assert!(product_calls(&shop, "error").await >= 1.0);
    assert_eq!(product_calls(&shop, "timeout").await, 0.0);
    assert_eq!(shop.units(p).await, (5, 0, 0), "nothing reserved");
    assert_eq!(shop.order_count("alice", "pending").await, 0, "key freed");

    // The fault cleared, the same key starts afresh and sells once.
    shop.order.faults(Method::DELETE, None).await;
    confirmed_checkout(&shop, "down").await;
    assert_eq!(shop.units(p).await, (3, 0, 2));
}

#[sqlx::test]
async fn with_product_failing_half_its_calls_checkout_retries_and_sells_once(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    // Every other call to product fails with a 503, the first one first:
    // the reserve's first attempt (the checkout's one call to product,
    // which sells at once) fails and its retry gets through.
    shop.order
        .set_faults(json!([{"peer": "product", "error_rate": 0.5}]))
        .await;

    confirmed_checkout(&shop, "flaky").await;
    let metrics = shop.order.metrics().await;
    let retries = metric(
        &metrics,
        "http_client_retries_total",
        &[("peer", "product")],
    );
    let injected = metric(
        &metrics,
        "faults_injected_total",
        &[("kind", "error"), ("target", "peer:product")],
    );
    assert!(injected >= 1.0, "the reserve failed once: {metrics}");
    assert_eq!(retries, injected, "every injected failure was retried");
    // Retried, yet sold once: the calls are idempotent by the order's id.
    assert_eq!(shop.units(p).await, (3, 0, 2));
    assert_eq!(shop.order_count("alice", "confirmed").await, 1);
}
