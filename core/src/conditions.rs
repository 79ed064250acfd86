//! Rule conditions on any parameter of the rule's actions (`params:`),
//! compiled against the service model when the policy loads and evaluated
//! against the typed parameters of a request.
//!
//! A condition on a parameter the request does not carry does not match,
//! so "only these security groups" cannot be dodged by leaving the
//! parameter out; `present: false` tests exactly that absence, and
//! `if_absent: match` opts out where leaving a parameter out is harmless
//! (a Modify call that does not change it).

use std::borrow::Cow;

use serde_yaml::Value as Yaml;

use crate::model::{did_you_mean, AccountId, Action};
use crate::names::{self, NameCase};
use crate::params::{Params, Value};
use crate::patterns::{NameMatcher, NamePattern};
use crate::service_model::{Kind, Member, Shape};

/// The keys a condition may have.
pub const CONDITION_KEYS: [&str; 11] = [
    "present",
    "one_of",
    "matches",
    "range",
    "all_in",
    "any_in",
    "none_in",
    "has_keys",
    "tags",
    "if_absent",
    "if_empty",
];
/// Bound on one condition's regex, so a policy cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One condition: a parameter and what must hold of it.
#[derive(Debug)]
pub(crate) struct ParamCondition {
    pub name: &'static str,
    pub test: Test,
    /// Whether a request without the parameter matches.
    pub if_absent: bool,
    /// Whether an empty list satisfies a test on list items. AWS gives an
    /// empty list meanings of its own (a Create with no security groups
    /// gets the VPC's default group), so by default it matches no allow
    /// rule and every deny rule: no empty list dodges a rule.
    pub if_empty: bool,
    /// What the condition says of a value it cannot judge (one of another
    /// type than the model's): true in a deny rule and false in an allow
    /// rule, so that either way the request is denied.
    pub unjudged: bool,
    /// How the parameter's names compare, for the policy's values too.
    pub case: Option<NameCase>,
    pub origin: Origin,
}

/// The rule key a condition was written under.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Origin {
    Params,
    /// An ingress key (`owner_ids`, `cache_security_groups`,
    /// `ec2_security_groups`): shorthand for a condition on its parameter,
    /// explained in the words that key has always used.
    Shorthand(&'static str),
}

impl Origin {
    /// The rule key, for warnings.
    pub fn field(self) -> &'static str {
        match self {
            Origin::Params => "params",
            Origin::Shorthand(key) => key,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Test {
    Present(bool),
    OneOf(Vec<Scalar>),
    /// Whole-name patterns, any of which may match.
    Matches(NameMatcher),
    Range {
        min: i64,
        max: i64,
    },
    AllIn(Vec<String>),
    AnyIn(Vec<String>),
    NoneIn(Vec<String>),
    HasKeys(Vec<String>),
    Tags(Vec<(String, String)>),
}

/// The tests on a list's items, which an empty list cannot be judged by.
const LIST_TESTS: [&str; 5] = ["all_in", "any_in", "none_in", "has_keys", "tags"];

impl Test {
    /// The condition key it is written under.
    fn key(&self) -> &'static str {
        match self {
            Test::Present(_) => "present",
            Test::OneOf(_) => "one_of",
            Test::Matches(_) => "matches",
            Test::Range { .. } => "range",
            Test::AllIn(_) => "all_in",
            Test::AnyIn(_) => "any_in",
            Test::NoneIn(_) => "none_in",
            Test::HasKeys(_) => "has_keys",
            Test::Tags(_) => "tags",
        }
    }

    /// Whether it judges a list by its items.
    fn is_on_items(&self) -> bool {
        LIST_TESTS.contains(&self.key())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    String(String),
    Boolean(bool),
    Integer(i64),
}

/// What the model says of a parameter across a rule's actions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Type {
    String,
    Boolean,
    Integer,
    Timestamp,
    StringList,
    Tags,
    Other,
}

impl Type {
    fn of(shape: &Shape) -> Type {
        match shape.kind() {
            Kind::String(_) => Type::String,
            Kind::Boolean => Type::Boolean,
            Kind::Integer(_) | Kind::Long(_) => Type::Integer,
            Kind::Timestamp => Type::Timestamp,
            Kind::List(list) => match list.member().shape().kind() {
                Kind::String(_) => Type::StringList,
                Kind::Structure(tag)
                    if tag.member("Key").is_some() && tag.member("Value").is_some() =>
                {
                    Type::Tags
                }
                _ => Type::Other,
            },
            _ => Type::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Boolean => "a boolean",
            Type::Integer => "an integer",
            Type::Timestamp => "a timestamp",
            Type::StringList => "a list of strings",
            Type::Tags => "a list of tags",
            Type::Other => "a structure",
        }
    }

    /// The condition keys that make sense for it.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Type::String => &["present", "one_of", "matches"],
            Type::Boolean => &["present", "one_of"],
            Type::Integer => &["present", "one_of", "range"],
            Type::StringList => &["present", "all_in", "any_in", "none_in"],
            Type::Tags => &["present", "has_keys", "tags"],
            Type::Timestamp | Type::Other => &["present"],
        }
    }
}

/// A problem with one condition: the key path below `params`, the message
/// and a hint.
pub(crate) struct ConditionError {
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

fn error(field: String, message: String, hint: Option<String>) -> ConditionError {
    ConditionError {
        field,
        message,
        hint,
    }
}

/// Compiles `params:` for a rule of `actions`. Every error is collected.
pub(crate) fn compile(
    value: &Yaml,
    actions: &[Action],
    deny: bool,
    errors: &mut Vec<ConditionError>,
) -> Vec<ParamCondition> {
    let Yaml::Mapping(map) = value else {
        errors.push(error(
            "params".into(),
            "`params` must be a mapping from parameter names to conditions".into(),
            Some("write `params: {SecurityGroupIds: {all_in: [sg-0123]}}`".into()),
        ));
        return Vec::new();
    };
    if map.is_empty() {
        errors.push(error(
            "params".into(),
            "`params` is empty".into(),
            Some("leave `params` out to match any parameters".into()),
        ));
    }
    let mut out = Vec::new();
    for (key, condition) in map {
        let Some(name) = key.as_str() else {
            errors.push(error(
                "params".into(),
                format!("parameter name `{}` is not a string", yaml_text(key)),
                None,
            ));
            continue;
        };
        let field = format!("params.{name}");
        let Some(member) = member_of(name, actions, &field, errors) else {
            continue;
        };
        if let Some(compiled) = compile_one(member, condition, &field, deny, errors) {
            out.push(compiled);
        }
    }
    out
}

/// The parameter, the same in every one of the rule's actions.
fn member_of(
    name: &str,
    actions: &[Action],
    field: &str,
    errors: &mut Vec<ConditionError>,
) -> Option<&'static Member> {
    let mut found: Option<&'static Member> = None;
    let mut lacking = Vec::new();
    let mut having = Vec::new();
    for action in actions {
        match action.operation().member(name) {
            Some(member) => {
                if found.is_some_and(|f| Type::of(f.shape()) != Type::of(member.shape())) {
                    errors.push(error(
                        field.into(),
                        format!("`{name}` has a different type in {action} than in the rule's other actions"),
                        Some("split the rule by action".into()),
                    ));
                    return None;
                }
                found.get_or_insert(member);
                having.push(action.name());
            }
            None => lacking.push(action.name()),
        }
    }
    if lacking.is_empty() && found.is_some() {
        return found;
    }
    let names = actions
        .iter()
        .flat_map(|a| a.operation().members().iter().map(Member::query_name));
    // Some of the actions have it: the name is right and `actions` too wide.
    let hint = if found.is_some() {
        Some(format!(
            "narrow `actions` to those that have it: [{}]",
            first_few(&having, 8).join(", ")
        ))
    } else {
        Some(match did_you_mean(name, names) {
            Some(close) => format!("did you mean `{close}`?"),
            None => "parameters are named as the Query API names them, e.g. `SecurityGroupIds` or `CacheNodeType`"
                .into(),
        })
    };
    errors.push(error(
        field.into(),
        format!(
            "`{name}` is not a parameter of {}",
            first_few(&lacking, 3).join(", ")
        ),
        hint,
    ));
    None
}

/// The first `shown` names, and how many more there are as a last item.
fn first_few(names: &[&str], shown: usize) -> Vec<String> {
    let mut out: Vec<String> = names.iter().take(shown).map(|n| (*n).to_owned()).collect();
    if names.len() > shown {
        out.push(format!("and {} more", names.len() - shown));
    }
    out
}

fn compile_one(
    member: &'static Member,
    condition: &Yaml,
    field: &str,
    deny: bool,
    errors: &mut Vec<ConditionError>,
) -> Option<ParamCondition> {
    let name = member.query_name();
    let kind = Type::of(member.shape());
    let Yaml::Mapping(map) = condition else {
        errors.push(error(
            field.into(),
            format!("the condition on `{name}` must be a mapping"),
            Some(format!(
                "write `{name}: {{{}: …}}`",
                kind.keys()[kind.keys().len().min(2) - 1]
            )),
        ));
        return None;
    };
    let mut tests = Vec::new();
    let mut if_absent = false;
    let mut if_empty = None;
    let before = errors.len();
    for (key, value) in map {
        let key = key.as_str().unwrap_or("");
        let at = format!("{field}.{key}");
        if key == "if_absent" || key == "if_empty" {
            let slot = match value.as_str() {
                Some("match") => Some(true),
                Some("no_match") => Some(false),
                _ => {
                    errors.push(error(
                        at,
                        format!(
                            "`{key}` must be `match` or `no_match`, not {}",
                            written(value, member)
                        ),
                        None,
                    ));
                    None
                }
            };
            if key == "if_absent" {
                if_absent = slot.unwrap_or(false);
            } else {
                if_empty = slot;
            }
            continue;
        }
        if !CONDITION_KEYS.contains(&key) && member.is_secret() {
            // The key may be the secret itself, written by mistake.
            errors.push(error(
                field.into(),
                format!("an unknown condition (not shown: `{name}` carries a secret)"),
                Some(format!(
                    "write `{name}: {{present: true}}` or `{{present: false}}`"
                )),
            ));
            continue;
        }
        if !CONDITION_KEYS.contains(&key) {
            let hint = did_you_mean(key, CONDITION_KEYS).map_or_else(
                || format!("condition keys are {}", CONDITION_KEYS.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            errors.push(error(at, format!("unknown condition `{key}`"), Some(hint)));
            continue;
        }
        if member.is_secret() && key != "present" {
            errors.push(error(
                at,
                format!(
                    "`{name}` carries a secret: a policy may only test whether it is `present`"
                ),
                Some(format!(
                    "write `{name}: {{present: true}}` or `{{present: false}}`"
                )),
            ));
            continue;
        }
        if !kind.keys().contains(&key) {
            errors.push(error(
                at,
                format!(
                    "`{key}` does not apply to `{name}`, which is {}",
                    kind.describe()
                ),
                Some(format!(
                    "for it use {}",
                    crate::error::backticked(kind.keys())
                )),
            ));
            continue;
        }
        if let Some(test) = compile_test(key, value, member, kind, &at, errors) {
            tests.push(test);
        }
    }
    if errors.len() > before {
        return None;
    }
    let test = match tests.len() {
        1 => tests.pop()?,
        0 => {
            errors.push(error(
                field.into(),
                format!("the condition on `{name}` tests nothing"),
                Some(format!("add one of {}", kind.keys().join(", "))),
            ));
            return None;
        }
        _ => {
            errors.push(error(
                field.into(),
                format!("the condition on `{name}` has more than one test"),
                Some("give each parameter one test (besides `if_absent`)".into()),
            ));
            return None;
        }
    };
    if matches!(test, Test::Present(false)) && if_absent {
        errors.push(error(
            field.into(),
            "`present: false` already matches an absent parameter; `if_absent` adds nothing".into(),
            None,
        ));
    }
    if if_empty.is_some() && !test.is_on_items() {
        errors.push(error(
            format!("{field}.if_empty"),
            format!(
                "`if_empty` applies to tests on a list's items ({}), not to `{}`",
                crate::error::backticked(LIST_TESTS),
                test.key()
            ),
            None,
        ));
        return None;
    }
    Some(ParamCondition {
        name,
        test,
        if_absent,
        if_empty: if_empty.unwrap_or(deny),
        unjudged: deny,
        case: member.case(),
        origin: Origin::Params,
    })
}

/// `owner_ids`: the request's `EC2SecurityGroupOwnerId` is one of them
/// (the request's is normalized to 12 digits when it is parsed).
pub(crate) fn owner_ids(name: &'static str, ids: Vec<AccountId>, deny: bool) -> ParamCondition {
    ParamCondition {
        name,
        test: Test::OneOf(
            ids.iter()
                .map(|id| Scalar::String(id.as_str().to_owned()))
                .collect(),
        ),
        if_absent: false,
        if_empty: deny,
        unjudged: deny,
        case: None,
        origin: Origin::Shorthand("owner_ids"),
    }
}

/// `cache_security_groups` or `ec2_security_groups`: the request's group
/// name matches one of the patterns.
pub(crate) fn group_names(
    key: &'static str,
    name: &'static str,
    matcher: NameMatcher,
    deny: bool,
) -> ParamCondition {
    ParamCondition {
        name,
        case: Some(matcher.case),
        test: Test::Matches(matcher),
        if_absent: false,
        if_empty: deny,
        unjudged: deny,
        origin: Origin::Shorthand(key),
    }
}

/// Compiles whole-name patterns as `case` compares names (`None`: as
/// written, which is how names stored in lower case compare too). Every
/// error is reported through `error(message, hint)`.
pub(crate) fn name_matcher(
    patterns: Vec<String>,
    case: Option<NameCase>,
    size_limit: usize,
    mut error: impl FnMut(String, Option<String>),
) -> Option<NameMatcher> {
    let case = case.unwrap_or(NameCase::StoredLowercase);
    let mut ok = true;
    let mut compiled = Vec::with_capacity(patterns.len());
    for pattern in &patterns {
        if pattern.is_empty() {
            ok = false;
            error(
                "empty regex".into(),
                Some("leave the condition out to match any name".into()),
            );
            continue;
        }
        match NamePattern::compile(pattern, case) {
            Ok(matcher) => compiled.push(matcher),
            Err(e) => {
                ok = false;
                error(
                    format!("`{pattern}` is not a valid regex: {}", regex_reason(&e)),
                    Some("regexes use Rust regex syntax and must match the whole name, e.g. `prod-[a-z0-9-]+`".into()),
                );
            }
        }
    }
    if !ok || patterns.is_empty() {
        return None;
    }
    NameMatcher::new(patterns, compiled, case, size_limit)
        .map_err(|e| {
            error(
                format!("regexes are too large to compile: {}", regex_reason(&e)),
                Some("simplify the patterns or split the rule".into()),
            )
        })
        .ok()
}

/// The regex engine's reason, without its echo of the pattern.
fn regex_reason(error: &regex::Error) -> String {
    error
        .to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn compile_test(
    key: &str,
    value: &Yaml,
    member: &'static Member,
    kind: Type,
    at: &str,
    errors: &mut Vec<ConditionError>,
) -> Option<Test> {
    let case = member.case();
    match key {
        "present" => match value {
            Yaml::Bool(b) => Some(Test::Present(*b)),
            other => {
                errors.push(error(
                    at.into(),
                    format!(
                        "`present` must be `true` or `false`, not {}",
                        written(other, member)
                    ),
                    None,
                ));
                None
            }
        },
        "one_of" => {
            let items = sequence(value, at, errors)?;
            let mut out = Vec::new();
            for item in items {
                if let Some(scalar) = scalar(item, member, kind, at, errors) {
                    out.push(scalar);
                }
            }
            (out.len() == items.len()).then_some(Test::OneOf(out))
        }
        "matches" => {
            let patterns = match value {
                Yaml::String(pattern) => vec![pattern.clone()],
                Yaml::Sequence(_) => strings(value, at, errors)?,
                _ => {
                    errors.push(error(
                        at.into(),
                        "`matches` must be a quoted regex or a list of them".into(),
                        None,
                    ));
                    return None;
                }
            };
            let matcher = name_matcher(patterns, case, REGEX_SIZE_LIMIT, |message, hint| {
                errors.push(error(at.into(), message, hint))
            })?;
            Some(Test::Matches(matcher))
        }
        "range" => {
            let items = sequence(value, at, errors)?;
            let bounds: Vec<i64> = items.iter().filter_map(Yaml::as_i64).collect();
            match bounds[..] {
                [min, max] if items.len() == 2 && min <= max => Some(Test::Range { min, max }),
                _ => {
                    errors.push(error(
                        at.into(),
                        "`range` must be `[min, max]`, two integers with min at most max".into(),
                        Some("write `range: [1, 6]`".into()),
                    ));
                    None
                }
            }
        }
        "all_in" | "any_in" | "none_in" | "has_keys" => {
            let items = strings(value, at, errors)?;
            let items = if key == "has_keys" {
                items
            } else {
                items.into_iter().map(|s| normalized(case, s)).collect()
            };
            Some(match key {
                "all_in" => Test::AllIn(items),
                "any_in" => Test::AnyIn(items),
                "none_in" => Test::NoneIn(items),
                _ => Test::HasKeys(items),
            })
        }
        "tags" => {
            let Yaml::Mapping(map) = value else {
                errors.push(error(
                    at.into(),
                    "`tags` must be a mapping of tag keys to values".into(),
                    Some("write `tags: {team: payments}`".into()),
                ));
                return None;
            };
            let mut out = Vec::new();
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    (Some(k), Some(v)) => out.push((k.to_owned(), v.to_owned())),
                    _ => errors.push(error(
                        at.into(),
                        format!(
                            "tag `{}: {}` must be a string key and a quoted string value",
                            yaml_text(k),
                            yaml_text(v)
                        ),
                        None,
                    )),
                }
            }
            (out.len() == map.len() && !out.is_empty()).then_some(Test::Tags(out))
        }
        _ => None,
    }
}

fn sequence<'a>(
    value: &'a Yaml,
    at: &str,
    errors: &mut Vec<ConditionError>,
) -> Option<&'a Vec<Yaml>> {
    match value {
        Yaml::Sequence(items) if !items.is_empty() => Some(items),
        Yaml::Sequence(_) => {
            errors.push(error(
                at.into(),
                "the list is empty and would match nothing".into(),
                None,
            ));
            None
        }
        other => {
            errors.push(error(
                at.into(),
                format!("expected a list, not `{}`", yaml_text(other)),
                Some("write `[value, …]`".into()),
            ));
            None
        }
    }
}

fn strings(value: &Yaml, at: &str, errors: &mut Vec<ConditionError>) -> Option<Vec<String>> {
    let items = sequence(value, at, errors)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str() {
            Some(s) => out.push(s.to_owned()),
            None => errors.push(error(
                at.into(),
                format!("`{}` is not a string", yaml_text(item)),
                Some("quote the value".into()),
            )),
        }
    }
    (out.len() == items.len()).then_some(out)
}

/// One `one_of` value, typed as the parameter is; strings are checked
/// against the model's enum.
fn scalar(
    item: &Yaml,
    member: &'static Member,
    kind: Type,
    at: &str,
    errors: &mut Vec<ConditionError>,
) -> Option<Scalar> {
    let name = member.query_name();
    let wrong = |errors: &mut Vec<ConditionError>| {
        errors.push(error(
            at.into(),
            format!(
                "`{}` is not {}, as `{name}` is",
                yaml_text(item),
                kind.describe()
            ),
            None,
        ));
        None
    };
    match (kind, item) {
        (Type::Boolean, Yaml::Bool(b)) => Some(Scalar::Boolean(*b)),
        (Type::Integer, Yaml::Number(n)) => match n.as_i64() {
            Some(n) => Some(Scalar::Integer(n)),
            None => wrong(errors),
        },
        (Type::String, Yaml::String(s)) => {
            if let Kind::String(string) = member.shape().kind() {
                let allowed = string.enum_values();
                if !allowed.is_empty() && !allowed.contains(&s.as_str()) {
                    errors.push(error(
                        at.into(),
                        format!(
                            "`{s}` is not a value of `{name}`, which is one of {}",
                            crate::error::backticked(allowed)
                        ),
                        did_you_mean(s, allowed.iter().copied())
                            .map(|c| format!("did you mean `{c}`?")),
                    ));
                    return None;
                }
            }
            Some(Scalar::String(normalized(member.case(), s.clone())))
        }
        _ => wrong(errors),
    }
}

/// A policy value in the form the request's values are compared in.
fn normalized(case: Option<NameCase>, value: String) -> String {
    match case {
        Some(NameCase::StoredLowercase) => names::stored_lowercase(value),
        Some(NameCase::Insensitive) => names::insensitive_key(&value).into_owned(),
        None => value,
    }
}

/// A request's value in the form the policy's values are compared in.
pub(crate) fn key_of(case: Option<NameCase>, value: &str) -> Cow<'_, str> {
    match case {
        Some(case) => case.key(value),
        None => Cow::Borrowed(value),
    }
}

/// A value written in a condition, quoted; for a secret member, not shown,
/// since it may be the secret itself, written by mistake.
fn written(value: &Yaml, member: &Member) -> String {
    if member.is_secret() {
        format!(
            "the value written (not shown: `{}` carries a secret)",
            member.query_name()
        )
    } else {
        format!("`{}`", yaml_text(value))
    }
}

fn yaml_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".into(),
        _ => "a nested value".into(),
    }
}

impl ParamCondition {
    /// The `matches` patterns, for the linter and the index.
    pub fn matcher(&self) -> Option<&NameMatcher> {
        match &self.test {
            Test::Matches(matcher) => Some(matcher),
            _ => None,
        }
    }

    /// The values the parameter must have one of, in the form compared,
    /// when they are a small finite set of strings: for the rule index.
    pub fn finite_values(&self) -> Option<Vec<std::sync::Arc<str>>> {
        if self.if_absent {
            return None;
        }
        match &self.test {
            Test::OneOf(options) => options
                .iter()
                .map(|option| match option {
                    Scalar::String(s) => Some(std::sync::Arc::from(s.as_str())),
                    _ => None,
                })
                .collect(),
            Test::Matches(matcher) => matcher.finite_names().map(<[_]>::to_vec),
            _ => None,
        }
    }

    /// Whether the request's parameters satisfy the condition.
    pub fn holds(&self, params: &Params) -> bool {
        let Some(value) = params.get(self.name) else {
            return self.if_absent || matches!(self.test, Test::Present(false));
        };
        self.judge(value).unwrap_or(self.unjudged)
    }

    /// The test's answer for a value the request carries; `None` for a
    /// value it cannot judge (an empty list, for a test on items, or a
    /// value of another type than the model's), which the rule's effect
    /// settles. Every kind of test has its arm, so a new kind cannot be
    /// added without its evaluation.
    fn judge(&self, value: &Value) -> Option<bool> {
        let items = || match value {
            Value::List(items) if items.is_empty() => Some(Err(self.if_empty)),
            Value::List(items) => Some(Ok(items)),
            _ => None,
        };
        let strings = |items| item_keys(self.case, items);
        Some(match &self.test {
            Test::Present(present) => *present,
            Test::OneOf(options) => match value {
                Value::String(v) => {
                    let v = key_of(self.case, v);
                    options
                        .iter()
                        .any(|o| matches!(o, Scalar::String(s) if *s == v))
                }
                Value::Boolean(v) => options.contains(&Scalar::Boolean(*v)),
                Value::Integer(v) => options.contains(&Scalar::Integer(*v)),
                Value::Timestamp(_) | Value::List(_) | Value::Structure(_) | Value::Map(_) => {
                    return None
                }
            },
            Test::Matches(matcher) => matcher.is_match(&key_of(self.case, value.as_str()?)),
            Test::Range { min, max } => match value {
                Value::Integer(v) => (min..=max).contains(&v),
                _ => return None,
            },
            Test::AllIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => strings(items)?.iter().all(|i| set.iter().any(|s| s == i)),
            },
            Test::AnyIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => strings(items)?.iter().any(|i| set.iter().any(|s| s == i)),
            },
            Test::NoneIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => !strings(items)?.iter().any(|i| set.iter().any(|s| s == i)),
            },
            Test::HasKeys(keys) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    let tags: Vec<_> = items.iter().map(tag).collect::<Option<_>>()?;
                    keys.iter().all(|k| tags.iter().any(|(key, _)| key == k))
                }
            },
            Test::Tags(wanted) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    let tags: Vec<_> = items.iter().map(tag).collect::<Option<_>>()?;
                    wanted
                        .iter()
                        .all(|(k, v)| tags.contains(&(k.as_str(), Some(v.as_str()))))
                }
            },
        })
    }

    /// Why a request failed it, for a denial's explanation. A secret's
    /// value is never shown (only `present` tests one, and says nothing of
    /// its value).
    pub fn describe_failure(&self, params: &Params) -> String {
        let name = self.name;
        let entry = params.entry(name);
        let value = entry.map(|(_, value)| value);
        if let Origin::Shorthand(key) = self.origin {
            return match value.and_then(Value::as_str) {
                None => format!("the request has no {name}"),
                Some(v) if key == "owner_ids" => {
                    format!(
                        "{name} {} is not one of its owner ids",
                        crate::error::quoted(v)
                    )
                }
                Some(v) => {
                    format!(
                        "{name} {} does not match its patterns",
                        crate::error::quoted(v)
                    )
                }
            };
        }
        let Some(value) = value else {
            return format!("the request has no `{name}`");
        };
        if self.test.is_on_items() && matches!(value, Value::List(items) if items.is_empty()) {
            return format!(
                "`{name}` is an empty list, which AWS may read as a default of its own; the rule takes one only with `if_empty: match`"
            );
        }
        // A secret is only ever tested by `present`, whose message never
        // shows the value; a secret nested in a structure is hidden by the
        // rendering itself.
        let shown = || {
            crate::error::quoted(&entry.map_or_else(String::new, |(member, value)| {
                crate::params::render(member, value)
            }))
        };
        match &self.test {
            Test::Present(_) => format!("the request has `{name}`, which it must not"),
            Test::OneOf(options) => format!(
                "`{name}` {} is not one of {}",
                shown(),
                crate::error::backticked(options.iter().map(scalar_text))
            ),
            Test::Matches(matcher) => match &matcher.patterns[..] {
                [pattern] => format!("`{name}` {} does not match `{pattern}`", shown()),
                patterns => format!("`{name}` {} matches none of {}", shown(), listed(patterns)),
            },
            Test::Range { min, max } => format!("`{name}` {} is not from {min} to {max}", shown()),
            Test::AllIn(set) => format!("`{name}` {} has items outside {}", shown(), listed(set)),
            Test::AnyIn(set) => format!("`{name}` {} has none of {}", shown(), listed(set)),
            Test::NoneIn(set) => format!("`{name}` {} has one of {}", shown(), listed(set)),
            Test::HasKeys(keys) => format!(
                "`{name}` {} lacks one of the tag keys {}",
                shown(),
                listed(keys)
            ),
            Test::Tags(wanted) => format!(
                "`{name}` {} lacks one of the tags {}",
                shown(),
                wanted
                    .iter()
                    .map(|(k, v)| format!("`{k}={v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn listed(items: &[String]) -> String {
    let shown: Vec<String> = items.iter().take(5).map(|s| format!("`{s}`")).collect();
    let more = items.len().saturating_sub(5);
    if more > 0 {
        format!("[{}, and {more} more]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

fn scalar_text(scalar: &Scalar) -> String {
    match scalar {
        Scalar::String(s) => s.clone(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(n) => n.to_string(),
    }
}

/// A list's strings, in the form compared; `None` if an item is not one.
fn item_keys(case: Option<NameCase>, items: &[Value]) -> Option<Vec<Cow<'_, str>>> {
    items
        .iter()
        .map(|item| item.as_str().map(|s| key_of(case, s)))
        .collect()
}

/// A tag's key and value.
fn tag(value: &Value) -> Option<(&str, Option<&str>)> {
    let Value::Structure(fields) = value else {
        return None;
    };
    Some((
        fields.get("Key")?.as_str()?,
        fields.get("Value").and_then(Value::as_str),
    ))
}

#[cfg(test)]
mod tests {
    use crate::decision::{Decision, DenialDetail, RequestFacts};
    use crate::model::Region;
    use crate::policy::compile;
    use crate::request::{self, HttpParts, SingleHeader};

    const POLICY: &str = r#"
rules:
  - id: payments-create
    effect: allow
    actions: [CreateReplicationGroup]
    callers: [payments]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb]}
      TransitEncryptionEnabled: {one_of: [true]}
      CacheNodeType: {one_of: [cache.t4g.micro, cache.r7g.large]}
      NumCacheClusters: {range: [1, 3]}
      ReplicationGroupId: {matches: "payments-.*"}
      Tags: {tags: {team: payments}}
      AuthToken: {present: false}
  - id: payments-modify
    effect: allow
    actions: [ModifyReplicationGroup]
    callers: [payments, break-glass]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb], if_absent: match}
  - id: no-auth-token-changes
    effect: deny
    actions: [ModifyReplicationGroup]
    except_callers: [break-glass]
    params:
      AuthToken: {present: true}
  - id: no-legacy-groups
    effect: deny
    actions: [CreateReplicationGroup, ModifyReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-0legacy]}
"#;

    const CREATE: &str = "Action=CreateReplicationGroup&Version=2015-02-02\
        &ReplicationGroupId=Payments-Orders&ReplicationGroupDescription=orders\
        &SecurityGroupIds.SecurityGroupId.1=sg-0aa&SecurityGroupIds.SecurityGroupId.2=sg-0bb\
        &TransitEncryptionEnabled=true&CacheNodeType=cache.r7g.large&NumCacheClusters=2\
        &Tags.Tag.1.Key=team&Tags.Tag.1.Value=payments&Tags.Tag.2.Key=env&Tags.Tag.2.Value=prod";

    fn decide(caller: &str, query: &str) -> (Decision, Vec<String>, String) {
        decide_with(POLICY, caller, query)
    }

    fn decide_with(policy: &str, caller: &str, query: &str) -> (Decision, Vec<String>, String) {
        let policy = compile("policy.yaml", policy).unwrap();
        let (request, _) = request::parse(&HttpParts {
            method: "GET",
            path: "/",
            query: Some(query),
            content_type: SingleHeader::Absent,
            body: b"",
        })
        .unwrap_or_else(|e| panic!("{query}: {e}"));
        let region = Region::parse("eu-west-1").unwrap();
        let facts = RequestFacts::of(&request, &region, Some(caller));
        let response = policy.is_authorized(&facts);
        let message = response.denial_message(&facts, DenialDetail::Full);
        (response.decision, response.reason, message)
    }

    fn changed(from: &str, to: &str) -> String {
        assert!(CREATE.contains(from), "{from}");
        CREATE.replace(from, to)
    }

    #[test]
    fn the_ingress_keys_are_shorthand_for_parameter_conditions() {
        let shorthand = r#"
rules:
  - id: ingress
    effect: allow
    actions: ["*CacheSecurityGroupIngress"]
    owner_ids: ["1234-5678-1234"]
    cache_security_groups: ["prod-[a-z]+", "shared"]
    ec2_security_groups: ["app-(web|db)"]
  - id: frozen
    effect: deny
    cache_security_groups: ["prod-legacy"]
"#;
        let params = r#"
rules:
  - id: ingress
    effect: allow
    actions: ["*CacheSecurityGroupIngress"]
    params:
      EC2SecurityGroupOwnerId: {one_of: ["123456781234"]}
      CacheSecurityGroupName: {matches: ["prod-[a-z]+", "shared"]}
      EC2SecurityGroupName: {matches: "app-(web|db)"}
  - id: frozen
    effect: deny
    actions: ["*CacheSecurityGroupIngress", DescribeCacheSecurityGroups]
    params:
      CacheSecurityGroupName: {matches: "prod-legacy"}
"#;
        let ingress = |owner: &str, cache: &str, ec2: &str| {
            format!(
                "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
                 &EC2SecurityGroupOwnerId={owner}&CacheSecurityGroupName={cache}&EC2SecurityGroupName={ec2}"
            )
        };
        for (query, decision) in [
            (
                ingress("123456781234", "prod-web", "app-web"),
                Decision::Allow,
            ),
            (
                ingress("1234-5678-1234", "PROD-Web", "APP-DB"),
                Decision::Allow,
            ),
            (ingress("123456781234", "shared", "app-db"), Decision::Allow),
            (
                ingress("999999999999", "prod-web", "app-web"),
                Decision::Deny,
            ),
            (
                ingress("123456781234", "prod-legacy", "app-web"),
                Decision::Deny,
            ),
            (
                ingress("123456781234", "dev-web", "app-web"),
                Decision::Deny,
            ),
            (
                ingress("123456781234", "prod-web", "app-cache"),
                Decision::Deny,
            ),
        ] {
            let (by_shorthand, rules, message) = decide_with(shorthand, "ci", &query);
            assert_eq!(by_shorthand, decision, "{query}: {message}");
            let (by_params, same_rules, _) = decide_with(params, "ci", &query);
            assert_eq!((by_params, same_rules), (by_shorthand, rules), "{query}");
        }
        // The shorthand's denials keep their words.
        let (_, _, message) = decide_with(
            shorthand,
            "ci",
            &ingress("999999999999", "prod-web", "app-web"),
        );
        assert!(
            message.ends_with("rule `ingress`: EC2SecurityGroupOwnerId `999999999999` is not one of its owner ids"),
            "{message}"
        );
        let (_, _, message) =
            decide_with(params, "ci", &ingress("123456781234", "dev-web", "app-web"));
        assert!(
            message.ends_with("rule `ingress`: `CacheSecurityGroupName` `dev-web` matches none of [`prod-[a-z]+`, `shared`]"),
            "{message}"
        );
    }

    #[test]
    fn every_condition_must_hold() {
        assert_eq!(decide("payments", CREATE).0, Decision::Allow);
        for (from, to) in [
            ("SecurityGroupId.2=sg-0bb", "SecurityGroupId.2=sg-0cc"),
            (
                "TransitEncryptionEnabled=true",
                "TransitEncryptionEnabled=false",
            ),
            ("cache.r7g.large", "cache.r7g.4xlarge"),
            ("NumCacheClusters=2", "NumCacheClusters=4"),
            (
                "ReplicationGroupId=Payments-Orders",
                "ReplicationGroupId=orders",
            ),
            ("Tags.Tag.1.Value=payments", "Tags.Tag.1.Value=search"),
            (
                "&CacheNodeType=cache.r7g.large",
                "&CacheNodeType=cache.r7g.large&AuthToken=0123456789abcdef0123",
            ),
        ] {
            let (decision, _, message) = decide("payments", &changed(from, to));
            assert_eq!(decision, Decision::Deny, "{to}");
            assert!(message.contains("rule `payments-create`"), "{message}");
            assert!(!message.contains("0123456789abcdef0123"), "{message}");
        }
        assert_eq!(decide("search", CREATE).0, Decision::Deny);
    }

    #[test]
    fn an_absent_parameter_does_not_match_unless_the_rule_says_so() {
        // Left out of a Create, the VPC's default group would be used.
        let (decision, _, message) = decide(
            "payments",
            &changed(
                "&SecurityGroupIds.SecurityGroupId.1=sg-0aa&SecurityGroupIds.SecurityGroupId.2=sg-0bb",
                "",
            ),
        );
        assert_eq!(decision, Decision::Deny);
        assert!(
            message.contains("the request has no `SecurityGroupIds`"),
            "{message}"
        );
        // A Modify that leaves the groups alone is allowed (`if_absent: match`).
        let modify =
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-orders";
        assert_eq!(decide("payments", modify).0, Decision::Allow);
        let regroup = format!("{modify}&SecurityGroupIds.SecurityGroupId.1=sg-0zz");
        assert_eq!(decide("payments", &regroup).0, Decision::Deny);
        // An empty list is not "leaving the groups alone": AWS's reading of
        // it is not documented, so it matches no allow rule, and the deny
        // rule against a legacy group matches it.
        let cleared = format!("{modify}&SecurityGroupIds=");
        let (decision, rules, _) = decide("payments", &cleared);
        assert_eq!(
            (decision, rules),
            (Decision::Deny, vec!["no-legacy-groups".to_owned()])
        );
        let allow_only = &POLICY[..POLICY.find("  - id: no-auth-token-changes").unwrap()];
        let (decision, rules, message) = decide_with(allow_only, "payments", &cleared);
        assert_eq!((decision, rules), (Decision::Deny, vec![]));
        assert!(
            message.contains("`SecurityGroupIds` is an empty list"),
            "{message}"
        );
    }

    /// Each test on a list's items, on an empty list: in an allow rule it
    /// does not match unless the rule says `if_empty: match`; in a deny
    /// rule it matches unless the rule says `if_empty: no_match`.
    #[test]
    fn an_empty_list_matches_no_allow_rule_and_every_deny_rule() {
        let create = "Action=CreateReplicationGroup&Version=2015-02-02\
            &ReplicationGroupId=g&ReplicationGroupDescription=d";
        for (param, test) in [
            ("SecurityGroupIds", "all_in: [sg-1]"),
            ("SecurityGroupIds", "any_in: [sg-1]"),
            ("SecurityGroupIds", "none_in: [sg-1]"),
            ("Tags", "has_keys: [team]"),
            ("Tags", "tags: {team: payments}"),
        ] {
            let empty = format!("{create}&{param}=");
            for (effect, if_empty, decision) in [
                ("allow", "", Decision::Deny),
                ("allow", ", if_empty: no_match", Decision::Deny),
                ("allow", ", if_empty: match", Decision::Allow),
                ("deny", "", Decision::Deny),
                ("deny", ", if_empty: match", Decision::Deny),
                ("deny", ", if_empty: no_match", Decision::Allow),
            ] {
                let policy = format!(
                    "rules:\n  - id: everything\n    effect: allow\n    actions: [CreateReplicationGroup]\n  \
                     - id: r\n    effect: {effect}\n    actions: [CreateReplicationGroup]\n    \
                     params:\n      {param}: {{{test}{if_empty}}}\n"
                );
                // The allow-rule cases test `r` alone.
                let policy = if effect == "allow" {
                    policy.replace("  - id: everything\n    effect: allow\n    actions: [CreateReplicationGroup]\n", "")
                } else {
                    policy
                };
                let (got, _, message) = decide_with(&policy, "ci", &empty);
                assert_eq!(
                    got, decision,
                    "{effect} {param}: {{{test}{if_empty}}}: {message}"
                );
            }
        }
        // `if_empty` belongs to tests on items only.
        let found = errors(
            "      TransitEncryptionEnabled: {one_of: [true], if_empty: match}\n",
            "[CreateReplicationGroup]",
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("`if_empty` applies to tests on a list's items")),
            "{found:?}"
        );
        let found = errors(
            "      SecurityGroupIds: {all_in: [sg-1], if_empty: yes}\n",
            "[CreateReplicationGroup]",
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("`if_empty` must be `match` or `no_match`")),
            "{found:?}"
        );
    }

    #[test]
    fn denies_win_and_excepted_callers_are_exempt() {
        let modify =
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-orders\
            &AuthToken=0123456789abcdef0123&AuthTokenUpdateStrategy=ROTATE";
        let (decision, rules, message) = decide("payments", modify);
        assert_eq!(
            (decision, rules),
            (Decision::Deny, vec!["no-auth-token-changes".to_owned()])
        );
        assert!(!message.contains("0123456789abcdef0123"), "{message}");
        assert_eq!(decide("break-glass", modify).0, Decision::Allow);
        let legacy = changed("SecurityGroupId.2=sg-0bb", "SecurityGroupId.2=sg-0legacy");
        assert_eq!(
            decide("payments", &legacy).1,
            vec!["no-legacy-groups".to_owned()]
        );
    }

    fn errors(conditions: &str, actions: &str) -> Vec<String> {
        let text = format!(
            "rules:\n  - id: r\n    effect: allow\n    actions: {actions}\n    params:\n{conditions}"
        );
        match compile("p.yaml", &text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.to_string().lines().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn conditions_are_checked_against_the_model() {
        let cases = [
            (
                "      SecurityGroupId: {all_in: [sg-1]}\n",
                "did you mean `SecurityGroupIds`?",
            ),
            (
                "      SecurityGroupIds: {all_in: [sg-1]}\n",
                "is not a parameter of CreateUser",
            ),
            (
                "      TransitEncryptionEnabled: {one_of: [\"yes\"]}\n",
                "is not a boolean",
            ),
            (
                "      NumCacheClusters: {range: [5, 1]}\n",
                "`range` must be `[min, max]`",
            ),
            (
                "      NumCacheClusters: {matches: \"[0-9]\"}\n",
                "does not apply to `NumCacheClusters`",
            ),
            ("      AuthToken: {matches: \".*\"}\n", "carries a secret"),
            (
                "      TransitEncryptionMode: {one_of: [Required]}\n",
                "did you mean `required`?",
            ),
            (
                "      CacheNodeType: {one_off: [x]}\n",
                "did you mean `one_of`?",
            ),
            (
                "      CacheNodeType: {matches: \"(\"}\n",
                "is not a valid regex",
            ),
            ("      SecurityGroupIds: {all_in: []}\n", "empty"),
        ];
        for (conditions, expected) in cases {
            let actions = if expected.contains("CreateUser") {
                "[CreateReplicationGroup, CreateUser]"
            } else {
                "[CreateReplicationGroup]"
            };
            let found = errors(conditions, actions);
            assert!(
                found.iter().any(|e| e.contains(expected)),
                "{conditions}: {found:?}"
            );
        }
        assert!(errors(
            "      SecurityGroupIds: {all_in: [sg-1]}\n",
            "[\"Create*\"]"
        )
        .iter()
        .any(|e| e.contains("is not a parameter of")));
        // The name is right, the actions too many: say which lack it and
        // which to keep, not a did-you-mean of the name itself.
        let found = errors(
            "      SecurityGroupIds: {all_in: [sg-1]}\n",
            "[\"Modify*\"]",
        );
        let [_, line] = &found[..] else {
            panic!("{found:?}");
        };
        assert!(
            line.contains("`SecurityGroupIds` is not a parameter of ModifyCacheParameterGroup")
                && line.contains("narrow `actions` to those that have it: [ModifyCacheCluster, ModifyReplicationGroup")
                && !line.contains("did you mean"),
            "{line}"
        );
    }

    #[test]
    fn a_value_written_for_a_secret_is_not_shown() {
        for (conditions, actions, expected) in [
            (
                "      AuthToken: {present: \"hunter2-x\"}\n",
                "[CreateReplicationGroup]",
                "`present` must be `true` or `false`, not the value written (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      AuthToken: {present: true, if_absent: \"hunter2-x\"}\n",
                "[CreateReplicationGroup]",
                "`if_absent` must be `match` or `no_match`, not the value written (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      AuthToken: {hunter2-x: true}\n",
                "[CreateReplicationGroup]",
                "`params.AuthToken`: an unknown condition (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      Passwords: {present: hunter2-x}\n",
                "[CreateUser]",
                "not the value written (not shown: `Passwords` carries a secret)",
            ),
        ] {
            let found = errors(conditions, actions);
            assert!(
                found.iter().any(|e| e.contains(expected)),
                "{conditions}: {found:?}"
            );
            assert!(
                found.iter().all(|e| !e.contains("hunter2")),
                "{conditions}: {found:?}"
            );
        }
        // Other members' values are still shown.
        let found = errors(
            "      CacheNodeType: {present: yes-please}\n",
            "[CreateReplicationGroup]",
        );
        assert!(
            found.iter().any(|e| e.contains("not `yes-please`")),
            "{found:?}"
        );
    }
}
