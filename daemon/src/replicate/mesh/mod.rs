//! The cluster mesh (issue #6): every node of a cluster replicates its all-to-all feed to every
//! other node over libp2p, with no hub. Gossipsub spreads announcements ("I hold origin O up to
//! sequence N"); each node fetches the batch once, from a peer that announced it, over a
//! request-response sync protocol. A node that was down or cut off catches up the same way from
//! whichever admitted peers are up (heads exchange), since every batch is signed by its origin.
//!
//! Parts: [`state`] (the pure state machine that makes every decision: admission bookkeeping,
//! announcements and verdicts, catch-up paging, serving, discovery and redial, with the heads in
//! memory), [`catchup`] (which origin to fetch from whom, part of the state), [`admission`]
//! (certificate chain checks), [`frame`] (messages and their bounded length-prefixed codec),
//! [`behaviour`] (the swarm and gossipsub tuning), [`ledger`] (checking, storing and serving
//! batches through the store), [`storing`] (the `mesh_store` worker and blocking reads),
//! [`metrics`], [`witnessing`] (the peers' replication logs witnessed over sync, and their
//! questions about this node's log answered), the actor ([`Mesh::run`], I/O only) that translates libp2p to and from the state
//! machine, and `sim` (a deterministic simulator of many nodes on the same state machine; tests
//! only).
//!
//! The mesh never announces a batch it did not cut itself (it reads only this node's own
//! `a2a/<cluster>` feed head), serves only signed batches as their origin signed them, never
//! uses or answers anything from a peer before that peer's certificate chain passed the PKI
//! verifier, and never stores a batch that failed [`crate::replicate::received::check_batch`].

mod actor;
pub mod admission;
pub mod behaviour;
pub mod catchup;
pub mod frame;
pub mod ledger;
pub mod metrics;
#[cfg(test)]
pub mod sim;
pub mod state;
pub mod storing;
pub mod witnessing;

pub use actor::{Libp2p, Mesh, MeshHandle, MeshStatus, start};
pub use witnessing::Witnessing;

use crate::store::StoreError;
use libp2p::Multiaddr;
use thiserror::Error;

/// The mesh's settings (the `[mesh]` config section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSettings {
    /// Where the swarm listens (e.g. `/ip4/0.0.0.0/tcp/7400`).
    pub listen: Multiaddr,
    /// Peers dialled at start and redialled while not connected.
    pub bootstrap: Vec<Multiaddr>,
}

/// Why the mesh could not start or stopped.
#[derive(Debug, Error)]
pub enum MeshError {
    /// The swarm could not be built.
    #[error("swarm: {0}")]
    Build(#[from] behaviour::BuildError),
    /// The node's key cannot be a libp2p identity.
    #[error("identity: {0}")]
    Identity(#[from] crate::pki::IdentityError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The store failed while naming the feed or reading it.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The mesh task has stopped.
    #[error("the mesh has stopped")]
    Stopped,
}
