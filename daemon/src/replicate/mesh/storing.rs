//! The mesh's store work, off the async threads: [`StoreWorker`] (a [`Worker`], `mesh_store`)
//! that checks and stores fetched pages one at a time in arrival order, and the blocking reads
//! (own head, a page to serve, the heads at start).
//!
//! The worker stores through [`Ledger::take`] only (so nothing that failed a check, nothing out
//! of sequence) and stops a page at its first gap, refusal or store failure. Nothing here runs
//! on an async thread: every call is inside `spawn_blocking`. It never decides what to fetch or
//! whom to trust: it reports each page's outcome to the actor, and the state machine decides.

use super::catchup::PAGE_BATCHES;
use super::frame::{MAX_SYNC_RESPONSE_BYTES, SyncResponse};
use super::ledger::{Ledger, TakeError, Taken};
use super::state::{Path, StoredPage};
use crate::audit;
use crate::clock::SharedClock;
use crate::store::StoreError;
use crate::worker::{Worker, WorkerState};
use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::region::RegionId;
use libp2p::PeerId;
use tokio::sync::mpsc;

/// Room left in a sync response for framing beyond the batches themselves.
const RESPONSE_SLACK: usize = 64 * 1024;

/// A page of fetched batches for the worker.
#[derive(Debug)]
pub struct Job {
    /// The peer that served it.
    pub peer: PeerId,
    /// That peer as the replication log names it.
    pub logged: audit::Peer,
    /// The origin.
    pub origin: RegionId,
    /// The batches.
    pub batches: Vec<SignedBatch>,
    /// Whether its first batch may start the origin's chain (asked after 0).
    pub first_held: bool,
    /// How it came to be fetched.
    pub path: Path,
}

/// What the worker did with a page.
#[derive(Debug)]
pub struct PageTaken {
    /// For the state machine.
    pub page: StoredPage<PeerId>,
    /// Batches stored.
    pub stored: usize,
    /// Keys stored.
    pub keys: usize,
    /// The refused batch's reason, if one was.
    pub refusal: Option<&'static str>,
}

/// Why a unit of the store worker failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreWorkerError {
    /// The blocking task checking and storing a page did not finish (it panicked or the runtime
    /// is shutting down); the fetch is ended, so the next heads exchange asks for the page again.
    #[error("storing a fetched page did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The store worker: takes pages one at a time, in arrival order, until `jobs` closes or the
/// actor stops listening for results.
pub struct StoreWorker {
    ledger: Ledger,
    clock: SharedClock,
    jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<PageTaken>,
    next: Option<Job>,
}

impl StoreWorker {
    /// A worker taking pages from `jobs` and reporting each to `done`.
    pub fn new(
        ledger: Ledger,
        clock: SharedClock,
        jobs: mpsc::Receiver<Job>,
        done: mpsc::Sender<PageTaken>,
    ) -> Self {
        Self {
            ledger,
            clock,
            jobs,
            done,
            next: None,
        }
    }
}

impl Worker for StoreWorker {
    type Error = StoreWorkerError;

    fn name(&self) -> &'static str {
        "mesh_store"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        match self.jobs.recv().await {
            Some(job) => {
                self.next = Some(job);
                WorkerState::Idle
            }
            None => WorkerState::Done,
        }
    }

    async fn work(&mut self) -> Result<WorkerState, StoreWorkerError> {
        let Some(job) = self.next.take() else {
            return Ok(WorkerState::Idle);
        };
        let (ledger, now) = (self.ledger.clone(), self.clock.now_millis());
        let (peer, origin, path) = (job.peer, job.origin.clone(), job.path);
        let (result, failed) =
            match tokio::task::spawn_blocking(move || take(&ledger, job, now)).await {
                Ok(result) => (result, None),
                // Nothing is known to be stored: the page ends the fetch, so the state machine frees
                // the origin for the next heads exchange instead of waiting for it forever.
                Err(error) => (unfinished(peer, origin, path), Some(error)),
            };
        if self.done.send(result).await.is_err() {
            return Ok(WorkerState::Done);
        }
        match failed {
            Some(error) => Err(error.into()),
            None => Ok(WorkerState::Idle),
        }
    }
}

/// Checks and stores a page in order; stops at the first gap, refusal or store failure.
fn take(ledger: &Ledger, job: Job, now_millis: u64) -> PageTaken {
    let (mut stored, mut keys, mut refusal, mut stopped) = (0, 0, None, false);
    for (i, signed) in job.batches.iter().enumerate() {
        match ledger.take(signed, &job.logged, job.first_held && i == 0, now_millis) {
            Ok(Taken::Stored { keys: n, .. }) => {
                stored += 1;
                keys += n;
            }
            Ok(Taken::Held) => {}
            Ok(Taken::Gap { .. }) => {
                stopped = true;
                break;
            }
            Err(TakeError::Refused(r)) => {
                refusal = Some(r.reason());
                stopped = true;
                break;
            }
            Err(TakeError::Store(error)) => {
                tracing::error!(%error, "mesh: cannot store a fetched batch");
                stopped = true;
                break;
            }
        }
    }
    let held = ledger.head(&job.origin).unwrap_or_else(|error| {
        tracing::error!(%error, origin = %job.origin, "mesh: cannot read the held sequence");
        0
    });
    PageTaken {
        page: StoredPage {
            peer: job.peer,
            origin: job.origin,
            got: job.batches.len(),
            held,
            refused: refusal.is_some(),
            stopped,
            path: job.path,
        },
        stored,
        keys,
        refusal,
    }
}

/// The outcome of a page whose store task did not finish: nothing counted, the fetch stopped.
fn unfinished(peer: PeerId, origin: RegionId, path: Path) -> PageTaken {
    PageTaken {
        page: StoredPage {
            peer,
            origin,
            got: 0,
            held: 0,
            refused: false,
            stopped: true,
            path,
        },
        stored: 0,
        keys: 0,
        refusal: None,
    }
}

/// A page of `origin`'s batches after `after` for peer `to` (blocking: reads the store and logs
/// the batches served).
pub fn serve(
    ledger: &Ledger,
    origin: &RegionId,
    after: u64,
    limit: u32,
    to: &audit::Peer,
    now_millis: u64,
) -> SyncResponse {
    let limit = usize::try_from(limit.min(PAGE_BATCHES)).unwrap_or(0);
    let max_bytes = MAX_SYNC_RESPONSE_BYTES - RESPONSE_SLACK;
    match ledger.page(origin, after, limit, max_bytes, to, now_millis) {
        Ok(page) => SyncResponse {
            batches: page.into_iter().map(|b| b.signed).collect(),
            ..SyncResponse::default()
        },
        Err(error) => {
            tracing::error!(%error, "mesh: cannot read batches to serve");
            SyncResponse::default()
        }
    }
}

/// How far this node holds its own region and each of `origins` (blocking: reads the store).
pub fn heads(ledger: &Ledger, origins: &[RegionId]) -> Result<Vec<(RegionId, u64)>, StoreError> {
    std::iter::once(ledger.me())
        .chain(origins.iter())
        .map(|origin| Ok((origin.clone(), ledger.head(origin)?)))
        .collect()
}
