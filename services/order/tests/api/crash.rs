//! Crash safety with a real order process: the `ORDER_FAULT_POINT` test hook
//! makes it exit abruptly mid-checkout; after a restart, the client's retry
//! with the same key yields exactly one order, stock moves exactly once, and
//! nothing stays held once the recovery worker has run.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use shop_common::testing;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::helpers::*;

/// Loopback, any free port: the process binds it and logs which it got.
const ANY_PORT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// The order binary, SIGKILLed when dropped (when a test fails first).
struct OrderProcess {
    child: Child,
    http: SocketAddr,
    admin: SocketAddr,
}

impl Drop for OrderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OrderProcess {
    /// Starts the binary on `addrs` (API, admin; [`ANY_PORT`] for a free
    /// one) beside `shop`'s product and cart and waits until it is ready.
    /// The addresses come from its "starting" log line, so no port is
    /// picked before the process binds it (a free port picked early can
    /// be taken by someone else in the meantime).
    async fn start(
        shop: &Shop,
        database_url: &str,
        addrs: (SocketAddr, SocketAddr),
        fault: Option<&str>,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_order"));
        cmd.env_clear()
            .env("HTTP_ADDR", addrs.0.to_string())
            .env("ADMIN_ADDR", addrs.1.to_string())
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
            // Warnings, and the line that says where it listens.
            .env("RUST_LOG", "warn,shop_common::service=info")
            .stdout(Stdio::piped());
        if let Some(point) = fault {
            cmd.env("ORDER_FAULT_POINT", point);
        }
        let mut child = cmd.spawn().expect("start the order binary");
        let listening = listening(child.stdout.take().expect("stdout is piped"));
        let mut process = Self {
            child,
            http: addrs.0,
            admin: addrs.1,
        };
        match tokio::time::timeout(Duration::from_secs(30), listening).await {
            Ok(Ok((http, admin))) => (process.http, process.admin) = (http, admin),
            Ok(Err(_)) => panic!(
                "the order process ended before listening: {:?}",
                process.child.try_wait()
            ),
            Err(_) => panic!("the order process did not log where it listens within 30 s"),
        }
        wait_ready(process.admin).await;
        process
    }

    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Waits (bounded) for the process to end by itself.
    async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// Reads a service's JSON log lines off its stdout on a thread of its own,
/// for as long as the process writes (so the pipe never fills and blocks
/// it), and answers with the addresses of its "starting" line. With
/// `TEST_LOG` set, every line goes to the test's output too.
fn listening(stdout: ChildStdout) -> oneshot::Receiver<(SocketAddr, SocketAddr)> {
    let (tx, rx) = oneshot::channel();
    let echo = std::env::var_os("TEST_LOG").is_some();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if echo {
                eprintln!("order: {line}");
            }
            let log = json(line.as_bytes());
            let addr = |field: &str| log[field].as_str().and_then(|a| a.parse().ok());
            if log["message"] == "starting"
                && let (Some(http), Some(admin)) = (addr("http"), addr("admin"))
                && let Some(tx) = tx.take()
            {
                let _ = tx.send((http, admin));
            }
        }
    });
    rx
}

async fn wait_ready(admin: SocketAddr) {
    let url = format!("http://{admin}/readyz");
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

/// One checkout of `user`'s cart under `key`; the note names the key, so
/// every order row, also one whose key was freed, tells which key made it.
async fn checkout(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    key: &str,
) -> Result<(StatusCode, Bytes), reqwest::Error> {
    let resp = http
        .post(format!("{base}/v1/orders"))
        .bearer_auth(user_token(user))
        .header("idempotency-key", key)
        .json(&serde_json::json!({ "note": key }))
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.bytes().await?))
}

/// What a test expects of one fault point.
struct Crash {
    point: &'static str,
    /// The interrupted order's status and its reservation's (`None`: product
    /// has none) when the process has died.
    leaves: (&'static str, Option<&'static str>),
    /// Whether the worker fails the interrupted order (nothing to finish),
    /// so the client's retry starts afresh with a new order.
    afresh: bool,
}

async fn crash_and_recover(crash: Crash) {
    let point = crash.point;
    let scratch = testing::scratch_database(&order::MIGRATOR).await;
    let shop = Shop::start(scratch.pool.clone(), false).await;
    let p = shop.new_product(5, 100).await;
    shop.cart_of("alice").set_quantity(p, 2).await.unwrap();
    let http = reqwest::Client::new();

    let mut crashing =
        OrderProcess::start(&shop, &scratch.url, (ANY_PORT, ANY_PORT), Some(point)).await;
    let lost = checkout(&http, &crashing.url(), "alice", "crash-key").await;
    assert!(
        lost.is_err(),
        "{point}: the process dies before answering: {lost:?}"
    );
    let exited = crashing.exited().await;
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(86),
        "{point}: exited at the fault point"
    );
    // What the crash left behind, before anything can repair it.
    let (interrupted, status): (Uuid, String) =
        sqlx::query_as("SELECT id, status FROM orders WHERE idempotency_key = 'crash-key'")
            .fetch_one(&scratch.pool)
            .await
            .unwrap();
    let reservation: Option<String> =
        sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
            .bind(interrupted)
            .fetch_optional(&shop.product_db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reservation.as_deref()),
        crash.leaves,
        "{point}: the order and reservation the crash leaves"
    );
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM order_lines WHERE order_id = $1")
        .bind(interrupted)
        .fetch_one(&scratch.pool)
        .await
        .unwrap();
    assert_eq!(saved, 1, "{point}: the cart's line is saved with the order");

    // Restarted on the same ports, as a supervisor would.
    let restarted =
        OrderProcess::start(&shop, &scratch.url, (crashing.http, crashing.admin), None).await;
    assert_eq!(restarted.http, crashing.http);
    // The client retries with the same key until it gets an answer (bounded).
    let mut answer = None;
    for _ in 0..300 {
        match checkout(&http, &restarted.url(), "alice", "crash-key").await {
            Ok((StatusCode::CREATED, body)) => {
                answer = Some(body);
                break;
            }
            Ok((status, body)) => assert!(
                status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE,
                "{point}: {status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => panic!("{point}: the restarted process failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = answer.expect("the retry is eventually answered 201");
    let placed = json(&body);
    assert_eq!(placed["status"], "confirmed", "{point}");
    let orders: Vec<(Uuid, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, status, failure_reason, idempotency_key FROM orders ORDER BY id",
    )
    .fetch_all(&scratch.pool)
    .await
    .unwrap();
    let key = Some("crash-key".to_owned());
    if crash.afresh {
        // The worker failed the interrupted order for good and freed its
        // key (the row stays, failed, until the key retention deletes it);
        // the retry then ran a checkout of its own.
        let confirmed = placed["id"].as_str().unwrap().parse::<Uuid>().unwrap();
        assert_ne!(confirmed, interrupted, "{point}: the retry started afresh");
        assert_eq!(
            orders,
            [
                (
                    interrupted,
                    "failed".to_owned(),
                    Some("nothing_reserved".to_owned()),
                    None
                ),
                (confirmed, "confirmed".to_owned(), None, key),
            ],
            "{point}: one confirmed order for the key and the failed one it replaced"
        );
    } else {
        assert_eq!(
            orders,
            [(interrupted, "confirmed".to_owned(), None, key)],
            "{point}: exactly one order for the key: the interrupted one, finished"
        );
    }
    assert_eq!(
        shop.units(p).await,
        (3, 0, 2),
        "{point}: stock sold exactly once, nothing held"
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
    assert!(emptied, "{point}: the cart is cleaned up");
    assert_eq!(
        checkout(&http, &restarted.url(), "alice", "crash-key")
            .await
            .unwrap()
            .1,
        body,
        "{point}: and replays stay identical"
    );
}

#[tokio::test]
async fn a_crash_before_reserve_is_failed_by_the_worker_and_the_retry_starts_afresh() {
    crash_and_recover(Crash {
        point: "before_reserve",
        leaves: ("pending", None),
        afresh: true,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_reserve_is_rolled_forward() {
    crash_and_recover(Crash {
        point: "after_reserve",
        leaves: ("pending", Some("held")),
        afresh: false,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_commit_is_rolled_forward() {
    crash_and_recover(Crash {
        point: "after_commit",
        leaves: ("pending", Some("committed")),
        afresh: false,
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_confirm_replays_the_stored_answer() {
    crash_and_recover(Crash {
        point: "after_confirm",
        leaves: ("confirmed", Some("committed")),
        afresh: false,
    })
    .await;
}
