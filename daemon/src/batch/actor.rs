//! The batcher actor: one task that reads local keys from the store, runs the [`Planner`] and
//! commits signed batches with the new batcher position in one store write.
//!
//! It wakes on a tick (a quarter of the window, at least 5 ms), on
//! [`BatcherHandle::notify_upload`], and on [`BatcherHandle::flush`]; on shutdown it flushes
//! and stops. Store and signing work runs on tokio's blocking pool. After a failed read or
//! commit it forgets its pending keys and starts again from the store's position, so it never
//! commits a position past a key that is not in a committed batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use enmesh_protocol::region::RegionId;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};
use rustls_pki_types::UnixTime;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::task::AbortOnDropHandle;

use super::body::batch_body;
use super::plan::{Cut, Event, Limits, Planner};
use super::{BatcherError, Routing};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::pki::NodeIdentity;
use crate::store::{BatchId, FeedHead, OwnBatch, Store};
use crate::telemetry::Metrics;
use crate::worker::{self, Runner, Ticker, Worker, WorkerState};
use enmesh_protocol::feed::Feed;

/// How many local keys one store read returns at most.
const READ_PAGE: usize = 4096;
/// Commands (flush requests) waiting for the actor.
const COMMAND_CAPACITY: usize = 16;
/// The shortest tick.
const MIN_TICK: Duration = Duration::from_millis(5);

/// What the batcher needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Where keys go; `routing.home` is also the origin region written into every batch.
    pub routing: Routing,
    /// Batch window and sizes.
    pub limits: Limits,
}

impl BatcherConfig {
    /// The batcher's part of the daemon config (`node.*`, `batching.*`).
    pub fn from_config(config: &Config) -> Self {
        Self {
            routing: Routing {
                home: config.node.region.clone(),
                cluster: config.node.cluster.clone(),
                cluster_regions: config.node.cluster_regions.clone(),
                intra_cluster: config.node.intra_cluster,
            },
            limits: Limits {
                window_ms: u64::try_from(config.batching.window.as_millis()).unwrap_or(u64::MAX),
                max_keys: usize::try_from(config.batching.max_keys).unwrap_or(usize::MAX),
                min_keys: usize::try_from(config.batching.min_keys).unwrap_or(usize::MAX),
            },
        }
    }

    /// The actor's tick: a quarter of the window, at least [`MIN_TICK`].
    fn tick(&self) -> Duration {
        (Duration::from_millis(self.limits.window_ms) / 4).max(MIN_TICK)
    }
}

/// A request to the actor.
enum Command {
    /// Cut everything pending now; reply with the number of batches committed.
    Flush(oneshot::Sender<Result<usize, BatcherError>>),
}

/// The batcher's handle: poke it after uploads, flush it, watch its commits. Cheap to clone;
/// when the last clone is dropped the task is aborted (keys stay in the store, pending ones are
/// re-read by the next batcher).
#[derive(Debug, Clone)]
pub struct BatcherHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    commands: mpsc::Sender<Command>,
    uploads: Arc<Notify>,
    committed: watch::Receiver<u64>,
    _task: AbortOnDropHandle<()>,
}

impl BatcherHandle {
    /// Tells the batcher that an upload was committed (cheap; call it after every upload).
    pub fn notify_upload(&self) {
        self.inner.uploads.notify_one();
    }

    /// Cuts everything pending now, ignoring the window, and returns how many batches were
    /// committed.
    pub async fn flush(&self) -> Result<usize, BatcherError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Flush(reply))
            .await
            .map_err(|_| BatcherError::Stopped)?;
        answer.await.map_err(|_| BatcherError::Stopped)?
    }

    /// The number of batches this batcher has committed; it changes after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.committed.clone()
    }

    /// Returns once the actor has stopped (after its shutdown flush).
    pub async fn stopped(&self) {
        let mut committed = self.inner.committed.clone();
        while committed.changed().await.is_ok() {}
    }
}

/// Starts the batcher as a worker of `runner`'s stage. It reads local keys after the store's
/// batcher position, cuts and signs batches with `identity` as `config.routing.home`, counts
/// them in `metrics`, and flushes and stops when the stage stops.
pub fn spawn(
    config: BatcherConfig,
    store: Arc<Store>,
    identity: Arc<NodeIdentity>,
    clock: SharedClock,
    metrics: Metrics,
    runner: &Runner,
) -> Result<BatcherHandle, BatcherError> {
    let rng = StdRng::try_from_rng(&mut SysRng).map_err(BatcherError::Entropy)?;
    let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
    let (committed_tx, committed) = watch::channel(0);
    let uploads = Arc::new(Notify::new());
    let ticker = Ticker::new(config.tick(), true);
    let batcher = Batcher {
        config,
        store,
        identity,
        clock,
        metrics,
        rng,
        planner: None,
        committed: committed_tx,
    };
    let task = worker::spawn(
        runner,
        BatcherWorker {
            batcher: Arc::new(Mutex::new(batcher)),
            ticker,
            commands,
            uploads: uploads.clone(),
            next: None,
        },
    );
    Ok(BatcherHandle {
        inner: Arc::new(HandleInner {
            commands: commands_tx,
            uploads,
            committed,
            _task: AbortOnDropHandle::new(task),
        }),
    })
}

/// The batcher as a [`Worker`]: it waits for a tick, an upload or a flush request, then steps.
struct BatcherWorker {
    batcher: Arc<Mutex<Batcher>>,
    ticker: Ticker,
    commands: mpsc::Receiver<Command>,
    uploads: Arc<Notify>,
    /// The request being answered, if the wait ended on one.
    next: Option<Command>,
}

impl Worker for BatcherWorker {
    type Error = BatcherError;

    fn name(&self) -> &'static str {
        "batcher"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        tokio::select! {
            biased;
            command = self.commands.recv() => match command {
                Some(command) => self.next = Some(command),
                None => return WorkerState::Done,
            },
            () = self.uploads.notified() => {}
            () = self.ticker.tick() => {}
        }
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, BatcherError> {
        match self.next.take() {
            Some(Command::Flush(reply)) => {
                // The requester may have given up waiting; nothing to do then.
                let _ = reply.send(step(&self.batcher, true).await);
            }
            None => {
                step(&self.batcher, false).await?;
            }
        }
        Ok(WorkerState::Idle)
    }

    async fn finish(&mut self) {
        if let Err(error) = step(&self.batcher, true).await {
            tracing::error!(%error, "batcher's last flush failed; keys stay for the next start");
        }
    }
}

/// Runs [`Batcher::step`] on the blocking pool (store writes fsync).
async fn step(batcher: &Arc<Mutex<Batcher>>, flush: bool) -> Result<usize, BatcherError> {
    let batcher = batcher.clone();
    tokio::task::spawn_blocking(move || {
        batcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .step(flush)
    })
    .await?
}

/// The batcher's state.
struct Batcher {
    config: BatcherConfig,
    store: Arc<Store>,
    identity: Arc<NodeIdentity>,
    clock: SharedClock,
    metrics: Metrics,
    rng: StdRng,
    /// `None` before the first step, and after a failed one (rebuilt from the store's position;
    /// a step that panicked leaves it `None` too, since the step takes it out first).
    planner: Option<Planner>,
    committed: watch::Sender<u64>,
}

impl Batcher {
    /// Reads new local keys, cuts what is due (everything if `flush`) and commits it. Returns
    /// the number of batches committed. On failure the pending keys are forgotten.
    fn step(&mut self, flush: bool) -> Result<usize, BatcherError> {
        let mut planner = match self.planner.take() {
            Some(planner) => planner,
            None => Planner::new(
                self.config.routing.clone(),
                self.config.limits,
                self.store.batcher_position()?,
            ),
        };
        let mut committed = 0;
        loop {
            let entries = self
                .store
                .local_keys_after(planner.read_after(), READ_PAGE)?;
            let more = entries.len() == READ_PAGE;
            if entries.is_empty() {
                break;
            }
            let now = self.clock.now_millis();
            if let Some(cut) = planner.handle(Event::Read(entries), now, &mut self.rng) {
                committed += self.commit(cut)?;
            }
            if !more {
                break;
            }
        }
        let event = if flush { Event::Flush } else { Event::Tick };
        let now = self.clock.now_millis();
        if let Some(cut) = planner.handle(event, now, &mut self.rng) {
            committed += self.commit(cut)?;
        }
        self.planner = Some(planner);
        Ok(committed)
    }

    /// Signs the cut's batches and commits them with its position in one store write.
    fn commit(&mut self, cut: Cut) -> Result<usize, BatcherError> {
        let now_ms = self.clock.now_millis();
        let now = UnixTime::since_unix_epoch(Duration::from_millis(now_ms));
        let origin: &RegionId = &self.config.routing.home;
        let mut heads: HashMap<Feed, Option<FeedHead>> = HashMap::new();
        let mut signed = Vec::with_capacity(cut.batches.len());
        let mut spans = Vec::with_capacity(cut.batches.len());
        for batch in &cut.batches {
            let head = match heads.get(&batch.feed) {
                Some(head) => *head,
                None => self.store.feed_head(&batch.feed)?,
            };
            let body = batch_body(origin, &batch.feed, head, now_ms, &batch.keys);
            spans.push(tracing::info_span!(
                "batch_cut",
                feed = %batch.feed,
                sequence = body.sequence,
                keys = batch.keys.len(),
                real_keys = batch.real_keys,
            ));
            let sequence = body.sequence;
            let bytes = body.encode_to_vec();
            heads.insert(
                batch.feed.clone(),
                Some(FeedHead {
                    sequence,
                    batch_id: BatchId::of_body(&bytes),
                }),
            );
            signed.push(OwnBatch {
                signed: self.identity.sign_batch(bytes, now),
                padding: u32::try_from(batch.keys.len() - batch.real_keys).unwrap_or(u32::MAX),
            });
        }
        self.store
            .append_batches(&signed, now_ms / 1000, Some(cut.position))?;
        for (batch, span) in cut.batches.iter().zip(spans) {
            span.in_scope(|| tracing::info!("batch committed"));
            self.metrics.batch().cut(&batch.feed.to_string());
        }
        if !cut.batches.is_empty() {
            self.committed
                .send_modify(|count| *count += cut.batches.len() as u64);
        }
        Ok(cut.batches.len())
    }
}
