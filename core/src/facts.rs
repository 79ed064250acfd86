//! What the policy looks at: the typed request's parameters, with who
//! asked and for which region. Built by the request path, read by the
//! rule index and the decision.

use crate::caller_tags::CallerTags;
use crate::model::{Action, Region};
use crate::params::Params;
use crate::request::ElastiCacheRequest;
use crate::resources::NamedResource;

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
    /// The tags of the existing resources the request names, when the
    /// proxy looked them up (only for actions a `resource_tags` rule names).
    pub resources: Option<&'a ResourceFacts>,
    /// When the request is decided, in seconds since the Unix epoch, for
    /// rules that expire; `None`: not known, so no expiring allow rule
    /// matches and every expiring deny rule may.
    pub now: Option<i64>,
}

/// What AWS holds about the existing resources a request names, looked up
/// around the core and handed to the decision.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct ResourceFacts {
    pub resources: Vec<ResourceFact>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResourceFact {
    pub resource: NamedResource,
    pub state: ResourceState,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ResourceState {
    /// Its tags, as ListTagsForResource returned them (none for a resource
    /// that does not exist).
    Tags(Vec<(String, String)>),
    /// A kind AWS cannot tag (a global replication group).
    Untaggable,
}

impl<'a> RequestFacts<'a> {
    pub fn of(
        request: &'a ElastiCacheRequest,
        region: &'a Region,
        caller: Option<&'a str>,
    ) -> RequestFacts<'a> {
        RequestFacts::new(request.action, region, &request.params, caller)
    }

    /// The facts of `params` for `action`: no caller tags, no resource
    /// tags, no time (add them with the `with_`/`at` methods).
    pub fn new(
        action: Action,
        region: &'a Region,
        params: &'a Params,
        caller: Option<&'a str>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            action,
            caller,
            caller_tags: &NO_TAGS,
            region,
            params,
            resources: None,
            now: None,
        }
    }

    /// The same facts, with the tags of the resources the request names.
    pub fn with_resources(self, resources: &'a ResourceFacts) -> RequestFacts<'a> {
        RequestFacts {
            resources: Some(resources),
            ..self
        }
    }

    /// The same facts, decided at `now` (seconds since the Unix epoch).
    pub fn at(self, now: i64) -> RequestFacts<'a> {
        RequestFacts {
            now: Some(now),
            ..self
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
