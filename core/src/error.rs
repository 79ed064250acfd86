//! Every rejection the proxy answers with, in the ElastiCache Query error format.
//! The one place that turns a failure into status, code and XML body.

use std::borrow::Cow;
use std::fmt;

use crate::form::{FormError, PairAt, PairFault};
use crate::model::{Action, API_VERSION};
use crate::service_model::{Bounds, BOTOCORE_VERSION};
use crate::sigv4::VerifyError;
use crate::text::{backticked, quoted};

/// Why a request was not served, by the stage that stopped it. Stages
/// return their own error; [`Rejection::answer`] is the one place any of
/// them becomes what the caller sees.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Rejection {
    /// Stage 1a: the HTTP message around the parameters.
    Message(MessageError),
    /// Stage 1b: the parameters.
    Parse(ParseError),
    /// Stage 2: who is calling.
    Auth(AuthError),
    /// The request names no region (unsigned, no ElastiCache Host, none
    /// configured).
    NoRegion,
    /// Stage 3: the policy denied it; the message says why, to the detail
    /// the config allows.
    Denied(String),
    /// The proxy's own limits and its upstream.
    Service(ServiceError),
    /// The tags of the resources the request names, which a rule needs,
    /// could not be told.
    Resources(ResourceError),
}

/// Why the proxy cannot tell the tags of the resources a request names,
/// which a `resource_tags` rule needs: the request is not forwarded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ResourceError {
    /// The request does not say which resources it names.
    Unnamed(crate::resources::ResourceError),
    /// More resources than the proxy looks up for one request.
    TooMany { count: usize, limit: usize },
    /// The proxy does not know its own account id, which its ARNs need.
    NoAccount,
    /// A lookup failed: which resource, and why. Worth retrying.
    LookupFailed { resource: String, reason: String },
}

/// A message shape on which the proxy and another HTTP parser could
/// disagree about which request, or which bytes, it carries. Where the
/// next request starts is in doubt too, so the connection is closed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MessageError {
    /// Absolute-form or authority-form request target. Its path and query
    /// may hold a secret, so only the scheme and the host are kept, when
    /// they are plain.
    Target {
        form: TargetForm,
        scheme: Option<String>,
        host: Option<String>,
    },
    NoHost,
    HostNotAuthority,
    SeveralHosts,
    TransferCoding,
    ContentCoding,
    Trailers,
    /// The body's framing broke while it was read.
    BodyUnreadable(String),
}

/// A request target other than origin-form (`/?…`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TargetForm {
    /// `http://host/…`
    Absolute,
    /// `host:port`, as CONNECT sends it.
    Authority,
}

/// Where form pairs were read from: the query string or the body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    Query,
    Body,
}

/// The parameters are not one well-formed ElastiCache request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ParseError {
    Path(String),
    /// A region given to `explain` that is no AWS region name.
    Region(String),
    /// Not `application/x-www-form-urlencoded` bytes.
    Form {
        place: Source,
        error: FormError,
    },
    GetWithBody,
    Method(String),
    ContentTypeMissing,
    ContentTypeUnreadable,
    ContentType(String),
    InQueryAndBody(String),
    Repeated(String),
    CaseVariants {
        first: String,
        second: String,
    },
    SignatureParameterMisplaced {
        found: String,
        canonical: &'static str,
    },
    Misspelled {
        found: String,
        canonical: &'static str,
    },
    NoAction,
    UnknownAction {
        found: String,
        hint: Option<&'static str>,
    },
    NoVersion,
    Version(String),
    AccountId {
        parameter: &'static str,
        found: String,
    },
    MissingParameters {
        action: Action,
        names: Vec<&'static str>,
    },
    Empty(&'static str),
    /// A parameter the action does not have in the proxy's model (a newer
    /// SDK may send one); the hint is the closest name it has.
    UnexpectedParameter {
        action: Action,
        name: String,
        hint: Option<String>,
    },
    /// A structure (or map entry) lacks required members.
    MissingMembers {
        name: String,
        members: Vec<&'static str>,
    },
    /// A list or structure sent as a plain value, or the other way round.
    Shape {
        name: String,
        expected: &'static str,
    },
    /// A list item numbered other than as botocore numbers them.
    ListIndex {
        name: String,
        index: String,
    },
    ListGap {
        name: String,
        missing: String,
    },
    /// A list item (or map entry) named otherwise than the model names it,
    /// such as `SecurityGroupIds.member.1`.
    ItemName {
        name: String,
        expected: String,
    },
    /// An item numbered past the most items the list may have.
    TooManyItems {
        name: String,
        item: String,
        max: u32,
    },
    /// `found` is `None` for a secret, whose value is never echoed.
    WrongType {
        name: String,
        expected: &'static str,
        found: Option<String>,
    },
    NotInEnum {
        name: String,
        found: Option<String>,
        allowed: &'static [&'static str],
        hint: Option<&'static str>,
    },
    /// A length, count or number outside the model's bounds.
    OutOfBounds {
        name: String,
        what: &'static str,
        found: Option<i64>,
        bounds: Bounds,
    },
    RepeatedMapKey(String),
    /// Two items of a tag list with the same key; `key` is `None` for a
    /// secret.
    RepeatedTagKey {
        first: String,
        second: String,
        key: Option<String>,
    },
    /// `problem` is about a pair that follows the pair of a secret in its
    /// form (`position` counts from 1): an unencoded `&` in the secret's
    /// value may have made that pair, so nothing of it is shown.
    AfterSecret {
        place: Source,
        position: usize,
        secret: &'static str,
        problem: Box<ParseError>,
    },
}

/// The caller could not be authenticated.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AuthError {
    SeveralAuthorizations,
    BothSignatureForms,
    /// The signature's syntax; the detail names the part at fault.
    Syntax(String),
    Unsigned,
    UnknownKey(String),
    Verify(VerifyError),
    /// mTLS is required and the certificate (its first identity, if any)
    /// is no caller's.
    CertificateUnknown(Option<String>),
    CertificateMismatch {
        certificate: String,
        signer: String,
    },
}

/// Why a caller could not be authenticated, as the metrics count it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SignatureFailure {
    Missing,
    Malformed,
    UnknownKey,
    Mismatch,
    Expired,
    NotYetValid,
    Certificate,
}

impl SignatureFailure {
    pub const ALL: [SignatureFailure; 7] = [
        SignatureFailure::Missing,
        SignatureFailure::Malformed,
        SignatureFailure::UnknownKey,
        SignatureFailure::Mismatch,
        SignatureFailure::Expired,
        SignatureFailure::NotYetValid,
        SignatureFailure::Certificate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureFailure::Missing => "missing",
            SignatureFailure::Malformed => "malformed",
            SignatureFailure::UnknownKey => "unknown_key",
            SignatureFailure::Mismatch => "mismatch",
            SignatureFailure::Expired => "expired",
            SignatureFailure::NotYetValid => "not_yet_valid",
            SignatureFailure::Certificate => "certificate",
        }
    }
}

impl AuthError {
    /// The metric reason, from the type alone.
    pub fn reason(&self) -> SignatureFailure {
        match self {
            AuthError::SeveralAuthorizations
            | AuthError::BothSignatureForms
            | AuthError::Syntax(_) => SignatureFailure::Malformed,
            AuthError::Unsigned => SignatureFailure::Missing,
            AuthError::UnknownKey(_) => SignatureFailure::UnknownKey,
            AuthError::Verify(VerifyError::SignatureDoesNotMatch) => SignatureFailure::Mismatch,
            AuthError::Verify(VerifyError::Expired { .. }) => SignatureFailure::Expired,
            AuthError::Verify(VerifyError::NotYetValid { .. }) => SignatureFailure::NotYetValid,
            AuthError::Verify(_) => SignatureFailure::Malformed,
            AuthError::CertificateUnknown(_) | AuthError::CertificateMismatch { .. } => {
                SignatureFailure::Certificate
            }
        }
    }
}

/// The proxy's own limits, its audit log and its upstream.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ServiceError {
    BodyTooLarge {
        limit: usize,
    },
    BodyTimeout,
    Throttled {
        limit: usize,
    },
    /// Checked before forwarding: nothing is forwarded that cannot be audited.
    AuditUnhealthy,
    /// The audit line of this request could not be written.
    AuditWriteFailed,
    NoCredentials,
    /// The upstream request could not be signed, or built.
    UpstreamSigning(String),
    UpstreamRequest(String),
    UpstreamUnreachable(String),
    UpstreamAnswerTooLarge {
        limit: usize,
    },
    UpstreamAnswerInvalid(String),
    UpstreamNotFinal(u16),
    UpstreamTimeout(std::time::Duration),
    /// The task serving the request ended without an answer.
    Internal,
}

/// Each stage's error is a rejection, and prints as the message its caller
/// would get.
macro_rules! stage_error {
    ($($stage:ident => $variant:ident),* $(,)?) => {$(
        impl From<$stage> for Rejection {
            fn from(e: $stage) -> Rejection {
                Rejection::$variant(e)
            }
        }
        impl fmt::Display for $stage {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&Rejection::$variant(self.clone()).answer().message)
            }
        }
    )*};
}

stage_error!(
    MessageError => Message,
    ParseError => Parse,
    AuthError => Auth,
    ServiceError => Service,
    ResourceError => Resources,
);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.answer().message)
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

impl Rejection {
    /// The one mapping from a rejection to the AWS code, the HTTP status and
    /// the message the caller sees. No message holds a secret.
    pub fn answer(&self) -> ApiError {
        use ApiError as E;
        match self {
            Rejection::Message(e) => {
                let error = match e {
                    MessageError::Target { form, scheme, host } => {
                        let form = match form {
                            TargetForm::Absolute => "an absolute-form request target",
                            TargetForm::Authority => "an authority-form request target",
                        };
                        let parts: Vec<String> = [("scheme", scheme), ("host", host)]
                            .into_iter()
                            .filter_map(|(what, part)| {
                                part.as_deref().map(|p| format!("{what} {}", quoted(p)))
                            })
                            .collect();
                        let parts = if parts.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", parts.join(", "))
                        };
                        E::invalid_query_parameter(format!(
                            "the request has {form}{parts}, which is not served: send ElastiCache Query requests in origin-form, to `/`"
                        ))
                    }
                    MessageError::NoHost => {
                        E::invalid_query_parameter("the request has no `Host` header")
                    }
                    MessageError::HostNotAuthority => {
                        E::invalid_query_parameter("the `Host` header is not a host name and port")
                    }
                    MessageError::SeveralHosts => {
                        E::invalid_query_parameter("the request has more than one `Host` header")
                    }
                    MessageError::TransferCoding => E::invalid_query_parameter(
                        "the only transfer coding accepted is a single `Transfer-Encoding: chunked`",
                    ),
                    MessageError::ContentCoding => E::unsupported_media_type(
                        "the body must not have a content coding: send the form uncompressed",
                    ),
                    MessageError::Trailers => E::invalid_query_parameter(
                        "the request has trailer fields; send every header before the body",
                    ),
                    MessageError::BodyUnreadable(detail) => E::malformed_query_string(format!(
                        "the request body could not be read: {detail}"
                    )),
                };
                error.closing_connection()
            }
            Rejection::Parse(e) => parse_answer(e),
            Rejection::Auth(e) => auth_answer(e),
            Rejection::NoRegion => E::missing_parameter(
                "the request is not signed, so it names no region: sign it with SigV4 (its credential scope names the region), send it with `Host: elasticache.REGION.amazonaws.com`, or have the proxy's operator set `region` in its config",
            ),
            Rejection::Denied(message) => E::invalid_parameter_combination(message.as_str()),
            Rejection::Service(e) => service_answer(e),
            Rejection::Resources(e) => resource_answer(e),
        }
    }
}

fn resource_answer(e: &ResourceError) -> ApiError {
    use ApiError as E;
    match e {
        ResourceError::Unnamed(e) => E::invalid_parameter_value(format!(
            "the proxy cannot tell which resources the request names, which its policy checks the tags of: {e}"
        )),
        ResourceError::TooMany { count, limit } => E::invalid_parameter_combination(format!(
            "the request names {count} existing resources, and the proxy checks the tags of at most {limit} for one request: send fewer at a time"
        )),
        ResourceError::NoAccount => E::service_unavailable(
            "the proxy does not know its own AWS account id, so it cannot check the tags of the resources the request names; its operator sets `account_id` in its config",
        ),
        ResourceError::LookupFailed { resource, reason } => E::service_unavailable(format!(
            "the proxy could not check the tags of {resource}: {reason}; nothing was forwarded, and the request can be retried"
        )),
    }
}

fn parse_answer(e: &ParseError) -> ApiError {
    use ApiError as E;
    match e {
        ParseError::Path(path) => E::invalid_query_parameter(format!(
            "request path {} is not served: send ElastiCache Query requests to `/`",
            quoted(path)
        )),
        ParseError::Region(found) => {
            E::invalid_parameter_value(format!("{} is not an AWS region name", quoted(found)))
        }
        ParseError::Form { place, error } => E::malformed_query_string(form_problem(*place, error)),
        ParseError::GetWithBody => E::invalid_query_parameter(
            "a GET request must not have a body: send the parameters in the query string or POST a form",
        ),
        ParseError::Method(method) => E::method_not_allowed(format!(
            "method {} is not supported: use POST with a form body, or GET",
            quoted(method)
        )),
        ParseError::ContentTypeMissing => {
            E::unsupported_media_type(format!("a POST body needs `Content-Type: {FORM}`"))
        }
        ParseError::ContentTypeUnreadable => E::unsupported_media_type(
            "the request has more than one Content-Type, or one that is not plain text",
        ),
        ParseError::ContentType(found) => E::unsupported_media_type(format!(
            "Content-Type {} is not supported: send `{FORM}` (charset utf-8)",
            quoted(found)
        )),
        ParseError::InQueryAndBody(name) => E::invalid_query_parameter(format!(
            "parameter {} is in both the query string and the body",
            quoted(name)
        )),
        ParseError::Repeated(name) => E::invalid_query_parameter(format!(
            "parameter {} appears more than once",
            quoted(name)
        )),
        ParseError::CaseVariants { first, second } => E::invalid_query_parameter(format!(
            "parameters {} and {} differ only in case",
            quoted(first),
            quoted(second)
        )),
        ParseError::SignatureParameterMisplaced { found, canonical } => {
            E::invalid_query_parameter(format!(
                "signature parameter {} belongs in the query string, spelled {}",
                quoted(found),
                quoted(canonical)
            ))
        }
        ParseError::Misspelled { found, canonical } => E::invalid_query_parameter(format!(
            "parameter {} must be spelled {}",
            quoted(found),
            quoted(canonical)
        )),
        ParseError::NoAction => E::missing_action("the request must contain the parameter `Action`"),
        ParseError::UnknownAction { found, hint } => E::invalid_action(format!(
            "{} is not an ElastiCache action{}",
            quoted(found),
            hint.map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default()
        )),
        ParseError::NoVersion => E::missing_parameter(format!(
            "the request must contain the parameter `Version` ({API_VERSION})"
        )),
        ParseError::Version(found) => E::invalid_parameter_value(format!(
            "unsupported API version {}: this proxy speaks ElastiCache {API_VERSION}",
            quoted(found)
        )),
        ParseError::AccountId { parameter, found } => E::invalid_parameter_value(format!(
            "{parameter} {} is not an AWS account id (12 digits, such as `123456781234`)",
            quoted(found)
        )),
        ParseError::MissingParameters { action, names } => E::missing_parameter(format!(
            "{action} requires the parameter(s) {}",
            backticked(names)
        )),
        ParseError::Empty(name) => E::invalid_parameter_value(format!("`{name}` must not be empty")),
        ParseError::UnexpectedParameter { action, name, hint } => {
            E::invalid_query_parameter(format!(
                "{action} does not take the parameter {}{}; this proxy knows the ElastiCache {API_VERSION} model of botocore {BOTOCORE_VERSION}, so a parameter a newer SDK sends needs a newer proxy",
                quoted(name),
                hint.as_deref()
                    .map(|h| format!(" (did you mean {}?)", quoted(h)))
                    .unwrap_or_default()
            ))
        }
        ParseError::MissingMembers { name, members } => E::missing_parameter(format!(
            "{} lacks the member(s) {}",
            quoted(name),
            backticked(members)
        )),
        ParseError::Shape { name, expected } => E::invalid_query_parameter(format!(
            "{} is {expected}",
            quoted(name)
        )),
        ParseError::ListIndex { name, index } => E::invalid_query_parameter(format!(
            "{}: list items are numbered 1, 2, 3 and so on, without leading zeros, not {}",
            quoted(name),
            quoted(index)
        )),
        ParseError::ItemName { name, expected } => E::invalid_query_parameter(format!(
            "{} is not the name of an item of the list: its items are named `{expected}` (N from 1), as the model names them",
            quoted(name),
        )),
        ParseError::TooManyItems { name, item, max } => E::invalid_parameter_value(format!(
            "{} is too long: it has an item {}, and it may have at most {max} items",
            quoted(name),
            quoted(item)
        )),
        ParseError::ListGap { name, missing } => E::invalid_query_parameter(format!(
            "the items of {} skip {}: they must be numbered 1 to n without gaps",
            quoted(name),
            quoted(missing)
        )),
        ParseError::WrongType {
            name,
            expected,
            found,
        } => E::invalid_parameter_value(format!(
            "{} must be {expected}, not {}",
            quoted(name),
            shown(found.as_deref())
        )),
        ParseError::NotInEnum {
            name,
            found,
            allowed,
            hint,
        } => E::invalid_parameter_value(format!(
            "{} must be one of {}, not {}{}",
            quoted(name),
            backticked(allowed.iter()),
            shown(found.as_deref()),
            hint.map(|h| format!("; did you mean `{h}`?"))
                .unwrap_or_default()
        )),
        ParseError::OutOfBounds {
            name,
            what,
            found,
            bounds,
        } => {
            let allowed = match (bounds.min, bounds.max) {
                (Some(min), Some(max)) => format!("{min} to {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => "any".to_owned(),
            };
            let found = match (found, *what) {
                (Some(n), "value") => format!("is {n}"),
                (Some(n), what) => format!("has {n} {what}"),
                (None, "value") => "is a secret value".to_owned(),
                (None, what) => format!("has a number of {what}"),
            };
            E::invalid_parameter_value(format!(
                "{} {found}, outside the range the model allows ({allowed})",
                quoted(name)
            ))
        }
        ParseError::RepeatedMapKey(name) => {
            E::invalid_query_parameter(format!("{} repeats a key", quoted(name)))
        }
        // A modelled ElastiCache error (InvalidParameterValueException in the
        // SDKs), unlike other services' `DuplicateTagKeys`.
        ParseError::RepeatedTagKey { first, second, key } => E::invalid_parameter_value(format!(
            "tags {} and {} repeat the key {}: each key may be given once",
            quoted(first),
            quoted(second),
            key.as_deref().map_or("(a secret, not shown)".to_owned(), quoted)
        )),
        ParseError::AfterSecret {
            place,
            position,
            secret,
            problem,
        } => {
            // The code and status of the problem, in words of its own.
            let message = format!(
                "the {} pair of the {}: {}{}",
                ordinal(*position),
                place_name(*place),
                unquoted_problem(problem),
                after_secret(secret)
            );
            ApiError {
                message,
                ..parse_answer(problem)
            }
        }
    }
}

fn place_name(place: Source) -> &'static str {
    match place {
        Source::Query => "query string",
        Source::Body => "body",
    }
}

/// Why a pair after a secret's is not shown, and the likely cause.
fn after_secret(secret: &str) -> String {
    format!(
        "; it is not shown, since it follows `{secret}` and may be part of its value: a value holding `&` must send it as `%26`"
    )
}

fn form_problem(place: Source, error: &FormError) -> String {
    let (at, fault) = match error {
        FormError::LooksLikeJson => {
            return format!(
                "the {} looks like JSON; ElastiCache's Query API takes an `{FORM}` form (`Action=…&Version=…`)",
                place_name(place)
            )
        }
        FormError::Pair { at, fault } => (at, fault),
    };
    let (subject, suffix) = match at {
        PairAt::Named { position, name } => (
            format!(
                "parameter {} (the {} pair)",
                quoted(name),
                ordinal(*position)
            ),
            None,
        ),
        PairAt::Unnamed { position } => (format!("the {} pair", ordinal(*position)), None),
        PairAt::AfterSecret { position, secret } => (
            format!("the {} pair", ordinal(*position)),
            Some(after_secret(secret)),
        ),
    };
    let problem = match fault {
        PairFault::Empty => format!("{subject} is empty (`&&`, or a leading or trailing `&`)"),
        PairFault::NoEquals => format!("{subject} has no `=`: expected `Name=value`"),
        PairFault::BadName => format!(
            "the name of {subject} is not plain: names use only letters, digits, `.`, `_` and `-`, unencoded"
        ),
        PairFault::BadEscape => format!(
            "the value of {subject} has a malformed percent escape: expected `%` and two hex digits"
        ),
        PairFault::RawByte(Some(byte)) => format!(
            "the value of {subject} holds the byte 0x{byte:02x} unencoded; percent-encode it"
        ),
        PairFault::RawByte(None) => format!(
            "the value of {subject} holds a byte that must be percent-encoded (which is not shown: the value is a secret)"
        ),
        PairFault::NotUtf8 => format!("the value of {subject} is not valid UTF-8"),
        PairFault::ControlCharacter => format!("the value of {subject} holds a control character"),
    };
    // A pair without `=`, or an empty one, is most often the rest of a
    // value whose `&` was sent unencoded.
    let suffix = suffix.unwrap_or_else(|| match fault {
        PairFault::Empty | PairFault::NoEquals => {
            "; a value holding `&` must send it as `%26`".to_owned()
        }
        PairFault::BadName
        | PairFault::BadEscape
        | PairFault::RawByte(_)
        | PairFault::NotUtf8
        | PairFault::ControlCharacter => String::new(),
    });
    format!("{}: {problem}{suffix}", place_name(place))
}

/// What is wrong with a pair that is not shown, in words that quote
/// nothing of the request.
fn unquoted_problem(e: &ParseError) -> String {
    e.about_pairs()
        .map_or_else(|| "it is not well-formed".into(), |(_, problem)| problem)
}

impl ParseError {
    /// The names of the request's pairs this error quotes (or the start
    /// of one such name, up to a `.`), or whose value it quotes.
    pub fn pair_names(&self) -> Vec<&str> {
        self.about_pairs()
            .map(|(names, _)| names)
            .unwrap_or_default()
    }

    /// For an error that quotes pairs: their names, and the error in words
    /// that quote nothing of them.
    fn about_pairs(&self) -> Option<(Vec<&str>, String)> {
        let (name, problem): (&str, String) = match self {
            ParseError::InQueryAndBody(name) => {
                (name, "it is in both the query string and the body".into())
            }
            ParseError::Repeated(name) => (name, "it repeats a parameter".into()),
            ParseError::CaseVariants { first, second } => {
                return Some((
                    vec![first, second],
                    "its name differs only in case from another parameter's".into(),
                ))
            }
            // Not even the name it stands for is shown: it may be in the secret.
            ParseError::SignatureParameterMisplaced { found, .. } => (
                found,
                "it is a signature parameter, which belongs in the query string".into(),
            ),
            ParseError::Misspelled { found, .. } => (
                found,
                "its name is a known one spelled in another case".into(),
            ),
            ParseError::UnknownAction { .. } => ("Action", "it names no ElastiCache action".into()),
            ParseError::Version(_) => (
                "Version",
                format!("it names an API version other than {API_VERSION}"),
            ),
            ParseError::AccountId { parameter, .. } => (
                parameter,
                format!("its {parameter} is not an AWS account id (12 digits)"),
            ),
            ParseError::UnexpectedParameter { action, name, .. } => (
                name,
                format!("{action} does not take a parameter of its name"),
            ),
            ParseError::MissingMembers { name, members } => (
                name,
                format!("it lacks the member(s) {}", backticked(members)),
            ),
            ParseError::Shape { name, expected } => (name, format!("its parameter is {expected}")),
            ParseError::ListIndex { name, .. } => (
                name,
                "it numbers a list item other than 1, 2, 3 and so on".into(),
            ),
            ParseError::ListGap { name, .. } => (name, "its list skips an item number".into()),
            ParseError::ItemName { name, .. } => (
                name,
                "it names a list item otherwise than the model names it".into(),
            ),
            ParseError::TooManyItems { name, .. } => {
                (name, "its list has more items than it may have".into())
            }
            ParseError::RepeatedTagKey { first, second, .. } => {
                return Some((vec![first, second], "its tags repeat a key".into()))
            }
            ParseError::WrongType { name, expected, .. } => {
                (name, format!("its value must be {expected}"))
            }
            ParseError::NotInEnum { name, allowed, .. } => (
                name,
                format!("its value must be one of {}", backticked(allowed.iter())),
            ),
            ParseError::OutOfBounds { name, what, .. } => (
                name,
                format!("its {what} are outside the range the model allows"),
            ),
            ParseError::RepeatedMapKey(name) => (name, "it repeats a map key".into()),
            ParseError::Path(_)
            | ParseError::Region(_)
            | ParseError::Form { .. }
            | ParseError::GetWithBody
            | ParseError::Method(_)
            | ParseError::ContentTypeMissing
            | ParseError::ContentTypeUnreadable
            | ParseError::ContentType(_)
            | ParseError::NoAction
            | ParseError::NoVersion
            | ParseError::MissingParameters { .. }
            | ParseError::Empty(_)
            | ParseError::AfterSecret { .. } => return None,
        };
        Some((vec![name], problem))
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st` …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Whether `text` is shaped like a Query parameter name, so that a message
/// may quote it: `.`-separated segments of ASCII letters and digits, the
/// first starting with an upper-case letter
/// (`SecurityGroupIds.SecurityGroupId.3`), or a SigV4 `X-Amz-…` name.
pub fn is_parameter_name(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("X-Amz-") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    }
    text.starts_with(|c: char| c.is_ascii_uppercase())
        && text.split('.').all(|segment| {
            !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn auth_answer(e: &AuthError) -> ApiError {
    use ApiError as E;
    match e {
        AuthError::SeveralAuthorizations => E::incomplete_signature(
            "the request has more than one `Authorization` header, or one that is not plain text",
        ),
        AuthError::BothSignatureForms => E::incomplete_signature(
            "the request carries both an `Authorization` header and `X-Amz-*` signature parameters; use one",
        ),
        AuthError::Syntax(detail) => E::incomplete_signature(detail.as_str()),
        AuthError::Unsigned => E::missing_authentication_token(
            "the request is not signed: sign it with SigV4 for service `elasticache` (an `Authorization` header or `X-Amz-*` query parameters)",
        ),
        AuthError::UnknownKey(key_id) => E::invalid_client_token_id(format!(
            "the security token included in the request is invalid: access key id {} is not a caller's",
            quoted(key_id)
        )),
        AuthError::Verify(e @ VerifyError::Expired { .. }) => E::request_expired(e.to_string()),
        AuthError::Verify(e @ (VerifyError::SignatureDoesNotMatch | VerifyError::NotYetValid { .. })) => {
            E::signature_does_not_match(e.to_string())
        }
        AuthError::Verify(e) => E::incomplete_signature(e.to_string()),
        AuthError::CertificateUnknown(identity) => E::access_denied(format!(
            "the client certificate (identity {}) does not belong to any caller",
            identity.as_deref().map_or("none".to_owned(), quoted)
        )),
        AuthError::CertificateMismatch {
            certificate,
            signer,
        } => E::access_denied(format!(
            "the client certificate belongs to caller `{certificate}` but the request is signed by caller `{signer}`"
        )),
    }
}

fn service_answer(e: &ServiceError) -> ApiError {
    use ApiError as E;
    match e {
        ServiceError::BodyTooLarge { limit } => E::request_entity_too_large(format!(
            "the request body is larger than the limit of {limit} bytes"
        )),
        ServiceError::BodyTimeout => E::request_timeout("the request body did not arrive in time"),
        ServiceError::Throttled { limit } => E::throttling(format!(
            "Rate exceeded: more than {limit} requests are in flight"
        )),
        ServiceError::AuditUnhealthy => E::service_unavailable(
            "the audit log cannot be written, so nothing is forwarded until it can",
        ),
        ServiceError::AuditWriteFailed => E::service_unavailable(
            "the audit log cannot be written, so the proxy does not answer what it cannot record",
        ),
        ServiceError::NoCredentials => E::service_unavailable(
            "the proxy has no valid credentials for the upstream call right now",
        ),
        ServiceError::UpstreamSigning(detail) => {
            E::internal_failure(format!("cannot sign the upstream request: {detail}"))
        }
        ServiceError::UpstreamRequest(detail) => {
            E::internal_failure(format!("cannot build the upstream request: {detail}"))
        }
        ServiceError::UpstreamUnreachable(cause) => E::service_unavailable(format!(
            "the upstream endpoint cannot be reached: {cause}"
        )),
        ServiceError::UpstreamAnswerTooLarge { limit } => E::service_unavailable(format!(
            "the upstream answer is larger than the limit of {limit} bytes"
        )),
        ServiceError::UpstreamAnswerInvalid(cause) => E::service_unavailable(format!(
            "the upstream endpoint sent no valid answer: {cause}"
        )),
        ServiceError::UpstreamNotFinal(status) => E::service_unavailable(format!(
            "the upstream endpoint sent no valid answer: the status `{status}` is not a final HTTP status"
        )),
        ServiceError::UpstreamTimeout(limit) => E::service_unavailable(format!(
            "the upstream endpoint did not answer within {limit:?}"
        )),
        ServiceError::Internal => E::internal_failure("the request could not be handled"),
    }
}

/// Who is at fault, as the Query protocol's `<Type>` says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    Sender,
    Receiver,
}

/// An error as the caller sees it: HTTP status, Query error code and a message
/// that never holds a secret. Made only by [`Rejection::answer`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiError {
    pub status: u16,
    pub fault: Fault,
    pub code: &'static str,
    pub message: String,
    /// The message's framing is in doubt, so nothing after it on the same
    /// connection is read: the answer says `Connection: close`.
    pub close_connection: bool,
}

impl ApiError {
    fn sender(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            fault: Fault::Sender,
            code,
            message: message.into(),
            close_connection: false,
        }
    }

    fn receiver(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            fault: Fault::Receiver,
            ..ApiError::sender(status, code, message)
        }
    }

    fn closing_connection(mut self) -> ApiError {
        self.close_connection = true;
        self
    }

    fn missing_action(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MissingAction", message)
    }
    fn invalid_action(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidAction", message)
    }
    fn missing_parameter(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MissingParameter", message)
    }
    fn invalid_parameter_value(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidParameterValue", message)
    }
    /// Duplicated, case-variant or misplaced parameters: parser-differential shapes.
    fn invalid_query_parameter(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidQueryParameter", message)
    }
    /// Bytes that are not a well-formed form or query string.
    fn malformed_query_string(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MalformedQueryString", message)
    }
    /// A policy denial.
    fn invalid_parameter_combination(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidParameterCombination", message)
    }
    fn missing_authentication_token(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "MissingAuthenticationToken", message)
    }
    fn invalid_client_token_id(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "InvalidClientTokenId", message)
    }
    fn signature_does_not_match(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "SignatureDoesNotMatch", message)
    }
    fn request_expired(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "RequestExpired", message)
    }
    /// Authenticated, but the client certificate and the signature disagree
    /// about who is calling.
    fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "AccessDenied", message)
    }
    fn incomplete_signature(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "IncompleteSignature", message)
    }
    fn request_entity_too_large(message: impl Into<String>) -> ApiError {
        ApiError::sender(413, "RequestEntityTooLarge", message)
    }
    fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::sender(415, "UnsupportedMediaType", message)
    }
    fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::sender(405, "MethodNotAllowed", message)
    }
    /// What AWS answers when a client sends too much at once; SDKs retry it
    /// with backoff.
    fn throttling(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "Throttling", message)
    }
    fn request_timeout(message: impl Into<String>) -> ApiError {
        ApiError::sender(408, "RequestTimeout", message)
    }
    fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::receiver(503, "ServiceUnavailable", message)
    }
    fn internal_failure(message: impl Into<String>) -> ApiError {
        ApiError::receiver(500, "InternalFailure", message)
    }

    /// The `ErrorResponse` document that botocore and aws-sdk-rust parse into
    /// their modelled exceptions.
    pub fn to_xml(&self, request_id: &str) -> String {
        let fault = match self.fault {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        };
        format!(
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>\n",
            code = xml_escape(self.code),
            message = xml_escape(&self.message),
            request_id = xml_escape(request_id),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Escapes text for an XML element body. Characters XML 1.0 cannot hold at
/// all become U+FFFD so the document always parses.
pub fn xml_escape(text: &str) -> Cow<'_, str> {
    let needs_work = text
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || !is_xml_char(c));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A value for a message, or that it is a secret.
fn shown(value: Option<&str>) -> String {
    value.map_or("the value sent (a secret, not shown)".to_owned(), quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_query_error_shape() {
        let err = Rejection::Denied("no rule allows it".into()).answer();
        assert_eq!(
            err.to_xml("req-1"),
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <Error><Type>Sender</Type><Code>InvalidParameterCombination</Code>\
             <Message>no rule allows it</Message></Error><RequestId>req-1</RequestId></ErrorResponse>\n"
        );
        assert_eq!(err.status, 400);
    }

    #[test]
    fn each_stage_maps_to_its_code_and_status() {
        let cases: Vec<(Rejection, &str, u16, bool)> = vec![
            (
                MessageError::SeveralHosts.into(),
                "InvalidQueryParameter",
                400,
                true,
            ),
            (
                MessageError::ContentCoding.into(),
                "UnsupportedMediaType",
                415,
                true,
            ),
            (
                MessageError::BodyUnreadable("cut".into()).into(),
                "MalformedQueryString",
                400,
                true,
            ),
            (ParseError::NoAction.into(), "MissingAction", 400, false),
            (
                ParseError::Method("PUT".into()).into(),
                "MethodNotAllowed",
                405,
                false,
            ),
            (
                ParseError::Repeated("A".into()).into(),
                "InvalidQueryParameter",
                400,
                false,
            ),
            (ParseError::NoVersion.into(), "MissingParameter", 400, false),
            (
                AuthError::Unsigned.into(),
                "MissingAuthenticationToken",
                403,
                false,
            ),
            (
                AuthError::UnknownKey("AKID".into()).into(),
                "InvalidClientTokenId",
                403,
                false,
            ),
            (
                AuthError::Verify(VerifyError::SignatureDoesNotMatch).into(),
                "SignatureDoesNotMatch",
                403,
                false,
            ),
            (
                AuthError::Verify(VerifyError::Expired {
                    message: "old".into(),
                })
                .into(),
                "RequestExpired",
                400,
                false,
            ),
            (
                AuthError::Verify(VerifyError::HostNotSigned).into(),
                "IncompleteSignature",
                400,
                false,
            ),
            (
                AuthError::CertificateUnknown(None).into(),
                "AccessDenied",
                403,
                false,
            ),
            (Rejection::NoRegion, "MissingParameter", 400, false),
            (
                Rejection::Denied("no".into()),
                "InvalidParameterCombination",
                400,
                false,
            ),
            (
                ServiceError::BodyTooLarge { limit: 1 }.into(),
                "RequestEntityTooLarge",
                413,
                false,
            ),
            (
                ServiceError::BodyTimeout.into(),
                "RequestTimeout",
                408,
                false,
            ),
            (
                ServiceError::Throttled { limit: 1 }.into(),
                "Throttling",
                400,
                false,
            ),
            (
                ServiceError::UpstreamNotFinal(101).into(),
                "ServiceUnavailable",
                503,
                false,
            ),
            (ServiceError::Internal.into(), "InternalFailure", 500, false),
        ];
        for (rejection, code, status, close) in cases {
            let answer = rejection.answer();
            assert_eq!(
                (answer.code, answer.status, answer.close_connection),
                (code, status, close),
                "{rejection:?}"
            );
            assert!(!answer.message.ends_with('.'), "{}", answer.message);
            assert_eq!(
                answer.fault == Fault::Receiver,
                status >= 500,
                "{rejection:?}"
            );
        }
    }

    #[test]
    fn the_metric_reason_comes_from_the_type() {
        assert_eq!(AuthError::Unsigned.reason(), SignatureFailure::Missing);
        assert_eq!(
            AuthError::BothSignatureForms.reason(),
            SignatureFailure::Malformed
        );
        assert_eq!(
            AuthError::Verify(VerifyError::NotYetValid {
                message: "soon".into()
            })
            .reason(),
            SignatureFailure::NotYetValid
        );
        let mismatch = AuthError::CertificateMismatch {
            certificate: "a".into(),
            signer: "b".into(),
        };
        assert_eq!(mismatch.reason(), SignatureFailure::Certificate);
    }

    #[test]
    fn receiver_faults() {
        let err = Rejection::Service(ServiceError::NoCredentials).answer();
        assert_eq!(err.status, 503);
        assert!(err
            .to_xml("x")
            .contains("<Type>Receiver</Type><Code>ServiceUnavailable</Code>"));
    }

    #[test]
    fn escapes_markup_and_drops_non_xml_characters() {
        assert_eq!(xml_escape("plain-name"), "plain-name");
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\u{1}y\u{FFFE}"), "x\u{FFFD}y\u{FFFD}");
        let xml = Rejection::Parse(ParseError::Empty("</Message><Code>Ok"))
            .answer()
            .to_xml("r");
        assert!(xml.contains("&lt;/Message&gt;&lt;Code&gt;Ok"));
        assert_eq!(xml.matches("<Code>").count(), 1);
    }

    #[test]
    fn form_errors_name_a_pair_only_when_it_may_be_shown() {
        let message = |place, at: PairAt, fault| {
            Rejection::Parse(ParseError::Form {
                place,
                error: FormError::Pair { at, fault },
            })
            .answer()
            .message
        };
        let named = || PairAt::Named {
            position: 2,
            name: "CacheClusterId".into(),
        };
        let after = || PairAt::AfterSecret {
            position: 12,
            secret: "AuthToken",
        };
        let hint = "; it is not shown, since it follows `AuthToken` and may be part of its value: a value holding `&` must send it as `%26`";
        let cases = [
            (Source::Query, PairAt::Unnamed { position: 1 }, PairFault::Empty,
             "query string: the 1st pair is empty (`&&`, or a leading or trailing `&`); a value holding `&` must send it as `%26`".to_owned()),
            (Source::Body, named(), PairFault::NoEquals,
             "body: parameter `CacheClusterId` (the 2nd pair) has no `=`: expected `Name=value`; a value holding `&` must send it as `%26`".to_owned()),
            (Source::Body, after(), PairFault::NoEquals,
             format!("body: the 12th pair has no `=`: expected `Name=value`{hint}")),
            (Source::Body, PairAt::Unnamed { position: 3 }, PairFault::BadName,
             "body: the name of the 3rd pair is not plain: names use only letters, digits, `.`, `_` and `-`, unencoded".to_owned()),
            (Source::Body, named(), PairFault::BadEscape,
             "body: the value of parameter `CacheClusterId` (the 2nd pair) has a malformed percent escape: expected `%` and two hex digits".to_owned()),
            (Source::Body, named(), PairFault::RawByte(Some(b';')),
             "body: the value of parameter `CacheClusterId` (the 2nd pair) holds the byte 0x3b unencoded; percent-encode it".to_owned()),
            (Source::Body, after(), PairFault::RawByte(None),
             format!("body: the value of the 12th pair holds a byte that must be percent-encoded (which is not shown: the value is a secret){hint}")),
            (Source::Body, after(), PairFault::NotUtf8,
             format!("body: the value of the 12th pair is not valid UTF-8{hint}")),
            (Source::Query, named(), PairFault::ControlCharacter,
             "query string: the value of parameter `CacheClusterId` (the 2nd pair) holds a control character".to_owned()),
        ];
        for (place, at, fault, expected) in cases {
            assert_eq!(message(place, at, fault), expected);
        }
        let json = Rejection::Parse(ParseError::Form {
            place: Source::Body,
            error: FormError::LooksLikeJson,
        })
        .answer();
        assert_eq!(json.code, "MalformedQueryString");
        assert_eq!(
            json.message,
            "the body looks like JSON; ElastiCache's Query API takes an `application/x-www-form-urlencoded` form (`Action=…&Version=…`)"
        );
    }

    #[test]
    fn an_error_after_a_secret_keeps_its_code_and_quotes_nothing() {
        let answer = Rejection::Parse(ParseError::AfterSecret {
            place: Source::Query,
            position: 21,
            secret: "Passwords",
            problem: Box::new(ParseError::WrongType {
                name: "Hunter".into(),
                expected: "`true` or `false`",
                found: Some("hunter2".into()),
            }),
        })
        .answer();
        assert_eq!((answer.code, answer.status), ("InvalidParameterValue", 400));
        assert_eq!(
            answer.message,
            "the 21st pair of the query string: its value must be `true` or `false`; it is not shown, since it follows `Passwords` and may be part of its value: a value holding `&` must send it as `%26`"
        );
    }

    #[test]
    fn ordinals_and_parameter_names() {
        let ordinals: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .map(ordinal)
            .into();
        assert_eq!(
            ordinals,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
        for name in [
            "Action",
            "SecurityGroupIds.SecurityGroupId.3",
            "X-Amz-Date",
            "EC2SecurityGroupName",
        ] {
            assert!(is_parameter_name(name), "{name}");
        }
        for text in [
            "",
            "action",
            "9Lives",
            "Tags..Key",
            "Tags.",
            "A_b",
            "A-b",
            "X-Amz-",
            "{\"A\"",
            "Abc def",
        ] {
            assert!(!is_parameter_name(text), "{text}");
        }
    }

    #[test]
    fn quoting_cuts_long_values() {
        assert_eq!(quoted("abc"), "`abc`");
        let long = "x".repeat(500);
        assert_eq!(quoted(&long).chars().count(), 103);
    }
}
