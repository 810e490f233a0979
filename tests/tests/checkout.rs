//! The shopping journey and the checkout promises, through the public API
//! of the running stack.

use std::collections::HashMap;

use e2e::{Stack, unique_id};
use futures::future::join_all;
use shop_api::order::{Checkout, ListOrders, OrderStatus};

#[tokio::test]
async fn browse_add_check_out_see_the_order_cancel_and_get_the_stock_back() {
    let stack = Stack::from_env();
    let user = unique_id("shopper");
    let product = stack.new_product(10, 1999).await;
    // Browse: the product is listed in its category.
    let page = stack
        .products()
        .list(&shop_api::product::ListProducts {
            ids: Some(product.id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);

    let cart = stack.cart_of(&user);
    cart.set_quantity(product.id, 3).await.unwrap();
    let view = cart.get().await.unwrap();
    assert_eq!(view.total.as_ref().map(|t| t.amount), Some(3 * 1999));
    assert!(!view.prices_stale);

    let orders = stack.orders_of(&user);
    let placed = orders
        .checkout(&unique_id("key"), &Checkout::default())
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    let order = placed.body;
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.total.as_ref().map(|t| t.amount), Some(3 * 1999));
    assert_eq!(stack.stock(product.id).await, 7);
    assert!(
        cart.get().await.unwrap().items.is_empty(),
        "the cart is emptied"
    );

    let listed = orders.list(&ListOrders::default()).await.unwrap();
    assert_eq!(listed.items[0].id, order.id);
    assert_eq!(
        orders.get(order.id).await.unwrap().status,
        OrderStatus::Confirmed
    );

    let cancelled = orders.cancel(order.id).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(stack.stock(product.id).await, 10, "stock restored");
}

#[tokio::test]
async fn many_buyers_for_few_units_never_oversell() {
    let stack = Stack::from_env();
    let product = stack.new_product(5, 500).await;
    let users = stack.buyers("race", 40, product.id).await;
    let stack = &stack;
    let answers = join_all(users.iter().map(|u| async move {
        stack
            .orders_of(u)
            .checkout("buy", &Checkout::default())
            .await
    }))
    .await;
    let mut outcomes: HashMap<u16, usize> = HashMap::new();
    for answer in answers {
        let status = match answer {
            Ok(t) => t.status.as_u16(),
            Err(e) => {
                let p = e
                    .problem()
                    .unwrap_or_else(|| panic!("not a problem answer: {e}"));
                assert_eq!(p.type_, "urn:shop:problem:out-of-stock", "{p}");
                p.status
            }
        };
        *outcomes.entry(status).or_default() += 1;
    }
    assert_eq!(outcomes.get(&201), Some(&5), "{outcomes:?}");
    assert_eq!(outcomes.get(&409), Some(&35), "{outcomes:?}");
    assert_eq!(stack.stock(product.id).await, 0);
}

#[tokio::test]
async fn one_idempotency_key_makes_one_order_however_often_it_is_sent() {
    let stack = Stack::from_env();
    let user = unique_id("retrier");
    let product = stack.new_product(10, 700).await;
    stack
        .cart_of(&user)
        .set_quantity(product.id, 2)
        .await
        .unwrap();
    let orders = stack.orders_of(&user);
    let key = unique_id("key");
    let body = Checkout::default();
    let answers = join_all((0..10).map(|_| orders.checkout(&key, &body))).await;
    let mut ids = Vec::new();
    for answer in answers {
        match answer {
            Ok(t) => ids.push(t.body.id),
            Err(e) => assert_eq!(e.problem().map(|p| p.status), Some(409), "{e}"),
        }
    }
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "one order");
    // After completion every retry replays it.
    assert_eq!(
        orders
            .checkout(&key, &Checkout::default())
            .await
            .unwrap()
            .body
            .id,
        ids[0]
    );
    let mine = orders.list(&ListOrders::default()).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(stack.stock(product.id).await, 8, "stock taken once");
}

#[tokio::test]
async fn another_users_order_is_not_found() {
    let stack = Stack::from_env();
    let alice = unique_id("alice");
    let product = stack.new_product(5, 100).await;
    stack
        .cart_of(&alice)
        .set_quantity(product.id, 1)
        .await
        .unwrap();
    let order = stack
        .orders_of(&alice)
        .checkout("k", &Checkout::default())
        .await
        .unwrap()
        .body;
    let mallory = stack.orders_of(&unique_id("mallory"));
    assert_eq!(
        mallory
            .get(order.id)
            .await
            .unwrap_err()
            .problem()
            .map(|p| p.status),
        Some(404)
    );
    assert_eq!(
        mallory
            .cancel(order.id)
            .await
            .unwrap_err()
            .problem()
            .map(|p| p.status),
        Some(404)
    );
    assert_eq!(
        stack.orders_of(&alice).get(order.id).await.unwrap().status,
        OrderStatus::Confirmed
    );
}
