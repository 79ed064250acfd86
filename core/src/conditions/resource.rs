//! `resource_tags:`: the tags every existing resource a request names must
//! carry, as ListTagsForResource returns them. The proxy looks the tags up
//! around the core and hands them in (`facts::ResourceFacts`); here they
//! are only compared.

use serde_yaml::Value as Yaml;

use super::template::Text;
use crate::caller_tags::{is_valid_key, CallerTags};
use crate::diagnostics::{found, Diagnostics, ErrorKind, Place};
use crate::facts::{ResourceFacts, ResourceState};
use crate::text::quoted;

/// The most tags one condition may ask for.
const MAX_WANTED: usize = 50;

/// A compiled `resource_tags:` condition.
#[derive(Debug)]
pub(crate) struct ResourceTags {
    /// Tag keys and the values each resource must carry, sorted by key.
    pub wanted: Vec<(String, Text)>,
}

/// How a request fares against a `resource_tags` condition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Holds,
    Fails,
    /// Something it needs is missing: the tags were not looked up, a
    /// resource cannot carry tags, or the caller lacks a tag a value
    /// refers to. The rule's effect settles it, failing closed.
    Unjudged,
}

impl ResourceTags {
    /// Whether every resource the request names carries the wanted tags.
    pub fn judge(&self, resources: Option<&ResourceFacts>, caller: &CallerTags) -> Verdict {
        let Some(resources) = resources else {
            return Verdict::Unjudged;
        };
        let mut wanted = Vec::with_capacity(self.wanted.len());
        for (key, value) in &self.wanted {
            let Some(value) = value.resolve(caller) else {
                return Verdict::Unjudged;
            };
            wanted.push((key.as_str(), value));
        }
        let mut verdict = Verdict::Holds;
        for fact in &resources.resources {
            match &fact.state {
                ResourceState::Untaggable => return Verdict::Unjudged,
                ResourceState::Tags(tags) => {
                    let carries = wanted
                        .iter()
                        .all(|(key, value)| tags.iter().any(|(k, v)| k == key && v == &**value));
                    if !carries {
                        verdict = Verdict::Fails;
                    }
                }
            }
        }
        verdict
    }

    /// Whether the caller has every tag its values refer to: without one,
    /// the resources' tags cannot change the verdict (`Unjudged`), so they
    /// need not be looked up.
    pub fn resolves_for(&self, caller: &CallerTags) -> bool {
        self.wanted
            .iter()
            .all(|(_, value)| value.resolve(caller).is_some())
    }

    /// Why a request failed it, for a denial's explanation: the first
    /// resource that lacks a tag, with the tags it has.
    pub fn describe_failure(
        &self,
        resources: Option<&ResourceFacts>,
        caller: &CallerTags,
    ) -> String {
        // The caller's tags first: without them the resources' are not
        // looked up, and would not matter.
        for (key, value) in &self.wanted {
            if value.resolve(caller).is_none() {
                let missing = value
                    .keys()
                    .iter()
                    .find(|k| caller.get(k).is_none_or(str::is_empty))
                    .map_or("", String::as_str);
                return format!(
                    "the caller has no tag `{missing}`, which `resource_tags.{key}` refers to"
                );
            }
        }
        let Some(resources) = resources else {
            return "the tags of the resources the request names were not looked up".to_owned();
        };
        for fact in &resources.resources {
            let resource = &fact.resource;
            let named = format!(
                "{} {} (`{}`)",
                resource.kind.describe(),
                quoted(&resource.id),
                resource.member
            );
            match &fact.state {
                ResourceState::Untaggable => {
                    return format!("{named} cannot carry tags, so its owner cannot be told");
                }
                ResourceState::Tags(tags) => {
                    for (key, value) in &self.wanted {
                        let Some(value) = value.resolve(caller) else {
                            continue;
                        };
                        if tags.iter().any(|(k, v)| k == key && *v == value) {
                            continue;
                        }
                        let has = match tags.iter().find(|(k, _)| k == key) {
                            Some((_, v)) => format!("it has `{key}={v}`"),
                            None => format!("it has no tag `{key}`"),
                        };
                        return format!("{named} lacks the tag `{key}={value}`: {has}");
                    }
                }
            }
        }
        "every resource the request names carries the tags".to_owned()
    }

    /// The caller tags its values refer to.
    pub fn caller_tag_keys(&self) -> impl Iterator<Item = &str> {
        self.wanted
            .iter()
            .flat_map(|(_, v)| v.keys())
            .map(String::as_str)
    }
}

/// Compiles `resource_tags:` (at `place`); `None` when there was a problem,
/// each reported.
pub(crate) fn compile(value: &Yaml, place: &Place, out: &mut Diagnostics) -> Option<ResourceTags> {
    let Yaml::Mapping(map) = value else {
        out.report(
            place
                .error(
                    ErrorKind::WrongType,
                    format!(
                        "`resource_tags` must be a mapping of tag keys to values, not {}",
                        found(value)
                    ),
                )
                .hint("write `resource_tags: {team: \"${caller.tags.team}\"}`"),
        );
        return None;
    };
    if map.is_empty() {
        out.report(
            place
                .error(ErrorKind::Empty, "`resource_tags` is empty")
                .hint("leave it out to match resources whatever their tags"),
        );
        return None;
    }
    if map.len() > MAX_WANTED {
        out.report(place.error(
            ErrorKind::InvalidValue,
            format!(
                "`resource_tags` asks for {} tags, more than {MAX_WANTED}",
                map.len()
            ),
        ));
        return None;
    }
    let mut wanted = Vec::with_capacity(map.len());
    let mut ok = true;
    for (key, value) in map {
        let Some(key) = key.as_str().filter(|k| is_valid_key(k)) else {
            ok = false;
            out.report(place.error(
                ErrorKind::InvalidValue,
                format!("{} is not a tag key", found(key)),
            ));
            continue;
        };
        let at = place.child(key);
        let parsed = match value.as_str() {
            Some(text) => Text::parse(text),
            None => Err(format!(
                "the value of `{key}` must be a quoted string, not {}",
                found(value)
            )),
        };
        match parsed {
            Ok(text) => wanted.push((key.to_owned(), text)),
            Err(e) => {
                ok = false;
                out.report(at.error(ErrorKind::InvalidValue, e));
            }
        }
    }
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    ok.then_some(ResourceTags { wanted })
}
