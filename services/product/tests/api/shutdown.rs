//! Graceful shutdown over real sockets: readiness turns 503 first, a
//! request already in flight still gets its answer, and a real process
//! exits within its shutdown timeout even when connections never finish a
//! request.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shop_common::testing;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn status_of(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// The value of an unlabelled-by-route gauge in a metrics text.
fn gauge(metrics: &str, name: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
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
        if gauge(&app.metrics().await, "http_server_requests_in_flight") == Some(1) {
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

/// The product binary, killed when dropped (when a test fails first).
struct ProductProcess(Child);

impl Drop for ProductProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn sigterm_stops_the_process_within_the_shutdown_timeout_despite_silent_connections() {
    let shutdown_timeout = Duration::from_secs(2);
    let scratch = testing::scratch_database(&product::MIGRATOR).await;
    let (http, admin) = (free_port(), free_port());
    let mut process = ProductProcess(
        Command::new(env!("CARGO_BIN_EXE_product"))
            .env_clear()
            .env("HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("DATABASE_URL", &scratch.url)
            .env(
                "AUTH_JWT_PUBLIC_KEY",
                shop_api::auth::dev::DEV_PUBLIC_KEY_PEM,
            )
            .env("AUTH_ISSUER", shop_api::auth::DEV_ISSUER)
            .env("AUTH_AUDIENCE", shop_api::auth::DEV_AUDIENCE)
            .env("INTERNAL_TOKEN", TEST_INTERNAL_TOKEN)
            .env("DEVELOPMENT_MODE", "true")
            .env(
                "SHUTDOWN_TIMEOUT_MS",
                shutdown_timeout.as_millis().to_string(),
            )
            // Long enough that only the shutdown deadline can close the
            // connections below.
            .env("HTTP_HEADER_READ_TIMEOUT_MS", "600000")
            .env("HTTP_IDLE_TIMEOUT_MS", "600000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the product binary"),
    );
    let readyz = format!("http://127.0.0.1:{admin}/readyz");
    let mut ready = false;
    for _ in 0..300 {
        if status_of(&readyz).await == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the product process did not become ready");

    // On each port: a connection that sends nothing, and one that sends
    // half a request head and then nothing more.
    let mut held = Vec::new();
    for port in [http, admin] {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        let mut partial = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        partial
            .write_all(b"GET /v1/products HTTP/1.1\r\nHost: test\r\n")
            .await
            .unwrap();
        held.push(partial);
    }
    // A later request answered on each port shows both were accepted.
    assert_eq!(
        status_of(&format!("http://127.0.0.1:{http}/v1/products")).await,
        Some(200)
    );
    assert_eq!(status_of(&readyz).await, Some(200));

    let sent = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "SIGTERM sent");
    let bound = shutdown_timeout + Duration::from_secs(20);
    let since = Instant::now();
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            since.elapsed() < bound,
            "still running {bound:?} after SIGTERM (SHUTDOWN_TIMEOUT_MS is {shutdown_timeout:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "a clean exit: {status}");
    drop(held);
}
