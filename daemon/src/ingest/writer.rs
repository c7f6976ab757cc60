//! The ingest writer: one task that commits queued uploads in groups, one store write (and one
//! fsync) per group instead of one per upload.
//!
//! Requests hand their validated upload to the writer over a bounded queue and wait for the
//! answer. The writer takes everything waiting (up to [`MAX_GROUP`]) while the previous group is
//! on disk, commits it with [`Store::commit_uploads`], then answers each request. A request is
//! answered only after its keys are durable. The task ends when every sender is gone (the router
//! was dropped), after answering what was queued.
//!
//! This module never answers a request before the write that holds its upload returned, and
//! never reorders uploads within a group (two with one code: the first wins).

use crate::store::{CodeHash, Committed, Store, StoreError, UploadCommit, UploadId, UploadRefusal};
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Uploads waiting for the writer before requests wait for room (backpressure).
pub const QUEUE_CAPACITY: usize = 1024;

/// Most uploads in one store write (256 × 30 keys ≈ 7,700 keys, well under a MB).
pub const MAX_GROUP: usize = 256;

/// A store failure shared by every upload of the group it hit.
pub type SharedStoreError = Arc<StoreError>;

/// One upload waiting to be committed.
pub struct Job {
    /// The code's hash.
    pub code: CodeHash,
    /// The upload's id.
    pub upload_id: UploadId,
    /// The validated keys.
    pub keys: Vec<DiagnosisKey>,
    /// Visited regions, home excluded.
    pub visited: Vec<RegionId>,
    /// Receive time, unix seconds.
    pub now: u64,
    /// `Some(expiry)` when a verification certificate (whose hash is `code`) authorises the
    /// upload instead of an issued code.
    pub certificate_expiry: Option<u64>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Result<Committed, UploadRefusal>, SharedStoreError>>,
}

/// The writer's queue.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Job>,
}

impl WriterHandle {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Arc<Store>) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(store, inbox));
        Self { queue }
    }

    /// Queues `job`; `false` if the writer is gone.
    pub async fn submit(&self, job: Job) -> bool {
        self.queue.send(job).await.is_ok()
    }
}

async fn run(store: Arc<Store>, mut inbox: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while inbox.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let group = std::mem::replace(&mut jobs, Vec::with_capacity(MAX_GROUP));
        let store = Arc::clone(&store);
        let committed = tokio::task::spawn_blocking(move || {
            let commits: Vec<UploadCommit<'_>> = group
                .iter()
                .map(|job| UploadCommit {
                    code: job.code,
                    upload_id: job.upload_id,
                    keys: &job.keys,
                    visited: &job.visited,
                    now: job.now,
                })
                .collect();
            let certified: Vec<Option<u64>> =
                group.iter().map(|job| job.certificate_expiry).collect();
            let results = store.commit_uploads_certified(&commits, &certified);
            (group, results)
        })
        .await;
        // A panic in the commit drops the group: its senders drop and requests answer 500.
        let Ok((group, results)) = committed else {
            tracing::error!("upload group commit panicked");
            continue;
        };
        match results {
            Ok(results) => {
                for (job, result) in group.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::error!(%error, uploads = group.len(), "upload group commit failed");
                let error = Arc::new(error);
                for job in group {
                    let _ = job.reply.send(Err(Arc::clone(&error)));
                }
            }
        }
        tracing::trace!("upload group committed");
    }
}
