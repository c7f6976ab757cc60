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
use crate::audit::checkpoints::{self, Checkpointer};
use crate::audit::service::AuditService;
use crate::audit::witness::Witness;
use crate::batch::{self, BatcherConfig, BatcherError, BatcherHandle};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::crl_reload::CrlReload;
use crate::exports::{self, ExportRun, ExportSettings, ExporterHandle, ExportsError};
use crate::ingest::{self, IngestState};
use crate::phone_feed::{self, FeedSettings};
use crate::pki::files::{self, FileError};
use crate::pki::{
    Credential, IdentityError, NodeIdentity, Rejection, TlsError, TrustError, Verifier, tls,
};
use crate::replicate::mesh::{self, MeshError, MeshHandle};
use crate::replicate::partial::{consumer, server};
use crate::retention::worker::RetentionWorker;
use crate::shutdown::{Shutdown, ShutdownError};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{self, Runner, Workers};
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
    Batch(#[from] BatcherError),
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
    Grpc(#[from] server::PullServerError),
    /// A `[[peers]]` entry this build cannot pull from.
    #[error("peers[{index}]: format \"efgs\" is not supported by this build's consumer")]
    UnsupportedPeer {
        /// Its index in `[[peers]]`.
        index: usize,
    },
    /// The EFGS gateway or client could not start.
    #[error("efgs: {0}")]
    Efgs(#[from] crate::efgs::run::EfgsStartError),
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
    let crls = files::read_crl_dir(pki.crl_dir.as_deref())?;
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
    efgs_gateway: Option<crate::efgs::run::GatewayHandle>,
    federation_addr: Option<SocketAddr>,
    workers: Workers,
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

    /// The EFGS gateway, if `[efgs_gateway]` is configured.
    pub fn efgs_gateway(&self) -> Option<&crate::efgs::run::GatewayHandle> {
        self.efgs_gateway.as_ref()
    }

    /// The cluster mesh, if `[mesh]` is configured.
    pub fn mesh(&self) -> Option<&MeshHandle> {
        self.mesh.as_ref()
    }

    /// The node's background workers and what each last did.
    pub fn workers(&self) -> &Workers {
        &self.workers
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
    let trust = load_trust(&config, clock.unix_time())?;
    let store = {
        let dir = config.node.data_dir.clone();
        Arc::new(tokio::task::spawn_blocking(move || Store::open(&dir)).await??)
    };
    tracing::info!(region = %config.node.region, cluster = %config.node.cluster,
        data_dir = %config.node.data_dir.display(), "store open");

    let servers = Shutdown::new();
    let actors = Shutdown::new();
    match wire(config, clock, metrics, trust, store, &servers, &actors).await {
        Ok(wired) => Ok(wired.into_handle(servers, actors)),
        Err(err) => {
            // Whatever started stops before the error is returned, so nothing of this attempt
            // still holds the store (or a port) when the caller tries again.
            for (stage, name) in [(servers, "servers"), (actors, "actors")] {
                if let Err(drain) = stage.drain(STAGE_DEADLINE).await {
                    tracing::warn!(stage = name, error = %drain, "stopping a failed start");
                }
            }
            Err(err)
        }
    }
}

/// Everything of a started node but its two shutdown stages (which [`start`] owns, so that it
/// can drain them if wiring fails half-way).
struct Wired {
    http_addr: SocketAddr,
    admin_addr: SocketAddr,
    grpc_addr: SocketAddr,
    store: Arc<Store>,
    trust: Trust,
    exporter: ExporterHandle,
    batcher: BatcherHandle,
    mesh: Option<MeshHandle>,
    efgs_gateway: Option<crate::efgs::run::GatewayHandle>,
    federation_addr: Option<SocketAddr>,
    workers: Workers,
    tasks: Vec<JoinHandle<Result<(), NodeError>>>,
}

impl Wired {
    fn into_handle(self, servers: Shutdown, actors: Shutdown) -> NodeHandle {
        NodeHandle {
            http_addr: self.http_addr,
            admin_addr: self.admin_addr,
            grpc_addr: self.grpc_addr,
            store: self.store,
            trust: self.trust,
            servers,
            actors,
            exporter: self.exporter,
            batcher: self.batcher,
            mesh: self.mesh,
            efgs_gateway: self.efgs_gateway,
            federation_addr: self.federation_addr,
            workers: self.workers,
            tasks: self.tasks,
        }
    }
}

/// Starts every part of the node in `servers` and `actors`, in order.
async fn wire(
    config: Config,
    clock: SharedClock,
    metrics: Metrics,
    trust: Trust,
    store: Arc<Store>,
    servers: &Shutdown,
    actors: &Shutdown,
) -> Result<Wired, NodeError> {
    let workers = Workers::new();
    let runner = Runner {
        stage: actors.signal(),
        workers: workers.clone(),
        metrics: metrics.workers().clone(),
        clock: clock.clone(),
    };
    let mut tasks = Vec::new();
    let retention = worker::spawn(
        &runner,
        RetentionWorker::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            u32::from(config.retention.days),
            config.retention.sweep_interval,
        ),
    );
    tasks.push(actors.spawn(async move { Ok(retention.await?) }));

    let batcher = batch::spawn(
        BatcherConfig::from_config(&config),
        store.clone(),
        trust.identity.clone(),
        clock.clone(),
        metrics.clone(),
        &runner,
    )?;
    let waiter = batcher.clone();
    tasks.push(actors.spawn(async move {
        waiter.stopped().await;
        Ok(())
    }));
    // One witness of the other nodes' logs, for the mesh and the partial streams alike.
    let witness = Witness::new(
        store.clone(),
        trust.verifier.clone(),
        trust.identity.clone(),
        checkpoints::origin(&config.node.cluster, &config.node.region),
        clock.clone(),
        metrics.clone(),
    );
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
                mesh::Witnessing {
                    witness: witness.clone(),
                    every: config.audit.checkpoint_interval,
                },
                clock.clone(),
                metrics.clone(),
            )
            .await?;
            let mesh_runner = runner.clone();
            tasks.push(actors.spawn(async move { Ok(mesh.run(&mesh_runner).await?) }));
            Some(handle)
        }
        None => None,
    };
    if let Some(dir) = &config.pki.crl_dir {
        let reload = worker::spawn(
            &runner,
            CrlReload::new(
                dir.clone(),
                config.pki.crl_reload,
                trust.verifier.clone(),
                trust.crls.clone(),
                mesh.clone(),
                store.clone(),
                clock.clone(),
            ),
        );
        tasks.push(actors.spawn(async move { Ok(reload.await?) }));
    }
    let checkpointer = worker::spawn(
        &runner,
        Checkpointer::new(
            store.clone(),
            trust.identity.clone(),
            checkpoints::origin(&config.node.cluster, &config.node.region),
            config.audit.checkpoint_interval,
            clock.clone(),
            metrics.clone(),
        ),
    );
    tasks.push(actors.spawn(async move { Ok(checkpointer.await?) }));
    let exporter = exports::spawn(
        ExportSettings::from_config(&config.export),
        exports::load_signing_key(&config.export.signing_key)?,
        store.clone(),
        clock.clone(),
        &runner,
    );

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
    .merge(phone_feed::routes(
        store.clone(),
        clock.clone(),
        FeedSettings::from_config(&config),
    ))
    .merge(exports::routes(store.clone()));
    let router = api::router(state, routes, config.http.max_body_bytes);
    let (http_addr, serve_http) = bind_and_serve(config.http.listen, router, servers).await?;
    tasks.push(serve_http);

    let server_runner = Runner {
        stage: servers.signal(),
        ..runner.clone()
    };
    let (grpc_addr, serve_grpc) = bind_grpc(
        &config,
        &trust,
        &store,
        &batcher,
        &clock,
        &metrics,
        &server_runner,
    )
    .await?;
    tasks.push(serve_grpc);
    spawn_consumers(
        &config, &trust, &store, &clock, &metrics, witness, actors, &mut tasks,
    )?;

    let node_identity = trust.identity.clone();
    let node_credential = node_identity.active(clock.unix_time());
    let efgs_gateway = crate::efgs::run::start_gateway(
        &config,
        trust.verifier.clone(),
        node_credential,
        store.clone(),
        clock.clone(),
        crate::efgs::run::Stages {
            servers,
            actors: &runner,
            tasks: &mut tasks,
            metrics: metrics.clone(),
        },
    )
    .await?;
    crate::efgs::run::spawn_clients(
        &config,
        trust.verifier.clone(),
        node_credential,
        crate::efgs::client::ClientContext {
            store: store.clone(),
            clock: clock.clone(),
            region: config.node.region.clone(),
            metrics: metrics.clone(),
        },
        &runner,
        &mut tasks,
    )?;
    let federation_addr = crate::interop::start(
        &config, &store, &clock, &metrics, &trust, actors, &runner, servers, &mut tasks,
    )
    .await?;

    let admin_routes = admin::routes(admin::AdminState {
        store: store.clone(),
        clock: clock.clone(),
        token: admin::token::load_or_create(&config.node.data_dir)?,
        code_ttl: config.upload.code_ttl,
    });
    let (admin_addr, serve_admin) =
        bind_and_serve(config.admin.listen, admin_routes, servers).await?;
    tasks.push(serve_admin);

    Ok(Wired {
        http_addr,
        admin_addr,
        grpc_addr,
        store,
        trust,
        exporter,
        batcher,
        mesh,
        efgs_gateway,
        federation_addr,
        workers,
        tasks,
    })
}

/// Binds `grpc.listen` and serves the partial feeds on it (mTLS) until `runner`'s stage (the
/// servers) stops.
async fn bind_grpc(
    config: &Config,
    trust: &Trust,
    store: &Arc<Store>,
    batcher: &BatcherHandle,
    clock: &SharedClock,
    metrics: &Metrics,
    runner: &Runner,
) -> Result<(SocketAddr, JoinHandle<Result<(), NodeError>>), NodeError> {
    let addr = config.grpc.listen;
    let listener = api::bind(addr).await?;
    let bound = listener
        .local_addr()
        .map_err(|reason| api::ApiError::Bind { addr, reason })?;
    let server_tls = tls::server_config(
        trust.verifier.clone(),
        trust.identity.active(clock.unix_time()),
    )?;
    let service = server::PullServer::new(
        store.clone(),
        trust.verifier.clone(),
        &config.node,
        batcher.subscribe(),
        clock.clone(),
        metrics.clone(),
        runner.clone(),
    );
    let audit = AuditService::new(
        store.clone(),
        trust.verifier.clone(),
        clock.clone(),
        metrics.clone(),
    );
    let (stop, metrics) = (runner.stage.clone(), metrics.clone());
    let task = runner.stage.spawn(async move {
        let routes =
            tonic::service::Routes::new(server::service(service)).add_service(audit.server());
        server::serve(listener, Arc::new(server_tls), routes, metrics, stop).await?;
        Ok(())
    });
    Ok((bound, task))
}

/// Starts one consumer task per `[[peers]]` entry, in the `actors` stage.
#[allow(clippy::too_many_arguments)]
fn spawn_consumers(
    config: &Config,
    trust: &Trust,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
    witness: Witness,
    actors: &Shutdown,
    tasks: &mut Vec<JoinHandle<Result<(), NodeError>>>,
) -> Result<(), NodeError> {
    let context = consumer::Context {
        store: store.clone(),
        verifier: trust.verifier.clone(),
        identity: trust.identity.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        witness,
    };
    for (index, peer) in config.peers.iter().enumerate() {
        if peer.format == crate::config::FeedFormat::Efgs {
            // Served by an EFGS client (`efgs::run::spawn_clients`).
            continue;
        }
        let upstream =
            consumer::Upstream::from_config(peer, &config.node.region, &config.node.cluster)
                .ok_or(NodeError::UnsupportedPeer { index })?;
        let run = consumer::run(context.clone(), upstream, actors.signal());
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
