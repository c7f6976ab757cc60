//! The store's error type: one variant per cause, so callers can tell a refused upload code
//! from a broken disk.
//!
//! This module never hides a cause behind a free-form string.

use thiserror::Error;

/// Why a store operation failed.
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
    /// More keys in one write than a record can count.
    #[error("{0} keys in one write; at most u32::MAX")]
    TooManyKeys(usize),
    /// The data directory was written by a newer version of enmesh.
    #[error("data directory has schema version {found}; this build supports up to {supported}")]
    SchemaTooNew {
        /// The version found in `meta`.
        found: u32,
        /// The newest version this build can read.
        supported: u32,
    },
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
    /// A feed id is empty, too long, or contains a NUL byte (the key separator).
    #[error("feed id {0:?} is not 1..=128 bytes without NUL")]
    BadFeedId(String),
    /// A batch handed to `append_batches` has a body that does not decode as `BatchBody`.
    #[error("batch body does not decode: {0}")]
    BatchBody(#[from] prost::DecodeError),
    /// A batch's sequence is not the next one of its feed.
    #[error("feed {feed}: batch sequence {got} is not the next sequence {expected}")]
    SequenceGap {
        /// The feed.
        feed: String,
        /// The sequence the feed needs next.
        expected: u64,
        /// The sequence the batch has.
        got: u64,
    },
    /// A batch's `previous_batch_id` is not the id of the feed's latest batch.
    #[error("feed {feed}: batch {sequence} does not chain to the previous batch")]
    ChainBroken {
        /// The feed.
        feed: String,
        /// The batch's sequence.
        sequence: u64,
    },
    /// A consumer tried to commit a cursor that does not move forward.
    #[error("cursor for {producer} would move from sequence {stored} to {new}, not forward")]
    CursorNotAdvancing {
        /// The producer (origin region and feed).
        producer: String,
        /// The stored cursor's sequence.
        stored: u64,
        /// The new cursor's sequence.
        new: u64,
    },
    /// An import source's state changed since it was read (another writer of the stream).
    #[error("the import state of {stream} changed since it was read")]
    ImportStateMoved {
        /// The source's stream name.
        stream: String,
    },
    /// A received batch does not continue its origin's history: a gap, or a fork (its previous
    /// id is not the id of the batch the cursor holds).
    #[error("batch {got} of {producer} does not follow the held sequence {held}")]
    NotNext {
        /// The producer (origin region and feed).
        producer: String,
        /// The sequence the cursor holds.
        held: u64,
        /// The received batch's sequence.
        got: u64,
    },
}

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
