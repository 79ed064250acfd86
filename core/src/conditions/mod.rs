//! Rule conditions on any parameter of the rule's actions (`params:`),
//! compiled against the service model when the policy loads and evaluated
//! against the typed parameters of a request.
//!
//! - `kind`: the kinds of test, their keys and the types they apply to;
//! - `compile`: the YAML of a condition into a [`ParamCondition`];
//! - `eval`: a condition against a request, and why it failed.
//!
//! A condition on a parameter the request does not carry does not match,
//! so "only these security groups" cannot be dodged by leaving the
//! parameter out; `present: false` tests exactly that absence, and
//! `if_absent: match` opts out where leaving a parameter out is harmless
//! (a Modify call that does not change it), and `if_absent: default`
//! judges the value AWS documents for a parameter left out.

mod compile;
mod eval;
mod kind;
mod path;
mod resource;
mod template;

pub(crate) use compile::{compile, group_names, name_matcher, owner_ids, regex_reason};
pub(crate) use eval::key_of;
pub(crate) use kind::Test;
pub(crate) use resource::{compile as resource_tags, ResourceTags, Verdict as ResourceVerdict};

use std::borrow::Cow;
use std::sync::Arc;

use crate::names::NameCase;
use crate::param_path::ParamPath;
use crate::params::Value;
use crate::service_model::DefaultValue;

/// A value a policy writes (or a caller's tag stands for) in the form the
/// request's values are compared in: lower case for names AWS stores so, a
/// case-free key for names it compares without case, else as written.
pub(crate) fn policy_form(case: Option<NameCase>, value: &str) -> Cow<'_, str> {
    match case {
        Some(NameCase::StoredLowercase) => {
            Cow::Owned(crate::names::stored_lowercase(value.to_owned()))
        }
        Some(NameCase::Insensitive) => crate::names::insensitive_key(value),
        None => Cow::Borrowed(value),
    }
}

/// A documented default as the request's value would be.
pub(crate) fn default_value(default: DefaultValue) -> Value {
    match default {
        DefaultValue::Boolean(b) => Value::Boolean(b),
        DefaultValue::Integer(n) => Value::Integer(n),
        DefaultValue::String(s) => Value::String(s.to_owned()),
    }
}

/// One condition: a parameter and what must hold of it.
#[derive(Debug)]
pub(crate) struct ParamCondition {
    pub name: &'static str,
    /// Another parameter naming the same things, in actions that lack
    /// `name` (`CacheSecurityGroupNames` for `cache_security_groups`):
    /// the condition judges whichever of the two the request carries, so
    /// the shorthand cannot be dodged through the other one.
    pub also: Option<&'static str>,
    pub test: Test,
    /// What a request without the parameter means.
    pub if_absent: IfAbsent,
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
    /// Where below `name` the test applies (`NodeGroupConfiguration[].ReplicaCount`),
    /// or `None` for `name` itself. Through a list's items, an allow rule
    /// needs every item to pass and a deny rule fires on any; an empty
    /// list is `if_empty`'s, and an item without the member `if_absent`'s.
    pub path: Option<Arc<ParamPath>>,
}

/// What a condition says of a request without its parameter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IfAbsent {
    /// Does not match (`present: false` excepted): what a condition
    /// without `if_absent` says, or one with `if_absent: no_match`
    /// (`written`, which `check` takes as a decision made).
    NoMatch { written: bool },
    /// Matches (`if_absent: match`).
    Match,
    /// Judged as if AWS's documented default were written
    /// (`if_absent: default`), the same in each of the rule's actions.
    /// Boxed: rare, and it would add a word to every condition.
    Default(Box<Value>),
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

#[cfg(test)]
mod tests;
