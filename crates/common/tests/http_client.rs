//! The resilient client against stub peers on loopback: retries only for
//! idempotent calls and never after a 4xx, deadlines, and the breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use shop_api::{ClientError, Idempotency, Transport};
use shop_common::http_client::{BreakerState, ClientMetrics, Peer, PeerConfig};

/// How long a test lets a call run before calling it hung. A sanity bound,
/// not a latency figure: far beyond any deadline used here, so a slow
/// machine never trips it, and far below the next thing (an attempt
/// timeout, a stub's stall) that would end a call whose deadline failed.
const SANITY: Duration = Duration::from_secs(15);

/// A stub answering `status` after `delay`, counting hits.
async fn stub(status: StatusCode, delay: Duration) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(any(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            status
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// A loopback URL where every connect is refused for as long as the
/// returned socket lives: it holds the port bound without listening, so
/// no other test or process can start listening there meanwhile (a port
/// merely found free and let go could be taken before it is used).
fn refusing_port() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (socket, url)
}

fn peer(config: PeerConfig) -> (Peer, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let peer = Peer::new("stub", config, ClientMetrics::register(&registry)).unwrap();
    (peer, registry)
}

fn quick() -> PeerConfig {
    PeerConfig {
        backoff: Duration::from_millis(1),
        breaker_threshold: 100,
        ..PeerConfig::default()
    }
}

async fn call(
    peer: &Peer,
    url: &str,
    idempotency: Idempotency,
) -> Result<reqwest::Response, ClientError> {
    let req = peer
        .http()
        .post(format!("{url}/x"))
        .body("{}")
        .build()
        .unwrap();
    peer.send(req, idempotency).await
}

#[tokio::test]
async fn idempotent_calls_are_retried_twice_on_5xx_and_others_never() {
    let (url, hits) = stub(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
    let (peer, registry) = peer(quick());
    let resp = call(&peer, &url, Idempotency::Idempotent).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");

    hits.store(0, Ordering::SeqCst);
    call(&peer, &url, Idempotency::NotIdempotent).await.unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a non-idempotent call is sent once"
    );

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains(r#"http_client_retries_total{peer="stub"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_client_requests_total{method="POST",outcome="503",peer="stub"} 4"#),
        "{text}"
    );
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let (url, hits) = stub(StatusCode::CONFLICT, Duration::ZERO).await;
    let (peer, _) = peer(quick());
    assert_eq!(
        call(&peer, &url, Idempotency::Idempotent)
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        peer.breaker_state(),
        BreakerState::Closed,
        "a 4xx is the peer working"
    );
}

#[tokio::test]
async fn a_slow_peer_costs_the_deadline_not_more() {
    let (url, hits) = stub(StatusCode::OK, Duration::from_secs(30)).await;
    // The attempt timeout is far beyond the sanity bound, so only the
    // deadline can end the call in time.
    let (peer, _) = peer(PeerConfig {
        attempt_timeout: Duration::from_secs(60),
        deadline: Duration::from_millis(250),
        ..quick()
    });
    let err = tokio::time::timeout(SANITY, call(&peer, &url, Idempotency::Idempotent))
        .await
        .expect("the call ends on its own deadline, not the test's")
        .unwrap_err();
    assert!(matches!(err, ClientError::DeadlineExceeded(_)), "{err:?}");
    assert!(err.is_unavailable());
    // The one attempt had the whole deadline (a timer never fires early),
    // so no retry was left to make.
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one attempt");
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let (url, hits) = stub(StatusCode::OK, Duration::from_secs(30)).await;
    // Five retries allowed, each attempt cut at 100 ms: left alone that is
    // six attempts. The 250 ms deadline leaves room for at most three,
    // because a timer never fires early: attempt k starts no sooner than
    // (k - 1) x 100 ms into the call, and none starts past the deadline.
    let (peer, _) = peer(PeerConfig {
        attempt_timeout: Duration::from_millis(100),
        deadline: Duration::from_millis(250),
        max_retries: 5,
        ..quick()
    });
    let err = tokio::time::timeout(SANITY, call(&peer, &url, Idempotency::Idempotent))
        .await
        .expect("the call ends by itself")
        .unwrap_err();
    assert!(matches!(err, ClientError::DeadlineExceeded(_)), "{err:?}");
    let attempts = hits.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&attempts),
        "{attempts} attempts: the deadline, not the retry count, ended the call"
    );
}

#[tokio::test]
async fn the_breaker_opens_and_then_fails_fast_without_calling() {
    // Nothing listens here: every connect is refused.
    let (_held, dead) = refusing_port();
    let (peer, _) = peer(PeerConfig {
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(60),
        max_retries: 0,
        ..quick()
    });
    for _ in 0..3 {
        let err = call(&peer, &dead, Idempotency::Idempotent)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
        assert!(err.never_reached_peer());
    }
    assert_eq!(peer.breaker_state(), BreakerState::Open);
    let (url, hits) = stub(StatusCode::OK, Duration::ZERO).await;
    let err = call(&peer, &url, Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::CircuitOpen(_)), "{err:?}");
    assert!(err.never_reached_peer());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "an open circuit sends nothing"
    );
}

#[tokio::test]
async fn a_refused_retry_after_a_delivered_attempt_is_not_unreachable() {
    // The first connection reads the request and hangs up without an
    // answer; then nothing listens, so the retry's connect is refused. The
    // request may have taken effect: the error must not say "unreachable".
    // A second socket holds the port once the listener is gone (both
    // bound with SO_REUSEPORT; it never listens), so that the retry is
    // certainly refused and nobody else can start listening there.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseport(true).unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    let holder = tokio::net::TcpSocket::new_v4().unwrap();
    holder.set_reuseport(true).unwrap();
    holder.bind(addr).unwrap();
    let listener = socket.listen(8).unwrap();
    let url = format!("http://{addr}");
    let server = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf).await;
        // Dropping both closes the connection and the listening socket.
    });
    let (peer, _) = peer(PeerConfig {
        max_retries: 2,
        ..quick()
    });
    let result = call(&peer, &url, Idempotency::Idempotent).await;
    server.await.unwrap();
    drop(holder);
    let err = result.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.is_unavailable());
    assert!(!err.never_reached_peer(), "{err:?}");
}

#[tokio::test]
async fn a_breaker_opening_mid_call_answers_with_the_last_attempt() {
    // Threshold 1: the first 500 opens the breaker, which then refuses the
    // retry. The 500 was delivered, so that is the answer, not "circuit
    // open" (which would claim nothing was sent).
    let (url, hits) = stub(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let (peer, _) = peer(PeerConfig {
        breaker_threshold: 1,
        breaker_cooldown: Duration::from_secs(60),
        max_retries: 2,
        ..quick()
    });
    let resp = call(&peer, &url, Idempotency::Idempotent).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no retry past the breaker");
    assert_eq!(peer.breaker_state(), BreakerState::Open);
}

#[tokio::test]
async fn after_the_cooldown_one_good_probe_closes_the_breaker() {
    let (bad, _) = stub(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let (good, hits) = stub(StatusCode::OK, Duration::ZERO).await;
    let (peer, _) = peer(PeerConfig {
        breaker_threshold: 1,
        breaker_cooldown: Duration::from_millis(50),
        max_retries: 0,
        ..quick()
    });
    call(&peer, &bad, Idempotency::Idempotent).await.unwrap();
    assert_eq!(peer.breaker_state(), BreakerState::Open);
    // Bounded wait for the cooldown to pass.
    let mut closed = false;
    for _ in 0..100 {
        if call(&peer, &good, Idempotency::Idempotent).await.is_ok() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "exactly one probe reached the peer"
    );
    assert_eq!(peer.breaker_state(), BreakerState::Closed);
}

/// A raw peer that answers every connection with a status line and headers
/// promising a body, then stalls with the connection open. Counts the
/// connections.
async fn stalling_body_stub() -> (String, Arc<AtomicU32>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicU32::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(600)).await;
            });
        }
    });
    (url, connections)
}

#[tokio::test]
async fn a_peer_stalling_mid_body_costs_the_deadline_not_more() {
    let (url, connections) = stalling_body_stub().await;
    // The attempt timeout is far beyond the sanity bound, so the deadline
    // is the only thing that can end the call in time: were the body read
    // outside the deadline, the call would wait for the attempt timeout
    // (or, outside that too, for the stub's ten minutes).
    let (peer, _) = peer(PeerConfig {
        attempt_timeout: Duration::from_secs(60),
        deadline: Duration::from_millis(300),
        max_retries: 2,
        ..quick()
    });
    // Through a typed client, as services call: the body is decoded too.
    let client = shop_api::ProductClient::with_transport(Arc::new(peer), url);
    let err = tokio::time::timeout(SANITY, client.reservation(uuid::Uuid::nil()))
        .await
        .expect("the call ends on its own deadline, not the test's")
        .expect_err("no complete answer came");
    // The deadline's error, not a body read error after a long wait.
    assert!(matches!(err, ClientError::DeadlineExceeded(_)), "{err:?}");
    assert!(err.is_unavailable(), "{err}");
    // The one attempt used the whole deadline (its timeout is the time left,
    // and a timer never fires early), so no retry could follow.
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one attempt");
}

#[tokio::test]
async fn a_cancelled_probe_does_not_leave_the_breaker_half_open() {
    // mode 0: 500 at once; 1: hang for a minute; 2: 200 at once.
    let mode = Arc::new(AtomicU32::new(0));
    let m = mode.clone();
    let app = Router::new().fallback(any(move || {
        let m = m.clone();
        async move {
            match m.load(Ordering::SeqCst) {
                0 => StatusCode::INTERNAL_SERVER_ERROR,
                1 => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    StatusCode::OK
                }
                _ => StatusCode::OK,
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (peer, _) = peer(PeerConfig {
        breaker_threshold: 1,
        breaker_cooldown: Duration::from_millis(50),
        max_retries: 0,
        ..quick()
    });
    call(&peer, &url, Idempotency::Idempotent).await.unwrap();
    assert_eq!(peer.breaker_state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The probe goes out, and its caller gives up (its own, shorter
    // deadline): the future is dropped mid-call.
    mode.store(1, Ordering::SeqCst);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        call(&peer, &url, Idempotency::Idempotent),
    )
    .await;
    assert!(cancelled.is_err(), "the probe was cut off");

    // The peer is healthy again: after a cooldown, calls go through.
    mode.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = call(&peer, &url, Idempotency::Idempotent)
        .await
        .expect("the breaker let a new probe out");
    assert_eq!(resp.status(), 200);
    assert_eq!(peer.breaker_state(), BreakerState::Closed);
}

/// A peer named "stub" subject to one fault rule, as `FAULTS_ENABLED`
/// wires it (see `shop_common::faults`).
fn faulty_peer(
    config: PeerConfig,
    rule: shop_api::faults::FaultRule,
) -> (Peer, prometheus::Registry) {
    let (peer, registry) = peer(config);
    let faults = shop_common::faults::Faults::new(&registry);
    faults.add_peer("stub");
    faults
        .replace(shop_api::faults::FaultRules { rules: vec![rule] })
        .expect("a valid rule");
    (peer.with_faults(faults), registry)
}

#[tokio::test]
async fn an_error_rate_fault_is_retried_for_idempotent_calls_only_and_never_reaches_the_peer() {
    let (url, hits) = stub(StatusCode::OK, Duration::ZERO).await;
    let (peer, registry) = faulty_peer(
        quick(),
        shop_api::faults::FaultRule {
            error_rate: 0.5,
            ..shop_api::faults::FaultRule::peer("stub")
        },
    );
    // Half the attempts fail, the first one first: an idempotent call's
    // first attempt gets the injected 503 and its retry gets through.
    let resp = call(&peer, &url, Idempotency::Idempotent).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the failed attempt never left"
    );
    // The next attempt fails again: a non-idempotent call sent then is
    // answered the injected 503, with no retry, and the one after passes.
    let resp = call(&peer, &url, Idempotency::NotIdempotent).await.unwrap();
    assert_eq!(resp.status(), 503);
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["detail"], shop_common::faults::INJECTED);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    let resp = call(&peer, &url, Idempotency::NotIdempotent).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains(r#"http_client_retries_total{peer="stub"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"faults_injected_total{kind="error",target="peer:stub"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_fault_is_a_refused_connection_and_the_call_never_reached_the_peer() {
    let (url, hits) = stub(StatusCode::OK, Duration::ZERO).await;
    let (peer, _registry) = faulty_peer(
        quick(),
        shop_api::faults::FaultRule {
            unreachable: true,
            ..shop_api::faults::FaultRule::peer("stub")
        },
    );
    let err = tokio::time::timeout(SANITY, call(&peer, &url, Idempotency::Idempotent))
        .await
        .expect("not hung")
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unreachable { .. }),
        "a connect error, as from a peer that is down: {err:?}"
    );
    assert!(err.never_reached_peer());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_latency_fault_counts_against_the_attempt_timeout() {
    let (url, hits) = stub(StatusCode::OK, Duration::ZERO).await;
    let config = PeerConfig {
        attempt_timeout: Duration::from_millis(100),
        deadline: Duration::from_millis(300),
        max_retries: 0,
        ..quick()
    };
    let (peer, _registry) = faulty_peer(
        config,
        shop_api::faults::FaultRule {
            latency_ms: 5_000,
            ..shop_api::faults::FaultRule::peer("stub")
        },
    );
    let err = tokio::time::timeout(SANITY, call(&peer, &url, Idempotency::Idempotent))
        .await
        .expect("the attempt timeout ends the call, not the fault's 5 s")
        .unwrap_err();
    assert!(matches!(err, ClientError::DeadlineExceeded(_)), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "it was never sent");
}
