//! Serving one listener's connections: HTTP/1.1 on hyper, with the limits
//! `axum::serve` lacks (a header-read timeout, an idle timeout, a cap on
//! open connections) and a shutdown with a deadline.
//!
//! Why not hyper's own `header_read_timeout`: in hyper 1.12 its clock also
//! runs while a keep-alive connection waits for its next request, so a
//! 10-second header budget would close every pooled connection after 10
//! idle seconds, under clients that expect to reuse it for a minute. Here
//! the two are separate, as in Go's `net/http`: a watchdog per connection
//! knows whether it is idle (waiting for the first byte of a request),
//! reading a request head, or serving a request, and closes the connection
//! when the first two last too long.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use super::HttpConfig;

/// Room left in hyper's read buffer beyond the service's header limit: the
/// request line, whose URI may take up to 64 KiB (the `http` crate's limit).
const REQUEST_LINE_ROOM: usize = 64 * 1024;

/// What one listener allows each connection, copied out of [`HttpConfig`]
/// so connection tasks own it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    /// hyper's read buffer: a request head that does not fit gets hyper's
    /// own bare 431. Larger than the service's header limit, so requests
    /// just over that limit reach the middleware and get a 431 problem.
    read_buffer: usize,
}

impl From<&HttpConfig> for Limits {
    fn from(config: &HttpConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
            read_buffer: config.max_header_bytes + REQUEST_LINE_ROOM,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves. Then it stops
/// accepting, asks each connection to close once its request in flight is
/// answered (idle ones close at once), and when `deadline` resolves closes
/// whatever is still open, so no client can hold the process.
pub(super) async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
    deadline: impl Future<Output = ()>,
) {
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    let mut refusing = false;
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            // The client gave up between its connect and our accept.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: wait for some to be
                // freed rather than spin (what hyper 0.14 and axum do).
                tracing::error!(listener = name, error = %e, "accept failed; retrying in 1 s");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        // Forget the connections that have ended, so the set counts the
        // open ones.
        while connections.try_join_next().is_some() {}
        if connections.len() >= limits.max_connections {
            // Closed at once: better a quick refusal the client can retry
            // elsewhere than a connection that waits without an answer.
            if !refusing {
                tracing::warn!(
                    listener = name,
                    limit = limits.max_connections,
                    "connection limit reached; closing new connections until some end"
                );
                refusing = true;
            }
            drop(tcp);
            continue;
        }
        refusing = false;
        // Small responses must not wait for the peer's delayed ACK (Nagle's
        // algorithm adds up to 40 ms per exchange otherwise).
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(
            tcp,
            router.clone(),
            limits,
            closing.clone(),
        ));
    }

    // Closing the listener makes the kernel refuse new connections.
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::select! {
        () = async { while connections.join_next().await.is_some() {} } => true,
        () = deadline => false,
    };
    if !drained {
        tracing::warn!(
            listener = name,
            open = connections.len(),
            "shutdown timeout: closing the connections still open"
        );
        // Aborting a connection's task drops its socket.
        connections.shutdown().await;
    }
}

/// Accept errors that concern one connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until the client closes it, hyper ends it (an
/// error, or after a graceful shutdown), or the watchdog finds it idle or
/// reading a request head for too long.
async fn serve_connection(
    tcp: TcpStream,
    router: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        tcp,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(activity.clone());
            let router = router.clone();
            async move {
                let Ok(resp) = router.oneshot(req).await;
                Ok::<_, Infallible>(resp.map(|body| TrackedBody {
                    body,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    // Keep-alive is on (hyper's default). hyper's own header-read timeout
    // is off (and so needs no timer): the watchdog below does that job.
    // Upgrades (WebSocket) are not enabled: no service uses them.
    let mut conn = pin!(
        http1::Builder::new()
            .header_read_timeout(None)
            .max_buf_size(limits.read_buffer)
            .serve_connection(io, service)
    );
    let mut expired = pin!(activity.expired(limits));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            phase = &mut expired => {
                tracing::debug!(?phase, "closing a connection that waited too long");
                // Returning drops the connection, which closes the socket.
                return;
            }
            _ = closing.wait_for(|closing| *closing), if !shutting_down => {
                shutting_down = true;
                // Closes the connection now if idle, else after the response.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Where a connection is in its request cycle, for the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of the next request: the idle timeout runs.
    Idle,
    /// Reading a request head (since the connection opened, or since the
    /// request's first byte): the header-read timeout runs.
    Head,
    /// A request is being served: no connection timeout applies (the
    /// request timeout bounds the handler).
    Busy,
}

/// A connection's phase and when it began, shared by the socket wrapper,
/// the service and the watchdog.
///
/// Changing phase only records it: the watchdog is never woken by a change
/// (that would cost a wake-up and a new timer on every request). It sleeps
/// until the deadline of the phase it saw, but never longer than the
/// shorter of the two limits, then looks again. A deadline that a change
/// moved later is slept on to; one it moved earlier (a connection that
/// went from reading a head to idle, whose limit may be shorter) is found
/// at the next look, so a connection closes at most one shorter limit
/// after its own deadline.
struct Activity {
    state: Mutex<(Phase, Instant)>,
}

impl Activity {
    /// A new connection is waiting for its first request's head.
    fn new() -> Self {
        Self {
            state: Mutex::new((Phase::Head, Instant::now())),
        }
    }

    fn get(&self) -> (Phase, Instant) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves to `to` (from any phase, or only from `from` when given).
    fn enter(&self, from: Option<Phase>, to: Phase) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if from.is_none_or(|from| state.0 == from) {
            *state = (to, Instant::now());
        }
    }

    /// Resolves, with the phase at fault, once the connection has been idle
    /// or reading one request head for longer than its limit.
    async fn expired(&self, limits: Limits) -> Phase {
        let period = limits.header_read_timeout.min(limits.idle_timeout);
        loop {
            let (phase, since) = self.get();
            let limit = match phase {
                Phase::Idle => limits.idle_timeout,
                Phase::Head => limits.header_read_timeout,
                // No deadline while a request is served: look again later.
                Phase::Busy => {
                    tokio::time::sleep(period).await;
                    continue;
                }
            };
            let look_again = Instant::now() + period;
            // A limit too large to represent never expires.
            let at = since.checked_add(limit).unwrap_or(look_again);
            tokio::time::sleep_until(at.min(look_again)).await;
            if self.get() == (phase, since) && Instant::now() >= at {
                return phase;
            }
        }
    }
}

/// Marks a request in flight from the service call until its response
/// body is dropped (hyper drops it once written, or with the connection).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.enter(None, Phase::Busy);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.enter(None, Phase::Idle);
    }
}

/// A response body carrying its request's [`InFlight`] mark.
struct TrackedBody {
    body: Body,
    /// Held only for its `Drop`.
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noticing when the first bytes of a request arrive on an
/// idle connection (the moment its header-read timeout starts).
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.enter(Some(Phase::Idle), Phase::Head);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
