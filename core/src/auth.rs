//! Stage 2 of the request path: who is calling. Read the caller's SigV4
//! signature (the `Authorization` header or the query string) into a typed
//! value, whose credential scope gives the request's region, then verify it
//! against the callers file and the client certificate. No I/O, no clock.

use crate::caller_tags::CallerTags;
use crate::error::{AuthError, Rejection};
use crate::model::{Region, SERVICE};
use crate::request::{QueryAuth, SingleHeader};
use crate::sigv4::{Location, ALGORITHM};
use crate::text::quoted;

/// `AKID/YYYYMMDD/REGION/elasticache/aws4_request`
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: Region,
}

/// The caller's signature, parsed but not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerSignature {
    pub location: Location,
    pub scope: CredentialScope,
    /// Lowercase header names, in the order given.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
    /// `X-Amz-Date` of a query-string signature (header signatures carry it
    /// as a header).
    pub query_date: Option<String>,
    /// `X-Amz-Expires` of a query-string signature, in seconds.
    pub query_expires: Option<u32>,
}

// The signature is a secret-derived value: keep it out of debug output.
impl std::fmt::Debug for CallerSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerSignature")
            .field("location", &self.location)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

/// Finds and parses the caller's signature: `None` when the request is not
/// signed (whether that is allowed is for [`authenticate`] to say). At most
/// one form may be used.
pub fn caller_signature(
    header: SingleHeader<'_>,
    query: &QueryAuth,
) -> Result<Option<CallerSignature>, AuthError> {
    match (header, query.is_empty()) {
        (SingleHeader::Absent, true) => Ok(None),
        (SingleHeader::Unreadable, _) => Err(AuthError::SeveralAuthorizations),
        (SingleHeader::One(_), false) => Err(AuthError::BothSignatureForms),
        (SingleHeader::One(value), true) => parse_authorization_header(value).map(Some),
        (SingleHeader::Absent, false) => parse_query_signature(query).map(Some),
    }
}

/// A signature whose syntax is wrong; the detail names the part at fault.
fn syntax(detail: impl Into<String>) -> AuthError {
    AuthError::Syntax(detail.into())
}

/// The region a request is for: its signature's credential scope; for an
/// unsigned request (a `certificate_only` caller's), the region a Host of
/// the form `elasticache.REGION.amazonaws.com` names, else the configured
/// `region`.
pub fn request_region(
    signature: Option<CallerSignature>,
    host: Option<&str>,
    configured: Option<&Region>,
) -> Result<Region, Rejection> {
    if let Some(signature) = signature {
        return Ok(signature.scope.region);
    }
    if let Some(region) = host.and_then(region_of_host) {
        return Ok(region);
    }
    configured.cloned().ok_or(Rejection::NoRegion)
}

/// `elasticache.us-east-1.amazonaws.com[:port]` (and `.amazonaws.com.cn`).
fn region_of_host(host: &str) -> Option<Region> {
    let host = host.to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    let rest = name.strip_prefix("elasticache.")?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    Region::parse(region)
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization_header(value: &str) -> Result<CallerSignature, AuthError> {
    let value = value.trim();
    let Some((algorithm, rest)) = value.split_once(' ') else {
        return Err(syntax(
            "`Authorization` is not a SigV4 header: expected `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`",
        ));
    };
    check_algorithm(algorithm)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        let Some((key, val)) = component.split_once('=') else {
            return Err(syntax(format!(
                "`Authorization` component {} is not `Key=Value`",
                quoted(component)
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(syntax(format!(
                    "`Authorization` has an unknown component {}",
                    quoted(other)
                )))
            }
        };
        if slot.replace(val).is_some() {
            return Err(syntax(format!(
                "`Authorization` repeats the component `{key}`"
            )));
        }
    }
    let missing = |name: &str| syntax(format!("`Authorization` lacks the component `{name}`"));
    Ok(CallerSignature {
        location: Location::Header,
        scope: parse_credential(credential.ok_or_else(|| missing("Credential"))?)?,
        signed_headers: parse_signed_headers(
            signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        )?,
        signature: parse_signature(signature.ok_or_else(|| missing("Signature"))?)?,
        query_date: None,
        query_expires: None,
    })
}

fn parse_query_signature(query: &QueryAuth) -> Result<CallerSignature, AuthError> {
    let required = |name: &str| {
        query.get(name).ok_or_else(|| {
            syntax(format!(
                "query-string signature lacks the parameter `{name}`"
            ))
        })
    };
    check_algorithm(required("X-Amz-Algorithm")?)?;
    let scope = parse_credential(required("X-Amz-Credential")?)?;
    let signed_headers = parse_signed_headers(required("X-Amz-SignedHeaders")?)?;
    let signature = parse_signature(required("X-Amz-Signature")?)?;
    let date = required("X-Amz-Date")?;
    let expires = match query.get("X-Amz-Expires") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .ok()
                .filter(|s| (1..=604_800).contains(s))
                .ok_or_else(|| {
                    syntax(format!(
                        "`X-Amz-Expires` {} is not a number of seconds from 1 to 604800",
                        quoted(raw)
                    ))
                })?,
        ),
    };
    Ok(CallerSignature {
        location: Location::QueryString,
        scope,
        signed_headers,
        signature,
        query_date: Some(date.to_owned()),
        query_expires: expires,
    })
}

fn check_algorithm(algorithm: &str) -> Result<(), AuthError> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(syntax(format!(
            "unsupported signing algorithm {}: use `{ALGORITHM}`",
            quoted(algorithm)
        )))
    }
}

/// Parses `AKID/YYYYMMDD/REGION/elasticache/aws4_request`.
pub fn parse_credential(credential: &str) -> Result<CredentialScope, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(syntax(format!(
            "credential {} is not `ACCESS_KEY_ID/YYYYMMDD/REGION/elasticache/aws4_request`",
            quoted(credential)
        )));
    };
    // Only what could not be a key at all is malformed here: whether the
    // key is one the callers file issued is `authenticate`'s question, and a
    // trusted sidecar accepts LocalStack-style keys such as `test`.
    let key_ok = (1..=128).contains(&access_key_id.len())
        && access_key_id.bytes().all(|b| b.is_ascii_graphic());
    if !key_ok {
        return Err(syntax(format!(
            "access key id {} is malformed",
            quoted(access_key_id)
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax(format!(
            "credential date {} is not YYYYMMDD",
            quoted(date)
        )));
    }
    let region = Region::parse(region).ok_or_else(|| {
        syntax(format!(
            "credential scope region {} is not an AWS region name",
            quoted(region)
        ))
    })?;
    if service != SERVICE {
        return Err(syntax(format!(
            "credential should be scoped to the service `{SERVICE}`, not {}",
            quoted(service)
        )));
    }
    if terminator != "aws4_request" {
        return Err(syntax(format!(
            "credential should end in `aws4_request`, not {}",
            quoted(terminator)
        )));
    }
    Ok(CredentialScope {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region,
    })
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = list.split(';').map(str::to_owned).collect();
    let well_formed = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            })
    });
    if !well_formed {
        return Err(syntax(format!(
            "SignedHeaders {} is not a `;`-separated list of lowercase header names",
            quoted(list)
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(syntax("SignedHeaders must include `host`"));
    }
    Ok(names)
}

fn parse_signature(signature: &str) -> Result<String, AuthError> {
    if signature.len() == 64
        && signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(signature.to_owned())
    } else {
        // The value itself stays out of the message: it is secret-derived.
        Err(syntax("Signature is not 64 lowercase hex digits"))
    }
}

/// Where the proxy learns who is calling.
#[derive(Debug)]
pub enum CallerDirectory {
    /// Every caller is authenticated against the callers file.
    Callers(crate::callers::Callers),
    /// `callers: none`: every request is this caller (loopback sidecars only).
    Trusted(TrustedCaller),
}

/// The one caller of a sidecar with `callers: none`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrustedCaller {
    pub name: String,
    pub tags: CallerTags,
}

impl TrustedCaller {
    /// A trusted caller without tags.
    pub fn named(name: &str) -> TrustedCaller {
        TrustedCaller {
            name: name.to_owned(),
            tags: CallerTags::default(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuthMethod {
    Sigv4,
    ClientCertificate,
    Trusted,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Sigv4 => "sigv4",
            AuthMethod::ClientCertificate => "client_certificate",
            AuthMethod::Trusted => "trusted",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Authenticated {
    pub caller: String,
    pub method: AuthMethod,
    pub tags: CallerTags,
}

/// What the connection says about the client.
#[derive(Clone, Copy, Debug)]
pub struct ClientCertificate<'a> {
    /// Whether the listener requires client certificates (mTLS).
    pub required: bool,
    /// SAN URIs and DNS names of the verified client certificate.
    pub identities: &'a [String],
}

/// Stage 2b: who is calling. Pure: the time is passed in. A request need
/// not be signed only when a verified client certificate alone identifies
/// its caller (`certificate_only`).
pub fn authenticate(
    directory: &CallerDirectory,
    signature: Option<&CallerSignature>,
    received: &crate::sigv4::ReceivedRequest<'_>,
    certificate: ClientCertificate<'_>,
    now_unix_secs: i64,
) -> Result<Authenticated, AuthError> {
    let callers = match (directory, signature) {
        // The trusted sidecar verifies nothing, so it takes what SDKs send
        // locally: any key, or no signature (the region then comes from the
        // Host or the config, see `request_region`).
        (CallerDirectory::Trusted(trusted), _) => {
            return Ok(Authenticated {
                caller: trusted.name.clone(),
                method: AuthMethod::Trusted,
                tags: trusted.tags.clone(),
            })
        }
        (CallerDirectory::Callers(callers), _) => callers,
    };
    let certificate_caller = certificate
        .identities
        .iter()
        .find_map(|identity| callers.by_tls_identity(identity));
    if certificate.required && certificate_caller.is_none() {
        return Err(AuthError::CertificateUnknown(
            certificate.identities.first().cloned(),
        ));
    }
    if let Some(caller) = certificate_caller.filter(|c| c.certificate_only) {
        return Ok(Authenticated {
            caller: caller.name.clone(),
            method: AuthMethod::ClientCertificate,
            tags: caller.tags.clone(),
        });
    }
    let Some(signature) = signature else {
        return Err(AuthError::Unsigned);
    };

    let key_id = signature.scope.access_key_id.as_str();
    let (caller, secret) = callers
        .by_access_key_id(key_id)
        .and_then(|c| Some((c, c.secret_access_key.as_ref()?)))
        .ok_or_else(|| AuthError::UnknownKey(key_id.to_owned()))?;
    let claim = crate::sigv4::Claim {
        location: signature.location,
        access_key_id: key_id,
        scope_date: &signature.scope.date,
        region: signature.scope.region.as_str(),
        service: SERVICE,
        signed_headers: &signature.signed_headers,
        signature: &signature.signature,
        query_date: signature.query_date.as_deref(),
        query_expires: signature.query_expires,
    };
    crate::sigv4::verify_with_key(
        received,
        &claim,
        |date, region, service| secret.signing_key(date, region, service),
        now_unix_secs,
    )
    .map_err(AuthError::Verify)?;

    if let Some(cert_caller) = certificate_caller {
        if cert_caller.name != caller.name {
            return Err(AuthError::CertificateMismatch {
                certificate: cert_caller.name.clone(),
                signer: caller.name.clone(),
            });
        }
    }
    Ok(Authenticated {
        caller: caller.name.clone(),
        method: AuthMethod::Sigv4,
        tags: caller.tags.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, SignatureFailure};

    /// What the caller would see.
    fn wire(e: impl Into<Rejection>) -> ApiError {
        e.into().answer()
    }

    const SIG: &str = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";

    fn header(value: &str) -> Result<CallerSignature, ApiError> {
        caller_signature(SingleHeader::One(value), &QueryAuth::default())
            .map(|s| s.expect("a signature"))
            .map_err(wire)
    }

    #[test]
    fn parses_a_header_signature() {
        let sig = header(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/eu-west-1/elasticache/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={SIG}"
        ))
        .unwrap();
        assert_eq!(sig.scope.region.as_str(), "eu-west-1");
        assert_eq!(sig.scope.access_key_id, "AKIDEXAMPLE0000001");
        assert_eq!(sig.scope.date, "20261125");
        assert_eq!(sig.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(sig.location, Location::Header);
        assert!(!format!("{sig:?}").contains(SIG));
    }

    #[test]
    fn parses_a_query_signature() {
        let mut query = QueryAuth::default();
        for (k, v) in [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKIDEXAMPLE0000001/20261125/us-east-1/elasticache/aws4_request",
            ),
            ("X-Amz-Date", "20261125T120000Z"),
            ("X-Amz-Expires", "300"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", SIG),
        ] {
            let name = crate::request::QUERY_AUTH_PARAMS
                .iter()
                .find(|p| **p == k)
                .unwrap();
            query.params.insert(name, v.to_owned());
        }
        let sig = caller_signature(SingleHeader::Absent, &query)
            .unwrap()
            .unwrap();
        assert_eq!(sig.location, Location::QueryString);
        assert_eq!(sig.scope.region.as_str(), "us-east-1");
        assert_eq!(sig.query_expires, Some(300));
        let both =
            wire(caller_signature(SingleHeader::One("AWS4-HMAC-SHA256 x"), &query).unwrap_err());
        assert_eq!(both.code, "IncompleteSignature");
        query.params.remove("X-Amz-Signature");
        let err = wire(caller_signature(SingleHeader::Absent, &query).unwrap_err());
        assert_eq!(err.code, "IncompleteSignature");
        assert!(err.message.contains("X-Amz-Signature"));
    }

    #[test]
    fn no_signature_at_all() {
        assert_eq!(
            caller_signature(SingleHeader::Absent, &QueryAuth::default()),
            Ok(None)
        );
    }

    #[test]
    fn the_region_of_an_unsigned_request() {
        let us_west_2 = Region::parse("us-west-2").unwrap();
        let region = |host| request_region(None, host, Some(&us_west_2)).unwrap();
        assert_eq!(
            region(Some("elasticache.eu-west-1.amazonaws.com")).as_str(),
            "eu-west-1"
        );
        assert_eq!(
            region(Some("ElastiCache.EU-WEST-1.amazonaws.com:443")).as_str(),
            "eu-west-1"
        );
        assert_eq!(
            region(Some("elasticache.cn-north-1.amazonaws.com.cn")).as_str(),
            "cn-north-1"
        );
        for other in [
            "proxy.internal:8443",
            "elasticache.evil.example",
            "elasticache..amazonaws.com",
            "x.elasticache.us-east-1.amazonaws.com",
        ] {
            assert_eq!(region(Some(other)).as_str(), "us-west-2", "{other}");
        }
        assert_eq!(region(None).as_str(), "us-west-2");
        let err = request_region(None, Some("127.0.0.1:8443"), None)
            .unwrap_err()
            .answer();
        assert_eq!((err.status, err.code), (400, "MissingParameter"));
        assert!(
            err.message.contains("set `region` in its config"),
            "{}",
            err.message
        );
        // A signature's scope names the region, whatever the Host says.
        let signed = header(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/ap-south-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"
        ))
        .unwrap();
        assert_eq!(
            request_region(
                Some(signed),
                Some("elasticache.eu-west-1.amazonaws.com"),
                Some(&us_west_2)
            )
            .unwrap()
            .as_str(),
            "ap-south-1"
        );
    }

    #[test]
    fn any_key_shape_parses_and_only_the_callers_file_says_whose_it_is() {
        for key in ["test", "AKID", "local_dev-key.1"] {
            let sig = header(&format!(
                "AWS4-HMAC-SHA256 Credential={key}/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"
            ))
            .unwrap();
            assert_eq!(sig.scope.access_key_id, key);
        }
        let too_long = "K".repeat(129);
        let err = header(&format!(
            "AWS4-HMAC-SHA256 Credential={too_long}/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"
        ))
        .unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
    }

    #[test]
    fn rejects_malformed_headers() {
        let good_cred = "AKIDEXAMPLE0000001/20261125/us-east-1/elasticache/aws4_request";
        for bad in [
            String::new(),
            "Bearer abc".to_owned(),
            format!("AWS4-HMAC-SHA1 Credential={good_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, Credential={good_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={SIG}, Extra=1"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=Host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=x-amz-date, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature=abc"),
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host;;x, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/evil.example/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/2026112/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/us-east-1/elasticache/aws4_request/x, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/us-east-1/elasticache/aws4_requesx, SignedHeaders=host, Signature={SIG}"),
        ] {
            let err = header(&bad).unwrap_err();
            assert_eq!(err.code, "IncompleteSignature", "{bad}");
            assert!(!err.message.contains(SIG), "{}", err.message);
        }
        let err =
            wire(caller_signature(SingleHeader::Unreadable, &QueryAuth::default()).unwrap_err());
        assert_eq!(err.code, "IncompleteSignature");
    }

    /// `authenticate` against requests signed by aws-sigv4, the signer inside
    /// aws-sdk-rust: an implementation that is not ours.
    mod authentication {
        use super::*;
        use crate::callers;
        use crate::request::{self, HttpParts, SingleHeader};
        use crate::sdk_signer::{self, Signed};
        use crate::sigv4::ReceivedRequest;
        use aws_sigv4::http_request::SignatureLocation as Placement;
        use std::time::{Duration, UNIX_EPOCH};

        const CI_KEY: &str = "AKIAEXAMPLECI0000001";
        const CI_SECRET: &str = "ci-secret-0123456789abcdef";
        /// 2026-11-25T00:00:00Z
        const NOW: i64 = 1_795_564_800;
        const BODY: &str = "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
            &CacheSecurityGroupName=prod-cache&EC2SecurityGroupName=app-web\
            &EC2SecurityGroupOwnerId=123456781234";

        impl Signed {
            fn set_header(&mut self, name: &str, value: &str) {
                for (n, v) in &mut self.headers {
                    if n == name {
                        *v = value.to_owned();
                    }
                }
            }
        }

        fn directory() -> CallerDirectory {
            CallerDirectory::Callers(
                callers::compile("callers.yaml", callers::tests::FILE).unwrap(),
            )
        }

        fn sign_with_sdk_signer(
            key: &str,
            secret: &str,
            placement: Placement,
            expires: Option<u64>,
        ) -> Signed {
            sdk_signer::sign_form(
                key,
                secret,
                "us-east-1",
                UNIX_EPOCH + Duration::from_secs(NOW as u64),
                BODY,
                placement,
                expires.map(Duration::from_secs),
            )
        }

        fn header_signed() -> Signed {
            sign_with_sdk_signer(CI_KEY, CI_SECRET, Placement::Headers, None)
        }

        /// The server's stages 1 and 2, without sockets.
        fn run(
            directory: &CallerDirectory,
            signed: &Signed,
            certificate: ClientCertificate<'_>,
            now: i64,
        ) -> Result<Authenticated, ApiError> {
            let header = |name: &str| signed.header(name);
            let (_, query_auth) = request::parse(&HttpParts {
                method: signed.method,
                path: "/",
                query: signed.query.as_deref(),
                content_type: header("content-type")
                    .map_or(SingleHeader::Absent, SingleHeader::One),
                body: signed.body.as_bytes(),
            })
            .map_err(wire)?;
            let signature = caller_signature(
                header("authorization").map_or(SingleHeader::Absent, SingleHeader::One),
                &query_auth,
            )
            .map_err(wire)?;
            let headers = signed.header_pairs();
            let received = ReceivedRequest {
                method: signed.method,
                path: "/",
                query: signed.query.as_deref(),
                headers: &headers,
                body: signed.body.as_bytes(),
            };
            authenticate(directory, signature.as_ref(), &received, certificate, now).map_err(
                |failure| {
                    REASON.with(|r| r.set(Some(failure.reason())));
                    wire(failure)
                },
            )
        }

        thread_local! {
            /// The reason of the last failure `run` saw on this test thread.
            static REASON: std::cell::Cell<Option<SignatureFailure>> = const { std::cell::Cell::new(None) };
        }

        fn last_reason() -> Option<SignatureFailure> {
            REASON.with(|r| r.take())
        }

        const NO_CERT: ClientCertificate<'static> = ClientCertificate {
            required: false,
            identities: &[],
        };

        fn code(result: Result<Authenticated, ApiError>) -> (&'static str, u16, String) {
            let err = result.unwrap_err();
            (err.code, err.status, err.message)
        }

        #[test]
        fn accepts_the_sdk_signers_header_form_with_content_length_and_user_agent() {
            let signed = header_signed();
            let authorization = signed.header("authorization").unwrap();
            assert!(
                authorization.contains("content-length")
                    && authorization.contains("x-amz-user-agent"),
                "{authorization}"
            );
            let caller = run(&directory(), &signed, NO_CERT, NOW).unwrap();
            assert_eq!(caller.caller, "ci-deployer");
            assert_eq!(caller.method, AuthMethod::Sigv4);
        }

        #[test]
        fn accepts_the_sdk_signers_presigned_form() {
            let signed = sign_with_sdk_signer(CI_KEY, CI_SECRET, Placement::QueryParams, Some(60));
            assert!(signed
                .query
                .as_deref()
                .unwrap()
                .contains("X-Amz-Signature="));
            assert_eq!(
                run(&directory(), &signed, NO_CERT, NOW).unwrap().caller,
                "ci-deployer"
            );
            assert_eq!(
                run(&directory(), &signed, NO_CERT, NOW + 60)
                    .unwrap()
                    .caller,
                "ci-deployer"
            );
            let (code, status, _) = code(run(&directory(), &signed, NO_CERT, NOW + 61));
            assert_eq!((code, status), ("RequestExpired", 400));
        }

        #[test]
        fn unknown_key_and_wrong_secret() {
            let unknown =
                sign_with_sdk_signer("AKIAUNKNOWN000000001", CI_SECRET, Placement::Headers, None);
            let (c, status, message) = code(run(&directory(), &unknown, NO_CERT, NOW));
            assert_eq!((c, status), ("InvalidClientTokenId", 403));
            assert_eq!(last_reason(), Some(SignatureFailure::UnknownKey));
            assert!(message.contains("`AKIAUNKNOWN000000001`"), "{message}");

            let wrong = sign_with_sdk_signer(
                CI_KEY,
                "not-the-right-secret-0000",
                Placement::Headers,
                None,
            );
            let (c, status, _) = code(run(&directory(), &wrong, NO_CERT, NOW));
            assert_eq!((c, status), ("SignatureDoesNotMatch", 403));
            assert_eq!(last_reason(), Some(SignatureFailure::Mismatch));

            // `callers: none`: nothing is verified, every request is the trusted caller.
            let no_secret = CallerDirectory::Trusted(TrustedCaller::named("local-app"));
            let caller = run(&no_secret, &wrong, NO_CERT, NOW).unwrap();
            assert_eq!(
                (caller.caller.as_str(), caller.method),
                ("local-app", AuthMethod::Trusted)
            );
        }

        #[test]
        fn tampered_body_header_and_query_do_not_match() {
            let mut body = header_signed();
            body.body = body.body.replace("123456781234", "999999999999");
            assert_eq!(
                code(run(&directory(), &body, NO_CERT, NOW)).0,
                "SignatureDoesNotMatch"
            );

            let mut header = header_signed();
            header.set_header("x-amz-user-agent", "aws-sdk-rust/9.9.9");
            assert_eq!(
                code(run(&directory(), &header, NO_CERT, NOW)).0,
                "SignatureDoesNotMatch"
            );

            let mut query =
                sign_with_sdk_signer(CI_KEY, CI_SECRET, Placement::QueryParams, Some(300));
            query.query = query.query.map(|q| q.replace("prod-cache", "prod-other"));
            assert_eq!(
                code(run(&directory(), &query, NO_CERT, NOW)).0,
                "SignatureDoesNotMatch"
            );

            // Headers that were not signed may change freely.
            let mut unsigned = header_signed();
            unsigned
                .headers
                .push(("user-agent".to_owned(), "anything".to_owned()));
            assert!(run(&directory(), &unsigned, NO_CERT, NOW).is_ok());
        }

        #[test]
        fn clock_skew_edges_for_the_header_form() {
            let signed = header_signed();
            for now in [NOW - 300, NOW + 300] {
                assert!(run(&directory(), &signed, NO_CERT, now).is_ok(), "{now}");
            }
            let (c, status, message) = code(run(&directory(), &signed, NO_CERT, NOW + 301));
            assert_eq!((c, status), ("RequestExpired", 400));
            assert_eq!(last_reason(), Some(SignatureFailure::Expired));
            assert!(message.contains("20261125T000000Z"), "{message}");
            let (c, status, _) = code(run(&directory(), &signed, NO_CERT, NOW - 301));
            assert_eq!((c, status), ("SignatureDoesNotMatch", 403));
            assert_eq!(last_reason(), Some(SignatureFailure::NotYetValid));
        }

        #[test]
        fn client_certificates() {
            let signed = header_signed();
            let mtls = |identities: &'static [String]| ClientCertificate {
                required: true,
                identities,
            };
            let payments: &'static [String] =
                Box::leak(Box::new(["spiffe://example.org/app-payments".to_owned()]));
            let batch: &'static [String] =
                Box::leak(Box::new(["batch.internal.example".to_owned()]));
            let stranger: &'static [String] = Box::leak(Box::new(["stranger.example".to_owned()]));

            // The certificate says app-payments, the signature ci-deployer.
            let (c, status, message) = code(run(&directory(), &signed, mtls(payments), NOW));
            assert_eq!((c, status), ("AccessDenied", 403));
            assert_eq!(last_reason(), Some(SignatureFailure::Certificate));
            assert!(
                message.contains("`app-payments`") && message.contains("`ci-deployer`"),
                "{message}"
            );

            let app = sign_with_sdk_signer(
                "AKIAEXAMPLEAPP000001",
                "app-secret-0123456789abcdef",
                Placement::Headers,
                None,
            );
            assert_eq!(
                run(&directory(), &app, mtls(payments), NOW).unwrap().caller,
                "app-payments"
            );

            // A certificate-only caller stands alone; its signature is not checked.
            let caller = run(&directory(), &signed, mtls(batch), NOW).unwrap();
            assert_eq!(
                (caller.caller.as_str(), caller.method),
                ("batch", AuthMethod::ClientCertificate)
            );

            // Unsigned: the certificate-only caller is served, nobody else.
            let mut bare = header_signed();
            bare.headers.retain(|(name, _)| name != "authorization");
            let caller = run(&directory(), &bare, mtls(batch), NOW).unwrap();
            assert_eq!(
                (caller.caller.as_str(), caller.method),
                ("batch", AuthMethod::ClientCertificate)
            );
            let (c, status, _) = code(run(&directory(), &bare, mtls(payments), NOW));
            assert_eq!((c, status), ("MissingAuthenticationToken", 403));
            assert_eq!(last_reason(), Some(SignatureFailure::Missing));
            let (c, _, _) = code(run(&directory(), &bare, NO_CERT, NOW));
            assert_eq!(c, "MissingAuthenticationToken");
            // The trusted sidecar serves unsigned requests too.
            let trusted = CallerDirectory::Trusted(TrustedCaller::named("local-app"));
            let caller = run(&trusted, &bare, NO_CERT, NOW).unwrap();
            assert_eq!(
                (caller.caller.as_str(), caller.method),
                ("local-app", AuthMethod::Trusted)
            );

            let (c, _, message) = code(run(&directory(), &signed, mtls(stranger), NOW));
            assert_eq!(c, "AccessDenied");
            assert!(message.contains("`stranger.example`"), "{message}");
            assert_eq!(
                code(run(&directory(), &signed, mtls(&[]), NOW)).0,
                "AccessDenied"
            );
        }

        #[test]
        fn errors_never_carry_secrets_or_signatures() {
            let signed = sign_with_sdk_signer(
                CI_KEY,
                "not-the-right-secret-0000",
                Placement::Headers,
                None,
            );
            let authorization = signed.header("authorization").unwrap();
            let signature = authorization.rsplit('=').next().unwrap();
            for now in [NOW, NOW + 301, NOW - 301] {
                let err = run(&directory(), &signed, NO_CERT, now).unwrap_err();
                let xml = err.to_xml("id");
                for secret in [CI_SECRET, "not-the-right-secret-0000", signature] {
                    assert!(!xml.contains(secret), "{xml}");
                }
            }
        }
    }
}
