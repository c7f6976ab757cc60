//! Replication between backends.
//!
//! - [`received`]: the checks every batch from another backend passes before anything of it is
//!   stored, whatever path it came by.
//! - [`partial`]: need-to-know replication across clusters: a tonic gRPC server stream per region
//!   feed (producer) and one pulling task per configured peer (consumer), over mTLS.
//! - [`mesh`]: all-to-all replication inside a cluster over libp2p gossipsub, with catch-up.
//!
//! Nothing in this module re-publishes a received key: producers serve only local feeds.

pub mod mesh;
pub mod partial;
pub mod received;
