//! Where each key and value of a YAML document starts, by path
//! (`rules.2.owner_ids`), so that validation errors can name a line and a
//! column, and which values were written as plain (unquoted) scalars, which
//! YAML readers may take for numbers. The documents themselves are read by
//! serde_yaml; a position that cannot be found is simply left out.
//!
//! Finding positions is a second parse of the whole document, as costly as
//! the first, and a file that loads cleanly needs none: they are found on
//! first use, so only a file with an error or a warning pays for them.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// The positions in one text, found when first asked for.
#[derive(Default, Debug)]
pub struct Positions<'t> {
    text: &'t str,
    tables: OnceCell<Tables>,
    /// The hashes of the runs of digits and `_` that the text has somewhere
    /// other than between a pair of quotes. (A hash, not the text, so that
    /// `Positions` stays covariant; two runs with one hash only cost a
    /// look at the tables.)
    bare_digit_runs: OnceCell<HashSet<u64>>,
}

#[derive(Default, Debug)]
struct Tables {
    /// Where the key of a mapping entry starts, by the entry's path.
    keys: HashMap<String, Position>,
    /// Where a node starts, by its path.
    nodes: HashMap<String, Position>,
    /// The text of each value written as a plain scalar with no tag, by
    /// its path: `012345670123` unquoted is a string to serde_yaml but a
    /// number (1402433619) to PyYAML.
    plain: HashMap<String, String>,
}

impl Tables {
    /// Positions in `text`; empty when it is not YAML.
    fn of(text: &str) -> Tables {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Tables::default();
        }
        builder.positions
    }
}

impl<'t> Positions<'t> {
    /// Positions in `text` (none when it is not YAML), found on first use.
    pub fn of(text: &'t str) -> Positions<'t> {
        Positions {
            text,
            ..Positions::default()
        }
    }

    fn tables(&self) -> &Tables {
        self.tables.get_or_init(|| Tables::of(self.text))
    }

    /// The entry's key when it is in a mapping, else the node itself.
    pub fn find(&self, path: &[&str]) -> Option<Position> {
        let key = path.join(".");
        let tables = self.tables();
        tables
            .keys
            .get(&key)
            .or_else(|| tables.nodes.get(&key))
            .copied()
    }

    /// The text of the value at `path` when it was written as a plain
    /// scalar (not quoted, no tag).
    pub fn plain_scalar(&self, path: &[&str]) -> Option<&str> {
        self.tables().plain.get(&path.join(".")).map(String::as_str)
    }

    /// Whether the string `value` at `path` was written as a plain scalar.
    /// A run of digits (a policy's account ids) is answered without the
    /// second parse when the text has it only between quotes: a plain
    /// scalar is its text as written, so a plain `123` would show in the
    /// text as a run of digits with no quote on either side.
    pub fn is_plain(&self, path: &[&str], value: &str) -> bool {
        if is_digit_run(value) && !self.bare_digit_runs().contains(&run_hash(value)) {
            return false;
        }
        self.plain_scalar(path) == Some(value)
    }

    fn bare_digit_runs(&self) -> &HashSet<u64> {
        self.bare_digit_runs.get_or_init(|| {
            let text = self.text;
            let bytes = text.as_bytes();
            let mut runs = HashSet::new();
            let mut at = 0;
            while at < bytes.len() {
                if !is_digit_byte(bytes[at]) {
                    at += 1;
                    continue;
                }
                let start = at;
                while at < bytes.len() && is_digit_byte(bytes[at]) {
                    at += 1;
                }
                let before = start.checked_sub(1).map(|i| bytes[i]);
                let quoted =
                    matches!(before, Some(b'"' | b'\'')) && bytes.get(at).copied() == before;
                if !quoted {
                    // Both ends are ASCII, so they are character boundaries.
                    runs.insert(run_hash(&text[start..at]));
                }
            }
            runs
        })
    }
}

fn run_hash(run: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    run.hash(&mut hasher);
    hasher.finish()
}

fn is_digit_byte(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

fn is_digit_run(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_digit_byte)
}

enum Frame {
    Sequence {
        path: String,
        start: Position,
        next: usize,
    },
    Mapping {
        path: String,
        start: Position,
        key: Option<String>,
        expecting_key: bool,
    },
}

impl Frame {
    fn path(&self) -> &str {
        match self {
            Frame::Sequence { path, .. } | Frame::Mapping { path, .. } => path,
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: Tables,
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

impl Builder {
    /// The path of the node that starts now, or `None` when it is a key
    /// (recorded here).
    fn place(&mut self, scalar: Option<&str>, at: Position) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next, .. }) => {
                let child = join(path, &next.to_string());
                *next += 1;
                Some(child)
            }
            Some(Frame::Mapping {
                path,
                key,
                expecting_key,
                ..
            }) => {
                if *expecting_key {
                    *expecting_key = false;
                    *key = scalar.map(str::to_owned);
                    if let Some(name) = scalar {
                        self.positions.keys.entry(join(path, name)).or_insert(at);
                    }
                    None
                } else {
                    *expecting_key = true;
                    // A complex key has no path: its value gets none either.
                    Some(join(path, key.as_deref()?))
                }
            }
        }
    }
}

impl Builder {
    /// A scalar starts here: it is where its node begins, and where every
    /// enclosing collection that has no position yet begins. (The parser's
    /// marks for block collections point past their first indicator, so
    /// collections take the position of their first scalar.)
    fn scalar_at(&mut self, path: Option<String>, at: Position) {
        for frame in &self.stack {
            self.positions
                .nodes
                .entry(frame.path().to_owned())
                .or_insert(at);
        }
        if let Some(path) = path {
            self.positions.nodes.entry(path).or_insert(at);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match event {
            Event::Scalar(ref value, style, _, ref tag) => {
                let path = self.place(Some(value), at);
                if let (Some(path), TScalarStyle::Plain, None) = (&path, style, tag) {
                    self.positions
                        .plain
                        .entry(path.clone())
                        .or_insert_with(|| value.clone());
                }
                self.scalar_at(path, at);
            }
            Event::Alias(_) => {
                let path = self.place(None, at);
                self.scalar_at(path, at);
            }
            Event::SequenceStart(..) => {
                let path = self.place(None, at).unwrap_or_else(|| "?".to_owned());
                self.stack.push(Frame::Sequence {
                    path,
                    start: at,
                    next: 0,
                });
            }
            Event::MappingStart(..) => {
                let path = self.place(None, at).unwrap_or_else(|| "?".to_owned());
                self.stack.push(Frame::Mapping {
                    path,
                    start: at,
                    key: None,
                    expecting_key: true,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // An empty collection: its own mark is all there is.
                if let Some(
                    Frame::Sequence { path, start, .. } | Frame::Mapping { path, start, .. },
                ) = self.stack.pop()
                {
                    self.positions.nodes.entry(path).or_insert(start);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn finds_keys_and_items_in_block_style() {
        let text =
            "rules:\n  - id: a\n    effect: allow\n  - id: b\n    owner_ids:\n      - \"1\"\n";
        let positions = Positions::of(text);
        assert_eq!(positions.find(&["rules"]), at(1, 1));
        assert_eq!(positions.find(&[]), at(1, 1));
        assert_eq!(positions.find(&["rules", "0"]), at(2, 5));
        assert_eq!(positions.find(&["rules", "0", "effect"]), at(3, 5));
        assert_eq!(positions.find(&["rules", "1", "id"]), at(4, 5));
        assert_eq!(positions.find(&["rules", "1", "owner_ids"]), at(5, 5));
        assert_eq!(positions.find(&["rules", "1", "owner_ids", "0"]), at(6, 9));
        assert_eq!(positions.find(&["rules", "2"]), None);
    }

    #[test]
    fn finds_keys_in_flow_style_and_survives_bad_yaml() {
        let positions = Positions::of("rules: [{id: a, effect: nope}]\n");
        assert_eq!(positions.find(&["rules", "0", "effect"]), at(1, 17));
        assert!(Positions::of("rules: [").find(&["rules"]).is_none());
        let complex = Positions::of("? [a, b]\n: x\nrules: []\n");
        assert_eq!(complex.find(&["rules"]), at(3, 1));
    }

    #[test]
    fn knows_which_values_were_unquoted() {
        let positions = Positions::of(
            "ids: [012345670123, \"012345670123\", '1', !!str 7, 1234-5678-1234]\nk: v\n",
        );
        let plain = |i: &str| positions.plain_scalar(&["ids", i]);
        assert_eq!(plain("0"), Some("012345670123"));
        assert_eq!((plain("1"), plain("2"), plain("3")), (None, None, None));
        assert_eq!(plain("4"), Some("1234-5678-1234"));
        assert_eq!(positions.plain_scalar(&["k"]), Some("v"));
        // Keys are not values.
        assert_eq!(positions.plain_scalar(&["ids"]), None);
    }

    #[test]
    fn tells_plain_digits_from_quoted_ones_and_parses_only_when_it_must() {
        let text = "ids: [\"100000000000\", '012', \"7\", 7, !!str 8, |-\n    9\n  ]\n# 5\nn: [\"5\", 5]\n";
        let positions = Positions::of(text);
        let plain = |path: &[&str], value: &str| positions.is_plain(path, value);
        // Only ever quoted: answered from the text alone.
        assert!(!plain(&["ids", "0"], "100000000000"));
        assert!(!plain(&["ids", "1"], "012"));
        assert!(positions.tables.get().is_none(), "parsed for quoted digits");
        // Quoted here but bare elsewhere, tagged, a block scalar, or named
        // in a comment: the second parse decides.
        assert!(!plain(&["ids", "2"], "7"));
        assert!(positions.tables.get().is_some());
        assert!(plain(&["ids", "3"], "7"));
        assert!(!plain(&["ids", "4"], "8"));
        assert!(!plain(&["ids", "5"], "9"));
        assert!(!plain(&["n", "0"], "5"));
        assert!(plain(&["n", "1"], "5"));
        // Not digits: always the tables.
        assert!(Positions::of("k: v\n").is_plain(&["k"], "v"));
        assert!(!Positions::of("k: 'v'\n").is_plain(&["k"], "v"));
    }
}
