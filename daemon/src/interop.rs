//! Wiring of the Google key-server stack into a node: the trusted health authorities of
//! certificate uploads, the `gaen-export` importers, the `google-federation` pullers and the
//! `/Federation/Fetch` server. Called by [`crate::node::start`]; owns no logic of its own.
//!
//! This module never starts anything before every configured key and token file was read and
//! parsed (a bad file stops the node at start with the field at fault).

use std::net::SocketAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::task::JoinHandle;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::SharedClock;
use crate::config::{Config, FederationServerConfig, FederationTls, PullerAuth};
use crate::ingest::Certified;
use crate::ingest::revision::TokenKeys;
use crate::ingest::verification::{self, Authorities, HealthAuthority, KeyLoadError};
use crate::node::NodeError;
use crate::node::Trust;
use crate::pki::tls;
use crate::replicate::federation::{puller, server};
use crate::replicate::gaen_export;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::worker::{self, Runner};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the Google-stack parts could not start (the operator's fault, at start).
#[derive(Debug, Error)]
pub enum InteropError {
    /// A health authority key could not be loaded.
    #[error(transparent)]
    HealthAuthority(#[from] KeyLoadError),
    /// A `gaen-export` peer could not be set up.
    #[error(transparent)]
    GaenExport(#[from] gaen_export::SourceError),
    /// A `google-federation` peer could not be set up.
    #[error(transparent)]
    Federation(#[from] puller::RemoteError),
    /// A federation puller's token file could not be read.
    #[error("federation.pullers[{index}].token_file: {reason}")]
    PullerToken {
        /// Its index.
        index: usize,
        /// The reason.
        reason: std::io::Error,
    },
    /// A puller's token file is empty.
    #[error("federation.pullers[{index}].token_file: the file is empty")]
    EmptyToken {
        /// Its index.
        index: usize,
    },
    /// The revision key file could not be read or is not base64 of 32 bytes.
    #[error("upload.revision_key_file: {0}")]
    RevisionKey(String),
    /// The store could not be read to build the revision index.
    #[error("revision index: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A TLS file of `[federation]` could not be read or used.
    #[error("{field}: {path}: {reason}")]
    TlsFile {
        /// The field.
        field: &'static str,
        /// The file.
        path: String,
        /// The reason.
        reason: String,
    },
    /// The federation listener's TLS configuration was refused.
    #[error("federation tls: {0}")]
    Tls(#[from] crate::pki::tls::TlsError),
    /// The federation listener could not bind.
    #[error("federation.listen: cannot bind {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The reason.
        reason: std::io::Error,
    },
}

/// Loads `[[health_authorities]]` with their keys.
pub fn authorities(config: &Config) -> Result<Authorities, InteropError> {
    let mut list = Vec::with_capacity(config.health_authorities.len());
    for (i, ha) in config.health_authorities.iter().enumerate() {
        let mut keys = std::collections::HashMap::new();
        for (k, (kid, path)) in ha.keys.iter().enumerate() {
            let field = format!("health_authorities[{i}].keys[{k}].public_key");
            keys.insert(kid.clone(), verification::load_pem_key(&field, path)?);
        }
        if let Some(path) = &ha.jwks_file {
            let field = format!("health_authorities[{i}].jwks_file");
            keys.extend(verification::load_jwks(&field, path)?);
        }
        list.push(HealthAuthority {
            name: ha.name.clone(),
            issuer: ha.issuer.clone(),
            audience: ha.audience.clone(),
            keys,
        });
    }
    Ok(Authorities::new(list))
}

/// The certificate upload path: `None` without `[[health_authorities]]`. Reads the revision
/// key and builds the revision index from the store (blocking scan in a blocking task).
pub async fn certified(
    config: &Config,
    store: &Arc<Store>,
) -> Result<Option<Certified>, InteropError> {
    let authorities = authorities(config)?;
    if authorities.is_empty() {
        return Ok(None);
    }
    let upload = &config.upload;
    let key: [u8; 32] = match &upload.revision_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| InteropError::RevisionKey(format!("{}: {e}", path.display())))?;
            STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| InteropError::RevisionKey("not base64 of 32 bytes".to_owned()))?
        }
        None => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|e| InteropError::RevisionKey(format!("no randomness: {e}")))?;
            tracing::warn!(
                "no upload.revision_key_file: revision tokens will not survive a restart"
            );
            key
        }
    };
    let tokens = TokenKeys::new(
        &upload.revision_key_id,
        &[(upload.revision_key_id.clone(), key)],
        upload.revision_aad.as_bytes(),
    )
    .ok_or_else(|| InteropError::RevisionKey("no current key".to_owned()))?;
    let store = store.clone();
    let certified =
        tokio::task::spawn_blocking(move || Certified::load(&store, authorities, tokens)).await??;
    Ok(Some(certified))
}

/// Starts the importers and pullers as workers of `runner` (the `actors` stage) and the
/// federation server in the `servers` stage; returns the federation server's bound address, if
/// one is configured.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    config: &Config,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
    trust: &Trust,
    actors: &Shutdown,
    runner: &Runner,
    servers: &Shutdown,
    tasks: &mut Vec<JoinHandle<Result<(), NodeError>>>,
) -> Result<Option<SocketAddr>, InteropError> {
    // Everything is read and bound before anything starts.
    let sources = config
        .gaen_export_peers
        .iter()
        .map(gaen_export::Source::load)
        .collect::<Result<Vec<_>, _>>()?;
    let remotes = config
        .federation_peers
        .iter()
        .map(|peer| puller::Remote::load(peer, &trust.verifier, &trust.identity))
        .collect::<Result<Vec<_>, _>>()?;
    let federation = match &config.federation {
        Some(fed) => Some(prepare_server(config, fed, store, clock, metrics, trust).await?),
        None => None,
    };
    for source in sources {
        let worker = worker::spawn(
            runner,
            gaen_export::ImportWorker::new(source, store.clone(), clock.clone(), metrics.clone()),
        );
        tasks.push(actors.spawn(async move { Ok(worker.await?) }));
    }
    for remote in remotes {
        let worker = worker::spawn(
            runner,
            puller::PullWorker::new(remote, store.clone(), clock.clone(), metrics.clone()),
        );
        tasks.push(actors.spawn(async move { Ok(worker.await?) }));
    }
    let Some(Prepared {
        listener,
        bound,
        service,
        tls,
    }) = federation
    else {
        return Ok(None);
    };
    let stop = servers.signal();
    tasks.push(servers.spawn(async move {
        if let Err(error) = server::serve(listener, service, tls.map(Arc::new), stop).await {
            tracing::error!(%error, "federation server failed");
            return Err(NodeError::Stopped);
        }
        Ok(())
    }));
    Ok(Some(bound))
}

/// The federation server, read and bound, not serving yet.
struct Prepared {
    listener: tokio::net::TcpListener,
    bound: SocketAddr,
    service: server::FederationService,
    tls: Option<rustls::ServerConfig>,
}

/// Reads the pullers' token files and the TLS files of `fed`, and binds its listener.
async fn prepare_server(
    config: &Config,
    fed: &FederationServerConfig,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
    trust: &Trust,
) -> Result<Prepared, InteropError> {
    let mut pullers = Vec::with_capacity(fed.pullers.len());
    for (index, p) in fed.pullers.iter().enumerate() {
        let auth = match &p.auth {
            PullerAuth::Token(path) => {
                let token = std::fs::read_to_string(path)
                    .map_err(|reason| InteropError::PullerToken { index, reason })?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(InteropError::EmptyToken { index });
                }
                server::PullerAuth::Token(Sha256::digest(token.as_bytes()).into())
            }
            PullerAuth::Region(region) => server::PullerAuth::Region(region.clone()),
        };
        pullers.push(server::Puller {
            name: p.name.clone(),
            auth,
            include_regions: p.include_regions.clone(),
            exclude_regions: p.exclude_regions.clone(),
        });
    }
    let listener = tokio::net::TcpListener::bind(fed.listen)
        .await
        .map_err(|reason| InteropError::Bind {
            addr: fed.listen,
            reason,
        })?;
    let bound = listener.local_addr().map_err(|reason| InteropError::Bind {
        addr: fed.listen,
        reason,
    })?;
    let tls = match &fed.tls {
        FederationTls::None => None,
        FederationTls::Node => {
            let credential = trust.identity.active(clock.unix_time());
            Some(tls::optional_client_server_config(
                trust.verifier.clone(),
                credential.chain().to_vec(),
                credential.private_key(),
            )?)
        }
        FederationTls::Files {
            cert_file,
            key_file,
        } => {
            let err = |field: &'static str, path: &std::path::Path, reason: String| {
                InteropError::TlsFile {
                    field,
                    path: path.display().to_string(),
                    reason,
                }
            };
            let chain = CertificateDer::pem_file_iter(cert_file)
                .map_err(|e| err("federation.cert_file", cert_file, e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("federation.cert_file", cert_file, e.to_string()))?;
            if chain.is_empty() {
                return Err(err(
                    "federation.cert_file",
                    cert_file,
                    "no certificate".to_owned(),
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| err("federation.key_file", key_file, e.to_string()))?;
            Some(tls::optional_client_server_config(
                trust.verifier.clone(),
                chain,
                key,
            )?)
        }
    };
    let service = server::FederationService::new(
        store.clone(),
        trust.verifier.clone(),
        clock.clone(),
        metrics.clone(),
        config.export.region_code.clone(),
        fed.settle.as_secs(),
        pullers,
    );
    Ok(Prepared {
        listener,
        bound,
        service,
        tls,
    })
}
