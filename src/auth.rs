//! Stage 2 of the request path: read the caller's SigV4 signature, in the
//! `Authorization` header or in the query string, into a typed value. The
//! credential scope gives the request's region.

use crate::error::{quoted, ApiError};
use crate::model::{Region, SERVICE};
use crate::request::QueryAuth;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `AKID/YYYYMMDD/REGION/elasticache/aws4_request`
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: Region,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SignatureLocation {
    Header,
    QueryString,
}

/// The caller's signature, parsed but not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerSignature {
    pub location: SignatureLocation,
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

/// The `Authorization` header as received.
#[derive(Clone, Copy, Debug)]
pub enum AuthorizationHeader<'a> {
    Absent,
    One(&'a str),
    /// Several headers, or one that is not visible ASCII.
    Unreadable,
}

/// Finds and parses the caller's signature. Exactly one form must be used.
pub fn caller_signature(
    header: AuthorizationHeader<'_>,
    query: &QueryAuth,
) -> Result<CallerSignature, ApiError> {
    match (header, query.is_empty()) {
        (AuthorizationHeader::Absent, true) => Err(ApiError::missing_authentication_token(
            "the request is not signed: sign it with SigV4 for service `elasticache` (an `Authorization` header or `X-Amz-*` query parameters)",
        )),
        (AuthorizationHeader::Unreadable, _) => Err(ApiError::incomplete_signature(
            "the request has more than one `Authorization` header, or one that is not plain text",
        )),
        (AuthorizationHeader::One(_), false) => Err(ApiError::incomplete_signature(
            "the request carries both an `Authorization` header and `X-Amz-*` signature parameters; use one",
        )),
        (AuthorizationHeader::One(value), true) => parse_authorization_header(value),
        (AuthorizationHeader::Absent, false) => parse_query_signature(query),
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization_header(value: &str) -> Result<CallerSignature, ApiError> {
    let value = value.trim();
    let Some((algorithm, rest)) = value.split_once(' ') else {
        return Err(ApiError::incomplete_signature(
            "`Authorization` is not a SigV4 header: expected `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`",
        ));
    };
    check_algorithm(algorithm)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        let Some((key, val)) = component.split_once('=') else {
            return Err(ApiError::incomplete_signature(format!(
                "`Authorization` component {} is not `Key=Value`",
                quoted(component)
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(ApiError::incomplete_signature(format!(
                    "`Authorization` has an unknown component {}",
                    quoted(other)
                )))
            }
        };
        if slot.replace(val).is_some() {
            return Err(ApiError::incomplete_signature(format!(
                "`Authorization` repeats the component `{key}`"
            )));
        }
    }
    let missing = |name: &str| {
        ApiError::incomplete_signature(format!("`Authorization` lacks the component `{name}`"))
    };
    Ok(CallerSignature {
        location: SignatureLocation::Header,
        scope: parse_credential(credential.ok_or_else(|| missing("Credential"))?)?,
        signed_headers: parse_signed_headers(
            signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        )?,
        signature: parse_signature(signature.ok_or_else(|| missing("Signature"))?)?,
        query_date: None,
        query_expires: None,
    })
}

fn parse_query_signature(query: &QueryAuth) -> Result<CallerSignature, ApiError> {
    let required = |name: &str| {
        query.get(name).ok_or_else(|| {
            ApiError::incomplete_signature(format!(
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
                    ApiError::incomplete_signature(format!(
                        "`X-Amz-Expires` {} is not a number of seconds from 1 to 604800",
                        quoted(raw)
                    ))
                })?,
        ),
    };
    Ok(CallerSignature {
        location: SignatureLocation::QueryString,
        scope,
        signed_headers,
        signature,
        query_date: Some(date.to_owned()),
        query_expires: expires,
    })
}

fn check_algorithm(algorithm: &str) -> Result<(), ApiError> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(ApiError::incomplete_signature(format!(
            "unsupported signing algorithm {}: use `{ALGORITHM}`",
            quoted(algorithm)
        )))
    }
}

/// Parses `AKID/YYYYMMDD/REGION/elasticache/aws4_request`.
pub fn parse_credential(credential: &str) -> Result<CredentialScope, ApiError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(ApiError::incomplete_signature(format!(
            "credential {} is not `ACCESS_KEY_ID/YYYYMMDD/REGION/elasticache/aws4_request`",
            quoted(credential)
        )));
    };
    let key_ok = (16..=128).contains(&access_key_id.len())
        && access_key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !key_ok {
        return Err(ApiError::incomplete_signature(format!(
            "access key id {} is malformed",
            quoted(access_key_id)
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::incomplete_signature(format!(
            "credential date {} is not YYYYMMDD",
            quoted(date)
        )));
    }
    let region = Region::parse(region).ok_or_else(|| {
        ApiError::incomplete_signature(format!(
            "credential scope region {} is not an AWS region name",
            quoted(region)
        ))
    })?;
    if service != SERVICE {
        return Err(ApiError::incomplete_signature(format!(
            "credential should be scoped to the service `{SERVICE}`, not {}",
            quoted(service)
        )));
    }
    if terminator != "aws4_request" {
        return Err(ApiError::incomplete_signature(format!(
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

fn parse_signed_headers(list: &str) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = list.split(';').map(str::to_owned).collect();
    let well_formed = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            })
    });
    if !well_formed {
        return Err(ApiError::incomplete_signature(format!(
            "SignedHeaders {} is not a `;`-separated list of lowercase header names",
            quoted(list)
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(ApiError::incomplete_signature(
            "SignedHeaders must include `host`",
        ));
    }
    Ok(names)
}

fn parse_signature(signature: &str) -> Result<String, ApiError> {
    if signature.len() == 64
        && signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(signature.to_owned())
    } else {
        // The value itself stays out of the message: it is secret-derived.
        Err(ApiError::incomplete_signature(
            "Signature is not 64 lowercase hex digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";

    fn header(value: &str) -> Result<CallerSignature, ApiError> {
        caller_signature(AuthorizationHeader::One(value), &QueryAuth::default())
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
        assert_eq!(sig.location, SignatureLocation::Header);
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
        let sig = caller_signature(AuthorizationHeader::Absent, &query).unwrap();
        assert_eq!(sig.location, SignatureLocation::QueryString);
        assert_eq!(sig.scope.region.as_str(), "us-east-1");
        assert_eq!(sig.query_expires, Some(300));
        let both =
            caller_signature(AuthorizationHeader::One("AWS4-HMAC-SHA256 x"), &query).unwrap_err();
        assert_eq!(both.code, "IncompleteSignature");
        query.params.remove("X-Amz-Signature");
        let err = caller_signature(AuthorizationHeader::Absent, &query).unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
        assert!(err.message.contains("X-Amz-Signature"));
    }

    #[test]
    fn no_signature_at_all() {
        let err = caller_signature(AuthorizationHeader::Absent, &QueryAuth::default()).unwrap_err();
        assert_eq!((err.status, err.code), (403, "MissingAuthenticationToken"));
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
            format!("AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000001/20261125/us-east-1/elasticache/aws4_requesx, SignedHeaders=host, Signature={SIG}"),
        ] {
            let err = header(&bad).unwrap_err();
            assert_eq!(err.code, "IncompleteSignature", "{bad}");
            assert!(!err.message.contains(SIG), "{}", err.message);
        }
        let err =
            caller_signature(AuthorizationHeader::Unreadable, &QueryAuth::default()).unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
    }
}

/// Where the proxy learns who is calling.
#[derive(Debug)]
pub enum CallerDirectory {
    /// Every caller is authenticated against the callers file.
    Callers(crate::callers::Callers),
    /// `callers: none`: every request is this caller (loopback sidecars only).
    Trusted(String),
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
}

/// What the connection says about the client.
#[derive(Clone, Copy, Debug)]
pub struct ClientCertificate<'a> {
    /// Whether the listener requires client certificates (mTLS).
    pub required: bool,
    /// SAN URIs and DNS names of the verified client certificate.
    pub identities: &'a [String],
}

/// Stage 2b: who is calling. Pure: the time is passed in.
pub fn authenticate(
    directory: &CallerDirectory,
    signature: &CallerSignature,
    received: &crate::sigv4::ReceivedRequest<'_>,
    certificate: ClientCertificate<'_>,
    now_unix_secs: i64,
) -> Result<Authenticated, ApiError> {
    let callers = match directory {
        CallerDirectory::Trusted(name) => {
            return Ok(Authenticated {
                caller: name.clone(),
                method: AuthMethod::Trusted,
            })
        }
        CallerDirectory::Callers(callers) => callers,
    };
    let certificate_caller = certificate
        .identities
        .iter()
        .find_map(|identity| callers.by_tls_identity(identity));
    if certificate.required && certificate_caller.is_none() {
        let shown = certificate.identities.first().map_or("none".to_owned(), |i| quoted(i));
        return Err(ApiError::access_denied(format!(
            "the client certificate (identity {shown}) does not belong to any caller"
        )));
    }
    if let Some(caller) = certificate_caller.filter(|c| c.certificate_only) {
        return Ok(Authenticated {
            caller: caller.name.clone(),
            method: AuthMethod::ClientCertificate,
        });
    }

    let key_id = signature.scope.access_key_id.as_str();
    let (caller, secret) = callers
        .by_access_key_id(key_id)
        .and_then(|c| Some((c, c.secret_access_key.as_ref()?)))
        .ok_or_else(|| {
            ApiError::invalid_client_token_id(format!(
                "the security token included in the request is invalid: access key id {} is not a caller's",
                quoted(key_id)
            ))
        })?;
    let claim = crate::sigv4::Claim {
        location: match signature.location {
            SignatureLocation::Header => crate::sigv4::Location::Header,
            SignatureLocation::QueryString => crate::sigv4::Location::QueryString,
        },
        access_key_id: key_id,
        scope_date: &signature.scope.date,
        region: signature.scope.region.as_str(),
        service: SERVICE,
        signed_headers: &signature.signed_headers,
        signature: &signature.signature,
        query_date: signature.query_date.as_deref(),
        query_expires: signature.query_expires,
    };
    crate::sigv4::verify(received, &claim, secret.expose(), now_unix_secs).map_err(verify_error)?;

    if let Some(cert_caller) = certificate_caller {
        if cert_caller.name != caller.name {
            return Err(ApiError::access_denied(format!(
                "the client certificate belongs to caller `{}` but the request is signed by caller `{}`",
                cert_caller.name, caller.name
            )));
        }
    }
    Ok(Authenticated {
        caller: caller.name.clone(),
        method: AuthMethod::Sigv4,
    })
}

fn verify_error(error: crate::sigv4::VerifyError) -> ApiError {
    use crate::sigv4::VerifyError;
    match error {
        VerifyError::SignatureDoesNotMatch => ApiError::signature_does_not_match(
            "the request signature we calculated does not match the signature you provided; check your secret access key and signing method",
        ),
        e @ VerifyError::Expired { .. } => ApiError::request_expired(e.to_string()),
        e @ VerifyError::NotYetValid { .. } => ApiError::signature_does_not_match(e.to_string()),
        e => ApiError::incomplete_signature(e.to_string()),
    }
}
