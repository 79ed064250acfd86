//! elasticache-authz-proxy: a policy-enforcing authorization proxy for the
//! Amazon ElastiCache Query API.
//!
//! The request path, one module per stage: [`request`] parses, [`auth`]
//! reads and verifies the caller's signature ([`sigv4`], [`callers`]),
//! [`decision`] decides against a compiled [`policy`], [`upstream`] re-signs
//! and forwards, [`error`] renders rejections, [`audit`] records the
//! decision. [`server`] wires them to sockets, served by one single-threaded
//! runtime per core ([`workers`]); [`reload`] swaps the policy in
//! force, [`metrics`] counts, [`admin`] serves metrics, probes and reloads.
#![forbid(unsafe_code)]

mod actions;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod callers;
pub mod cli;
pub mod config;
pub mod decision;
pub mod error;
pub mod form;
pub mod identity;
pub mod lint;
pub mod log;
pub mod metrics;
pub mod model;
pub mod names;
pub mod policy;
pub mod policy_tools;
pub mod reload;
pub mod request;
mod rule_index;
pub mod server;
pub mod sigv4;
pub mod tls;
pub mod upstream;
pub mod workers;
pub mod yaml_positions;
