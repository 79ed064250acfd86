//! Reads a YAML document into serde_yaml's tree in one pass of yaml-rust2's
//! parser, 40% quicker than serde_yaml itself for a large policy, which
//! first keeps every event of the file and then builds the tree from them.
//! serde_yaml stays the reference: a document with anything this reader
//! does not build the same way for certain (a syntax error, anchors,
//! aliases, tags, block scalars, tabs, merge or duplicate keys, several
//! documents, a plain scalar that may not be a string) is read by
//! serde_yaml, whose value or error is then the answer. The test below
//! compares both readers.

use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The document in `text`, as `serde_yaml::from_str` reads it.
pub fn from_str(text: &str) -> Result<Value, serde_yaml::Error> {
    match quick(text) {
        Some(value) => Ok(value),
        None => serde_yaml::from_str(text),
    }
}

/// The document in `text`, as [`from_str`] reads it, except that each item
/// of the sequence under the top-level mapping's key `key` is handed to
/// `item` as soon as it is built, and left out of the document (the key's
/// value is then an empty sequence): a large list is never all in memory.
/// `None` when this reader does not read the document (it is then to be
/// read whole with [`from_str`]), or when `item` returns `false` to stop.
/// The items handed out are all the document's only when the answer is
/// `Some`.
pub fn stream_items(text: &str, key: &str, item: &mut dyn FnMut(Value) -> bool) -> Option<Value> {
    read(text, Some((key, item)))
}

/// The document, when it is in the part of YAML read here.
fn quick(text: &str) -> Option<Value> {
    read(text, None)
}

/// A top-level key whose sequence's items go to a function as they are
/// built.
type Sink<'k, 's> = (&'k str, &'s mut dyn FnMut(Value) -> bool);

fn read(text: &str, sink: Option<Sink<'_, '_>>) -> Option<Value> {
    // A byte-order mark, tabs, carriage returns and document markers are
    // where YAML readers part ways most (yaml-rust2 takes `a: ---` for two
    // documents, libyaml for the string `---`).
    if text.starts_with('\u{feff}')
        || text.bytes().any(|b| b == b'\t' || b == b'\r')
        || text.contains("---")
        || text.contains("...")
    {
        return None;
    }
    let mut builder = Builder {
        source: Source {
            text,
            byte: 0,
            char: 0,
        },
        stack: Vec::new(),
        done: None,
        documents: 0,
        refused: false,
        sink,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token().ok()? {
            (Event::StreamEnd, _) => break,
            (event, at) => builder.on(event, at),
        }
        // Stop at once: serde_yaml reads it all again.
        if builder.refused {
            return None;
        }
    }
    match (builder.documents, builder.done) {
        (1, Some(value)) if builder.stack.is_empty() => Some(value),
        _ => None,
    }
}

/// A collection being built, with the line it starts on.
enum Frame {
    Sequence(Vec<Value>, usize),
    Mapping(Mapping, Option<Value>, usize),
}

/// The document's text, read forward to each event's position.
struct Source<'a> {
    text: &'a str,
    /// Where the last position asked for is, in bytes and in characters
    /// (the parser counts characters).
    byte: usize,
    char: usize,
}

impl<'a> Source<'a> {
    /// The rest of the line from the character at `index` on. Events come
    /// in document order, so the text is walked once.
    fn line_from(&mut self, index: usize) -> &'a str {
        if index < self.char {
            return "";
        }
        let skip = index - self.char;
        let rest = &self.text[self.byte..];
        let offset = rest.char_indices().nth(skip).map_or(rest.len(), |(i, _)| i);
        self.byte += offset;
        self.char = index;
        let rest = &self.text[self.byte..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// Whether a key scalar that starts at `index` ends, and is followed
    /// by its `:`, on the same line: libyaml refuses a key over several
    /// lines, or with its `:` on the next, and yaml-rust2 takes both.
    fn key_on_one_line(&mut self, index: usize, text: &str, style: TScalarStyle) -> bool {
        let line = self.line_from(index);
        let end = match style {
            TScalarStyle::Plain => line.starts_with(text).then_some(text.len()),
            TScalarStyle::SingleQuoted => closing_quote(line, b'\'', false),
            TScalarStyle::DoubleQuoted => closing_quote(line, b'"', true),
            TScalarStyle::Literal | TScalarStyle::Folded => None,
        };
        end.is_some_and(|end| colon_follows(&line[end..]))
    }

    /// The same for a flow collection used as a key, which ends at
    /// `index` (its closing bracket) and starts on `first_line`.
    fn collection_key_on_one_line(&mut self, first_line: usize, at: Marker) -> bool {
        let line = self.line_from(at.index());
        first_line == at.line() && line.len() > 1 && colon_follows(&line[1..])
    }
}

/// Whether the rest of a line, after a key, starts with its `:`.
fn colon_follows(rest: &str) -> bool {
    rest.trim_start_matches(' ').starts_with(':')
}

/// Where a quoted scalar that opens `line` ends, after its closing quote
/// (`''` in single quotes and `\"` in double quotes do not close).
fn closing_quote(line: &str, quote: u8, backslash: bool) -> Option<usize> {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&quote) {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == quote && !backslash && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

struct Builder<'a, 'k, 's> {
    source: Source<'a>,
    stack: Vec<Frame>,
    done: Option<Value>,
    documents: usize,
    /// Something serde_yaml must read.
    refused: bool,
    sink: Option<Sink<'k, 's>>,
}

impl Builder<'_, '_, '_> {
    /// Whether the sequence being built is the value of the sink's key in
    /// the top-level mapping.
    fn in_sink_sequence(&self) -> bool {
        match (&self.sink, self.stack.as_slice()) {
            (
                Some((key, _)),
                [Frame::Mapping(_, Some(Value::String(at)), _), Frame::Sequence(..)],
            ) => at == key,
            _ => false,
        }
    }

    /// `one_line`: whether the value, if it is a key, is on one line with
    /// its `:`.
    fn add(&mut self, value: Value, one_line: bool) {
        if self.in_sink_sequence() {
            if let Some((_, item)) = &mut self.sink {
                self.refused |= !item(value);
            }
            return;
        }
        match self.stack.last_mut() {
            None if self.done.is_none() => self.done = Some(value),
            None => self.refused = true,
            Some(Frame::Sequence(items, _)) => items.push(value),
            Some(Frame::Mapping(_, key @ None, _)) => {
                // serde_yaml keeps `<<` as a key, but other readers merge.
                self.refused |= value.as_str() == Some("<<") || !one_line;
                *key = Some(value);
            }
            Some(Frame::Mapping(map, key, _)) => {
                if let Some(key) = key.take() {
                    // A duplicate key is serde_yaml's error to word.
                    self.refused |= map.insert(key, value).is_some();
                }
            }
        }
    }
}

/// A plain scalar serde_yaml reads as a string whatever the schema: it
/// starts with a letter and is not `null`, `true` or `false` (a number
/// starts with a digit, a sign or a dot; `inf` and `nan` without a dot are
/// strings to it).
fn plain_string(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            text,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        )
}

/// Another plain scalar, read by serde_yaml alone: a number, a boolean,
/// null or a string, as the same scalar in a document of its own.
fn plain_other(text: &str) -> Option<Value> {
    match serde_yaml::from_str::<Value>(text).ok()? {
        Value::String(read) if read != text => None,
        value @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)) => Some(value),
        _ => None,
    }
}

impl Builder<'_, '_, '_> {
    fn on(&mut self, event: Event, at: Marker) {
        match event {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(text, style, 0, None) => {
                // Only a key must be on one line; only a mapping awaiting
                // a key needs to know.
                let one_line = !matches!(self.stack.last(), Some(Frame::Mapping(_, None, _)))
                    || self.source.key_on_one_line(at.index(), &text, style);
                let value = match style {
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                        Some(Value::String(text))
                    }
                    // libyaml reads `[?a]` as a key `a`, yaml-rust2 as `?a`.
                    TScalarStyle::Plain if text.starts_with(['?', ':']) => None,
                    TScalarStyle::Plain if plain_string(&text) => Some(Value::String(text)),
                    TScalarStyle::Plain => plain_other(&text),
                    TScalarStyle::Literal | TScalarStyle::Folded => None,
                };
                // No null, not even `~`: yaml-rust2 reads an empty node as
                // `~`, where libyaml finds some (`[a:]`, `: a`) an error.
                match value {
                    Some(value) if !value.is_null() => self.add(value, one_line),
                    _ => self.refused = true,
                }
            }
            Event::SequenceStart(0, None) => {
                self.stack.push(Frame::Sequence(Vec::new(), at.line()));
            }
            Event::MappingStart(0, None) => {
                self.stack
                    .push(Frame::Mapping(Mapping::new(), None, at.line()));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let value = match self.stack.pop() {
                    Some(Frame::Sequence(items, line)) => Some((Value::Sequence(items), line)),
                    Some(Frame::Mapping(map, None, line)) => Some((Value::Mapping(map), line)),
                    _ => None,
                };
                let Some((value, line)) = value else {
                    self.refused = true;
                    return;
                };
                let one_line = !matches!(self.stack.last(), Some(Frame::Mapping(_, None, _)))
                    || self.source.collection_key_on_one_line(line, at);
                self.add(value, one_line);
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            // Anchors, aliases and tags.
            Event::Scalar(..)
            | Event::SequenceStart(..)
            | Event::MappingStart(..)
            | Event::Alias(_) => {
                self.refused = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Read here (not handed to serde_yaml), and the same as serde_yaml's.
    fn same(text: &str) {
        let reference = serde_yaml::from_str::<Value>(text).unwrap();
        assert_eq!(quick(text), Some(reference), "{text:?}");
    }

    /// Handed to serde_yaml.
    fn refused(text: &str) {
        assert_eq!(quick(text), None, "{text:?}");
    }

    #[test]
    fn reads_what_serde_yaml_reads() {
        for text in [
            "rules:\n  - id: a\n    effect: allow\n    actions: [\"Describe*\", ListTagsForResource]\n",
            "rules: []",
            "{}",
            "[]",
            "a: b\nc: [d, 'e', \"f\\u00e9\\n\"]\n",
            "n: [1, -2, +3, 0x1F, 0o17, 0b101, 1_000, 012, -012, 012345670123, 18446744073709551615]\n",
            "f: [1.5, -.5, .5, 1e3, 1E-3, .inf, -.inf, +.inf, .NaN, .nan, 1.2.3, 1e, 2026-12-01]\n",
            "w: [true, True, TRUE, false, FALSE, yes, no, on, off, nul, truth]\n",
            "e: [inf, nan, infinity, Infinity, NaN, e5, x1]\n",
            "s: [--x, -x, +x, .x, _x, /x, $x, 'x y', x y, x  y, \"\", '']\n",
            "nested:\n  - k: l\n  - [a, {b: c, d: [e]}]\n",
            "multi: plain\n  over lines\nq: \"quoted\n  over lines\"\n",
            "# a comment\nk: v # another\n",
            "1: x\n2.5: y\ntrue: z\n[a]: seq\n{b: c}: map\n",
            "é: ünïcode\n",
        ] {
            same(text);
        }
    }

    #[test]
    fn reads_the_shipped_policies() {
        same(include_str!("../../policies/default.yaml"));
        same(include_str!("../../policies/example.yaml"));
        // Anchors, and `---` in its comments: serde_yaml's.
        let vpc = include_str!("../../policies/vpc-team.yaml");
        assert!(quick(vpc).is_none());
        assert_eq!(from_str(vpc).ok(), serde_yaml::from_str(vpc).ok());
    }

    #[test]
    fn hands_the_rest_to_serde_yaml() {
        for text in [
            "",
            "# nothing\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: !custom x\n",
            "a: |\n  block\n",
            "a: >-\n  folded\n",
            "a:\tb\n",
            "a: b\r\n",
            "\u{feff}a: b\n",
            "a: 1\na: 2\n",
            "<<: {a: b}\n",
            "a: b\n---\nc: d\n",
            "a: b\n---\n",
            "---\nk: v\n",
            "k: v\n...\n",
            "a: ---\n",
            "[?a]: \n",
            "a: [\n",
            "a: 1\n b: 2\n",
            "- -x\n- x: y\n  - z\n",
            "n: 18446744073709551616\n",
            // Read alone, `-` is a list.
            "s: [-]\n",
            "~: w\n",
            ": a\n",
            "[a:]\n",
            "k: null\n",
            "k:\n",
            // A key over two lines: libyaml refuses it, yaml-rust2 takes it.
            "{a\n: b}\n",
            "{a\na: b}\n",
            "{'a\n b': c}\n",
            "{\"a\\\"\n b\": c}\n",
            "{[a,\n b]: c}\n",
        ] {
            refused(text);
        }
        // Whatever the path, the answer is serde_yaml's.
        for text in [
            "a: &x 1\nb: *x\n",
            "a: 1\na: 2\n",
            "",
            "a: [\n",
            "n: 18446744073709551616\n",
        ] {
            assert_eq!(
                from_str(text).map_err(|e| e.to_string()),
                serde_yaml::from_str::<Value>(text).map_err(|e| e.to_string()),
                "{text:?}"
            );
        }
    }

    /// Pieces of YAML that matter to its readers: indicators, quotes,
    /// indentation, numbers and the words a schema resolves.
    const PIECES: &[&str] = &[
        "a", "b1", "id", "0", "7", "012", "1.5", "0x1F", "-1", "+1", ".5", "1e3", "1_0", "-", "- ",
        ": ", ":", "\n", "\n  ", "\n    ", " ", "[", "]", "{", "}", ", ", ",", " #", "#", "'",
        "\"", "\\", "\\n", "''", "?", "? ", "~", "null", "True", "false", ".inf", ".nan", "inf",
        "<<", "&a ", "*a", "!!str ", "! ", "| ", "> ", "%", "@", "`", "é", "---", "...", "x y",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// Whatever this reader builds, serde_yaml builds the same.
        #[test]
        fn what_is_read_here_is_what_serde_yaml_reads(
            pieces in prop::collection::vec(prop::sample::select(PIECES), 1..40)
        ) {
            let text = pieces.concat();
            if let Some(value) = quick(&text) {
                let reference = serde_yaml::from_str::<Value>(&text).map_err(|e| e.to_string());
                prop_assert_eq!(Ok(value), reference, "{:?}", text);
            }
        }
    }
}
