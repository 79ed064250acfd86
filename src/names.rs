//! Names as AWS compares them, so that no spelling of a name gets past a
//! rule that means it. ElastiCache stores cache security group names in
//! lower case ("This value is stored as a lowercase string"): the proxy
//! decides on, and forwards, that form. EC2 compares security group names
//! without case: patterns on them match every case variant of a name.
//! Pure functions over strings and regex syntax trees.

use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

/// How a kind of name is compared by AWS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameCase {
    /// Stored in lower case: the request's name is lower-cased before the
    /// decision, and patterns match that form only.
    StoredLowercase,
    /// Compared without ASCII case: patterns match every case variant.
    Insensitive,
}

/// The form of a cache security group name that ElastiCache acts on.
/// Lower-casing an already lower-cased name changes nothing, so whichever
/// lower-casing AWS applies to the forwarded name, it acts on this one.
pub fn stored_lowercase(name: &str) -> String {
    name.to_lowercase()
}

/// The key under which a name compared without case is indexed and looked
/// up: ASCII letters folded, everything else as it is (the same folding as
/// [`fold_ascii_case`]).
pub fn insensitive_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// `hir`, made to match every ASCII case variant of what it matched: each
/// literal letter and each class gains its other case. Applied to the
/// parsed pattern, so no inline flag such as `(?-i)` can opt out.
pub fn fold_ascii_case(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Literal(literal) => fold_literal(&literal.0),
        HirKind::Class(Class::Unicode(mut class)) => {
            let mut others = Vec::new();
            for range in class.iter() {
                for (low, high, shift) in [(b'A', b'Z', 32i32), (b'a', b'z', -32)] {
                    let start = (range.start() as u32).max(u32::from(low));
                    let end = (range.end() as u32).min(u32::from(high));
                    if start <= end {
                        let moved = |c: u32| char::from_u32((c as i32 + shift) as u32);
                        if let (Some(s), Some(e)) = (moved(start), moved(end)) {
                            others.push(ClassUnicodeRange::new(s, e));
                        }
                    }
                }
            }
            class.union(&ClassUnicode::new(others));
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(mut class)) => {
            // For bytes, simple case folding is ASCII case folding.
            class.case_fold_simple();
            Hir::class(Class::Bytes(class))
        }
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(fold_ascii_case(*rep.sub)),
            ..rep
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            sub: Box::new(fold_ascii_case(*capture.sub)),
            ..capture
        }),
        HirKind::Concat(parts) => Hir::concat(parts.into_iter().map(fold_ascii_case).collect()),
        HirKind::Alternation(branches) => {
            Hir::alternation(branches.into_iter().map(fold_ascii_case).collect())
        }
        HirKind::Look(look) => Hir::look(look),
        HirKind::Empty => Hir::empty(),
    }
}

/// A literal with each ASCII letter replaced by a class of both its cases.
/// Multi-byte UTF-8 sequences hold no ASCII bytes, so they stay whole.
fn fold_literal(bytes: &[u8]) -> Hir {
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let mut parts = Vec::new();
    let mut run = Vec::new();
    for &b in bytes {
        if !b.is_ascii_alphabetic() {
            run.push(b);
            continue;
        }
        if !run.is_empty() {
            parts.push(Hir::literal(std::mem::take(&mut run)));
        }
        let (lower, upper) = (b.to_ascii_lowercase(), b.to_ascii_uppercase());
        parts.push(if utf8 {
            Hir::class(Class::Unicode(ClassUnicode::new([
                ClassUnicodeRange::new(char::from(upper), char::from(upper)),
                ClassUnicodeRange::new(char::from(lower), char::from(lower)),
            ])))
        } else {
            Hir::class(Class::Bytes(ClassBytes::new([
                ClassBytesRange::new(upper, upper),
                ClassBytesRange::new(lower, lower),
            ])))
        });
    }
    if !run.is_empty() {
        parts.push(Hir::literal(run));
    }
    Hir::concat(parts)
}

/// Whether `hir` can match some name that lower-casing leaves unchanged:
/// `false` means a pattern can never match a name stored in lower case.
pub fn can_match_lowercase(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(literal) => match std::str::from_utf8(&literal.0) {
            Ok(text) => text.chars().all(is_lowercase_stable),
            Err(_) => !literal.0.iter().any(u8::is_ascii_uppercase),
        },
        HirKind::Class(Class::Unicode(class)) => class
            .iter()
            .any(|range| (range.start()..=range.end()).any(is_lowercase_stable)),
        HirKind::Class(Class::Bytes(class)) => class
            .iter()
            .any(|range| (range.start()..=range.end()).any(|b| !b.is_ascii_uppercase())),
        HirKind::Repetition(rep) => rep.min == 0 || can_match_lowercase(&rep.sub),
        HirKind::Capture(capture) => can_match_lowercase(&capture.sub),
        HirKind::Concat(parts) => parts.iter().all(can_match_lowercase),
        HirKind::Alternation(branches) => branches.iter().any(can_match_lowercase),
    }
}

/// A character that lower-casing maps to itself.
fn is_lowercase_stable(c: char) -> bool {
    let mut lowered = c.to_lowercase();
    lowered.next() == Some(c) && lowered.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(pattern: &str) -> regex::Regex {
        let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
        regex::Regex::new(&format!(r"\A(?:{})\z", fold_ascii_case(hir))).unwrap()
    }

    fn lowercase_can_match(pattern: &str) -> bool {
        can_match_lowercase(&regex_syntax::Parser::new().parse(pattern).unwrap())
    }

    #[test]
    fn folded_patterns_match_every_case_variant() {
        let re = folded("default");
        for name in ["default", "Default", "DEFAULT", "dEfAuLt"] {
            assert!(re.is_match(name), "{name}");
        }
        assert!(!re.is_match("defaults"));
        let re = folded("(?-i)prod-[a-z0-9]+");
        assert!(re.is_match("PROD-WEB1"));
        assert!(re.is_match("Prod-Web"));
        assert!(!re.is_match("prod-"));
        let re = folded(r"[A-C]x\d");
        assert!(re.is_match("bX7") && re.is_match("Cx0"));
        assert!(!re.is_match("dx1"));
        // Non-ASCII letters are compared as they are.
        let re = folded("ünï");
        assert!(re.is_match("ünï") && !re.is_match("ÜNÏ") && !re.is_match("uni"));
        let re = folded("(?i)x|(?P<n>y{2,3})|^z$");
        assert!(re.is_match("X") && re.is_match("YyY") && re.is_match("Z"));
    }

    #[test]
    fn patterns_that_can_never_match_a_lowercase_name() {
        for pattern in ["Prod-.*", "prod-[A-Z]+", "DEFAULT|X", "(A)+", "İ"] {
            assert!(!lowercase_can_match(pattern), "{pattern}");
        }
        for pattern in [
            "prod-.*",
            "(?i)Prod-.*",
            "[A-Za-z]+",
            "A*",
            "Ab|c",
            r"\d+",
            "ünï",
            ".",
            r"\S+",
        ] {
            assert!(lowercase_can_match(pattern), "{pattern}");
        }
    }

    #[test]
    fn stored_and_insensitive_forms() {
        assert_eq!(stored_lowercase("PROD-Payments-1"), "prod-payments-1");
        // The Kelvin sign lower-cases to an ASCII `k`: decided and forwarded as `k`.
        assert_eq!(stored_lowercase("PROD-\u{212A}"), "prod-k");
        assert_eq!(
            stored_lowercase(&stored_lowercase("ÄBC-İ")),
            stored_lowercase("ÄBC-İ")
        );
        assert_eq!(insensitive_key("App-FRONTEND"), "app-frontend");
        assert_eq!(insensitive_key("ÜNÏ"), "ÜnÏ");
    }
}
