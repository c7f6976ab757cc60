//! The retention sweep (SP3): deletes everything that arrived more than T days ago from every
//! column family that holds user data.
//!
//! `sweep` is called by the runtime (on start and periodically) with the current time; it reads
//! no clock itself; [`worker::RetentionWorker`] runs it. [`metrics`] counts what it deleted. It
//! never deletes data younger than T: something that arrived exactly T days
//! ago is kept until the next sweep. It never deletes cursors, feed heads or counters (they hold
//! no user data, and losing them would restart feeds at sequence 1).

pub mod metrics;
pub mod worker;

pub use metrics::RetentionMetrics;

use crate::store::{Result, Store};

/// The default retention period, in days (requirements SP3).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Seconds in a day.
const DAY_SECS: u64 = 86_400;

/// What one sweep deleted: exact counts per column family, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// Data that arrived before this time (unix seconds) was deleted.
    pub cutoff_unix_secs: u64,
    /// Local keys deleted.
    pub local_keys: u64,
    /// Remote keys deleted.
    pub remote_keys: u64,
    /// Upload records (with their visited regions) deleted.
    pub uploads: u64,
    /// Upload codes deleted (unused ones past expiry, used ones whose upload is older than T).
    pub codes: u64,
    /// Signed batches deleted.
    pub batches: u64,
    /// GAEN export files deleted (windows that started before the cutoff).
    pub exports: u64,
}

/// Deletes from `store` everything that arrived before `now − retention_days` days.
pub fn sweep(store: &Store, now_unix_secs: u64, retention_days: u32) -> Result<RetentionReport> {
    let cutoff_unix_secs = now_unix_secs.saturating_sub(u64::from(retention_days) * DAY_SECS);
    let counts = store.purge(cutoff_unix_secs, now_unix_secs)?;
    let report = RetentionReport {
        cutoff_unix_secs,
        local_keys: counts.local,
        remote_keys: counts.remote,
        uploads: counts.uploads,
        codes: counts.codes,
        batches: counts.batches,
        exports: store
            .purge_exports_before(cutoff_unix_secs, now_unix_secs.saturating_mul(1000))?,
    };
    tracing::info!(
        cutoff_unix_secs,
        local_keys = report.local_keys,
        remote_keys = report.remote_keys,
        uploads = report.uploads,
        codes = report.codes,
        batches = report.batches,
        "retention sweep"
    );
    Ok(report)
}
