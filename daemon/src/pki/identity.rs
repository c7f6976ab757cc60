//! The node's own identity: its Ed25519 key and certificate chain ([`Credential`]), and the next
//! ones during a rotation ([`NodeIdentity`]). The same key is the batch signer, the mTLS identity,
//! the libp2p PeerId and the signer of the replication log's checkpoints.
//!
//! This module loads and uses the node's own key; it never checks anyone's chain (the node checks
//! its own with [`super::Verifier`] at start) and never writes or logs the private key.

use super::batch::signed_message;
use super::fields::{FieldsError, ed25519_key, parse_der, peer_id_of};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::checkpoint::{Checkpoint, CheckpointError, KeyName, NoteSigner, VerifiedNote};
use libp2p_identity::PeerId;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use thiserror::Error;

/// One key and the certificate chain issued for it (`[node, cluster CA]`).
pub struct Credential {
    key: ed25519_dalek::SigningKey,
    key_der: PrivatePkcs8KeyDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    not_before: u64,
    not_after: u64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("public_key", &self.key.verifying_key())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Loads a PKCS#8 Ed25519 key and its chain (node certificate first, then the cluster CA;
    /// several PEM texts may be concatenated), checking the key matches the first certificate.
    /// This does not verify the chain: the node checks its own chain with a [`Verifier`].
    pub fn from_pem(key_pem: &[u8], chain_pem: &[&[u8]]) -> Result<Self, IdentityError> {
        let key_der =
            PrivatePkcs8KeyDer::from_pem_slice(key_pem).map_err(|_| IdentityError::BadKey)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(key_der.secret_pkcs8_der())
            .map_err(|_| IdentityError::BadKey)?;
        let mut chain = Vec::new();
        for pem in chain_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                chain.push(cert.map_err(|_| IdentityError::BadChain)?);
            }
        }
        let leaf = parse_der(chain.first().ok_or(IdentityError::BadChain)?)?;
        if ed25519_key(&leaf)? != key.verifying_key().to_bytes() {
            return Err(IdentityError::KeyMismatch);
        }
        let validity = leaf.validity();
        let not_before = u64::try_from(validity.not_before.timestamp()).unwrap_or(0);
        let not_after = u64::try_from(validity.not_after.timestamp()).unwrap_or(0);
        Ok(Self {
            key,
            key_der,
            chain,
            not_before,
            not_after,
        })
    }

    /// The certificate chain, node first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key, for a rustls configuration.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// The libp2p identity of this key (the same key as the certificate's).
    pub fn libp2p_keypair(&self) -> Result<libp2p_identity::Keypair, IdentityError> {
        libp2p_identity::Keypair::ed25519_from_bytes(self.key.to_bytes())
            .map_err(|_| IdentityError::BadKey)
    }

    /// The libp2p PeerId of this key.
    pub fn peer_id(&self) -> Result<PeerId, IdentityError> {
        Ok(peer_id_of(&self.key.verifying_key().to_bytes())?)
    }

    /// Whether `now` is inside the certificate's validity window.
    pub fn is_valid_at(&self, now: UnixTime) -> bool {
        (self.not_before..=self.not_after).contains(&now.as_secs())
    }

    /// Signs C2SP note `checkpoint` with this key under the key name `name`.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint, name: KeyName) -> String {
        checkpoint.sign(&NoteSigner::from_seed(name, &self.key.to_bytes()))
    }

    /// Adds this key's cosignature, under key name `name`, to a note whose signature was
    /// checked.
    pub fn cosign_note(
        &self,
        note: &VerifiedNote<'_, '_>,
        name: KeyName,
    ) -> Result<String, CheckpointError> {
        note.cosign(&NoteSigner::from_seed(name, &self.key.to_bytes()))
    }

    /// Signs a serialized [`BatchBody`] and attaches the chain.
    pub fn sign_batch(&self, body: Vec<u8>) -> SignedBatch {
        let signature = self.key.sign(&signed_message(&body));
        SignedBatch {
            body,
            signer_chain: self.chain.iter().map(|c| c.to_vec()).collect(),
            signature: signature.to_bytes().to_vec(),
        }
    }
}

/// A node's identity: its current credential and, during a rotation, the next one.
///
/// Both certificates verify during their overlap, so peers accept batches and connections made
/// with either; the node switches to the next credential as soon as it is valid.
#[derive(Debug)]
pub struct NodeIdentity {
    current: Credential,
    next: Option<Credential>,
}

impl NodeIdentity {
    /// An identity with one credential.
    pub fn new(current: Credential) -> Self {
        Self {
            current,
            next: None,
        }
    }

    /// Adds the credential that takes over during a rotation.
    pub fn with_next(mut self, next: Credential) -> Self {
        self.next = Some(next);
        self
    }

    /// The credential to use at `now`: the next one once it is valid, else the current one.
    pub fn active(&self, now: UnixTime) -> &Credential {
        match &self.next {
            Some(next) if next.is_valid_at(now) => next,
            _ => &self.current,
        }
    }

    /// Signs a serialized [`BatchBody`] with the credential active at `now`.
    pub fn sign_batch(&self, body: Vec<u8>, now: UnixTime) -> SignedBatch {
        self.active(now).sign_batch(body)
    }
}

/// Why a node identity could not be loaded.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The private key is not a PKCS#8 Ed25519 key.
    #[error("private key is not a PKCS#8 Ed25519 key")]
    BadKey,
    /// The certificate chain is empty or not PEM certificates.
    #[error("certificate chain is empty or not PEM certificates")]
    BadChain,
    /// The node certificate's fields or key cannot be read.
    #[error("node certificate: {0}")]
    Fields(#[from] FieldsError),
    /// The private key is not the certificate's key.
    #[error("private key does not match the node certificate")]
    KeyMismatch,
}
