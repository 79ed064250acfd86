//! The pure core of elasticache-authz-proxy: everything that decides, and
//! nothing that waits. Each stage is a plain function of its inputs, with
//! no I/O, no clock (time is passed in) and no globals, so it is
//! unit-tested, property-tested and fuzzed on its own; the proxy crate
//! around it owns the sockets, files and clocks.
//!
//! The request path through it, in order: [`request`] parses an HTTP
//! request into the typed ElastiCache request (with the [`form`] codec, the
//! actions and parameters of the [`service_model`], and the [`names`] AWS
//! acts on), [`auth`] reads and verifies the caller's signature
//! ([`sigv4`], against the [`callers`] file), [`decision`] decides on the
//! request's [`facts`] against a compiled [`policy`] (rules indexed per
//! action), and [`error`] renders every rejection in the Query API's
//! format. [`lint`] and
//! [`policy_tools`] are what `check`, `explain` and `test` compute;
//! [`diagnostics`] is how every file's errors are reported.
#![forbid(unsafe_code)]

pub mod auth;
pub mod caller_tags;
pub mod callers;
pub mod cloudtrail;
mod conditions;
pub mod decision;
pub mod diagnostics;
pub mod draft;
pub mod encoding;
pub mod error;
pub mod facts;
pub mod form;
pub mod lint;
pub mod model;
pub mod names;
pub mod param_path;
pub mod params;
mod patterns;
pub mod policy;
pub mod policy_tools;
pub mod replay;
pub mod request;
pub mod resources;
mod rule;
mod rule_index;
#[cfg(test)]
mod sdk_signer;
mod security_params;
pub mod service_model;
pub mod sigv4;
pub mod tag_list;
pub mod text;
mod yaml_load;
pub mod yaml_positions;
