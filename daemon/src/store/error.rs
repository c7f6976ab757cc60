//! The store's errors, split by who is at fault: [`StoreError`] is a failure of the store or of
//! the code calling it (a broken disk, a corrupt record, a write that breaks the store's own
//! rules); [`UploadRefusal`] and [`NotTaken`] are ordinary business outcomes that the caller
//! answers to someone outside (a phone's upload code, a peer's batch), returned inside `Ok`.
//!
//! This module never hides a cause behind a free-form string.

use enmesh_protocol::feed::{Feed, FeedError};
use enmesh_protocol::region::RegionId;
use thiserror::Error;

/// Why a store operation failed: the store itself or its caller is at fault.
#[derive(Debug, Error)]
pub enum StoreError {
    /// RocksDB itself failed (I/O error, corruption it detected, lock held by another process).
    #[error("storage engine failure: {0}")]
    Engine(#[from] rocksdb::Error),
    /// A record that this store wrote does not decode: the data directory is damaged or was
    /// written by incompatible code.
    #[error("corrupt record in column family `{cf}` at key {key}: {reason}")]
    Corrupt {
        /// The column family.
        cf: &'static str,
        /// The record's key, hex.
        key: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A column family this build creates on open is missing (cannot happen after a good open).
    #[error("column family `{0}` is missing")]
    MissingColumnFamily(&'static str),
    /// The data directory was written by a newer version of enmesh.
    #[error("data directory has schema version {found}; this build supports up to {supported}")]
    SchemaTooNew {
        /// The version found in `meta`.
        found: u32,
        /// The newest version this build can read.
        supported: u32,
    },
    /// A batch handed to `append_batches` names no valid feed.
    #[error("batch names no valid feed: {0}")]
    BadFeed(#[from] FeedError),
    /// A batch handed to `append_batches` has a body that does not decode as `BatchBody`.
    #[error("batch body does not decode: {0}")]
    BatchBody(#[from] prost::DecodeError),
    /// A batch's sequence is not the next one of its feed.
    #[error("feed {feed}: batch sequence {got} is not the next sequence {expected}")]
    SequenceGap {
        /// The feed.
        feed: Feed,
        /// The sequence the feed needs next.
        expected: u64,
        /// The sequence the batch has.
        got: u64,
    },
    /// A batch's `previous_batch_id` is not the id of the feed's latest batch.
    #[error("feed {feed}: batch {sequence} does not chain to the previous batch")]
    ChainBroken {
        /// The feed.
        feed: Feed,
        /// The batch's sequence.
        sequence: u64,
    },
    /// An import source's state changed since it was read: a second writer of one stream,
    /// which the node never starts.
    #[error("the import state of {stream} changed since it was read")]
    ImportStateMoved {
        /// The source's stream name.
        stream: String,
    },
}

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The result of an operation that can fail, or succeed with either a value or a refusal that
/// is nobody's failure (`Ok(Err(refusal))`).
pub type Outcome<T, R> = Result<std::result::Result<T, R>>;

/// Why an upload (or a new upload code) was not accepted: the phone's or the operator's
/// business, not a failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UploadRefusal {
    /// No upload code with this hash was issued (or it was deleted by retention).
    #[error("upload code is unknown")]
    CodeUnknown,
    /// The upload code expired before it was used.
    #[error("upload code expired at {expires_unix_secs} (now {now_unix_secs})")]
    CodeExpired {
        /// When it expired.
        expires_unix_secs: u64,
        /// The time of the attempt.
        now_unix_secs: u64,
    },
    /// The upload code was already used by a different upload.
    #[error("upload code was already used by another upload")]
    CodeUsed,
    /// An upload code with this hash already exists.
    #[error("upload code already exists")]
    CodeExists,
    /// More keys in one upload than a record can count (callers bound uploads far below).
    #[error("{0} keys in one upload; at most u32::MAX")]
    TooManyKeys(usize),
}

/// Why a received batch (or a consumer's cursor) was not taken: the peer's history and ours
/// disagree, which is an outcome to act on (skip, fetch again), not a failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotTaken {
    /// The cursor already holds this sequence or a later one.
    #[error("cursor for {origin} {feed} would move from sequence {stored} to {new}, not forward")]
    AlreadyHeld {
        /// The origin region.
        origin: RegionId,
        /// The origin's feed.
        feed: Feed,
        /// The stored cursor's sequence.
        stored: u64,
        /// The offered sequence.
        new: u64,
    },
    /// The batch does not continue the held history: a gap, or a fork (its previous id is not
    /// the id of the batch the cursor holds).
    #[error("batch {got} of {origin} {feed} does not follow the held sequence {held}")]
    NotNext {
        /// The origin region.
        origin: RegionId,
        /// The origin's feed.
        feed: Feed,
        /// The sequence the cursor holds.
        held: u64,
        /// The received batch's sequence.
        got: u64,
    },
}
