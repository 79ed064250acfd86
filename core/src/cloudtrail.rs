//! AWS CloudTrail events of ElastiCache read as [`Recorded`] requests, so
//! that `replay` decides calls made without the proxy (or before it) under
//! a policy. Pure: the command line reads the files.
//!
//! CloudTrail names a request's members as the AWS SDK for Java does: the
//! model's name with its first letter lowered (`cacheNodeType`, `aZMode`),
//! lists as JSON arrays and structures as JSON objects named the same way
//! (`tags: [{"key": "team", "value": "x"}]`). Each name is mapped to the
//! member whose Query name is the name with its first letter raised, and
//! the whole request is then parsed as the proxy parses a Query request,
//! so it is typed, validated and lower-cased exactly as a live request.
//! A name no member has is reported, never guessed at.
//!
//! Who made the call is told by an identities file (see [`Identities`]):
//! CloudTrail knows AWS principals, policies know the proxy's callers.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::caller_tags::{self, CallerTags};
use crate::callers::caller_name;
use crate::conditions::regex_reason;
use crate::decision::Decision;
use crate::diagnostics::{
    syntax_error, Diagnostics, ErrorKind, Fields, Place, Problem, Read, Reported,
};
use crate::model::{Action, Region};
use crate::params::{self, rfc3339_seconds, SECRET};
use crate::replay::{Recorded, Then, Unreplayable};
use crate::service_model::{Kind, Shape, Structure};
use crate::text::quoted;
use crate::yaml_positions::Positions;

/// The `eventSource` of ElastiCache's events.
pub const EVENT_SOURCE: &str = "elasticache.amazonaws.com";

/// What CloudTrail writes in place of a secret (`authToken`, `passwords`).
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// The events of a CloudTrail file: `{"Records": [...]}` as a trail
/// delivers them to S3, a single event, or one event per line (CloudTrail
/// Lake exports, log pipelines), blank lines skipped. A line that is not a
/// JSON object is an error naming its line.
pub fn records(text: &str) -> Vec<Result<Json, String>> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(mut object)) => match object.remove("Records") {
            Some(Json::Array(events)) => events.into_iter().map(Ok).collect(),
            Some(other) => vec![Err(format!(
                "`Records` must be a list of events, not {}",
                json_kind(&other)
            ))],
            None => vec![Ok(Json::Object(object))],
        },
        // Not one JSON document: one event per line.
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                let number = index + 1;
                match serde_json::from_str::<Json>(line) {
                    Ok(event @ Json::Object(_)) => Ok(event),
                    Ok(other) => Err(format!(
                        "line {number}: an event must be a JSON object, not {}",
                        json_kind(&other)
                    )),
                    // serde's words are left out: they can quote the line.
                    Err(e) => Err(format!(
                        "line {number}, column {}: not a JSON event",
                        e.column()
                    )),
                }
            })
            .collect(),
    }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// How CloudTrail's `userIdentity` is told apart as the proxy's callers,
/// read from a YAML file:
///
/// ```yaml
/// identities:
///   - caller: payments-deployer
///     session_name: payments-deployer
///     tags: {team: payments}
///   - caller: ci
///     arn_matches: "arn:aws:sts::123456789012:assumed-role/ci-.*/.*"
/// ```
///
/// Each entry names a `caller` (and the caller's `tags`, for rules on
/// `${caller.tags.KEY}`) and one or more matchers, all of which must hold:
/// `arn` (exact) or `arn_matches` (a regex of the whole ARN), and
/// `session_name` (exact) or `session_name_matches` (a regex of the whole
/// name). The first entry that matches wins. The session name is the last
/// segment of an assumed role's ARN. The proxy's `assume_role` names each
/// session after the caller (a one-character name gets a `.` appended, as
/// STS wants two), so for calls the proxy made, `session_name: CALLER` is
/// the natural entry.
#[derive(Debug, Default)]
pub struct Identities {
    entries: Vec<Identity>,
}

#[derive(Debug)]
struct Identity {
    caller: String,
    tags: CallerTags,
    arn: Option<Matcher>,
    session_name: Option<Matcher>,
}

#[derive(Debug)]
enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, text: Option<&str>) -> bool {
        match (self, text) {
            (Matcher::Exact(exact), Some(text)) => exact == text,
            (Matcher::Regex(regex), Some(text)) => regex.is_match(text),
            (_, None) => false,
        }
    }
}

const TOP_KEYS: [&str; 1] = ["identities"];
const ENTRY_KEYS: [&str; 6] = [
    "caller",
    "arn",
    "arn_matches",
    "session_name",
    "session_name_matches",
    "tags",
];

impl Identities {
    /// Reads an identities file, every error collected.
    pub fn compile(file: &str, text: &str) -> Result<Identities, Diagnostics> {
        let mut out = Diagnostics::new(file, "identities file");
        let identities = compile_value(text, &mut out);
        out.finish(identities, &Positions::of(text))
    }

    /// The caller (and tags) of the first entry that matches `identity`.
    pub fn caller_of(&self, identity: &Json) -> Option<(String, CallerTags)> {
        let arn = identity.get("arn").and_then(Json::as_str);
        let session = session_name(identity);
        self.entries
            .iter()
            .find(|entry| {
                entry.arn.as_ref().is_none_or(|m| m.matches(arn))
                    && entry
                        .session_name
                        .as_ref()
                        .is_none_or(|m| m.matches(session))
            })
            .map(|entry| (entry.caller.clone(), entry.tags.clone()))
    }
}

/// The role session name: the last segment of an assumed role's ARN
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
fn session_name(identity: &Json) -> Option<&str> {
    let arn = identity.get("arn").and_then(Json::as_str)?;
    let (_, path) = arn.split_once(":assumed-role/")?;
    let (_, session) = path.split_once('/')?;
    Some(session).filter(|s| !s.is_empty())
}

/// How an identity is named when no entry matches it.
fn identity_name(identity: &Json) -> String {
    ["arn", "principalId", "type"]
        .iter()
        .find_map(|key| identity.get(key).and_then(Json::as_str))
        .unwrap_or("(none)")
        .to_owned()
}

fn compile_value(text: &str, out: &mut Diagnostics) -> Result<Identities, Reported> {
    let top: Yaml = serde_yaml::from_str(text).map_err(|e| out.report(syntax_error(&e, true)))?;
    let top = Fields::of(&top, Place::root(), &TOP_KEYS, "the identities file", out)?;
    let entries = top.list("identities", out);
    let entries = top.required(
        "identities",
        entries,
        "[{caller: payments-deployer, session_name: payments-deployer}]",
        out,
    )?;
    let mut identities = Identities::default();
    let mut failed = None;
    // Entries go on being checked after one fails: every error is in `out`.
    for (index, entry) in entries.iter().enumerate() {
        let name = entry.get("caller").and_then(Yaml::as_str);
        let place = Place::named_entry("identities", index, name, "identity of");
        match compile_entry(entry, &place, out) {
            Ok(identity) => identities.entries.push(identity),
            Err(reported) => failed = Some(reported),
        }
    }
    match failed {
        Some(reported) => Err(reported),
        None => Ok(identities),
    }
}

fn compile_entry(entry: &Yaml, place: &Place, out: &mut Diagnostics) -> Result<Identity, Reported> {
    let fields = Fields::of(entry, place.clone(), &ENTRY_KEYS, "an identity", out)?;
    let caller = fields.parse("caller", out, caller_name);
    let caller = fields.required("caller", caller, "payments-deployer", out);
    let arn = matcher(&fields, "arn", "arn_matches", out);
    let session_name = matcher(&fields, "session_name", "session_name_matches", out);
    let tags = match fields.get("tags") {
        Some(value) => caller_tags::compile(value, &fields.at("tags"), out).map(Some),
        None => Ok(None),
    };
    let (caller, arn, session_name, tags) = (caller?, arn?, session_name?, tags?);
    if arn.is_none() && session_name.is_none() {
        return Err(out.report(
            place
                .error(
                    ErrorKind::Missing,
                    "an identity must say whom it matches: none of `arn`, `arn_matches`, `session_name` or `session_name_matches` is given",
                )
                .hint(format!("for example `session_name: {caller}`, the session name the proxy gives the caller")),
        ));
    }
    Ok(Identity {
        caller,
        tags: tags.unwrap_or_default(),
        arn,
        session_name,
    })
}

/// The exact key or the regex key (`…_matches`), not both.
fn matcher(fields: &Fields<'_>, exact: &str, regex: &str, out: &mut Diagnostics) -> Read<Matcher> {
    let exact_value = fields.parse(exact, out, |text| Ok(Matcher::Exact(text.to_owned())));
    let regex_value = fields.parse(regex, out, |pattern| {
        regex::Regex::new(&format!(r"\A(?:{pattern})\z"))
            .map(Matcher::Regex)
            .map_err(|e| {
                Problem::from(format!(
                    "{} is not a valid regex: {}",
                    quoted(pattern),
                    regex_reason(&e)
                ))
                .hint("regexes use Rust regex syntax and must match the whole value")
            })
    });
    match (exact_value?, regex_value?) {
        (Some(_), Some(_)) => Err(out.report(
            fields
                .at(regex)
                .error(
                    ErrorKind::Conflict,
                    format!("`{exact}` and `{regex}` are both given"),
                )
                .hint("keep one"),
        )),
        (one, other) => Ok(one.or(other)),
    }
}

/// The request a CloudTrail event records, with its caller told by
/// `identities`; `source` says where it was read.
///
/// An event is of a call that reached AWS, so it was allowed then, as far
/// as the proxy (or its absence) goes: with an `errorCode` too, since AWS
/// may have refused it for its own reasons (IAM, a missing resource).
pub fn from_event(
    event: &Json,
    identities: &Identities,
    source: String,
) -> Result<Recorded, Unreplayable> {
    let text = |key: &str| event.get(key).and_then(Json::as_str);
    let invalid = |reason: String| Unreplayable::Invalid { reason };
    match text("eventSource") {
        Some(EVENT_SOURCE) => {}
        Some(other) => {
            return Err(Unreplayable::NotElastiCache {
                what: format!("the event source is {}", quoted(other)),
            })
        }
        None => {
            return Err(Unreplayable::NotElastiCache {
                what: "the event has no `eventSource`".to_owned(),
            })
        }
    }
    let name = text("eventName").ok_or_else(|| invalid("the event has no `eventName`".into()))?;
    let action = Action::from_name(name).ok_or_else(|| Unreplayable::NotElastiCache {
        what: format!("{} is not an action of the service model", quoted(name)),
    })?;
    let region = text("awsRegion")
        .and_then(Region::parse)
        .ok_or_else(|| invalid("`awsRegion` must be a region such as `eu-west-1`".into()))?;
    let time = text("eventTime").and_then(rfc3339_seconds).ok_or_else(|| {
        invalid("`eventTime` must be a date and time such as `2026-12-01T09:30:00Z`".into())
    })?;
    let request_id = text("requestID")
        .or_else(|| text("eventID"))
        .ok_or_else(|| invalid("the event has neither `requestID` nor `eventID`".into()))?
        .to_owned();
    let identity = event.get("userIdentity").unwrap_or(&Json::Null);
    let (caller, caller_tags) =
        identities
            .caller_of(identity)
            .ok_or_else(|| Unreplayable::NoCaller {
                identity: identity_name(identity),
            })?;
    let input = action.operation().input();
    let mut pairs = Vec::new();
    match event.get("requestParameters") {
        None | Some(Json::Null) => {}
        Some(Json::Object(members)) => {
            structure_pairs(input, members, "", "", false, &mut pairs)?;
        }
        Some(other) => {
            return Err(invalid(format!(
                "`requestParameters` must be an object, not {}",
                json_kind(other)
            )))
        }
    }
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let params = params::parse(action, input, &borrowed).map_err(|e| invalid(e.to_string()))?;
    Ok(Recorded {
        source,
        request_id,
        time,
        caller: Some(caller),
        caller_tags,
        region,
        action,
        params,
        resources: None,
        then: Some(Then {
            decision: Decision::Allow,
            rules: Vec::new(),
        }),
    })
}

/// `name` with its first letter raised: CloudTrail's `aZMode` is `AZMode`.
fn raised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn joined(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The Query pairs of a structure's members, given as CloudTrail's JSON
/// object: `prefix` is the Query name so far, `path` CloudTrail's.
fn structure_pairs(
    structure: &'static Structure,
    members: &serde_json::Map<String, Json>,
    prefix: &str,
    path: &str,
    secret: bool,
    pairs: &mut Vec<(String, String)>,
) -> Result<(), Unreplayable> {
    for (name, value) in members {
        let at = joined(path, name);
        let Some(member) = structure.member(&raised(name)) else {
            return Err(Unreplayable::Unmapped { member: at });
        };
        value_pairs(
            member.shape(),
            value,
            joined(prefix, member.query_name()),
            &at,
            secret || member.is_secret(),
            pairs,
        )?;
    }
    Ok(())
}

fn value_pairs(
    shape: &'static Shape,
    value: &Json,
    name: String,
    path: &str,
    secret: bool,
    pairs: &mut Vec<(String, String)>,
) -> Result<(), Unreplayable> {
    let wrong = |expected: &str| Unreplayable::Invalid {
        reason: format!(
            "`{path}` must be {expected}, not {}",
            if secret { "that" } else { json_kind(value) }
        ),
    };
    if value.as_str() == Some(HIDDEN) {
        return hidden(shape, name, path, secret, pairs);
    }
    match (shape.kind(), value) {
        // CloudTrail writes a member left out as null, if at all.
        (_, Json::Null) => Ok(()),
        (Kind::String(_) | Kind::Timestamp, Json::String(text)) => {
            pairs.push((name, text.clone()));
            Ok(())
        }
        (Kind::String(_), _) => Err(wrong("a string")),
        (Kind::Timestamp, _) => Err(wrong("a date and time as a string")),
        (Kind::Boolean, Json::Bool(b)) => {
            pairs.push((name, b.to_string()));
            Ok(())
        }
        // Checked as the Query parser checks any text.
        (Kind::Boolean | Kind::Integer(_) | Kind::Long(_), Json::String(text)) => {
            pairs.push((name, text.clone()));
            Ok(())
        }
        (Kind::Boolean, _) => Err(wrong("`true` or `false`")),
        (Kind::Integer(_) | Kind::Long(_), Json::Number(n)) => match n.as_i64() {
            Some(n) => {
                pairs.push((name, n.to_string()));
                Ok(())
            }
            None => Err(wrong("a whole number")),
        },
        (Kind::Integer(_) | Kind::Long(_), _) => Err(wrong("a whole number")),
        (Kind::List(list), Json::Array(items)) => {
            if items.is_empty() {
                pairs.push((name, String::new()));
                return Ok(());
            }
            let base = params::item_base(list, name);
            for (i, item) in items.iter().enumerate() {
                value_pairs(
                    list.member().shape(),
                    item,
                    format!("{base}.{}", i + 1),
                    &format!("{path}[{i}]"),
                    secret,
                    pairs,
                )?;
            }
            Ok(())
        }
        (Kind::List(_), _) => Err(wrong("a list")),
        (Kind::Structure(structure), Json::Object(members)) => {
            structure_pairs(structure, members, &name, path, secret, pairs)
        }
        (Kind::Structure(_), _) => Err(wrong("an object")),
        (Kind::Map(map), Json::Object(entries)) => {
            let base = params::entry_base(map, name);
            for (i, (key, value)) in entries.iter().enumerate() {
                let n = i + 1;
                pairs.push((format!("{base}.{n}.{}", map.key_name()), key.clone()));
                value_pairs(
                    map.value().shape(),
                    value,
                    format!("{base}.{n}.{}", map.value_name()),
                    &format!("{path}.{key}"),
                    secret,
                    pairs,
                )?;
            }
            Ok(())
        }
        (Kind::Map(_), _) => Err(wrong("an object")),
    }
}

/// A value CloudTrail hid: a secret is there, with [`SECRET`] in place of
/// its value (one item for a hidden list: how many there were is not
/// told). A hidden value that is not a secret in the model could be what
/// a rule tests, so it is not decided on.
fn hidden(
    shape: &'static Shape,
    name: String,
    path: &str,
    secret: bool,
    pairs: &mut Vec<(String, String)>,
) -> Result<(), Unreplayable> {
    let refused = || Unreplayable::Invalid {
        reason: format!("CloudTrail hid the value of `{path}`, which a rule could test"),
    };
    if !secret {
        return Err(refused());
    }
    match shape.kind() {
        Kind::String(_) => {
            pairs.push((name, SECRET.to_owned()));
            Ok(())
        }
        Kind::List(list) => {
            let item = format!("{}.1", params::item_base(list, name));
            hidden(list.member().shape(), item, path, secret, pairs)
        }
        Kind::Boolean
        | Kind::Integer(_)
        | Kind::Long(_)
        | Kind::Timestamp
        | Kind::Structure(_)
        | Kind::Map(_) => Err(refused()),
    }
}

#[cfg(test)]
mod tests;
