//! The listener and the request path, readable top to bottom:
//! read the body, parse, read the signature, decide, forward or reject, log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::{self, AuthorizationHeader, CallerDirectory, ClientCertificate};
use crate::config::{Config, Limits};
use crate::decision::RequestFacts;
use crate::error::ApiError;
use crate::log::{self, RequestRecord};
use crate::policy::Policy;
use crate::request::{self, ContentType, HttpParts};
use crate::sigv4::ReceivedRequest;
use crate::upstream::{ProxyCredentials, Upstream, UpstreamResponse};

/// Largest request head (request line and headers) the proxy reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    policy: Policy,
    callers: CallerDirectory,
    /// Whether the listener requires client certificates.
    mtls: bool,
    upstream: Upstream,
    limits: Limits,
}

/// What one accepted connection tells about the client.
struct Connection {
    peer: SocketAddr,
    /// SAN URIs and DNS names of the verified client certificate, if any.
    certificate_identities: Vec<String>,
}

impl Proxy {
    pub fn new(
        config: &Config,
        policy: Policy,
        callers: CallerDirectory,
        credentials: ProxyCredentials,
    ) -> Result<Proxy, String> {
        Ok(Proxy {
            policy,
            callers,
            mtls: config
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca.is_some()),
            upstream: Upstream::new(config.upstream.clone(), credentials)?,
            limits: config.limits.clone(),
        })
    }

    /// One request, from bytes to the upstream's answer or a rejection.
    async fn process(
        &self,
        request: Request<Incoming>,
        connection: &Connection,
        record: &mut RequestRecord,
    ) -> Result<UpstreamResponse, ApiError> {
        let (parts, body) = request.into_parts();
        let body = read_body(body, &parts.headers, &self.limits).await?;

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

        let signature = auth::caller_signature(
            match single_header(&parts.headers, AUTHORIZATION.as_str()) {
                Single::Absent => AuthorizationHeader::Absent,
                Single::One(v) => AuthorizationHeader::One(v),
                Single::Unreadable => AuthorizationHeader::Unreadable,
            },
            &query_auth,
        )?;
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let caller = auth::authenticate(
            &self.callers,
            &signature,
            &received,
            ClientCertificate {
                required: self.mtls,
                identities: &connection.certificate_identities,
            },
            now,
        )?;
        record.caller = Some(caller.caller.clone());
        record.auth_method = Some(caller.method);
        let region = signature.scope.region;
        record.region = Some(region.clone());

        let facts = RequestFacts::of(&parsed, &region, Some(&caller.caller));
        let decision = self.policy.is_authorized(&facts);
        record.decision = Some(decision.decision);
        record.rules = decision.reason.clone();
        if !decision.is_allowed() {
            return Err(ApiError::invalid_parameter_combination(
                decision.denial_message(&facts),
            ));
        }

        let answer = self
            .upstream
            .forward(&parsed, &region, &parts.headers)
            .await?;
        record.upstream_status = Some(answer.status.as_u16());
        Ok(answer)
    }
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(config: Config, proxy: Proxy) -> Result<(), String> {
    let tls = match &config.tls {
        Some(settings) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            settings,
        )?)),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on `{}`: {e}", config.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    log::info(
        "listening",
        serde_json::json!({
            "addr": address.to_string(),
            "scheme": if tls.is_some() { "https" } else { "http" },
            "client_certificates": if proxy.mtls { "required" } else { "not requested" },
            "rules": proxy.policy.rule_count(),
            "policy": config.policy_path.display().to_string(),
            "upstream_access_key_id": proxy.upstream.credentials().access_key_id(),
        }),
    );
    if let CallerDirectory::Trusted(name) = &proxy.callers {
        log::warn(
            "callers: none: every request is treated as the trusted caller without authentication; \
             use this only for a sidecar that nothing else can reach",
            serde_json::json!({ "trusted_caller": name }),
        );
    }
    let proxy = Arc::new(proxy);
    let connections = Arc::new(Semaphore::new(config.limits.max_connections));
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
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let proxy = proxy.clone();
        let tls = tls.clone();
        let handshake_timeout = config.limits.header_read_timeout;
        tokio::spawn(async move {
            match tls {
                None => {
                    let connection = Connection {
                        peer,
                        certificate_identities: Vec::new(),
                    };
                    serve_connection(proxy, TokioIo::new(stream), connection).await;
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
                            serve_connection(proxy, TokioIo::new(stream), connection).await;
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
            drop(permit);
        });
    }
    log::info("shutting down", serde_json::json!({}));
    Ok(())
}

async fn serve_connection<I>(proxy: Arc<Proxy>, io: I, connection: Connection)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let header_read_timeout = proxy.limits.header_read_timeout;
    let connection = Arc::new(connection);
    let peer = connection.peer;
    let service = service_fn(move |request| handle(proxy.clone(), request, connection.clone()));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    if let Err(e) = builder.serve_connection(io, service).await {
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
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let mut record = RequestRecord::new(log::new_request_id(), connection.peer);
    let response = match proxy.process(request, &connection, &mut record).await {
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
    record.finish(started.elapsed());
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
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::malformed_query_string(format!(
            "the request body could not be read: {e}"
        ))),
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
    fn error_responses_carry_the_request_id_twice() {
        let response = error_response(&ApiError::invalid_parameter_combination("no"), "id-123");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "text/xml");
        assert_eq!(response.headers()["x-amzn-requestid"], "id-123");
    }
}
