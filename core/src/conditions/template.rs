//! Values that refer to the caller (`"${caller.tags.team}-.*"`), so that one
//! rule serves every team: resolved per request from the caller's tags. A
//! caller without the tag, or with it empty, cannot be judged by the
//! condition, which then fails closed (no allow rule matches, every deny
//! rule does).

use std::borrow::Cow;

use super::policy_form;
use crate::caller_tags::{is_valid_key, CallerTags};
use crate::names::NameCase;
use crate::patterns::NameMatcher;

/// The one kind of reference a value may hold.
const PREFIX: &str = "${caller.tags.";

/// A value with references to the caller's tags.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Template {
    /// Text and tag keys, alternating, starting and ending with text
    /// (which may be empty).
    texts: Vec<String>,
    keys: Vec<String>,
}

/// A value as a policy writes it: text, or a template.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Text {
    Literal(String),
    Template(Template),
}

impl Text {
    /// `value` as written: a template when it holds a reference. `Err`
    /// says what is wrong with a reference.
    pub fn parse(value: &str) -> Result<Text, String> {
        Ok(match Template::parse(value)? {
            Some(template) => Text::Template(template),
            None => Text::Literal(value.to_owned()),
        })
    }

    /// The value for a caller; `None` when the caller lacks a tag it needs.
    pub fn resolve<'a>(&'a self, tags: &CallerTags) -> Option<Cow<'a, str>> {
        match self {
            Text::Literal(text) => Some(Cow::Borrowed(text)),
            Text::Template(template) => template.render(tags).map(Cow::Owned),
        }
    }

    /// As written, for messages.
    pub fn written(&self) -> String {
        match self {
            Text::Literal(text) => text.clone(),
            Text::Template(template) => template.written(),
        }
    }

    pub fn keys(&self) -> &[String] {
        match self {
            Text::Literal(_) => &[],
            Text::Template(template) => &template.keys,
        }
    }
}

impl Template {
    /// The tag keys it refers to.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// `None` when `value` holds no reference.
    pub fn parse(value: &str) -> Result<Option<Template>, String> {
        if !value.contains("${") {
            return Ok(None);
        }
        let mut texts = Vec::new();
        let mut keys = Vec::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            texts.push(rest[..start].to_owned());
            let after = &rest[start..];
            let Some(end) = after.find('}') else {
                return Err(format!("`{after}` is not closed with `}}`"));
            };
            let reference = &after[..=end];
            let key = reference
                .strip_prefix(PREFIX)
                .and_then(|r| r.strip_suffix('}'))
                .filter(|key| is_valid_key(key))
                .ok_or_else(|| {
                    format!("`{reference}` is not a reference to the caller, expected `${{caller.tags.KEY}}`")
                })?;
            keys.push(key.to_owned());
            rest = &after[end + 1..];
        }
        texts.push(rest.to_owned());
        Ok(Some(Template { texts, keys }))
    }

    /// The value with each reference replaced by the caller's tag;
    /// `None` when the caller lacks one, or has it empty.
    pub fn render(&self, tags: &CallerTags) -> Option<String> {
        let mut out = self.texts[0].clone();
        for (key, text) in self.keys.iter().zip(&self.texts[1..]) {
            out.push_str(tags.get(key).filter(|v| !v.is_empty())?);
            out.push_str(text);
        }
        Some(out)
    }

    fn written(&self) -> String {
        let mut out = self.texts[0].clone();
        for (key, text) in self.keys.iter().zip(&self.texts[1..]) {
            out.push_str(PREFIX);
            out.push_str(key);
            out.push('}');
            out.push_str(text);
        }
        out
    }
}

/// A `matches` pattern with references: the regex pieces between them are
/// compiled once, and a name matches when it splits into pieces that
/// match each whole, around the caller's tag values taken literally.
#[derive(Debug)]
pub(crate) struct TemplatePattern {
    pub written: String,
    template: Template,
    /// One more piece than keys; `None` for an empty piece.
    pieces: Vec<Option<NameMatcher>>,
    keys: Vec<String>,
    /// How the member's names compare; `None`: as written.
    case: Option<NameCase>,
}

impl TemplatePattern {
    pub fn new(
        written: String,
        template: &Template,
        case: Option<NameCase>,
        mut compile: impl FnMut(&str) -> Option<NameMatcher>,
    ) -> Option<TemplatePattern> {
        let mut pieces = Vec::with_capacity(template.texts.len());
        for text in &template.texts {
            pieces.push(match text.is_empty() {
                true => None,
                false => Some(compile(text)?),
            });
        }
        Some(TemplatePattern {
            written,
            template: template.clone(),
            pieces,
            keys: template.keys.clone(),
            case,
        })
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The pattern with the caller's values in it, for messages; as
    /// written when the caller lacks one.
    pub fn shown(&self, tags: &CallerTags) -> String {
        self.template
            .render(tags)
            .unwrap_or_else(|| self.written.clone())
    }

    /// Whether `name` (in the form compared) matches for a caller; `None`
    /// when the caller lacks a tag the pattern needs.
    pub fn is_match(&self, name: &str, tags: &CallerTags) -> Option<bool> {
        let mut values = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let value = tags.get(key).filter(|v| !v.is_empty())?;
            values.push(policy_form(self.case, value));
        }
        Some(split_matches(&self.pieces, &values, name))
    }
}

/// Whether `name` is `pieces[0]`, `values[0]`, `pieces[1]`, … each piece
/// matching a whole part: tried at each place the next value occurs.
fn split_matches(pieces: &[Option<NameMatcher>], values: &[Cow<'_, str>], name: &str) -> bool {
    let whole = |piece: &Option<NameMatcher>, part: &str| match piece {
        None => part.is_empty(),
        Some(matcher) => matcher.is_match(part),
    };
    let (Some(first), Some((value, rest_values))) = (pieces.first(), values.split_first()) else {
        return pieces.first().is_some_and(|piece| whole(piece, name));
    };
    let mut from = 0;
    while let Some(at) = name.get(from..).and_then(|n| n.find(&**value)) {
        let start = from + at;
        let end = start + value.len();
        if whole(first, &name[..start]) && split_matches(&pieces[1..], rest_values, &name[end..]) {
            return true;
        }
        // The next place the value may start, on a character boundary.
        from = start + name[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::NamePattern;

    fn tags(pairs: &[(&str, &str)]) -> CallerTags {
        CallerTags::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn pattern(text: &str) -> TemplatePattern {
        let template = Template::parse(text).unwrap().unwrap();
        TemplatePattern::new(
            text.to_owned(),
            &template,
            Some(NameCase::StoredLowercase),
            |piece| {
                let compiled = NamePattern::compile(piece, NameCase::StoredLowercase).ok()?;
                NameMatcher::new(
                    vec![piece.to_owned()],
                    vec![compiled],
                    NameCase::StoredLowercase,
                    1 << 20,
                )
                .ok()
            },
        )
        .unwrap()
    }

    #[test]
    fn references_are_parsed_and_rendered() {
        let t = Template::parse("${caller.tags.team}-${caller.tags.env}")
            .unwrap()
            .unwrap();
        assert_eq!(
            t.render(&tags(&[("team", "pay"), ("env", "prod")]))
                .as_deref(),
            Some("pay-prod")
        );
        assert_eq!(t.render(&tags(&[("team", "pay")])), None);
        assert_eq!(t.render(&tags(&[("team", ""), ("env", "prod")])), None);
        assert_eq!(t.written(), "${caller.tags.team}-${caller.tags.env}");
        assert_eq!(Template::parse("plain").unwrap(), None);
        for bad in [
            "${caller.name}",
            "${caller.tags.team",
            "${caller.tags.}",
            "${x}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pattern_matches_around_the_tag_values() {
        let payments = tags(&[("team", "payments")]);
        let p = pattern("${caller.tags.team}-[a-z0-9-]+");
        assert_eq!(p.is_match("payments-orders", &payments), Some(true));
        assert_eq!(p.is_match("payments-", &payments), Some(false));
        assert_eq!(p.is_match("orders-payments-x", &payments), Some(false));
        assert_eq!(p.is_match("payments-orders", &tags(&[])), None);
        // The value is taken literally, not as a regex.
        let dotted = tags(&[("team", "a.b")]);
        assert_eq!(p.is_match("a.b-x", &dotted), Some(true));
        assert_eq!(p.is_match("axb-x", &dotted), Some(false));
        // Any place the value occurs may be the split.
        let both = pattern("[a-z]+-${caller.tags.team}-.*");
        assert_eq!(
            both.is_match("x-payments-payments-y", &payments),
            Some(true)
        );
        assert_eq!(both.is_match("payments-payments", &payments), Some(false));
        // A value compared as the member's names are: lower case here.
        let upper = tags(&[("team", "Payments")]);
        assert_eq!(p.is_match("payments-orders", &upper), Some(true));
        let exact = pattern("${caller.tags.team}");
        assert_eq!(exact.is_match("payments", &payments), Some(true));
        assert_eq!(exact.is_match("payments2", &payments), Some(false));
    }
}
