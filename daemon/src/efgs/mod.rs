//! EFGS interoperability (formats.md §g): an EFGS-compatible gateway on a node, so national
//! backends built for the EU Federation Gateway Service join enmesh unchanged ([`gateway`]), and
//! an EFGS client that exchanges keys with a real EFGS (or another node's gateway) for
//! `format = "efgs"` peers ([`client`]).
//!
//! [`cms`] signs and verifies the detached CMS `batchSignature`; [`dsos`] translates report types,
//! days since onset and transmission risk between EFGS and enmesh; [`wire`] holds the protobuf
//! and JSON forms; [`https`] the one-request HTTPS client both sides use; [`metrics`] what both
//! sides count. The canonical signing
//! bytes are `enmesh_protocol::efgs`. Certificates are checked in `pki::efgs` only.
//!
//! Nothing here sends a visited list out of the node, stores keys whose signature did not
//! verify, or reads the system clock.

pub mod client;
pub mod cms;
pub mod dsos;
pub mod gateway;
pub mod https;
pub mod metrics;
pub mod run;
pub mod wire;
