//! elasticache-authz-proxy: a policy-enforcing authorization proxy for the
//! Amazon ElastiCache Query API.
//!
//! The request path, one module per stage: [`request`] parses, [`auth`]
//! reads the caller's signature, [`decision`] decides against a compiled
//! [`policy`], [`upstream`] re-signs and forwards, [`error`] renders
//! rejections, [`log`] records the decision. [`server`] wires them to sockets.
#![forbid(unsafe_code)]

mod actions;
pub mod auth;
pub mod callers;
pub mod cli;
pub mod config;
pub mod decision;
pub mod error;
pub mod form;
pub mod log;
pub mod model;
pub mod policy;
pub mod request;
pub mod server;
pub mod sigv4;
pub mod tls;
pub mod upstream;
