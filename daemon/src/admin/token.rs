//! The operator API's bearer token: random, generated at the first daemon start into
//! `<data_dir>/admin.token` (mode 0600) and reused afterwards; `enmesh admin` reads the same file.
//!
//! This module never logs the token, and compares it in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq as _;
use thiserror::Error;

/// The token file's name inside the data directory.
pub const FILE_NAME: &str = "admin.token";

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;

/// Why the token could not be loaded or created.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {reason}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The token file could not be read or written.
    #[error("cannot access admin token file {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The token file exists but holds no usable token.
    #[error("admin token file {path} is empty or not printable ASCII")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The operating system gave no randomness.
    #[error("no randomness for a new admin token: {0}")]
    Random(getrandom::Error),
}

/// The operator API's bearer token.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// The token text (for the `Authorization: Bearer` header).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The token file of `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads `<data_dir>/admin.token`.
pub fn load(data_dir: &Path) -> Result<AdminToken, TokenError> {
    let path = path(data_dir);
    let text = std::fs::read_to_string(&path).map_err(|reason| TokenError::Io {
        path: path.clone(),
        reason,
    })?;
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Malformed { path });
    }
    Ok(AdminToken(token.to_owned()))
}

/// Reads `<data_dir>/admin.token`, or creates it (mode 0600, 256 random bits, base64url) if it
/// does not exist yet. Creates `data_dir` if needed.
pub fn load_or_create(data_dir: &Path) -> Result<AdminToken, TokenError> {
    std::fs::create_dir_all(data_dir).map_err(|reason| TokenError::CreateDir {
        path: data_dir.to_owned(),
        reason,
    })?;
    let path = path(data_dir);
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(TokenError::Random)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(mut file) => {
            file.write_all(format!("{token}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|reason| TokenError::Io { path, reason })?;
            Ok(AdminToken(token))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(data_dir),
        Err(reason) => Err(TokenError::Io { path, reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create(&data).unwrap();
        assert_eq!(first.as_str().len(), 43);
        let mode = std::fs::metadata(path(&data)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(&data).unwrap();
        assert_eq!(again.as_str(), first.as_str());
        assert!(again.matches(first.as_str()));
        assert!(!again.matches(&first.as_str()[1..]));
        assert!(!again.matches(""));
    }

    #[test]
    fn empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "\n").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(TokenError::Malformed { .. })
        ));
    }
}
