//! Hostile input through the public API: whatever arrives, the answer is a
//! clear problem+json, nothing is stored half-way, and odd but valid users
//! can still shop.

use e2e::{Stack, unique_id, user_token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shop_api::Money;
use shop_api::auth::dev;
use shop_api::order::{Checkout, ListOrders};
use shop_api::product::{ListProducts, ProductPatch};

/// One raw request: status, headers and JSON body.
async fn send(
    stack: &Stack,
    method: Method,
    url: String,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = stack.http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.expect("an answer");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn assert_problem(status: StatusCode, body: &Value, expected: u16, slug: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert_eq!(body["type"], format!("urn:shop:problem:{slug}"), "{body}");
}

#[tokio::test]
async fn nul_characters_are_refused_at_the_edge_and_nothing_is_stored() {
    let stack = Stack::from_env();
    let (s, _, b) = send(
        &stack,
        Method::GET,
        format!("{}/v1/products?q=a%00b", stack.product_url),
        None,
        &[],
        None,
    )
    .await;
    assert_problem(s, &b, 400, "bad-request");

    // A product name or description with NUL (admin): 422, nothing made.
    let category = unique_id("nul").to_lowercase();
    let admin = dev::token("e2e-admin", true, 600);
    for body in [
        json!({"name": "Bad\u{0}name", "category": category, "price": {"amount": 1, "currency": "EUR"}}),
        json!({"name": "Fine", "description": "bad\u{0}", "category": category, "price": {"amount": 1, "currency": "EUR"}}),
    ] {
        let (s, _, b) = send(
            &stack,
            Method::POST,
            format!("{}/v1/products", stack.product_url),
            Some(&admin),
            &[],
            Some(&body.to_string()),
        )
        .await;
        assert_problem(s, &b, 422, "validation");
        assert!(b["errors"][0]["field"].is_string(), "{b}");
    }
    let listed = stack
        .products()
        .list(&ListProducts {
            category: Some(category),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "nothing was stored");

    // A checkout note with NUL: 422, and no order exists.
    let user = unique_id("nul-note");
    let product = stack.new_product(5, 100).await;
    stack
        .cart_of(&user)
        .set_quantity(product.id, 1)
        .await
        .unwrap();
    let (s, _, b) = send(
        &stack,
        Method::POST,
        format!("{}/v1/orders", stack.order_url),
        Some(&user_token(&user)),
        &[("idempotency-key", "nul-note")],
        Some(r#"{"note": "gift\u0000wrap"}"#),
    )
    .await;
    assert_problem(s, &b, 422, "validation");
    assert_eq!(b["errors"][0]["field"], "note", "{b}");
    let orders = stack
        .orders_of(&user)
        .list(&ListOrders::default())
        .await
        .unwrap();
    assert!(orders.items.is_empty());
    assert_eq!(stack.stock(product.id).await, 5);

    // A token whose subject holds NUL: 401 on every service.
    let bad = dev::token("ali\u{0}ce", false, 600);
    for url in [
        format!("{}/v1/cart", stack.cart_url),
        format!("{}/v1/orders", stack.order_url),
    ] {
        let (s, _, b) = send(&stack, Method::GET, url, Some(&bad), &[], None).await;
        assert_problem(s, &b, 401, "unauthorized");
    }
}

#[tokio::test]
async fn only_json_objects_are_bodies() {
    let stack = Stack::from_env();
    let user = unique_id("array-body");
    let product = stack.new_product(5, 100).await;
    let token = user_token(&user);
    for (method, url, body) in [
        (
            Method::PUT,
            format!("{}/v1/cart/items/{}", stack.cart_url, product.id),
            "[1]",
        ),
        (
            Method::PUT,
            format!("{}/v1/cart/items/{}", stack.cart_url, product.id),
            "1",
        ),
        (Method::POST, format!("{}/v1/orders", stack.order_url), "[]"),
        (
            Method::POST,
            format!("{}/v1/orders", stack.order_url),
            "null",
        ),
    ] {
        let (s, _, b) = send(
            &stack,
            method,
            url,
            Some(&token),
            &[("idempotency-key", "array")],
            Some(body),
        )
        .await;
        assert_problem(s, &b, 422, "validation");
    }
    let (s, _, b) = send(
        &stack,
        Method::POST,
        format!("{}/v1/products", stack.product_url),
        Some(&dev::token("e2e-admin", true, 600)),
        &[],
        Some(r#"[{"name": "A", "category": "x", "price": {"amount": 1, "currency": "EUR"}}]"#),
    )
    .await;
    assert_problem(s, &b, 422, "validation");
    assert!(stack.cart_of(&user).get().await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_currency_change_after_add_to_cart_refuses_the_checkout_and_sells_nothing() {
    let stack = Stack::from_env();
    let user = unique_id("currency");
    let (a, b) = (
        stack.new_product(5, 100).await,
        stack.new_product(5, 200).await,
    );
    let cart = stack.cart_of(&user);
    cart.set_quantity(a.id, 1).await.unwrap();
    cart.set_quantity(b.id, 2).await.unwrap();
    stack
        .products_as_admin()
        .patch(
            b.id,
            &ProductPatch {
                price: Some(Money::new(250, "USD")),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let key = unique_id("key");
    let refused = stack
        .orders_of(&user)
        .checkout(&key, &Checkout::default())
        .await
        .unwrap_err();
    let p = refused.problem().expect("a problem");
    assert_eq!(
        (p.status, p.type_.as_str()),
        (422, "urn:shop:problem:product-unavailable")
    );
    assert_eq!(
        p.product_ids,
        vec![b.id],
        "names the product whose currency changed"
    );
    assert!(
        p.detail.as_deref().unwrap_or("").contains("currency"),
        "{p:?}"
    );
    assert_eq!((stack.stock(a.id).await, stack.stock(b.id).await), (5, 5));
    assert_eq!(cart.get().await.unwrap().items.len(), 2, "the cart is kept");
    // The answer is stored: a retry with the key gets the same.
    let again = stack
        .orders_of(&user)
        .checkout(&key, &Checkout::default())
        .await
        .unwrap_err();
    assert_eq!(again.problem().unwrap().product_ids, vec![b.id]);
}

#[tokio::test]
async fn users_with_hostile_subjects_can_shop_and_check_out() {
    let stack = Stack::from_env();
    let product = stack.new_product(100, 100).await;
    let run = unique_id("s");
    for subject in [
        ".".to_owned(),
        "..".to_owned(),
        "/".to_owned(),
        "%2F".to_owned(),
        "a/../b".to_owned(),
        "what?x=1".to_owned(),
        "hash#tag".to_owned(),
        "with space".to_owned(),
        "ünïcödé ✓".to_owned(),
        format!("{run}/.."),
    ] {
        let cart = stack.cart_of(&subject);
        cart.clear().await.unwrap();
        cart.set_quantity(product.id, 1).await.unwrap();
        let placed = stack
            .orders_of(&subject)
            .checkout(&unique_id("key"), &Checkout::default())
            .await
            .unwrap_or_else(|e| panic!("{subject:?} cannot check out: {e}"));
        assert_eq!(placed.status, 201, "{subject:?}");
        assert!(
            cart.get().await.unwrap().items.is_empty(),
            "{subject:?}: the checked-out line left the cart"
        );
    }
}

#[tokio::test]
async fn client_request_ids_are_kept_only_when_safe() {
    let stack = Stack::from_env();
    let url = format!("{}/v1/products/not-a-uuid", stack.product_url);
    for bad in [
        "x".repeat(4000),
        "\"quoted\"".to_owned(),
        "<script>alert(1)</script>".to_owned(),
    ] {
        let (s, h, b) = send(
            &stack,
            Method::GET,
            url.clone(),
            None,
            &[("x-request-id", &bad)],
            None,
        )
        .await;
        assert_eq!(s, 400);
        let id = h["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c)),
            "{id}"
        );
        assert_eq!(
            b["request_id"], id,
            "the body quotes the id the header carries"
        );
    }
    let safe = unique_id("req.id:1");
    let (_, h, b) = send(
        &stack,
        Method::GET,
        url,
        None,
        &[("x-request-id", &safe)],
        None,
    )
    .await;
    assert_eq!(h["x-request-id"], safe.as_str());
    assert_eq!(b["request_id"], safe);
}

#[tokio::test]
async fn stored_checkout_problems_carry_the_first_request_id_and_replay_byte_for_byte() {
    let stack = Stack::from_env();
    let user = unique_id("empty-cart");
    let key = unique_id("key");
    let post = |id: &'static str| {
        stack
            .http
            .post(format!("{}/v1/orders", stack.order_url))
            .bearer_auth(user_token(&user))
            .header("idempotency-key", key.clone())
            .header("x-request-id", id)
            .json(&json!({}))
            .send()
    };
    let first = post("first-request-1").await.unwrap();
    assert_eq!(first.status(), 422);
    let first_id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first_body = first.bytes().await.unwrap();
    let p: Value = serde_json::from_slice(&first_body).unwrap();
    assert_eq!(p["request_id"], first_id.as_str(), "{p}");
    assert_eq!(p["instance"], "/v1/orders", "{p}");
    let replay = post("second-request-2").await.unwrap();
    assert_eq!(replay.status(), 422);
    assert_eq!(
        replay.bytes().await.unwrap(),
        first_body,
        "replayed byte for byte"
    );
}
