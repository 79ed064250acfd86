//! Stage 1 of the request path: parse an HTTP request, once, into the typed
//! ElastiCache request the proxy decides on and later forwards.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::error::{MessageError, ParseError, Source, TargetForm};
use crate::form;
use crate::model::{AccountId, Action, API_VERSION};
use crate::params::{Params, Value};
use crate::text::did_you_mean;

pub const CACHE_SECURITY_GROUP_NAME: &str = "CacheSecurityGroupName";
pub const CACHE_SECURITY_GROUP_NAME_LIST: &str = "CacheSecurityGroupNames";
pub const EC2_SECURITY_GROUP_NAME: &str = "EC2SecurityGroupName";
pub const EC2_SECURITY_GROUP_OWNER_ID: &str = "EC2SecurityGroupOwnerId";

/// The SigV4 query-string (presigned) authentication parameters. They are
/// about the caller's signature, never forwarded.
pub const QUERY_AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
];

/// Names whose spelling the proxy relies on; a case variant of any of them is
/// a parser-differential attempt.
const KNOWN_PARAMS: [&str; 5] = [
    "Action",
    "Version",
    CACHE_SECURITY_GROUP_NAME,
    EC2_SECURITY_GROUP_NAME,
    EC2_SECURITY_GROUP_OWNER_ID,
];

/// What the parser needs of the HTTP request.
#[derive(Clone, Copy, Debug)]
pub struct HttpParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: SingleHeader<'a>,
    pub body: &'a [u8],
}

/// A header that may appear at most once, as the request carries it.
#[derive(Clone, Copy, Debug)]
pub enum SingleHeader<'a> {
    Absent,
    One(&'a str),
    /// More than one such header, or one that is not visible ASCII.
    Unreadable,
}

/// A parsed ElastiCache Query request: the action and its parameters,
/// typed by the service model. Names ElastiCache stores in lower case (the
/// cache security group name among them) are in that form, an
/// `EC2SecurityGroupOwnerId` is its 12 digits; names compared without case
/// (the EC2 security group name) are as sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ElastiCacheRequest {
    pub action: Action,
    /// Every parameter of the action but `Action` and `Version`.
    pub params: Params,
}

/// SigV4 query-string authentication parameters, from the query string only.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct QueryAuth {
    pub params: BTreeMap<&'static str, String>,
}

impl QueryAuth {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

impl ElastiCacheRequest {
    /// The canonical form body sent upstream: `Action`, `Version`, then
    /// the rest sorted by name, serialized from the typed values as
    /// botocore serializes them. This is exactly what the policy decided
    /// on. Each pair is encoded once into one buffer and sorted as a span
    /// of it: nothing is allocated per pair.
    pub fn to_form_body(&self) -> String {
        let mut names = String::with_capacity(512);
        let mut encoded = String::with_capacity(1024);
        let mut spans: Vec<(Range<usize>, Range<usize>)> =
            Vec::with_capacity(self.params.len() * 2);
        let mut name = String::with_capacity(64);
        self.params.each_pair(&mut name, &mut |name, value| {
            let (n, e) = (names.len(), encoded.len());
            names.push_str(name);
            form::push_pair(name, value, &mut encoded);
            spans.push((n..names.len(), e..encoded.len()));
        });
        // Names are unique, so their order is the pairs' order.
        spans.sort_unstable_by(|a, b| names[a.0.clone()].cmp(&names[b.0.clone()]));
        let mut out = String::with_capacity(encoded.len() + spans.len() + 48);
        form::push_pair("Action", self.action.name(), &mut out);
        out.push('&');
        form::push_pair("Version", API_VERSION, &mut out);
        for (_, pair) in spans {
            out.push('&');
            out.push_str(&encoded[pair]);
        }
        out
    }
}

/// Checks the HTTP message around the parameters: what hyper accepts but a
/// proxy deciding on the body must not. Each of these is a shape on which
/// the proxy and another HTTP parser could disagree about which request, or
/// which bytes, the message carries; the connection is closed after the
/// rejection, since where the next request starts is in doubt too.
pub fn check_message(head: &http::request::Parts) -> Result<(), MessageError> {
    let uri = &head.uri;
    if uri.scheme().is_some() || uri.authority().is_some() {
        // Absolute-form (`POST http://host/`) and authority-form (CONNECT):
        // SDKs send origin-form only, and the authority would compete with Host.
        return Err(MessageError::Target {
            form: if uri.scheme().is_some() {
                TargetForm::Absolute
            } else {
                TargetForm::Authority
            },
            scheme: uri.scheme_str().filter(|s| plain(s)).map(str::to_owned),
            host: uri.host().filter(|h| plain(h)).map(str::to_owned),
        });
    }
    let hosts: Vec<_> = head.headers.get_all(http::header::HOST).iter().collect();
    match hosts.as_slice() {
        // RFC 9112 section 3.2: one Host in HTTP/1.1, at most one in HTTP/1.0.
        [] if head.version == http::Version::HTTP_10 => {}
        [host]
            if host
                .to_str()
                .is_ok_and(|h| !h.contains('@') && h.parse::<http::uri::Authority>().is_ok()) => {}
        [] => return Err(MessageError::NoHost),
        [_] => return Err(MessageError::HostNotAuthority),
        _ => return Err(MessageError::SeveralHosts),
    }
    let codings: Vec<_> = head
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .collect();
    // Hyper decodes `chunked` when it is the last coding and ignores the
    // rest; a body in any other coding would be read as something it is not.
    let chunked_once = codings.len() <= 1
        && codings.iter().all(|v| {
            v.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"))
        });
    if !chunked_once {
        return Err(MessageError::TransferCoding);
    }
    let content_codings: Vec<_> = head
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .collect();
    if !content_codings.iter().all(|v| {
        v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity"))
    }) {
        return Err(MessageError::ContentCoding);
    }
    Ok(())
}

/// A scheme or host name that a message may quote: letters, digits, `.`
/// and `-`, as DNS names and schemes are.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
}

/// A hash of a parameter name's ASCII lowercase form, eight bytes at a time:
/// setting bit 5 of every byte folds ASCII case, so names that are equal
/// without case hash the same, and only names whose hashes meet need
/// comparing.
fn folded_hash(name: &str) -> u64 {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let mix = |hash: u64, word: u64| {
        (hash ^ (word | FOLD))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    };
    let mut chunks = name.as_bytes().chunks_exact(8);
    let mut hash = mix(0, name.len() as u64);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = mix(hash, u64::from_le_bytes(word));
    }
    let mut word = [0u8; 8];
    word[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix(hash, u64::from_le_bytes(word))
}

/// Every name once, whatever its case or source: the first name that
/// repeats one sent before it (exactly, in the other source, or in another
/// case) is rejected, together with the one it repeats.
fn check_names_unique(named: &[(&str, &str, Source)]) -> Result<(), ParseError> {
    let folded = |i: usize| named[i].0.bytes().map(|b| b.to_ascii_lowercase());
    let mut order: Vec<(u64, usize)> = named
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| (folded_hash(name), i))
        .collect();
    // Names whose hashes meet are ordered by their lowercase form, so that
    // even names made to collide cost a sort, not a comparison of each pair.
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| folded(a.1).cmp(folded(b.1)))
            .then(a.1.cmp(&b.1))
    });
    // The repeat sent first is the one reported, so that the answer does
    // not depend on the hashes: in each run of equal names, the first two
    // sent.
    let repeat = order
        .chunk_by(|a, b| a.0 == b.0 && named[a.1].0.eq_ignore_ascii_case(named[b.1].0))
        .filter_map(|run| match run {
            [(_, earlier), (_, later), ..] => Some((*earlier, *later)),
            _ => None,
        })
        .min_by_key(|&(_, later)| later);
    let Some((earlier, later)) = repeat else {
        return Ok(());
    };
    let ((first, _, first_source), (name, _, source)) = (named[earlier], named[later]);
    Err(if first == name && first_source != source {
        ParseError::InQueryAndBody(name.to_owned())
    } else if first == name {
        ParseError::Repeated(name.to_owned())
    } else {
        ParseError::CaseVariants {
            first: first.to_owned(),
            second: name.to_owned(),
        }
    })
}

/// Parses a request written as a Query string alone (`GET /?Action=…`),
/// as `explain` and `test` take it.
pub fn parse_query(query: &str) -> Result<(ElastiCacheRequest, QueryAuth), ParseError> {
    parse(&HttpParts {
        method: "GET",
        path: "/",
        query: Some(query),
        content_type: SingleHeader::Absent,
        body: b"",
    })
}

/// Parses the request, rejecting anything that two parsers could read two ways.
pub fn parse(http: &HttpParts<'_>) -> Result<(ElastiCacheRequest, QueryAuth), ParseError> {
    if http.path != "/" {
        return Err(ParseError::Path(http.path.to_owned()));
    }
    let query_pairs = decode(http.query.unwrap_or("").as_bytes(), Source::Query)?;
    let body_pairs = match http.method {
        "GET" => {
            if !http.body.is_empty() {
                return Err(ParseError::GetWithBody);
            }
            Vec::new()
        }
        "POST" => {
            check_form_content_type(http.content_type, http.body.is_empty())?;
            decode(http.body, Source::Body)?
        }
        other => return Err(ParseError::Method(other.to_owned())),
    };
    parse_pairs(&query_pairs, &body_pairs).map_err(|e| {
        withhold(
            e,
            [(Source::Query, &query_pairs), (Source::Body, &body_pairs)],
        )
    })
}

/// The request the decoded pairs make.
fn parse_pairs(
    query_pairs: &[form::Pair<'_>],
    body_pairs: &[form::Pair<'_>],
) -> Result<(ElastiCacheRequest, QueryAuth), ParseError> {
    let all: Vec<(&str, &str, Source)> = query_pairs
        .iter()
        .map(|(name, value)| (*name, value.as_ref(), Source::Query))
        .chain(
            body_pairs
                .iter()
                .map(|(name, value)| (*name, value.as_ref(), Source::Body)),
        )
        .collect();
    check_names_unique(&all)?;

    let mut query_auth = QueryAuth::default();
    let mut params: Vec<(&str, &str)> = Vec::with_capacity(all.len());
    let (mut action, mut version) = (None, None);
    for &(name, value, source) in &all {
        if let Some(canonical) = QUERY_AUTH_PARAMS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
        {
            if *canonical != name || source != Source::Query {
                return Err(ParseError::SignatureParameterMisplaced {
                    found: name.to_owned(),
                    canonical,
                });
            }
            query_auth.params.insert(canonical, value.to_owned());
            continue;
        }
        if let Some(canonical) = KNOWN_PARAMS.iter().find(|p| p.eq_ignore_ascii_case(name)) {
            if *canonical != name {
                return Err(ParseError::Misspelled {
                    found: name.to_owned(),
                    canonical,
                });
            }
        }
        match name {
            "Action" => action = Some(value),
            "Version" => version = Some(value),
            _ => params.push((name, value)),
        }
    }

    let action = action_named(action)?;
    match version {
        None => return Err(ParseError::NoVersion),
        Some(v) if v != API_VERSION => return Err(ParseError::Version(v.to_owned())),
        Some(_) => {}
    }

    // The model marks the cache security group name as stored in lower
    // case, so the parser lower-cases it.
    let mut typed = crate::params::parse(action, action.operation().input(), &params)?;
    // Decided on, and forwarded, as its 12 digits.
    if let Some(Value::String(raw)) = typed.get_mut(EC2_SECURITY_GROUP_OWNER_ID) {
        let id = AccountId::parse(raw).ok_or_else(|| ParseError::AccountId {
            parameter: EC2_SECURITY_GROUP_OWNER_ID,
            found: raw.clone(),
        })?;
        *raw = id.as_str().to_owned();
    }
    let request = ElastiCacheRequest {
        action,
        params: typed,
    };
    if action.is_ingress_change() {
        check_ingress_shape(&request)?;
    }
    Ok((request, query_auth))
}

fn decode(input: &[u8], place: Source) -> Result<Vec<form::Pair<'_>>, ParseError> {
    form::decode(input).map_err(|error| ParseError::Form { place, error })
}

/// `e`, or, when it quotes a pair that follows the pair of a secret in its
/// form, an error that shows nothing of that pair: an unencoded `&` in the
/// secret's value may have made it. A name is matched with any pair it
/// names or starts (up to a `.`). Only read when the request is rejected.
fn withhold(e: ParseError, forms: [(Source, &[form::Pair<'_>]); 2]) -> ParseError {
    let names = e.pair_names();
    let mentions = |pair: &str| {
        names.iter().any(|name| {
            pair.strip_prefix(*name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    };
    let found = forms.iter().find_map(|(place, pairs)| {
        let (first, secret) = pairs.iter().enumerate().find_map(|(i, (name, _))| {
            crate::service_model::secret_in_name(name).map(|secret| (i, secret))
        })?;
        let position = pairs
            .iter()
            .enumerate()
            .skip(first + 1)
            .find(|(_, (name, _))| mentions(name))?
            .0;
        Some((*place, position + 1, secret))
    });
    match found {
        Some((place, position, secret)) => ParseError::AfterSecret {
            place,
            position,
            secret,
            problem: Box::new(e),
        },
        None => e,
    }
}

fn check_form_content_type(
    content_type: SingleHeader<'_>,
    body_is_empty: bool,
) -> Result<(), ParseError> {
    const FORM: &str = "application/x-www-form-urlencoded";
    let value = match content_type {
        SingleHeader::Absent if body_is_empty => return Ok(()),
        SingleHeader::Absent => return Err(ParseError::ContentTypeMissing),
        SingleHeader::Unreadable => return Err(ParseError::ContentTypeUnreadable),
        SingleHeader::One(value) => value,
    };
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("");
    let params_ok = parts.all(|p| {
        let Some((key, val)) = p.split_once('=') else {
            return false;
        };
        let val = val.trim().trim_matches('"');
        key.trim().eq_ignore_ascii_case("charset") && val.eq_ignore_ascii_case("utf-8")
    });
    if essence.eq_ignore_ascii_case(FORM) && params_ok {
        Ok(())
    } else {
        Err(ParseError::ContentType(value.to_owned()))
    }
}

fn action_named(name: Option<&str>) -> Result<Action, ParseError> {
    let name = name.ok_or(ParseError::NoAction)?;
    Action::from_name(name).ok_or_else(|| ParseError::UnknownAction {
        hint: did_you_mean(name, Action::all_names().iter().copied()),
        found: name.to_owned(),
    })
}

/// Authorize and Revoke CacheSecurityGroupIngress carry exactly three
/// parameters; the model requires each, and none may be empty.
fn check_ingress_shape(request: &ElastiCacheRequest) -> Result<(), ParseError> {
    for name in [CACHE_SECURITY_GROUP_NAME, EC2_SECURITY_GROUP_NAME] {
        if request.params.get(name).and_then(Value::as_str) == Some("") {
            return Err(ParseError::Empty(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, Rejection};
    use proptest::prelude::*;

    const INGRESS: &str = "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
        &CacheSecurityGroupName=prod-web&EC2SecurityGroupName=app-frontend&EC2SecurityGroupOwnerId=123456781234";

    /// What the caller would see.
    fn wire(e: impl Into<Rejection>) -> ApiError {
        e.into().answer()
    }

    fn post(body: &str) -> Result<(ElastiCacheRequest, QueryAuth), ParseError> {
        parse(&HttpParts {
            method: "POST",
            path: "/",
            query: None,
            content_type: SingleHeader::One("application/x-www-form-urlencoded; charset=utf-8"),
            body: body.as_bytes(),
        })
    }

    fn get(query: &str) -> Result<(ElastiCacheRequest, QueryAuth), ParseError> {
        parse_query(query)
    }

    fn code(result: Result<(ElastiCacheRequest, QueryAuth), ParseError>) -> &'static str {
        match result {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => wire(e).code,
        }
    }

    #[test]
    fn parses_the_ingress_request() {
        let (request, auth) = post(INGRESS).unwrap();
        assert_eq!(request.action.name(), "AuthorizeCacheSecurityGroupIngress");
        let text = |name| request.params.get(name).and_then(Value::as_str);
        assert_eq!(text(CACHE_SECURITY_GROUP_NAME), Some("prod-web"));
        assert_eq!(text(EC2_SECURITY_GROUP_NAME), Some("app-frontend"));
        assert_eq!(text(EC2_SECURITY_GROUP_OWNER_ID), Some("123456781234"));
        assert_eq!(request.params.len(), 3);
        assert!(auth.is_empty());
        assert_eq!(get(INGRESS).unwrap().0, request);
    }

    #[test]
    fn forwards_a_canonical_body_with_the_normalized_owner_id() {
        let body = INGRESS
            .replace("123456781234", "1234-5678-1234")
            .replace("prod-web", "prod%2Dweb");
        let (request, _) = post(&body).unwrap();
        assert_eq!(
            request.to_form_body(),
            "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
             &CacheSecurityGroupName=prod-web&EC2SecurityGroupName=app-frontend&EC2SecurityGroupOwnerId=123456781234"
        );
    }

    #[test]
    fn a_nested_request_is_forwarded_sorted_by_whole_name() {
        // Sent unsorted, with 10 and more items (`.10` sorts before `.2`),
        // nested structures, an empty list, a space and a slash.
        let shard = "NodeGroupConfiguration.NodeGroupConfiguration";
        let sent = format!(
            "Action=CreateReplicationGroup&Version=2015-02-02\
             &ReplicationGroupId=orders&ReplicationGroupDescription=orders+cache\
             &{shard}.2.ReplicaCount=2&{shard}.1.ReplicaCount=1&{shard}.1.Slots=0-8191\
             &SecurityGroupIds.SecurityGroupId.10=sg-j&SecurityGroupIds.SecurityGroupId.2=sg-b\
             &SecurityGroupIds.SecurityGroupId.1=sg-a&SecurityGroupIds.SecurityGroupId.3=sg-c\
             &SecurityGroupIds.SecurityGroupId.4=sg-d&SecurityGroupIds.SecurityGroupId.5=sg-e\
             &SecurityGroupIds.SecurityGroupId.6=sg-f&SecurityGroupIds.SecurityGroupId.7=sg-g\
             &SecurityGroupIds.SecurityGroupId.8=sg-h&SecurityGroupIds.SecurityGroupId.9=sg-i\
             &PreferredCacheClusterAZs=&KmsKeyId=alias%2Forders&Port=6379&AtRestEncryptionEnabled=true"
        );
        let (request, _) = post(&sent).unwrap();
        // What it must equal: every pair named in full, sorted, encoded.
        let mut pairs = Vec::new();
        request.params.push_pairs("", &mut pairs);
        pairs.sort();
        let expected = form::encode(
            [
                ("Action", "CreateReplicationGroup"),
                ("Version", API_VERSION),
            ]
            .into_iter()
            .chain(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        assert_eq!(request.to_form_body(), expected);
        assert!(expected.contains(
            "&SecurityGroupIds.SecurityGroupId.1=sg-a&SecurityGroupIds.SecurityGroupId.10=sg-j&"
        ));
        assert!(expected.contains("&PreferredCacheClusterAZs=&"));
        assert!(expected.contains(&format!(
            "&{shard}.1.ReplicaCount=1&{shard}.1.Slots=0-8191&"
        )));
        assert!(expected.contains("ReplicationGroupDescription=orders+cache"));
        assert_eq!(post(&request.to_form_body()).unwrap().0, request);
    }

    #[test]
    fn keeps_other_parameters_of_other_actions_typed() {
        let (request, _) = post(
            "Action=DescribeCacheClusters&Version=2015-02-02&MaxRecords=20&ShowCacheNodeInfo=true",
        )
        .unwrap();
        assert_eq!(
            request.to_form_body(),
            "Action=DescribeCacheClusters&Version=2015-02-02&MaxRecords=20&ShowCacheNodeInfo=true"
        );
    }

    #[test]
    fn separates_query_auth_parameters() {
        let (request, auth) = get(&format!(
            "{INGRESS}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261125%2Fus-east-1%2Felasticache%2Faws4_request"
        ))
        .unwrap();
        assert_eq!(auth.get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(request.params.len(), 3);
        assert!(!request.to_form_body().contains("X-Amz"));
    }

    #[test]
    fn rejects_missing_and_unknown_actions() {
        assert_eq!(code(post("Version=2015-02-02")), "MissingAction");
        assert_eq!(
            code(post("Action=DropEverything&Version=2015-02-02")),
            "InvalidAction"
        );
        let err =
            wire(post("Action=AuthorizeCacheSecurityGroupIngres&Version=2015-02-02").unwrap_err());
        assert!(
            err.message
                .contains("did you mean `AuthorizeCacheSecurityGroupIngress`"),
            "{}",
            err.message
        );
        assert_eq!(
            code(post(
                "Action=authorizecachesecuritygroupingress&Version=2015-02-02"
            )),
            "InvalidAction"
        );
    }

    #[test]
    fn requires_the_2015_version() {
        assert_eq!(
            code(post("Action=DescribeCacheClusters")),
            "MissingParameter"
        );
        assert_eq!(
            code(post("Action=DescribeCacheClusters&Version=2014-01-01")),
            "InvalidParameterValue"
        );
    }

    #[test]
    fn requires_every_ingress_parameter() {
        for param in [
            CACHE_SECURITY_GROUP_NAME,
            EC2_SECURITY_GROUP_NAME,
            EC2_SECURITY_GROUP_OWNER_ID,
        ] {
            let body: Vec<&str> = INGRESS
                .split('&')
                .filter(|p| !p.starts_with(&format!("{param}=")))
                .collect();
            let err = wire(post(&body.join("&")).unwrap_err());
            assert_eq!(err.code, "MissingParameter");
            assert!(err.message.contains(param), "{}", err.message);
        }
        assert_eq!(
            code(post(&format!("{INGRESS}&Extra=1"))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post(&INGRESS.replace(
                "CacheSecurityGroupName=prod-web",
                "CacheSecurityGroupName="
            ))),
            "InvalidParameterValue"
        );
    }

    #[test]
    fn rejects_bad_owner_ids() {
        for bad in [
            "12345678123",
            "1234567812345",
            "abcdefghijkl",
            "1234-5678-123",
            "%20123456781234",
        ] {
            let err = wire(post(&INGRESS.replace("123456781234", bad)).unwrap_err());
            assert_eq!(err.code, "InvalidParameterValue", "{bad}");
        }
    }

    #[test]
    fn rejects_duplicates_case_variants_and_double_sources() {
        assert_eq!(
            code(post(&format!("{INGRESS}&CacheSecurityGroupName=prod-x"))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post(&format!("{INGRESS}&cachesecuritygroupname=prod-x"))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post(&format!("{INGRESS}&Action=DescribeCacheClusters"))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post(&INGRESS.replace(
                "EC2SecurityGroupOwnerId",
                "Ec2SecurityGroupOwnerId"
            ))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post("action=DescribeCacheClusters&Version=2015-02-02")),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(post(
                "Action=DescribeCacheClusters&Version=2015-02-02&Foo=1&FOO=2"
            )),
            "InvalidQueryParameter"
        );
        let both = parse(&HttpParts {
            method: "POST",
            path: "/",
            query: Some("CacheSecurityGroupName=prod-web"),
            content_type: SingleHeader::One("application/x-www-form-urlencoded"),
            body: INGRESS.as_bytes(),
        })
        .unwrap_err();
        let both = wire(both);
        assert_eq!(both.code, "InvalidQueryParameter");
        assert!(
            both.message.contains("both the query string and the body"),
            "{}",
            both.message
        );
    }

    #[test]
    fn signature_parameters_only_in_the_query_string() {
        assert_eq!(
            code(post(&format!("{INGRESS}&X-Amz-Signature=00"))),
            "InvalidQueryParameter"
        );
        assert_eq!(
            code(get(&format!("{INGRESS}&x-amz-signature=00"))),
            "InvalidQueryParameter"
        );
    }

    #[test]
    fn rejects_malformed_encodings() {
        for body in [
            "Action=DescribeCacheClusters&Version=2015-02-02&",
            "%41ction=DescribeCacheClusters&Version=2015-02-02",
            "Action=DescribeCacheClusters&Version=2015-02-02&A=%zz",
            "Action=DescribeCacheClusters&Version=2015-02-02&A=%c3%28",
            "Action=DescribeCacheClusters;Version=2015-02-02",
        ] {
            assert_eq!(code(post(body)), "MalformedQueryString", "{body}");
        }
        let raw = parse(&HttpParts {
            method: "POST",
            path: "/",
            query: None,
            content_type: SingleHeader::One("application/x-www-form-urlencoded"),
            body: b"Action=DescribeCacheClusters&Version=2015-02-02&A=\xff",
        });
        assert_eq!(code(raw), "MalformedQueryString");
    }

    #[test]
    fn content_types() {
        let with = |ct| {
            parse(&HttpParts {
                method: "POST",
                path: "/",
                query: None,
                content_type: ct,
                body: INGRESS.as_bytes(),
            })
        };
        assert!(with(SingleHeader::One("application/x-www-form-urlencoded")).is_ok());
        assert!(with(SingleHeader::One(
            "Application/X-WWW-Form-Urlencoded; Charset=UTF-8"
        ))
        .is_ok());
        for bad in [
            SingleHeader::One("application/json"),
            SingleHeader::One("text/plain"),
            SingleHeader::One("application/x-www-form-urlencoded; charset=latin1"),
            SingleHeader::One("application/x-www-form-urlencoded; boundary=x"),
            SingleHeader::One("application/x-www-form-urlencoded-extra"),
            SingleHeader::Absent,
            SingleHeader::Unreadable,
        ] {
            assert_eq!(code(with(bad)), "UnsupportedMediaType", "{bad:?}");
        }
    }

    fn head(
        version: http::Version,
        target: &str,
        headers: &[(&str, &[u8])],
    ) -> http::request::Parts {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(target)
            .version(version);
        for (name, value) in headers {
            builder = builder.header(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn message_framing_and_target() {
        use http::Version;
        let host: (&str, &[u8]) = ("host", b"127.0.0.1:8080");
        let ok = |version, target, headers: &[(&str, &[u8])]| {
            check_message(&head(version, target, headers)).is_ok()
        };
        let rejects = |version, target, headers: &[(&str, &[u8])], expected: &str| {
            let err = wire(check_message(&head(version, target, headers)).unwrap_err());
            assert_eq!(err.code, expected, "{target} {headers:?}: {}", err.message);
            assert!(err.close_connection, "{target} {headers:?}");
        };
        assert!(ok(Version::HTTP_11, "/", &[host]));
        assert!(ok(Version::HTTP_11, "/?Action=X", &[host]));
        assert!(ok(Version::HTTP_10, "/", &[]), "HTTP/1.0 may omit Host");
        assert!(ok(
            Version::HTTP_11,
            "/",
            &[host, ("transfer-encoding", b"Chunked")]
        ));
        assert!(ok(
            Version::HTTP_11,
            "/",
            &[host, ("content-encoding", b"identity")]
        ));
        for (target, headers) in [
            ("http://evil.example/", vec![host]),
            ("evil.example:443", vec![host]),
            ("/", vec![]),
            ("/", vec![host, ("host", b"evil.example")]),
            ("/", vec![host, host]),
            ("/", vec![("host", b"user@evil.example")]),
            ("/", vec![("host", b"a b")]),
            ("/", vec![("host", b"\xff")]),
            ("/", vec![host, ("transfer-encoding", b"gzip, chunked")]),
            ("/", vec![host, ("transfer-encoding", b"chunked, chunked")]),
            (
                "/",
                vec![
                    host,
                    ("transfer-encoding", b"gzip"),
                    ("transfer-encoding", b"chunked"),
                ],
            ),
        ] {
            rejects(Version::HTTP_11, target, &headers, "InvalidQueryParameter");
        }
        rejects(
            Version::HTTP_10,
            "/",
            &[host, host],
            "InvalidQueryParameter",
        );
        rejects(
            Version::HTTP_11,
            "/",
            &[host, ("content-encoding", b"gzip")],
            "UnsupportedMediaType",
        );
    }

    #[test]
    fn methods_and_paths() {
        let mut parts = HttpParts {
            method: "PUT",
            path: "/",
            query: Some(INGRESS),
            content_type: SingleHeader::Absent,
            body: b"",
        };
        assert_eq!(code(parse(&parts)), "MethodNotAllowed");
        parts.method = "GET";
        parts.path = "/admin";
        assert_eq!(code(parse(&parts)), "InvalidQueryParameter");
        parts.path = "/";
        parts.body = b"x=1";
        assert_eq!(code(parse(&parts)), "InvalidQueryParameter");
    }

    #[test]
    fn a_target_other_than_origin_form_shows_only_scheme_and_host() {
        let host: (&str, &[u8]) = ("host", b"127.0.0.1:8080");
        let message = |target: &str| {
            wire(check_message(&head(http::Version::HTTP_11, target, &[host])).unwrap_err()).message
        };
        assert_eq!(
            message("http://evil.example:8080/path?AuthToken=hunter2-secret&Action=X"),
            "the request has an absolute-form request target (scheme `http`, host `evil.example`), which is not served: send ElastiCache Query requests in origin-form, to `/`"
        );
        assert_eq!(
            message("evil.example:443"),
            "the request has an authority-form request target (host `evil.example`), which is not served: send ElastiCache Query requests in origin-form, to `/`"
        );
        // A host that is not a plain name (here userinfo-free but IPv6) is not quoted.
        assert_eq!(
            message("http://[::1]/?AuthToken=hunter2-secret"),
            "the request has an absolute-form request target (scheme `http`), which is not served: send ElastiCache Query requests in origin-form, to `/`"
        );
    }

    #[test]
    fn nothing_after_a_secret_is_quoted() {
        const CREATE: &str = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d";
        let message = |rest: &str| wire(post(&format!("{CREATE}&{rest}")).unwrap_err()).message;
        let cases = [
            (
                "AuthToken=hunter&Secret2",
                "body: the 6th pair has no `=`: expected `Name=value`; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&Secret2=x",
                "the 6th pair of the body: CreateReplicationGroup does not take a parameter of its name; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&Action=Secret2",
                "the 6th pair of the body: it repeats a parameter; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&NumCacheClusters=Secret2",
                "the 6th pair of the body: its value must be a whole number from -2147483648 to 2147483647; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&TransitEncryptionMode=Secret2",
                "the 6th pair of the body: its value must be one of `preferred`, `required`; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&authtoken=x",
                "the 6th pair of the body: its name differs only in case from another parameter's; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&X-Amz-Date=x",
                "the 6th pair of the body: it is a signature parameter, which belongs in the query string; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.01.LogType=x",
                "the 6th pair of the body: it numbers a list item other than 1, 2, 3 and so on; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`",
            ),
            (
                "AuthToken=hunter=Secret2",
                "body: the value of parameter `AuthToken` (the 5th pair) holds a byte that must be percent-encoded (which is not shown: the value is a secret)",
            ),
        ];
        for (rest, expected) in cases {
            assert_eq!(message(rest), expected, "{rest}");
        }
        // Before the secret, or without one, pairs are named.
        assert_eq!(
            message("NumCacheClusters=x2&AuthToken=hunter"),
            "`NumCacheClusters` must be a whole number from -2147483648 to 2147483647, not `x2`"
        );
        assert_eq!(
            message("Secret2"),
            "body: parameter `Secret2` (the 5th pair) has no `=`: expected `Name=value`; a value holding `&` must send it as `%26`"
        );
        // A secret in the query string leaves the body's pairs named.
        let split = parse(&HttpParts {
            method: "POST",
            path: "/",
            query: Some("AuthToken=hunter"),
            content_type: SingleHeader::One("application/x-www-form-urlencoded"),
            body: format!("{CREATE}&Secret2=1").as_bytes(),
        });
        assert!(wire(split.unwrap_err())
            .message
            .contains("the parameter `Secret2`"),);
        let json = wire(
            post("{\"Action\": \"CreateReplicationGroup\", \"AuthToken\": \"hunter\"}")
                .unwrap_err(),
        );
        assert_eq!(
            (json.code, json.message.as_str()),
            ("MalformedQueryString", "the body looks like JSON; ElastiCache's Query API takes an `application/x-www-form-urlencoded` form (`Action=…&Version=…`)")
        );
    }

    /// Text that, in the secrets below, cannot be taken for the words of a
    /// message: few letters, no digits.
    const SECRET_CHARS: &str = "qxzjQXZJ&={ .-_~%+*";

    fn secret_part() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(SECRET_CHARS.chars().collect::<Vec<_>>()),
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn no_answer_holds_a_piece_of_a_secret(
            head in secret_part(),
            special in proptest::sample::select(vec!["&", "=", "{", " ", "&&", "&Q", "&Qx=", "&Action=", "&X-Amz-Date="]),
            tail in secret_part(),
            passwords in any::<bool>(),
            at in 0usize..6,
            encoded in any::<bool>(),
            in_query in any::<bool>(),
            after in proptest::option::of("(NumCacheClusters|Qz)=(zz|2)"),
        ) {
            let secret = format!("{head}{special}{tail}");
            let (mut pairs, secret_name) = if passwords {
                (vec!["Action=CreateUser", "Version=2015-02-02", "UserId=u1", "UserName=n1", "Engine=redis", "AccessString=on"], "Passwords.member.1")
            } else {
                (vec!["Action=CreateReplicationGroup", "Version=2015-02-02", "ReplicationGroupId=rg", "ReplicationGroupDescription=d"], "AuthToken")
            };
            let value = if encoded { form::encode([("", secret.as_str())])[1..].to_owned() } else { secret.clone() };
            let secret_pair = format!("{secret_name}={value}");
            pairs.insert(at.min(pairs.len()), &secret_pair);
            if let Some(after) = &after {
                pairs.push(after);
            }
            let form = pairs.join("&");
            let result = if in_query { get(&form) } else { post(&form) };
            // Not vacuous: an encoded secret is read, an unencoded one (it
            // always holds a byte that must be encoded) is refused.
            let valid_after = after.as_deref().is_none_or(|a| a == "NumCacheClusters=2" && !passwords);
            match (&result, encoded) {
                (Ok((request, _)), true) => {
                    prop_assert!(valid_after, "{form}");
                    let sent = match request.params.get(if passwords { "Passwords" } else { "AuthToken" }) {
                        Some(Value::List(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
                        Some(other) => other.as_str().map(str::to_owned),
                        None => None,
                    };
                    prop_assert_eq!(sent.as_deref(), Some(secret.as_str()));
                }
                (Err(_), true) => prop_assert!(!valid_after, "{form}: {result:?}"),
                // In the query string, the rest is a signature parameter.
                (Ok(_), false) => prop_assert!(in_query && special == "&X-Amz-Date=", "{form} was accepted"),
                (Err(_), false) => {}
            }
            let Err(e) = result else { return Ok(()) };
            let message = wire(e).message;
            let names: Vec<&str> = pairs
                .iter()
                .filter(|p| **p != secret_pair)
                .filter_map(|p| p.split('=').next())
                .collect();
            let chars: Vec<char> = secret.chars().collect();
            for piece in chars.windows(4) {
                let piece: String = piece.iter().collect();
                prop_assert!(
                    !message.contains(&piece) || names.iter().any(|n| n.contains(&piece)),
                    "{form}: `{piece}` in {message}"
                );
            }
        }

        #[test]
        fn forwarded_body_re_parses_to_the_decided_request(
            group in "[ -~]{1,30}", ec2 in "\\PC{1,30}"
        ) {
            let action = Action::from_name("AuthorizeCacheSecurityGroupIngress").unwrap();
            // A decided request holds the name in ElastiCache's lower case.
            let group = crate::names::stored_lowercase(group);
            let params = [
                (CACHE_SECURITY_GROUP_NAME, group.as_str()),
                (EC2_SECURITY_GROUP_NAME, ec2.as_str()),
                (EC2_SECURITY_GROUP_OWNER_ID, "123456781234"),
            ];
            let request = ElastiCacheRequest {
                action,
                params: Params::of_strings(action.operation().input(), params),
            };
            let (again, _) = post(&request.to_form_body()).unwrap();
            prop_assert_eq!(again, request);
        }

        #[test]
        fn the_first_repeat_is_the_one_reported(
            names in proptest::collection::vec(("[aAbB_]{1,10}", any::<bool>()), 0..24)
        ) {
            let named: Vec<(&str, &str, Source)> = names
                .iter()
                .map(|(name, query)| {
                    (name.as_str(), "", if *query { Source::Query } else { Source::Body })
                })
                .collect();
            // Each name against every one sent before it.
            let repeat = (0..named.len()).find_map(|later| {
                (0..later)
                    .find(|&earlier| named[earlier].0.eq_ignore_ascii_case(named[later].0))
                    .map(|earlier| (earlier, later))
            });
            let expected = repeat.map(|(earlier, later)| {
                let ((first, _, first_source), (name, _, source)) = (named[earlier], named[later]);
                if first == name && first_source != source {
                    ParseError::InQueryAndBody(name.to_owned())
                } else if first == name {
                    ParseError::Repeated(name.to_owned())
                } else {
                    ParseError::CaseVariants { first: first.to_owned(), second: name.to_owned() }
                }
            });
            prop_assert_eq!(check_names_unique(&named).err(), expected);
        }

        #[test]
        fn parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), query in "\\PC{0,60}") {
            let _ = parse(&HttpParts {
                method: "POST",
                path: "/",
                query: Some(&query),
                content_type: SingleHeader::One("application/x-www-form-urlencoded"),
                body: &body,
            });
        }
    }
}
