//! The producer: `enmesh.v1.Replication/Pull`, served over mutual TLS.
//!
//! [`serve`] accepts TCP connections, runs the TLS handshake (whose client verifier is the PKI:
//! a peer without a valid chain never gets further) off the accept loop, and hands the TLS
//! streams to tonic. [`Producer::pull`] then authorises the request against the client's
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
use enmesh_protocol::region::ClusterId;
use rustls_pki_types::{CertificateDer, UnixTime};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{KEEP_ALIVE, MAX_MESSAGE_BYTES};
use crate::clock::SharedClock;
use crate::pki::{VerifiedPeer, Verifier};
use crate::shutdown::ShutdownSignal;
use crate::store::{FeedId, Store, StoreError};
use crate::telemetry::Metrics;

/// Batches read from the store per page.
const PAGE: usize = 16;
/// Messages queued per stream before the reader waits for the consumer.
const STREAM_BUFFER: usize = 8;
/// Handshakes that may be in progress at once.
const HANDSHAKE_BACKLOG: usize = 64;
/// A TLS handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the producer could not serve.
#[derive(Debug, Error)]
pub enum ProducerError {
    /// The listener failed.
    #[error("gRPC listener: {0}")]
    Listen(#[source] std::io::Error),
    /// tonic's server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// The `Replication` service of one node.
#[derive(Clone)]
pub struct Producer {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    cluster: ClusterId,
    commits: watch::Receiver<u64>,
    clock: SharedClock,
    metrics: Metrics,
    keep_alive: Duration,
    stop: ShutdownSignal,
}

impl Producer {
    /// A producer over `store`'s feeds; `commits` changes whenever the batcher commits a cut
    /// (`BatcherHandle::subscribe`). Open streams end when `stop` fires.
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        cluster: ClusterId,
        commits: watch::Receiver<u64>,
        clock: SharedClock,
        metrics: Metrics,
        stop: ShutdownSignal,
    ) -> Self {
        Self {
            store,
            verifier,
            cluster,
            commits,
            clock,
            metrics,
            keep_alive: KEEP_ALIVE,
            stop,
        }
    }

    /// The feeds `peer` may pull: its own region's partial feed, and its cluster's a2a feed if
    /// that is this node's cluster too.
    fn authorise(&self, peer: &VerifiedPeer, feed: &FeedId) -> Result<(), &'static str> {
        let text = feed.as_str();
        if let Some(region) = text.strip_prefix("partial/") {
            return match peer.region() {
                Some(own) if own.to_string() == region => Ok(()),
                _ => Err("not_own_region"),
            };
        }
        if let Some(cluster) = text.strip_prefix("a2a/") {
            return if cluster == self.cluster.as_str() && peer.cluster() == &self.cluster {
                Ok(())
            } else {
                Err("other_cluster")
            };
        }
        Err("unknown_feed")
    }

    /// Where the stream starts: after `request`'s position, which must be one this feed had.
    fn start(&self, feed: &FeedId, request: &PullRequest) -> Result<u64, Status> {
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
impl Replication for Producer {
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
        let peer = match self.verifier.verify_node(&chain, UnixTime::now()) {
            Ok(peer) => peer,
            Err(rejection) => {
                tracing::warn!(%rejection, "pull refused: client is not a valid node");
                self.metrics.feed_pull_denied("unknown", "not_a_node");
                return Err(Status::permission_denied(format!(
                    "client certificate: {rejection}"
                )));
            }
        };
        let who = peer
            .region()
            .map_or_else(|| peer.cluster().to_string(), ToString::to_string);
        let request = request.into_inner();
        let feed = FeedId::new(&request.feed)
            .map_err(|e| Status::invalid_argument(format!("feed: {e}")))?;
        if let Err(reason) = self.authorise(&peer, &feed) {
            tracing::warn!(peer = %who, %feed, reason, "pull refused");
            self.metrics.feed_pull_denied(&who, reason);
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
        self.metrics.feed_pull(feed.as_str());
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let span = tracing::info_span!("pull_stream", peer = %who, %feed, after);
        let consumer = Consumer { who, chain };
        tokio::spawn(
            self.clone()
                .stream(feed, after, consumer, tx)
                .instrument(span),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

type Sender = mpsc::Sender<Result<PullResponse, Status>>;

/// Who an open stream is for: its region (or cluster) and the certificate chain it presented.
struct Consumer {
    who: String,
    chain: Arc<Vec<CertificateDer<'static>>>,
}

impl Producer {
    /// Sends every batch of `feed` after `after`, then each new one, until the consumer goes
    /// away or the node stops. The consumer's chain is checked again every keep-alive period, so a
    /// certificate revoked (a CRL reloaded) or expired while the stream is open ends it.
    async fn stream(self, feed: FeedId, mut after: u64, consumer: Consumer, tx: Sender) {
        tracing::info!("stream open");
        // Say first how far the feed goes, so the consumer can show its catch-up progress.
        let head = {
            let (store, feed) = (self.store.clone(), feed.clone());
            tokio::task::spawn_blocking(move || store.feed_head(&feed).map_err(|e| e.to_string()))
                .await
                .map_err(|e| e.to_string())
                .and_then(|read| read)
        };
        let head = match head {
            Ok(head) => head.map_or(0, |h| h.sequence),
            Err(error) => {
                let _ = tx.send(Err(Status::internal(error))).await;
                return;
            }
        };
        if tx.send(Ok(self.keep_alive(head))).await.is_err() {
            return;
        }
        let mut commits = self.commits.clone();
        let mut keep_alive = tokio::time::interval(self.keep_alive);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keep_alive.reset();
        loop {
            // Mark the current commit seen before reading, so a commit during the read wakes us.
            commits.borrow_and_update();
            match self.send_after(&feed, &mut after, &tx).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            }
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { break },
                _ = keep_alive.tick() => {
                    // Once a keep-alive period, not per batch: off the hot path, and a CRL
                    // reload or an expiry still ends the stream within one period.
                    if let Err(rejection) = self.verifier.verify_node(&consumer.chain, UnixTime::now()) {
                        tracing::warn!(%rejection, "consumer's certificate no longer valid; ending the stream");
                        self.metrics.feed_pull_denied(&consumer.who, "invalid_while_open");
                        let status = Status::permission_denied(format!("client certificate: {rejection}"));
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                    if tx.send(Ok(self.keep_alive(after))).await.is_err() {
                        break;
                    }
                }
                () = tx.closed() => break,
                () = self.stop.clone().wait() => break,
            }
        }
        tracing::info!(last_sent = after, "stream closed");
    }

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

    /// Sends the batches after `*after` page by page, moving `*after`. `Ok(false)`: the
    /// consumer is gone.
    async fn send_after(
        &self,
        feed: &FeedId,
        after: &mut u64,
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
            for batch in page {
                let sequence = batch.sequence;
                let item = Some(Item::Batch(batch.signed));
                if tx.send(Ok(PullResponse { item })).await.is_err() {
                    return Ok(false);
                }
                tracing::debug!(sequence, "batch sent");
                self.metrics.feed_batch_served(feed.as_str());
                *after = sequence;
            }
            if !full {
                return Ok(true);
            }
        }
    }
}

/// The tonic service of `producer`, with the message limits of this module.
pub fn service(producer: Producer) -> ReplicationServer<Producer> {
    ReplicationServer::new(producer)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Serves `service` (normally [`service`] of a [`Producer`]) on `listener` with `tls` (see
/// `pki::tls::server_config`) until `stop` fires; then stops accepting, lets open streams end
/// and returns. Refused handshakes are counted in `metrics`.
pub async fn serve<S: Replication>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: ReplicationServer<S>,
    metrics: Metrics,
    stop: ShutdownSignal,
) -> Result<(), ProducerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "gRPC server listening (mTLS)");
    }
    let (conn_tx, conn_rx) = mpsc::channel::<TlsStream<TcpStream>>(HANDSHAKE_BACKLOG);
    let acceptor = TlsAcceptor::from(tls);
    let accept_stop = stop.clone();
    let accepting = tokio::spawn(async move {
        loop {
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
            tokio::spawn(handshake(acceptor, tcp, addr, conn_tx, metrics));
        }
    });
    let incoming =
        tokio_stream::StreamExt::map(ReceiverStream::new(conn_rx), Ok::<_, std::io::Error>);
    let served = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEP_ALIVE))
        .add_service(service)
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
            metrics.feed_pull_denied("unauthenticated", "tls_handshake");
        }
        Err(_) => {
            tracing::warn!(%addr, "TLS handshake timed out");
            metrics.feed_pull_denied("unauthenticated", "tls_timeout");
        }
    }
}
