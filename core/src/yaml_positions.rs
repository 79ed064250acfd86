//! Where each key and value of a YAML document starts, by path
//! (`rules.2.owner_ids`), so that validation errors can name a line and a
//! column, and which values were written as plain (unquoted) scalars, which
//! YAML readers may take for numbers. The documents themselves are read by
//! serde_yaml; a position that cannot be found is simply left out.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Default, Debug)]
pub struct Positions {
    /// Where the key of a mapping entry starts, by the entry's path.
    keys: HashMap<String, Position>,
    /// Where a node starts, by its path.
    nodes: HashMap<String, Position>,
    /// The text of each value written as a plain scalar with no tag, by
    /// its path: `012345670123` unquoted is a string to serde_yaml but a
    /// number (1402433619) to PyYAML.
    plain: HashMap<String, String>,
}

impl Positions {
    /// Positions in `text`; empty when it is not YAML.
    pub fn of(text: &str) -> Positions {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Positions::default();
        }
        builder.positions
    }

    /// The entry's key when it is in a mapping, else the node itself.
    pub fn find(&self, path: &[&str]) -> Option<Position> {
        let key = path.join(".");
        self.keys
            .get(&key)
            .or_else(|| self.nodes.get(&key))
            .copied()
    }

    /// The text of the value at `path` when it was written as a plain
    /// scalar (not quoted, no tag).
    pub fn plain_scalar(&self, path: &[&str]) -> Option<&str> {
        self.plain.get(&path.join(".")).map(String::as_str)
    }
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
    positions: Positions,
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
}
