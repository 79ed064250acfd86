//! The proxy around the pure core: the state every request shares
//! ([`Proxy`]), and the stages that touch the world. Read in request order:
//! [`listener`] accepts and drains, [`connection`] serves one client
//! connection within its limits and timeouts, [`pipeline`] takes one
//! request through parse, authenticate, decide, forward or reject, audit
//! ([`upstream`] re-signs and forwards, [`identity`] finds the proxy's own
//! credentials, [`audit`] writes the line). Around them: [`reload`] swaps
//! the policy in force ([`file_trust`] says whether the callers file may
//! be trusted), [`metrics`] counts, [`admin`] serves metrics, probes and
//! reloads, [`workers`] runs one event loop per core, and [`config`],
//! [`tls`] and [`log`] are the settings, the certificates and the
//! operational log. Between deciding and forwarding, [`resource_tags`]
//! looks up the tags of the resources a request names, when a rule needs
//! them.

pub mod admin;
pub mod audit;
pub mod config;
pub mod connection;
pub mod file_trust;
pub mod identity;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod resource_tags;
pub mod tls;
pub mod upstream;
pub mod workers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{error, model};
use audit::AuditSink;
use config::Config;
use identity::UpstreamIdentity;
use metrics::Metrics;
use reload::{Live, Trigger};
use resource_tags::TagLookups;
use upstream::Upstream;

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub(crate) config: Config,
    pub(crate) live: Live,
    pub(crate) metrics: Metrics,
    /// Whether the listener requires client certificates.
    mtls: bool,
    upstream: Upstream,
    identity: UpstreamIdentity,
    /// The tags of resources requests name, for `resource_tags` rules.
    tag_lookups: TagLookups,
    audit: Arc<AuditSink>,
    /// Requests being handled, from the end of their body on; past the
    /// limit new ones get `Throttling`.
    request_slots: RequestSlots,
    /// Set on SIGTERM: `/readyz` turns 503 while requests drain.
    pub(crate) shutting_down: AtomicBool,
    /// Data-plane threads to start (`workers`).
    worker_count: usize,
}

/// What one accepted connection tells about the client.
struct Connection {
    peer: SocketAddr,
    /// SAN URIs and DNS names of the verified client certificate, if any.
    certificate_identities: Vec<String>,
}

impl Proxy {
    pub fn new(config: Config, live: Live, identity: UpstreamIdentity) -> Result<Proxy, String> {
        let metrics = Metrics::new()?;
        metrics.set_policy_revision(&live.current().revision);
        let worker_count = config.workers.unwrap_or_else(workers::default_count);
        Ok(Proxy {
            mtls: config
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca.is_some()),
            upstream: Upstream::new(config.upstream.clone(), worker_count)?,
            identity,
            tag_lookups: TagLookups::new(config.resource_tags.clone(), config.account_id),
            audit: Arc::new(AuditSink::open(&config.audit, worker_count)?),
            request_slots: RequestSlots::new(config.limits.max_concurrent_requests),
            live,
            metrics,
            shutting_down: AtomicBool::new(false),
            worker_count,
            config,
        })
    }

    /// Ready to take traffic: a policy in force, upstream credentials, and
    /// not draining. `Err` says why not.
    pub(crate) async fn readiness(&self) -> Result<(), &'static str> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err("shutting down");
        }
        if self.identity.access_key_id().await.is_none() {
            return Err("no upstream credentials");
        }
        if self.live.current().revision.is_empty() {
            return Err("no policy loaded");
        }
        Ok(())
    }

    /// The account the resources requests name are in: configured, or
    /// learned from the proxy's identity once.
    pub(crate) async fn learn_account(&self) -> Result<model::AccountId, error::ResourceError> {
        self.tag_lookups
            .account(|| self.identity.account_id())
            .await
    }

    pub(crate) fn reload(&self, trigger: Trigger) -> Result<String, String> {
        self.live.reload(&self.config, &self.metrics, trigger)
    }
}

/// The limit on requests handled at once. Requests never wait for a slot
/// (past the limit they get `Throttling`), so a counter is enough: taking
/// and giving back one is an atomic add, with no lock.
struct RequestSlots {
    taken: AtomicUsize,
    limit: usize,
}

impl RequestSlots {
    fn new(limit: usize) -> RequestSlots {
        RequestSlots {
            taken: AtomicUsize::new(0),
            limit,
        }
    }

    fn try_take(&self) -> Option<RequestSlot<'_>> {
        let before = self.taken.fetch_add(1, Ordering::AcqRel);
        let slot = RequestSlot(&self.taken);
        // Over the limit: the guard gives the slot straight back.
        (before < self.limit).then_some(slot)
    }
}

/// A slot taken, given back when dropped.
struct RequestSlot<'a>(&'a AtomicUsize);

impl Drop for RequestSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_slots_are_limited_and_given_back() {
        let slots = RequestSlots::new(2);
        let first = slots.try_take().expect("a free slot");
        let second = slots.try_take().expect("a free slot");
        assert!(slots.try_take().is_none(), "over the limit");
        drop(first);
        let third = slots.try_take().expect("given back");
        assert!(slots.try_take().is_none());
        drop((second, third));
        assert_eq!(slots.taken.load(Ordering::Relaxed), 0);
        assert!(RequestSlots::new(0).try_take().is_none());
    }
}
