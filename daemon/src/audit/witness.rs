//! Witnessing other nodes' logs: a checkpoint another node passes to this one — on its partial
//! stream, or asked over the cluster mesh — is checked (signed by that node's certificate,
//! under its own origin), compared with the last one this node holds of that log (the same
//! tree, or a consistency proof from that node joins them), kept, cosigned with this node's key
//! (a C2SP cosignature) and the cosignature handed back to that node. The node is reached
//! through a [`LogSource`]: its `Audit` service (partial streams) or the mesh's sync protocol.
//!
//! Two checkpoints of one log that nothing joins — a smaller tree, the same size with another
//! root, or a consistency proof that fails — are a fork: `enmesh_audit_forks_total{origin}`, an
//! error log, a `ForkDetected` entry in this node's own log, and both signed checkpoints kept
//! as evidence (`Store::forks`). The held checkpoint is not replaced by a forked one. This
//! module never keeps or cosigns a checkpoint it did not check.

use std::future::Future;
use std::sync::Arc;

use enmesh_proto::v1::audit_client::AuditClient;
use enmesh_proto::v1::{CheckpointResponse, ConsistencyProofRequest, CosignRequest, ForkEvidence};
use enmesh_protocol::checkpoint::{self, Checkpoint, KeyName, NoteVerifier};
use enmesh_protocol::merkle;
use enmesh_protocol::region::RegionId;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tonic::transport::Channel;

use super::checkpoints::{note_checkpoint, note_text};
use super::client::{AuditClientError, CheckedCheckpoint, check_checkpoint, proof_hashes};
use crate::clock::SharedClock;
use crate::pki::{NodeIdentity, Verifier};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// What witnessing one checkpoint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Witnessed {
    /// The first checkpoint held of this log.
    First,
    /// The same checkpoint as held.
    Unchanged,
    /// A larger tree, proved to extend the held one.
    Extended {
        /// The held tree size.
        from: u64,
    },
    /// A fork: the two checkpoints are kept as evidence (`new` was not kept as held).
    Fork {
        /// Why nothing joins them.
        reason: String,
    },
}

/// Why a checkpoint could not be witnessed (nothing was kept).
#[derive(Debug, Error)]
pub enum WitnessError {
    /// The checkpoint does not verify as the producer's.
    #[error("checkpoint refused: {0}")]
    Refused(#[from] AuditClientError),
    /// The node did not answer for a consistency proof.
    #[error("consistency proof: {0}")]
    Proof(String),
    /// This node's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store call did not finish.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The node whose log is witnessed, as this node reaches it.
pub trait LogSource: Send {
    /// An RFC 9162 consistency proof of its log from tree size `first` to `second` (its
    /// hashes), or why it did not give one.
    fn consistency_proof(
        &mut self,
        first: u64,
        second: u64,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, String>> + Send;

    /// Hands it `note`: its checkpoint's text with this node's cosignature line only.
    fn add_cosignature(&mut self, note: String) -> impl Future<Output = Result<(), String>> + Send;
}

/// A producer reached through its `enmesh.v1.Audit` service.
impl LogSource for AuditClient<Channel> {
    async fn consistency_proof(&mut self, first: u64, second: u64) -> Result<Vec<Vec<u8>>, String> {
        self.get_consistency_proof(ConsistencyProofRequest { first, second })
            .await
            .map(|proof| proof.into_inner().hashes)
            .map_err(|status| status.to_string())
    }

    async fn add_cosignature(&mut self, note: String) -> Result<(), String> {
        AuditClient::add_cosignature(self, CosignRequest { note })
            .await
            .map(|_| ())
            .map_err(|status| status.to_string())
    }
}

/// A witness of the logs of the nodes this node pulls from or meshes with.
#[derive(Clone)]
pub struct Witness {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    identity: Arc<NodeIdentity>,
    /// This node's own log origin (the key name of its cosignatures).
    origin: String,
    clock: SharedClock,
    metrics: Metrics,
}

impl Witness {
    /// A witness keeping what it saw in `store`, cosigning with `identity` as `origin`.
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        identity: Arc<NodeIdentity>,
        origin: String,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            verifier,
            identity,
            origin,
            clock,
            metrics,
        }
    }

    /// Witnesses `answer`, a checkpoint the node of `region` sent; `audit` reaches that node.
    pub async fn observe(
        &self,
        answer: CheckpointResponse,
        region: &RegionId,
        audit: &mut impl LogSource,
    ) -> Result<Witnessed, WitnessError> {
        let new = check_checkpoint(
            &answer,
            &self.verifier,
            Some(region),
            self.clock.unix_time(),
        )?;
        let origin = new.checkpoint.origin().to_owned();
        let held = {
            let (store, origin) = (self.store.clone(), origin.clone());
            blocking(move || store.witnessed(&origin)).await?
        };
        // The held one was checked when it was kept; its signer's certificate may have expired
        // or rotated since, which must not make this node forget what it saw.
        let held = held.and_then(|held| note_checkpoint(&held.note).map(|parsed| (held, parsed)));
        let outcome = match &held {
            None => Witnessed::First,
            Some((_, old)) => self.compare(old, &new.checkpoint, audit).await?,
        };
        match &outcome {
            Witnessed::Unchanged => return Ok(outcome),
            Witnessed::Fork { reason } => {
                if let Some((held, old)) = &held {
                    self.alarm((held, old), &new, reason, region).await?;
                }
                return Ok(outcome);
            }
            Witnessed::First | Witnessed::Extended { .. } => {}
        }
        {
            let (store, origin, kept) = (self.store.clone(), origin.clone(), answer.clone());
            blocking(move || store.put_witnessed(&origin, &kept)).await?;
        }
        self.metrics.audit().witnessed(region);
        self.cosign(&new, audit).await;
        Ok(outcome)
    }

    /// Whether `now` extends `old`.
    async fn compare(
        &self,
        old: &Checkpoint,
        now: &Checkpoint,
        audit: &mut impl LogSource,
    ) -> Result<Witnessed, WitnessError> {
        if old.size() > now.size() {
            return Ok(Witnessed::Fork {
                reason: format!("the log shrank from {} to {}", old.size().0, now.size().0),
            });
        }
        if old.size() == now.size() {
            return Ok(if old.root() == now.root() {
                Witnessed::Unchanged
            } else {
                Witnessed::Fork {
                    reason: format!("two roots for tree size {}", old.size().0),
                }
            });
        }
        let proof = audit
            .consistency_proof(old.size().0, now.size().0)
            .await
            .map_err(WitnessError::Proof)?;
        let proof = proof_hashes(&proof)?;
        let verified =
            merkle::verify_consistency(old.size(), now.size(), &old.root(), &now.root(), &proof);
        Ok(match verified {
            Ok(()) => Witnessed::Extended { from: old.size().0 },
            Err(error) => Witnessed::Fork {
                reason: format!(
                    "no consistency from {} to {}: {error}",
                    old.size().0,
                    now.size().0
                ),
            },
        })
    }

    /// Raises the alarm for a fork between `held` (kept, and its checkpoint) and `new` of
    /// `region`'s log.
    async fn alarm(
        &self,
        (held, old): (&CheckpointResponse, &Checkpoint),
        new: &CheckedCheckpoint,
        reason: &str,
        region: &RegionId,
    ) -> Result<(), WitnessError> {
        let origin = new.checkpoint.origin().to_owned();
        let now = self.clock.now_millis();
        let entry = super::fork_detected(
            &origin,
            (&held.note, old.size().0),
            (&new.answer.note, new.checkpoint.size().0),
            reason,
            now,
        );
        let evidence = ForkEvidence {
            held: Some(held.clone()),
            new: Some(new.answer.clone()),
            reason: reason.to_owned(),
            detected_unix_millis: i64::try_from(now).unwrap_or(i64::MAX),
        };
        let digest: [u8; 32] = Sha256::digest(new.answer.note.as_bytes()).into();
        let store = self.store.clone();
        let log_origin = origin.clone();
        let first =
            blocking(move || store.put_fork(&log_origin, &evidence, &digest, &entry)).await?;
        if first {
            self.metrics.audit().fork(region);
            tracing::error!(
                %origin,
                held_size = old.size().0,
                new_size = new.checkpoint.size().0,
                reason,
                "FORK: two signed checkpoints of one log that no consistency proof joins; both kept as evidence"
            );
        }
        Ok(())
    }

    /// Cosigns `new` and hands the cosignature back to its node (best effort: a node that
    /// does not take it loses only the cosignature).
    async fn cosign(&self, new: &CheckedCheckpoint, audit: &mut impl LogSource) {
        let Ok(name) = KeyName::new(new.checkpoint.origin()) else {
            return;
        };
        let verifier = NoteVerifier::new(name, new.signer_key);
        let Ok(opened) = checkpoint::open(&new.answer.note, std::slice::from_ref(&verifier)) else {
            return;
        };
        let Ok(my_name) = KeyName::new(&self.origin) else {
            return;
        };
        let credential = self.identity.active(self.clock.unix_time());
        // The text and this node's line only: the other witnesses' lines are the node's own.
        let cosigned = credential.cosign_note(&opened, my_name).map(|note| {
            let line = note.lines().last().unwrap_or_default().to_owned();
            format!("{}\n\n{line}\n", note_text(&note).unwrap_or_default())
        });
        match cosigned {
            Ok(note) => {
                if let Err(reason) = audit.add_cosignature(note).await {
                    tracing::debug!(%reason, "the node did not take the cosignature");
                }
            }
            Err(error) => tracing::debug!(%error, "cannot cosign"),
        }
    }
}

async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, WitnessError> {
    tokio::task::spawn_blocking(read)
        .await?
        .map_err(WitnessError::Store)
}
