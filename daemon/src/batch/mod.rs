//! The batcher: cuts this node's local keys into signed batches, one chain of batches per feed.
//!
//! [`feeds`] names the feeds and routes an upload's keys to them, [`plan`] is the pure state
//! machine that decides the batches (windows, sizes, padding, shuffling), [`body`] turns a
//! planned batch into a signed `enmesh.v1.SignedBatch`, and [`spawn`] runs it all as one actor
//! over the store. Batches and the batcher position are committed in one store write, so a crash
//! never loses a key's place in a batch nor gives it two.
//!
//! This module never puts a visited region into a batch (routing drops them before any batch is
//! formed, and `BatchBody` has no field for them), never batches remote keys (it reads only the
//! store's local keys), and never signs for another origin than this node's region.

mod actor;
pub mod body;
pub mod feeds;
pub mod metrics;
pub mod plan;
#[cfg(test)]
mod tests;

pub use actor::{BatcherConfig, BatcherHandle, spawn};
pub use feeds::Routing;
pub use plan::{Cut, Event, Limits, PlannedBatch, Planner};

use crate::store::StoreError;
use thiserror::Error;

/// Why the batcher could not cut or commit.
#[derive(Debug, Error)]
pub enum BatcherError {
    /// The store failed to read keys or heads, or refused the batches.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The operating system gave no randomness to seed the shuffling and padding.
    #[error("no randomness from the operating system: {0}")]
    Entropy(rand::rngs::SysError),
    /// A blocking step of the batcher panicked or was cancelled with the runtime.
    #[error("batcher step did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The batcher task has stopped (shutdown, or all handles dropped).
    #[error("the batcher has stopped")]
    Stopped,
}
