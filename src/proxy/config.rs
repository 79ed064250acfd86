//! The proxy's configuration file: YAML read key by key into typed
//! settings, every error reported at once (unknown keys with a "did you
//! mean", wrong types, bad values, missing keys with an example). Relative
//! paths are resolved from the config file's folder. No I/O here but path
//! arithmetic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use crate::auth::TrustedCaller;
use crate::caller_tags::{self, CallerTags};
use crate::callers::is_valid_caller_name;
use crate::decision::DenialDetail;
use crate::diagnostics::{
    syntax_error, Diagnostics, ErrorKind, Fields, Place, Problem, Read, Reported,
};
use crate::model::{AccountId, Region};
use crate::policy::Mode;
use crate::proxy::tls::TlsSettings;
use crate::text::quoted;
use crate::yaml_positions::Positions;

/// The keys of the config, and of each of its sections.
#[rustfmt::skip]
const KEYS: [&str; 21] = [
    "listen", "policy", "callers", "trusted_caller", "trusted_caller_tags", "tls", "admin_listen",
    "mode", "audit_log", "audit_failure", "watch_interval", "watch_settle",
    "region", "denial_detail", "shutdown_grace", "workers",
    "assume_role", "upstream", "limits", "account_id", "resource_tags",
];
const RESOURCE_TAGS_KEYS: [&str; 3] = ["cache_ttl", "max_cached", "max_per_request"];
const TLS_KEYS: [&str; 3] = ["cert", "key", "client_ca"];
#[rustfmt::skip]
const ASSUME_ROLE_KEYS: [&str; 5] =
    ["role_arn", "external_id", "duration", "sts_region", "sts_endpoint"];
const UPSTREAM_KEYS: [&str; 3] = ["endpoint", "timeout", "max_response_bytes"];
#[rustfmt::skip]
const LIMITS_KEYS: [&str; 6] = [
    "max_body_bytes", "header_read_timeout", "body_read_timeout", "idle_timeout",
    "max_connections", "max_concurrent_requests",
];

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub policy_path: PathBuf,
    pub callers: CallerSource,
    pub tls: Option<TlsSettings>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`, `/reload`).
    pub admin_listen: Option<SocketAddr>,
    /// `shadow`: policy denials are logged and counted, not enforced.
    pub mode: Mode,
    pub audit: AuditConfig,
    /// How often the policy and callers files are checked for changes;
    /// `None` turns the watcher off.
    pub watch_interval: Option<Duration>,
    /// How long a changed file's content must stay the same before the
    /// watcher installs it, so that a file being written is never installed
    /// half-written. Zero: at once.
    pub watch_settle: Duration,
    /// The region of requests that name none (unsigned requests of
    /// `certificate_only` callers) when their Host does not name one either.
    pub region: Option<Region>,
    /// How much a denied caller is told.
    pub denial_detail: DenialDetail,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Threads serving requests, each a single-threaded runtime; `None`:
    /// one per CPU the process may use.
    pub workers: Option<usize>,
    /// Sign each caller's forwarded requests with a role session of its own.
    pub assume_role: Option<AssumeRole>,
    pub upstream: UpstreamConfig,
    pub limits: Limits,
    /// The account the proxy's identity is in, which the ARNs of the
    /// resources a request names need; `None`: learned from STS at start.
    pub account_id: Option<AccountId>,
    pub resource_tags: ResourceTagsConfig,
}

/// `resource_tags`: how the tags of the resources requests name are looked
/// up, for rules with `resource_tags`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTagsConfig {
    /// How long a resource's tags are reused: a retag made elsewhere is
    /// seen at most this late.
    pub cache_ttl: Duration,
    /// The most resources whose tags are kept.
    pub max_cached: usize,
    /// The most resources one request may name whose tags are looked up.
    pub max_per_request: usize,
}

/// `assume_role`: the proxy's identity assumes this role, one session per
/// caller, named after the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    /// The session length STS is asked for (15 minutes to 12 hours).
    pub duration: Duration,
    /// The STS region; by default the region of the environment or profile.
    pub sts_region: Option<String>,
    /// Another STS endpoint (a VPC endpoint, or a local one in tests).
    pub sts_endpoint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    pub target: AuditTarget,
    /// Reject requests whose audit line cannot be written (fail closed).
    pub reject_on_failure: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditTarget {
    Stdout,
    File(PathBuf),
}

/// Where caller identities come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerSource {
    /// A callers file: every request is authenticated against it.
    File(PathBuf),
    /// `callers: none`: every request is this caller, unauthenticated. Only
    /// for a sidecar listening on loopback.
    Trusted(TrustedCaller),
}

#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub endpoint: EndpointTemplate,
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Past this many requests in flight, new ones get `Throttling`.
    pub max_concurrent_requests: usize,
}

/// `http[s]://host[:port]`, where the host may hold `{region}`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EndpointTemplate {
    pub https: bool,
    /// `host[:port]` with `{region}` still in it.
    authority: String,
}

impl EndpointTemplate {
    pub fn parse(text: &str) -> Result<EndpointTemplate, String> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "upstream endpoint `{text}` must start with `https://` or `http://`"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let sample = authority.replace("{region}", "us-east-1");
        let valid = !sample.is_empty()
            && sample.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            })
            && sample.parse::<http::uri::Authority>().is_ok();
        if !valid {
            return Err(format!(
                "upstream endpoint `{text}` must be a scheme and a host (with an optional port and `{{region}}`), no path or query"
            ));
        }
        Ok(EndpointTemplate {
            https,
            authority: authority.to_owned(),
        })
    }

    /// The authority (`host[:port]`) for a region. Regions are validated
    /// names, so the result is always a well-formed host.
    pub fn authority_for(&self, region: &Region) -> String {
        self.authority.replace("{region}", region.as_str())
    }

    pub fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`
fn is_role_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
    if partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        }))
}

/// Parses `500ms`, `10s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `500ms`, `10s` or `2m`"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => {
            return Err(format!(
                "`{text}` is not a duration such as `500ms`, `10s` or `2m`"
            ))
        }
    };
    if duration.is_zero() {
        return Err(format!("duration `{text}` must be more than zero"));
    }
    Ok(duration)
}

/// Parses and validates a config file's text; `base_dir` is its folder.
/// Every error is reported, each at its key, in line order.
pub fn parse(file: &str, text: &str, base_dir: &Path) -> Result<Config, Diagnostics> {
    let mut out = Diagnostics::new(file, "config");
    let config = read_config(text, base_dir, &mut out);
    out.finish(config, &Positions::of(text))
}

/// Every key is read, whatever failed before it, so that each error is
/// reported; the config is built only when all of them were read.
fn read_config(text: &str, base_dir: &Path, out: &mut Diagnostics) -> Result<Config, Reported> {
    let top: Value = serde_yaml::from_str(text).map_err(|e| out.report(syntax_error(&e, true)))?;
    let top = Fields::of(&top, Place::root(), &KEYS, "the config", out)?;
    let listen = top.parse("listen", out, |text| address(text, "127.0.0.1:8080"));
    let listen = top.required("listen", listen, "\"127.0.0.1:8080\"", out);
    let policy_path = top.parse("policy", out, |text| file_path(base_dir, text, "policy"));
    let policy_path = top.required("policy", policy_path, "\"../policies/default.yaml\"", out);
    let callers = caller_source(&top, listen.as_ref().ok(), base_dir, out);
    let tls = tls(&top, base_dir, out);
    let admin_listen = top
        .parse("admin_listen", out, |text| address(text, "127.0.0.1:9090"))
        .and_then(|admin| match (admin, &listen) {
            (Some(admin), Ok(listen)) if admin == *listen => Err(out.report(
                top.at("admin_listen")
                    .error(
                        ErrorKind::Conflict,
                        format!("`admin_listen` must differ from `listen`, not `{admin}` too"),
                    )
                    .hint("the admin endpoints are not for callers: give them a port of their own"),
            )),
            (admin, _) => Ok(admin),
        });
    let mode = top
        .one_of(
            "mode",
            &["enforce", "shadow"],
            Some("`shadow` logs and counts denials, and forwards them anyway"),
            out,
        )
        .map(|mode| mode.and_then(Mode::parse).unwrap_or(Mode::Enforce));
    let audit_target = top.parse("audit_log", out, |text| match text {
        "-" => Ok(AuditTarget::Stdout),
        "" => Err("`audit_log` must be `-` (stdout) or a file path, not an empty string".into()),
        path => Ok(AuditTarget::File(base_dir.join(path))),
    });
    let reject_on_failure = top.one_of(
        "audit_failure",
        &["reject", "continue"],
        Some("`reject` (fail closed) answers 503 when an audit line cannot be written"),
        out,
    );
    let watch_interval = duration_or_off(&top, "watch_interval", out);
    let watch_settle = duration_or_off(&top, "watch_settle", out);
    let region = top.parse("region", out, region_name);
    let denial_detail = top
        .one_of(
            "denial_detail",
            &["caller", "full"],
            Some("`caller` tells a denied caller what concerns it, `full` every near miss"),
            out,
        )
        .map(|detail| match detail {
            Some("full") => DenialDetail::Full,
            _ => DenialDetail::Caller,
        });
    let shutdown_grace = duration(&top, "shutdown_grace", out);
    let workers = positive(&top, "workers", out);
    let assume_role = assume_role(&top, out);
    let upstream = upstream(&top, out);
    let limits = limits(&top, out);
    let account_id = top.parse("account_id", out, |text| {
        AccountId::parse(text).ok_or_else(|| {
            Problem::from(format!("{} is not an AWS account id", quoted(text)))
                .hint("twelve digits, quoted: `account_id: \"123456789012\"`")
        })
    });
    let resource_tags = resource_tags(&top, out);
    Ok(Config {
        listen: listen?,
        policy_path: policy_path?,
        callers: callers?,
        tls: tls?,
        admin_listen: admin_listen?,
        mode: mode?,
        audit: AuditConfig {
            target: audit_target?.unwrap_or(AuditTarget::Stdout),
            reject_on_failure: reject_on_failure? != Some("continue"),
        },
        watch_interval: watch_interval?.unwrap_or(Some(Duration::from_secs(2))),
        watch_settle: watch_settle?.map_or(Duration::from_secs(1), |d| d.unwrap_or_default()),
        region: region?,
        denial_detail: denial_detail?,
        shutdown_grace: shutdown_grace?.unwrap_or(Duration::from_secs(30)),
        workers: workers?,
        assume_role: assume_role?,
        upstream: upstream?,
        limits: limits?,
        account_id: account_id?,
        resource_tags: resource_tags?,
    })
}

/// The longest `cache_ttl`: a retag made around the proxy must reach its
/// decisions within minutes.
const MAX_CACHE_TTL: Duration = Duration::from_secs(300);

fn resource_tags(top: &Fields<'_>, out: &mut Diagnostics) -> Result<ResourceTagsConfig, Reported> {
    let section = top.section("resource_tags", &RESOURCE_TAGS_KEYS, out)?;
    let defaults = ResourceTagsConfig {
        cache_ttl: Duration::from_secs(10),
        max_cached: 10_000,
        max_per_request: 20,
    };
    let Some(section) = section else {
        return Ok(defaults);
    };
    let cache_ttl = duration_or_off(&section, "cache_ttl", out).and_then(|ttl| match ttl {
        Some(Some(ttl)) if ttl > MAX_CACHE_TTL => Err(out.report(
            section
                .at("cache_ttl")
                .error(
                    ErrorKind::InvalidValue,
                    format!(
                        "`cache_ttl` is at most {}s, not {}s",
                        MAX_CACHE_TTL.as_secs(),
                        ttl.as_secs()
                    ),
                )
                .hint("a retag is seen by each replica only when its entry expires: keep it short"),
        )),
        Some(Some(ttl)) => Ok(ttl),
        // `off`: every request looks its resources up.
        Some(None) => Ok(Duration::ZERO),
        None => Ok(defaults.cache_ttl),
    });
    let max_cached = positive(&section, "max_cached", out);
    let max_per_request = positive(&section, "max_per_request", out);
    Ok(ResourceTagsConfig {
        cache_ttl: cache_ttl?,
        max_cached: max_cached?.unwrap_or(defaults.max_cached),
        max_per_request: max_per_request?.unwrap_or(defaults.max_per_request),
    })
}

fn address(text: &str, example: &str) -> Result<SocketAddr, Problem> {
    text.parse().map_err(|_| {
        Problem::from(format!(
            "{} is not an address such as `{example}`",
            quoted(text)
        ))
        .hint("an IP address and a port: host names are not looked up")
    })
}

/// The path `text` of the key `key`, from the config's folder.
fn file_path(base_dir: &Path, text: &str, key: &str) -> Result<PathBuf, Problem> {
    if text.is_empty() {
        return Err(format!("`{key}` must be a file path, not an empty string").into());
    }
    Ok(base_dir.join(text))
}

fn region_name(text: &str) -> Result<Region, Problem> {
    Region::parse(text).ok_or_else(|| {
        format!(
            "{} is not an AWS region name such as `us-east-1`",
            quoted(text)
        )
        .into()
    })
}

/// `callers` and `trusted_caller`, which go together.
fn caller_source(
    top: &Fields<'_>,
    listen: Option<&SocketAddr>,
    base_dir: &Path,
    out: &mut Diagnostics,
) -> Result<CallerSource, Reported> {
    let callers = top.string("callers", out);
    let trusted = top.string("trusted_caller", out);
    match (callers?, trusted?) {
        (None, _) => Err(out.report(
            top.place()
                .error(ErrorKind::Missing, "missing the key `callers`")
                .hint("name a callers file (`callers: \"callers.yaml\"`), or write `callers: none` with `trusted_caller: NAME` for a sidecar on loopback"),
        )),
        (Some("none"), None) => Err(out.report(
            top.at("callers")
                .error(ErrorKind::Missing, "`callers: none` needs `trusted_caller`")
                .hint("for example `trusted_caller: local-app`: every request counts as that caller"),
        )),
        (Some("none"), Some(name)) if !is_valid_caller_name(name) => Err(out.report(
            top.at("trusted_caller")
                .error(ErrorKind::InvalidValue, format!("{} is not a caller name", quoted(name)))
                .hint("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64"),
        )),
        (Some("none"), Some(_)) if listen.is_some_and(|l| !l.ip().is_loopback()) => {
            let listen = listen.map(ToString::to_string).unwrap_or_default();
            Err(out.report(
                top.at("callers")
                    .error(ErrorKind::Unsafe, format!(
                        "`callers: none` trusts every caller, so it is allowed only on a loopback listen address, not `{listen}`"
                    ))
                    .hint("listen on 127.0.0.1 or ::1, or name a callers file"),
            ))
        }
        (Some("none"), Some(name)) => {
            let tags = match top.get("trusted_caller_tags") {
                None => CallerTags::default(),
                Some(value) => caller_tags::compile(value, &top.at("trusted_caller_tags"), out)?,
            };
            Ok(CallerSource::Trusted(TrustedCaller {
                name: name.to_owned(),
                tags,
            }))
        }
        (Some(_), _) if top.get("trusted_caller_tags").is_some() => Err(out.report(
            top.at("trusted_caller_tags")
                .error(ErrorKind::Conflict, "`trusted_caller_tags` goes only with `callers: none` and `trusted_caller`")
                .hint("with a callers file, give each caller its `tags:` there"),
        )),
        (Some(_), Some(_)) => Err(out.report(
            top.at("trusted_caller")
                .error(ErrorKind::Conflict, "`trusted_caller` goes only with `callers: none`")
                .hint("with a callers file, every caller is authenticated: remove `trusted_caller`"),
        )),
        (Some(path), None) => file_path(base_dir, path, "callers")
            .map(CallerSource::File)
            .map_err(|e| out.report(top.at("callers").error(ErrorKind::InvalidValue, e.message))),
    }
}

fn tls(top: &Fields<'_>, base_dir: &Path, out: &mut Diagnostics) -> Read<TlsSettings> {
    let Some(tls) = top.section("tls", &TLS_KEYS, out)? else {
        return Ok(None);
    };
    let cert = tls.parse("cert", out, |text| file_path(base_dir, text, "cert"));
    let cert = tls.required("cert", cert, "\"tls/server.pem\"", out);
    let key = tls.parse("key", out, |text| file_path(base_dir, text, "key"));
    let key = tls.required("key", key, "\"tls/server-key.pem\"", out);
    let client_ca = tls.parse("client_ca", out, |text| {
        file_path(base_dir, text, "client_ca")
    });
    Ok(Some(TlsSettings {
        cert: cert?,
        key: key?,
        client_ca: client_ca?,
    }))
}

fn assume_role(top: &Fields<'_>, out: &mut Diagnostics) -> Read<AssumeRole> {
    let Some(role) = top.section("assume_role", &ASSUME_ROLE_KEYS, out)? else {
        return Ok(None);
    };
    let role_arn = role.parse("role_arn", out, |text| {
        if is_role_arn(text) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "{} is not a role ARN such as `arn:aws:iam::123456789012:role/elasticache-proxy`",
                quoted(text)
            )
            .into())
        }
    });
    let role_arn = role.required(
        "role_arn",
        role_arn,
        "\"arn:aws:iam::123456789012:role/elasticache-proxy\"",
        out,
    );
    let external_id = role.parse("external_id", out, |id| {
        let chars = id.chars().count();
        if !(2..=1224).contains(&chars) {
            Err(format!("`external_id` must be 2 to 1224 characters, not {chars}").into())
        } else if id.chars().any(char::is_control) {
            Err("`external_id` must be printable: it holds a control character".into())
        } else {
            Ok(id.to_owned())
        }
    });
    let session = duration(&role, "duration", out).and_then(|d| match d {
        None => Ok(Duration::from_secs(3600)),
        Some(d) if (900..=43_200).contains(&d.as_secs()) => Ok(d),
        Some(d) => Err(out.report(
            role.at("duration")
                .error(
                    ErrorKind::InvalidValue,
                    format!(
                        "`duration` must be between `15m` and `720m` (12 hours), not {}s",
                        d.as_secs_f64()
                    ),
                )
                .hint("STS sessions last 15 minutes to 12 hours"),
        )),
    });
    let sts_region = role.parse("sts_region", out, |text| {
        region_name(text).map(|_| text.to_owned())
    });
    let sts_endpoint = role.parse("sts_endpoint", out, |text| {
        if text.starts_with("https://") || text.starts_with("http://") {
            Ok(text.to_owned())
        } else {
            Err(format!("{} must start with `https://` or `http://`", quoted(text)).into())
        }
    });
    Ok(Some(AssumeRole {
        role_arn: role_arn?,
        external_id: external_id?,
        duration: session?,
        sts_region: sts_region?,
        sts_endpoint: sts_endpoint?,
    }))
}

fn upstream(top: &Fields<'_>, out: &mut Diagnostics) -> Result<UpstreamConfig, Reported> {
    let section = top.section("upstream", &UPSTREAM_KEYS, out);
    let upstream = top.required(
        "upstream",
        section,
        "{endpoint: \"https://elasticache.{region}.amazonaws.com\"}",
        out,
    )?;
    let endpoint = upstream.parse("endpoint", out, |text| {
        EndpointTemplate::parse(text).map_err(Problem::from)
    });
    let endpoint = upstream.required(
        "endpoint",
        endpoint,
        "\"https://elasticache.{region}.amazonaws.com\"",
        out,
    );
    let timeout = duration(&upstream, "timeout", out);
    let max_response_bytes = positive(&upstream, "max_response_bytes", out);
    Ok(UpstreamConfig {
        endpoint: endpoint?,
        timeout: timeout?.unwrap_or(Duration::from_secs(10)),
        max_response_bytes: max_response_bytes?.unwrap_or(16 << 20),
    })
}

fn limits(top: &Fields<'_>, out: &mut Diagnostics) -> Result<Limits, Reported> {
    let section = top.section("limits", &LIMITS_KEYS, out)?;
    let count = |key: &str, default: usize, out: &mut Diagnostics| match &section {
        Some(limits) => positive(limits, key, out).map(|n| n.unwrap_or(default)),
        None => Ok(default),
    };
    let max_body_bytes = count("max_body_bytes", 64 << 10, out);
    let max_connections = count("max_connections", 1024, out);
    let max_concurrent_requests = count("max_concurrent_requests", 256, out);
    let timeout = |key: &str, default: u64, out: &mut Diagnostics| match &section {
        Some(limits) => {
            duration(limits, key, out).map(|d| d.unwrap_or(Duration::from_secs(default)))
        }
        None => Ok(Duration::from_secs(default)),
    };
    let header_read_timeout = timeout("header_read_timeout", 10, out);
    let body_read_timeout = timeout("body_read_timeout", 10, out);
    let idle_timeout = timeout("idle_timeout", 60, out);
    Ok(Limits {
        max_body_bytes: max_body_bytes?,
        header_read_timeout: header_read_timeout?,
        body_read_timeout: body_read_timeout?,
        idle_timeout: idle_timeout?,
        max_connections: max_connections?,
        max_concurrent_requests: max_concurrent_requests?,
    })
}

/// A duration (`10s`); a bare number is reported with the unit it lacks.
fn duration(fields: &Fields<'_>, key: &str, out: &mut Diagnostics) -> Read<Duration> {
    if let Some(Value::Number(n)) = fields.get(key) {
        return Err(out.report(
            fields
                .at(key)
                .error(
                    ErrorKind::InvalidValue,
                    format!("`{n}` is not a duration such as `500ms`, `10s` or `2m`"),
                )
                .hint(format!("give it a unit, such as `{n}s`")),
        ));
    }
    fields.parse(key, out, |text| parse_duration(text).map_err(Problem::from))
}

/// A duration, or `off` (`Some(None)`): how the watcher is turned off.
fn duration_or_off(
    fields: &Fields<'_>,
    key: &str,
    out: &mut Diagnostics,
) -> Read<Option<Duration>> {
    match fields.get(key).and_then(Value::as_str).map(str::trim) {
        Some("0s" | "0ms" | "0m" | "off") => Ok(Some(None)),
        _ => duration(fields, key, out).map(|d| d.map(Some)),
    }
}

/// A whole number more than zero.
fn positive(fields: &Fields<'_>, key: &str, out: &mut Diagnostics) -> Read<usize> {
    let Some(n) = fields.count(key, out)? else {
        return Ok(None);
    };
    match usize::try_from(n) {
        Ok(0) => Err(out.report(fields.at(key).error(
            ErrorKind::InvalidValue,
            format!("`{key}` must be more than zero, not `0`"),
        ))),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(out.report(fields.at(key).error(
            ErrorKind::InvalidValue,
            format!("`{key}` is too large: `{n}`"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
listen: "127.0.0.1:8080"
policy: "../policies/default.yaml"
callers: "callers.yaml"
upstream:
  endpoint: "https://elasticache.{region}.amazonaws.com"
  timeout: "10s"
limits:
  max_body_bytes: 65536
"#;

    #[test]
    fn parses_the_documented_config() {
        let config = parse("proxy.yaml", SAMPLE, Path::new("/etc/proxy")).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.policy_path,
            Path::new("/etc/proxy/../policies/default.yaml")
        );
        assert_eq!(config.upstream.timeout, Duration::from_secs(10));
        assert_eq!(config.limits.max_body_bytes, 65536);
        assert_eq!(
            config.callers,
            CallerSource::File("/etc/proxy/callers.yaml".into())
        );
        assert!(config.tls.is_none());
        assert_eq!(config.admin_listen, None);
        assert_eq!(config.workers, None);
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(
            config.audit,
            AuditConfig {
                target: AuditTarget::Stdout,
                reject_on_failure: true
            }
        );
        assert_eq!(config.watch_interval, Some(Duration::from_secs(2)));
        assert_eq!(config.shutdown_grace, Duration::from_secs(30));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.max_concurrent_requests, 256);
        let region = Region::parse("eu-west-1").unwrap();
        let endpoint = &config.upstream.endpoint;
        assert_eq!(
            format!(
                "{}://{}/",
                endpoint.scheme(),
                endpoint.authority_for(&region)
            ),
            "https://elasticache.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let unknown = parse(
            "p.yaml",
            &format!("{SAMPLE}\nadmin_listn: x"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(
            unknown.contains("p.yaml:11:1: `admin_listn`: unknown key `admin_listn` (hint: did you mean `admin_listen`?)"),
            "{unknown}"
        );
        let nested = parse(
            "p.yaml",
            &SAMPLE.replace("timeout:", "timeuot:"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(
            nested.contains(
                "`upstream.timeuot`: unknown key `timeuot` (hint: did you mean `timeout`?)"
            ),
            "{nested}"
        );
        for (from, to, needle) in [
            ("127.0.0.1:8080", "localhost", "`listen`"),
            ("10s", "ten", "`upstream.timeout`"),
            ("65536", "0", "`limits.max_body_bytes`"),
            (
                "https://elasticache.{region}.amazonaws.com",
                "ftp://x",
                "`upstream.endpoint`",
            ),
            (
                "https://elasticache.{region}.amazonaws.com",
                "https://x/path",
                "`upstream.endpoint`",
            ),
            (
                "https://elasticache.{region}.amazonaws.com",
                "https://x?q=1",
                "`upstream.endpoint`",
            ),
            (
                "https://elasticache.{region}.amazonaws.com",
                "https://user@x",
                "`upstream.endpoint`",
            ),
        ] {
            let err = parse("p.yaml", &SAMPLE.replace(from, to), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn every_error_is_collected_at_its_key_in_line_order() {
        let text = "\
listen: 8080
policy: \"../policies/default.yaml\"
callers: none
mode: Shadow
watch_interval: 5
tls: {cert: a.pem, keys: b.pem}
workers: two
limits:
  idle_timeout: soon
  max_conections: 10
";
        let err = parse("proxy.yaml", text, Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string().lines().collect::<Vec<_>>(),
            [
                "proxy.yaml: 10 errors in config",
                "  proxy.yaml:1:1: `listen`: `listen` must be a string, not `8080` (hint: quote the value)",
                "  proxy.yaml:1:1: missing the key `upstream` (hint: for example `upstream: {endpoint: \"https://elasticache.{region}.amazonaws.com\"}`)",
                "  proxy.yaml:3:1: `callers`: `callers: none` needs `trusted_caller` (hint: for example `trusted_caller: local-app`: every request counts as that caller)",
                "  proxy.yaml:4:1: `mode`: `mode` must be `enforce` or `shadow`, not `Shadow` (hint: did you mean `shadow`?)",
                "  proxy.yaml:5:1: `watch_interval`: `5` is not a duration such as `500ms`, `10s` or `2m` (hint: give it a unit, such as `5s`)",
                "  proxy.yaml:6:1: `tls`: missing the key `key` (hint: for example `key: \"tls/server-key.pem\"`)",
                "  proxy.yaml:6:20: `tls.keys`: unknown key `keys` (hint: did you mean `key`?)",
                "  proxy.yaml:7:1: `workers`: `workers` must be a whole number, not `two`",
                "  proxy.yaml:9:3: `limits.idle_timeout`: `soon` is not a duration such as `500ms`, `10s` or `2m`",
                "  proxy.yaml:10:3: `limits.max_conections`: unknown key `max_conections` (hint: did you mean `max_connections`?)",
            ]
        );
    }

    #[test]
    fn missing_and_empty_keys_get_an_example() {
        let err = |text: &str| {
            parse("proxy.yaml", text, Path::new("/"))
                .unwrap_err()
                .to_string()
        };
        let shown = err("listen:\npolicy: p.yaml\ncallers: c.yaml\nupstream: {}\n");
        assert!(
            shown.contains("proxy.yaml:1:1: `listen`: `listen` has no value (hint: for example `listen: \"127.0.0.1:8080\"`)"),
            "{shown}"
        );
        assert!(
            shown.contains("`upstream`: missing the key `endpoint` (hint: for example `endpoint: \"https://elasticache.{region}.amazonaws.com\"`)"),
            "{shown}"
        );
        let shown = err("");
        assert_eq!(
            shown,
            "proxy.yaml: 1 error in config\n  proxy.yaml: the config must be a mapping of keys, not an empty value"
        );
        let shown = err("listen: [\n");
        assert!(
            shown.contains("proxy.yaml:2:1: not valid YAML: "),
            "{shown}"
        );
        let shown = err(&format!(
            "{SAMPLE}assume_role: {{duration: 5m, external_id: x}}\n"
        ));
        for needle in [
            "`assume_role`: missing the key `role_arn`",
            "`assume_role.duration`: `duration` must be between `15m` and `720m` (12 hours), not 300s",
            "`assume_role.external_id`: `external_id` must be 2 to 1224 characters, not 1",
        ] {
            assert!(shown.contains(needle), "{needle}: {shown}");
        }
    }

    #[test]
    fn caller_sources_and_tls() {
        let with =
            |from: &str, to: &str| parse("p.yaml", &SAMPLE.replace(from, to), Path::new("/d"));
        let missing = with("callers: \"callers.yaml\"\n", "")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("p.yaml:2:1: missing the key `callers` (hint: name a callers file"),
            "{missing}"
        );
        let trusted = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: sidecar-app",
        )
        .unwrap();
        assert_eq!(
            trusted.callers,
            CallerSource::Trusted(TrustedCaller::named("sidecar-app"))
        );
        let tagged = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: sidecar-app\ntrusted_caller_tags: {team: payments}",
        )
        .unwrap();
        let CallerSource::Trusted(trusted) = tagged.callers else {
            panic!("{:?}", tagged.callers)
        };
        assert_eq!(trusted.tags.get("team"), Some("payments"));
        let misplaced = with(
            "callers: \"callers.yaml\"",
            "callers: \"callers.yaml\"\ntrusted_caller_tags: {team: payments}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            misplaced.contains("`trusted_caller_tags` goes only with `callers: none`"),
            "{misplaced}"
        );
        let wrong = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: a\ntrusted_caller_tags: {team: [x]}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            wrong.contains("the value of tag `team` must be a string"),
            "{wrong}"
        );
        assert!(with("callers: \"callers.yaml\"", "callers: none")
            .unwrap_err()
            .to_string()
            .contains("`callers`: `callers: none` needs `trusted_caller`"));
        let exposed = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: app",
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
        .and_then(|_| {
            parse(
                "p.yaml",
                &SAMPLE.replace("127.0.0.1:8080", "0.0.0.0:8080").replace(
                    "callers: \"callers.yaml\"",
                    "callers: none\ntrusted_caller: app",
                ),
                Path::new("/d"),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
        .unwrap_err();
        assert!(
            exposed.contains("only on a loopback listen address"),
            "{exposed}"
        );
        assert!(with(
            "callers: \"callers.yaml\"",
            "callers: \"c.yaml\"\ntrusted_caller: app"
        )
        .is_err());
        let tls = with(
            "callers: \"callers.yaml\"",
            "callers: \"c.yaml\"\ntls: {cert: t/c.pem, key: t/k.pem, client_ca: t/ca.pem}",
        )
        .unwrap()
        .tls
        .unwrap();
        assert_eq!(tls.client_ca.as_deref(), Some(Path::new("/d/t/ca.pem")));
        assert!(with(
            "callers: \"callers.yaml\"",
            "callers: c.yaml\ntls: {cert: a}"
        )
        .is_err());
    }

    #[test]
    fn operations_settings() {
        let text = format!(
            "{SAMPLE}admin_listen: \"127.0.0.1:9090\"\nmode: shadow\naudit_log: audit/decisions.jsonl\n\
             audit_failure: continue\nwatch_interval: off\nshutdown_grace: 5s\nworkers: 3\n"
        );
        let config = parse("proxy.yaml", &text, Path::new("/etc/proxy")).unwrap();
        assert_eq!(config.workers, Some(3));
        assert_eq!(config.admin_listen.unwrap().to_string(), "127.0.0.1:9090");
        assert_eq!(config.mode, Mode::Shadow);
        assert_eq!(
            config.audit,
            AuditConfig {
                target: AuditTarget::File("/etc/proxy/audit/decisions.jsonl".into()),
                reject_on_failure: false
            }
        );
        assert_eq!(config.watch_interval, None);
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));

        for (extra, expected) in [
            (
                "mode: dry-run\n",
                "`mode`: `mode` must be `enforce` or `shadow`, not `dry-run`",
            ),
            (
                "audit_failure: ignore\n",
                "`audit_failure`: `audit_failure` must be `reject` or `continue`, not `ignore`",
            ),
            (
                "admin_listen: \"127.0.0.1:8080\"\n",
                "`admin_listen`: `admin_listen` must differ from `listen`, not `127.0.0.1:8080` too",
            ),
            (
                "admin_listen: \"localhost\"\n",
                "`admin_listen`: `localhost` is not an address",
            ),
            (
                "watch_interval: soon\n",
                "`watch_interval`: `soon` is not a duration",
            ),
            (
                "shutdown_grace: 0s\n",
                "`shutdown_grace`: duration `0s` must be more than zero",
            ),
            (
                "workers: 0\n",
                "`workers`: `workers` must be more than zero, not `0`",
            ),
        ] {
            let err = parse("proxy.yaml", &format!("{SAMPLE}{extra}"), Path::new("/"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let limits = SAMPLE.replace(
            "  max_body_bytes: 65536",
            "  max_body_bytes: 65536\n  idle_timeout: 1s\n  max_concurrent_requests: 0",
        );
        let err = parse("proxy.yaml", &limits, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`limits.max_concurrent_requests`: `max_concurrent_requests` must be more than zero"),
            "{err}"
        );
    }

    #[test]
    fn assume_role() {
        let text = format!(
            "{SAMPLE}assume_role:\n  role_arn: \"arn:aws:iam::123456789012:role/ops/elasticache-proxy\"\n  external_id: \"team-42\"\n  duration: 30m\n  sts_endpoint: \"http://127.0.0.1:9999\"\n"
        );
        let config = parse("proxy.yaml", &text, Path::new("/")).unwrap();
        let role = config.assume_role.unwrap();
        assert_eq!(
            role.role_arn,
            "arn:aws:iam::123456789012:role/ops/elasticache-proxy"
        );
        assert_eq!(role.external_id.as_deref(), Some("team-42"));
        assert_eq!(role.duration, Duration::from_secs(1800));
        assert_eq!(role.sts_endpoint.as_deref(), Some("http://127.0.0.1:9999"));
        for (extra, expected) in [
            (
                "  role_arn: \"arn:aws:iam::1234:role/x\"\n",
                "is not a role ARN",
            ),
            (
                "  role_arn: \"arn:aws:iam::123456789012:user/x\"\n",
                "is not a role ARN",
            ),
            (
                "  role_arn: \"arn:aws:iam::123456789012:role/x\"\n  duration: 5m\n",
                "must be between",
            ),
            (
                "  role_arn: \"arn:aws:iam::123456789012:role/x\"\n  sts_region: mars\n",
                "not an AWS region",
            ),
            (
                "  role_arn: \"arn:aws:iam::123456789012:role/x\"\n  session: y\n",
                "`assume_role.session`: unknown key `session`",
            ),
        ] {
            let err = parse(
                "proxy.yaml",
                &format!("{SAMPLE}assume_role:\n{extra}"),
                Path::new("/"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
    }

    #[test]
    fn endpoints() {
        let local = EndpointTemplate::parse("http://127.0.0.1:9000").unwrap();
        assert!(!local.https);
        assert_eq!(
            local.authority_for(&Region::parse("us-east-1").unwrap()),
            "127.0.0.1:9000"
        );
        assert!(EndpointTemplate::parse("https://elasticache.{region}.amazonaws.com/").is_ok());
        assert!(EndpointTemplate::parse("https://").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "10", "s", "0s", "1h", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
