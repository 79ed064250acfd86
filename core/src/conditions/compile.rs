//! Compilation: `params:` conditions read from the policy's YAML and
//! checked against the service model, every problem reported at its key.

use serde_yaml::Value as Yaml;

use super::kind::{Scalar, Test, TestKind, Type};
use super::path::{target_of, Target};
use super::template::{Template, TemplatePattern, Text};
use super::{default_value, policy_form, IfAbsent, Origin, ParamCondition};
use crate::diagnostics::{Diagnostics, ErrorKind, Place};
use crate::model::{AccountId, Action};
use crate::names::NameCase;
use crate::patterns::{NameMatcher, NamePattern};
use crate::service_model::{Kind, Member};
use crate::text::backticked;
use crate::text::did_you_mean;

/// Bound on one condition's regex, so a policy cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles `params:` (at `place`) for a rule of `actions`; `deny` says
/// whether the rule is a deny rule. Every problem is reported; `None` when
/// there was one.
pub(crate) fn compile(
    value: &Yaml,
    actions: &[Action],
    deny: bool,
    place: &Place,
    out: &mut Diagnostics,
) -> Option<Vec<ParamCondition>> {
    let before = out.errors.len();
    let Yaml::Mapping(map) = value else {
        out.report(
            place
                .error(
                    ErrorKind::WrongType,
                    "`params` must be a mapping from parameter names to conditions",
                )
                .hint("write `params: {SecurityGroupIds: {all_in: [sg-0123]}}`"),
        );
        return None;
    };
    if map.is_empty() {
        out.report(
            place
                .error(ErrorKind::Empty, "`params` is empty")
                .hint("leave `params` out to match any parameters"),
        );
    }
    let mut compiled = Vec::new();
    for (key, condition) in map {
        let Some(name) = key.as_str() else {
            out.report(place.error(
                ErrorKind::WrongType,
                format!("parameter name `{}` is not a string", yaml_text(key)),
            ));
            continue;
        };
        let at = place.child(name);
        let Some(target) = target_of(name, actions, &at, out) else {
            continue;
        };
        if let Some(one) = compile_one(&target, condition, actions, deny, &at, out) {
            compiled.push(one);
        }
    }
    (out.errors.len() == before).then_some(compiled)
}

/// The parameter, the same in every one of the rule's actions.
pub(super) fn member_of(
    name: &str,
    actions: &[Action],
    place: &Place,
    out: &mut Diagnostics,
) -> Option<&'static Member> {
    let mut found: Option<&'static Member> = None;
    let mut lacking = Vec::new();
    let mut having = Vec::new();
    for action in actions {
        match action.operation().member(name) {
            Some(member) => {
                if found.is_some_and(|f| Type::of(f.shape()) != Type::of(member.shape())) {
                    out.report(
                        place
                            .error(
                                ErrorKind::UnknownName,
                                format!("`{name}` has a different type in {action} than in the rule's other actions"),
                            )
                            .hint("split the rule by action"),
                    );
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
        format!(
            "narrow `actions` to those that have it: [{}]",
            first_few(&having, 8).join(", ")
        )
    } else {
        match did_you_mean(name, names) {
            Some(close) => format!("did you mean `{close}`?"),
            None => "parameters are named as the Query API names them, e.g. `SecurityGroupIds` or `CacheNodeType`"
                .into(),
        }
    };
    out.report(
        place
            .error(
                ErrorKind::UnknownName,
                format!(
                    "`{name}` is not a parameter of {}",
                    first_few(&lacking, 3).join(", ")
                ),
            )
            .hint(hint),
    );
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

/// One parameter's condition, at `place` (`params.NAME`).
fn compile_one(
    target: &Target,
    condition: &Yaml,
    actions: &[Action],
    deny: bool,
    place: &Place,
    out: &mut Diagnostics,
) -> Option<ParamCondition> {
    let name = target.label();
    let parameter = Type::of(target.shape);
    let keys = TestKind::keys_for(parameter);
    let Yaml::Mapping(map) = condition else {
        out.report(
            place
                .error(
                    ErrorKind::WrongType,
                    format!("the condition on `{name}` must be a mapping"),
                )
                .hint(format!(
                    "write `{name}: {{{}: …}}`",
                    keys[keys.len().min(2) - 1]
                )),
        );
        return None;
    };
    let mut tests = Vec::new();
    let mut if_absent = IfAbsent::NoMatch { written: false };
    let mut if_empty = None;
    let before = out.errors.len();
    for (key, value) in map {
        let key = key.as_str().unwrap_or("");
        let at = place.child(key);
        if key == "if_absent" {
            if let Some(compiled) = compile_if_absent(value, target, actions, &at, out) {
                if_absent = compiled;
            }
            continue;
        }
        if key == "if_empty" {
            if_empty = match_or_not(key, value, target, &at, out).or(if_empty);
            continue;
        }
        let Some(kind) = TestKind::from_key(key) else {
            out.report(unknown_condition(key, target, place));
            continue;
        };
        if target.secret && kind != TestKind::Present {
            out.report(
                at.error(
                    ErrorKind::Secret,
                    format!(
                        "`{name}` carries a secret: a policy may only test whether it is `present`"
                    ),
                )
                .hint(format!(
                    "write `{name}: {{present: true}}` or `{{present: false}}`"
                )),
            );
            continue;
        }
        if !kind.applies_to(parameter) {
            out.report(
                at.error(
                    ErrorKind::NotApplicable,
                    format!(
                        "`{key}` does not apply to `{name}`, which is {}",
                        parameter.describe()
                    ),
                )
                .hint(format!("for it use {}", backticked(&keys))),
            );
            continue;
        }
        if let Some(test) = compile_test(kind, value, target, parameter, &at, out) {
            tests.push(test);
        }
    }
    if out.errors.len() > before {
        return None;
    }
    let test = match tests.len() {
        1 => tests.pop()?,
        0 => {
            out.report(
                place
                    .error(
                        ErrorKind::Missing,
                        format!("the condition on `{name}` tests nothing"),
                    )
                    .hint(format!("add one of {}", keys.join(", "))),
            );
            return None;
        }
        _ => {
            out.report(
                place
                    .error(
                        ErrorKind::Conflict,
                        format!("the condition on `{name}` has more than one test"),
                    )
                    .hint("give each parameter one test (besides `if_absent`)"),
            );
            return None;
        }
    };
    if matches!(test, Test::Present(_)) && matches!(if_absent, IfAbsent::Default(_)) {
        out.report(place.child("if_absent").error(
            ErrorKind::NotApplicable,
            "`present` tests whether the parameter is sent, not its value; `if_absent: default` does not apply to it",
        ));
        return None;
    }
    if matches!(test, Test::Present(false)) && !matches!(if_absent, IfAbsent::NoMatch { .. }) {
        out.report(place.error(
            ErrorKind::Conflict,
            "`present: false` already matches an absent parameter; `if_absent` adds nothing",
        ));
    }
    // A path through a list's items has an empty list to settle whatever
    // its test.
    let through_items = target.path.as_ref().is_some_and(|p| p.has_items());
    if if_empty.is_some() && !test.kind().is_on_items(parameter) && !through_items {
        let on_items: Vec<&str> = TestKind::ALL
            .iter()
            .filter(|kind| kind.is_on_items(Type::StringList))
            .map(|kind| kind.key())
            .collect();
        out.report(place.child("if_empty").error(
            ErrorKind::NotApplicable,
            format!(
                "`if_empty` applies to tests on a list's items ({}), not to `{}` on `{name}`, which is {}",
                backticked(&on_items),
                test.kind().key(),
                parameter.describe()
            ),
        ));
        return None;
    }
    Some(ParamCondition {
        name: target.top.query_name(),
        test,
        if_absent,
        if_empty: if_empty.unwrap_or(deny),
        unjudged: deny,
        also: None,
        case: target.case,
        origin: Origin::Params,
        path: target.path.clone(),
    })
}

/// `if_absent`: `match`, `no_match`, or `default`, which needs the same
/// documented default in each of the rule's actions.
fn compile_if_absent(
    value: &Yaml,
    target: &Target,
    actions: &[Action],
    at: &Place,
    out: &mut Diagnostics,
) -> Option<IfAbsent> {
    if value.as_str() != Some("default") {
        return match match_or_not("if_absent", value, target, at, out)? {
            true => Some(IfAbsent::Match),
            false => Some(IfAbsent::NoMatch { written: true }),
        };
    }
    if let Some(path) = &target.path {
        out.report(
            at.error(
                ErrorKind::NotApplicable,
                format!("AWS documents no default of a nested member such as `{path}`, expected a parameter for `if_absent: default`"),
            )
            .hint("say `if_absent: match` or `no_match`"),
        );
        return None;
    }
    let name = target.top.query_name();
    let defaults: Vec<_> = actions
        .iter()
        .map(|action| (action, action.operation().documented_default(name)))
        .collect();
    let lacking: Vec<&str> = defaults
        .iter()
        .filter(|(_, default)| default.is_none())
        .map(|(action, _)| action.name())
        .collect();
    let having: Vec<&str> = defaults
        .iter()
        .filter(|(_, default)| default.is_some())
        .map(|(action, _)| action.name())
        .collect();
    if !lacking.is_empty() {
        let hint = if having.is_empty() {
            "say `if_absent: match` or `no_match`; core/model/defaults.json lists the defaults AWS documents".to_owned()
        } else {
            format!(
                "give {} a rule of its own, or say `if_absent: match` or `no_match`",
                first_few(&having, 3).join(", ")
            )
        };
        out.report(
            at.error(
                ErrorKind::NotApplicable,
                format!(
                    "AWS documents no default of `{name}` in {}, expected one for `if_absent: default`",
                    first_few(&lacking, 3).join(", ")
                ),
            )
            .hint(hint),
        );
        return None;
    }
    match defaults.as_slice() {
        [(_, Some(first)), rest @ ..] if rest.iter().all(|(_, d)| *d == Some(*first)) => {
            Some(IfAbsent::Default(Box::new(default_value(*first))))
        }
        _ => {
            out.report(
                at.error(
                    ErrorKind::Conflict,
                    format!("AWS documents different defaults of `{name}` in the rule's actions, expected one for `if_absent: default`"),
                )
                .hint("split the rule by action"),
            );
            None
        }
    }
}

/// `if_absent` or `if_empty`: `match` or `no_match`.
fn match_or_not(
    key: &str,
    value: &Yaml,
    target: &Target,
    at: &Place,
    out: &mut Diagnostics,
) -> Option<bool> {
    match value.as_str() {
        Some("match") => Some(true),
        Some("no_match") => Some(false),
        _ => {
            out.report(at.error(
                ErrorKind::NotOneOf,
                format!(
                    "`{key}` must be {}, not {}",
                    if key == "if_absent" {
                        "`match`, `no_match` or `default`"
                    } else {
                        "`match` or `no_match`"
                    },
                    written(value, target)
                ),
            ));
            None
        }
    }
}

/// A key that is no condition's. On a secret member, reported at the
/// parameter without the key: the key may be the secret itself, written by
/// mistake.
fn unknown_condition(key: &str, target: &Target, place: &Place) -> crate::diagnostics::Diagnostic {
    let name = target.label();
    if target.secret {
        return place
            .error(
                ErrorKind::UnknownKey,
                format!("an unknown condition (not shown: `{name}` carries a secret)"),
            )
            .hint(format!(
                "write `{name}: {{present: true}}` or `{{present: false}}`"
            ));
    }
    let keys: Vec<&str> = TestKind::condition_keys().collect();
    let hint = did_you_mean(key, keys.iter().copied()).map_or_else(
        || format!("condition keys are {}", keys.join(", ")),
        |s| format!("did you mean `{s}`?"),
    );
    place
        .child(key)
        .error(ErrorKind::UnknownKey, format!("unknown condition `{key}`"))
        .hint(hint)
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
        also: None,
        if_absent: IfAbsent::NoMatch { written: false },
        if_empty: deny,
        unjudged: deny,
        case: None,
        origin: Origin::Shorthand("owner_ids"),
        path: None,
    }
}

/// `cache_security_groups` or `ec2_security_groups`: the request's group
/// name matches one of the patterns, and so do the items of `list`, the
/// parameter that names several such groups in other actions (judged item
/// by item, as `matches` judges a list).
pub(crate) fn group_names(
    key: &'static str,
    name: &'static str,
    list: Option<&'static str>,
    matcher: NameMatcher,
    deny: bool,
) -> ParamCondition {
    ParamCondition {
        name,
        also: list,
        case: Some(matcher.case),
        test: Test::Matches(matcher),
        if_absent: IfAbsent::NoMatch { written: false },
        if_empty: deny,
        unjudged: deny,
        origin: Origin::Shorthand(key),
        path: None,
    }
}

/// Whether a list of values holds a reference to the caller.
fn refers_to_caller(value: &Yaml) -> bool {
    match value {
        Yaml::Sequence(items) => items.iter().any(refers_to_caller),
        Yaml::String(s) => s.contains("${"),
        _ => false,
    }
}

/// `matches`: the patterns, those that refer to the caller's tags each
/// compiled around its references.
fn matches_test(
    patterns: Vec<String>,
    case: Option<NameCase>,
    at: &Place,
    out: &mut Diagnostics,
) -> Option<Test> {
    let mut templates = Vec::new();
    let mut others = Vec::new();
    let mut ok = true;
    for pattern in patterns {
        match Template::parse(&pattern) {
            Ok(None) => others.push(pattern),
            Ok(Some(template)) => {
                let compiled = TemplatePattern::new(pattern.clone(), &template, case, |piece| {
                    let mut errors = Diagnostics::new("", "");
                    let matcher = name_matcher(
                        vec![piece.to_owned()],
                        case,
                        REGEX_SIZE_LIMIT,
                        at,
                        &mut errors,
                    );
                    if matcher.is_none() {
                        out.report(
                            at.error(
                                ErrorKind::InvalidValue,
                                format!("in `{pattern}`, `{piece}` between references is not a regex of its own"),
                            )
                            .hint("a reference such as `${caller.tags.team}` stands outside groups, classes and repetitions: `${caller.tags.team}-[a-z0-9-]+`"),
                        );
                    }
                    matcher
                });
                match compiled {
                    Some(compiled) => templates.push(compiled),
                    None => ok = false,
                }
            }
            Err(e) => {
                ok = false;
                out.report(at.error(ErrorKind::InvalidValue, e));
            }
        }
    }
    if !ok {
        return None;
    }
    if templates.is_empty() {
        return name_matcher(others, case, REGEX_SIZE_LIMIT, at, out).map(Test::Matches);
    }
    let others = match others.is_empty() {
        true => None,
        false => Some(Box::new(name_matcher(
            others,
            case,
            REGEX_SIZE_LIMIT,
            at,
            out,
        )?)),
    };
    Some(Test::MatchesTemplate { templates, others })
}

/// Compiles whole-name patterns as `case` compares names (`None`: as
/// written, which is how names stored in lower case compare too). Every
/// problem is reported at `place`.
pub(crate) fn name_matcher(
    patterns: Vec<String>,
    case: Option<NameCase>,
    size_limit: usize,
    place: &Place,
    out: &mut Diagnostics,
) -> Option<NameMatcher> {
    let case = case.unwrap_or(NameCase::StoredLowercase);
    let mut ok = true;
    let mut compiled = Vec::with_capacity(patterns.len());
    for pattern in &patterns {
        if pattern.is_empty() {
            ok = false;
            out.report(
                place
                    .error(ErrorKind::Empty, "empty regex")
                    .hint("leave the condition out to match any name"),
            );
            continue;
        }
        match NamePattern::compile(pattern, case) {
            Ok(matcher) => compiled.push(matcher),
            Err(e) => {
                ok = false;
                out.report(
                    place
                        .error(
                            ErrorKind::InvalidValue,
                            format!("`{pattern}` is not a valid regex: {}", regex_reason(&e)),
                        )
                        .hint("regexes use Rust regex syntax and must match the whole name, e.g. `prod-[a-z0-9-]+`"),
                );
            }
        }
    }
    if !ok || patterns.is_empty() {
        return None;
    }
    NameMatcher::new(patterns, compiled, case, size_limit)
        .map_err(|e| {
            out.report(
                place
                    .error(
                        ErrorKind::InvalidValue,
                        format!("regexes are too large to compile: {}", regex_reason(&e)),
                    )
                    .hint("simplify the patterns or split the rule"),
            )
        })
        .ok()
}

/// The regex engine's reason, without its echo of the pattern.
pub(crate) fn regex_reason(error: &regex::Error) -> String {
    error
        .to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// One test of a kind that applies to the parameter, from its YAML value.
fn compile_test(
    kind: TestKind,
    value: &Yaml,
    target: &Target,
    parameter: Type,
    at: &Place,
    out: &mut Diagnostics,
) -> Option<Test> {
    let case = target.case;
    match kind {
        TestKind::Present => match value {
            Yaml::Bool(b) => Some(Test::Present(*b)),
            other => {
                out.report(at.error(
                    ErrorKind::WrongType,
                    format!(
                        "`present` must be `true` or `false`, not {}",
                        written(other, target)
                    ),
                ));
                None
            }
        },
        TestKind::OneOf => {
            let items = sequence(value, at, out)?;
            let mut scalars = Vec::new();
            for item in items {
                if let Some(scalar) = scalar(item, target, parameter, at, out) {
                    scalars.push(scalar);
                }
            }
            (scalars.len() == items.len()).then_some(Test::OneOf(scalars))
        }
        TestKind::Matches => {
            let patterns = match value {
                Yaml::String(pattern) => vec![pattern.clone()],
                Yaml::Sequence(_) => strings(value, at, out)?,
                _ => {
                    out.report(at.error(
                        ErrorKind::WrongType,
                        "`matches` must be a quoted regex or a list of them",
                    ));
                    return None;
                }
            };
            matches_test(patterns, case, at, out)
        }
        TestKind::Range => {
            let items = sequence(value, at, out)?;
            let bounds: Vec<i64> = items.iter().filter_map(Yaml::as_i64).collect();
            match bounds[..] {
                [min, max] if items.len() == 2 && min <= max => Some(Test::Range { min, max }),
                _ => {
                    out.report(
                        at.error(
                            ErrorKind::InvalidValue,
                            "`range` must be `[min, max]`, two integers with min at most max",
                        )
                        .hint("write `range: [1, 6]`"),
                    );
                    None
                }
            }
        }
        TestKind::AllIn | TestKind::AnyIn | TestKind::NoneIn | TestKind::HasKeys
            if refers_to_caller(value) =>
        {
            out.report(
                at.error(
                    ErrorKind::NotApplicable,
                    format!(
                        "`{}` takes values as written, not references to the caller such as `${{caller.tags.team}}`",
                        kind.key()
                    ),
                )
                .hint("use `matches` or `one_of`, which take references"),
            );
            None
        }
        TestKind::AllIn => Some(Test::AllIn(normalized_strings(value, case, at, out)?)),
        TestKind::AnyIn => Some(Test::AnyIn(normalized_strings(value, case, at, out)?)),
        TestKind::NoneIn => Some(Test::NoneIn(normalized_strings(value, case, at, out)?)),
        // Tag keys compare as written.
        TestKind::HasKeys => Some(Test::HasKeys(strings(value, at, out)?)),
        TestKind::Tags => {
            let Yaml::Mapping(map) = value else {
                out.report(
                    at.error(
                        ErrorKind::WrongType,
                        "`tags` must be a mapping of tag keys to values",
                    )
                    .hint("write `tags: {team: payments}`"),
                );
                return None;
            };
            let mut tags = Vec::new();
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    (Some(k), Some(v)) => match Text::parse(v) {
                        Ok(text) => tags.push((k.to_owned(), text)),
                        Err(e) => {
                            out.report(at.child(k).error(ErrorKind::InvalidValue, e));
                        }
                    },
                    _ => {
                        out.report(at.error(
                            ErrorKind::WrongType,
                            format!(
                                "tag `{}: {}` must be a string key and a quoted string value",
                                yaml_text(k),
                                yaml_text(v)
                            ),
                        ));
                    }
                }
            }
            (tags.len() == map.len() && !tags.is_empty()).then_some(Test::Tags(tags))
        }
    }
}

fn sequence<'a>(value: &'a Yaml, at: &Place, out: &mut Diagnostics) -> Option<&'a Vec<Yaml>> {
    match value {
        Yaml::Sequence(items) if !items.is_empty() => Some(items),
        Yaml::Sequence(_) => {
            out.report(at.error(
                ErrorKind::Empty,
                "the list is empty and would match nothing",
            ));
            None
        }
        other => {
            out.report(
                at.error(
                    ErrorKind::WrongType,
                    format!("expected a list, not `{}`", yaml_text(other)),
                )
                .hint("write `[value, …]`"),
            );
            None
        }
    }
}

fn strings(value: &Yaml, at: &Place, out: &mut Diagnostics) -> Option<Vec<String>> {
    let items = sequence(value, at, out)?;
    let mut found = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str() {
            Some(s) => found.push(s.to_owned()),
            None => {
                out.report(
                    at.error(
                        ErrorKind::WrongType,
                        format!("`{}` is not a string", yaml_text(item)),
                    )
                    .hint("quote the value"),
                );
            }
        }
    }
    (found.len() == items.len()).then_some(found)
}

/// A list of names, each in the form the request's are compared in.
fn normalized_strings(
    value: &Yaml,
    case: Option<NameCase>,
    at: &Place,
    out: &mut Diagnostics,
) -> Option<Vec<String>> {
    let items = strings(value, at, out)?;
    Some(
        items
            .iter()
            .map(|s| policy_form(case, s).into_owned())
            .collect(),
    )
}

/// One `one_of` value, typed as the parameter is; strings are checked
/// against the model's enum.
fn scalar(
    item: &Yaml,
    target: &Target,
    parameter: Type,
    at: &Place,
    out: &mut Diagnostics,
) -> Option<Scalar> {
    let name = target.label();
    let wrong = |out: &mut Diagnostics| {
        out.report(at.error(
            ErrorKind::WrongType,
            format!(
                "`{}` is not {}, as `{name}` is",
                yaml_text(item),
                parameter.describe()
            ),
        ));
        None
    };
    match (parameter, item) {
        (Type::Boolean, Yaml::Bool(b)) => Some(Scalar::Boolean(*b)),
        (Type::Integer, Yaml::Number(n)) => match n.as_i64() {
            Some(n) => Some(Scalar::Integer(n)),
            None => wrong(out),
        },
        (Type::String, Yaml::String(s)) if s.contains("${") => match Template::parse(s) {
            Ok(Some(template)) => Some(Scalar::Template(template)),
            Ok(None) => Some(Scalar::String(policy_form(target.case, s).into_owned())),
            Err(e) => {
                out.report(at.error(ErrorKind::InvalidValue, e));
                None
            }
        },
        (Type::String, Yaml::String(s)) => {
            if let Kind::String(string) = target.shape.kind() {
                let allowed = string.enum_values();
                if !allowed.is_empty() && !allowed.contains(&s.as_str()) {
                    out.report(
                        at.error(
                            ErrorKind::NotOneOf,
                            format!(
                                "`{s}` is not a value of `{name}`, which is one of {}",
                                backticked(allowed)
                            ),
                        )
                        .maybe_hint(
                            did_you_mean(s, allowed.iter().copied())
                                .map(|c| format!("did you mean `{c}`?")),
                        ),
                    );
                    return None;
                }
            }
            Some(Scalar::String(policy_form(target.case, s).into_owned()))
        }
        _ => wrong(out),
    }
}

/// A value written in a condition, quoted; for a secret member, not shown,
/// since it may be the secret itself, written by mistake.
fn written(value: &Yaml, target: &Target) -> String {
    if target.secret {
        format!(
            "the value written (not shown: `{}` carries a secret)",
            target.label()
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
