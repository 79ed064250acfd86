//! The data listener and the request path, readable top to bottom:
//! read the body, parse, authenticate, decide, forward or reject, audit.
//! Around it: connection limits and timeouts, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::audit::{AuditSink, RequestRecord};
use crate::auth::{
    self, AuthorizationHeader, CallerDirectory, ClientCertificate, SignatureFailure,
};
use crate::config::{Config, Limits};
use crate::decision::{Decision, DenialDetail, RequestFacts, Verdict};
use crate::error::ApiError;
use crate::identity::UpstreamIdentity;
use crate::log;
use crate::metrics::{self, Metrics};
use crate::policy::Mode;
use crate::reload::{Live, Settle, Snapshot, Sources, Trigger, WatchStep};
use crate::request::{self, ContentType, HttpParts};
use crate::sigv4::ReceivedRequest;
use crate::upstream::{Upstream, UpstreamResponse};
use crate::workers::{self, Workers};

/// Largest request head (request line and headers) the proxy reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub(crate) config: Config,
    pub(crate) live: Live,
    pub(crate) metrics: Metrics,
    /// Whether the listener requires client certificates.
    mtls: bool,
    upstream: Upstream,
    identity: UpstreamIdentity,
    audit: Arc<AuditSink>,
    /// Requests being handled, from the end of their body on; past the
    /// limit new ones get `Throttling`.
    request_slots: RequestSlots,
    /// Set on SIGTERM: `/readyz` turns 503 while requests drain.
    pub(crate) shutting_down: AtomicBool,
    /// Data-plane threads to start (`workers`).
    worker_count: usize,
}

/// What one accepted connection tells about the client.
struct Connection {
    peer: SocketAddr,
    /// SAN URIs and DNS names of the verified client certificate, if any.
    certificate_identities: Vec<String>,
}

impl Proxy {
    pub fn new(config: Config, live: Live, identity: UpstreamIdentity) -> Result<Proxy, String> {
        let metrics = Metrics::new()?;
        metrics.set_policy_revision(&live.current().revision);
        let worker_count = config.workers.unwrap_or_else(workers::default_count);
        Ok(Proxy {
            mtls: config
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca.is_some()),
            upstream: Upstream::new(config.upstream.clone(), worker_count)?,
            identity,
            audit: Arc::new(AuditSink::open(&config.audit, worker_count)?),
            request_slots: RequestSlots::new(config.limits.max_concurrent_requests),
            live,
            metrics,
            shutting_down: AtomicBool::new(false),
            worker_count,
            config,
        })
    }

    /// Ready to take traffic: a policy in force, upstream credentials, and
    /// not draining. `Err` says why not.
    pub(crate) async fn readiness(&self) -> Result<(), &'static str> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err("shutting down");
        }
        if self.identity.access_key_id().await.is_none() {
            return Err("no upstream credentials");
        }
        if self.live.current().revision.is_empty() {
            return Err("no policy loaded");
        }
        Ok(())
    }

    pub(crate) fn reload(&self, trigger: Trigger) -> Result<String, String> {
        self.live.reload(&self.config, &self.metrics, trigger)
    }

    /// One request, from bytes to the upstream's answer or a rejection.
    async fn process(
        &self,
        snapshot: &Snapshot,
        request: Request<Incoming>,
        connection: &Connection,
        record: &mut RequestRecord,
    ) -> Result<UpstreamResponse, ApiError> {
        // 1. Read and parse.
        let (parts, body) = request.into_parts();
        request::check_message(&parts)?;
        let body = read_body(body, &parts.headers, &self.config.limits).await?;
        // A slot is taken only once the body is in, so that slow senders
        // (bounded by max_connections and body_read_timeout) cannot hold
        // the slots complete requests need.
        let _slot = self.request_slots.try_take().ok_or_else(|| {
            ApiError::throttling(format!(
                "Rate exceeded: more than {} requests are in flight",
                self.config.limits.max_concurrent_requests
            ))
        })?;
        let (parsed, query_auth) = request::parse(&HttpParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            content_type: match single_header(&parts.headers, CONTENT_TYPE.as_str()) {
                Single::Absent => ContentType::Absent,
                Single::One(v) => ContentType::One(v),
                Single::Unreadable => ContentType::Unreadable,
            },
            body: &body,
        })?;
        record.action = Some(parsed.action);
        record.set_parameters(&parsed);

        // 2. Authenticate.
        let signature = auth::caller_signature(
            match single_header(&parts.headers, AUTHORIZATION.as_str()) {
                Single::Absent => AuthorizationHeader::Absent,
                Single::One(v) => AuthorizationHeader::One(v),
                Single::Unreadable => AuthorizationHeader::Unreadable,
            },
            &query_auth,
        )
        .inspect_err(|_| {
            self.metrics
                .count_signature_failure(SignatureFailure::Malformed)
        })?;
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let received = ReceivedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &headers,
            body: &body,
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let caller = auth::authenticate(
            &snapshot.callers,
            signature.as_ref(),
            &received,
            ClientCertificate {
                required: self.mtls,
                identities: &connection.certificate_identities,
            },
            now,
        )
        .map_err(|failure| {
            self.metrics.count_signature_failure(failure.reason);
            failure.error
        })?;
        record.caller = Some(caller.caller.clone());
        record.auth_method = Some(caller.method);
        let host = match single_header(&parts.headers, HOST.as_str()) {
            Single::One(host) => Some(host),
            Single::Absent | Single::Unreadable => None,
        };
        let region = auth::request_region(signature, host, self.config.region.as_ref())?;
        record.region = Some(region.clone());

        // 3. Decide.
        let facts = RequestFacts::of(&parsed, &region, Some(&caller.caller));
        let response = snapshot.policy.is_authorized(&facts);
        let (verdict, rules) = response.verdict(self.config.mode);
        record.verdict = Some(verdict);
        record.rules = rules.to_vec();
        if response.decision == Decision::Deny {
            // The audit log explains in full; the caller hears what concerns it.
            record.explanation = Some(response.denial_message(&facts, DenialDetail::Full));
        }
        if verdict == Verdict::Deny {
            return Err(ApiError::invalid_parameter_combination(
                response.denial_message(&facts, self.config.denial_detail),
            ));
        }
        if self.config.audit.reject_on_failure && !self.audit.is_healthy() {
            return Err(ApiError::service_unavailable(
                "the audit log cannot be written, so nothing is forwarded until it can",
            ));
        }

        // 4. Forward, signed as the proxy (or as the caller's role session).
        let credentials = self.identity.for_caller(&caller.caller).await?;
        let started = Instant::now();
        let forwarded = self
            .upstream
            .forward(&parsed, &region, &parts.headers, &credentials)
            .await;
        match forwarded {
            Ok(answer) => {
                let status = answer.status.as_u16();
                self.metrics
                    .observe_upstream(metrics::status_class(status), started.elapsed());
                record.upstream_status = Some(status);
                Ok(answer)
            }
            Err(failure) => {
                self.metrics
                    .observe_upstream(failure.class, started.elapsed());
                Err(failure.error)
            }
        }
    }

    /// Stage 5: audit and count. The audit line is written before the
    /// answer is sent; when it cannot be, the answer is withheld, unless the
    /// config says to continue.
    async fn finish(
        &self,
        mut record: RequestRecord,
        mut response: Response<Full<Bytes>>,
        took: Duration,
    ) -> Response<Full<Bytes>> {
        let was_healthy = self.audit.is_healthy();
        let line = record.line(took);
        let written = self.audit.append(&line).await;
        let shortened = line.shortened();
        if let Err(e) = written {
            self.metrics.count_audit_write_failure();
            if was_healthy {
                log::error(
                    "cannot write the audit log",
                    serde_json::json!({ "error": e.to_string() }),
                );
            }
            if self.config.audit.reject_on_failure {
                let error = ApiError::service_unavailable(
                    "the audit log cannot be written, so the proxy does not answer what it cannot record",
                );
                response = error_response(&error, &record.request_id);
                record.error_code = Some(error.code);
            }
        }
        self.metrics.record_request(&record, shortened, took);
        response
    }
}

/// The limit on requests handled at once. Requests never wait for a slot
/// (past the limit they get `Throttling`), so a counter is enough: taking
/// and giving back one is an atomic add, with no lock.
struct RequestSlots {
    taken: AtomicUsize,
    limit: usize,
}

impl RequestSlots {
    fn new(limit: usize) -> RequestSlots {
        RequestSlots {
            taken: AtomicUsize::new(0),
            limit,
        }
    }

    fn try_take(&self) -> Option<RequestSlot<'_>> {
        let before = self.taken.fetch_add(1, Ordering::AcqRel);
        let slot = RequestSlot(&self.taken);
        // Over the limit: the guard gives the slot straight back.
        (before < self.limit).then_some(slot)
    }
}

/// A slot taken, given back when dropped.
struct RequestSlot<'a>(&'a AtomicUsize);

impl Drop for RequestSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves until SIGINT or SIGTERM, then drains.
pub async fn run(proxy: Proxy) -> Result<(), String> {
    let proxy = Arc::new(proxy);
    // Before anything listens: a SIGHUP sent once the ports answer must
    // reload, not kill the process with the signal's default action.
    spawn_reloaders(&proxy);
    let tls = match &proxy.config.tls {
        Some(settings) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            settings,
        )?)),
        None => None,
    };
    let workers = Workers::start(proxy.worker_count)?;
    let listen = proxy.config.listen;
    let listener = bind_data(listen).map_err(|e| format!("cannot listen on `{listen}`: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    if let Some(admin_listen) = proxy.config.admin_listen {
        let admin = TcpListener::bind(admin_listen)
            .await
            .map_err(|e| format!("cannot listen on `{admin_listen}` (admin_listen): {e}"))?;
        tokio::spawn(crate::admin::serve(admin, proxy.clone()));
    }
    let snapshot = proxy.live.current();
    log::info(
        "listening",
        serde_json::json!({
            "addr": address.to_string(),
            "admin_addr": proxy.config.admin_listen.map(|a| a.to_string()),
            "scheme": if tls.is_some() { "https" } else { "http" },
            "client_certificates": if proxy.mtls { "required" } else { "not requested" },
            "mode": proxy.config.mode.as_str(),
            "rules": snapshot.policy.rule_count(),
            "policy": proxy.config.policy_path.display().to_string(),
            "policy_revision": snapshot.revision,
            "upstream_access_key_id": proxy.identity.access_key_id().await,
            "assume_role": proxy.config.assume_role.as_ref().map(|r| r.role_arn.clone()),
            "workers": workers.len(),
        }),
    );
    if let CallerDirectory::Trusted(name) = &snapshot.callers {
        log::warn(
            "callers: none: every request is treated as the trusted caller without authentication; \
             use this only for a sidecar that nothing else can reach",
            serde_json::json!({ "trusted_caller": name }),
        );
    }
    for warning in &snapshot.warnings {
        log::warn("policy warning", serde_json::json!({ "warning": warning }));
    }
    if proxy.config.mode == Mode::Shadow {
        log::warn(
            "mode: shadow: policy denials are logged and counted as would_deny but not enforced",
            serde_json::json!({}),
        );
    }
    drop(snapshot);

    let max_connections = proxy.config.limits.max_connections;
    let connections = Arc::new(Semaphore::new(max_connections));
    let (drain, draining) = watch::channel(false);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.map_err(|_| "connection limiter closed".to_owned())?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    log::warn("accept failed", serde_json::json!({ "error": e.to_string() }));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The connection moves to a worker: its socket leaves this
        // runtime's reactor and joins the worker's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                log::warn(
                    "cannot hand over a connection",
                    serde_json::json!({ "error": e.to_string() }),
                );
                continue;
            }
        };
        let proxy = proxy.clone();
        let tls = tls.clone();
        let draining = draining.clone();
        workers.next().spawn(async move {
            let Ok(stream) = TcpStream::from_std(stream) else {
                return;
            };
            let open = proxy.metrics.open_connection();
            // Until a client speaks it costs this small task (about 1.5
            // KiB with its socket); serving it (hyper's connection and the
            // futures around it, some 16 KiB) is set up once it does.
            if first_bytes(&stream, &proxy.config.limits, draining.clone()).await {
                Box::pin(serve_accepted(&proxy, tls, stream, peer, draining)).await;
            }
            drop(open);
            drop(permit);
        });
    }

    // Drain: stop accepting (the listener closes here), finish what is in
    // flight within the grace period, then return so the process exits 0.
    drop(listener);
    proxy.shutting_down.store(true, Ordering::Relaxed);
    let grace = proxy.config.shutdown_grace;
    log::info(
        "shutting down",
        serde_json::json!({ "grace_ms": grace.as_millis() as u64, "in_flight": proxy.metrics.in_flight() }),
    );
    let _ = drain.send(true);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(grace, connections.acquire_many(all)).await {
        Ok(_) => log::info("stopped", serde_json::json!({})),
        Err(_) => log::warn(
            "stopped with requests still in flight after the grace period",
            serde_json::json!({ "in_flight": proxy.metrics.in_flight() }),
        ),
    }
    Ok(())
}

/// Serves an accepted connection, after the TLS handshake if any.
async fn serve_accepted(
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
                        .map(|cert| crate::tls::certificate_identities(cert))
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
async fn first_bytes(
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

/// Connections the kernel completes before the proxy accepts them (capped
/// by `net.core.somaxconn`). The standard 128 drops handshakes in a burst
/// of reconnecting clients, who then wait a second or more to retry.
const LISTEN_BACKLOG: u32 = 1024;

fn bind_data(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// SIGHUP and the file watcher reload the policy and callers; SIGHUP also
/// reopens the audit file.
fn spawn_reloaders(proxy: &Arc<Proxy>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        if let Err(e) = proxy.audit.reopen() {
                            log::error(
                                "cannot reopen the audit log",
                                serde_json::json!({ "error": e }),
                            );
                        }
                        let reloader = proxy.clone();
                        let _ =
                            tokio::task::spawn_blocking(move || reloader.reload(Trigger::Signal))
                                .await;
                    }
                });
            }
            Err(e) => log::warn(
                "cannot listen for SIGHUP; reload with POST /reload instead",
                serde_json::json!({ "error": e.to_string() }),
            ),
        }
    }
    if let Some(interval) = proxy.config.watch_interval {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let mut settle = Settle::new(proxy.config.watch_settle);
            let mut wait = interval;
            loop {
                tokio::time::sleep(wait).await;
                wait = interval;
                let reader = proxy.clone();
                let Ok(seen) =
                    tokio::task::spawn_blocking(move || Sources::read(&reader.config)).await
                else {
                    continue;
                };
                match proxy.live.watch_step(&mut settle, seen, Instant::now()) {
                    WatchStep::Unchanged => {}
                    WatchStep::Settling(left) => wait = left.min(interval),
                    WatchStep::Install(settled) => {
                        let installer = proxy.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            installer.live.install_settled(
                                &installer.config,
                                &installer.metrics,
                                settled,
                            )
                        })
                        .await;
                    }
                }
            }
        });
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
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let _in_flight = proxy.metrics.enter_request();
        let snapshot = proxy.live.current();
        let mut record = RequestRecord::new(
            SystemTime::now(),
            log::new_request_id(),
            connection.peer,
            proxy.config.mode,
            snapshot.revision.clone(),
        );
        let result = proxy
            .process(&snapshot, request, &connection, &mut record)
            .await;
        let response = match result {
            Ok(answer) => {
                let mut response = Response::new(Full::new(answer.body));
                *response.status_mut() = answer.status;
                *response.headers_mut() = answer.headers;
                response
            }
            Err(error) => {
                record.error_code = Some(error.code);
                error_response(&error, &record.request_id)
            }
        };
        proxy.finish(record, response, started.elapsed()).await
    });
    let response = task.await.unwrap_or_else(|_| {
        error_response(
            &ApiError::internal_failure("the request could not be handled"),
            "",
        )
    });
    activity.request_finished(Instant::now());
    Ok(response)
}

/// The one place a rejection becomes an HTTP response: status, `text/xml`,
/// and the request id in both the header (aws-sdk-rust) and the body (botocore).
pub fn error_response(error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(error.to_xml(request_id))));
    *response.status_mut() =
        http::StatusCode::from_u16(error.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    if error.close_connection {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads the whole body within the size and time limits, chunked or not.
async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::request_entity_too_large(format!(
            "the request body is larger than the limit of {} bytes",
            limits.max_body_bytes
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        limits.body_read_timeout,
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await
    .map_err(|_| ApiError::request_timeout("the request body did not arrive in time"))?;
    match collected {
        // Trailer fields could only add headers after the decision was made.
        Ok(body) if body.trailers().is_some() => Err(ApiError::invalid_query_parameter(
            "the request has trailer fields; send every header before the body",
        )
        .closing_connection()),
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::malformed_query_string(format!(
            "the request body could not be read: {e}"
        ))
        .closing_connection()),
    }
}

enum Single<'a> {
    Absent,
    One(&'a str),
    Unreadable,
}

/// A header that must appear at most once, as visible ASCII.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Single<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Single::Absent,
        (Some(value), None) => value.to_str().map_or(Single::Unreadable, Single::One),
        (Some(_), Some(_)) => Single::Unreadable,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn request_slots_are_limited_and_given_back() {
        let slots = RequestSlots::new(2);
        let first = slots.try_take().expect("a free slot");
        let second = slots.try_take().expect("a free slot");
        assert!(slots.try_take().is_none(), "over the limit");
        drop(first);
        let third = slots.try_take().expect("given back");
        assert!(slots.try_take().is_none());
        drop((second, third));
        assert_eq!(slots.taken.load(Ordering::Relaxed), 0);
        assert!(RequestSlots::new(0).try_take().is_none());
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

    #[test]
    fn error_responses_carry_the_request_id_twice() {
        let response = error_response(&ApiError::invalid_parameter_combination("no"), "id-123");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "text/xml");
        assert_eq!(response.headers()["x-amzn-requestid"], "id-123");
        assert!(response.headers().get("connection").is_none());
        let closing = ApiError::invalid_query_parameter("framing").closing_connection();
        assert_eq!(
            error_response(&closing, "id").headers()["connection"],
            "close"
        );
    }
}
