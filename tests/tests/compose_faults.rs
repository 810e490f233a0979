//! Faults against the composed containers: the order container killed in
//! the middle of a burst of checkouts, and the product container stopped.
//!
//! Ignored in ordinary runs: they need the Compose stack and the docker CLI.
//! `docker/ci.sh` runs them against its stack with
//! `cargo xtask e2e --against --run-ignored only -E 'binary(compose_faults)'`,
//! with `SHOP_GATEWAY_URL` and `COMPOSE_PROJECT_NAME` set.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Stack, unique_id};
use futures::future::join_all;
use shop_api::order::{Checkout, ListOrders, OrderStatus};

fn compose(args: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new("docker-compose")
        .args(args)
        .current_dir(root)
        .status()
        .expect("docker-compose runs");
    assert!(status.success(), "docker-compose {args:?} failed");
}

/// Waits (bounded) until `user` can list orders through the gateway.
async fn wait_for_orders(stack: &Stack, user: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if stack
            .orders_of(user)
            .list(&ListOrders::default())
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the order service did not come back within {within:?}");
}

/// Checks out `user`'s cart with `key`, retrying (every 500 ms) while the
/// answer is "unavailable" or "in progress", until it is placed; fails on
/// any other answer or once `deadline` has passed. The order must be
/// confirmed.
async fn checkout_until_placed(stack: &Stack, user: &str, key: &str, deadline: Instant) {
    loop {
        match stack
            .orders_of(user)
            .checkout(key, &Checkout::default())
            .await
        {
            Ok(placed) => {
                assert_eq!(placed.body.status, OrderStatus::Confirmed, "{user}");
                return;
            }
            Err(e) => {
                let retriable = e.is_unavailable() || e.problem().is_some_and(|p| p.status == 409);
                assert!(retriable, "{user}: {e}");
                assert!(Instant::now() < deadline, "{user} never got an order: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs the Compose stack: run by docker/ci.sh"]
async fn killing_order_mid_burst_loses_and_duplicates_nothing() {
    let stack = Stack::from_env();
    let product = stack.new_product(100, 300).await;
    let users = stack.buyers("burst", 30, product.id).await;
    let stack_ref = &stack;
    let burst = join_all(users.iter().map(|u| async move {
        let _ = stack_ref
            .orders_of(u)
            .checkout("burst", &Checkout::default())
            .await;
    }));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        compose(&["kill", "order"]);
        compose(&["start", "order"]);
    };
    tokio::join!(burst, killer);
    wait_for_orders(&stack, &users[0], Duration::from_secs(120)).await;

    // Every client retries with its key until it gets an answer (bounded:
    // an interrupted checkout is resolved by the worker after
    // RECOVERY_AFTER_MS: 15 s in docker-compose.yml, 30 s by default).
    let deadline = Instant::now() + Duration::from_secs(180);
    for user in &users {
        checkout_until_placed(&stack, user, "burst", deadline).await;
    }
    for user in &users {
        let orders = stack
            .orders_of(user)
            .list(&ListOrders::default())
            .await
            .unwrap();
        let confirmed = orders
            .items
            .iter()
            .filter(|o| o.status == OrderStatus::Confirmed)
            .count();
        assert_eq!(confirmed, 1, "{user}: exactly one order for the key");
    }
    // 30 units sold and none held: what is left is exactly the rest.
    assert_eq!(stack.stock(product.id).await, 70);
}

#[tokio::test]
#[ignore = "needs the Compose stack: run by docker/ci.sh"]
async fn with_product_stopped_checkout_fails_fast_and_the_cart_reads_stale() {
    let stack = Stack::from_env();
    let user = unique_id("outage");
    let product = stack.new_product(5, 450).await;
    stack
        .cart_of(&user)
        .set_quantity(product.id, 1)
        .await
        .unwrap();

    compose(&["stop", "product"]);
    let started = Instant::now();
    let err = stack
        .orders_of(&user)
        .checkout("during-outage", &Checkout::default())
        .await
        .unwrap_err();
    let problem = err
        .problem()
        .unwrap_or_else(|| panic!("a problem answer, not {err}"));
    assert_eq!(problem.status, 503, "{problem}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails within its deadline"
    );
    let cart = stack.cart_of(&user).get().await.unwrap();
    assert!(cart.prices_stale, "the cart still answers, marked stale");
    assert_eq!(cart.items.len(), 1);

    compose(&["start", "product"]);
    let back = Instant::now();
    // The promise (issue 4): within 30 s of product starting. While it is
    // not yet back, each attempt fails fast and frees the key, so no worker
    // round is waited for.
    checkout_until_placed(
        &stack,
        &user,
        "after-outage",
        back + Duration::from_secs(30),
    )
    .await;
    println!(
        "checkout worked again {:.1} s after product started",
        back.elapsed().as_secs_f64()
    );
}
