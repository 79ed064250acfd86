//! Text for messages, shared by every stage that words one: user input
//! quoted one way (one length, one escaping), lists in backticks, and the
//! "did you mean" of a near miss. No I/O.

use std::fmt;

/// Characters of user input a message shows; the rest is cut.
const SHOWN_CHARS: usize = 100;

/// User input as a message shows it: in backticks, on one line (control
/// characters escaped), cut after 100 characters so that a huge value
/// cannot bloat an error or a log line.
pub fn quoted(text: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// `a`, `b`, `c`: each item in backticks, joined with commas.
pub fn backticked<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
pub fn alternatives(accepted: &[&str]) -> String {
    let quoted: Vec<String> = accepted.iter().map(|a| format!("`{a}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "nothing".into(),
    }
}

#[cfg(test)]
thread_local! {
    /// How many edit distances this thread computed, for tests of the cost.
    static EDIT_DISTANCES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Edit distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    #[cfg(test)]
    EDIT_DISTANCES.with(|n| n.set(n.get() + 1));
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The candidate closest to `input` (ignoring case), if it is close enough
/// to be a plausible typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (input.len() / 3).max(2);
    let lowered = input.to_ascii_lowercase();
    let length = lowered.chars().count();
    candidates
        .into_iter()
        // The distance is at least the difference in length: skipping such
        // candidates changes no answer, and keeps a long unknown name (a
        // 64 KiB `Action`, before authentication) from costing a full edit
        // distance against every action.
        .filter(|c| c.chars().count().abs_diff(length) <= limit)
        .map(|c| (edit_distance(&lowered, &c.to_ascii_lowercase()), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

    #[test]
    fn quoting_cuts_and_escapes() {
        assert_eq!(quoted("abc"), "`abc`");
        let long = "x".repeat(150);
        assert_eq!(quoted(&long).chars().count(), 103);
        assert_eq!(quoted("a\nb\u{7}"), "`a\\nb\\u{7}`");
        assert_eq!(backticked(["a", "b"]), "`a`, `b`");
        assert_eq!(alternatives(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn suggestions() {
        let names = [
            "AuthorizeCacheSecurityGroupIngress",
            "DescribeCacheClusters",
        ];
        assert_eq!(
            did_you_mean("AuthoriseCacheSecurityGroupIngres", names),
            Some("AuthorizeCacheSecurityGroupIngress")
        );
        assert_eq!(
            did_you_mean("regoins", ["regions", "owner_ids"]),
            Some("regions")
        );
        assert_eq!(did_you_mean("zzzzzz", ["regions"]), None);
    }

    /// Found while fuzzing the request parser: an unknown `Action` of 64 KiB
    /// took a fifth of a second of CPU, before authentication, computing
    /// its edit distance to every action name. A long input is near no
    /// name, and now computes no edit distance at all.
    #[test]
    fn suggestions_for_long_inputs_skip_the_edit_distance() {
        let long = "DescribeCacheClusters".repeat(3_000);
        let before = EDIT_DISTANCES.with(|n| n.get());
        assert_eq!(
            did_you_mean(&long, Action::all_names().iter().copied()),
            None
        );
        assert_eq!(EDIT_DISTANCES.with(|n| n.get()), before);
        // The length bound keeps every suggestion that was within reach.
        assert_eq!(
            did_you_mean("DescribeCacheCluster", Action::all_names().iter().copied()),
            Some("DescribeCacheClusters")
        );
        assert_eq!(did_you_mean("ab", ["abcd"]), Some("abcd"));
        assert_eq!(did_you_mean("ab", ["abcde"]), None);
    }
}
