//! GAEN export files (formats.md §d): an exporter actor that builds each ended export window's
//! zips once, and the routes phones download them from (`/v1/exports/index.txt`,
//! `/v1/exports/<start>-<end>-<nnnnn>.zip`).
//!
//! A window's files carry the local and remote keys released in it by the embargo rule of
//! [`window`], padded, sorted, split at `export.max_keys_per_file`, signed with the region's
//! P-256 key and zipped; they are stored in the store's `exports` column family keyed by window
//! start, so retention drops them with one range delete ([`Store::purge_exports_before`]).
//!
//! This module never exports a window that has not ended (plus [`SETTLE_SECS`]), never rebuilds
//! a window once built (the store keeps the position), and never puts anything but keys and the
//! window's header into a file.

pub mod actor;
pub mod build;
pub mod http;
pub mod window;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use thiserror::Error;

use crate::config::ExportConfig;
use crate::store::{Store, StoreError};

pub use actor::{ExportRun, ExporterHandle, spawn};
pub use http::routes;
pub use window::{ExportPeriod, ExportWindow};

/// The object-name root of every export file and of `index.txt` (formats.md §d.4): clients
/// prepend the base URL `…/v1/` to each line of the index.
pub const FILENAME_ROOT: &str = "exports";

/// Seconds after a window's end before it is exported: an upload that read the clock just before
/// the end may still be committing into it.
pub const SETTLE_SECS: u64 = 10;

/// What the exporter needs from `[export]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// Length of one export window.
    pub period: ExportPeriod,
    /// Most keys in one file.
    pub max_keys_per_file: NonZeroUsize,
    /// `verification_key_id` of the signature info.
    pub key_id: String,
    /// `verification_key_version` of the signature info.
    pub key_version: String,
    /// `region` of the export header.
    pub region_code: String,
    /// The object-name root ([`FILENAME_ROOT`]).
    pub root: String,
}

impl ExportSettings {
    /// The settings of `[export]`.
    pub fn from_config(config: &ExportConfig) -> Self {
        Self {
            period: ExportPeriod::new(config.period),
            max_keys_per_file: usize::try_from(config.max_keys_per_file)
                .ok()
                .and_then(NonZeroUsize::new)
                .unwrap_or(NonZeroUsize::MIN),
            key_id: config.key_id.clone(),
            key_version: config.key_version.clone(),
            region_code: config.region_code.clone(),
            root: FILENAME_ROOT.to_owned(),
        }
    }
}

/// Why an export could not be built, stored or served.
#[derive(Debug, Error)]
pub enum ExportsError {
    /// The signing key file could not be read.
    #[error("cannot read export signing key {path}: {reason}")]
    KeyRead {
        /// The configured file.
        path: PathBuf,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The signing key file is not a PKCS#8 PEM P-256 private key.
    #[error("export signing key {path} is not a PKCS#8 PEM P-256 private key: {reason}")]
    KeyParse {
        /// The configured file.
        path: PathBuf,
        /// The parser's reason.
        reason: p256::pkcs8::Error,
    },
    /// The store failed.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// Signing or zipping an export failed.
    #[error("building an export file: {0}")]
    Export(#[from] enmesh_protocol::export::ExportError),
    /// The operating system's random source failed (padding keys).
    #[error("random source failed: {0}")]
    Random(getrandom::Error),
    /// The blocking build task panicked or was cancelled.
    #[error("export task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The exporter actor has stopped (shutdown), so it cannot take requests.
    #[error("the exporter has stopped")]
    Stopped,
}

/// Loads the region's export signing key (`export.signing_key`, PKCS#8 PEM).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, ExportsError> {
    let pem = std::fs::read_to_string(path).map_err(|reason| ExportsError::KeyRead {
        path: path.to_owned(),
        reason,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|reason| ExportsError::KeyParse {
        path: path.to_owned(),
        reason,
    })
}

/// Builds and stores every window that ended at least [`SETTLE_SECS`] before `now` and was not
/// built before, oldest first; each window's files and the new position are one atomic write.
///
/// The first window considered is the one after the stored position, or, on a store that never
/// exported, the window of the oldest stored key.
pub fn export_ended_windows(
    store: &Store,
    settings: &ExportSettings,
    signing_key: &SigningKey,
    now: u64,
) -> Result<ExportRun, ExportsError> {
    let ready_until = settings
        .period
        .window_of(now.saturating_sub(SETTLE_SECS))
        .start;
    let first = match store.export_position()? {
        Some(position) => settings.period.window_of(position),
        None => match store.keys_arrived(0, ready_until, None, 1)?.entries.first() {
            Some(oldest) => settings.period.window_of(oldest.at.unix_secs),
            None => return Ok(ExportRun::default()),
        },
    };
    let mut run = ExportRun::default();
    let mut window = first;
    while window.end <= ready_until {
        let keys = build::window_keys(store, settings, window)?;
        let built = build::build_files(&keys, settings, signing_key, window)?;
        let names: Vec<String> = built.files.iter().map(|f| f.name.clone()).collect();
        let zips = built.files.into_iter().map(|f| f.zip).collect();
        if store.put_export_window(window.start, window.end, zips, now.saturating_mul(1000))? {
            tracing::info!(
                window_start = window.start,
                files = names.len(),
                keys = built.keys,
                padding = built.padding,
                "export window built"
            );
            run.windows += 1;
            run.keys += built.keys;
            run.padding += built.padding;
            run.files.extend(names);
        }
        window = settings.period.window_of(window.end);
    }
    Ok(run)
}
