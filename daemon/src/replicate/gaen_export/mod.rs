//! File federation in: the GAEN export importer (formats.md §f.3), one [`ImportWorker`] per
//! `[[peers]]` entry with `format = "gaen-export"`.
//!
//! Every `poll` the worker reads the peer's `index.txt`, takes the names after its cursor (the last
//! imported name; index names sort chronologically), downloads each zip once, and checks it
//! ([`check::check_file`]: structure, a signature under a configured key chosen by key id and
//! version, every key). A good file's keys are stored as remote keys of the peer's region
//! together with the new cursor in one atomic write ([`Store::commit_import`]); a crash keeps
//! both or neither, so a restart neither loses nor duplicates a file. A refused file is counted
//! (`enmesh_import_refusals_total{source="<region>",reason}`), logged, stores
//! nothing, and is skipped: the cursor moves past it in a write of no keys, so one corrupt file
//! does not hold up the peer's later files. A download that fails (connection, status, size)
//! is not the file's fault: the worker retries it at the next poll.
//!
//! An `https://` index (a CDN, as deployments published exports) is fetched over TLS, the
//! server's chain checked against the peer's `ca_file` roots; `http://` is fetched plain (an
//! enmesh node's `/v1/exports/index.txt` on its public HTTP listener, a local mirror).
//!
//! This module never stores a key of a file that failed a check, never stores keys without the
//! cursor that covers them, and never reads a body larger than its cap.

pub mod check;
pub mod http;
pub mod metrics;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use enmesh_protocol::region::RegionId;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey as _;
use thiserror::Error;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::config::GaenExportPeer;
use crate::pki::tls;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{Ticker, Worker, WorkerState};
use check::{ExportKey, IndexError};

/// Largest export zip downloaded (500k keys ≈ 14 MB; Google's cap is 750k keys).
pub const MAX_ZIP_BYTES: usize = 64 << 20;
/// Time allowed for one download.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// One configured source, ready to run.
#[derive(Debug, Clone)]
pub struct Source {
    /// The index URL.
    pub index_url: Uri,
    /// The region its keys are stored as.
    pub region: RegionId,
    /// Its verification keys.
    pub keys: Vec<ExportKey>,
    /// Time between two index reads.
    pub poll: Duration,
    /// For an `https://` index: TLS to the configured roots (`ca_file`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Why a source could not be set up (the operator's fault).
#[derive(Debug, Error)]
pub enum SourceError {
    /// A verification key file could not be read or parsed.
    #[error("peers (gaen-export {url}): verification key {key_id}/{key_version}: {reason}")]
    Key {
        /// The index URL.
        url: String,
        /// The key id.
        key_id: String,
        /// The key version.
        key_version: String,
        /// Why.
        reason: String,
    },
    /// The `ca_file` of an `https://` index could not be read or used.
    #[error("peers (gaen-export {url}): ca_file {path}: {reason}")]
    Roots {
        /// The index URL.
        url: String,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An `https://` index without `ca_file` (the config refuses it; a hand-built config may not).
    #[error("peers (gaen-export {0}): an https:// index needs ca_file")]
    NoRoots(String),
}

impl Source {
    /// Loads the verification keys of `peer`.
    pub fn load(peer: &GaenExportPeer) -> Result<Self, SourceError> {
        let tls = match (peer.index_url.scheme_str(), &peer.ca_file) {
            (Some("https"), Some(path)) => {
                let err = |reason: String| SourceError::Roots {
                    url: peer.index_url.to_string(),
                    path: path.display().to_string(),
                    reason,
                };
                let roots = tls::read_roots(path).map_err(err)?;
                let config =
                    tls::roots_client_config(roots, b"http/1.1").map_err(|e| err(e.to_string()))?;
                Some(Arc::new(config))
            }
            (Some("https"), None) => return Err(SourceError::NoRoots(peer.index_url.to_string())),
            _ => None,
        };
        let keys = peer
            .verification_keys
            .iter()
            .map(|k| {
                let err = |reason: String| SourceError::Key {
                    url: peer.index_url.to_string(),
                    key_id: k.key_id.clone(),
                    key_version: k.key_version.clone(),
                    reason,
                };
                let text = std::fs::read_to_string(&k.public_key)
                    .map_err(|e| err(format!("{}: {e}", k.public_key.display())))?;
                let key = VerifyingKey::from_public_key_pem(text.trim())
                    .map_err(|e| err(e.to_string()))?;
                Ok(ExportKey {
                    key_id: k.key_id.clone(),
                    key_version: k.key_version.clone(),
                    key,
                })
            })
            .collect::<Result<_, SourceError>>()?;
        Ok(Self {
            index_url: peer.index_url.clone(),
            region: peer.region.clone(),
            keys,
            poll: peer.poll,
            tls,
        })
    }

    /// The store stream name of this source's cursor.
    pub fn stream(&self) -> String {
        format!("gaen-export/{}", self.index_url)
    }

    /// The metric label: the source's region.
    fn label(&self) -> String {
        self.region.to_string()
    }

    /// The URL of an index line. Index lines are object names relative to the export root,
    /// which is the parent of the index's directory when the line starts with that directory's
    /// name (Google's layout, `<root>/<filename_root>/index.txt` listing
    /// `<filename_root>/<file>.zip`; enmesh's `/v1/exports/index.txt` listing `exports/<file>`),
    /// else the index's directory itself.
    pub fn file_url(&self, name: &str) -> String {
        file_url(&self.index_url.to_string(), name)
    }
}

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Files imported.
    pub imported: usize,
    /// Files refused (skipped, nothing stored).
    pub refused: usize,
    /// Keys stored.
    pub keys: usize,
}

/// Why a sync stopped early (retried at the next poll).
#[derive(Debug, Error)]
pub enum SyncError {
    /// The index or a file could not be downloaded.
    #[error("download: {0}")]
    Fetch(#[from] http::FetchError),
    /// The index is not valid.
    #[error("index: {0}")]
    Index(#[from] IndexError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// One sync: read the index, import each new file in order. Returns what was done; stops at
/// the first download or store failure (what was committed before stays).
pub async fn sync(
    source: &Source,
    store: &Arc<Store>,
    clock: &SharedClock,
    metrics: &Metrics,
) -> Result<SyncReport, SyncError> {
    let mut importer = Importer::new(
        source.clone(),
        store.clone(),
        clock.clone(),
        metrics.clone(),
    );
    importer.read_index().await?;
    let mut report = SyncReport::default();
    while importer.import_next(&mut report).await? {}
    Ok(report)
}

/// The state of one source between units of work: its cursor and the names still to import.
struct Importer {
    source: Source,
    store: Arc<Store>,
    clock: SharedClock,
    metrics: Metrics,
    stream: String,
    label: String,
    cursor: Option<Vec<u8>>,
    pending: VecDeque<String>,
}

impl Importer {
    fn new(source: Source, store: Arc<Store>, clock: SharedClock, metrics: Metrics) -> Self {
        Self {
            stream: source.stream(),
            label: source.label(),
            source,
            store,
            clock,
            metrics,
            cursor: None,
            pending: VecDeque::new(),
        }
    }

    /// Reads the index and the stored cursor; the names after the cursor become pending.
    async fn read_index(&mut self) -> Result<(), SyncError> {
        self.pending.clear();
        let index = http::get(
            &self.source.index_url.to_string(),
            check::MAX_INDEX_BYTES,
            self.source.tls.as_ref(),
        )
        .await?;
        let names = check::parse_index(&index)?;
        self.cursor = {
            let (store, stream) = (self.store.clone(), self.stream.clone());
            tokio::task::spawn_blocking(move || store.import_state(&stream)).await??
        };
        self.pending = check::to_import(
            &names,
            self.cursor
                .as_deref()
                .and_then(|c| std::str::from_utf8(c).ok()),
        )
        .into_iter()
        .map(str::to_owned)
        .collect();
        Ok(())
    }

    /// Imports (or refuses and skips) the first pending file; `false` when none was pending
    /// (the sync is complete). A failed download or store write leaves the file pending.
    async fn import_next(&mut self, report: &mut SyncReport) -> Result<bool, SyncError> {
        let Some(name) = self.pending.front().cloned() else {
            self.metrics
                .import()
                .synced(&self.label, self.clock.now_secs());
            return Ok(false);
        };
        let span = tracing::info_span!("import_file", file = %name);
        let zip = http::get(
            &self.source.file_url(&name),
            MAX_ZIP_BYTES,
            self.source.tls.as_ref(),
        )
        .instrument(span.clone())
        .await?;
        let now = self.clock.now_secs();
        let keys_cfg = self.source.keys.clone();
        let checked =
            tokio::task::spawn_blocking(move || check::check_file(&zip, &keys_cfg, now)).await?;
        let keys = match checked {
            Ok(keys) => keys,
            Err(error) => {
                span.in_scope(|| tracing::warn!(%error, "export file refused; skipped"));
                self.metrics.import().refused(&self.label, error.reason());
                report.refused += 1;
                Vec::new()
            }
        };
        let count = keys.len();
        let (store, stream, region) = (
            self.store.clone(),
            self.stream.clone(),
            self.source.region.clone(),
        );
        let expect = self.cursor.clone();
        let state = name.clone().into_bytes();
        tokio::task::spawn_blocking(move || {
            store.commit_import(&region, &stream, &keys, expect.as_deref(), &state, now)
        })
        .await??;
        self.pending.pop_front();
        self.cursor = Some(name.into_bytes());
        if count > 0 {
            report.imported += 1;
            self.metrics.import().imported(&self.label, count as u64);
            span.in_scope(|| tracing::info!(keys = count, "export file imported"));
        }
        report.keys += count;
        Ok(true)
    }
}

/// The importer of one source as a [`Worker`] (`gaen_import`): every `poll` it reads the
/// index, then imports one file per unit of work, so a stopping node waits for one file at
/// most, never for a whole backlog.
pub struct ImportWorker {
    importer: Importer,
    ticker: Ticker,
    /// The index must be read before the next file (a tick, or a failed unit).
    fresh: bool,
    report: SyncReport,
}

impl ImportWorker {
    /// The worker of `source`; its first sync runs at once.
    pub fn new(source: Source, store: Arc<Store>, clock: SharedClock, metrics: Metrics) -> Self {
        let ticker = Ticker::new(source.poll, true);
        Self {
            importer: Importer::new(source, store, clock, metrics),
            ticker,
            fresh: true,
            report: SyncReport::default(),
        }
    }
}

impl Worker for ImportWorker {
    type Error = SyncError;

    fn name(&self) -> &'static str {
        "gaen_import"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        self.fresh = true;
        WorkerState::Busy
    }

    async fn work(&mut self) -> Result<WorkerState, SyncError> {
        let span = tracing::info_span!(
            "gaen_export",
            region = %self.importer.source.region,
            index = %self.importer.source.index_url
        );
        async {
            if self.fresh {
                self.fresh = false;
                self.report = SyncReport::default();
                self.importer.read_index().await?;
            }
            if self.importer.import_next(&mut self.report).await? {
                return Ok(WorkerState::Busy);
            }
            let report = self.report;
            if report.imported + report.refused > 0 {
                tracing::info!(
                    imported = report.imported,
                    refused = report.refused,
                    keys = report.keys,
                    "index synced"
                );
            } else {
                tracing::debug!("index unchanged");
            }
            Ok(WorkerState::Idle)
        }
        .instrument(span)
        .await
        .inspect_err(|_| self.fresh = true)
    }
}

/// See [`Source::file_url`].
fn file_url(index: &str, name: &str) -> String {
    let dir = index.rfind('/').map_or(index, |i| &index[..=i]);
    let trimmed = dir.trim_end_matches('/');
    if let Some(slash) = trimmed.rfind('/') {
        let last = &trimmed[slash + 1..];
        let parent = &trimmed[..=slash];
        if !last.is_empty() && !parent.ends_with("//") && name.starts_with(&format!("{last}/")) {
            return format!("{parent}{name}");
        }
    }
    format!("{dir}{name}")
}

#[cfg(test)]
mod tests {
    use super::file_url;

    #[test]
    fn index_lines_resolve_against_the_export_root() {
        assert_eq!(
            file_url("http://h/v1/exports/index.txt", "exports/1-2-00001.zip"),
            "http://h/v1/exports/1-2-00001.zip"
        );
        assert_eq!(
            file_url(
                "http://cdn/exposureKeyExport-US/index.txt",
                "exposureKeyExport-US/1-2-00001.zip"
            ),
            "http://cdn/exposureKeyExport-US/1-2-00001.zip"
        );
        assert_eq!(
            file_url("http://h/a/index.txt", "1-2.zip"),
            "http://h/a/1-2.zip"
        );
        assert_eq!(
            file_url("http://h/index.txt", "x/1-2.zip"),
            "http://h/x/1-2.zip"
        );
    }
}
