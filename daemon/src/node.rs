//! One running enmesh node: the wiring of every part of the daemon, and its ordered shutdown.
//!
//! [`start`] checks the node's own certificate against the root (a node whose config names
//! another region or cluster than its certificate refuses to start), opens the store, starts the
//! actors (retention, ...) and the servers, and returns a [`NodeHandle`]. [`NodeHandle::shutdown`]
//! stops them in order: first the servers stop accepting and finish the requests in flight, then
//! the actors finish their work, then the store closes. This module owns no logic of its own
//! beyond that order: it never validates, batches or serves anything itself.

use crate::admin::{self, token::TokenError};
use crate::api::{self, AppState};
use crate::batch::{self, BatchError, BatcherConfig, BatcherHandle};
use crate::clock::SharedClock;
use crate::config::{Config, PkiConfig};
use crate::exports::{self, ExportRun, ExportSettings, ExporterHandle, ExportsError};
use crate::feed::{self, FeedSettings};
use crate::ingest::{self, IngestState};
use crate::pki::files::{self, FileError};
use crate::pki::{
    Credential, IdentityError, NodeIdentity, Rejection, TlsError, TrustError, Verifier, tls,
};
use crate::replicate::mesh::{self, MeshError, MeshHandle};
use crate::replicate::partial::{consumer, producer};
use crate::retention;
use crate::shutdown::{Shutdown, ShutdownError, ShutdownSignal};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use rustls_pki_types::{CertificateRevocationListDer, UnixTime};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;

/// How long each shutdown stage may take before the node gives up waiting for it.
pub const STAGE_DEADLINE: Duration = Duration::from_secs(10);

/// Why a node could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum NodeError {
    /// A PKI file could not be read.
    #[error("pki: {0}")]
    PkiFile(#[from] FileError),
    /// The node's key or certificate chain is unusable.
    #[error("pki: node identity: {0}")]
    Identity(#[from] IdentityError),
    /// The root certificate or a CRL is unusable.
    #[error("pki: trust anchor: {0}")]
    Trust(#[from] TrustError),
    /// The node's own certificate does not verify against the root.
    #[error("pki: this node's own certificate is rejected: {0}")]
    OwnCertificate(#[from] Rejection),
    /// The config names another region or cluster than the node's certificate.
    #[error("node.{field} is {configured} but this node's certificate says {certified}")]
    IdentityMismatch {
        /// `region` or `cluster`.
        field: &'static str,
        /// The configured value.
        configured: String,
        /// The value in the certificate.
        certified: String,
    },
    /// The store could not be opened or used.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The batcher could not start or failed.
    #[error("batcher: {0}")]
    Batch(#[from] BatchError),
    /// The exporter could not start or failed a run.
    #[error("exports: {0}")]
    Exports(#[from] ExportsError),
    /// The operator API's token file could not be read or created.
    #[error("admin token: {0}")]
    AdminToken(#[from] TokenError),
    /// The cluster mesh could not start or failed.
    #[error("mesh: {0}")]
    Mesh(#[from] MeshError),
    /// A server could not bind or failed.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    /// The gRPC server's TLS configuration could not be built.
    #[error("gRPC TLS: {0}")]
    Tls(#[from] TlsError),
    /// The gRPC server failed.
    #[error(transparent)]
    Grpc(#[from] producer::ProducerError),
    /// A `[[peers]]` entry this build cannot pull from.
    #[error("peers[{index}]: format \"efgs\" is not supported by this build's consumer")]
    UnsupportedPeer {
        /// Its index in `[[peers]]`.
        index: usize,
    },
    /// A part of the Google key-server stack could not start.
    #[error(transparent)]
    Interop(#[from] crate::interop::InteropError),
    /// A stage did not stop within its deadline.
    #[error(transparent)]
    Shutdown(#[from] ShutdownError),
    /// A part of the node stopped although no shutdown was asked for.
    #[error("a part of the node stopped unexpectedly")]
    Stopped,
    /// A task panicked or was cancelled.
    #[error("task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The node's trust material, loaded and self-checked.
pub struct Trust {
    /// The node's signing identity (current certificate, and the next one during rotation).
    pub identity: Arc<NodeIdentity>,
    /// The verifier every peer, connection and batch is checked with.
    pub verifier: Arc<Verifier>,
    /// The CRLs the verifier was built with (what a reload compares against).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

/// Loads the node's key, chain, root and CRLs, and checks the node's own certificate: it must
/// chain to the root, not be revoked, and carry the configured region and cluster.
pub fn load_trust(config: &Config, now: UnixTime) -> Result<Trust, NodeError> {
    let pki = &config.pki;
    let crls = read_crls(pki)?;
    let verifier = Verifier::new(files::read_first_cert(&pki.root_cert)?, &crls)?;
    let key = read(&pki.node_key)?;
    let (cert, chain) = (read(&pki.node_cert)?, read(&pki.chain)?);
    let credential = Credential::from_pem(&key, &[&cert, &chain])?;
    let me = verifier.verify_node(credential.chain(), now)?;
    let certified_region = me.region().map(ToString::to_string).unwrap_or_default();
    if me.region() != Some(&config.node.region) {
        return Err(NodeError::IdentityMismatch {
            field: "region",
            configured: config.node.region.to_string(),
            certified: certified_region,
        });
    }
    if me.cluster() != &config.node.cluster {
        return Err(NodeError::IdentityMismatch {
            field: "cluster",
            configured: config.node.cluster.to_string(),
            certified: me.cluster().to_string(),
        });
    }
    Ok(Trust {
        identity: Arc::new(NodeIdentity::new(credential)),
        verifier: Arc::new(verifier),
        crls,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Every CRL file in `pki.crl_dir` (none if it is not configured).
fn read_crls(pki: &PkiConfig) -> Result<Vec<CertificateRevocationListDer<'static>>, FileError> {
    let Some(dir) = &pki.crl_dir else {
        return Ok(Vec::new());
    };
    let io = |source| FileError::Io {
        path: dir.clone(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| files::read_crl(p))
        .collect()
}

/// A running node.
pub struct NodeHandle {
    http_addr: SocketAddr,
    admin_addr: SocketAddr,
    grpc_addr: SocketAddr,
    store: Arc<Store>,
    trust: Trust,
    servers: Shutdown,
    actors: Shutdown,
    exporter: ExporterHandle,
    batcher: BatcherHandle,
    mesh: Option<MeshHandle>,
    federation_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<Result<(), NodeError>>>,
}

impl NodeHandle {
    /// Where the phone-facing HTTP API listens (useful with port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the operator API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Where the backend-to-backend gRPC server (mTLS) listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where the `/Federation/Fetch` server listens, if `[federation]` is configured.
    pub fn federation_addr(&self) -> Option<SocketAddr> {
        self.federation_addr
    }

    /// Cuts every pending batch now, ignoring the window.
    pub async fn flush_batches(&self) -> Result<usize, NodeError> {
        Ok(self.batcher.flush().await?)
    }

    /// Builds the export files of every ended window not exported yet, now.
    pub async fn export_now(&self) -> Result<ExportRun, NodeError> {
        Ok(self.exporter.export_now().await?)
    }

    /// The node's store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The node's identity and verifier.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The cluster mesh, if `[mesh]` is configured.
    pub fn mesh(&self) -> Option<&MeshHandle> {
        self.mesh.as_ref()
    }

    /// Stops the node in order: servers (finishing requests in flight), then actors, then the
    /// store. Returns the first error any part ended with.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        tracing::info!("stopping servers");
        self.servers.drain(STAGE_DEADLINE).await?;
        tracing::info!("stopping actors");
        self.actors.drain(STAGE_DEADLINE).await?;
        self.exporter.stopped().await;
        for task in self.tasks {
            task.await??;
        }
        drop(self.store);
        tracing::info!("node stopped");
        Ok(())
    }

    /// Waits until any part of the node ends by itself, which only happens when it failed
    /// (tasks end on shutdown otherwise). Pending forever while all is well.
    pub async fn failed(&mut self) -> NodeError {
        let (index, result) = std::future::poll_fn(|cx| {
            for (i, task) in self.tasks.iter_mut().enumerate() {
                if let Poll::Ready(result) = Pin::new(task).poll(cx) {
                    return Poll::Ready((i, result));
                }
            }
            Poll::Pending
        })
        .await;
        self.tasks.remove(index);
        match result {
            Ok(Ok(())) => NodeError::Stopped,
            Ok(Err(err)) => err,
            Err(join) => NodeError::Task(join),
        }
    }
}

/// Starts a node from a validated config.
pub async fn start(
    config: Config,
    clock: SharedClock,
    metrics: Metrics,
) -> Result<NodeHandle, NodeError> {
    let trust = load_trust(&config, UnixTime::now())?;
    let store = {
        let dir = config.node.data_dir.clone();
        Arc::new(tokio::task::spawn_blocking(move || Store::open(&dir)).await??)
    };
    tracing::info!(region = %config.node.region, cluster = %config.node.cluster,
        data_dir = %config.node.data_dir.display(), "store open");

    let actors = Shutdown::new();
    let mut tasks = Vec::new();
    tasks.push(actors.spawn(retention_loop(
        store.clone(),
        clock.clone(),
        metrics.clone(),
        u32::from(config.retention.days),
        config.retention.sweep_interval,
        actors.signal(),
    )));

    let batcher = batch::spawn(
        BatcherConfig::from_config(&config),
        store.clone(),
        trust.identity.clone(),
        clock.clone(),
        metrics.clone(),
        actors.signal(),
    )?;
    let waiter = batcher.clone();
    tasks.push(actors.spawn(async move {
        waiter.stopped().await;
        Ok(())
    }));
    let mesh = match &config.mesh {
        Some(settings) => {
            let (handle, mesh) = mesh::start(
                settings,
                store.clone(),
                &trust,
                &config.node.cluster,
                &config.node.region,
                &config.node.cluster_regions,
                batcher.subscribe(),
                clock.clone(),
                metrics.clone(),
            )
            .await?;
            let stop = actors.signal();
            tasks.push(actors.spawn(async move { Ok(mesh.run(stop).await?) }));
            Some(handle)
        }
        None => None,
    };
    if config.pki.crl_dir.is_some() {
        tasks.push(actors.spawn(crl_reload_loop(
            config.pki.clone(),
            trust.verifier.clone(),
            trust.crls.clone(),
            mesh.clone(),
            actors.signal(),
        )));
    }
    let exporter = exports::spawn(
        ExportSettings::from_config(&config.export),
        exports::load_signing_key(&config.export.signing_key)?,
        store.clone(),
        clock.clone(),
        actors.signal(),
    );

    let servers = Shutdown::new();
    let state = AppState::new(
        config.node.region.clone(),
        config.node.cluster.clone(),
        metrics.clone(),
    );
    let certified = crate::interop::certified(&config, &store).await?;
    let routes = ingest::routes_with(
        IngestState {
            store: store.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
            region: config.node.region.clone(),
            validation: ValidationConfig::default(),
            batcher: Some(batcher.clone()),
        },
        certified,
    )
    .merge(feed::routes(
        store.clone(),
        clock.clone(),
        FeedSettings::from_config(&config),
    ))
    .merge(exports::routes(store.clone()));
    let router = api::router(state, routes, config.http.max_body_bytes);
    let (http_addr, serve_http) = bind_and_serve(config.http.listen, router, &servers).await?;
    tasks.push(serve_http);

    let (grpc_addr, serve_grpc) = bind_grpc(
        &config, &trust, &store, &batcher, &clock, &metrics, &servers,
    )
    .await?;
    tasks.push(serve_grpc);
    spawn_consumers(
        &config, &trust, &store, &clock, &metrics, &actors, &mut tasks,
    )?;

    let federation_addr = crate::interop::start(
        &config, &store, &clock, &metrics, &actors, &servers, &mut tasks,
    )
    .await?;

    let admin_routes = admin::routes(admin::AdminState {
        store: store.clone(),
        clock: clock.clone(),
        token: admin::token::load_or_create(&config.node.data_dir)?,
        code_ttl: config.upload.code_ttl,
    });
    let (admin_addr, serve_admin) =
        bind_and_serve(config.admin.listen, admin_routes, &servers).await?;
    tasks.push(serve_admin);

    Ok(NodeHandle {
        http_addr,
        admin_addr,
        grpc_addr,
        store,
        trust,
        servers,
        actors,
        exporter,
        batcher,
        mesh,
        federation_addr,
        tasks,
    })
}

/// Binds `grpc.listen` and serves the partial feeds on it (mTLS) until the `servers` stage
/// stops.
async fn bind_grpc(
    config: &Config,
    trust: &Trust,
    store: &Arc<Store>,
    batcher: &BatcherHandle,
    clock: &SharedClock,
    metrics: &Metrics,
    servers: &Shutdown,
) -> Result<(SocketAddr, JoinHandle<Result<(), NodeError>>), NodeError> {
    let addr = config.grpc.listen;
    let listener = api::bind(addr).await?;
    let bound = listener
        .local_addr()
        .map_err(|reason| api::ApiError::Bind { addr, reason })?;
    let server_tls = tls::server_config(
        trust.verifier.clone(),
        trust.identity.active(UnixTime::now()),
    )?;
    let service = producer::Producer::new(
        store.clone(),
        trust.verifier.clone(),
        config.node.cluster.clone(),
        batcher.subscribe(),
        clock.clone(),
        metrics.clone(),
        servers.signal(),
    );
    let (stop, metrics) = (servers.signal(), metrics.clone());
    let task = servers.spawn(async move {
        let service = producer::service(service);
        producer::serve(listener, Arc::new(server_tls), service, metrics, stop).await?;
        Ok(())
    });
    Ok((bound, task))
}

/// Starts one consumer task per `[[peers]]` entry, in the `actors` stage.
fn spawn_consumers(
    config: &Config,
    trust: &Trust,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
    actors: &Shutdown,
    tasks: &mut Vec<JoinHandle<Result<(), NodeError>>>,
) -> Result<(), NodeError> {
    let context = consumer::Context {
        store: store.clone(),
        verifier: trust.verifier.clone(),
        identity: trust.identity.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
    };
    for (index, peer) in config.peers.iter().enumerate() {
        let producer =
            consumer::Producer::from_config(peer, &config.node.region, &config.node.cluster)?
                .ok_or(NodeError::UnsupportedPeer { index })?;
        let run = consumer::run(context.clone(), producer, actors.signal());
        tasks.push(actors.spawn(async move {
            run.await;
            Ok(())
        }));
    }
    Ok(())
}

/// Binds `addr` and serves `router` on it until the `servers` stage stops.
async fn bind_and_serve(
    addr: SocketAddr,
    router: axum::Router,
    servers: &Shutdown,
) -> Result<(SocketAddr, JoinHandle<Result<(), NodeError>>), NodeError> {
    let listener = api::bind(addr).await?;
    let bound = listener
        .local_addr()
        .map_err(|reason| api::ApiError::Bind { addr, reason })?;
    let stop = servers.signal();
    let task = servers.spawn(async move {
        api::serve(listener, router, stop).await?;
        Ok(())
    });
    Ok((bound, task))
}

/// Reads `pki.crl_dir` again every `pki.crl_reload` and, when its CRLs differ from `loaded`,
/// gives them to the verifier every link and batch check uses, then has the mesh check its
/// admitted peers again (a revoked peer is dropped and blocked). New TLS handshakes and pulls use the new CRLs
/// at once. A directory that cannot be read or holds a bad CRL is logged and the old CRLs stay.
async fn crl_reload_loop(
    pki: PkiConfig,
    verifier: Arc<Verifier>,
    mut loaded: Vec<CertificateRevocationListDer<'static>>,
    mesh: Option<MeshHandle>,
    stop: ShutdownSignal,
) -> Result<(), NodeError> {
    let mut ticks = tokio::time::interval(pki.crl_reload);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.reset();
    loop {
        tokio::select! {
            () = stop.clone().wait() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let read = {
            let pki = pki.clone();
            tokio::task::spawn_blocking(move || read_crls(&pki)).await?
        };
        let crls = match read {
            Ok(crls) => crls,
            Err(error) => {
                tracing::error!(%error, "cannot read the CRL directory; keeping the loaded CRLs");
                continue;
            }
        };
        if loaded == crls {
            continue;
        }
        if let Err(error) = verifier.replace_crls(&crls) {
            tracing::error!(%error, "a CRL does not parse; keeping the loaded CRLs");
            continue;
        }
        tracing::info!(crls = crls.len(), "CRLs reloaded");
        if let Some(mesh) = &mesh
            && let Err(error) = mesh.set_verifier(verifier.clone()).await
        {
            tracing::warn!(%error, "the mesh did not take the new CRLs");
        }
        loaded = crls;
    }
}

/// Runs a retention sweep at start and then every `interval`, until `stop` fires.
async fn retention_loop(
    store: Arc<Store>,
    clock: SharedClock,
    metrics: Metrics,
    days: u32,
    interval: Duration,
    stop: ShutdownSignal,
) -> Result<(), NodeError> {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.clone().wait() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let (store, now) = (store.clone(), clock.now_secs());
        let swept =
            tokio::task::spawn_blocking(move || retention::sweep(&store, now, days)).await?;
        match swept {
            Ok(report) => {
                for (cf, count) in [
                    ("local", report.local_keys),
                    ("remote", report.remote_keys),
                    ("uploads", report.uploads),
                    ("codes", report.codes),
                    ("batches", report.batches),
                    ("exports", report.exports),
                ] {
                    metrics.retention_deleted(cf, count);
                }
                tracing::info!(
                    cutoff = report.cutoff_unix_secs,
                    local = report.local_keys,
                    remote = report.remote_keys,
                    batches = report.batches,
                    "retention sweep"
                );
            }
            // A failed sweep is loud but not fatal: the next one retries.
            Err(err) => tracing::error!(error = %err, "retention sweep failed"),
        }
    }
}
