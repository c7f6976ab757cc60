//! Replication between backends.
//!
//! - [`received`]: the checks every batch from another backend passes before anything of it is
//!   stored, whatever path it came by.
//! - [`partial`]: need-to-know replication across clusters: a tonic gRPC server stream per region
//!   feed (producer) and one pulling task per configured peer (consumer), over mTLS.
//! - [`mesh`]: all-to-all replication inside a cluster over libp2p gossipsub, with catch-up.
//! - [`gaen_export`]: file federation in from GAEN export indexes (`[[peers]]` `gaen-export`).
//! - [`federation`]: Google's `/Federation/Fetch`: the server for Google pullers and the puller
//!   of Google servers (`[[peers]]` `google-federation`).
//!
//! Nothing in this module re-publishes a received key: producers serve only local feeds.

pub mod federation;
pub mod gaen_export;
pub mod mesh;
pub mod partial;
pub mod received;
