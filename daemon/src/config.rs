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
    /// A field that only applies to other peer formats.
    #[error("{field}: not a field of format \"{format}\"")]
    NotForFormat {
        /// The field, e.g. `peers[0].verification_keys`.
        field: String,
        /// The peer's format.
        format: &'static str,
    },
    /// Two fields of one table that exclude each other (or a field its mode does not take).
    #[error("{field}: not allowed with {other}")]
    Conflict {
        /// The refused field.
        field: String,
        /// What it conflicts with.
        other: String,
    },
    /// A field this table needs.
    #[error("{field}: missing")]
    Missing {
        /// The field, e.g. `peers[0].replication`.
        field: String,
    },
    /// A name of the wrong shape.
    #[error("{field}: {value:?} is not {want}")]
    BadName {
        /// The field.
        field: String,
        /// The refused text.
        value: String,
        /// What is accepted.
        want: &'static str,
    },
    /// A value that must be unique repeats.
    #[error("{field}: {value:?} repeats an earlier entry")]
    Duplicate {
        /// The field.
        field: String,
        /// The repeated value.
        value: String,
    },
    /// A number outside its allowed range (in a list of tables).
    #[error("{field}: {value} is out of range {min}..={max}")]
    OutOfRangeNamed {
        /// The field, e.g. `peers[1].page_keys`.
        field: String,
        /// The refused value.
        value: u64,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
    },
    /// A text field that must not be empty (in a list of tables).
    #[error("{field}: must not be empty")]
    EmptyNamed {
        /// The field.
        field: String,
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
    /// `[audit]`: the replication log's checkpoints.
    pub audit: AuditConfig,
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
    /// `[[health_authorities]]`: verification servers whose certificates authorise uploads.
    pub health_authorities: Vec<HealthAuthorityConfig>,
    /// `[[peers]]` with `format = "gaen-export"`: GAEN export indexes this backend imports.
    pub gaen_export_peers: Vec<GaenExportPeer>,
    /// `[[peers]]` with `format = "google-federation"`: Google federation servers pulled.
    pub federation_peers: Vec<FederationPeer>,
    /// `[federation]`: the Google federation server (`/Federation/Fetch`), if served.
    pub federation: Option<FederationServerConfig>,
}

/// One `[[health_authorities]]` table: a verification server this key server trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthAuthorityConfig {
    /// A name for logs.
    pub name: String,
    /// The `iss` of its certificates.
    pub issuer: String,
    /// The `aud` its certificates carry for this key server.
    pub audience: String,
    /// Its public keys: (`kid`, P-256 public key PEM file).
    pub keys: Vec<(String, PathBuf)>,
    /// A JWKS file with more keys, if any.
    pub jwks_file: Option<PathBuf>,
}

/// One export verification key of a `gaen-export` peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportVerificationKey {
    /// `verification_key_id` its signatures carry.
    pub key_id: String,
    /// `verification_key_version`.
    pub key_version: String,
    /// The P-256 public key PEM file.
    pub public_key: PathBuf,
}

/// A `[[peers]]` table with `format = "gaen-export"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaenExportPeer {
    /// The URL of its `index.txt`; file names are resolved against its directory.
    pub index_url: Uri,
    /// The region its keys are stored as.
    pub region: RegionId,
    /// The keys one of whose signatures each file must carry.
    pub verification_keys: Vec<ExportVerificationKey>,
    /// For an `https://` index (required there): a PEM file of the root certificates the
    /// server's chain must lead to.
    pub ca_file: Option<PathBuf>,
    /// Time between two reads of the index.
    pub poll: Duration,
}

/// A `[[peers]]` table with `format = "google-federation"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPeer {
    /// The federation server's URL (`http://` or `https://`).
    pub url: Uri,
    /// The region its keys are stored as.
    pub region: RegionId,
    /// `includeRegions` of each fetch.
    pub include_regions: Vec<String>,
    /// `excludeRegions` of each fetch.
    pub exclude_regions: Vec<String>,
    /// A file holding the bearer token sent as `authorization`, if the server wants one.
    pub token_file: Option<PathBuf>,
    /// For `https://`: a PEM file of the root certificates the server's chain must lead to.
    /// Without it the server must be a node of `region` on this node's CA tree, and this node
    /// presents its own certificate (mTLS).
    pub ca_file: Option<PathBuf>,
    /// Time between two syncs.
    pub poll: Duration,
    /// `maxExposureKeys` per fetch (1..=500).
    pub page_keys: u32,
}

/// How the `/Federation/Fetch` listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FederationTls {
    /// TLS with the node's own certificate of the CA tree (the default).
    Node,
    /// TLS with a certificate chain and key from PEM files (e.g. one a Google puller's system
    /// roots trust).
    Files {
        /// The certificate chain, leaf first.
        cert_file: PathBuf,
        /// Its private key (PKCS#8, SEC1 or PKCS#1).
        key_file: PathBuf,
    },
    /// Plain h2c, for a listener behind a TLS-terminating proxy: bearer tokens only.
    None,
}

/// `[federation]`: serving `/Federation/Fetch` to Google-server pullers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationServerConfig {
    /// Its own listen address.
    pub listen: SocketAddr,
    /// TLS on it (`tls`, `cert_file`, `key_file`). With TLS a client may present a certificate
    /// of the CA tree, which authorises a puller configured by `region`.
    pub tls: FederationTls,
    /// Keys younger than this are not served yet (Google: the open 1-hour window).
    pub settle: Duration,
    /// The pullers allowed, each with its bearer token.
    pub pullers: Vec<FederationPullerConfig>,
}

/// How a federation puller is authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullerAuth {
    /// `token_file`: the file holding its bearer token.
    Token(PathBuf),
    /// `region`: a node of this region on the CA tree, by its client certificate (mTLS).
    Region(RegionId),
}

/// One `[[federation.pullers]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPullerConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// How it proves who it is.
    pub auth: PullerAuth,
    /// Regions it may ask for (empty: any).
    pub include_regions: Vec<String>,
    /// Regions always excluded for it.
    pub exclude_regions: Vec<String>,
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

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Most time between two signed checkpoints of a growing log (1 s ..= 1 h; default 10 s).
    pub checkpoint_interval: Duration,
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
    /// The file holding the AES-256 key (base64 of 32 bytes) that seals revision tokens; `None`:
    /// a random key per start (tokens then do not survive a restart).
    pub revision_key_file: Option<PathBuf>,
    /// The key id written into revision tokens.
    pub revision_key_id: String,
    /// The AAD that binds revision tokens to this deployment.
    pub revision_aad: String,
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
    /// GAEN export files listed by an `index.txt` (Google's export-importer).
    #[serde(rename = "gaen-export")]
    GaenExport,
    /// Google's `/Federation/Fetch` gRPC.
    #[serde(rename = "google-federation")]
    GoogleFederation,
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
        #[serde(default)]
        pub audit: Audit,
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
        #[serde(default)]
        pub health_authorities: Vec<HealthAuthority>,
        pub federation: Option<Federation>,
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
    pub struct HealthAuthority {
        pub name: String,
        pub issuer: String,
        pub audience: String,
        #[serde(default)]
        pub keys: Vec<HaKey>,
        pub jwks_file: Option<PathBuf>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HaKey {
        pub kid: String,
        pub public_key: PathBuf,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ExportKey {
        pub key_id: String,
        pub key_version: String,
        pub public_key: PathBuf,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Federation {
        pub listen: String,
        pub tls: Option<String>,
        pub cert_file: Option<PathBuf>,
        pub key_file: Option<PathBuf>,
        #[serde(default = "default_settle_secs")]
        pub settle_secs: u64,
        #[serde(default)]
        pub pullers: Vec<Puller>,
    }

    fn default_settle_secs() -> u64 {
        3600
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
    pub struct Puller {
        pub name: String,
        pub token_file: Option<PathBuf>,
        pub region: Option<String>,
        #[serde(default)]
        pub include_regions: Vec<String>,
        #[serde(default)]
        pub exclude_regions: Vec<String>,
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
    pub struct Audit {
        #[serde(default = "default_checkpoint_secs")]
        pub checkpoint_secs: u64,
    }

    impl Default for Audit {
        fn default() -> Self {
            Self {
                checkpoint_secs: default_checkpoint_secs(),
            }
        }
    }

    fn default_checkpoint_secs() -> u64 {
        10
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
        pub revision_key_file: Option<PathBuf>,
        #[serde(default = "default_revision_key_id")]
        pub revision_key_id: String,
        #[serde(default)]
        pub revision_aad: String,
    }

    fn default_revision_key_id() -> String {
        "v1".to_owned()
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
        pub replication: Option<Replication>,
        pub format: FeedFormat,
        #[serde(default)]
        pub verification_keys: Vec<ExportKey>,
        pub poll_secs: Option<u64>,
        #[serde(default)]
        pub include_regions: Vec<String>,
        #[serde(default)]
        pub exclude_regions: Vec<String>,
        pub token_file: Option<PathBuf>,
        pub ca_file: Option<PathBuf>,
        pub page_keys: Option<u64>,
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
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        self.upload.revision_key_file.iter_mut().for_each(resolve);
        for ha in &mut self.health_authorities {
            ha.keys.iter_mut().for_each(|(_, p)| resolve(p));
            ha.jwks_file.iter_mut().for_each(resolve);
        }
        for peer in &mut self.gaen_export_peers {
            peer.verification_keys
                .iter_mut()
                .for_each(|k| resolve(&mut k.public_key));
            peer.ca_file.iter_mut().for_each(resolve);
        }
        for peer in &mut self.federation_peers {
            peer.token_file.iter_mut().for_each(resolve);
            peer.ca_file.iter_mut().for_each(resolve);
        }
        if let Some(fed) = &mut self.federation {
            if let FederationTls::Files {
                cert_file,
                key_file,
            } = &mut fed.tls
            {
                resolve(cert_file);
                resolve(key_file);
            }
            for p in &mut fed.pullers {
                if let PullerAuth::Token(path) = &mut p.auth {
                    resolve(path);
                }
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
        let audit = AuditConfig {
            checkpoint_interval: Duration::from_secs(in_range(
                "audit.checkpoint_secs",
                f.audit.checkpoint_secs,
                1,
                3600,
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
            revision_key_file: f.upload.revision_key_file,
            revision_key_id: export_key_name(
                "upload.revision_key_id".to_owned(),
                f.upload.revision_key_id,
            )?,
            revision_aad: f.upload.revision_aad,
        };
        let mut peers = Vec::new();
        let mut gaen_export_peers = Vec::new();
        let mut federation_peers = Vec::new();
        for (i, p) in f.peers.into_iter().enumerate() {
            let url = peer_url(format!("peers[{i}].url"), &p.url)?;
            let peer_region = region(format!("peers[{i}].region"), &p.region)?;
            let field = |name: &str| format!("peers[{i}].{name}");
            let only_for = |name: &str, present: bool, format: &'static str| {
                if present {
                    Err(ConfigError::NotForFormat {
                        field: field(name),
                        format,
                    })
                } else {
                    Ok(())
                }
            };
            match p.format {
                FeedFormat::Enmesh | FeedFormat::Efgs => {
                    let format = if p.format == FeedFormat::Enmesh {
                        "enmesh"
                    } else {
                        "efgs"
                    };
                    only_for("verification_keys", !p.verification_keys.is_empty(), format)?;
                    only_for("poll_secs", p.poll_secs.is_some(), format)?;
                    only_for("token_file", p.token_file.is_some(), format)?;
                    only_for("ca_file", p.ca_file.is_some(), format)?;
                    only_for("page_keys", p.page_keys.is_some(), format)?;
                    only_for("include_regions", !p.include_regions.is_empty(), format)?;
                    only_for("exclude_regions", !p.exclude_regions.is_empty(), format)?;
                    let replication = p.replication.ok_or_else(|| ConfigError::Missing {
                        field: field("replication"),
                    })?;
                    peers.push(PeerConfig {
                        url,
                        region: peer_region,
                        replication,
                        format: p.format,
                    });
                }
                FeedFormat::GaenExport => {
                    const F: &str = "gaen-export";
                    only_for("replication", p.replication.is_some(), F)?;
                    only_for("token_file", p.token_file.is_some(), F)?;
                    only_for("page_keys", p.page_keys.is_some(), F)?;
                    only_for("include_regions", !p.include_regions.is_empty(), F)?;
                    match (url.scheme_str(), &p.ca_file) {
                        (Some("https"), None) => {
                            return Err(ConfigError::Missing {
                                field: field("ca_file"),
                            });
                        }
                        (Some("http"), Some(_)) => {
                            return Err(ConfigError::Conflict {
                                field: field("ca_file"),
                                other: format!("the http:// URL of {}", field("url")),
                            });
                        }
                        _ => {}
                    }
                    only_for("exclude_regions", !p.exclude_regions.is_empty(), F)?;
                    if p.verification_keys.is_empty() {
                        return Err(ConfigError::Missing {
                            field: field("verification_keys"),
                        });
                    }
                    let verification_keys = p
                        .verification_keys
                        .into_iter()
                        .enumerate()
                        .map(|(k, key)| {
                            let name = |n: &str| format!("peers[{i}].verification_keys[{k}].{n}");
                            Ok(ExportVerificationKey {
                                key_id: export_key_name(name("key_id"), key.key_id)?,
                                key_version: export_key_name(name("key_version"), key.key_version)?,
                                public_key: key.public_key,
                            })
                        })
                        .collect::<Result<_, ConfigError>>()?;
                    gaen_export_peers.push(GaenExportPeer {
                        ca_file: p.ca_file,
                        index_url: url,
                        region: peer_region,
                        verification_keys,
                        poll: Duration::from_secs(in_range_named(
                            field("poll_secs"),
                            p.poll_secs.unwrap_or(900),
                            1,
                            86_400,
                        )?),
                    });
                }
                FeedFormat::GoogleFederation => {
                    const F: &str = "google-federation";
                    only_for("replication", p.replication.is_some(), F)?;
                    only_for("verification_keys", !p.verification_keys.is_empty(), F)?;
                    let include_regions =
                        federation_regions(&field("include_regions"), p.include_regions)?;
                    let exclude_regions =
                        federation_regions(&field("exclude_regions"), p.exclude_regions)?;
                    if p.ca_file.is_some() && url.scheme_str() != Some("https") {
                        return Err(ConfigError::Conflict {
                            field: field("ca_file"),
                            other: format!("the http:// URL of {}", field("url")),
                        });
                    }
                    federation_peers.push(FederationPeer {
                        url,
                        region: peer_region,
                        include_regions,
                        exclude_regions,
                        token_file: p.token_file,
                        ca_file: p.ca_file,
                        poll: Duration::from_secs(in_range_named(
                            field("poll_secs"),
                            p.poll_secs.unwrap_or(900),
                            1,
                            86_400,
                        )?),
                        page_keys: u32::try_from(in_range_named(
                            field("page_keys"),
                            p.page_keys.unwrap_or(500),
                            1,
                            500,
                        )?)
                        .unwrap_or(500),
                    });
                }
            }
        }
        let health_authorities = f
            .health_authorities
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let field = |n: &str| format!("health_authorities[{i}].{n}");
                if h.keys.is_empty() && h.jwks_file.is_none() {
                    return Err(ConfigError::Missing {
                        field: field("keys"),
                    });
                }
                Ok(HealthAuthorityConfig {
                    name: non_empty_named(field("name"), h.name)?,
                    issuer: non_empty_named(field("issuer"), h.issuer)?,
                    audience: non_empty_named(field("audience"), h.audience)?,
                    keys: h
                        .keys
                        .into_iter()
                        .enumerate()
                        .map(|(k, key)| {
                            Ok((
                                non_empty_named(
                                    format!("health_authorities[{i}].keys[{k}].kid"),
                                    key.kid,
                                )?,
                                key.public_key,
                            ))
                        })
                        .collect::<Result<_, ConfigError>>()?,
                    jwks_file: h.jwks_file,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        for (i, h) in health_authorities.iter().enumerate() {
            if health_authorities[..i].iter().any(|o| o.issuer == h.issuer) {
                return Err(ConfigError::Duplicate {
                    field: format!("health_authorities[{i}].issuer"),
                    value: h.issuer.clone(),
                });
            }
        }
        let federation = f
            .federation
            .map(|fed| {
                let listen = address("federation.listen", &fed.listen)?;
                for (other, addr) in [
                    ("http.listen", http.listen),
                    ("grpc.listen", grpc.listen),
                    ("admin.listen", admin.listen),
                ] {
                    if listen == addr && addr.port() != 0 {
                        return Err(ConfigError::AddressClash {
                            field: "federation.listen",
                            other,
                            addr,
                        });
                    }
                }
                let tls = match (fed.tls.as_deref(), fed.cert_file, fed.key_file) {
                    (None | Some("node"), None, None) => FederationTls::Node,
                    (Some("none"), None, None) => FederationTls::None,
                    (Some("files"), Some(cert_file), Some(key_file)) => FederationTls::Files {
                        cert_file,
                        key_file,
                    },
                    (Some("files"), cert, _) => {
                        return Err(ConfigError::Missing {
                            field: if cert.is_none() {
                                "federation.cert_file".to_owned()
                            } else {
                                "federation.key_file".to_owned()
                            },
                        });
                    }
                    (None | Some("node" | "none"), cert, _) => {
                        return Err(ConfigError::Conflict {
                            field: if cert.is_some() {
                                "federation.cert_file".to_owned()
                            } else {
                                "federation.key_file".to_owned()
                            },
                            other: format!(
                                "federation.tls = {:?}",
                                fed.tls.as_deref().unwrap_or("node")
                            ),
                        });
                    }
                    (Some(other), _, _) => {
                        return Err(ConfigError::BadName {
                            field: "federation.tls".to_owned(),
                            value: other.to_owned(),
                            want: "\"node\", \"files\" or \"none\"",
                        });
                    }
                };
                let pullers = fed
                    .pullers
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let field = |n: &str| format!("federation.pullers[{i}].{n}");
                        let auth = match (p.token_file, p.region) {
                            (Some(path), None) => PullerAuth::Token(path),
                            (None, Some(text)) => {
                                if tls == FederationTls::None {
                                    return Err(ConfigError::Conflict {
                                        field: field("region"),
                                        other: "federation.tls = \"none\" (no client certificates)"
                                            .to_owned(),
                                    });
                                }
                                PullerAuth::Region(text.parse().map_err(|reason| {
                                    ConfigError::Region {
                                        field: field("region"),
                                        reason,
                                    }
                                })?)
                            }
                            (Some(_), Some(_)) => {
                                return Err(ConfigError::Conflict {
                                    field: field("region"),
                                    other: field("token_file"),
                                });
                            }
                            (None, None) => {
                                return Err(ConfigError::Missing {
                                    field: field("token_file (or region)"),
                                });
                            }
                        };
                        Ok(FederationPullerConfig {
                            name: non_empty_named(field("name"), p.name)?,
                            auth,
                            include_regions: federation_regions(
                                &field("include_regions"),
                                p.include_regions,
                            )?,
                            exclude_regions: federation_regions(
                                &field("exclude_regions"),
                                p.exclude_regions,
                            )?,
                        })
                    })
                    .collect::<Result<_, ConfigError>>()?;
                Ok(FederationServerConfig {
                    listen,
                    tls,
                    settle: Duration::from_secs(in_range(
                        "federation.settle_secs",
                        fed.settle_secs,
                        0,
                        86_400,
                    )?),
                    pullers,
                })
            })
            .transpose()?;
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
            audit,
            batching,
            export,
            upload,
            admin,
            feed,
            peers,
            mesh,
            efgs_gateway,
            efgs_client,
            health_authorities,
            gaen_export_peers,
            federation_peers,
            federation,
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

/// A GAEN verification key id or version: 1..=64 of `[a-zA-Z0-9_]` (formats.md §d.2).
fn export_key_name(field: String, value: String) -> Result<String, ConfigError> {
    if !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(value)
    } else {
        Err(ConfigError::BadName {
            field,
            value,
            want: "1 to 64 of a-z, A-Z, 0-9, _",
        })
    }
}

/// Federation region codes: 1..=5 ASCII letters, digits or `-`, upper-cased (as the Google
/// server keeps them).
fn federation_regions(field: &str, values: Vec<String>) -> Result<Vec<String>, ConfigError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let up = v.to_ascii_uppercase();
            if !up.is_empty()
                && up.len() <= 5
                && up.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                Ok(up)
            } else {
                Err(ConfigError::BadName {
                    field: format!("{field}[{i}]"),
                    value: v,
                    want: "1 to 5 of A-Z, 0-9, -",
                })
            }
        })
        .collect()
}

fn in_range_named(field: String, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRangeNamed {
            field,
            value,
            min,
            max,
        })
    }
}

fn non_empty_named(field: String, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::EmptyNamed { field })
    } else {
        Ok(value)
    }
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
