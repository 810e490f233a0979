//! Crash safety with a real order process: the `ORDER_FAULT_POINT` test hook
//! makes it exit abruptly mid-checkout; after a restart, the client's retry
//! with the same key yields exactly one order, stock moves exactly once, and
//! nothing stays held once the recovery worker has run.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use shop_common::testing;

use crate::helpers::*;

/// The order binary, killed when dropped.
struct OrderProcess(Child);

impl Drop for OrderProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_order(
    shop: &Shop,
    database_url: &str,
    ports: (u16, u16),
    fault: Option<&str>,
) -> OrderProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_order"));
    cmd.env_clear()
        .env("HTTP_ADDR", format!("127.0.0.1:{}", ports.0))
        .env("ADMIN_ADDR", format!("127.0.0.1:{}", ports.1))
        .env("DATABASE_URL", database_url)
        .env(
            "AUTH_JWT_PUBLIC_KEY",
            shop_api::auth::dev::DEV_PUBLIC_KEY_PEM,
        )
        .env("AUTH_ISSUER", shop_api::auth::DEV_ISSUER)
        .env("AUTH_AUDIENCE", shop_api::auth::DEV_AUDIENCE)
        .env("INTERNAL_TOKEN", TEST_INTERNAL_TOKEN)
        .env("DEVELOPMENT_MODE", "true")
        .env("PRODUCT_URL", &shop.product.url)
        .env("CART_URL", &shop.cart.url)
        .env("REQUEST_TIMEOUT_MS", "2000")
        .env("RECOVERY_AFTER_MS", "2500")
        .env("RECOVERY_INTERVAL_MS", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(point) = fault {
        cmd.env("ORDER_FAULT_POINT", point);
    }
    OrderProcess(cmd.spawn().expect("start the order binary"))
}

async fn wait_ready(admin_port: u16) {
    let url = format!("http://127.0.0.1:{admin_port}/readyz");
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the order process did not become ready");
}

async fn checkout(port: u16, key: &str) -> Result<(StatusCode, bytes::Bytes), reqwest::Error> {
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/orders"))
        .bearer_auth(user_token("alice"))
        .header("idempotency-key", key)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.bytes().await?))
}

async fn crash_and_recover(point: &str) {
    let scratch = testing::scratch_database(&order::MIGRATOR).await;
    let shop = Shop::start(scratch.pool.clone(), false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    let ports = (free_port(), free_port());

    let mut crashing = spawn_order(&shop, &scratch.url, ports, Some(point));
    wait_ready(ports.1).await;
    let lost = checkout(ports.0, "crash-key").await;
    assert!(lost.is_err(), "the process dies before answering: {lost:?}");
    let mut exited = None;
    for _ in 0..300 {
        if let Some(status) = crashing.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(86),
        "exited at the fault point"
    );

    let _restarted = spawn_order(&shop, &scratch.url, ports, None);
    wait_ready(ports.1).await;
    // The client retries with the same key until it gets an answer (bounded).
    let mut answer = None;
    for _ in 0..300 {
        match checkout(ports.0, "crash-key").await {
            Ok((StatusCode::CREATED, body)) => {
                answer = Some(body);
                break;
            }
            Ok((status, body)) => assert!(
                status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => panic!("the restarted process failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = answer.expect("the retry is eventually answered 201");
    assert_eq!(json(&body)["status"], "confirmed");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&scratch.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1, "exactly one order for the key");
    assert_eq!(
        shop.units(p).await,
        (3, 0, 2),
        "stock sold exactly once, nothing held"
    );
    // The checked-out lines leave the cart (by the request or the worker).
    let mut emptied = false;
    for _ in 0..100 {
        if shop.cart_of("alice").get().await.unwrap().items.is_empty() {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(emptied, "the cart is cleaned up");
    assert_eq!(
        checkout(ports.0, "crash-key").await.unwrap().1,
        body,
        "and replays stay identical"
    );
}

#[tokio::test]
async fn a_crash_after_reserve_is_rolled_forward() {
    crash_and_recover("after_reserve").await;
}

#[tokio::test]
async fn a_crash_after_commit_is_rolled_forward() {
    crash_and_recover("after_commit").await;
}

#[tokio::test]
async fn a_crash_after_confirm_replays_the_stored_answer() {
    crash_and_recover("after_confirm").await;
}
