//! The admin listener, separate from the data port: `/metrics`, `/healthz`,
//! `/readyz` and `POST /reload`. Plain HTTP; bind it where only operators and
//! the scraper can reach it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::Proxy;
use crate::proxy::log;
use crate::proxy::reload::Trigger;

const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON: &str = "application/json";

pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn(
                    "admin accept failed",
                    serde_json::json!({ "error": e.to_string() }),
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(route(&proxy, request).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                log::debug(
                    "admin connection ended",
                    serde_json::json!({ "peer": peer.to_string(), "error": e.to_string() }),
                );
            }
        });
    }
}

/// Scrapers and probes send their request at once.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn route(proxy: &Arc<Proxy>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    match (request.uri().path(), method) {
        ("/metrics", Method::GET) => {
            // The next exception to end moves as time passes, not only on
            // a reload: read when scraped.
            let now = crate::proxy::log::unix_now();
            let next = proxy.live.current().policy.next_expiry(now);
            proxy.metrics.set_next_expiry(next);
            reply(StatusCode::OK, PROMETHEUS_TEXT, proxy.metrics.render())
        }
        ("/healthz", Method::GET) => reply(StatusCode::OK, TEXT, "ok\n".into()),
        ("/readyz", Method::GET) => match proxy.readiness().await {
            Ok(()) => reply(StatusCode::OK, TEXT, "ready\n".into()),
            Err(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready: {why}\n"),
            ),
        },
        ("/reload", Method::POST) => {
            let reloader = proxy.clone();
            let result = tokio::task::spawn_blocking(move || reloader.reload(Trigger::Admin))
                .await
                .unwrap_or_else(|_| Err("the reload did not finish".to_owned()));
            match result {
                Ok(revision) => reply(
                    StatusCode::OK,
                    JSON,
                    serde_json::json!({ "result": "reloaded", "policy_revision": revision })
                        .to_string(),
                ),
                Err(errors) => reply(
                    StatusCode::BAD_REQUEST,
                    JSON,
                    serde_json::json!({
                        "result": "failed",
                        "errors": errors.lines().collect::<Vec<_>>(),
                        "policy_revision": proxy.live.current().revision,
                    })
                    .to_string(),
                ),
            }
        }
        ("/metrics" | "/healthz" | "/readyz", _) | ("/reload", _) => {
            let allowed = if request.uri().path() == "/reload" {
                "POST"
            } else {
                "GET"
            };
            let mut response = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                format!("use {allowed}\n"),
            );
            if let Ok(value) = header::HeaderValue::from_str(allowed) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: the admin listener serves /metrics, /healthz, /readyz and POST /reload\n"
                .into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
