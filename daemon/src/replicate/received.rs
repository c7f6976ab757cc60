//! The checks a batch received from another backend must pass before any of it is stored: the
//! signer's chain, role and region (via [`Verifier::verify_batch`]), the origin the receiver
//! expects from that source, the feed, the sequence and chain fields, and every key's fields.
//!
//! [`check_batch`] is pure apart from the verifier's certificate checks: it never stores, counts
//! or logs. A [`ReceivedBatch`] exists only when every check passed; a [`Refusal`] names the
//! first one that failed with a stable label for metrics.

use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::region::{ClusterId, RegionId};
use rustls_pki_types::UnixTime;
use thiserror::Error;

use enmesh_protocol::feed::{self, Feed};
use enmesh_protocol::keys::DiagnosisKey;

use crate::pki::{BatchRejection, Rejection, Verifier};
use crate::store::BatchId;
use crate::wire::{WireKeyError, key_from_wire};

/// Most keys one received batch may hold (the largest `batching.max_keys`).
pub const MAX_KEYS: usize = 1_000_000;

/// A batch received from another backend that passed every check of [`check_batch`] (signer,
/// origin, signature, feed, chain fields, keys), ready for
/// [`crate::store::Store::commit_received`]. Only [`check_batch`] builds one, so a batch that
/// skipped the checks cannot reach the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedBatch {
    origin: RegionId,
    feed: Feed,
    sequence: u64,
    id: BatchId,
    previous: Option<BatchId>,
    created_unix_millis: u64,
    keys: Vec<DiagnosisKey>,
    signed: SignedBatch,
    signer: crate::audit::Peer,
}

impl ReceivedBatch {
    /// The node that signed it, as the replication log records it.
    pub fn signer(&self) -> &crate::audit::Peer {
        &self.signer
    }

    /// The origin region (the signer's certificate region).
    pub fn origin(&self) -> &RegionId {
        &self.origin
    }

    /// The origin's feed the batch belongs to.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Its sequence in that feed.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// SHA-256 of its body.
    pub fn id(&self) -> BatchId {
        self.id
    }

    /// The id of the previous batch of the feed (`None` for the first).
    pub fn previous(&self) -> Option<BatchId> {
        self.previous
    }

    /// When the origin cut it (the origin's clock).
    pub fn created_unix_millis(&self) -> u64 {
        self.created_unix_millis
    }

    /// Its keys (real and padding: a receiver cannot tell them apart).
    pub fn keys(&self) -> &[DiagnosisKey] {
        &self.keys
    }

    /// The batch as signed, kept so this node can serve it to others.
    pub fn signed(&self) -> &SignedBatch {
        &self.signed
    }
}

/// Where a batch came from, and so which origins are acceptable.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Pulled from the producer of region `0` (a partial feed stream): the batch's origin must
    /// be that region.
    Pulled(&'a RegionId),
    /// A peer of this node's cluster mesh: the signer must be a node of `cluster`, and the
    /// origin (its certificate region) not this node's own region `me`.
    Cluster {
        /// This node's cluster.
        cluster: &'a ClusterId,
        /// This node's region.
        me: &'a RegionId,
    },
}

/// Why a received batch was refused.
#[derive(Debug, Error)]
pub enum Refusal {
    /// The signer's certificate chain was rejected.
    #[error("signer rejected: {0}")]
    Signer(Rejection),
    /// The signature is malformed or does not verify.
    #[error("{0}")]
    Signature(BatchRejection),
    /// The body does not decode or names an unparsable origin.
    #[error("malformed batch: {0}")]
    Malformed(BatchRejection),
    /// The body's origin is not the signer's certificate region.
    #[error("{0}")]
    OriginMismatch(BatchRejection),
    /// The batch's origin is not what this source may send.
    #[error("origin {origin} is not expected from {expected}")]
    UnexpectedOrigin {
        /// The batch's (verified) origin.
        origin: RegionId,
        /// What the source may send.
        expected: String,
    },
    /// The signer belongs to another cluster than the mesh's.
    #[error("signer of cluster {signer} is not in cluster {expected}")]
    WrongCluster {
        /// The signer's cluster.
        signer: ClusterId,
        /// This node's cluster.
        expected: ClusterId,
    },
    /// The batch is of another feed than the one asked for.
    #[error("batch of feed {got:?} where {expected} was expected")]
    WrongFeed {
        /// The feed expected.
        expected: Feed,
        /// The feed named in the body.
        got: String,
    },
    /// The sequence is 0, or the previous-batch id is neither empty nor 32 bytes.
    #[error("bad chain fields: {0}")]
    BadChain(&'static str),
    /// More keys than any batcher cuts.
    #[error("{0} keys in one batch (at most {MAX_KEYS})")]
    TooManyKeys(usize),
    /// A key has a field out of range.
    #[error("key {index}: {error}")]
    BadKey {
        /// The key's index in the batch.
        index: usize,
        /// What was wrong.
        error: WireKeyError,
    },
}

impl Refusal {
    /// A stable label for metrics (`enmesh_replication_rejections{reason=...}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Signer(_) => "signer_rejected",
            Self::Signature(_) => "bad_signature",
            Self::Malformed(_) => "malformed",
            Self::OriginMismatch(_) => "origin_mismatch",
            Self::UnexpectedOrigin { .. } => "unexpected_origin",
            Self::WrongCluster { .. } => "wrong_cluster",
            Self::WrongFeed { .. } => "wrong_feed",
            Self::BadChain(_) => "bad_chain",
            Self::TooManyKeys(_) => "too_many_keys",
            Self::BadKey { .. } => "bad_key",
        }
    }
}

impl From<BatchRejection> for Refusal {
    fn from(error: BatchRejection) -> Self {
        match error {
            BatchRejection::Signer(rejection) => Self::Signer(rejection),
            e @ (BatchRejection::SignatureLength(_) | BatchRejection::BadSignature) => {
                Self::Signature(e)
            }
            e @ (BatchRejection::Body(_) | BatchRejection::Origin(_)) => Self::Malformed(e),
            e @ BatchRejection::OriginMismatch { .. } => Self::OriginMismatch(e),
        }
    }
}

/// Checks `signed`, received from `source` as a batch of `feed`, at `now`.
pub fn check_batch(
    verifier: &Verifier,
    signed: &SignedBatch,
    feed: &Feed,
    source: Source<'_>,
    now: UnixTime,
) -> Result<ReceivedBatch, Refusal> {
    let verified = verifier.verify_batch(signed, now)?;
    let origin = verified.origin().clone();
    match source {
        Source::Pulled(region) if &origin != region => {
            return Err(Refusal::UnexpectedOrigin {
                origin,
                expected: format!("producer {region}"),
            });
        }
        Source::Cluster { cluster, .. } if verified.signer().cluster() != cluster => {
            return Err(Refusal::WrongCluster {
                signer: verified.signer().cluster().clone(),
                expected: cluster.clone(),
            });
        }
        Source::Cluster { me, .. } if &origin == me => {
            return Err(Refusal::UnexpectedOrigin {
                origin,
                expected: "another region of the cluster".to_owned(),
            });
        }
        _ => {}
    }
    let body = verified.body();
    if body.feed.parse::<Feed>().as_ref() != Ok(feed) {
        return Err(Refusal::WrongFeed {
            expected: feed.clone(),
            got: body.feed.chars().take(feed::MAX_LEN).collect(),
        });
    }
    if body.sequence == 0 {
        return Err(Refusal::BadChain("sequence 0"));
    }
    let previous = match body.previous_batch_id.len() {
        0 => None,
        32 => {
            let mut id = [0u8; 32];
            id.copy_from_slice(&body.previous_batch_id);
            Some(BatchId(id))
        }
        _ => return Err(Refusal::BadChain("previous batch id is not 32 bytes")),
    };
    if body.keys.len() > MAX_KEYS {
        return Err(Refusal::TooManyKeys(body.keys.len()));
    }
    let keys = body
        .keys
        .iter()
        .enumerate()
        .map(|(index, wire)| key_from_wire(wire).map_err(|error| Refusal::BadKey { index, error }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReceivedBatch {
        origin,
        feed: feed.clone(),
        sequence: body.sequence,
        id: BatchId::of_body(&signed.body),
        previous,
        created_unix_millis: u64::try_from(body.created_unix_millis).unwrap_or(0),
        keys,
        signed: signed.clone(),
        signer: crate::audit::Peer::verified(verified.signer()),
    })
}
