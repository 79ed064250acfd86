//! The data listener: [`run`] starts (bind, log what is in force), accepts
//! within the connection limit and hands each connection to a worker, and
//! on SIGTERM stops accepting and drains within the grace period; SIGHUP
//! and file changes reload meanwhile.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::connection::{first_bytes, serve_accepted};
use super::Proxy;
use crate::auth::CallerDirectory;
use crate::policy::Mode;
use crate::proxy::reload::{Settle, Sources, Trigger, WatchStep};
use crate::proxy::workers::Workers;
use crate::proxy::{log, tls};

/// Serves until SIGINT or SIGTERM, then drains.
pub async fn run(proxy: Proxy) -> Result<(), String> {
    let proxy = Arc::new(proxy);
    // Before anything listens: a SIGHUP sent once the ports answer must
    // reload, not kill the process with the signal's default action.
    spawn_reloaders(&proxy);
    let started = start(&proxy).await?;
    let connections = Arc::new(Semaphore::new(proxy.config.limits.max_connections));
    let (drain, draining) = watch::channel(false);
    accept_until_shutdown(&proxy, &started, &connections, &draining).await?;
    drain_connections(&proxy, started.listener, &connections, &drain).await;
    Ok(())
}

/// What start-up leaves to serve with.
struct Started {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    workers: Workers,
}

/// Start-up: whatever can fail (certificates, worker threads, ports) fails
/// here with an error, before the "listening" line, so that line means the
/// proxy serves.
async fn start(proxy: &Arc<Proxy>) -> Result<Started, String> {
    let tls = match &proxy.config.tls {
        Some(settings) => Some(TlsAcceptor::from(tls::server_config(settings)?)),
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
        tokio::spawn(crate::proxy::admin::serve(admin, proxy.clone()));
    }
    // Learned now, off the request path, when the policy will need it;
    // a failure is logged, and retried by the first request that needs it.
    if proxy.live.current().policy.has_resource_tags() {
        let _ = proxy.learn_account().await;
    }
    log_started(proxy, address, tls.is_some(), workers.len()).await;
    Ok(Started {
        listener,
        tls,
        workers,
    })
}

/// The "listening" line says what an operator checks first (addresses,
/// mode, policy revision, credentials); the warnings after it say what
/// enforces less than it seems: no authentication, rules that can never
/// match, shadow mode.
async fn log_started(proxy: &Proxy, address: SocketAddr, tls: bool, workers: usize) {
    let snapshot = proxy.live.current();
    log::info(
        "listening",
        serde_json::json!({
            "addr": address.to_string(),
            "admin_addr": proxy.config.admin_listen.map(|a| a.to_string()),
            "scheme": if tls { "https" } else { "http" },
            "client_certificates": if proxy.mtls { "required" } else { "not requested" },
            "mode": proxy.config.mode.as_str(),
            "rules": snapshot.policy.rule_count(),
            "policy": proxy.config.policy_path.display().to_string(),
            "policy_revision": snapshot.revision,
            "upstream_access_key_id": proxy.identity.access_key_id().await,
            "assume_role": proxy.config.assume_role.as_ref().map(|r| r.role_arn.clone()),
            "workers": workers,
        }),
    );
    if let CallerDirectory::Trusted(trusted) = &snapshot.callers {
        log::warn(
            "callers: none: every request is treated as the trusted caller without authentication; \
             use this only for a sidecar that nothing else can reach",
            serde_json::json!({ "trusted_caller": trusted.name }),
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
}

/// Accepts until SIGINT or SIGTERM. The permit comes before the accept, so
/// past `max_connections` clients wait in the kernel's backlog, not in the
/// proxy.
async fn accept_until_shutdown(
    proxy: &Arc<Proxy>,
    started: &Started,
    connections: &Arc<Semaphore>,
    draining: &watch::Receiver<bool>,
) -> Result<(), String> {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.map_err(|_| "connection limiter closed".to_owned())?,
            () = &mut shutdown => return Ok(()),
        };
        let (stream, peer) = tokio::select! {
            accepted = started.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    log::warn("accept failed", serde_json::json!({ "error": e.to_string() }));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Answers go out whole, as nginx sends them (`tcp_nodelay on`); a
        // socket that refuses the option is served all the same.
        let _ = stream.set_nodelay(true);
        hand_over(proxy, started, draining, stream, peer, permit);
    }
}

/// Moves an accepted connection to the next worker, where it is served
/// with its permit held: its socket leaves this runtime's reactor and
/// joins the worker's.
fn hand_over(
    proxy: &Arc<Proxy>,
    started: &Started,
    draining: &watch::Receiver<bool>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            log::warn(
                "cannot hand over a connection",
                serde_json::json!({ "error": e.to_string() }),
            );
            return;
        }
    };
    let proxy = proxy.clone();
    let tls = started.tls.clone();
    let draining = draining.clone();
    started.workers.next().spawn(async move {
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

/// Draining: stop accepting (the listener closes here) and turn `/readyz`
/// to 503, so load balancers send elsewhere; finish what is in flight
/// within the grace period, then return so the process exits 0.
async fn drain_connections(
    proxy: &Proxy,
    listener: TcpListener,
    connections: &Semaphore,
    drain: &watch::Sender<bool>,
) {
    drop(listener);
    proxy.shutting_down.store(true, Ordering::Relaxed);
    let grace = proxy.config.shutdown_grace;
    log::info(
        "shutting down",
        serde_json::json!({ "grace_ms": grace.as_millis() as u64, "in_flight": proxy.metrics.in_flight() }),
    );
    let _ = drain.send(true);
    // Every permit back: every connection closed.
    let all = u32::try_from(proxy.config.limits.max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(grace, connections.acquire_many(all)).await {
        Ok(_) => log::info("stopped", serde_json::json!({})),
        Err(_) => log::warn(
            "stopped with requests still in flight after the grace period",
            serde_json::json!({ "in_flight": proxy.metrics.in_flight() }),
        ),
    }
}

/// Connections the kernel completes before the proxy accepts them (capped
/// by `net.core.somaxconn`). The standard 128 drops handshakes in a burst
/// of reconnecting clients, who then wait a second or more to retry.
const LISTEN_BACKLOG: u32 = 1024;

pub(super) fn bind_data(address: SocketAddr) -> std::io::Result<TcpListener> {
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
