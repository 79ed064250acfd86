//! The policy: YAML text validated strictly and compiled into fast matchers.
//! No I/O here; the caller reads the file and passes its name for messages.
//! Every error is collected, each naming the rule and the field, with a hint.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde_yaml::Value;

use crate::model::{did_you_mean, AccountId, Action, Region};
use crate::names::{self, NameCase};
pub use crate::rule::{Effect, Mode};
use crate::rule::{NameMatcher, NamePattern, Rule};
use crate::rule_index::{self, ActionRules};
use crate::yaml_positions::{Position, Positions};

/// The keys a rule may have.
pub const RULE_KEYS: [&str; 10] = [
    "id",
    "effect",
    "mode",
    "actions",
    "callers",
    "regions",
    "owner_ids",
    "cache_security_groups",
    "ec2_security_groups",
    "message",
];
const MAX_MESSAGE_CHARS: usize = 512;
/// Bound on a compiled regex set, so a policy cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// A compiled policy, ready to decide.
#[derive(Debug)]
pub struct Policy {
    pub(crate) rules: Vec<Rule>,
    /// For each action index, the rules that name the action, indexed.
    pub(crate) by_action: Vec<Arc<ActionRules>>,
}

impl Policy {
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn has_shadow_rules(&self) -> bool {
        self.rules.iter().any(|r| r.mode == Mode::Shadow)
    }

    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }
}

/// One problem in a policy file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyError {
    /// The rule's id, or `#N` (1-based) when it has none.
    pub rule: Option<String>,
    /// The rule's index in `rules` (0-based).
    pub index: Option<usize>,
    pub field: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    /// Where in the file, when it can be found.
    pub position: Option<Position>,
}

/// Every problem found in one policy file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyErrors {
    pub file: String,
    pub errors: Vec<PolicyError>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{}: {count} error{} in policy",
            self.file,
            if count == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {}", self.file)?;
            if let Some(at) = e.position {
                write!(f, ":{}:{}", at.line, at.column)?;
            }
            if let Some(rule) = &e.rule {
                write!(f, ": rule `{rule}`")?;
            }
            if let Some(field) = &e.field {
                write!(f, ": `{field}`")?;
            }
            write!(f, ": {}", e.message)?;
            if let Some(hint) = &e.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// Validates and compiles a policy. `file` names it in messages. Caller
/// names in rules are checked for their form only: a name the callers file
/// lacks is a warning (`lint::absent_callers`), never an error, so
/// that removing a caller from the callers file always revokes it.
pub fn compile(file: &str, text: &str) -> Result<Policy, PolicyErrors> {
    let mut errors = Vec::new();
    let policy = compile_value(text, &mut errors);
    if errors.iter().any(|e| e.position.is_none()) {
        let positions = Positions::of(text);
        for error in errors.iter_mut().filter(|e| e.position.is_none()) {
            let index = error.index.map(|i| i.to_string());
            let mut path = Vec::new();
            if let Some(index) = &index {
                path.extend(["rules", index.as_str()]);
            }
            path.extend(error.field.as_deref());
            error.position = positions.find(&path);
        }
    }
    match policy {
        Some(policy) if errors.is_empty() => Ok(policy),
        _ => Err(PolicyErrors {
            file: file.to_owned(),
            errors,
        }),
    }
}

fn compile_value(text: &str, errors: &mut Vec<PolicyError>) -> Option<Policy> {
    let top: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(PolicyError {
                rule: None,
                index: None,
                field: None,
                message: format!("not valid YAML: {e}"),
                hint: None,
                position: e.location().map(|at| Position {
                    line: at.line(),
                    column: at.column(),
                }),
            });
            return None;
        }
    };
    let top_error = |field: Option<&str>, message: String, hint: Option<String>| PolicyError {
        rule: None,
        index: None,
        field: field.map(str::to_owned),
        message,
        hint,
        position: None,
    };
    let Value::Mapping(top) = top else {
        errors.push(top_error(
            None,
            "the policy must be a mapping with the key `rules`".into(),
            Some("start the file with `rules:`".into()),
        ));
        return None;
    };
    let mut rules_value = None;
    for (key, value) in &top {
        match key.as_str() {
            Some("rules") => rules_value = Some(value),
            other => {
                let shown = other.map_or_else(|| format!("{key:?}"), str::to_owned);
                errors.push(top_error(
                    Some(&shown),
                    format!("unknown key `{shown}`"),
                    Some(did_you_mean(&shown, ["rules"]).map_or_else(
                        || "the only top-level key is `rules`".to_owned(),
                        |s| format!("did you mean `{s}`?"),
                    )),
                ));
            }
        }
    }
    let Some(rules_value) = rules_value else {
        errors.push(top_error(
            None,
            "missing the key `rules`".into(),
            Some("`rules: []` is an empty policy that denies everything".into()),
        ));
        return None;
    };
    let Value::Sequence(raw_rules) = rules_value else {
        errors.push(top_error(
            Some("rules"),
            "`rules` must be a list of rules".into(),
            None,
        ));
        return None;
    };

    let mut rules = Vec::with_capacity(raw_rules.len());
    let mut action_sets = Vec::with_capacity(raw_rules.len());
    let mut ids = BTreeSet::new();
    for (index, raw) in raw_rules.iter().enumerate() {
        let mut ctx = RuleContext {
            label: format!("#{}", index + 1),
            index,
            errors: &mut *errors,
        };
        let compiled = compile_rule(raw, &mut ctx);
        // Checked whatever else is wrong with the rule, so every error shows at once.
        if let Some(Value::String(id)) = raw.get("id") {
            if !ids.insert(id.clone()) {
                ctx.error(
                    Some("id"),
                    format!("duplicate rule id `{id}`"),
                    Some(
                        "rule ids must be unique: the decision names the rules that decided it"
                            .into(),
                    ),
                );
            }
        }
        if let Some((rule, actions)) = compiled {
            rules.push(rule);
            action_sets.push(actions);
        }
    }
    let by_action = rule_index::index(&rules, |rule, action| action_sets[rule].contains(action));
    Some(Policy { rules, by_action })
}

/// The set of actions a rule names, as a bit mask over the action list.
#[derive(Clone, Copy)]
struct ActionSet(u128);

impl ActionSet {
    fn contains(self, action: Action) -> bool {
        self.0 & (1u128 << action.index()) != 0
    }
}

struct RuleContext<'a> {
    label: String,
    index: usize,
    errors: &'a mut Vec<PolicyError>,
}

impl RuleContext<'_> {
    fn error(&mut self, field: Option<&str>, message: String, hint: Option<String>) {
        self.errors.push(PolicyError {
            rule: Some(self.label.clone()),
            index: Some(self.index),
            field: field.map(str::to_owned),
            message,
            hint,
            position: None,
        });
    }
}

fn compile_rule(raw: &Value, ctx: &mut RuleContext<'_>) -> Option<(Rule, ActionSet)> {
    let Value::Mapping(map) = raw else {
        ctx.error(None, "a rule must be a mapping (`- id: …`)".into(), None);
        return None;
    };
    // The id first, so that every later error names the rule.
    let id = match map.get("id") {
        Some(Value::String(id)) if is_valid_rule_id(id) => {
            ctx.label = id.clone();
            Some(id.clone())
        }
        Some(Value::String(id)) => {
            ctx.error(
                Some("id"),
                format!("rule id `{id}` is not allowed"),
                Some("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 128".into()),
            );
            None
        }
        Some(_) => {
            ctx.error(Some("id"), "`id` must be a string".into(), None);
            None
        }
        None => {
            ctx.error(
                None,
                "missing the key `id`".into(),
                Some("give every rule a unique `id`".into()),
            );
            None
        }
    };
    for key in map.keys() {
        let name = key.as_str().unwrap_or("");
        if !RULE_KEYS.contains(&name) {
            let shown = key
                .as_str()
                .map_or_else(|| format!("{key:?}"), str::to_owned);
            let hint = did_you_mean(&shown, RULE_KEYS).map_or_else(
                || format!("rule keys are {}", RULE_KEYS.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            ctx.error(Some(&shown), format!("unknown key `{shown}`"), Some(hint));
        }
    }
    let effect = match map.get("effect").map(|v| v.as_str()) {
        Some(Some("allow")) => Some(Effect::Allow),
        Some(Some("deny")) => Some(Effect::Deny),
        Some(_) => {
            ctx.error(
                Some("effect"),
                "`effect` must be `allow` or `deny`".into(),
                None,
            );
            None
        }
        None => {
            ctx.error(
                None,
                "missing the key `effect`".into(),
                Some("`effect: allow` or `effect: deny`".into()),
            );
            None
        }
    };
    let mode = match map.get("mode") {
        None => Some(Mode::Enforce),
        Some(value) => {
            let mode = value.as_str().and_then(Mode::parse);
            if mode.is_none() {
                ctx.error(
                    Some("mode"),
                    "`mode` must be `enforce` or `shadow`".into(),
                    Some(
                        "`mode: shadow` computes and logs the rule's decision without enforcing it"
                            .into(),
                    ),
                );
            }
            mode
        }
    };
    let actions = match string_list(map.get("actions"), "actions", ctx) {
        None => Some(ActionSet(u128::MAX)),
        Some(list) => compile_actions(&list, ctx),
    };
    let callers = string_list(map.get("callers"), "callers", ctx).inspect(|list| {
        for name in list {
            if !crate::callers::is_valid_caller_name(name) {
                ctx.error(
                    Some("callers"),
                    format!("`{name}` is not a caller name"),
                    None,
                );
            }
        }
    });
    let regions = string_list(map.get("regions"), "regions", ctx).map(|list| {
        list.iter()
            .filter_map(|r| {
                let region = Region::parse(r);
                if region.is_none() {
                    ctx.error(
                        Some("regions"),
                        format!("`{r}` is not an AWS region name"),
                        Some("regions look like `us-east-1` or `eu-west-1`".into()),
                    );
                }
                region
            })
            .collect::<Vec<_>>()
    });
    let owner_ids = owner_id_list(map.get("owner_ids"), ctx);
    let cache_security_groups = name_matcher(
        map.get("cache_security_groups"),
        "cache_security_groups",
        names::CACHE_SECURITY_GROUP_NAMES,
        ctx,
    );
    let ec2_security_groups = name_matcher(
        map.get("ec2_security_groups"),
        "ec2_security_groups",
        names::EC2_SECURITY_GROUP_NAMES,
        ctx,
    );
    let message = match map.get("message") {
        None => None,
        Some(Value::String(m))
            if m.chars().count() <= MAX_MESSAGE_CHARS && !m.chars().any(char::is_control) =>
        {
            Some(m.clone())
        }
        Some(Value::String(_)) => {
            ctx.error(
                Some("message"),
                format!("`message` must be one line of at most {MAX_MESSAGE_CHARS} characters"),
                None,
            );
            None
        }
        Some(_) => {
            ctx.error(Some("message"), "`message` must be a string".into(), None);
            None
        }
    };
    Some((
        Rule {
            id: id?,
            effect: effect?,
            mode: mode?,
            callers,
            regions,
            owner_ids,
            cache_security_groups: cache_security_groups?,
            ec2_security_groups: ec2_security_groups?,
            message,
        },
        actions?,
    ))
}

fn is_valid_rule_id(id: &str) -> bool {
    id.len() <= 128
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A list of strings, or `None` when the key is absent. Errors are recorded;
/// an empty list is an error because it would silently match nothing.
fn string_list(
    value: Option<&Value>,
    field: &str,
    ctx: &mut RuleContext<'_>,
) -> Option<Vec<String>> {
    let value = value?;
    let Value::Sequence(items) = value else {
        ctx.error(
            Some(field),
            format!("`{field}` must be a list"),
            Some(format!("write `{field}: [value, …]`")),
        );
        return Some(Vec::new());
    };
    if items.is_empty() {
        ctx.error(
            Some(field),
            format!("`{field}` is empty and would match nothing"),
            Some(format!("leave `{field}` out to match anything")),
        );
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) => out.push(s.clone()),
            other => ctx.error(
                Some(field),
                format!("`{}` in `{field}` is not a string", scalar_text(other)),
                Some("quote the value".into()),
            ),
        }
    }
    Some(out)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "a nested value".into(),
    }
}

fn compile_actions(list: &[String], ctx: &mut RuleContext<'_>) -> Option<ActionSet> {
    let mut mask = 0u128;
    let mut ok = true;
    for entry in list {
        let matched: Vec<Action> = if entry.contains('*') {
            Action::all()
                .filter(|a| wildcard_match(entry, a.name()))
                .collect()
        } else {
            Action::from_name(entry).into_iter().collect()
        };
        if matched.is_empty() {
            ok = false;
            let hint = did_you_mean(entry, Action::all_names().iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "action names are case-sensitive, e.g. `AuthorizeCacheSecurityGroupIngress` or `Describe*`".into());
            let what = if entry.contains('*') {
                "matches no ElastiCache action"
            } else {
                "is not an ElastiCache action"
            };
            ctx.error(Some("actions"), format!("`{entry}` {what}"), Some(hint));
        }
        for action in matched {
            mask |= 1u128 << action.index();
        }
    }
    ok.then_some(ActionSet(mask))
}

/// `*` matches any run of characters; everything else is literal.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = pieces.split_first().unwrap_or((&"", &[]));
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

fn owner_id_list(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Vec<AccountId>> {
    let value = value?;
    if let Value::Sequence(items) = value {
        // YAML reads an unquoted account number as an integer, losing leading
        // zeros, so only quoted strings are taken.
        for item in items.iter().filter(|i| i.is_number()) {
            ctx.error(
                Some("owner_ids"),
                format!("account id {} must be a quoted string", scalar_text(item)),
                Some(format!("write \"{}\"", scalar_text(item))),
            );
        }
        if items.iter().any(Value::is_number) {
            return Some(Vec::new());
        }
    }
    let list = string_list(Some(value), "owner_ids", ctx)?;
    Some(
        list.iter()
            .filter_map(|raw| {
                let id = AccountId::parse(raw);
                if id.is_none() {
                    ctx.error(
                        Some("owner_ids"),
                        format!("`{raw}` is not a 12-digit AWS account id"),
                        Some("write it as \"123456781234\" or \"1234-5678-1234\"".into()),
                    );
                }
                id
            })
            .collect(),
    )
}

/// Compiles regexes anchored at both ends, so each must match a whole name.
/// For names compared without case, each pattern is lower-cased first, and
/// names are lower-cased before they are matched.
fn name_matcher(
    value: Option<&Value>,
    field: &str,
    case: NameCase,
    ctx: &mut RuleContext<'_>,
) -> Option<Option<NameMatcher>> {
    let Some(list) = string_list(value, field, ctx) else {
        return Some(None);
    };
    let mut ok = true;
    let mut compiled = Vec::with_capacity(list.len());
    for pattern in &list {
        if pattern.is_empty() {
            ok = false;
            ctx.error(
                Some(field),
                "empty regex".into(),
                Some("leave the key out to match any name".into()),
            );
            continue;
        }
        match NamePattern::compile(pattern, case) {
            Ok(matcher) => compiled.push(matcher),
            Err(e) => {
                ok = false;
                let detail = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                ctx.error(
                    Some(field),
                    format!("`{pattern}` is not a valid regex: {detail}"),
                    Some("regexes use Rust regex syntax and must match the whole name, e.g. `prod-[a-z0-9-]+`".into()),
                );
            }
        }
    }
    if !ok || list.is_empty() {
        return None;
    }
    match NameMatcher::new(list, compiled, case, REGEX_SIZE_LIMIT) {
        Ok(matcher) => Some(Some(matcher)),
        Err(e) => {
            ctx.error(
                Some(field),
                format!(
                    "regexes are too large to compile: {}",
                    e.to_string().lines().last().unwrap_or("").trim()
                ),
                Some("simplify the patterns or split the rule".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<PolicyError> {
        compile("p.yaml", text).unwrap_err().errors
    }

    #[test]
    fn compiles_the_documented_example() {
        let policy = compile(
            "p.yaml",
            r#"
rules:
  - id: prod-app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1, eu-west-1]
    owner_ids: ["123456781234", "1234-5678-9999"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
    message: "ask the platform team"
  - id: describe
    effect: allow
    actions: ["Describe*"]
"#,
        )
        .unwrap();
        assert_eq!(policy.rule_count(), 2);
        let describe_clusters = Action::from_name("DescribeCacheClusters").unwrap();
        assert_eq!(policy.by_action[describe_clusters.index()].all, vec![1]);
        let ingress = Action::from_name("AuthorizeCacheSecurityGroupIngress").unwrap();
        assert_eq!(policy.by_action[ingress.index()].all, vec![0]);
    }

    #[test]
    fn an_empty_policy_is_valid() {
        assert_eq!(compile("p.yaml", "rules: []").unwrap().rule_count(), 0);
    }

    #[test]
    fn collects_every_error_with_rule_field_and_hint() {
        let errs = errors(
            r#"
rules:
  - id: first
    effect: allow
    actions: [AuthoriseCacheSecurityGroupIngress, "Frobnicate*"]
    regions: [us-east-1, "US-EAST-1"]
    owner_ids: [123456781234, "12345"]
    cache_security_groups: ["prod-(unclosed"]
    ec2_security_group: ["x"]
  - id: first
    effect: permit
  - effect: deny
"#,
        );
        let find = |needle: &str| {
            errs.iter()
                .find(|e| e.message.contains(needle))
                .unwrap_or_else(|| panic!("no error mentioning {needle:?} in {errs:#?}"))
        };
        let e = find("AuthoriseCacheSecurityGroupIngress");
        assert_eq!(
            (e.rule.as_deref(), e.field.as_deref()),
            (Some("first"), Some("actions"))
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `AuthorizeCacheSecurityGroupIngress`?")
        );
        find("`Frobnicate*` matches no ElastiCache action");
        assert_eq!(find("US-EAST-1").field.as_deref(), Some("regions"));
        assert!(find("account id 123456781234 must be a quoted string")
            .hint
            .is_some());
        let e = find("prod-(unclosed");
        assert_eq!(e.field.as_deref(), Some("cache_security_groups"));
        let e = find("unknown key `ec2_security_group`");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `ec2_security_groups`?")
        );
        find("duplicate rule id `first`");
        find("`effect` must be `allow` or `deny`");
        assert_eq!(find("missing the key `id`").rule.as_deref(), Some("#3"));
        let shown = compile(
            "policies/p.yaml",
            "rules: [{id: a, effect: allow, regions: []}]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            shown.contains("policies/p.yaml:1:32: rule `a`: `regions`: `regions` is empty and would match nothing (hint: leave `regions` out to match anything)"),
            "{shown}"
        );
        // Lines and columns point at the field, or at the rule.
        let at = |needle: &str| {
            let e = find(needle);
            e.position.map(|p| (p.line, p.column))
        };
        assert_eq!(at("AuthoriseCacheSecurityGroupIngress"), Some((5, 5)));
        assert_eq!(at("unknown key `ec2_security_group`"), Some((9, 5)));
        assert_eq!(at("`effect` must be `allow` or `deny`"), Some((11, 5)));
        assert_eq!(at("missing the key `id`"), Some((12, 5)));
        let bad_yaml = compile("p.yaml", "rules:\n  - id: [\n").unwrap_err();
        assert!(bad_yaml.errors[0].position.is_some(), "{bad_yaml}");
    }

    #[test]
    fn bad_owner_id_strings() {
        let errs =
            errors(r#"rules: [{id: a, effect: allow, owner_ids: ["12345", "1234-5678-123x"]}]"#);
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.field.as_deref() == Some("owner_ids")));
    }

    #[test]
    fn top_level_problems() {
        assert!(errors("ruels: []")[0].hint.as_deref() == Some("did you mean `rules`?"));
        assert!(errors("[1, 2]")[0].message.contains("mapping"));
        assert!(errors("rules: {a: 1}")[0].message.contains("list"));
        assert!(errors("rules: [")[0].message.contains("not valid YAML"));
        assert!(errors("{}")[0].message.contains("missing the key `rules`"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("Describe*", "DescribeCacheClusters"));
        assert!(wildcard_match("*", "AnyThing"));
        assert!(wildcard_match(
            "*CacheSecurityGroup*",
            "AuthorizeCacheSecurityGroupIngress"
        ));
        assert!(wildcard_match("Describe*s", "DescribeCacheClusters"));
        assert!(!wildcard_match("Describe*", "ListTagsForResource"));
        assert!(!wildcard_match("Describe", "DescribeCacheClusters"));
        assert!(!wildcard_match("A*ab", "Ab"));
    }

    #[test]
    fn regexes_are_anchored_to_the_whole_name() {
        let policy = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, cache_security_groups: ["prod-[a-z]+", "x|y"]}]"#,
        )
        .unwrap();
        let matcher = policy.rules[0].cache_security_groups.as_ref().unwrap();
        assert!(matcher.is_match("prod-web"));
        assert!(matcher.is_match("x"));
        for name in ["prod-web!", "xprod-web", "prod-web\n", "xy", "prod-"] {
            assert!(!matcher.is_match(name), "{name:?}");
        }
        let multiline = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, cache_security_groups: ["(?m)^prod$"]}]"#,
        )
        .unwrap();
        assert!(!multiline.rules[0]
            .cache_security_groups
            .as_ref()
            .unwrap()
            .is_match("prod\nevil"));
    }
}
