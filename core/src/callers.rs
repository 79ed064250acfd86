//! The callers file: who may call the proxy, with which SigV4 keys and which
//! client-certificate identities. Validated strictly; secrets are held in a
//! type that never prints them. No I/O here.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_yaml::Value;

use crate::caller_tags::CallerTags;
use crate::diagnostics::{
    found, kind, syntax_error, Diagnostics, ErrorKind, Fields, Place, Problem, Reported,
};
use crate::sigv4::DailyKeys;
use crate::text::quoted;
use crate::yaml_positions::Positions;

const CALLER_KEYS: [&str; 6] = [
    "name",
    "access_key_id",
    "secret_access_key",
    "tls_identities",
    "certificate_only",
    "tags",
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
    /// What rules can say of the caller (`${caller.tags.team}`).
    pub tags: CallerTags,
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

    /// Each caller's name and tags.
    pub fn tags(&self) -> Vec<(&str, &CallerTags)> {
        self.callers
            .iter()
            .map(|c| (c.name.as_str(), &c.tags))
            .collect()
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
                    .all(|identity| appears_as_value(text, identity))
                // A tag taken away may be what revokes the caller's access.
                && crate::caller_tags::all_appear(
                    &caller.tags,
                    |key| appears_as_key(text, key),
                    |value| appears_as_value(text, value),
                );
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

/// Whether `key` occurs in `text` as a mapping key (`key:`, or quoted).
fn appears_as_key(text: &str, key: &str) -> bool {
    const BEFORE: &[char] = &[' ', '\t', '\r', '\n', '"', '\'', '{', ','];
    !key.is_empty()
        && text.match_indices(key).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + key.len()..].trim_start_matches(['"', '\'', ' ']);
            before.is_none_or(|c| BEFORE.contains(&c)) && after.starts_with(':')
        })
}

/// `name` as a caller's name, or what is wrong with it.
pub(crate) fn caller_name(name: &str) -> Result<String, Problem> {
    if is_valid_caller_name(name) {
        Ok(name.to_owned())
    } else {
        Err(Problem::from(format!("{} is not a caller name", quoted(name)))
            .hint("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64"))
    }
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

/// Validates the callers file. Every error names the caller and the key;
/// values of secret fields (and values that could be misplaced secrets)
/// are never quoted.
pub fn compile(file: &str, text: &str) -> Result<Callers, Diagnostics> {
    let mut out = Diagnostics::new(file, "callers file");
    let callers = compile_value(text, &mut out);
    out.finish(callers, &Positions::of(text))
}

/// Reports `value` (at `place`) unless it is a mapping, naming only its
/// kind: a stray scalar could be a secret.
fn mapping(
    value: &Value,
    place: &Place,
    what: &str,
    out: &mut Diagnostics,
) -> Result<(), Reported> {
    if value.is_mapping() {
        return Ok(());
    }
    Err(out.report(place.error(
        ErrorKind::WrongType,
        format!("{what} must be a mapping, not {}", kind(value)),
    )))
}

fn compile_value(text: &str, out: &mut Diagnostics) -> Result<Callers, Reported> {
    // A YAML syntax error can quote the offending line, which may hold a
    // secret: report only where it is.
    let top: Value = serde_yaml::from_str(text).map_err(|e| out.report(syntax_error(&e, false)))?;
    mapping(&top, &Place::root(), "the callers file", out)?;
    let top = Fields::of(&top, Place::root(), &["callers"], "the callers file", out)?;
    let entries = top.list("callers", out);
    let entries = top.required(
        "callers",
        entries,
        "[{name: ci-deployer, access_key_id: …, secret_access_key: …}]",
        out,
    )?;
    let mut callers = Callers::default();
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    // Every error is in `out`, which fails the file: entries go on being
    // checked after one fails.
    for (index, entry) in entries.iter().enumerate() {
        let name = entry.get("name").and_then(Value::as_str);
        let place = Place::named_entry("callers", index, name, "caller");
        // Uniqueness is checked on the raw values, so it is reported even for
        // an entry with other problems.
        let raw = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(name) = raw("name") {
            if !names.insert(name.clone()) {
                out.report(
                    place
                        .child("name")
                        .error(
                            ErrorKind::Duplicate,
                            format!("duplicate caller name {}", quoted(&name)),
                        )
                        .hint("each caller has one entry"),
                );
            }
        }
        if let Some(key) = raw("access_key_id") {
            if !keys.insert(key.clone()) {
                let shown = if is_access_key_id(&key) {
                    format!("access key id {}", quoted(&key))
                } else {
                    "the access key id".to_owned()
                };
                out.report(place.child("access_key_id").error(
                    ErrorKind::Duplicate,
                    format!("{shown} is used by another caller"),
                ));
            }
        }
        let Ok(caller) = compile_caller(entry, &place, out) else {
            continue;
        };
        let identities = caller.tls_identities.clone();
        for identity in callers.push(caller) {
            let at = place.child("tls_identities");
            let at = match identities.iter().position(|i| *i == identity) {
                Some(item) => at.item(item),
                None => at,
            };
            out.report(at.error(
                ErrorKind::Duplicate,
                format!(
                    "tls identity {} is used by another caller",
                    quoted(&identity)
                ),
            ));
        }
    }
    Ok(callers)
}

fn is_access_key_id(key: &str) -> bool {
    (16..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn compile_caller(entry: &Value, place: &Place, out: &mut Diagnostics) -> Result<Caller, Reported> {
    mapping(entry, place, "a caller", out)?;
    let fields = Fields::of(entry, place.clone(), &CALLER_KEYS, "a caller", out)?;
    let name = fields.parse("name", out, caller_name);
    let name = fields.required("name", name, "ci-deployer", out);
    // Not quoted when wrong: a secret pasted in the wrong key would show.
    let access_key_id = fields.parse("access_key_id", out, |key| {
        if is_access_key_id(key) {
            Ok(key.to_owned())
        } else {
            Err(Problem::from(format!(
                "`access_key_id` must be 16 to 128 letters and digits; this one has {} characters{}",
                key.chars().count(),
                if key.chars().all(|c| c.is_ascii_alphanumeric()) {
                    ""
                } else {
                    ", not all of them letters or digits"
                }
            )))
        }
    });
    let secret_access_key = match fields.get("secret_access_key") {
        None => Ok(None),
        Some(Value::String(secret))
            if secret.chars().count() >= MIN_SECRET_CHARS
                && !secret.chars().any(char::is_whitespace) =>
        {
            Ok(Some(Secret::new(secret.clone())))
        }
        // Never echo the value: it is a secret.
        Some(_) => Err(out.report(
            fields.at("secret_access_key").error(ErrorKind::InvalidValue, format!(
                "`secret_access_key` must be a string of at least {MIN_SECRET_CHARS} characters without spaces"
            ))
            .hint("the value is not shown: it is a secret; `openssl rand -base64 30` makes one"),
        )),
    };
    let tls_identities = fields.list("tls_identities", out).and_then(|items| {
        let Some(items) = items else {
            return Ok(Vec::new());
        };
        let at = fields.at("tls_identities");
        if items.is_empty() {
            return Err(out.report(at.error(ErrorKind::Empty, "`tls_identities` is empty").hint(
                "leave it out, or list SAN URIs or DNS names of the caller's client certificates",
            )));
        }
        let mut identities = Vec::with_capacity(items.len());
        let mut failed = None;
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    identities.push(s.to_owned());
                }
                _ => {
                    failed = Some(out.report(at.item(i).error(
                        ErrorKind::InvalidValue,
                        format!(
                            "{} in `tls_identities` is not a SAN URI or DNS name",
                            found(item)
                        ),
                    )));
                }
            }
        }
        failed.map_or(Ok(identities), Err)
    });
    let certificate_only = fields
        .flag("certificate_only", out)
        .map(|b| b.unwrap_or(false));
    let has = |key: &str| fields.get(key).is_some();
    match (
        has("access_key_id"),
        has("secret_access_key"),
        certificate_only,
    ) {
        (true, true, _) | (false, false, Ok(true) | Err(_)) => {}
        (false, false, Ok(false)) => {
            out.report(
                place
                    .error(ErrorKind::Missing, "needs `access_key_id` and `secret_access_key`")
                    .hint("or `certificate_only: true` with `tls_identities`, for a caller its client certificate identifies"),
            );
        }
        (true, false, _) => {
            out.report(place.missing("secret_access_key", "\"…\""));
        }
        (false, true, _) => {
            out.report(place.missing("access_key_id", "AKIAEXAMPLECI0000001"));
        }
    }
    if certificate_only == Ok(true) && tls_identities.as_ref().is_ok_and(Vec::is_empty) {
        out.report(
            fields
                .at("certificate_only")
                .error(
                    ErrorKind::Missing,
                    "`certificate_only: true` needs `tls_identities`",
                )
                .hint("list the SAN URIs or DNS names of the caller's client certificates"),
        );
    }
    let tags = match fields.get("tags") {
        None => Ok(CallerTags::default()),
        Some(value) => crate::caller_tags::compile(value, &fields.at("tags"), out),
    };
    let caller = Caller {
        name: name?,
        access_key_id: access_key_id?,
        secret_access_key: secret_access_key?,
        tls_identities: tls_identities?,
        certificate_only: certificate_only?,
        tags: tags?,
    };
    Ok(caller)
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

    const TAGGED: &str = r#"
callers:
  - name: payments-app
    access_key_id: AKIAEXAMPLEPAY000001
    secret_access_key: "pay-secret-0123456789abcdef"
    tags: {team: payments, env: prod}
  - name: orders-app
    access_key_id: AKIAEXAMPLEORD000001
    secret_access_key: "ord-secret-0123456789abcdef"
    tags:
      team: orders
"#;

    #[test]
    fn callers_carry_tags_and_a_broken_file_keeps_none_it_changed() {
        let callers = compile("callers.yaml", TAGGED).unwrap();
        let tags = callers.tags();
        assert_eq!(tags[0].1.get("team"), Some("payments"));
        assert_eq!(tags[0].1.get("env"), Some("prod"));
        assert_eq!(tags[1].1.get("team"), Some("orders"));
        let error = compile("c.yaml", &TAGGED.replace("env: prod", "env: 7")).unwrap_err();
        assert!(
            error.to_string().contains(
                "caller `payments-app`: `tags.env`: the value of tag `env` must be a string"
            ),
            "{error}"
        );
        // A broken file that moves orders-app to another team, or takes a
        // tag key away from payments-app, keeps neither with its old tags.
        let broken = format!(
            "{}
  - name: [",
            TAGGED
                .replace("team: orders", "team: payments")
                .replace("env: prod", "stage: prod")
        );
        let (kept, revoked) = callers.still_listed_in(&broken);
        assert!(kept.is_empty(), "{:?}", kept.names().collect::<Vec<_>>());
        assert_eq!(revoked, ["payments-app", "orders-app"]);
        let (kept, _) = callers.still_listed_in(&format!(
            "{TAGGED}
  - name: ["
        ));
        assert_eq!(kept.len(), 2);
        assert!(appears_as_key("tags: {team: x}", "team"));
        assert!(appears_as_key("  \"team\": x", "team"));
        assert!(!appears_as_key("tags: {steam: x}", "team"));
        assert!(!appears_as_key("name: team", "team"));
    }

    #[test]
    fn a_tls_identity_belongs_to_one_caller() {
        let err = compile(
            "callers.yaml",
            "callers:\n  - {name: a, tls_identities: [x.example], certificate_only: true}\n  - {name: b, tls_identities: [y.example, x.example], certificate_only: true}\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "callers.yaml: 1 error in callers file\n  callers.yaml:3:43: caller `b`: `tls_identities`: tls identity `x.example` is used by another caller"
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
        // Every error, in line order, each at its key.
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "callers.yaml: 8 errors in callers file",
                "  callers.yaml:5:5: caller `a`: `secret_access_key`: `secret_access_key` must be a string of at least 16 characters without spaces (hint: the value is not shown: it is a secret; `openssl rand -base64 30` makes one)",
                "  callers.yaml:6:5: caller `a`: `name`: duplicate caller name `a` (hint: each caller has one entry)",
                "  callers.yaml:7:5: caller `a`: `access_key_id`: access key id `AKIAEXAMPLE000000001` is used by another caller",
                "  callers.yaml:9:5: caller `d`: missing the key `secret_access_key` (hint: for example `secret_access_key: \"…\"`)",
                "  callers.yaml:11:5: caller `d`: `secret_acess_key`: unknown key `secret_acess_key` (hint: did you mean `secret_access_key`?)",
                "  callers.yaml:12:5: caller `bad name`: `name`: `bad name` is not a caller name (hint: use letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64)",
                "  callers.yaml:12:5: caller `bad name`: missing the key `access_key_id` (hint: for example `access_key_id: AKIAEXAMPLECI0000001`)",
                "  callers.yaml:15:5: caller `c`: `certificate_only`: `certificate_only: true` needs `tls_identities` (hint: list the SAN URIs or DNS names of the caller's client certificates)",
            ]
        );
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
        assert!(syntax.errors[0].position.is_some(), "{syntax}");
    }

    #[test]
    fn values_that_could_be_secrets_are_never_quoted() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for text in [
            format!("{secret}\n"),
            format!("callers: [\"{secret}\"]\n"),
            // Pasted in the wrong key, twice.
            format!("callers:\n  - {{name: a, access_key_id: \"{secret}\", secret_access_key: x}}\n  - {{name: b, access_key_id: \"{secret}\", secret_access_key: x}}\n"),
            format!("callers:\n  - {{name: a, secret_access_key: [\"{secret}\"], access_key_id: AKIAEXAMPLE000000001}}\n"),
        ] {
            let shown = compile("c.yaml", &text).unwrap_err().to_string();
            assert!(!shown.contains(secret) && !shown.contains("EXAMPLEKEY"), "{shown}");
        }
        let shown = compile(
            "c.yaml",
            &format!("callers:\n  - {{name: a, access_key_id: \"{secret}\", secret_access_key: {secret}}}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            shown.contains("`access_key_id` must be 16 to 128 letters and digits; this one has 40 characters, not all of them letters or digits"),
            "{shown}"
        );
    }

    #[test]
    fn the_file_as_a_whole() {
        let first = |text: &str| {
            let e = compile("c.yaml", text).unwrap_err();
            (e.errors[0].message.clone(), e.errors[0].hint.clone())
        };
        assert_eq!(first("{}").0, "missing the key `callers`");
        assert_eq!(
            first("callers: {a: 1}").0,
            "`callers` must be a list, not a mapping"
        );
        assert_eq!(
            first("[1]").0,
            "the callers file must be a mapping, not a list"
        );
        assert_eq!(
            first("callers: []\ncaller: x\n"),
            (
                "unknown key `caller`".to_owned(),
                Some("did you mean `callers`?".to_owned())
            )
        );
        assert_eq!(
            first("callers:\n  - {name: a, tls_identities: [\"a b\"], certificate_only: yes}\n").0,
            "`a b` in `tls_identities` is not a SAN URI or DNS name"
        );
        assert_eq!(
            first("callers:\n  - {name: a, tls_identities: [x], certificate_only: yes}\n").0,
            "`certificate_only` must be `true` or `false`, not `yes`"
        );
        assert!(compile("c.yaml", "callers: []\n").unwrap().is_empty());
    }
}
