//! Evaluation: a compiled condition against a request's typed
//! parameters, and the words for why a request failed it.

use std::borrow::Cow;
use std::sync::Arc;

use super::kind::{Scalar, Test, Type};
use super::policy_form;
use super::template::Text;
use super::{IfAbsent, Origin, ParamCondition};
use crate::caller_tags::CallerTags;
use crate::model::Action;
use crate::names::NameCase;
use crate::param_path::{Gap, LookedAt, ParamPath, Reached};
use crate::params::{Params, Value, SECRET};

/// Most places along a nested path a denial's explanation looks through
/// for the one that failed.
const MAX_PLACES_DESCRIBED: usize = 4096;
use crate::patterns::NameMatcher;
use crate::text::{backticked, quoted};

/// A request's value in the form the policy's values are compared in.
pub(crate) fn key_of(case: Option<NameCase>, value: &str) -> Cow<'_, str> {
    match case {
        Some(case) => case.key(value),
        None => Cow::Borrowed(value),
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
        // A rule that may match without the parameter is a candidate for
        // every request: it cannot be posted under values.
        if !matches!(self.if_absent, IfAbsent::NoMatch { .. }) || self.path.is_some() {
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

    /// The parameters it reads: its own, and the one naming the same
    /// things in other actions.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.also)
    }

    /// The caller tags its values refer to.
    pub fn caller_tag_keys(&self) -> Vec<&str> {
        let keys: Vec<&str> = match &self.test {
            Test::OneOf(options) => options
                .iter()
                .flat_map(|option| match option {
                    Scalar::Template(template) => template.keys(),
                    Scalar::String(_) | Scalar::Boolean(_) | Scalar::Integer(_) => &[],
                })
                .map(String::as_str)
                .collect(),
            Test::MatchesTemplate { templates, .. } => templates
                .iter()
                .flat_map(|t| t.keys())
                .map(String::as_str)
                .collect(),
            Test::Tags(wanted) => wanted
                .iter()
                .flat_map(|(_, v)| v.keys())
                .map(String::as_str)
                .collect(),
            Test::Present(_)
            | Test::Matches(_)
            | Test::Range { .. }
            | Test::AllIn(_)
            | Test::AnyIn(_)
            | Test::NoneIn(_)
            | Test::HasKeys(_) => Vec::new(),
        };
        keys
    }

    /// How warnings name what it tests: its parameter, or its path.
    pub fn label(&self) -> &str {
        self.path.as_ref().map_or(self.name, |path| path.as_str())
    }

    /// What it looks at, for the audit line: its parameters, or its path.
    pub fn looked_at(&self) -> impl Iterator<Item = LookedAt> + '_ {
        let path = self.path.as_ref().map(|p| LookedAt::Path(Arc::clone(p)));
        let names = self
            .path
            .is_none()
            .then(|| self.names().map(LookedAt::Param))
            .into_iter()
            .flatten();
        path.into_iter().chain(names)
    }

    /// Whether the request's parameters satisfy the condition: every one
    /// of its parameters the request carries must (no action has both of a
    /// shorthand's today, and one that did could not slip the other by).
    pub fn holds(&self, params: &Params, tags: &CallerTags) -> bool {
        let holds = |value: &Value| self.judge(value, tags).unwrap_or(self.unjudged);
        // Looked up one by one, with no iterator to build: this runs for
        // every condition of every candidate rule.
        let first = params.get(self.name);
        if let Some(path) = &self.path {
            let gap = |gap| match gap {
                Gap::Absent => self.holds_absent(tags),
                Gap::Empty => self.if_empty,
                Gap::Mistyped => self.unjudged,
            };
            return match first {
                // A deny rule (`unjudged`) fires on any item, an allow rule
                // needs every one.
                Some(value) => path.holds(value, !self.unjudged, self.if_empty, &gap, &holds),
                None => self.holds_absent(tags),
            };
        }
        let second = self.also.and_then(|also| params.get(also));
        match (first, second) {
            (Some(first), Some(second)) => holds(first) && holds(second),
            (Some(value), None) | (None, Some(value)) => holds(value),
            (None, None) => self.holds_absent(tags),
        }
    }

    /// What the condition says where the request has no value to test.
    fn holds_absent(&self, tags: &CallerTags) -> bool {
        match &self.if_absent {
            IfAbsent::NoMatch { .. } => matches!(self.test, Test::Present(false)),
            IfAbsent::Match => true,
            IfAbsent::Default(value) => self.judge(value, tags).unwrap_or(self.unjudged),
        }
    }

    /// Whether a request that leaves the parameter out, so that AWS uses
    /// `default`, would satisfy the test: for the linter.
    pub fn judges_default(&self, default: &Value) -> bool {
        self.judge(default, &CallerTags::EMPTY) == Some(true)
    }

    /// The test's answer for a value the request carries; `None` for a
    /// value it cannot judge (an empty list, for a test on items, or a
    /// value of another type than the model's), which the rule's effect
    /// settles. Every kind of test has its arm, so a new kind cannot be
    /// added without its evaluation.
    /// `tags` are the caller's, for values that refer to them: a caller
    /// without a tag a value needs cannot be judged.
    fn judge(&self, value: &Value, tags: &CallerTags) -> Option<bool> {
        let items = || match value {
            Value::List(items) if items.is_empty() => Some(Err(self.if_empty)),
            Value::List(items) => Some(Ok(items)),
            _ => None,
        };
        // Items checked for their type first, then compared one by one:
        // no list is copied on the request path.
        let in_set = |set: &[String], item: &Value| {
            item.as_str().is_some_and(|item| {
                let key = key_of(self.case, item);
                set.iter().any(|s| *s == key)
            })
        };
        let strings = |items: &[Value]| items.iter().all(|i| i.as_str().is_some()).then_some(());
        let all_tags = |items: &[Value]| items.iter().all(|t| tag(t).is_some()).then_some(());
        Some(match &self.test {
            Test::Present(present) => *present,
            Test::OneOf(options) => match value {
                Value::String(v) => {
                    let v = key_of(self.case, v);
                    let mut unresolved = false;
                    let found = options.iter().any(|option| match option {
                        Scalar::String(s) => *s == v,
                        Scalar::Template(template) => match template.render(tags) {
                            Some(s) => policy_form(self.case, &s) == v,
                            None => {
                                unresolved = true;
                                false
                            }
                        },
                        Scalar::Boolean(_) | Scalar::Integer(_) => false,
                    });
                    // A caller without the tag is not judged: neither the
                    // other options nor the rule's effect may let it pass.
                    if unresolved {
                        return None;
                    }
                    found
                }
                Value::Boolean(v) => options.contains(&Scalar::Boolean(*v)),
                Value::Integer(v) => options.contains(&Scalar::Integer(*v)),
                Value::Timestamp(_) | Value::List(_) | Value::Structure(_) | Value::Map(_) => {
                    return None
                }
            },
            // Item by item, as if each were sent alone: an allow rule needs
            // every item to match, a deny rule fires on any (`unjudged` is
            // true in a deny rule).
            Test::Matches(matcher) => match_names(value, self.if_empty, self.unjudged, |name| {
                Some(matcher.is_match(&key_of(self.case, name)))
            })?,
            Test::MatchesTemplate { templates, others } => {
                match_names(value, self.if_empty, self.unjudged, |name| {
                    let name = key_of(self.case, name);
                    let mut found = others.as_ref().is_some_and(|m| m.is_match(&name));
                    for template in templates {
                        found |= template.is_match(&name, tags)?;
                    }
                    Some(found)
                })?
            }
            Test::Range { min, max } => match value {
                Value::Integer(v) => (min..=max).contains(&v),
                _ => return None,
            },
            Test::AllIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    strings(items)?;
                    items.iter().all(|i| in_set(set, i))
                }
            },
            Test::AnyIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    strings(items)?;
                    items.iter().any(|i| in_set(set, i))
                }
            },
            Test::NoneIn(set) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    strings(items)?;
                    !items.iter().any(|i| in_set(set, i))
                }
            },
            Test::HasKeys(keys) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    all_tags(items)?;
                    keys.iter().all(|k| {
                        items
                            .iter()
                            .any(|t| tag(t).is_some_and(|(key, _)| key == k))
                    })
                }
            },
            Test::Tags(wanted) => match items()? {
                Err(if_empty) => if_empty,
                Ok(items) => {
                    all_tags(items)?;
                    let mut all = true;
                    for (k, v) in wanted {
                        let v = v.resolve(tags)?;
                        all &= items
                            .iter()
                            .any(|t| tag(t) == Some((k.as_str(), Some(&*v))));
                    }
                    all
                }
            },
        })
    }

    /// The first item of a list that fails a `matches` test.
    fn unmatched<'v>(&self, value: &'v Value) -> Option<&'v str> {
        match (&self.test, value) {
            (Test::Matches(matcher), Value::List(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .find(|item| !matcher.is_match(&key_of(self.case, item))),
            _ => None,
        }
    }

    /// Why a request failed it, for a denial's explanation. A secret's
    /// value is never shown (only `present` tests one, and says nothing of
    /// its value).
    /// `action` is the request's: an absent parameter is named as that
    /// action calls it.
    pub fn describe_failure(&self, action: Action, params: &Params, tags: &CallerTags) -> String {
        if let Some(key) = self
            .caller_tag_keys()
            .into_iter()
            .find(|key| tags.get(key).is_none_or(str::is_empty))
        {
            return format!(
                "the caller has no tag `{key}`, which the condition on `{}` refers to",
                self.label()
            );
        }
        if let Some(path) = &self.path {
            return self.describe_path_failure(path, params, tags);
        }
        let entry = self.names().find_map(|name| params.entry(name));
        let name = entry.map_or_else(
            || {
                self.names()
                    .find(|name| action.operation().member(name).is_some())
                    .unwrap_or(self.name)
            },
            |(member, _)| member.query_name(),
        );
        if let Origin::Shorthand(key) = self.origin {
            let value = entry.map(|(_, value)| value);
            let is_list = matches!(value, Some(Value::List(_)));
            let empty = matches!(value, Some(Value::List(items)) if items.is_empty());
            return match value.and_then(Value::as_str) {
                _ if empty => {
                    format!("{name} is an empty list, which AWS may read as a default of its own")
                }
                None if is_list => match value.and_then(|list| self.unmatched(list)) {
                    Some(item) => format!(
                        "{name} has {}, which does not match its patterns",
                        quoted(item)
                    ),
                    None => format!("{name} is not a list of names"),
                },
                None => format!("the request has no {name}"),
                Some(v) if key == "owner_ids" => {
                    format!("{name} {} is not one of its owner ids", quoted(v))
                }
                Some(v) => {
                    format!("{name} {} does not match its patterns", quoted(v))
                }
            };
        }
        let (value, shown) = match (entry, &self.if_absent) {
            // A secret is only ever tested by `present`, whose message never
            // shows the value; a secret nested in a structure is hidden by
            // the rendering itself.
            (Some((member, value)), _) => (value, quoted(&crate::params::render(member, value))),
            (None, IfAbsent::Default(value)) => (
                &**value,
                format!(
                    "(absent: AWS's documented default {})",
                    quoted(&value.render())
                ),
            ),
            (None, IfAbsent::NoMatch { .. } | IfAbsent::Match) => {
                return format!("the request has no `{name}`")
            }
        };
        self.describe_value(name, value, &shown, tags)
    }

    /// Why `value`, at `name` and shown as `shown`, failed the test.
    /// Values that refer to the caller are shown with the caller's tags.
    fn describe_value(&self, name: &str, value: &Value, shown: &str, tags: &CallerTags) -> String {
        if self.test.kind().is_on_items(Type::StringList)
            && matches!(value, Value::List(items) if items.is_empty())
        {
            return format!(
                "`{name}` is an empty list, which AWS may read as a default of its own; the rule takes one only with `if_empty: match`"
            );
        }
        match &self.test {
            Test::Present(_) => format!("the request has `{name}`, which it must not"),
            Test::OneOf(options) => format!(
                "`{name}` {} is not one of {}",
                shown,
                backticked(options.iter().map(|o| scalar_text(o, tags)))
            ),
            Test::Matches(matcher) => {
                // For a list, the item that failed rather than the list.
                let shown = self
                    .unmatched(value)
                    .map_or_else(|| shown.to_owned(), |item| format!("item {}", quoted(item)));
                match &matcher.patterns[..] {
                    [pattern] => format!("`{name}` {shown} does not match `{pattern}`"),
                    patterns => format!("`{name}` {shown} matches none of {}", listed(patterns)),
                }
            }
            Test::MatchesTemplate { templates, others } => {
                let mut written: Vec<String> = templates.iter().map(|t| t.shown(tags)).collect();
                written.extend(others.iter().flat_map(|m| m.patterns.iter().cloned()));
                match &written[..] {
                    [pattern] => format!("`{name}` {shown} does not match `{pattern}`"),
                    patterns => format!("`{name}` {shown} matches none of {}", listed(patterns)),
                }
            }
            Test::Range { min, max } => format!("`{name}` {} is not from {min} to {max}", shown),
            Test::AllIn(set) => format!("`{name}` {} has items outside {}", shown, listed(set)),
            Test::AnyIn(set) => format!("`{name}` {} has none of {}", shown, listed(set)),
            Test::NoneIn(set) => format!("`{name}` {} has one of {}", shown, listed(set)),
            Test::HasKeys(keys) => format!(
                "`{name}` {} lacks one of the tag keys {}",
                shown,
                listed(keys)
            ),
            Test::Tags(wanted) => format!(
                "`{name}` {} lacks one of the tags {}",
                shown,
                wanted
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .resolve(tags)
                            .map_or_else(|| v.written(), |v| v.into_owned());
                        format!("`{k}={v}`")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Why a request failed a condition on a nested path: the first place
    /// the path reaches that fails, named with its item numbers.
    fn describe_path_failure(
        &self,
        path: &ParamPath,
        params: &Params,
        tags: &CallerTags,
    ) -> String {
        let Some(top) = params.get(self.name) else {
            return format!("the request has no `{}`", self.name);
        };
        let reached = path.reach(top, MAX_PLACES_DESCRIBED);
        let holds = |reached: &Reached<'_>| match reached {
            Ok(value) => self.judge(value, tags).unwrap_or(self.unjudged),
            Err((Gap::Absent, _)) => self.holds_absent(tags),
            Err((Gap::Empty, _)) => self.if_empty,
            Err((Gap::Mistyped, _)) => self.unjudged,
        };
        // In an allow rule, the first place that fails; in a deny rule
        // none matched, and the first place stands for all.
        let Some((indexes, reached)) = reached
            .iter()
            .find(|(_, reached)| !holds(reached))
            .or(reached.first())
        else {
            return format!("`{path}` has nothing to test");
        };
        let place = path.place(indexes, reached);
        match reached {
            Ok(value) => {
                let shown = if path.is_secret() {
                    SECRET.to_owned()
                } else {
                    quoted(&value.render())
                };
                self.describe_value(&place, value, &shown, tags)
            }
            Err((Gap::Absent, _)) => format!("the request has no `{place}`"),
            Err((Gap::Empty, _)) => format!(
                "`{place}` is an empty list, which AWS may read as a default of its own; the rule takes one only with `if_empty: match`"
            ),
            Err((Gap::Mistyped, _)) => format!("`{place}` is not of the type the model gives it"),
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

fn scalar_text(scalar: &Scalar, tags: &CallerTags) -> String {
    match scalar {
        Scalar::String(s) => s.clone(),
        Scalar::Template(template) => template
            .render(tags)
            .unwrap_or_else(|| Text::Template(template.clone()).written()),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(n) => n.to_string(),
    }
}

/// `matches` on a name or a list of names: the name's answer, or for a
/// list `if_empty` when empty, else whether any item (`any`, in a deny
/// rule) or every item matches, stopping at the first that settles it.
/// `None` when the value is not names, or `is_match` cannot judge.
fn match_names(
    value: &Value,
    if_empty: bool,
    any: bool,
    is_match: impl Fn(&str) -> Option<bool>,
) -> Option<bool> {
    match value {
        Value::String(name) => is_match(name),
        Value::List(items) if items.is_empty() => Some(if_empty),
        Value::List(items) => {
            if !items.iter().all(|item| item.as_str().is_some()) {
                return None;
            }
            for name in items.iter().filter_map(Value::as_str) {
                if is_match(name)? == any {
                    return Some(any);
                }
            }
            Some(!any)
        }
        Value::Boolean(_)
        | Value::Integer(_)
        | Value::Timestamp(_)
        | Value::Structure(_)
        | Value::Map(_) => None,
    }
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
