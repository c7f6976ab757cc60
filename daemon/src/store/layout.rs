//! Column family names and the byte layout of every key (see the table in `store`'s doc).
//!
//! This module only builds and splits keys; it never touches the database.

use super::error::{Result, StoreError};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::RegionId;

use super::types::Arrival;

/// Keys uploaded to this backend.
pub(super) const LOCAL: &str = "local";
/// Keys received from other backends.
pub(super) const REMOTE: &str = "remote";
/// Per-upload records (visited regions): local only.
pub(super) const UPLOADS: &str = "uploads";
/// Hashed one-time upload codes.
pub(super) const CODES: &str = "codes";
/// Signed batches by feed and sequence.
pub(super) const BATCHES: &str = "batches";
/// Consumer cursors per producer.
pub(super) const CURSORS: &str = "cursors";
/// Schema version and counters.
pub(super) const META: &str = "meta";
/// The replication log (entries, subtree hashes, checkpoint; see `audit`).
pub(super) const AUDIT: &str = "audit";

/// Signed GAEN export zips by window (see `exports`).
pub(super) const EXPORTS: &str = "exports";

/// Every column family, in creation order.
pub(super) const ALL_CFS: [&str; 9] = [
    LOCAL, REMOTE, UPLOADS, CODES, BATCHES, CURSORS, META, AUDIT, EXPORTS,
];

/// `meta` key of the schema version (u32 BE).
pub(super) const META_SCHEMA: &[u8] = b"schema_version";
/// `meta` key of the arrival clock: next seq u64 BE ‖ arrival floor u64 BE.
pub(super) const META_CLOCK: &[u8] = b"arrival_clock";
/// `meta` key of the batcher's position: an [`Arrival`] key.
pub(super) const META_BATCHER: &[u8] = b"batcher_position";
/// Prefix of the stream names of batches received from other backends (see [`Stream::Relay`]).
pub(super) const RELAY_PREFIX: &str = "relay/";
/// `meta` key prefix of a feed head: prefix ‖ feed → sequence u64 BE ‖ batch id (32 bytes).
pub(super) const META_FEED_HEAD: &[u8] = b"feed_head\0";

/// The first byte of every value: the record encoding version.
pub(super) const RECORD_V1: u8 = 1;

/// Hex text of a key, for error messages.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A corrupt-record error.
pub(super) fn corrupt(cf: &'static str, key: &[u8], reason: &'static str) -> StoreError {
    StoreError::Corrupt {
        cf,
        key: hex(key),
        reason,
    }
}

/// Reads a big-endian u64 at `at`, if the slice is long enough.
pub(super) fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    bytes
        .get(at..end)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

impl Arrival {
    /// `unix_secs BE ‖ seq BE`.
    pub(super) fn to_key(self) -> [u8; 16] {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.unix_secs.to_be_bytes());
        key[8..].copy_from_slice(&self.seq.to_be_bytes());
        key
    }

    /// Splits the first 16 bytes of a key (the rest, if any, is ignored).
    pub(super) fn from_key(cf: &'static str, key: &[u8]) -> Result<Self> {
        match (be_u64(key, 0), be_u64(key, 8)) {
            (Some(unix_secs), Some(seq)) => Ok(Self { unix_secs, seq }),
            _ => Err(corrupt(cf, key, "key shorter than 16 bytes")),
        }
    }

    /// The smallest key of everything that arrived at or after `unix_secs`.
    pub(super) fn time_bound(unix_secs: u64) -> [u8; 16] {
        Self { unix_secs, seq: 0 }.to_key()
    }

    /// The smallest key strictly after this one.
    pub(super) fn successor_key(self) -> Vec<u8> {
        // The key itself followed by one zero byte sorts right after it.
        let mut key = self.to_key().to_vec();
        key.push(0);
        key
    }
}

/// A stream of batches in `batches`: a feed this node cuts, or an origin's feed as received.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stream<'a> {
    /// One of this node's own feeds, named by the feed (`a2a/…`, `partial/…`).
    Own(&'a Feed),
    /// The batches of `origin`'s `feed` as received from another backend:
    /// `relay/<origin>/<feed>`. Own feeds never start with `relay/`, so the two never meet.
    Relay {
        /// The origin region.
        origin: &'a RegionId,
        /// The origin's feed.
        feed: &'a Feed,
    },
}

impl Stream<'_> {
    /// The stream's name, the prefix of its batch keys.
    pub(super) fn name(self) -> Vec<u8> {
        match self {
            Self::Own(feed) => feed.to_string().into_bytes(),
            Self::Relay { origin, feed } => format!("{RELAY_PREFIX}{origin}/{feed}").into_bytes(),
        }
    }
}

/// `text ‖ 0 ‖ sequence BE` for the batch stream named `text` (a feed, or a relay stream).
pub(super) fn sequence_key(text: &[u8], sequence: u64) -> Vec<u8> {
    let mut key = text.to_vec();
    key.push(0);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// Splits a `batches` key into feed text and sequence.
pub(super) fn split_batch_key(key: &[u8]) -> Result<(&[u8], u64)> {
    let bad = || corrupt(BATCHES, key, "batch key is not feed ‖ 0 ‖ u64");
    let nul = key.iter().position(|b| *b == 0).ok_or_else(bad)?;
    if key.len() != nul + 9 {
        return Err(bad());
    }
    let sequence = be_u64(key, nul + 1).ok_or_else(bad)?;
    Ok((&key[..nul], sequence))
}

/// The first key after every batch of the feed whose text is `feed` (`feed ‖ 1`).
pub(super) fn after_feed(feed: &[u8]) -> Vec<u8> {
    let mut key = feed.to_vec();
    key.push(1);
    key
}

/// `origin ‖ 0 ‖ feed`: a consumer cursor's key.
pub(super) fn cursor_key(origin: &RegionId, feed: &Feed) -> Vec<u8> {
    let mut key = origin.to_string().into_bytes();
    key.push(0);
    key.extend_from_slice(feed.to_string().as_bytes());
    key
}

/// `feed_head\0 ‖ feed` in `meta`.
pub(super) fn feed_head_key(feed: &Feed) -> Vec<u8> {
    let mut key = META_FEED_HEAD.to_vec();
    key.extend_from_slice(feed.to_string().as_bytes());
    key
}
