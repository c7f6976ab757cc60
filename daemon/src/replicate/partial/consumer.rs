//! The consumer: one task per configured producer (`[[peers]]` with `format = "enmesh"`),
//! pulling this region's feed from it over mutual TLS.
//!
//! A session dials the producer, asks for the batches after the stored cursor, and takes the
//! stream: every batch is checked (`replicate::received`: signer chain, origin = the producer's
//! certificate region, signature, key fields) and stored with the new cursor in one atomic write
//! (`Store::commit_received`), so a crash never stores keys without moving the cursor or the
//! other way round. A refused batch is counted and logged, ends the session, and leaves the
//! cursor where it was. Sessions are retried with exponential backoff and full jitter; each
//! producer has its own task, so one that is down holds up no other.
//!
//! This module never stores a batch that failed a check, and never passes received keys on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use enmesh_proto::v1::audit_client::AuditClient;
use enmesh_proto::v1::pull_response::Item;
use enmesh_proto::v1::{PullRequest, SignedBatch};
use enmesh_protocol::region::RegionId;
use rand::RngExt;
use thiserror::Error;
use tonic::transport::Uri;
use tracing::Instrument;

use super::STALE_AFTER;
use super::connect::{ConnectError, replication_client_on, tls_channel};
use crate::audit;
use crate::audit::witness::Witness;
use crate::clock::SharedClock;
use crate::config::{FeedFormat, PeerConfig, Replication};
use crate::pki::{NodeIdentity, TlsError, Verifier, tls};
use crate::replicate::received::ReceivedBatch;
use crate::replicate::received::{Refusal, Source, check_batch};
use crate::shutdown::ShutdownSignal;
use crate::store::{NotTaken, Store, StoreError};
use crate::telemetry::Metrics;
use enmesh_protocol::feed::Feed;

/// First retry delay after a failed session.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Failed connection attempts in a row logged at `info` before they become warnings.
const QUIET_RETRIES: u32 = 3;
/// A session that lasted this long resets the backoff.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// One producer to pull from, as this consumer knows it (a `[[peers]]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Its gRPC URL.
    pub url: Uri,
    /// Its region: the server certificate and every batch's origin must be this region.
    pub region: RegionId,
    /// The feed to pull.
    pub feed: Feed,
}

impl Upstream {
    /// The producer of `peer` for a consumer in region `me` of cluster `cluster`:
    /// `partial/<me>` or `a2a/<cluster>`. `None` for feed formats this task does not speak.
    pub fn from_config(
        peer: &PeerConfig,
        me: &RegionId,
        cluster: &enmesh_protocol::region::ClusterId,
    ) -> Option<Self> {
        if peer.format != FeedFormat::Enmesh {
            return None;
        }
        let feed = match peer.replication {
            Replication::Partial => Feed::Partial(me.clone()),
            Replication::A2a => Feed::AllToAll(cluster.clone()),
        };
        Some(Self {
            url: peer.url.clone(),
            region: peer.region.clone(),
            feed,
        })
    }

    /// The metric label `"<region> <feed>"`.
    fn label(&self) -> String {
        format!("{} {}", self.region, self.feed)
    }
}

/// What every consumer task shares.
#[derive(Clone)]
pub struct Context {
    /// This node's store.
    pub store: Arc<Store>,
    /// The PKI verifier (server chains and batch signers).
    pub verifier: Arc<Verifier>,
    /// This node's identity (its client certificate).
    pub identity: Arc<NodeIdentity>,
    /// The node's clock.
    pub clock: SharedClock,
    /// The node's metrics.
    pub metrics: Metrics,
    /// The witness of the producers' replication logs.
    pub witness: Witness,
}

/// Why a session ended.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The producer could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The producer answered with an error status.
    #[error("producer: {0}")]
    Status(#[from] tonic::Status),
    /// A batch failed a check.
    #[error("batch refused: {0}")]
    Refused(#[from] Refusal),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The batch does not continue the held history (a gap or a fork in the producer's).
    #[error("{0}")]
    NotNext(NotTaken),
    /// The stream was silent for longer than [`STALE_AFTER`].
    #[error("stream silent for {0:?}")]
    Stale(Duration),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Pulls from `producer` until `stop` fires, reconnecting after every failure.
pub async fn run(ctx: Context, producer: Upstream, stop: ShutdownSignal) {
    let label = producer.label();
    let span = tracing::info_span!("consumer", producer = %label, url = %producer.url);
    async move {
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let result = tokio::select! {
                result = session(&ctx, &producer, &label) => result,
                () = stop.clone().wait() => break,
            };
            ctx.metrics.partial().connected(&label, false);
            match result {
                Ok(()) => tracing::info!("producer ended the stream"),
                Err(SessionError::Refused(refusal)) => {
                    ctx.metrics.partial().rejected(&label, refusal.reason());
                    tracing::warn!(reason = refusal.reason(), %refusal, "batch refused; cursor unchanged");
                }
                // A producer may simply not be up yet (nodes start in any order): say so quietly
                // for the first few tries, loudly after that.
                Err(error @ SessionError::Connect(_)) if failures < QUIET_RETRIES => {
                    ctx.metrics.partial().rejected(&label, session_reason(&error));
                    tracing::info!(%error, "producer not reachable yet; retrying");
                }
                Err(error) => {
                    ctx.metrics.partial().rejected(&label, session_reason(&error));
                    tracing::warn!(%error, "session failed");
                }
            }
            failures = if started.elapsed() >= HEALTHY_SESSION { 1 } else { failures.saturating_add(1) };
            let delay = backoff(failures);
            tracing::debug!(?delay, "reconnecting after backoff");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.clone().wait() => break,
            }
        }
        tracing::info!("consumer stopped");
    }
    .instrument(span)
    .await;
}

/// A stable label for a failed session.
fn session_reason(error: &SessionError) -> &'static str {
    match error {
        SessionError::Tls(_) => "tls_config",
        SessionError::Connect(_) => "unreachable",
        SessionError::Status(status) if status.code() == tonic::Code::PermissionDenied => {
            "permission_denied"
        }
        SessionError::Status(_) => "status",
        SessionError::Refused(refusal) => refusal.reason(),
        SessionError::NotNext(_) => "not_next",
        SessionError::Store(_) => "store",
        SessionError::Stale(_) => "stale",
        SessionError::Task(_) => "task",
    }
}

/// Jittered exponential backoff: uniform in `[c/10, c]` with `c = min(max, min·2^(failures-1))`,
/// so retries of many consumers spread out but never come back at once.
fn backoff(failures: u32) -> Duration {
    let ceiling = BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(ms / 10..=ms))
}

/// One connection: pull after the stored cursor and store what arrives, until the stream ends.
async fn session(ctx: &Context, producer: &Upstream, label: &str) -> Result<(), SessionError> {
    let credential = ctx.identity.active(ctx.clock.unix_time());
    let config = tls::client_config(
        ctx.verifier.clone(),
        credential,
        Some(producer.region.clone()),
    )?;
    let channel = tls_channel(&producer.url, Arc::new(config)).await?;
    let mut client = replication_client_on(channel.clone());
    let mut audit = AuditClient::new(channel);
    let cursor = {
        let (store, region, feed) = (
            ctx.store.clone(),
            producer.region.clone(),
            producer.feed.clone(),
        );
        tokio::task::spawn_blocking(move || store.cursor(&region, &feed)).await??
    };
    let request = PullRequest {
        feed: producer.feed.to_string(),
        after_sequence: cursor.map_or(0, |c| c.last_sequence),
        after_batch_id: cursor
            .map(|c| c.last_batch_id.0.to_vec())
            .unwrap_or_default(),
    };
    let mut held = request.after_sequence;
    let mut stream = client.pull(request).await?.into_inner();
    ctx.metrics.partial().connected(label, true);
    tracing::info!(after = held, "stream open");
    // The producer's latest sequence as last told (keep-alives), for lag and progress.
    let mut head = held;
    let mut progress = Progress::new();
    loop {
        let message = match tokio::time::timeout(STALE_AFTER, stream.message()).await {
            Ok(message) => message?,
            Err(_) => return Err(SessionError::Stale(STALE_AFTER)),
        };
        let Some(item) = message.and_then(|m| m.item) else {
            return Ok(());
        };
        match item {
            Item::Batch(signed) => {
                let batch = {
                    let (verifier, feed, region, now) = (
                        ctx.verifier.clone(),
                        producer.feed.clone(),
                        producer.region.clone(),
                        ctx.clock.unix_time(),
                    );
                    let (store, now_ms) = (ctx.store.clone(), ctx.clock.now_millis());
                    tokio::task::spawn_blocking(move || {
                        check_batch(&verifier, &signed, &feed, Source::Pulled(&region), now)
                            .inspect_err(|refusal| {
                                log_refusal(&store, &signed, &region, refusal, now_ms)
                            })
                    })
                    .await??
                };
                held = store_batch(ctx, batch, label).await?.unwrap_or(held);
                head = head.max(held);
                ctx.metrics
                    .partial()
                    .alive(label, head - held, ctx.clock.now_secs());
                progress.report(held, head);
            }
            Item::Checkpoint(checkpoint) => {
                match ctx
                    .witness
                    .observe(checkpoint, &producer.region, &mut audit)
                    .await
                {
                    Ok(witnessed) => tracing::debug!(?witnessed, "producer's checkpoint witnessed"),
                    Err(error) => tracing::warn!(%error, "producer's checkpoint not witnessed"),
                }
            }
            Item::KeepAlive(alive) => {
                head = alive.latest_sequence.max(held);
                ctx.metrics
                    .partial()
                    .alive(label, head - held, ctx.clock.now_secs());
                progress.report(held, head);
            }
        }
    }
}

/// Logs a catch-up (at least [`Progress::CATCH_UP`] batches behind): when it starts, every
/// few seconds while it runs, and when it ends.
struct Progress {
    /// Since when, and from which sequence, while catching up.
    running: Option<(Instant, u64)>,
    last_log: Instant,
}

impl Progress {
    /// Batches behind that make a catch-up worth logging.
    const CATCH_UP: u64 = 100;
    /// How often progress is logged.
    const EVERY: Duration = Duration::from_secs(2);

    fn new() -> Self {
        Self {
            running: None,
            last_log: Instant::now(),
        }
    }

    /// After a batch or a keep-alive: this node holds `held`, the producer has `head`.
    fn report(&mut self, held: u64, head: u64) {
        match self.running {
            None if head.saturating_sub(held) >= Self::CATCH_UP => {
                tracing::info!(held, head, behind = head - held, "catching up");
                self.running = Some((Instant::now(), held));
                self.last_log = Instant::now();
            }
            Some((started, from)) if held >= head => {
                tracing::info!(
                    held,
                    batches = held - from,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "caught up"
                );
                self.running = None;
            }
            Some((_, from)) if self.last_log.elapsed() >= Self::EVERY => {
                let total = head.saturating_sub(from).max(1);
                tracing::info!(
                    held,
                    head,
                    percent = (held - from) * 100 / total,
                    "catching up"
                );
                self.last_log = Instant::now();
            }
            _ => {}
        }
    }
}

/// Appends the refusal of `signed`, pulled from `region`'s producer, to the replication log
/// (blocking).
fn log_refusal(
    store: &Store,
    signed: &SignedBatch,
    region: &RegionId,
    refusal: &Refusal,
    now_millis: u64,
) {
    let sender = audit::Sender {
        peer: audit::Peer::producer(region),
        path: audit::Path::PartialStream,
    };
    let reason = format!("{}: {refusal}", refusal.reason());
    let entry = audit::batch_refused(signed, &sender, &reason, now_millis);
    if let Err(error) = store.record(&[entry]) {
        tracing::error!(%error, "cannot append a refusal to the replication log");
    }
}

/// Stores a checked batch with its cursor; returns the new held sequence (`None`: it was held
/// already, a harmless repeat).
async fn store_batch(
    ctx: &Context,
    batch: ReceivedBatch,
    label: &str,
) -> Result<Option<u64>, SessionError> {
    let now_ms = ctx.clock.now_millis();
    let now = now_ms / 1000;
    let next_poll = now + STALE_AFTER.as_secs();
    let (sequence, keys, created) = (
        batch.sequence(),
        batch.keys().len(),
        batch.created_unix_millis(),
    );
    let span = tracing::debug_span!("store_batch", sequence, keys);
    let store = ctx.store.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let _enter = span.enter();
        let sender = audit::Sender {
            peer: batch.signer().clone(),
            path: audit::Path::PartialStream,
        };
        store.commit_received(&batch, &sender, next_poll, now)
    })
    .await?;
    match committed? {
        Ok(()) => {
            let lag = now_ms.saturating_sub(created) as f64 / 1000.0;
            ctx.metrics.partial().batch(label, keys as u64, lag, now);
            tracing::debug!(sequence, keys, lag_seconds = lag, "batch stored");
            Ok(Some(sequence))
        }
        Err(NotTaken::AlreadyHeld { .. }) => Ok(None),
        Err(not_next @ NotTaken::NotNext { .. }) => Err(SessionError::NotNext(not_next)),
    }
}
