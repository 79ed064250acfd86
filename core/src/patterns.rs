//! Group-name patterns compiled for matching: regexes that must match a
//! whole name, compared as AWS compares that kind of name, matched without
//! a regex engine where they can be. Used by rule conditions and the index.

use std::sync::Arc;

use regex::{RegexSet, RegexSetBuilder};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look};

use crate::names::{self, NameCase};

/// Regexes that must match a whole name, compared as AWS compares that
/// kind of name. Most group patterns are names (`prod-web`,
/// `app-(web|worker)`) or names around one run of characters (`prod-.*`,
/// `team7-[a-z0-9-]+`): those are matched without a regex engine, which
/// costs kilobytes per compiled regex and most of a policy's compile time.
/// Only the other patterns are compiled, as one regex set.
#[derive(Debug)]
pub(crate) struct NameMatcher {
    /// The patterns as written, for the linter.
    pub patterns: Box<[String]>,
    pub case: NameCase,
    /// The names matched exactly, sorted (shared with the rule index).
    /// Boxed slices here and in [`Run`]: a policy holds thousands of
    /// matchers, and a `Vec` filled by pushes keeps room for more.
    names: Box<[Arc<str>]>,
    runs: Box<[Run]>,
    /// The patterns that need a regex engine, anchored at both ends: few
    /// matchers have any, so boxed to keep the others small.
    regexes: Option<Box<RegexSet>>,
}

impl NameMatcher {
    /// `name` in the form it is compared in: for names compared without
    /// case, its [`crate::names::insensitive_key`] (the decision makes it once).
    pub fn is_match(&self, name: &str) -> bool {
        self.names.binary_search_by(|n| (**n).cmp(name)).is_ok()
            || self.runs.iter().any(|run| run.matches(name))
            || self.regexes.as_ref().is_some_and(|set| set.is_match(name))
    }

    /// Every name the patterns match, in the form compared, when that is a
    /// small finite set: for the rule index.
    pub fn finite_names(&self) -> Option<&[Arc<str>]> {
        (self.runs.is_empty() && self.regexes.is_none()).then_some(&self.names[..])
    }

    /// `compiled` holds [`NamePattern::compile`] of each of `patterns`.
    /// Fails when the patterns that need a regex engine are, together,
    /// larger than `size_limit`.
    pub(crate) fn new(
        patterns: Vec<String>,
        compiled: Vec<NamePattern>,
        case: NameCase,
        size_limit: usize,
    ) -> Result<NameMatcher, regex::Error> {
        let mut names = Vec::new();
        let mut runs = Vec::new();
        let mut regexes = Vec::new();
        for pattern in compiled {
            match pattern {
                NamePattern::Pieces(pieces) => {
                    for piece in pieces {
                        match piece {
                            Piece::Names(found) => names.extend(found),
                            Piece::Run(run) => runs.push(run),
                        }
                    }
                }
                NamePattern::Regex(text) => regexes.push(format!(r"\A(?:{text})\z")),
            }
        }
        names.sort_unstable();
        names.dedup();
        let names = names.into_iter().map(Arc::from).collect();
        let regexes = match regexes.is_empty() {
            true => None,
            false => Some(Box::new(
                RegexSetBuilder::new(regexes)
                    .size_limit(size_limit)
                    .build()?,
            )),
        };
        Ok(NameMatcher {
            patterns: patterns.into_boxed_slice(),
            case,
            names,
            runs: runs.into_boxed_slice(),
            regexes,
        })
    }
}

/// One pattern, compiled for a [`NameMatcher`].
#[derive(Debug)]
pub(crate) enum NamePattern {
    /// Names and runs: the pattern matches a name when one of them does.
    Pieces(Vec<Piece>),
    /// The pattern as the regex engine compiles it.
    Regex(String),
}

#[derive(Debug)]
pub(crate) enum Piece {
    /// These names, in the form compared.
    Names(Vec<String>),
    Run(Run),
}

impl NamePattern {
    /// The pattern as it matches names of `case` (see
    /// [`NameCase::compiled_pattern`]). `Err`: the regex engine's reason
    /// for refusing it, which is checked for every pattern that needs it
    /// or does not parse.
    pub(crate) fn compile(pattern: &str, case: NameCase) -> Result<NamePattern, regex::Error> {
        // A pattern without a character special outside a class is itself,
        // whatever the flags: it is matched without parsing it.
        if !pattern.contains(SPECIAL) {
            let name = case.key(pattern).into_owned();
            return Ok(NamePattern::Pieces(vec![Piece::Names(vec![name])]));
        }
        if let Some(piece) = simple_piece(pattern, case) {
            return Ok(NamePattern::Pieces(vec![piece]));
        }
        if let Some(hir) = case.compiled_hir(pattern) {
            let mut pieces = Vec::new();
            if pieces_of(&hir, &mut pieces) {
                return Ok(NamePattern::Pieces(pieces));
            }
        }
        regex::Regex::new(pattern)?;
        Ok(NamePattern::Regex(
            case.compiled_pattern(pattern).into_owned(),
        ))
    }
}

/// Names matched by a pattern that the whole name must match: one of
/// `prefixes`, then between `min` and `max` characters of `chars`, then one
/// of `suffixes` (`prod-.*`, `app-[a-z0-9-]+`, `(web|db)-\d{1,3}`). The
/// prefix and suffix are literal, so they fix the run: no backtracking.
#[derive(Debug)]
pub(crate) struct Run {
    prefixes: Box<[Box<str>]>,
    /// Sorted, disjoint ranges.
    chars: Box<[(char, char)]>,
    /// The ASCII characters of `chars`, as bits: most names are ASCII.
    ascii: u128,
    min: u32,
    max: Option<u32>,
    suffixes: Box<[Box<str>]>,
}

impl Run {
    fn new(
        prefixes: Vec<String>,
        chars: Vec<(char, char)>,
        min: u32,
        max: Option<u32>,
        suffixes: Vec<String>,
    ) -> Run {
        let ascii = (0..128u8)
            .filter(|&b| {
                let c = char::from(b);
                chars.iter().any(|&(start, end)| start <= c && c <= end)
            })
            .fold(0u128, |bits, b| bits | 1 << b);
        let boxed = |texts: Vec<String>| texts.into_iter().map(String::into_boxed_str).collect();
        Run {
            prefixes: boxed(prefixes),
            chars: chars.into_boxed_slice(),
            ascii,
            min,
            max,
            suffixes: boxed(suffixes),
        }
    }

    fn matches(&self, name: &str) -> bool {
        self.prefixes.iter().any(|prefix| {
            name.strip_prefix(&**prefix).is_some_and(|rest| {
                self.suffixes.iter().any(|suffix| {
                    // Not `strip_suffix`, which sets up a substring search.
                    rest.len()
                        .checked_sub(suffix.len())
                        .filter(|&end| rest.as_bytes()[end..] == *suffix.as_bytes())
                        .and_then(|end| rest.get(..end))
                        .is_some_and(|middle| self.is_run(middle))
                })
            })
        })
    }

    fn is_run(&self, middle: &str) -> bool {
        let mut count: u32 = 0;
        for c in middle.chars() {
            let found = match u32::from(c) {
                ascii @ 0..128 => self.ascii >> ascii & 1 == 1,
                _ => self
                    .chars
                    .binary_search_by(|&(start, end)| {
                        if end < c {
                            std::cmp::Ordering::Less
                        } else if start > c {
                            std::cmp::Ordering::Greater
                        } else {
                            std::cmp::Ordering::Equal
                        }
                    })
                    .is_ok(),
            };
            if !found {
                return false;
            }
            count = count.saturating_add(1);
        }
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }

    /// `parts`, concatenated, as a run: one repetition of a set of
    /// characters between parts with finitely many names.
    fn of(parts: &[Hir]) -> Option<Run> {
        let at = parts
            .iter()
            .position(|part| matches!(part.kind(), HirKind::Repetition(_)))?;
        let HirKind::Repetition(repetition) = parts[at].kind() else {
            return None;
        };
        let chars = match repetition.sub.kind() {
            HirKind::Class(Class::Unicode(class)) => class
                .iter()
                .map(|range| (range.start(), range.end()))
                .collect(),
            HirKind::Literal(literal) => {
                let text = std::str::from_utf8(&literal.0).ok()?;
                let mut chars = text.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                vec![(c, c)]
            }
            _ => return None,
        };
        let prefixes = concat_literals(&parts[..at])?;
        let suffixes = concat_literals(&parts[at + 1..])?;
        if prefixes.len() * suffixes.len() > MAX_LITERALS_PER_PATTERN {
            return None;
        }
        Some(Run::new(
            prefixes,
            chars,
            repetition.min,
            repetition.max,
            suffixes,
        ))
    }
}

/// Characters with a meaning outside a class.
const SPECIAL: [char; 14] = [
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// What the simplest patterns match, read without the regex parser (whose
/// syntax trees cost five times as much to build): literal characters and
/// escaped metacharacters; `.` and classes of ASCII letters, digits, `_`,
/// `.` and `-`, each optionally followed by `*`, `+` or `?`; groups of
/// literal alternatives (`(web|db)`); `^` first and `$` last. `None` for
/// anything else, which the regex parser reads. Matched against whole
/// names, the piece matches what the pattern matches under the regex
/// parser's defaults; the property test below checks it against the regex
/// engine.
fn simple_piece(pattern: &str, case: NameCase) -> Option<Piece> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = match body.strip_suffix('$') {
        Some(rest) if rest.ends_with('\\') => return None,
        Some(rest) => rest,
        None => body,
    };
    let mut parts = simple_parts(body, case)?;
    let strings = |parts: Vec<Part>| {
        product(parts.into_iter().map(|part| match part {
            Part::Strings(strings) => Some(strings),
            Part::Chars { .. } => None,
        }))
    };
    let Some(at) = parts.iter().position(|p| matches!(p, Part::Chars { .. })) else {
        return Some(Piece::Names(strings(parts)?));
    };
    let after = parts.split_off(at + 1);
    let Some(Part::Chars { chars, min, max }) = parts.pop() else {
        return None;
    };
    let (prefixes, suffixes) = (strings(parts)?, strings(after)?);
    if prefixes.len() * suffixes.len() > MAX_LITERALS_PER_PATTERN {
        return None;
    }
    Some(Piece::Run(Run::new(prefixes, chars, min, max, suffixes)))
}

/// A part of a simple pattern, in the form names are compared in.
enum Part {
    /// One of these: a literal, or a group of alternatives.
    Strings(Vec<String>),
    /// `.` or a class, repeated between `min` and `max` times.
    Chars {
        chars: Vec<(char, char)>,
        min: u32,
        max: Option<u32>,
    },
}

/// The parts of a simple pattern without its anchors, in turn.
fn simple_parts(body: &str, case: NameCase) -> Option<Vec<Part>> {
    let key = |text: String| match case {
        NameCase::StoredLowercase => text,
        NameCase::Insensitive => text.to_ascii_lowercase(),
    };
    let mut parts = Vec::new();
    let mut literal = String::new();
    let flush = |literal: &mut String, parts: &mut Vec<Part>| {
        if !literal.is_empty() {
            parts.push(Part::Strings(vec![key(std::mem::take(literal))]));
        }
    };
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let class = match c {
            '.' => ClassUnicode::new([
                ClassUnicodeRange::new('\0', '\u{9}'),
                ClassUnicodeRange::new('\u{b}', char::MAX),
            ]),
            '[' => simple_class(&mut chars)?,
            '(' => {
                let group = simple_group(&mut chars)?;
                flush(&mut literal, &mut parts);
                parts.push(Part::Strings(group.into_iter().map(key).collect()));
                if chars.peek().is_some_and(|&next| "*+?{".contains(next)) {
                    return None;
                }
                continue;
            }
            _ => {
                literal.push(literal_char(c, &mut chars)?);
                if chars.peek().is_some_and(|&next| "*+?{".contains(next)) {
                    return None;
                }
                continue;
            }
        };
        let (min, max) = match chars.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => return None,
            _ => (1, Some(1)),
        };
        if (min, max) != (1, Some(1)) {
            chars.next();
            // Lazy and possessive forms, and stacked repetitions.
            if chars.peek().is_some_and(|&next| "*+?{".contains(next)) {
                return None;
            }
        }
        let class = match case {
            NameCase::StoredLowercase => class,
            NameCase::Insensitive => names::lower_ascii_class(class),
        };
        flush(&mut literal, &mut parts);
        let chars: Vec<(char, char)> = class.iter().map(|r| (r.start(), r.end())).collect();
        let count: usize = chars
            .iter()
            .map(|&(start, end)| (end as usize).saturating_sub(start as usize) + 1)
            .sum();
        // One of a few characters: as many names, which the index can use.
        if (min, max) == (1, Some(1)) && count <= MAX_LITERALS_PER_PATTERN {
            let one = chars
                .iter()
                .flat_map(|&(start, end)| (start..=end).map(String::from));
            parts.push(Part::Strings(one.collect()));
        } else {
            parts.push(Part::Chars { chars, min, max });
        }
    }
    flush(&mut literal, &mut parts);
    Some(parts)
}

/// A character outside a class that stands for itself: a plain one, or an
/// escaped metacharacter (`\.`, `\-`).
fn literal_char(c: char, rest: &mut impl Iterator<Item = char>) -> Option<char> {
    match c {
        '\\' => rest.next().filter(|&e| regex_syntax::is_meta_character(e)),
        c if SPECIAL.contains(&c) => None,
        c => Some(c),
    }
}

/// After `[`: ASCII letters, digits, `_` and `.`, ranges between letters or
/// digits, and `-` first or last.
fn simple_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<ClassUnicode> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next()?;
        match c {
            ']' if !first => break,
            // `--` is set difference.
            '-' if chars.peek() == Some(&'-') => return None,
            '-' if first || chars.peek() == Some(&']') => {
                ranges.push(ClassUnicodeRange::new('-', '-'));
            }
            c if plain(c) && chars.peek() == Some(&'-') => {
                chars.next();
                match chars.peek().copied() {
                    Some(']') => {
                        ranges.push(ClassUnicodeRange::new(c, c));
                        ranges.push(ClassUnicodeRange::new('-', '-'));
                    }
                    Some(end)
                        if c.is_ascii_alphanumeric() && end.is_ascii_alphanumeric() && c <= end =>
                    {
                        chars.next();
                        ranges.push(ClassUnicodeRange::new(c, end));
                    }
                    _ => return None,
                }
            }
            c if plain(c) => ranges.push(ClassUnicodeRange::new(c, c)),
            _ => return None,
        }
        first = false;
    }
    Some(ClassUnicode::new(ranges))
}

/// After `(`: literal alternatives, none empty, then `)`.
fn simple_group(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Vec<String>> {
    let mut branches = Vec::new();
    let mut branch = String::new();
    loop {
        match chars.next()? {
            c @ ('|' | ')') => {
                if branch.is_empty() {
                    return None;
                }
                branches.push(std::mem::take(&mut branch));
                if c == ')' {
                    return Some(branches);
                }
            }
            c => branch.push(literal_char(c, chars)?),
        }
    }
}

/// Every way of taking one string of each set in turn, when there are few.
fn product(sets: impl IntoIterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut product = vec![String::new()];
    for tails in sets {
        let tails = tails?;
        if product.len() * tails.len() > MAX_LITERALS_PER_PATTERN {
            return None;
        }
        product = match (product.len(), tails.len()) {
            // Most parts are one literal: no copy.
            (1, _) if product[0].is_empty() => tails,
            _ => product
                .iter()
                .flat_map(|head| tails.iter().map(move |tail| format!("{head}{tail}")))
                .collect(),
        };
    }
    Some(product)
}

/// A pattern with more literal expansions than this needs the regex engine.
const MAX_LITERALS_PER_PATTERN: usize = 64;

/// Whether `hir`, matched against a whole name, is a choice of names and
/// runs; if so they are pushed onto `out`. Anchors at the start and end
/// match there anyway, so they are dropped.
fn pieces_of(hir: &Hir, out: &mut Vec<Piece>) -> bool {
    match hir.kind() {
        HirKind::Capture(capture) => pieces_of(&capture.sub, out),
        HirKind::Alternation(branches) => branches.iter().all(|branch| pieces_of(branch, out)),
        kind => {
            let mut parts = match kind {
                HirKind::Concat(parts) => &parts[..],
                _ => std::slice::from_ref(hir),
            };
            while let Some((first, rest)) = parts.split_first() {
                match first.kind() {
                    HirKind::Look(Look::Start | Look::StartLF | Look::StartCRLF) => parts = rest,
                    _ => break,
                }
            }
            while let Some((last, rest)) = parts.split_last() {
                match last.kind() {
                    HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF) => parts = rest,
                    _ => break,
                }
            }
            if let Some(names) = concat_literals(parts) {
                out.push(Piece::Names(names));
            } else if let Some(run) = Run::of(parts) {
                out.push(Piece::Run(run));
            } else {
                return false;
            }
            true
        }
    }
}

/// The finite language of `hir`, or `None` when it is not one of
/// literals, concatenations, alternations and groups, or too large.
fn literals(hir: &Hir) -> Option<Vec<String>> {
    let out = match hir.kind() {
        HirKind::Empty => vec![String::new()],
        HirKind::Literal(literal) => vec![String::from_utf8(literal.0.to_vec()).ok()?],
        HirKind::Capture(capture) => literals(&capture.sub)?,
        HirKind::Concat(parts) => concat_literals(parts)?,
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

/// The finite language of `parts` one after the other.
fn concat_literals(parts: &[Hir]) -> Option<Vec<String>> {
    product(parts.iter().map(literals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    fn matcher(patterns: &[&str], case: NameCase) -> NameMatcher {
        let compiled = patterns
            .iter()
            .map(|p| NamePattern::compile(p, case).unwrap())
            .collect();
        let patterns = patterns.iter().map(|p| p.to_string()).collect();
        NameMatcher::new(patterns, compiled, case, 1 << 20).unwrap()
    }

    /// What the policy compiled before patterns were taken apart: one
    /// anchored regex set, matched against the name's key.
    fn regex_match(patterns: &[&str], case: NameCase, name: &str) -> bool {
        RegexSetBuilder::new(
            patterns
                .iter()
                .map(|p| format!(r"\A(?:{})\z", case.compiled_pattern(p))),
        )
        .build()
        .unwrap()
        .is_match(&case.key(name))
    }

    #[test]
    fn common_patterns_need_no_regex_engine() {
        for pattern in [
            "prod-web",
            "ci runner #1",
            "app-(web|worker|cron)",
            "prod-.*",
            "(?s)prod-.*",
            "team7-[a-z0-9-]+",
            r"(dev|prod)-\d{1,3}-(a|b)",
            "^prod-web$",
            "(?m)^x.+$",
            "(?i)Prod-.*|web",
            ".*",
        ] {
            for case in [NameCase::StoredLowercase, NameCase::Insensitive] {
                let m = matcher(&[pattern], case);
                assert!(m.regexes.is_none(), "{pattern} {case:?}");
            }
        }
        for pattern in ["[a-z]+-[0-9]+", r"\bweb", "a(b.*)?", r"(?-u:\w)+"] {
            assert!(
                matcher(&[pattern], NameCase::StoredLowercase)
                    .regexes
                    .is_some(),
                "{pattern}"
            );
        }
        let m = matcher(&["app-(web|worker)", "ci"], NameCase::Insensitive);
        let names: Vec<&str> = m.finite_names().unwrap().iter().map(|n| &**n).collect();
        assert_eq!(names, ["app-web", "app-worker", "ci"]);
        assert!(matcher(&["app-.*", "ci"], NameCase::Insensitive)
            .finite_names()
            .is_none());
    }

    #[test]
    fn the_simplest_patterns_are_read_without_the_regex_parser() {
        for pattern in [
            "prod-web",
            "team7-[a-z0-9-]+",
            "app7-(web|worker|cron)",
            "^prod-.*$",
            r"a\.b\-c",
            "[-_.a-zA-Z0-9]*x",
        ] {
            assert!(
                simple_piece(pattern, NameCase::Insensitive).is_some(),
                "{pattern}"
            );
        }
        for pattern in [
            "a+", "(?i)a", "[^a]", "[z-a]", "[a-c-e]", "[--]", "[]a]", "[a&&b]", r"\d", "a{2}",
            ".{2}", ".*?", "(a|)", "(a|(b))", "(a)+", "a^b", r"a\$", "[a", "(a",
        ] {
            assert!(
                simple_piece(pattern, NameCase::StoredLowercase).is_none(),
                "{pattern}"
            );
        }
    }

    #[test]
    fn runs_match_whole_names_only() {
        let m = matcher(
            &["prod-[a-z]+", "x.*y", r"(a|b)\d{2,3}"],
            NameCase::StoredLowercase,
        );
        for name in ["prod-web", "xy", "x-y", "a12", "b123"] {
            assert!(m.is_match(name), "{name}");
        }
        for name in [
            "prod-",
            "prod-web1",
            "xprod-web",
            "x\ny",
            "xyz",
            "a1",
            "a1234",
            "c12",
            "prod-wéb",
        ] {
            assert!(!m.is_match(name), "{name:?}");
        }
        // A prefix and a suffix that overlap leave no room for the run.
        let m = matcher(&["ab.+ba"], NameCase::StoredLowercase);
        assert!(!m.is_match("aba") && !m.is_match("abba") && m.is_match("abxba"));
    }

    /// Pieces of patterns, some of which a run or a name set can express
    /// and some not.
    const ATOMS: [&str; 30] = [
        "a",
        "B",
        "ab",
        "-",
        r"\.",
        r"\-",
        ".",
        "(?s:.)",
        "[a-c]",
        "[^b]",
        r"\d",
        "[A-Z]",
        "é",
        "(a|b)",
        "(ab|B|-)",
        "(?i:b)",
        "x*",
        "[ab]+",
        "[a-]",
        "[-b]*",
        "[0-9_.]?",
        "[a-cA-]+",
        ".*",
        ".+",
        "b?",
        "[a-z]{1,2}",
        "^",
        "$",
        "[--]",
        "a+?",
    ];

    fn pattern() -> impl Strategy<Value = String> {
        let atom = proptest::sample::select(&ATOMS[..]).prop_map(str::to_owned);
        let concat = proptest::collection::vec(atom, 1..4).prop_map(|parts| parts.concat());
        (
            proptest::collection::vec(concat, 1..3),
            proptest::sample::select(&["", "", "", "(?i)", "(?m)", "(?s)"][..]),
            any::<bool>(),
        )
            .prop_map(|(branches, flags, group)| {
                let body = branches.join("|");
                if group {
                    format!("{flags}({body})")
                } else {
                    format!("{flags}{body}")
                }
            })
    }

    /// Patterns of the kind [`simple_piece`] reads, and some it does not.
    fn simple_pattern() -> impl Strategy<Value = String> {
        const PARTS: [&str; 16] = [
            "a", "B", "-", "é", r"\.", r"\-", ".", "[a-c]", "[0-9_.]", "[a-]", "[-b]", "(ab|B|-)",
            "(a|b)", "[1]", "[A-C]", "[B-b]",
        ];
        let part = (
            proptest::sample::select(&PARTS[..]),
            proptest::sample::select(&["", "", "*", "+", "?"][..]),
        )
            .prop_map(|(atom, quantifier)| format!("{atom}{quantifier}"));
        (
            proptest::collection::vec(part, 1..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(parts, start, end)| {
                format!(
                    "{}{}{}",
                    if start { "^" } else { "" },
                    parts.concat(),
                    if end { "$" } else { "" }
                )
            })
    }

    fn name() -> impl Strategy<Value = String> {
        let c = proptest::sample::select(
            &[
                "a", "b", "c", "A", "B", "-", ".", "1", "_", "é", "É", "\n", "x", "aa", "bb", "11",
                "..", "--",
            ][..],
        );
        proptest::collection::vec(c, 0..6).prop_map(|cs| cs.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Taken apart or not, a matcher matches exactly the names the
        /// anchored regex set of its patterns matches.
        #[test]
        fn the_matcher_agrees_with_the_regex_engine(
            patterns in proptest::collection::vec(prop_oneof![pattern(), simple_pattern()], 1..3),
            names in proptest::collection::vec(name(), 1..8),
            insensitive in any::<bool>(),
        ) {
            let case = if insensitive { NameCase::Insensitive } else { NameCase::StoredLowercase };
            let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let m = matcher(&patterns, case);
            for name in &names {
                let key = case.key(name);
                prop_assert_eq!(
                    m.is_match(&key),
                    regex_match(&patterns, case, name),
                    "{:?} {:?} {:?}", patterns, case, name
                );
            }
        }
    }
}
