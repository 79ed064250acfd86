//! The proxy's configuration file: raw YAML (unknown keys rejected), then
//! validated into typed settings. Relative paths are resolved from the
//! config file's folder. No I/O here but path arithmetic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::callers::is_valid_caller_name;
use crate::decision::DenialDetail;
use crate::model::Region;
use crate::policy::Mode;
use crate::proxy::tls::TlsSettings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    policy: String,
    callers: Option<String>,
    trusted_caller: Option<String>,
    tls: Option<RawTls>,
    admin_listen: Option<String>,
    mode: Option<String>,
    audit_log: Option<String>,
    audit_failure: Option<String>,
    watch_interval: Option<String>,
    watch_settle: Option<String>,
    region: Option<String>,
    denial_detail: Option<String>,
    shutdown_grace: Option<String>,
    workers: Option<usize>,
    assume_role: Option<RawAssumeRole>,
    upstream: RawUpstream,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
    client_ca: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumeRole {
    role_arn: String,
    external_id: Option<String>,
    duration: Option<String>,
    sts_region: Option<String>,
    sts_endpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    endpoint: String,
    timeout: Option<String>,
    max_response_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_body_bytes: Option<usize>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    max_concurrent_requests: Option<usize>,
}

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
    Trusted(String),
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
pub fn parse(file: &str, text: &str, base_dir: &Path) -> Result<Config, String> {
    let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let err = |field: &str, message: String| format!("{file}: `{field}`: {message}");
    let listen = raw.listen.parse::<SocketAddr>().map_err(|_| {
        err(
            "listen",
            format!(
                "`{}` is not an address such as `127.0.0.1:8080`",
                raw.listen
            ),
        )
    })?;
    let endpoint =
        EndpointTemplate::parse(&raw.upstream.endpoint).map_err(|e| err("upstream.endpoint", e))?;
    let duration = |field: &str, value: Option<String>, default: Duration| match value {
        None => Ok(default),
        Some(v) => parse_duration(&v).map_err(|e| err(field, e)),
    };
    let positive = |field: &str, value: Option<usize>, default: usize| match value {
        Some(0) => Err(err(field, "must be more than zero".into())),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let callers = match (raw.callers.as_deref(), raw.trusted_caller) {
        (None, _) => {
            return Err(err(
                "callers",
                "is required: name a callers file (`callers: \"callers.yaml\"`), or write `callers: none` \
                 with `trusted_caller: NAME` for a sidecar on loopback"
                    .into(),
            ))
        }
        (Some("none"), None) => {
            return Err(err("trusted_caller", "is required with `callers: none`".into()));
        }
        (Some("none"), Some(name)) if !is_valid_caller_name(&name) => {
            return Err(err("trusted_caller", format!("`{name}` is not a caller name")));
        }
        (Some("none"), Some(_)) if !listen.ip().is_loopback() => {
            return Err(err(
                "callers",
                format!(
                    "`none` trusts every caller, so it is allowed only on a loopback listen address, not `{listen}`"
                ),
            ));
        }
        (Some("none"), Some(name)) => CallerSource::Trusted(name),
        (Some(_), Some(_)) => {
            return Err(err("trusted_caller", "goes only with `callers: none`".into()));
        }
        (Some(path), None) => CallerSource::File(base_dir.join(path)),
    };
    let admin_listen = raw
        .admin_listen
        .map(|text| {
            text.parse::<SocketAddr>().map_err(|_| {
                err(
                    "admin_listen",
                    format!("`{text}` is not an address such as `127.0.0.1:9090`"),
                )
            })
        })
        .transpose()?;
    if admin_listen == Some(listen) {
        return Err(err(
            "admin_listen",
            "must differ from `listen`: the admin endpoints are not for callers".into(),
        ));
    }
    let mode = match raw.mode.as_deref() {
        None => Mode::Enforce,
        Some(text) => Mode::parse(text)
            .ok_or_else(|| err("mode", format!("`{text}` must be `enforce` or `shadow`")))?,
    };
    let audit = AuditConfig {
        target: match raw.audit_log.as_deref() {
            None | Some("-") => AuditTarget::Stdout,
            Some("") => {
                return Err(err(
                    "audit_log",
                    "must be `-` (stdout) or a file path".into(),
                ))
            }
            Some(path) => AuditTarget::File(base_dir.join(path)),
        },
        reject_on_failure: match raw.audit_failure.as_deref() {
            None | Some("reject") => true,
            Some("continue") => false,
            Some(other) => {
                return Err(err(
                    "audit_failure",
                    format!("`{other}` must be `reject` (fail closed) or `continue`"),
                ))
            }
        },
    };
    let watch_interval = match raw.watch_interval.as_deref().map(str::trim) {
        None => Some(Duration::from_secs(2)),
        Some("0s" | "0ms" | "0m" | "off") => None,
        Some(text) => Some(parse_duration(text).map_err(|e| err("watch_interval", e))?),
    };
    let watch_settle = match raw.watch_settle.as_deref().map(str::trim) {
        None => Duration::from_secs(1),
        Some("0s" | "0ms" | "0m" | "off") => Duration::ZERO,
        Some(text) => parse_duration(text).map_err(|e| err("watch_settle", e))?,
    };
    let region = match raw.region {
        None => None,
        Some(text) => Some(Region::parse(&text).ok_or_else(|| {
            err(
                "region",
                format!("`{text}` is not an AWS region name such as `us-east-1`"),
            )
        })?),
    };
    let denial_detail = match raw.denial_detail.as_deref() {
        None | Some("caller") => DenialDetail::Caller,
        Some("full") => DenialDetail::Full,
        Some(other) => {
            return Err(err(
                "denial_detail",
                format!(
                "`{other}` must be `caller` (what concerns the caller) or `full` (every near miss)"
            ),
            ))
        }
    };
    let assume_role = match raw.assume_role {
        None => None,
        Some(raw) => Some(AssumeRole {
            role_arn: if is_role_arn(&raw.role_arn) {
                raw.role_arn
            } else {
                return Err(err(
                    "assume_role.role_arn",
                    format!(
                        "`{}` is not a role ARN such as `arn:aws:iam::123456789012:role/elasticache-proxy`",
                        raw.role_arn
                    ),
                ));
            },
            external_id: match raw.external_id {
                Some(id) if !(2..=1224).contains(&id.len()) || id.chars().any(char::is_control) => {
                    return Err(err(
                        "assume_role.external_id",
                        "must be 2 to 1224 printable characters".into(),
                    ))
                }
                id => id,
            },
            duration: match duration(
                "assume_role.duration",
                raw.duration,
                Duration::from_secs(3600),
            )? {
                d if (900..=43_200).contains(&d.as_secs()) => d,
                _ => {
                    return Err(err(
                        "assume_role.duration",
                        "must be between `15m` and `720m` (12 hours)".into(),
                    ))
                }
            },
            sts_region: match raw.sts_region {
                Some(region) if Region::parse(&region).is_none() => {
                    return Err(err(
                        "assume_role.sts_region",
                        format!("`{region}` is not an AWS region name"),
                    ))
                }
                region => region,
            },
            sts_endpoint: match raw.sts_endpoint {
                Some(endpoint)
                    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) =>
                {
                    return Err(err(
                        "assume_role.sts_endpoint",
                        format!("`{endpoint}` must start with `https://` or `http://`"),
                    ))
                }
                endpoint => endpoint,
            },
        }),
    };
    let tls = raw.tls.map(|t| TlsSettings {
        cert: base_dir.join(t.cert),
        key: base_dir.join(t.key),
        client_ca: t.client_ca.map(|ca| base_dir.join(ca)),
    });
    Ok(Config {
        listen,
        policy_path: base_dir.join(&raw.policy),
        callers,
        tls,
        admin_listen,
        mode,
        audit,
        watch_interval,
        watch_settle,
        region,
        denial_detail,
        shutdown_grace: duration(
            "shutdown_grace",
            raw.shutdown_grace,
            Duration::from_secs(30),
        )?,
        workers: match raw.workers {
            Some(0) => return Err(err("workers", "must be more than zero".into())),
            workers => workers,
        },
        assume_role,
        upstream: UpstreamConfig {
            endpoint,
            timeout: duration(
                "upstream.timeout",
                raw.upstream.timeout,
                Duration::from_secs(10),
            )?,
            max_response_bytes: positive(
                "upstream.max_response_bytes",
                raw.upstream.max_response_bytes,
                16 << 20,
            )?,
        },
        limits: Limits {
            max_body_bytes: positive("limits.max_body_bytes", raw.limits.max_body_bytes, 64 << 10)?,
            header_read_timeout: duration(
                "limits.header_read_timeout",
                raw.limits.header_read_timeout,
                Duration::from_secs(10),
            )?,
            body_read_timeout: duration(
                "limits.body_read_timeout",
                raw.limits.body_read_timeout,
                Duration::from_secs(10),
            )?,
            idle_timeout: duration(
                "limits.idle_timeout",
                raw.limits.idle_timeout,
                Duration::from_secs(60),
            )?,
            max_connections: positive("limits.max_connections", raw.limits.max_connections, 1024)?,
            max_concurrent_requests: positive(
                "limits.max_concurrent_requests",
                raw.limits.max_concurrent_requests,
                256,
            )?,
        },
    })
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
            &format!("{SAMPLE}\nlisten_addr: x"),
            Path::new("."),
        )
        .unwrap_err();
        assert!(unknown.contains("unknown field `listen_addr`"), "{unknown}");
        let nested = parse(
            "p.yaml",
            &SAMPLE.replace("timeout:", "timeuot:"),
            Path::new("."),
        )
        .unwrap_err();
        assert!(nested.contains("unknown field `timeuot`"), "{nested}");
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
            let err = parse("p.yaml", &SAMPLE.replace(from, to), Path::new(".")).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn caller_sources_and_tls() {
        let with =
            |from: &str, to: &str| parse("p.yaml", &SAMPLE.replace(from, to), Path::new("/d"));
        let missing = with("callers: \"callers.yaml\"\n", "").unwrap_err();
        assert!(missing.contains("`callers`: is required"), "{missing}");
        let trusted = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: sidecar-app",
        )
        .unwrap();
        assert_eq!(trusted.callers, CallerSource::Trusted("sidecar-app".into()));
        assert!(with("callers: \"callers.yaml\"", "callers: none")
            .unwrap_err()
            .contains("`trusted_caller`"));
        let exposed = with(
            "callers: \"callers.yaml\"",
            "callers: none\ntrusted_caller: app",
        )
        .map(|_| ())
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
                "`mode`: `dry-run` must be `enforce` or `shadow`",
            ),
            (
                "audit_failure: ignore\n",
                "`audit_failure`: `ignore` must be `reject`",
            ),
            (
                "admin_listen: \"127.0.0.1:8080\"\n",
                "`admin_listen`: must differ from `listen`",
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
            ("workers: 0\n", "`workers`: must be more than zero"),
        ] {
            let err = parse("proxy.yaml", &format!("{SAMPLE}{extra}"), Path::new("/")).unwrap_err();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let limits = SAMPLE.replace(
            "  max_body_bytes: 65536",
            "  max_body_bytes: 65536\n  idle_timeout: 1s\n  max_concurrent_requests: 0",
        );
        let err = parse("proxy.yaml", &limits, Path::new("/")).unwrap_err();
        assert!(
            err.contains("`limits.max_concurrent_requests`: must be more than zero"),
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
                "unknown field `session`",
            ),
        ] {
            let err = parse(
                "proxy.yaml",
                &format!("{SAMPLE}assume_role:\n{extra}"),
                Path::new("/"),
            )
            .unwrap_err();
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
