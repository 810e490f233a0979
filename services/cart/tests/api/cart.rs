//! The cart: adding, pricing (fresh and stale), limits, isolation between
//! users, and the internal API the order service uses.

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test]
async fn items_are_added_priced_and_totalled(db: PgPool) {
    let app = TestCart::new(db).await;
    let kettle = app.product("Kettle", 2500, "EUR").await;
    let mug = app.product("Mug", 800, "EUR").await;
    let line = app.put("alice", kettle, 2).await;
    assert_eq!(line.status, StatusCode::OK, "{}", line.body);
    assert_eq!(
        line.body["line_total"],
        json!({"amount": 5000, "currency": "EUR"})
    );
    app.put("alice", mug, 1).await;
    // Setting a quantity replaces it.
    app.put("alice", kettle, 1).await;
    let cart = app.cart("alice").await;
    assert_eq!(cart.status, StatusCode::OK);
    assert_eq!(cart.body["prices_stale"], false);
    assert_eq!(cart.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(cart.body["items"][0]["name"], "Kettle");
    assert_eq!(
        cart.body["total"],
        json!({"amount": 3300, "currency": "EUR"})
    );
}

#[sqlx::test]
async fn reading_refreshes_prices_and_flags_archived_products(db: PgPool) {
    let app = TestCart::new(db).await;
    let lamp = app.product("Lamp", 1000, "EUR").await;
    let vase = app.product("Vase", 500, "EUR").await;
    app.put("alice", lamp, 1).await;
    app.put("alice", vase, 1).await;
    sqlx::query("UPDATE products SET price_amount = 1200 WHERE id = $1")
        .bind(lamp)
        .execute(&app.product_db)
        .await
        .unwrap();
    sqlx::query("UPDATE products SET archived = true WHERE id = $1")
        .bind(vase)
        .execute(&app.product_db)
        .await
        .unwrap();
    let cart = app.cart("alice").await;
    assert_eq!(
        cart.body["items"][0]["unit_price"]["amount"], 1200,
        "current price, not the stored one"
    );
    assert_eq!(cart.body["items"][1]["available"], false);
}

#[sqlx::test]
async fn with_product_down_the_cart_still_answers_marked_stale(db: PgPool) {
    let app = TestCart::new(db).await;
    let lamp = app.product("Lamp", 1000, "EUR").await;
    app.put("alice", lamp, 3).await;
    app.product.shutdown().await.unwrap();
    let cart = app.cart("alice").await;
    assert_eq!(cart.status, StatusCode::OK, "{}", cart.body);
    assert_eq!(cart.body["prices_stale"], true);
    assert_eq!(cart.body["items"][0]["unit_price"]["amount"], 1000);
    assert_eq!(cart.body["items"][0]["name"], "Lamp");
    assert_eq!(cart.body["total"]["amount"], 3000);
    // Adding needs product: a clear 503, not a hang or a 500.
    app.put("alice", lamp, 1)
        .await
        .assert_problem(503, "unavailable");
}

#[sqlx::test]
async fn with_product_slower_than_the_refresh_deadline_the_cart_answers_stale(db: PgPool) {
    let app = TestCart::new(db).await;
    let lamp = app.product("Lamp", 1000, "EUR").await;
    app.put("alice", lamp, 3).await;
    // A fault switch on product (as the "slow product" lab sets it): its
    // listing, where cart reads current prices in one batch, takes 2 s,
    // four times cart's 500 ms refresh deadline.
    app.product
        .set_faults(json!([{"route": "/v1/products", "method": "GET", "latency_ms": 2000}]))
        .await;
    let cart = app.cart("alice").await;
    assert_eq!(cart.status, StatusCode::OK, "{}", cart.body);
    assert_eq!(cart.body["prices_stale"], true, "{}", cart.body);
    assert_eq!(cart.body["total"]["amount"], 3000, "the stored prices");

    // The fault cleared, the next read is fresh again.
    app.product.faults(Method::DELETE, None).await;
    let cart = app.cart("alice").await;
    assert_eq!(cart.body["prices_stale"], false, "{}", cart.body);
}

#[sqlx::test]
async fn unknown_and_archived_products_cannot_be_added(db: PgPool) {
    let app = TestCart::new(db).await;
    app.put("alice", Uuid::now_v7(), 1)
        .await
        .assert_problem(422, "product-unavailable");
    let old = app.product("Old", 100, "EUR").await;
    sqlx::query("UPDATE products SET archived = true WHERE id = $1")
        .bind(old)
        .execute(&app.product_db)
        .await
        .unwrap();
    app.put("alice", old, 1)
        .await
        .assert_problem(422, "product-unavailable");
    assert_eq!(
        app.cart("alice").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test]
async fn quantities_lines_and_currencies_are_limited(db: PgPool) {
    let app = TestCart::new(db).await;
    let p = app.product("P", 100, "EUR").await;
    app.put("alice", p, 0)
        .await
        .assert_problem(422, "validation");
    app.put("alice", p, 100)
        .await
        .assert_problem(422, "validation");
    assert_eq!(app.put("alice", p, 99).await.status, StatusCode::OK);
    let dollars = app.product("D", 100, "USD").await;
    app.put("alice", dollars, 1)
        .await
        .assert_problem(422, "validation");
    for i in 1..50 {
        let id = app.product(&format!("P{i}"), 100, "EUR").await;
        assert_eq!(app.put("alice", id, 1).await.status, StatusCode::OK);
    }
    let one_too_many = app.product("P50", 100, "EUR").await;
    app.put("alice", one_too_many, 1)
        .await
        .assert_problem(422, "validation");
    assert_eq!(
        app.cart("alice").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
}

/// Concurrent adds to one cart are serialized (the advisory lock inside
/// `cart_set_quantity`): with room for five more products, five of twenty
/// racing adds get in; and a race between two currencies leaves one.
#[sqlx::test]
async fn racing_adds_keep_the_line_limit_and_one_currency(db: PgPool) {
    let app = TestCart::new(db).await;
    for i in 0..45 {
        let id = app.product(&format!("P{i}"), 100, "EUR").await;
        assert_eq!(app.put("alice", id, 1).await.status, StatusCode::OK);
    }
    let mut racing = Vec::new();
    for i in 0..20 {
        racing.push(app.product(&format!("R{i}"), 100, "EUR").await);
    }
    let answers = join_all(racing.iter().map(|&id| app.put("alice", id, 1))).await;
    let added = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    for r in answers.iter().filter(|r| r.status != StatusCode::OK) {
        r.assert_problem(422, "validation");
    }
    assert_eq!(added, 5, "exactly the room left");
    let items = app.cart("alice").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(items, 50);

    let mut mixed = Vec::new();
    for i in 0..6 {
        let currency = if i % 2 == 0 { "EUR" } else { "USD" };
        mixed.push((app.product(&format!("M{i}"), 100, currency).await, currency));
    }
    let answers = join_all(mixed.iter().map(|&(id, _)| app.put("bob", id, 1))).await;
    let kept: std::collections::BTreeSet<&str> = mixed
        .iter()
        .zip(&answers)
        .filter(|(_, r)| r.status == StatusCode::OK)
        .map(|(&(_, currency), _)| currency)
        .collect();
    assert_eq!(kept.len(), 1, "one currency got in: {kept:?}");
    for r in answers.iter().filter(|r| r.status != StatusCode::OK) {
        r.assert_problem(422, "validation");
    }
    let items = app.cart("bob").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(items, 3, "the three of that currency");
}

#[sqlx::test]
async fn bodies_cannot_carry_prices_or_owners(db: PgPool) {
    let app = TestCart::new(db).await;
    let p = app.product("P", 100, "EUR").await;
    for body in [
        json!({"quantity": 1, "unit_price": {"amount": 1, "currency": "EUR"}}),
        json!({"quantity": 1, "user_id": "bob"}),
        json!({"quantity": "1"}),
    ] {
        app.with_user("alice")
            .call(Method::PUT, &format!("/v1/cart/items/{p}"), Some(body))
            .await
            .assert_problem(422, "validation");
    }
    assert_eq!(
        app.cart("alice").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test]
async fn one_user_can_neither_see_nor_change_another_users_cart(db: PgPool) {
    let app = TestCart::new(db).await;
    let p = app.product("P", 100, "EUR").await;
    app.put("alice", p, 2).await;
    let bob = user_token("bob");
    assert_eq!(
        app.cart("bob").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.with_token(&bob)
        .call(Method::DELETE, &format!("/v1/cart/items/{p}"), None)
        .await
        .assert_problem(404, "not-found");
    assert_eq!(
        app.with_token(&bob)
            .call(Method::DELETE, "/v1/cart", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let alice = app.cart("alice").await;
    assert_eq!(
        alice.body["items"][0]["quantity"], 2,
        "alice's cart is untouched"
    );
    // Internal routes are not a way around it.
    app.with_token(&bob)
        .call(Method::GET, "/internal/v1/carts?user_id=alice", None)
        .await
        .assert_problem(403, "forbidden");
    app.call(Method::GET, "/v1/cart", None)
        .await
        .assert_problem(401, "unauthorized");
}

#[sqlx::test]
async fn removing_and_clearing(db: PgPool) {
    let app = TestCart::new(db).await;
    let (a, b) = (
        app.product("A", 1, "EUR").await,
        app.product("B", 1, "EUR").await,
    );
    app.put("alice", a, 1).await;
    app.put("alice", b, 1).await;
    let token = user_token("alice");
    let removed = app
        .with_token(&token)
        .call(Method::DELETE, &format!("/v1/cart/items/{a}"), None)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.cart("alice").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.with_token(&token)
        .call(Method::DELETE, "/v1/cart", None)
        .await;
    assert_eq!(
        app.cart("alice").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test]
async fn checkout_removal_takes_only_the_lines_it_read(db: PgPool) {
    let app = TestCart::new(db).await;
    let (a, b) = (
        app.product("A", 1, "EUR").await,
        app.product("B", 1, "EUR").await,
    );
    app.put("alice", a, 1).await;
    app.put("alice", b, 1).await;
    let stored = app
        .with_service()
        .call(Method::GET, "/internal/v1/carts?user_id=alice", None)
        .await;
    assert_eq!(stored.status, StatusCode::OK);
    let refs: Vec<_> = stored.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"product_id": l["product_id"], "revision": l["revision"]}))
        .collect();
    // After the checkout read the cart, alice changes line B.
    app.put("alice", b, 5).await;
    let removed = app
        .with_service()
        .call(
            Method::POST,
            "/internal/v1/carts/remove?user_id=alice",
            Some(json!({ "lines": refs })),
        )
        .await;
    assert_eq!(removed.body["removed"], 1);
    let cart = app.cart("alice").await;
    let items = cart.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the changed line stays");
    assert_eq!(items[0]["quantity"], 5);
    // Removing again is harmless.
    let again = app
        .with_service()
        .call(
            Method::POST,
            "/internal/v1/carts/remove?user_id=alice",
            Some(json!({ "lines": refs })),
        )
        .await;
    assert_eq!(again.body["removed"], 0);
}

#[sqlx::test]
async fn a_removal_of_more_lines_than_a_cart_holds_is_refused_and_changes_nothing(db: PgPool) {
    let app = TestCart::new(db).await;
    let a = app.product("A", 1, "EUR").await;
    app.put("alice", a, 1).await;
    let stored = app
        .with_service()
        .call(Method::GET, "/internal/v1/carts?user_id=alice", None)
        .await;
    let mut refs = vec![json!({
        "product_id": stored.body["lines"][0]["product_id"],
        "revision": stored.body["lines"][0]["revision"],
    })];
    refs.extend(
        (0..shop_api::cart::MAX_LINES)
            .map(|i| json!({"product_id": Uuid::now_v7(), "revision": i})),
    );
    let refused = app
        .with_service()
        .call(
            Method::POST,
            "/internal/v1/carts/remove?user_id=alice",
            Some(json!({ "lines": refs })),
        )
        .await;
    refused.assert_problem(422, "validation");
    assert_eq!(refused.body["errors"][0]["field"], "lines");
    let cart = app.cart("alice").await;
    assert_eq!(cart.body["items"].as_array().unwrap().len(), 1);
}
