//! A compiled rule: its effect, its mode and its conditions, each in the
//! form the decision compares against. Built by `policy`, read by the rule
//! index, the decision and the linter.

use regex::RegexSet;

use crate::conditions::ParamCondition;
use crate::model::{AccountId, Region};
use crate::names::NameCase;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whether a rule takes part in the enforced decision or only in the
/// shadow one (computed, logged and counted, never enforced).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "enforce" => Some(Mode::Enforce),
            "shadow" => Some(Mode::Shadow),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub effect: Effect,
    pub mode: Mode,
    /// `None`: the condition was left out and matches anything.
    pub callers: Option<Vec<String>>,
    pub regions: Option<Vec<Region>>,
    pub owner_ids: Option<Vec<AccountId>>,
    pub cache_security_groups: Option<NameMatcher>,
    pub ec2_security_groups: Option<NameMatcher>,
    /// Conditions on any other parameter (`params:`), all of which must hold.
    pub params: Vec<ParamCondition>,
    /// Callers the rule does not apply to (`except_callers:`).
    pub except_callers: Option<Vec<String>>,
    pub message: Option<String>,
}

/// Regexes that must match a whole name, compared as AWS compares that
/// kind of name.
#[derive(Debug)]
pub(crate) struct NameMatcher {
    set: RegexSet,
    /// The patterns as written, for the linter and the index.
    pub patterns: Vec<String>,
    pub case: NameCase,
}

impl NameMatcher {
    /// `name` in the form it is compared in: for names compared without
    /// case, its [`crate::names::insensitive_key`] (the decision makes it once).
    pub fn is_match(&self, name: &str) -> bool {
        self.set.is_match(name)
    }

    pub(crate) fn new(set: RegexSet, patterns: Vec<String>, case: NameCase) -> NameMatcher {
        NameMatcher {
            set,
            patterns,
            case,
        }
    }
}
