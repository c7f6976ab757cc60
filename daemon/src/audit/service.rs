//! `enmesh.v1.Audit`: the replication log served to auditors over the node's mutual-TLS gRPC
//! listener, beside `Replication`: the latest signed checkpoint with its signer's chain, entries
//! by range (streamed in chunks of at most [`MAX_ENTRIES_PER_READ`]), and RFC 9162 inclusion
//! and consistency proofs computed from the stored subtree hashes.
//!
//! Only a client whose chain verifies as an auditor or a node of this CA tree is answered; any
//! other is refused with `PERMISSION_DENIED` and counted (`enmesh_audit_requests_total`). A
//! question about a tree or entry the log does not have is `OUT_OF_RANGE`. This module never
//! changes the log: reading it is not a replication event. Store reads run off the async
//! threads; an entries stream holds at most [`STREAM_BUFFER`] chunks, so a slow auditor slows
//! its own stream only.

use std::sync::Arc;

use enmesh_proto::v1::audit_server::{Audit, AuditServer};
use enmesh_proto::v1::{
    CheckpointRequest, CheckpointResponse, ConsistencyProofRequest, CosignRequest, CosignResponse,
    EntriesChunk, EntriesRequest, InclusionProofRequest, Proof,
};
use enmesh_protocol::checkpoint::{self, CheckpointError, KeyName, NoteVerifier};
use enmesh_protocol::merkle::{Hash, LeafIndex, TreeSize};
use enmesh_protocol::region::{ClusterId, RegionId};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::checkpoints::{note_text, origin};
use super::metrics::{Method, Outcome};
use crate::clock::SharedClock;
use crate::pki::{Role, VerifiedPeer, Verifier};
use crate::store::{AuditProofError, AuditReadError, MAX_ENTRIES_PER_READ, Store, StoreError};
use crate::telemetry::Metrics;

/// Entry chunks queued per stream before the reader waits for the auditor.
pub const STREAM_BUFFER: usize = 4;
/// Most witness cosignatures kept on one checkpoint.
pub const MAX_COSIGNATURES: usize = 32;

/// `kept` with the signature line of `cosigner` taken from `cosigned` added, if `cosigned` is
/// `kept`'s text with a valid signature of `cosigner` (`Err`: why not). A cosigner that signed
/// already is not added twice.
pub fn add_cosignature(
    kept: &str,
    cosigned: &str,
    cosigner: &NoteVerifier,
) -> Result<String, &'static str> {
    if note_text(kept).is_none() || note_text(kept) != note_text(cosigned) {
        return Err("not the node's current checkpoint");
    }
    checkpoint::open(cosigned, std::slice::from_ref(cosigner))
        .map_err(|_| "no valid signature of the caller's key")?;
    let prefix = format!("\u{2014} {} ", cosigner.name());
    // Exactly one line under the caller's name, so the line kept is the one `open` checked.
    let mut lines = cosigned.lines().filter(|line| line.starts_with(&prefix));
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Err("not exactly one signature line of the caller");
    };
    if kept.lines().any(|l| l.starts_with(&prefix)) {
        return Ok(kept.to_owned());
    }
    // Every signature line but the node's own is a cosignature.
    let cosignatures = kept
        .lines()
        .filter(|l| l.starts_with('\u{2014}'))
        .count()
        .saturating_sub(1);
    if cosignatures >= MAX_COSIGNATURES {
        return Err("the checkpoint carries the most cosignatures kept");
    }
    Ok(format!("{kept}{line}\n"))
}

/// The key a node of `cluster` and `region` cosigns checkpoints with, under its log origin.
pub fn cosigner(
    cluster: &ClusterId,
    region: &RegionId,
    key: ed25519_dalek::VerifyingKey,
) -> Result<NoteVerifier, CheckpointError> {
    Ok(NoteVerifier::new(
        KeyName::new(&origin(cluster, region))?,
        key,
    ))
}

/// Keeps `cosigner`'s signature line from `cosigned` on this node's latest checkpoint, if
/// `cosigned` is that checkpoint with a valid signature of `cosigner` (blocking: reads and
/// writes `store`). `Ok(Err(reason))`: refused, nothing changed.
pub fn keep_cosignature(
    store: &Store,
    cosigned: &str,
    cosigner: &NoteVerifier,
) -> Result<Result<(), &'static str>, StoreError> {
    let Some(mut kept) = store.checkpoint()? else {
        return Ok(Err("no checkpoint signed yet"));
    };
    match add_cosignature(&kept.note, cosigned, cosigner) {
        Ok(note) if note != kept.note => {
            kept.note = note;
            store.put_checkpoint(&kept)?;
            Ok(Ok(()))
        }
        Ok(_) => Ok(Ok(())),
        Err(reason) => Ok(Err(reason)),
    }
}

/// The `Audit` service of one node.
#[derive(Clone)]
pub struct AuditService {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    clock: SharedClock,
    metrics: Metrics,
}

impl AuditService {
    /// The service over `store`'s log; clients are checked with `verifier`.
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            verifier,
            clock,
            metrics,
        }
    }

    /// The tonic service.
    pub fn server(self) -> AuditServer<Self> {
        AuditServer::new(self)
    }

    /// Refuses a client that is not an auditor or a node of the CA tree; who it is otherwise.
    fn authorise<T>(&self, request: &Request<T>, method: Method) -> Result<VerifiedPeer, Status> {
        let verified = request
            .peer_certs()
            .ok_or_else(|| Status::unauthenticated("no client certificate"))
            .and_then(|chain| {
                self.verifier
                    .verify_client(&chain, self.clock.unix_time())
                    .map_err(|rejection| {
                        Status::permission_denied(format!("client certificate: {rejection}"))
                    })
            });
        match verified {
            Ok(peer) => Ok(peer),
            Err(status) => {
                tracing::warn!(status = %status.message(), "audit request refused");
                self.metrics.audit().request(method, Outcome::Refused);
                Err(status)
            }
        }
    }

    /// Counts the outcome of `method` and turns a failure into a status.
    fn answer<T>(&self, method: Method, result: Result<T, AuditProofError>) -> Result<T, Status> {
        let (outcome, result) = match result {
            Ok(value) => (Outcome::Answered, Ok(value)),
            Err(AuditProofError::Request(error)) => (
                Outcome::BadRequest,
                Err(Status::out_of_range(error.to_string())),
            ),
            Err(AuditProofError::Store(error)) => {
                tracing::error!(%error, "audit: cannot read the log");
                (
                    Outcome::Failed,
                    Err(Status::internal("cannot read the log")),
                )
            }
        };
        self.metrics.audit().request(method, outcome);
        result
    }

    /// Runs a blocking store read for `method` off the async threads; counts its outcome.
    async fn blocking<T: Send + 'static>(
        &self,
        method: Method,
        read: impl FnOnce(&Store) -> Result<T, AuditProofError> + Send + 'static,
    ) -> Result<T, Status> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || read(&store)).await {
            Ok(result) => self.answer(method, result),
            Err(error) => {
                tracing::error!(%error, "audit: a read did not finish");
                self.metrics.audit().request(method, Outcome::Failed);
                Err(Status::internal("the read did not finish"))
            }
        }
    }
}

fn hashes(proof: Vec<Hash>) -> Proof {
    Proof {
        hashes: proof.into_iter().map(|h| h.0.to_vec()).collect(),
    }
}

fn read_error(error: AuditReadError) -> AuditProofError {
    AuditProofError::Request(error)
}

#[tonic::async_trait]
impl Audit for AuditService {
    type GetEntriesStream = ReceiverStream<Result<EntriesChunk, Status>>;

    async fn get_checkpoint(
        &self,
        request: Request<CheckpointRequest>,
    ) -> Result<Response<CheckpointResponse>, Status> {
        self.authorise(&request, Method::Checkpoint)?;
        let kept = self
            .blocking(Method::Checkpoint, |store| Ok(store.checkpoint()?))
            .await?;
        match kept {
            Some(checkpoint) => Ok(Response::new(checkpoint)),
            None => Err(Status::unavailable("no checkpoint signed yet")),
        }
    }

    async fn get_entries(
        &self,
        request: Request<EntriesRequest>,
    ) -> Result<Response<Self::GetEntriesStream>, Status> {
        self.authorise(&request, Method::Entries)?;
        let EntriesRequest { start, end } = request.into_inner();
        let size = self.store.audit_head().0.0;
        if start > end || end > size {
            let error = read_error(AuditReadError::Range { start, end, size });
            return self.answer(Method::Entries, Err(error));
        }
        self.metrics
            .audit()
            .request(Method::Entries, Outcome::Answered);
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut at = start;
            while at < end {
                let chunk_end = end.min(at.saturating_add(MAX_ENTRIES_PER_READ));
                let store = store.clone();
                let read =
                    tokio::task::spawn_blocking(move || store.audit_entries(at, chunk_end)).await;
                let entries = match read {
                    Ok(Ok(Ok(entries))) => entries,
                    Ok(Ok(Err(error))) => {
                        let _ = tx.send(Err(Status::out_of_range(error.to_string()))).await;
                        return;
                    }
                    Ok(Err(error)) => {
                        tracing::error!(%error, "audit: cannot read entries");
                        let _ = tx.send(Err(Status::internal("cannot read the log"))).await;
                        return;
                    }
                    Err(_) => return,
                };
                let count = entries.len() as u64;
                if tx
                    .send(Ok(EntriesChunk { start: at, entries }))
                    .await
                    .is_err()
                    || count == 0
                {
                    return;
                }
                at += count;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn add_cosignature(
        &self,
        request: Request<CosignRequest>,
    ) -> Result<Response<CosignResponse>, Status> {
        let peer = self.authorise(&request, Method::Cosign)?;
        let (Role::Node, Some(region)) = (peer.role(), peer.region()) else {
            self.metrics
                .audit()
                .request(Method::Cosign, Outcome::Refused);
            return Err(Status::permission_denied(
                "only a node of the CA tree cosigns",
            ));
        };
        let cosigner = cosigner(peer.cluster(), region, *peer.public_key())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let cosigned = request.into_inner().note;
        let merged = self
            .blocking(Method::Cosign, move |store| {
                Ok(keep_cosignature(store, &cosigned, &cosigner)?)
            })
            .await?;
        match merged {
            Ok(()) => Ok(Response::new(CosignResponse {})),
            Err(reason) => Err(Status::failed_precondition(reason)),
        }
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<InclusionProofRequest>,
    ) -> Result<Response<Proof>, Status> {
        self.authorise(&request, Method::Inclusion)?;
        let InclusionProofRequest { index, tree_size } = request.into_inner();
        let proof = self
            .blocking(Method::Inclusion, move |store| {
                store.audit_inclusion_proof(LeafIndex(index), TreeSize(tree_size))
            })
            .await?;
        Ok(Response::new(hashes(proof)))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<ConsistencyProofRequest>,
    ) -> Result<Response<Proof>, Status> {
        self.authorise(&request, Method::Consistency)?;
        let ConsistencyProofRequest { first, second } = request.into_inner();
        let proof = self
            .blocking(Method::Consistency, move |store| {
                store.audit_consistency_proof(TreeSize(first), TreeSize(second))
            })
            .await?;
        Ok(Response::new(hashes(proof)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enmesh_protocol::checkpoint::{Checkpoint, NoteSigner};
    use enmesh_protocol::merkle::empty_root;

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::from_seed(KeyName::new(name).unwrap(), &[seed; 32])
    }

    #[test]
    fn only_a_valid_cosignature_of_the_current_checkpoint_is_added_once() {
        let (node, witness, other) = (
            signer("enmesh/EU/DE", 1),
            signer("enmesh/EU/FR", 2),
            signer("enmesh/EU/IT", 3),
        );
        let note = |size| {
            Checkpoint::new("enmesh/EU/DE", TreeSize(size), empty_root(), Vec::new())
                .unwrap()
                .sign(&node)
        };
        let kept = note(3);
        let cosign = |note: &str, by: &NoteSigner| {
            checkpoint::open(note, &[node.verifier()])
                .unwrap()
                .cosign(by)
                .unwrap()
        };
        let cosigned = cosign(&kept, &witness);
        let merged = add_cosignature(&kept, &cosigned, &witness.verifier()).unwrap();
        assert!(merged.starts_with(&kept) && merged.lines().count() == kept.lines().count() + 1);
        // Twice from the same witness: kept once.
        assert_eq!(
            add_cosignature(&merged, &cosigned, &witness.verifier()).unwrap(),
            merged
        );
        // A cosignature of another checkpoint, or claimed for a key that did not make it.
        let stale = cosign(&note(2), &witness);
        assert!(add_cosignature(&kept, &stale, &witness.verifier()).is_err());
        let forged = cosign(&kept, &other);
        assert!(add_cosignature(&kept, &forged, &witness.verifier()).is_err());
        assert!(add_cosignature(&kept, "garbage", &witness.verifier()).is_err());

        // At most MAX_COSIGNATURES witnesses: the next one is refused, the note unchanged.
        let mut full = kept.clone();
        for n in 0..MAX_COSIGNATURES {
            let witness = signer(&format!("enmesh/EU/W{n}"), 10 + n as u8);
            full = add_cosignature(&full, &cosign(&kept, &witness), &witness.verifier()).unwrap();
        }
        assert_eq!(
            full.lines().count(),
            kept.lines().count() + MAX_COSIGNATURES
        );
        let late = signer("enmesh/EU/LATE", 200);
        assert!(add_cosignature(&full, &cosign(&kept, &late), &late.verifier()).is_err());
    }
}
