//! The daemon's embedded storage: one RocksDB directory with a column family per kind of data.
//!
//! | CF        | key                                   | value (`0x01` ‖ prost message)                 |
//! |-----------|---------------------------------------|------------------------------------------------|
//! | `local`   | arrival secs u64 BE ‖ seq u64 BE      | wire key, seq of its upload record             |
//! | `remote`  | arrival secs u64 BE ‖ seq u64 BE      | wire key, origin region text                   |
//! | `uploads` | arrival secs u64 BE ‖ seq u64 BE      | visited regions, key count, code hash, upload id |
//! | `codes`   | SHA-256 of the code (32 bytes)        | expiry; once used: upload id, arrival, count   |
//! | `batches` | feed text ‖ 0 ‖ sequence u64 BE       | `SignedBatch`, created secs                    |
//! | `cursors` | origin region text ‖ 0 ‖ feed text    | last sequence, last batch id, next poll secs   |
//! | `meta`    | `schema_version`                      | u32 BE                                         |
//! |           | `arrival_clock`                       | next seq u64 BE ‖ arrival floor secs u64 BE    |
//! |           | `batcher_position`                    | arrival secs u64 BE ‖ seq u64 BE               |
//! |           | `feed_head` 0 feed text               | sequence u64 BE ‖ batch id (32 bytes)          |
//! | `audit`   | `e`/`h` ‖ index, `c` (see `audit`)    | log entries, subtree hashes, latest checkpoint |
//! | `exports` | `i`/`z` ‖ window start ‖ file number  | GAEN export zips and their index (see `exports`) |
//!
//! Arrival time comes first in `local`, `remote` and `uploads`, so retention is one range delete
//! per column family. `seq` is one counter shared by local keys, remote keys and upload records;
//! it is persisted in `meta` in the same write batch as the records that use it, so the order is
//! total and continues across restarts. Arrival times never go backwards (a clock step back is
//! clamped to the latest arrival), so a reader's position is never overtaken by a later write.
//! Batches of one feed are keyed by sequence and sequences grow with time, so old batches are a
//! prefix of each feed. A feed's head (latest sequence and id) lives in `meta` so it survives
//! retention of the batch itself and the feed never restarts at 1.
//!
//! Durability: every write is one atomic `WriteBatch` with the WAL on and `sync = true`
//! (fsync before the call returns). The WAL alone already survives `kill -9` (RocksDB hands the
//! record to the OS before returning); fsync adds power loss. We pay it everywhere because every
//! write acknowledges something to someone else: an upload to a phone that then forgets its keys,
//! a batch that consumers may fetch at once (losing it would fork the feed's history when the
//! batcher cuts a different batch with the same sequence), a cursor to a producer. Writes are
//! few (an upload, a batch, a remote commit each cost one fsync, not one per key).
//!
//! Every write that moves, stores or deletes a batch, builds an export or sweeps retention
//! carries its replication-log entry (`crate::audit`) in the same `WriteBatch`
//! (`audit::write_audited`), so the log and the data cannot disagree after a crash.
//!
//! Read-check-write operations (upload commits, batch appends, remote commits) run under one
//! mutex, so two uploads with the same code cannot both succeed.
//!
//! This module never returns an upload's visited regions except through
//! [`Store::local_keys_after`] (the batcher's read), never puts them in a batch, and never
//! stores an upload code in clear.

mod audit;
mod efgs;
mod error;
mod exports;
mod layout;
mod record;
mod types;
mod uploads;

use crate::wire::key_to_wire;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use enmesh_proto::v1::{BatchBody, SignedBatch};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::merkle::subtrees::Frontier;
use enmesh_protocol::region::RegionId;
use prost::Message;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, DBRawIterator, Options,
    ReadOptions, WriteBatch, WriteOptions,
};

pub use audit::{AuditProofError, AuditReadError, MAX_ENTRIES_PER_READ, MAX_FORKS_PER_LOG};
pub use efgs::{MemberGroup, RemoteEntry, efgs_key_code, efgs_tag_code};
pub use error::{NotTaken, Outcome, Result, StoreError, UploadRefusal};
pub use exports::ExportFileId;
pub use types::{
    Arrival, BatchId, CodeHash, Cursor, FeedHead, KeySource, LocalEntry, PublicEntry, PurgeCounts,
    StoreStats, StoredBatch, UploadId, UploadOutcome, WindowPage,
};
pub use uploads::{Committed, UploadCommit};

use crate::audit::{self as audit_log, Sender};
use crate::replicate::received::ReceivedBatch;
use layout::{
    ALL_CFS, BATCHES, CODES, CURSORS, LOCAL, META, META_BATCHER, META_CLOCK, META_SCHEMA, REMOTE,
    Stream, UPLOADS, be_u64, corrupt,
};
use record::{
    BatchRecord, CodeRecord, CursorRecord, LocalKeyRecord, RemoteKeyRecord, UploadRecord, decode,
    encode, from_wire, id32,
};

/// `meta` key of an import source's state: `import_state\0 ‖ stream`.
fn import_state_key(stream: &str) -> Vec<u8> {
    let mut key = b"import_state\0".to_vec();
    key.extend_from_slice(stream.as_bytes());
    key
}

/// A batch this node cut, for [`Store::append_batches`]: the signed batch and how many of its
/// keys are padding (the log records both counts).
#[derive(Debug, Clone)]
pub struct OwnBatch {
    /// The signed batch.
    pub signed: SignedBatch,
    /// How many of its keys are padding.
    pub padding: u32,
}

/// The newest schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The open store. Share it (`Arc<Store>`); every method takes `&self`.
pub struct Store {
    db: DB,
    write_options: WriteOptions,
    clock: Mutex<ArrivalClock>,
    /// The replication log's right edge (see `audit`).
    audit: Mutex<Frontier>,
}

/// The persisted arrival counter and time floor.
#[derive(Debug, Clone, Copy)]
struct ArrivalClock {
    next_seq: u64,
    floor_unix_secs: u64,
}

impl ArrivalClock {
    /// Arrival time and first seq for `n` records at `now`, and the clock after them.
    fn allocate(self, now: u64, n: usize) -> (u64, u64, Self) {
        let unix_secs = now.max(self.floor_unix_secs);
        let next = Self {
            next_seq: self.next_seq.saturating_add(n as u64),
            floor_unix_secs: unix_secs,
        };
        (unix_secs, self.next_seq, next)
    }

    /// `next_seq BE ‖ floor BE`.
    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_seq.to_be_bytes());
        out[8..].copy_from_slice(&self.floor_unix_secs.to_be_bytes());
        out
    }

    fn from_bytes(value: &[u8]) -> Result<Self> {
        match (value.len(), be_u64(value, 0), be_u64(value, 8)) {
            (16, Some(next_seq), Some(floor_unix_secs)) => Ok(Self {
                next_seq,
                floor_unix_secs,
            }),
            _ => Err(corrupt(META, META_CLOCK, "arrival clock is not 16 bytes")),
        }
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, creating missing column families.
    ///
    /// Fails with [`StoreError::SchemaTooNew`] if a newer enmesh wrote the directory.
    pub fn open(path: &Path) -> Result<Self> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(DBCompressionType::Lz4);
        // Open every existing column family too (RocksDB insists), so a directory from a newer
        // build with more of them still reaches the schema check below.
        let mut names: Vec<String> = ALL_CFS.iter().map(|n| (*n).to_owned()).collect();
        if let Ok(existing) = DB::list_cf(&options, path) {
            for name in existing {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let descriptors = names.into_iter().map(|name| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        let mut store = Self {
            db,
            write_options,
            clock: Mutex::new(ArrivalClock {
                next_seq: 0,
                floor_unix_secs: 0,
            }),
            audit: Mutex::new(Frontier::new()),
        };
        store.check_schema()?;
        let frontier = store.read_frontier()?;
        *store
            .audit
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = frontier;
        let clock = store.read_clock()?;
        *store
            .clock
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = clock;
        Ok(store)
    }

    /// Stores a new one-time upload code (by hash), valid while `now < expires_unix_secs`.
    pub fn put_code(&self, code: &CodeHash, expires_unix_secs: u64) -> Outcome<(), UploadRefusal> {
        let _guard = self.lock();
        let codes = self.cf(CODES)?;
        if self.db.get_pinned_cf(codes, code.0)?.is_some() {
            return Ok(Err(UploadRefusal::CodeExists));
        }
        let mut batch = WriteBatch::default();
        let record = CodeRecord {
            expires_unix_secs,
            used: None,
        };
        batch.put_cf(codes, code.0, encode(&record));
        self.write(batch).map(Ok)
    }

    /// Commits an upload in one atomic write: marks the code used, stores the keys in `local` and
    /// the upload record (with `visited`) in `uploads`.
    ///
    /// An unknown, expired or already used code is refused and writes nothing. If the code was
    /// used by an upload with the same `upload_id`, this is a retry: the earlier outcome is
    /// returned and nothing is written.
    pub fn commit_upload(
        &self,
        code: &CodeHash,
        upload_id: &UploadId,
        keys: &[DiagnosisKey],
        visited: &[RegionId],
        now: u64,
    ) -> Outcome<UploadOutcome, UploadRefusal> {
        let commit = UploadCommit {
            code: *code,
            upload_id: *upload_id,
            keys,
            visited,
            now,
        };
        let mut results = self.commit_uploads(std::slice::from_ref(&commit))?;
        // `commit_uploads` answers every upload it is given, so there is exactly one result.
        Ok(results
            .pop()
            .unwrap_or(Err(UploadRefusal::CodeUnknown))
            .map(|committed| committed.outcome()))
    }

    /// Up to `limit` local keys after `after` (from the start when `None`), in arrival order,
    /// each with its upload's visited regions. The batcher's read, and the only one that returns
    /// visited regions.
    pub fn local_keys_after(
        &self,
        after: Option<Arrival>,
        limit: usize,
    ) -> Result<Vec<LocalEntry>> {
        let lower = after.map_or_else(Vec::new, Arrival::successor_key);
        let mut iter = self.range(LOCAL, lower, None)?;
        let uploads = self.cf(UPLOADS)?;
        let mut visited_by_upload: HashMap<Arrival, Vec<RegionId>> = HashMap::new();
        let mut entries = Vec::new();
        while entries.len() < limit {
            let Some((db_key, value)) = iter.item() else {
                break;
            };
            let at = Arrival::from_key(LOCAL, db_key)?;
            let record: LocalKeyRecord = decode(LOCAL, db_key, value)?;
            let key = from_wire(LOCAL, db_key, record.key.as_ref())?;
            let upload_at = Arrival {
                unix_secs: at.unix_secs,
                seq: record.upload_seq,
            };
            let visited = match visited_by_upload.get(&upload_at) {
                Some(visited) => visited.clone(),
                None => {
                    let upload_key = upload_at.to_key();
                    let value = self
                        .db
                        .get_pinned_cf(uploads, upload_key)?
                        .ok_or_else(|| corrupt(LOCAL, db_key, "its upload record is missing"))?;
                    let upload: UploadRecord = decode(UPLOADS, &upload_key, &value)?;
                    let visited = upload
                        .visited_regions
                        .iter()
                        .map(|text| text.parse())
                        .collect::<Result<Vec<RegionId>, _>>()
                        .map_err(|_| corrupt(UPLOADS, &upload_key, "bad visited region"))?;
                    visited_by_upload.insert(upload_at, visited.clone());
                    visited
                }
            };
            entries.push(LocalEntry { at, key, visited });
            iter.next();
        }
        iter.status()?;
        Ok(entries)
    }

    /// The last local key the batcher has put into batches (`None`: nothing yet).
    pub fn batcher_position(&self) -> Result<Option<Arrival>> {
        self.db
            .get_pinned_cf(self.cf(META)?, META_BATCHER)?
            .map(|value| Arrival::from_key(META, &value))
            .transpose()
    }

    /// Appends batches (one or several feeds) and moves the batcher position, all in one atomic
    /// write, so a crash can neither lose keys between two feeds' batches nor batch them twice.
    ///
    /// Each body must decode, carry a valid feed id, the next sequence of its feed and the id of
    /// the feed's previous batch. `position: None` leaves the batcher position as it is. Each
    /// batch's cut is logged (`BatchCut`) in the same write.
    pub fn append_batches(
        &self,
        batches: &[OwnBatch],
        created_unix_secs: u64,
        position: Option<Arrival>,
    ) -> Result<Vec<(Feed, FeedHead)>> {
        let _guard = self.lock();
        let batches_cf = self.cf(BATCHES)?;
        let meta = self.cf(META)?;
        let mut heads: Vec<(Feed, FeedHead)> = Vec::new();
        let mut write = WriteBatch::default();
        let mut entries = Vec::with_capacity(batches.len());
        for OwnBatch { signed, padding } in batches {
            let body = BatchBody::decode(signed.body.as_slice())?;
            let feed: Feed = body.feed.parse()?;
            let head = match heads.iter().rev().find(|(f, _)| *f == feed) {
                Some((_, head)) => Some(*head),
                None => self.feed_head(&feed)?,
            };
            let expected = head.map_or(1, |h| h.sequence.saturating_add(1));
            if body.sequence != expected {
                return Err(StoreError::SequenceGap {
                    feed: feed.clone(),
                    expected,
                    got: body.sequence,
                });
            }
            let previous = head.as_ref().map_or(&[][..], |h| &h.batch_id.0[..]);
            if body.previous_batch_id.as_slice() != previous {
                return Err(StoreError::ChainBroken {
                    feed: feed.clone(),
                    sequence: body.sequence,
                });
            }
            let id = BatchId::of_body(&signed.body);
            let record = BatchRecord {
                signed: Some(signed.clone()),
                created_unix_secs,
            };
            write.put_cf(
                batches_cf,
                layout::sequence_key(&Stream::Own(&feed).name(), body.sequence),
                encode(&record),
            );
            let new_head = FeedHead {
                sequence: body.sequence,
                batch_id: id,
            };
            let at_millis = u64::try_from(body.created_unix_millis).unwrap_or_default();
            entries.push(audit_log::batch_cut(&body, &id, *padding, at_millis));
            let mut head_value = body.sequence.to_be_bytes().to_vec();
            head_value.extend_from_slice(&id.0);
            write.put_cf(meta, layout::feed_head_key(&feed), head_value);
            heads.push((feed, new_head));
        }
        if let Some(position) = position {
            write.put_cf(meta, META_BATCHER, position.to_key());
        }
        self.write_audited(write, &entries)?;
        Ok(heads)
    }

    /// The latest batch of `feed` (`None`: the feed has none yet).
    pub fn feed_head(&self, feed: &Feed) -> Result<Option<FeedHead>> {
        let key = layout::feed_head_key(feed);
        let Some(value) = self.db.get_pinned_cf(self.cf(META)?, &key)? else {
            return Ok(None);
        };
        let sequence = be_u64(&value, 0).ok_or_else(|| corrupt(META, &key, "short feed head"))?;
        let id = id32(META, &key, value.get(8..).unwrap_or_default())?;
        Ok(Some(FeedHead {
            sequence,
            batch_id: BatchId(id),
        }))
    }

    /// Up to `limit` batches of `feed` with sequence greater than `after_sequence`, in order.
    pub fn batches_after(
        &self,
        feed: &Feed,
        after_sequence: u64,
        limit: usize,
    ) -> Result<Vec<StoredBatch>> {
        self.stream_after(&Stream::Own(feed).name(), after_sequence, limit)
    }

    /// Up to `limit` batches received from `origin` on its `feed` (kept by
    /// [`Store::commit_received`]) with sequence greater than `after_sequence`, in order.
    pub fn received_batches_after(
        &self,
        origin: &RegionId,
        feed: &Feed,
        after_sequence: u64,
        limit: usize,
    ) -> Result<Vec<StoredBatch>> {
        let stream = Stream::Relay { origin, feed }.name();
        self.stream_after(&stream, after_sequence, limit)
    }

    /// Up to `limit` batches of the stream named `stream` after `after_sequence`.
    fn stream_after(
        &self,
        stream: &[u8],
        after_sequence: u64,
        limit: usize,
    ) -> Result<Vec<StoredBatch>> {
        let Some(first) = after_sequence.checked_add(1) else {
            return Ok(Vec::new());
        };
        let upper = layout::after_feed(stream);
        let mut iter = self.range(BATCHES, layout::sequence_key(stream, first), Some(upper))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((key, value)) = iter.item() else {
                break;
            };
            let (_, sequence) = layout::split_batch_key(key)?;
            let record: BatchRecord = decode(BATCHES, key, value)?;
            let signed = record
                .signed
                .ok_or_else(|| corrupt(BATCHES, key, "record has no batch"))?;
            out.push(StoredBatch {
                sequence,
                id: BatchId::of_body(&signed.body),
                signed,
                created_unix_secs: record.created_unix_secs,
            });
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }

    /// Stores a checked batch received from another backend in one atomic write: its keys in
    /// `remote`, the signed batch itself (so this node can serve it to others), and the cursor
    /// of (origin, feed) moved to it. A crash keeps all or nothing.
    ///
    /// The batch must continue the held history: with a cursor, `sequence` must be the next one
    /// and `previous` the held batch's id ([`NotTaken::NotNext`]); a sequence already held is
    /// [`NotTaken::AlreadyHeld`]. Without a cursor any sequence starts the history (a
    /// producer's retention may have deleted earlier batches). The batch's arrival from `from`
    /// is logged (`BatchStored`) in the same write.
    pub fn commit_received(
        &self,
        batch: &ReceivedBatch,
        from: &Sender,
        next_poll_unix_secs: u64,
        now: u64,
    ) -> Outcome<(), NotTaken> {
        let (origin, feed) = (batch.origin(), batch.feed());
        let mut clock = self.lock();
        if let Some(held) = self.cursor(origin, feed)? {
            if batch.sequence() <= held.last_sequence {
                return Ok(Err(NotTaken::AlreadyHeld {
                    origin: origin.clone(),
                    feed: feed.clone(),
                    stored: held.last_sequence,
                    new: batch.sequence(),
                }));
            }
            if batch.sequence() != held.last_sequence + 1
                || batch.previous() != Some(held.last_batch_id)
            {
                return Ok(Err(NotTaken::NotNext {
                    origin: origin.clone(),
                    feed: feed.clone(),
                    held: held.last_sequence,
                    got: batch.sequence(),
                }));
            }
        }
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, batch.keys().len());
        let mut write = WriteBatch::default();
        self.put_remote_keys(&mut write, origin, batch.keys(), unix_secs, first_seq)?;
        let record = BatchRecord {
            signed: Some(batch.signed().clone()),
            // Retention counts from when this node received it, never from a peer's clock.
            created_unix_secs: unix_secs,
        };
        write.put_cf(
            self.cf(BATCHES)?,
            layout::sequence_key(&Stream::Relay { origin, feed }.name(), batch.sequence()),
            encode(&record),
        );
        let cursor = Cursor {
            last_sequence: batch.sequence(),
            last_batch_id: batch.id(),
            next_poll_unix_secs,
        };
        self.put_cursor(&mut write, origin, feed, &cursor)?;
        write.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        let entry = audit_log::batch_stored(batch, from, now.saturating_mul(1000));
        self.write_audited(write, std::slice::from_ref(&entry))?;
        *clock = next_clock;
        Ok(Ok(()))
    }

    /// Stores keys received from `origin` on `feed` and the consumer's new cursor in one atomic
    /// write: a crash loses both or neither. The cursor must move forward.
    pub fn commit_remote(
        &self,
        origin: &RegionId,
        feed: &Feed,
        keys: &[DiagnosisKey],
        cursor: &Cursor,
        now: u64,
    ) -> Outcome<(), NotTaken> {
        let mut clock = self.lock();
        if let Some(stored) = self.cursor(origin, feed)?
            && cursor.last_sequence <= stored.last_sequence
        {
            return Ok(Err(NotTaken::AlreadyHeld {
                origin: origin.clone(),
                feed: feed.clone(),
                stored: stored.last_sequence,
                new: cursor.last_sequence,
            }));
        }
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, keys.len());
        let mut batch = WriteBatch::default();
        self.put_remote_keys(&mut batch, origin, keys, unix_secs, first_seq)?;
        self.put_cursor(&mut batch, origin, feed, cursor)?;
        batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        self.write(batch)?;
        *clock = next_clock;
        Ok(Ok(()))
    }

    /// Stores keys imported from `origin` by a non-enmesh source (a GAEN export index, a Google
    /// federation server) together with the source's new opaque `state` (its cursor: the last
    /// imported file name, a federation fetch state) in one atomic write, so a crash keeps both
    /// or neither. `stream` names the source (`gaen-export/<url>`, `google-federation/<url>`).
    /// `expect` must be the state held now (`None`: none yet), else nothing is written and
    /// [`StoreError::ImportStateMoved`] is returned: two writers of one stream cannot both win.
    pub fn commit_import(
        &self,
        origin: &RegionId,
        stream: &str,
        keys: &[DiagnosisKey],
        expect: Option<&[u8]>,
        state: &[u8],
        now: u64,
    ) -> Result<()> {
        let mut clock = self.lock();
        let held = self.import_state(stream)?;
        if held.as_deref() != expect {
            return Err(StoreError::ImportStateMoved {
                stream: stream.to_owned(),
            });
        }
        let (unix_secs, first_seq, next_clock) = clock.allocate(now, keys.len());
        let mut batch = WriteBatch::default();
        self.put_remote_keys(&mut batch, origin, keys, unix_secs, first_seq)?;
        batch.put_cf(self.cf(META)?, import_state_key(stream), state);
        batch.put_cf(self.cf(META)?, META_CLOCK, next_clock.to_bytes());
        self.write(batch)?;
        *clock = next_clock;
        Ok(())
    }

    /// The state last committed by [`Self::commit_import`] for `stream`.
    pub fn import_state(&self, stream: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(META)?, import_state_key(stream))?
            .map(|v| v.to_vec()))
    }

    /// Adds `keys` from `origin` to `write` in `remote`, at `unix_secs` from `first_seq` on.
    fn put_remote_keys(
        &self,
        write: &mut WriteBatch,
        origin: &RegionId,
        keys: &[DiagnosisKey],
        unix_secs: u64,
        first_seq: u64,
    ) -> Result<()> {
        let remote = self.cf(REMOTE)?;
        let origin_text = origin.to_string();
        for (seq, key) in (first_seq..).zip(keys) {
            let record = RemoteKeyRecord {
                key: Some(key_to_wire(key)),
                origin_region: origin_text.clone(),
            };
            write.put_cf(remote, Arrival { unix_secs, seq }.to_key(), encode(&record));
        }
        Ok(())
    }

    /// Adds the cursor of (`origin`, `feed`) to `write`.
    fn put_cursor(
        &self,
        write: &mut WriteBatch,
        origin: &RegionId,
        feed: &Feed,
        cursor: &Cursor,
    ) -> Result<()> {
        let record = CursorRecord {
            last_sequence: cursor.last_sequence,
            last_batch_id: cursor.last_batch_id.0.to_vec(),
            next_poll_unix_secs: cursor.next_poll_unix_secs,
        };
        write.put_cf(
            self.cf(CURSORS)?,
            layout::cursor_key(origin, feed),
            encode(&record),
        );
        Ok(())
    }

    /// The consumer's cursor for `origin`'s `feed` (`None`: never committed).
    pub fn cursor(&self, origin: &RegionId, feed: &Feed) -> Result<Option<Cursor>> {
        let key = layout::cursor_key(origin, feed);
        let Some(value) = self.db.get_pinned_cf(self.cf(CURSORS)?, &key)? else {
            return Ok(None);
        };
        let record: CursorRecord = decode(CURSORS, &key, &value)?;
        Ok(Some(Cursor {
            last_sequence: record.last_sequence,
            last_batch_id: BatchId(id32(CURSORS, &key, &record.last_batch_id)?),
            next_poll_unix_secs: record.next_poll_unix_secs,
        }))
    }

    /// One page of the public feed: local and remote keys that arrived in
    /// `[from_unix_secs, until_unix_secs)`, after `after`, in arrival order, at most `limit`
    /// (at least 1). Never returns upload records or visited regions.
    pub fn keys_arrived(
        &self,
        from_unix_secs: u64,
        until_unix_secs: u64,
        after: Option<Arrival>,
        limit: usize,
    ) -> Result<WindowPage> {
        let limit = limit.max(1);
        let start = Arrival::time_bound(from_unix_secs).to_vec();
        let lower = match after.map(Arrival::successor_key) {
            Some(next) if next > start => next,
            _ => start,
        };
        let upper = Arrival::time_bound(until_unix_secs).to_vec();
        if lower >= upper {
            return Ok(WindowPage {
                entries: Vec::new(),
                next: None,
            });
        }
        let mut local = self.range(LOCAL, lower.clone(), Some(upper.clone()))?;
        let mut remote = self.range(REMOTE, lower, Some(upper))?;
        let mut entries = Vec::new();
        while entries.len() < limit {
            let take_local = match (local.key(), remote.key()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(l), Some(r)) => l < r,
            };
            if take_local {
                if let Some((db_key, value)) = local.item() {
                    let record: LocalKeyRecord = decode(LOCAL, db_key, value)?;
                    entries.push(PublicEntry {
                        at: Arrival::from_key(LOCAL, db_key)?,
                        key: from_wire(LOCAL, db_key, record.key.as_ref())?,
                        source: KeySource::Local,
                    });
                }
                local.next();
            } else {
                if let Some((db_key, value)) = remote.item() {
                    let record: RemoteKeyRecord = decode(REMOTE, db_key, value)?;
                    let origin = record
                        .origin_region
                        .parse()
                        .map_err(|_| corrupt(REMOTE, db_key, "bad origin region"))?;
                    entries.push(PublicEntry {
                        at: Arrival::from_key(REMOTE, db_key)?,
                        key: from_wire(REMOTE, db_key, record.key.as_ref())?,
                        source: KeySource::Remote(origin),
                    });
                }
                remote.next();
            }
        }
        local.status()?;
        remote.status()?;
        let more = local.valid() || remote.valid();
        let next = if more {
            entries.last().map(|e| e.at)
        } else {
            None
        };
        Ok(WindowPage { entries, next })
    }

    /// Approximate key counts per column family and the arrival span of stored keys.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut approx_keys = Vec::with_capacity(ALL_CFS.len());
        for name in ALL_CFS {
            let count = self
                .db
                .property_int_value_cf(self.cf(name)?, rocksdb::properties::ESTIMATE_NUM_KEYS)?
                .unwrap_or(0);
            approx_keys.push((name, count));
        }
        let mut oldest: Option<u64> = None;
        let mut newest: Option<u64> = None;
        for name in [LOCAL, REMOTE] {
            let mut iter = self.db.raw_iterator_cf(self.cf(name)?);
            iter.seek_to_first();
            if let Some(key) = iter.key() {
                let t = Arrival::from_key(name, key)?.unix_secs;
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
            iter.seek_to_last();
            if let Some(key) = iter.key() {
                let t = Arrival::from_key(name, key)?.unix_secs;
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
            iter.status()?;
        }
        Ok(StoreStats {
            approx_keys,
            oldest_arrival_unix_secs: oldest,
            newest_arrival_unix_secs: newest,
        })
    }

    /// Deletes, in one atomic write, everything that arrived before `cutoff_unix_secs`: local
    /// and remote keys and upload records (range deletes), batches created before it (a range
    /// delete per feed), used codes whose upload arrived before it, and unused codes expired at
    /// `now`. Returns exact counts. Retention's primitive: it never deletes anything newer than
    /// the cutoff, nor cursors, feed heads or counters. It runs without the write lock: new
    /// writes arrive at or after the arrival floor, an expired unused code can no longer be
    /// used, and a used code never changes.
    pub(crate) fn purge(&self, cutoff_unix_secs: u64, now: u64) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let mut write = WriteBatch::default();
        let bound = Arrival::time_bound(cutoff_unix_secs).to_vec();
        for (name, count) in [
            (LOCAL, &mut counts.local),
            (REMOTE, &mut counts.remote),
            (UPLOADS, &mut counts.uploads),
        ] {
            let mut iter = self.range(name, Vec::new(), Some(bound.clone()))?;
            while iter.valid() {
                *count += 1;
                iter.next();
            }
            iter.status()?;
            if *count > 0 {
                write.delete_range_cf(self.cf(name)?, &[][..], bound.as_slice());
            }
        }

        let codes = self.cf(CODES)?;
        let mut iter = self.range(CODES, Vec::new(), None)?;
        while let Some((key, value)) = iter.item() {
            let record: CodeRecord = decode(CODES, key, value)?;
            let gone = match &record.used {
                Some(used) => used.arrival_unix_secs < cutoff_unix_secs,
                None => now >= record.expires_unix_secs,
            };
            if gone {
                write.delete_cf(codes, key);
                counts.codes += 1;
            }
            iter.next();
        }
        iter.status()?;

        let batches = self.cf(BATCHES)?;
        let mut iter = self.range(BATCHES, Vec::new(), None)?;
        while let Some(key) = iter.key() {
            let feed = layout::split_batch_key(key)?.0.to_vec();
            let mut prefix = feed.clone();
            prefix.push(0);
            let mut old = 0u64;
            let mut first_kept = None;
            while let Some((key, value)) = iter.item() {
                if layout::split_batch_key(key)?.0 != feed.as_slice() {
                    break;
                }
                let record: BatchRecord = decode(BATCHES, key, value)?;
                if record.created_unix_secs >= cutoff_unix_secs {
                    first_kept = Some(key.to_vec());
                    break;
                }
                old += 1;
                iter.next();
            }
            let after_feed = layout::after_feed(&feed);
            if old > 0 {
                let end = first_kept.unwrap_or_else(|| after_feed.clone());
                write.delete_range_cf(batches, prefix, end);
                counts.batches += old;
            }
            iter.seek(&after_feed);
        }
        iter.status()?;

        if !write.is_empty() {
            let entry = audit_log::retention_swept(
                cutoff_unix_secs,
                &[
                    (LOCAL, counts.local),
                    (REMOTE, counts.remote),
                    (UPLOADS, counts.uploads),
                    (CODES, counts.codes),
                    (BATCHES, counts.batches),
                ],
                now.saturating_mul(1000),
            );
            self.write_audited(write, std::slice::from_ref(&entry))?;
        }
        Ok(counts)
    }

    /// The column family `name`.
    fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or(StoreError::MissingColumnFamily(name))
    }

    /// The lock that serialises read-check-write operations. A panic while it was held cannot
    /// leave the clock inconsistent (it is updated only after a successful write), so poisoning
    /// is ignored.
    fn lock(&self) -> MutexGuard<'_, ArrivalClock> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        Ok(self.db.write_opt(batch, &self.write_options)?)
    }

    /// Writes `batch` to the WAL without waiting for the disk: a process crash keeps it (the
    /// operating system holds it), a power cut may lose it unless a synced write or
    /// [`Store::sync_wal`] followed. Only for records whose loss undoes nothing else.
    fn write_buffered(&self, batch: WriteBatch) -> Result<()> {
        Ok(self.db.write_opt(batch, &WriteOptions::default())?)
    }

    /// Waits until every write so far is on the disk.
    pub fn sync_wal(&self) -> Result<()> {
        Ok(self.db.flush_wal(true)?)
    }

    /// A raw iterator over `[lower, upper)` of column family `name`, positioned at `lower`.
    fn range(
        &self,
        name: &'static str,
        lower: Vec<u8>,
        upper: Option<Vec<u8>>,
    ) -> Result<DBRawIterator<'_>> {
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(lower.clone());
        if let Some(upper) = upper {
            options.set_iterate_upper_bound(upper);
        }
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(name)?, options);
        iter.seek(lower);
        Ok(iter)
    }

    /// Writes the schema version into a new store, refuses a newer one.
    fn check_schema(&self) -> Result<()> {
        let meta = self.cf(META)?;
        match self.db.get_pinned_cf(meta, META_SCHEMA)? {
            Some(value) => {
                let found = <[u8; 4]>::try_from(&value[..])
                    .map(u32::from_be_bytes)
                    .map_err(|_| corrupt(META, META_SCHEMA, "schema version is not 4 bytes"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, META_SCHEMA, SCHEMA_VERSION.to_be_bytes());
                self.write(batch)
            }
        }
    }

    fn read_clock(&self) -> Result<ArrivalClock> {
        match self.db.get_pinned_cf(self.cf(META)?, META_CLOCK)? {
            Some(value) => ArrivalClock::from_bytes(&value),
            None => Ok(ArrivalClock {
                next_seq: 1,
                floor_unix_secs: 0,
            }),
        }
    }
}
