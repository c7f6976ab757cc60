//! The retention worker: a [`sweep`](super::sweep) at start and then every
//! `retention.sweep_interval`, its counts exported as metrics.
//!
//! A failed sweep is loud but never fatal: the next one retries. It reads the time from the
//! node's clock only.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::sweep;
use crate::clock::SharedClock;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::worker::{Ticker, Worker, WorkerState};

/// Why a sweep failed.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The blocking task did not finish.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Sweeps `store` every period.
pub struct RetentionWorker {
    store: Arc<Store>,
    clock: SharedClock,
    metrics: Metrics,
    days: u32,
    ticker: Ticker,
}

impl RetentionWorker {
    /// Sweeps data older than `days` days at start and then every `interval`.
    pub fn new(
        store: Arc<Store>,
        clock: SharedClock,
        metrics: Metrics,
        days: u32,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            days,
            ticker: Ticker::new(interval, true),
        }
    }
}

impl Worker for RetentionWorker {
    type Error = SweepError;

    fn name(&self) -> &'static str {
        "retention"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, SweepError> {
        let (store, now, days) = (self.store.clone(), self.clock.now_secs(), self.days);
        let report = tokio::task::spawn_blocking(move || sweep(&store, now, days)).await??;
        for (cf, count) in [
            ("local", report.local_keys),
            ("remote", report.remote_keys),
            ("uploads", report.uploads),
            ("codes", report.codes),
            ("batches", report.batches),
            ("exports", report.exports),
        ] {
            self.metrics.retention().deleted(cf, count);
        }
        tracing::info!(
            cutoff = report.cutoff_unix_secs,
            local = report.local_keys,
            remote = report.remote_keys,
            batches = report.batches,
            "retention sweep"
        );
        Ok(WorkerState::Idle)
    }
}
