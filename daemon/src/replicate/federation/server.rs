//! The federation server: `/Federation/Fetch` for Google-server pullers, on its own listener.
//!
//! Why its own listener and a bearer token per puller, not the mTLS gRPC port: a Google server
//! cannot hold a certificate of the enmesh CA tree, and its puller authenticates with
//! `authorization: Bearer <token>` over server-side TLS (formats.md §f.2). So each allowed puller
//! is configured with a token file (compared by SHA-256 in constant time) and its own allowed
//! include and forced exclude regions; the listener speaks h2c and is meant to sit behind the
//! TLS terminator of the deployment, as Google's did. The mTLS port stays for enmesh peers only.
//!
//! A page holds local keys only (a key received from another backend is never served, whatever
//! `onlyLocalProvenance` says), in arrival order after the request's key cursor, at most
//! `maxExposureKeys` (capped at 500). Keys that arrived less than `settle` ago are not served
//! (Google never serves the open 1-hour window), and a page stops before the first key still
//! valid at `now` (the embargo of formats.md §e.6: it and every later key wait until it expired),
//! so the cursor never passes a key that was held back. `partialResponse` is true when the page
//! filled up; `nextFetchState.keyCursor` names the last key examined. Revised keys are not
//! served (enmesh stores no revisions): `revisedKeyCursor` is echoed.
//!
//! This module never serves a remote key, never serves before the bearer token matched a
//! configured puller, and never reads more than [`MAX_EXAMINED`] store entries for one request.

use std::net::SocketAddr;
use std::sync::Arc;

use enmesh_proto::federation::federation_server::{Federation, FederationServer};
use enmesh_proto::federation::{FederationFetchRequest, FederationFetchResponse, FetchState};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use super::cursor::{self, MAX_PAGE_KEYS};
use crate::clock::SharedClock;
use crate::shutdown::ShutdownSignal;
use crate::store::{KeySource, Store};
use crate::telemetry::Metrics;

/// Most store entries (local and remote) examined for one request; a page that reaches it is
/// answered as partial.
pub const MAX_EXAMINED: usize = 50_000;
/// Store entries read per store call.
const READ_PAGE: usize = 1000;

/// One allowed puller.
#[derive(Clone)]
pub struct Puller {
    /// Its name (logs, metrics).
    pub name: String,
    /// SHA-256 of its bearer token.
    pub token_sha256: [u8; 32],
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
        clock: SharedClock,
        metrics: Metrics,
        home: String,
        settle_secs: u64,
        pullers: Vec<Puller>,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            home: home.to_ascii_uppercase(),
            settle_secs,
            pullers: Arc::new(pullers),
        }
    }

    /// The puller whose token `request` carries.
    fn authorise<T>(&self, request: &Request<T>) -> Result<&Puller, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization: Bearer <token> required"))?;
        let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        self.pullers
            .iter()
            .find(|p| bool::from(p.token_sha256.ct_eq(&hash)))
            .ok_or_else(|| Status::unauthenticated("unknown bearer token"))
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
                if entry.source == KeySource::Local && entry.key.still_valid_at(now) {
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
            Err(status) => {
                self.metrics.federation().denied("token");
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

/// Serves `service` on `listener` (h2c) until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    service: FederationService,
    stop: ShutdownSignal,
) -> Result<(), ServeError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "federation server listening");
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(FederationServer::new(service))
        .serve_with_incoming_shutdown(incoming, stop.wait())
        .await?;
    Ok(())
}

/// The address a listener is bound to, for logs and tests.
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
