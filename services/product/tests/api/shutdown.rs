//! Graceful shutdown over real sockets: readiness turns 503 first, a
//! request already in flight still gets its answer, and a real process,
//! sent SIGTERM, does the same and exits 0, within its shutdown timeout
//! even when connections never finish a request.

use std::time::Duration;

use shop_common::testing::{self, ServiceProcess, metric};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn status_of(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

#[sqlx::test]
async fn shutdown_drains_in_flight_requests_after_readiness_turns_503(db: PgPool) {
    let app = spawn(db.clone()).await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let readyz = format!("{}/readyz", app.admin_url);
    assert_eq!(status_of(&readyz).await, Some(200));

    // Start a request and send only half its body: it is now in flight.
    let body = serde_json::json!({
        "name": "Drained", "category": "misc", "price": {"amount": 1, "currency": "EUR"}, "stock": 1
    })
    .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/products HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        admin_token(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    // The service counts it in flight once its head is parsed (bounded wait).
    let mut in_flight = false;
    for _ in 0..500 {
        if metric(&app.metrics().await, "http_server_requests_in_flight", &[]) == 1.0 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the half-sent request is in flight");

    let stopping = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    // Readiness reports 503 while the request is still open (bounded wait).
    let mut saw_503 = false;
    for _ in 0..100 {
        if status_of(&readyz).await == Some(503) {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_503, "readiness must turn 503 once shutdown begins");
    assert!(
        !stopping.is_finished(),
        "the server waits for the request in flight"
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "in-flight request answered: {answer}"
    );

    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("server stops once drained")
        .unwrap()
        .expect("serving ended without an error");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE name = 'Drained'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "the listener is closed"
    );
}

/// The product binary over `database_url`, with `env` on top.
async fn start_product(database_url: &str, env: &[(&str, String)]) -> ServiceProcess {
    let addrs = (testing::ANY_PORT, testing::ANY_PORT);
    ServiceProcess::start(env!("CARGO_BIN_EXE_product"), database_url, addrs, env).await
}

/// Waits for the exit, at most `bound` (far above what it should take).
async fn exit_within(process: &mut ServiceProcess, bound: Duration) -> std::process::ExitStatus {
    process
        .exited_within(bound)
        .await
        .unwrap_or_else(|| panic!("still running {bound:?} after SIGTERM"))
}

/// The whole sequence on the real binary, each step waited for, not timed:
/// a request in flight, SIGTERM, readiness 503, the drain ends and the
/// listener closes, the request in flight still gets its answer, exit 0.
#[tokio::test]
async fn sigterm_turns_readiness_503_and_the_process_answers_the_request_in_flight_then_exits_0() {
    let drain = Duration::from_millis(1000);
    let shutdown_timeout = Duration::from_secs(10);
    let scratch = testing::scratch_database(&product::MIGRATOR).await;
    let mut process = start_product(
        &scratch.url,
        &[
            ("SHUTDOWN_DRAIN_DELAY_MS", drain.as_millis().to_string()),
            (
                "SHUTDOWN_TIMEOUT_MS",
                shutdown_timeout.as_millis().to_string(),
            ),
        ],
    )
    .await;
    let readyz = process.admin_url("/readyz");

    // A request with half its body sent: in flight.
    let body = serde_json::json!({
        "name": "Drained", "category": "misc", "price": {"amount": 1, "currency": "EUR"}, "stock": 1
    })
    .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(process.http).await.unwrap();
    let head = format!(
        "POST /v1/products HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        admin_token(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    let mut in_flight = false;
    for _ in 0..500 {
        let metrics = reqwest::get(process.admin_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(&metrics, "http_server_requests_in_flight", &[]) == 1.0 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the half-sent request is in flight");

    process.sigterm();
    process.logged("shutdown signal received").await;
    let mut saw_503 = false;
    for _ in 0..100 {
        if status_of(&readyz).await == Some(503) {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_503, "readiness turns 503 once SIGTERM arrives");

    // The drain is over: the API listener is closed (new connections are
    // refused, bounded wait), readiness still says 503, and the process
    // stays up for the request in flight.
    process
        .logged("no longer accepting connections; finishing requests in flight")
        .await;
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(process.http).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the API listener closes after the drain");
    assert_eq!(status_of(&readyz).await, Some(503), "still draining");
    assert!(
        process.running(),
        "the process waits for the request in flight"
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight is answered: {answer}"
    );
    process.logged("stopped").await;
    let status = exit_within(
        &mut process,
        drain + shutdown_timeout + Duration::from_secs(20),
    )
    .await;
    assert!(status.success(), "a clean exit: {status}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE name = 'Drained'")
        .fetch_one(&scratch.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the answered request's product is stored");
}

#[tokio::test]
async fn sigterm_stops_the_process_within_the_shutdown_timeout_despite_silent_connections() {
    let shutdown_timeout = Duration::from_secs(2);
    let scratch = testing::scratch_database(&product::MIGRATOR).await;
    let mut process = start_product(
        &scratch.url,
        &[
            (
                "SHUTDOWN_TIMEOUT_MS",
                shutdown_timeout.as_millis().to_string(),
            ),
            // Long enough that only the shutdown deadline can close the
            // connections below.
            ("HTTP_HEADER_READ_TIMEOUT_MS", "600000".into()),
            ("HTTP_IDLE_TIMEOUT_MS", "600000".into()),
        ],
    )
    .await;
    let readyz = process.admin_url("/readyz");

    // On each port: a connection that sends nothing, and one that sends
    // half a request head and then nothing more.
    let mut held = Vec::new();
    for addr in [process.http, process.admin] {
        held.push(TcpStream::connect(addr).await.unwrap());
        let mut partial = TcpStream::connect(addr).await.unwrap();
        partial
            .write_all(b"GET /v1/products HTTP/1.1\r\nHost: test\r\n")
            .await
            .unwrap();
        held.push(partial);
    }
    // A later request answered on each port shows both were accepted.
    assert_eq!(status_of(&process.url("/v1/products")).await, Some(200));
    assert_eq!(status_of(&readyz).await, Some(200));

    process.sigterm();
    let status = exit_within(&mut process, shutdown_timeout + Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "a clean exit (SHUTDOWN_TIMEOUT_MS is {shutdown_timeout:?}): {status}"
    );
    drop(held);
}
