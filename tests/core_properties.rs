//! Property tests of the pure core, through the library's public API only:
//!
//! - the request parser reads every well-formed parameter set, whatever its
//!   order, its split between query string and body and its (accepted)
//!   encoding variants, into exactly those parameters, and re-encodes them
//!   canonically; variants it does not accept are rejected, never reread;
//! - the request forwarded upstream carries exactly what was decided on, and
//!   nothing of the caller's signature;
//! - no parser panics: the request parser, the SigV4 header and credential
//!   parsers, the policy compiler (on text and on random YAML documents), and
//!   the decision on arbitrary facts;
//! - deny overrides allow, checked against a small model of the decision.
//!
//! The unit-level properties (form codec round trip, SigV4 canonicalization)
//! live next to their code in src/form.rs and src/sigv4.rs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use elasticache_authz_proxy::auth::{self, CallerSignature};
use elasticache_authz_proxy::decision::{Decision, DenialDetail, RequestFacts};
use elasticache_authz_proxy::diagnostics;
use elasticache_authz_proxy::error::{ApiError, Rejection};
use elasticache_authz_proxy::form;
use elasticache_authz_proxy::model::{AccountId, Action, Region, API_VERSION};
use elasticache_authz_proxy::names::NameCase;
use elasticache_authz_proxy::params;
use elasticache_authz_proxy::policy::{self, Mode};
use elasticache_authz_proxy::policy_tools;
use elasticache_authz_proxy::proxy::config::EndpointTemplate;
use elasticache_authz_proxy::proxy::upstream::{self, ProxyCredentials};
use elasticache_authz_proxy::request::{
    self, ElastiCacheRequest, HttpParts, QueryAuth, SingleHeader, QUERY_AUTH_PARAMS,
};
use elasticache_authz_proxy::service_model::{self, Kind, Member};
use elasticache_authz_proxy::sigv4::{self, Claim, Location, ReceivedRequest};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const GUARDED: [&str; 3] = [
    "CacheSecurityGroupName",
    "EC2SecurityGroupName",
    "EC2SecurityGroupOwnerId",
];

// ---- helpers ---------------------------------------------------------------

type Parsed = Result<(ElastiCacheRequest, QueryAuth), ApiError>;

fn parse(method: &str, query: Option<&str>, body: &[u8]) -> Parsed {
    request::parse(&HttpParts {
        method,
        path: "/",
        query,
        content_type: if method == "POST" {
            SingleHeader::One(FORM)
        } else {
            SingleHeader::Absent
        },
        body,
    })
    .map_err(|e| Rejection::from(e).answer())
}

fn post(body: &str) -> Parsed {
    parse("POST", None, body.as_bytes())
}

fn error_code(parsed: Parsed) -> &'static str {
    match parsed {
        Ok((request, _)) => panic!("expected a rejection, parsed {request:?}"),
        Err(error) => error.code,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// SigV4's canonical form encoding, written out here rather than taken from
/// `form::encode`, so that the parser's re-encoding is checked against an
/// independent statement of "canonical".
fn canonical(pairs: &[(String, String)]) -> String {
    let component = |text: &str| -> String {
        text.bytes()
            .map(|b| {
                if is_unreserved(b) {
                    (b as char).to_string()
                } else if b == b' ' {
                    // As botocore writes a space in a form.
                    "+".to_owned()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", component(n), component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One of the encodings SDKs may send for a value, chosen byte by byte:
/// unreserved bytes raw or percent-encoded, the harmless sub-delimiters raw
/// or encoded, a space as `+` or `%20`, hex digits in either case.
fn encode_variant(value: &str, choices: &mut impl Iterator<Item = u8>) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        let choice = choices.next().unwrap_or(0);
        let raw_ok = is_unreserved(b) || b":/,*@!$'()".contains(&b);
        if b == b' ' && choice.is_multiple_of(3) {
            out.push('+');
        } else if raw_ok && !choice.is_multiple_of(4) {
            out.push(b as char);
        } else if choice & 0x10 != 0 {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_pairs<'a>(
    pairs: impl IntoIterator<Item = &'a (String, String)>,
    choices: &mut impl Iterator<Item = u8>,
) -> String {
    pairs
        .into_iter()
        .map(|(n, v)| format!("{n}={}", encode_variant(v, choices)))
        .collect::<Vec<_>>()
        .join("&")
}

// ---- well-formed parameter sets --------------------------------------------

/// A request as its parameters (decoded), and the typed value it must parse to.
#[derive(Clone, Debug)]
struct WellFormed {
    pairs: Vec<(String, String)>,
    expected: ElastiCacheRequest,
}

impl WellFormed {
    /// What the proxy must forward: Action, Version, then the rest sorted by
    /// name, the owner id in its 12-digit form, the cache security group
    /// name in lower case.
    fn canonical_body(&self) -> String {
        let mut rest: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(n, _)| n != "Action" && n != "Version")
            .map(|(n, v)| {
                let lowercase = service_model::operation(self.expected.action.name())
                    .and_then(|op| op.member(n))
                    .is_some_and(|m| m.case() == Some(NameCase::StoredLowercase));
                match n.as_str() {
                    "EC2SecurityGroupOwnerId" => (n.clone(), v.replace('-', "")),
                    _ if lowercase => (n.clone(), v.to_lowercase()),
                    _ => (n.clone(), v.clone()),
                }
            })
            .collect();
        rest.sort();
        let mut pairs = vec![
            ("Action".to_owned(), self.expected.action.name().to_owned()),
            ("Version".to_owned(), API_VERSION.to_owned()),
        ];
        pairs.extend(rest);
        canonical(&pairs)
    }
}

/// Any value a form can carry: unicode without control characters, and the
/// three control characters the parser keeps, beside the bytes that must be
/// encoded.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[^\\p{Cc}]{0,16}",
        1 => "[\\t\\n\\r +%&=;#?/:a-zA-Z0-9~.é✓]{0,12}",
    ]
}

fn non_empty_value() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[^\\p{Cc}]{1,16}", 1 => "[a-z0-9-]{1,20}"]
}

/// An owner id as sent (plain or dashed).
fn owner_id() -> impl Strategy<Value = String> {
    ("[0-9]{12}", any::<bool>()).prop_map(|(digits, dashed)| {
        if dashed {
            format!("{}-{}-{}", &digits[..4], &digits[4..8], &digits[8..])
        } else {
            digits
        }
    })
}

/// A top-level string member the model puts no enum or length on: any
/// value is valid for it.
fn is_plain_string(member: &Member) -> bool {
    matches!(member.shape().kind(), Kind::String(s)
        if s.enum_values().is_empty() && s.length().min.is_none() && s.length().max.is_none())
}

/// The actions whose required parameters are all plain strings, so that
/// any values make a valid request of them.
fn simple_actions() -> Vec<&'static str> {
    Action::all_names()
        .iter()
        .copied()
        .filter(|name| {
            service_model::operation(name).is_some_and(|op| {
                op.members()
                    .iter()
                    .all(|m| !m.is_required() || is_plain_string(m))
            })
        })
        .collect()
}

fn well_formed() -> impl Strategy<Value = WellFormed> {
    let guarded = (
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(owner_id()),
    );
    let ingress = (non_empty_value(), non_empty_value(), owner_id());
    (
        select(simple_actions()),
        guarded,
        ingress,
        proptest::collection::vec((any::<bool>(), value()), 12),
    )
        .prop_map(|(name, guarded, ingress, choices)| {
            let action = Action::from_name(name).expect("a listed action");
            let input = service_model::operation(name)
                .expect("a model action")
                .input();
            let (cache, ec2, owner) = if action.is_ingress_change() {
                let (cache, ec2, owner) = ingress;
                (Some(cache), Some(ec2), Some(owner))
            } else {
                // Each where the action has it, and always where it needs it.
                let (cache, ec2, owner) = guarded;
                let (needed_cache, needed_ec2, needed_owner) = ingress;
                let pick =
                    |param: &str, sent: Option<String>, needed: String| match input.member(param) {
                        Some(m) if m.is_required() => Some(sent.unwrap_or(needed)),
                        Some(_) => sent,
                        None => None,
                    };
                (
                    pick(GUARDED[0], cache, needed_cache),
                    pick(GUARDED[1], ec2, needed_ec2),
                    pick(GUARDED[2], owner, needed_owner),
                )
            };
            // Every required member, and some optional ones, of the plain
            // strings beside the guarded three.
            let others: BTreeMap<String, String> = input
                .members()
                .iter()
                .filter(|m| is_plain_string(m) && !GUARDED.contains(&m.query_name()))
                .zip(choices.into_iter().cycle())
                .filter(|(m, (include, _))| m.is_required() || *include)
                .map(|(m, (_, value))| (m.query_name().to_owned(), value))
                .collect();
            let mut pairs = vec![
                ("Action".to_owned(), name.to_owned()),
                ("Version".to_owned(), API_VERSION.to_owned()),
            ];
            for (param, value) in GUARDED.iter().zip([&cache, &ec2, &owner]) {
                if let Some(value) = value {
                    pairs.push(((*param).to_owned(), value.clone()));
                }
            }
            pairs.extend(others.clone());
            let (cache_sent, ec2_sent, owner_sent) = (cache.clone(), ec2.clone(), owner.clone());
            WellFormed {
                pairs,
                expected: ElastiCacheRequest {
                    action,
                    // Typed as the model types them (the parser's own round
                    // trip over every shape is a property in the core).
                    // ElastiCache stores the cache security group name in
                    // lower case, and the parser lower-cases it: the proxy
                    // decides on, and forwards, that form. The owner id is
                    // its 12 digits.
                    params: {
                        let mut all = others.clone();
                        for (param, value) in
                            GUARDED.iter().zip([&cache_sent, &ec2_sent, &owner_sent])
                        {
                            if let Some(value) = value {
                                all.insert((*param).to_owned(), value.clone());
                            }
                        }
                        let all: Vec<(&str, &str)> =
                            all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                        let mut typed = params::parse(action, input, &all).expect("plain strings");
                        if let Some(params::Value::String(owner)) = typed.get_mut(GUARDED[2]) {
                            *owner = AccountId::parse(owner)
                                .expect("generated owner ids are valid")
                                .as_str()
                                .to_owned();
                        }
                        typed
                    },
                },
            }
        })
        .prop_flat_map(|wf| {
            let expected = wf.expected.clone();
            Just(wf.pairs)
                .prop_shuffle()
                .prop_map(move |pairs| WellFormed {
                    pairs,
                    expected: expected.clone(),
                })
        })
}

/// How a request is sent: GET with every pair in the query string, or POST
/// with each pair in the query string or the body.
#[derive(Clone, Debug)]
struct Sending {
    post: bool,
    in_query: Vec<bool>,
    choices: Vec<u8>,
}

fn sending() -> impl Strategy<Value = Sending> {
    (
        any::<bool>(),
        proptest::collection::vec(any::<bool>(), 16),
        proptest::collection::vec(any::<u8>(), 1..64),
    )
        .prop_map(|(post, in_query, choices)| Sending {
            post,
            in_query,
            choices,
        })
}

impl Sending {
    /// (method, query, body) for `pairs`.
    fn send(&self, pairs: &[(String, String)]) -> (&'static str, Option<String>, String) {
        let mut choices = self.choices.iter().copied().cycle();
        if !self.post {
            return (
                "GET",
                Some(encode_pairs(pairs, &mut choices)),
                String::new(),
            );
        }
        let (query, body): (Vec<_>, Vec<_>) = pairs
            .iter()
            .enumerate()
            .partition(|(i, _)| self.in_query[i % self.in_query.len()]);
        let query = encode_pairs(query.into_iter().map(|(_, p)| p), &mut choices);
        let body = encode_pairs(body.into_iter().map(|(_, p)| p), &mut choices);
        ("POST", (!query.is_empty()).then_some(query), body)
    }
}

proptest! {
    #[test]
    fn well_formed_requests_parse_to_their_parameters_and_re_encode_canonically(
        wf in well_formed(),
        sending in sending(),
        other in sending(),
    ) {
        let (method, query, body) = sending.send(&wf.pairs);
        let (request, query_auth) = parse(method, query.as_deref(), body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} ?{query:?} {body:?}: {e}"));
        prop_assert_eq!(&request, &wf.expected);
        prop_assert!(query_auth.is_empty());

        // The forwarded body is canonical: independent of order, split and
        // encoding variant, and a fixed point of parse-then-encode.
        let forwarded = request.to_form_body();
        prop_assert_eq!(&forwarded, &wf.canonical_body());
        let (again, _) = post(&forwarded).unwrap();
        prop_assert_eq!(&again, &request);
        prop_assert_eq!(again.to_form_body(), forwarded.clone());
        let (method, query, body) = other.send(&wf.pairs);
        let (differently_sent, _) = parse(method, query.as_deref(), body.as_bytes()).unwrap();
        prop_assert_eq!(differently_sent.to_form_body(), forwarded);
    }

    #[test]
    fn encoded_parameter_names_are_rejected_not_decoded(
        wf in well_formed(),
        which in any::<Index>(),
        at in any::<Index>(),
        choices in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut pairs = wf.pairs.clone();
        let name = &mut pairs[which.index(wf.pairs.len())].0;
        let i = at.index(name.len());
        let encoded = format!("{}%{:02X}{}", &name[..i], name.as_bytes()[i], &name[i + 1..]);
        *name = encoded;
        let body = encode_pairs(&pairs, &mut choices.iter().copied().cycle());
        prop_assert_eq!(error_code(post(&body)), "MalformedQueryString");
    }

    #[test]
    fn case_variants_of_the_names_the_proxy_reads_are_rejected(
        wf in well_formed(),
        which in any::<Index>(),
        at in any::<Index>(),
    ) {
        let mut pairs = wf.pairs.clone();
        let known: Vec<usize> = (0..pairs.len())
            .filter(|&i| ["Action", "Version"].contains(&pairs[i].0.as_str()) || GUARDED.contains(&pairs[i].0.as_str()))
            .collect();
        let name = &mut pairs[known[which.index(known.len())]].0;
        let letters: Vec<usize> = name.char_indices().filter(|(_, c)| c.is_ascii_alphabetic()).map(|(i, _)| i).collect();
        let i = letters[at.index(letters.len())];
        let flipped = name.as_bytes()[i] ^ 0x20;
        name.replace_range(i..=i, &(flipped as char).to_string());
        let body = encode_pairs(&pairs, &mut [1u8].into_iter().cycle());
        prop_assert_eq!(error_code(post(&body)), "InvalidQueryParameter");
    }
}

// ---- the forwarded request -------------------------------------------------

const PROXY_KEY: &str = "AKIAPROXYPROPTEST001";
const PROXY_SECRET: &str = "proxy-proptest-secret";
/// 2026-11-25T00:00:00Z
const NOW: u64 = 1_795_564_800;

fn body_of(body: Full<Bytes>) -> Vec<u8> {
    let mut collect = std::pin::pin!(body.collect());
    match collect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(collected)) => collected.to_bytes().to_vec(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("a full body is ready at once"),
    }
}

/// Caller headers as SDKs send them, with the caller's own credentials.
fn caller_headers(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIACALLER/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature=00"),
        ("x-amz-security-token", token),
        ("x-amz-date", "20261125T000000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("x-amz-user-agent", "aws-sdk-rust/1.3.9 api/elasticache/1.90.0"),
        ("x-forwarded-for", "192.0.2.7"),
    ] {
        headers.insert(name, http::HeaderValue::from_str(value).expect("a header value"));
    }
    headers
}

/// Presigned-query parameters a caller may add, with arbitrary values.
fn query_auth_params() -> impl Strategy<Value = Vec<(String, String)>> {
    subsequence(QUERY_AUTH_PARAMS.to_vec(), 0..=QUERY_AUTH_PARAMS.len()).prop_flat_map(|names| {
        let n = names.len();
        proptest::collection::vec("[!-~]{0,40}", n).prop_map(move |values| {
            names
                .iter()
                .map(|n| (*n).to_owned())
                .zip(values)
                .collect::<Vec<_>>()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_forwarded_request_carries_exactly_what_was_decided(
        wf in well_formed(),
        signature_params in query_auth_params(),
        region in select(vec!["us-east-1", "eu-west-1", "us-gov-west-1", "cn-northwest-1"]),
        token in "TOKEN[A-Za-z0-9+/=]{8,40}",
        choices in proptest::collection::vec(any::<u8>(), 1..32),
    ) {
        // A presigned GET: the caller's signature parameters sit beside the
        // operation's in the query string.
        let mut pairs = wf.pairs.clone();
        pairs.extend(signature_params.iter().cloned());
        let query = encode_pairs(&pairs, &mut choices.iter().copied().cycle());
        let (request, query_auth) = parse("GET", Some(&query), b"").unwrap();
        prop_assert_eq!(query_auth.params.len(), signature_params.len());
        let region = Region::parse(region).unwrap();
        let decided = RequestFacts::of(&request, &region, Some("ci-deployer"));

        let endpoint = EndpointTemplate::parse("https://elasticache.{region}.amazonaws.com").unwrap();
        let credentials = Credentials::new(PROXY_KEY, PROXY_SECRET, None, None, "test");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let signed = upstream::build_signed_request(
            &request, &region, &endpoint, &caller_headers(&token),
            &ProxyCredentials::new(credentials.clone()), now,
            &upstream::SigningKeys::new(),
        ).unwrap();
        let oracle = aws_sigv4_authorization(&signed, &request.to_form_body(), &credentials, now);
        let (parts, body) = signed.into_parts();
        let body = body_of(body);

        // Re-parsed as the upstream reads it, the body is the decided request.
        prop_assert_eq!(parts.method.as_str(), "POST");
        prop_assert_eq!(parts.uri.path(), "/");
        prop_assert_eq!(parts.uri.query(), None);
        let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok());
        let (forwarded, forwarded_auth) = request::parse(&HttpParts {
            method: "POST",
            path: "/",
            query: None,
            content_type: content_type.map_or(SingleHeader::Absent, SingleHeader::One),
            body: &body,
        }).unwrap();
        prop_assert_eq!(&forwarded, &request);
        prop_assert_eq!(&forwarded, &wf.expected);
        prop_assert!(forwarded_auth.is_empty());
        let seen = RequestFacts::of(&forwarded, &region, Some("ci-deployer"));
        prop_assert_eq!(seen.action, decided.action);
        prop_assert_eq!(seen.params, decided.params);

        // Nothing of the caller's signature or credentials goes upstream.
        for (name, _) in form::decode(&body).unwrap() {
            prop_assert!(!name.to_ascii_lowercase().starts_with("x-amz-"), "{}", name);
        }
        prop_assert!(parts.headers.get("x-amz-security-token").is_none());
        prop_assert!(parts.headers.get("x-forwarded-for").is_none());
        prop_assert!(parts.headers.get("x-amz-content-sha256").is_none());
        let text = format!("{:?} {}", parts.headers, String::from_utf8_lossy(&body));
        prop_assert!(!text.contains(&token));
        prop_assert!(!text.contains("AKIACALLER"));

        // And the proxy's signature covers exactly that body: our verifier
        // accepts what aws-sigv4 signed.
        let authorization = parts.headers.get("authorization").unwrap().to_str().unwrap();
        let claim = auth::parse_authorization_header(authorization).unwrap();
        prop_assert_eq!(claim.scope.access_key_id.as_str(), PROXY_KEY);
        let headers: Vec<(&str, &str)> = parts.headers.iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        let received = ReceivedRequest {
            method: "POST",
            path: parts.uri.path(),
            query: None,
            headers: &headers,
            body: &body,
        };
        let verified = sigv4::verify(&received, &claim_of(&claim), PROXY_SECRET, NOW as i64);
        prop_assert_eq!(verified, Ok(()));
        // And aws-sigv4's own request signer computes the same signature.
        prop_assert_eq!(authorization, oracle.as_str());
    }
}

/// The Authorization header aws-sigv4's full request signer computes for the
/// request the proxy built (which signs from a cached key).
fn aws_sigv4_authorization(
    signed: &http::Request<Full<Bytes>>,
    body: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> String {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    // aws-sigv4 adds these itself, from the time and the credentials.
    let headers: Vec<(&str, &str)> = signed
        .headers()
        .iter()
        .filter(|(n, _)| {
            !matches!(
                n.as_str(),
                "authorization" | "x-amz-date" | "x-amz-security-token"
            )
        })
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    let region = signed.headers()["authorization"]
        .to_str()
        .unwrap()
        .split('/')
        .nth(2)
        .unwrap()
        .to_owned();
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("elasticache")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        signed.uri().to_string(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let mut oracle = http::Request::new(());
    sign(signable, &params)
        .unwrap()
        .into_parts()
        .0
        .apply_to_request_http1x(&mut oracle);
    for name in ["x-amz-date", "x-amz-security-token"] {
        assert_eq!(
            oracle.headers().get(name),
            signed.headers().get(name),
            "{name}"
        );
    }
    oracle.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The shapes the property test above does not vary: the proxy's own
/// session token, every forwarded SDK header (with runs of spaces), a port
/// in the host, a day's last second. Each signed twice, the second time
/// from the remembered key.
#[test]
fn upstream_signatures_agree_with_aws_sigv4s_request_signer() {
    let (request, _) = parse(
        "POST",
        None,
        b"Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&EC2SecurityGroupOwnerId=123456781234&EC2SecurityGroupName=app%201&CacheSecurityGroupName=prod-1",
    )
    .unwrap();
    let keys = upstream::SigningKeys::new();
    let with_token = Credentials::new(
        "ASIAPROXY",
        "secret/with+chars",
        Some("IQoJb3JpZ2luX2VjEJ//token==".into()),
        None,
        "test",
    );
    let plain = Credentials::new(PROXY_KEY, PROXY_SECRET, None, None, "test");
    let mut full = http::HeaderMap::new();
    for (name, value) in [
        ("user-agent", "Boto3/1.40  md/x   ua/2.1"),
        ("x-amz-user-agent", "  aws-sdk-rust/1.3   os/linux  "),
        (
            "amz-sdk-invocation-id",
            "0b3f1c2e-1111-4c4c-8d8d-0123456789ab",
        ),
        ("amz-sdk-request", "attempt=1; max=3"),
    ] {
        full.insert(name, http::HeaderValue::from_static(value));
    }
    let cases = [
        (
            &plain,
            "eu-west-1",
            "https://elasticache.{region}.amazonaws.com",
            http::HeaderMap::new(),
            1_764_072_000,
        ),
        (
            &with_token,
            "us-gov-west-1",
            "http://127.0.0.1:8443",
            full.clone(),
            1_764_072_000,
        ),
        (
            &plain,
            "cn-north-1",
            "https://elasticache.{region}.amazonaws.com.cn:443",
            full,
            1_764_115_199,
        ),
    ];
    for (credentials, region, endpoint, caller, secs) in cases {
        let region = Region::parse(region).unwrap();
        let endpoint = EndpointTemplate::parse(endpoint).unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        for _ in 0..2 {
            let signed = upstream::build_signed_request(
                &request,
                &region,
                &endpoint,
                &caller,
                &ProxyCredentials::new(credentials.clone()),
                time,
                &keys,
            )
            .unwrap();
            let ours = signed.headers()["authorization"].to_str().unwrap();
            assert_eq!(
                ours,
                aws_sigv4_authorization(&signed, &request.to_form_body(), credentials, time),
                "{endpoint:?} {region:?}"
            );
        }
    }
}

fn claim_of(signature: &CallerSignature) -> Claim<'_> {
    Claim {
        location: Location::Header,
        access_key_id: &signature.scope.access_key_id,
        scope_date: &signature.scope.date,
        region: signature.scope.region.as_str(),
        service: "elasticache",
        signed_headers: &signature.signed_headers,
        signature: &signature.signature,
        query_date: None,
        query_expires: None,
    }
}

// ---- no input panics ---------------------------------------------------------

/// A valid body with a few random byte edits: near misses reach deeper
/// than random bytes do.
fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec(
        (
            any::<Index>(),
            0u8..3,
            select(b"&=%+;.aZ09-~\x00\xff\xc3 \n".to_vec()),
        ),
        1..4,
    );
    (valid, edits).prop_map(|(valid, edits)| {
        let mut bytes = valid.into_bytes();
        for (at, kind, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

fn valid_body() -> impl Strategy<Value = String> {
    (well_formed(), proptest::collection::vec(any::<u8>(), 1..16))
        .prop_map(|(wf, choices)| encode_pairs(&wf.pairs, &mut choices.into_iter().cycle()))
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("!".to_owned()),
        4 => Just(FORM.to_owned()),
        1 => Just("Application/X-WWW-Form-Urlencoded ; CHARSET=\"UTF-8\"".to_owned()),
        1 => "[ -~]{0,60}",
        1 => "\\PC{0,30}",
    ]
}

proptest! {
    #[test]
    fn request_parsing_never_panics_and_what_parses_round_trips(
        method in prop_oneof![3 => Just("POST".to_owned()), 1 => Just("GET".to_owned()), 1 => "\\PC{0,8}"],
        path in prop_oneof![6 => Just("/".to_owned()), 1 => "\\PC{0,20}"],
        query in proptest::option::weighted(0.3, prop_oneof![
            valid_body(),
            mutated(valid_body()).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            "\\PC{0,60}",
        ]),
        content_type in content_type(),
        body in prop_oneof![
            2 => mutated(valid_body()),
            3 => valid_body().prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..200),
            1 => Just(Vec::new()),
        ],
    ) {
        let parsed = request::parse(&HttpParts {
            method: &method,
            path: &path,
            query: query.as_deref(),
            content_type: match content_type.as_str() {
                "" => SingleHeader::Absent,
                "!" => SingleHeader::Unreadable,
                one => SingleHeader::One(one),
            },
            body: &body,
        });
        match parsed {
            Ok((request, _)) => {
                let forwarded = request.to_form_body();
                let (again, again_auth) = post(&forwarded).unwrap();
                prop_assert_eq!(&again, &request);
                prop_assert!(again_auth.is_empty());
                prop_assert_eq!(again.to_form_body(), forwarded);
            }
            Err(error) => {
                let error = Rejection::from(error).answer();
                prop_assert!(!error.message.is_empty());
                prop_assert!(error.to_xml("id").contains(error.code));
            }
        }
    }
}

const REAL_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLECI0000001/20261125/us-east-1/elasticache/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-user-agent, Signature=5957cfdfa7ab88b4259e7d627b4e432e97c4121096c4832bb04535f11dba69de";

fn mutated_text(valid: &'static str) -> impl Strategy<Value = String> {
    mutated(Just(valid.to_owned())).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The real header's components in any order, with the whitespace SDKs
/// and hand-written clients put around them.
fn reformatted_authorization() -> impl Strategy<Value = String> {
    let components: Vec<&str> = REAL_AUTHORIZATION
        .split_once(' ')
        .map(|(_, rest)| rest.split(", ").collect())
        .unwrap_or_default();
    (
        Just(components).prop_shuffle(),
        select(vec![",", ", ", " ,", ",  "]),
        select(vec!["", " ", "  "]),
    )
        .prop_map(|(components, separator, padding)| {
            format!(
                "{padding}AWS4-HMAC-SHA256 {}{padding}",
                components.join(separator)
            )
        })
}

/// A parsed signature is well-formed, and renders back into a header that
/// parses the same.
fn check_signature(parsed: &CallerSignature) -> Result<(), TestCaseError> {
    let scope = &parsed.scope;
    let region = Region::parse(scope.region.as_str());
    prop_assert_eq!(region.as_ref(), Some(&scope.region));
    prop_assert!(scope.date.len() == 8 && scope.date.bytes().all(|b| b.is_ascii_digit()));
    prop_assert!(parsed.signed_headers.iter().any(|h| h == "host"));
    prop_assert!(
        parsed.signature.len() == 64
            && parsed
                .signature
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let credential = format!(
        "{}/{}/{}/elasticache/aws4_request",
        scope.access_key_id, scope.date, scope.region
    );
    prop_assert_eq!(&auth::parse_credential(&credential).unwrap(), scope);
    let rendered = format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={}, Signature={}",
        parsed.signed_headers.join(";"),
        parsed.signature
    );
    let again = auth::parse_authorization_header(&rendered).unwrap();
    prop_assert_eq!(&again.scope, scope);
    prop_assert_eq!(&again.signed_headers, &parsed.signed_headers);
    prop_assert_eq!(&again.signature, &parsed.signature);
    Ok(())
}

proptest! {
    #[test]
    fn sigv4_header_parsing_never_panics_and_what_parses_is_consistent(
        header in prop_oneof![
            2 => reformatted_authorization(),
            3 => mutated_text(REAL_AUTHORIZATION),
            1 => "\\PC{0,120}",
            1 => "AWS4-HMAC-SHA256 [ -~]{0,120}",
        ],
    ) {
        match auth::parse_authorization_header(&header) {
            Ok(parsed) => check_signature(&parsed)?,
            Err(error) => {
                let error = Rejection::from(error).answer();
                prop_assert_eq!(error.code, "IncompleteSignature");
                prop_assert!(!error.to_xml("id").is_empty());
            }
        }
        let _ = auth::caller_signature(SingleHeader::One(&header), &QueryAuth::default());
    }

    #[test]
    fn credential_parsing_never_panics_and_reads_back(
        credential in prop_oneof![
            mutated_text("AKIAEXAMPLECI0000001/20261125/us-east-1/elasticache/aws4_request"),
            "\\PC{0,80}",
            "[A-Z0-9]{0,20}/[0-9]{0,9}/[a-z0-9-]{0,16}/elasticache/aws4_request",
            "[A-Z0-9]{16,20}/[0-9]{8}/(us|eu|ap)-(gov-)?(east|west|south)-[1-3]/elasticache/aws4_request",
        ],
    ) {
        if let Ok(scope) = auth::parse_credential(&credential) {
            prop_assert_eq!(
                format!("{}/{}/{}/elasticache/aws4_request", scope.access_key_id, scope.date, scope.region),
                credential
            );
        }
    }

    #[test]
    fn query_string_signatures_never_panic(
        params in query_auth_params(),
        valid in any::<bool>(),
    ) {
        let mut query_auth = QueryAuth::default();
        for (name, value) in params {
            let name = *QUERY_AUTH_PARAMS.iter().find(|p| **p == name).unwrap();
            query_auth.params.insert(name, value);
        }
        if valid {
            for (name, value) in [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "AKIAEXAMPLECI0000001/20261125/us-east-1/elasticache/aws4_request"),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Date", "20261125T000000Z"),
                ("X-Amz-Signature", "5957cfdfa7ab88b4259e7d627b4e432e97c4121096c4832bb04535f11dba69de"),
            ] {
                let name = *QUERY_AUTH_PARAMS.iter().find(|p| **p == name).unwrap();
                query_auth.params.entry(name).or_insert_with(|| value.to_owned());
            }
        }
        if let Ok(Some(parsed)) = auth::caller_signature(SingleHeader::Absent, &query_auth) {
            check_signature(&parsed)?;
            prop_assert!(parsed.query_expires.is_none_or(|s| (1..=604_800).contains(&s)));
        }
    }
}

// ---- the policy compiler on arbitrary input ----------------------------------

/// A rejected policy has errors, each renders with the file name, and the
/// positions point inside the file.
fn check_rejection(text: &str, errors: &diagnostics::Diagnostics) -> Result<(), TestCaseError> {
    prop_assert!(!errors.errors.is_empty());
    let rendered = errors.to_string();
    prop_assert!(rendered.starts_with("fuzz.yaml"), "{}", rendered);
    // YAML 1.1 (libyaml, so serde_yaml) breaks lines at CR, LF, CRLF, NEL,
    // LS and PS; and libyaml puts the end of a stream that lacks a final
    // break on the line after the last.
    let lines = text
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count()
        + 2;
    for error in &errors.errors {
        prop_assert!(!error.message.is_empty());
        if let Some(at) = error.position {
            prop_assert!(
                (1..=lines).contains(&at.line) && at.column >= 1,
                "{:?} in {} lines",
                at,
                lines
            );
        }
    }
    Ok(())
}

fn compile_checked(text: &str) -> Result<(), TestCaseError> {
    match policy::compile("fuzz.yaml", text) {
        Ok(compiled) => {
            let (checked, _warnings) = policy_tools::check("fuzz.yaml", text, None).unwrap();
            prop_assert_eq!(checked.rule_count(), compiled.rule_count());
        }
        Err(errors) => check_rejection(text, &errors)?,
    }
    Ok(())
}

/// Scalars a policy author (or a typo) might write.
fn scalar() -> impl Strategy<Value = serde_yaml::Value> {
    use serde_yaml::Value;
    prop_oneof![
        select(vec![
            "allow",
            "deny",
            "enforce",
            "shadow",
            "Describe*",
            "*",
            "AuthorizeCacheSecurityGroupIngress",
            "us-east-1",
            "123456781234",
            "1234-5678-1234",
            "prod-.*",
            "(",
            "",
            "ci-deployer",
            "r1",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|n| Value::Number(n.into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn yaml_value() -> impl Strategy<Value = serde_yaml::Value> {
    use serde_yaml::Value;
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            proptest::collection::vec((scalar(), inner), 0..4)
                .prop_map(|entries| Value::Mapping(entries.into_iter().collect())),
        ]
    })
}

fn random_rule() -> impl Strategy<Value = serde_yaml::Value> {
    let key = prop_oneof![
        4 => select(policy::RULE_KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ];
    proptest::collection::vec((key, yaml_value()), 0..8).prop_map(|entries| {
        serde_yaml::Value::Mapping(
            entries
                .into_iter()
                .map(|(k, v)| (serde_yaml::Value::String(k), v))
                .collect(),
        )
    })
}

proptest! {
    #[test]
    fn policy_compilation_never_panics_on_text(
        text in prop_oneof![
            "\\PC{0,200}",
            "[-:\\[\\]{}#&*!|>'\"%@`,?<= \\n\\r\\t\u{85}\u{2028}a-z0-9]{0,200}",
            "rules:\\n(  - id: [a-z]{1,4}\\n    [a-z_]{2,12}: [\\[\\]a-z*\"', -]{0,30}\\n){0,4}",
        ],
    ) {
        compile_checked(&text)?;
    }

    #[test]
    fn policy_compilation_never_panics_on_random_documents(
        rules in proptest::collection::vec(prop_oneof![4 => random_rule(), 1 => yaml_value()], 0..5),
        extra in proptest::option::of((select(vec!["rule", "version", "rules"]), yaml_value())),
    ) {
        let mut top = serde_yaml::Mapping::new();
        top.insert("rules".into(), serde_yaml::Value::Sequence(rules));
        if let Some((key, value)) = extra {
            top.insert(key.into(), value);
        }
        let text = serde_yaml::to_string(&top).unwrap();
        compile_checked(&text)?;
    }
}

// ---- the decision ------------------------------------------------------------

const EXAMPLE_POLICY: &str = include_str!("../policies/example.yaml");

fn arbitrary_facts() -> impl Strategy<
    Value = (
        usize,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
> {
    (
        0..Action::COUNT,
        proptest::option::of("\\PC{0,12}"),
        select(vec![
            "us-east-1",
            "eu-west-1",
            "ap-south-1",
            "us-gov-west-1",
        ])
        .prop_map(str::to_owned),
        proptest::option::of(owner_id()),
        proptest::option::of(prop_oneof!["prod-[a-z-]{0,12}", "\\PC{0,16}"]),
        proptest::option::of(prop_oneof!["(app|ci|default)-[a-z-]{0,12}", "\\PC{0,16}"]),
    )
}

proptest! {
    #[test]
    fn decisions_on_arbitrary_facts_never_panic(
        (action, caller, region, owner, cache, ec2) in arbitrary_facts(),
    ) {
        static POLICY: OnceLock<policy::Policy> = OnceLock::new();
        let policy = POLICY.get_or_init(|| policy::compile("example.yaml", EXAMPLE_POLICY).unwrap());
        let region = Region::parse(&region).unwrap();
        let action = Action::all().nth(action).unwrap();
        let owner = owner.as_deref().and_then(AccountId::parse);
        let params = ingress_params(action, owner.as_ref().map(AccountId::as_str), cache.as_deref(), ec2.as_deref());
        let facts = RequestFacts::new(action, &region, &params, caller.as_deref());
        let response = policy.is_authorized(&facts);
        let ids: Vec<&str> = policy.rule_ids().collect();
        prop_assert!(response.rules.iter().all(|r| ids.contains(&r.as_str())));
        prop_assert_eq!(response.is_allowed(), !response.rules.is_empty() && response.decision == Decision::Allow);
        for mode in [Mode::Enforce, Mode::Shadow] {
            let _ = response.verdict(mode);
        }
        if !response.is_allowed() {
            for detail in [DenialDetail::Caller, DenialDetail::Full] {
                prop_assert!(!response.denial_message(&facts, detail).is_empty());
            }
        }
    }
}

// ---- deny overrides allow, against a model -------------------------------------

const MODEL_ACTIONS: [&str; 5] = [
    "AuthorizeCacheSecurityGroupIngress",
    "RevokeCacheSecurityGroupIngress",
    "DescribeCacheClusters",
    "DescribeEvents",
    "CreateUser",
];
const ACTION_PATTERNS: [&str; 9] = [
    "AuthorizeCacheSecurityGroupIngress",
    "RevokeCacheSecurityGroupIngress",
    "DescribeCacheClusters",
    "DescribeEvents",
    "CreateUser",
    "Describe*",
    "*CacheSecurityGroupIngress",
    "Create*",
    "*",
];
const CALLERS: [&str; 2] = ["alice", "bob"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const OWNERS: [&str; 2] = ["123456781234", "111122223333"];
const GROUP_PATTERNS: [&str; 4] = ["prod-web", "prod-.*", "(staging|dev)-web", "[a-z]+-db"];
const GROUP_NAMES: [&str; 11] = [
    "prod-web",
    "prod-db",
    "staging-web",
    "dev-web",
    "x-db",
    "-db",
    "Prod-web",
    "prod-web\n",
    "PROD-WEB",
    "Dev-Web",
    "X-DB",
];

fn action_pattern_matches(pattern: &str, action: &str) -> bool {
    match pattern {
        "*" => true,
        p if p.starts_with('*') => action.ends_with(&p[1..]),
        p if p.ends_with('*') => action.starts_with(&p[..p.len() - 1]),
        p => p == action,
    }
}

/// The regexes above, by hand: each must match the whole name, and `.` does
/// not match a newline.
fn group_pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern {
        "prod-web" => name == "prod-web",
        "prod-.*" => name
            .strip_prefix("prod-")
            .is_some_and(|rest| !rest.contains('\n')),
        "(staging|dev)-web" => name == "staging-web" || name == "dev-web",
        "[a-z]+-db" => name
            .strip_suffix("-db")
            .is_some_and(|head| !head.is_empty() && head.bytes().all(|b| b.is_ascii_lowercase())),
        other => unreachable!("{other}"),
    }
}

#[derive(Clone, Debug)]
struct ModelRule {
    deny: bool,
    shadow: bool,
    actions: Option<Vec<&'static str>>,
    callers: Option<Vec<&'static str>>,
    regions: Option<Vec<&'static str>>,
    owners: Option<Vec<&'static str>>,
    cache_groups: Option<Vec<&'static str>>,
    ec2_groups: Option<Vec<&'static str>>,
    message: bool,
}

#[derive(Clone, Debug)]
struct ModelFacts {
    action: &'static str,
    caller: Option<&'static str>,
    region: &'static str,
    owner: Option<&'static str>,
    cache_group: Option<&'static str>,
    ec2_group: Option<&'static str>,
}

fn condition<const N: usize>(
    vocabulary: [&'static str; N],
) -> impl Strategy<Value = Option<Vec<&'static str>>> {
    proptest::option::weighted(0.3, subsequence(vocabulary.to_vec(), 1..=N))
}

fn model_rule() -> impl Strategy<Value = ModelRule> {
    (
        (
            any::<bool>(),
            proptest::bool::weighted(0.2),
            proptest::option::weighted(0.8, subsequence(ACTION_PATTERNS.to_vec(), 1..=3)),
        ),
        (condition(CALLERS), condition(REGIONS), condition(OWNERS)),
        (
            condition(GROUP_PATTERNS),
            condition(GROUP_PATTERNS),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (deny, shadow, actions),
                (callers, regions, owners),
                (cache_groups, ec2_groups, message),
            )| ModelRule {
                deny,
                shadow,
                actions,
                callers,
                regions,
                owners,
                cache_groups,
                ec2_groups,
                message,
            },
        )
}

fn model_facts() -> impl Strategy<Value = ModelFacts> {
    (
        select(MODEL_ACTIONS.to_vec()),
        proptest::option::weighted(0.9, select(vec!["alice", "bob", "carol"])),
        select(vec!["us-east-1", "eu-west-1", "ap-south-1"]),
        proptest::option::weighted(
            0.9,
            select(vec!["123456781234", "111122223333", "999999999999"]),
        ),
        proptest::option::weighted(0.9, select(GROUP_NAMES.to_vec())),
        proptest::option::weighted(0.9, select(GROUP_NAMES.to_vec())),
    )
        .prop_map(|(action, caller, region, owner, cache_group, ec2_group)| {
            // Only the ingress actions carry these parameters.
            let ingress = action.ends_with("CacheSecurityGroupIngress");
            let owner = owner.filter(|_| ingress);
            let cache_group = cache_group.filter(|_| ingress);
            let ec2_group = ec2_group.filter(|_| ingress);
            ModelFacts {
                action,
                caller,
                region,
                owner,
                cache_group,
                ec2_group,
            }
        })
}

/// The ingress parameters the action has, as a parsed request holds them.
fn ingress_params(
    action: Action,
    owner: Option<&str>,
    cache: Option<&str>,
    ec2: Option<&str>,
) -> params::Params {
    let given = GUARDED.iter().zip([cache, ec2, owner]);
    params::Params::of_strings(
        action.operation().input(),
        given.filter_map(|(name, value)| Some((*name, value?))),
    )
}

impl ModelRule {
    fn names(&self, action: &str) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| action_pattern_matches(p, action)))
    }

    /// A condition left out matches anything; one on a value matches only a
    /// request that has the value.
    fn matches(&self, facts: &ModelFacts) -> bool {
        let listed = |list: &Option<Vec<&str>>, value: Option<&str>| {
            list.as_ref()
                .is_none_or(|list| value.is_some_and(|v| list.contains(&v)))
        };
        let pattern = |list: &Option<Vec<&str>>, value: Option<&str>| {
            list.as_ref().is_none_or(|list| {
                value.is_some_and(|v| list.iter().any(|p| group_pattern_matches(p, v)))
            })
        };
        self.names(facts.action)
            && listed(&self.callers, facts.caller)
            && listed(&self.regions, Some(facts.region))
            && listed(&self.owners, facts.owner)
            && pattern(&self.cache_groups, facts.cache_group)
            // EC2 compares group names without ASCII case.
            && pattern(
                &self.ec2_groups,
                facts.ec2_group.map(str::to_ascii_lowercase).as_deref(),
            )
    }

    fn to_yaml(&self, id: &str) -> String {
        let list = |key: &str, values: &Option<Vec<&str>>| {
            values.as_ref().map_or(String::new(), |values| {
                let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
                format!("    {key}: [{}]\n", quoted.join(", "))
            })
        };
        let mut out = format!(
            "  - id: {id}\n    effect: {}\n",
            if self.deny { "deny" } else { "allow" }
        );
        if self.shadow {
            out.push_str("    mode: shadow\n");
        }
        for (key, values) in [
            ("actions", &self.actions),
            ("callers", &self.callers),
            ("regions", &self.regions),
            ("owner_ids", &self.owners),
            ("cache_security_groups", &self.cache_groups),
            ("ec2_security_groups", &self.ec2_groups),
        ] {
            out.push_str(&list(key, values));
        }
        if self.message {
            out.push_str(&format!("    message: \"message of {id}\"\n"));
        }
        out
    }
}

/// The model's decision over `rules` (those that take part), as sorted ids.
fn model_decision<'a>(
    rules: impl Iterator<Item = (String, &'a ModelRule)> + Clone,
    facts: &ModelFacts,
) -> (Decision, Vec<String>) {
    let matching = |deny: bool| -> Vec<String> {
        rules
            .clone()
            .filter(|(_, r)| r.deny == deny && r.matches(facts))
            .map(|(id, _)| id)
            .collect()
    };
    let (denies, allows) = (matching(true), matching(false));
    if !denies.is_empty() {
        (Decision::Deny, denies)
    } else if !allows.is_empty() {
        (Decision::Allow, allows)
    } else {
        (Decision::Deny, Vec::new())
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

proptest! {
    #[test]
    fn deny_overrides_allow_and_nothing_allowed_means_deny(
        rules in proptest::collection::vec(model_rule(), 0..7),
        facts in model_facts(),
    ) {
        let mut text = String::from("rules:\n");
        if rules.is_empty() {
            text = String::from("rules: []\n");
        }
        for (i, rule) in rules.iter().enumerate() {
            text.push_str(&rule.to_yaml(&format!("r{i}")));
        }
        let compiled = policy::compile("model.yaml", &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let region = Region::parse(facts.region).unwrap();
        let action = Action::from_name(facts.action).unwrap();
        let params = ingress_params(action, facts.owner, facts.cache_group, facts.ec2_group);
        let response = compiled.is_authorized(&RequestFacts::new(action, &region, &params, facts.caller));

        let with_ids = || rules.iter().enumerate().map(|(i, r)| (format!("r{i}"), r));
        let enforced = with_ids().filter(|(_, r)| !r.shadow);
        let (decision, reason) = model_decision(enforced.clone(), &facts);
        prop_assert_eq!(response.decision, decision, "{}", text);
        prop_assert_eq!(sorted(response.rules.clone()), reason.clone(), "{}", text);

        // The messages of the deny rules that decided, and for a denial
        // because nothing allowed it, the allow rules for the action that
        // did not match.
        let expected_messages: Vec<String> = with_ids()
            .filter(|(id, r)| r.message && decision == Decision::Deny && reason.contains(id))
            .map(|(id, _)| format!("message of {id}"))
            .collect();
        prop_assert_eq!(sorted(response.deny_messages.clone()), expected_messages, "{}", text);
        if decision == Decision::Deny && reason.is_empty() {
            let near: Vec<String> = enforced
                .filter(|(_, r)| !r.deny && r.names(facts.action))
                .map(|(id, _)| id)
                .collect();
            // The first three, in policy order, are explained; the rest counted.
            let mismatched: Vec<String> = response.mismatches.iter().map(|m| m.rule.clone()).collect();
            prop_assert_eq!(&mismatched[..], &near[..near.len().min(3)], "{}", text);
            prop_assert_eq!(response.more_mismatches, near.len().saturating_sub(3), "{}", text);
        }

        // Shadow rules never change the enforced decision; with any shadow
        // rule naming the action, the shadow decision is the one the policy
        // would make with every rule enforced.
        let names_shadow = rules.iter().any(|r| r.shadow && r.names(facts.action));
        prop_assert_eq!(response.shadow.is_some(), names_shadow, "{}", text);
        if let Some(shadow) = &response.shadow {
            let (decision, reason) = model_decision(with_ids(), &facts);
            prop_assert_eq!(shadow.decision, decision, "{}", text);
            prop_assert_eq!(sorted(shadow.rules.clone()), reason, "{}", text);
        }
    }
}
