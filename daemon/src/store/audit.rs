//! The replication log's storage in the `audit` column family: entries, the hashes of the
//! Merkle tree's perfect subtrees, and the latest signed checkpoint.
//!
//! | key                                 | value                                          |
//! |-------------------------------------|------------------------------------------------|
//! | `e` ‖ index u64 BE                  | the serialized `AuditEntry` (exactly as served) |
//! | `h` ‖ level u8 ‖ index u64 BE       | hash of the perfect subtree of 2^level leaves, level ≥ [`STORED_FROM_LEVEL`] (smaller ones are computed from their entries) |
//! | `c`                                 | the latest signed checkpoint and signer chain  |
//! | `w` ‖ origin                        | the latest checkpoint witnessed of that log    |
//! | `f` ‖ origin ‖ 0 ‖ SHA-256(new note)| `ForkEvidence`: two checkpoints no proof joins |
//!
//! Every event that writes elsewhere appends its entries through [`Store::write_audited`], in
//! the same atomic `WriteBatch` as the event, so a crash keeps both or neither. The in-memory
//! [`Frontier`] (at most 64 hashes) is rebuilt from `h` on open and advanced only after a
//! successful write, under its own mutex, so two writers never take the same index. Entries and
//! hashes are never overwritten or deleted (retention does not touch this family: it holds
//! digests and counts, no personal data).

use enmesh_proto::v1::{CheckpointResponse, ForkEvidence};
use enmesh_protocol::merkle::subtrees::{self, Completed, Frontier, Subtrees};
use enmesh_protocol::merkle::{Hash, LeafIndex, MerkleError, TreeSize};
use prost::Message;
use rocksdb::WriteBatch;
use std::sync::{MutexGuard, PoisonError};

use super::Store;
use super::error::{Result, StoreError};
use super::layout::{AUDIT, be_u64, corrupt};
use crate::audit::Entry;

const ENTRY: u8 = b'e';
const HASH: u8 = b'h';
const CHECKPOINT: &[u8] = b"c";
const WITNESSED: u8 = b'w';
const FORK: u8 = b'f';

fn witnessed_key(origin: &str) -> Vec<u8> {
    let mut key = vec![WITNESSED];
    key.extend_from_slice(origin.as_bytes());
    key
}

/// Whether an append waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Synced to the disk before the append returns (every event that writes).
    Synced,
    /// In the WAL, synced by the next synced write or [`Store::sync_wal`].
    Buffered,
}

/// Subtree hashes are stored from this level up (subtrees of 128 leaves and more); smaller ones
/// are computed from their entries when a proof needs them, so the log stores about one hash
/// per 128 entries instead of one per entry.
pub const STORED_FROM_LEVEL: u32 = 7;

/// The most fork evidences kept of one witnessed log.
pub const MAX_FORKS_PER_LOG: usize = 16;

/// The most entries one [`Store::audit_entries`] call returns.
pub const MAX_ENTRIES_PER_READ: u64 = 1_000;

fn entry_key(index: u64) -> [u8; 9] {
    let mut key = [ENTRY; 9];
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn hash_key(level: u32, index: u64) -> [u8; 10] {
    let mut key = [HASH; 10];
    key[1] = u8::try_from(level).unwrap_or(u8::MAX);
    key[2..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Why an auditor's read of the log cannot be answered: the request, not the store, is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditReadError {
    /// A proof asked about a tree or leaf this log does not have.
    #[error(transparent)]
    Proof(#[from] MerkleError),
    /// A range of entries past the log's end or backwards.
    #[error("entries [{start}, {end}) are not within the log of {size}")]
    Range {
        /// First index asked for.
        start: u64,
        /// End asked for.
        end: u64,
        /// The log's size.
        size: u64,
    },
}

/// A failed proof: the store broke, or the request was wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuditProofError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request was wrong.
    #[error(transparent)]
    Request(#[from] AuditReadError),
}

impl From<MerkleError> for AuditProofError {
    fn from(error: MerkleError) -> Self {
        Self::Request(AuditReadError::Proof(error))
    }
}

/// The stored subtree hashes, read through the store.
struct Stored<'s>(&'s Store);

impl Subtrees for Stored<'_> {
    type Error = AuditProofError;

    fn subtree(&self, level: u32, index: u64) -> Result<Hash, AuditProofError> {
        Ok(self.0.subtree_hash(level, index)?)
    }
}

impl Store {
    /// Reads the frontier of the stored log (on open).
    pub(super) fn read_frontier(&self) -> Result<Frontier> {
        let cf = self.cf(AUDIT)?;
        let mut iter = self.db.raw_iterator_cf(cf);
        iter.seek_for_prev(entry_key(u64::MAX));
        let size = match iter.key() {
            Some(key) if key.first() == Some(&ENTRY) => be_u64(key, 1)
                .map(|last| last + 1)
                .ok_or_else(|| corrupt(AUDIT, key, "short entry key"))?,
            _ => 0,
        };
        iter.status()?;
        let edge = Frontier::edge_of(TreeSize(size))
            .into_iter()
            .map(|(level, index)| self.subtree_hash(level, index))
            .collect::<Result<Vec<_>>>()?;
        Frontier::from_edge(TreeSize(size), edge)
            .map_err(|_| corrupt(AUDIT, CHECKPOINT, "frontier does not match the log size"))
    }

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash> {
        if level < STORED_FROM_LEVEL {
            return self.computed_subtree(level, index);
        }
        let key = hash_key(level, index);
        let value = self
            .db
            .get_pinned_cf(self.cf(AUDIT)?, key)?
            .ok_or_else(|| corrupt(AUDIT, &key, "subtree hash missing"))?;
        <[u8; 32]>::try_from(&value[..])
            .map(Hash)
            .map_err(|_| corrupt(AUDIT, &key, "subtree hash is not 32 bytes"))
    }

    /// The hash of a subtree below [`STORED_FROM_LEVEL`], computed from its (at most 64)
    /// entries.
    fn computed_subtree(&self, level: u32, index: u64) -> Result<Hash> {
        let (start, len) = (index << level, 1u64 << level);
        let mut iter = self.range(
            AUDIT,
            entry_key(start).to_vec(),
            Some(entry_key(start + len).to_vec()),
        )?;
        let mut leaves = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        while let Some(value) = iter.value() {
            leaves.push(enmesh_protocol::merkle::leaf_hash(value));
            iter.next();
        }
        iter.status()?;
        if leaves.len() as u64 != len {
            return Err(corrupt(
                AUDIT,
                &entry_key(start),
                "entries of a subtree missing",
            ));
        }
        Ok(enmesh_protocol::merkle::root(&leaves))
    }

    fn frontier(&self) -> MutexGuard<'_, Frontier> {
        self.audit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `write` with `entries` appended to the log, in one atomic write. Returns the
    /// index of the first entry.
    pub(super) fn write_audited(&self, write: WriteBatch, entries: &[Entry]) -> Result<u64> {
        self.append(write, entries, Durability::Synced)
    }

    fn append(
        &self,
        mut write: WriteBatch,
        entries: &[Entry],
        durability: Durability,
    ) -> Result<u64> {
        let mut frontier = self.frontier();
        let first = frontier.size().0;
        let mut next = frontier.clone();
        let cf = self.cf(AUDIT)?;
        let mut completed: Vec<Completed> = Vec::new();
        for entry in entries {
            let leaf = entry.leaf_hash();
            let LeafIndex(index) = next.push(leaf, &mut completed);
            write.put_cf(cf, entry_key(index), entry.as_bytes());
            for done in completed.drain(..) {
                if done.level >= STORED_FROM_LEVEL {
                    write.put_cf(cf, hash_key(done.level, done.index), done.hash.0);
                }
            }
        }
        match durability {
            Durability::Synced => self.write(write)?,
            Durability::Buffered => self.write_buffered(write)?,
        }
        *frontier = next;
        Ok(first)
    }

    /// Appends entries of events that write nothing else (a peer checked, a CRL applied).
    pub fn record(&self, entries: &[Entry]) -> Result<u64> {
        self.write_audited(WriteBatch::default(), entries)
    }

    /// Appends entries of batches served, without waiting for the disk: serving writes
    /// nothing a crash could undo, and the entries sit on the hot path of every stream. A
    /// process crash keeps them; a power cut may lose the ones no checkpoint covers yet — the
    /// checkpointer syncs the WAL before it signs ([`Store::sync_wal`]), so a signed checkpoint
    /// never covers an entry that could be lost.
    pub fn record_served(&self, entries: &[Entry]) -> Result<u64> {
        self.append(WriteBatch::default(), entries, Durability::Buffered)
    }

    /// The log's size and root now.
    pub fn audit_head(&self) -> (TreeSize, Hash) {
        let frontier = self.frontier();
        (frontier.size(), frontier.root())
    }

    /// Entries `[start, end)` (at most [`MAX_ENTRIES_PER_READ`] of them), as stored.
    pub fn audit_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<std::result::Result<Vec<Vec<u8>>, AuditReadError>> {
        let size = self.audit_head().0.0;
        if start > end || end > size {
            return Ok(Err(AuditReadError::Range { start, end, size }));
        }
        let end = end.min(start.saturating_add(MAX_ENTRIES_PER_READ));
        let mut iter = self.range(
            AUDIT,
            entry_key(start).to_vec(),
            Some(entry_key(end).to_vec()),
        )?;
        let mut out = Vec::new();
        while let Some(value) = iter.value() {
            out.push(value.to_vec());
            iter.next();
        }
        iter.status()?;
        Ok(Ok(out))
    }

    /// The root of the log when it had `size` entries.
    pub fn audit_root(&self, size: TreeSize) -> Result<Hash, AuditProofError> {
        self.check_size(size)?;
        subtrees::root(&Stored(self), size)
    }

    /// The RFC 9162 inclusion proof of entry `index` in the tree of `size` entries.
    pub fn audit_inclusion_proof(
        &self,
        index: LeafIndex,
        size: TreeSize,
    ) -> Result<Vec<Hash>, AuditProofError> {
        self.check_size(size)?;
        subtrees::inclusion_proof(&Stored(self), index, size)
    }

    /// The RFC 9162 consistency proof from the tree of `first` entries to that of `second`.
    pub fn audit_consistency_proof(
        &self,
        first: TreeSize,
        second: TreeSize,
    ) -> Result<Vec<Hash>, AuditProofError> {
        self.check_size(second)?;
        subtrees::consistency_proof(&Stored(self), first, second)
    }

    fn check_size(&self, size: TreeSize) -> Result<(), AuditProofError> {
        let have = self.audit_head().0;
        if size > have {
            return Err(MerkleError::SizeBeyondLeaves {
                size: size.0,
                available: have.0,
            }
            .into());
        }
        Ok(())
    }

    /// Keeps `checkpoint` (its signed note and the chain of the key that signed it) as the
    /// latest.
    pub fn put_checkpoint(&self, checkpoint: &CheckpointResponse) -> Result<()> {
        let mut write = WriteBatch::default();
        write.put_cf(self.cf(AUDIT)?, CHECKPOINT, checkpoint.encode_to_vec());
        self.write(write)
    }

    /// The latest signed checkpoint (`None`: none cut yet).
    pub fn checkpoint(&self) -> Result<Option<CheckpointResponse>> {
        self.db
            .get_pinned_cf(self.cf(AUDIT)?, CHECKPOINT)?
            .map(|value| {
                CheckpointResponse::decode(&value[..])
                    .map_err(|_| corrupt(AUDIT, CHECKPOINT, "checkpoint does not decode"))
            })
            .transpose()
    }

    /// The latest checkpoint of log `origin` this node witnessed (`None`: none yet).
    pub fn witnessed(&self, origin: &str) -> Result<Option<CheckpointResponse>> {
        let key = witnessed_key(origin);
        self.db
            .get_pinned_cf(self.cf(AUDIT)?, &key)?
            .map(|value| {
                CheckpointResponse::decode(&value[..])
                    .map_err(|_| corrupt(AUDIT, &key, "witnessed checkpoint does not decode"))
            })
            .transpose()
    }

    /// Keeps `checkpoint` as the latest witnessed of log `origin`.
    pub fn put_witnessed(&self, origin: &str, checkpoint: &CheckpointResponse) -> Result<()> {
        let mut write = WriteBatch::default();
        write.put_cf(
            self.cf(AUDIT)?,
            witnessed_key(origin),
            checkpoint.encode_to_vec(),
        );
        self.write(write)
    }

    /// Keeps the evidence of a fork of log `origin` with its `ForkDetected` entry, in one
    /// write. `false` (nothing written): this new checkpoint's fork was kept before, or
    /// [`MAX_FORKS_PER_LOG`] are kept of that log already (a forked node signing a new
    /// checkpoint every period must not fill the witness's disk).
    pub fn put_fork(
        &self,
        origin: &str,
        evidence: &ForkEvidence,
        new_note_sha256: &[u8; 32],
        entry: &Entry,
    ) -> Result<bool> {
        let mut prefix = vec![FORK];
        prefix.extend_from_slice(origin.as_bytes());
        prefix.push(0);
        let mut key = prefix.clone();
        key.extend_from_slice(new_note_sha256);
        let cf = self.cf(AUDIT)?;
        if self.db.get_pinned_cf(cf, &key)?.is_some() {
            return Ok(false);
        }
        // `f` ‖ origin ‖ 1 bounds every `f` ‖ origin ‖ 0 ‖ digest.
        let mut upper = prefix.clone();
        upper.pop();
        upper.push(1);
        let mut iter = self.range(AUDIT, prefix, Some(upper))?;
        let mut kept = 0;
        while iter.valid() && kept < MAX_FORKS_PER_LOG {
            kept += 1;
            iter.next();
        }
        iter.status()?;
        if kept >= MAX_FORKS_PER_LOG {
            return Ok(false);
        }
        let mut write = WriteBatch::default();
        write.put_cf(cf, key, evidence.encode_to_vec());
        self.write_audited(write, std::slice::from_ref(entry))?;
        Ok(true)
    }

    /// Every fork evidence kept, of every witnessed log.
    pub fn forks(&self) -> Result<Vec<ForkEvidence>> {
        let mut iter = self.range(AUDIT, vec![FORK], Some(vec![FORK + 1]))?;
        let mut out = Vec::new();
        while let Some((key, value)) = iter.item() {
            out.push(
                ForkEvidence::decode(value)
                    .map_err(|_| corrupt(AUDIT, key, "fork evidence does not decode"))?,
            );
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }
}
