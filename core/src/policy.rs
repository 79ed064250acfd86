//! The policy: YAML text validated strictly and compiled into fast matchers.
//! No I/O here; the caller reads the file and passes its name for messages.
//! Every error is collected, each naming the rule and the field, with a hint.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_yaml::Value;

use crate::conditions::{self, ParamCondition};
use crate::diagnostics::{
    found, syntax_error, unknown_keys, Diagnostics, ErrorKind, Fields, Place, Reported,
};
use crate::model::{AccountId, Action, ActionSet, Region};
use crate::names::{self, NameCase};
use crate::request::{
    CACHE_SECURITY_GROUP_NAME, CACHE_SECURITY_GROUP_NAME_LIST, EC2_SECURITY_GROUP_NAME,
    EC2_SECURITY_GROUP_OWNER_ID,
};
pub use crate::rule::{Effect, Mode};
use crate::rule::{Expiry, OtherParams, Rule};
use crate::rule_index::{self, ActionRules};
use crate::text::did_you_mean;
use crate::yaml_positions::Positions;

/// The keys a rule may have.
pub const RULE_KEYS: [&str; 17] = [
    "id",
    "effect",
    "mode",
    "actions",
    "callers",
    "except_callers",
    "regions",
    "owner_ids",
    "cache_security_groups",
    "ec2_security_groups",
    "params",
    "other_params",
    "other_params_allowed",
    "resource_tags",
    "message",
    "expires",
    "reason",
];
const MAX_MESSAGE_CHARS: usize = 512;
/// Bound on a compiled regex set, so a policy cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// A compiled policy, ready to decide.
#[derive(Debug)]
pub struct Policy {
    pub(crate) rules: Vec<Rule>,
    /// For each action index, the rules that name the action, indexed.
    pub(crate) by_action: Vec<Arc<ActionRules>>,
}

impl Policy {
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn has_shadow_rules(&self) -> bool {
        self.rules.iter().any(|r| r.mode == Mode::Shadow)
    }

    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// The first time after `now` at which an exception ends, in seconds
    /// since the epoch: for the metrics.
    pub fn next_expiry(&self, now: i64) -> Option<i64> {
        self.rules
            .iter()
            .filter_map(|r| r.expires.as_ref())
            .map(|e| e.at)
            .filter(|at| *at > now)
            .min()
    }

    /// Whether any rule has `resource_tags`: the proxy then needs its own
    /// account id, to name the resources.
    pub fn has_resource_tags(&self) -> bool {
        self.rules.iter().any(|r| r.resource_tags.is_some())
    }
}

/// Validates and compiles a policy. `file` names it in messages. Caller
/// names in rules are checked for their form only: a name the callers file
/// lacks is a warning (`lint::absent_callers`), never an error, so
/// that removing a caller from the callers file always revokes it.
pub fn compile(file: &str, text: &str) -> Result<Policy, Diagnostics> {
    let positions = Positions::of(text);
    if let Some(policy) = compile_streamed(file, text, &positions) {
        return Ok(policy);
    }
    let mut out = Diagnostics::new(file, "policy");
    let policy = compile_value(text, &positions, &mut out);
    out.finish(policy, &positions)
}

/// The policy compiled rule by rule as the YAML reader builds each, so
/// that only one rule's tree is in memory at a time, not the whole
/// document's (70 MiB for 10,000 rules). `None` at the first error or at
/// anything that reader leaves to serde_yaml: the whole document is then
/// read again as a tree, whose errors are the ones reported, so they are
/// the same whichever path found them.
fn compile_streamed(file: &str, text: &str, positions: &Positions<'_>) -> Option<Policy> {
    let mut out = Diagnostics::new(file, "policy");
    let mut rules = RuleList::default();
    let top = crate::yaml_load::stream_items(text, "rules", &mut |raw| {
        rules.add(&raw, positions, &mut out);
        out.is_empty()
    })?;
    match compile_top(top, rules, positions, &mut out) {
        Ok(policy) if out.is_empty() => Some(policy),
        _ => None,
    }
}

fn compile_value(
    text: &str,
    positions: &Positions<'_>,
    out: &mut Diagnostics,
) -> Result<Policy, Reported> {
    let top = crate::yaml_load::from_str(text).map_err(|e| out.report(syntax_error(&e, true)))?;
    compile_top(top, RuleList::default(), positions, out)
}

/// The policy from its top-level node. `rules` holds the rules already
/// compiled from items of `rules` taken out of `top` as they were read.
fn compile_top(
    top: Value,
    mut rules: RuleList,
    positions: &Positions<'_>,
    out: &mut Diagnostics,
) -> Result<Policy, Reported> {
    let root = Place::root();
    let top = match top {
        Value::Mapping(top) => top,
        Value::Null => {
            return Err(out.report(
                root.error(ErrorKind::Empty, "the policy is empty")
                    .hint("start the file with `rules:`; `rules: []` denies everything"),
            ))
        }
        other => {
            return Err(out.report(
                root.error(
                    ErrorKind::WrongType,
                    format!(
                        "the policy must be a mapping with the key `rules`, not {}",
                        found(&other)
                    ),
                )
                .hint("start the file with `rules:`"),
            ))
        }
    };
    unknown_keys(
        &top,
        &root,
        &["rules"],
        "the only top-level key is `rules`",
        out,
    );
    let Some(rules_value) = top.get("rules") else {
        return Err(out.report(
            root.error(ErrorKind::Missing, "missing the key `rules`")
                .hint("`rules: []` is an empty policy that denies everything"),
        ));
    };
    let Value::Sequence(raw_rules) = rules_value else {
        return Err(out.report(
            root.child("rules")
                .error(
                    ErrorKind::WrongType,
                    format!(
                        "`rules` must be a list of rules, not {}",
                        found(rules_value)
                    ),
                )
                .hint("write each rule as `- id: …`"),
        ));
    };
    rules.reserve(raw_rules.len());
    for raw in raw_rules {
        rules.add(raw, positions, out);
    }
    Ok(rules.finish())
}

/// The rules compiled so far, in policy order.
#[derive(Default)]
struct RuleList {
    /// How many items of `rules` were read, compiled or not.
    read: usize,
    rules: Vec<Rule>,
    action_sets: Vec<ActionSet>,
    ids: BTreeSet<String>,
}

impl RuleList {
    fn reserve(&mut self, more: usize) {
        self.rules.reserve_exact(more);
        self.action_sets.reserve_exact(more);
    }

    /// Compiles the next item of `rules`, reporting what is wrong to `out`.
    fn add(&mut self, raw: &Value, positions: &Positions<'_>, out: &mut Diagnostics) {
        let index = self.read;
        self.read += 1;
        let mut ctx = RuleContext {
            label: format!("#{}", index + 1),
            index,
            positions,
            out,
        };
        let compiled = compile_rule(raw, &mut ctx);
        // Checked whatever else is wrong with the rule, so every error shows at once.
        if let Some(Value::String(id)) = raw.get("id") {
            if !self.ids.insert(id.clone()) {
                ctx.error(
                    Some("id"),
                    ErrorKind::Duplicate,
                    format!("duplicate rule id `{id}`"),
                    Some(
                        "rule ids must be unique: the decision names the rules that decided it"
                            .into(),
                    ),
                );
            }
        }
        if let Some((rule, actions)) = compiled {
            self.rules.push(rule);
            self.action_sets.push(actions);
        }
    }

    fn finish(self) -> Policy {
        let RuleList {
            mut rules,
            action_sets,
            ..
        } = self;
        // Read item by item, the list grew by doubling.
        rules.shrink_to_fit();
        let by_action =
            rule_index::index(&rules, |rule, action| action_sets[rule].contains(action));
        Policy { rules, by_action }
    }
}

struct RuleContext<'a> {
    label: String,
    index: usize,
    positions: &'a Positions<'a>,
    out: &'a mut Diagnostics,
}

impl RuleContext<'_> {
    /// The rule, or its key `field` (a path such as `params.Port.range`).
    fn place(&self, field: Option<&str>) -> Place {
        let index = self.index.to_string();
        let rule = Place::entry(&["rules", &index], format!("rule `{}`", self.label));
        field
            .into_iter()
            .flat_map(|f| f.split('.'))
            .fold(rule, |place, key| place.child(key))
    }

    fn error(
        &mut self,
        field: Option<&str>,
        kind: ErrorKind,
        message: String,
        hint: Option<String>,
    ) {
        let error = self.place(field).error(kind, message).maybe_hint(hint);
        self.out.report(error);
    }

    /// Item `item` of the list `field`, as written: a number shows as the
    /// file has it (`0x1F`, not 31).
    fn item_text(&self, field: &str, item: usize, value: &Value) -> String {
        let (index, item) = (self.index.to_string(), item.to_string());
        match self
            .positions
            .plain_scalar(&["rules", &index, field, &item])
        {
            Some(raw) if !value.is_string() => format!("`{raw}`"),
            _ => found(value),
        }
    }

    /// The text of item `item` of `field` when some YAML reader takes it
    /// for a number: a number to serde_yaml, or an unquoted run of digits
    /// (serde_yaml keeps `012345670123` a string, PyYAML reads 1402433619).
    fn unquoted_number(&self, field: &str, item: usize, value: &Value) -> Option<String> {
        let (index, position) = (self.index.to_string(), item.to_string());
        let path = ["rules", &index, field, &position];
        match value {
            Value::Number(n) => Some(
                self.positions
                    .plain_scalar(&path)
                    .map_or_else(|| n.to_string(), str::to_owned),
            ),
            Value::String(text)
                if text.starts_with(|c: char| c.is_ascii_digit())
                    && text.bytes().all(|b| b.is_ascii_digit() || b == b'_')
                    && self.positions.is_plain(&path, text) =>
            {
                Some(text.clone())
            }
            _ => None,
        }
    }
}

/// One rule, key by key: each key has a function of its own below, which
/// reports what is wrong with it and returns `None` then.
fn compile_rule(raw: &Value, ctx: &mut RuleContext<'_>) -> Option<(Rule, ActionSet)> {
    if !raw.is_mapping() {
        ctx.error(
            None,
            ErrorKind::WrongType,
            format!("a rule must be a mapping (`- id: …`), not {}", found(raw)),
            None,
        );
        return None;
    }
    // The id first, so that every later error names the rule.
    let id = rule_id(raw.get("id"), ctx);
    let fields = Fields::of(raw, ctx.place(None), &RULE_KEYS, "a rule", ctx.out).ok()?;
    let effect = effect(fields.raw("effect"), ctx);
    let mode = mode(fields.raw("mode"), ctx);
    let actions = match string_list(fields.raw("actions"), "actions", ctx) {
        None => Some(ActionSet::all()),
        Some(list) => compile_actions(&list, ctx),
    };
    let callers = callers(fields.raw("callers"), ctx);
    let except_callers = except_callers(fields.raw("except_callers"), callers.is_some(), ctx);
    // A condition in a deny rule matches what it cannot judge, and one in
    // an allow rule does not: either way the request is denied.
    let deny = effect == Some(Effect::Deny);
    // The ingress keys first: they are shorthand for conditions on their
    // parameters, checked before the rule's other parameter conditions.
    let owner_ids = owner_id_list(fields.raw("owner_ids"), ctx)
        .map(|ids| conditions::owner_ids(EC2_SECURITY_GROUP_OWNER_ID, ids, deny));
    let cache_security_groups = group_names(
        fields.raw("cache_security_groups"),
        "cache_security_groups",
        CACHE_SECURITY_GROUP_NAME,
        // CreateCacheCluster, CreateReplicationGroup and their Modify
        // calls attach groups through the list instead.
        Some(CACHE_SECURITY_GROUP_NAME_LIST),
        names::CACHE_SECURITY_GROUP_NAMES,
        deny,
        ctx,
    );
    let ec2_security_groups = group_names(
        fields.raw("ec2_security_groups"),
        "ec2_security_groups",
        EC2_SECURITY_GROUP_NAME,
        None,
        names::EC2_SECURITY_GROUP_NAMES,
        deny,
        ctx,
    );
    let params = params(fields.raw("params"), actions, deny, ctx);
    let regions = regions(fields.raw("regions"), ctx);
    let message = message(fields.raw("message"), ctx);
    let expires = expires(fields.raw("expires"), ctx);
    let reason = reason(fields.raw("reason"), fields.raw("expires").is_some(), ctx);
    let resource_tags = match fields.raw("resource_tags") {
        None => Some(None),
        Some(value) => {
            let place = ctx.place(Some("resource_tags"));
            conditions::resource_tags(value, &place, ctx.out).map(Some)
        }
    };
    let other_params = other_params(
        fields.raw("other_params"),
        fields.raw("other_params_allowed"),
        actions,
        effect,
        ctx,
    );
    let params: Vec<ParamCondition> = owner_ids
        .into_iter()
        .chain(cache_security_groups?)
        .chain(ec2_security_groups?)
        .chain(params?)
        .collect();
    Some((
        Rule {
            id: id?,
            effect: effect?,
            mode: mode?,
            callers,
            regions,
            other_params: close(other_params?, &params),
            params,
            except_callers,
            message: message?,
            resource_tags: resource_tags?.map(Box::new),
            expires: expires?.map(Box::new),
            reason: reason?,
        },
        actions?,
    ))
}

/// `expires`: an RFC 3339 time after which the rule matches nothing.
fn expires(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Option<Expiry>> {
    let Some(value) = value else {
        return Some(None);
    };
    let parsed = value
        .as_str()
        .and_then(|text| Some((text, crate::params::rfc3339_seconds(text)?)));
    match parsed {
        Some((text, at)) => Some(Some(Expiry {
            at,
            written: text.to_owned(),
        })),
        None => {
            ctx.error(
                Some("expires"),
                ErrorKind::InvalidValue,
                format!(
                    "`expires` must be a quoted RFC 3339 time, not {}",
                    found(value)
                ),
                Some("write `expires: \"2026-12-31T23:59:59Z\"`".into()),
            );
            None
        }
    }
}

/// `reason`: one line, required with `expires` (an exception says why).
fn reason(
    value: Option<&Value>,
    expires: bool,
    ctx: &mut RuleContext<'_>,
) -> Option<Option<String>> {
    match value {
        None if expires => {
            ctx.error(
                Some("expires"),
                ErrorKind::Missing,
                "a rule that expires is an exception, and needs a `reason`".to_owned(),
                Some("add `reason: \"TICKET-123: why\"`".into()),
            );
            None
        }
        None => Some(None),
        Some(Value::String(r))
            if !r.trim().is_empty()
                && r.chars().count() <= MAX_MESSAGE_CHARS
                && !r.chars().any(char::is_control) =>
        {
            Some(Some(r.clone()))
        }
        Some(other) => {
            ctx.error(
                Some("reason"),
                ErrorKind::InvalidValue,
                format!(
                    "`reason` must be one line of 1 to {MAX_MESSAGE_CHARS} characters, not {}",
                    found(other)
                ),
                None,
            );
            None
        }
    }
}

/// `id`: unique (checked by the caller), of letters, digits, `.`, `_`, `-`.
fn rule_id(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<String> {
    match value {
        Some(Value::String(id)) if is_valid_rule_id(id) => {
            ctx.label = id.clone();
            Some(id.clone())
        }
        Some(Value::String(id)) => {
            ctx.error(
                Some("id"),
                ErrorKind::InvalidValue,
                format!("rule id `{id}` is not allowed"),
                Some("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 128".into()),
            );
            None
        }
        Some(other) => {
            ctx.error(
                Some("id"),
                ErrorKind::WrongType,
                format!("`id` must be a string, not {}", found(other)),
                Some("quote the id".into()),
            );
            None
        }
        None => {
            ctx.error(
                None,
                ErrorKind::Missing,
                "missing the key `id`".into(),
                Some("give every rule a unique `id`".into()),
            );
            None
        }
    }
}

/// `effect`: `allow` or `deny`, and no default.
fn effect(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Effect> {
    match value {
        Some(value) if value.as_str() == Some("allow") => Some(Effect::Allow),
        Some(value) if value.as_str() == Some("deny") => Some(Effect::Deny),
        Some(value) => {
            let error =
                ctx.place(Some("effect"))
                    .not_one_of("effect", value, &["allow", "deny"], None);
            ctx.out.report(error);
            None
        }
        None => {
            ctx.error(
                None,
                ErrorKind::Missing,
                "missing the key `effect`".into(),
                Some("`effect: allow` or `effect: deny`".into()),
            );
            None
        }
    }
}

/// `mode`: `enforce` (the default) or `shadow`.
fn mode(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Mode> {
    let Some(value) = value else {
        return Some(Mode::Enforce);
    };
    let mode = value.as_str().and_then(Mode::parse);
    if mode.is_none() {
        let error = ctx.place(Some("mode")).not_one_of(
            "mode",
            value,
            &["enforce", "shadow"],
            Some("`mode: shadow` computes and logs the rule's decision without enforcing it"),
        );
        ctx.out.report(error);
    }
    mode
}

/// `callers`: names of the callers file (a name it lacks is a warning).
fn callers(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Vec<String>> {
    string_list(value, "callers", ctx).inspect(|list| {
        for name in list {
            if !crate::callers::is_valid_caller_name(name) {
                ctx.error(
                    Some("callers"),
                    ErrorKind::InvalidValue,
                    format!("`{name}` is not a caller name"),
                    Some("caller names use letters, digits, `.`, `_` and `-`, at most 64".into()),
                );
            }
        }
    })
}

/// `except_callers`: the callers the rule is not for; not with `callers`.
fn except_callers(
    value: Option<&Value>,
    has_callers: bool,
    ctx: &mut RuleContext<'_>,
) -> Option<Vec<String>> {
    let except_callers = string_list(value, "except_callers", ctx);
    if except_callers.is_some() && has_callers {
        ctx.error(
            Some("except_callers"),
            ErrorKind::Conflict,
            "a rule has `callers` or `except_callers`, not both".into(),
            Some("`callers` lists who the rule is for; `except_callers` who it is not for".into()),
        );
    }
    for name in except_callers.iter().flatten() {
        if !crate::callers::is_valid_caller_name(name) {
            ctx.error(
                Some("except_callers"),
                ErrorKind::InvalidValue,
                format!("`{name}` is not a caller name"),
                None,
            );
        }
    }
    except_callers
}

/// `params`: conditions on the parameters of the rule's actions. `Some`
/// of none when the key is left out; `None` when it failed, or when the
/// actions did (their parameters cannot be checked then).
fn params(
    value: Option<&Value>,
    actions: Option<ActionSet>,
    deny: bool,
    ctx: &mut RuleContext<'_>,
) -> Option<Vec<ParamCondition>> {
    match (value, actions) {
        (Some(value), Some(set)) => {
            let in_rule: Vec<Action> = set.iter().collect();
            let place = ctx.place(Some("params"));
            conditions::compile(value, &in_rule, deny, &place, ctx.out)
        }
        (Some(_), None) => None,
        (None, _) => Some(Vec::new()),
    }
}

/// `other_params` (`allow`, or `deny` to close an allow rule) and
/// `other_params_allowed` (the parameters a closed rule lets pass without
/// a condition), checked against the rule's actions. The names of the
/// rule's conditions are added by `close`.
fn other_params(
    value: Option<&Value>,
    allowed: Option<&Value>,
    actions: Option<ActionSet>,
    effect: Option<Effect>,
    ctx: &mut RuleContext<'_>,
) -> Option<OtherParams> {
    let said = match value {
        None => OtherParams::Unsaid,
        Some(v) if v.as_str() == Some("allow") => OtherParams::Allow,
        Some(v) if v.as_str() == Some("deny") => OtherParams::Deny {
            named: Box::default(),
            allowed: Box::default(),
        },
        Some(v) => {
            let error = ctx.place(Some("other_params")).not_one_of(
                "other_params",
                v,
                &["allow", "deny"],
                Some("`other_params: deny` makes the rule not match a request carrying a parameter it does not name"),
            );
            ctx.out.report(error);
            return None;
        }
    };
    // A deny rule that stopped matching on an unnamed parameter would let
    // the request through: closing is for allow rules only.
    if effect == Some(Effect::Deny) && value.is_some() {
        ctx.error(
            Some("other_params"),
            ErrorKind::Conflict,
            "`other_params` applies to allow rules only, and this rule has `effect: deny`".into(),
            Some("leave `other_params` out of deny rules: they match whatever else the request carries".into()),
        );
        return None;
    }
    if allowed.is_none() {
        return Some(said);
    }
    let OtherParams::Deny { .. } = said else {
        ctx.error(
            Some("other_params_allowed"),
            ErrorKind::Conflict,
            "`other_params_allowed` only applies with `other_params: deny`".into(),
            Some("add `other_params: deny`, or leave `other_params_allowed` out".into()),
        );
        return None;
    };
    // An empty list lets nothing more pass, which is what it says.
    let allowed = allowed.filter(|v| v.as_sequence().is_none_or(|items| !items.is_empty()));
    let Some(list) = string_list(allowed, "other_params_allowed", ctx) else {
        return Some(said);
    };
    let in_rule: Vec<Action> = actions?.iter().collect();
    let mut names: Vec<&'static str> = Vec::with_capacity(list.len());
    let mut ok = true;
    for name in &list {
        let member = in_rule
            .iter()
            .find_map(|a| a.operation().member(name))
            .map(|m| m.query_name());
        match member {
            Some(member) if names.contains(&member) => {
                ctx.error(
                    Some("other_params_allowed"),
                    ErrorKind::Duplicate,
                    format!("`{name}` is listed twice"),
                    None,
                );
                ok = false;
            }
            Some(member) => names.push(member),
            None => {
                let known = in_rule
                    .iter()
                    .flat_map(|a| a.operation().members().iter().map(|m| m.query_name()));
                let hint = did_you_mean(name, known).map_or_else(
                    || {
                        "parameters are named as the Query API names them, e.g. `ApplyImmediately`"
                            .to_owned()
                    },
                    |close| format!("did you mean `{close}`?"),
                );
                ctx.error(
                    Some("other_params_allowed"),
                    ErrorKind::UnknownName,
                    format!("`{name}` is not a parameter of any of the rule's actions"),
                    Some(hint),
                );
                ok = false;
            }
        }
    }
    ok.then_some(OtherParams::Deny {
        named: Box::default(),
        allowed: names.into_boxed_slice(),
    })
}

/// A closed rule lets pass the parameters its conditions name (the ingress
/// keys' too) and those of `other_params_allowed`.
fn close(other: OtherParams, params: &[ParamCondition]) -> OtherParams {
    match other {
        OtherParams::Deny { allowed, .. } => {
            let mut named: Vec<&'static str> = params.iter().flat_map(|c| c.names()).collect();
            named.extend(&allowed);
            named.sort_unstable();
            named.dedup();
            OtherParams::Deny {
                named: named.into_boxed_slice(),
                allowed,
            }
        }
        open @ (OtherParams::Unsaid | OtherParams::Allow) => open,
    }
}

/// `regions`: AWS region names.
fn regions(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Vec<Region>> {
    string_list(value, "regions", ctx).map(|list| {
        let mut regions: Vec<Region> = list
            .iter()
            .filter_map(|r| {
                let region = Region::parse(r);
                if region.is_none() {
                    ctx.error(
                        Some("regions"),
                        ErrorKind::InvalidValue,
                        format!("`{r}` is not an AWS region name"),
                        Some("regions look like `us-east-1` or `eu-west-1`".into()),
                    );
                }
                region
            })
            .collect();
        // Kept for the policy's life, and thousands of rules have them:
        // collected through a filter, a one-item list has room for four.
        regions.shrink_to_fit();
        regions
    })
}

/// `message`: one line for the rejection. `Some(None)` when left out.
fn message(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(Value::String(m))
            if m.chars().count() <= MAX_MESSAGE_CHARS && !m.chars().any(char::is_control) =>
        {
            Some(Some(m.clone()))
        }
        Some(Value::String(m)) => {
            let chars = m.chars().count();
            let what = if chars > MAX_MESSAGE_CHARS {
                format!("has {chars}")
            } else {
                "holds a line break or another control character".to_owned()
            };
            ctx.error(
                Some("message"),
                ErrorKind::InvalidValue,
                format!("`message` must be one line of at most {MAX_MESSAGE_CHARS} characters; this one {what}"),
                None,
            );
            None
        }
        Some(other) => {
            ctx.error(
                Some("message"),
                ErrorKind::WrongType,
                format!("`message` must be a string, not {}", found(other)),
                Some("quote the message".into()),
            );
            None
        }
    }
}

fn is_valid_rule_id(id: &str) -> bool {
    id.len() <= 128
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A list of strings, or `None` when the key is absent. Errors are recorded;
/// an empty list is an error because it would silently match nothing.
fn string_list(
    value: Option<&Value>,
    field: &str,
    ctx: &mut RuleContext<'_>,
) -> Option<Vec<String>> {
    let items = list_items(value?, field, ctx);
    let mut list: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| string_item(field, i, item, ctx))
        .collect();
    // As for `regions`: `callers` lists are kept.
    list.shrink_to_fit();
    Some(list)
}

/// The items of the list `field` (none when it is not a list, which is
/// recorded, as is an empty list).
fn list_items<'v>(value: &'v Value, field: &str, ctx: &mut RuleContext<'_>) -> &'v [Value] {
    let Value::Sequence(items) = value else {
        ctx.error(
            Some(field),
            ErrorKind::WrongType,
            format!("`{field}` must be a list, not {}", found(value)),
            Some(format!("write `{field}: [value, …]`")),
        );
        return &[];
    };
    if items.is_empty() {
        ctx.error(
            Some(field),
            ErrorKind::Empty,
            format!("`{field}` is empty and would match nothing"),
            Some(format!("leave `{field}` out to match anything")),
        );
    }
    items
}

fn string_item(field: &str, i: usize, item: &Value, ctx: &mut RuleContext<'_>) -> Option<String> {
    match item {
        Value::String(s) => Some(s.clone()),
        other => {
            let shown = ctx.item_text(field, i, other);
            ctx.error(
                Some(field),
                ErrorKind::WrongType,
                format!("{shown} in `{field}` is not a string"),
                Some("quote the value".into()),
            );
            None
        }
    }
}

fn compile_actions(list: &[String], ctx: &mut RuleContext<'_>) -> Option<ActionSet> {
    let mut set = ActionSet::EMPTY;
    let mut ok = true;
    for entry in list {
        let matched: Vec<Action> = if entry.contains('*') {
            Action::all()
                .filter(|a| wildcard_match(entry, a.name()))
                .collect()
        } else {
            Action::from_name(entry).into_iter().collect()
        };
        if matched.is_empty() {
            ok = false;
            let hint = did_you_mean(entry, Action::all_names().iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "action names are case-sensitive, e.g. `AuthorizeCacheSecurityGroupIngress` or `Describe*`".into());
            let what = if entry.contains('*') {
                "matches no ElastiCache action"
            } else {
                "is not an ElastiCache action"
            };
            ctx.error(
                Some("actions"),
                ErrorKind::UnknownName,
                format!("`{entry}` {what}"),
                Some(hint),
            );
        }
        for action in matched {
            set.insert(action);
        }
    }
    ok.then_some(set)
}

/// `*` matches any run of characters; everything else is literal.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = pieces.split_first().unwrap_or((&"", &[]));
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

fn owner_id_list(value: Option<&Value>, ctx: &mut RuleContext<'_>) -> Option<Vec<AccountId>> {
    let items = list_items(value?, "owner_ids", ctx);
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        // YAML readers take an unquoted account number for an integer, and
        // some drop its leading zeros, so only quoted strings are taken,
        // whatever the digits.
        if let Some(raw) = ctx.unquoted_number("owner_ids", i, item) {
            ctx.error(
                Some("owner_ids"),
                ErrorKind::WrongType,
                format!("account id {raw} must be a quoted string"),
                Some(format!("write \"{raw}\"")),
            );
            continue;
        }
        let Some(raw) = string_item("owner_ids", i, item, ctx) else {
            continue;
        };
        match AccountId::parse(&raw) {
            Some(id) => ids.push(id),
            None => ctx.error(
                Some("owner_ids"),
                ErrorKind::InvalidValue,
                format!("`{raw}` is not a 12-digit AWS account id"),
                Some("write it as \"123456781234\" or \"1234-5678-1234\"".into()),
            ),
        }
    }
    Some(ids)
}

/// `Some(None)`: the key is left out; `None`: it failed.
fn group_names(
    value: Option<&Value>,
    field: &'static str,
    parameter: &'static str,
    list_name: Option<&'static str>,
    case: NameCase,
    deny: bool,
    ctx: &mut RuleContext<'_>,
) -> Option<Option<ParamCondition>> {
    let Some(list) = string_list(value, field, ctx) else {
        return Some(None);
    };
    let place = ctx.place(Some(field));
    let matcher = conditions::name_matcher(list, Some(case), REGEX_SIZE_LIMIT, &place, ctx.out)?;
    Some(Some(conditions::group_names(
        field, parameter, list_name, matcher, deny,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::diagnostics::Diagnostic;

    fn errors(text: &str) -> Vec<Diagnostic> {
        compile("p.yaml", text).unwrap_err().errors
    }

    /// Each error's message and hint, in order.
    fn messages_and_hints(errs: &[Diagnostic]) -> Vec<(&str, Option<&str>)> {
        errs.iter()
            .map(|e| (e.message.as_str(), e.hint.as_deref()))
            .collect()
    }

    /// The rule and the key an error names.
    fn named(e: &Diagnostic) -> (Option<&str>, Option<&str>) {
        (e.place.subject.as_deref(), e.place.key.as_deref())
    }

    #[test]
    fn compiles_the_documented_example() {
        let policy = compile(
            "p.yaml",
            r#"
rules:
  - id: prod-app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    regions: [us-east-1, eu-west-1]
    owner_ids: ["123456781234", "1234-5678-9999"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
    message: "ask the platform team"
  - id: describe
    effect: allow
    actions: ["Describe*"]
"#,
        )
        .unwrap();
        assert_eq!(policy.rule_count(), 2);
        let describe_clusters = Action::from_name("DescribeCacheClusters").unwrap();
        assert_eq!(policy.by_action[describe_clusters.index()].all, vec![1]);
        let ingress = Action::from_name("AuthorizeCacheSecurityGroupIngress").unwrap();
        assert_eq!(policy.by_action[ingress.index()].all, vec![0]);
    }

    #[test]
    fn an_empty_policy_is_valid() {
        assert_eq!(compile("p.yaml", "rules: []").unwrap().rule_count(), 0);
    }

    #[test]
    fn collects_every_error_with_rule_field_and_hint() {
        let errs = errors(
            r#"
rules:
  - id: first
    effect: allow
    actions: [AuthoriseCacheSecurityGroupIngress, "Frobnicate*"]
    regions: [us-east-1, "US-EAST-1"]
    owner_ids: [123456781234, "12345"]
    cache_security_groups: ["prod-(unclosed"]
    ec2_security_group: ["x"]
  - id: first
    effect: permit
  - effect: deny
"#,
        );
        let find = |needle: &str| {
            errs.iter()
                .find(|e| e.message.contains(needle))
                .unwrap_or_else(|| panic!("no error mentioning {needle:?} in {errs:#?}"))
        };
        let e = find("AuthoriseCacheSecurityGroupIngress");
        assert_eq!(named(e), (Some("rule `first`"), Some("actions")));
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `AuthorizeCacheSecurityGroupIngress`?")
        );
        find("`Frobnicate*` matches no ElastiCache action");
        assert_eq!(named(find("US-EAST-1")).1, Some("regions"));
        assert!(find("account id 123456781234 must be a quoted string")
            .hint
            .is_some());
        let e = find("prod-(unclosed");
        assert_eq!(named(e).1, Some("cache_security_groups"));
        let e = find("unknown key `ec2_security_group`");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `ec2_security_groups`?")
        );
        find("duplicate rule id `first`");
        find("`effect` must be `allow` or `deny`, not `permit`");
        assert_eq!(named(find("missing the key `id`")).0, Some("rule `#3`"));
        let shown = compile(
            "policies/p.yaml",
            "rules: [{id: a, effect: allow, regions: []}]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            shown.contains("policies/p.yaml:1:32: rule `a`: `regions`: `regions` is empty and would match nothing (hint: leave `regions` out to match anything)"),
            "{shown}"
        );
        // Lines and columns point at the field, or at the rule.
        let at = |needle: &str| {
            let e = find(needle);
            e.position.map(|p| (p.line, p.column))
        };
        assert_eq!(at("AuthoriseCacheSecurityGroupIngress"), Some((5, 5)));
        assert_eq!(at("unknown key `ec2_security_group`"), Some((9, 5)));
        assert_eq!(at("`effect` must be `allow` or `deny`"), Some((11, 5)));
        assert_eq!(at("missing the key `id`"), Some((12, 5)));
        let bad_yaml = compile("p.yaml", "rules:\n  - id: [\n").unwrap_err();
        assert!(bad_yaml.errors[0].position.is_some(), "{bad_yaml}");
    }

    /// Each error carries a kind that says what is wrong whatever the
    /// words, for rule keys and parameter conditions alike.
    #[test]
    fn errors_carry_their_kind() {
        use crate::diagnostics::ErrorKind as K;
        let cases: [(&str, K); 11] = [
            ("{id: a, effect: allow, colour: red}", K::UnknownKey),
            ("{id: a, effect: Allow}", K::NotOneOf),
            ("{id: a}", K::Missing),
            ("{id: a, effect: allow, actions: []}", K::Empty),
            ("{id: a, effect: allow, actions: [Frobnicate]}", K::UnknownName),
            ("{id: a, effect: allow, regions: [mars-1]}", K::InvalidValue),
            ("{id: a, effect: allow, callers: [x], except_callers: [y]}", K::Conflict),
            ("{id: a, effect: allow, actions: [CreateUser], params: {Passwords: {all_in: [x]}}}", K::Secret),
            ("{id: a, effect: allow, actions: [CreateUser], params: {UserName: {range: [1, 2]}}}", K::NotApplicable),
            ("{id: a, effect: allow, actions: [CreateUser], params: {UserNam: {present: true}}}", K::UnknownName),
            ("{id: a, effect: allow, actions: [CreateUser], params: {UserName: {present: yes}}}", K::WrongType),
        ];
        for (rule, kind) in cases {
            let found: Vec<K> = errors(&format!("rules: [{rule}]"))
                .iter()
                .map(|e| e.kind)
                .collect();
            assert_eq!(found, [kind], "{rule}");
        }
        let twice = errors("rules: [{id: a, effect: allow}, {id: a, effect: deny}]");
        assert_eq!(
            twice.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [K::Duplicate]
        );
        assert_eq!(
            errors("rules: [")
                .iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>(),
            [K::Syntax]
        );
    }

    /// `other_params` closes allow rules only; `other_params_allowed` goes
    /// with `other_params: deny` and names parameters of the rule's actions.
    #[test]
    fn other_params_keys() {
        use crate::diagnostics::ErrorKind as K;
        let modify = "actions: [ModifyReplicationGroup]";
        let cases: [(String, K, &str, Option<&str>); 6] = [
            (
                format!("{{id: a, effect: allow, {modify}, other_params: closed}}"),
                K::NotOneOf,
                "`other_params` must be `allow` or `deny`, not `closed`",
                Some("`other_params: deny` makes the rule not match a request carrying a parameter it does not name"),
            ),
            (
                format!("{{id: a, effect: deny, {modify}, other_params: deny}}"),
                K::Conflict,
                "`other_params` applies to allow rules only, and this rule has `effect: deny`",
                Some("leave `other_params` out of deny rules: they match whatever else the request carries"),
            ),
            (
                format!("{{id: a, effect: allow, {modify}, other_params_allowed: [ApplyImmediately]}}"),
                K::Conflict,
                "`other_params_allowed` only applies with `other_params: deny`",
                Some("add `other_params: deny`, or leave `other_params_allowed` out"),
            ),
            (
                format!("{{id: a, effect: allow, {modify}, other_params: allow, other_params_allowed: []}}"),
                K::Conflict,
                "`other_params_allowed` only applies with `other_params: deny`",
                Some("add `other_params: deny`, or leave `other_params_allowed` out"),
            ),
            (
                format!("{{id: a, effect: allow, {modify}, other_params: deny, other_params_allowed: [ApplyImediately]}}"),
                K::UnknownName,
                "`ApplyImediately` is not a parameter of any of the rule's actions",
                Some("did you mean `ApplyImmediately`?"),
            ),
            (
                format!("{{id: a, effect: allow, {modify}, other_params: deny, other_params_allowed: [ApplyImmediately, ApplyImmediately]}}"),
                K::Duplicate,
                "`ApplyImmediately` is listed twice",
                None,
            ),
        ];
        for (rule, kind, message, hint) in &cases {
            let errs = errors(&format!("rules: [{rule}]"));
            assert_eq!(errs.len(), 1, "{rule}: {errs:#?}");
            assert_eq!(errs[0].kind, *kind, "{rule}");
            assert_eq!(
                (errs[0].message.as_str(), errs[0].hint.as_deref()),
                (*message, *hint),
                "{rule}"
            );
        }
        // The names a closed rule lets pass: its conditions' (the ingress
        // keys' too) and `other_params_allowed`, sorted.
        let policy = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, actions: [AuthorizeCacheSecurityGroupIngress], cache_security_groups: [prod], params: {EC2SecurityGroupName: {present: true}}, other_params: deny, other_params_allowed: [EC2SecurityGroupOwnerId]}]"#,
        )
        .unwrap();
        match &policy.rules[0].other_params {
            OtherParams::Deny { named, allowed } => {
                assert_eq!(
                    &named[..],
                    &[
                        "CacheSecurityGroupName",
                        // The shorthand reads the list too.
                        "CacheSecurityGroupNames",
                        "EC2SecurityGroupName",
                        "EC2SecurityGroupOwnerId"
                    ]
                );
                assert_eq!(&allowed[..], &["EC2SecurityGroupOwnerId"]);
            }
            other => panic!("{other:?}"),
        }
        let empty = "rules: [{id: a, effect: allow, actions: [ModifyReplicationGroup], other_params: deny, other_params_allowed: []}]";
        assert!(compile("p.yaml", empty).is_ok());
        let open = compile(
            "p.yaml",
            "rules: [{id: a, effect: allow, other_params: allow}]",
        )
        .unwrap();
        assert!(matches!(open.rules[0].other_params, OtherParams::Allow));
    }

    #[test]
    fn bad_owner_id_strings() {
        let errs =
            errors(r#"rules: [{id: a, effect: allow, owner_ids: ["12345", "1234-5678-123x"]}]"#);
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| named(e).1 == Some("owner_ids")));
    }

    #[test]
    fn errors_name_the_value_found() {
        let unquoted = "rules:\n  - id: a\n    effect: allow\n    owner_ids: [012345670123, 123456781234, 0x1F, \"012345670123\", 1234-5678-1234, !!str 123456781234]\n";
        let enums = "rules:\n  - id: a\n    effect: Allow\n    mode: dry-run\n  - id: b\n    effect: [allow]\n    mode: Shadow\n";
        let shadow = "`mode: shadow` computes and logs the rule's decision without enforcing it";
        // Each policy, and each error's message and hint.
        type Case<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)]);
        let cases: [Case; 2] = [
            // Unquoted account ids are errors whatever their digits, shown as
            // written (`0x1F`, not the 31 serde_yaml reads).
            (
                unquoted,
                &[
                    (
                        "account id 012345670123 must be a quoted string",
                        Some("write \"012345670123\""),
                    ),
                    (
                        "account id 123456781234 must be a quoted string",
                        Some("write \"123456781234\""),
                    ),
                    (
                        "account id 0x1F must be a quoted string",
                        Some("write \"0x1F\""),
                    ),
                ],
            ),
            // Enum keys: the value found, the values taken, a did-you-mean
            // for a case slip.
            (
                enums,
                &[
                    (
                        "`effect` must be `allow` or `deny`, not `Allow`",
                        Some("did you mean `allow`?"),
                    ),
                    (
                        "`mode` must be `enforce` or `shadow`, not `dry-run`",
                        Some(shadow),
                    ),
                    ("`effect` must be `allow` or `deny`, not a list", None),
                    (
                        "`mode` must be `enforce` or `shadow`, not `Shadow`",
                        Some("did you mean `shadow`?"),
                    ),
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(messages_and_hints(&errors(text)), expected, "{text}");
        }
        // Quoted, dashed or tagged as a string, an account id is taken.
        let ok = "rules: [{id: a, effect: allow, actions: [AuthorizeCacheSecurityGroupIngress], owner_ids: [\"012345670123\", 1234-5678-1234, !!str 012345670123]}]";
        assert!(compile("p.yaml", ok).is_ok());
    }

    #[test]
    fn errors_are_sorted_by_position() {
        // Found in the order rule by rule, key by key (the ids first, the
        // duplicate after the rule): shown in line order.
        let text = "\
rules:
  - id: a
    effect: allow
    regions: [mars]
  - effect: deny
    id: a
    actions: [Nope]
    colour: red
";
        let errs = errors(text);
        let lines: Vec<usize> = errs.iter().map(|e| e.position.unwrap().line).collect();
        assert_eq!(lines, [4, 6, 7, 8], "{errs:#?}");
        let shown = compile("p.yaml", text).unwrap_err().to_string();
        assert!(
            shown.starts_with("p.yaml: 4 errors in policy\n  p.yaml:4:5: rule `a`: `regions`: `mars` is not an AWS region name"),
            "{shown}"
        );
    }

    #[test]
    fn top_level_problems() {
        assert!(errors("ruels: []")[0].hint.as_deref() == Some("did you mean `rules`?"));
        assert!(errors("[1, 2]")[0].message.contains("mapping"));
        assert!(errors("rules: {a: 1}")[0].message.contains("list"));
        assert!(errors("rules: [")[0].message.contains("not valid YAML"));
        assert!(errors("{}")[0].message.contains("missing the key `rules`"));
        assert_eq!(errors("")[0].message, "the policy is empty");
        assert_eq!(
            errors("rules: {a: 1}")[0].message,
            "`rules` must be a list of rules, not a mapping"
        );
        assert_eq!(
            errors("rules: [7]")[0].message,
            "a rule must be a mapping (`- id: …`), not `7`"
        );
        assert_eq!(
            errors("rules: [{id: a, effect: allow, message: [x]}]")[0].message,
            "`message` must be a string, not a list"
        );
        // A key that is not a string is named as written, not as a Rust value.
        assert_eq!(errors("1: x\nrules: []")[0].message, "unknown key `1`");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("Describe*", "DescribeCacheClusters"));
        assert!(wildcard_match("*", "AnyThing"));
        assert!(wildcard_match(
            "*CacheSecurityGroup*",
            "AuthorizeCacheSecurityGroupIngress"
        ));
        assert!(wildcard_match("Describe*s", "DescribeCacheClusters"));
        assert!(!wildcard_match("Describe*", "ListTagsForResource"));
        assert!(!wildcard_match("Describe", "DescribeCacheClusters"));
        assert!(!wildcard_match("A*ab", "Ab"));
    }

    #[test]
    fn regexes_are_anchored_to_the_whole_name() {
        let policy = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, cache_security_groups: ["prod-[a-z]+", "x|y"]}]"#,
        )
        .unwrap();
        let matcher = policy.rules[0].params[0].matcher().unwrap();
        assert!(matcher.is_match("prod-web"));
        assert!(matcher.is_match("x"));
        for name in ["prod-web!", "xprod-web", "prod-web\n", "xy", "prod-"] {
            assert!(!matcher.is_match(name), "{name:?}");
        }
        let multiline = compile(
            "p.yaml",
            r#"rules: [{id: a, effect: allow, cache_security_groups: ["(?m)^prod$"]}]"#,
        )
        .unwrap();
        assert!(!multiline.rules[0].params[0]
            .matcher()
            .unwrap()
            .is_match("prod\nevil"));
    }

    type Compiled = Result<String, Diagnostics>;

    /// What the streamed path, the tree path and `compile` make of
    /// `text`: the rules and each action's rules, or the diagnostics.
    fn paths(text: &str) -> (Option<String>, Compiled, Compiled) {
        let shown = |policy: &Policy| {
            let actions: Vec<_> = policy
                .by_action
                .iter()
                .map(|a| (&a.all, &a.enforced_allows, a.has_shadow_rules))
                .collect();
            format!("{:?} {actions:?}", policy.rules)
        };
        let positions = Positions::of(text);
        let streamed = compile_streamed("p.yaml", text, &positions).map(|p| shown(&p));
        let mut out = Diagnostics::new("p.yaml", "policy");
        let tree = compile_value(text, &positions, &mut out);
        let tree = out.finish(tree, &positions).map(|p| shown(&p));
        (streamed, tree, compile("p.yaml", text).map(|p| shown(&p)))
    }

    #[test]
    fn streamed_and_tree_paths_agree() {
        let team = |i: usize| {
            format!(
                "  - id: team{i}\n    effect: allow\n    actions: [AuthorizeCacheSecurityGroupIngress]\n    \
                 regions: [us-east-1]\n    owner_ids: [\"1000000000{i:02}\"]\n    \
                 cache_security_groups: [\"team{i}-[a-z0-9-]+\"]\n    callers: [c{i}]\n"
            )
        };
        let many: String = (0..50).map(team).collect();
        let many = format!("rules:\n{many}  - id: frozen\n    effect: deny\n    mode: shadow\n");
        // Read rule by rule.
        for text in [
            many.as_str(),
            "rules: []\n",
            "rules:\n  - id: a\n    effect: allow\n",
            include_str!("../../policies/default.yaml"),
            include_str!("../../policies/example.yaml"),
        ] {
            let (streamed, tree, compiled) = paths(text);
            assert!(streamed.is_some(), "{text}");
            assert_eq!(streamed, tree.clone().ok(), "{text}");
            assert_eq!(compiled, tree, "{text}");
        }
        // Errors, and what the quick reader leaves to serde_yaml: the
        // tree's answer, diagnostics included.
        let error_at_end = format!("{many}  - id: last\n    effect: permit\n");
        let duplicate_id = format!("{many}  - id: team7\n    effect: deny\n");
        let key_after = format!("{many}other: x\n");
        let rules_twice = format!("{many}rules: []\n");
        let syntax_after = format!("{many}  - id: [\n");
        let anchors = format!("{many}  - id: z\n    effect: &e deny\n  - id: y\n    effect: *e\n");
        let vpc = include_str!("../../policies/vpc-team.yaml");
        for (text, valid) in [
            (error_at_end.as_str(), false),
            (&duplicate_id, false),
            (&key_after, false),
            (&rules_twice, false),
            (&syntax_after, false),
            (&anchors, true),
            (vpc, true),
            ("", false),
            ("rules: x\n", false),
            ("rules:\n  - 1\n", false),
            ("[a]\n", false),
        ] {
            let (streamed, tree, compiled) = paths(text);
            assert_eq!(streamed, None, "{text}");
            assert_eq!(tree.is_ok(), valid, "{text}");
            assert_eq!(compiled, tree, "{text}");
        }
    }
}
