//! Requests as they were decided, read back from a record (the proxy's
//! audit line, or an AWS CloudTrail event), to be decided again under
//! another policy (`replay`) or to draft one from (`draft`). Pure: the
//! command line reads the files and hands the records in.

use std::fmt;

use crate::caller_tags::CallerTags;
use crate::decision::Decision;
use crate::facts::{RequestFacts, ResourceFact, ResourceFacts, ResourceState};
use crate::model::{Action, Region};
use crate::params::{from_json, rfc3339_seconds, Params};
use crate::resources::{NamedResource, ResourceKind};
use crate::service_model::operation;

/// One request as recorded, ready to be decided again.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Where it was read: `audit.log:12`, `trail.json.gz:#3`.
    pub source: String,
    pub request_id: String,
    /// When it was decided, in seconds since the Unix epoch.
    pub time: i64,
    pub caller: Option<String>,
    pub caller_tags: CallerTags,
    pub region: Region,
    pub action: Action,
    /// Every parameter, typed as the decision saw them; a secret is
    /// present with a placeholder value, never the secret.
    pub params: Params,
    /// The tags of the resources the request named, when recorded.
    pub resources: Option<ResourceFacts>,
    /// What was decided when it was recorded, if the record says.
    pub then: Option<Then>,
}

/// The decision a record carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Then {
    pub decision: Decision,
    pub rules: Vec<String>,
}

impl Recorded {
    /// The facts to decide it again on, at its own time or at `at`.
    pub fn facts(&self, at: Option<i64>) -> RequestFacts<'_> {
        let facts = RequestFacts {
            action: self.action,
            caller: self.caller.as_deref(),
            caller_tags: &self.caller_tags,
            region: &self.region,
            params: &self.params,
            resources: self.resources.as_ref(),
            now: None,
        };
        facts.at(at.unwrap_or(self.time))
    }
}

/// Why a record cannot be decided again. Counted and listed by `replay`,
/// never silently dropped.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Unreplayable {
    /// The record was cut short when written: it lacks parameters.
    Truncated,
    /// The record was written before the proxy recorded whole requests.
    NoRequest,
    /// A member the service model does not know (CloudTrail names it
    /// `member`): mapped it would be a guess.
    Unmapped { member: String },
    /// Not an ElastiCache call, or not one the model has.
    NotElastiCache { what: String },
    /// The record's caller cannot be told (CloudTrail: no identity mapping
    /// matches its `userIdentity`).
    NoCaller { identity: String },
    /// Anything else the record lacks or holds wrongly.
    Invalid { reason: String },
}

impl fmt::Display for Unreplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreplayable::Truncated => f.write_str("the record was cut short when written"),
            Unreplayable::NoRequest => {
                f.write_str("the record has no `request` (written by an older proxy)")
            }
            Unreplayable::Unmapped { member } => write!(
                f,
                "`{member}` is not a member the service model knows, so it is not guessed at"
            ),
            Unreplayable::NotElastiCache { what } => {
                write!(f, "not an ElastiCache call the proxy knows: {what}")
            }
            Unreplayable::NoCaller { identity } => write!(
                f,
                "no caller matches the identity `{identity}`: map it with `--identities`"
            ),
            Unreplayable::Invalid { reason } => f.write_str(reason),
        }
    }
}

/// The audit line format this reads: 2 added `version`, `request`, and
/// `resource_tags` as a list of resources; 1 (no `version`) had neither.
pub const AUDIT_VERSION: u64 = 2;

/// Reads one proxy audit line back. `then` is what the policy decided:
/// `allow`, or `deny` for both `deny` and `would_deny` (denied by the
/// policy, or by a shadow rule, and forwarded only because it was in
/// shadow), with the line's `rules`. A line whose request was rejected
/// before the policy decided (`error`) has nothing to compare with.
pub fn from_audit_line(line: &serde_json::Value, source: String) -> Result<Recorded, Unreplayable> {
    let invalid = |reason: String| Unreplayable::Invalid { reason };
    let text = |field: &str| line.get(field).and_then(serde_json::Value::as_str);
    let decision = match text("decision") {
        Some("allow") => Decision::Allow,
        Some("deny" | "would_deny") => Decision::Deny,
        Some("error") => {
            return Err(invalid(
                "the request was rejected before the policy decided (`decision` is `error`)"
                    .to_owned(),
            ))
        }
        other => {
            return Err(invalid(format!(
                "`decision` is {}, expected `allow`, `deny` or `would_deny`",
                shown(other)
            )))
        }
    };
    match line.get("version").and_then(serde_json::Value::as_u64) {
        None => return Err(Unreplayable::NoRequest),
        Some(AUDIT_VERSION) => {}
        Some(other) => {
            return Err(invalid(format!(
                "`version` is {other}, expected {AUDIT_VERSION}"
            )))
        }
    }
    let request = match line.get("request") {
        None | Some(serde_json::Value::Null) => return Err(Unreplayable::NoRequest),
        Some(request) => request,
    };
    if request.get("truncated") == Some(&serde_json::Value::Bool(true)) {
        return Err(Unreplayable::Truncated);
    }
    let action =
        text("action")
            .and_then(Action::from_name)
            .ok_or_else(|| Unreplayable::NotElastiCache {
                what: format!("`action` is {}", shown(text("action"))),
            })?;
    let region = text("region").and_then(Region::parse).ok_or_else(|| {
        invalid(format!(
            "`region` is {}, expected a region",
            shown(text("region"))
        ))
    })?;
    let time = text("time").and_then(rfc3339_seconds).ok_or_else(|| {
        invalid(format!(
            "`time` is {}, expected an RFC 3339 time",
            shown(text("time"))
        ))
    })?;
    let request_id = text("request_id")
        .ok_or_else(|| invalid("`request_id` is missing".to_owned()))?
        .to_owned();
    let input = operation(action.name())
        .ok_or_else(|| Unreplayable::NotElastiCache {
            what: format!("`{}`", action.name()),
        })?
        .input();
    let params = request
        .get("params")
        .ok_or_else(|| invalid("`request.params` is missing".to_owned()))
        .and_then(|params| {
            from_json(input, action, params).map_err(|e| invalid(format!("`request.params`: {e}")))
        })?;
    let caller_tags = string_map(request.get("caller_tags"), "request.caller_tags")
        .map_err(invalid)?
        .unwrap_or_default();
    let resources = match line.get("resource_tags") {
        None | Some(serde_json::Value::Null) => None,
        Some(list) => Some(resource_facts(list)?),
    };
    let rules = match line.get("rules") {
        Some(serde_json::Value::Array(rules)) => rules
            .iter()
            .map(|r| r.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
    .ok_or_else(|| invalid("`rules` must be a list of rule ids".to_owned()))?;
    Ok(Recorded {
        source,
        request_id,
        time,
        caller: text("caller").map(str::to_owned),
        caller_tags: CallerTags::new(caller_tags),
        region,
        action,
        params,
        resources,
        then: Some(Then { decision, rules }),
    })
}

/// A field's text for messages: `` `x` ``, or `missing`.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"))
}

/// An object of strings as pairs; `None` for `null` or no field.
fn string_map(
    value: Option<&serde_json::Value>,
    field: &str,
) -> Result<Option<Vec<(String, String)>>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => Ok((k.clone(), v.to_owned())),
                None => Err(format!("`{field}.{k}` must be a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{field}` must be an object of strings")),
    }
}

/// The line's `resource_tags`: a list of resources, each with its tags.
fn resource_facts(list: &serde_json::Value) -> Result<ResourceFacts, Unreplayable> {
    let invalid = |reason: String| Unreplayable::Invalid { reason };
    let serde_json::Value::Array(items) = list else {
        return Err(invalid(
            "`resource_tags` must be a list of resources".to_owned(),
        ));
    };
    let mut resources = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if item.get("left_out").is_some() {
            return Err(Unreplayable::Truncated);
        }
        let field = |name: &str| {
            item.get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| invalid(format!("`resource_tags[{i}].{name}` must be a string")))
        };
        let kind = field("kind")?;
        let kind = ResourceKind::of_record_name(kind).ok_or_else(|| {
            invalid(format!(
                "`resource_tags[{i}].kind` is `{kind}`, expected a resource type such as `replicationgroup`"
            ))
        })?;
        let region = field("region")?;
        let region = Region::parse(region).ok_or_else(|| {
            invalid(format!(
                "`resource_tags[{i}].region` is `{region}`, expected a region"
            ))
        })?;
        let arn = match item.get("arn") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => Some(field("arn")?.to_owned()),
        };
        let state = match string_map(item.get("tags"), &format!("resource_tags[{i}].tags"))
            .map_err(invalid)?
        {
            Some(tags) => ResourceState::Tags(tags),
            None => ResourceState::Untaggable,
        };
        resources.push(ResourceFact {
            resource: NamedResource {
                kind,
                id: field("id")?.to_owned(),
                member: field("member")?.to_owned(),
                region,
                arn,
            },
            state,
        });
    }
    Ok(ResourceFacts { resources })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line() -> serde_json::Value {
        json!({
            "version": 2,
            "time": "2026-11-25T10:00:00.250Z",
            "request_id": "id-1",
            "caller": "ci",
            "action": "ModifyReplicationGroup",
            "region": "eu-west-1",
            "decision": "would_deny",
            "rules": ["no-prod"],
            "request": {
                "params": {"ReplicationGroupId": "payments-a", "ApplyImmediately": true},
                "caller_tags": {"team": "payments"},
            },
            "resource_tags": [{
                "kind": "replicationgroup", "id": "payments-a",
                "member": "ReplicationGroupId", "region": "eu-west-1",
                "arn": "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:payments-a",
                "tags": {"env": "prod"},
            }],
        })
    }

    #[test]
    fn an_audit_line_is_read_back() {
        let recorded = from_audit_line(&line(), "audit.log:1".into()).unwrap();
        assert_eq!(recorded.time, 1_795_600_800);
        assert_eq!(recorded.caller.as_deref(), Some("ci"));
        assert_eq!(recorded.caller_tags.get("team"), Some("payments"));
        assert_eq!(recorded.action.name(), "ModifyReplicationGroup");
        assert_eq!(
            recorded.params.get("ApplyImmediately"),
            Some(&crate::params::Value::Boolean(true))
        );
        // `would_deny`: the policy denied it; only shadow mode forwarded it.
        assert_eq!(
            recorded.then,
            Some(Then {
                decision: Decision::Deny,
                rules: vec!["no-prod".into()]
            })
        );
        let resources = recorded.resources.unwrap();
        assert_eq!(resources.resources.len(), 1);
        let fact = &resources.resources[0];
        assert_eq!(fact.resource.kind, ResourceKind::ReplicationGroup);
        assert_eq!(
            fact.state,
            ResourceState::Tags(vec![("env".into(), "prod".into())])
        );
    }

    #[test]
    fn lines_that_cannot_be_decided_again_say_why() {
        let with = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut line = line();
            change(&mut line);
            from_audit_line(&line, "audit.log:2".into()).unwrap_err()
        };
        assert_eq!(
            with(&|l| {
                l.as_object_mut().unwrap().remove("request");
            }),
            Unreplayable::NoRequest
        );
        assert_eq!(
            with(&|l| {
                l.as_object_mut().unwrap().remove("version");
            }),
            Unreplayable::NoRequest
        );
        assert_eq!(
            with(&|l| l["request"]["truncated"] = json!(true)),
            Unreplayable::Truncated
        );
        assert_eq!(
            with(&|l| l["resource_tags"]
                .as_array_mut()
                .unwrap()
                .push(json!({"left_out": 2}))),
            Unreplayable::Truncated
        );
        let reason = |e: Unreplayable| e.to_string();
        assert_eq!(
            reason(with(&|l| l["decision"] = json!("error"))),
            "the request was rejected before the policy decided (`decision` is `error`)"
        );
        assert_eq!(
            reason(with(
                &|l| l["request"]["params"]["ApplyImmediately"] = json!("yes")
            )),
            "`request.params`: `ApplyImmediately` must be `true` or `false`, found a string"
        );
        assert_eq!(
            reason(with(&|l| l["time"] = json!("yesterday"))),
            "`time` is `yesterday`, expected an RFC 3339 time"
        );
        assert_eq!(
            reason(with(&|l| l["version"] = json!(3))),
            "`version` is 3, expected 2"
        );
        assert_eq!(
            with(&|l| l["action"] = json!("RunInstances")),
            Unreplayable::NotElastiCache {
                what: "`action` is `RunInstances`".into()
            }
        );
    }
}
