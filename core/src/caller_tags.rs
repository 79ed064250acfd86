//! A caller's attributes (`tags:` in the callers file, `trusted_caller_tags`
//! in the config), which rules refer to as `${caller.tags.KEY}` so that one
//! rule serves every team behind the proxy's one AWS role.

use std::sync::Arc;

use serde_yaml::Value;

use crate::diagnostics::{found, Diagnostics, ErrorKind, Place, Reported};
use crate::text::quoted;

/// Most tags a caller may carry, as AWS allows on a resource.
pub const MAX_TAGS: usize = 50;
/// Longest tag key and value, as AWS allows on a resource.
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

/// A caller's tags, sorted by key, each key once. Shared, since every
/// request of the caller carries them to the decision.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct CallerTags(Option<Arc<[(String, String)]>>);

impl CallerTags {
    /// No tags, without an allocation.
    pub const EMPTY: CallerTags = CallerTags(None);

    fn pairs(&self) -> &[(String, String)] {
        self.0.as_deref().unwrap_or(&[])
    }

    pub fn new(mut tags: Vec<(String, String)>) -> CallerTags {
        tags.sort_unstable();
        tags.dedup_by(|a, b| a.0 == b.0);
        if tags.is_empty() {
            return CallerTags::EMPTY;
        }
        CallerTags(Some(tags.into()))
    }

    /// The value of `key`, if the caller has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        let pairs = self.pairs();
        pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| pairs[i].1.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }
}

/// Whether `key` can be a caller's tag key, and be named in a rule as
/// `${caller.tags.KEY}`: the characters AWS allows in tag keys but spaces.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "_.:/=+-@".contains(c))
}

/// Reads `tags:` (at `place`): a mapping of tag keys to quoted string values.
pub fn compile(
    value: &Value,
    place: &Place,
    out: &mut Diagnostics,
) -> Result<CallerTags, Reported> {
    let Value::Mapping(map) = value else {
        return Err(out.report(
            place
                .error(
                    ErrorKind::WrongType,
                    format!(
                        "`tags` must be a mapping of tag keys to values, not {}",
                        found(value)
                    ),
                )
                .hint("write `tags: {team: payments, env: prod}`"),
        ));
    };
    if map.len() > MAX_TAGS {
        return Err(out.report(place.error(
            ErrorKind::InvalidValue,
            format!(
                "`tags` has {} tags, more than the {MAX_TAGS} a caller may carry",
                map.len()
            ),
        )));
    }
    let mut tags = Vec::with_capacity(map.len());
    let mut failed = None;
    for (key, value) in map {
        let Some(key) = key.as_str().filter(|k| is_valid_key(k)) else {
            failed = Some(
                out.report(
                    place
                        .error(
                            ErrorKind::InvalidValue,
                            format!("{} is not a tag key", found(key)),
                        )
                        .hint(format!(
                            "a key is 1 to {MAX_KEY_CHARS} letters, digits and `_.:/=+-@`"
                        )),
                ),
            );
            continue;
        };
        let at = place.child(key);
        match value.as_str() {
            Some(v) if v.chars().count() <= MAX_VALUE_CHARS => {
                tags.push((key.to_owned(), v.to_owned()))
            }
            Some(v) => {
                failed = Some(out.report(at.error(
                    ErrorKind::InvalidValue,
                    format!(
                        "the value of tag `{key}` has {} characters, more than {MAX_VALUE_CHARS}",
                        v.chars().count()
                    ),
                )));
            }
            None => {
                failed = Some(
                    out.report(
                        at.error(
                            ErrorKind::WrongType,
                            format!(
                                "the value of tag `{key}` must be a string, not {}",
                                found(value)
                            ),
                        )
                        .hint(format!("quote it: `{key}: \"…\"`")),
                    ),
                );
            }
        }
    }
    failed.map_or_else(|| Ok(CallerTags::new(tags)), Err)
}

/// Whether a file's text still shows every tag, for a failed reload's
/// check that a kept caller still has the tags it is kept with.
pub(crate) fn all_appear(
    tags: &CallerTags,
    key_appears: impl Fn(&str) -> bool,
    value_appears: impl Fn(&str) -> bool,
) -> bool {
    tags.iter()
        .all(|(k, v)| key_appears(k) && (v.is_empty() || value_appears(v)))
}

/// For messages: `team=payments, env=prod`.
pub fn describe(tags: &CallerTags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={}", quoted(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<CallerTags, String> {
        let value: Value = serde_yaml::from_str(text).unwrap();
        let mut out = Diagnostics::new("c.yaml", "callers file");
        compile(&value, &Place::root().child("tags"), &mut out).map_err(|_| out.to_string())
    }

    #[test]
    fn tags_are_validated_and_sorted() {
        let tags = read("{team: payments, env: prod}").unwrap();
        assert_eq!(tags.get("team"), Some("payments"));
        assert_eq!(tags.get("owner"), None);
        assert_eq!(
            tags.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["env", "team"]
        );
        for (bad, expected) in [
            ("[team]", "`tags` must be a mapping"),
            ("{team: 7}", "the value of tag `team` must be a string"),
            ("{\"a b\": x}", "is not a tag key"),
            ("{\"\": x}", "is not a tag key"),
        ] {
            let error = read(bad).unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
        }
        let long = format!("{{team: {}}}", "x".repeat(257));
        assert!(read(&long).unwrap_err().contains("more than 256"));
    }
}
