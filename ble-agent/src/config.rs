//! The agent's config file (TOML): the home region, the server, source and export key of every
//! region it may follow, and optional risk parameters.
//!
//! ```toml
//! home = "FR"
//!
//! [[regions]]
//! id = "FR"
//! url = "https://fr.example/"        # the backend's public API
//! source = "exports"                 # "exports" (signed GAEN files) or "feed" (chunked keys)
//! export_key = "fr-export.pub.pem"   # the region's export verification key (SPKI PEM); exports only
//! ca_cert = "fr-ca.pem"              # CA certificates for https (no built-in roots)
//!
//! [risk]                             # optional; every field of `risk::RiskConfig` has a default
//! threshold_minutes = 15.0
//! ```
//!
//! Relative paths are read from the config file's directory. Unknown fields are refused; every
//! error names its field. This module reads files only when loading.

use crate::http::{HttpError, Server};
use crate::risk::{RiskConfig, RiskConfigError};
use enmesh_protocol::region::RegionId;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a config was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML of the config's shape (the message names the field).
    #[error("config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field has a value the agent cannot use.
    #[error("config field {field}: {reason}")]
    Field {
        /// The field, e.g. `regions[1].export_key`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A risk parameter is out of range.
    #[error("config field {0}")]
    Risk(#[from] RiskConfigError),
}

/// Where a region's keys are read from.
#[derive(Debug, Clone)]
pub enum RegionSource {
    /// The signed GAEN export files, verified with `key`.
    Exports {
        /// The region's export verification key.
        key: VerifyingKey,
    },
    /// The chunked key feed.
    Feed,
}

/// One followable region.
#[derive(Debug, Clone)]
pub struct RegionConfig {
    /// The region.
    pub id: RegionId,
    /// Its backend.
    pub server: Server,
    /// What to read.
    pub source: RegionSource,
}

/// The whole config.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The home (base) region.
    pub home: RegionId,
    /// Regions that can be followed.
    pub regions: Vec<RegionConfig>,
    /// Risk parameters.
    pub risk: RiskConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    home: String,
    #[serde(default)]
    regions: Vec<RawRegion>,
    #[serde(default)]
    risk: RiskConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    id: String,
    url: String,
    source: String,
    #[serde(default)]
    export_key: Option<PathBuf>,
    #[serde(default)]
    ca_cert: Option<PathBuf>,
}

impl AgentConfig {
    /// Reads and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and validates config text whose relative paths are under `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        let field = |field: String, reason: String| ConfigError::Field { field, reason };
        let home: RegionId =
            raw.home
                .parse()
                .map_err(|e: enmesh_protocol::region::RegionError| {
                    field("home".into(), e.to_string())
                })?;
        raw.risk.validate()?;
        let mut regions: Vec<RegionConfig> = Vec::new();
        for (i, r) in raw.regions.iter().enumerate() {
            let at = |name: &str| format!("regions[{i}].{name}");
            let id: RegionId =
                r.id.parse()
                    .map_err(|e: enmesh_protocol::region::RegionError| {
                        field(at("id"), e.to_string())
                    })?;
            if regions.iter().any(|other| other.id == id) {
                return Err(field(at("id"), format!("{id} is listed twice")));
            }
            let ca = r.ca_cert.as_ref().map(|p| base.join(p));
            let server = Server::new(&r.url, ca.as_deref())
                .map_err(|e: HttpError| field(at("url"), e.to_string()))?;
            let source = match r.source.as_str() {
                "exports" => {
                    let path = r.export_key.as_ref().ok_or_else(|| {
                        field(
                            at("export_key"),
                            "required when source = \"exports\"".into(),
                        )
                    })?;
                    let path = base.join(path);
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| field(at("export_key"), format!("{}: {e}", path.display())))?;
                    let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                        field(
                            at("export_key"),
                            format!("{}: not a P-256 public key PEM: {e}", path.display()),
                        )
                    })?;
                    RegionSource::Exports { key }
                }
                "feed" => {
                    if r.export_key.is_some() {
                        return Err(field(
                            at("export_key"),
                            "only used with source = \"exports\"".into(),
                        ));
                    }
                    RegionSource::Feed
                }
                other => {
                    return Err(field(
                        at("source"),
                        format!("{other:?}: expected \"exports\" or \"feed\""),
                    ));
                }
            };
            regions.push(RegionConfig { id, server, source });
        }
        Ok(Self {
            home,
            regions,
            risk: raw.risk,
        })
    }

    /// The entry of `region`.
    pub fn region(&self, region: &RegionId) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| &r.id == region)
    }
}
