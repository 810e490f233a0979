//! Checkout and orders through the public API: the happy path, idempotency,
//! isolation between users, bad input, cancellation and a dead product
//! service.

use futures::future::join_all;
use reqwest::StatusCode;
use shop_api::order::{Checkout, ListOrders, OrderStatus};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test]
async fn a_checkout_sells_the_cart_at_reservation_prices_and_empties_it(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let kettle = shop.new_product(5, 2500).await;
    let mug = shop.new_product(5, 800).await;
    shop.cart_of("alice").set_quantity(kettle, 2).await.unwrap();
    shop.cart_of("alice").set_quantity(mug, 1).await.unwrap();

    let (status, headers, body) = shop.checkout_raw("alice", Some("k-1"), "{}").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let order = json(&body);
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/orders/{id}").as_str());
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["total"]["amount"], 2 * 2500 + 800);
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);

    assert_eq!(shop.units(kettle).await, (3, 0, 2));
    assert_eq!(shop.units(mug).await, (4, 0, 1));
    assert!(
        shop.cart_of("alice").get().await.unwrap().items.is_empty(),
        "checked-out lines are removed"
    );

    let got = shop
        .orders_of("alice")
        .get(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(got.status, OrderStatus::Confirmed);
    let page = shop
        .orders_of("alice")
        .list(&ListOrders::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

/// The 201 body is written without reading the order back (one statement
/// confirms it): it must still be exactly what a read of the order shows,
/// times to the microsecond and lines in the same order included.
#[sqlx::test]
async fn the_stored_answer_is_what_a_read_of_the_order_shows(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let (a, b) = (
        shop.new_product(5, 2500).await,
        shop.new_product(5, 800).await,
    );
    // Added in the opposite order of their ids, so the lines' order is
    // the answer's own doing.
    let (first, second) = if a > b { (a, b) } else { (b, a) };
    shop.cart_of("alice").set_quantity(first, 2).await.unwrap();
    shop.cart_of("alice").set_quantity(second, 1).await.unwrap();
    let (status, _, body) = shop
        .checkout_raw("alice", Some("read-back"), r#"{"note":"gift"}"#)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let placed: shop_api::order::Order = serde_json::from_slice(&body).unwrap();
    let read = shop.orders_of("alice").get(placed.id).await.unwrap();
    assert_eq!(placed, read);
    assert_eq!(placed.lines.len(), 2);
    let flagged: bool = sqlx::query_scalar("SELECT cart_cleanup_pending FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert!(
        !flagged,
        "the cleanup flag is cleared when the answer is out"
    );
}

#[sqlx::test]
async fn replays_are_byte_identical_and_other_bodies_are_refused(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 1).await.unwrap();
    let first = shop
        .checkout_raw("alice", Some("same-key"), r#"{"note":"gift"}"#)
        .await;
    assert_eq!(first.0, StatusCode::CREATED);
    // Whitespace and key order do not make another request.
    let replay = shop
        .checkout_raw("alice", Some("same-key"), r#"{ "note" : "gift" }"#)
        .await;
    assert_eq!(replay.0, StatusCode::CREATED);
    assert_eq!(
        replay.2, first.2,
        "the replay is the first answer, byte for byte"
    );
    assert_eq!(replay.1["location"], first.1["location"]);

    let other = shop
        .checkout_raw("alice", Some("same-key"), r#"{"note":"other"}"#)
        .await;
    assert_eq!(other.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json(&other.2)["type"],
        "urn:shop:problem:idempotency-mismatch"
    );
    assert_eq!(shop.order_count("alice", "confirmed").await, 1);
    assert_eq!(shop.units(p).await, (4, 0, 1), "stock taken once");
    // Keys are scoped per user: bob's "same-key" is his own.
    shop.cart_of("bob").set_quantity(p, 1).await.unwrap();
    assert_eq!(
        shop.checkout_raw("bob", Some("same-key"), "{}").await.0,
        StatusCode::CREATED
    );
}

#[sqlx::test]
async fn twenty_concurrent_requests_with_one_key_make_one_order(db: PgPool) {
    let shop = Shop::start(db, true).await;
    let p = shop.new_product(50, 100).await;
    shop.cart_of("alice").set_quantity(p, 3).await.unwrap();
    let answers =
        join_all((0..20).map(|_| shop.checkout_raw("alice", Some("one-key"), "{}"))).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .collect();
    for (status, _, body) in &answers {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::CONFLICT,
            "{status}: {}",
            String::from_utf8_lossy(body)
        );
        if *status == StatusCode::CONFLICT {
            assert_eq!(json(body)["type"], "urn:shop:problem:conflict");
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|a| a.2 == created[0].2),
        "every 201 is the same order"
    );
    assert_eq!(shop.order_count("alice", "confirmed").await, 1);
    assert_eq!(shop.units(p).await, (47, 0, 3));
    let replay = shop.checkout_raw("alice", Some("one-key"), "{}").await;
    assert_eq!(replay.2, created[0].2);
}

#[sqlx::test]
async fn keys_are_required_and_bounded(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 1).await.unwrap();
    for key in [None, Some(""), Some(&*"k".repeat(256)), Some("has space")] {
        let (status, _, body) = shop.checkout_raw("alice", key, "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}");
        assert_eq!(json(&body)["type"], "urn:shop:problem:bad-request");
    }
    // Bytes outside visible ASCII (here Latin-1 obs-text) are refused too.
    let resp = shop
        .http
        .post(format!("{}/v1/orders", shop.order.url))
        .bearer_auth(user_token("alice"))
        .header("content-type", "application/json")
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"k\xe9").unwrap(),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        json(&body)["detail"],
        "Idempotency-Key must be visible ASCII characters"
    );
    assert_eq!(shop.order_count("alice", "pending").await, 0);
    assert_eq!(
        shop.checkout_raw("alice", Some(&"k".repeat(255)), "{}")
            .await
            .0,
        StatusCode::CREATED
    );
}

#[sqlx::test]
async fn bodies_cannot_set_prices_owners_or_status(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 1).await.unwrap();
    for (i, body) in [
        r#"{"user_id":"bob"}"#,
        r#"{"status":"confirmed"}"#,
        r#"{"total":{"amount":1,"currency":"EUR"}}"#,
        r#"{"lines":[{"product_id":"00000000-0000-0000-0000-000000000000","quantity":1,"unit_price":{"amount":0,"currency":"EUR"}}]}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _, answer) = shop.checkout_raw("alice", Some(&format!("m-{i}")), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(json(&answer)["type"], "urn:shop:problem:validation");
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&shop.state.db)
        .await
        .unwrap();
    assert_eq!(total, 0, "refused requests create nothing");
    assert_eq!(shop.units(p).await, (5, 0, 0));
}

#[sqlx::test]
async fn empty_carts_and_missing_stock_are_answered_and_replayed(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let empty = shop.checkout_raw("alice", Some("e"), "{}").await;
    assert_eq!(empty.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(&empty.2)["detail"], "the cart is empty");
    assert_eq!(shop.checkout_raw("alice", Some("e"), "{}").await.2, empty.2);

    let scarce = shop.new_product(1, 100).await;
    shop.cart_of("alice").set_quantity(scarce, 2).await.unwrap();
    let short = shop.checkout_raw("alice", Some("s"), "{}").await;
    assert_eq!(short.0, StatusCode::CONFLICT);
    assert_eq!(json(&short.2)["type"], "urn:shop:problem:out-of-stock");
    assert_eq!(json(&short.2)["product_ids"][0], scarce.to_string());
    assert_eq!(shop.units(scarce).await, (1, 0, 0));
    assert_eq!(
        shop.cart_of("alice").get().await.unwrap().items.len(),
        1,
        "a failed checkout keeps the cart"
    );
}

#[sqlx::test]
async fn cancelling_returns_the_stock_once(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    let order = shop
        .orders_of("alice")
        .checkout("c", &Checkout::default())
        .await
        .unwrap()
        .body;
    assert_eq!(shop.units(p).await, (3, 0, 2));
    for _ in 0..2 {
        let cancelled = shop.orders_of("alice").cancel(order.id).await.unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
    }
    assert_eq!(shop.units(p).await, (5, 0, 0));
}

#[sqlx::test]
async fn another_users_orders_are_404_everywhere_and_unchanged(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 1).await.unwrap();
    let order = shop
        .orders_of("alice")
        .checkout("a", &Checkout::default())
        .await
        .unwrap()
        .body;
    let bob = shop.orders_of("bob");
    for err in [
        bob.get(order.id).await.unwrap_err(),
        bob.cancel(order.id).await.unwrap_err(),
    ] {
        assert_eq!(err.problem().map(|p| p.status), Some(404), "{err}");
    }
    assert!(
        bob.list(&ListOrders::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let still = shop.orders_of("alice").get(order.id).await.unwrap();
    assert_eq!(
        still.status,
        OrderStatus::Confirmed,
        "bob's cancel changed nothing"
    );
    assert_eq!(shop.units(p).await, (4, 0, 1));
    let unknown = shop
        .orders_of("alice")
        .get(Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(unknown.problem().map(|p| p.status), Some(404));
}

#[sqlx::test]
async fn with_product_down_checkout_fails_fast_and_leaks_nothing(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    shop.product.shutdown().await.unwrap();

    let started = std::time::Instant::now();
    let (status, _, body) = shop.checkout_raw("alice", Some("down"), "{}").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json(&body)["type"], "urn:shop:problem:unavailable");
    // Within the configured deadlines (a generous bound, not a latency figure).
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(shop.order_count("alice", "confirmed").await, 0);
    // The cart still reads, marked stale.
    let cart = shop.cart_of("alice").get().await.unwrap();
    assert!(cart.prices_stale);
    assert_eq!(cart.items.len(), 1);

    // Connections were refused, so nothing reached product: the order
    // failed at once and the key is free (no pending order for the worker).
    assert_eq!(shop.order_count("alice", "pending").await, 0);

    // Product comes back; the same key works as soon as the breaker lets a
    // call through, without waiting for the recovery worker.
    let _back = shop.product.restart().await;
    // Breakers opened while product was down; wait out the cooldown
    // (bounded). Meanwhile the key is never stuck "in progress" (409).
    let mut retried = None;
    for _ in 0..100 {
        let answer = shop.checkout_raw("alice", Some("down"), "{}").await;
        if answer.0 == StatusCode::CREATED {
            retried = Some(answer);
            break;
        }
        assert_eq!(
            answer.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            String::from_utf8_lossy(&answer.2)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let retried = retried.expect("the same key succeeds once product is back");
    assert_eq!(json(&retried.2)["status"], "confirmed");
    assert_eq!(shop.order_count("alice", "confirmed").await, 1);
    assert_eq!(
        shop.units(p).await,
        (3, 0, 2),
        "sold once, nothing held or leaked"
    );
}

#[sqlx::test]
async fn list_parameters_are_validated(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let list = |query: &'static str| {
        shop.http
            .get(format!("{}/v1/orders?{query}", shop.order.url))
            .bearer_auth(user_token("alice"))
            .send()
    };
    let resp = list("limit=0&cursor=zzz").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(&resp.bytes().await.unwrap());
    assert_eq!(body["type"], "urn:shop:problem:validation");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["limit", "cursor"]);
    let resp = list("limit=abc").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = list("limit=100").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[sqlx::test]
async fn stored_answers_replay_with_their_content_type_and_the_first_request_id(db: PgPool) {
    let shop = Shop::start(db, false).await;
    let p = shop.new_product(1, 100).await;
    shop.cart_of("alice").set_quantity(p, 1).await.unwrap();
    shop.cart_of("bob").set_quantity(p, 1).await.unwrap();

    let request_id = |h: &reqwest::header::HeaderMap| {
        h.get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-request-id")
    };
    let content_type = |h: &reqwest::header::HeaderMap| {
        h.get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    // A 201, then its replay.
    let (s1, h1, b1) = shop.checkout_raw("alice", Some("ok"), "{}").await;
    let (s2, h2, b2) = shop.checkout_raw("alice", Some("ok"), "{}").await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(b1, b2);
    for h in [&h1, &h2] {
        assert_eq!(content_type(h).as_deref(), Some("application/json"));
        assert!(h.get("location").is_some());
    }
    assert_ne!(request_id(&h1), request_id(&h2), "each request its own id");

    // A stored problem (out of stock), then its replay: the body quotes the
    // first request, byte for byte; the header names the request at hand.
    let (s1, h1, b1) = shop.checkout_raw("bob", Some("late"), "{}").await;
    let (s2, h2, b2) = shop.checkout_raw("bob", Some("late"), "{}").await;
    assert_eq!((s1, s2), (StatusCode::CONFLICT, StatusCode::CONFLICT));
    assert_eq!(b1, b2);
    for h in [&h1, &h2] {
        assert_eq!(content_type(h).as_deref(), Some("application/problem+json"));
    }
    assert_eq!(json(&b1)["type"], "urn:shop:problem:out-of-stock");
    assert_eq!(json(&b1)["request_id"], request_id(&h1));
    assert_eq!(json(&b2)["request_id"], request_id(&h1));
    assert_ne!(request_id(&h2), request_id(&h1));
}
