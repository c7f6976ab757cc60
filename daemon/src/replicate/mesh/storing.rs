//! The mesh's store work, off the async threads: a worker that checks and stores fetched pages
//! one at a time in arrival order, and the blocking reads (own head, a page to serve, the heads
//! at start).
//!
//! The worker stores through [`Ledger::take`] only (so nothing that failed a check, nothing out
//! of sequence) and stops a page at its first gap, refusal or store failure. Nothing here runs
//! on an async thread: every call is inside `spawn_blocking`.

use super::catchup::PAGE_BATCHES;
use super::ledger::{Ledger, TakeError, Taken};
use super::state::{Path, StoredPage};
use super::wire::{MAX_SYNC_RESPONSE_BYTES, SyncResponse};
use crate::clock::SharedClock;
use crate::store::StoreError;
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

/// The worker: takes pages one at a time, in arrival order, until `jobs` closes or `done` does.
pub async fn work(
    ledger: Ledger,
    clock: SharedClock,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<PageTaken>,
) {
    while let Some(job) = jobs.recv().await {
        let (ledger, now) = (ledger.clone(), clock.now_millis());
        let Ok(result) = tokio::task::spawn_blocking(move || take(&ledger, job, now)).await else {
            return;
        };
        if done.send(result).await.is_err() {
            return;
        }
    }
}

/// Checks and stores a page in order; stops at the first gap, refusal or store failure.
fn take(ledger: &Ledger, job: Job, now_millis: u64) -> PageTaken {
    let (mut stored, mut keys, mut refusal, mut stopped) = (0, 0, None, false);
    for (i, signed) in job.batches.iter().enumerate() {
        match ledger.take(signed, job.first_held && i == 0, now_millis) {
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

/// A page of `origin`'s batches after `after` for a peer (blocking: reads the store).
pub fn serve(ledger: &Ledger, origin: &RegionId, after: u64, limit: u32) -> SyncResponse {
    let limit = usize::try_from(limit.min(PAGE_BATCHES)).unwrap_or(0);
    let max_bytes = MAX_SYNC_RESPONSE_BYTES - RESPONSE_SLACK;
    match ledger.page(origin, after, limit, max_bytes) {
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
