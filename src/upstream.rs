//! Stage 4 of the request path: forward an allowed request. The upstream
//! request is built from the parsed request alone (canonical form body, fixed
//! path, a short allowlist of SDK headers), signed with the proxy's own
//! credentials, and sent over a pooled connection with a deadline.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{EndpointTemplate, UpstreamConfig};
use crate::error::ApiError;
use crate::model::{Region, SERVICE};
use crate::request::ElastiCacheRequest;

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Caller headers worth passing on: SDK identification only. Everything else
/// the caller sent is dropped; the proxy forwards what it decided on.
const FORWARDED_HEADERS: [&str; 4] = [
    "user-agent",
    "x-amz-user-agent",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
];

/// Hop-by-hop headers of the upstream response, not passed back.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Credentials to sign one upstream request with. Debug output never shows
/// the secret.
#[derive(Clone, Debug)]
pub struct ProxyCredentials(Credentials);

impl ProxyCredentials {
    pub fn new(credentials: Credentials) -> ProxyCredentials {
        ProxyCredentials(credentials)
    }

    pub fn access_key_id(&self) -> &str {
        self.0.access_key_id()
    }
}

/// Builds the signed upstream request. Pure: the time is passed in.
pub fn build_signed_request(
    request: &ElastiCacheRequest,
    region: &Region,
    endpoint: &EndpointTemplate,
    caller_headers: &HeaderMap,
    credentials: &ProxyCredentials,
    now: SystemTime,
) -> Result<http::Request<Full<Bytes>>, ApiError> {
    let body = Bytes::from(request.to_form_body());
    let authority = endpoint.authority_for(region);
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(endpoint.uri_for(region))
        .header(HOST, &authority)
        .header(CONTENT_TYPE, FORM_CONTENT_TYPE);
    for name in FORWARDED_HEADERS {
        let mut values = caller_headers.get_all(name).iter();
        if let (Some(value), None) = (values.next(), values.next()) {
            if value.to_str().is_ok_and(|v| v.len() <= 512) {
                builder = builder.header(name, value);
            }
        }
    }
    let mut upstream = builder.body(body.clone()).map_err(|e| {
        ApiError::internal_failure(format!("cannot build the upstream request: {e}"))
    })?;

    let identity = credentials.0.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region.as_str())
        .name(SERVICE)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ApiError::internal_failure(format!("cannot sign the upstream request: {e}")))?
        .into();
    let headers: Vec<(&str, &str)> = upstream
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let uri = upstream.uri().to_string();
    let signable =
        SignableRequest::new("POST", uri, headers.into_iter(), SignableBody::Bytes(&body))
            .map_err(|e| {
                ApiError::internal_failure(format!("cannot sign the upstream request: {e}"))
            })?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| ApiError::internal_failure(format!("cannot sign the upstream request: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut upstream);
    Ok(upstream.map(Full::new))
}

/// The upstream's answer, passed back to the caller.
pub struct UpstreamResponse {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A pooled HTTPS/HTTP client for the upstream endpoint.
pub struct Upstream {
    config: UpstreamConfig,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Result<Upstream, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| format!("cannot set up TLS for the upstream: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Upstream { config, client })
    }

    /// Signs and sends an allowed request; the whole exchange is bounded by
    /// the upstream timeout and the response by its size limit.
    pub async fn forward(
        &self,
        request: &ElastiCacheRequest,
        region: &Region,
        caller_headers: &HeaderMap,
        credentials: &ProxyCredentials,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let failed = |error| UpstreamError {
            class: "error",
            error,
        };
        let upstream_request = build_signed_request(
            request,
            region,
            &self.config.endpoint,
            caller_headers,
            credentials,
            SystemTime::now(),
        )
        .map_err(failed)?;
        let max_response_bytes = self.config.max_response_bytes;
        let exchange = async {
            let response = self.client.request(upstream_request).await.map_err(|e| {
                if e.is_connect() {
                    ApiError::service_unavailable(format!(
                        "the upstream endpoint cannot be reached: {}",
                        root_cause(&e)
                    ))
                } else {
                    no_valid_answer(&e)
                }
            })?;
            let (parts, body) = response.into_parts();
            check_status(parts.status)?;
            let body = Limited::new(body, max_response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        ApiError::service_unavailable(format!(
                            "the upstream answer is larger than the limit of {max_response_bytes} bytes"
                        ))
                    } else {
                        no_valid_answer(e.as_ref())
                    }
                })?
                .to_bytes();
            Ok(UpstreamResponse {
                status: parts.status,
                headers: strip_hop_by_hop(parts.headers),
                body,
            })
        };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(result) => result.map_err(failed),
            Err(_) => Err(UpstreamError {
                class: "timeout",
                error: ApiError::service_unavailable(format!(
                    "the upstream endpoint did not answer within {:?}",
                    self.config.timeout
                )),
            }),
        }
    }
}

/// A forward that got no answer: `class` is `timeout` or `error`, for the
/// metrics; `error` is what the caller gets.
#[derive(Debug)]
pub struct UpstreamError {
    pub class: &'static str,
    pub error: ApiError,
}

/// The upstream was reached but its answer was cut short or is not HTTP.
fn no_valid_answer(error: &(dyn std::error::Error + 'static)) -> ApiError {
    ApiError::service_unavailable(format!(
        "the upstream endpoint sent no valid answer: {}",
        root_cause(error)
    ))
}

/// ElastiCache answers with a final status; an informational one or one
/// past 599 (which hyper parses) is no answer to pass on: a 101 would tell
/// the caller its connection had switched protocols.
fn check_status(status: http::StatusCode) -> Result<(), ApiError> {
    if (200..=599).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(ApiError::service_unavailable(format!(
            "the upstream endpoint sent no valid answer: the status `{}` is not a final HTTP status",
            status.as_u16()
        )))
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn strip_hop_by_hop(mut headers: HeaderMap) -> HeaderMap {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // The body is passed back whole; hyper sets its length.
    headers.remove(http::header::CONTENT_LENGTH);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse, ContentType, HttpParts};
    use http::header::HeaderValue;

    fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn credentials() -> ProxyCredentials {
        ProxyCredentials::new(Credentials::new(
            "AKIDPROXYTEST0000001",
            "proxy-test-secret",
            None,
            None,
            "test",
        ))
    }

    #[test]
    fn credentials_are_never_printed() {
        assert!(!format!("{:?}", credentials()).contains("proxy-test-secret"));
    }

    #[test]
    fn builds_a_signed_canonical_request() {
        let (request, _) = parse(&HttpParts {
            method: "POST",
            path: "/",
            query: None,
            content_type: ContentType::One("application/x-www-form-urlencoded"),
            body: b"Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&EC2SecurityGroupOwnerId=1234-5678-1234&EC2SecurityGroupName=app-1&CacheSecurityGroupName=prod-1",
        })
        .unwrap();
        let region = Region::parse("eu-west-1").unwrap();
        let endpoint =
            EndpointTemplate::parse("https://elasticache.{region}.amazonaws.com").unwrap();
        let mut caller = HeaderMap::new();
        caller.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 caller"),
        );
        caller.insert(
            "x-amz-security-token",
            HeaderValue::from_static("caller-token"),
        );
        caller.insert(
            "x-amz-user-agent",
            HeaderValue::from_static("aws-sdk-rust/1"),
        );
        caller.insert("x-evil", HeaderValue::from_static("1"));
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_072_000); // 2025-11-25T12:00:00Z
        let signed =
            build_signed_request(&request, &region, &endpoint, &caller, &credentials(), time)
                .unwrap();
        assert_eq!(signed.uri(), "https://elasticache.eu-west-1.amazonaws.com/");
        assert_eq!(signed.method(), "POST");
        let h = signed.headers();
        assert_eq!(
            header_str(h, "host").unwrap(),
            "elasticache.eu-west-1.amazonaws.com"
        );
        assert_eq!(header_str(h, "x-amz-date").unwrap(), "20251125T120000Z");
        assert_eq!(header_str(h, "x-amz-user-agent").unwrap(), "aws-sdk-rust/1");
        assert!(h.get("x-evil").is_none());
        assert!(h.get("x-amz-security-token").is_none());
        let authz = header_str(h, "authorization").unwrap();
        assert!(
            authz.starts_with("AWS4-HMAC-SHA256 Credential=AKIDPROXYTEST0000001/20251125/eu-west-1/elasticache/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-user-agent, Signature="),
            "{authz}"
        );
        let body = signed.into_body();
        let bytes = futures_body(body);
        assert_eq!(
            bytes,
            "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&CacheSecurityGroupName=prod-1&EC2SecurityGroupName=app-1&EC2SecurityGroupOwnerId=123456781234"
        );
    }

    fn futures_body(body: Full<Bytes>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(body.collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn only_final_statuses_are_answers() {
        for ok in [200, 301, 404, 500, 503, 599] {
            assert!(check_status(http::StatusCode::from_u16(ok).unwrap()).is_ok());
        }
        for bad in [100, 101, 103, 600, 999] {
            let err = check_status(http::StatusCode::from_u16(bad).unwrap()).unwrap_err();
            assert_eq!((err.status, err.code), (503, "ServiceUnavailable"));
            assert!(err.message.contains(&format!("`{bad}`")), "{}", err.message);
        }
    }

    #[test]
    fn drops_hop_by_hop_response_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-amzn-requestid", HeaderValue::from_static("abc"));
        let kept = strip_hop_by_hop(headers);
        assert_eq!(kept.len(), 1);
        assert!(kept.contains_key("x-amzn-requestid"));
    }
}
