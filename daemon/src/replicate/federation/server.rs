//! The federation server: `/Federation/Fetch` for Google-server pullers, on its own listener.
//!
//! Why its own listener, not the mTLS gRPC port: a Google server cannot hold a certificate of
//! the enmesh CA tree, and its puller authenticates with `authorization: Bearer <token>` over
//! server-side TLS (formats.md §f.2). So the listener speaks TLS with the node's certificate or
//! one from files (`[federation] tls`), a client certificate optional: each allowed puller is
//! configured either with a token file (compared by SHA-256 in constant time) or with a region,
//! which a client proves with a node certificate of that region on the CA tree (mTLS, checked by
//! the node's `Verifier`), and each has its own allowed include and forced exclude regions.
//! `tls = "none"` keeps plain h2c for a listener behind a TLS-terminating proxy (tokens only).
//!
//! A page holds local keys only (a key received from another backend is never served, whatever
//! `onlyLocalProvenance` says), in arrival order after the request's key cursor, at most
//! `maxExposureKeys` (capped at 500). Keys that arrived less than `settle` ago are not served
//! (Google never serves the open 1-hour window), and a page stops before the first key not yet
//! released at `now` (the embargo of formats.md §e.6, by the rule of [`crate::embargo`] that the
//! phone feed and the export files use: it and every later key wait until it expired), so the
//! cursor never passes a key that was held back. `partialResponse` is true when the page
//! filled up; `nextFetchState.keyCursor` names the last key examined. Revised keys are not
//! served (enmesh stores no revisions): `revisedKeyCursor` is echoed.
//!
//! This module never serves a remote key, never serves before the request was matched to a
//! configured puller (by token or by certificate), and never reads more than [`MAX_EXAMINED`] store entries for one request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::federation::federation_server::{Federation, FederationServer};
use enmesh_proto::federation::{FederationFetchRequest, FederationFetchResponse, FetchState};
use enmesh_protocol::region::RegionId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::cursor::{self, MAX_PAGE_KEYS};
use crate::clock::SharedClock;
use crate::embargo;
use crate::pki::verify::Verifier;
use crate::shutdown::ShutdownSignal;
use crate::store::{KeySource, Store};
use crate::telemetry::Metrics;

/// Most store entries (local and remote) examined for one request; a page that reaches it is
/// answered as partial.
pub const MAX_EXAMINED: usize = 50_000;
/// Most TLS handshakes in flight at once.
pub const MAX_HANDSHAKES: usize = 64;
/// Time allowed for one TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Store entries read per store call.
const READ_PAGE: usize = 1000;

/// How an allowed puller proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum PullerAuth {
    /// SHA-256 of its bearer token.
    Token([u8; 32]),
    /// A node certificate of this region on the CA tree.
    Region(RegionId),
}

/// One allowed puller.
#[derive(Clone)]
pub struct Puller {
    /// Its name (logs, metrics).
    pub name: String,
    /// How it is authorised.
    pub auth: PullerAuth,
    /// Regions it may ask for (empty: any).
    pub include_regions: Vec<String>,
    /// Regions always excluded for it.
    pub exclude_regions: Vec<String>,
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The service.
#[derive(Clone)]
pub struct FederationService {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    clock: SharedClock,
    metrics: Metrics,
    home: String,
    settle_secs: u64,
    pullers: Arc<Vec<Puller>>,
}

impl std::fmt::Debug for FederationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationService")
            .field("home", &self.home)
            .field("pullers", &self.pullers)
            .finish_non_exhaustive()
    }
}

impl FederationService {
    /// A service serving `store`'s local keys as region `home` (the code phones and partners
    /// know this region by, e.g. `export.region_code`).
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        clock: SharedClock,
        metrics: Metrics,
        home: String,
        settle_secs: u64,
        pullers: Vec<Puller>,
    ) -> Self {
        Self {
            store,
            verifier,
            clock,
            metrics,
            home: home.to_ascii_uppercase(),
            settle_secs,
            pullers: Arc::new(pullers),
        }
    }

    /// The puller `request` comes from: by its bearer token if it carries one, else by the
    /// CA-tree node certificate it presented. The error is the status and a metric reason.
    fn authorise<T>(&self, request: &Request<T>) -> Result<&Puller, (Status, &'static str)> {
        if let Some(header) = request.metadata().get("authorization") {
            let token = header
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or((
                    Status::unauthenticated("authorization: Bearer <token> required"),
                    "malformed_token",
                ))?;
            let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            return self
                .pullers
                .iter()
                .find(|p| match &p.auth {
                    PullerAuth::Token(sha) => bool::from(sha.ct_eq(&hash)),
                    PullerAuth::Region(_) => false,
                })
                .ok_or((Status::unauthenticated("unknown bearer token"), "token"));
        }
        let chain = request.peer_certs().ok_or((
            Status::unauthenticated("a bearer token or a client certificate is required"),
            "no_credentials",
        ))?;
        // The handshake verified the chain already; verify again to learn who it is.
        let peer = self
            .verifier
            .verify_node(&chain, self.clock.unix_time())
            .map_err(|rejection| {
                (
                    Status::permission_denied(format!("client certificate: {rejection}")),
                    "not_a_node",
                )
            })?;
        let region = peer.region().ok_or((
            Status::permission_denied("the client certificate names no region"),
            "no_region",
        ))?;
        self.pullers
            .iter()
            .find(|p| p.auth == PullerAuth::Region(region.clone()))
            .ok_or((
                Status::permission_denied(format!("region {region} is not an allowed puller")),
                "region_not_allowed",
            ))
    }

    /// One page, as the pure rules above decide it, read from the store.
    fn page(
        &self,
        puller: &Puller,
        request: &FederationFetchRequest,
    ) -> Result<FederationFetchResponse, Status> {
        let serves = cursor::serves_home(
            &self.home,
            &request.include_regions,
            &request.exclude_regions,
            &puller.include_regions,
            &puller.exclude_regions,
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let state = request.state.clone().unwrap_or_default();
        let mut after = cursor::decode_cursor(state.key_cursor.as_ref())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let max = match request.max_exposure_keys {
            0 => MAX_PAGE_KEYS,
            n => n.min(MAX_PAGE_KEYS),
        } as usize;
        let now = self.clock.now_secs();
        // Arrived at or before `now - settle` (the store's bound is exclusive).
        let until = now.saturating_sub(self.settle_secs).saturating_add(1);
        let regions = vec![self.home.clone()];
        let mut keys = Vec::new();
        let mut examined = 0usize;
        let mut partial = false;
        // onlyTravelers: this server marks no key as a traveller's (visited regions never leave
        // the node), so such a request gets nothing.
        let wanted = serves && !request.only_travelers;
        'read: while wanted && keys.len() < max {
            let page = self
                .store
                .keys_arrived(0, until, after, READ_PAGE)
                .map_err(|e| {
                    tracing::error!(error = %e, "federation read failed");
                    Status::internal("store read failed")
                })?;
            for entry in &page.entries {
                if entry.source == KeySource::Local
                    && !embargo::released_at(&entry.key, entry.at.unix_secs, now)
                {
                    break 'read;
                }
                after = Some(entry.at);
                examined += 1;
                if entry.source == KeySource::Local {
                    keys.push(cursor::key_to_wire(&entry.key, &regions));
                    if keys.len() == max {
                        partial = true;
                        break 'read;
                    }
                }
                if examined >= MAX_EXAMINED {
                    partial = true;
                    break 'read;
                }
            }
            if page.next.is_none() {
                break;
            }
        }
        self.metrics
            .federation()
            .served(&puller.name, keys.len() as u64);
        Ok(FederationFetchResponse {
            keys,
            revised_keys: Vec::new(),
            partial_response: partial,
            next_fetch_state: Some(FetchState {
                key_cursor: after.map(cursor::encode_cursor).or(state.key_cursor),
                revised_key_cursor: state.revised_key_cursor,
            }),
        })
    }
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn fetch(
        &self,
        request: Request<FederationFetchRequest>,
    ) -> Result<Response<FederationFetchResponse>, Status> {
        let puller = match self.authorise(&request) {
            Ok(p) => p.clone(),
            Err((status, reason)) => {
                tracing::warn!(reason, "federation fetch refused");
                self.metrics.federation().denied(reason);
                return Err(status);
            }
        };
        let span = tracing::info_span!("federation_fetch", puller = %puller.name);
        let this = self.clone();
        let inner = request.into_inner();
        let answer = tokio::task::spawn_blocking(move || this.page(&puller, &inner))
            .await
            .map_err(|_| Status::internal("fetch task failed"))??;
        span.in_scope(|| {
            tracing::debug!(
                keys = answer.keys.len(),
                partial = answer.partial_response,
                "page served"
            );
        });
        Ok(Response::new(answer))
    }
}

/// Why the federation server stopped.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The server failed.
    #[error("federation server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `service` on `listener` until `stop` fires: over TLS with `tls` (at most
/// [`MAX_HANDSHAKES`] handshakes at once, each bounded by [`HANDSHAKE_TIMEOUT`]), or plain h2c
/// without.
pub async fn serve(
    listener: TcpListener,
    service: FederationService,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: ShutdownSignal,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().ok();
    let metrics = service.metrics.clone();
    let router = tonic::transport::Server::builder().add_service(FederationServer::new(service));
    let Some(tls) = tls else {
        tracing::info!(?addr, "federation server listening (h2c)");
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        router
            .serve_with_incoming_shutdown(incoming, stop.wait())
            .await?;
        return Ok(());
    };
    tracing::info!(?addr, "federation server listening (TLS)");
    let (conn_tx, conn_rx) = mpsc::channel::<TlsStream<TcpStream>>(MAX_HANDSHAKES);
    let acceptor = TlsAcceptor::from(tls);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let (accept_stop, spawner) = (stop.clone(), stop.clone());
    let accepting = stop.spawn(async move {
        loop {
            let permit = tokio::select! {
                permit = handshakes.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = accept_stop.clone().wait() => break,
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = accept_stop.clone().wait() => break,
            };
            let (acceptor, conn_tx, metrics) = (acceptor.clone(), conn_tx.clone(), metrics.clone());
            spawner.spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = conn_tx.send(tls).await;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%peer, %error, "federation TLS handshake refused");
                        metrics.federation().denied("tls_handshake");
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "federation TLS handshake timed out");
                        metrics.federation().denied("tls_timeout");
                    }
                }
                drop(permit);
            });
        }
    });
    let incoming =
        tokio_stream::StreamExt::map(ReceiverStream::new(conn_rx), Ok::<_, std::io::Error>);
    let served = router
        .serve_with_incoming_shutdown(incoming, stop.wait())
        .await;
    accepting.abort();
    Ok(served?)
}

/// The address a listener is bound to, for logs and tests.
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
