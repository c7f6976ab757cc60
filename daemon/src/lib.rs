//! The enmesh daemon's library: everything the `enmesh` binary does, one concept a module.
//!
//! Modules arrive with their issues (pki, store, ingest, batch, feed, replicate, audit,
//! retention, api); see ARCHITECTURE.md for the map.

pub mod admin;
pub mod api;
pub mod batch;
pub mod clock;
pub mod config;
pub mod demo;
pub mod exports;
pub mod feed;
pub mod ingest;
pub mod node;
pub mod pki;
pub mod retention;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod wire;
