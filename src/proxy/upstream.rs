//! Stage 4 of the request path: forward an allowed request. The upstream
//! request is built from the parsed request alone (canonical form body, fixed
//! path, a short allowlist of SDK headers), signed with the proxy's own
//! credentials, and sent over a pooled connection with a deadline.
//!
//! The request is the proxy's own and always the same shape: its canonical
//! form comes from `sigv4` (the verifier's, checked against AWS's test
//! vectors) and aws-sigv4 computes the signature from a signing key kept
//! per day and region (see `SigningKeys`); the tests
//! check every shape against aws-sigv4's full request signer, and the
//! end-to-end upstream against botocore's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::ServiceError;
use crate::model::{Region, SERVICE};
use crate::proxy::config::{EndpointTemplate, UpstreamConfig};
use crate::request::ElastiCacheRequest;
use crate::sigv4::{self, DailyKeys, Location, ReceivedRequest};

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Caller headers worth passing on: SDK identification only. Everything else
/// the caller sent is dropped; the proxy forwards what it decided on.
const FORWARDED_HEADERS: [HeaderName; 4] = [
    USER_AGENT,
    HeaderName::from_static("x-amz-user-agent"),
    HeaderName::from_static("amz-sdk-invocation-id"),
    HeaderName::from_static("amz-sdk-request"),
];

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");

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

/// Builds the signed upstream request. Pure: the time is passed in, and
/// `keys` only saves work (the same key is derived either way).
pub fn build_signed_request(
    request: &ElastiCacheRequest,
    region: &Region,
    endpoint: &EndpointTemplate,
    caller_headers: &HeaderMap,
    credentials: &ProxyCredentials,
    now: SystemTime,
    keys: &SigningKeys,
) -> Result<http::Request<Full<Bytes>>, ServiceError> {
    let body = Bytes::from(request.to_form_body());
    let amz_date = sigv4::format_amz_date(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    );
    let credentials = &credentials.0;
    // Every header the upstream gets, lowercase names, sorted: the signed
    // ones are exactly these but `user-agent`, which intermediaries rewrite
    // (aws-sigv4 leaves it out for the same reason).
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(8);
    let authority = endpoint.authority_for(region);
    headers.push((HOST, header_value(&authority)?));
    headers.push((CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE)));
    headers.push((X_AMZ_DATE, header_value(&amz_date)?));
    if let Some(token) = credentials.session_token() {
        headers.push((X_AMZ_SECURITY_TOKEN, header_value(token)?));
    }
    for name in FORWARDED_HEADERS {
        let mut values = caller_headers.get_all(&name).iter();
        if let (Some(value), None) = (values.next(), values.next()) {
            if value.to_str().is_ok_and(|v| v.len() <= 512) {
                headers.push((name, value.clone()));
            }
        }
    }
    headers.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));

    let date = &amz_date[..8];
    let scope = sigv4::credential_scope(date, region.as_str(), SERVICE);
    // Values are visible ASCII: they came from `&str` or passed `to_str`.
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or_default()))
        .collect();
    let signed_headers: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| *name != USER_AGENT)
        .map(|(name, _)| name.as_str())
        .collect();
    let canonical = sigv4::canonical_request_of(
        &ReceivedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &pairs,
            body: &body,
        },
        Location::Header,
        &signed_headers,
    )
    .map_err(|e| ServiceError::UpstreamSigning(e.to_string()))?;
    let string_to_sign = sigv4::string_to_sign(&amz_date, &scope, &canonical);
    let key = keys.key_for(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        date,
        region.as_str(),
        now,
    );
    let signature = v4::calculate_signature(&*key, string_to_sign.as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        credentials.access_key_id(),
        signed_headers.join(";")
    );
    let uri = http::Uri::builder()
        .scheme(endpoint.scheme())
        .authority(authority)
        .path_and_query("/")
        .build()
        .map_err(|e| ServiceError::UpstreamRequest(e.to_string()))?;

    let mut upstream = http::Request::new(Full::new(body));
    *upstream.method_mut() = http::Method::POST;
    *upstream.uri_mut() = uri;
    let map = upstream.headers_mut();
    map.reserve(headers.len() + 1);
    for (name, value) in headers {
        map.insert(name, value);
    }
    map.insert(AUTHORIZATION, header_value(&authorization)?);
    Ok(upstream)
}

fn header_value(text: &str) -> Result<HeaderValue, ServiceError> {
    HeaderValue::from_str(text)
        .map_err(|_| ServiceError::UpstreamRequest("a header value is not valid".to_owned()))
}

/// Signing keys derived by aws-sigv4, kept per (credentials, day, region):
/// the derivation is four HMACs, the same all day, and the upstream request
/// is signed on every allowed call. A handful of entries: one identity, or
/// one per assumed-role session in use, times the regions called.
pub struct SigningKeys(DailyKeys<SigningIdentity, Arc<[u8]>>);

/// (access key id, secret access key, region)
type SigningIdentity = (String, String, String);

const SIGNING_KEYS_KEPT: usize = 32;

impl Default for SigningKeys {
    fn default() -> Self {
        SigningKeys::new()
    }
}

impl SigningKeys {
    pub fn new() -> SigningKeys {
        SigningKeys(DailyKeys::new(SIGNING_KEYS_KEPT))
    }

    fn key_for(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        date: &str,
        region: &str,
        now: SystemTime,
    ) -> Arc<[u8]> {
        self.0.get_or_derive(
            date,
            |(id, secret, r)| id == access_key_id && secret == secret_access_key && r == region,
            || {
                let key = v4::generate_signing_key(secret_access_key, now, region, SERVICE);
                (
                    (
                        access_key_id.to_owned(),
                        secret_access_key.to_owned(),
                        region.to_owned(),
                    ),
                    Arc::from(key.as_ref()),
                )
            },
        )
    }
}

/// The upstream's answer, passed back to the caller.
pub struct UpstreamResponse {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Pooled HTTPS/HTTP clients for the upstream endpoint, one per worker
/// thread: a pooled connection is driven by the runtime that opened it, so
/// each worker reuses its own.
pub struct Upstream {
    config: UpstreamConfig,
    keys: SigningKeys,
    clients: Vec<UpstreamClient>,
}

impl Upstream {
    pub fn new(config: UpstreamConfig, workers: usize) -> Result<Upstream, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Each request goes out in one write and waits for its answer:
        // Nagle's algorithm could only hold it back.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| format!("cannot set up TLS for the upstream: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let clients = (0..workers.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build(connector.clone())
            })
            .collect();
        Ok(Upstream {
            config,
            keys: SigningKeys::new(),
            clients,
        })
    }

    /// Signs and sends an allowed request; the whole exchange is bounded by
    /// the upstream timeout and the response by its size limit.
    pub async fn forward(
        &self,
        request: &ElastiCacheRequest,
        region: &Region,
        caller_headers: &HeaderMap,
        credentials: &ProxyCredentials,
    ) -> Result<UpstreamResponse, ServiceError> {
        let upstream_request = build_signed_request(
            request,
            region,
            &self.config.endpoint,
            caller_headers,
            credentials,
            SystemTime::now(),
            &self.keys,
        )?;
        let max_response_bytes = self.config.max_response_bytes;
        let exchange = async {
            let client = &self.clients[crate::proxy::workers::current() % self.clients.len()];
            let response = client.request(upstream_request).await.map_err(|e| {
                if e.is_connect() {
                    ServiceError::UpstreamUnreachable(root_cause(&e))
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
                        ServiceError::UpstreamAnswerTooLarge {
                            limit: max_response_bytes,
                        }
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
            Ok(result) => result,
            Err(_) => Err(ServiceError::UpstreamTimeout(self.config.timeout)),
        }
    }
}

/// How a forward that got no answer is counted: `timeout` or `error`.
pub fn failure_class(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::UpstreamTimeout(_) => "timeout",
        _ => "error",
    }
}

/// The upstream was reached but its answer was cut short or is not HTTP.
fn no_valid_answer(error: &(dyn std::error::Error + 'static)) -> ServiceError {
    ServiceError::UpstreamAnswerInvalid(root_cause(error))
}

/// ElastiCache answers with a final status; an informational one or one
/// past 599 (which hyper parses) is no answer to pass on: a 101 would tell
/// the caller its connection had switched protocols.
fn check_status(status: http::StatusCode) -> Result<(), ServiceError> {
    if (200..=599).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(ServiceError::UpstreamNotFinal(status.as_u16()))
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
    use crate::request::{parse, HttpParts, SingleHeader};
    use http::header::HeaderValue;

    fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
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
            content_type: SingleHeader::One("application/x-www-form-urlencoded"),
            body: b"Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&EC2SecurityGroupOwnerId=1234-5678-1234&EC2SecurityGroupName=app-1&CacheSecurityGroupName=prod-1",
        })
        .unwrap();
        let region = Region::parse("eu-west-1").unwrap();
        let endpoint =
            EndpointTemplate::parse("https://elasticache.{region}.amazonaws.com").unwrap();
        let caller = header_map(&[
            ("authorization", "AWS4-HMAC-SHA256 caller"),
            ("x-amz-security-token", "caller-token"),
            ("x-amz-user-agent", "aws-sdk-rust/1"),
            ("x-evil", "1"),
        ]);
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_072_000); // 2025-11-25T12:00:00Z
        let signed = build_signed_request(
            &request,
            &region,
            &endpoint,
            &caller,
            &credentials(),
            time,
            &SigningKeys::new(),
        )
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

    #[test]
    fn signing_keys_follow_the_day_the_region_and_the_secret() {
        let keys = SigningKeys::new();
        let day = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_072_000);
        let a = keys.key_for("AKID", "secret-1", "20251125", "us-east-1", day);
        assert_eq!(
            a,
            keys.key_for("AKID", "secret-1", "20251125", "us-east-1", day)
        );
        assert_ne!(
            a,
            keys.key_for("AKID", "secret-2", "20251125", "us-east-1", day)
        );
        assert_ne!(
            a,
            keys.key_for("AKID", "secret-1", "20251125", "eu-west-1", day)
        );
        assert_eq!(keys.0.len(), 3);
        let next_day = day + Duration::from_secs(86_400);
        let b = keys.key_for("AKID", "secret-1", "20251126", "us-east-1", next_day);
        assert_ne!(a, b);
        assert_eq!(keys.0.len(), 1, "yesterday's keys are dropped");
        for i in 0..100 {
            keys.key_for(&format!("ASIA{i}"), "s", "20251126", "us-east-1", next_day);
        }
        assert_eq!(keys.0.len(), SIGNING_KEYS_KEPT);
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
            let err = crate::error::Rejection::from(
                check_status(http::StatusCode::from_u16(bad).unwrap()).unwrap_err(),
            )
            .answer();
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
