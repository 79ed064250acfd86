//! The callers file: who may call the proxy, with which SigV4 keys and which
//! client-certificate identities. Validated strictly; secrets are held in a
//! type that never prints them. No I/O here.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_yaml::Value;

use crate::model::did_you_mean;
use crate::sigv4::DailyKeys;

const CALLER_KEYS: [&str; 5] = [
    "name",
    "access_key_id",
    "secret_access_key",
    "tls_identities",
    "certificate_only",
];
const MIN_SECRET_CHARS: usize = 16;

/// A secret access key. Debug and Display never show it. It keeps the
/// SigV4 signing keys derived from it lately: a key is the same for a whole
/// day and region, and deriving one is four HMACs per request otherwise.
pub struct Secret {
    value: String,
    /// Keyed by (region, service) within a day.
    derived: DailyKeys<(String, String), ring::hmac::Key>,
}

/// Regions a caller signs for on one day, kept at most.
const DERIVED_KEYS_KEPT: usize = 8;

impl Secret {
    fn new(value: String) -> Secret {
        Secret {
            value,
            derived: DailyKeys::new(DERIVED_KEYS_KEPT),
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The SigV4 signing key for a day (`YYYYMMDD`), region and service:
    /// the one `sigv4::signing_key` derives, from memory when it was
    /// derived before. A signature's date is checked against the clock
    /// before its key is asked for, so only today's dates reach this.
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> ring::hmac::Key {
        self.derived.get_or_derive(
            date,
            |(r, s)| r == region && s == service,
            || {
                let key = crate::sigv4::signing_key(&self.value, date, region, service);
                ((region.to_owned(), service.to_owned()), key)
            },
        )
    }
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret::new(self.value.clone())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.value == other.value
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    /// `None` for a caller known only by its client certificate.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// SAN URIs or DNS names of the caller's client certificates.
    pub tls_identities: Vec<String>,
    /// A verified client certificate alone identifies this caller; its SigV4
    /// signature, if any, is not checked.
    pub certificate_only: bool,
}

/// The compiled callers file.
#[derive(Clone, Debug, Default)]
pub struct Callers {
    callers: Vec<Caller>,
    by_access_key: HashMap<String, usize>,
    by_tls_identity: HashMap<String, usize>,
}

impl Callers {
    pub fn by_access_key_id(&self, access_key_id: &str) -> Option<&Caller> {
        self.by_access_key
            .get(access_key_id)
            .map(|&i| &self.callers[i])
    }

    pub fn by_tls_identity(&self, identity: &str) -> Option<&Caller> {
        self.by_tls_identity
            .get(identity)
            .map(|&i| &self.callers[i])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.callers.iter().map(|c| c.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.callers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }

    /// For a callers file that changed but cannot be installed (it does not
    /// validate, cannot be read, or may not be trusted): the callers in
    /// force that `text` still lists with every value that identifies them
    /// (name, access key id, secret and TLS identities, each as a whole
    /// value), and the names of the others. A failed reload keeps only the
    /// first: whoever was removed from the file is revoked even so, and a
    /// file that cannot be read at all revokes everyone. The text can only
    /// take callers away, never add one or change a key.
    pub fn still_listed_in(&self, text: &str) -> (Callers, Vec<String>) {
        let mut kept = Callers::default();
        let mut revoked = Vec::new();
        for caller in &self.callers {
            let listed = appears_as_value(text, &caller.name)
                && caller
                    .access_key_id
                    .as_deref()
                    .is_none_or(|key| appears_as_value(text, key))
                && caller
                    .secret_access_key
                    .as_ref()
                    .is_none_or(|secret| appears_as_value(text, secret.expose()))
                && caller
                    .tls_identities
                    .iter()
                    .all(|identity| appears_as_value(text, identity));
            if listed {
                // Identities were unique in the callers in force.
                kept.push(caller.clone());
            } else {
                revoked.push(caller.name.clone());
            }
        }
        (kept, revoked)
    }

    /// Adds a caller; returns the TLS identities another caller already had
    /// (none when the callers come from a validated file).
    fn push(&mut self, caller: Caller) -> Vec<String> {
        let position = self.callers.len();
        if let Some(key) = &caller.access_key_id {
            self.by_access_key.insert(key.clone(), position);
        }
        let mut taken = Vec::new();
        for identity in &caller.tls_identities {
            if self
                .by_tls_identity
                .insert(identity.clone(), position)
                .is_some()
            {
                taken.push(identity.clone());
            }
        }
        self.callers.push(caller);
        taken
    }

    /// Every secret, so tests and log scrubbing can look for them.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.callers
            .iter()
            .filter_map(|c| c.secret_access_key.as_ref())
    }
}

/// Problems in a callers file, each naming the caller and the field. Values
/// of secret fields are never quoted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallerErrors {
    pub file: String,
    pub errors: Vec<String>,
}

impl fmt::Display for CallerErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{}: {count} error{} in callers file",
            self.file,
            if count == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {}: {e}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for CallerErrors {}

/// Whether `value` occurs in `text` as a whole YAML scalar: not as part of
/// a longer word. Quoting or escaping that changes the value's spelling
/// hides it, which only ever revokes.
fn appears_as_value(text: &str, value: &str) -> bool {
    const EDGES: &[char] = &[' ', '\t', '\r', '\n', '"', '\'', '[', ']', '{', '}', ','];
    !value.is_empty()
        && text.match_indices(value).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + value.len()..].chars().next();
            before.is_none_or(|c| EDGES.contains(&c)) && after.is_none_or(|c| EDGES.contains(&c))
        })
}

pub fn is_valid_caller_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn compile(file: &str, text: &str) -> Result<Callers, CallerErrors> {
    let mut errors = Vec::new();
    let callers = compile_value(text, &mut errors);
    match callers {
        Some(callers) if errors.is_empty() => Ok(callers),
        _ => Err(CallerErrors {
            file: file.to_owned(),
            errors,
        }),
    }
}

fn compile_value(text: &str, errors: &mut Vec<String>) -> Option<Callers> {
    // A YAML syntax error can quote the offending line, which may hold a
    // secret: report only where it is.
    let top: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            errors.push(format!("not valid YAML{at}"));
            return None;
        }
    };
    let Value::Mapping(top) = top else {
        errors.push("the file must be a mapping with the key `callers`".into());
        return None;
    };
    for key in top.keys() {
        if key.as_str() != Some("callers") {
            errors.push(format!(
                "unknown key `{}` (hint: the only top-level key is `callers`)",
                key.as_str().unwrap_or("?")
            ));
        }
    }
    let Some(Value::Sequence(entries)) = top.get("callers") else {
        errors.push("`callers` must be a list of callers".into());
        return None;
    };
    let mut callers = Callers::default();
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        // Uniqueness is checked on the raw values, so it is reported even for
        // an entry with other problems.
        let raw = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(name) = raw("name") {
            if !names.insert(name.clone()) {
                errors.push(format!("caller `{name}`: duplicate name"));
            }
        }
        if let Some(key) = raw("access_key_id") {
            if !keys.insert(key.clone()) {
                errors.push(format!(
                    "caller #{}: access key id `{key}` is used by another caller",
                    index + 1
                ));
            }
        }
        let Some(caller) = compile_caller(index, entry, errors) else {
            continue;
        };
        let name = caller.name.clone();
        for identity in callers.push(caller) {
            errors.push(format!(
                "caller `{name}`: tls identity `{identity}` is used by another caller"
            ));
        }
    }
    Some(callers)
}

fn compile_caller(index: usize, entry: &Value, errors: &mut Vec<String>) -> Option<Caller> {
    let Value::Mapping(map) = entry else {
        errors.push(format!(
            "caller #{}: must be a mapping (`- name: …`)",
            index + 1
        ));
        return None;
    };
    let label = match map.get("name").and_then(Value::as_str) {
        Some(name) => format!("caller `{name}`"),
        None => format!("caller #{}", index + 1),
    };
    let mut ok = true;
    let mut fail = |message: String| {
        errors.push(format!("{label}: {message}"));
        ok = false;
    };
    for key in map.keys() {
        let shown = key.as_str().unwrap_or("?");
        if !CALLER_KEYS.contains(&shown) {
            let hint = did_you_mean(shown, CALLER_KEYS).map_or_else(
                || format!("caller keys are {}", CALLER_KEYS.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            fail(format!("unknown key `{shown}` (hint: {hint})"));
        }
    }
    let name = match map.get("name") {
        Some(Value::String(name)) if is_valid_caller_name(name) => name.clone(),
        Some(_) => {
            fail("`name` must use letters, digits, `.`, `_` and `-` (at most 64)".into());
            String::new()
        }
        None => {
            fail("missing the key `name`".into());
            String::new()
        }
    };
    let access_key_id = match map.get("access_key_id") {
        None => None,
        Some(Value::String(key))
            if (16..=128).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Some(key.clone())
        }
        Some(_) => {
            fail("`access_key_id` must be 16 to 128 letters and digits".into());
            None
        }
    };
    let secret_access_key = match map.get("secret_access_key") {
        None => None,
        Some(Value::String(secret))
            if secret.chars().count() >= MIN_SECRET_CHARS
                && !secret.chars().any(char::is_whitespace) =>
        {
            Some(Secret::new(secret.clone()))
        }
        // Never echo the value: it is a secret.
        Some(_) => {
            fail(format!(
                "`secret_access_key` must be a string of at least {MIN_SECRET_CHARS} characters without spaces"
            ));
            None
        }
    };
    let tls_identities = match map.get("tls_identities") {
        None => Vec::new(),
        Some(Value::Sequence(items)) if !items.is_empty() => items
            .iter()
            .filter_map(|item| match item.as_str() {
                Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Some(s.to_owned())
                }
                _ => {
                    fail("`tls_identities` entries must be SAN URIs or DNS names".into());
                    None
                }
            })
            .collect(),
        Some(_) => {
            fail("`tls_identities` must be a non-empty list".into());
            Vec::new()
        }
    };
    let certificate_only = match map.get("certificate_only") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            fail("`certificate_only` must be true or false".into());
            false
        }
    };
    match (map.contains_key("access_key_id"), map.contains_key("secret_access_key")) {
        (true, true) => {}
        (false, false) if certificate_only => {}
        (false, false) => fail("needs `access_key_id` and `secret_access_key` (or `certificate_only: true` with `tls_identities`)".into()),
        _ => fail("`access_key_id` and `secret_access_key` go together".into()),
    }
    if certificate_only && tls_identities.is_empty() {
        fail("`certificate_only: true` needs `tls_identities`".into());
    }
    ok.then_some(Caller {
        name,
        access_key_id,
        secret_access_key,
        tls_identities,
        certificate_only,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Shared with the authentication tests.
    pub(crate) const FILE: &str = r#"
callers:
  - name: ci-deployer
    access_key_id: AKIAEXAMPLECI0000001
    secret_access_key: "ci-secret-0123456789abcdef"
  - name: app-payments
    access_key_id: AKIAEXAMPLEAPP000001
    secret_access_key: "app-secret-0123456789abcdef"
    tls_identities: ["spiffe://example.org/app-payments"]
  - name: batch
    tls_identities: ["batch.internal.example"]
    certificate_only: true
"#;

    #[test]
    fn compiles_and_looks_up() {
        let callers = compile("callers.yaml", FILE).unwrap();
        assert_eq!(callers.len(), 3);
        assert_eq!(
            callers
                .by_access_key_id("AKIAEXAMPLECI0000001")
                .unwrap()
                .name,
            "ci-deployer"
        );
        assert!(callers.by_access_key_id("AKIAUNKNOWN000000001").is_none());
        assert_eq!(
            callers
                .by_tls_identity("spiffe://example.org/app-payments")
                .unwrap()
                .name,
            "app-payments"
        );
        assert!(
            callers
                .by_tls_identity("batch.internal.example")
                .unwrap()
                .certificate_only
        );
        assert!(!format!("{callers:?}").contains("ci-secret"));
    }

    #[test]
    fn remembered_signing_keys_are_the_derived_ones() {
        let secret = Secret::new("ci-secret-0123456789abcdef".into());
        let tag =
            |key: &ring::hmac::Key| ring::hmac::sign(key, b"string to sign").as_ref().to_vec();
        for _ in 0..2 {
            for (date, region) in [
                ("20261125", "us-east-1"),
                ("20261125", "eu-west-1"),
                ("20261126", "us-east-1"),
            ] {
                let derived =
                    crate::sigv4::signing_key(secret.expose(), date, region, "elasticache");
                assert_eq!(
                    tag(&secret.signing_key(date, region, "elasticache")),
                    tag(&derived)
                );
            }
        }
        let other = Secret::new("app-secret-0123456789abcdef".into());
        assert_ne!(
            tag(&other.signing_key("20261126", "us-east-1", "elasticache")),
            tag(&secret.signing_key("20261126", "us-east-1", "elasticache"))
        );
        // Bounded, whatever dates and regions requests claim.
        for i in 0..50 {
            secret.signing_key("20261126", &format!("region-{i}"), "elasticache");
        }
        assert_eq!(secret.derived.len(), DERIVED_KEYS_KEPT);
        secret.signing_key("20261127", "us-east-1", "elasticache");
        assert_eq!(secret.derived.len(), 1);
        assert_eq!(format!("{secret:?}"), "<redacted>");
    }

    #[test]
    fn a_file_that_cannot_be_installed_still_revokes_whom_it_no_longer_lists() {
        let callers = compile("callers.yaml", FILE).unwrap();
        // ci-deployer removed, app-payments' secret rotated, batch kept; and
        // a syntax error, so the file cannot be installed.
        let broken = r#"
callers:
  - name: app-payments
    access_key_id: AKIAEXAMPLEAPP000001
    secret_access_key: "app-secret-0123456789abcdeX"
    tls_identities: ["spiffe://example.org/app-payments"]
  - name: batch
    tls_identities: ["batch.internal.example"]
    certificate_only: true
  - name: [
"#;
        assert!(compile("callers.yaml", broken).is_err());
        let (kept, revoked) = callers.still_listed_in(broken);
        assert_eq!(kept.names().collect::<Vec<_>>(), ["batch"]);
        assert_eq!(revoked, ["ci-deployer", "app-payments"]);
        assert!(kept.by_access_key_id("AKIAEXAMPLECI0000001").is_none());
        assert_eq!(
            kept.by_tls_identity("batch.internal.example").unwrap().name,
            "batch"
        );
        // Values count only whole: `deployer` is not listed by `ci-deployer`.
        assert!(appears_as_value("name: ci-deployer\n", "ci-deployer"));
        assert!(appears_as_value("{name: 'a', k: [x,y]}", "a"));
        assert!(appears_as_value("[x,y]", "y"));
        assert!(!appears_as_value("name: ci-deployer\n", "deployer"));
        assert!(!appears_as_value(
            "key: AKIAEXAMPLECI00000012",
            "AKIAEXAMPLECI0000001"
        ));
        assert!(!appears_as_value("", "a"));
        let (kept, revoked) = callers.still_listed_in("");
        assert!(kept.is_empty());
        assert_eq!(revoked.len(), 3);
        let (kept, _) = callers.still_listed_in(FILE);
        assert_eq!(kept.len(), 3);
    }

    #[test]
    fn a_tls_identity_belongs_to_one_caller() {
        let err = compile(
            "callers.yaml",
            "callers:\n  - {name: a, tls_identities: [x.example], certificate_only: true}\n  - {name: b, tls_identities: [y.example, x.example], certificate_only: true}\n",
        )
        .unwrap_err();
        assert_eq!(
            err.errors,
            ["caller `b`: tls identity `x.example` is used by another caller"]
        );
    }

    #[test]
    fn rejects_bad_entries_without_echoing_secrets() {
        let err = compile(
            "callers.yaml",
            r#"
callers:
  - name: a
    access_key_id: AKIAEXAMPLE000000001
    secret_access_key: "short-secret"
  - name: a
    access_key_id: AKIAEXAMPLE000000001
    secret_access_key: "another-long-secret-value"
  - name: d
    access_key_id: AKIAEXAMPLE000000004
    secret_acess_key: "dddddddddddddddddddd"
  - name: "bad name"
    secret_access_key: "lonely-secret-value-123"
  - name: c
    certificate_only: true
"#,
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "caller `a`: `secret_access_key` must be a string of at least 16",
            "caller `a`: duplicate name",
            "access key id `AKIAEXAMPLE000000001` is used by another caller",
            "unknown key `secret_acess_key` (hint: did you mean `secret_access_key`?)",
            "caller `bad name`: `name` must use",
            "`access_key_id` and `secret_access_key` go together",
            "caller `c`: `certificate_only: true` needs `tls_identities`",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(
            !text.contains("short-secret") && !text.contains("lonely-secret"),
            "{text}"
        );
        let syntax = compile(
            "c.yaml",
            "callers:\n  - name: a\n    secret_access_key: \"unterminated-secret-value\n",
        )
        .unwrap_err();
        assert!(
            !syntax.to_string().contains("unterminated-secret"),
            "{syntax}"
        );
    }
}
