//! What the policy looks at: the typed request's parameters, with who
//! asked and for which region. Built by the request path, read by the
//! rule index and the decision.

use crate::caller_tags::CallerTags;
use crate::model::{Action, Region};
use crate::params::Params;
use crate::request::ElastiCacheRequest;

/// A caller without tags.
pub static NO_TAGS: CallerTags = CallerTags::EMPTY;

/// What the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    pub action: Action,
    /// The authenticated caller's name.
    pub caller: Option<&'a str>,
    /// The caller's tags (`${caller.tags.KEY}` in rules).
    pub caller_tags: &'a CallerTags,
    pub region: &'a Region,
    /// Every parameter but `Action` and `Version`, typed.
    pub params: &'a Params,
}

impl<'a> RequestFacts<'a> {
    pub fn of(
        request: &'a ElastiCacheRequest,
        region: &'a Region,
        caller: Option<&'a str>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            action: request.action,
            caller,
            caller_tags: &NO_TAGS,
            region,
            params: &request.params,
        }
    }

    /// The same facts, with the caller's tags.
    pub fn with_caller_tags(self, caller_tags: &'a CallerTags) -> RequestFacts<'a> {
        RequestFacts {
            caller_tags,
            ..self
        }
    }
}
