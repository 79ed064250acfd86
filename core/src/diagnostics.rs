//! Errors in the YAML files the proxy reads (the policy, the callers file,
//! the config), reported one way: every error collected, each with the
//! file, line and column, what it is about (a rule, a caller), the key, the
//! message and a hint, sorted by position. Also the readers the validators
//! share, so that one mistake gets one message in every file. No I/O.

use std::fmt;

use serde_yaml::{Mapping, Value};

use crate::text::{alternatives, did_you_mean, quoted};
use crate::yaml_positions::{Position, Positions};

/// Where in a document an error is, and how it is named.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Place {
    /// The path in the document (`rules`, `2`, `owner_ids`): where the
    /// position is looked up.
    pub path: Vec<String>,
    /// What the key belongs to, when it is an entry of a list: "rule `a`",
    /// "caller `b`".
    pub subject: Option<String>,
    /// The key as shown, from the subject (or the top) down:
    /// `owner_ids`, `upstream.timeout`.
    pub key: Option<String>,
}

impl Place {
    /// The whole document.
    pub fn root() -> Place {
        Place::default()
    }

    /// An entry of a list, at `path`, that messages name `subject`.
    pub fn entry(path: &[&str], subject: String) -> Place {
        Place {
            path: path.iter().map(|p| (*p).to_owned()).collect(),
            subject: Some(subject),
            key: None,
        }
    }

    /// Item `index` of the top-level list `list`, named `what` and the
    /// entry's own name (`caller \`ci\``), or its number when it has none.
    pub fn named_entry(list: &str, index: usize, name: Option<&str>, what: &str) -> Place {
        let subject = match name {
            Some(name) => format!("{what} {}", quoted(name)),
            None => format!("{what} #{}", index + 1),
        };
        Place::entry(&[list, &index.to_string()], subject)
    }

    /// The key `name` of the mapping here.
    pub fn child(&self, name: &str) -> Place {
        let mut path = self.path.clone();
        path.push(name.to_owned());
        Place {
            path,
            subject: self.subject.clone(),
            key: Some(match &self.key {
                Some(key) => format!("{key}.{name}"),
                None => name.to_owned(),
            }),
        }
    }

    /// Item `index` of the list here, shown as the list's key.
    pub fn item(&self, index: usize) -> Place {
        let mut place = self.clone();
        place.path.push(index.to_string());
        place
    }

    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind,
            place: self.clone(),
            message: message.into(),
            hint: None,
            position: None,
        }
    }

    /// `name` must be one of `accepted`, and `value` is not. A near miss
    /// (a case slip, a typo) gets a "did you mean"; else `otherwise`.
    pub fn not_one_of(
        &self,
        name: &str,
        value: &Value,
        accepted: &[&str],
        otherwise: Option<&str>,
    ) -> Diagnostic {
        let near = value
            .as_str()
            .and_then(|text| did_you_mean(text, accepted.iter().copied()));
        self.error(
            ErrorKind::NotOneOf,
            format!(
                "`{name}` must be {}, not {}",
                alternatives(accepted),
                found(value)
            ),
        )
        .maybe_hint(
            near.map(|s| format!("did you mean `{s}`?"))
                .or(otherwise.map(str::to_owned)),
        )
    }

    /// The mapping here lacks the key `name`; `example` is its value in
    /// the hint.
    pub fn missing(&self, name: &str, example: &str) -> Diagnostic {
        self.error(ErrorKind::Missing, format!("missing the key `{name}`"))
            .hint(format!("for example `{name}: {example}`"))
    }
}

/// What kind of problem a diagnostic is: what tests and tools match on,
/// whatever the words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// The text is not YAML.
    Syntax,
    /// A key the mapping does not have.
    UnknownKey,
    /// A key that must be there is not, or has no value; a condition that
    /// tests nothing.
    Missing,
    /// A value of another type than the key takes: a string for a list, a
    /// number for a string.
    WrongType,
    /// A value that is not one of those the key takes.
    NotOneOf,
    /// A list or mapping with nothing in it, where that would match
    /// nothing.
    Empty,
    /// A name (an action, a parameter) the service model does not have.
    UnknownName,
    /// The same id, name or key twice.
    Duplicate,
    /// Keys that contradict each other, or say one thing twice.
    Conflict,
    /// A test that does not apply to the parameter's type.
    NotApplicable,
    /// A test of a secret's value, or a value that may be a secret.
    Secret,
    /// A value of the right type that is not valid: a regex, an account
    /// id, a region, a duration.
    InvalidValue,
    /// The file or what it names cannot be trusted or read (permissions).
    Unsafe,
}

impl ErrorKind {
    /// The kind as tools name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::UnknownKey => "unknown-key",
            ErrorKind::Missing => "missing",
            ErrorKind::WrongType => "wrong-type",
            ErrorKind::NotOneOf => "not-one-of",
            ErrorKind::Empty => "empty",
            ErrorKind::UnknownName => "unknown-name",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotApplicable => "not-applicable",
            ErrorKind::Secret => "secret",
            ErrorKind::InvalidValue => "invalid-value",
            ErrorKind::Unsafe => "unsafe",
        }
    }
}

/// One problem in a file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Diagnostic {
    pub kind: ErrorKind,
    pub place: Place,
    pub message: String,
    pub hint: Option<String>,
    /// Where in the file, when it can be found.
    pub position: Option<Position>,
}

impl Diagnostic {
    pub fn hint(self, hint: impl Into<String>) -> Diagnostic {
        self.maybe_hint(Some(hint.into()))
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// Placed here rather than where its path is (a YAML syntax error).
    pub fn at(mut self, position: Option<Position>) -> Diagnostic {
        self.position = position;
        self
    }
}

/// What is wrong with a value, before it is placed: a reader places it
/// at the value's key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Problem {
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem {
            message,
            hint: None,
        }
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Problem {
        Problem::from(message.to_owned())
    }
}

/// Proof that an error was recorded: what a reader returns instead of a
/// value it could not read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reported(());

/// A value read from a file: `Ok(None)` when the key is absent (or has
/// an empty value), `Err` when it is wrong (and reported).
pub type Read<T> = Result<Option<T>, Reported>;

/// Every problem found in one file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Diagnostics {
    pub file: String,
    /// What the file is, for the first line: `policy`, `callers file`,
    /// `config`.
    pub kind: &'static str,
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: &str, kind: &'static str) -> Diagnostics {
        Diagnostics {
            file: file.to_owned(),
            kind,
            errors: Vec::new(),
        }
    }

    pub fn report(&mut self, error: Diagnostic) -> Reported {
        self.errors.push(error);
        Reported(())
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was reported; else every error, each
    /// placed at its key (or the nearest enclosing node that has a
    /// position), sorted by position. Errors without one come last, and
    /// errors at one position stay in the order they were found.
    pub fn finish<T>(
        mut self,
        result: Result<T, Reported>,
        positions: &Positions<'_>,
    ) -> Result<T, Diagnostics> {
        match result {
            Ok(value) if self.errors.is_empty() => return Ok(value),
            // Fails closed either way: a `Reported` is only made by
            // recording an error.
            _ => {}
        }
        for error in self.errors.iter_mut().filter(|e| e.position.is_none()) {
            let path: Vec<&str> = error.place.path.iter().map(String::as_str).collect();
            error.position = (0..=path.len())
                .rev()
                .find_map(|len| positions.find(&path[..len]));
        }
        self.errors
            .sort_by_key(|e| e.position.map_or((1, 0, 0), |p| (0, p.line, p.column)));
        Err(self)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{}: {count} error{} in {}",
            self.file,
            if count == 1 { "" } else { "s" },
            self.kind
        )?;
        for e in &self.errors {
            write!(f, "\n  {}", self.file)?;
            if let Some(at) = e.position {
                write!(f, ":{}:{}", at.line, at.column)?;
            }
            if let Some(subject) = &e.place.subject {
                write!(f, ": {subject}")?;
            }
            if let Some(key) = &e.place.key {
                write!(f, ": `{key}`")?;
            }
            write!(f, ": {}", e.message)?;
            if let Some(hint) = &e.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A YAML syntax error, at its position. `detail` says whether the
/// parser's own words may be shown: they can quote the file (a key), so
/// not for a file of secrets.
pub fn syntax_error(error: &serde_yaml::Error, detail: bool) -> Diagnostic {
    let at = error.location().map(|at| Position {
        line: at.line(),
        column: at.column(),
    });
    let place = Place::root();
    let diagnostic = if detail {
        place.error(
            ErrorKind::Syntax,
            format!("not valid YAML: {}", without_locations(&error.to_string())),
        )
    } else {
        place
            .error(ErrorKind::Syntax, "not valid YAML")
            .hint("the parser's message is not shown: it could quote a secret")
    };
    diagnostic.at(at)
}

/// A file serde could not read into its type (a syntax error, or a shape
/// it does not take), as the one error of the file.
pub fn unreadable(file: &str, kind: &'static str, error: &serde_yaml::Error) -> Diagnostics {
    let at = error.location().map(|at| Position {
        line: at.line(),
        column: at.column(),
    });
    let mut out = Diagnostics::new(file, kind);
    out.report(
        Place::root()
            .error(ErrorKind::Syntax, without_locations(&error.to_string()))
            .at(at),
    );
    out
}

/// The parser's message without its ` at line L column C` parts: the
/// position is shown before it.
fn without_locations(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let line_len = digits(after);
        match after[line_len..].strip_prefix(" column ") {
            Some(column) if line_len > 0 && digits(column) > 0 => {
                rest = &column[digits(column)..];
            }
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How a value found in a file is named in messages: `Allow`, `1`,
/// `true`, a list, a mapping, an empty value.
pub fn found(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        Value::Number(n) => format!("`{n}`"),
        other => kind(other),
    }
}

/// What a value is, without its text when that is a string or a number:
/// for a file of secrets.
pub fn kind(value: &Value) -> String {
    match value {
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Null => "an empty value".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(tagged) => format!("a value tagged `{}`", tagged.tag),
    }
}

/// Reports each key of `map` (at `place`) that is not one of `known`, with
/// a "did you mean" or else `otherwise`.
pub fn unknown_keys(
    map: &Mapping,
    place: &Place,
    known: &[&str],
    otherwise: &str,
    out: &mut Diagnostics,
) {
    for key in map.keys() {
        let name = match key.as_str() {
            Some(name) if known.contains(&name) => continue,
            Some(name) => name.to_owned(),
            None => found(key).trim_matches('`').to_owned(),
        };
        let hint = did_you_mean(&name, known.iter().copied())
            .map_or_else(|| otherwise.to_owned(), |s| format!("did you mean `{s}`?"));
        out.report(
            place
                .child(&name)
                .error(
                    ErrorKind::UnknownKey,
                    format!("unknown key {}", quoted(&name)),
                )
                .hint(hint),
        );
    }
}

/// A mapping read key by key; each reader reports what is wrong with its
/// key's value.
pub struct Fields<'v> {
    map: &'v Mapping,
    place: Place,
}

impl<'v> Fields<'v> {
    /// `value` as a mapping of the keys `known`. A value that is not a
    /// mapping is reported, and so is every key not in `known`. `what`
    /// names it in messages: "the config", "`upstream`".
    pub fn of(
        value: &'v Value,
        place: Place,
        known: &[&str],
        what: &str,
        out: &mut Diagnostics,
    ) -> Result<Fields<'v>, Reported> {
        let Value::Mapping(map) = value else {
            return Err(out.report(place.error(
                ErrorKind::WrongType,
                format!("{what} must be a mapping of keys, not {}", found(value)),
            )));
        };
        let otherwise = match known {
            [only] => format!("the only key of {what} is `{only}`"),
            _ => format!("the keys of {what} are {}", known.join(", ")),
        };
        unknown_keys(map, &place, known, &otherwise, out);
        Ok(Fields { map, place })
    }

    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Where the key `key` is.
    pub fn at(&self, key: &str) -> Place {
        self.place.child(key)
    }

    /// The value of `key`; an empty value (`key:` alone) counts as absent.
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The value of `key`, an empty value included: where an empty key
    /// must not mean "left out" (an empty `callers:` in a rule would
    /// otherwise match every caller).
    pub fn raw(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    fn wrong(&self, key: &str, expected: &str, value: &Value, out: &mut Diagnostics) -> Reported {
        let hint = match value {
            Value::Number(_) | Value::Bool(_) if expected.contains("string") => {
                Some("quote the value".to_owned())
            }
            _ => None,
        };
        out.report(
            self.at(key)
                .error(
                    ErrorKind::WrongType,
                    format!("`{key}` must be {expected}, not {}", found(value)),
                )
                .maybe_hint(hint),
        )
    }

    pub fn string(&self, key: &str, out: &mut Diagnostics) -> Read<&'v str> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong(key, "a string", other, out)),
        }
    }

    /// A string turned into a value by `parse`, whose problem is placed at
    /// the key.
    pub fn parse<T>(
        &self,
        key: &str,
        out: &mut Diagnostics,
        parse: impl FnOnce(&'v str) -> Result<T, Problem>,
    ) -> Read<T> {
        match self.string(key, out)? {
            None => Ok(None),
            Some(text) => parse(text).map(Some).map_err(|problem| {
                out.report(
                    self.at(key)
                        .error(ErrorKind::InvalidValue, problem.message)
                        .maybe_hint(problem.hint),
                )
            }),
        }
    }

    pub fn list(&self, key: &str, out: &mut Diagnostics) -> Read<&'v [Value]> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Sequence(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "a list", other, out)),
        }
    }

    /// A whole number, zero or more.
    pub fn count(&self, key: &str, out: &mut Diagnostics) -> Read<u64> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(self.wrong(key, "a whole number", other, out)),
        }
    }

    pub fn flag(&self, key: &str, out: &mut Diagnostics) -> Read<bool> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "`true` or `false`", other, out)),
        }
    }

    /// One of `accepted`, exactly (case included).
    pub fn one_of(
        &self,
        key: &str,
        accepted: &[&'static str],
        otherwise: Option<&str>,
        out: &mut Diagnostics,
    ) -> Read<&'static str> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match accepted.iter().find(|a| value.as_str() == Some(**a)) {
            Some(choice) => Ok(Some(*choice)),
            None => Err(out.report(self.at(key).not_one_of(key, value, accepted, otherwise))),
        }
    }

    /// The mapping under `key`, of the keys `known`.
    pub fn section(&self, key: &str, known: &[&str], out: &mut Diagnostics) -> Read<Fields<'v>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                Fields::of(value, self.at(key), known, &format!("`{key}`"), out).map(Some)
            }
        }
    }

    /// `read` (of `key`) must have found a value; a missing one is reported
    /// with `example` as its value in the hint.
    pub fn required<T>(
        &self,
        key: &str,
        read: Read<T>,
        example: &str,
        out: &mut Diagnostics,
    ) -> Result<T, Reported> {
        match read? {
            Some(value) => Ok(value),
            None if self.map.contains_key(key) => Err(out.report(
                self.at(key)
                    .error(ErrorKind::Missing, format!("`{key}` has no value"))
                    .hint(format!("for example `{key}: {example}`")),
            )),
            None => Err(out.report(self.place.missing(key, example))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
top: 1
mode: Shadow
nested:
  colour: red
  size: big
list: [a, 7]
";

    fn read(text: &str) -> Diagnostics {
        let mut out = Diagnostics::new("f.yaml", "test file");
        let value: Value = serde_yaml::from_str(text).unwrap();
        let result = (|| {
            let top = Fields::of(
                &value,
                Place::root(),
                &["mode", "nested", "list", "need"],
                "the file",
                &mut out,
            )?;
            let mode = top.one_of("mode", &["enforce", "shadow"], None, &mut out);
            let nested = top.section("nested", &["size", "color"], &mut out)?;
            let size = nested.map(|n| n.count("size", &mut out));
            let need = top.string("need", &mut out);
            let need = top.required("need", need, "\"x\"", &mut out);
            mode?;
            size.transpose()?;
            need.map(|_| ())
        })();
        out.finish(result, &Positions::of(text)).unwrap_err()
    }

    #[test]
    fn collects_every_error_sorted_by_position_with_keys_and_hints() {
        let errors = read(TEXT);
        let shown: Vec<String> = errors.to_string().lines().map(str::to_owned).collect();
        assert_eq!(
            shown,
            [
                "f.yaml: 5 errors in test file",
                "  f.yaml:1:1: `top`: unknown key `top` (hint: the keys of the file are mode, nested, list, need)",
                "  f.yaml:1:1: missing the key `need` (hint: for example `need: \"x\"`)",
                "  f.yaml:2:1: `mode`: `mode` must be `enforce` or `shadow`, not `Shadow` (hint: did you mean `shadow`?)",
                "  f.yaml:4:3: `nested.colour`: unknown key `colour` (hint: did you mean `color`?)",
                "  f.yaml:5:3: `nested.size`: `size` must be a whole number, not `big`",
            ]
        );
        // Found last, shown second: at the top of the file.
        assert_eq!(errors.errors[1].message, "missing the key `need`");
        assert_eq!(errors.errors[1].place.path, Vec::<String>::new());
        assert_eq!(errors.errors[4].place.path, ["nested", "size"]);
    }

    #[test]
    fn positions_fall_back_to_the_nearest_node_and_errors_without_one_go_last() {
        let text = "a:\n  b: 1\n";
        let mut out = Diagnostics::new("f.yaml", "config");
        let root = Place::root();
        out.report(root.error(ErrorKind::InvalidValue, "no position").at(None));
        let deep = root.child("a").child("gone").item(3);
        out.report(deep.error(ErrorKind::InvalidValue, "under a"));
        out.report(
            root.child("a")
                .child("b")
                .error(ErrorKind::InvalidValue, "at b"),
        );
        // Placed by hand, as a syntax error is.
        out.report(
            root.error(ErrorKind::InvalidValue, "given")
                .at(Some(Position { line: 9, column: 2 })),
        );
        let positions = Positions::of("");
        let unplaced = out
            .clone()
            .finish::<()>(Err(Reported(())), &positions)
            .unwrap_err();
        assert_eq!(
            unplaced
                .errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["given", "no position", "under a", "at b"]
        );
        let placed = out
            .finish::<()>(Err(Reported(())), &Positions::of(text))
            .unwrap_err();
        let order: Vec<(&str, Option<(usize, usize)>)> = placed
            .errors
            .iter()
            .map(|e| (e.message.as_str(), e.position.map(|p| (p.line, p.column))))
            .collect();
        assert_eq!(
            order,
            [
                ("no position", Some((1, 1))),
                ("under a", Some((1, 1))),
                ("at b", Some((2, 3))),
                ("given", Some((9, 2))),
            ]
        );
        assert!(placed
            .to_string()
            .contains("\n  f.yaml:1:1: `a.gone`: under a"));
    }

    #[test]
    fn no_error_is_ok_and_one_error_is_singular() {
        let out = Diagnostics::new("f.yaml", "config");
        assert_eq!(out.finish(Ok(5), &Positions::default()), Ok(5));
        let mut out = Diagnostics::new("f.yaml", "config");
        out.report(Place::root().error(ErrorKind::InvalidValue, "bad"));
        let shown = out
            .finish(Ok(5), &Positions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(shown, "f.yaml: 1 error in config\n  f.yaml: bad");
    }

    #[test]
    fn values_are_named_as_found() {
        let value = |text: &str| serde_yaml::from_str::<Value>(text).unwrap();
        assert_eq!(found(&value("Allow")), "`Allow`");
        assert_eq!(found(&value("012")), "`012`");
        assert_eq!(found(&value("12")), "`12`");
        assert_eq!(found(&value("[a]")), "a list");
        assert_eq!(found(&value("{a: 1}")), "a mapping");
        assert_eq!(found(&value("~")), "an empty value");
        assert_eq!(found(&value("!x 1")), "a value tagged `!x`");
        assert_eq!(quoted("a\nb"), "`a\\nb`");
        assert_eq!(quoted(&"x".repeat(101)), format!("`{}…`", "x".repeat(100)));
        assert_eq!(alternatives(&["a", "b", "c"]), "`a`, `b` or `c`");
        let d = Place::root().child("effect").not_one_of(
            "effect",
            &value("Deny"),
            &["allow", "deny"],
            Some("other"),
        );
        assert_eq!(d.message, "`effect` must be `allow` or `deny`, not `Deny`");
        assert_eq!(d.hint.as_deref(), Some("did you mean `deny`?"));
        let d = Place::root().not_one_of("effect", &value("1"), &["allow", "deny"], Some("other"));
        assert_eq!(
            (d.message.as_str(), d.hint.as_deref()),
            ("`effect` must be `allow` or `deny`, not `1`", Some("other"))
        );
    }

    #[test]
    fn syntax_errors_are_placed_and_lose_the_parsers_own_locations() {
        let error = serde_yaml::from_str::<Value>("a: [\n  b\n").unwrap_err();
        let shown = syntax_error(&error, true);
        assert!(shown.position.is_some());
        assert!(
            shown.message.starts_with("not valid YAML: "),
            "{}",
            shown.message
        );
        assert!(!shown.message.contains(" at line "), "{}", shown.message);
        let secret = serde_yaml::from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert_eq!(syntax_error(&secret, false).message, "not valid YAML");
        assert_eq!(
            without_locations("x at line 3 column 4, while y at line 1 column 2"),
            "x, while y"
        );
        assert_eq!(
            without_locations("at line x at line 3"),
            "at line x at line 3"
        );
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Shape {
            a: u8,
        }
        let error = serde_yaml::from_str::<Shape>("a: 1\nb: 2\n").unwrap_err();
        assert_eq!(
            unreadable("t.yaml", "test file", &error).to_string(),
            "t.yaml: 1 error in test file\n  t.yaml:2:1: unknown field `b`, expected `a`"
        );
    }
}
