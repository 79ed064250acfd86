//! One client connection: served only once it speaks, within the head,
//! body and idle timeouts, each request in a task of its own that the
//! pipeline takes from bytes to answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::pipeline::{self, error_response};
use super::{Connection, Proxy};
use crate::error::{Rejection, ServiceError};
use crate::proxy::config::Limits;
use crate::proxy::log;

/// Largest request head (request line and headers) the proxy reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves an accepted connection, after the TLS handshake if any.
pub(super) async fn serve_accepted(
    proxy: &Arc<Proxy>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    draining: watch::Receiver<bool>,
) {
    let handshake_timeout = proxy.config.limits.header_read_timeout;
    match tls {
        None => {
            let connection = Connection {
                peer,
                certificate_identities: Vec::new(),
            };
            serve_connection(proxy, stream, connection, draining).await;
        }
        Some(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let certificate_identities = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|cert| crate::proxy::tls::certificate_identities(cert))
                        .unwrap_or_default();
                    let connection = Connection {
                        peer,
                        certificate_identities,
                    };
                    serve_connection(proxy, stream, connection, draining).await;
                }
                Ok(Err(e)) => log::warn(
                    "tls handshake failed",
                    serde_json::json!({ "peer": peer.to_string(), "error": e.to_string() }),
                ),
                Err(_) => log::warn(
                    "tls handshake timed out",
                    serde_json::json!({ "peer": peer.to_string() }),
                ),
            }
        }
    }
}

/// Waits for a new connection's first bytes for as long as a new
/// connection may wait before starting a request; false when it is to be
/// closed unserved (it hung up, timed out, or the proxy is draining).
pub(super) async fn first_bytes(
    stream: &TcpStream,
    limits: &Limits,
    mut draining: watch::Receiver<bool>,
) -> bool {
    let patience = limits.header_read_timeout.min(limits.idle_timeout);
    // A peek, since tokio may report a new socket readable before it is.
    let mut probe = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(patience, stream.peek(&mut probe)) => matches!(peeked, Ok(Ok(1))),
        Ok(_) = draining.wait_for(|d| *d) => false,
    }
}

/// When a connection last made progress, for the idle and head timeouts.
/// Hyper's own header timer also runs while a keep-alive connection waits,
/// so the proxy keeps both clocks itself.
struct Activity {
    in_flight: AtomicUsize,
    clock: Mutex<Clock>,
}

struct Clock {
    /// When the connection opened or its last request finished.
    idle_since: Instant,
    /// Whether a request has been answered on this connection: until then
    /// the client gets only `header_read_timeout` to start one.
    served: bool,
    /// The first byte of a request head read since then.
    head_started: Option<Instant>,
}

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            clock: Mutex::new(Clock {
                idle_since: now,
                served: false,
                head_started: None,
            }),
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_read(&self, now: Instant) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let mut clock = self.clock();
            if clock.head_started.is_none() {
                clock.head_started = Some(now);
            }
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn request_finished(&self, now: Instant) {
        let mut clock = self.clock();
        clock.idle_since = now;
        clock.served = true;
        clock.head_started = None;
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// When to close the connection if nothing happens before; `None` while
    /// a request is being handled (its own timeouts bound it).
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let clock = self.clock();
        Some(match (clock.head_started, clock.served) {
            (Some(started), _) => started + limits.header_read_timeout,
            // A connection that never sent a request is not a keep-alive one.
            (None, false) => clock.idle_since + limits.header_read_timeout.min(limits.idle_timeout),
            (None, true) => clock.idle_since + limits.idle_timeout,
        })
    }
}

/// The connection's stream, noting every read that brings bytes.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read(Instant::now());
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_connection<S>(
    proxy: &Arc<Proxy>,
    stream: S,
    connection: Connection,
    mut draining: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let connection = Arc::new(connection);
    let peer = connection.peer;
    let service = {
        let proxy = proxy.clone();
        let activity = activity.clone();
        service_fn(move |request| {
            handle(proxy.clone(), request, connection.clone(), activity.clone())
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEAD_BYTES)
        // The buffer limit alone lets a head through that arrives in one read.
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let limits = &proxy.config.limits;
    let ended = loop {
        let deadline = activity.deadline(limits);
        // While a request runs, look again after a while.
        let wake = deadline.unwrap_or_else(|| Instant::now() + limits.idle_timeout);
        tokio::select! {
            result = conn.as_mut() => break result,
            () = tokio::time::sleep_until(wake.into()) => {
                if activity.deadline(limits).is_some_and(|d| d <= Instant::now()) {
                    log::debug("closing an idle or slow connection", serde_json::json!({ "peer": peer.to_string() }));
                    return;
                }
            }
            () = async { let _ = draining.wait_for(|d| *d).await; } => {
                // Finish the request in flight, if any, then close.
                conn.as_mut().graceful_shutdown();
                break conn.as_mut().await;
            }
        }
    };
    if let Err(e) = ended {
        log::debug(
            "connection ended",
            serde_json::json!({ "peer": peer.to_string(), "error": e.to_string() }),
        );
    }
}

async fn handle(
    proxy: Arc<Proxy>,
    request: Request<Incoming>,
    connection: Arc<Connection>,
    activity: Arc<Activity>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    activity.request_started();
    // Its own task, so that a client hanging up cannot cut a request short
    // between forwarding and auditing.
    // Boxed: the request's future is some 15 KiB, and the task would copy
    // it whole as it starts, finishes and hands its answer over.
    let task = tokio::spawn(Box::pin(async move {
        pipeline::serve(&proxy, request, &connection).await
    }));
    let response = task.await.unwrap_or_else(|_| {
        error_response(&Rejection::Service(ServiceError::Internal).answer(), "")
    });
    activity.request_finished(Instant::now());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::listener::bind_data;
    use std::time::Duration;

    #[test]
    fn a_new_connection_is_served_only_once_it_speaks() {
        let limits = Limits {
            max_body_bytes: 1,
            header_read_timeout: Duration::from_millis(300),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
            max_concurrent_requests: 1,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = bind_data("127.0.0.1:0".parse().unwrap()).unwrap();
            let address = listener.local_addr().unwrap();
            let (_drain, draining) = watch::channel(false);
            let accept = || async { listener.accept().await.unwrap().0 };

            // Silent for longer than the head timeout: closed unserved,
            // though tokio reports a new socket readable at once.
            let _silent = TcpStream::connect(address).await.unwrap();
            let started = Instant::now();
            assert!(!first_bytes(&accept().await, &limits, draining.clone()).await);
            assert!(started.elapsed() >= Duration::from_millis(250));

            let mut speaking = TcpStream::connect(address).await.unwrap();
            let stream = accept().await;
            tokio::io::AsyncWriteExt::write_all(&mut speaking, b"P")
                .await
                .unwrap();
            assert!(first_bytes(&stream, &limits, draining.clone()).await);
            // Peeked, not consumed: hyper reads the byte.
            let mut byte = [0u8; 1];
            assert_eq!(stream.try_read(&mut byte).unwrap(), 1);
            assert_eq!(&byte, b"P");

            drop(TcpStream::connect(address).await.unwrap());
            assert!(!first_bytes(&accept().await, &limits, draining.clone()).await);

            let (drain, draining) = watch::channel(false);
            let _waiting = TcpStream::connect(address).await.unwrap();
            let stream = accept().await;
            drain.send(true).unwrap();
            let patient = Limits {
                header_read_timeout: Duration::from_secs(60),
                ..limits
            };
            let waited = tokio::time::timeout(
                Duration::from_secs(10),
                first_bytes(&stream, &patient, draining),
            );
            assert_eq!(waited.await, Ok(false), "draining ends the wait");
        });
    }

    #[test]
    fn connection_deadlines() {
        let limits = Limits {
            max_body_bytes: 1,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
            max_concurrent_requests: 1,
        };
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let activity = Activity::new(t0);
        // A fresh connection gets the head timeout to start a request.
        assert_eq!(activity.deadline(&limits), Some(at(10)));
        activity.bytes_read(at(2));
        assert_eq!(
            activity.deadline(&limits),
            Some(at(12)),
            "head started at 2 s"
        );
        activity.request_started();
        assert_eq!(
            activity.deadline(&limits),
            None,
            "a request in flight has its own limits"
        );
        activity.bytes_read(at(3));
        activity.request_finished(at(5));
        assert_eq!(activity.deadline(&limits), Some(at(65)), "keep-alive idle");
        activity.bytes_read(at(30));
        activity.bytes_read(at(31));
        assert_eq!(
            activity.deadline(&limits),
            Some(at(40)),
            "the next head, from its first byte"
        );
    }
}
