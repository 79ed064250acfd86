//! Warnings about a policy that is valid but probably not what its author
//! meant: rules that can never match, allow rules a deny rule always beats,
//! regexes that match any name or never a name in the form AWS stores it,
//! and callers the callers file lacks. Pure; used by `check` and reloads.

use crate::caller_tags::CallerTags;
use crate::conditions::{default_value, IfAbsent, Origin, ParamCondition, Test};
use crate::model::Action;
use crate::names::{self, NameCase};
use crate::policy::Policy;
use crate::rule::{Effect, Mode, OtherParams, Rule};
use crate::security_params::{is_read_only, INHERITED_SETTINGS, INHERITING, SECURITY_PARAMS};
use crate::service_model::DefaultValue;
use crate::text::did_you_mean;

/// What a warning is about: what `check --deny-warnings=KIND` names and
/// tests match on, whatever the words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WarningKind {
    /// A rule no request can match: a key none of its actions has.
    NeverMatches,
    /// A `matches` pattern that cannot match a name in the lower-case form
    /// AWS keeps it in.
    LowercasePattern,
    /// A group pattern that matches any name.
    MatchesAnything,
    /// An allow rule a deny rule always beats.
    ShadowedAllow,
    /// A caller name the callers file lacks.
    UnknownCaller,
    /// An allow rule for a mutating action that lets security-relevant
    /// parameters pass without a condition.
    OpenParameters,
    /// A deny rule that leaving a parameter out dodges, because AWS's
    /// documented default is a value the rule denies.
    DodgedByDefault,
    /// `any_in` in an allow rule: one good item among bad ones satisfies it.
    AnyInAllow,
    /// An allow rule for a create that constrains settings a request can
    /// inherit from an existing resource instead, and lets it.
    InheritsSettings,
    /// A rule refers to a caller tag (`${caller.tags.KEY}`) that no caller
    /// it can match has.
    UnknownCallerTag,
    /// A `resource_tags` rule for actions that name no existing resource,
    /// for which it checks nothing.
    NoResourceToCheck,
    /// An exception (`expires:`) whose time is over: it matches nothing.
    Expired,
    /// An exception that ends within a week.
    ExpiresSoon,
}

impl WarningKind {
    pub const ALL: [WarningKind; 13] = [
        WarningKind::NeverMatches,
        WarningKind::LowercasePattern,
        WarningKind::MatchesAnything,
        WarningKind::ShadowedAllow,
        WarningKind::UnknownCaller,
        WarningKind::OpenParameters,
        WarningKind::DodgedByDefault,
        WarningKind::AnyInAllow,
        WarningKind::InheritsSettings,
        WarningKind::UnknownCallerTag,
        WarningKind::NoResourceToCheck,
        WarningKind::Expired,
        WarningKind::ExpiresSoon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::NeverMatches => "never-matches",
            WarningKind::LowercasePattern => "lowercase-pattern",
            WarningKind::MatchesAnything => "matches-anything",
            WarningKind::ShadowedAllow => "shadowed-allow",
            WarningKind::UnknownCaller => "unknown-caller",
            WarningKind::OpenParameters => "open-parameters",
            WarningKind::DodgedByDefault => "dodged-by-default",
            WarningKind::AnyInAllow => "any-in-allow",
            WarningKind::InheritsSettings => "inherits-settings",
            WarningKind::UnknownCallerTag => "unknown-caller-tag",
            WarningKind::NoResourceToCheck => "no-resource-to-check",
            WarningKind::Expired => "expired",
            WarningKind::ExpiresSoon => "expires-soon",
        }
    }

    pub fn parse(name: &str) -> Option<WarningKind> {
        WarningKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyWarning {
    pub kind: WarningKind,
    pub rule: String,
    /// The rule's index in `rules` (0-based), for positions.
    pub index: usize,
    pub field: Option<&'static str>,
    pub message: String,
}

/// Names no real cache or EC2 security group name would avoid: if a regex
/// matches all of them, it matches (nearly) anything.
const PROBES: [&str; 8] = [
    "",
    "a",
    "prod-web",
    "sg-0123456789abcdef0",
    "Z_9.x y",
    "default",
    "ünïcödé",
    "a-very-long-name-with-many-parts-0123456789-0123456789-0123456789",
];

pub fn warnings(policy: &Policy) -> Vec<PolicyWarning> {
    let mut out = Vec::new();
    let actions: Vec<Vec<Action>> = (0..policy.rules.len())
        .map(|i| {
            Action::all()
                .filter(|a| policy.by_action[a.index()].all.contains(&i))
                .collect()
        })
        .collect();
    for (index, rule) in policy.rules.iter().enumerate() {
        let warn = |kind, field, message: String| PolicyWarning {
            kind,
            rule: rule.id.clone(),
            index,
            field,
            message,
        };
        let own = &actions[index];
        if rule.resource_tags.is_some() {
            let unchecked: Vec<&str> = own
                .iter()
                .filter(|a| !crate::resources::can_name_existing(**a))
                .map(|a| a.name())
                .collect();
            if !unchecked.is_empty() {
                let shown = crate::text::backticked(&unchecked);
                let message = if unchecked.len() == own.len() {
                    format!("`resource_tags` checks nothing: the rule's actions name no existing resource ({shown}), so it matches whatever their tags (hint: leave `resource_tags` out, or name actions that act on a resource)")
                } else {
                    format!("`resource_tags` checks nothing for {shown}, which name no existing resource, so the rule matches them whatever their tags (hint: give them a rule of their own)")
                };
                out.push(warn(
                    WarningKind::NoResourceToCheck,
                    Some("resource_tags"),
                    message,
                ));
            }
        }
        // An ingress key on a parameter none of the rule's actions has (a
        // `params:` condition on one is an error when the policy loads).
        let lacking = ["owner_ids", "ec2_security_groups", "cache_security_groups"]
            .into_iter()
            .find(|&key| {
                rule.params.iter().any(|c| {
                    c.origin == Origin::Shorthand(key)
                        && !own
                            .iter()
                            .any(|a| c.names().any(|n| a.operation().member(n).is_some()))
                })
            });
        match lacking {
            Some(field @ "cache_security_groups") => out.push(warn(
                WarningKind::NeverMatches,
                Some(field),
                "the rule can never match: none of its actions has a `CacheSecurityGroupName` or `CacheSecurityGroupNames`"
                    .into(),
            )),
            Some(field) => out.push(warn(
                WarningKind::NeverMatches,
                Some(field),
                format!(
                    "the rule can never match: `{field}` only applies to AuthorizeCacheSecurityGroupIngress and RevokeCacheSecurityGroupIngress, and the rule names neither"
                ),
            )),
            None => {}
        }
        for condition in &rule.params {
            if let (Effect::Allow, Test::AnyIn(_)) = (rule.effect, &condition.test) {
                out.push(warn(
                    WarningKind::AnyInAllow,
                    Some("params"),
                    format!(
                        "`any_in` on `{}` in an allow rule: one good item among bad ones satisfies it (hint: use `all_in` to allow only these)",
                        condition.label()
                    ),
                ));
            }
            let Some(matcher) = condition.matcher() else {
                continue;
            };
            let field = condition.origin.field();
            let lowercase = condition.case == Some(NameCase::StoredLowercase);
            let shorthand = condition.origin != Origin::Params;
            for pattern in &matcher.patterns {
                if lowercase && !matches_lowercase(pattern) {
                    let message = if shorthand {
                        format!("`{pattern}` can never match: ElastiCache stores cache security group names in lower case, and the proxy decides on that form (hint: write the pattern in lower case)")
                    } else {
                        format!(
                            "the `matches` pattern `{pattern}` of `{}` can never match: it names something ElastiCache keeps in lower case, and the proxy decides on the lower-cased form (hint: write the pattern in lower case)",
                            condition.label()
                        )
                    };
                    out.push(warn(WarningKind::LowercasePattern, Some(field), message));
                }
                if shorthand && matches_everything(pattern, matcher.case) {
                    out.push(warn(
                        WarningKind::MatchesAnything,
                        Some(field),
                        format!(
                            "`{pattern}` matches any name; leave `{field}` out if that is meant"
                        ),
                    ));
                }
            }
        }
        if let Some(message) = inherits_settings(rule, own) {
            out.push(warn(WarningKind::InheritsSettings, Some("params"), message));
        }
        if rule.effect == Effect::Deny {
            for message in dodged_by_default(rule, own) {
                out.push(warn(WarningKind::DodgedByDefault, Some("params"), message));
            }
        }
        if rule.effect == Effect::Allow {
            let beaten_by = policy.rules.iter().enumerate().find(|(d, deny)| {
                deny.effect == Effect::Deny
                    && deny.mode == Mode::Enforce
                    && !own.is_empty()
                    && own.iter().all(|a| actions[*d].contains(a))
                    && covers(deny, rule)
            });
            if let Some((_, deny)) = beaten_by {
                out.push(warn(
                    WarningKind::ShadowedAllow,
                    None,
                    format!(
                        "the allow rule never allows anything: deny rule `{}` matches every request it matches",
                        deny.id
                    ),
                ));
            }
        }
        if let Some((field, message)) = open_parameters(rule, own) {
            out.push(warn(WarningKind::OpenParameters, field, message));
        }
    }
    out
}

/// How many open parameters a warning names before "and N more".
const OPEN_SHOWN: usize = 4;

/// An allow rule for a mutating action that lets security-relevant
/// parameters (`security_params`) pass without a condition: the rule is
/// not closed, or `other_params_allowed` lists them. `other_params: allow`
/// says the rule is open on purpose, and silences it.
fn open_parameters(rule: &Rule, own: &[Action]) -> Option<(Option<&'static str>, String)> {
    // `other_params: allow` says the rule is open on purpose.
    if rule.effect != Effect::Allow || matches!(rule.other_params, OtherParams::Allow) {
        return None;
    }
    let open: Vec<&str> = SECURITY_PARAMS
        .iter()
        .filter(|p| {
            own.iter().any(|a| {
                !is_read_only(a.name())
                    && (p.only_in.is_empty() || p.only_in.contains(&a.name()))
                    && a.operation().member(p.name).is_some()
            })
        })
        .map(|p| p.name)
        .filter(|&name| rule.leaves_open(name))
        .collect();
    if open.is_empty() {
        return None;
    }
    let mut shown = crate::text::backticked(open.iter().take(OPEN_SHOWN));
    if open.len() > OPEN_SHOWN {
        shown.push_str(&format!(" and {} more", open.len() - OPEN_SHOWN));
    }
    Some(match rule.other_params {
        OtherParams::Deny { .. } => (
            Some("other_params_allowed"),
            format!("`other_params_allowed` lets security-relevant parameters pass with no condition: {shown} (hint: name them in `params` with a condition instead)"),
        ),
        OtherParams::Unsaid | OtherParams::Allow => (
            None,
            format!("the allow rule leaves security-relevant parameters open: {shown} (hint: close the rule with `other_params: deny`, or name them in `params`; `other_params: allow` says the rule is open on purpose)"),
        ),
    })
}

/// An allow rule for a create that constrains settings (its security
/// groups, node type, encryption, …) while a request may name an existing
/// resource to take them from: the conditions then judge parameters that
/// describe nothing real. A rule that conditions the inheriting parameter
/// (say `PrimaryClusterId: {present: false}`), or is closed without
/// allowing it, is fine.
fn inherits_settings(rule: &Rule, own: &[Action]) -> Option<String> {
    if rule.effect != Effect::Allow {
        return None;
    }
    let constrained: Vec<&str> = rule
        .params
        .iter()
        .filter(|c| INHERITED_SETTINGS.contains(&c.name))
        .map(|c| c.name)
        .collect();
    if constrained.is_empty() {
        return None;
    }
    let inheriting: Vec<&str> = INHERITING
        .iter()
        .filter(|(name, actions)| {
            own.iter().any(|a| actions.contains(&a.name())) && rule.leaves_open(name)
        })
        .map(|(name, _)| *name)
        .collect();
    let first = *inheriting.first()?;
    Some(format!(
        "the rule constrains {} of a new resource, but a request with {} takes them from one that exists instead (hint: add `{first}: {{present: false}}` for each, or close the rule with `other_params: deny`)",
        crate::text::backticked(&constrained),
        crate::text::backticked(&inheriting),
    ))
}

/// For a deny rule: each condition that a request leaving its parameter
/// out dodges, though AWS's documented default (in some of the rule's
/// actions) is a value the condition matches.
fn dodged_by_default(rule: &Rule, actions: &[Action]) -> Vec<String> {
    let mut out = Vec::new();
    for condition in &rule.params {
        // An author who wrote `if_absent` has decided what absence means.
        if condition.if_absent != (IfAbsent::NoMatch { written: false })
            || condition.origin != Origin::Params
            // `present` asks whether the parameter is sent, not its value.
            || matches!(condition.test, Test::Present(_))
            // AWS documents defaults of parameters, not of nested members.
            || condition.path.is_some()
        {
            continue;
        }
        let defaults: Vec<_> = actions
            .iter()
            .map(|a| (a, a.operation().documented_default(condition.name)))
            .collect();
        let dodging: Vec<_> = defaults
            .iter()
            .filter_map(|(action, default)| Some((action.name(), (*default)?)))
            .filter(|(_, default)| condition.judges_default(&default_value(*default)))
            .collect();
        let Some((_, default)) = dodging.first() else {
            continue;
        };
        let names: Vec<&str> = dodging.iter().map(|(name, _)| *name).collect();
        // `if_absent: default` compiles only with one default in every action.
        let hint = if dodging.len() == defaults.len() && dodging.iter().all(|(_, d)| d == default) {
            "add `if_absent: default`".to_owned()
        } else {
            format!(
                "add `if_absent: match`, or give {} a rule of its own with `if_absent: default`",
                names.join(", ")
            )
        };
        out.push(format!(
            "leaving `{}` out of {} dodges the deny rule, though AWS then uses its documented default, {}, which the rule denies (hint: {hint})",
            condition.name,
            names.join(", "),
            default_text(*default)
        ));
    }
    out
}

fn default_text(default: DefaultValue) -> String {
    match default {
        DefaultValue::Boolean(b) => format!("`{b}`"),
        DefaultValue::Integer(n) => format!("`{n}`"),
        DefaultValue::String(s) => format!("`{s}`"),
    }
}

/// Caller names that rules use but `known` (the callers file) lacks. Such a
/// name never matches: the rule still applies to its other callers, if any.
/// How long before its end an exception is warned about.
pub const EXPIRY_NOTICE_SECS: i64 = 7 * 24 * 3600;

/// Exceptions whose time is over at `now`, or ends within a week.
pub fn expiry_warnings(policy: &Policy, now: i64) -> Vec<PolicyWarning> {
    let mut out = Vec::new();
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(expiry) = &rule.expires else {
            continue;
        };
        let reason = rule.reason.as_deref().unwrap_or_default();
        let left = expiry.at - now;
        let (kind, message) = if left <= 0 {
            (
                WarningKind::Expired,
                format!("the exception expired at {} and matches nothing ({reason}) (hint: remove the rule, or extend `expires` if it is still meant)", expiry.written),
            )
        } else if left <= EXPIRY_NOTICE_SECS {
            (
                WarningKind::ExpiresSoon,
                format!(
                    "the exception expires at {}, in {} ({reason})",
                    expiry.written,
                    in_words(left)
                ),
            )
        } else {
            continue;
        };
        out.push(PolicyWarning {
            kind,
            rule: rule.id.clone(),
            index,
            field: Some("expires"),
            message,
        });
    }
    out
}

/// `3 days`, `5 hours`, `12 minutes`.
fn in_words(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s => ((s / 60).max(1), "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Rules that refer to a caller tag (`${caller.tags.KEY}`) that none of
/// the callers it can match has: for them it can never match.
pub fn absent_caller_tags(policy: &Policy, callers: &[(&str, &CallerTags)]) -> Vec<PolicyWarning> {
    let mut out = Vec::new();
    for (index, rule) in policy.rules.iter().enumerate() {
        let mut keys: Vec<&str> = rule.caller_tag_keys().collect();
        keys.sort_unstable();
        keys.dedup();
        let matched: Vec<&CallerTags> = callers
            .iter()
            .filter(|(name, _)| {
                rule.callers
                    .as_ref()
                    .is_none_or(|listed| listed.iter().any(|l| l == name))
            })
            .map(|(_, tags)| *tags)
            .collect();
        for key in keys {
            if matched.iter().any(|tags| tags.get(key).is_some()) {
                continue;
            }
            let mut known: Vec<&str> = matched
                .iter()
                .flat_map(|t| t.iter().map(|(k, _)| k))
                .collect();
            known.sort_unstable();
            known.dedup();
            let hint = did_you_mean(key, known.iter().copied()).map_or_else(
                || format!("give the callers `tags: {{{key}: …}}` in the callers file"),
                |s| format!("did you mean `${{caller.tags.{s}}}`?"),
            );
            out.push(PolicyWarning {
                kind: WarningKind::UnknownCallerTag,
                rule: rule.id.clone(),
                index,
                field: None,
                message: format!(
                    "`${{caller.tags.{key}}}`: no caller the rule can match has the tag `{key}`, so the rule never matches (hint: {hint})"
                ),
            });
        }
    }
    out
}

pub fn absent_callers(policy: &Policy, known: &[&str]) -> Vec<PolicyWarning> {
    let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
    let absent = |name: &String| !known_set.contains(name.as_str());
    let mut out = Vec::new();
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(callers) = &rule.callers else {
            continue;
        };
        for name in callers.iter().filter(|n| absent(n)) {
            let hint = did_you_mean(name, known.iter().copied()).map_or_else(
                || {
                    format!(
                        "known callers: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                },
                |s| format!("did you mean `{s}`?"),
            );
            let never = if callers.iter().all(absent) {
                "the rule can never match"
            } else {
                "the rule never matches for it"
            };
            out.push(PolicyWarning {
                kind: WarningKind::UnknownCaller,
                rule: rule.id.clone(),
                index,
                field: Some("callers"),
                message: format!(
                    "`{name}` is not a caller in the callers file, so {never} (hint: {hint})"
                ),
            });
        }
    }
    out
}

/// Whether a pattern can match a name that is already in lower case.
fn matches_lowercase(pattern: &str) -> bool {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map_or(true, |hir| names::can_match_lowercase(&hir))
}

/// As the policy matches: names compared without case are matched
/// lower-cased against the lower-cased pattern.
fn matches_everything(pattern: &str, case: NameCase) -> bool {
    regex::Regex::new(&format!(r"\A(?:{})\z", case.compiled_pattern(pattern)))
        .is_ok_and(|re| PROBES.iter().all(|probe| re.is_match(&case.key(probe))))
}

/// Whether every request `allow` matches also matches `deny`, judged
/// condition by condition (so it may miss some overlaps, never invent one).
fn covers(deny: &Rule, allow: &Rule) -> bool {
    fn list<T: PartialEq>(deny: &Option<Vec<T>>, allow: &Option<Vec<T>>) -> bool {
        match (deny, allow) {
            (None, _) => true,
            (Some(d), Some(a)) => a.iter().all(|x| d.contains(x)),
            (Some(_), None) => false,
        }
    }
    // Each of the deny's parameter conditions must hold wherever one of the
    // allow's on the same parameter does. Only value sets and patterns are
    // judged; a deny with another test, or with exceptions, may let
    // through what the allow matches.
    fn param(deny: &ParamCondition, allow: &ParamCondition) -> bool {
        if (deny.name, deny.also, &deny.path) != (allow.name, allow.also, &allow.path)
            || !matches!(deny.if_absent, IfAbsent::NoMatch { .. })
            || !matches!(allow.if_absent, IfAbsent::NoMatch { .. })
            || (allow.if_empty && !deny.if_empty)
        {
            return false;
        }
        match (&deny.test, &allow.test) {
            (Test::OneOf(d), Test::OneOf(a)) => a.iter().all(|x| d.contains(x)),
            (Test::Matches(d), _) if d.patterns.iter().any(|p| matches_everything(p, d.case)) => {
                true
            }
            (Test::Matches(d), Test::Matches(a)) => {
                a.patterns.iter().all(|p| d.patterns.contains(p))
            }
            _ => false,
        }
    }
    // A deny that expires leaves the allow in force after it.
    deny.except_callers.is_none()
        && deny.expires.is_none()
        && list(&deny.callers, &allow.callers)
        && list(&deny.regions, &allow.regions)
        && deny
            .params
            .iter()
            .all(|d| allow.params.iter().any(|a| param(d, a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile;

    /// The warnings but `open-parameters` and `inherits-settings`, which
    /// most rules written to test another warning would draw
    /// (`open_parameters` and `inherited_settings` test them).
    fn others(policy: &Policy) -> Vec<PolicyWarning> {
        let mut found = warnings(policy);
        found.retain(|w| {
            w.kind != WarningKind::OpenParameters && w.kind != WarningKind::InheritsSettings
        });
        found
    }

    fn kinds(text: &str, known: &[&str]) -> Vec<WarningKind> {
        let policy = compile("p.yaml", text).unwrap();
        let mut found: Vec<WarningKind> = others(&policy).into_iter().map(|w| w.kind).collect();
        found.extend(absent_callers(&policy, known).into_iter().map(|w| w.kind));
        found
    }

    /// A create rule constraining settings an existing resource could
    /// supply is warned about, naming the inheriting parameters, unless the
    /// rule rules them out or is closed.
    #[test]
    fn inherited_settings() {
        let inherits = |rule: &str| -> Vec<String> {
            warnings(&compile("p.yaml", &format!("rules: [{rule}]")).unwrap())
                .into_iter()
                .filter(|w| w.kind == WarningKind::InheritsSettings)
                .map(|w| w.message)
                .collect()
        };
        let one = |rule: &str| {
            let found = inherits(rule);
            assert_eq!(found.len(), 1, "{rule}: {found:?}");
            found[0].clone()
        };
        let message = one(
            "{id: a, effect: allow, actions: [CreateReplicationGroup], params: {SecurityGroupIds: {all_in: [sg-1]}}}",
        );
        assert!(
            message.starts_with("the rule constrains `SecurityGroupIds` of a new resource, but a request with `PrimaryClusterId`, `GlobalReplicationGroupId`, `SnapshotArns`, `SnapshotName` takes them"),
            "{message}"
        );
        // Ruled out one by one, or by closing the rule: no warning.
        assert!(inherits("{id: a, effect: allow, actions: [CreateCacheCluster], params: {CacheNodeType: {one_of: [cache.t4g.micro]}, ReplicationGroupId: {present: false}, SnapshotArns: {present: false}, SnapshotName: {present: false}}}").is_empty());
        assert!(inherits("{id: a, effect: allow, actions: [CreateCacheCluster], params: {CacheClusterId: {matches: \"a.*\"}, CacheNodeType: {one_of: [cache.t4g.micro]}}, other_params: deny}").is_empty());
        // Allowing one back in a closed rule warns about that one.
        let message = one("{id: a, effect: allow, actions: [CreateCacheCluster], params: {CacheClusterId: {matches: \"a.*\"}, CacheNodeType: {one_of: [cache.t4g.micro]}}, other_params: deny, other_params_allowed: [SnapshotName]}");
        assert!(
            message.contains("a request with `SnapshotName` takes them"),
            "{message}"
        );
        // Nothing inherited is constrained, or the rule denies: no warning.
        assert!(inherits("{id: a, effect: allow, actions: [CreateCacheCluster], params: {CacheClusterId: {matches: \"a.*\"}}}").is_empty());
        assert!(inherits("{id: a, effect: deny, actions: [CreateCacheCluster], params: {CacheNodeType: {one_of: [cache.t4g.micro]}}}").is_empty());
    }

    /// A deny on the same nested path shadows an allow; on another path,
    /// or on the parameter above it, it does not. A nested member has no
    /// documented default to dodge.
    #[test]
    fn nested_paths_in_warnings() {
        let rules = |deny: &str| {
            format!("rules: [{{id: a, effect: allow, actions: [CreateReplicationGroup], params: {{\"NodeGroupConfiguration[].PrimaryAvailabilityZone\": {{one_of: [us-east-1a]}}}}, other_params: allow}}, {{id: d, effect: deny, actions: [CreateReplicationGroup], params: {{{deny}}}}}]")
        };
        let same = rules("\"NodeGroupConfiguration[].PrimaryAvailabilityZone\": {one_of: [us-east-1a, us-east-1b]}");
        assert_eq!(kinds(&same, &[]), [WarningKind::ShadowedAllow]);
        let other =
            rules("\"NodeGroupConfiguration[].ReplicaAvailabilityZones\": {any_in: [us-east-1a]}");
        assert_eq!(kinds(&other, &[]), []);
        let labelled = lint("rules: [{id: a, effect: deny, actions: [CreateUser], params: {AuthenticationMode.Type: {one_of: [password]}}}]");
        assert!(labelled.is_empty(), "{labelled:?}");
        let any_in = lint("rules: [{id: a, effect: allow, actions: [CreateReplicationGroup], params: {\"NodeGroupConfiguration[].ReplicaAvailabilityZones\": {any_in: [us-east-1a]}}, other_params: allow}]");
        assert!(
            any_in[0]
                .2
                .contains("`any_in` on `NodeGroupConfiguration[].ReplicaAvailabilityZones`"),
            "{any_in:?}"
        );
    }

    /// Each warning carries the kind `check --deny-warnings=KIND` names.
    #[test]
    fn warnings_carry_their_kind() {
        use WarningKind as W;
        let cases: [(&str, W); 6] = [
            ("{id: a, effect: allow, actions: [DescribeCacheClusters], owner_ids: [\"123456781234\"]}", W::NeverMatches),
            ("{id: a, effect: allow, cache_security_groups: [\"Prod-.*\"]}", W::LowercasePattern),
            ("{id: a, effect: allow, ec2_security_groups: [\".*\"]}", W::MatchesAnything),
            ("{id: a, effect: allow, callers: [ghost]}", W::UnknownCaller),
            ("{id: a, effect: allow, actions: [DescribeEvents]}, {id: d, effect: deny, actions: [DescribeEvents]}", W::ShadowedAllow),
            ("{id: a, effect: allow, actions: [CreateReplicationGroup], params: {SecurityGroupIds: {any_in: [sg-1]}}}", W::AnyInAllow),
        ];
        for (rules, kind) in cases {
            assert_eq!(
                kinds(&format!("rules: [{rules}]"), &["real"]),
                [kind],
                "{rules}"
            );
        }
        for kind in WarningKind::ALL {
            assert_eq!(WarningKind::parse(kind.as_str()), Some(kind));
        }
    }

    /// A deny rule that leaving the parameter out dodges, because AWS's
    /// documented default is a value it denies.
    #[test]
    fn a_deny_rule_dodged_by_a_default_is_warned_about() {
        let deny = |actions: &str, condition: &str| {
            format!("rules: [{{id: d, effect: deny, actions: {actions}, params: {{{condition}}}}}]")
        };
        let found = lint(&deny(
            "[CreateReplicationGroup]",
            "TransitEncryptionEnabled: {one_of: [false]}",
        ));
        assert_eq!(
            found,
            [(
                "d".to_owned(),
                Some("params"),
                "leaving `TransitEncryptionEnabled` out of CreateReplicationGroup dodges the deny rule, though AWS then uses its documented default, `false`, which the rule denies (hint: add `if_absent: default`)".to_owned()
            )]
        );
        assert_eq!(
            kinds(
                &deny(
                    "[CreateReplicationGroup]",
                    "TransitEncryptionEnabled: {one_of: [false]}"
                ),
                &[]
            ),
            [WarningKind::DodgedByDefault]
        );
        // Only some of the actions document it: the hint says how to split.
        let found = lint(&deny(
            "[CreateReplicationGroup, CreateCacheCluster]",
            "SnapshotRetentionLimit: {range: [0, 0]}",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .2
                .contains("out of CreateCacheCluster, CreateReplicationGroup dodges")
                && found[0].2.contains("(hint: add `if_absent: default`)"),
            "{found:?}"
        );
        let found = lint(&deny(
            "[CreateReplicationGroup, CreateCacheCluster]",
            "TransitEncryptionEnabled: {one_of: [false]}",
        ));
        assert!(
            found[0].2.contains("out of CreateReplicationGroup dodges")
                && found[0].2.contains("hint: add `if_absent: match`, or give CreateReplicationGroup a rule of its own with `if_absent: default`"),
            "{found:?}"
        );
        // No warning where the absent parameter is settled, where the
        // default is not denied, or where no default is documented.
        for condition in [
            "TransitEncryptionEnabled: {one_of: [false], if_absent: default}",
            "TransitEncryptionEnabled: {one_of: [false], if_absent: match}",
            "TransitEncryptionEnabled: {one_of: [false], if_absent: no_match}",
            "TransitEncryptionEnabled: {one_of: [true]}",
            "AtRestEncryptionEnabled: {one_of: [false]}",
            "SnapshotRetentionLimit: {range: [1, 35]}",
        ] {
            assert_eq!(
                lint(&deny("[CreateReplicationGroup]", condition)),
                [],
                "{condition}"
            );
        }
        assert_eq!(
            lint(&deny(
                "[ModifyReplicationGroup]",
                "AuthTokenUpdateStrategy: {present: true}"
            )),
            []
        );
        // An allow rule is not dodged: an absent parameter fails it.
        assert_eq!(
            lint("rules: [{id: a, effect: allow, actions: [CreateReplicationGroup], params: {TransitEncryptionEnabled: {one_of: [false]}}}]"),
            []
        );
    }

    fn lint(text: &str) -> Vec<(String, Option<&'static str>, String)> {
        others(&compile("p.yaml", text).unwrap())
            .into_iter()
            .map(|w| (w.rule, w.field, w.message))
            .collect()
    }

    #[test]
    fn parameter_conditions() {
        let found = lint(
            r#"
rules:
  - id: create
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      ReplicationGroupId: {matches: "Payments-.*"}
  - id: no-legacy
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-legacy]}
"#,
        );
        // The pattern cannot match the lower-case id; the deny does not
        // always beat the allow, since it looks at a parameter.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Some("params"));
        assert!(found[0].2.contains("can never match"), "{}", found[0].2);
    }

    #[test]
    fn patterns_on_names_of_lower_case_ids() {
        // The ids below are ElastiCache's, kept in lower case though their
        // own documentation does not say so (case.json). A name compared
        // without case (KmsKeyId) matches in any spelling: no warning.
        let found = lint(
            r#"
rules:
  - id: primary
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      PrimaryClusterId: {matches: "PROD-.*"}
      KmsKeyId: {matches: ["Alias/Prod-.*"]}
  - id: copies
    effect: deny
    actions: [CopySnapshot]
    params:
      SourceSnapshotName: {matches: "Nightly-.*"}
      TargetSnapshotName: {matches: "nightly-.*"}
  - id: final
    effect: deny
    actions: [DeleteReplicationGroup]
    params:
      FinalSnapshotIdentifier: {matches: "(?i)Final-.*"}
"#,
        );
        let messages: Vec<(&str, &str)> = found
            .iter()
            .map(|(rule, _, message)| (rule.as_str(), message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                ("primary", "the `matches` pattern `PROD-.*` of `PrimaryClusterId` can never match: it names something ElastiCache keeps in lower case, and the proxy decides on the lower-cased form (hint: write the pattern in lower case)"),
                ("copies", "the `matches` pattern `Nightly-.*` of `SourceSnapshotName` can never match: it names something ElastiCache keeps in lower case, and the proxy decides on the lower-cased form (hint: write the pattern in lower case)"),
            ]
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the shipped policy
    fn a_clean_policy_has_no_warnings() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/example.yaml"
        ))
        .unwrap();
        assert_eq!(lint(&text), []);
    }

    /// An allow rule for a mutating action warns about the
    /// security-relevant parameters it lets pass with no condition.
    #[test]
    fn open_parameters() {
        let policy = compile(
            "p.yaml",
            r#"
rules:
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      SecurityGroupIds: {all_in: [sg-1]}
  - id: snapshot
    effect: allow
    actions: [CreateSnapshot]
    params:
      SnapshotName: {matches: "a-.*"}
  - id: closed
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: deny
    other_params_allowed: [ApplyImmediately, UserGroupIdsToAdd]
  - id: closed-clean
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: deny
    other_params_allowed: [ApplyImmediately]
  - id: open-on-purpose
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: allow
  - id: reads
    effect: allow
    actions: ["Describe*", "List*"]
  - id: deny
    effect: deny
    actions: [ModifyReplicationGroup]
    params:
      AuthToken: {present: true}
  - id: cluster-create
    effect: allow
    actions: [CreateCacheCluster]
    other_params: deny
    other_params_allowed: [CacheClusterId, ReplicationGroupId]
  - id: group-snapshot
    effect: allow
    actions: [CreateSnapshot]
    other_params: deny
    other_params_allowed: [ReplicationGroupId, SnapshotName]
"#,
        )
        .unwrap();
        let found: Vec<(String, Option<&str>, String)> = warnings(&policy)
            .into_iter()
            .filter(|w| w.kind == WarningKind::OpenParameters)
            .map(|w| (w.rule, w.field, w.message))
            .collect();
        assert!(others(&policy).is_empty(), "{:?}", others(&policy));
        let shown: Vec<(&str, Option<&str>, &str)> = found
            .iter()
            .map(|(rule, field, message)| (rule.as_str(), *field, message.as_str()))
            .collect();
        let hint = "(hint: close the rule with `other_params: deny`, or name them in `params`; `other_params: allow` says the rule is open on purpose)";
        assert_eq!(shown.len(), 5, "{shown:#?}");
        assert_eq!(
            shown[0],
            ("modify", None, &*format!("the allow rule leaves security-relevant parameters open: `CacheSecurityGroupNames`, `IpDiscovery`, `TransitEncryptionEnabled`, `TransitEncryptionMode` and 9 more {hint}"))
        );
        assert_eq!(
            shown[1],
            (
                "snapshot",
                None,
                &*format!(
                    "the allow rule leaves security-relevant parameters open: `KmsKeyId` {hint}"
                )
            )
        );
        assert_eq!(
            shown[2],
            ("closed", Some("other_params_allowed"), "`other_params_allowed` lets security-relevant parameters pass with no condition: `UserGroupIdsToAdd` (hint: name them in `params` with a condition instead)")
        );
        // ReplicationGroupId is inherited from on CreateCacheCluster only;
        // a snapshot's name is where its data goes.
        assert_eq!(
            shown[3],
            ("cluster-create", Some("other_params_allowed"), "`other_params_allowed` lets security-relevant parameters pass with no condition: `ReplicationGroupId` (hint: name them in `params` with a condition instead)")
        );
        assert_eq!(shown[4].0, "group-snapshot");
        assert!(shown[4].2.ends_with("no condition: `SnapshotName` (hint: name them in `params` with a condition instead)"), "{}", shown[4].2);
    }

    #[test]
    fn rules_that_can_never_match() {
        let found = lint(
            r#"
rules:
  - id: owner-on-describe
    effect: allow
    actions: ["Describe*"]
    owner_ids: ["123456781234"]
  - id: groups-on-serverless
    effect: allow
    actions: [CreateServerlessCache]
    cache_security_groups: ["prod-.*"]
  - id: fine
    effect: allow
    actions: [DescribeCacheSecurityGroups]
    cache_security_groups: ["prod-.*"]
  - id: fine-on-the-list
    effect: allow
    actions: [CreateCacheCluster, ModifyReplicationGroup]
    cache_security_groups: ["prod-.*"]
"#,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "owner-on-describe");
        assert_eq!(found[0].1, Some("owner_ids"));
        assert!(found[0].2.starts_with("the rule can never match"));
        assert_eq!(found[1].0, "groups-on-serverless");
        assert!(found[1]
            .2
            .ends_with("has a `CacheSecurityGroupName` or `CacheSecurityGroupNames`"));
    }

    #[test]
    fn allow_rules_a_deny_always_beats() {
        let found = lint(
            r#"
rules:
  - id: ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1]
    cache_security_groups: ["prod-.*"]
  - id: frozen
    effect: deny
    actions: ["*CacheSecurityGroupIngress"]
    regions: [us-east-1, eu-west-1]
  - id: partly
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-west-2]
  - id: trial
    effect: deny
    mode: shadow
    actions: ["*"]
"#,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "ingress");
        assert!(found[0].2.contains("deny rule `frozen`"), "{found:?}");
    }

    #[test]
    fn cache_group_patterns_that_no_lowercase_name_matches() {
        let found = lint(
            r#"
rules:
  - id: capitals
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["Prod-.*", "prod-.*", "(?i)Staging-.*"]
    ec2_security_groups: ["Default"]
"#,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Some("cache_security_groups"));
        assert!(
            found[0].2.starts_with("`Prod-.*` can never match: ElastiCache stores cache security group names in lower case"),
            "{found:?}"
        );
    }

    #[test]
    fn caller_tags_no_caller_has() {
        let policy = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, actions: [DeleteUser], params: {UserId: {matches: "${caller.tags.team}-.*"}}},
                      {id: b, effect: allow, actions: [DeleteUser], callers: [ops], params: {UserId: {one_of: ["${caller.tags.team}"]}}},
                      {id: c, effect: allow, actions: [CreateCacheCluster], params: {Tags: {tags: {team: "${caller.tags.teams}"}}}}]"#,
        )
        .unwrap();
        let payments = CallerTags::new(vec![("team".into(), "payments".into())]);
        let none = CallerTags::default();
        let found = absent_caller_tags(&policy, &[("app", &payments), ("ops", &none)]);
        let shown: Vec<(&str, &str)> = found
            .iter()
            .map(|w| (w.rule.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        // `b` matches only `ops`, which lacks the tag.
        assert_eq!(shown[0].0, "b");
        assert!(
            shown[0]
                .1
                .contains("no caller the rule can match has the tag `team`"),
            "{shown:?}"
        );
        assert_eq!(shown[1].0, "c");
        assert!(
            shown[1].1.contains("did you mean `${caller.tags.team}`?"),
            "{shown:?}"
        );
        assert!(found
            .iter()
            .all(|w| w.kind == WarningKind::UnknownCallerTag));
    }

    #[test]
    fn callers_the_callers_file_lacks() {
        let policy = compile(
            "p.yaml",
            "rules: [{id: a, effect: allow, callers: [ci-deployer, ci-deploy]}, {id: b, effect: deny, callers: [gone]}, {id: c, effect: allow}]",
        )
        .unwrap();
        let found = absent_callers(&policy, &["ci-deployer", "app"]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (found[0].rule.as_str(), found[0].field),
            ("a", Some("callers"))
        );
        assert_eq!(
            found[0].message,
            "`ci-deploy` is not a caller in the callers file, so the rule never matches for it (hint: did you mean `ci-deployer`?)"
        );
        assert_eq!(
            found[1].message,
            "`gone` is not a caller in the callers file, so the rule can never match (hint: known callers: ci-deployer, app)"
        );
        assert!(absent_callers(&policy, &["ci-deployer", "ci-deploy", "gone"]).is_empty());
        assert!(absent_callers(&policy, &[])[1]
            .message
            .contains("known callers: none"));
    }

    #[test]
    fn regexes_that_match_everything() {
        let found = lint(
            r#"
rules:
  - id: any
    effect: allow
    actions: [DescribeCacheSecurityGroups]
    cache_security_groups: [".*", "prod-.*", "(?s).*|x"]
  - id: any-ec2
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    ec2_security_groups: ["[a-z0-9 ._ü-]*|[a-zé-ü]+"]
"#,
        );
        let patterns: Vec<&str> = found.iter().map(|w| w.2.as_str()).collect();
        assert_eq!(patterns.len(), 3, "{patterns:?}");
        assert!(patterns[0].starts_with("`.*` matches any name"));
        assert!(patterns[1].starts_with("`(?s).*|x` matches any name"));
        // EC2 names are compared without case, so capitals match too.
        assert!(patterns[2].starts_with("`[a-z0-9 ._ü-]*|[a-zé-ü]+` matches any name"));
    }

    #[test]
    fn any_in_in_an_allow_rule_is_warned_about() {
        let found = lint(
            r#"
rules:
  - id: some-good-group
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-1]}
  - id: legacy
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-0legacy]}
  - id: only-these
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {all_in: [sg-1]}
"#,
        );
        assert_eq!(
            found,
            [(
                "some-good-group".to_owned(),
                Some("params"),
                "`any_in` on `SecurityGroupIds` in an allow rule: one good item among bad ones satisfies it (hint: use `all_in` to allow only these)".to_owned()
            )]
        );
    }

    #[test]
    fn a_deny_that_lets_an_empty_list_pass_beats_no_allow_that_takes_one() {
        let policy = |allow_empty: &str, deny_empty: &str| {
            format!(
                "rules:\n  - {{id: a, effect: allow, actions: [CreateCacheCluster], params: {{CacheSecurityGroupNames: {{matches: \"prod-.*\"{allow_empty}}}}}}}\n  \
                 - {{id: d, effect: deny, actions: [CreateCacheCluster], params: {{CacheSecurityGroupNames: {{matches: \"prod-.*\"{deny_empty}}}}}}}\n"
            )
        };
        assert_eq!(kinds(&policy("", ""), &[]), [WarningKind::ShadowedAllow]);
        assert_eq!(
            kinds(&policy(", if_empty: match", ", if_empty: no_match"), &[]),
            []
        );
    }
}
