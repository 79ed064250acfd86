//! Names as AWS compares them, so that no spelling of a name gets past a
//! rule that means it. ElastiCache stores cache security group names in
//! lower case ("This value is stored as a lowercase string"): the proxy
//! decides on, and forwards, that form. EC2 compares security group names
//! without case: patterns on them match every case variant of a name.
//! Pure functions over strings and regex syntax trees.

use std::borrow::Cow;

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

/// How ElastiCache keeps cache security group names.
pub const CACHE_SECURITY_GROUP_NAMES: NameCase = NameCase::StoredLowercase;
/// How EC2 compares security group names.
pub const EC2_SECURITY_GROUP_NAMES: NameCase = NameCase::Insensitive;

impl NameCase {
    /// A pattern as it is compiled: for names compared without case,
    /// lower-cased ([`lower_ascii_case`]); a pattern that does not parse is
    /// left for the regex compiler to reject.
    pub fn compiled_pattern(self, pattern: &str) -> Cow<'_, str> {
        if self == NameCase::StoredLowercase {
            return Cow::Borrowed(pattern);
        }
        match self.compiled_hir(pattern) {
            Some(hir) => Cow::Owned(hir.to_string()),
            None => Cow::Borrowed(pattern),
        }
    }

    /// The syntax tree of [`Self::compiled_pattern`]: what the pattern
    /// matches, in the form names are matched in. `None` when it does not
    /// parse.
    pub fn compiled_hir(self, pattern: &str) -> Option<Hir> {
        // Parsed with the defaults `regex::Regex::new` parses with.
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        Some(match self {
            NameCase::StoredLowercase => hir,
            NameCase::Insensitive => lower_ascii_case(hir),
        })
    }

    /// A name in the form it is matched and indexed in: for names compared
    /// without case its [`insensitive_key`]; names stored in lower case
    /// were lower-cased when the request was parsed.
    pub fn key(self, name: &str) -> Cow<'_, str> {
        match self {
            NameCase::StoredLowercase => Cow::Borrowed(name),
            NameCase::Insensitive => insensitive_key(name),
        }
    }
}

/// The form of a cache security group name that ElastiCache acts on.
/// Lower-casing an already lower-cased name changes nothing, so whichever
/// lower-casing AWS applies to the forwarded name, it acts on this one.
pub fn stored_lowercase(name: String) -> String {
    // Most names are lower-case ASCII already: keep them as they are.
    if name
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        name
    } else {
        name.to_lowercase()
    }
}

/// A name compared without case, in the one form it is matched and indexed
/// in: ASCII letters lower-cased, everything else as it is. Most names are
/// in that form already, and then nothing is allocated.
pub fn insensitive_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// `hir`, made to match the [`insensitive_key`] of every name it matched in
/// any ASCII case: each literal letter and each class is lower-cased. Then
/// a name matches without case exactly when its key matches this. Applied
/// to the parsed pattern, so no inline flag such as `(?-i)` can opt out;
/// and lower-case literals keep the regex engine's literal search fast.
pub fn lower_ascii_case(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Literal(literal) => Hir::literal(literal.0.to_ascii_lowercase()),
        HirKind::Class(Class::Unicode(class)) => {
            Hir::class(Class::Unicode(lower_ascii_class(class)))
        }
        HirKind::Class(Class::Bytes(mut class)) => {
            let upper = ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]);
            let mut lowered = class.clone();
            lowered.intersect(&upper);
            let shifted = ClassBytes::new(
                lowered
                    .iter()
                    .map(|range| ClassBytesRange::new(range.start() + 32, range.end() + 32)),
            );
            class.difference(&upper);
            class.union(&shifted);
            Hir::class(Class::Bytes(class))
        }
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(lower_ascii_case(*rep.sub)),
            ..rep
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            sub: Box::new(lower_ascii_case(*capture.sub)),
            ..capture
        }),
        HirKind::Concat(parts) => Hir::concat(parts.into_iter().map(lower_ascii_case).collect()),
        HirKind::Alternation(branches) => {
            Hir::alternation(branches.into_iter().map(lower_ascii_case).collect())
        }
        HirKind::Look(look) => Hir::look(look),
        HirKind::Empty => Hir::empty(),
    }
}

/// The characters of `class` with ASCII letters lower-cased.
pub fn lower_ascii_class(mut class: ClassUnicode) -> ClassUnicode {
    let upper = ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]);
    let mut lowered = class.clone();
    lowered.intersect(&upper);
    let shifted = lowered.iter().filter_map(|range| {
        let down = |c: char| char::from_u32(c as u32 + 32);
        Some(ClassUnicodeRange::new(
            down(range.start())?,
            down(range.end())?,
        ))
    });
    let shifted = ClassUnicode::new(shifted);
    class.difference(&upper);
    class.union(&shifted);
    class
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

    /// Whether `name` matches `pattern` without case, as the policy matches.
    fn matches_without_case(pattern: &str, name: &str) -> bool {
        let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
        let re = regex::Regex::new(&format!(r"\A(?:{})\z", lower_ascii_case(hir))).unwrap();
        re.is_match(&insensitive_key(name))
    }

    fn lowercase_can_match(pattern: &str) -> bool {
        can_match_lowercase(&regex_syntax::Parser::new().parse(pattern).unwrap())
    }

    #[test]
    fn patterns_match_every_case_variant() {
        let m = matches_without_case;
        for name in ["default", "Default", "DEFAULT", "dEfAuLt"] {
            assert!(m("default", name) && m("DeFault", name), "{name}");
        }
        assert!(!m("default", "defaults"));
        assert!(m("(?-i)prod-[a-z0-9]+", "PROD-WEB1"));
        assert!(m("(?-i)prod-[a-z0-9]+", "Prod-Web"));
        assert!(!m("(?-i)prod-[a-z0-9]+", "prod-"));
        assert!(m(r"[A-C]x\d", "bX7") && m(r"[A-C]x\d", "Cx0"));
        assert!(!m(r"[A-C]x\d", "dx1"));
        assert!(m("[^A-Z]+", "ABC") == m("[^a-z]+", "abc"));
        assert!(m("[@-_]", "a") && m("[@-_]", "A") && m("[@-_]", "_"));
        // Non-ASCII letters are compared as they are.
        assert!(m("ünï", "ünï") && !m("ünï", "ÜNÏ") && !m("ünï", "uni"));
        assert!(m("(?i)x|(?P<n>y{2,3})|^z$", "X"));
        assert!(m("(?i)x|(?P<n>y{2,3})|^z$", "YyY"));
        assert!(m("(?i)x|(?P<n>Y{2,3})|^Z$", "z"));
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
        let lower = |name: &str| stored_lowercase(name.to_owned());
        assert_eq!(lower("PROD-Payments-1"), "prod-payments-1");
        assert_eq!(lower("prod-payments-1"), "prod-payments-1");
        // The Kelvin sign lower-cases to an ASCII `k`: decided and forwarded as `k`.
        assert_eq!(lower("prod-\u{212A}"), "prod-k");
        assert_eq!(lower(&lower("ÄBC-İ")), lower("ÄBC-İ"));
        assert_eq!(insensitive_key("App-FRONTEND"), "app-frontend");
        assert_eq!(insensitive_key("ÜNÏ"), "ÜnÏ");
        assert!(matches!(insensitive_key("app-web"), Cow::Borrowed(_)));
    }

    /// Names that point at an id ElastiCache keeps in lower case, under a
    /// name of their own (core/model/case.json), are decided in that form.
    mod decided {
        use crate::decision::{Decision, DenialDetail};
        use crate::policy::compile;
        use crate::policy_tools::{explain, Explanation};

        const POLICY: &str = r#"
rules:
  - {id: no-prod-copies, effect: deny, actions: [CopySnapshot], params: {SourceSnapshotName: {matches: "prod-.*"}}}
  - {id: no-nightly-targets, effect: deny, actions: [CopySnapshot], params: {TargetSnapshotName: {one_of: [Nightly-Copy]}}}
  - {id: no-prod-primary, effect: deny, actions: [CreateReplicationGroup, ModifyReplicationGroup], params: {PrimaryClusterId: {matches: "prod-.*"}}}
  - {id: no-prod-snapshotting, effect: deny, actions: [ModifyReplicationGroup], params: {SnapshottingClusterId: {one_of: [prod-cache-001]}}}
  - {id: no-legacy-groups, effect: deny, actions: [CreateReplicationGroup], params: {SecurityGroupIds: {any_in: [sg-0legacy]}}}
  - {id: replication, effect: allow, actions: [CreateReplicationGroup, CopySnapshot, ModifyReplicationGroup]}
"#;

        fn decide(query: &str) -> Explanation {
            let policy = compile("policy.yaml", POLICY).unwrap();
            explain(
                &policy,
                &crate::policy_tools::Asked::new("eu-west-1", None),
                query,
                DenialDetail::Full,
            )
            .unwrap_or_else(|e| panic!("{query}: {e}"))
        }

        /// The rules that denied the request. Patterns on names kept in
        /// lower case are compiled as written, so `prod-.*` denying
        /// `PROD-CACHE-001` shows the request was decided in lower case.
        fn denied(query: &str) -> Vec<String> {
            let explanation = decide(query);
            assert_eq!(explanation.decision, Decision::Deny, "{query}");
            explanation.rules
        }

        fn create(primary: &str) -> String {
            format!(
                "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders\
                 &ReplicationGroupDescription=orders&PrimaryClusterId={primary}"
            )
        }

        fn copy(source: &str, target: &str) -> String {
            format!(
                "Action=CopySnapshot&Version=2015-02-02&SourceSnapshotName={source}&TargetSnapshotName={target}"
            )
        }

        #[test]
        fn a_primary_cluster_id_is_decided_in_lower_case() {
            for primary in ["PROD-CACHE-001", "Prod-Cache-001", "prod-cache-001"] {
                assert_eq!(denied(&create(primary)), ["no-prod-primary"]);
            }
            assert_eq!(
                decide(&create("Staging-Cache-001")).decision,
                Decision::Allow
            );
            let modify =
                "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders\
                          &SnapshottingClusterId=Prod-Cache-001";
            assert_eq!(denied(modify), ["no-prod-snapshotting"]);
        }

        #[test]
        fn snapshot_names_of_a_copy_are_decided_in_lower_case() {
            assert_eq!(denied(&copy("PROD-Nightly", "copy-1")), ["no-prod-copies"]);
            // A `one_of` value in the policy is lower-cased as the request is.
            assert_eq!(
                denied(&copy("staging", "NIGHTLY-COPY")),
                ["no-nightly-targets"]
            );
            assert_eq!(decide(&copy("staging", "copy-2")).decision, Decision::Allow);
        }

        #[test]
        fn security_group_ids_are_compared_without_case() {
            let query = format!(
                "{}&SecurityGroupIds.SecurityGroupId.1=SG-0Legacy",
                create("staging-1")
            );
            assert_eq!(denied(&query), ["no-legacy-groups"]);
        }
    }
}
