//! A compiled rule: its effect, its mode and its conditions, each in the
//! form the decision compares against. Built by `policy`, read by the rule
//! index, the decision and the linter.

use crate::conditions::{ParamCondition, ResourceTags};
use crate::model::Region;

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
    /// Conditions on parameters, all of which must hold: the ingress keys'
    /// (`owner_ids`, `cache_security_groups`, `ec2_security_groups`) first,
    /// then `params:`.
    pub params: Vec<ParamCondition>,
    /// Callers the rule does not apply to (`except_callers:`).
    pub except_callers: Option<Vec<String>>,
    pub message: Option<String>,
    pub other_params: OtherParams,
    /// The tags every existing resource the request names must carry
    /// (`resource_tags:`).
    /// Boxed, as is `expires`: few rules have one, and a policy holds
    /// thousands of rules.
    pub resource_tags: Option<Box<ResourceTags>>,
    /// An exception that ends: after this time the rule matches nothing.
    pub expires: Option<Box<Expiry>>,
    /// Why the rule exists (a ticket, a justification): `reason:`.
    pub reason: Option<String>,
}

/// When a rule stops matching.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Expiry {
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// As written, for messages.
    pub written: String,
}

impl Rule {
    /// Whether the rule is in force at `now`; `None` (time unknown): an
    /// expiring rule is taken as expired for an allow and in force for a
    /// deny, failing closed either way.
    pub fn in_force(&self, now: Option<i64>) -> bool {
        match (&self.expires, now) {
            (None, _) => true,
            (Some(expiry), Some(now)) => now < expiry.at,
            (Some(_), None) => self.effect == Effect::Deny,
        }
    }
}

/// What a rule says of the parameters it does not name (`other_params:`).
#[derive(Debug, Default)]
pub(crate) enum OtherParams {
    /// Left out: they pass, and `check` warns about security-relevant ones.
    #[default]
    Unsaid,
    /// `other_params: allow`: they pass, and the author said so.
    Allow,
    /// `other_params: deny`: a request carrying a parameter outside `named`
    /// does not match the rule.
    Deny {
        /// Every name the rule lets pass (its conditions' and
        /// `allowed`), sorted, for a binary search per parameter.
        named: Box<[&'static str]>,
        /// `other_params_allowed`, as written (deduplicated).
        allowed: Box<[&'static str]>,
    },
}

impl Rule {
    /// The caller tags its conditions refer to (`${caller.tags.KEY}`).
    pub fn caller_tag_keys(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .flat_map(ParamCondition::caller_tag_keys)
            .chain(
                self.resource_tags
                    .iter()
                    .flat_map(|tags| tags.caller_tag_keys()),
            )
    }

    /// Whether a request may carry `name` with no condition of the rule
    /// judging it: the rule names it in no condition, and is open or lists
    /// it in `other_params_allowed`.
    pub fn leaves_open(&self, name: &str) -> bool {
        let judged = self.params.iter().any(|c| c.names().any(|n| n == name));
        let passes = match &self.other_params {
            OtherParams::Unsaid | OtherParams::Allow => true,
            OtherParams::Deny { allowed, .. } => allowed.contains(&name),
        };
        passes && !judged
    }
}

impl OtherParams {
    /// The first parameter `params` carries that the rule does not name,
    /// for a closed rule. `names` are the request's, in query-name order.
    pub fn closing<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        match self {
            OtherParams::Unsaid | OtherParams::Allow => None,
            OtherParams::Deny { named, .. } => {
                names.find(|name| named.binary_search(name).is_err())
            }
        }
    }
}
