//! The failure table of docs/checkout.md, row by row: each peer failure
//! made real (a peer stopped, or a fault proxy between order and a real
//! peer that hangs, loses an answer or fails), what the client sees, and
//! what makes it right: the request path itself, or a recovery round run
//! by hand on the same database.

use std::time::Duration;

use axum::http::Method;
use reqwest::StatusCode;
use shop_api::ProductClient;
use shop_api::product::{ReservationLineRequest, ReservationRequest};
use shop_common::http_client::PeerConfig;
use shop_common::testing::{Fault, TestApp};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

const RESERVE: &str = "/internal/v1/reservations";
const COMMIT: &str = "*/commit";
const RELEASE: &str = "*/release";
const CART_REMOVE: &str = "/internal/v1/carts/remove";

/// Retries a checkout with `key` until it is answered 201 (bounded).
/// Anything but 201, a 503 or a 409 (the order still pending) fails the
/// test.
async fn placed(shop: &Shop, user: &str, key: &str) -> serde_json::Value {
    for _ in 0..100 {
        let (status, _, body) = shop.checkout_raw(user, Some(key), "{}").await;
        match status {
            StatusCode::CREATED => return json(&body),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT => {}
            other => panic!("{other}: {}", String::from_utf8_lossy(&body)),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the checkout with key {key} was never placed");
}

/// The id of `user`'s one pending order.
async fn pending_order(shop: &Shop, user: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM orders WHERE user_id = $1 AND status = 'pending'")
        .bind(user)
        .fetch_one(&shop.state.db)
        .await
        .unwrap()
}

/// An order pending with a hold, as an order version that reserved and
/// committed in two calls could leave it after a crash between them: old
/// enough for the worker, and product holding `quantity` of `product` under
/// the order's id.
async fn pending_order_holding(shop: &Shop, user: &str, product: Uuid, quantity: i32) -> Uuid {
    let id = interrupted_order(&shop.state.db, user).await;
    internal(shop)
        .reserve(&ReservationRequest {
            id,
            lines: vec![ReservationLineRequest {
                product_id: product,
                quantity,
            }],
            commit: false,
        })
        .await
        .unwrap();
    id
}

/// Product's internal API, as the order service calls it.
fn internal(shop: &Shop) -> ProductClient {
    ProductClient::new(shop.http.clone(), &shop.product.url).with_bearer(TEST_INTERNAL_TOKEN)
}

async fn status_of(shop: &Shop, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(&shop.state.db)
        .await
        .unwrap()
}

/// Lets product's clock pass a hold's TTL: its expiry moves to the past.
async fn expire_hold(shop: &Shop, reservation: Uuid) {
    sqlx::query("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(reservation)
        .execute(&shop.product_db)
        .await
        .unwrap();
}

#[sqlx::test]
async fn with_cart_down_checkout_fails_fast_and_frees_the_key(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    shop.cart.shutdown().await.unwrap();

    let (status, _, body) = shop.checkout_raw("alice", Some("cart-down"), "{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["type"], "urn:shop:problem:unavailable");
    assert_eq!(shop.order_count("alice", "pending").await, 0, "key freed");
    assert_eq!(shop.units(p).await, (5, 0, 0), "nothing reserved");

    // Cart comes back: the same key starts afresh and sells once.
    let _cart = shop.cart.restart().await;
    let order = placed(&shop, "alice", "cart-down").await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(shop.order_count("alice", "confirmed").await, 1);
    assert_eq!(shop.units(p).await, (3, 0, 2));
}

#[sqlx::test]
async fn product_slow_at_reserve_releases_what_landed_and_frees_the_key(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    // The reserve reaches product and is made, but its answer never comes.
    faults.product.fault(Method::POST, RESERVE, Fault::Lose);

    let (status, _, body) = shop.checkout_raw("alice", Some("slow"), "{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["type"], "urn:shop:problem:unavailable");
    assert!(faults.product.seen(Method::POST, RESERVE) >= 1);
    assert_eq!(
        faults.product.seen(Method::POST, RELEASE),
        1,
        "the saga released the id"
    );
    assert_eq!(shop.units(p).await, (5, 0, 0), "what landed went back");
    assert_eq!(shop.order_count("alice", "pending").await, 0, "key freed");

    faults.product.heal();
    // The released id left a tombstone, so the retry is a new checkout.
    let order = placed(&shop, "alice", "slow").await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(shop.units(p).await, (3, 0, 2));
}

#[sqlx::test]
async fn product_cut_off_at_reserve_and_release_leaves_it_pending_until_the_worker_fails_it(
    db: PgPool,
) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    faults.product.fault(Method::POST, RESERVE, Fault::Hang);
    faults.product.fault(Method::POST, RELEASE, Fault::Fail);

    let (status, _, body) = shop.checkout_raw("alice", Some("cut"), "{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json(&body)["detail"]
            .as_str()
            .unwrap()
            .contains("same Idempotency-Key"),
        "{}",
        json(&body)
    );
    let id = pending_order(&shop, "alice").await;
    // Meanwhile the key is taken: a retry is told to wait.
    let (status, _, _) = shop.checkout_raw("alice", Some("cut"), "{}").await;
    assert_eq!(status, StatusCode::CONFLICT);

    faults.product.heal();
    assert_eq!(shop.recovery_round().await, 1);
    assert_eq!(
        status_of(&shop, id).await,
        "failed",
        "no reservation: rolled back"
    );
    assert_eq!(shop.units(p).await, (5, 0, 0));
    let order = placed(&shop, "alice", "cut").await;
    assert_eq!(order["status"], "confirmed", "the key was freed");
    assert_eq!(shop.units(p).await, (3, 0, 2));
}

#[sqlx::test]
async fn product_down_at_the_workers_commit_leaves_the_order_pending_until_product_is_back(
    db: PgPool,
) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(10, 100).await;
    faults.product.fault(Method::POST, COMMIT, Fault::Fail);
    // The request path never calls commit: the reserve sells at once.
    shop.cart_of("bob").set_quantity(p, 1).await.unwrap();
    let order = placed(&shop, "bob", "one-call").await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(faults.product.seen(Method::POST, COMMIT), 0);
    assert_eq!(faults.product.seen(Method::POST, RESERVE), 1);

    // A hold under a pending order, as an order version that reserved and
    // committed in two calls could leave it: the worker commits it, and
    // while product fails the commit the order stays pending and held.
    let id = pending_order_holding(&shop, "alice", p, 2).await;
    assert_eq!(shop.recovery_round().await, 1);
    assert!(faults.product.seen(Method::POST, COMMIT) >= 1);
    assert_eq!(status_of(&shop, id).await, "pending", "the worker waits");
    assert_eq!(shop.units(p).await, (7, 2, 1), "held, not sold");

    faults.product.heal();
    assert_eq!(shop.recovery_round().await, 1);
    assert_eq!(status_of(&shop, id).await, "confirmed", "rolled forward");
    assert_eq!(shop.units(p).await, (7, 0, 3), "sold once");
    assert_eq!(shop.recovery_round().await, 0, "nothing left to do");
}

#[sqlx::test]
async fn cart_down_at_the_cleanup_keeps_the_order_and_the_worker_cleans_the_cart(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    faults.cart.fault(Method::POST, CART_REMOVE, Fault::Fail);

    let (status, _, body) = shop.checkout_raw("alice", Some("clean"), "{}").await;
    assert_eq!(status, StatusCode::CREATED, "{}", json(&body));
    assert_eq!(shop.units(p).await, (3, 0, 2), "the order stands");
    assert_eq!(shop.cart_of("alice").get().await.unwrap().items.len(), 1);
    let flagged: bool = sqlx::query_scalar("SELECT cart_cleanup_pending FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert!(flagged, "the cleanup is left to the worker");

    faults.cart.heal();
    assert_eq!(shop.recovery_round().await, 1);
    assert!(shop.cart_of("alice").get().await.unwrap().items.is_empty());
    let flagged: bool = sqlx::query_scalar("SELECT cart_cleanup_pending FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert!(!flagged);
    assert_eq!(shop.recovery_round().await, 0, "nothing left to do");
}

#[sqlx::test]
async fn the_worker_fails_an_order_whose_hold_was_released_or_expired(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(10, 100).await;
    let released = pending_order_holding(&shop, "alice", p, 2).await;
    let expired = pending_order_holding(&shop, "bob", p, 3).await;
    internal(&shop).release(released).await.unwrap();
    expire_hold(&shop, expired).await;
    product::sweeper::sweep(&shop.product.state).await.unwrap();
    assert_eq!(shop.units(p).await, (10, 0, 0));

    assert_eq!(shop.recovery_round().await, 2);
    assert_eq!(status_of(&shop, released).await, "failed");
    assert_eq!(status_of(&shop, expired).await, "failed");
    assert_eq!(shop.units(p).await, (10, 0, 0), "nothing sold");
    let keys: i64 = sqlx::query_scalar("SELECT count(idempotency_key) FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert_eq!(keys, 0, "both keys freed: a retry starts afresh");
}

#[sqlx::test]
async fn a_hold_that_expired_before_the_commit_fails_the_order_and_its_stock_returns(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(10, 100).await;
    let id = pending_order_holding(&shop, "alice", p, 4).await;
    // Past its TTL but not yet swept: product still says `held`, so the
    // worker commits, and product answers 409.
    expire_hold(&shop, id).await;

    assert_eq!(shop.recovery_round().await, 1);
    assert_eq!(faults.product.seen(Method::POST, COMMIT), 1);
    assert_eq!(status_of(&shop, id).await, "failed");
    let reason: Option<String> = sqlx::query_scalar("SELECT failure_reason FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("hold_expired"));
    // The sweeper returns the stock; nothing was sold.
    assert_eq!(shop.units(p).await, (6, 4, 0));
    product::sweeper::sweep(&shop.product.state).await.unwrap();
    assert_eq!(shop.units(p).await, (10, 0, 0));
}

#[sqlx::test]
async fn a_cancel_while_product_is_down_is_released_by_the_worker(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    let order = placed(&shop, "alice", "to-cancel").await;
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    faults.product.fault(Method::POST, RELEASE, Fault::Fail);

    let cancelled = shop.orders_of("alice").cancel(id).await.unwrap();
    assert_eq!(cancelled.status, shop_api::order::OrderStatus::Cancelled);
    assert_eq!(shop.units(p).await, (3, 0, 2), "still sold: release failed");

    faults.product.heal();
    assert_eq!(shop.recovery_round().await, 1);
    assert_eq!(shop.units(p).await, (5, 0, 0), "returned once");
    let pending: bool = sqlx::query_scalar("SELECT stock_release_pending FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert!(!pending);
    assert_eq!(shop.recovery_round().await, 0);
}

#[sqlx::test]
async fn two_workers_share_pending_orders_and_finish_each_once(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db.clone()).await;
    let p = shop.new_product(100, 100).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(pending_order_holding(&shop, &format!("user-{i}"), p, 1).await);
    }
    // A second replica over the same database and peers.
    let replica = shop_common::testing::TestApp::<order::Order>::spawn(
        db,
        order_settings(&faults.product.url, &faults.cart.url, false),
    )
    .await;
    let (a, b) = tokio::join!(
        order::recovery::round(&shop.state),
        order::recovery::round(&replica.state)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a + b,
        12,
        "every order handled once between them ({a} + {b})"
    );
    for id in &ids {
        assert_eq!(status_of(&shop, *id).await, "confirmed");
    }
    assert_eq!(
        faults.product.seen(Method::POST, COMMIT),
        12,
        "one commit per order"
    );
    assert_eq!(shop.units(p).await, (88, 0, 12));
}

#[sqlx::test]
async fn order_stops_calling_product_while_its_breaker_is_open(db: PgPool) {
    let (shop, faults) = Shop::with_faults(db.clone()).await;
    // An order replica with the default breaker (5 failures in a row open
    // it for 5 s), in front of a failing product.
    let mut settings = order_settings(&faults.product.url, &faults.cart.url, false);
    settings.product_peer.breaker_threshold = PeerConfig::default().breaker_threshold;
    settings.product_peer.breaker_cooldown = PeerConfig::default().breaker_cooldown;
    let order = TestApp::<order::Order>::spawn(db, settings).await;
    let checkout = |user: &str, key: &str| {
        let req = order
            .with_user(user)
            .request(Method::POST, "/v1/orders")
            .header("idempotency-key", key)
            .json(&serde_json::json!({}));
        let order = order.clone();
        async move { order.send(req).await }
    };
    let p = shop.new_product(5, 100).await;
    for user in ["alice", "bob"] {
        shop.cart_of(user).set_quantity(p, 1).await.unwrap();
    }
    faults.product.fault(Method::POST, RESERVE, Fault::Fail);
    faults.product.fault(Method::POST, RELEASE, Fault::Fail);
    let product_calls =
        || faults.product.seen(Method::POST, RESERVE) + faults.product.seen(Method::POST, RELEASE);

    // Alice's reserve fails three times and its release twice: the fifth
    // failure in a row opens the breaker. Her order stays pending (the
    // reserve may have landed, for all order knows).
    checkout("alice", "a")
        .await
        .assert_problem(503, "unavailable");
    let breaker = order
        .metrics()
        .await
        .lines()
        .find(|l| l.starts_with("http_client_circuit_state") && l.contains("peer=\"product\""))
        .map(str::to_owned);
    assert!(
        breaker.as_deref().is_some_and(|l| l.ends_with(" 1")),
        "open after five failures: {breaker:?} ({} calls)",
        product_calls()
    );
    // Bob's checkout is refused inside order: product sees nothing, and
    // since nothing was sent his key is free at once.
    let before = product_calls();
    checkout("bob", "b")
        .await
        .assert_problem(503, "unavailable");
    assert_eq!(
        product_calls(),
        before,
        "the open breaker kept the call inside order"
    );
    assert_eq!(shop.order_count("alice", "pending").await, 1);
    assert_eq!(shop.order_count("bob", "pending").await, 0);
    let metrics = order.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_client_requests_total")
                && l.contains("peer=\"product\"")
                && l.contains("outcome=\"circuit_open\"")),
        "{metrics}"
    );

    // Product recovers; after the cooldown a probe goes through and the
    // breaker closes (bounded wait).
    faults.product.heal();
    let mut answer = None;
    for _ in 0..100 {
        let resp = checkout("bob", "b").await;
        if resp.status == StatusCode::CREATED {
            answer = Some(resp);
            break;
        }
        resp.assert_problem(503, "unavailable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.expect("placed once the breaker lets a probe through");
    assert_eq!(answer.body["status"], "confirmed");
    assert!(product_calls() > before);
}
