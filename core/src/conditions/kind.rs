//! The type model of conditions: the kinds of test a condition can make,
//! each with its YAML key and the parameter types it applies to, and the
//! types the service model gives parameters. Adding a kind of test is one
//! line in `test_kinds!` below; the compiler then asks for its arms in
//! `TestKind::applies_to`, in compilation (`compile::compile_test`), in
//! evaluation (`ParamCondition::judge`) and in the explanation of a
//! failure (`ParamCondition::describe_failure`).

use super::template::{Template, TemplatePattern, Text};
use crate::patterns::NameMatcher;
use crate::service_model::{Kind, Shape};

/// Defines `TestKind` and `TestKind::ALL` from one list, so that no kind
/// can be left out of the keys a policy may use.
macro_rules! test_kinds {
    ($($kind:ident => $key:literal,)+) => {
        /// A kind of test, as a policy names it.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub(crate) enum TestKind {
            $($kind,)+
        }

        impl TestKind {
            /// Every kind, in the order the policy reference lists them.
            pub const ALL: &'static [TestKind] = &[$(TestKind::$kind,)+];

            /// The condition key it is written under.
            pub fn key(self) -> &'static str {
                match self {
                    $(TestKind::$kind => $key,)+
                }
            }
        }
    };
}

test_kinds! {
    Present => "present",
    OneOf => "one_of",
    Matches => "matches",
    Range => "range",
    AllIn => "all_in",
    AnyIn => "any_in",
    NoneIn => "none_in",
    HasKeys => "has_keys",
    Tags => "tags",
}

/// The keys that qualify a test rather than make one.
pub(crate) const MODIFIERS: [&str; 2] = ["if_absent", "if_empty"];

impl TestKind {
    pub fn from_key(key: &str) -> Option<TestKind> {
        TestKind::ALL.iter().copied().find(|kind| kind.key() == key)
    }

    /// Every key a condition may have: the tests' and the modifiers'.
    pub fn condition_keys() -> impl Iterator<Item = &'static str> {
        TestKind::ALL.iter().map(|kind| kind.key()).chain(MODIFIERS)
    }

    /// Whether it can test a parameter of that type.
    pub fn applies_to(self, parameter: Type) -> bool {
        match self {
            TestKind::Present => true,
            TestKind::OneOf => matches!(parameter, Type::String | Type::Boolean | Type::Integer),
            TestKind::Matches => matches!(parameter, Type::String | Type::StringList),
            TestKind::Range => parameter == Type::Integer,
            TestKind::AllIn | TestKind::AnyIn | TestKind::NoneIn => parameter == Type::StringList,
            TestKind::HasKeys | TestKind::Tags => parameter == Type::Tags,
        }
    }

    /// Whether it judges a parameter of that type by its items, which an
    /// empty list has none of (`if_empty` settles those).
    pub fn is_on_items(self, parameter: Type) -> bool {
        match self {
            TestKind::AllIn
            | TestKind::AnyIn
            | TestKind::NoneIn
            | TestKind::HasKeys
            | TestKind::Tags => true,
            // Every item of a list of names must match.
            TestKind::Matches => parameter == Type::StringList,
            TestKind::Present | TestKind::OneOf | TestKind::Range => false,
        }
    }

    /// The keys of the kinds that apply to a parameter of that type.
    pub fn keys_for(parameter: Type) -> Vec<&'static str> {
        TestKind::ALL
            .iter()
            .filter(|kind| kind.applies_to(parameter))
            .map(|kind| kind.key())
            .collect()
    }
}

/// A compiled test: its kind, with what it compares against, in the form
/// the request's values are compared in.
#[derive(Debug)]
pub(crate) enum Test {
    Present(bool),
    OneOf(Vec<Scalar>),
    /// Whole-name patterns, any of which may match.
    Matches(NameMatcher),
    /// Patterns some of which refer to the caller's tags, any of which may
    /// match: those (each compiled around its references) and the others.
    MatchesTemplate {
        templates: Vec<TemplatePattern>,
        /// Boxed: rare, and it would double the size of every test.
        others: Option<Box<NameMatcher>>,
    },
    Range {
        min: i64,
        max: i64,
    },
    AllIn(Vec<String>),
    AnyIn(Vec<String>),
    NoneIn(Vec<String>),
    HasKeys(Vec<String>),
    /// Tag keys and values; a value may refer to the caller's tags.
    Tags(Vec<(String, Text)>),
}

impl Test {
    pub fn kind(&self) -> TestKind {
        match self {
            Test::Present(_) => TestKind::Present,
            Test::OneOf(_) => TestKind::OneOf,
            Test::Matches(_) | Test::MatchesTemplate { .. } => TestKind::Matches,
            Test::Range { .. } => TestKind::Range,
            Test::AllIn(_) => TestKind::AllIn,
            Test::AnyIn(_) => TestKind::AnyIn,
            Test::NoneIn(_) => TestKind::NoneIn,
            Test::HasKeys(_) => TestKind::HasKeys,
            Test::Tags(_) => TestKind::Tags,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    String(String),
    /// A string that refers to the caller's tags.
    Template(Template),
    Boolean(bool),
    Integer(i64),
}

/// What the model says of a parameter across a rule's actions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Type {
    String,
    Boolean,
    Integer,
    Timestamp,
    StringList,
    Tags,
    Other,
}

impl Type {
    pub fn of(shape: &Shape) -> Type {
        match shape.kind() {
            Kind::String(_) => Type::String,
            Kind::Boolean => Type::Boolean,
            Kind::Integer(_) | Kind::Long(_) => Type::Integer,
            Kind::Timestamp => Type::Timestamp,
            Kind::List(list) if list.is_tag_list() => Type::Tags,
            Kind::List(list) => match list.member().shape().kind() {
                Kind::String(_) => Type::StringList,
                _ => Type::Other,
            },
            Kind::Structure(_) | Kind::Map(_) => Type::Other,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Boolean => "a boolean",
            Type::Integer => "an integer",
            Type::Timestamp => "a timestamp",
            Type::StringList => "a list of strings",
            Type::Tags => "a list of tags",
            Type::Other => "a structure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_one_key_and_applies_to_some_type() {
        for kind in TestKind::ALL {
            assert_eq!(TestKind::from_key(kind.key()), Some(*kind));
            assert!(
                [
                    Type::String,
                    Type::Boolean,
                    Type::Integer,
                    Type::StringList,
                    Type::Tags
                ]
                .iter()
                .any(|t| kind.applies_to(*t)),
                "{kind:?}"
            );
        }
        let keys: Vec<&str> = TestKind::condition_keys().collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
        // What the README's table lists, in its order.
        assert_eq!(
            TestKind::keys_for(Type::StringList),
            ["present", "matches", "all_in", "any_in", "none_in"]
        );
        assert_eq!(
            TestKind::keys_for(Type::Tags),
            ["present", "has_keys", "tags"]
        );
    }
}
