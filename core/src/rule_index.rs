//! Which rules a request can possibly match, found without looking at the
//! others. Built once per policy; no I/O.
//!
//! For each action the rules that name it are posted under the values of
//! each condition: the callers, regions and owner ids they list, and the
//! group names their patterns can match when a pattern is a finite set of
//! literal names (`prod-web`, `app-(web|worker)`). A rule whose condition is
//! left out, or is a pattern with infinitely many names, is posted under
//! "any". A request's candidates for one condition are the rules posted under
//! its value plus the "any" rules; the decision evaluates only the smallest
//! such list, in full, so the index can only narrow, never decide.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::facts::RequestFacts;
use crate::model::{AccountId, Region};
use crate::rule::{Effect, Mode, NameMatcher, Rule};

/// A pattern with more literal expansions than this is posted under "any".
const MAX_LITERALS_PER_PATTERN: usize = 64;

/// The rules naming one action, and their postings.
#[derive(Debug, Default)]
pub(crate) struct ActionRules {
    /// Every rule naming the action, in policy order.
    pub all: Vec<usize>,
    /// The enforced allow rules naming the action, in policy order: when
    /// none matches, they are the near misses a denial explains.
    pub enforced_allows: Vec<usize>,
    /// Whether a `mode: shadow` rule names the action.
    pub has_shadow_rules: bool,
    callers: Postings<String>,
    regions: Postings<Region>,
    owner_ids: Postings<AccountId>,
    cache_security_groups: Postings<String>,
    ec2_security_groups: Postings<String>,
}

#[derive(Debug)]
struct Postings<K> {
    keyed: HashMap<K, Vec<usize>>,
    any: Vec<usize>,
}

impl<K> Default for Postings<K> {
    fn default() -> Self {
        Postings {
            keyed: HashMap::new(),
            any: Vec::new(),
        }
    }
}

impl<K: Hash + Eq> Postings<K> {
    /// Posts `rule` under each key, or under "any" for `None`. Rules are
    /// added in policy order, so every list stays sorted.
    fn post(&mut self, rule: usize, keys: Option<Vec<K>>) {
        match keys {
            None => self.any.push(rule),
            Some(keys) => {
                for key in keys {
                    let list = self.keyed.entry(key).or_default();
                    if list.last() != Some(&rule) {
                        list.push(rule);
                    }
                }
            }
        }
    }

    /// The rules that can match `value`: a request without the value only
    /// matches rules that leave the condition out.
    fn candidates<Q>(&self, value: Option<&Q>) -> Candidates<'_>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let keyed = value
            .and_then(|v| self.keyed.get(v))
            .map_or(&[][..], Vec::as_slice);
        Candidates {
            keyed,
            any: &self.any,
        }
    }
}

/// Two sorted lists of rule indexes, walked as one in policy order.
#[derive(Clone, Copy)]
pub(crate) struct Candidates<'a> {
    keyed: &'a [usize],
    any: &'a [usize],
}

impl Candidates<'_> {
    fn len(&self) -> usize {
        self.keyed.len() + self.any.len()
    }
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_keyed = match (self.keyed.first(), self.any.first()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(k), Some(a)) => k < a,
        };
        let list = if take_keyed {
            &mut self.keyed
        } else {
            &mut self.any
        };
        let (&first, rest) = list.split_first()?;
        *list = rest;
        Some(first)
    }
}

impl ActionRules {
    pub fn add(&mut self, index: usize, rule: &Rule) {
        self.all.push(index);
        if rule.effect == Effect::Allow && rule.mode == Mode::Enforce {
            self.enforced_allows.push(index);
        }
        self.has_shadow_rules |= rule.mode == Mode::Shadow;
        self.callers.post(index, rule.callers.clone());
        self.regions.post(index, rule.regions.clone());
        self.owner_ids.post(index, rule.owner_ids.clone());
        self.cache_security_groups.post(
            index,
            rule.cache_security_groups.as_ref().and_then(literal_names),
        );
        self.ec2_security_groups.post(
            index,
            rule.ec2_security_groups.as_ref().and_then(literal_names),
        );
    }

    /// The rules that can match `facts`, in policy order: the shortest of
    /// the conditions' candidate lists.
    pub fn candidates(&self, facts: &RequestFacts<'_>) -> Candidates<'_> {
        [
            self.callers.candidates(facts.caller),
            self.regions.candidates(Some(facts.region)),
            self.owner_ids.candidates(facts.owner_id.as_ref()),
            self.cache_security_groups
                .candidates(facts.cache_security_group),
            // Already in its lower-case form (see `Policy::decide`).
            self.ec2_security_groups
                .candidates(facts.ec2_security_group),
        ]
        .into_iter()
        .min_by_key(Candidates::len)
        .unwrap_or(Candidates {
            keyed: &[],
            any: &self.all,
        })
    }
}

/// Every name the matcher's patterns can match, when that is a small finite
/// set of literals; `None` when any pattern matches more. For names compared
/// without case, the keys are the literals' lower-case forms: the matcher
/// matches exactly the names whose lower-case form is one of them.
fn literal_names(matcher: &NameMatcher) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    for pattern in &matcher.patterns {
        // Parsed with the settings the matcher was compiled with (the
        // defaults), so a literal here is the literal it matches.
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        let found = literals(&hir)?;
        keys.extend(found.iter().map(|name| matcher.case.key(name).into_owned()));
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

/// The finite language of `hir`, or `None` when it is not one of
/// literals, concatenations, alternations and groups, or too large.
fn literals(hir: &Hir) -> Option<Vec<String>> {
    let out = match hir.kind() {
        HirKind::Empty => vec![String::new()],
        HirKind::Literal(literal) => vec![String::from_utf8(literal.0.to_vec()).ok()?],
        HirKind::Capture(capture) => literals(&capture.sub)?,
        HirKind::Concat(parts) => {
            let mut product = vec![String::new()];
            for part in parts {
                let tails = literals(part)?;
                if product.len() * tails.len() > MAX_LITERALS_PER_PATTERN {
                    return None;
                }
                product = product
                    .iter()
                    .flat_map(|head| tails.iter().map(move |tail| format!("{head}{tail}")))
                    .collect();
            }
            product
        }
        HirKind::Alternation(branches) => {
            let mut union = Vec::new();
            for branch in branches {
                union.extend(literals(branch)?);
                if union.len() > MAX_LITERALS_PER_PATTERN {
                    return None;
                }
            }
            union
        }
        // `x|y` and `[xy]` both parse to a class.
        HirKind::Class(Class::Unicode(class)) => {
            let mut chars = Vec::new();
            for range in class.iter() {
                let count = (range.end() as usize).saturating_sub(range.start() as usize) + 1;
                if chars.len() + count > MAX_LITERALS_PER_PATTERN {
                    return None;
                }
                chars.extend((range.start()..=range.end()).map(String::from));
            }
            chars
        }
        HirKind::Class(Class::Bytes(_)) | HirKind::Look(_) | HirKind::Repetition(_) => return None,
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pattern: &str) -> Option<Vec<String>> {
        let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
        literals(&hir).map(|mut names| {
            names.sort();
            names
        })
    }

    #[test]
    fn literal_patterns_are_their_names() {
        assert_eq!(names("prod-web").unwrap(), ["prod-web"]);
        assert_eq!(
            names("app-(web|worker)").unwrap(),
            ["app-web", "app-worker"]
        );
        assert_eq!(names(r"a\.b").unwrap(), ["a.b"]);
        assert_eq!(names("(?:x|y)(1|2)").unwrap(), ["x1", "x2", "y1", "y2"]);
        assert_eq!(names("ünï").unwrap(), ["ünï"]);
        assert_eq!(names("[ab]c").unwrap(), ["ac", "bc"]);
        assert_eq!(names("(?i)x1").unwrap(), ["X1", "x1"]);
    }

    #[test]
    fn patterns_with_more_names_are_not_literal() {
        for pattern in [
            "prod-.*",
            "a.b",
            "x+",
            "x?",
            "[a-z][a-z][a-z]",
            "^a$",
            r"a\b",
            "(a|b|c|d|e|f|g|h)(a|b|c|d|e|f|g|h)(a|b)",
        ] {
            assert_eq!(names(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn candidates_walk_both_lists_in_order() {
        let walked: Vec<usize> = Candidates {
            keyed: &[1, 4, 9],
            any: &[0, 5, 6],
        }
        .collect();
        assert_eq!(walked, [0, 1, 4, 5, 6, 9]);
    }
}
