//! What the `check`, `explain` and `test` commands compute: plain functions
//! of file texts, so the same code runs in CI pipelines and in tests. The
//! command line (`cli.rs`) reads the files and prints.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::caller_tags::CallerTags;
use crate::decision::{Decision, DenialDetail, RequestFacts};
use crate::diagnostics::Diagnostics;
use crate::error::ResourceError;
use crate::error::{ApiError, ParseError, Rejection};
use crate::facts::{ResourceFact, ResourceFacts, ResourceState};
use crate::lint::{self, PolicyWarning, WarningKind};
use crate::model::AccountId;
use crate::model::{Region, API_VERSION};
use crate::policy::{self, Policy};
use crate::request;
use crate::resources;
use crate::text::quoted;
use crate::yaml_positions::Positions;

/// The request id shown in `explain`'s XML: a real one is random per request.
pub const EXAMPLE_REQUEST_ID: &str = "00000000-0000-4000-8000-000000000000";

/// A warning, formatted with its position, and its kind.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Warning {
    pub kind: WarningKind,
    /// `file:line:column: warning: rule …`
    pub text: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Validates a policy and lints it; with `callers` (the names in a callers
/// file), rules naming other callers are warned about too.
pub fn check(
    file: &str,
    text: &str,
    callers: Option<&[&str]>,
) -> Result<(Policy, Vec<Warning>), Diagnostics> {
    let policy = policy::compile(file, text)?;
    let warnings = warnings(file, text, &policy, callers);
    Ok((policy, warnings))
}

/// Every warning about a compiled policy, formatted with its position, in
/// rule order.
pub fn warnings(file: &str, text: &str, policy: &Policy, callers: Option<&[&str]>) -> Vec<Warning> {
    let mut found = lint::warnings(policy);
    if let Some(known) = callers {
        found.extend(lint::absent_callers(policy, known));
    }
    format_warnings(file, text, found)
}

/// Warnings about rules that name callers the callers file lacks (`known`),
/// formatted with their positions: what a reload logs, and what `explain`
/// and `test` show beside their results.
pub fn caller_warnings(file: &str, text: &str, policy: &Policy, known: &[&str]) -> Vec<Warning> {
    format_warnings(file, text, lint::absent_callers(policy, known))
}

/// Warnings about rules that refer to a caller tag none of the callers
/// they can match has (`callers`: each name with its tags), formatted with
/// their positions.
pub fn caller_tag_warnings(
    file: &str,
    text: &str,
    policy: &Policy,
    callers: &[(&str, &CallerTags)],
) -> Vec<Warning> {
    format_warnings(file, text, lint::absent_caller_tags(policy, callers))
}

/// Warnings about exceptions that have expired at `now` (seconds since
/// the epoch) or expire within a week, formatted with their positions.
pub fn expiry_warnings(file: &str, text: &str, policy: &Policy, now: i64) -> Vec<Warning> {
    format_warnings(file, text, lint::expiry_warnings(policy, now))
}

/// Warnings as `file:line:column: warning: rule …` lines, in rule order.
fn format_warnings(file: &str, text: &str, mut found: Vec<PolicyWarning>) -> Vec<Warning> {
    if found.is_empty() {
        return Vec::new();
    }
    found.sort_by_key(|w| w.index);
    let positions = Positions::of(text);
    found
        .iter()
        .map(|w| Warning {
            kind: w.kind,
            text: format_warning(file, &positions, w),
        })
        .collect()
}

fn format_warning(file: &str, positions: &Positions<'_>, warning: &PolicyWarning) -> String {
    let index = warning.index.to_string();
    let mut path = vec!["rules", index.as_str()];
    path.extend(warning.field);
    let mut out = file.to_owned();
    if let Some(at) = positions.find(&path) {
        let _ = write!(out, ":{}:{}", at.line, at.column);
    }
    let _ = write!(out, ": warning: rule `{}`", warning.rule);
    if let Some(field) = warning.field {
        let _ = write!(out, ": `{field}`");
    }
    let _ = write!(out, ": {}", warning.message);
    out
}

/// A decision with its reasons, as `explain` shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Explanation {
    pub decision: Decision,
    pub rules: Vec<String>,
    /// With shadow rules: the decision if they were enforced.
    pub shadow: Option<(Decision, Vec<String>)>,
    /// For a denial: the full explanation (what the audit log records).
    pub why: Option<String>,
    /// For a denial: the error the caller gets.
    pub error: Option<ApiError>,
}

impl Explanation {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "decision": self.decision.as_str(),
            "rules": self.rules,
            "shadow": self.shadow.as_ref().map(|(d, rules)| serde_json::json!({
                "decision": d.as_str(),
                "rules": rules,
            })),
            "why": self.why,
            "error": self.error.as_ref().map(|e| serde_json::json!({
                "status": e.status,
                "code": e.code,
                "message": e.message,
                "xml": e.to_xml(EXAMPLE_REQUEST_ID),
            })),
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("decision: {}\n", self.decision.as_str());
        let rules = if self.rules.is_empty() {
            "none (no rule allowed the request)".to_owned()
        } else {
            self.rules.join(", ")
        };
        let _ = writeln!(out, "rules: {rules}");
        if let Some((decision, rules)) = &self.shadow {
            let _ = writeln!(
                out,
                "shadow decision: {} ({})",
                decision.as_str(),
                if rules.is_empty() {
                    "no rule".to_owned()
                } else {
                    rules.join(", ")
                }
            );
        }
        if let Some(why) = &self.why {
            let _ = writeln!(out, "why: {why}");
        }
        if let Some(error) = &self.error {
            let _ = writeln!(
                out,
                "the caller gets HTTP {} {}:\n{}",
                error.status,
                error.code,
                error.to_xml(EXAMPLE_REQUEST_ID).trim_end()
            );
        }
        out
    }
}

/// Decides a request given as a Query string (`Action=…&…`). A request the
/// proxy would reject before deciding is an `Err` with that rejection.
/// Who asks, where and when, for `explain` and `test`.
#[derive(Clone, Copy)]
pub struct Asked<'a> {
    pub region: &'a str,
    pub caller: Option<&'a str>,
    pub caller_tags: &'a CallerTags,
    /// The tags of the resources the request names, by id.
    pub resource_tags: &'a GivenTags,
    /// When it is decided, in seconds since the Unix epoch; `None`: not
    /// known, so exceptions that expire fail closed.
    pub at: Option<i64>,
}

static NO_GIVEN_TAGS: GivenTags = GivenTags::new();

impl<'a> Asked<'a> {
    /// `caller` in `region`, with no tags, at no known time.
    pub fn new(region: &'a str, caller: Option<&'a str>) -> Asked<'a> {
        Asked {
            region,
            caller,
            caller_tags: &CallerTags::EMPTY,
            resource_tags: &NO_GIVEN_TAGS,
            at: None,
        }
    }
}

pub fn explain(
    policy: &Policy,
    asked: &Asked<'_>,
    query: &str,
    detail: DenialDetail,
) -> Result<Explanation, ApiError> {
    let Asked {
        region,
        caller,
        caller_tags,
        resource_tags,
        at,
    } = *asked;
    let reject = |e: ParseError| Rejection::Parse(e).answer();
    let region =
        Region::parse(region).ok_or_else(|| reject(ParseError::Region(region.to_owned())))?;
    let (parsed, _) = request::parse_query(query).map_err(reject)?;
    let facts = RequestFacts::of(&parsed, &region, caller).with_caller_tags(caller_tags);
    let facts = match at {
        Some(at) => facts.at(at),
        None => facts,
    };
    let resources = match policy.needs_resource_tags(&facts) {
        true => Some(
            given_resources(parsed.action, &parsed.params, &region, resource_tags)
                .map_err(|e| Rejection::from(e).answer())?,
        ),
        false => None,
    };
    let facts = match &resources {
        Some(resources) => facts.with_resources(resources),
        None => facts,
    };
    let response = policy.is_authorized(&facts);
    let denied = !response.is_allowed();
    let why = denied.then(|| response.denial_message(&facts, DenialDetail::Full));
    let error = denied.then(|| Rejection::Denied(response.denial_message(&facts, detail)).answer());
    Ok(Explanation {
        decision: response.decision,
        rules: response.rules.clone(),
        shadow: response.shadow.map(|s| (s.decision, s.rules)),
        why,
        error,
    })
}

/// The tags of resources, given by hand to `explain` and `test` so that
/// `resource_tags` rules are tried without AWS: by resource id (or ARN),
/// each resource's tags.
pub type GivenTags = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// The account the ARNs of `explain` and `test` are made with: only ids
/// and ARNs written with it match, and nothing is looked up.
pub const EXAMPLE_ACCOUNT: &str = "123456789012";

/// The resources a request names, each with the tags `given` says it has.
/// A resource `given` lacks is an error: a test should say what it means
/// (`{}` for one that does not exist, and so has no tags).
/// `replay --resource-tags` uses it too.
pub fn given_resources(
    action: crate::model::Action,
    params: &crate::params::Params,
    region: &Region,
    given: &GivenTags,
) -> Result<ResourceFacts, ResourceError> {
    let account = AccountId::parse(EXAMPLE_ACCOUNT).ok_or(ResourceError::NoAccount)?;
    let named = resources::existing_resources(action, params, region, &account)
        .map_err(ResourceError::Unnamed)?;
    let mut facts = ResourceFacts::default();
    for resource in named {
        let state = match &resource.arn {
            None => ResourceState::Untaggable,
            Some(arn) => {
                let tags = given
                    .get(&resource.id)
                    .or_else(|| given.get(arn))
                    .ok_or_else(|| ResourceError::LookupFailed {
                        resource: format!("{} {}", resource.kind.describe(), quoted(&resource.id)),
                        reason: format!(
                            "no tags are given for it: write `resource_tags: {{{}: {{…}}}}`, with `{{}}` for one without tags",
                            resource.id
                        ),
                    })?;
                ResourceState::Tags(tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
        };
        facts.resources.push(ResourceFact { resource, state });
    }
    Ok(facts)
}

/// A file of policy tests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The policy under test, relative to the test file.
    pub policy: String,
    /// Caller names the policy may use; without it names are only checked
    /// for their form.
    pub callers: Option<Vec<String>>,
    pub tests: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub caller: Option<String>,
    /// The caller's tags, for rules that refer to them.
    #[serde(default)]
    pub caller_tags: std::collections::BTreeMap<String, String>,
    /// The tags of the existing resources the request names, by id, for
    /// `resource_tags` rules.
    #[serde(default)]
    pub resource_tags: GivenTags,
    /// When the request is decided (RFC 3339), for rules that expire;
    /// by default the time `test` runs (or its `--at`).
    pub at: Option<String>,
    pub region: String,
    pub request: TestRequest,
    pub expect: Expect,
    /// The deciding rules, exactly (any order).
    pub rules: Option<Vec<String>>,
}

/// `"Action=…&…"`, or a mapping of parameters (Version is added when
/// missing).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum TestRequest {
    Query(String),
    Parameters(std::collections::BTreeMap<String, String>),
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allow,
    Deny,
}

impl TestRequest {
    fn query(&self) -> String {
        match self {
            TestRequest::Query(query) => query.clone(),
            TestRequest::Parameters(map) => {
                let mut pairs: Vec<(&str, &str)> =
                    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                if !map.contains_key("Version") {
                    pairs.push(("Version", API_VERSION));
                }
                crate::form::encode(pairs)
            }
        }
    }
}

/// One test's outcome: `Err` says what was wrong.
/// `at`: when the case is decided if it says no time of its own.
pub fn run_case(policy: &Policy, case: &TestCase, at: i64) -> Result<(), String> {
    let caller_tags = CallerTags::new(
        case.caller_tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let at = match &case.at {
        Some(text) => crate::params::rfc3339_seconds(text)
            .ok_or_else(|| format!("`at` {} is not an RFC 3339 time", quoted(text)))?,
        None => at,
    };
    let asked = Asked {
        region: &case.region,
        caller: case.caller.as_deref(),
        caller_tags: &caller_tags,
        resource_tags: &case.resource_tags,
        at: Some(at),
    };
    let explanation = explain(policy, &asked, &case.request.query(), DenialDetail::Caller)
        .map_err(|e| format!("the proxy would reject the request before deciding: {e}"))?;
    let got = match explanation.decision {
        Decision::Allow => Expect::Allow,
        Decision::Deny => Expect::Deny,
    };
    let shown = |rules: &[String]| {
        if rules.is_empty() {
            "no rule".to_owned()
        } else {
            rules.join(", ")
        }
    };
    if got != case.expect {
        return Err(format!(
            "expected {}, got {} (rules: {})",
            expect_name(case.expect),
            expect_name(got),
            shown(&explanation.rules)
        ));
    }
    if let Some(expected) = &case.rules {
        let mut want = expected.clone();
        let mut have = explanation.rules.clone();
        want.sort();
        have.sort();
        if want != have {
            return Err(format!(
                "{} as expected, but decided by {} instead of {}",
                expect_name(got),
                shown(&explanation.rules),
                shown(expected)
            ));
        }
    }
    Ok(())
}

fn expect_name(expect: Expect) -> &'static str {
    match expect {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
rules:
  - id: read-only
    effect: allow
    actions: ["Describe*"]
  - id: ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    callers: [ci-deployer]
    owner_ids: ["123456781234"]
  - id: frozen
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["legacy-.*"]
    message: "legacy groups are frozen"
"#;
    const INGRESS: &str = "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
        &CacheSecurityGroupName=prod-web&EC2SecurityGroupName=app&EC2SecurityGroupOwnerId=123456781234";

    fn policy() -> Policy {
        policy::compile("p.yaml", POLICY).unwrap()
    }

    #[test]
    fn explains_allows_and_denials() {
        let allowed = explain(
            &policy(),
            &Asked::new("us-east-1", Some("ci-deployer")),
            INGRESS,
            DenialDetail::Caller,
        )
        .unwrap();
        assert_eq!(
            (allowed.decision, allowed.rules.as_slice()),
            (Decision::Allow, &["ingress".to_owned()][..])
        );
        assert!(allowed.error.is_none());
        assert!(allowed
            .to_text()
            .starts_with("decision: allow\nrules: ingress\n"));

        let denied = explain(
            &policy(),
            &Asked::new("us-east-1", Some("app")),
            INGRESS,
            DenialDetail::Caller,
        )
        .unwrap();
        assert_eq!(denied.decision, Decision::Deny);
        let text = denied.to_text();
        // The caller is told no rule allowed it; `why` has the near misses.
        assert_eq!(
            denied.error.as_ref().unwrap().message,
            "not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress by caller `app` in region `us-east-1`"
        );
        assert!(
            text.contains("why: not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress by caller `app` in region `us-east-1`; rule `ingress`: caller `app` is not one of its callers"),
            "{text}"
        );
        let full = explain(
            &policy(),
            &Asked::new("us-east-1", Some("app")),
            INGRESS,
            DenialDetail::Full,
        )
        .unwrap();
        assert_eq!(
            full.error.as_ref().unwrap().message,
            full.why.clone().unwrap()
        );
        assert!(
            text.contains("rules: none (no rule allowed the request)"),
            "{text}"
        );
        assert!(
            text.contains("<Code>InvalidParameterCombination</Code>"),
            "{text}"
        );
        assert!(
            text.contains("caller `app` is not one of its callers"),
            "{text}"
        );
        let json = denied.to_json();
        assert_eq!(json["decision"], "deny");
        assert_eq!(json["why"], denied.why.clone().unwrap());
        assert_eq!(json["error"]["status"], 400);

        let frozen = INGRESS.replace("prod-web", "legacy-1");
        let denied = explain(
            &policy(),
            &Asked::new("us-east-1", Some("ci-deployer")),
            &frozen,
            DenialDetail::Caller,
        )
        .unwrap();
        assert_eq!(denied.rules, ["frozen"]);
    }

    #[test]
    fn a_request_the_proxy_would_reject_first() {
        let err = explain(
            &policy(),
            &Asked::new("us-east-1", None),
            "Version=2015-02-02",
            DenialDetail::Caller,
        )
        .unwrap_err();
        assert_eq!(err.code, "MissingAction");
        let err = explain(
            &policy(),
            &Asked::new("mars-1", None),
            INGRESS,
            DenialDetail::Caller,
        )
        .unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
    }

    const EXCEPTIONS: &str = r#"
rules:
  - id: decommission
    effect: allow
    actions: [DeleteReplicationGroup]
    expires: "2026-12-10T00:00:00Z"
    reason: "OPS-42: decommission the old orders cache"
  - id: freeze
    effect: deny
    actions: [ModifyReplicationGroup]
    expires: "2027-01-05T00:00:00+01:00"
    reason: "CHG-7: holiday freeze"
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
"#;

    fn decide_at(query: &str, at: Option<&str>) -> Explanation {
        let policy = policy::compile("p.yaml", EXCEPTIONS).unwrap();
        let asked = Asked {
            at: at.map(|t| crate::params::rfc3339_seconds(t).unwrap()),
            ..Asked::new("us-east-1", Some("ops"))
        };
        explain(&policy, &asked, query, DenialDetail::Full).unwrap()
    }

    #[test]
    fn exceptions_end_at_their_time() {
        let delete = "Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders";
        let before = decide_at(delete, Some("2026-12-09T23:59:59Z"));
        assert_eq!(before.rules, ["decommission"]);
        let after = decide_at(delete, Some("2026-12-10T00:00:00Z"));
        assert_eq!(after.decision, Decision::Deny);
        assert!(
            after.why.as_deref().unwrap().contains("rule `decommission`: the exception expired at 2026-12-10T00:00:00Z (OPS-42: decommission the old orders cache)"),
            "{:?}",
            after.why
        );
        // A time not known: the allow exception does not match.
        assert_eq!(decide_at(delete, None).decision, Decision::Deny);
        let modify = "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders";
        let frozen = decide_at(modify, Some("2027-01-04T22:59:59Z"));
        assert_eq!(frozen.rules, ["freeze"]);
        assert!(
            frozen.why.as_deref().unwrap().ends_with(
                "(`freeze` is an exception until 2027-01-05T00:00:00+01:00: CHG-7: holiday freeze)"
            ),
            "{:?}",
            frozen.why
        );
        // The offset counts: the freeze ends at 23:00 UTC.
        assert_eq!(
            decide_at(modify, Some("2027-01-04T23:00:00Z")).rules,
            ["modify"]
        );
        // A deny exception at a time not known still denies.
        assert_eq!(decide_at(modify, None).rules, ["freeze"]);
        let policy = policy::compile("p.yaml", EXCEPTIONS).unwrap();
        let now = crate::params::rfc3339_seconds("2026-12-06T00:00:00Z").unwrap();
        assert_eq!(
            policy.next_expiry(now),
            crate::params::rfc3339_seconds("2026-12-10T00:00:00Z")
        );
        let warned = expiry_warnings("p.yaml", EXCEPTIONS, &policy, now);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert_eq!(warned[0].kind, WarningKind::ExpiresSoon);
        assert!(warned[0].text.contains("rule `decommission`: `expires`: the exception expires at 2026-12-10T00:00:00Z, in 4 days"), "{}", warned[0]);
        let later = crate::params::rfc3339_seconds("2027-01-10T00:00:00Z").unwrap();
        let kinds: Vec<WarningKind> = expiry_warnings("p.yaml", EXCEPTIONS, &policy, later)
            .iter()
            .map(|w| w.kind)
            .collect();
        assert_eq!(kinds, [WarningKind::Expired, WarningKind::Expired]);
        assert_eq!(policy.next_expiry(later), None);
        // No shadowed-allow warning: `modify` is in force after the freeze.
        assert!(check("p.yaml", EXCEPTIONS, None)
            .unwrap()
            .1
            .iter()
            .all(|w| w.kind != WarningKind::ShadowedAllow));
    }

    #[test]
    fn an_exception_needs_a_reason_and_a_time() {
        let errors = |rule: &str| match policy::compile(
            "p.yaml",
            &format!("rules:\n  - {{id: r, effect: allow, actions: [DeleteUser], {rule}}}\n"),
        ) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert!(errors("expires: \"2026-12-31T00:00:00Z\"")
            .contains("a rule that expires is an exception, and needs a `reason`"));
        assert!(errors("expires: tomorrow, reason: x")
            .contains("`expires` must be a quoted RFC 3339 time, not `tomorrow`"));
        assert!(errors("expires: \"2026-12-31T00:00:00Z\", reason: \"\"")
            .contains("`reason` must be one line"));
        assert_eq!(errors("reason: \"TICKET-9: kept for audits\""), "");
    }

    #[test]
    fn test_cases_check_decisions_and_rules() {
        let file: TestFile = serde_yaml::from_str(
            r#"
policy: p.yaml
tests:
  - name: describe
    region: us-east-1
    request: {Action: DescribeCacheClusters}
    expect: allow
    rules: [read-only]
  - name: wrong expectation
    caller: ci-deployer
    region: us-east-1
    request: "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&CacheSecurityGroupName=legacy-1&EC2SecurityGroupName=app&EC2SecurityGroupOwnerId=123456781234"
    expect: allow
  - name: wrong rules
    region: us-east-1
    request: {Action: DescribeCacheClusters}
    expect: allow
    rules: [ingress]
  - name: malformed
    region: us-east-1
    request: "Version=2015-02-02"
    expect: deny
"#,
        )
        .unwrap();
        let results: Vec<Result<(), String>> = file
            .tests
            .iter()
            .map(|c| run_case(&policy(), c, 0))
            .collect();
        assert_eq!(results[0], Ok(()));
        assert_eq!(
            results[1],
            Err("expected allow, got deny (rules: frozen)".to_owned())
        );
        assert_eq!(
            results[2],
            Err("allow as expected, but decided by read-only instead of ingress".to_owned())
        );
        assert!(results[3].as_ref().unwrap_err().contains("MissingAction"));
        let unknown = serde_yaml::from_str::<TestFile>("policy: p.yaml\ntests: []\nextra: 1\n");
        assert!(unknown.is_err());
    }

    #[test]
    fn check_reports_warnings_with_positions() {
        let (_, warnings) = check(
            "p.yaml",
            "rules:\n  - id: a\n    effect: allow\n    actions: [DescribeCacheClusters]\n    owner_ids: [\"123456781234\"]\n",
            None,
        )
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].text.starts_with(
                "p.yaml:5:5: warning: rule `a`: `owner_ids`: the rule can never match"
            ),
            "{}",
            warnings[0]
        );
        assert_eq!(warnings[0].kind, WarningKind::NeverMatches);
    }
}
