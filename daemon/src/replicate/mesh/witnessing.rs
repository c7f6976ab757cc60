//! Witnessing replication logs over the cluster mesh: every node asks each admitted peer for
//! its latest signed checkpoint, checks it against the one it holds of that peer's log (a
//! consistency proof asked of the same peer joins them), keeps it and hands back its
//! cosignature — the [`Witness`] does the checking, this module only carries its questions
//! over the sync protocol — and answers its peers' same questions about this node's log.
//!
//! When to witness whom and whom to answer is the state machine's
//! ([`super::state::Action::Witness`], [`super::state::Action::AnswerAudit`]). This module
//! never answers a question the state machine did not pass, never keeps a cosignature that does
//! not verify with the asking peer's certified key, and bounds each witnessing in time.

use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::v1::CheckpointResponse;
use enmesh_protocol::checkpoint::NoteVerifier;
use enmesh_protocol::merkle::{Hash, TreeSize};
use enmesh_protocol::region::RegionId;
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use super::frame::{Ask, CheckpointAsk, ConsistencyAsk, CosignAsk, SyncRequest, SyncResponse};
use super::state::AuditAsk;
use crate::audit::metrics::{Method, Outcome};
use crate::audit::service::keep_cosignature;
use crate::audit::witness::{LogSource, Witness, Witnessed};
use crate::store::{AuditProofError, Store};
use crate::telemetry::Metrics;

/// How long one witnessing of a peer's log may take (checkpoint, proof and cosignature).
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The witness of the mesh, and how often it witnesses each admitted peer.
#[derive(Clone)]
pub struct Witnessing {
    /// Checks, keeps and cosigns the peers' checkpoints.
    pub witness: Witness,
    /// Each admitted peer's log is witnessed this often (rounded to whole seconds, at least 1).
    pub every: Duration,
}

/// A sync request a witnessing sends through the actor, and where its answer goes (dropped
/// unanswered if the request fails).
pub struct Outbound {
    /// The peer asked.
    pub peer: PeerId,
    /// The request.
    pub request: SyncRequest,
    /// Its answer.
    pub answer: oneshot::Sender<SyncResponse>,
}

/// A peer's replication log, reached over the mesh's sync protocol through the actor.
pub struct MeshLog {
    peer: PeerId,
    asks: mpsc::Sender<Outbound>,
}

impl MeshLog {
    /// `peer`'s log, asked through `asks` (the actor's inbox of witnessing requests).
    pub fn new(peer: PeerId, asks: mpsc::Sender<Outbound>) -> Self {
        Self { peer, asks }
    }

    async fn ask(&self, ask: Ask) -> Result<SyncResponse, String> {
        let (answer, answered) = oneshot::channel();
        let outbound = Outbound {
            peer: self.peer,
            request: SyncRequest { ask: Some(ask) },
            answer,
        };
        self.asks
            .send(outbound)
            .await
            .map_err(|_| "the mesh has stopped".to_owned())?;
        answered
            .await
            .map_err(|_| "the peer did not answer".to_owned())
    }

    /// The peer's latest checkpoint (`None`: it has signed none yet).
    pub async fn checkpoint(&self) -> Result<Option<CheckpointResponse>, String> {
        Ok(self
            .ask(Ask::Checkpoint(CheckpointAsk {}))
            .await?
            .checkpoint)
    }
}

impl LogSource for MeshLog {
    async fn consistency_proof(&mut self, first: u64, second: u64) -> Result<Vec<Vec<u8>>, String> {
        let answer = self
            .ask(Ask::Consistency(ConsistencyAsk { first, second }))
            .await?;
        if answer.refused.is_empty() {
            Ok(answer.proof)
        } else {
            Err(answer.refused)
        }
    }

    async fn add_cosignature(&mut self, note: String) -> Result<(), String> {
        let answer = self.ask(Ask::Cosign(CosignAsk { note })).await?;
        if answer.refused.is_empty() {
            Ok(())
        } else {
            Err(answer.refused)
        }
    }
}

/// Witnesses the log of `peer`, the node of `region`, once: what it found, or why nothing was
/// witnessed (logged either way).
pub async fn witness_peer(
    witness: &Witness,
    mut log: MeshLog,
    region: &RegionId,
) -> Option<Witnessed> {
    let peer = log.peer;
    let run = async {
        let Some(checkpoint) = log.checkpoint().await? else {
            return Ok(None);
        };
        witness
            .observe(checkpoint, region, &mut log)
            .await
            .map(Some)
            .map_err(|error| error.to_string())
    };
    match tokio::time::timeout(WITNESS_TIMEOUT, run).await {
        Ok(Ok(witnessed)) => {
            tracing::debug!(%peer, %region, ?witnessed, "mesh: peer's checkpoint witnessed");
            witnessed
        }
        Ok(Err(reason)) => {
            tracing::warn!(%peer, %region, reason, "mesh: peer's checkpoint not witnessed");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, %region, "mesh: witnessing the peer's log timed out");
            None
        }
    }
}

/// This node's answer to `ask` of an admitted peer whose cosignatures verify with `cosigner`
/// (blocking: reads the store, and writes it for a cosignature kept). Counted in
/// `enmesh_audit_requests_total` like the same question asked of the `Audit` service.
pub fn answer(
    store: &Arc<Store>,
    ask: &AuditAsk,
    cosigner: Option<&NoteVerifier>,
    metrics: &Metrics,
) -> SyncResponse {
    let (method, outcome, response) = match ask {
        AuditAsk::Checkpoint => match store.checkpoint() {
            Ok(checkpoint) => (
                Method::Checkpoint,
                Outcome::Answered,
                SyncResponse {
                    checkpoint,
                    ..SyncResponse::default()
                },
            ),
            Err(error) => failed(Method::Checkpoint, &error),
        },
        AuditAsk::Consistency { first, second } => {
            match store.audit_consistency_proof(TreeSize(*first), TreeSize(*second)) {
                Ok(proof) => (
                    Method::Consistency,
                    Outcome::Answered,
                    SyncResponse {
                        proof: proof.into_iter().map(|Hash(h)| h.to_vec()).collect(),
                        ..SyncResponse::default()
                    },
                ),
                Err(AuditProofError::Request(error)) => {
                    refused(Method::Consistency, Outcome::BadRequest, &error.to_string())
                }
                Err(AuditProofError::Store(error)) => failed(Method::Consistency, &error),
            }
        }
        AuditAsk::Cosign { note } => match cosigner {
            None => refused(
                Method::Cosign,
                Outcome::Refused,
                "no cosigning key for this peer",
            ),
            Some(cosigner) => match keep_cosignature(store, note, cosigner) {
                Ok(Ok(())) => (Method::Cosign, Outcome::Answered, SyncResponse::default()),
                Ok(Err(reason)) => refused(Method::Cosign, Outcome::BadRequest, reason),
                Err(error) => failed(Method::Cosign, &error),
            },
        },
    };
    metrics.audit().request(method, outcome);
    response
}

fn refused(method: Method, outcome: Outcome, reason: &str) -> (Method, Outcome, SyncResponse) {
    let response = SyncResponse {
        refused: reason.to_owned(),
        ..SyncResponse::default()
    };
    (method, outcome, response)
}

fn failed(method: Method, error: &dyn std::fmt::Display) -> (Method, Outcome, SyncResponse) {
    tracing::error!(%error, "mesh: cannot read the replication log");
    refused(method, Outcome::Failed, "cannot read the log")
}
