//! The enmesh backend API, package `enmesh.v1`: signed key batches, the feed pull stream, uploads,
//! and the replication log's entries and `Audit` service (`audit.proto`).
//!
//! Generated from `proto/enmesh/v1/*.proto` at build time (protox + tonic-prost-build).
//! This crate holds wire types only: it never validates, signs or stores anything. Checking a
//! batch is the daemon's `pki` module's job; key rules live in `enmesh-protocol`.

/// Version 1 of the enmesh backend API.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("enmesh.v1");
}

/// Google's key-server federation contract (formats.md §f.1): package-less, so the method path is
/// `/Federation/Fetch`. Wire types and the generated client and server only.
pub mod federation {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("_");
}
