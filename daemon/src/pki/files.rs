//! PEM files and the CA revocation state on disk, for `enmesh pki`.
//!
//! Issued files are never overwritten unless the operator forces it; private keys are created
//! with mode 0600 (and set to 0600 when forced over an existing file). The revocation state is a
//! small JSON file next to the CA certificate, replaced atomically. This module makes no trust
//! decisions.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Mode of private key files.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of certificates, requests and CRLs.
pub const PUBLIC_MODE: u32 = 0o644;

/// Writes a new file; refuses to replace an existing one unless `force`.
pub fn write_new(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => FileError::Exists(path.to_owned()),
        _ => io(e),
    })?;
    // An existing file keeps its old mode when truncated: set it explicitly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a whole text file.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let text = read_text(path)?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| FileError::BadPem(path.to_owned(), "CERTIFICATE"))?;
    if certs.is_empty() {
        return Err(FileError::BadPem(path.to_owned(), "CERTIFICATE"));
    }
    Ok(certs)
}

/// Reads the first certificate of a PEM file (a root CA file holds exactly one).
pub fn read_first_cert(path: &Path) -> Result<CertificateDer<'static>, FileError> {
    read_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| FileError::BadPem(path.to_owned(), "CERTIFICATE"))
}

/// Every CRL file in `dir` (none if `None`), in file-name order.
pub fn read_crl_dir(
    dir: Option<&Path>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, FileError> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let io = |source| FileError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths = fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| read_crl(p))
        .collect()
}

/// Reads one CRL, PEM (`-----BEGIN X509 CRL-----`) or DER. A DER file is only read here;
/// whether it is a CRL is checked when it is parsed (`Verifier::new`, `replace_crls`).
pub fn read_crl(path: &Path) -> Result<CertificateRevocationListDer<'static>, FileError> {
    let bytes = fs::read(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(&bytes)
            .map_err(|_| FileError::BadPem(path.to_owned(), "X509 CRL"))
    } else {
        Ok(CertificateRevocationListDer::from(bytes))
    }
}

/// One revoked certificate in a CA's revocation state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedEntry {
    /// Serial number, hex.
    pub serial: String,
    /// When the CA recorded the revocation (Unix seconds).
    pub revoked_at: i64,
}

/// A CA's revocation state: what it revoked, and the number of the last CRL it signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationState {
    /// Number of the last CRL signed (0: none yet).
    pub crl_number: u64,
    /// Every certificate revoked so far.
    pub revoked: Vec<RevokedEntry>,
}

impl RevocationState {
    /// The default state file of a CA certificate: `<cert path>.revoked.json`.
    pub fn default_path(ca_cert: &Path) -> PathBuf {
        let mut name = ca_cert.as_os_str().to_owned();
        name.push(".revoked.json");
        PathBuf::from(name)
    }

    /// Loads the state, or an empty one if the file does not exist.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| FileError::BadState {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(FileError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Replaces the state file atomically (write a temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let json = serde_json::to_vec_pretty(self).map_err(|source| FileError::BadState {
            path: path.to_owned(),
            source,
        })?;
        write_new(&tmp, &json, PUBLIC_MODE, true)?;
        fs::rename(&tmp, path).map_err(io)
    }
}

/// Why a file could not be read or written.
#[derive(Debug, Error)]
pub enum FileError {
    /// The file exists and `--force` was not given.
    #[error("{0} exists; refusing to overwrite it (use --force)")]
    Exists(PathBuf),
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file without the expected PEM object.
    #[error("{0}: no valid PEM {1}")]
    BadPem(PathBuf, &'static str),
    /// A revocation state file that is not valid JSON of the expected shape.
    #[error("revocation state {path}: {source}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}
