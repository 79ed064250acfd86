//! Requests as they were decided, read back from a record (the proxy's
//! audit line, or an AWS CloudTrail event), to be decided again under
//! another policy (`replay`) or to draft one from (`draft`). Pure: the
//! command line reads the files and hands the records in.

use std::fmt;

use crate::caller_tags::CallerTags;
use crate::decision::Decision;
use crate::facts::{RequestFacts, ResourceFacts};
use crate::model::{Action, Region};
use crate::params::Params;

/// One request as recorded, ready to be decided again.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Where it was read: `audit.log:12`, `trail.json.gz:#3`.
    pub source: String,
    pub request_id: String,
    /// When it was decided, in seconds since the Unix epoch.
    pub time: i64,
    pub caller: Option<String>,
    pub caller_tags: CallerTags,
    pub region: Region,
    pub action: Action,
    /// Every parameter, typed as the decision saw them; a secret is
    /// present with a placeholder value, never the secret.
    pub params: Params,
    /// The tags of the resources the request named, when recorded.
    pub resources: Option<ResourceFacts>,
    /// What was decided when it was recorded, if the record says.
    pub then: Option<Then>,
}

/// The decision a record carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Then {
    pub decision: Decision,
    pub rules: Vec<String>,
}

impl Recorded {
    /// The facts to decide it again on, at its own time or at `at`.
    pub fn facts(&self, at: Option<i64>) -> RequestFacts<'_> {
        let facts = RequestFacts {
            action: self.action,
            caller: self.caller.as_deref(),
            caller_tags: &self.caller_tags,
            region: &self.region,
            params: &self.params,
            resources: self.resources.as_ref(),
            now: None,
        };
        facts.at(at.unwrap_or(self.time))
    }
}

/// Why a record cannot be decided again. Counted and listed by `replay`,
/// never silently dropped.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Unreplayable {
    /// The record was cut short when written: it lacks parameters.
    Truncated,
    /// The record was written before the proxy recorded whole requests.
    NoRequest,
    /// A member the service model does not know (CloudTrail names it
    /// `member`): mapped it would be a guess.
    Unmapped { member: String },
    /// Not an ElastiCache call, or not one the model has.
    NotElastiCache { what: String },
    /// The record's caller cannot be told (CloudTrail: no identity mapping
    /// matches its `userIdentity`).
    NoCaller { identity: String },
    /// Anything else the record lacks or holds wrongly.
    Invalid { reason: String },
}

impl fmt::Display for Unreplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreplayable::Truncated => f.write_str("the record was cut short when written"),
            Unreplayable::NoRequest => {
                f.write_str("the record has no `request` (written by an older proxy)")
            }
            Unreplayable::Unmapped { member } => write!(
                f,
                "`{member}` is not a member the service model knows, so it is not guessed at"
            ),
            Unreplayable::NotElastiCache { what } => {
                write!(f, "not an ElastiCache call the proxy knows: {what}")
            }
            Unreplayable::NoCaller { identity } => write!(
                f,
                "no caller matches the identity `{identity}`: map it with `--identities`"
            ),
            Unreplayable::Invalid { reason } => f.write_str(reason),
        }
    }
}
