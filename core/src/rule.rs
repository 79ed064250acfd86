//! A compiled rule: its effect, its mode and its conditions, each in the
//! form the decision compares against. Built by `policy`, read by the rule
//! index, the decision and the linter.

use crate::conditions::ParamCondition;
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
}
