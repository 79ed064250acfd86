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
//! (a Modify call that does not change it).

mod compile;
mod eval;
mod kind;

pub(crate) use compile::{compile, group_names, name_matcher, owner_ids};
pub(crate) use eval::key_of;
pub(crate) use kind::Test;

use crate::names::NameCase;

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

#[cfg(test)]
mod tests;
