//! The enmesh PKI: a root CA issues cluster CAs, a cluster CA issues the region nodes and auditors
//! of its own cluster, and every peer certificate, TLS handshake and batch signer is checked here.
//!
//! This module is the only place in the daemon where certificates are checked. Its checks return
//! proof types ([`VerifiedPeer`], [`VerifiedBatch`]) that nothing outside this module can build, so
//! code that skipped a check does not compile. It never takes a region, cluster or role from what
//! a peer *says*: they come out of a certificate that chains to the configured root, or nowhere.
//!
//! Submodules: [`fields`] (the enmesh fields carried in certificates), [`issue`] (the CA side,
//! used by `enmesh pki`), [`verify`] (the one verifier), [`identity`] (the node's own key and chain), [`batch`] (checking batch signatures),
//! [`tls`] (rustls verifiers for mTLS both ways), [`files`] (PEM files and revocation state),
//! [`cli`] (the `enmesh pki` commands), [`bootstrap`] (a whole demo/test tree in one call).

pub mod batch;
pub mod bootstrap;
pub mod cli;
pub mod efgs;
pub mod fields;
pub mod files;
pub mod identity;
pub mod issue;
pub mod tls;
pub mod verify;

pub use batch::{BatchRejection, VerifiedBatch};
pub use fields::{CertInfo, EnmeshFields, FieldsError, Role};
pub use identity::{Credential, IdentityError, NodeIdentity};
pub use issue::{CaKey, CertIssueError, NodeRequest, Validity};
pub use tls::{EnmeshClientVerifier, EnmeshServerVerifier, TlsError};
pub use verify::{Rejection, TrustError, VerifiedPeer, Verifier};

#[cfg(test)]
mod tests;
