//! `draft`: a starting policy from recorded requests. For each caller and
//! action it used, a closed allow rule for the regions it used, with the
//! values it used for the security-relevant parameters (generalised only
//! where many values share a prefix, and saying so), and a test file of
//! the observed requests. Pure: text in (records), text out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::caller_tags::CallerTags;
use crate::decision::Decision;
use crate::param_path::{ParamPath, Step};
use crate::params::{Params, Value, SECRET};
use crate::replay::Recorded;
use crate::security_params::SECURITY_PARAMS;

/// Distinct values past which a string condition is generalised to the
/// values' shared prefix, when they have one.
const GENERALISE_PAST: usize = 5;
/// The shortest shared prefix worth generalising to.
const MIN_PREFIX: usize = 3;
/// Test cases written per rule at most.
const CASES_PER_RULE: usize = 10;
/// What a secret is written as in a test request: never the secret, only
/// its presence, in a form the parser takes.
const SECRET_PLACEHOLDER: &str = "placeholder-secret-0000";

/// The drafted policy and its tests.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Draft {
    pub policy: String,
    /// A `*.test.yaml` whose `policy:` is `policy_file`.
    pub tests: String,
    pub rules: usize,
    /// Records not drafted from: denied when recorded.
    pub skipped_denied: usize,
}

/// Values of one condition, gathered over a group's requests.
#[derive(Default)]
struct Seen {
    strings: BTreeSet<String>,
    booleans: BTreeSet<bool>,
    integers: BTreeSet<i64>,
    /// Items of string lists (`all_in`).
    items: BTreeSet<String>,
    list: bool,
    empty_list: bool,
    secret: bool,
    /// Requests (or items) that lacked it.
    absent: bool,
    count: usize,
}

/// A group: one caller's requests of one action.
struct Group<'a> {
    caller: String,
    action: crate::model::Action,
    regions: BTreeSet<String>,
    records: Vec<&'a Recorded>,
}

/// Drafts a policy from `records` (those allowed when recorded), whose
/// tests name the policy as `policy_file`.
pub fn draft(records: &[Recorded], policy_file: &str) -> Draft {
    let mut groups: BTreeMap<(String, &'static str), Group<'_>> = BTreeMap::new();
    let mut skipped_denied = 0;
    for record in records {
        if record
            .then
            .as_ref()
            .is_some_and(|t| t.decision == Decision::Deny)
        {
            skipped_denied += 1;
            continue;
        }
        let caller = record
            .caller
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        let group = groups
            .entry((caller.clone(), record.action.name()))
            .or_insert_with(|| Group {
                caller,
                action: record.action,
                regions: BTreeSet::new(),
                records: Vec::new(),
            });
        group.regions.insert(record.region.as_str().to_owned());
        group.records.push(record);
    }
    let mut policy = String::from(
        "# Drafted by `elasticache-authz-proxy draft` from recorded requests: one closed\n\
         # rule per caller and action, allowing the values each used. Review every rule.\n\
         rules:\n",
    );
    let mut tests = format!("policy: {policy_file}\ntests:\n");
    for group in groups.values() {
        let id = rule_id(&group.caller, group.action.name());
        write_rule(&mut policy, &id, group);
        write_cases(&mut tests, &id, group);
    }
    if groups.is_empty() {
        policy.push_str("  []\n");
        tests.push_str("  []\n");
    }
    Draft {
        rules: groups.len(),
        policy,
        tests,
        skipped_denied,
    }
}

/// `payments-deployer-modify-replication-group`
fn rule_id(caller: &str, action: &str) -> String {
    let mut id = String::from(caller);
    id.push('-');
    for (i, c) in action.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            id.push('-');
        }
        id.push(c.to_ascii_lowercase());
    }
    id.chars().take(128).collect()
}

fn is_security(action: &str, name: &str) -> bool {
    // Node types too: what a team may run is a platform decision.
    name == "CacheNodeType"
        || SECURITY_PARAMS
            .iter()
            .any(|p| p.name == name && (p.only_in.is_empty() || p.only_in.contains(&action)))
}

fn write_rule(out: &mut String, id: &str, group: &Group<'_>) {
    let action = group.action.name();
    let _ = writeln!(
        out,
        "  - id: {id}\n    effect: allow\n    actions: [{action}]"
    );
    let _ = writeln!(out, "    callers: [{}]", group.caller);
    let regions: Vec<&str> = group.regions.iter().map(String::as_str).collect();
    let _ = writeln!(out, "    regions: [{}]", regions.join(", "));
    // Every parameter the group's requests carried, by top-level name.
    let mut names: BTreeSet<&'static str> = BTreeSet::new();
    for record in &group.records {
        names.extend(record.params.iter().map(|(m, _)| m.query_name()));
    }
    let mut conditions = Vec::new();
    let mut allowed = Vec::new();
    for name in &names {
        if !is_security(action, name) {
            allowed.push(*name);
            continue;
        }
        let mut paths: BTreeMap<String, Seen> = BTreeMap::new();
        for record in &group.records {
            match record.params.entry(name) {
                Some((member, value)) => gather(&mut paths, name, &[], value, member.is_secret()),
                None => paths.entry((*name).to_owned()).or_default().absent = true,
            }
        }
        // A parameter some requests lacked is one they may leave out.
        let top_absent = group.records.iter().any(|r| r.params.get(name).is_none());
        for (path, seen) in paths {
            conditions.extend(condition(&path, seen, top_absent));
        }
    }
    // Nothing security-relevant sent: the closed rule alone says so.
    if !conditions.is_empty() {
        let _ = writeln!(out, "    params:");
    }
    for line in conditions {
        let _ = writeln!(out, "      {line}");
    }
    let _ = writeln!(out, "    other_params: deny");
    if !allowed.is_empty() {
        let _ = writeln!(out, "    other_params_allowed: [{}]", allowed.join(", "));
    }
}

/// Gathers the values at every leaf below `value`, keyed by path.
fn gather(
    paths: &mut BTreeMap<String, Seen>,
    name: &str,
    steps: &[Step],
    value: &Value,
    secret: bool,
) {
    let key = ParamPath::written(name, steps, None);
    match value {
        Value::Structure(fields) => {
            for (child, v) in fields.iter() {
                let mut deeper = steps.to_vec();
                deeper.push(Step::Member(child.query_name()));
                gather(paths, name, &deeper, v, secret || child.is_secret());
            }
        }
        Value::List(items) if items.iter().all(|i| i.as_str().is_some()) && !secret => {
            let seen = paths.entry(key).or_default();
            seen.list = true;
            seen.count += 1;
            seen.empty_list |= items.is_empty();
            seen.items
                .extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        Value::List(items) if !secret => {
            let mut deeper = steps.to_vec();
            deeper.push(Step::Items);
            for item in items {
                gather(paths, name, &deeper, item, secret);
            }
            if items.is_empty() {
                paths
                    .entry(ParamPath::written(name, &deeper, None))
                    .or_default()
                    .empty_list = true;
            }
        }
        _ => {
            let seen = paths.entry(key).or_default();
            seen.count += 1;
            if secret {
                seen.secret = true;
                return;
            }
            match value {
                Value::String(s) | Value::Timestamp(s) => {
                    seen.strings.insert(s.clone());
                }
                Value::Boolean(b) => {
                    seen.booleans.insert(*b);
                }
                Value::Integer(n) => {
                    seen.integers.insert(*n);
                }
                Value::List(_) | Value::Structure(_) | Value::Map(_) => {}
            }
        }
    }
}

/// The condition a path's values make, as a YAML line (with a comment
/// when generalised); `None` for a map, which no condition tests.
fn condition(path: &str, seen: Seen, top_absent: bool) -> Option<String> {
    let key = if path.contains('[') {
        format!("\"{path}\"")
    } else {
        path.to_owned()
    };
    // Items through a list may lack a member the others have.
    let absent = top_absent || seen.absent || (path.contains('[') && seen.count == 0);
    let mut modifiers = String::new();
    if absent {
        modifiers.push_str(", if_absent: match");
    }
    if seen.empty_list {
        modifiers.push_str(", if_empty: match");
    }
    if seen.secret {
        return Some(format!("{key}: {{present: true{modifiers}}}"));
    }
    if seen.list {
        let items: Vec<String> = seen.items.iter().map(|i| quote(i)).collect();
        if items.is_empty() {
            // Only ever sent empty.
            return Some(format!("{key}: {{present: true{modifiers}}}"));
        }
        return Some(format!(
            "{key}: {{all_in: [{}]{modifiers}}}",
            items.join(", ")
        ));
    }
    if !seen.strings.is_empty() {
        if seen.strings.len() > GENERALISE_PAST {
            let prefix = shared_prefix(&seen.strings);
            if prefix.chars().count() >= MIN_PREFIX {
                let pattern = format!("{}.*", regex::escape(&prefix));
                return Some(format!(
                    "{key}: {{matches: {}{modifiers}}}  # generalised: {} values, all starting `{prefix}`",
                    quote(&pattern),
                    seen.strings.len()
                ));
            }
        }
        let values: Vec<String> = seen.strings.iter().map(|s| quote(s)).collect();
        return Some(format!(
            "{key}: {{one_of: [{}]{modifiers}}}",
            values.join(", ")
        ));
    }
    if !seen.booleans.is_empty() {
        let values: Vec<String> = seen.booleans.iter().map(ToString::to_string).collect();
        return Some(format!(
            "{key}: {{one_of: [{}]{modifiers}}}",
            values.join(", ")
        ));
    }
    if let (Some(min), Some(max)) = (seen.integers.first(), seen.integers.last()) {
        return Some(format!("{key}: {{range: [{min}, {max}]{modifiers}}}"));
    }
    if absent {
        // Only ever absent where it was looked for: nothing to allow.
        return None;
    }
    None
}

fn shared_prefix(values: &BTreeSet<String>) -> String {
    let (Some(first), Some(last)) = (values.first(), values.last()) else {
        return String::new();
    };
    // Sorted: the first and last share what all share.
    first
        .chars()
        .zip(last.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect()
}

/// A YAML double-quoted string.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

fn write_cases(out: &mut String, id: &str, group: &Group<'_>) {
    let mut written = BTreeSet::new();
    for record in &group.records {
        if written.len() == CASES_PER_RULE {
            break;
        }
        let query = query_of(record);
        let tags = tags_yaml(&record.caller_tags);
        if !written.insert((
            record.region.as_str().to_owned(),
            query.clone(),
            tags.clone(),
        )) {
            continue;
        }
        let _ = writeln!(
            out,
            "  - name: {}\n    caller: {}\n    region: {}\n    request: {}\n    expect: allow\n    rules: [{id}]",
            quote(&format!(
                "{} {} as recorded ({})",
                group.caller,
                group.action.name(),
                record.request_id
            )),
            group.caller,
            record.region.as_str(),
            quote(&query),
        );
        if !tags.is_empty() {
            let _ = writeln!(out, "    caller_tags: {tags}");
        }
    }
}

/// The request as a Query string, a secret's value replaced.
fn query_of(record: &Recorded) -> String {
    let mut pairs = Vec::new();
    hide_secrets(&record.params).push_pairs("", &mut pairs);
    let mut all: Vec<(&str, &str)> = vec![
        ("Action", record.action.name()),
        ("Version", crate::model::API_VERSION),
    ];
    all.extend(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    crate::form::encode(all)
}

fn hide_secrets(params: &Params) -> Params {
    let mut out = params.clone();
    for (member, _) in params.iter() {
        if member.is_secret() {
            if let Some(value) = out.get_mut(member.query_name()) {
                replace_strings(value);
            }
        }
    }
    out
}

fn replace_strings(value: &mut Value) {
    match value {
        Value::String(s) if s == SECRET || !s.is_empty() => *s = SECRET_PLACEHOLDER.to_owned(),
        Value::List(items) => items.iter_mut().for_each(replace_strings),
        Value::String(_)
        | Value::Boolean(_)
        | Value::Integer(_)
        | Value::Timestamp(_)
        | Value::Structure(_)
        | Value::Map(_) => {}
    }
}

fn tags_yaml(tags: &CallerTags) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;
    use crate::replay::Then;

    fn recorded(caller: &str, query: &str, decision: Decision) -> Recorded {
        let (request, _) = crate::request::parse_query(query).unwrap();
        Recorded {
            source: "audit.log:1".into(),
            request_id: format!("r-{}", query.len()),
            time: 1_796_515_200,
            caller: Some(caller.into()),
            caller_tags: CallerTags::new(vec![("team".into(), "payments".into())]),
            region: Region::parse("eu-west-1").unwrap(),
            action: request.action,
            params: request.params,
            resources: None,
            then: Some(Then {
                decision,
                rules: Vec::new(),
            }),
        }
    }

    #[test]
    fn drafts_closed_rules_that_allow_what_was_used_and_pass_check_and_test() {
        let create = |id: &str, node: &str, sgs: &[&str]| {
            let mut q = format!("Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}&ReplicationGroupDescription=d&CacheNodeType={node}&TransitEncryptionEnabled=true&NumCacheClusters=2");
            for (i, sg) in sgs.iter().enumerate() {
                q.push_str(&format!("&SecurityGroupIds.SecurityGroupId.{}={sg}", i + 1));
            }
            q
        };
        let records = vec![
            recorded("payments", &create("payments-a", "cache.r7g.large", &["sg-1"]), Decision::Allow),
            recorded("payments", &create("payments-b", "cache.r7g.xlarge", &["sg-1", "sg-2"]), Decision::Allow),
            recorded("payments", "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-a&AuthToken=rotated-token-0123456789abcdef&AuthTokenUpdateStrategy=ROTATE&ApplyImmediately=true", Decision::Allow),
            recorded("payments", "Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders-a", Decision::Deny),
        ];
        let draft = draft(&records, "drafted.yaml");
        assert_eq!((draft.rules, draft.skipped_denied), (2, 1));
        assert!(!draft.policy.contains("rotated-token"), "{}", draft.policy);
        assert!(!draft.tests.contains("rotated-token"), "{}", draft.tests);
        let (policy, warnings) = crate::policy_tools::check("drafted.yaml", &draft.policy, None)
            .unwrap_or_else(|e| panic!("{e}\n{}", draft.policy));
        assert!(warnings.is_empty(), "{warnings:?}\n{}", draft.policy);
        assert!(
            draft
                .policy
                .contains("CacheNodeType: {one_of: [\"cache.r7g.large\", \"cache.r7g.xlarge\"]}"),
            "{}",
            draft.policy
        );
        assert!(
            draft
                .policy
                .contains("SecurityGroupIds: {all_in: [\"sg-1\", \"sg-2\"]}"),
            "{}",
            draft.policy
        );
        assert!(
            draft.policy.contains("AuthToken: {present: true}"),
            "{}",
            draft.policy
        );
        // Its tests pass, and replaying the history changes nothing.
        let file: crate::policy_tools::TestFile = serde_yaml::from_str(&draft.tests).unwrap();
        for case in &file.tests {
            crate::policy_tools::run_case(&policy, case, 1_796_515_200).unwrap_or_else(|e| {
                panic!("{}: {e}\n{}\n{}", case.name, draft.policy, draft.tests)
            });
        }
        let report = crate::replay::replay(&policy, records.into_iter().map(Ok), None);
        assert!(!report.changes_anything(), "{report:?}");
        // What was not used is not allowed.
        let other = recorded(
            "payments",
            &create("payments-c", "cache.r7g.4xlarge", &["sg-1"]),
            Decision::Allow,
        );
        assert_eq!(
            policy.is_authorized(&other.facts(None)).decision,
            Decision::Deny
        );
    }

    #[test]
    fn a_group_with_nothing_security_relevant_is_closed_without_params() {
        let records = vec![recorded(
            "ops",
            "Action=DescribeCacheClusters&Version=2015-02-02&MaxRecords=20",
            Decision::Allow,
        )];
        let draft = draft(&records, "p.yaml");
        assert!(!draft.policy.contains("\n    params:"), "{}", draft.policy);
        assert!(
            draft.policy.contains("other_params_allowed: [MaxRecords]"),
            "{}",
            draft.policy
        );
        let (_, warnings) = crate::policy_tools::check("p.yaml", &draft.policy, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn many_values_with_a_shared_prefix_are_generalised_and_said_so() {
        let records: Vec<Recorded> = (0..8)
            .map(|i| {
                recorded(
                    "ops",
                    &format!("Action=CreateSnapshot&Version=2015-02-02&ReplicationGroupId=orders-{i}&SnapshotName=nightly-{i}"),
                    Decision::Allow,
                )
            })
            .collect();
        let draft = draft(&records, "p.yaml");
        assert!(
            draft.policy.contains("SnapshotName: {matches: \"nightly\\\\-.*\"}  # generalised: 8 values, all starting `nightly-`")
                || draft.policy.contains("generalised: 8 values"),
            "{}",
            draft.policy
        );
        let (policy, warnings) = crate::policy_tools::check("p.yaml", &draft.policy, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let report = crate::replay::replay(&policy, records.into_iter().map(Ok), None);
        assert!(!report.changes_anything(), "{report:?}");
    }
}
