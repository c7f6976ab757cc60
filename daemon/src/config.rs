//! The daemon's TOML configuration: one file per region's backend.
//!
//! Loading runs in three steps: TOML parsing into the file's shape (unknown, missing or mistyped
//! fields are refused by `toml` with the line), validation into typed values (regions, addresses,
//! ranges; every error names its field as `section.field`), and, separately, [`Config::check_files`]
//! for the files the daemon will open. [`init_command`] writes the commented example, which is
//! also `deploy/enmesh.example.toml`.
//!
//! This module never starts anything and never accepts a config it could not fully validate.

use crate::replicate::mesh::MeshSettings;
use axum::http::Uri;
use enmesh_protocol::region::{ClusterId, RegionError, RegionId};
use libp2p::Multiaddr;
use serde::Deserialize;
use std::net::{AddrParseError, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The commented example config that `enmesh init` writes.
pub const EXAMPLE: &str = include_str!("../../deploy/enmesh.example.toml");

/// Why a config was refused, or could not be read or written. Each message is complete on its
/// own line (the underlying reason is part of it, not a separate error source).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// Not valid TOML, or a field is unknown, missing or of the wrong type.
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    /// A region id that does not parse.
    #[error("{field}: {reason}")]
    Region {
        /// The field, e.g. `node.region`.
        field: String,
        /// Why the region was refused.
        reason: RegionError,
    },
    /// A cluster id that does not parse.
    #[error("{field}: {reason}")]
    Cluster {
        /// The field, e.g. `node.cluster`.
        field: &'static str,
        /// Why the cluster was refused.
        reason: RegionError,
    },
    /// A listen address that is not `IP:port`.
    #[error("{field}: bad socket address {value:?} (want IP:port): {reason}")]
    Address {
        /// The field, e.g. `http.listen`.
        field: &'static str,
        /// The refused text.
        value: String,
        /// The parser's reason.
        reason: AddrParseError,
    },
    /// A mesh address that is not a libp2p multiaddr.
    #[error("{field}: bad multiaddr {value:?}: {reason}")]
    Multiaddr {
        /// The field, e.g. `mesh.listen`.
        field: String,
        /// The refused text.
        value: String,
        /// The parser's reason.
        reason: libp2p::multiaddr::Error,
    },
    /// Two services configured on the same address.
    #[error("{field}: {addr} is already used by {other}")]
    AddressClash {
        /// The field that repeats the address.
        field: &'static str,
        /// The field that has it first.
        other: &'static str,
        /// The shared address.
        addr: SocketAddr,
    },
    /// A peer URL that is not an absolute `http://` or `https://` URL with a host.
    #[error("{field}: bad URL {value:?} (want http:// or https:// and a host)")]
    Url {
        /// The field, e.g. `peers[0].url`.
        field: String,
        /// The refused text.
        value: String,
    },
    /// A number outside its allowed range.
    #[error("{field}: {value} is out of range {min}..={max}")]
    OutOfRange {
        /// The field, e.g. `retention.days`.
        field: &'static str,
        /// The refused value.
        value: u64,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
    },
    /// A number above the value of another field that bounds it.
    #[error("{field}: {value} is above {limit_field} = {limit}")]
    AboveLimit {
        /// The field, e.g. `batching.min_keys`.
        field: &'static str,
        /// The refused value.
        value: u64,
        /// The bounding field, e.g. `batching.max_keys`.
        limit_field: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A window length that does not divide a day, so windows would drift against UTC days.
    #[error("{field}: {value} seconds does not divide a day (86400 s) evenly")]
    NotADivisorOfDay {
        /// The field, e.g. `export.period_secs`.
        field: &'static str,
        /// The refused value.
        value: u64,
    },
    /// A text field that must not be empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field, e.g. `export.key_id`.
        field: &'static str,
    },
    /// A configured file or directory that cannot be opened.
    #[error("{field}: cannot open {path}: {reason}")]
    MissingFile {
        /// The field, e.g. `pki.root_cert`.
        field: &'static str,
        /// The configured path.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// A configured path that is a directory where a file is wanted, or the other way round.
    #[error("{field}: {path} is not a {want}")]
    WrongFileKind {
        /// The field.
        field: &'static str,
        /// The configured path.
        path: PathBuf,
        /// `file` or `directory`.
        want: &'static str,
    },
    /// A field that needs another one (e.g. `efgs_gateway.tls_key` with `tls_cert`).
    #[error("{field}: requires {needs}")]
    Requires {
        /// The field.
        field: String,
        /// What it needs.
        needs: &'static str,
    },
    /// `init` would overwrite an existing file.
    #[error("{path} already exists (use --force to overwrite it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// `init` could not write the file.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
}

/// A validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[node]`: who this backend is and where it keeps its data.
    pub node: NodeConfig,
    /// `[http]`: the phone-facing and operations HTTP server.
    pub http: HttpConfig,
    /// `[grpc]`: the backend-to-backend gRPC server.
    pub grpc: GrpcConfig,
    /// `[pki]`: certificates and keys of the mesh.
    pub pki: PkiConfig,
    /// `[retention]`: how long anything is kept.
    pub retention: RetentionConfig,
    /// `[batching]`: how batches are cut.
    pub batching: BatchingConfig,
    /// `[export]`: signing of GAEN export files.
    pub export: ExportConfig,
    /// `[upload]`: phone uploads.
    pub upload: UploadConfig,
    /// `[admin]`: the operator API (`enmesh admin ...`).
    pub admin: AdminConfig,
    /// `[feed]`: the public key feed phones download.
    pub feed: FeedConfig,
    /// `[[peers]]`: backends this one pulls feeds from.
    pub peers: Vec<PeerConfig>,
    /// `[mesh]`: the cluster mesh (absent: this node does not join one).
    pub mesh: Option<MeshSettings>,
    /// `[efgs_gateway]`: the EFGS-compatible gateway API (absent: none).
    pub efgs_gateway: Option<EfgsGatewayConfig>,
    /// `[efgs_client]`: how this node talks to `format = "efgs"` peers.
    pub efgs_client: Option<EfgsClientConfig>,
}

/// `[efgs_gateway]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfgsGatewayConfig {
    /// The mTLS listener of the gateway API.
    pub listen: SocketAddr,
    /// The certificate (PEM) that signs audit entries (RSA or ECDSA P-256).
    pub signing_cert: PathBuf,
    /// Its private key (PKCS#8 or PKCS#1 PEM).
    pub signing_key: PathBuf,
    /// The TLS server certificate chain (PEM); the node's certificate when absent.
    pub tls_cert: Option<PathBuf>,
    /// Its key; required with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Roots (PEM) that callback servers' certificates must chain to; no callbacks without it.
    pub callback_ca: Option<PathBuf>,
    /// Time between callback rounds.
    pub callback_interval: Duration,
    /// Admit callback URLs on loopback/private addresses (labs and tests only).
    pub allow_private_callbacks: bool,
    /// The members.
    pub members: Vec<EfgsMemberConfig>,
}

/// One `[[efgs_gateway.members]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfgsMemberConfig {
    /// The member's country (ISO 3166 alpha-2).
    pub country: enmesh_protocol::region::Country,
    /// Its mTLS client certificates (PEM files).
    pub authentication_certs: Vec<PathBuf>,
    /// Its batch signing certificates (PEM files).
    pub signing_certs: Vec<PathBuf>,
}

/// `[efgs_client]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfgsClientConfig {
    /// The batch signing certificate (PEM).
    pub signing_cert: PathBuf,
    /// Its private key.
    pub signing_key: PathBuf,
    /// The TLS client certificate chain (PEM); the node's certificate when absent.
    pub tls_cert: Option<PathBuf>,
    /// Its key; required with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Roots (PEM) of the EFGS server certificate; the CA tree (a node's gateway) when absent.
    pub server_ca: Option<PathBuf>,
    /// Time between rounds.
    pub interval: Duration,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The region this backend serves.
    pub region: RegionId,
    /// The cluster this backend belongs to.
    pub cluster: ClusterId,
    /// The store's directory.
    pub data_dir: PathBuf,
    /// The regions of this cluster that the all-to-all feed reaches (this region included or
    /// not); a visited region outside this list gets a partial feed.
    pub cluster_regions: Vec<RegionId>,
    /// How keys travel inside the cluster: `A2a` (one feed for the whole cluster) or `Partial`
    /// (need-to-know inside the cluster too, for large clusters).
    pub intra_cluster: Replication,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The listen address.
    pub listen: SocketAddr,
    /// The largest accepted request body.
    pub max_body_bytes: usize,
}

/// `[grpc]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcConfig {
    /// The listen address.
    pub listen: SocketAddr,
}

/// `[pki]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiConfig {
    /// The root CA certificate (PEM).
    pub root_cert: PathBuf,
    /// The cluster CA certificate (PEM).
    pub chain: PathBuf,
    /// This node's certificate (PEM).
    pub node_cert: PathBuf,
    /// This node's private key (PEM).
    pub node_key: PathBuf,
    /// A directory of CRLs, if any.
    pub crl_dir: Option<PathBuf>,
    /// How often `crl_dir` is read again for new CRLs.
    pub crl_reload: Duration,
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Days anything is kept (1..=365).
    pub days: u16,
    /// Time between two sweeps.
    pub sweep_interval: Duration,
}

/// `[batching]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchingConfig {
    /// How long a batch window stays open.
    pub window: Duration,
    /// Most keys in one batch.
    pub max_keys: u32,
    /// Fewest keys in one batch (padding); at most `max_keys`.
    pub min_keys: u32,
}

/// `[export]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The P-256 signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
    /// The verification key id.
    pub key_id: String,
    /// The verification key version.
    pub key_version: String,
    /// The region written into export headers.
    pub region_code: String,
    /// Length of one export window; divides a day.
    pub period: Duration,
    /// Most keys in one export file (GAEN: 500,000).
    pub max_keys_per_file: u32,
}

/// `[upload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// How long a one-time upload code stays valid.
    pub code_ttl: Duration,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// The listen address of the operator API (keep it on loopback or a management network).
    pub listen: SocketAddr,
}

/// `[feed]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// Length of one public-feed chunk; divides a day.
    pub chunk: Duration,
}

/// One `[[peers]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The producer's base URL.
    pub url: Uri,
    /// The producer's region.
    pub region: RegionId,
    /// Which feed to pull.
    pub replication: Replication,
    /// The feed's wire format.
    pub format: FeedFormat,
}

/// Which feed a peer serves this backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// The partial feed of keys meant for this region.
    Partial,
    /// The all-to-all feed of the cluster.
    A2a,
}

/// The wire format of a peer's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedFormat {
    /// enmesh signed batches over gRPC.
    Enmesh,
    /// The EFGS REST interop format.
    Efgs,
}

/// The file's shape, before validation.
mod file {
    use super::{FeedFormat, Replication};
    use serde::Deserialize;
    use std::path::PathBuf;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        pub node: Node,
        pub http: Http,
        pub grpc: Grpc,
        pub pki: Pki,
        pub retention: Retention,
        pub batching: Batching,
        pub export: Export,
        pub upload: Upload,
        #[serde(default)]
        pub admin: Admin,
        #[serde(default)]
        pub feed: Feed,
        #[serde(default)]
        pub peers: Vec<Peer>,
        pub mesh: Option<Mesh>,
        pub efgs_gateway: Option<EfgsGateway>,
        pub efgs_client: Option<EfgsClient>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EfgsGateway {
        pub listen: String,
        pub signing_cert: PathBuf,
        pub signing_key: PathBuf,
        pub tls_cert: Option<PathBuf>,
        pub tls_key: Option<PathBuf>,
        pub callback_ca: Option<PathBuf>,
        #[serde(default = "default_callback_interval_secs")]
        pub callback_interval_secs: u64,
        #[serde(default)]
        pub allow_private_callbacks: bool,
        #[serde(default)]
        pub members: Vec<EfgsMember>,
    }

    fn default_callback_interval_secs() -> u64 {
        300
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EfgsMember {
        pub country: String,
        #[serde(default)]
        pub authentication_certs: Vec<PathBuf>,
        #[serde(default)]
        pub signing_certs: Vec<PathBuf>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EfgsClient {
        pub signing_cert: PathBuf,
        pub signing_key: PathBuf,
        pub tls_cert: Option<PathBuf>,
        pub tls_key: Option<PathBuf>,
        pub server_ca: Option<PathBuf>,
        #[serde(default = "default_efgs_interval_secs")]
        pub interval_secs: u64,
    }

    fn default_efgs_interval_secs() -> u64 {
        300
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Node {
        pub region: String,
        pub cluster: String,
        pub data_dir: PathBuf,
        #[serde(default)]
        pub cluster_regions: Vec<String>,
        #[serde(default = "default_intra_cluster")]
        pub intra_cluster: Replication,
    }

    fn default_intra_cluster() -> Replication {
        Replication::A2a
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Http {
        pub listen: String,
        #[serde(default = "default_max_body_bytes")]
        pub max_body_bytes: u64,
    }

    fn default_max_body_bytes() -> u64 {
        1 << 20
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Grpc {
        pub listen: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Pki {
        pub root_cert: PathBuf,
        pub chain: PathBuf,
        pub node_cert: PathBuf,
        pub node_key: PathBuf,
        pub crl_dir: Option<PathBuf>,
        #[serde(default = "default_crl_reload_secs")]
        pub crl_reload_secs: u64,
    }

    fn default_crl_reload_secs() -> u64 {
        60
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Retention {
        pub days: u64,
        #[serde(default = "default_sweep_interval_secs")]
        pub sweep_interval_secs: u64,
    }

    fn default_sweep_interval_secs() -> u64 {
        3600
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Batching {
        pub window_ms: u64,
        pub max_keys: u64,
        pub min_keys: u64,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Export {
        pub signing_key: PathBuf,
        pub key_id: String,
        pub key_version: String,
        pub region_code: String,
        #[serde(default = "default_export_period_secs")]
        pub period_secs: u64,
        #[serde(default = "default_max_keys_per_file")]
        pub max_keys_per_file: u64,
    }

    fn default_export_period_secs() -> u64 {
        3600
    }

    fn default_max_keys_per_file() -> u64 {
        500_000
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Admin {
        #[serde(default = "default_admin_listen")]
        pub listen: String,
    }

    impl Default for Admin {
        fn default() -> Self {
            Self {
                listen: default_admin_listen(),
            }
        }
    }

    fn default_admin_listen() -> String {
        "127.0.0.1:9090".to_owned()
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Feed {
        #[serde(default = "default_chunk_secs")]
        pub chunk_secs: u64,
    }

    impl Default for Feed {
        fn default() -> Self {
            Self {
                chunk_secs: default_chunk_secs(),
            }
        }
    }

    fn default_chunk_secs() -> u64 {
        600
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Upload {
        pub code_ttl_secs: u64,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Mesh {
        pub listen: String,
        #[serde(default)]
        pub bootstrap: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Peer {
        pub url: String,
        pub region: String,
        pub replication: Replication,
        pub format: FeedFormat,
    }
}

/// Checks that `value` seconds (at least 60) divide a day evenly, so windows align to UTC days.
fn divides_day(field: &'static str, value: u64) -> Result<u64, ConfigError> {
    let value = in_range(field, value, 60, 86_400)?;
    if 86_400 % value == 0 {
        Ok(value)
    } else {
        Err(ConfigError::NotADivisorOfDay { field, value })
    }
}

/// Checks `min <= value <= max`.
fn in_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

fn address(field: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|reason| ConfigError::Address {
        field,
        value: value.to_owned(),
        reason,
    })
}

fn multiaddr(field: String, value: &str) -> Result<Multiaddr, ConfigError> {
    value.parse().map_err(|reason| ConfigError::Multiaddr {
        field,
        value: value.to_owned(),
        reason,
    })
}

fn region(field: impl Into<String>, value: &str) -> Result<RegionId, ConfigError> {
    value.parse().map_err(|reason| ConfigError::Region {
        field: field.into(),
        reason,
    })
}

fn non_empty(field: &'static str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::Empty { field })
    } else {
        Ok(value)
    }
}

fn peer_url(field: String, value: &str) -> Result<Uri, ConfigError> {
    let bad = || ConfigError::Url {
        field: field.clone(),
        value: value.to_owned(),
    };
    let uri: Uri = value.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if scheme_ok && uri.host().is_some_and(|h| !h.is_empty()) {
        Ok(uri)
    } else {
        Err(bad())
    }
}

/// Checks that `path` exists and is a file (`want_dir == false`) or a directory.
fn check_path(field: &'static str, path: &Path, want_dir: bool) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path).map_err(|reason| ConfigError::MissingFile {
        field,
        path: path.to_owned(),
        reason,
    })?;
    if meta.is_dir() == want_dir {
        Ok(())
    } else {
        Err(ConfigError::WrongFileKind {
            field,
            path: path.to_owned(),
            want: if want_dir { "directory" } else { "file" },
        })
    }
}

impl Config {
    /// Parses and validates a config text. Paths are taken as written; nothing is opened.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let f: file::File = toml::from_str(text)?;
        Self::validate(f)
    }

    /// Reads, parses and validates the config file at `path`, resolving relative paths against
    /// the file's directory. Does not open the files it names: see [`Config::check_files`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|reason| ConfigError::Read {
            path: path.to_owned(),
            reason,
        })?;
        let mut config = Self::from_toml(&text)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Checks that every configured certificate and key file exists, that the CRL directory
    /// exists, and that the data directory, if it exists, is a directory.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        check_path("pki.root_cert", &self.pki.root_cert, false)?;
        check_path("pki.chain", &self.pki.chain, false)?;
        check_path("pki.node_cert", &self.pki.node_cert, false)?;
        check_path("pki.node_key", &self.pki.node_key, false)?;
        if let Some(crl_dir) = &self.pki.crl_dir {
            check_path("pki.crl_dir", crl_dir, true)?;
        }
        check_path("export.signing_key", &self.export.signing_key, false)?;
        if self.node.data_dir.exists() {
            check_path("node.data_dir", &self.node.data_dir, true)?;
        }
        if let Some(g) = &self.efgs_gateway {
            check_path("efgs_gateway.signing_cert", &g.signing_cert, false)?;
            check_path("efgs_gateway.signing_key", &g.signing_key, false)?;
            for (field, path) in [
                ("efgs_gateway.tls_cert", &g.tls_cert),
                ("efgs_gateway.tls_key", &g.tls_key),
                ("efgs_gateway.callback_ca", &g.callback_ca),
            ] {
                if let Some(path) = path {
                    check_path(field, path, false)?;
                }
            }
            for member in &g.members {
                for path in member
                    .authentication_certs
                    .iter()
                    .chain(&member.signing_certs)
                {
                    check_path("efgs_gateway.members", path, false)?;
                }
            }
        }
        if let Some(c) = &self.efgs_client {
            check_path("efgs_client.signing_cert", &c.signing_cert, false)?;
            check_path("efgs_client.signing_key", &c.signing_key, false)?;
            for (field, path) in [
                ("efgs_client.tls_cert", &c.tls_cert),
                ("efgs_client.tls_key", &c.tls_key),
                ("efgs_client.server_ca", &c.server_ca),
            ] {
                if let Some(path) = path {
                    check_path(field, path, false)?;
                }
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let pki = &mut self.pki;
        let paths = [
            &mut self.node.data_dir,
            &mut pki.root_cert,
            &mut pki.chain,
            &mut pki.node_cert,
            &mut pki.node_key,
            &mut self.export.signing_key,
        ];
        let mut extra: Vec<&mut PathBuf> = Vec::new();
        if let Some(g) = self.efgs_gateway.as_mut() {
            extra.extend([&mut g.signing_cert, &mut g.signing_key]);
            extra.extend(g.tls_cert.as_mut());
            extra.extend(g.tls_key.as_mut());
            extra.extend(g.callback_ca.as_mut());
            for m in &mut g.members {
                extra.extend(m.authentication_certs.iter_mut());
                extra.extend(m.signing_certs.iter_mut());
            }
        }
        if let Some(c) = self.efgs_client.as_mut() {
            extra.extend([&mut c.signing_cert, &mut c.signing_key]);
            extra.extend(c.tls_cert.as_mut());
            extra.extend(c.tls_key.as_mut());
            extra.extend(c.server_ca.as_mut());
        }
        for path in paths.into_iter().chain(pki.crl_dir.as_mut()).chain(extra) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    fn validate(f: file::File) -> Result<Self, ConfigError> {
        let node = NodeConfig {
            region: region("node.region", &f.node.region)?,
            cluster: f
                .node
                .cluster
                .parse()
                .map_err(|reason| ConfigError::Cluster {
                    field: "node.cluster",
                    reason,
                })?,
            data_dir: f.node.data_dir,
            cluster_regions: f
                .node
                .cluster_regions
                .iter()
                .enumerate()
                .map(|(i, r)| region(format!("node.cluster_regions[{i}]"), r))
                .collect::<Result<_, _>>()?,
            intra_cluster: f.node.intra_cluster,
        };
        let http = HttpConfig {
            listen: address("http.listen", &f.http.listen)?,
            max_body_bytes: usize::try_from(in_range(
                "http.max_body_bytes",
                f.http.max_body_bytes,
                1,
                64 << 20,
            )?)
            .unwrap_or(usize::MAX),
        };
        let grpc = GrpcConfig {
            listen: address("grpc.listen", &f.grpc.listen)?,
        };
        if grpc.listen == http.listen && grpc.listen.port() != 0 {
            return Err(ConfigError::AddressClash {
                field: "grpc.listen",
                other: "http.listen",
                addr: grpc.listen,
            });
        }
        let pki = PkiConfig {
            root_cert: f.pki.root_cert,
            chain: f.pki.chain,
            node_cert: f.pki.node_cert,
            node_key: f.pki.node_key,
            crl_dir: f.pki.crl_dir,
            crl_reload: Duration::from_secs(in_range(
                "pki.crl_reload_secs",
                f.pki.crl_reload_secs,
                1,
                86_400,
            )?),
        };
        let retention = RetentionConfig {
            days: u16::try_from(in_range("retention.days", f.retention.days, 1, 365)?)
                .unwrap_or(u16::MAX),
            sweep_interval: Duration::from_secs(in_range(
                "retention.sweep_interval_secs",
                f.retention.sweep_interval_secs,
                1,
                86_400,
            )?),
        };
        let max_keys = in_range("batching.max_keys", f.batching.max_keys, 1, 1_000_000)?;
        if f.batching.min_keys > max_keys {
            return Err(ConfigError::AboveLimit {
                field: "batching.min_keys",
                value: f.batching.min_keys,
                limit_field: "batching.max_keys",
                limit: max_keys,
            });
        }
        let batching = BatchingConfig {
            window: Duration::from_millis(in_range(
                "batching.window_ms",
                f.batching.window_ms,
                1,
                86_400_000,
            )?),
            max_keys: u32::try_from(max_keys).unwrap_or(u32::MAX),
            min_keys: u32::try_from(f.batching.min_keys).unwrap_or(u32::MAX),
        };
        let export = ExportConfig {
            signing_key: f.export.signing_key,
            key_id: non_empty("export.key_id", f.export.key_id)?,
            key_version: non_empty("export.key_version", f.export.key_version)?,
            region_code: non_empty("export.region_code", f.export.region_code)?,
            period: Duration::from_secs(divides_day("export.period_secs", f.export.period_secs)?),
            max_keys_per_file: u32::try_from(in_range(
                "export.max_keys_per_file",
                f.export.max_keys_per_file,
                1,
                500_000,
            )?)
            .unwrap_or(u32::MAX),
        };
        let admin = AdminConfig {
            listen: address("admin.listen", &f.admin.listen)?,
        };
        for (other, addr) in [("http.listen", http.listen), ("grpc.listen", grpc.listen)] {
            if admin.listen == addr && addr.port() != 0 {
                return Err(ConfigError::AddressClash {
                    field: "admin.listen",
                    other,
                    addr,
                });
            }
        }
        let feed = FeedConfig {
            chunk: Duration::from_secs(divides_day("feed.chunk_secs", f.feed.chunk_secs)?),
        };
        let upload = UploadConfig {
            code_ttl: Duration::from_secs(in_range(
                "upload.code_ttl_secs",
                f.upload.code_ttl_secs,
                1,
                30 * 86_400,
            )?),
        };
        let peers: Vec<PeerConfig> = f
            .peers
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(PeerConfig {
                    url: peer_url(format!("peers[{i}].url"), &p.url)?,
                    region: region(format!("peers[{i}].region"), &p.region)?,
                    replication: p.replication,
                    format: p.format,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let mesh = f
            .mesh
            .map(|m| {
                Ok::<_, ConfigError>(MeshSettings {
                    listen: multiaddr("mesh.listen".to_owned(), &m.listen)?,
                    bootstrap: m
                        .bootstrap
                        .iter()
                        .enumerate()
                        .map(|(i, a)| multiaddr(format!("mesh.bootstrap[{i}]"), a))
                        .collect::<Result<_, ConfigError>>()?,
                })
            })
            .transpose()?;
        let efgs_gateway = f
            .efgs_gateway
            .map(|g| validate_efgs_gateway(g, &[http.listen, grpc.listen, admin.listen]))
            .transpose()?;
        let efgs_client = f.efgs_client.map(validate_efgs_client).transpose()?;
        for (i, peer) in peers.iter().enumerate() {
            if peer.format == FeedFormat::Efgs {
                if efgs_client.is_none() {
                    return Err(ConfigError::Requires {
                        field: format!("peers[{i}].format"),
                        needs: "an [efgs_client] table (format = \"efgs\")",
                    });
                }
                if peer.url.scheme_str() != Some("https") {
                    return Err(ConfigError::Url {
                        field: format!("peers[{i}].url"),
                        value: peer.url.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            node,
            http,
            grpc,
            pki,
            retention,
            batching,
            export,
            upload,
            admin,
            feed,
            peers,
            mesh,
            efgs_gateway,
            efgs_client,
        })
    }
}

fn paired(section: &str, cert: &Option<PathBuf>, key: &Option<PathBuf>) -> Result<(), ConfigError> {
    match (cert, key) {
        (Some(_), None) => Err(ConfigError::Requires {
            field: format!("{section}.tls_cert"),
            needs: "tls_key",
        }),
        (None, Some(_)) => Err(ConfigError::Requires {
            field: format!("{section}.tls_key"),
            needs: "tls_cert",
        }),
        _ => Ok(()),
    }
}

fn validate_efgs_gateway(
    g: file::EfgsGateway,
    others: &[SocketAddr],
) -> Result<EfgsGatewayConfig, ConfigError> {
    let listen = address("efgs_gateway.listen", &g.listen)?;
    for (other, addr) in ["http.listen", "grpc.listen", "admin.listen"]
        .into_iter()
        .zip(others)
    {
        if *addr == listen && listen.port() != 0 {
            return Err(ConfigError::AddressClash {
                field: "efgs_gateway.listen",
                other,
                addr: listen,
            });
        }
    }
    paired("efgs_gateway", &g.tls_cert, &g.tls_key)?;
    let members = g
        .members
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let field = format!("efgs_gateway.members[{i}].country");
            let country = enmesh_protocol::region::Country::from_alpha2(&m.country)
                .filter(|_| m.country.len() == 2)
                .ok_or_else(|| ConfigError::Region {
                    field: field.clone(),
                    reason: RegionError::UnknownCountry(m.country.clone()),
                })?;
            if m.authentication_certs.is_empty() && m.signing_certs.is_empty() {
                return Err(ConfigError::Requires {
                    field: format!("efgs_gateway.members[{i}]"),
                    needs: "authentication_certs or signing_certs",
                });
            }
            Ok(EfgsMemberConfig {
                country,
                authentication_certs: m.authentication_certs,
                signing_certs: m.signing_certs,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(EfgsGatewayConfig {
        listen,
        signing_cert: g.signing_cert,
        signing_key: g.signing_key,
        tls_cert: g.tls_cert,
        tls_key: g.tls_key,
        callback_ca: g.callback_ca,
        callback_interval: Duration::from_secs(in_range(
            "efgs_gateway.callback_interval_secs",
            g.callback_interval_secs,
            1,
            86_400,
        )?),
        allow_private_callbacks: g.allow_private_callbacks,
        members,
    })
}

fn validate_efgs_client(c: file::EfgsClient) -> Result<EfgsClientConfig, ConfigError> {
    paired("efgs_client", &c.tls_cert, &c.tls_key)?;
    Ok(EfgsClientConfig {
        signing_cert: c.signing_cert,
        signing_key: c.signing_key,
        tls_cert: c.tls_cert,
        tls_key: c.tls_key,
        server_ca: c.server_ca,
        interval: Duration::from_secs(in_range(
            "efgs_client.interval_secs",
            c.interval_secs,
            1,
            86_400,
        )?),
    })
}

/// Writes the commented example config ([`EXAMPLE`]) to `path`. Refuses to replace an existing
/// file unless `force` is set.
pub fn init_command(path: &Path, force: bool) -> Result<(), ConfigError> {
    use std::io::Write;
    let write_err = |reason| ConfigError::Write {
        path: path.to_owned(),
        reason,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut out = options.open(path).map_err(|reason| {
        if reason.kind() == std::io::ErrorKind::AlreadyExists {
            ConfigError::Exists {
                path: path.to_owned(),
            }
        } else {
            write_err(reason)
        }
    })?;
    out.write_all(EXAMPLE.as_bytes()).map_err(write_err)
}
