//! The audit log: exactly one JSON line per request, written before the
//! answer is sent. A record holds what the decision was made on and what
//! came of it; never a key, a signature or a session token.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use http::header::HeaderMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::auth::AuthMethod;
use crate::caller_tags::CallerTags;
use crate::decision::{Exception, LookedAt, Verdict};
use crate::facts::{ResourceFacts, ResourceState};
use crate::model::{Action, Region};
use crate::policy::Mode;
use crate::proxy::config::{AuditConfig, AuditTarget};
use crate::proxy::log::rfc3339;
use crate::proxy::workers;
use crate::request::{
    ElastiCacheRequest, CACHE_SECURITY_GROUP_NAME, EC2_SECURITY_GROUP_NAME,
    EC2_SECURITY_GROUP_OWNER_ID,
};
use elasticache_authz_core::params::{MemberJson, ParamsJson, Value as ParamValue, SECRET};
use elasticache_authz_core::service_model::Member;

/// What one request was and how it was decided.
pub struct RequestRecord {
    pub time: SystemTime,
    pub request_id: String,
    pub peer: SocketAddr,
    pub mode: Mode,
    pub policy_revision: String,
    pub caller: Option<String>,
    pub auth_method: Option<AuthMethod>,
    pub action: Option<Action>,
    pub region: Option<Region>,
    pub owner_id: Option<String>,
    pub cache_security_group: Option<String>,
    pub ec2_security_group: Option<String>,
    /// `None` when the request was rejected before the policy decided.
    pub verdict: Option<Verdict>,
    pub rules: Vec<String>,
    pub error_code: Option<&'static str>,
    pub upstream_status: Option<u16>,
    /// The id the upstream answered with ([`upstream_request_id`]).
    pub upstream_request_id: Option<String>,
    /// For a denial: the full explanation, whatever the caller was told.
    pub explanation: Option<String>,
    /// The parameters the deciding rules looked at, with their values
    /// (secrets only as present), bounded by [`MAX_PARAMS_BYTES`].
    pub params: Vec<(Cow<'static, str>, String)>,
    /// The tags of the resources the request names, when a `resource_tags`
    /// rule needed them, bounded by [`MAX_RESOURCE_TAGS_BYTES`].
    pub resource_tags: Option<Value>,
    /// The deciding rules that are exceptions (`expires:`).
    pub exceptions: Vec<Exception>,
    /// The whole request as decided, to decide it again (`request`), once
    /// the caller is authenticated.
    pub request: Option<Box<RawValue>>,
}

/// The audit line's format: 1 had no `version` field, no `request`, and
/// `resource_tags` as an object keyed by `"<kind> <id>"`.
pub const AUDIT_VERSION: u32 = 2;

/// Most bytes of parameters written in one line's `request`.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Longest value of a request field written for a request that was not
/// authenticated and forwarded: anyone who reaches the port can send one,
/// so it must not decide how fast the audit log grows.
pub const MAX_UNTRUSTED_VALUE_BYTES: usize = 256;
/// Longest explanation written.
pub const MAX_EXPLANATION_BYTES: usize = 2048;

/// Longest upstream request id written (AWS's are 36 to 52 characters):
/// the header is the upstream's input, so it is cut to this.
pub const MAX_UPSTREAM_REQUEST_ID_BYTES: usize = 128;

/// Most places of a nested path whose values one line writes: past them
/// the value is cut at [`MAX_PARAM_VALUE_BYTES`] anyway.
const MAX_PATH_PLACES: usize = 64;

/// Most bytes of resources' tags written in one line's `resource_tags`.
pub const MAX_RESOURCE_TAGS_BYTES: usize = 1024;

/// Most bytes of parameter values written in one line's `params`.
pub const MAX_PARAMS_BYTES: usize = 1024;
/// Most bytes of one parameter's value there.
const MAX_PARAM_VALUE_BYTES: usize = 256;

/// The request fields that can be shortened, as metric labels.
/// The parameters with a field of their own on the audit line.
const OWN_FIELDS: [&str; 3] = [
    EC2_SECURITY_GROUP_OWNER_ID,
    CACHE_SECURITY_GROUP_NAME,
    EC2_SECURITY_GROUP_NAME,
];

pub const SHORTENED_FIELDS: [&str; 2] = ["cache_security_group", "ec2_security_group"];

/// The full length in bytes of each value the line shortened.
#[derive(Serialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Shortened {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_security_group: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ec2_security_group: Option<usize>,
}

impl Shortened {
    /// The names of the shortened fields.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> {
        [self.cache_security_group, self.ec2_security_group]
            .into_iter()
            .zip(SHORTENED_FIELDS)
            .filter_map(|(length, field)| length.map(|_| field))
    }
}

/// `value`, cut to at most `max` bytes at a character boundary, and its
/// full length when it was cut.
fn shorten(value: &str, max: usize) -> (&str, Option<usize>) {
    if value.len() <= max {
        return (value, None);
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    (&value[..end], Some(value.len()))
}

/// A field's value cut to `max` bytes, its full length noted in `full`.
fn shorten_field<'v>(
    value: &'v Option<String>,
    max: usize,
    full: &mut Option<usize>,
) -> Option<&'v str> {
    let (value, length) = shorten(value.as_deref()?, max);
    *full = length;
    Some(value)
}

impl RequestRecord {
    pub fn new(
        time: SystemTime,
        request_id: String,
        peer: SocketAddr,
        mode: Mode,
        policy_revision: String,
    ) -> RequestRecord {
        RequestRecord {
            time,
            request_id,
            peer,
            mode,
            policy_revision,
            caller: None,
            auth_method: None,
            action: None,
            region: None,
            owner_id: None,
            cache_security_group: None,
            ec2_security_group: None,
            verdict: None,
            rules: Vec::new(),
            error_code: None,
            upstream_status: None,
            upstream_request_id: None,
            explanation: None,
            params: Vec::new(),
            resource_tags: None,
            exceptions: Vec::new(),
            request: None,
        }
    }

    /// Notes the whole request as decided: every parameter typed, a secret
    /// at any depth only as `(secret)`, and the caller's tags. Past
    /// [`MAX_REQUEST_BYTES`] the parameters that fit are written whole and
    /// the rest left out, with `"truncated": true`: never half a value.
    pub fn set_request(&mut self, request: &ElastiCacheRequest, caller_tags: &CallerTags) {
        // Written once, straight to JSON text: the line embeds it as it
        // is. A tree of values serialized twice cost a 30-parameter create
        // a fifth of the proxy's own CPU time.
        let tags: BTreeMap<&str, &str> = caller_tags.iter().collect();
        let bound: usize = request
            .params
            .iter()
            .map(|(member, value)| {
                json_bound(member.query_name()) + 2 + member_bound(member, value)
            })
            .sum();
        self.request = match bound <= MAX_REQUEST_BYTES {
            // Everything fits whatever its escapes: written in one go, and
            // not read back to check it (serde_json trusts its own output).
            true => serde_json::value::to_raw_value(&RequestSection {
                params: ParamsJson(&request.params),
                caller_tags: &tags,
            })
            .ok(),
            false => request_within_bound(request, &tags),
        };
    }

    /// Notes the parameters the decision looked at. A secret, at any depth,
    /// is written as `(secret)`; values are cut to a bound, and past the line's bound the
    /// rest are left out (their names noted under `…`). The ingress
    /// parameters have fields of their own (`set_parameters`).
    pub fn set_looked_at(&mut self, request: &ElastiCacheRequest, looked: &[LookedAt]) {
        let mut budget = MAX_PARAMS_BYTES;
        let mut left_out = Vec::new();
        let whole = |name: &str| {
            OWN_FIELDS.contains(&name)
                || looked
                    .iter()
                    .any(|l| matches!(l, LookedAt::Param(p) if *p == name))
        };
        for looked_at in looked {
            let (name, rendered) = match looked_at {
                LookedAt::Param(name) if OWN_FIELDS.contains(name) => continue,
                LookedAt::Param(name) => {
                    let Some((member, value)) = request.params.entry(name) else {
                        continue;
                    };
                    let rendered = elasticache_authz_core::params::render(member, value);
                    (Cow::Borrowed(*name), rendered)
                }
                // A path below a parameter written whole says nothing more.
                LookedAt::Path(path) if whole(path.top()) => continue,
                LookedAt::Path(path) => {
                    let Some(rendered) = path.render(&request.params, MAX_PATH_PLACES) else {
                        continue;
                    };
                    (Cow::Owned(path.as_str().to_owned()), rendered)
                }
            };
            let text = shorten(&rendered, MAX_PARAM_VALUE_BYTES).0.to_owned();
            if text.len() > budget {
                left_out.push(name);
                continue;
            }
            budget -= text.len();
            self.params.push((name, text));
        }
        if !left_out.is_empty() {
            self.params.push((Cow::Borrowed("…"), left_out.join(", ")));
        }
    }

    /// Notes the resources the request names that the decision looked at,
    /// each as `{kind, id, member, region, arn, tags}` (`tags` `null` for a
    /// resource that cannot carry tags); past the bound the rest are left
    /// out and counted in a last `{"left_out": N}`.
    pub fn set_resource_tags(&mut self, facts: &ResourceFacts) {
        let mut list = Vec::new();
        let mut budget = MAX_RESOURCE_TAGS_BYTES;
        let mut left_out = 0;
        for fact in &facts.resources {
            let tags = match &fact.state {
                ResourceState::Tags(tags) => Value::Object(
                    tags.iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                ),
                ResourceState::Untaggable => Value::Null,
            };
            let resource = &fact.resource;
            let entry = serde_json::json!({
                "kind": resource.kind.record_name(),
                "id": resource.id,
                "member": resource.member,
                "region": resource.region.as_str(),
                "arn": resource.arn,
                "tags": tags,
            });
            let size = entry.to_string().len();
            if size > budget {
                left_out += 1;
                continue;
            }
            budget -= size;
            list.push(entry);
        }
        if left_out > 0 {
            list.push(serde_json::json!({ "left_out": left_out }));
        }
        self.resource_tags = Some(Value::Array(list));
    }

    /// The ingress parameters, each in a field of its own (`OWN_FIELDS`).
    pub fn set_parameters(&mut self, request: &ElastiCacheRequest) {
        let text = |name| {
            request
                .params
                .get(name)
                .and_then(elasticache_authz_core::params::Value::as_str)
                .map(str::to_owned)
        };
        let [owner, cache, ec2] = OWN_FIELDS;
        self.owner_id = text(owner);
        self.cache_security_group = text(cache);
        self.ec2_security_group = text(ec2);
    }

    /// `allow`, `deny`, `would_deny`, or `error` for a request rejected
    /// before the policy decided.
    pub fn decision(&self) -> &'static str {
        self.verdict.map_or("error", Verdict::as_str)
    }

    /// The audit line's fields, borrowed from the record: serialized
    /// straight to bytes, without an intermediate JSON tree.
    ///
    /// Values from a request that was not authenticated and forwarded are
    /// cut to [`MAX_UNTRUSTED_VALUE_BYTES`], and `shortened` gives their
    /// full lengths: a forwarded request's caller is accountable for what
    /// it sent, anyone else is not.
    pub fn line(&self, duration: Duration) -> AuditLine<'_> {
        let forwarded = self.verdict.is_some_and(Verdict::forwards);
        let max = if forwarded {
            usize::MAX
        } else {
            MAX_UNTRUSTED_VALUE_BYTES
        };
        let mut shortened = Shortened::default();
        let cache_security_group = shorten_field(
            &self.cache_security_group,
            max,
            &mut shortened.cache_security_group,
        );
        let ec2_security_group = shorten_field(
            &self.ec2_security_group,
            max,
            &mut shortened.ec2_security_group,
        );
        AuditLine {
            version: AUDIT_VERSION,
            request: self.request.as_deref(),
            params: (!self.params.is_empty()).then_some(ParamsSeen(&self.params)),
            resource_tags: self.resource_tags.as_ref(),
            exceptions: (!self.exceptions.is_empty()).then(|| {
                self.exceptions
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "rule": e.rule,
                            "reason": shorten(&e.reason, MAX_UNTRUSTED_VALUE_BYTES * 2).0,
                            "expires": e.expires,
                        })
                    })
                    .collect()
            }),
            cache_security_group,
            ec2_security_group,
            shortened: (shortened != Shortened::default()).then_some(shortened),
            explanation: self
                .explanation
                .as_deref()
                .map(|e| shorten(e, MAX_EXPLANATION_BYTES).0),
            time: rfc3339(self.time),
            request_id: &self.request_id,
            upstream_request_id: self.upstream_request_id.as_deref(),
            source: self.peer,
            caller: self.caller.as_deref(),
            auth: self.auth_method.map(AuthMethod::as_str),
            action: self.action.map(Action::name),
            region: self.region.as_ref().map(Region::as_str),
            owner_id: self.owner_id.as_deref(),
            decision: self.decision(),
            mode: self.mode.as_str(),
            rules: &self.rules,
            error_code: self.error_code,
            upstream_status: self.upstream_status,
            duration_ms: (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            policy_revision: &self.policy_revision,
        }
    }

    pub fn to_json(&self, duration: Duration) -> Value {
        serde_json::to_value(self.line(duration)).unwrap_or(Value::Null)
    }
}

/// An audit line's `request` measured parameter by parameter: those that
/// fit in [`MAX_REQUEST_BYTES`] whole, then `"truncated": true`.
fn request_within_bound(
    request: &ElastiCacheRequest,
    tags: &BTreeMap<&str, &str>,
) -> Option<Box<RawValue>> {
    let mut out = Vec::with_capacity(128 + request.params.len() * 48);
    out.extend_from_slice(b"{\"params\":{");
    let mut budget = MAX_REQUEST_BYTES;
    let mut truncated = false;
    let mut first = true;
    for (member, value) in request.params.iter() {
        let start = out.len();
        if !first {
            out.push(b',');
        }
        let written = serde_json::to_writer(&mut out, member.query_name()).and_then(|()| {
            out.push(b':');
            serde_json::to_writer(&mut out, &MemberJson(member, value))
        });
        // The name, its quotes, the colon, the value and a comma.
        let size = out.len() - start;
        if written.is_err() || size > budget {
            out.truncate(start);
            truncated = true;
            continue;
        }
        budget -= size;
        first = false;
    }
    out.extend_from_slice(b"},\"caller_tags\":");
    if serde_json::to_writer(&mut out, tags).is_err() {
        out.extend_from_slice(b"{}");
    }
    if truncated {
        out.extend_from_slice(b",\"truncated\":true");
    }
    out.push(b'}');
    // Valid JSON by construction; should it ever not be, the line has
    // no `request` rather than a broken one.
    String::from_utf8(out)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
}

/// An audit line's `request` when every parameter fits.
#[derive(Serialize)]
struct RequestSection<'a> {
    params: ParamsJson<'a>,
    caller_tags: &'a BTreeMap<&'a str, &'a str>,
}

/// The most bytes `text` can take as a JSON string: every byte escaped as
/// `\u00XX`, and its quotes.
fn json_bound(text: &str) -> usize {
    6 * text.len() + 2
}

/// The most bytes a member's value can take in [`MemberJson`]'s form, and
/// a comma.
fn member_bound(member: &Member, value: &ParamValue) -> usize {
    1 + match member.is_secret() {
        true => json_bound(SECRET),
        false => value_bound(value),
    }
}

fn value_bound(value: &ParamValue) -> usize {
    match value {
        ParamValue::String(s) | ParamValue::Timestamp(s) => json_bound(s),
        ParamValue::Boolean(_) => 5,
        ParamValue::Integer(_) => 20,
        ParamValue::List(items) => 2 + items.iter().map(|v| value_bound(v) + 1).sum::<usize>(),
        ParamValue::Structure(params) => {
            2 + params
                .iter()
                .map(|(m, v)| json_bound(m.query_name()) + 1 + member_bound(m, v))
                .sum::<usize>()
        }
        ParamValue::Map(entries) => {
            2 + entries
                .iter()
                .map(|(k, v)| value_bound(k) + value_bound(v) + 4)
                .sum::<usize>()
        }
    }
}

/// The request id of the upstream's answer: `x-amzn-RequestId`, or
/// `x-amz-request-id` when it sends that instead. It is what the caller
/// and CloudTrail see, so it ties the audit line to AWS's records. Taken
/// only as visible ASCII, so that it cannot forge a line of any log, and
/// cut to [`MAX_UPSTREAM_REQUEST_ID_BYTES`].
pub fn upstream_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get("x-amzn-requestid")
        .or_else(|| headers.get("x-amz-request-id"))?
        .as_bytes();
    if value.is_empty() || !value.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let kept = &value[..value.len().min(MAX_UPSTREAM_REQUEST_ID_BYTES)];
    String::from_utf8(kept.to_vec()).ok()
}

/// One audit line, as written.
#[derive(Serialize)]
pub struct AuditLine<'a> {
    /// The line's format ([`AUDIT_VERSION`]).
    version: u32,
    time: String,
    request_id: &'a str,
    /// What the caller and CloudTrail know the forwarded call by.
    upstream_request_id: Option<&'a str>,
    /// Serialized with `Display`: `127.0.0.1:50000`, `[::1]:50000`.
    source: SocketAddr,
    caller: Option<&'a str>,
    auth: Option<&'static str>,
    action: Option<&'static str>,
    region: Option<&'a str>,
    owner_id: Option<&'a str>,
    cache_security_group: Option<&'a str>,
    ec2_security_group: Option<&'a str>,
    /// The full length of each value cut short, or `null`.
    shortened: Option<Shortened>,
    decision: &'static str,
    mode: &'static str,
    rules: &'a [String],
    /// For a denial: why, in full.
    explanation: Option<&'a str>,
    /// The parameters the deciding rules looked at, or `null`.
    params: Option<ParamsSeen<'a>>,
    /// The resources the request names with their tags, when a rule
    /// needed them: `[{kind, id, member, region, arn, tags}]`.
    resource_tags: Option<&'a Value>,
    /// The whole request as decided (`set_request`), or `null`.
    request: Option<&'a RawValue>,
    /// The deciding exceptions: `[{rule, reason, expires}]`, or `null`.
    exceptions: Option<Vec<Value>>,
    error_code: Option<&'static str>,
    upstream_status: Option<u16>,
    duration_ms: f64,
    policy_revision: &'a str,
}

/// Written as a JSON object, in the order the decision looked.
pub struct ParamsSeen<'a>(&'a [(Cow<'static, str>, String)]);

impl Serialize for ParamsSeen<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl AuditLine<'_> {
    /// What this line shortened.
    pub fn shortened(&self) -> Shortened {
        self.shortened.unwrap_or_default()
    }
}

/// Where audit lines go. Each write is whole lines (one, or a worker's
/// group) in one call, so lines from concurrent requests never interleave:
/// the file is opened for appending, and the kernel makes each append whole,
/// so writers take no lock (a reopen swaps the file under them).
pub struct AuditSink {
    target: AuditTarget,
    file: ArcSwapOption<File>,
    /// False after a failed write, until one succeeds.
    healthy: AtomicBool,
    /// Lines waiting to be written together, one queue per worker thread.
    queues: Vec<Arc<Mutex<Queue>>>,
    /// Write calls made, to check that lines are grouped.
    #[cfg(test)]
    writes: std::sync::atomic::AtomicUsize,
}

/// The lines of one worker's requests that finished since its last write,
/// and who waits for them.
#[derive(Default)]
struct Queue {
    lines: Vec<u8>,
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    /// A write of this queue is scheduled.
    flushing: bool,
}

impl AuditSink {
    /// `queues`: one per worker thread that appends (see `append`).
    pub fn open(config: &AuditConfig, queues: usize) -> Result<AuditSink, String> {
        let file = match &config.target {
            AuditTarget::Stdout => None,
            AuditTarget::File(path) => Some(Arc::new(open_append(path)?)),
        };
        Ok(AuditSink {
            target: config.target.clone(),
            file: ArcSwapOption::new(file),
            healthy: AtomicBool::new(true),
            queues: (0..queues.max(1)).map(|_| Arc::default()).collect(),
            #[cfg(test)]
            writes: Default::default(),
        })
    }

    /// Reopens the file (after log rotation, on SIGHUP).
    pub fn reopen(&self) -> Result<(), String> {
        if let AuditTarget::File(path) = &self.target {
            let file = open_append(path)?;
            self.file.store(Some(Arc::new(file)));
        }
        Ok(())
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Writes one line together with the lines of the requests that finished
    /// on this worker meanwhile: one write for the group (a group commit),
    /// and still each line written before its request's answer is sent.
    /// The group is written once the tasks already queued on the worker have
    /// run, so it waits for no timer and no other thread.
    pub async fn append(self: &Arc<Self>, record: &impl Serialize) -> io::Result<()> {
        let line = line_of(record)?;
        let queue = &self.queues[workers::current() % self.queues.len()];
        let (done, written) = oneshot::channel();
        let schedule = {
            let mut queue = lock(queue);
            queue.lines.extend_from_slice(&line);
            queue.waiting.push(done);
            !std::mem::replace(&mut queue.flushing, true)
        };
        if schedule {
            let (sink, queue) = (self.clone(), queue.clone());
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let (lines, waiting) = {
                    let mut queue = lock(&queue);
                    queue.flushing = false;
                    (
                        std::mem::take(&mut queue.lines),
                        std::mem::take(&mut queue.waiting),
                    )
                };
                let result = sink.write_lines(&lines).map_err(|e| e.to_string());
                for waiter in waiting {
                    let _ = waiter.send(result.clone());
                }
            });
        }
        match written.await {
            Ok(result) => result.map_err(io::Error::other),
            Err(_) => Err(io::Error::other("the audit writer stopped")),
        }
    }

    /// Whole lines in one call, so lines from concurrent writers never
    /// interleave.
    fn write_lines(&self, lines: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        self.writes.fetch_add(1, Ordering::Relaxed);
        let result = match &self.target {
            AuditTarget::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(lines).and_then(|()| out.flush())
            }
            AuditTarget::File(_) => match self.file.load().as_deref() {
                Some(mut file) => file.write_all(lines),
                None => Err(io::Error::other("the audit file is not open")),
            },
        };
        self.healthy.store(result.is_ok(), Ordering::Relaxed);
        result
    }
}

fn line_of(record: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut line = Vec::with_capacity(512);
    serde_json::to_writer(&mut line, record)?;
    line.push(b'\n');
    Ok(line)
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_append(path: &std::path::Path) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Decisions name callers and groups: not for every local user.
        options.mode(0o640);
    }
    options
        .open(path)
        .map_err(|e| format!("cannot open the audit log `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Decision;
    use crate::model::AccountId;
    use serde_json::json;

    #[test]
    fn a_record_has_every_field_even_when_unknown() {
        let record = RequestRecord::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_564_800),
            "id-1".into(),
            "127.0.0.1:5000".parse().unwrap(),
            Mode::Shadow,
            "0123456789ab".into(),
        );
        let value = record.to_json(Duration::from_micros(1500));
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "action",
                "auth",
                "cache_security_group",
                "caller",
                "decision",
                "duration_ms",
                "ec2_security_group",
                "error_code",
                "exceptions",
                "explanation",
                "mode",
                "owner_id",
                "params",
                "policy_revision",
                "region",
                "request",
                "request_id",
                "resource_tags",
                "rules",
                "shortened",
                "source",
                "time",
                "upstream_request_id",
                "upstream_status",
                "version"
            ]
        );
        assert_eq!(value["version"], 2);
        assert_eq!(value["decision"], "error");
        assert_eq!(value["mode"], "shadow");
        assert_eq!(value["time"], "2026-11-25T00:00:00.000Z");
        assert_eq!(value["duration_ms"], 1.5);
    }

    #[test]
    fn the_upstream_request_id_is_kept_beside_the_proxys() {
        let headers = |pairs: &[(&'static str, &[u8])]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, http::HeaderValue::from_bytes(value).unwrap());
            }
            map
        };
        let id = "d0c5e2a1-7b1f-4c3e-9a55-3f2b1e0c9d87";
        let mut record = record_from("127.0.0.1:5000");
        record.upstream_request_id =
            upstream_request_id(&headers(&[("x-amzn-requestid", id.as_bytes())]));
        let value = record.to_json(Duration::ZERO);
        assert_eq!(
            (&value["request_id"], &value["upstream_request_id"]),
            (&json!("id-2"), &json!(id))
        );
        // `x-amz-request-id` when there is no `x-amzn-RequestId`, never both.
        assert_eq!(
            upstream_request_id(&headers(&[("x-amz-request-id", b"4442587FB7D0A2F9")])).as_deref(),
            Some("4442587FB7D0A2F9")
        );
        assert_eq!(
            upstream_request_id(&headers(&[
                ("x-amz-request-id", b"other"),
                ("x-amzn-requestid", id.as_bytes()),
            ]))
            .as_deref(),
            Some(id)
        );
        // Cut to a bound, and only visible ASCII.
        let long = "a".repeat(10_000);
        assert_eq!(
            upstream_request_id(&headers(&[("x-amzn-requestid", long.as_bytes())])),
            Some("a".repeat(MAX_UPSTREAM_REQUEST_ID_BYTES))
        );
        for bad in [&b"id with space"[..], b"id\tx", b"caf\xc3\xa9", b""] {
            assert_eq!(
                upstream_request_id(&headers(&[("x-amzn-requestid", bad)])),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(upstream_request_id(&HeaderMap::new()), None);
        // No upstream answered: absent.
        assert_eq!(
            record_from("127.0.0.1:5000").to_json(Duration::ZERO)["upstream_request_id"],
            Value::Null
        );
    }

    /// A record of a request that arrived at the epoch from `peer`.
    fn record_from(peer: &str) -> RequestRecord {
        RequestRecord::new(
            SystemTime::UNIX_EPOCH,
            "id-2".into(),
            peer.parse().unwrap(),
            Mode::Enforce,
            "0123456789ab".into(),
        )
    }

    #[test]
    fn a_decided_record() {
        let mut record = record_from("[::1]:5000");
        record.verdict = Some(Verdict::WouldDeny);
        record.rules = vec!["trial".into()];
        record.owner_id = Some(AccountId::parse("1234-5678-1234").unwrap().to_string());
        let value = record.to_json(Duration::ZERO);
        assert_eq!(value["decision"], "would_deny");
        assert_eq!(value["rules"], json!(["trial"]));
        assert_eq!(value["owner_id"], "123456781234");
        assert_eq!(value["source"], "[::1]:5000");
    }

    /// A nested path's values are written under the path, each item's in
    /// place, secrets hidden, unless the whole parameter is written too.
    #[test]
    fn values_on_nested_paths_are_written_under_the_path() {
        use elasticache_authz_core::decision::RequestFacts;
        let decided = |policy: &str, query: &str| {
            let policy = elasticache_authz_core::policy::compile("p.yaml", policy).unwrap();
            let (request, _) = elasticache_authz_core::request::parse_query(query).unwrap();
            let region = Region::parse("eu-west-1").unwrap();
            let response = policy.is_authorized(&RequestFacts::of(&request, &region, Some("a")));
            let mut record = record_from("127.0.0.1:5000");
            record.set_looked_at(&request, &response.looked_at);
            record.to_json(Duration::ZERO)["params"].clone()
        };
        let item = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest";
        let query = format!(
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=a\
             &{item}.1.DestinationDetails.CloudWatchLogsDetails.LogGroup=/a\
             &{item}.2.DestinationDetails.KinesisFirehoseDetails.DeliveryStream=s"
        );
        let path = "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup";
        let deny = format!("rules:\n  - {{id: d, effect: deny, actions: [ModifyReplicationGroup], params: {{\"{path}\": {{present: false}}}}}}\n");
        assert_eq!(decided(&deny, &query), json!({ path: "[/a, (absent)]" }));
        // With the whole parameter looked at as well, it alone is written.
        let both = deny.replace(
            "{present: false}}",
            "{present: false}, LogDeliveryConfigurations: {present: true}}",
        );
        let params = decided(&both, &query);
        assert_eq!(
            params.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["LogDeliveryConfigurations"]
        );
        // A secret on the path is never written.
        let users = "rules:\n  - {id: d, effect: deny, actions: [CreateUser], params: {AuthenticationMode.Passwords: {present: true}}}\n";
        let create = "Action=CreateUser&Version=2015-02-02&UserId=u&UserName=u&Engine=redis&AccessString=on\
                      &AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1=hunter2hunter2hunter2";
        let params = decided(users, create);
        assert_eq!(
            params,
            json!({ "AuthenticationMode.Passwords": "(secret)" })
        );
    }

    /// A line the proxy writes reads back as the request it decided, and
    /// is decided again the same: secrets present but never written, the
    /// caller's tags and the resources' tags as they were.
    #[test]
    fn a_line_reads_back_and_is_decided_the_same() {
        use elasticache_authz_core::decision::RequestFacts;
        use elasticache_authz_core::facts::ResourceFact;
        use elasticache_authz_core::replay::from_audit_line;
        use elasticache_authz_core::resources::{NamedResource, ResourceKind};
        let policy = elasticache_authz_core::policy::compile(
            "p.yaml",
            "rules:\n\
             \x20 - {id: mine, effect: allow, actions: [CreateUser], callers: [a], params: {AuthenticationMode.Passwords: {present: true}, Tags: {tags: {team: \"${caller.tags.team}\"}}}}\n\
             \x20 - {id: tagged, effect: allow, actions: [ModifyReplicationGroup], callers: [a], resource_tags: {team: \"${caller.tags.team}\"}}\n",
        )
        .unwrap();
        let region = Region::parse("eu-west-1").unwrap();
        let tags = CallerTags::new(vec![("team".into(), "payments".into())]);
        let decide_and_read = |query: &str, resources: Option<&ResourceFacts>| {
            let (request, _) = elasticache_authz_core::request::parse_query(query).unwrap();
            let mut facts = RequestFacts::of(&request, &region, Some("a"))
                .with_caller_tags(&tags)
                .at(1_795_564_800);
            if let Some(resources) = resources {
                facts = facts.with_resources(resources);
            }
            let response = policy.is_authorized(&facts);
            let mut record = RequestRecord::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_564_800),
                "id-3".into(),
                "127.0.0.1:5000".parse().unwrap(),
                Mode::Enforce,
                "0123456789ab".into(),
            );
            record.action = Some(request.action);
            record.region = Some(region.clone());
            record.caller = Some("a".into());
            record.set_request(&request, &tags);
            if let Some(resources) = resources {
                record.set_resource_tags(resources);
            }
            let (verdict, rules) = response.verdict(Mode::Enforce);
            record.verdict = Some(verdict);
            record.rules = rules.to_vec();
            let text = String::from_utf8(line_of(&record.line(Duration::ZERO)).unwrap()).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let recorded = from_audit_line(&value, "audit.log:1".into()).unwrap();
            let again = policy.is_authorized(&recorded.facts(None));
            assert_eq!(again.decision, response.decision, "{text}");
            assert_eq!(recorded.then.as_ref().unwrap().decision, response.decision);
            assert_eq!(recorded.resources.as_ref(), resources);
            (text, response.decision)
        };
        let create = "Action=CreateUser&Version=2015-02-02&UserId=u&UserName=u&Engine=redis&AccessString=on\
                      &AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1=hunter2hunter2hunter2";
        for (tag, decision) in [("payments", Decision::Allow), ("search", Decision::Deny)] {
            let query = format!("{create}&Tags.Tag.1.Key=team&Tags.Tag.1.Value={tag}");
            let (text, decided) = decide_and_read(&query, None);
            assert_eq!(decided, decision);
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains(r#""Passwords":"(secret)""#), "{text}");
        }
        let group = |team: &str| ResourceFacts {
            resources: vec![ResourceFact {
                resource: NamedResource {
                    kind: ResourceKind::ReplicationGroup,
                    id: "payments-a".into(),
                    member: "ReplicationGroupId".into(),
                    region: region.clone(),
                    arn: Some(
                        "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:payments-a"
                            .into(),
                    ),
                },
                state: ResourceState::Tags(vec![("team".into(), team.into())]),
            }],
        };
        let modify = "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-a&ApplyImmediately=true";
        for (team, decision) in [("payments", Decision::Allow), ("search", Decision::Deny)] {
            let (text, decided) = decide_and_read(modify, Some(&group(team)));
            assert_eq!(decided, decision);
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                value["resource_tags"],
                json!([{
                    "kind": "replicationgroup", "id": "payments-a",
                    "member": "ReplicationGroupId", "region": "eu-west-1",
                    "arn": "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:payments-a",
                    "tags": {"team": team},
                }])
            );
            assert_eq!(
                value["request"],
                json!({
                    "params": {"ApplyImmediately": true, "ReplicationGroupId": "payments-a"},
                    "caller_tags": {"team": "payments"},
                })
            );
        }
    }

    /// Past the bound, whole parameters are left out and the cut marked.
    #[test]
    fn a_long_request_is_cut_between_parameters() {
        let query = format!(
            "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=g\
             &ReplicationGroupDescription={}",
            "d".repeat(MAX_REQUEST_BYTES)
        );
        let (request, _) = elasticache_authz_core::request::parse_query(&query).unwrap();
        let mut record = record_from("127.0.0.1:5000");
        record.set_request(&request, &CallerTags::EMPTY);
        let request_json = record.to_json(Duration::ZERO)["request"].clone();
        assert_eq!(request_json["truncated"], true);
        assert_eq!(request_json["params"], json!({"ReplicationGroupId": "g"}));
        assert!(request_json.to_string().len() < MAX_REQUEST_BYTES);
        // Resources past their bound are counted.
        let many = ResourceFacts {
            resources: (0..20)
                .map(|i| elasticache_authz_core::facts::ResourceFact {
                    resource: elasticache_authz_core::resources::NamedResource {
                        kind:
                            elasticache_authz_core::resources::ResourceKind::GlobalReplicationGroup,
                        id: format!("g-{i}"),
                        member: "GlobalReplicationGroupId".into(),
                        region: Region::parse("eu-west-1").unwrap(),
                        arn: None,
                    },
                    state: ResourceState::Untaggable,
                })
                .collect(),
        };
        record.set_resource_tags(&many);
        let list = record.to_json(Duration::ZERO)["resource_tags"].clone();
        let list = list.as_array().unwrap();
        let kept = list.len() - 1;
        assert!(kept > 0 && kept < 20, "{kept}");
        assert_eq!(list[kept], json!({"left_out": 20 - kept}));
        assert_eq!(list[0]["kind"], "globalreplicationgroup");
        assert_eq!(list[0]["tags"], Value::Null);
    }

    #[test]
    fn a_request_that_fits_is_written_as_when_measured() {
        // The one-go path and the measured one write the same text: nested
        // structures, a secret, escapes, caller tags.
        let query = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=g\
             &ReplicationGroupDescription=a%22quoted%22%5Cdescription%0A\
             &NumCacheClusters=2&MultiAZEnabled=true&AuthToken=hunter2-0123456789\
             &Tags.Tag.1.Key=team&Tags.Tag.1.Value=payments\
             &SecurityGroupIds.SecurityGroupId.1=sg-1&SecurityGroupIds.SecurityGroupId.2=sg-2";
        let (request, _) = elasticache_authz_core::request::parse_query(query).unwrap();
        let tags = CallerTags::new(vec![
            ("team".into(), "payments".into()),
            ("env".into(), "prod".into()),
        ]);
        let mut record = record_from("127.0.0.1:5000");
        record.set_request(&request, &tags);
        let written = record.request.as_deref().unwrap().get().to_owned();
        let tag_map = tags.iter().collect();
        let measured = request_within_bound(&request, &tag_map).unwrap();
        assert_eq!(written, measured.get());
        assert!(!written.contains("hunter2"), "{written}");
        let value: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["params"]["AuthToken"], "(secret)");
        assert_eq!(
            value["params"]["Tags"],
            json!([{"Key": "team", "Value": "payments"}])
        );
        assert_eq!(
            value["caller_tags"],
            json!({"env": "prod", "team": "payments"})
        );
        assert_eq!(value.get("truncated"), None);
    }

    #[test]
    fn values_of_requests_not_forwarded_are_shortened() {
        let mut record = record_from("127.0.0.1:5000");
        let long = format!("{}é", "a".repeat(60_000));
        record.cache_security_group = Some(long.clone());
        record.ec2_security_group = Some("app-web".into());
        // Rejected before the policy decided (an unknown key, say): cut.
        let line = record.line(Duration::ZERO);
        assert_eq!(
            line.shortened().fields().collect::<Vec<_>>(),
            ["cache_security_group"]
        );
        let value = serde_json::to_value(&line).unwrap();
        assert_eq!(value["cache_security_group"], "a".repeat(256));
        assert_eq!(value["ec2_security_group"], "app-web");
        assert_eq!(value["shortened"], json!({"cache_security_group": 60_002}));
        assert!(line_of(&line).unwrap().len() < 1024);
        // Cut at a character boundary.
        assert_eq!(shorten("aé", 2), ("a", Some(3)));
        assert_eq!(shorten("aé", 3), ("aé", None));
        // Denied: cut too.
        record.verdict = Some(Verdict::Deny);
        record.explanation = Some("x".repeat(5000));
        let value = record.to_json(Duration::ZERO);
        assert_eq!(value["shortened"]["cache_security_group"], 60_002);
        assert_eq!(
            value["explanation"].as_str().unwrap().len(),
            MAX_EXPLANATION_BYTES
        );
        // Forwarded: the caller is authenticated and accountable; in full.
        for verdict in [Verdict::Allow, Verdict::WouldDeny] {
            record.verdict = Some(verdict);
            let value = record.to_json(Duration::ZERO);
            assert_eq!(value["cache_security_group"], long);
            assert_eq!(value["shortened"], Value::Null);
        }
    }

    impl AuditSink {
        /// One line, written at once.
        fn write(&self, record: &impl Serialize) -> io::Result<()> {
            self.write_lines(&line_of(record)?)
        }
    }

    /// A sink on a fresh file in a fresh folder named after `prefix`.
    fn file_sink(prefix: &str) -> (std::path::PathBuf, std::path::PathBuf, AuditSink) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let sink = AuditSink::open(
            &AuditConfig {
                target: AuditTarget::File(path.clone()),
                reject_on_failure: true,
            },
            1,
        )
        .unwrap();
        (dir, path, sink)
    }

    #[test]
    fn a_file_sink_appends_whole_lines_and_reports_failures() {
        let (dir, path, sink) = file_sink("eap-audit");
        sink.write(&json!({"a": 1})).unwrap();
        sink.write(&json!({"b": "x\ny"})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":\"x\\ny\"}\n"
        );
        assert!(sink.is_healthy());

        #[cfg(target_os = "linux")]
        {
            let full = AuditSink::open(
                &AuditConfig {
                    target: AuditTarget::File("/dev/full".into()),
                    reject_on_failure: true,
                },
                1,
            )
            .unwrap();
            assert!(full.write(&json!({"a": 1})).is_err());
            assert!(!full.is_healthy());
        }
        let missing = AuditSink::open(
            &AuditConfig {
                target: AuditTarget::File(dir.join("no/such/dir/audit.jsonl")),
                reject_on_failure: true,
            },
            1,
        );
        assert!(missing
            .err()
            .unwrap()
            .starts_with("cannot open the audit log `"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appends_are_grouped_and_each_is_written_before_it_returns() {
        let (dir, path, sink) = file_sink("eap-audit-group");
        let sink = Arc::new(sink);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let (sink, path) = (sink.clone(), path.clone());
                    tokio::spawn(async move {
                        sink.append(&json!({ "i": i })).await.unwrap();
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(
                            text.contains(&format!("{{\"i\":{i}}}\n")),
                            "line {i} written"
                        );
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 64);
        let writes = sink.writes.load(Ordering::Relaxed);
        assert!(writes < 8, "64 lines in {writes} writes");

        // A failed group write fails every request in it.
        #[cfg(target_os = "linux")]
        runtime.block_on(async {
            let full = Arc::new(
                AuditSink::open(
                    &AuditConfig {
                        target: AuditTarget::File("/dev/full".into()),
                        reject_on_failure: true,
                    },
                    1,
                )
                .unwrap(),
            );
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let full = full.clone();
                    tokio::spawn(async move { full.append(&json!({ "i": i })).await })
                })
                .collect();
            for task in tasks {
                assert!(task.await.unwrap().is_err());
            }
            assert!(!full.is_healthy());
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_and_reopens_never_split_a_line() {
        let (dir, path, sink) = file_sink("eap-audit-race");
        std::thread::scope(|scope| {
            for writer in 0..8 {
                let sink = &sink;
                scope.spawn(move || {
                    for i in 0..2_000 {
                        // Lines of many lengths, some past a page.
                        let pad = "x".repeat((writer * 997 + i * 31) % 6_000);
                        sink.write(&json!({"writer": writer, "i": i, "pad": pad}))
                            .unwrap();
                    }
                });
            }
            scope.spawn(|| {
                for _ in 0..200 {
                    sink.reopen().unwrap();
                }
            });
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            let value: Value = serde_json::from_str(line).unwrap();
            assert!(seen.insert((value["writer"].as_u64(), value["i"].as_u64())));
        }
        assert_eq!(seen.len(), 16_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
