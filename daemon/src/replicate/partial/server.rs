//! The producer: `enmesh.v1.Replication/Pull`, served over mutual TLS.
//!
//! [`serve`] accepts TCP connections, runs the TLS handshake (whose client verifier is the PKI:
//! a peer without a valid chain never gets further) off the accept loop, and hands the TLS
//! streams to tonic. [`PullServer::pull`] then authorises the request against the client's
//! certificate, and streams every batch of the feed after the consumer's position, then each
//! new one as the batcher commits it, with keep-alives while idle.
//!
//! This module never serves a batch it did not cut (it reads local feeds only), never serves a
//! feed to a region other than the one it is for (`PERMISSION_DENIED`, logged and counted),
//! and never buffers a whole feed: batches are read a page at a time and sent through a bounded
//! channel, so a slow consumer slows its own stream only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::v1::pull_response::Item;
use enmesh_proto::v1::replication_server::{Replication, ReplicationServer};
use enmesh_proto::v1::{KeepAlive, PullRequest, PullResponse};
use enmesh_protocol::region::{ClusterId, RegionId};
use rustls_pki_types::CertificateDer;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{KEEP_ALIVE, MAX_MESSAGE_BYTES};
use crate::audit::{self, Entry};
use crate::clock::SharedClock;
use crate::config::NodeConfig;
use crate::pki::{VerifiedPeer, Verifier};
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{self, Runner, Ticker, Worker, WorkerState};
use enmesh_protocol::feed::Feed;

/// Batches read from the store per page.
const PAGE: usize = 16;
/// Messages queued per stream before the reader waits for the consumer.
const STREAM_BUFFER: usize = 8;
/// Completed handshakes queued for the gRPC server.
const HANDSHAKE_BACKLOG: usize = 64;
/// A TLS handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes in progress at once; further connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 64;
/// HTTP/2 streams one connection may hold open at once (pulls and `Audit` calls together).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// Why the producer could not serve.
#[derive(Debug, Error)]
pub enum PullServerError {
    /// The listener failed.
    #[error("gRPC listener: {0}")]
    Listen(#[source] std::io::Error),
    /// tonic's server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// The `Replication` service of one node.
#[derive(Clone)]
pub struct PullServer {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    cluster: ClusterId,
    home: RegionId,
    commits: watch::Receiver<u64>,
    clock: SharedClock,
    metrics: Metrics,
    keep_alive: Duration,
    runner: Runner,
}

impl PullServer {
    /// The producer of `node`'s region over `store`'s feeds; `commits` changes whenever the batcher commits a cut
    /// (`BatcherHandle::subscribe`). Open streams are workers of `runner`'s stage and end when
    /// it stops.
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        node: &NodeConfig,
        commits: watch::Receiver<u64>,
        clock: SharedClock,
        metrics: Metrics,
        runner: Runner,
    ) -> Self {
        Self {
            store,
            verifier,
            cluster: node.cluster.clone(),
            home: node.region.clone(),
            commits,
            clock,
            metrics,
            keep_alive: KEEP_ALIVE,
            runner,
        }
    }

    /// The feeds `peer` may pull: its own region's partial feed, and its cluster's a2a feed if
    /// that is this node's cluster too.
    fn authorise(&self, peer: &VerifiedPeer, feed: &Feed) -> Result<(), &'static str> {
        match feed {
            Feed::Partial(region) => match peer.region() {
                Some(own) if own == region => Ok(()),
                _ => Err("not_own_region"),
            },
            Feed::AllToAll(cluster) => {
                if cluster == &self.cluster && peer.cluster() == &self.cluster {
                    Ok(())
                } else {
                    Err("other_cluster")
                }
            }
        }
    }

    /// Where the stream starts: after `request`'s position, which must be one this feed had.
    fn start(&self, feed: &Feed, request: &PullRequest) -> Result<u64, Status> {
        let after = request.after_sequence;
        if after == 0 {
            return Ok(0);
        }
        let internal = |e: StoreError| Status::internal(e.to_string());
        let head = self.store.feed_head(feed).map_err(internal)?;
        if head.is_none_or(|h| h.sequence < after) {
            return Err(Status::failed_precondition(format!(
                "feed {feed} has no batch {after}: the consumer is ahead of this producer"
            )));
        }
        if request.after_batch_id.is_empty() {
            return Ok(after);
        }
        let held = self
            .store
            .batches_after(feed, after - 1, 1)
            .map_err(internal)?;
        match held.first() {
            Some(b) if b.sequence == after && b.id.0.as_slice() != request.after_batch_id => {
                Err(Status::failed_precondition(format!(
                    "batch {after} of {feed} has another id here: forked history"
                )))
            }
            // Either it matches, or retention deleted it (nothing left to compare).
            _ => Ok(after),
        }
    }
}

#[tonic::async_trait]
impl Replication for PullServer {
    type PullStream = ReceiverStream<Result<PullResponse, Status>>;

    async fn pull(
        &self,
        request: Request<PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        // The handshake verified the chain already; verify again to learn who it is (and to
        // refuse auditors, which may connect but pull nothing).
        let chain = request
            .peer_certs()
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let peer = match self.verifier.verify_node(&chain, self.clock.unix_time()) {
            Ok(peer) => peer,
            Err(rejection) => {
                tracing::warn!(%rejection, "pull refused: client is not a valid node");
                self.metrics.partial().pull_denied("unknown", "not_a_node");
                let leaf = chain.first().map(|der| der.as_ref());
                let reason = format!("not a valid node: {rejection}");
                self.log_checked(&audit::Peer::unverified(leaf), Some(&reason));
                return Err(Status::permission_denied(format!(
                    "client certificate: {rejection}"
                )));
            }
        };
        let who = peer
            .region()
            .map_or_else(|| peer.cluster().to_string(), ToString::to_string);
        let logged = audit::Peer::verified(&peer);
        let request = request.into_inner();
        let feed = match request.feed.parse::<Feed>() {
            Ok(feed) => feed,
            Err(error) => {
                tracing::warn!(peer = %who, %error, "pull refused");
                self.metrics.partial().pull_denied(&who, "unknown_feed");
                self.log_checked(&logged, Some("unknown_feed"));
                return Err(Status::permission_denied(format!(
                    "{who} may not pull that feed: {error}"
                )));
            }
        };
        if let Err(reason) = self.authorise(&peer, &feed) {
            tracing::warn!(peer = %who, %feed, reason, "pull refused");
            self.metrics.partial().pull_denied(&who, reason);
            self.log_checked(&logged, Some(reason));
            return Err(Status::permission_denied(format!(
                "{who} may not pull {feed} ({reason})"
            )));
        }
        let after = {
            let (this, feed, request) = (self.clone(), feed.clone(), request.clone());
            tokio::task::spawn_blocking(move || this.start(&feed, &request))
                .await
                .map_err(|e| Status::internal(e.to_string()))??
        };
        self.metrics.partial().pull(&feed.to_string());
        self.log_checked(&logged, None);
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let span = tracing::info_span!("pull_stream", peer = %who, %feed, after);
        let consumer = Consumer { who, chain, logged };
        let stream = PullStream {
            server: self.clone(),
            feed,
            after,
            consumer,
            tx,
            commits: self.commits.clone(),
            keep_alive: Ticker::new(self.keep_alive, false),
            due: Due::Open,
            checkpoint_sent: None,
        };
        // The worker's span is a child of this one: its logs name the peer and the feed.
        span.in_scope(|| worker::spawn(&self.runner, stream));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

type Sender = mpsc::Sender<Result<PullResponse, Status>>;

/// Who an open stream is for: its region (or cluster), the certificate chain it presented, and
/// how the replication log names it.
struct Consumer {
    who: String,
    chain: Arc<Vec<CertificateDer<'static>>>,
    logged: audit::Peer,
}

/// One open pull stream as a [`Worker`]: it sends every batch of the feed after the consumer's
/// position, then each new one as the batcher commits it, and a keep-alive every period. The
/// consumer's chain is checked again every keep-alive period, so a certificate revoked (a CRL
/// reloaded) or expired while the stream is open ends it. It ends when the consumer goes away,
/// a check fails, or the node stops.
struct PullStream {
    server: PullServer,
    feed: Feed,
    after: u64,
    consumer: Consumer,
    tx: Sender,
    commits: watch::Receiver<u64>,
    keep_alive: Ticker,
    due: Due,
    /// The note of the replication-log checkpoint last sent to the consumer (to witness).
    checkpoint_sent: Option<String>,
}

/// What the stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Say how far the feed goes, then send what the consumer lacks.
    Open,
    /// Send the batches after the consumer's position.
    Batches,
    /// Check the consumer's chain again and send a keep-alive.
    KeepAlive,
}

impl Worker for PullStream {
    type Error = std::convert::Infallible;

    fn name(&self) -> &'static str {
        "pull_stream"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        if self.due == Due::Open {
            return WorkerState::Busy;
        }
        tokio::select! {
            changed = self.commits.changed() => match changed {
                Ok(()) => self.due = Due::Batches,
                Err(_) => return WorkerState::Done,
            },
            () = self.keep_alive.tick() => self.due = Due::KeepAlive,
            () = self.tx.closed() => return WorkerState::Done,
        }
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, Self::Error> {
        let open = match self.due {
            Due::Open => self.open().await,
            Due::Batches => self.send_batches().await,
            Due::KeepAlive => self.alive().await,
        };
        Ok(if open {
            WorkerState::Idle
        } else {
            WorkerState::Done
        })
    }

    async fn finish(&mut self) {
        tracing::info!(last_sent = self.after, "stream closed");
    }
}

impl PullStream {
    /// Tells the consumer the feed's head, then sends what it lacks. `false`: the stream ends.
    async fn open(&mut self) -> bool {
        tracing::info!("stream open");
        self.due = Due::Batches;
        // Say first how far the feed goes, so the consumer can show its catch-up progress.
        let head = {
            let (store, feed) = (self.server.store.clone(), self.feed.clone());
            tokio::task::spawn_blocking(move || store.feed_head(&feed).map_err(|e| e.to_string()))
                .await
                .map_err(|e| e.to_string())
                .and_then(|read| read)
        };
        let head = match head {
            Ok(head) => head.map_or(0, |h| h.sequence),
            Err(error) => {
                let _ = self.tx.send(Err(Status::internal(error))).await;
                return false;
            }
        };
        if self
            .tx
            .send(Ok(self.server.keep_alive(head)))
            .await
            .is_err()
        {
            return false;
        }
        self.send_checkpoint().await && self.send_batches().await
    }

    /// Sends this node's latest replication-log checkpoint if it changed since the last one
    /// sent, for the consumer to witness. `false`: the stream ends.
    async fn send_checkpoint(&mut self) -> bool {
        let store = self.server.store.clone();
        let kept = match tokio::task::spawn_blocking(move || store.checkpoint()).await {
            Ok(Ok(kept)) => kept,
            // The stream goes on without a checkpoint: witnessing is not worth ending it for.
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the checkpoint to pass on");
                return true;
            }
            Err(_) => return true,
        };
        let Some(kept) = kept else {
            return true;
        };
        if self.checkpoint_sent.as_deref() == Some(kept.note.as_str()) {
            return true;
        }
        self.checkpoint_sent = Some(kept.note.clone());
        let item = Some(Item::Checkpoint(kept));
        self.tx.send(Ok(PullResponse { item })).await.is_ok()
    }

    /// Sends the batches committed since the last send. `false`: the stream ends.
    async fn send_batches(&mut self) -> bool {
        // Mark the current commit seen before reading, so a commit during the read wakes us.
        self.commits.borrow_and_update();
        match self
            .server
            .send_after(&self.feed, &mut self.after, &self.consumer.logged, &self.tx)
            .await
        {
            Ok(open) => open,
            Err(status) => {
                let _ = self.tx.send(Err(status)).await;
                false
            }
        }
    }

    /// Checks the consumer's chain again and sends a keep-alive. `false`: the stream ends.
    async fn alive(&mut self) -> bool {
        // Once a keep-alive period, not per batch: off the hot path, and a CRL reload or an
        // expiry still ends the stream within one period.
        let server = &self.server;
        if let Err(rejection) = server
            .verifier
            .verify_node(&self.consumer.chain, server.clock.unix_time())
        {
            tracing::warn!(%rejection, "consumer's certificate no longer valid; ending the stream");
            server
                .metrics
                .partial()
                .pull_denied(&self.consumer.who, "invalid_while_open");
            let reason = format!("invalid while open: {rejection}");
            server.log_checked(&self.consumer.logged, Some(&reason));
            let status = Status::permission_denied(format!("client certificate: {rejection}"));
            let _ = self.tx.send(Err(status)).await;
            return false;
        }
        if self
            .tx
            .send(Ok(server.keep_alive(self.after)))
            .await
            .is_err()
        {
            return false;
        }
        self.send_checkpoint().await
    }
}

impl PullServer {
    /// A keep-alive saying the feed goes up to `latest_sequence`.
    fn keep_alive(&self, latest_sequence: u64) -> PullResponse {
        let alive = KeepAlive {
            latest_sequence,
            producer_unix_millis: i64::try_from(self.clock.now_millis()).unwrap_or(i64::MAX),
        };
        PullResponse {
            item: Some(Item::KeepAlive(alive)),
        }
    }

    /// Appends the admission (`refused: None`) or refusal of a pull's client to the
    /// replication log, off the async threads.
    fn log_checked(&self, peer: &audit::Peer, refused: Option<&str>) {
        let entry = audit::peer_checked(
            peer,
            audit::Path::PartialStream,
            refused,
            self.clock.now_millis(),
        );
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = store.record(&[entry]) {
                tracing::error!(%error, "cannot append to the replication log");
            }
        });
    }

    /// Sends the batches after `*after` page by page to `to`, moving `*after`; each page's
    /// batches sent are logged as served in one write. `Ok(false)`: the consumer is gone.
    async fn send_after(
        &self,
        feed: &Feed,
        after: &mut u64,
        to: &audit::Peer,
        tx: &Sender,
    ) -> Result<bool, Status> {
        loop {
            let page = {
                let (store, feed, from) = (self.store.clone(), feed.clone(), *after);
                tokio::task::spawn_blocking(move || store.batches_after(&feed, from, PAGE))
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?
                    .map_err(|e| Status::internal(e.to_string()))?
            };
            let full = page.len() == PAGE;
            let mut served: Vec<Entry> = Vec::with_capacity(page.len());
            let mut gone = false;
            for batch in page {
                let sequence = batch.sequence;
                let entry = audit::batch_served(
                    &self.home,
                    feed,
                    &batch,
                    to,
                    audit::Path::PartialStream,
                    self.clock.now_millis(),
                );
                let item = Some(Item::Batch(batch.signed));
                if tx.send(Ok(PullResponse { item })).await.is_err() {
                    gone = true;
                    break;
                }
                served.push(entry);
                tracing::debug!(sequence, "batch sent");
                self.metrics.partial().batch_served(&feed.to_string());
                *after = sequence;
            }
            if !served.is_empty() {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || store.record_served(&served))
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
            if gone {
                return Ok(false);
            }
            if !full {
                return Ok(true);
            }
        }
    }
}

/// The tonic service of `producer`, with the message limits of this module.
pub fn service(producer: PullServer) -> ReplicationServer<PullServer> {
    ReplicationServer::new(producer)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Serves `routes` (normally [`service`] of a [`PullServer`], and the node's `Audit` service)
/// on `listener` with `tls` (see `pki::tls::server_config`) until `stop` fires; then stops
/// accepting, lets open streams end and returns. Refused handshakes are counted in `metrics`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    routes: tonic::service::Routes,
    metrics: Metrics,
    stop: ShutdownSignal,
) -> Result<(), PullServerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "gRPC server listening (mTLS)");
    }
    let (conn_tx, conn_rx) = mpsc::channel::<TlsStream<TcpStream>>(HANDSHAKE_BACKLOG);
    let acceptor = TlsAcceptor::from(tls);
    let accept_stop = stop.clone();
    // At most MAX_HANDSHAKES handshakes run at once: past that the loop stops accepting, and
    // new connections wait in the kernel's backlog (mini-redis bounds connections the same way).
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let spawner = stop.clone();
    let accepting = stop.spawn(async move {
        loop {
            let permit = tokio::select! {
                permit = handshakes.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = accept_stop.clone().wait() => break,
            };
            let (tcp, addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = accept_stop.clone().wait() => break,
            };
            let (acceptor, conn_tx, metrics) = (acceptor.clone(), conn_tx.clone(), metrics.clone());
            spawner.spawn(async move {
                handshake(acceptor, tcp, addr, conn_tx, metrics).await;
                drop(permit);
            });
        }
    });
    let incoming =
        tokio_stream::StreamExt::map(ReceiverStream::new(conn_rx), Ok::<_, std::io::Error>);
    let served = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEP_ALIVE))
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stop.wait())
        .await;
    accepting.abort();
    tracing::info!("gRPC server stopped");
    Ok(served?)
}

/// Runs one TLS handshake; a refused client is logged (by the verifier) and counted.
async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    conn_tx: mpsc::Sender<TlsStream<TcpStream>>,
    metrics: Metrics,
) {
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            let _ = conn_tx.send(tls).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(%addr, error = %e, "TLS handshake refused");
            metrics
                .partial()
                .pull_denied("unauthenticated", "tls_handshake");
        }
        Err(_) => {
            tracing::warn!(%addr, "TLS handshake timed out");
            metrics
                .partial()
                .pull_denied("unauthenticated", "tls_timeout");
        }
    }
}
