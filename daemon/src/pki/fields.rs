//! The enmesh fields of a certificate: role, cluster and region, carried as SAN URIs.
//!
//! Format (version 1), one URI per field in the subjectAltName extension:
//! - `urn:enmesh:v1:role:<root|cluster-ca|node|auditor>` (exactly one)
//! - `urn:enmesh:v1:cluster:<ClusterId>` (cluster CAs, nodes and auditors; never the root)
//! - `urn:enmesh:v1:region:<RegionId>` (nodes only)
//!
//! SAN URIs were chosen over a private extension OID because rcgen encodes OID arcs as `u64`
//! (no UUID arc), and because every X.509 tool shows them (`openssl x509 -text`). webpki accepts
//! SAN URIs; it only fails closed on URI *name constraints*, which enmesh does not use (the
//! cluster-CA-issues-only-its-own-cluster rule is enforced in [`crate::pki::verify`]).
//! This module only reads and writes the fields; it never decides whether a certificate is
//! trusted. Other SAN entries are ignored; an unknown `urn:enmesh:` URI is an error.

use enmesh_protocol::region::{ClusterId, RegionError, RegionId};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_SIG_ED25519;

/// Prefix of every enmesh SAN URI.
pub const URI_PREFIX: &str = "urn:enmesh:v1:";

/// What a certificate's holder is in the enmesh CA tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The root CA (WHO-style), issues cluster CAs.
    Root,
    /// A cluster CA, issues nodes and auditors of its own cluster.
    ClusterCa,
    /// A region's daemon: replicates, signs batches.
    Node,
    /// A read-only auditor of the replication log.
    Auditor,
}

impl Role {
    /// The text carried in the role URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::ClusterCa => "cluster-ca",
            Self::Node => "node",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "root" => Ok(Self::Root),
            "cluster-ca" => Ok(Self::ClusterCa),
            "node" => Ok(Self::Node),
            "auditor" => Ok(Self::Auditor),
            _ => Err(FieldsError::UnknownRole(s.chars().take(32).collect())),
        }
    }
}

/// The enmesh fields of one certificate, consistent with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnmeshFields {
    role: Role,
    cluster: Option<ClusterId>,
    region: Option<RegionId>,
}

impl EnmeshFields {
    /// The root CA's fields.
    pub fn root() -> Self {
        Self {
            role: Role::Root,
            cluster: None,
            region: None,
        }
    }

    /// A cluster CA's fields.
    pub fn cluster_ca(cluster: ClusterId) -> Self {
        Self {
            role: Role::ClusterCa,
            cluster: Some(cluster),
            region: None,
        }
    }

    /// A region node's fields.
    pub fn node(cluster: ClusterId, region: RegionId) -> Self {
        Self {
            role: Role::Node,
            cluster: Some(cluster),
            region: Some(region),
        }
    }

    /// An auditor's fields (no region).
    pub fn auditor(cluster: ClusterId) -> Self {
        Self {
            role: Role::Auditor,
            cluster: Some(cluster),
            region: None,
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The cluster (absent only for the root).
    pub fn cluster(&self) -> Option<&ClusterId> {
        self.cluster.as_ref()
    }

    /// The region (present only for nodes).
    pub fn region(&self) -> Option<&RegionId> {
        self.region.as_ref()
    }

    /// The SAN URIs that carry these fields.
    pub fn to_uris(&self) -> Vec<String> {
        let mut uris = vec![format!("{URI_PREFIX}role:{}", self.role)];
        if let Some(c) = &self.cluster {
            uris.push(format!("{URI_PREFIX}cluster:{c}"));
        }
        if let Some(r) = &self.region {
            uris.push(format!("{URI_PREFIX}region:{r}"));
        }
        uris
    }

    /// Reads the fields from a parsed certificate's SAN URIs and checks they fit the role.
    pub fn from_cert(cert: &X509Certificate<'_>) -> Result<Self, FieldsError> {
        let san = cert
            .subject_alternative_name()
            .map_err(|_| FieldsError::BadSan)?
            .ok_or(FieldsError::Missing("role"))?;
        let mut role = None;
        let mut cluster = None;
        let mut region = None;
        for name in &san.value.general_names {
            let GeneralName::URI(uri) = name else {
                continue;
            };
            let Some(rest) = uri.strip_prefix(URI_PREFIX) else {
                continue;
            };
            let (key, value) = rest
                .split_once(':')
                .ok_or_else(|| FieldsError::UnknownUri(clip(uri)))?;
            match key {
                "role" => set_once(&mut role, "role", value.parse()?)?,
                "cluster" => set_once(&mut cluster, "cluster", value.parse()?)?,
                "region" => set_once(&mut region, "region", value.parse()?)?,
                _ => return Err(FieldsError::UnknownUri(clip(uri))),
            }
        }
        let role = role.ok_or(FieldsError::Missing("role"))?;
        let fits = match role {
            Role::Root => cluster.is_none() && region.is_none(),
            Role::ClusterCa | Role::Auditor => cluster.is_some() && region.is_none(),
            Role::Node => cluster.is_some() && region.is_some(),
        };
        if !fits {
            return Err(FieldsError::Inconsistent(role));
        }
        Ok(Self {
            role,
            cluster,
            region,
        })
    }
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

fn set_once<T>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<(), FieldsError> {
    if slot.replace(value).is_some() {
        return Err(FieldsError::Duplicate(field));
    }
    Ok(())
}

/// The Ed25519 public key of a parsed certificate.
pub fn ed25519_key(cert: &X509Certificate<'_>) -> Result<[u8; 32], FieldsError> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(FieldsError::NotEd25519(
            spki.algorithm.algorithm.to_id_string(),
        ));
    }
    <[u8; 32]>::try_from(spki.subject_public_key.data.as_ref())
        .map_err(|_| FieldsError::BadKeyLength(spki.subject_public_key.data.len()))
}

/// The libp2p PeerId of an Ed25519 public key (the node key is its libp2p identity).
pub fn peer_id_of(key: &[u8; 32]) -> Result<libp2p_identity::PeerId, FieldsError> {
    let ed = libp2p_identity::ed25519::PublicKey::try_from_bytes(key)
        .map_err(|_| FieldsError::BadKeyLength(key.len()))?;
    Ok(libp2p_identity::PublicKey::from(ed).to_peer_id())
}

/// Parses a DER certificate (no trailing bytes).
pub fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, FieldsError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(FieldsError::TrailingBytes(rest.len())),
        Err(_) => Err(FieldsError::BadDer),
    }
}

/// What `enmesh pki inspect` prints about a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// The subject distinguished name.
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// The serial number, hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whether the certificate is a CA.
    pub is_ca: bool,
    /// The enmesh role.
    pub role: Role,
    /// The cluster, if any.
    pub cluster: Option<String>,
    /// The region, if any.
    pub region: Option<String>,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The libp2p PeerId of that key.
    pub peer_id: String,
}

impl CertInfo {
    /// Reads the enmesh view of a DER certificate (no trust decision is made).
    pub fn read(der: &[u8]) -> Result<Self, FieldsError> {
        let cert = parse_der(der)?;
        let fields = EnmeshFields::from_cert(&cert)?;
        let key = ed25519_key(&cert)?;
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: hex::encode(cert.raw_serial()),
            not_before: rfc3339(cert.validity().not_before.timestamp())?,
            not_after: rfc3339(cert.validity().not_after.timestamp())?,
            is_ca: cert.is_ca(),
            role: fields.role,
            cluster: fields.cluster.map(|c| c.to_string()),
            region: fields.region.map(|r| r.to_string()),
            public_key: hex::encode(key),
            peer_id: peer_id_of(&key)?.to_string(),
        })
    }
}

fn rfc3339(unix: i64) -> Result<String, FieldsError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(FieldsError::BadTime(unix))
}

/// Why a certificate's enmesh fields could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldsError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not a DER X.509 certificate")]
    BadDer,
    /// Bytes follow the certificate.
    #[error("{0} bytes after the certificate")]
    TrailingBytes(usize),
    /// The subjectAltName extension does not parse.
    #[error("malformed subjectAltName extension")]
    BadSan,
    /// A required enmesh field is missing.
    #[error("certificate has no enmesh {0} (want a {URI_PREFIX}{0}:... SAN URI)")]
    Missing(&'static str),
    /// An enmesh field appears twice.
    #[error("enmesh {0} appears more than once")]
    Duplicate(&'static str),
    /// A `urn:enmesh:v1:` URI with an unknown field.
    #[error("unknown enmesh URI {0:?}")]
    UnknownUri(String),
    /// A role that is not root, cluster-ca, node or auditor.
    #[error("unknown enmesh role {0:?} (want root, cluster-ca, node or auditor)")]
    UnknownRole(String),
    /// A region or cluster that does not parse.
    #[error("bad region or cluster in certificate: {0}")]
    BadRegion(#[from] RegionError),
    /// Fields that do not fit the role (e.g. a node without a region).
    #[error(
        "enmesh fields do not fit role {0} (root: none; cluster-ca, auditor: cluster; node: cluster and region)"
    )]
    Inconsistent(Role),
    /// The subject key is not Ed25519.
    #[error("subject key algorithm {0} is not Ed25519 (1.3.101.112)")]
    NotEd25519(String),
    /// An Ed25519 key of the wrong length.
    #[error("Ed25519 key of {0} bytes (want 32)")]
    BadKeyLength(usize),
    /// A validity time out of range.
    #[error("validity time {0} out of range")]
    BadTime(i64),
}
