//! What the policy looks at: the typed request's guarded parameters, with
//! who asked and for which region. Built by the request path, read by the
//! rule index and the decision.

use crate::model::{AccountId, Action, Region};
use crate::params::Params;
use crate::request::ElastiCacheRequest;

/// What the policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    pub action: Action,
    /// The authenticated caller's name.
    pub caller: Option<&'a str>,
    pub region: &'a Region,
    pub owner_id: Option<AccountId>,
    pub cache_security_group: Option<&'a str>,
    pub ec2_security_group: Option<&'a str>,
    /// Every other parameter, typed.
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
            owner_id: request.ec2_security_group_owner_id,
            cache_security_group: request.cache_security_group_name.as_deref(),
            ec2_security_group: request.ec2_security_group_name.as_deref(),
            params: &request.params,
        }
    }
}
