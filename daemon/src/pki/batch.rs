//! Batch signatures: a node signs `"enmesh.v1.batch\0" || body` with its certified Ed25519 key,
//! and a receiver accepts a batch only if the signer's chain verifies, the signer is a node, the
//! signature is good, and the body's origin region equals the signer's certificate region (SP4).
//!
//! This module never accepts a batch on a partial check: [`VerifiedBatch`] exists only after all
//! of them passed. It does not check the keys inside the batch (the receiver does). The signing
//! side is [`super::identity::Credential::sign_batch`].

use super::verify::{Rejection, VerifiedPeer, Verifier};
use enmesh_proto::v1::{BatchBody, SignedBatch};
use enmesh_protocol::region::{RegionError, RegionId};
use prost::Message;
use rustls_pki_types::{CertificateDer, UnixTime};
use thiserror::Error;

/// Domain separation prefix of batch signatures.
pub const BATCH_DOMAIN: &[u8] = b"enmesh.v1.batch\0";

/// The bytes a batch signature covers: the domain prefix, then the serialized body.
pub(super) fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(BATCH_DOMAIN.len() + body.len());
    msg.extend_from_slice(BATCH_DOMAIN);
    msg.extend_from_slice(body);
    msg
}

/// A batch whose signer, signature and origin were all checked.
#[derive(Debug, Clone)]
pub struct VerifiedBatch {
    signer: VerifiedPeer,
    origin: RegionId,
    body: BatchBody,
}

impl VerifiedBatch {
    /// The verified signer (a node).
    pub fn signer(&self) -> &VerifiedPeer {
        &self.signer
    }

    /// The origin region (equal to the signer's certificate region).
    pub fn origin(&self) -> &RegionId {
        &self.origin
    }

    /// The decoded body.
    pub fn body(&self) -> &BatchBody {
        &self.body
    }
}

impl Verifier {
    /// Checks a signed batch at `now`: the signer's chain (role node), the signature over the
    /// domain-separated body, and origin region == the signer's certificate region.
    pub fn verify_batch(
        &self,
        batch: &SignedBatch,
        now: UnixTime,
    ) -> Result<VerifiedBatch, BatchRejection> {
        let chain: Vec<CertificateDer<'_>> = batch
            .signer_chain
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let signer = self.verify_node(&chain, now)?;
        let signature = ed25519_dalek::Signature::from_slice(&batch.signature)
            .map_err(|_| BatchRejection::SignatureLength(batch.signature.len()))?;
        signer
            .public_key()
            .verify_strict(&signed_message(&batch.body), &signature)
            .map_err(|_| BatchRejection::BadSignature)?;
        let body = BatchBody::decode(batch.body.as_slice())?;
        let origin: RegionId = body.origin_region.parse()?;
        if signer.region() != Some(&origin) {
            return Err(BatchRejection::OriginMismatch {
                batch: origin,
                certificate: signer.region().cloned(),
            });
        }
        Ok(VerifiedBatch {
            signer,
            origin,
            body,
        })
    }
}

/// Why a batch was rejected.
#[derive(Debug, Error)]
pub enum BatchRejection {
    /// The signer's certificate chain was rejected.
    #[error("batch signer rejected: {0}")]
    Signer(#[from] Rejection),
    /// The signature is not 64 bytes.
    #[error("batch signature of {0} bytes (want 64)")]
    SignatureLength(usize),
    /// The signature does not verify under the signer's key.
    #[error("batch signature does not verify")]
    BadSignature,
    /// The body is not a BatchBody.
    #[error("batch body does not decode: {0}")]
    Body(#[from] prost::DecodeError),
    /// The body's origin region does not parse.
    #[error("batch origin region: {0}")]
    Origin(#[from] RegionError),
    /// The body's origin region is not the signer's certificate region.
    #[error("batch origin {batch} is not the signer's region {certificate:?}")]
    OriginMismatch {
        /// The origin region named in the body.
        batch: RegionId,
        /// The region in the signer's certificate.
        certificate: Option<RegionId>,
    },
}
