//! Which rules a request can possibly match, found without looking at the
//! others. Built once per policy; no I/O.
//!
//! For each action the rules that name it are posted under the values of
//! each condition: the callers and regions they list, and for parameters
//! the values a condition allows when they are a finite set of strings
//! (`owner_ids`, `one_of`, and patterns that are literal names such as
//! `prod-web` or `app-(web|worker)`). A rule whose condition is left out,
//! is another test, or lets an absent parameter match, is posted under
//! "any". A request's candidates for one condition are the rules posted
//! under its value plus the "any" rules; the decision evaluates only the
//! smallest such list, in full, so the index can only narrow, never decide.
//! A request whose value is a list (whose items a condition tests one by
//! one), or that carries the list a shorthand reads instead of the posted
//! name, is not narrowed by that parameter.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::conditions::key_of;
use crate::facts::RequestFacts;
use crate::model::{Action, Region};
use crate::names::NameCase;
use crate::params::Value;
use crate::rule::{Effect, Mode, Rule};

/// At most this many parameters are indexed per action (those most rules
/// post values under), so a request costs a bounded number of lookups.
const MAX_INDEXED_PARAMS: usize = 8;

/// The index of every action, by [`Action::index`]: `names(rule, action)`
/// says whether the rule at that index names the action. Actions named by
/// the same rules (the two ingress actions, the `Describe*` family) share
/// one index.
pub(crate) fn index(
    rules: &[Rule],
    names: impl Fn(usize, Action) -> bool,
) -> Vec<Arc<ActionRules>> {
    let mut built: HashMap<Vec<usize>, Arc<ActionRules>> = HashMap::new();
    Action::all()
        .map(|action| {
            let naming: Vec<usize> = (0..rules.len()).filter(|&i| names(i, action)).collect();
            built
                .entry(naming)
                .or_insert_with_key(|naming| Arc::new(ActionRules::of(rules, naming)))
                .clone()
        })
        .collect()
}

/// The rules naming one action, and their postings.
#[derive(Debug)]
pub(crate) struct ActionRules {
    /// Every rule naming the action, in policy order.
    pub all: Vec<usize>,
    /// The enforced allow rules naming the action, in policy order: when
    /// none matches, they are the near misses a denial explains.
    pub enforced_allows: Vec<usize>,
    /// Whether a `mode: shadow` rule names the action.
    pub has_shadow_rules: bool,
    /// Whether a rule naming the action has `resource_tags`: only then are
    /// the tags of the resources a request names looked up.
    pub needs_resource_tags: bool,
    callers: Postings<String>,
    regions: Postings<Region>,
    params: Vec<ParamPostings>,
}

/// Rules posted under the values of one parameter.
#[derive(Debug)]
struct ParamPostings {
    name: &'static str,
    /// The other parameters the posted conditions read (a shorthand's
    /// list): a request carrying one of them instead is not narrowed here.
    also: Vec<&'static str>,
    case: Option<NameCase>,
    postings: Postings<Arc<str>>,
}

/// Rules posted under keys, built once: every key's rules are one slice
/// of `lists`, so a key costs no allocation of its own.
#[derive(Debug)]
struct Postings<K> {
    /// For each key, the start and length of its rules in `lists`.
    keyed: HashMap<K, (usize, usize)>,
    lists: Vec<usize>,
    any: Vec<usize>,
}

impl<K: Hash + Ord + Clone> Postings<K> {
    /// `posted`: rules in policy order, each with its keys, or `None` to
    /// post it under "any". Every list comes out sorted.
    fn of<'a>(posted: impl Iterator<Item = (usize, Option<&'a [K]>)>) -> Postings<K>
    where
        K: 'a,
    {
        let mut pairs: Vec<(&K, usize)> = Vec::new();
        let mut any = Vec::new();
        for (rule, keys) in posted {
            match keys {
                None => any.push(rule),
                Some(keys) => pairs.extend(keys.iter().map(|key| (key, rule))),
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut keyed = HashMap::with_capacity(pairs.chunk_by(|a, b| a.0 == b.0).count());
        let mut lists = Vec::with_capacity(pairs.len());
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            keyed.insert(group[0].0.clone(), (lists.len(), group.len()));
            lists.extend(group.iter().map(|&(_, rule)| rule));
        }
        Postings { keyed, lists, any }
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
            .map_or(&[][..], |&(start, len)| &self.lists[start..start + len]);
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
    /// `naming`: the rules that name the action, in policy order.
    fn of(rules: &[Rule], naming: &[usize]) -> ActionRules {
        let each = || naming.iter().map(|&index| (index, &rules[index]));
        ActionRules {
            all: naming.to_vec(),
            enforced_allows: each()
                .filter(|(_, rule)| rule.effect == Effect::Allow && rule.mode == Mode::Enforce)
                .map(|(index, _)| index)
                .collect(),
            has_shadow_rules: each().any(|(_, rule)| rule.mode == Mode::Shadow),
            needs_resource_tags: each().any(|(_, rule)| rule.resource_tags.is_some()),
            callers: Postings::of(each().map(|(i, rule)| (i, rule.callers.as_deref()))),
            regions: Postings::of(each().map(|(i, rule)| (i, rule.regions.as_deref()))),
            params: param_postings(rules, naming),
        }
    }

    /// The rules that can match `facts`, in policy order: the shortest of
    /// the conditions' candidate lists.
    pub fn candidates(&self, facts: &RequestFacts<'_>) -> Candidates<'_> {
        [
            self.callers.candidates(facts.caller),
            self.regions.candidates(Some(facts.region)),
        ]
        .into_iter()
        .chain(self.params.iter().filter_map(|param| {
            let key = match facts.params.get(param.name) {
                Some(Value::String(v)) => Some(key_of(param.case, v)),
                // A list's items are tested one by one: no single value
                // keys the rules, so this parameter narrows nothing.
                Some(_) => return None,
                None if param.also.iter().any(|n| facts.params.get(n).is_some()) => return None,
                None => None,
            };
            Some(param.postings.candidates(key.as_deref()))
        }))
        .min_by_key(Candidates::len)
        .unwrap_or(Candidates {
            keyed: &[],
            any: &self.all,
        })
    }
}

/// A parameter and the values one rule's condition on it allows.
type Posted = (&'static str, Vec<Arc<str>>);

/// The postings of the parameters that most of `naming`'s rules post
/// values under.
fn param_postings(rules: &[Rule], naming: &[usize]) -> Vec<ParamPostings> {
    // For each rule, its first condition with finite values on each parameter.
    let mut per_rule: Vec<Vec<Posted>> = Vec::with_capacity(naming.len());
    let mut counts: HashMap<&'static str, (Option<NameCase>, usize)> = HashMap::new();
    let mut also: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
    for &index in naming {
        let mut posted: Vec<Posted> = Vec::new();
        for condition in &rules[index].params {
            if posted.iter().any(|(name, _)| *name == condition.name) {
                continue;
            }
            if let Some(values) = condition.finite_values() {
                posted.push((condition.name, values));
                let others = also.entry(condition.name).or_default();
                others.extend(condition.also.filter(|a| !others.contains(a)));
                counts
                    .entry(condition.name)
                    .or_insert((condition.case, 0))
                    .1 += 1;
            }
        }
        // Kept until every parameter is posted: no room to spare.
        posted.shrink_to_fit();
        per_rule.push(posted);
    }
    let mut names: Vec<(&'static str, Option<NameCase>, usize)> = counts
        .into_iter()
        .map(|(name, (case, count))| (name, case, count))
        .collect();
    // Most posted first; by name among equals, so the index is the same
    // however the map iterates.
    names.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    names.truncate(MAX_INDEXED_PARAMS);
    names
        .into_iter()
        .map(|(name, case, _)| {
            let posted = naming.iter().zip(&per_rule).map(|(&index, posted)| {
                let values = posted.iter().find(|(n, _)| *n == name);
                (index, values.map(|(_, values)| &values[..]))
            });
            ParamPostings {
                name,
                also: also.remove(name).unwrap_or_default(),
                case,
                postings: Postings::of(posted),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
