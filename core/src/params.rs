//! Stage 1, second half: an action's parameters, parsed strictly against
//! the service model into a typed tree, and serialized back from that tree
//! the way botocore's Query serializer writes them. The decision reads the
//! tree, and the forwarded body is made from it, so nothing is forwarded
//! that was not decided on.
//!
//! Names follow the Query serialization: a scalar is `Name=value`; a list
//! is `Name.<item>.N` (`Name.N` when flattened) with items numbered 1..n,
//! and `Name=` when empty; a structure's members are `Name.Member`; a map
//! entry is `Name.entry.N.key` and `Name.entry.N.value`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::encoding::{civil_from_days, civil_seconds};
use crate::error::ParseError;
use crate::model::Action;
use crate::names::{self, NameCase};
use crate::service_model::{
    Bounds, Kind, ListShape, MapShape, Member, Shape, StringShape, Structure,
};
use crate::text::did_you_mean;

/// The most items a list or map may have. Far above what any ElastiCache
/// call sends, and bounds the work a request can ask for.
pub const MAX_ITEMS: u32 = 1_000;

/// A parameter's value, typed as the model types it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    String(String),
    Boolean(bool),
    Integer(i64),
    /// ISO 8601, in UTC: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    Timestamp(String),
    List(Vec<Value>),
    Structure(Params),
    Map(Vec<(Value, Value)>),
}

/// What a rendering shows in place of a secret's value.
pub const SECRET: &str = "(secret)";

/// A member's value as one line, or [`SECRET`] if the member is a secret.
/// Every rendering of a request's values goes through here or
/// [`Value::render`], so a secret at any depth is never shown.
pub fn render(member: &Member, value: &Value) -> String {
    let mut out = String::new();
    render_member(member, value, &mut out);
    out
}

fn render_member(member: &Member, value: &Value, out: &mut String) {
    if member.is_secret() {
        out.push_str(SECRET);
    } else {
        value.render_into(out);
    }
}

impl Value {
    /// The value as one line: `[a, b]` for lists, `{Key=…, Value=…}` for
    /// structures, with a secret member of a structure at any depth shown
    /// as [`SECRET`]. The value of a secret member itself is never rendered
    /// on its own: call [`render`] with its member.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// [`Value::render`], appended to `out`: one buffer for the whole value.
    fn render_into(&self, out: &mut String) {
        match self {
            Value::String(s) | Value::Timestamp(s) => out.push_str(s),
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Integer(n) => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(out, "{n}");
            }
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render_into(out);
                }
                out.push(']');
            }
            Value::Structure(fields) => {
                out.push('{');
                for (i, (member, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(member.query_name());
                    out.push('=');
                    render_member(member, value, out);
                }
                out.push('}');
            }
            Value::Map(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    key.render_into(out);
                    out.push('=');
                    value.render_into(out);
                }
                out.push('}');
            }
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Timestamp(s) => Some(s),
            _ => None,
        }
    }
}

/// The members of a structure (the request itself, or one nested in it),
/// each at most once, sorted by the name a query gives them.
#[derive(Clone, Default)]
pub struct Params {
    members: Vec<(&'static Member, Value)>,
}

/// Debug output hides secrets too: it ends up in panics and test output.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (member, value) in &self.members {
            if member.is_secret() {
                map.entry(&member.query_name(), &SECRET);
            } else {
                map.entry(&member.query_name(), value);
            }
        }
        map.finish()
    }
}

/// No parameters, for facts made without a request.
pub static EMPTY: Params = Params {
    members: Vec::new(),
};

impl PartialEq for Params {
    fn eq(&self, other: &Params) -> bool {
        self.members.len() == other.members.len()
            && self
                .members
                .iter()
                .zip(&other.members)
                .all(|((a, x), (b, y))| std::ptr::eq(*a, *b) && x == y)
    }
}

impl Eq for Params {}

impl Params {
    pub fn get(&self, query_name: &str) -> Option<&Value> {
        self.entry(query_name).map(|(_, value)| value)
    }

    /// The member of that query name, and its value.
    pub fn entry(&self, query_name: &str) -> Option<(&'static Member, &Value)> {
        let (member, value) = &self.members[self.position(query_name)?];
        Some((*member, value))
    }

    /// The member and its value, in query-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Member, &Value)> {
        self.members.iter().map(|(m, v)| (*m, v))
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// String members by query name, taken as the parser would have typed
    /// them (names the structure lacks, or that are not strings, are left
    /// out): for facts made without a request, in tests and fuzzing.
    pub fn of_strings<'a>(
        structure: &'static Structure,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Params {
        let mut params = Params::default();
        for (name, value) in pairs {
            if let Some(member) = structure.member(name) {
                if let Kind::String(_) = member.shape().kind() {
                    params.insert(member, Value::String(value.to_owned()));
                }
            }
        }
        params
    }

    pub fn get_mut(&mut self, query_name: &str) -> Option<&mut Value> {
        let index = self.position(query_name)?;
        Some(&mut self.members[index].1)
    }

    /// Where the member of that query name is. A structure has a few dozen
    /// members at most, and a scan for an equal name mostly compares
    /// lengths, which is cheaper than ordering names.
    fn position(&self, query_name: &str) -> Option<usize> {
        self.members
            .iter()
            .position(|(m, _)| m.query_name() == query_name)
    }

    /// Puts the member in its place in query-name order.
    pub(crate) fn insert(&mut self, member: &'static Member, value: Value) {
        let name = member.query_name();
        match self
            .members
            .binary_search_by(|(m, _)| m.query_name().cmp(name))
        {
            Ok(i) => self.members[i].1 = value,
            Err(i) => self.members.insert(i, (member, value)),
        }
    }

    /// The Query pairs of these members under `prefix` (empty at the top).
    pub fn push_pairs(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        let mut name = String::from(prefix);
        self.each_pair(&mut name, &mut |name, value| {
            out.push((name.to_owned(), value.to_owned()));
        });
    }

    /// Calls `emit` with each query name and value, in member order; names
    /// are built in `name` (which holds the prefix), so nothing is
    /// allocated per pair.
    pub fn each_pair(&self, name: &mut String, emit: &mut dyn FnMut(&str, &str)) {
        for (member, value) in &self.members {
            let at = name.len();
            if at > 0 {
                name.push('.');
            }
            name.push_str(member.query_name());
            each_value(member.shape(), value, name, emit);
            name.truncate(at);
        }
    }
}

fn each_value(shape: &Shape, value: &Value, name: &mut String, emit: &mut dyn FnMut(&str, &str)) {
    match (shape.kind(), value) {
        (_, Value::String(s) | Value::Timestamp(s)) => emit(name, s),
        (_, Value::Boolean(b)) => emit(name, if *b { "true" } else { "false" }),
        (_, Value::Integer(n)) => emit(name, &n.to_string()),
        (Kind::List(list), Value::List(items)) => {
            if items.is_empty() {
                // botocore sends an empty list as the bare name.
                emit(name, "");
                return;
            }
            let at = name.len();
            push_item_base(list, name);
            let base = name.len();
            for (i, item) in items.iter().enumerate() {
                push_index(name, i + 1);
                each_value(list.member().shape(), item, name, emit);
                name.truncate(base);
            }
            name.truncate(at);
        }
        (_, Value::Structure(params)) => params.each_pair(name, emit),
        (Kind::Map(map), Value::Map(entries)) => {
            let at = name.len();
            push_entry_base(map, name);
            let base = name.len();
            for (i, (key, value)) in entries.iter().enumerate() {
                push_index(name, i + 1);
                let entry = name.len();
                name.push('.');
                name.push_str(map.key_name());
                each_value(map.key().shape(), key, name, emit);
                name.truncate(entry);
                name.push('.');
                name.push_str(map.value_name());
                each_value(map.value().shape(), value, name, emit);
                name.truncate(base);
            }
            name.truncate(at);
        }
        // A tree is only ever built from its shape, so lists and maps meet
        // their own kinds above.
        (_, Value::List(_) | Value::Map(_)) => {}
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Appends `.n` to a name.
fn push_index(name: &mut String, n: usize) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(name, ".{n}");
}

/// What a list's items are named under: item N is `{base}.N`, where the
/// base is `Name.<item>` (`Name` when flattened).
pub(crate) fn item_base(list: &ListShape, mut name: String) -> String {
    push_item_base(list, &mut name);
    name
}

/// [`item_base`], made from the name in place.
fn push_item_base(list: &ListShape, name: &mut String) {
    if !list.is_flattened() {
        name.push('.');
        name.push_str(list.item_name());
    }
}

/// What a map's entries are named under: entry N is `{base}.N.key` and
/// `{base}.N.value`, where the base is `Name.entry` (`Name` when flattened).
pub(crate) fn entry_base(map: &MapShape, mut name: String) -> String {
    push_entry_base(map, &mut name);
    name
}

/// [`entry_base`], made from the name in place.
fn push_entry_base(map: &MapShape, name: &mut String) {
    if !map.is_flattened() {
        name.push_str(".entry");
    }
}

/// One parameter still to be placed: its whole name and its value. Each
/// level of the tree reads the name from an offset the level knows, so
/// nothing is copied while the names are walked.
#[derive(Clone, Copy)]
struct Flat<'a> {
    full: &'a str,
    value: &'a str,
    /// The name's first 8 bytes as a big-endian number, zero-padded: two
    /// names whose numbers differ order as their numbers do, so most
    /// comparisons while sorting are of one number.
    key: u64,
}

impl<'a> Flat<'a> {
    /// The name segment starting at `offset`, and where it ends.
    fn segment(&self, offset: usize) -> (&'a str, usize) {
        let rest = self.full.get(offset..).unwrap_or("");
        let length = rest.bytes().position(|b| b == b'.').unwrap_or(rest.len());
        (&rest[..length], offset + length)
    }

    /// Whether the segment at `offset` is `head`.
    fn has_segment(&self, offset: usize, head: &str) -> bool {
        let name = self.full.as_bytes();
        let end = offset + head.len();
        name.get(offset..end) == Some(head.as_bytes()) && matches!(name.get(end), None | Some(b'.'))
    }
}

/// How values below a member are read: names AWS stores in lower case are
/// lower-cased; secrets are never echoed in an error.
#[derive(Clone, Copy)]
struct Context {
    action: Action,
    case: Option<NameCase>,
    secret: bool,
}

/// Parses the parameters of `action` (all but `Action`, `Version` and the
/// signature's), given as name and value in any order, against its input
/// structure. A name given twice is rejected.
pub fn parse(
    action: Action,
    input: &'static Structure,
    params: &[(&str, &str)],
) -> Result<Params, ParseError> {
    // Sorted by name, so each member's parameters, each list item's and
    // each structure member's are next to one another at every level.
    let mut flats: Vec<Flat<'_>> = params
        .iter()
        .map(|&(full, value)| {
            let mut head = [0u8; 8];
            let length = full.len().min(8);
            head[..length].copy_from_slice(&full.as_bytes()[..length]);
            Flat {
                full,
                value,
                key: u64::from_be_bytes(head),
            }
        })
        .collect();
    flats.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| a.full.cmp(b.full)));
    if let Some(pair) = flats.windows(2).find(|w| w[0].full == w[1].full) {
        return Err(ParseError::Repeated(pair[0].full.to_owned()));
    }
    let context = Context {
        action,
        case: None,
        secret: false,
    };
    structure(input, &flats, 0, context)
}

/// The runs of `flats` whose segment at `offset` is the same, in order.
fn runs<'f, 'a>(
    flats: &'f [Flat<'a>],
    offset: usize,
) -> impl Iterator<Item = (&'a str, usize, &'f [Flat<'a>])> {
    let mut rest = flats;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let (head, end) = first.segment(offset);
        // Sorted, so the run ends at the first name of another segment.
        let length = rest[1..]
            .iter()
            .position(|f| !f.has_segment(offset, head))
            .map_or(rest.len(), |i| i + 1);
        let (run, after) = rest.split_at(length);
        rest = after;
        Some((head, end, run))
    })
}

/// `flats` are the members of one structure, named from `offset` on.
fn structure(
    shape: &'static Structure,
    flats: &[Flat<'_>],
    offset: usize,
    context: Context,
) -> Result<Params, ParseError> {
    let mut params = Params {
        members: Vec::with_capacity(flats.len().min(shape.members().len())),
    };
    let mut required = 0;
    // Heads come in name order (but for names with `-` or `_`, which sort
    // before `.`), as the members do: each is looked for after the last.
    let mut next = 0;
    for (head, end, run) in runs(flats, offset) {
        // A scan for an equal name mostly compares lengths; a head out of
        // order (or unknown) is looked up among all the members.
        let members = shape.members();
        let after = members.get(next..).unwrap_or(&[]);
        let found = match after.iter().position(|m| m.query_name() == head) {
            Some(i) => Some(next + i),
            None => shape.index_of(head),
        };
        let Some(member) = found.map(|i| {
            next = i + 1;
            &members[i]
        }) else {
            let hint = did_you_mean(head, shape.members().iter().map(Member::query_name))
                .map(|close| format!("{}{close}", &run[0].full[..offset]));
            return Err(ParseError::UnexpectedParameter {
                action: context.action,
                name: if offset == 0 {
                    run[0].full.to_owned()
                } else {
                    run[0].full[..end].to_owned()
                },
                hint,
            });
        };
        let context = Context {
            case: member.case().or(context.case),
            secret: member.is_secret() || context.secret,
            ..context
        };
        let value = value(member.shape(), run, end, context)?;
        required += usize::from(member.is_required());
        match params.members.last() {
            Some((last, _)) if last.query_name() >= member.query_name() => {
                // Names in order give members in order; a member seen twice
                // would need an unknown name between, which failed above.
                params.insert(member, value);
            }
            _ => params.members.push((member, value)),
        }
    }
    let needed = shape.members().iter().filter(|m| m.is_required()).count();
    if required < needed {
        let missing: Vec<&'static str> = shape
            .members()
            .iter()
            .filter(|m| m.is_required() && params.get(m.query_name()).is_none())
            .map(|m| m.query_name())
            .collect();
        return Err(if offset == 0 {
            ParseError::MissingParameters {
                action: context.action,
                names: missing,
            }
        } else {
            ParseError::MissingMembers {
                name: flats
                    .first()
                    .map_or(String::new(), |f| f.full[..offset - 1].to_owned()),
                members: missing,
            }
        });
    }
    Ok(params)
}

/// `flats` are one member's parameters, whose name ends at `end`.
fn value(
    shape: &'static Shape,
    flats: &[Flat<'_>],
    end: usize,
    context: Context,
) -> Result<Value, ParseError> {
    let name = &flats[0].full[..end];
    let scalar = match flats {
        [only] if only.full.len() == end => Some(only.value),
        _ => None,
    };
    let nested = || flats.iter().all(|f| f.full.len() > end);
    match shape.kind() {
        Kind::List(list) => {
            if scalar == Some("") {
                // An empty list counts as a list: the model's minimum holds.
                check_count(name, 0, list.length())?;
                return Ok(Value::List(Vec::new()));
            }
            let item = (!list.is_flattened()).then_some(list.item_name());
            let items = numbered(name, flats, end, item, list.length())?;
            let mut out = Vec::with_capacity(items.len());
            for (item_end, run) in items {
                out.push(value(list.member().shape(), run, item_end, context)?);
            }
            repeated_tag_key(name, list, &out, context.secret)?;
            Ok(Value::List(out))
        }
        Kind::Structure(members) => {
            if !nested() {
                return Err(ParseError::Shape {
                    name: name.to_owned(),
                    expected: "a structure: send its members as `NAME.MEMBER`",
                });
            }
            Ok(Value::Structure(structure(
                members,
                flats,
                end + 1,
                context,
            )?))
        }
        Kind::Map(map) => {
            let entry = (!map.is_flattened()).then_some("entry");
            let entries = numbered(name, flats, end, entry, map.length())?;
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            for (entry_end, run) in entries {
                let entry_name = &run[0].full[..entry_end];
                let (mut key, mut val) = (None, None);
                for (part, part_end, part_run) in runs(run, entry_end + 1) {
                    let slot = if part == map.key_name() {
                        (&mut key, map.key().shape())
                    } else if part == map.value_name() {
                        (&mut val, map.value().shape())
                    } else {
                        return Err(ParseError::UnexpectedParameter {
                            action: context.action,
                            name: part_run[0].full.to_owned(),
                            hint: None,
                        });
                    };
                    *slot.0 = Some(value(slot.1, part_run, part_end, context)?);
                }
                let missing = match (&key, &val) {
                    (None, _) => Some("key"),
                    (_, None) => Some("value"),
                    _ => None,
                };
                if let Some(part) = missing {
                    return Err(ParseError::MissingMembers {
                        name: entry_name.to_owned(),
                        members: vec![part],
                    });
                }
                let (Some(key), Some(val)) = (key, val) else {
                    continue;
                };
                if out.iter().any(|(k, _)| *k == key) {
                    return Err(ParseError::RepeatedMapKey(entry_name.to_owned()));
                }
                out.push((key, val));
            }
            Ok(Value::Map(out))
        }
        kind => {
            let Some(text) = scalar else {
                let extra = flats
                    .iter()
                    .find(|f| f.full.len() > end)
                    .unwrap_or(&flats[0]);
                return Err(ParseError::UnexpectedParameter {
                    action: context.action,
                    name: extra.full.to_owned(),
                    hint: Some(name.to_owned()),
                });
            };
            scalar_value(kind, name, text, context)
        }
    }
}

/// Items (or map entries) by number: `Name.<item>.N…` (`Name.N…` when
/// flattened), numbered 1..n as botocore writes them. Each comes with where
/// its name ends and its parameters, in number order.
fn numbered<'f, 'a>(
    name: &str,
    flats: &'f [Flat<'a>],
    end: usize,
    item: Option<&str>,
    length: Bounds,
) -> Result<Vec<(usize, &'f [Flat<'a>])>, ParseError> {
    // Where the index starts: after `Name.` and, unless flattened, `item.`.
    let start = end + 1 + item.map_or(0, |i| i.len() + 1);
    for flat in flats {
        let rest = &flat.full[end..];
        let well_placed = match item {
            Some(item) => rest
                .strip_prefix('.')
                .and_then(|r| r.strip_prefix(item))
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| !r.is_empty()),
            None => rest.len() > 1 && rest.starts_with('.'),
        };
        let item_name = || ParseError::ItemName {
            name: flat.full.to_owned(),
            expected: match item {
                Some(item) => format!("{name}.{item}.N"),
                None => format!("{name}.N"),
            },
        };
        if !well_placed {
            return Err(if rest.is_empty() {
                ParseError::Shape {
                    name: name.to_owned(),
                    expected: if item.is_some() {
                        "a list: send its items as `NAME.ITEM.1`, `NAME.ITEM.2`, …, as the model names them"
                    } else {
                        "a list: send its items as `NAME.1`, `NAME.2`, …"
                    },
                }
            } else {
                item_name()
            });
        }
        // `Name.member.1` for a flattened list: a name, not an index.
        if item.is_none() && !flat.full.as_bytes()[start].is_ascii_digit() {
            return Err(item_name());
        }
    }
    let mut items: Vec<(u32, usize, &'f [Flat<'a>])> = Vec::new();
    for (index, index_end, run) in runs(flats, start) {
        let number = match list_index(index) {
            Ok(number) => number,
            Err(IndexError::TooLarge) => {
                return Err(ParseError::TooManyItems {
                    name: name.to_owned(),
                    item: run[0].full[..index_end].to_owned(),
                    max: length
                        .max
                        .map_or(MAX_ITEMS, |max| (max.max(0) as u32).min(MAX_ITEMS)),
                })
            }
            Err(IndexError::Malformed) => {
                return Err(ParseError::ListIndex {
                    name: run[0].full.to_owned(),
                    index: index.to_owned(),
                })
            }
        };
        items.push((number, index_end, run));
    }
    items.sort_unstable_by_key(|(number, _, _)| *number);
    if let Some(gap) = items
        .iter()
        .enumerate()
        .find(|(i, (number, _, _))| *number as usize != i + 1)
    {
        let missing = gap.0 + 1;
        return Err(ParseError::ListGap {
            name: name.to_owned(),
            missing: match item {
                Some(item) => format!("{name}.{item}.{missing}"),
                None => format!("{name}.{missing}"),
            },
        });
    }
    check_count(name, items.len(), length)?;
    Ok(items
        .into_iter()
        .map(|(_, index_end, run)| (index_end, run))
        .collect())
}

/// Why a list index was refused.
enum IndexError {
    /// Not a plain decimal from 1: empty, signed, zero, leading zeros.
    Malformed,
    /// Plain, but past [`MAX_ITEMS`]: the list is too long.
    TooLarge,
}

/// `1` to [`MAX_ITEMS`], in plain decimal without leading zeros.
fn list_index(text: &str) -> Result<u32, IndexError> {
    if text.starts_with('0') || text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IndexError::Malformed);
    }
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_ITEMS => Ok(n),
        _ => Err(IndexError::TooLarge),
    }
}

fn check_count(name: &str, count: usize, length: Bounds) -> Result<(), ParseError> {
    if length.contains(count as i64) {
        Ok(())
    } else {
        Err(ParseError::OutOfBounds {
            name: name.to_owned(),
            what: "items",
            found: Some(count as i64),
            bounds: length,
        })
    }
}

fn scalar_value(
    kind: &Kind,
    name: &str,
    text: &str,
    context: Context,
) -> Result<Value, ParseError> {
    let found = || (!context.secret).then(|| text.to_owned());
    let wrong = |expected: &'static str| ParseError::WrongType {
        name: name.to_owned(),
        expected,
        found: found(),
    };
    match kind {
        Kind::String(string) => string_value(string, name, text, context),
        Kind::Boolean => match text {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(wrong("`true` or `false`")),
        },
        Kind::Integer(bounds) => {
            let n = decimal(text)
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| wrong("a whole number from -2147483648 to 2147483647"))?;
            check_number(name, n, *bounds, context)
        }
        Kind::Long(bounds) => {
            let n = decimal(text).ok_or_else(|| wrong("a whole number (64-bit)"))?;
            check_number(name, n, *bounds, context)
        }
        Kind::Timestamp => timestamp(text)
            .map(Value::Timestamp)
            .ok_or_else(|| wrong("an ISO 8601 date and time such as `2026-12-01T09:30:00Z`")),
        Kind::List(_) | Kind::Structure(_) | Kind::Map(_) => Err(wrong("a list or structure")),
    }
}

fn string_value(
    string: &StringShape,
    name: &str,
    text: &str,
    context: Context,
) -> Result<Value, ParseError> {
    let length = text.chars().count() as i64;
    if !string.length().contains(length) {
        return Err(ParseError::OutOfBounds {
            name: name.to_owned(),
            what: "characters",
            found: Some(length),
            bounds: string.length(),
        });
    }
    let allowed = string.enum_values();
    if !allowed.is_empty() && !allowed.contains(&text) {
        return Err(ParseError::NotInEnum {
            name: name.to_owned(),
            found: (!context.secret).then(|| text.to_owned()),
            allowed,
            hint: did_you_mean(text, allowed.iter().copied()),
        });
    }
    Ok(Value::String(match context.case {
        // ElastiCache acts on the lower-case form: decide on it, forward it.
        Some(NameCase::StoredLowercase) => names::stored_lowercase(text.to_owned()),
        _ => text.to_owned(),
    }))
}

fn check_number(name: &str, n: i64, bounds: Bounds, context: Context) -> Result<Value, ParseError> {
    if bounds.contains(n) {
        Ok(Value::Integer(n))
    } else {
        Err(ParseError::OutOfBounds {
            name: name.to_owned(),
            what: "value",
            found: (!context.secret).then_some(n),
            bounds,
        })
    }
}

/// Rejects a tag list (found by shape: its items have `Key` and `Value`
/// members) whose items repeat a key: AWS does not say which value it
/// keeps, so the policy could decide on the one AWS drops. AWS tag keys
/// are case-sensitive, so keys compare byte for byte.
fn repeated_tag_key(
    name: &str,
    list: &ListShape,
    items: &[Value],
    secret: bool,
) -> Result<(), ParseError> {
    if !list.is_tag_list() {
        return Ok(());
    }
    // A few tags (the usual case) are compared pairwise, with no map to
    // allocate on the request path; a long list is indexed.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(key) = tag_key(item) else {
            continue;
        };
        let repeated = if items.len() <= 16 {
            items[..i]
                .iter()
                .position(|other| tag_key(other) == Some(key))
        } else {
            seen.insert(key, i)
        };
        if let Some(first) = repeated {
            let item_name = |i: usize| {
                if list.is_flattened() {
                    format!("{name}.{}", i + 1)
                } else {
                    format!("{name}.{}.{}", list.item_name(), i + 1)
                }
            };
            return Err(ParseError::RepeatedTagKey {
                first: item_name(first),
                second: item_name(i),
                key: (!secret).then(|| key.to_owned()),
            });
        }
    }
    Ok(())
}

/// A tag's key, if the item is a tag with one.
fn tag_key(item: &Value) -> Option<&str> {
    match item {
        Value::Structure(fields) => fields.get("Key").and_then(Value::as_str),
        _ => None,
    }
}

/// A plain decimal: an optional `-`, then digits without leading zeros.
fn decimal(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    plain.then(|| text.parse().ok()).flatten()
}

/// The parameters as JSON, typed as the decision saw them: strings,
/// booleans, integers, timestamps as strings, lists as arrays, structures
/// as objects keyed by query name, maps as arrays of `[key, value]`. A
/// secret member at any depth is written as [`SECRET`]: present, never
/// its value. [`from_json`] reads it back.
pub fn to_json(params: &Params) -> serde_json::Value {
    // Cannot fail: every key is a member's name, a string.
    serde_json::to_value(ParamsJson(params)).unwrap_or_default()
}

/// One member's value as JSON, or [`SECRET`] if the member is a secret.
pub fn member_json(member: &Member, value: &Value) -> serde_json::Value {
    // Cannot fail: every key is a member's name, a string.
    serde_json::to_value(MemberJson(member, value)).unwrap_or_default()
}

/// Parameters in [`to_json`]'s form, written straight to a serializer: the
/// audit line writes a request's parameters without building a tree.
pub struct ParamsJson<'a>(pub &'a Params);

/// One member's value in [`to_json`]'s form, [`SECRET`] for a secret.
pub struct MemberJson<'a>(pub &'a Member, pub &'a Value);

/// A value in [`to_json`]'s form (not a member's: no secret check here).
struct ValueJson<'a>(&'a Value);

impl Serialize for ParamsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .map(|(member, value)| (member.query_name(), MemberJson(member, value))),
        )
    }
}

impl Serialize for MemberJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.is_secret() {
            true => serializer.serialize_str(SECRET),
            false => ValueJson(self.1).serialize(serializer),
        }
    }
}

impl Serialize for ValueJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(s) | Value::Timestamp(s) => serializer.serialize_str(s),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Integer(n) => serializer.serialize_i64(*n),
            Value::List(items) => serializer.collect_seq(items.iter().map(ValueJson)),
            Value::Structure(params) => ParamsJson(params).serialize(serializer),
            Value::Map(entries) => {
                serializer.collect_seq(entries.iter().map(|(k, v)| [ValueJson(k), ValueJson(v)]))
            }
        }
    }
}

/// Rebuilds the typed parameters of `action` from [`to_json`]'s JSON,
/// against its input structure: each value is checked as the parser checks
/// it (type, bounds, enum values, required members). A secret written as
/// [`SECRET`] becomes a placeholder of its member's type, so it is present
/// but its value is not the secret's.
pub fn from_json(
    structure: &'static Structure,
    action: Action,
    value: &serde_json::Value,
) -> Result<Params, String> {
    let context = Context {
        action,
        case: None,
        secret: false,
    };
    structure_from_json(structure, "", value, context)
}

fn structure_from_json(
    shape: &'static Structure,
    prefix: &str,
    value: &serde_json::Value,
    context: Context,
) -> Result<Params, String> {
    let serde_json::Value::Object(fields) = value else {
        return Err(json_mismatch(prefix, "an object of members", value));
    };
    let mut params = Params::default();
    for (name, field) in fields {
        let path = join(prefix, name);
        let Some(member) = shape.member(name) else {
            return Err(format!(
                "`{path}` is not a parameter of {}",
                context.action.name()
            ));
        };
        let value = if member.is_secret() {
            if field.as_str() != Some(SECRET) {
                return Err(format!("`{path}` is a secret: expected `{SECRET}`"));
            }
            placeholder(member.shape())
        } else {
            let context = Context {
                case: member.case().or(context.case),
                ..context
            };
            value_from_json(member.shape(), &path, field, context)?
        };
        params.insert(member, value);
    }
    let missing: Vec<&str> = shape
        .members()
        .iter()
        .filter(|m| m.is_required() && params.get(m.query_name()).is_none())
        .map(|m| m.query_name())
        .collect();
    if !missing.is_empty() {
        let at = if prefix.is_empty() {
            String::new()
        } else {
            format!(" in `{prefix}`")
        };
        return Err(format!(
            "required parameters missing{at}: `{}`",
            missing.join("`, `")
        ));
    }
    Ok(params)
}

fn value_from_json(
    shape: &'static Shape,
    name: &str,
    value: &serde_json::Value,
    context: Context,
) -> Result<Value, String> {
    use serde_json::Value as J;
    let parse_error = |e: ParseError| e.to_string();
    match (shape.kind(), value) {
        (Kind::String(string), J::String(text)) => {
            string_value(string, name, text, context).map_err(parse_error)
        }
        (Kind::Boolean, J::Bool(b)) => Ok(Value::Boolean(*b)),
        (Kind::Integer(bounds) | Kind::Long(bounds), J::Number(n)) => {
            let fits = match shape.kind() {
                Kind::Integer(_) => n.as_i64().filter(|n| i32::try_from(*n).is_ok()),
                _ => n.as_i64(),
            };
            let n = fits.ok_or_else(|| json_mismatch(name, "a whole number", value))?;
            check_number(name, n, *bounds, context).map_err(parse_error)
        }
        (Kind::Timestamp, J::String(text)) => timestamp(text)
            .map(Value::Timestamp)
            .ok_or_else(|| json_mismatch(name, "an ISO 8601 date and time", value)),
        (Kind::List(list), J::Array(items)) => {
            check_count(name, items.len(), list.length()).map_err(parse_error)?;
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_name = format!("{name}.{}", i + 1);
                    value_from_json(list.member().shape(), &item_name, item, context)
                })
                .collect::<Result<Vec<_>, _>>()?;
            repeated_tag_key(name, list, &items, false).map_err(parse_error)?;
            Ok(Value::List(items))
        }
        (Kind::Structure(structure), J::Object(_)) => {
            structure_from_json(structure, name, value, context).map(Value::Structure)
        }
        (Kind::Map(map), J::Array(entries)) => {
            check_count(name, entries.len(), map.length()).map_err(parse_error)?;
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let entry_name = format!("{name}.{}", i + 1);
                let J::Array(pair) = entry else {
                    return Err(json_mismatch(&entry_name, "a `[key, value]` pair", entry));
                };
                let [key, val] = pair.as_slice() else {
                    return Err(json_mismatch(&entry_name, "a `[key, value]` pair", entry));
                };
                let key = value_from_json(map.key().shape(), &entry_name, key, context)?;
                let val = value_from_json(map.value().shape(), &entry_name, val, context)?;
                if out.iter().any(|(k, _)| *k == key) {
                    return Err(format!("`{entry_name}` repeats a key of `{name}`"));
                }
                out.push((key, val));
            }
            Ok(Value::Map(out))
        }
        (kind, _) => Err(json_mismatch(name, kind_words(kind), value)),
    }
}

/// What a value of that kind is, for messages.
fn kind_words(kind: &Kind) -> &'static str {
    match kind {
        Kind::String(_) => "a string",
        Kind::Boolean => "`true` or `false`",
        Kind::Integer(_) | Kind::Long(_) => "a whole number",
        Kind::Timestamp => "an ISO 8601 date and time",
        Kind::List(_) => "an array",
        Kind::Structure(_) => "an object of members",
        Kind::Map(_) => "an array of `[key, value]` pairs",
    }
}

/// `name` holds JSON of the wrong type: says which type it found.
fn json_mismatch(name: &str, expected: &str, found: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let found = match found {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    };
    let name = if name.is_empty() {
        "the parameters"
    } else {
        name
    };
    format!("`{name}` must be {expected}, found {found}")
}

/// A value of `shape` standing for a secret that was recorded only as
/// present: the smallest the model allows, never anything the secret was.
fn placeholder(shape: &'static Shape) -> Value {
    match shape.kind() {
        Kind::String(_) => Value::String(SECRET.to_owned()),
        Kind::Boolean => Value::Boolean(false),
        Kind::Integer(bounds) | Kind::Long(bounds) => Value::Integer(bounds.min.unwrap_or(0)),
        Kind::Timestamp => Value::Timestamp("1970-01-01T00:00:00Z".to_owned()),
        // One item: a list of secrets is recorded as present, so not empty.
        Kind::List(list) => Value::List(vec![placeholder(list.member().shape())]),
        Kind::Structure(_) => Value::Structure(Params::default()),
        Kind::Map(_) => Value::Map(Vec::new()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as UTC with `Z`; the
/// fraction (up to nine digits) is kept as sent.
fn timestamp(text: &str) -> Option<String> {
    let (utc, fraction) = timestamp_seconds(text)?;
    let (year, _, _) = civil_from_days(utc.div_euclid(86_400));
    (0..=9999)
        .contains(&year)
        .then(|| crate::encoding::utc_text(utc, fraction))
}

/// An RFC 3339 time (`2026-12-31T00:00:00Z`, an offset such as `+01:00`,
/// an optional fraction) as seconds since the Unix epoch, in UTC.
pub fn rfc3339_seconds(text: &str) -> Option<i64> {
    timestamp_seconds(text).map(|(seconds, _)| seconds)
}

/// The seconds since the epoch, in UTC, and the fraction as written
/// (`.123`, or empty).
fn timestamp_seconds(text: &str) -> Option<(i64, &str)> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let local = civil_seconds(b, [(0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)])?;
    let mut rest = &text[19..];
    let mut fraction = "";
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        fraction = &rest[..=digits];
        rest = &after[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
            let (hours, minutes) = (value(*h1, *h2), value(*m1, *m2));
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    Some((local - offset_minutes * 60, fraction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rejection;
    use crate::service_model::operation;

    fn parse_pairs(action: &str, pairs: &[(&str, &str)]) -> Result<Params, ParseError> {
        let operation = operation(action).unwrap();
        parse(Action::from_name(action).unwrap(), operation.input(), pairs)
    }

    fn pairs_of(params: &Params) -> Vec<(String, String)> {
        let mut out = Vec::new();
        params.push_pairs("", &mut out);
        out.sort();
        out
    }

    fn message(error: ParseError) -> (&'static str, String) {
        let answer = Rejection::from(error).answer();
        (answer.code, answer.message)
    }

    const GROUP: [(&str, &str); 2] = [
        ("ReplicationGroupId", "Orders-Cache"),
        ("ReplicationGroupDescription", "orders"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        GROUP.iter().chain(extra).copied().collect()
    }

    #[test]
    fn a_create_replication_group_round_trips() {
        let sent = with(&[
            ("SecurityGroupIds.SecurityGroupId.1", "sg-0a1"),
            ("SecurityGroupIds.SecurityGroupId.2", "sg-0b2"),
            ("Tags.Tag.1.Key", "team"),
            ("Tags.Tag.1.Value", "payments"),
            ("NumCacheClusters", "3"),
            ("TransitEncryptionEnabled", "true"),
            ("AuthToken", "s3cr3t-token-value"),
        ]);
        let params = parse_pairs("CreateReplicationGroup", &sent).unwrap();
        let Some(Value::List(groups)) = params.get("SecurityGroupIds") else {
            panic!("no list");
        };
        assert_eq!(groups.len(), 2);
        assert_eq!(params.get("NumCacheClusters"), Some(&Value::Integer(3)));
        assert_eq!(
            params.get("TransitEncryptionEnabled"),
            Some(&Value::Boolean(true))
        );
        // ElastiCache stores the id in lower case: decided on and forwarded so.
        assert_eq!(
            params.get("ReplicationGroupId"),
            Some(&Value::String("orders-cache".into()))
        );
        let forwarded = pairs_of(&params);
        let again: Vec<(&str, &str)> = forwarded
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            parse_pairs("CreateReplicationGroup", &again).unwrap(),
            params
        );
        assert!(forwarded.contains(&("Tags.Tag.1.Key".into(), "team".into())));
    }

    #[test]
    fn an_empty_list_is_the_bare_name() {
        let params = parse_pairs(
            "ModifyReplicationGroup",
            &[("ReplicationGroupId", "g"), ("SecurityGroupIds", "")],
        )
        .unwrap();
        assert_eq!(params.get("SecurityGroupIds"), Some(&Value::List(vec![])));
        assert!(pairs_of(&params).contains(&("SecurityGroupIds".into(), String::new())));
    }

    #[test]
    fn list_indexes_are_one_to_n() {
        for bad in [
            &[("SecurityGroupIds.SecurityGroupId.0", "sg-1")][..],
            &[("SecurityGroupIds.SecurityGroupId.01", "sg-1")],
            &[("SecurityGroupIds.SecurityGroupId.+1", "sg-1")],
            &[("SecurityGroupIds.SecurityGroupId.1001", "sg-1")],
            &[
                ("SecurityGroupIds.SecurityGroupId.1", "sg-1"),
                ("SecurityGroupIds.SecurityGroupId.3", "sg-3"),
            ],
            &[("SecurityGroupIds.SecurityGroupId.2", "sg-2")],
            &[("SecurityGroupIds.member.1", "sg-1")],
            &[("SecurityGroupIds.1", "sg-1")],
            &[("SecurityGroupIds", "sg-1")],
        ] {
            let err = parse_pairs("CreateReplicationGroup", &with(bad)).unwrap_err();
            let (code, text) = message(err);
            assert!(
                code == "InvalidQueryParameter" || code == "InvalidParameterValue",
                "{bad:?}: {code} {text}"
            );
        }
        let (_, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[
                    ("SecurityGroupIds.SecurityGroupId.1", "sg-1"),
                    ("SecurityGroupIds.SecurityGroupId.3", "sg-3"),
                ]),
            )
            .unwrap_err(),
        );
        assert!(
            text.contains("`SecurityGroupIds.SecurityGroupId.2`"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_item_name_is_named_as_such() {
        let (code, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[("SecurityGroupIds.member.1", "sg-1")]),
            )
            .unwrap_err(),
        );
        assert_eq!(code, "InvalidQueryParameter");
        assert!(
            text.contains("`SecurityGroupIds.member.1` is not the name of an item")
                && text.contains("`SecurityGroupIds.SecurityGroupId.N`"),
            "{text}"
        );
    }

    #[test]
    fn a_list_past_its_bound_is_too_long() {
        let (code, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[("SecurityGroupIds.SecurityGroupId.1001", "sg-1")]),
            )
            .unwrap_err(),
        );
        assert_eq!(code, "InvalidParameterValue");
        assert!(
            text.contains("`SecurityGroupIds` is too long")
                && text.contains("`SecurityGroupIds.SecurityGroupId.1001`")
                && text.contains("at most 1000 items"),
            "{text}"
        );
        // The model's own bound, where it is lower.
        let (_, text) = message(
            parse_pairs(
                "BatchApplyUpdateAction",
                &[
                    ("ServiceUpdateName", "u"),
                    ("ReplicationGroupIds.member.99999", "g"),
                ],
            )
            .unwrap_err(),
        );
        assert!(text.contains("at most 20 items"), "{text}");
    }

    #[test]
    fn an_empty_list_keeps_the_models_minimum() {
        for (action, pairs) in [
            ("CreateReplicationGroup", &with(&[("UserGroupIds", "")])[..]),
            (
                "CreateUser",
                &[
                    ("UserId", "u"),
                    ("UserName", "u"),
                    ("Engine", "redis"),
                    ("AccessString", "on ~* +@all"),
                    ("Passwords", ""),
                ],
            ),
        ] {
            let (code, text) = message(parse_pairs(action, pairs).unwrap_err());
            assert_eq!(code, "InvalidParameterValue", "{text}");
            assert!(
                text.contains("has 0 items") && text.contains("at least 1"),
                "{text}"
            );
        }
        // A list without a minimum may be empty.
        assert!(parse_pairs(
            "ModifyReplicationGroup",
            &[("ReplicationGroupId", "g"), ("SecurityGroupIds", "")]
        )
        .is_ok());
    }

    #[test]
    fn a_long_tag_list_repeating_a_key_is_rejected_too() {
        let names: Vec<(String, String)> = (1..=20)
            .flat_map(|i| {
                let key = if i == 20 { 3 } else { i };
                [
                    (format!("Tags.Tag.{i}.Key"), format!("k{key}")),
                    (format!("Tags.Tag.{i}.Value"), "v".to_owned()),
                ]
            })
            .collect();
        let mut pairs = with(&[]);
        pairs.extend(names.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let (code, text) = message(parse_pairs("CreateReplicationGroup", &pairs).unwrap_err());
        assert_eq!(code, "InvalidParameterValue", "{text}");
        assert!(text.contains("`Tags.Tag.3` and `Tags.Tag.20`"), "{text}");
    }

    #[test]
    fn tags_repeating_a_key_are_rejected() {
        let err = parse_pairs(
            "CreateReplicationGroup",
            &with(&[
                ("Tags.Tag.1.Key", "team"),
                ("Tags.Tag.1.Value", "search"),
                ("Tags.Tag.2.Key", "env"),
                ("Tags.Tag.2.Value", "prod"),
                ("Tags.Tag.3.Key", "team"),
                ("Tags.Tag.3.Value", "payments"),
            ]),
        )
        .unwrap_err();
        let (code, text) = message(err);
        assert_eq!(code, "InvalidParameterValue", "{text}");
        assert_eq!(
            text,
            "tags `Tags.Tag.1` and `Tags.Tag.3` repeat the key `team`: each key may be given once"
        );
        // Any action with a tag list, found by shape.
        let err = parse_pairs(
            "AddTagsToResource",
            &[
                (
                    "ResourceName",
                    "arn:aws:elasticache:us-east-1:123456781234:cluster:c1",
                ),
                ("Tags.Tag.1.Key", "team"),
                ("Tags.Tag.2.Key", "team"),
                ("Tags.Tag.2.Value", "payments"),
            ],
        )
        .unwrap_err();
        assert!(message(err).1.contains("`Tags.Tag.1` and `Tags.Tag.2`"));
        // Keys are case-sensitive, and values may repeat.
        let params = parse_pairs(
            "CreateReplicationGroup",
            &with(&[
                ("Tags.Tag.1.Key", "team"),
                ("Tags.Tag.1.Value", "payments"),
                ("Tags.Tag.2.Key", "Team"),
                ("Tags.Tag.2.Value", "payments"),
            ]),
        )
        .unwrap();
        let Some(Value::List(tags)) = params.get("Tags") else {
            panic!("no tags");
        };
        assert_eq!(tags.len(), 2);
        // Lists of other shapes may repeat items.
        parse_pairs(
            "CreateReplicationGroup",
            &with(&[
                ("SecurityGroupIds.SecurityGroupId.1", "sg-1"),
                ("SecurityGroupIds.SecurityGroupId.2", "sg-1"),
            ]),
        )
        .unwrap();
        // A secret key would be named by its items alone.
        let tags = operation("CreateReplicationGroup")
            .unwrap()
            .input()
            .member("Tags")
            .unwrap();
        let Kind::List(list) = tags.shape().kind() else {
            panic!("Tags is no list");
        };
        let Kind::Structure(tag) = list.member().shape().kind() else {
            panic!("a tag is no structure");
        };
        let hunter2 = Value::Structure(Params::of_strings(tag, [("Key", "hunter2")]));
        let items = [hunter2.clone(), hunter2];
        let (_, text) = message(repeated_tag_key("Tags", list, &items, true).unwrap_err());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("`Tags.Tag.2`"), "{text}");
    }

    #[test]
    fn values_are_typed() {
        for (name, bad) in [
            ("NumCacheClusters", "3.0"),
            ("NumCacheClusters", "03"),
            ("NumCacheClusters", "+3"),
            ("NumCacheClusters", "2147483648"),
            ("NumCacheClusters", " 3"),
            ("TransitEncryptionEnabled", "True"),
            ("TransitEncryptionEnabled", "1"),
            ("TransitEncryptionMode", "strict"),
        ] {
            let err = parse_pairs("CreateReplicationGroup", &with(&[(name, bad)])).unwrap_err();
            let (code, text) = message(err);
            assert_eq!(code, "InvalidParameterValue", "{name}={bad}: {text}");
            assert!(text.contains(&format!("`{bad}`")), "{text}");
        }
        let (_, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[("TransitEncryptionMode", "Required")]),
            )
            .unwrap_err(),
        );
        assert!(text.contains("did you mean `required`"), "{text}");
    }

    #[test]
    fn timestamps_are_iso_8601_in_utc() {
        assert_eq!(
            timestamp("2026-12-01T09:30:00Z").as_deref(),
            Some("2026-12-01T09:30:00Z")
        );
        assert_eq!(
            timestamp("2026-12-01T09:30:00.123456Z").as_deref(),
            Some("2026-12-01T09:30:00.123456Z")
        );
        assert_eq!(
            timestamp("2026-12-01T00:30:00+01:00").as_deref(),
            Some("2026-11-30T23:30:00Z")
        );
        for bad in [
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01 09:30:00Z",
            "2026-12-01T09:30:00",
            "2026-12-01T09:30:00.Z",
            "1764581400",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_and_missing_parameters() {
        let (code, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[("SecurityGroupId", "sg-1")]),
            )
            .unwrap_err(),
        );
        assert_eq!(code, "InvalidQueryParameter");
        assert!(text.contains("`SecurityGroupId`"), "{text}");
        assert!(text.contains("did you mean `SecurityGroupIds`"), "{text}");
        assert!(
            text.contains(crate::service_model::BOTOCORE_VERSION),
            "{text}"
        );
        let (code, text) = message(
            parse_pairs("CreateReplicationGroup", &[("ReplicationGroupId", "g")]).unwrap_err(),
        );
        assert_eq!(code, "MissingParameter");
        assert!(text.contains("`ReplicationGroupDescription`"), "{text}");
        // A structure's member must be one of its own.
        let (code, text) = message(
            parse_pairs(
                "CreateReplicationGroup",
                &with(&[("Tags.Tag.1.Keys", "team")]),
            )
            .unwrap_err(),
        );
        assert_eq!(code, "InvalidQueryParameter", "{text}");
        assert!(text.contains("`Tags.Tag.1.Key`"), "{text}");
    }

    #[test]
    fn renders_lists_structures_and_scalars_on_one_line() {
        let params = parse_pairs(
            "CreateReplicationGroup",
            &[
                ("ReplicationGroupId", "orders"),
                ("ReplicationGroupDescription", "orders"),
                ("NumCacheClusters", "3"),
                ("MultiAZEnabled", "true"),
                ("Tags.Tag.1.Key", "team"),
                ("Tags.Tag.1.Value", "payments"),
                ("Tags.Tag.2.Key", "env"),
                ("AuthToken", "hunter2-0123456789"),
            ],
        )
        .unwrap();
        let shown = |name| {
            let (member, value) = params.entry(name).unwrap();
            render(member, value)
        };
        assert_eq!(shown("Tags"), "[{Key=team, Value=payments}, {Key=env}]");
        assert_eq!(shown("NumCacheClusters"), "3");
        assert_eq!(shown("MultiAZEnabled"), "true");
        assert_eq!(shown("AuthToken"), SECRET);
        assert_eq!(params.get("ReplicationGroupId").unwrap().render(), "orders");
    }

    #[test]
    fn secrets_are_never_echoed() {
        let secret = Context {
            action: Action::from_name("CreateReplicationGroup").unwrap(),
            case: None,
            secret: true,
        };
        let bounded = Bounds {
            min: Some(1),
            max: Some(2),
        };
        for kind in [Kind::Boolean, Kind::Integer(bounded), Kind::Timestamp] {
            let err = scalar_value(&kind, "AuthToken", "hunter2-0123456789", secret).unwrap_err();
            let (_, text) = message(err);
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("a secret"), "{text}");
        }
        let err = scalar_value(&Kind::Integer(bounded), "AuthToken", "7", secret).unwrap_err();
        assert!(!message(err).1.contains('7'));
        // A secret sent in the wrong shape is named, never shown.
        for pairs in [
            &[("AuthToken.member.1", "hunter2-0123456789")][..],
            &[
                ("AuthToken", "hunter2-0123456789"),
                ("AuthToken.x", "hunter2-0123456789"),
            ],
        ] {
            let err = parse_pairs("CreateReplicationGroup", &with(pairs)).unwrap_err();
            let (_, text) = message(err);
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    /// Parses a query of any action, as the proxy does.
    fn parsed(query: &str) -> crate::request::ElastiCacheRequest {
        crate::request::parse_query(query).unwrap().0
    }

    fn rebuilt(request: &crate::request::ElastiCacheRequest) -> (serde_json::Value, Params) {
        let json = to_json(&request.params);
        let input = operation(request.action.name()).unwrap().input();
        let again = from_json(input, request.action, &json).unwrap();
        (json, again)
    }

    #[test]
    fn parameters_round_trip_through_json_with_secrets_hidden() {
        let create = parsed(
            "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=Orders\
             &ReplicationGroupDescription=orders&NumCacheClusters=3&TransitEncryptionEnabled=true\
             &SecurityGroupIds.SecurityGroupId.1=sg-1&Tags.Tag.1.Key=team&Tags.Tag.1.Value=payments\
             &AuthToken=hunter2-hunter2-hunter2\
             &LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.DestinationDetails.CloudWatchLogsDetails.LogGroup=/a",
        );
        let (json, again) = rebuilt(&create);
        assert!(!json.to_string().contains("hunter2"), "{json}");
        assert_eq!(json["AuthToken"], SECRET);
        assert_eq!(json["NumCacheClusters"], 3);
        assert_eq!(json["TransitEncryptionEnabled"], true);
        assert_eq!(json["ReplicationGroupId"], "orders");
        assert_eq!(json["SecurityGroupIds"], serde_json::json!(["sg-1"]));
        assert_eq!(
            json["Tags"],
            serde_json::json!([{"Key": "team", "Value": "payments"}])
        );
        assert_eq!(
            json["LogDeliveryConfigurations"][0]["DestinationDetails"]["CloudWatchLogsDetails"]
                ["LogGroup"],
            "/a"
        );
        // All but the secret comes back as it was; the secret as present.
        assert_eq!(to_json(&again), json);
        assert_eq!(
            again.get("AuthToken"),
            Some(&Value::String(SECRET.to_owned()))
        );
        for (member, value) in create.params.iter() {
            if !member.is_secret() {
                assert_eq!(again.get(member.query_name()), Some(value));
            }
        }

        // A secret at depth: a list of passwords inside a structure.
        let user = parsed(
            "Action=CreateUser&Version=2015-02-02&UserId=u&UserName=u&Engine=redis&AccessString=on\
             &AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1=hunter2hunter2hunter2",
        );
        let (json, again) = rebuilt(&user);
        assert!(!json.to_string().contains("hunter2"), "{json}");
        assert_eq!(
            json["AuthenticationMode"],
            serde_json::json!({"Passwords": SECRET, "Type": "password"})
        );
        // Decided again, the rebuilt request is decided as the parsed one.
        let region = crate::model::Region::parse("eu-west-1").unwrap();
        for (request, again, policy) in [
            (&create, &create_params(&create), "{id: r, effect: deny, actions: [CreateReplicationGroup], params: {AuthToken: {present: true}}}"),
            (&create, &create_params(&create), "{id: r, effect: allow, actions: [CreateReplicationGroup], params: {AuthToken: {present: false}}}"),
            (&user, &again, "{id: r, effect: allow, actions: [CreateUser], params: {AuthenticationMode.Passwords: {present: true}}}"),
            (&user, &again, "{id: r, effect: deny, actions: [CreateUser], params: {AuthenticationMode.Passwords: {present: true}}}"),
        ] {
            let policy = crate::policy::compile("p.yaml", &format!("rules:\n  - {policy}\n")).unwrap();
            let mut facts = crate::decision::RequestFacts::of(request, &region, Some("a"));
            let before = policy.is_authorized(&facts).decision;
            facts.params = again;
            assert_eq!(policy.is_authorized(&facts).decision, before, "{policy:?}");
        }
    }

    fn create_params(request: &crate::request::ElastiCacheRequest) -> Params {
        rebuilt(request).1
    }

    #[test]
    fn json_of_the_wrong_type_is_refused() {
        let input = operation("CreateReplicationGroup").unwrap().input();
        let action = Action::from_name("CreateReplicationGroup").unwrap();
        let base =
            serde_json::json!({"ReplicationGroupId": "g", "ReplicationGroupDescription": "d"});
        let with = |name: &str, value: serde_json::Value| {
            let mut json = base.clone();
            json[name] = value;
            from_json(input, action, &json).unwrap_err()
        };
        assert_eq!(
            with("NumCacheClusters", serde_json::json!("3")),
            "`NumCacheClusters` must be a whole number, found a string"
        );
        assert_eq!(
            with("Tags", serde_json::json!([{"Key": "a"}, {"Key": "a"}])),
            "tags `Tags.Tag.1` and `Tags.Tag.2` repeat the key `a`: each key may be given once"
        );
        assert!(with("Nope", serde_json::json!(1)).contains("`Nope`"));
        // A secret's value is never taken, only its presence.
        assert_eq!(
            with("AuthToken", serde_json::json!("hunter2-hunter2-hunter2")),
            "`AuthToken` is a secret: expected `(secret)`"
        );
        assert_eq!(
            from_json(
                input,
                action,
                &serde_json::json!({"ReplicationGroupId": "g"})
            )
            .unwrap_err(),
            "required parameters missing: `ReplicationGroupDescription`"
        );
        assert!(from_json(input, action, &serde_json::json!([])).is_err());
    }

    /// A small deterministic generator, so that one proptest seed makes one
    /// model-valid request.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    const CHARS: &[char] = &[
        'a', 'b', 'z', 'A', 'Q', 'Z', '0', '7', '-', '_', '.', '~', ' ', '%', '&', '=', '+', '/',
        ':', 'é', 'Ω',
    ];

    fn string_of(rng: &mut Rng, string: &StringShape, case: Option<NameCase>) -> String {
        if !string.enum_values().is_empty() {
            let values = string.enum_values();
            return values[rng.below(values.len() as u64) as usize].to_owned();
        }
        let min = string.length().min.unwrap_or(0).max(0) as u64;
        let max = string
            .length()
            .max
            .unwrap_or(min as i64 + 12)
            .min(min as i64 + 12) as u64;
        let length = min + rng.below(max - min + 1);
        let text: String = (0..length)
            .map(|_| CHARS[rng.below(CHARS.len() as u64) as usize])
            .collect();
        match case {
            Some(NameCase::StoredLowercase) => names::stored_lowercase(text),
            _ => text,
        }
    }

    fn value_of(rng: &mut Rng, shape: &'static Shape, case: Option<NameCase>, depth: u32) -> Value {
        match shape.kind() {
            Kind::String(string) => Value::String(string_of(rng, string, case)),
            Kind::Boolean => Value::Boolean(rng.chance(50)),
            Kind::Integer(bounds) | Kind::Long(bounds) => {
                let min = bounds.min.unwrap_or(-5);
                let max = bounds.max.unwrap_or(min.max(0) + 100);
                Value::Integer(min + rng.below((max - min + 1) as u64) as i64)
            }
            Kind::Timestamp => Value::Timestamp(format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                rng.below(100),
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            )),
            Kind::List(list) => {
                let min = list.length().min.unwrap_or(0).max(0) as u64;
                let count = if depth > 3 { min } else { min + rng.below(4) };
                let mut items: Vec<Value> = (0..count)
                    .map(|_| value_of(rng, list.member().shape(), case, depth + 1))
                    .collect();
                // A tag list repeats no key (the parser rejects that).
                while repeated_tag_key("", list, &items, false).is_err() {
                    items.pop();
                }
                Value::List(items)
            }
            Kind::Structure(structure) => {
                // An empty structure is sent as nothing at all: give it a member.
                let mut params = params_of(rng, structure, depth + 1);
                if let (true, Some(first)) = (params.is_empty(), structure.members().first()) {
                    let value = value_of(rng, first.shape(), first.case(), depth + 1);
                    params.insert(first, value);
                }
                Value::Structure(params)
            }
            Kind::Map(map) => {
                // An empty map, too, is sent as nothing.
                let mut entries: Vec<(Value, Value)> = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let key = value_of(rng, map.key().shape(), None, depth + 1);
                    if entries.iter().all(|(k, _)| *k != key) {
                        let value = value_of(rng, map.value().shape(), None, depth + 1);
                        entries.push((key, value));
                    }
                }
                Value::Map(entries)
            }
        }
    }

    fn params_of(rng: &mut Rng, structure: &'static Structure, depth: u32) -> Params {
        let mut params = Params::default();
        for member in structure.members() {
            if member.is_required() || (depth < 4 && rng.chance(40)) {
                let value = value_of(rng, member.shape(), member.case(), depth);
                params.insert(member, value);
            }
        }
        params
    }

    /// Whether a value of `shape` can hold a secret member, at any depth.
    fn reaches_secret(shape: &'static Shape, depth: u32) -> bool {
        depth < 8
            && match shape.kind() {
                Kind::Structure(structure) => structure
                    .members()
                    .iter()
                    .any(|m| m.is_secret() || reaches_secret(m.shape(), depth + 1)),
                Kind::List(list) => reaches_secret(list.member().shape(), depth + 1),
                Kind::Map(map) => reaches_secret(map.value().shape(), depth + 1),
                _ => false,
            }
    }

    /// A value of `shape` whose every string is a new secret, recorded.
    fn secret_value(shape: &'static Shape, secrets: &mut Vec<String>) -> Value {
        match shape.kind() {
            Kind::List(list) => Value::List(vec![
                secret_value(list.member().shape(), secrets),
                secret_value(list.member().shape(), secrets),
            ]),
            _ => {
                // Holds `&`, `=` and `%`, which other layers treat apart.
                let secret = format!("Sekrit&{:04}=%x", secrets.len());
                secrets.push(secret.clone());
                Value::String(secret)
            }
        }
    }

    /// Puts a secret in every secret member that `structure` reaches,
    /// keeping the rest of `params`.
    fn plant(structure: &'static Structure, params: &mut Params, secrets: &mut Vec<String>) {
        for member in structure.members() {
            if member.is_secret() {
                params.insert(member, secret_value(member.shape(), secrets));
                continue;
            }
            if !reaches_secret(member.shape(), 0) {
                continue;
            }
            let planted = |inner: &'static Structure, old: Option<&Value>, secrets: &mut Vec<_>| {
                let mut nested = match old {
                    Some(Value::Structure(nested)) => nested.clone(),
                    _ => Params::default(),
                };
                plant(inner, &mut nested, secrets);
                Value::Structure(nested)
            };
            match member.shape().kind() {
                Kind::Structure(inner) => {
                    let value = planted(inner, params.get(member.query_name()), secrets);
                    params.insert(member, value);
                }
                Kind::List(list) => {
                    if let Kind::Structure(inner) = list.member().shape().kind() {
                        let mut items = match params.get(member.query_name()) {
                            Some(Value::List(items)) => items.clone(),
                            _ => Vec::new(),
                        };
                        items.push(planted(inner, None, secrets));
                        params.insert(member, Value::List(items));
                    }
                }
                _ => {}
            }
        }
    }

    /// A condition on `member` that the request fails and whose failure
    /// shows the value, where the member's type has such a test.
    fn failing_condition(member: &'static Member) -> String {
        let kind = member.shape().kind();
        let test = match kind {
            Kind::String(string) if string.enum_values().is_empty() => "{matches: \"zz-none\"}",
            Kind::Integer(_) | Kind::Long(_) => "{range: [-3, -2]}",
            Kind::List(list) => match list.member().shape().kind() {
                Kind::String(_) => "{all_in: [zz-none]}",
                Kind::Structure(tag) if tag.member("Key").is_some() => "{tags: {zz: none}}",
                _ => "{present: false}",
            },
            _ => "{present: false}",
        };
        format!("{}: {test}", member.query_name())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// For random requests of every action whose parameters can carry
        /// a secret, with a secret in every place one can be, no rendering
        /// of the request shows any of them: the values, their debug form,
        /// and the denial of a rule on each parameter.
        #[test]
        fn no_rendering_shows_a_secret(seed in proptest::prelude::any::<u64>()) {
            use crate::decision::{DenialDetail, RequestFacts};
            let mut rng = Rng(seed | 1);
            let operations: Vec<_> = crate::service_model::operations()
                .iter()
                .filter(|op| op.members().iter().any(|m| m.is_secret() || reaches_secret(m.shape(), 0)))
                .collect();
            proptest::prop_assert!(operations.len() >= 6, "{}", operations.len());
            let operation = operations[rng.below(operations.len() as u64) as usize];
            let action = Action::from_name(operation.name()).unwrap();
            let mut params = params_of(&mut rng, operation.input(), 0);
            let mut secrets = Vec::new();
            plant(operation.input(), &mut params, &mut secrets);
            proptest::prop_assert!(!secrets.is_empty());
            let mut shown = format!("{params:?}");
            let region = crate::model::Region::parse("eu-west-1").unwrap();
            let facts = RequestFacts::new(action, &region, &params, Some("ci"));
            for (member, value) in params.iter() {
                shown.push_str(&render(member, value));
                if member.is_secret() {
                    continue;
                }
                let policy = format!(
                    "rules:\n  - id: r\n    effect: allow\n    actions: [{}]\n    params:\n      {}\n",
                    operation.name(),
                    failing_condition(member),
                );
                let policy = crate::policy::compile("p.yaml", &policy).unwrap();
                let response = policy.is_authorized(&facts);
                shown.push_str(&response.denial_message(&facts, DenialDetail::Full));
            }
            for secret in &secrets {
                proptest::prop_assert!(!shown.contains(secret.as_str()), "{secret} in {shown}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// For random model-valid parameters of every action, written by the
        /// model's own serialization rules, the forwarded pairs re-parse to
        /// exactly the parameters decided on.
        #[test]
        fn every_action_round_trips(seed in proptest::prelude::any::<u64>()) {
            let mut rng = Rng(seed | 1);
            let operations = crate::service_model::operations();
            let operation = &operations[rng.below(operations.len() as u64) as usize];
            let action = Action::from_name(operation.name()).unwrap();
            let params = params_of(&mut rng, operation.input(), 0);
            let pairs = pairs_of(&params);
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let again = parse(action, operation.input(), &borrowed);
            proptest::prop_assert_eq!(again.as_ref(), Ok(&params), "{:?}", pairs);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// For random model-valid parameters of every action, their JSON
        /// rebuilds parameters with the same JSON, and the same parameters
        /// where no secret was hidden.
        #[test]
        fn every_action_round_trips_through_json(seed in proptest::prelude::any::<u64>()) {
            let mut rng = Rng(seed | 1);
            let operations = crate::service_model::operations();
            let operation = &operations[rng.below(operations.len() as u64) as usize];
            let action = Action::from_name(operation.name()).unwrap();
            let params = params_of(&mut rng, operation.input(), 0);
            let json = to_json(&params);
            let again = from_json(operation.input(), action, &json);
            proptest::prop_assert!(again.is_ok(), "{:?}: {json}", again);
            let again = again.unwrap_or_default();
            proptest::prop_assert_eq!(to_json(&again), json.clone());
            if !json.to_string().contains(SECRET) {
                proptest::prop_assert_eq!(again, params);
            }
        }
    }
}
