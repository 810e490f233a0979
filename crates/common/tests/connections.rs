//! The server's connection limits over real sockets, on both listeners: the
//! header-read timeout (slowloris), the idle timeout, the connection cap,
//! the header-size limit answered as a problem, and a shutdown that cannot
//! be held open by a connection that never finishes a request.
//!
//! Timings are only asserted with wide margins: a connection must be closed
//! "within a generous bound", and is only checked to be open at points far
//! from any deadline. A timer never fires early, so the lower bounds are
//! safe on a busy machine too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use shop_common::config::Env;
use shop_common::health::Readiness;
use shop_common::metrics::Metrics;
use shop_common::server::{self, HttpConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a connection may take to be closed past its deadline before a
/// test fails. Deliberately far beyond any deadline used here.
const MARGIN: Duration = Duration::from_secs(20);

/// A server on two loopback ports, running [`server::serve`] as a service
/// would, until `stop` is sent.
struct Running {
    api: SocketAddr,
    admin: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Both listeners, for tests that must hold on each.
    fn ports(&self) -> [SocketAddr; 2] {
        [self.api, self.admin]
    }
}

async fn start(config: HttpConfig) -> Running {
    let metrics = Metrics::new("test");
    let app = server::stack(
        Router::new().route("/ping", get(|| async { "pong" })),
        &config,
        &metrics,
    );
    let admin = Router::new().route("/livez", get(|| async { "ok" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (api, admin_addr) = (
        listener.local_addr().unwrap(),
        admin_listener.local_addr().unwrap(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve(
            app,
            admin,
            listener,
            admin_listener,
            Readiness::default(),
            &config,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    Running {
        api,
        admin: admin_addr,
        stop,
        task,
    }
}

/// A path each listener answers 200 on.
fn path_for(running: &Running, addr: SocketAddr) -> &'static str {
    if addr == running.api {
        "/ping"
    } else {
        "/livez"
    }
}

/// Sends one keep-alive GET and reads its whole response; `None` when the
/// connection fails or closes instead.
async fn get_on(stream: &mut TcpStream, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(MARGIN, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf.len() - head_end;
    while body < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(status)
}

/// Whether the server closed `stream` within `bound`, sending nothing.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(bound, stream.read(&mut byte)).await {
        // A clean close, or a reset because unread bytes were discarded.
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("expected the connection to be closed, got data"),
        Err(_) => false,
    }
}

/// A client that sends a request line and then one header line every
/// 200 ms, never finishing: how slowloris holds a server's connections.
async fn trickle(addr: SocketAddr, path: &str) -> Duration {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let line = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
    let writer = tokio::spawn(async move {
        let mut next: &[u8] = line.as_bytes();
        while write.write_all(next).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            next = b"X-Slow: 1\r\n";
        }
    });
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let outcome = tokio::time::timeout(MARGIN, read.read(&mut byte)).await;
    writer.abort();
    match outcome {
        Ok(Ok(0) | Err(_)) => started.elapsed(),
        Ok(Ok(_)) => panic!("{addr}: a trickling client got an answer"),
        Err(_) => panic!("{addr}: a trickling client was still connected after {MARGIN:?}"),
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_after_the_header_read_timeout() {
    let timeout = Duration::from_secs(2);
    let running = start(HttpConfig {
        header_read_timeout: timeout,
        idle_timeout: Duration::from_secs(600),
        ..HttpConfig::default()
    })
    .await;
    let api = trickle(running.api, "/ping");
    let admin = trickle(running.admin, "/livez");
    let (api, admin) = tokio::join!(api, admin);
    for (name, took) in [("api", api), ("admin", admin)] {
        // The deadline counts from the connection's start, so the trickle
        // never earns more time.
        assert!(
            took >= timeout / 2,
            "{name}: closed after {took:?}, long before the timeout"
        );
    }

    // A connection that sends nothing at all is waiting for its first
    // request's headers just the same.
    for addr in running.ports() {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut silent, timeout + MARGIN).await,
            "{addr}: a silent connection stays open"
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_secs(2);
    let running = start(HttpConfig {
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: idle,
        ..HttpConfig::default()
    })
    .await;
    for addr in running.ports() {
        let path = path_for(&running, addr);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(get_on(&mut stream, path).await, Some(200), "{addr}");
        assert_eq!(
            get_on(&mut stream, path).await,
            Some(200),
            "{addr}: the connection is kept alive between requests"
        );
        let since = Instant::now();
        assert!(
            closed_within(&mut stream, idle + MARGIN).await,
            "{addr}: an idle connection stays open"
        );
        assert!(
            since.elapsed() >= idle / 2,
            "{addr}: closed after {:?}, long before the idle timeout",
            since.elapsed()
        );
    }
}

#[tokio::test]
async fn an_idle_connection_outlives_the_header_read_timeout() {
    // Waiting for the next request is idling, not reading headers: a pooled
    // connection must not be closed under a client at the (short)
    // header-read timeout, only at the (long) idle timeout.
    let header_read = Duration::from_secs(1);
    let running = start(HttpConfig {
        header_read_timeout: header_read,
        idle_timeout: Duration::from_secs(600),
        ..HttpConfig::default()
    })
    .await;
    let mut streams = Vec::new();
    for addr in running.ports() {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            get_on(&mut stream, path_for(&running, addr)).await,
            Some(200)
        );
        streams.push((addr, stream));
    }
    tokio::time::sleep(header_read * 3).await;
    for (addr, mut stream) in streams {
        assert_eq!(
            get_on(&mut stream, path_for(&running, addr)).await,
            Some(200),
            "{addr}: the idle connection was closed at the header-read timeout"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_while_the_others_stay_usable() {
    let cap = 4;
    let running = start(HttpConfig {
        max_connections: cap,
        ..HttpConfig::default()
    })
    .await;
    for addr in running.ports() {
        let path = path_for(&running, addr);
        let mut open = Vec::new();
        for _ in 0..cap {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            // Answered, so the server has accepted and counted it.
            assert_eq!(get_on(&mut stream, path).await, Some(200), "{addr}");
            open.push(stream);
        }

        // The kernel completes the handshake; the server closes it at once.
        let mut excess = TcpStream::connect(addr).await.unwrap();
        let _ = excess
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await;
        assert!(
            closed_within(&mut excess, MARGIN).await,
            "{addr}: connection {} of a cap of {cap} stays open",
            cap + 1
        );

        for stream in &mut open {
            assert_eq!(
                get_on(stream, path).await,
                Some(200),
                "{addr}: the connections within the cap still work"
            );
        }

        // Once one closes, its slot is free again (as soon as the server
        // has noticed the close: retried within the margin).
        drop(open.pop());
        let deadline = Instant::now() + MARGIN;
        loop {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            if get_on(&mut stream, path).await == Some(200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{addr}: a freed slot is never reused"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn headers_over_the_limit_get_a_431_problem_with_the_request_id() {
    let config = HttpConfig::default();
    let limit = config.max_header_bytes;
    let running = start(config).await;
    let url = format!("http://{}/ping", running.api);
    let client = reqwest::Client::new();

    let within = client
        .get(&url)
        .header("x-filler", "a".repeat(limit / 2))
        .send()
        .await
        .unwrap();
    assert_eq!(within.status(), 200);

    // Over the service's limit but well within hyper's buffer, so the
    // service sees the request and answers with a problem.
    let resp = client
        .get(&url)
        .header("x-filler", "a".repeat(limit + 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "urn:shop:problem:headers-too-large");
    assert_eq!(body["status"], 431);
    assert_eq!(body["request_id"], request_id);
}

#[tokio::test]
async fn shutdown_closes_connections_that_never_finish_a_request_at_the_deadline() {
    let shutdown_timeout = Duration::from_secs(1);
    let running = start(HttpConfig {
        shutdown_timeout,
        // Long enough that only the shutdown deadline can close them.
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        ..HttpConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for addr in running.ports() {
        // One connection sends nothing; the other half a request head.
        held.push(TcpStream::connect(addr).await.unwrap());
        let mut partial = TcpStream::connect(addr).await.unwrap();
        partial
            .write_all(b"GET /ping HTTP/1.1\r\nHost: test\r\n")
            .await
            .unwrap();
        held.push(partial);
    }
    // A request that completes shows the server has accepted them all.
    for addr in running.ports() {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            get_on(&mut stream, path_for(&running, addr)).await,
            Some(200)
        );
    }

    running.stop.send(()).unwrap();
    let result = tokio::time::timeout(shutdown_timeout + MARGIN, running.task)
        .await
        .expect("serve returns within the shutdown timeout despite the open connections");
    result.unwrap().unwrap();
    for mut stream in held {
        assert!(
            closed_within(&mut stream, MARGIN).await,
            "connections left open are closed"
        );
    }
}

#[test]
fn the_connection_limits_are_configured_and_checked_at_start_up() {
    let env = |pairs: &[(&str, &str)]| {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    let mut defaults = env(&[]);
    let config = HttpConfig::from_env(&mut defaults);
    defaults.finish(()).unwrap();
    assert_eq!(config.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.idle_timeout, Duration::from_secs(75));
    assert_eq!(config.max_connections, 1024);
    assert_eq!(config.max_header_bytes, 16 * 1024);

    let mut set = env(&[
        ("HTTP_HEADER_READ_TIMEOUT_MS", "2500"),
        ("HTTP_IDLE_TIMEOUT_MS", "90000"),
        ("HTTP_MAX_CONNECTIONS", "16"),
        ("HTTP_MAX_HEADER_BYTES", "8192"),
    ]);
    let config = HttpConfig::from_env(&mut set);
    set.finish(()).unwrap();
    assert_eq!(config.header_read_timeout, Duration::from_millis(2500));
    assert_eq!(config.idle_timeout, Duration::from_secs(90));
    assert_eq!(config.max_connections, 16);
    assert_eq!(config.max_header_bytes, 8192);

    let mut bad = env(&[
        ("HTTP_HEADER_READ_TIMEOUT_MS", "0"),
        ("HTTP_IDLE_TIMEOUT_MS", "soon"),
        ("HTTP_MAX_CONNECTIONS", "0"),
        ("HTTP_MAX_HEADER_BYTES", "100"),
    ]);
    let _ = HttpConfig::from_env(&mut bad);
    let err = bad.finish(()).unwrap_err().to_string();
    for name in [
        "HTTP_HEADER_READ_TIMEOUT_MS",
        "HTTP_IDLE_TIMEOUT_MS",
        "HTTP_MAX_CONNECTIONS",
        "HTTP_MAX_HEADER_BYTES",
    ] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
}
