//! What the policy looks at: the typed request's parameters, with who
//! asked and for which region. Built by the request path, read by the
//! rule index and the decision.

use crate::model::{Action, Region};
use crate::params::Params;
use crate::request::ElastiCacheRequest;

/// What the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    pub action: Action,
    /// The authenticated caller's name.
    pub caller: Option<&'a str>,
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
            region,
            params: &request.params,
        }
    }
}
