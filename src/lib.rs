//! elasticache-authz-proxy: a policy-enforcing authorization proxy for the
//! Amazon ElastiCache Query API.
//!
//! Two crates. The pure core (`core/`, crate `elasticache-authz-core`,
//! re-exported here module by module) parses, authenticates and decides,
//! with no I/O. This crate is the proxy around it ([`proxy`]: the
//! listener, connections, the request pipeline, upstream, audit, reload,
//! metrics, admin) and the command line ([`cli`]). ARCHITECTURE.md walks
//! the request path through both.
#![forbid(unsafe_code)]

pub use elasticache_authz_core::{
    auth, caller_tags, callers, cloudtrail, decision, diagnostics, draft, encoding, error, facts,
    form, lint, model, names, params, policy, policy_tools, replay, request, resources,
    service_model, sigv4, tag_list, text, yaml_positions,
};

pub mod cli;
pub mod proxy;
pub mod replay_cli;
