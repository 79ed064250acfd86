//! Stage 3 of the request path: decide. A pure function of the compiled
//! policy and the request's facts. Deny overrides allow; no matching allow
//! rule means deny. The response names the rules that decided it.

use std::fmt::Write as _;

use crate::conditions::ResourceVerdict;
pub use crate::facts::RequestFacts;
pub use crate::param_path::LookedAt;
use crate::params;
use crate::policy::Policy;
use crate::rule::{Effect, Mode, Rule};
use crate::text::quoted;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// The condition of a rule that a request failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Condition {
    Caller,
    /// The caller is one the rule's `except_callers` excepts.
    ExceptedCaller,
    Region,
    /// The rule's parameter condition of this index (the ingress keys'
    /// first, then `params:`).
    Param(u16),
    /// A parameter the request carries that the rule, closed with
    /// `other_params: deny`, does not name.
    OtherParam(&'static str),
    /// `resource_tags`: a resource the request names lacks a tag.
    ResourceTags,
    /// The rule is an exception whose time is over (`expires:`).
    Expired,
}

/// Why an allow rule that names the action did not match.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Mismatch {
    pub rule: String,
    pub condition: Condition,
    /// A failed `params` condition, said with the request's value (made
    /// here, where the rule is at hand); other conditions are said when
    /// the message is made, so a denial no one reads costs nothing more.
    pub param_detail: Option<String>,
    pub rule_message: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    pub decision: Decision,
    /// The ids of the rules that decided: the matching deny rules for a
    /// denial by rule, the matching allow rules for an allow, none when no
    /// rule allowed the request.
    pub rules: Vec<String>,
    /// For a denial because nothing allowed it: the first condition each
    /// of the first few allow rules for the action failed.
    pub mismatches: Vec<Mismatch>,
    /// How many more allow rules for the action did not match.
    pub more_mismatches: usize,
    /// The parameters and nested paths (`params:` conditions) the deciding
    /// rules, or for a denial because nothing allowed it the near misses,
    /// looked at.
    pub looked_at: Vec<LookedAt>,
    /// The `message` of the deny rules that decided.
    pub deny_messages: Vec<String>,
    /// When `mode: shadow` rules name the action: the decision the policy
    /// would make if they were enforced too.
    pub shadow: Option<ShadowDecision>,
    /// The deciding rules that are exceptions (`expires:`), with their
    /// reason and end.
    pub exceptions: Vec<Exception>,
}

/// A deciding rule that expires.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Exception {
    pub rule: String,
    pub reason: String,
    /// RFC 3339, as the policy writes it.
    pub expires: String,
}

impl Exception {
    fn of(rule: &Rule) -> Option<Exception> {
        let expires = rule.expires.as_ref()?;
        Some(Exception {
            rule: rule.id.clone(),
            reason: rule.reason.clone().unwrap_or_default(),
            expires: expires.written.clone(),
        })
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ShadowDecision {
    pub decision: Decision,
    pub rules: Vec<String>,
}

/// How much a denied caller is told (`denial_detail`). The audit log and
/// `explain` always have the full explanation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum DenialDetail {
    /// The deny rule that decided, or that no rule allowed the request:
    /// nothing about other callers' rules.
    #[default]
    Caller,
    /// Also the first few allow rules that nearly matched, and why not.
    Full,
}

/// What the proxy does with a request, given the policy's response and the
/// proxy's mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Allow,
    Deny,
    /// Forwarded, but a shadow decision (the proxy's `mode: shadow`, or a
    /// rule's) denies it.
    WouldDeny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::WouldDeny => "would_deny",
        }
    }

    pub fn forwards(self) -> bool {
        self != Verdict::Deny
    }
}

impl Policy {
    /// Whether deciding `facts` needs the tags of the resources the request
    /// names: a rule that can match it (its other conditions hold, and the
    /// caller has the tags its values refer to) has `resource_tags`. Other requests never wait for a lookup: a rule for
    /// another caller, or one that excepts this caller, does not count.
    pub fn needs_resource_tags(&self, facts: &RequestFacts<'_>) -> bool {
        let rules = &self.by_action[facts.action.index()];
        rules.needs_resource_tags
            && rules.candidates(facts).any(|index| {
                let rule = &self.rules[index];
                // A caller without a tag the values refer to is judged
                // without the resources' tags, whatever they are.
                rule.resource_tags
                    .as_ref()
                    .is_some_and(|wanted| wanted.resolves_for(facts.caller_tags))
                    && first_failed_before_resources(rule, facts).is_none()
            })
    }

    /// Decides one request, as Cedar's authorizer does. Rules in shadow
    /// mode do not take part in `decision`; they only shape `shadow`.
    pub fn is_authorized(&self, facts: &RequestFacts<'_>) -> Response {
        let rules = &self.by_action[facts.action.index()];
        self.decide(
            facts,
            |keyed| rules.candidates(keyed),
            rules.has_shadow_rules,
        )
    }

    /// Deciding from candidates lets the tests compare the index's answer
    /// with a scan of every rule naming the action.
    fn decide<C: Iterator<Item = usize> + Clone>(
        &self,
        facts: &RequestFacts<'_>,
        candidates: impl FnOnce(&RequestFacts<'_>) -> C,
        has_shadow_rules: bool,
    ) -> Response {
        let candidates = candidates(facts);
        let mut response = self.evaluate(facts, candidates.clone(), Mode::Enforce);
        if has_shadow_rules {
            let shadow = self.evaluate(facts, candidates, Mode::Shadow);
            response.shadow = Some(ShadowDecision {
                decision: shadow.decision,
                rules: shadow.rules,
            });
        }
        if response.decision == Decision::Deny && response.rules.is_empty() {
            self.explain_near_misses(facts, &mut response);
        }
        response
    }

    /// With `Mode::Enforce` only enforced rules count; with `Mode::Shadow`
    /// every rule does. `candidates` must hold every rule that can match.
    fn evaluate(
        &self,
        facts: &RequestFacts<'_>,
        candidates: impl Iterator<Item = usize>,
        mode: Mode,
    ) -> Response {
        let mut allows = Vec::new();
        let mut denies = Vec::new();
        let mut deny_messages = Vec::new();
        let (mut allow_params, mut deny_params) = (Vec::new(), Vec::new());
        let (mut allow_exceptions, mut deny_exceptions) = (Vec::new(), Vec::new());
        for index in candidates {
            let rule = &self.rules[index];
            if mode == Mode::Enforce && rule.mode == Mode::Shadow {
                continue;
            }
            if first_failed_condition(rule, facts).is_some() {
                continue;
            }
            let looked = rule.params.iter().flat_map(|c| c.looked_at());
            match rule.effect {
                Effect::Allow => {
                    allows.push(rule.id.clone());
                    allow_params.extend(looked);
                    allow_exceptions.extend(Exception::of(rule));
                }
                Effect::Deny => {
                    denies.push(rule.id.clone());
                    deny_messages.extend(rule.message.clone());
                    deny_params.extend(looked);
                    deny_exceptions.extend(Exception::of(rule));
                }
            }
        }
        let (decision, rules, mut looked_at, exceptions) = if !denies.is_empty() {
            (Decision::Deny, denies, deny_params, deny_exceptions)
        } else if !allows.is_empty() {
            (Decision::Allow, allows, allow_params, allow_exceptions)
        } else {
            (Decision::Deny, Vec::new(), Vec::new(), Vec::new())
        };
        looked_at.sort_unstable();
        looked_at.dedup();
        Response {
            decision,
            rules,
            mismatches: Vec::new(),
            more_mismatches: 0,
            looked_at,
            deny_messages,
            shadow: None,
            exceptions,
        }
    }

    /// Nothing allowed the request, so every enforced allow rule for the
    /// action is a near miss; the first few say which condition failed.
    /// Bounded, so a denial costs no more than an allow.
    fn explain_near_misses(&self, facts: &RequestFacts<'_>, response: &mut Response) {
        let allows = &self.by_action[facts.action.index()].enforced_allows;
        for &index in allows.iter().take(MISMATCHES_SHOWN) {
            let rule = &self.rules[index];
            if let Some(condition) = first_failed_condition(rule, facts) {
                let names: Vec<LookedAt> = match condition {
                    Condition::Param(i) => rule
                        .params
                        .get(usize::from(i))
                        .map_or_else(Vec::new, |c| c.looked_at().collect()),
                    Condition::OtherParam(name) => vec![LookedAt::Param(name)],
                    Condition::ResourceTags
                    | Condition::Expired
                    | Condition::Caller
                    | Condition::ExceptedCaller
                    | Condition::Region => Vec::new(),
                };
                for name in names {
                    if !response.looked_at.contains(&name) {
                        response.looked_at.push(name);
                    }
                }
                response.mismatches.push(Mismatch {
                    rule: rule.id.clone(),
                    condition,
                    param_detail: match condition {
                        Condition::Param(i) => rule.params.get(usize::from(i)).map(|c| {
                            c.describe_failure(facts.action, facts.params, facts.caller_tags)
                        }),
                        Condition::ResourceTags => rule
                            .resource_tags
                            .as_ref()
                            .map(|r| r.describe_failure(facts.resources, facts.caller_tags)),
                        Condition::Expired => Some(match (&rule.expires, facts.now) {
                            (Some(expiry), Some(_)) => format!(
                                "the exception expired at {} ({})",
                                expiry.written,
                                rule.reason.as_deref().unwrap_or_default()
                            ),
                            (_, _) => "the time of the request is not known, and the rule is an exception that expires".to_owned(),
                        }),
                        Condition::OtherParam(_)
                        | Condition::Caller
                        | Condition::ExceptedCaller
                        | Condition::Region => None,
                    },
                    rule_message: rule.message.clone(),
                });
            }
        }
        response.more_mismatches = allows.len().saturating_sub(MISMATCHES_SHOWN);
    }
}

/// A condition left out matches anything; a condition on a parameter
/// matches only a request that carries the parameter.
fn first_failed_condition(rule: &Rule, facts: &RequestFacts<'_>) -> Option<Condition> {
    if let Some(failed) = first_failed_before_resources(rule, facts) {
        return Some(failed);
    }
    if let Some(wanted) = &rule.resource_tags {
        // What cannot be judged fails an allow rule and fires a deny rule.
        let holds = match wanted.judge(facts.resources, facts.caller_tags) {
            ResourceVerdict::Holds => true,
            ResourceVerdict::Fails => false,
            ResourceVerdict::Unjudged => rule.effect == Effect::Deny,
        };
        if !holds {
            return Some(Condition::ResourceTags);
        }
    }
    None
}

/// The first failed condition but `resource_tags`, which is checked last:
/// its tags are looked up only for rules whose other conditions hold.
fn first_failed_before_resources(rule: &Rule, facts: &RequestFacts<'_>) -> Option<Condition> {
    if !rule.in_force(facts.now) {
        return Some(Condition::Expired);
    }
    if let Some(callers) = &rule.callers {
        if !facts
            .caller
            .is_some_and(|c| callers.iter().any(|allowed| allowed == c))
        {
            return Some(Condition::Caller);
        }
    }
    if let Some(excepted) = &rule.except_callers {
        if facts
            .caller
            .is_some_and(|c| excepted.iter().any(|name| name == c))
        {
            return Some(Condition::ExceptedCaller);
        }
    }
    if let Some(regions) = &rule.regions {
        if !regions.contains(facts.region) {
            return Some(Condition::Region);
        }
    }
    for (index, condition) in rule.params.iter().enumerate() {
        if !condition.holds(facts.params, facts.caller_tags) {
            return Some(Condition::Param(index as u16));
        }
    }
    let carried = facts.params.iter().map(|(member, _)| member.query_name());
    rule.other_params
        .closing(carried)
        .map(Condition::OtherParam)
}

/// How many near-miss rules a denial message explains.
const MISMATCHES_SHOWN: usize = 3;

impl Response {
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// The verdict under the proxy's mode, and the rules that decided it.
    /// In shadow mode nothing the policy says is enforced; in enforce mode
    /// shadow rules can only turn an allow into a `would_deny`.
    pub fn verdict(&self, proxy_mode: Mode) -> (Verdict, &[String]) {
        let shadow_denies = self
            .shadow
            .as_ref()
            .filter(|s| s.decision == Decision::Deny);
        match (self.decision, proxy_mode, shadow_denies) {
            (Decision::Deny, Mode::Enforce, _) => (Verdict::Deny, &self.rules),
            (Decision::Deny, Mode::Shadow, _) => (Verdict::WouldDeny, &self.rules),
            (Decision::Allow, _, Some(shadow)) => (Verdict::WouldDeny, &shadow.rules),
            (Decision::Allow, _, None) => (Verdict::Allow, &self.rules),
        }
    }

    /// The message a denied caller reads: which rule denied the request, or
    /// that no rule allowed it; with `DenialDetail::Full`, also which value
    /// failed each of the first few allow rules for the action.
    pub fn denial_message(&self, facts: &RequestFacts<'_>, detail: DenialDetail) -> String {
        let mut out = String::new();
        if !self.rules.is_empty() {
            let rules: Vec<String> = self.rules.iter().map(|r| format!("`{r}`")).collect();
            let _ = write!(
                out,
                "denied by policy rule {} for {}",
                rules.join(", "),
                subject(facts)
            );
            for message in &self.deny_messages {
                let _ = write!(out, ": {message}");
            }
            for exception in &self.exceptions {
                let _ = write!(
                    out,
                    " (`{}` is an exception until {}: {})",
                    exception.rule, exception.expires, exception.reason
                );
            }
            return out;
        }
        let _ = write!(
            out,
            "not allowed by policy: no rule allows {}",
            subject(facts)
        );
        if detail == DenialDetail::Caller {
            return out;
        }
        for mismatch in self.mismatches.iter().take(MISMATCHES_SHOWN) {
            let detail = match &mismatch.param_detail {
                Some(detail) => detail.clone(),
                None => describe(mismatch.condition, facts),
            };
            let _ = write!(out, "; rule `{}`: {detail}", mismatch.rule);
            if let Some(message) = &mismatch.rule_message {
                let _ = write!(out, " ({message})");
            }
        }
        if self.more_mismatches > 0 {
            let _ = write!(out, "; and {} more rules", self.more_mismatches);
        }
        out
    }
}

/// "AuthorizeCacheSecurityGroupIngress by caller `ci-deployer` in region `us-east-1`"
fn subject(facts: &RequestFacts<'_>) -> String {
    match facts.caller {
        Some(caller) => format!(
            "{} by caller {} in region {}",
            facts.action,
            quoted(caller),
            quoted(facts.region.as_str())
        ),
        None => format!(
            "{} in region {}",
            facts.action,
            quoted(facts.region.as_str())
        ),
    }
}

/// A failed condition that is not on a parameter (those are said when the
/// mismatch is found, in `Mismatch::param_detail`).
fn describe(condition: Condition, facts: &RequestFacts<'_>) -> String {
    match condition {
        Condition::ExceptedCaller => format!(
            "caller {} is one of its excepted callers",
            quoted(facts.caller.unwrap_or_default())
        ),
        Condition::Caller => match facts.caller {
            Some(caller) => format!("caller {} is not one of its callers", quoted(caller)),
            None => "the request has no authenticated caller".to_owned(),
        },
        Condition::Region => format!(
            "region {} is not one of its regions",
            quoted(facts.region.as_str())
        ),
        Condition::OtherParam(name) => {
            let value = facts
                .params
                .entry(name)
                .map(|(member, value)| format!(" = {}", quoted(&params::render(member, value))))
                .unwrap_or_default();
            format!(
                "the request carries `{name}`{value}, which the rule does not name (`other_params: deny`)"
            )
        }
        Condition::Param(_) | Condition::ResourceTags | Condition::Expired => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, Action, Region};
    use crate::policy::compile;

    const POLICY: &str = r#"
rules:
  - id: prod-app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1, eu-west-1]
    owner_ids: ["123456781234"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
    message: "ask #platform for other groups"
  - id: no-legacy
    effect: deny
    actions: ["*CacheSecurityGroupIngress"]
    cache_security_groups: ["prod-legacy"]
    message: "the legacy group is frozen"
  - id: describe-us-east-1
    effect: allow
    actions: ["Describe*"]
    regions: [us-east-1]
  - id: describe-groups-by-name
    effect: allow
    actions: [DescribeCacheSecurityGroups]
    cache_security_groups: ["team-.*"]
"#;

    struct Case {
        action: &'static str,
        caller: Option<&'static str>,
        region: &'static str,
        owner: Option<&'static str>,
        cache: Option<&'static str>,
        ec2: Option<&'static str>,
    }

    const INGRESS: Case = Case {
        action: "AuthorizeCacheSecurityGroupIngress",
        caller: Some("ci-deployer"),
        region: "us-east-1",
        owner: Some("123456781234"),
        cache: Some("prod-web"),
        ec2: Some("app-frontend"),
    };

    fn decide(case: Case) -> (Response, String) {
        decide_with(POLICY, case)
    }

    #[test]
    fn allows_a_matching_request_and_names_the_rule() {
        let (response, _) = decide(INGRESS);
        assert_eq!(response.decision, Decision::Allow);
        assert_eq!(response.rules, ["prod-app-ingress"]);
    }

    #[test]
    fn dashed_owner_ids_are_the_same_account() {
        let (response, _) = decide(Case {
            owner: Some("1234-5678-1234"),
            ..INGRESS
        });
        assert!(response.is_allowed());
    }

    #[test]
    fn each_failed_value_is_named() {
        let cases = [
            (
                Case {
                    owner: Some("999999999999"),
                    ..INGRESS
                },
                "EC2SecurityGroupOwnerId `999999999999` is not one of its owner ids",
            ),
            (
                Case {
                    region: "us-west-2",
                    ..INGRESS
                },
                "region `us-west-2` is not one of its regions",
            ),
            (
                Case {
                    cache: Some("dev-web"),
                    ..INGRESS
                },
                "CacheSecurityGroupName `dev-web` does not match its patterns",
            ),
            (
                Case {
                    ec2: Some("db-primary"),
                    ..INGRESS
                },
                "EC2SecurityGroupName `db-primary` does not match its patterns",
            ),
            (
                Case {
                    cache: Some("xprod-web"),
                    ..INGRESS
                },
                "`xprod-web`",
            ),
            (
                Case {
                    cache: Some("prod-web!"),
                    ..INGRESS
                },
                "`prod-web!`",
            ),
        ];
        for (case, expected) in cases {
            let (response, message) = decide(case);
            assert_eq!(response.decision, Decision::Deny);
            assert!(response.rules.is_empty());
            assert_eq!(response.mismatches[0].rule, "prod-app-ingress");
            assert!(
                message.starts_with(
                    "not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress"
                ),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
            assert!(
                message.contains("(ask #platform for other groups)"),
                "{message}"
            );
        }
    }

    #[test]
    fn deny_overrides_allow() {
        let policy = compile(
            "p.yaml",
            "rules: [{id: all, effect: allow}, {id: legacy, effect: deny, cache_security_groups: [prod-legacy]}]",
        )
        .unwrap();
        let (response, message) = decide(Case {
            cache: Some("prod-legacy"),
            ..INGRESS
        });
        assert_eq!(response.decision, Decision::Deny);
        assert_eq!(response.rules, ["no-legacy"]);
        assert!(
            message.contains("denied by policy rule `no-legacy`"),
            "{message}"
        );
        assert!(
            message.ends_with(": the legacy group is frozen"),
            "{message}"
        );
        let region = Region::parse("us-east-1").unwrap();
        let action = Action::from_name("DescribeCacheSecurityGroups").unwrap();
        let (legacy, none) = (
            ingress(action, None, Some("prod-legacy"), None),
            ingress(action, None, None, None),
        );
        let request = |params| RequestFacts::new(action, &region, params, None);
        assert_eq!(policy.is_authorized(&request(&legacy)).rules, ["legacy"]);
        assert!(policy.is_authorized(&request(&legacy)).decision == Decision::Deny);
        // A deny condition on a parameter does not apply when it is absent.
        assert_eq!(policy.is_authorized(&request(&none)).rules, ["all"]);
    }

    #[test]
    fn wildcard_actions_and_absent_parameters() {
        let (response, _) = decide(Case {
            action: "DescribeCacheClusters",
            owner: None,
            cache: None,
            ec2: None,
            ..INGRESS
        });
        assert_eq!(response.rules, ["describe-us-east-1"]);
        let (response, message) = decide(Case {
            action: "DescribeCacheSecurityGroups",
            caller: None,
            region: "eu-west-1",
            owner: None,
            cache: None,
            ec2: None,
        });
        assert_eq!(response.decision, Decision::Deny);
        assert!(
            message.contains(
                "rule `describe-groups-by-name`: the request has no CacheSecurityGroupName"
            ),
            "{message}"
        );
        let (response, _) = decide(Case {
            action: "DescribeCacheSecurityGroups",
            caller: None,
            region: "eu-west-1",
            owner: None,
            cache: Some("team-a"),
            ec2: None,
        });
        assert_eq!(response.rules, ["describe-groups-by-name"]);
    }

    #[test]
    fn an_action_no_rule_names_is_denied() {
        let (response, message) = decide(Case {
            action: "DeleteCacheCluster",
            ..INGRESS
        });
        assert_eq!(response.decision, Decision::Deny);
        assert!(response.mismatches.is_empty());
        assert_eq!(
            message,
            "not allowed by policy: no rule allows DeleteCacheCluster by caller `ci-deployer` in region `us-east-1`"
        );
    }

    #[test]
    fn rules_can_be_limited_to_callers() {
        let policy = compile(
            "p.yaml",
            "rules: [{id: ci-only, effect: allow, actions: [DeleteCacheCluster], callers: [ci-deployer]}]",
        )
        .unwrap();
        let region = Region::parse("us-east-1").unwrap();
        let facts = |caller| {
            RequestFacts::new(
                Action::from_name("DeleteCacheCluster").unwrap(),
                &region,
                &crate::params::EMPTY,
                caller,
            )
        };
        assert_eq!(
            policy.is_authorized(&facts(Some("ci-deployer"))).rules,
            ["ci-only"]
        );
        let denied = policy.is_authorized(&facts(Some("app-payments")));
        assert_eq!(denied.decision, Decision::Deny);
        assert!(denied
            .denial_message(&facts(Some("app-payments")), DenialDetail::Full)
            .contains("rule `ci-only`: caller `app-payments` is not one of its callers"));
        assert_eq!(policy.is_authorized(&facts(None)).decision, Decision::Deny);
    }

    #[test]
    fn an_empty_policy_denies_everything() {
        let policy = compile("p.yaml", "rules: []").unwrap();
        let region = Region::parse("us-east-1").unwrap();
        for action in Action::all() {
            let facts = RequestFacts::new(action, &region, &crate::params::EMPTY, None);
            assert_eq!(policy.is_authorized(&facts).decision, Decision::Deny);
        }
    }

    const SHADOW_POLICY: &str = r#"
rules:
  - id: ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    owner_ids: ["123456781234"]
  - id: trial-freeze
    effect: deny
    mode: shadow
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-.*"]
  - id: trial-open-describe
    effect: allow
    mode: shadow
    actions: ["Describe*"]
"#;

    /// The ingress parameters the action has, as a parsed request holds
    /// them (owner ids normalized to their 12 digits).
    fn ingress(
        action: Action,
        owner: Option<&str>,
        cache: Option<&str>,
        ec2: Option<&str>,
    ) -> crate::params::Params {
        let owner = owner.map(|o| AccountId::parse(o).unwrap());
        let given = [
            (
                "EC2SecurityGroupOwnerId",
                owner.as_ref().map(AccountId::as_str),
            ),
            ("CacheSecurityGroupName", cache),
            ("EC2SecurityGroupName", ec2),
        ];
        let given = given
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)));
        crate::params::Params::of_strings(action.operation().input(), given)
    }

    fn decide_with(policy: &str, case: Case) -> (Response, String) {
        let policy = compile("p.yaml", policy).unwrap();
        let region = Region::parse(case.region).unwrap();
        let action = Action::from_name(case.action).unwrap();
        let params = ingress(action, case.owner, case.cache, case.ec2);
        let facts = RequestFacts::new(action, &region, &params, case.caller);
        let response = policy.is_authorized(&facts);
        let message = response.denial_message(&facts, DenialDetail::Full);
        (response, message)
    }

    #[test]
    fn no_spelling_of_a_name_gets_past_a_deny_rule() {
        use crate::request;
        let policy = compile(
            "p.yaml",
            r#"
rules:
  - id: ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["(?i)[a-z0-9-]+"]
  - id: payments-frozen
    effect: deny
    cache_security_groups: ["prod-payments.*"]
  - id: no-default
    effect: deny
    ec2_security_groups: ["default", "(?-i)legacy-[a-z]+"]
"#,
        )
        .unwrap();
        let region = Region::parse("us-east-1").unwrap();
        for (cache, ec2, rules, forwarded) in [
            (
                "PROD-PAYMENTS-1",
                "app",
                "payments-frozen",
                "prod-payments-1",
            ),
            (
                "Prod-Payments-1",
                "app",
                "payments-frozen",
                "prod-payments-1",
            ),
            // The Kelvin sign lower-cases to `k`, as ElastiCache would store it.
            (
                "PROD-PAYMENTS-%E2%84%AA",
                "app",
                "payments-frozen",
                "prod-payments-k",
            ),
            ("prod-web", "Default", "no-default", "prod-web"),
            ("prod-web", "DEFAULT", "no-default", "prod-web"),
            ("prod-web", "LEGACY-Db", "no-default", "prod-web"),
            ("Prod-Web", "app", "ingress", "prod-web"),
        ] {
            let query = format!(
                "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&CacheSecurityGroupName={cache}\
                 &EC2SecurityGroupName={ec2}&EC2SecurityGroupOwnerId=123456781234"
            );
            let (parsed, _) = request::parse_query(&query).unwrap();
            let facts = RequestFacts::of(&parsed, &region, Some("ci-deployer"));
            let response = policy.is_authorized(&facts);
            assert_eq!(response.rules, [rules], "{cache} {ec2}");
            // What AWS gets is the name decided on.
            let body = parsed.to_form_body();
            assert!(
                body.contains(&format!("CacheSecurityGroupName={forwarded}&")),
                "{body}"
            );
            assert!(
                body.contains(&format!("EC2SecurityGroupName={ec2}&")),
                "{body}"
            );
            // The index finds the same rules as a scan of every rule.
            let all = &policy.by_action[facts.action.index()].all;
            assert_eq!(
                policy.decide(&facts, |_| all.iter().copied(), false).rules,
                response.rules
            );
        }
    }

    #[test]
    fn a_caller_is_told_only_what_concerns_it() {
        let policy = compile("p.yaml", POLICY).unwrap();
        let region = Region::parse("us-west-2").unwrap();
        let action = Action::from_name("AuthorizeCacheSecurityGroupIngress").unwrap();
        let params = ingress(
            action,
            Some("123456781234"),
            Some("prod-web"),
            Some("app-web"),
        );
        let facts = RequestFacts::new(action, &region, &params, Some("ci-deployer"));
        let response = policy.is_authorized(&facts);
        assert_eq!(
            response.denial_message(&facts, DenialDetail::Caller),
            "not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress by caller `ci-deployer` in region `us-west-2`"
        );
        let full = response.denial_message(&facts, DenialDetail::Full);
        assert!(
            full.contains("rule `prod-app-ingress`: region `us-west-2` is not one of its regions"),
            "{full}"
        );
        // A deny rule that decided is named, with its message, either way.
        let legacy = ingress(
            action,
            Some("123456781234"),
            Some("prod-legacy"),
            Some("app-web"),
        );
        let frozen = RequestFacts {
            region: &Region::parse("us-east-1").unwrap(),
            params: &legacy,
            ..facts
        };
        let response = policy.is_authorized(&frozen);
        let caller = response.denial_message(&frozen, DenialDetail::Caller);
        assert_eq!(caller, response.denial_message(&frozen, DenialDetail::Full));
        assert!(
            caller.starts_with(
                "denied by policy rule `no-legacy` for AuthorizeCacheSecurityGroupIngress"
            ) && caller.ends_with(": the legacy group is frozen"),
            "{caller}"
        );
    }

    /// A closed rule does not match a request carrying a parameter it does
    /// not name; the denial and the audit's looked-at names say which, with
    /// a secret's value hidden.
    #[test]
    fn a_closed_rule_names_the_parameter_that_closed_it() {
        let policy = compile(
            "p.yaml",
            r#"
rules:
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      ReplicationGroupId: {matches: "payments-.*"}
      CacheNodeType: {one_of: [cache.r7g.large], if_absent: match}
    other_params: deny
    other_params_allowed: [PreferredMaintenanceWindow]
  - id: open
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      ReplicationGroupId: {one_of: [scratch]}
"#,
        )
        .unwrap();
        let action = Action::from_name("ModifyReplicationGroup").unwrap();
        let region = Region::parse("us-east-1").unwrap();
        let decide = |pairs: &[(&str, &str)]| {
            let params = crate::params::Params::of_strings(
                action.operation().input(),
                pairs.iter().copied(),
            );
            let facts = RequestFacts::new(action, &region, &params, None);
            let response = policy.is_authorized(&facts);
            let message = response.denial_message(&facts, DenialDetail::Full);
            (response, message)
        };
        // Named by a condition, by `other_params_allowed`, or left out.
        for pairs in [
            &[("ReplicationGroupId", "payments-a")][..],
            &[
                ("ReplicationGroupId", "payments-a"),
                ("CacheNodeType", "cache.r7g.large"),
            ],
            &[
                ("ReplicationGroupId", "payments-a"),
                ("PreferredMaintenanceWindow", "sun:05:00-sun:06:00"),
            ],
        ] {
            assert_eq!(decide(pairs).0.rules, ["modify"], "{pairs:?}");
        }
        let (response, message) = decide(&[
            ("ReplicationGroupId", "payments-a"),
            ("TransitEncryptionMode", "preferred"),
        ]);
        assert_eq!(response.decision, Decision::Deny);
        assert_eq!(
            response.mismatches[0].condition,
            Condition::OtherParam("TransitEncryptionMode")
        );
        assert!(
            message.contains("rule `modify`: the request carries `TransitEncryptionMode` = `preferred`, which the rule does not name (`other_params: deny`)"),
            "{message}"
        );
        assert!(response
            .looked_at
            .contains(&LookedAt::Param("TransitEncryptionMode")));
        // A failed condition is said before an unnamed parameter.
        let (_, message) = decide(&[
            ("ReplicationGroupId", "payments-a"),
            ("CacheNodeType", "cache.t4g.micro"),
            ("AuthTokenUpdateStrategy", "DELETE"),
        ]);
        assert!(
            message.contains("rule `modify`: `CacheNodeType`"),
            "{message}"
        );
        // A secret is named, its value never shown.
        let (_, message) = decide(&[
            ("ReplicationGroupId", "payments-a"),
            ("AuthToken", "token-0123456789abcdef"),
        ]);
        assert!(
            message.contains("the request carries `AuthToken` = `(secret)`"),
            "{message}"
        );
        assert!(!message.contains("token-0123"), "{message}");
        // An open rule lets what it does not name through.
        let (response, _) = decide(&[
            ("ReplicationGroupId", "scratch"),
            ("TransitEncryptionMode", "preferred"),
        ]);
        assert_eq!(response.rules, ["open"]);
    }

    #[test]
    fn shadow_rules_do_not_take_part_in_the_enforced_decision() {
        // A matching shadow deny: enforced allow, shadow deny, verdict would_deny.
        let response = decide_with(SHADOW_POLICY, INGRESS).0;
        assert_eq!(response.decision, Decision::Allow);
        assert_eq!(response.rules, ["ingress"]);
        let shadow = response.shadow.clone().unwrap();
        assert_eq!(
            (shadow.decision, shadow.rules.as_slice()),
            (Decision::Deny, &["trial-freeze".to_owned()][..])
        );
        let (verdict, rules) = response.verdict(Mode::Enforce);
        assert_eq!(
            (verdict, rules),
            (Verdict::WouldDeny, &["trial-freeze".to_owned()][..])
        );
        assert!(verdict.forwards());

        // The shadow deny does not match: plain allow.
        let (response, _) = decide_with(
            SHADOW_POLICY,
            Case {
                cache: Some("dev-web"),
                ..INGRESS
            },
        );
        assert_eq!(response.verdict(Mode::Enforce).0, Verdict::Allow);

        // A shadow allow does not allow anything.
        let describe = Case {
            action: "DescribeCacheClusters",
            owner: None,
            cache: None,
            ec2: None,
            ..INGRESS
        };
        let response = decide_with(SHADOW_POLICY, describe).0;
        assert_eq!(response.decision, Decision::Deny);
        assert_eq!(response.shadow.as_ref().unwrap().decision, Decision::Allow);
        assert_eq!(response.verdict(Mode::Enforce).0, Verdict::Deny);
        assert!(!Verdict::Deny.forwards());
    }

    #[test]
    fn the_proxys_shadow_mode_forwards_denials_as_would_deny() {
        let (response, _) = decide(Case {
            owner: Some("999999999999"),
            ..INGRESS
        });
        assert_eq!(response.verdict(Mode::Enforce).0, Verdict::Deny);
        assert_eq!(response.verdict(Mode::Shadow).0, Verdict::WouldDeny);
        let (response, _) = decide(Case {
            cache: Some("prod-legacy"),
            ..INGRESS
        });
        assert_eq!(
            response.verdict(Mode::Shadow),
            (Verdict::WouldDeny, &["no-legacy".to_owned()][..])
        );
        let (response, _) = decide(INGRESS);
        assert!(
            response.shadow.is_none(),
            "no shadow rules, no shadow decision"
        );
        assert_eq!(response.verdict(Mode::Shadow).0, Verdict::Allow);
    }

    #[test]
    fn rule_mode_is_validated() {
        let err = compile(
            "p.yaml",
            "rules:\n  - id: a\n    effect: allow\n    mode: dry-run\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("`mode` must be `enforce` or `shadow`"),
            "{err}"
        );
    }

    /// The index only narrows: on random policies over a small vocabulary
    /// (literal and non-literal patterns, listed and left-out conditions,
    /// shadow rules), deciding from the index's candidates gives the same
    /// response as deciding from every rule that names the action.
    mod index_agrees_with_a_full_scan {
        use super::*;
        use crate::params::Value;
        use proptest::prelude::*;

        const CALLERS: [&str; 3] = ["ci", "app", "ops"];
        const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
        const OWNERS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
        const NAMES: [&str; 5] = ["web", "worker", "prod-web", "prod-db", "Web"];
        const PATTERNS: [&str; 8] = [
            "web",
            "prod-web",
            "(web|worker)",
            "prod-.*",
            "(?i)web",
            "w.*",
            "prod-(web|db)",
            "[a-z]+",
        ];
        // CreateCacheCluster names its groups in a list, which the
        // `cache_security_groups` shorthand reads too.
        const ACTIONS: [&str; 4] = [
            "AuthorizeCacheSecurityGroupIngress",
            "RevokeCacheSecurityGroupIngress",
            "DescribeCacheSecurityGroups",
            "CreateCacheCluster",
        ];

        fn subset(
            items: &'static [&'static str],
        ) -> impl Strategy<Value = Option<Vec<&'static str>>> {
            proptest::option::of(proptest::sample::subsequence(items, 1..=items.len().min(3)))
        }

        /// A condition on a parameter all the rule's actions have, with an
        /// absent one matching or not: the single name, or the list with
        /// literal names (posted, yet no one value of a list keys it), or
        /// a path to the list's items (never posted).
        fn params_text(
            actions: &[&str],
            names: Option<Vec<&str>>,
            absent: bool,
            path: bool,
        ) -> String {
            let single = !actions.contains(&"CreateCacheCluster");
            let on_list = actions == ["CreateCacheCluster"];
            let (name, test) = match (single, path) {
                (true, _) => ("CacheSecurityGroupName", "one_of"),
                (false, false) => ("CacheSecurityGroupNames", "matches"),
                // Quoted: `[]` is a sequence in a flow mapping.
                (false, true) => ("\"CacheSecurityGroupNames[]\"", "one_of"),
            };
            names
                .filter(|_| single || on_list)
                .map_or(String::new(), |names| {
                    format!(
                        "    params: {{{name}: {{{test}: [{}], if_absent: {}}}}}\n",
                        names.join(", "),
                        if absent { "match" } else { "no_match" }
                    )
                })
        }

        fn rule_text() -> impl Strategy<Value = String> {
            (
                any::<bool>(),
                any::<bool>(),
                proptest::sample::subsequence(&ACTIONS[..], 1..=2),
                subset(&CALLERS),
                subset(&REGIONS),
                subset(&OWNERS),
                subset(&PATTERNS),
                subset(&PATTERNS),
                (subset(&NAMES), any::<bool>(), any::<bool>()),
                (any::<bool>(), any::<bool>()),
            )
                .prop_map(
                    |(
                        deny,
                        shadow,
                        actions,
                        callers,
                        regions,
                        owners,
                        cache,
                        ec2,
                        (names, absent, path),
                        (closed, allowed),
                    )| {
                        let list = |key: &str, values: Option<Vec<&str>>| {
                            values.map_or(String::new(), |v| {
                                let quoted: Vec<String> =
                                    v.iter().map(|x| format!("\"{x}\"")).collect();
                                format!("    {key}: [{}]\n", quoted.join(", "))
                            })
                        };
                        let params = params_text(&actions, names, absent, path);
                        // Closing only removes matches: an allow rule,
                        // with a parameter of its actions let through.
                        let allowed_name = if actions == ["CreateCacheCluster"] {
                            "CacheSecurityGroupNames"
                        } else {
                            "CacheSecurityGroupName"
                        };
                        let closed = match (deny, closed, allowed) {
                            (false, true, true) => format!("    other_params: deny\n    other_params_allowed: [{allowed_name}]\n"),
                            (false, true, false) => "    other_params: deny\n".to_owned(),
                            _ => String::new(),
                        };
                        format!(
                            "    effect: {}\n{}    actions: [{}]\n{}{}{}{}{}{}{}",
                            if deny { "deny" } else { "allow" },
                            if shadow { "    mode: shadow\n" } else { "" },
                            actions.join(", "),
                            list("callers", callers),
                            list("regions", regions),
                            list("owner_ids", owners),
                            list("cache_security_groups", cache),
                            list("ec2_security_groups", ec2),
                            params,
                            closed,
                        )
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn same_response(
                rules in proptest::collection::vec(rule_text(), 0..12),
                action in proptest::sample::select(&ACTIONS[..]),
                caller in proptest::option::of(proptest::sample::select(&CALLERS[..])),
                region in proptest::sample::select(&REGIONS[..]),
                owner in proptest::option::of(proptest::sample::select(&OWNERS[..])),
                cache in proptest::option::of(proptest::sample::select(&NAMES[..])),
                cache_list in proptest::option::of(proptest::sample::subsequence(&NAMES[..], 0..=3)),
                ec2 in proptest::option::of(proptest::sample::select(&NAMES[..])),
            ) {
                let mut text = String::from(if rules.is_empty() { "rules: []\n" } else { "rules:\n" });
                for (i, rule) in rules.iter().enumerate() {
                    text.push_str(&format!("  - id: r{i}\n{rule}"));
                }
                let policy = compile("p.yaml", &text).unwrap();
                let region = Region::parse(region).unwrap();
                let action = Action::from_name(action).unwrap();
                let mut params = ingress(action, owner, cache, ec2);
                let list = action.operation().member("CacheSecurityGroupNames");
                if let (Some(member), Some(items)) = (list, cache_list) {
                    let items = items.iter().map(|i| Value::String((*i).to_owned())).collect();
                    params.insert(member, Value::List(items));
                }
                let facts = RequestFacts::new(action, &region, &params, caller);
                let rules = &policy.by_action[facts.action.index()];
                let scanned = policy.decide(&facts, |_| rules.all.iter().copied(), rules.has_shadow_rules);
                prop_assert_eq!(policy.is_authorized(&facts), scanned);
            }
        }
    }
}
