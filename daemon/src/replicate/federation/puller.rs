//! The federation puller: a `[[peers]]` entry with `format = "google-federation"` pulls a
//! Google federation server (or an enmesh one) over `/Federation/Fetch`.
//!
//! One [`PullWorker`] per peer. Every `poll` a sync runs: fetch with the stored fetch state, store the page's valid keys as
//! remote keys of the peer's region together with the page's `nextFetchState` in one write
//! ([`Store::commit_import`]), and fetch again while `partialResponse` is set. Committing per
//! page (Google's puller commits per sync) means a crash repeats at most the page in flight and
//! never stores it twice. Keys that fail a field check are skipped and counted, as the Google
//! puller does; revised keys are not imported. The request always sets `onlyLocalProvenance`,
//! so a partner never hands back what it federated from someone else.
//!
//! An `https://` peer is dialled over TLS: with `ca_file`, the server's chain must lead to one
//! of those roots (a Google server, web PKI rules); without it, the server must be a node of
//! the peer's region on this node's CA tree, and this node presents its own certificate
//! (mTLS, enmesh ↔ enmesh). An `http://` peer is plain h2c (a local proxy, tests).
//!
//! This module never stores keys without the fetch state that follows them, and never dials an
//! `https://` peer without checking its certificate.

use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::federation::federation_client::FederationClient;
use enmesh_proto::federation::{FederationFetchRequest, FetchState};
use enmesh_protocol::region::RegionId;
use prost::Message;
use thiserror::Error;
use tonic::transport::{Channel, Endpoint, Uri};
use tracing::Instrument;

use super::cursor::{self, MAX_PAGE_KEYS};
use crate::clock::SharedClock;
use crate::config::FederationPeer;
use crate::pki::identity::NodeIdentity;
use crate::pki::tls::{self, TlsError};
use crate::pki::verify::Verifier;
use crate::replicate::partial::connect::{self, ConnectError};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{Ticker, Worker, WorkerState};

/// Time allowed for one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Most pages in one sync (500 × 10,000 = 5M keys), so a misbehaving server cannot keep a
/// sync going forever.
pub const MAX_PAGES_PER_SYNC: usize = 10_000;

/// One federation server to pull.
#[derive(Clone)]
pub struct Remote {
    /// Its URL.
    pub url: Uri,
    /// The region its keys are stored as.
    pub region: RegionId,
    /// `includeRegions`.
    pub include_regions: Vec<String>,
    /// `excludeRegions`.
    pub exclude_regions: Vec<String>,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// Time between syncs.
    pub poll: Duration,
    /// `maxExposureKeys`.
    pub page_keys: u32,
    /// How the link is secured.
    pub tls: RemoteTls,
}

/// How a link to a federation server is secured.
#[derive(Clone)]
pub enum RemoteTls {
    /// `http://`: plain h2c.
    Plain,
    /// `https://` with `ca_file`: the server's chain must lead to one of these roots.
    Roots(Arc<rustls::ClientConfig>),
    /// `https://` without `ca_file`: mTLS on the CA tree, the server a node of the peer's region.
    Tree {
        /// The node's verifier.
        verifier: Arc<Verifier>,
        /// The node's own certificate, presented to the server.
        identity: Arc<NodeIdentity>,
    },
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Why a remote could not be set up (the operator's fault).
#[derive(Debug, Error)]
pub enum RemoteError {
    /// The token file could not be read.
    #[error("peers (google-federation {url}): token_file {path}: {reason}")]
    Token {
        /// The URL.
        url: String,
        /// The file.
        path: String,
        /// The reason.
        reason: std::io::Error,
    },
    /// The `ca_file` could not be read or holds no usable certificate.
    #[error("peers (google-federation {url}): ca_file {path}: {reason}")]
    Roots {
        /// The URL.
        url: String,
        /// The file.
        path: String,
        /// The reason.
        reason: String,
    },
}

impl Remote {
    /// From the config, reading the token and CA files; `verifier` and `identity` secure an
    /// `https://` link without `ca_file` (mTLS on the CA tree).
    pub fn load(
        peer: &FederationPeer,
        verifier: &Arc<Verifier>,
        identity: &Arc<NodeIdentity>,
    ) -> Result<Self, RemoteError> {
        let tls = match (peer.url.scheme_str(), &peer.ca_file) {
            (Some("https"), Some(path)) => {
                let err = |reason: String| RemoteError::Roots {
                    url: peer.url.to_string(),
                    path: path.display().to_string(),
                    reason,
                };
                let roots = tls::read_roots(path).map_err(err)?;
                let config =
                    tls::roots_client_config(roots, b"h2").map_err(|e| err(e.to_string()))?;
                RemoteTls::Roots(Arc::new(config))
            }
            (Some("https"), None) => RemoteTls::Tree {
                verifier: verifier.clone(),
                identity: identity.clone(),
            },
            _ => RemoteTls::Plain,
        };
        let token = peer
            .token_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|t| t.trim().to_owned())
                    .map_err(|reason| RemoteError::Token {
                        url: peer.url.to_string(),
                        path: path.display().to_string(),
                        reason,
                    })
            })
            .transpose()?;
        Ok(Self {
            url: peer.url.clone(),
            region: peer.region.clone(),
            include_regions: peer.include_regions.clone(),
            exclude_regions: peer.exclude_regions.clone(),
            token,
            poll: peer.poll,
            page_keys: peer.page_keys.clamp(1, MAX_PAGE_KEYS),
            tls,
        })
    }

    /// The store stream of its fetch state.
    pub fn stream(&self) -> String {
        format!("google-federation/{}", self.url)
    }

    fn label(&self) -> String {
        self.region.to_string()
    }
}

/// Why a sync stopped (retried at the next poll).
#[derive(Debug, Error)]
pub enum SyncError {
    /// The server could not be reached.
    #[error("connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The TLS link could not be opened.
    #[error("connect: {0}")]
    TlsConnect(#[from] ConnectError),
    /// This node's TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    /// The server did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error.
    #[error("server: {0}")]
    Status(#[from] tonic::Status),
    /// The stored fetch state does not decode.
    #[error("stored fetch state is corrupt: {0}")]
    State(#[from] prost::DecodeError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The bearer token is not a valid header value.
    #[error("the bearer token is not a valid header value")]
    Token,
}

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Pages fetched.
    pub pages: usize,
    /// Keys stored.
    pub keys: usize,
    /// Keys skipped for a bad field.
    pub skipped: usize,
}

/// One sync: pages until the server says the answer is complete.
pub async fn sync(
    remote: &Remote,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
) -> Result<SyncReport, SyncError> {
    let mut puller = Puller::new(
        remote.clone(),
        store.clone(),
        clock.clone(),
        metrics.clone(),
    );
    let mut report = SyncReport::default();
    for _ in 0..MAX_PAGES_PER_SYNC {
        if !puller.fetch_page(&mut report).await? {
            break;
        }
    }
    Ok(report)
}

/// One remote between units of work: its channel (dialled on first use, dropped on a
/// failure) and its fetch state as last stored.
struct Puller {
    remote: Remote,
    store: Arc<Store>,
    clock: SharedClock,
    metrics: Metrics,
    stream: String,
    label: String,
    client: Option<FederationClient<Channel>>,
    /// The stored fetch state; `None` until read from the store.
    held: Option<Option<Vec<u8>>>,
}

impl Puller {
    fn new(remote: Remote, store: Arc<Store>, clock: SharedClock, metrics: Metrics) -> Self {
        Self {
            stream: remote.stream(),
            label: remote.label(),
            remote,
            store,
            clock,
            metrics,
            client: None,
            held: None,
        }
    }

    /// Fetches and stores one page; `true` if the server has more (`partialResponse`). A
    /// failure forgets the channel and the fetch state, so the next page dials and reads again.
    async fn fetch_page(&mut self, report: &mut SyncReport) -> Result<bool, SyncError> {
        let fetched = self.fetch_page_inner(report).await;
        if fetched.is_err() {
            self.client = None;
            self.held = None;
        }
        fetched
    }

    async fn fetch_page_inner(&mut self, report: &mut SyncReport) -> Result<bool, SyncError> {
        let held = match &self.held {
            Some(held) => held.clone(),
            None => {
                let (store, stream) = (self.store.clone(), self.stream.clone());
                tokio::task::spawn_blocking(move || store.import_state(&stream)).await??
            }
        };
        self.held = Some(held.clone());
        let state = match &held {
            Some(bytes) => FetchState::decode(bytes.as_slice())?,
            None => FetchState::default(),
        };
        let mut request = tonic::Request::new(FederationFetchRequest {
            include_regions: self.remote.include_regions.clone(),
            exclude_regions: self.remote.exclude_regions.clone(),
            only_travelers: false,
            only_local_provenance: true,
            max_exposure_keys: self.remote.page_keys,
            state: Some(state),
        });
        if let Some(token) = &self.remote.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| SyncError::Token)?;
            request.metadata_mut().insert("authorization", value);
        }
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                let url = &self.remote.url;
                let channel: Channel = match &self.remote.tls {
                    RemoteTls::Plain => {
                        Endpoint::from(url.clone())
                            .timeout(FETCH_TIMEOUT)
                            .connect()
                            .await?
                    }
                    RemoteTls::Roots(config) => connect::tls_channel(url, config.clone()).await?,
                    RemoteTls::Tree { verifier, identity } => {
                        let config = tls::client_config(
                            verifier.clone(),
                            identity.active(self.clock.unix_time()),
                            Some(self.remote.region.clone()),
                        )?;
                        connect::tls_channel(url, Arc::new(config)).await?
                    }
                };
                self.client.insert(FederationClient::new(channel))
            }
        };
        let page = tokio::time::timeout(FETCH_TIMEOUT, client.fetch(request))
            .await
            .map_err(|_| SyncError::Timeout(FETCH_TIMEOUT))??
            .into_inner();
        report.pages += 1;
        let mut keys = Vec::with_capacity(page.keys.len());
        for wire in &page.keys {
            match cursor::key_from_wire(wire) {
                Ok(key) => keys.push(key),
                Err(error) => {
                    report.skipped += 1;
                    tracing::debug!(%error, "federated key skipped");
                    self.metrics.federation().skipped(&self.label, "bad_key");
                }
            }
        }
        let next = page.next_fetch_state.unwrap_or_default().encode_to_vec();
        let now = self.clock.now_secs();
        let count = keys.len();
        let (store, stream, region) = (
            self.store.clone(),
            self.stream.clone(),
            self.remote.region.clone(),
        );
        let state_bytes = next.clone();
        tokio::task::spawn_blocking(move || {
            store.commit_import(&region, &stream, &keys, held.as_deref(), &state_bytes, now)
        })
        .await??;
        self.held = Some(Some(next));
        self.metrics.federation().page(&self.label, count as u64);
        report.keys += count;
        if !page.partial_response {
            self.metrics.federation().synced(&self.label, now);
        }
        Ok(page.partial_response)
    }
}

/// The puller of one remote as a [`Worker`] (`federation_pull`): every `poll` a sync, one
/// page per unit of work (at most [`MAX_PAGES_PER_SYNC`] a sync), so a stopping node waits for
/// one page at most.
pub struct PullWorker {
    puller: Puller,
    ticker: Ticker,
    pages: usize,
    report: SyncReport,
}

impl PullWorker {
    /// The worker of `remote`; its first sync runs at once.
    pub fn new(remote: Remote, store: Arc<Store>, clock: SharedClock, metrics: Metrics) -> Self {
        let ticker = Ticker::new(remote.poll, true);
        Self {
            puller: Puller::new(remote, store, clock, metrics),
            ticker,
            pages: 0,
            report: SyncReport::default(),
        }
    }
}

impl Worker for PullWorker {
    type Error = SyncError;

    fn name(&self) -> &'static str {
        "federation_pull"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        self.pages = 0;
        self.report = SyncReport::default();
        WorkerState::Busy
    }

    async fn work(&mut self) -> Result<WorkerState, SyncError> {
        let span = tracing::info_span!(
            "federation_pull",
            region = %self.puller.remote.region,
            url = %self.puller.remote.url
        );
        async {
            let more = self.puller.fetch_page(&mut self.report).await?;
            self.pages += 1;
            if more && self.pages < MAX_PAGES_PER_SYNC {
                return Ok(WorkerState::Busy);
            }
            let report = self.report;
            if report.keys > 0 {
                tracing::info!(
                    pages = report.pages,
                    keys = report.keys,
                    skipped = report.skipped,
                    "federation synced"
                );
            } else {
                tracing::debug!("federation: nothing new");
            }
            Ok(WorkerState::Idle)
        }
        .instrument(span)
        .await
    }
}
