//! Every metric the proxy exposes, declared in one place with its help text.
//! Labels are bounded: action names come from the fixed list, rule ids and
//! caller names from the loaded files, codes and reasons from fixed sets.
//! Group names, owner ids and other request text never become labels.

use std::time::Duration;

use crate::error::SignatureFailure;
use crate::policy::Mode;
use crate::proxy::audit::{RequestRecord, Shortened};
use crate::proxy::resource_tags::LookupOutcome;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

const PREFIX: &str = "elasticache_authz_proxy";

/// Latency buckets in seconds: from 100 µs (a local decision) to 30 s (a
/// slow upstream).
const DURATION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

pub struct Metrics {
    registry: Registry,
    /// One per request: action, decision, first deciding rule, caller, mode.
    requests: IntCounterVec,
    /// One per rejected request, by the AWS error code sent.
    rejections: IntCounterVec,
    request_duration: Histogram,
    /// By status class: 2xx, 3xx, 4xx, 5xx, error, timeout.
    upstream_requests: IntCounterVec,
    /// `upstream_requests`' counters, resolved once: one is counted on every
    /// forward, without the label lookup.
    upstream_by_class: Vec<(&'static str, IntCounter)>,
    upstream_duration: Histogram,
    signature_failures: IntCounterVec,
    policy_reloads: IntCounterVec,
    /// 1 for the policy revision in force, and only that one.
    policy_info: IntGaugeVec,
    in_flight: IntGauge,
    audit_write_failures: IntCounter,
    /// Request values cut short in audit lines, by field.
    audit_values_shortened: IntCounterVec,
    connections_open: IntGauge,
    /// Lookups of resources' tags, by result (hit, miss, failed).
    tag_lookups: IntCounterVec,
    tag_lookup_duration: Histogram,
    /// When the next exception (`expires:`) of the policy ends; 0: none.
    next_expiry: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Metrics, String> {
        let registry = Registry::new();
        let name = |n: &str| format!("{PREFIX}_{n}");
        let counter_vec = |n: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name(n), help), labels)
        };
        let histogram = |n: &str, help: &str| {
            Histogram::with_opts(
                HistogramOpts::new(name(n), help).buckets(DURATION_BUCKETS.to_vec()),
            )
        };
        let build = || -> prometheus::Result<Metrics> {
            let mut metrics = Metrics {
                requests: counter_vec(
                    "requests_total",
                    "Requests handled, by action, decision (allow, deny, would_deny, error), first deciding rule, caller and proxy mode.",
                    &["action", "decision", "rule", "caller", "mode"],
                )?,
                rejections: counter_vec(
                    "rejections_total",
                    "Requests answered with an error by the proxy itself, by AWS error code.",
                    &["code"],
                )?,
                request_duration: histogram(
                    "request_duration_seconds",
                    "Time from a request's head to its answer, upstream time included.",
                )?,
                upstream_requests: counter_vec(
                    "upstream_requests_total",
                    "Requests forwarded upstream, by status class (2xx, 3xx, 4xx, 5xx, error, timeout).",
                    &["status_class"],
                )?,
                upstream_by_class: Vec::new(),
                upstream_duration: histogram(
                    "upstream_duration_seconds",
                    "Time the upstream took to answer a forwarded request.",
                )?,
                signature_failures: counter_vec(
                    "signature_failures_total",
                    "Requests whose caller could not be authenticated, by reason (missing, malformed, unknown_key, mismatch, expired, not_yet_valid, certificate).",
                    &["reason"],
                )?,
                policy_reloads: counter_vec(
                    "policy_reloads_total",
                    "Attempts to reload the policy and callers files, by result (success, failure).",
                    &["result"],
                )?,
                policy_info: IntGaugeVec::new(
                    Opts::new(
                        name("policy_info"),
                        "The policy in force: 1 for its revision (the first 12 hex digits of the policy file's SHA-256).",
                    ),
                    &["revision"],
                )?,
                in_flight: IntGauge::new(name("in_flight_requests"), "Requests being handled now.")?,
                audit_write_failures: IntCounter::new(
                    name("audit_write_failures_total"),
                    "Audit log lines that could not be written.",
                )?,
                audit_values_shortened: counter_vec(
                    "audit_values_shortened_total",
                    "Request values cut short in audit lines because the request was not authenticated and forwarded, by field.",
                    &["field"],
                )?,
                connections_open: IntGauge::new(
                    name("connections_open"),
                    "Client connections open on the data listener.",
                )?,
                tag_lookups: counter_vec(
                    "resource_tag_lookups_total",
                    "Tags of a resource a request names, for resource_tags rules, by result: hit (from the cache), miss (looked up with ListTagsForResource) or failed.",
                    &["result"],
                )?,
                tag_lookup_duration: histogram(
                    "resource_tag_lookup_duration_seconds",
                    "Time to learn one resource's tags, from the cache or from AWS.",
                )?,
                next_expiry: IntGauge::new(
                    name("policy_next_expiry_timestamp_seconds"),
                    "When the next exception (a rule with `expires`) of the policy in force ends, in seconds since the Unix epoch; 0 when none is pending.",
                )?,
                registry: registry.clone(),
            };
            registry.register(Box::new(metrics.requests.clone()))?;
            registry.register(Box::new(metrics.rejections.clone()))?;
            registry.register(Box::new(metrics.request_duration.clone()))?;
            registry.register(Box::new(metrics.upstream_requests.clone()))?;
            registry.register(Box::new(metrics.upstream_duration.clone()))?;
            registry.register(Box::new(metrics.signature_failures.clone()))?;
            registry.register(Box::new(metrics.policy_reloads.clone()))?;
            registry.register(Box::new(metrics.policy_info.clone()))?;
            registry.register(Box::new(metrics.in_flight.clone()))?;
            registry.register(Box::new(metrics.audit_write_failures.clone()))?;
            registry.register(Box::new(metrics.audit_values_shortened.clone()))?;
            registry.register(Box::new(metrics.connections_open.clone()))?;
            registry.register(Box::new(metrics.tag_lookups.clone()))?;
            // Every result from the start, at 0: an alert on `failed` then
            // has a series to read before the first failure.
            for outcome in LookupOutcome::ALL {
                metrics.tag_lookups.with_label_values(&[outcome.as_str()]);
            }
            registry.register(Box::new(metrics.tag_lookup_duration.clone()))?;
            registry.register(Box::new(metrics.next_expiry.clone()))?;
            // Known label values start at 0, so rates and alerts work from
            // the first scrape.
            for result in ReloadResult::ALL {
                metrics.policy_reloads.with_label_values(&[result.as_str()]);
            }
            for class in STATUS_CLASSES {
                let counter = metrics.upstream_requests.with_label_values(&[class]);
                metrics.upstream_by_class.push((class, counter));
            }
            for field in crate::proxy::audit::SHORTENED_FIELDS {
                metrics.audit_values_shortened.with_label_values(&[field]);
            }
            for reason in SignatureFailure::ALL {
                metrics
                    .signature_failures
                    .with_label_values(&[reason.as_str()]);
            }
            Ok(metrics)
        };
        build().map_err(|e| format!("cannot set up the metrics: {e}"))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// One finished request: counted by its labels, its rejection code and
    /// its duration, and each value its audit line cut short.
    pub fn record_request(&self, record: &RequestRecord, shortened: Shortened, took: Duration) {
        let labels = RequestLabels::of(record);
        self.requests
            .with_label_values(&[
                labels.action,
                labels.decision,
                labels.rule,
                labels.caller,
                labels.mode.as_str(),
            ])
            .inc();
        if let Some(code) = record.error_code {
            self.rejections.with_label_values(&[code]).inc();
        }
        self.request_duration.observe(took.as_secs_f64());
        for field in shortened.fields() {
            self.audit_values_shortened
                .with_label_values(&[field])
                .inc();
        }
    }

    pub fn count_signature_failure(&self, reason: SignatureFailure) {
        self.signature_failures
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub fn count_reload(&self, result: ReloadResult) {
        self.policy_reloads
            .with_label_values(&[result.as_str()])
            .inc();
    }

    pub fn count_audit_write_failure(&self) {
        self.audit_write_failures.inc();
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn enter_request(&self) -> Held<'_> {
        Held::on(&self.in_flight)
    }

    /// Counts an open client connection until the guard is dropped.
    pub fn open_connection(&self) -> Held<'_> {
        Held::on(&self.connections_open)
    }

    pub fn set_policy_revision(&self, revision: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[revision]).set(1);
    }

    pub fn set_next_expiry(&self, at: Option<i64>) {
        self.next_expiry.set(at.unwrap_or(0));
    }

    pub fn observe_tag_lookup(&self, outcome: LookupOutcome, took: Duration) {
        self.tag_lookups
            .with_label_values(&[outcome.as_str()])
            .inc();
        self.tag_lookup_duration.observe(took.as_secs_f64());
    }

    pub fn observe_upstream(&self, status_class: &str, took: Duration) {
        match self
            .upstream_by_class
            .iter()
            .find(|(c, _)| *c == status_class)
        {
            Some((_, counter)) => counter.inc(),
            None => self
                .upstream_requests
                .with_label_values(&[status_class])
                .inc(),
        }
        self.upstream_duration.observe(took.as_secs_f64());
    }
}

/// The labels of `requests_total` for one request: bounded, as the module
/// says (`unknown` and `none` where the request never got that far).
struct RequestLabels<'a> {
    action: &'static str,
    decision: &'static str,
    rule: &'a str,
    caller: &'a str,
    mode: Mode,
}

impl<'a> RequestLabels<'a> {
    fn of(record: &'a RequestRecord) -> RequestLabels<'a> {
        RequestLabels {
            action: record.action.map_or("unknown", |a| a.name()),
            decision: record.decision(),
            rule: record.rules.first().map_or("none", String::as_str),
            caller: record.caller.as_deref().unwrap_or("unknown"),
            mode: record.mode,
        }
    }
}

/// How a reload of the policy and callers files ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReloadResult {
    Success,
    Failure,
}

impl ReloadResult {
    const ALL: [ReloadResult; 2] = [ReloadResult::Success, ReloadResult::Failure];

    fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::Failure => "failure",
        }
    }
}

/// A gauge held up by one while this lives.
pub struct Held<'a>(&'a IntGauge);

impl<'a> Held<'a> {
    fn on(gauge: &'a IntGauge) -> Held<'a> {
        gauge.inc();
        Held(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Every value of `upstream_requests_total`'s `status_class`.
const STATUS_CLASSES: [&str; 6] = ["2xx", "3xx", "4xx", "5xx", "error", "timeout"];

/// `2xx` … `5xx` for an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_help_and_the_prefix() {
        let metrics = Metrics::new().unwrap();
        let mut record = RequestRecord::new(
            std::time::SystemTime::UNIX_EPOCH,
            "id".into(),
            "127.0.0.1:5000".parse().unwrap(),
            Mode::Enforce,
            "0123456789ab".into(),
        );
        record.action = crate::model::Action::from_name("DescribeCacheClusters");
        record.error_code = Some("Throttling");
        record.cache_security_group = Some("x".repeat(300));
        let shortened = record.line(Duration::ZERO).shortened();
        metrics.record_request(&record, shortened, Duration::from_millis(1));
        metrics.observe_upstream("2xx", Duration::from_millis(3));
        metrics.count_signature_failure(SignatureFailure::Mismatch);
        metrics.count_reload(ReloadResult::Success);
        metrics.set_policy_revision("aaaaaaaaaaaa");
        metrics.set_policy_revision("bbbbbbbbbbbb");
        let held = metrics.enter_request();
        assert_eq!(metrics.in_flight(), 1);
        drop(held);
        assert_eq!(metrics.in_flight(), 0);
        let text = metrics.render();
        // The metrics of the spec, which the end-to-end tests read too.
        let names = include_str!("../../tests/data/metrics.txt");
        assert!(!names.trim().is_empty(), "tests/data/metrics.txt is empty");
        for name in names.lines() {
            assert!(
                text.contains(&format!("# HELP {PREFIX}_{name} ")),
                "{name} missing:\n{text}"
            );
        }
        assert!(text.contains(r#"elasticache_authz_proxy_policy_info{revision="bbbbbbbbbbbb"} 1"#));
        assert!(!text.contains("aaaaaaaaaaaa"), "the old revision is gone");
        assert!(text
            .contains(r#"elasticache_authz_proxy_upstream_requests_total{status_class="2xx"} 1"#));
        for series in [
            r#"elasticache_authz_proxy_requests_total{action="DescribeCacheClusters",caller="unknown",decision="error",mode="enforce",rule="none"} 1"#,
            r#"elasticache_authz_proxy_rejections_total{code="Throttling"} 1"#,
            r#"elasticache_authz_proxy_audit_values_shortened_total{field="cache_security_group"} 1"#,
            r#"elasticache_authz_proxy_signature_failures_total{reason="mismatch"} 1"#,
            r#"elasticache_authz_proxy_policy_reloads_total{result="success"} 1"#,
            r#"elasticache_authz_proxy_policy_reloads_total{result="failure"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
