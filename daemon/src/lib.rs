//! The enmesh daemon's library: everything the `enmesh` binary does, one concept a module.
//!
//! The map is ARCHITECTURE.md: `node` wires `store`, `pki`, `ingest`, `admin`, `batch`,
//! `phone_feed`, `exports`, `retention` and `crl_reload` behind the `api` router, with `config`,
//! `clock`, `telemetry`, `shutdown`, `worker` (the one shape of background work) and `wire` under
//! them; `demo` drives a node through its public interfaces.
//! `replicate` moves batches between backends (`received` checks, `partial` gRPC pull streams
//! across clusters, `mesh` gossip inside a cluster, `gaen_export` and `federation` for Google's
//! key-server stack, wired by `interop`). `audit` is the replication log every one of them
//! writes to through the store.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod api;
pub mod audit;
pub mod batch;
pub mod clock;
pub mod config;
pub mod crl_reload;
pub mod demo;
pub mod efgs;
pub mod embargo;
pub mod exports;
pub mod ingest;
pub mod interop;
pub mod node;
pub mod phone_feed;
pub mod pki;
pub mod replicate;
pub mod retention;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod wire;
pub mod worker;
