//! The checkpointer: a worker that signs a C2SP checkpoint (`<origin>`, tree size, root) of the
//! node's replication log with the node's Ed25519 key, at most every `audit.checkpoint_secs`
//! and only when the log grew, and keeps it with the signing certificate's chain so an auditor
//! can check it against the CA tree.
//!
//! The WAL is synced before each signature, so a checkpoint never covers an entry a power cut
//! could still take back. The origin (and the note's key name) is [`origin`]: `enmesh/<cluster>/<region>`, the same
//! names the node's certificate carries. This module never signs a size or root the store did
//! not report, and never signs anything but checkpoint text.

use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::v1::CheckpointResponse;
use enmesh_protocol::checkpoint::{Checkpoint, CheckpointError, KeyName};
use enmesh_protocol::merkle::TreeSize;
use enmesh_protocol::region::{ClusterId, RegionId};
use thiserror::Error;

use crate::clock::SharedClock;
use crate::pki::NodeIdentity;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{Ticker, Worker, WorkerState};

/// The log origin (and note key name) of the node of `region` in `cluster`.
pub fn origin(cluster: &ClusterId, region: &RegionId) -> String {
    format!("enmesh/{cluster}/{region}")
}

/// Why a checkpoint was not signed.
#[derive(Debug, Error)]
pub enum CheckpointerError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The origin is not a valid checkpoint line or key name (a region name the CA tree
    /// should not have certified).
    #[error("origin: {0}")]
    Origin(#[from] CheckpointError),
    /// The blocking store call did not finish.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Signs checkpoints of one node's log.
pub struct Checkpointer {
    store: Arc<Store>,
    identity: Arc<NodeIdentity>,
    origin: String,
    clock: SharedClock,
    metrics: Metrics,
    ticker: Ticker,
    /// The size of the latest checkpoint kept (`None`: not read yet).
    signed: Option<Option<TreeSize>>,
}

impl Checkpointer {
    /// Signs checkpoints of `store`'s log under `origin` with `identity`, checking every
    /// `every` whether the log grew (the first check at once).
    pub fn new(
        store: Arc<Store>,
        identity: Arc<NodeIdentity>,
        origin: String,
        every: Duration,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            identity,
            origin,
            clock,
            metrics,
            ticker: Ticker::new(every, true),
            signed: None,
        }
    }

    /// Signs and keeps a checkpoint of the log as it is now, unless the latest one has its size.
    async fn cut(&mut self) -> Result<(), CheckpointerError> {
        let signed = match self.signed {
            Some(signed) => signed,
            None => {
                let store = self.store.clone();
                let kept = tokio::task::spawn_blocking(move || store.checkpoint()).await??;
                kept.and_then(|kept| note_checkpoint(&kept.note))
                    .map(|c| c.size())
            }
        };
        self.signed = Some(signed);
        let (size, root) = self.store.audit_head();
        if signed == Some(size) {
            return Ok(());
        }
        // Entries of batches served are appended without waiting for the disk: make every
        // entry this checkpoint covers durable before signing it.
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.sync_wal()).await??;
        let checkpoint = Checkpoint::new(&self.origin, size, root, Vec::new())?;
        let credential = self.identity.active(self.clock.unix_time());
        let note = credential.sign_checkpoint(&checkpoint, KeyName::new(&self.origin)?);
        let response = CheckpointResponse {
            note,
            signer_chain: credential.chain().iter().map(|c| c.to_vec()).collect(),
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.put_checkpoint(&response)).await??;
        self.signed = Some(Some(size));
        self.metrics.audit().checkpoint(size.0);
        tracing::debug!(size = size.0, "replication log checkpoint signed");
        Ok(())
    }
}

/// The text of signed note `note` (before its signature lines, without its last newline).
pub fn note_text(note: &str) -> Option<&str> {
    note.split_once("\n\n").map(|(text, _)| text)
}

/// The checkpoint a signed note carries, parsed (its signatures not checked).
pub fn note_checkpoint(note: &str) -> Option<Checkpoint> {
    Checkpoint::parse(&format!("{}\n", note_text(note)?)).ok()
}

/// The tree size a signed note states (0 if it does not parse).
pub fn size_of(note: &str) -> u64 {
    note_checkpoint(note).map_or(0, |c| c.size().0)
}

impl Worker for Checkpointer {
    type Error = CheckpointerError;

    fn name(&self) -> &'static str {
        "audit_checkpoint"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, CheckpointerError> {
        self.cut().await?;
        Ok(WorkerState::Idle)
    }

    async fn finish(&mut self) {
        // A last checkpoint on the way out, so the log's tail is signed before the node stops.
        if let Err(error) = self.cut().await {
            tracing::warn!(%error, "no final checkpoint of the replication log");
        }
    }
}
