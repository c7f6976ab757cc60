//! The typed values the store takes and returns.
//!
//! None of these types carries a user's visited regions except [`LocalEntry`], which only the
//! batcher's read ([`super::Store::local_keys_after`]) produces.

use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;
use sha2::{Digest, Sha256};

/// Where a key sits in arrival order: the arrival time, then a store-wide counter that makes the
/// order total (local and remote keys share it; it never repeats, also across restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arrival {
    /// Arrival time, unix seconds (never earlier than any earlier arrival).
    pub unix_secs: u64,
    /// The counter.
    pub seq: u64,
}

/// SHA-256 of a one-time upload code: the store never sees the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// Hashes a code as the operator issued it.
    pub fn of(code: &str) -> Self {
        Self(Sha256::digest(code.as_bytes()).into())
    }
}

/// An upload's identity: a digest of its key set, so a retried upload has the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(pub [u8; 32]);

impl UploadId {
    /// SHA-256 over a domain tag and the keys in a canonical (sorted) order, so the id does not
    /// depend on the order the client sent them in.
    pub fn of_keys(keys: &[DiagnosisKey]) -> Self {
        let mut encoded: Vec<[u8; 30]> = keys.iter().map(canonical_key).collect();
        encoded.sort_unstable();
        let mut hasher = Sha256::new_with_prefix(b"enmesh.upload.v1\0");
        for key in &encoded {
            hasher.update(key);
        }
        Self(hasher.finalize().into())
    }
}

/// A fixed-width encoding of every field of a key.
fn canonical_key(key: &DiagnosisKey) -> [u8; 30] {
    let mut out = [0u8; 30];
    out[..16].copy_from_slice(&key.key.0);
    out[16..20].copy_from_slice(&key.rolling_start.0.to_be_bytes());
    out[20..24].copy_from_slice(&key.rolling_period.get().to_be_bytes());
    out[24] = key.transmission_risk.get();
    out[25] = u8::try_from(key.report_type.number()).unwrap_or(u8::MAX);
    match key.days_since_onset {
        Some(days) => {
            out[26] = 1;
            // Three bytes hold every valid value (|v| ≤ 4014).
            out[27..30].copy_from_slice(&days.get().to_be_bytes()[1..]);
        }
        None => out[26] = 0,
    }
    out
}

/// A batch's id: SHA-256 of its serialized body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchId(pub [u8; 32]);

impl BatchId {
    /// The id of the batch whose body is `body`.
    pub fn of_body(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }
}

/// What a committed upload stored; a retry of the same upload returns the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOutcome {
    /// The upload.
    pub upload_id: UploadId,
    /// When its keys arrived, unix seconds.
    pub arrival_unix_secs: u64,
    /// How many keys it stored.
    pub key_count: u32,
}

/// One local key as the batcher reads it, with the visited regions of its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// Its position (pass the last one back as the batcher position).
    pub at: Arrival,
    /// The key.
    pub key: DiagnosisKey,
    /// The regions its uploader visited: route it to their partial feeds, never put it in a batch.
    pub visited: Vec<RegionId>,
}

/// Where a key on the public feed came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Uploaded to this backend.
    Local,
    /// Received in a batch from this origin region.
    Remote(RegionId),
}

/// One key of the public (phone) feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicEntry {
    /// Its position in arrival order.
    pub at: Arrival,
    /// The key.
    pub key: DiagnosisKey,
    /// Local or from which origin.
    pub source: KeySource,
}

/// One page of a time-window read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPage {
    /// Keys in arrival order.
    pub entries: Vec<PublicEntry>,
    /// Pass this as `after` for the next page; `None` when the window is exhausted.
    pub next: Option<Arrival>,
}

/// The newest batch of a feed; kept in `meta`, so it survives retention of the batch itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedHead {
    /// Its sequence (the feed's latest).
    pub sequence: u64,
    /// Its id (the next batch's `previous_batch_id`).
    pub batch_id: BatchId,
}

/// A batch read back from `batches`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBatch {
    /// Its sequence in its feed.
    pub sequence: u64,
    /// SHA-256 of its body.
    pub id: BatchId,
    /// The batch as it travels.
    pub signed: SignedBatch,
    /// When the batcher cut it, unix seconds.
    pub created_unix_secs: u64,
}

/// A consumer's position in one producer's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last sequence whose keys are committed.
    pub last_sequence: u64,
    /// That batch's id (to detect a forked history).
    pub last_batch_id: BatchId,
    /// When to poll next, unix seconds.
    pub next_poll_unix_secs: u64,
}

/// Sizes for `enmesh admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Per column family: RocksDB's `estimate-num-keys` (approximate: it counts deletes and
    /// overwrites not yet compacted away).
    pub approx_keys: Vec<(&'static str, u64)>,
    /// The oldest arrival time among local and remote keys.
    pub oldest_arrival_unix_secs: Option<u64>,
    /// The newest arrival time among local and remote keys.
    pub newest_arrival_unix_secs: Option<u64>,
}

/// What one purge deleted, per column family (exact counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Local keys.
    pub local: u64,
    /// Remote keys.
    pub remote: u64,
    /// Upload records.
    pub uploads: u64,
    /// Upload codes.
    pub codes: u64,
    /// Batches.
    pub batches: u64,
}
