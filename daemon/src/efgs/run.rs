//! Starting the EFGS parts of a node from its config: the gateway listener (and its callback
//! worker) for `[efgs_gateway]`, one `efgs_client` worker per `format = "efgs"` peer.
//!
//! Wiring only: it reads the configured certificate files, builds the TLS configurations and the
//! member list, and spawns; it decides nothing about keys.

use super::client::{ClientContext, ClientWorker, EfgsPeer};
use super::cms::{CmsError, CmsSigner};
use super::gateway::{self, Gateway, callbacks, listen::GatewayListener, listen::MemberConn};
use crate::clock::SharedClock;
use crate::config::{Config, FeedFormat};
use crate::pki::efgs::{MemberCert, MemberCertKind, MemberRejection, Members, thumbprint};
use crate::pki::files::{self, FileError};
use crate::pki::{EnmeshServerVerifier, Verifier, tls};
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::worker::{self, Runner};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;
use tokio::task::JoinHandle;

/// Why the EFGS parts could not start.
#[derive(Debug, Error)]
pub enum EfgsStartError {
    /// A certificate or key file.
    #[error("{field}: {reason}")]
    File {
        /// The config field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A signing credential.
    #[error("{field}: {reason}")]
    Signer {
        /// The config field.
        field: &'static str,
        /// Why.
        reason: CmsError,
    },
    /// A member certificate.
    #[error("efgs_gateway.members: {0}")]
    Member(#[from] MemberRejection),
    /// A TLS configuration.
    #[error("{field}: TLS: {reason}")]
    Tls {
        /// The config field.
        field: &'static str,
        /// Why.
        reason: rustls::Error,
    },
    /// The listener.
    #[error("efgs_gateway.listen: cannot bind {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: std::io::Error,
    },
    /// The stored callbacks could not be read.
    #[error("efgs_gateway: stored callbacks: {0}")]
    Store(crate::store::StoreError),
    /// `[efgs_client]` is missing for an efgs peer.
    #[error("peers[{0}]: format \"efgs\" needs [efgs_client]")]
    NoClient(usize),
}

fn file_err(field: &'static str) -> impl Fn(FileError) -> EfgsStartError {
    move |e| EfgsStartError::File {
        field,
        reason: e.to_string(),
    }
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, EfgsStartError> {
    std::fs::read(path).map_err(|e| EfgsStartError::File {
        field,
        reason: format!("{}: {e}", path.display()),
    })
}

fn signer(field: &'static str, cert: &Path, key: &Path) -> Result<CmsSigner, EfgsStartError> {
    CmsSigner::from_pem(&read(field, cert)?, &read(field, key)?)
        .map_err(|reason| EfgsStartError::Signer { field, reason })
}

/// The TLS chain and key from `cert`/`key`, or the node's own.
fn credential(
    field: &'static str,
    cert: Option<&Path>,
    key: Option<&Path>,
    node: &crate::pki::Credential,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), EfgsStartError> {
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = files::read_certs(cert).map_err(file_err(field))?;
            let key = PrivateKeyDer::from_pem_slice(&read(field, key)?).map_err(|e| {
                EfgsStartError::File {
                    field,
                    reason: e.to_string(),
                }
            })?;
            Ok((chain, key))
        }
        _ => Ok((node.chain().to_vec(), node.private_key())),
    }
}

fn root_store(field: &'static str, path: &Path) -> Result<rustls::RootCertStore, EfgsStartError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in files::read_certs(path).map_err(file_err(field))? {
        roots
            .add(cert)
            .map_err(|reason| EfgsStartError::Tls { field, reason })?;
    }
    Ok(roots)
}

/// A running gateway.
pub struct GatewayHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (for tests: callback rounds on demand).
    pub gateway: Arc<Gateway>,
    /// The client configuration callbacks are delivered with, if callbacks are enabled.
    pub callback_tls: Option<Arc<rustls::ClientConfig>>,
}

/// The node's shutdown stages and task list, where the EFGS tasks are spawned.
pub struct Stages<'a> {
    /// Servers (the gateway listener).
    pub servers: &'a Shutdown,
    /// The actors stage (the callback worker), with the node's worker registry.
    pub actors: &'a Runner,
    /// The node's tasks.
    pub tasks: &'a mut Vec<JoinHandle<Result<(), crate::node::NodeError>>>,
    /// The node's metrics.
    pub metrics: crate::telemetry::Metrics,
}

/// Starts `[efgs_gateway]`: the listener in `servers`, the `efgs_callbacks` worker in `actors`.
pub async fn start_gateway(
    config: &Config,
    verifier: Arc<Verifier>,
    node: &crate::pki::Credential,
    store: Arc<Store>,
    clock: SharedClock,
    stages: Stages<'_>,
) -> Result<Option<GatewayHandle>, EfgsStartError> {
    let Stages {
        servers,
        actors,
        tasks,
        metrics,
    } = stages;
    let Some(g) = &config.efgs_gateway else {
        return Ok(None);
    };
    let mut certs = Vec::new();
    for member in &g.members {
        for (kind, paths) in [
            (MemberCertKind::Authentication, &member.authentication_certs),
            (MemberCertKind::Signing, &member.signing_certs),
        ] {
            for path in paths {
                for der in files::read_certs(path).map_err(file_err("efgs_gateway.members"))? {
                    certs.push(MemberCert {
                        country: member.country,
                        kind,
                        thumbprint: thumbprint(der.as_ref()),
                        der: der.as_ref().to_vec(),
                    });
                }
            }
        }
    }
    let members = Arc::new(Members::new(certs, verifier.clone())?);
    let audit_signer = Arc::new(signer(
        "efgs_gateway.signing_cert",
        &g.signing_cert,
        &g.signing_key,
    )?);
    let (chain, key) = credential(
        "efgs_gateway.tls_cert",
        g.tls_cert.as_deref(),
        g.tls_key.as_deref(),
        node,
    )?;
    let server =
        crate::pki::efgs::gateway_server_config(members.clone(), chain, key).map_err(|reason| {
            EfgsStartError::Tls {
                field: "efgs_gateway.tls_cert",
                reason,
            }
        })?;
    let registry = callbacks::Registry::new(g.allow_private_callbacks);
    registry.restore(store.efgs_callbacks().map_err(EfgsStartError::Store)?);
    let gateway = Arc::new(Gateway::new(
        store,
        members.clone(),
        audit_signer,
        clock.clone(),
        config.node.region.clone(),
        registry,
        metrics,
    ));
    let tcp = tokio::net::TcpListener::bind(g.listen)
        .await
        .map_err(|reason| EfgsStartError::Bind {
            addr: g.listen,
            reason,
        })?;
    let listener = GatewayListener::new(tcp, Arc::new(server), members, clock, servers.signal())
        .map_err(|reason| EfgsStartError::Bind {
            addr: g.listen,
            reason,
        })?;
    let addr = listener.addr();
    tracing::info!(%addr, members = g.members.len(), "EFGS gateway listening");
    let router = gateway::routes(gateway.clone());
    let stop = servers.signal();
    tasks.push(servers.spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<MemberConn>(),
        )
        .with_graceful_shutdown(stop.wait())
        .await
        .map_err(|e| crate::node::NodeError::Api(crate::api::ApiError::Serve(e)))?;
        Ok(())
    }));
    let callback_tls = match &g.callback_ca {
        Some(path) => {
            let roots = root_store("efgs_gateway.callback_ca", path)?;
            let tls = rustls::ClientConfig::builder_with_provider(tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(|reason| EfgsStartError::Tls {
                    field: "efgs_gateway.callback_ca",
                    reason,
                })?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let tls = Arc::new(tls);
            let deliveries = worker::spawn(
                actors,
                callbacks::CallbackWorker::new(
                    gateway.clone(),
                    tls.clone(),
                    g.callback_interval,
                    actors.stage.clone(),
                ),
            );
            tasks.push(actors.stage.spawn(async move { Ok(deliveries.await?) }));
            Some(tls)
        }
        None => None,
    };
    Ok(Some(GatewayHandle {
        addr,
        gateway,
        callback_tls,
    }))
}

/// The TLS client configuration of the EFGS client: its certificate (or the node's), and the
/// EFGS server's roots (or the CA tree, expecting the peer's region).
pub fn client_tls(
    config: &Config,
    verifier: Arc<Verifier>,
    node: &crate::pki::Credential,
    peer_region: &enmesh_protocol::region::RegionId,
) -> Result<Arc<rustls::ClientConfig>, EfgsStartError> {
    let field = "efgs_client";
    let c = config
        .efgs_client
        .as_ref()
        .ok_or(EfgsStartError::NoClient(0))?;
    let (chain, key) = credential(field, c.tls_cert.as_deref(), c.tls_key.as_deref(), node)?;
    let tls_err = |reason| EfgsStartError::Tls { field, reason };
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let mut tls = match &c.server_ca {
        Some(path) => builder
            .with_root_certificates(root_store("efgs_client.server_ca", path)?)
            .with_client_auth_cert(chain, key)
            .map_err(tls_err)?,
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EnmeshServerVerifier::new(
                verifier,
                Some(peer_region.clone()),
            )))
            .with_client_auth_cert(chain, key)
            .map_err(tls_err)?,
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Starts one `efgs_client` worker per `format = "efgs"` peer in `actors`' stage.
pub fn spawn_clients(
    config: &Config,
    verifier: Arc<Verifier>,
    node: &crate::pki::Credential,
    ctx: ClientContext,
    actors: &Runner,
    tasks: &mut Vec<JoinHandle<Result<(), crate::node::NodeError>>>,
) -> Result<(), EfgsStartError> {
    for (index, peer) in config.peers.iter().enumerate() {
        if peer.format != FeedFormat::Efgs {
            continue;
        }
        let c = config
            .efgs_client
            .as_ref()
            .ok_or(EfgsStartError::NoClient(index))?;
        let efgs = EfgsPeer {
            url: peer.url.clone(),
            name: format!("{}@{}", peer.region, peer.url),
            tls: client_tls(config, verifier.clone(), node, &peer.region)?,
            signer: Arc::new(signer(
                "efgs_client.signing_cert",
                &c.signing_cert,
                &c.signing_key,
            )?),
            interval: c.interval,
        };
        let client = worker::spawn(
            actors,
            ClientWorker::new(ctx.clone(), efgs, actors.stage.clone()),
        );
        tasks.push(actors.stage.spawn(async move { Ok(client.await?) }));
    }
    Ok(())
}
