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

/// Which way a request's decision changed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Direction {
    /// Allowed when recorded, denied now.
    NewlyDenied,
    /// Denied when recorded, allowed now.
    NewlyAllowed,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::NewlyDenied => "newly denied",
            Direction::NewlyAllowed => "newly allowed",
        }
    }
}

/// Requests whose decision changed the same way, for one caller, action
/// and deciding rule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Change {
    pub direction: Direction,
    pub caller: String,
    pub action: &'static str,
    /// The rules that decide now (`none` when no rule allows the request).
    pub rule: String,
    pub count: usize,
    /// The first few, with why.
    pub examples: Vec<Example>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Example {
    pub request_id: String,
    pub time: i64,
    pub source: String,
    /// For a newly denied request, why (which condition failed).
    pub why: Option<String>,
}

/// How many examples each change keeps.
pub const EXAMPLES_KEPT: usize = 3;
/// How many unreplayable records are listed (all are counted).
pub const UNREPLAYABLE_LISTED: usize = 20;

/// What deciding the records again changes.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Report {
    /// Records decided again.
    pub decided: usize,
    /// Of those, decided as they were.
    pub unchanged: usize,
    /// Of those, whose record says no decision to compare with.
    pub without_then: usize,
    pub newly_denied: usize,
    pub newly_allowed: usize,
    /// Grouped, most requests first.
    pub changes: Vec<Change>,
    /// Records that cannot be decided again: all counted, the first few
    /// listed with why.
    pub unreplayable: usize,
    pub unreplayable_listed: Vec<(String, Unreplayable)>,
}

impl Report {
    /// Whether anything changes or could not be told: what CI gates on.
    pub fn changes_anything(&self) -> bool {
        self.newly_denied > 0 || self.newly_allowed > 0
    }

    /// Adds another part's report (records are decided in parts, in
    /// parallel); the parts' order is kept in the examples.
    pub fn merge(&mut self, other: Report) {
        self.decided += other.decided;
        self.unchanged += other.unchanged;
        self.without_then += other.without_then;
        self.newly_denied += other.newly_denied;
        self.newly_allowed += other.newly_allowed;
        for change in other.changes {
            match self.changes.iter_mut().find(|c| {
                (c.direction, &c.caller, c.action, &c.rule)
                    == (
                        change.direction,
                        &change.caller,
                        change.action,
                        &change.rule,
                    )
            }) {
                Some(mine) => {
                    mine.count += change.count;
                    let room = EXAMPLES_KEPT.saturating_sub(mine.examples.len());
                    mine.examples.extend(change.examples.into_iter().take(room));
                }
                None => self.changes.push(change),
            }
        }
        self.unreplayable += other.unreplayable;
        let room = UNREPLAYABLE_LISTED.saturating_sub(self.unreplayable_listed.len());
        self.unreplayable_listed
            .extend(other.unreplayable_listed.into_iter().take(room));
        self.sort();
    }

    fn sort(&mut self) {
        self.changes.sort_by(|a, b| {
            (
                a.direction,
                std::cmp::Reverse(a.count),
                &a.caller,
                a.action,
                &a.rule,
            )
                .cmp(&(
                    b.direction,
                    std::cmp::Reverse(b.count),
                    &b.caller,
                    b.action,
                    &b.rule,
                ))
        });
    }
}

/// Decides each record again under `policy`, at its own time or at `at`,
/// and reports what changes.
pub fn replay(
    policy: &crate::policy::Policy,
    records: impl IntoIterator<Item = Result<Recorded, (String, Unreplayable)>>,
    at: Option<i64>,
) -> Report {
    use crate::decision::DenialDetail;
    let mut report = Report::default();
    let mut index: std::collections::HashMap<(Direction, String, &'static str, String), usize> =
        std::collections::HashMap::new();
    for record in records {
        let recorded = match record {
            Ok(recorded) => recorded,
            Err((source, why)) => {
                report.unreplayable += 1;
                if report.unreplayable_listed.len() < UNREPLAYABLE_LISTED {
                    report.unreplayable_listed.push((source, why));
                }
                continue;
            }
        };
        let facts = recorded.facts(at);
        let response = policy.is_authorized(&facts);
        report.decided += 1;
        let Some(then) = &recorded.then else {
            report.without_then += 1;
            continue;
        };
        let direction = match (then.decision, response.decision) {
            (Decision::Allow, Decision::Deny) => Direction::NewlyDenied,
            (Decision::Deny, Decision::Allow) => Direction::NewlyAllowed,
            (Decision::Allow, Decision::Allow) | (Decision::Deny, Decision::Deny) => {
                report.unchanged += 1;
                continue;
            }
        };
        match direction {
            Direction::NewlyDenied => report.newly_denied += 1,
            Direction::NewlyAllowed => report.newly_allowed += 1,
        }
        let rule = match response.rules.is_empty() {
            true => "none".to_owned(),
            false => response.rules.join(", "),
        };
        let caller = recorded
            .caller
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        let key = (
            direction,
            caller.clone(),
            recorded.action.name(),
            rule.clone(),
        );
        let at_index = *index.entry(key).or_insert_with(|| {
            report.changes.push(Change {
                direction,
                caller,
                action: recorded.action.name(),
                rule,
                count: 0,
                examples: Vec::new(),
            });
            report.changes.len() - 1
        });
        let change = &mut report.changes[at_index];
        change.count += 1;
        if change.examples.len() < EXAMPLES_KEPT {
            change.examples.push(Example {
                request_id: recorded.request_id.clone(),
                time: recorded.time,
                source: recorded.source.clone(),
                why: (response.decision == Decision::Deny)
                    .then(|| response.denial_message(&facts, DenialDetail::Full)),
            });
        }
    }
    report.sort();
    report
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

    fn recorded(
        query: &str,
        caller: &str,
        then: Decision,
        id: &str,
    ) -> Result<Recorded, (String, Unreplayable)> {
        let (request, _) = crate::request::parse_query(query).unwrap();
        Ok(Recorded {
            source: format!("audit.log:{id}"),
            request_id: id.to_owned(),
            time: 1_796_515_200,
            caller: Some(caller.to_owned()),
            caller_tags: CallerTags::default(),
            region: Region::parse("eu-west-1").unwrap(),
            action: request.action,
            params: request.params,
            resources: None,
            then: Some(Then {
                decision: then,
                rules: Vec::new(),
            }),
        })
    }

    #[test]
    fn reports_what_changes_grouped_with_examples() {
        let policy = crate::policy::compile(
            "new.yaml",
            r#"
rules:
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
    params: {CacheNodeType: {one_of: [cache.r7g.large]}}
  - id: describe
    effect: allow
    actions: [DescribeCacheClusters]
"#,
        )
        .unwrap();
        let modify = |node: &str| {
            format!("Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=a&CacheNodeType={node}")
        };
        let records = vec![
            recorded(&modify("cache.r7g.large"), "app", Decision::Allow, "1"),
            recorded(&modify("cache.r7g.xlarge"), "app", Decision::Allow, "2"),
            recorded(&modify("cache.r7g.2xlarge"), "app", Decision::Allow, "3"),
            recorded(
                "Action=DescribeCacheClusters&Version=2015-02-02",
                "ops",
                Decision::Deny,
                "4",
            ),
            Err((
                "trail.json:1".to_owned(),
                Unreplayable::Unmapped {
                    member: "fooBar".into(),
                },
            )),
        ];
        let report = replay(&policy, records, None);
        assert_eq!(
            (
                report.decided,
                report.unchanged,
                report.newly_denied,
                report.newly_allowed,
                report.unreplayable
            ),
            (4, 1, 2, 1, 1)
        );
        assert!(report.changes_anything());
        let denied = &report.changes[0];
        assert_eq!(
            (
                denied.direction,
                denied.caller.as_str(),
                denied.action,
                denied.rule.as_str(),
                denied.count
            ),
            (
                Direction::NewlyDenied,
                "app",
                "ModifyReplicationGroup",
                "none",
                2
            )
        );
        assert_eq!(denied.examples[0].request_id, "2");
        assert!(denied.examples[0]
            .why
            .as_deref()
            .unwrap()
            .contains("`CacheNodeType` `cache.r7g.xlarge` is not one of `cache.r7g.large`"));
        let allowed = &report.changes[1];
        assert_eq!(
            (allowed.direction, allowed.rule.as_str()),
            (Direction::NewlyAllowed, "describe")
        );
        // Parts merge into the same report.
        let mut first = replay(
            &policy,
            vec![recorded(
                &modify("cache.t4g.micro"),
                "app",
                Decision::Allow,
                "5",
            )],
            None,
        );
        first.merge(report.clone());
        assert_eq!(first.newly_denied, 3);
        assert_eq!(first.changes[0].count, 3);
        assert_eq!(first.changes[0].examples.len(), 3);
    }
}
