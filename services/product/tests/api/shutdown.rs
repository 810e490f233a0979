//! Graceful shutdown over real sockets: readiness turns 503 first and a
//! request already in flight still gets its answer.

use std::time::Duration;

use shop_common::health::{self, AdminState, Readiness};
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

async fn status_of(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

#[sqlx::test]
async fn shutdown_drains_in_flight_requests_after_readiness_turns_503(db: PgPool) {
    let app = TestApp::new(db.clone());
    let readiness = Readiness::default();
    let admin = health::router(AdminState {
        metrics: Metrics::new("product"),
        readiness: readiness.clone(),
        pool: db.clone(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let readyz = format!("http://{}/readyz", admin_listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = HttpConfig::default();
    let server = tokio::spawn(async move {
        server::serve(
            app.router,
            admin,
            listener,
            admin_listener,
            readiness,
            &config,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    assert_eq!(status_of(&readyz).await, Some(200));

    // Start a request and send only half its body: it is now in flight.
    let body = serde_json::json!({
        "name": "Drained", "category": "misc", "price": {"amount": 1, "currency": "EUR"}, "stock": 1
    })
    .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/products HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        admin_token(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    stop.send(()).unwrap();
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
        !server.is_finished(),
        "the server waits for the request in flight"
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "in-flight request answered: {answer}"
    );

    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server stops once drained")
        .unwrap()
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE name = 'Drained'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
