//! The store against a real RocksDB in a temporary directory: upload codes, retries, races,
//! reopen, batches with the batcher position, remote commits with cursors, window reads, and
//! refusal of newer schemas and corrupt records.

use enmesh_protocol::feed::Feed;
use std::sync::{Arc, Barrier};

use enmesh_daemon::audit;
use enmesh_daemon::retention::sweep;
use enmesh_daemon::store::NotTaken;
use enmesh_daemon::store::UploadRefusal;
use enmesh_daemon::store::{
    Arrival, BatchId, CodeHash, Cursor, KeySource, OwnBatch, SCHEMA_VERSION, Store, StoreError,
    UploadId,
};
use enmesh_daemon::store::{AuditProofError, AuditReadError, MAX_FORKS_PER_LOG};
use enmesh_proto::v1::{AuditEntry, BatchBody, SignedBatch, audit_entry};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::merkle::{self, Hash, LeafIndex, TreeSize};
use enmesh_protocol::region::RegionId;
use prost::Message;

const NOW: u64 = 1_700_000_000;
const LATER: u64 = NOW + 86_400;

fn key(n: u32) -> DiagnosisKey {
    let mut tek = [0x5a; 16];
    tek[..4].copy_from_slice(&n.to_be_bytes());
    DiagnosisKey {
        key: Tek(tek),
        rolling_start: IntervalNumber(2_833_000 + n),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::new(i64::from(n % 9)).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: DaysSinceOnset::known(i64::from(n % 15) - 7),
    }
}

fn keys(range: std::ops::Range<u32>) -> Vec<DiagnosisKey> {
    range.map(key).collect()
}

fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn code(store: &Store, text: &str, expires: u64) -> CodeHash {
    let hash = CodeHash::of(text);
    store.put_code(&hash, expires).unwrap().unwrap();
    hash
}

fn local_count(store: &Store) -> usize {
    store.local_keys_after(None, usize::MAX).unwrap().len()
}

fn all_public(store: &Store) -> Vec<enmesh_daemon::store::PublicEntry> {
    store
        .keys_arrived(0, u64::MAX, None, usize::MAX)
        .unwrap()
        .entries
}

/// `batches` as this node's own cuts without padding.
fn own(batches: &[SignedBatch]) -> Vec<OwnBatch> {
    batches
        .iter()
        .map(|signed| OwnBatch {
            signed: signed.clone(),
            padding: 0,
        })
        .collect()
}

fn batch(feed: &str, sequence: u64, previous: Option<BatchId>, k: &[DiagnosisKey]) -> SignedBatch {
    let body = BatchBody {
        origin_region: "DE".into(),
        feed: feed.into(),
        sequence,
        created_unix_millis: 0,
        keys: k
            .iter()
            .map(|k| enmesh_proto::v1::DiagnosisKey {
                key_data: k.key.0.to_vec(),
                ..Default::default()
            })
            .collect(),
        previous_batch_id: previous.map(|id| id.0.to_vec()).unwrap_or_default(),
    };
    SignedBatch {
        body: body.encode_to_vec(),
        signer_chain: vec![vec![1, 2, 3]],
        signature: vec![7; 64],
    }
}

#[test]
fn a_code_is_single_use_and_the_second_use_writes_nothing() {
    let (_dir, store) = open();
    let c = code(&store, "ABC-123", LATER);
    let first = keys(0..3);
    let outcome = store
        .commit_upload(&c, &UploadId::of_keys(&first), &first, &[region("FR")], NOW)
        .unwrap()
        .unwrap();
    assert_eq!(outcome.key_count, 3);
    assert_eq!(outcome.arrival_unix_secs, NOW);

    let second = keys(10..15);
    let err = store
        .commit_upload(&c, &UploadId::of_keys(&second), &second, &[], NOW + 1)
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, UploadRefusal::CodeUsed), "{err}");
    let stored: Vec<_> = store
        .local_keys_after(None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(stored, first);
}

#[test]
fn unknown_and_expired_codes_write_nothing() {
    let (_dir, store) = open();
    let k = keys(0..2);
    let id = UploadId::of_keys(&k);
    let err = store
        .commit_upload(&CodeHash::of("never issued"), &id, &k, &[], NOW)
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, UploadRefusal::CodeUnknown), "{err}");

    let c = code(&store, "short-lived", NOW);
    let err = store
        .commit_upload(&c, &id, &k, &[], NOW)
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            UploadRefusal::CodeExpired {
                expires_unix_secs: NOW,
                now_unix_secs: NOW
            }
        ),
        "{err}"
    );
    assert_eq!(local_count(&store), 0);
    assert!(all_public(&store).is_empty());
    // The failed attempt did not mark the code used: it still works before its expiry.
    store
        .commit_upload(&c, &id, &k, &[], NOW - 1)
        .unwrap()
        .unwrap();
    assert_eq!(local_count(&store), 2);
}

#[test]
fn issuing_the_same_code_twice_is_refused() {
    let (_dir, store) = open();
    let c = code(&store, "dup", LATER);
    assert!(matches!(
        store.put_code(&c, LATER + 5),
        Ok(Err(UploadRefusal::CodeExists))
    ));
}

#[test]
fn concurrent_uploads_with_one_code_have_exactly_one_winner() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let c = code(&store, "race", LATER);
    let threads = 8u32;
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let k = keys(t * 100..t * 100 + 4);
                barrier.wait();
                store.commit_upload(&c, &UploadId::of_keys(&k), &k, &[], NOW)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let used = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(UploadRefusal::CodeUsed))))
        .count();
    assert_eq!((wins, used), (1, threads as usize - 1));
    assert_eq!(local_count(&store), 4);
}

#[test]
fn a_retry_returns_the_earlier_outcome_and_duplicates_nothing() {
    let (_dir, store) = open();
    let c = code(&store, "retry", NOW + 10);
    let k = keys(0..5);
    let visited = [region("FR"), region("IT")];
    let first = store
        .commit_upload(&c, &UploadId::of_keys(&k), &k, &visited, NOW)
        .unwrap()
        .unwrap();
    // Same keys in another order, after the code's expiry: still the same upload.
    let mut reordered = k.clone();
    reordered.reverse();
    let again = store
        .commit_upload(
            &c,
            &UploadId::of_keys(&reordered),
            &reordered,
            &visited,
            NOW + 60,
        )
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(local_count(&store), 5);
    assert_eq!(all_public(&store).len(), 5);
}

#[test]
fn the_batcher_read_carries_visited_regions_and_the_public_read_does_not() {
    let (_dir, store) = open();
    let c1 = code(&store, "one", LATER);
    let c2 = code(&store, "two", LATER);
    let (k1, k2) = (keys(0..2), keys(2..5));
    store
        .commit_upload(
            &c1,
            &UploadId::of_keys(&k1),
            &k1,
            &[region("FR"), region("acme:zurich-1")],
            NOW,
        )
        .unwrap()
        .unwrap();
    store
        .commit_upload(&c2, &UploadId::of_keys(&k2), &k2, &[], NOW + 1)
        .unwrap()
        .unwrap();
    let entries = store.local_keys_after(None, 100).unwrap();
    let visited: Vec<usize> = entries.iter().map(|e| e.visited.len()).collect();
    assert_eq!(visited, [2, 2, 0, 0, 0]);
    assert_eq!(entries[0].visited, [region("FR"), region("acme:zurich-1")]);
    // Paging by position.
    let rest = store.local_keys_after(Some(entries[1].at), 100).unwrap();
    assert_eq!(rest, entries[2..]);
    let public = all_public(&store);
    assert!(public.iter().all(|e| e.source == KeySource::Local));
    assert_eq!(public.iter().map(|e| e.key).collect::<Vec<_>>(), keys(0..5));
}

#[test]
fn batches_append_with_the_position_atomically_and_read_back_by_sequence() {
    let (_dir, store) = open();
    let a2a = "a2a/EU".parse::<Feed>().unwrap();
    let fr = "partial/FR".parse::<Feed>().unwrap();
    let p1 = Arrival {
        unix_secs: NOW,
        seq: 7,
    };
    let b1 = batch("a2a/EU", 1, None, &keys(0..3));
    let f1 = batch("partial/FR", 1, None, &keys(0..1));
    store
        .append_batches(&own(&[b1.clone(), f1.clone()]), NOW, Some(p1))
        .unwrap();
    assert_eq!(store.batcher_position().unwrap(), Some(p1));
    let head = store.feed_head(&a2a).unwrap().unwrap();
    assert_eq!(
        (head.sequence, head.batch_id),
        (1, BatchId::of_body(&b1.body))
    );

    let b2 = batch("a2a/EU", 2, Some(head.batch_id), &keys(3..5));
    store
        .append_batches(&own(std::slice::from_ref(&b2)), NOW + 60, None)
        .unwrap();
    assert_eq!(
        store.batcher_position().unwrap(),
        Some(p1),
        "None keeps the position"
    );

    // One bad batch in a call: nothing of the call is written, the position does not move.
    let p2 = Arrival {
        unix_secs: NOW + 60,
        seq: 9,
    };
    let b3 = batch("a2a/EU", 3, Some(BatchId::of_body(&b2.body)), &keys(5..6));
    let gap = batch("partial/FR", 3, None, &[]);
    let err = store
        .append_batches(&own(&[b3.clone(), gap]), NOW + 120, Some(p2))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SequenceGap {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
    let wrong_chain = batch("partial/FR", 2, Some(BatchId([0; 32])), &[]);
    let err = store
        .append_batches(&own(&[b3.clone(), wrong_chain]), NOW + 120, Some(p2))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainBroken { sequence: 2, .. }),
        "{err}"
    );
    assert_eq!(store.batcher_position().unwrap(), Some(p1));
    assert_eq!(store.feed_head(&a2a).unwrap().unwrap().sequence, 2);

    let all = store.batches_after(&a2a, 0, 10).unwrap();
    assert_eq!(all.iter().map(|b| b.sequence).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(all[0].signed, b1);
    assert_eq!(all[1].id, BatchId::of_body(&b2.body));
    assert_eq!(all[1].created_unix_secs, NOW + 60);
    assert_eq!(store.batches_after(&a2a, 1, 10).unwrap().len(), 1);
    assert_eq!(store.batches_after(&a2a, 2, 10).unwrap().len(), 0);
    let fr_batches = store.batches_after(&fr, 0, 10).unwrap();
    assert_eq!(fr_batches.len(), 1);
    assert_eq!(fr_batches[0].signed, f1);
}

#[test]
fn remote_keys_and_the_cursor_commit_together_and_the_cursor_must_advance() {
    let (_dir, store) = open();
    let de = region("DE");
    let feed = "partial/FR".parse::<Feed>().unwrap();
    assert_eq!(store.cursor(&de, &feed).unwrap(), None);
    let cursor = Cursor {
        last_sequence: 4,
        last_batch_id: BatchId([4; 32]),
        next_poll_unix_secs: NOW + 30,
    };
    store
        .commit_remote(&de, &feed, &keys(0..3), &cursor, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(store.cursor(&de, &feed).unwrap(), Some(cursor));
    let public = all_public(&store);
    assert_eq!(public.len(), 3);
    assert!(
        public
            .iter()
            .all(|e| e.source == KeySource::Remote(de.clone()))
    );
    // Another producer's cursor is separate.
    assert_eq!(store.cursor(&region("IT"), &feed).unwrap(), None);

    // Re-delivering the same batch: refused, nothing written.
    let err = store
        .commit_remote(&de, &feed, &keys(0..3), &cursor, NOW + 1)
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotTaken::AlreadyHeld {
                stored: 4,
                new: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(all_public(&store).len(), 3);
    // Remote keys never reach the batcher's read.
    assert_eq!(local_count(&store), 0);
}

#[test]
fn window_reads_merge_local_and_remote_in_arrival_order_and_page() {
    let (_dir, store) = open();
    let de = region("DE");
    let feed = "a2a/EU".parse::<Feed>().unwrap();
    let mut expected = Vec::new();
    for i in 0..6u32 {
        let t = NOW + u64::from(i) * 100;
        let k = keys(i * 10..i * 10 + 2);
        if i % 2 == 0 {
            let c = code(&store, &format!("code {i}"), LATER);
            store
                .commit_upload(&c, &UploadId::of_keys(&k), &k, &[], t)
                .unwrap()
                .unwrap();
            expected.extend(k.iter().map(|k| (t, *k, KeySource::Local)));
        } else {
            let cursor = Cursor {
                last_sequence: u64::from(i),
                last_batch_id: BatchId([0; 32]),
                next_poll_unix_secs: 0,
            };
            store
                .commit_remote(&de, &feed, &k, &cursor, t)
                .unwrap()
                .unwrap();
            expected.extend(k.iter().map(|k| (t, *k, KeySource::Remote(de.clone()))));
        }
    }
    let as_tuples = |entries: &[enmesh_daemon::store::PublicEntry]| -> Vec<_> {
        entries
            .iter()
            .map(|e| (e.at.unix_secs, e.key, e.source.clone()))
            .collect()
    };
    // [NOW+100, NOW+400): arrivals 1, 2, 3.
    let page = store.keys_arrived(NOW + 100, NOW + 400, None, 100).unwrap();
    assert_eq!(as_tuples(&page.entries), expected[2..8]);
    assert_eq!(page.next, None);

    // Paging by 4 yields the same sequence as one read.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.keys_arrived(NOW, NOW + 600, after, 4).unwrap();
        paged.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(as_tuples(&paged), expected);
    let positions: Vec<Arrival> = paged.iter().map(|e| e.at).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_clock_step_back_never_sorts_new_keys_before_old_ones() {
    let (_dir, store) = open();
    let (k1, k2) = (keys(0..1), keys(1..2));
    let c1 = code(&store, "a", LATER);
    let c2 = code(&store, "b", LATER);
    store
        .commit_upload(&c1, &UploadId::of_keys(&k1), &k1, &[], NOW)
        .unwrap()
        .unwrap();
    let out = store
        .commit_upload(&c2, &UploadId::of_keys(&k2), &k2, &[], NOW - 500)
        .unwrap()
        .unwrap();
    assert_eq!(out.arrival_unix_secs, NOW);
    let after_first = store.local_keys_after(None, 1).unwrap()[0].at;
    let rest = store.local_keys_after(Some(after_first), 10).unwrap();
    assert_eq!(rest.iter().map(|e| e.key).collect::<Vec<_>>(), k2);
}

#[test]
fn reopening_keeps_everything_and_continues_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let feed = "a2a/EU".parse::<Feed>().unwrap();
    let de = region("DE");
    let cursor = Cursor {
        last_sequence: 1,
        last_batch_id: BatchId([1; 32]),
        next_poll_unix_secs: 5,
    };
    let position = Arrival {
        unix_secs: NOW,
        seq: 2,
    };
    let (c, k) = (CodeHash::of("keep"), keys(0..3));
    let before = {
        let store = Store::open(dir.path()).unwrap();
        store.put_code(&c, LATER).unwrap().unwrap();
        let outcome = store
            .commit_upload(&c, &UploadId::of_keys(&k), &k, &[region("FR")], NOW)
            .unwrap()
            .unwrap();
        store
            .commit_remote(&de, &feed, &keys(10..12), &cursor, NOW)
            .unwrap()
            .unwrap();
        store
            .append_batches(&own(&[batch("a2a/EU", 1, None, &k)]), NOW, Some(position))
            .unwrap();
        (
            outcome,
            all_public(&store),
            store.local_keys_after(None, 100).unwrap(),
        )
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(all_public(&store), before.1);
    assert_eq!(store.local_keys_after(None, 100).unwrap(), before.2);
    assert_eq!(store.cursor(&de, &feed).unwrap(), Some(cursor));
    assert_eq!(store.batcher_position().unwrap(), Some(position));
    assert_eq!(store.feed_head(&feed).unwrap().unwrap().sequence, 1);
    assert_eq!(store.batches_after(&feed, 0, 10).unwrap().len(), 1);
    // The code is still used; its retry still answers.
    assert_eq!(
        store
            .commit_upload(&c, &UploadId::of_keys(&k), &k, &[], NOW)
            .unwrap()
            .unwrap(),
        before.0
    );
    // New writes continue after the old ones instead of overwriting them.
    let c2 = code(&store, "after reopen", LATER);
    let k2 = keys(20..22);
    store
        .commit_upload(&c2, &UploadId::of_keys(&k2), &k2, &[], NOW)
        .unwrap()
        .unwrap();
    let all = all_public(&store);
    assert_eq!(all.len(), before.1.len() + 2);
    assert!(all.windows(2).all(|w| w[0].at < w[1].at));
    let stats = store.stats().unwrap();
    assert_eq!(stats.oldest_arrival_unix_secs, Some(NOW));
    assert_eq!(stats.newest_arrival_unix_secs, Some(NOW));
    assert!(
        stats
            .approx_keys
            .iter()
            .any(|(cf, n)| *cf == "local" && *n > 0)
    );
}

#[test]
fn a_newer_schema_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let mut options = rocksdb::Options::default();
        options.create_missing_column_families(true);
        let cfs = rocksdb::DB::list_cf(&options, dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&options, dir.path(), cfs).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"schema_version", (SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        // A newer build may also have added a column family.
        db.create_cf("future", &options).unwrap();
    }
    let err = Store::open(dir.path()).err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("schema version 2"), "{err}");
}

#[test]
fn a_corrupt_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let bad_key = Arrival {
        unix_secs: NOW,
        seq: 1,
    };
    {
        let options = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&options, dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&options, dir.path(), cfs).unwrap();
        let local = db.cf_handle("local").unwrap();
        let mut key = NOW.to_be_bytes().to_vec();
        key.extend_from_slice(&bad_key.seq.to_be_bytes());
        db.put_cf(local, key, [1, 0xff, 0xff]).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let err = store.local_keys_after(None, 10).unwrap_err();
    match err {
        StoreError::Corrupt { cf, key, .. } => {
            assert_eq!(cf, "local");
            assert_eq!(key, format!("{NOW:016x}{:016x}", bad_key.seq));
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(matches!(
        store.keys_arrived(0, u64::MAX, None, 10),
        Err(StoreError::Corrupt { cf: "local", .. })
    ));
}

#[test]
fn feed_ids_reject_nul_and_bad_lengths() {
    assert!("a2a/EU".parse::<Feed>().is_ok());
    assert!("".parse::<Feed>().is_err());
    assert!("a2a/E\0U".parse::<Feed>().is_err());
    assert!(format!("a2a/{}", "E".repeat(125)).parse::<Feed>().is_err());
    // A batch naming a feed that does not parse is refused by the store and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bad = enmesh_proto::v1::SignedBatch {
        body: prost::Message::encode_to_vec(&enmesh_proto::v1::BatchBody {
            feed: "a\0b".to_owned(),
            sequence: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        store.append_batches(&own(&[bad]), 0, None),
        Err(StoreError::BadFeed(_))
    ));
}

/// The replication log as `(size, leaf hashes computed here from the entries served)`.
fn audit_leaves(store: &Store) -> Vec<Hash> {
    let (size, _) = store.audit_head();
    store
        .audit_entries(0, size.0)
        .unwrap()
        .unwrap()
        .iter()
        .map(|entry| merkle::leaf_hash(entry))
        .collect()
}

fn audit_event(bytes: &[u8]) -> audit_entry::Event {
    let entry = AuditEntry::decode(bytes).unwrap();
    assert_eq!(entry.version, audit::ENTRY_VERSION);
    entry.event.unwrap()
}

#[test]
fn each_batch_cut_and_sweep_is_logged_in_its_own_write_and_the_log_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = batch("a2a/EU", 1, None, &keys(0..3));
    let b2 = batch("a2a/EU", 2, Some(BatchId::of_body(&b1.body)), &keys(3..5));
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.audit_head(), (TreeSize(0), merkle::empty_root()));
        let first = OwnBatch {
            signed: b1.clone(),
            padding: 1,
        };
        store.append_batches(&[first], NOW, None).unwrap();
        assert_eq!(store.audit_head().0, TreeSize(1));
        // A refused append (a gap) writes neither the batch nor its entry.
        let gap = batch("a2a/EU", 5, None, &[]);
        store.append_batches(&own(&[gap]), NOW, None).unwrap_err();
        assert_eq!(store.audit_head().0, TreeSize(1));
        store
            .append_batches(&own(std::slice::from_ref(&b2)), NOW, None)
            .unwrap();
    }

    let store = Store::open(dir.path()).unwrap();
    let leaves = audit_leaves(&store);
    assert_eq!(store.audit_head(), (TreeSize(2), merkle::root(&leaves)));
    let entries = store.audit_entries(0, 2).unwrap().unwrap();
    let cut = |bytes: &[u8]| match audit_event(bytes) {
        audit_entry::Event::BatchCut(cut) => cut,
        other => panic!("not a cut: {other:?}"),
    };
    let first = cut(&entries[0]);
    assert_eq!((first.key_count, first.padding_count), (3, 1));
    let batch_ref = first.batch.unwrap();
    assert_eq!(
        (batch_ref.origin_region.as_str(), batch_ref.feed.as_str()),
        ("DE", "a2a/EU")
    );
    assert_eq!(
        (batch_ref.sequence, batch_ref.batch_id),
        (1, BatchId::of_body(&b1.body).0.to_vec())
    );
    assert_eq!(cut(&entries[1]).batch.unwrap().sequence, 2);

    // Retention deletes the batches and logs one sweep with its exact counts.
    let report = sweep(&store, NOW + 20 * 86_400, 14).unwrap();
    assert_eq!(report.batches, 2);
    let entries = store.audit_entries(2, 3).unwrap().unwrap();
    let audit_entry::Event::RetentionSwept(swept) = audit_event(&entries[0]) else {
        panic!("not a sweep");
    };
    assert_eq!(
        swept.cutoff_unix_secs,
        i64::try_from(NOW + 6 * 86_400).unwrap()
    );
    let batches = swept
        .families
        .iter()
        .find(|f| f.column_family == "batches")
        .unwrap();
    assert_eq!(batches.deleted, 2);
    // A sweep that deletes nothing logs nothing.
    sweep(&store, NOW + 20 * 86_400, 14).unwrap();
    assert_eq!(store.audit_head().0, TreeSize(3));

    // No entry holds a key.
    let log: Vec<u8> = store.audit_entries(0, 3).unwrap().unwrap().concat();
    for key in keys(0..5) {
        assert!(
            !log.windows(16).any(|w| w == key.key.0),
            "a key is in the log"
        );
    }
}

#[test]
fn the_stored_logs_roots_and_proofs_are_rfc_9162s_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let peer = audit::Peer::unverified(Some(b"a leaf certificate"));
    {
        let store = Store::open(dir.path()).unwrap();
        for n in 0..150u64 {
            let entry = audit::peer_checked(&peer, audit::Path::Mesh, None, n);
            // One to three entries per write, so writes straddle subtree boundaries.
            let entries = vec![entry; usize::try_from(n % 3 + 1).unwrap()];
            store.record(&entries).unwrap();
        }
    }
    // Reopened: the frontier is rebuilt from the stored subtree hashes (and, below the stored
    // levels, from the entries).
    let store = Store::open(dir.path()).unwrap();
    let leaves = audit_leaves(&store);
    let total = leaves.len();
    assert_eq!(total, 300);
    // Every size up to 40, then every 7th: past the first stored level (128 leaves) and 256.
    let sizes = (1..=40)
        .chain((41..=total).step_by(7))
        .chain([128, 256, total]);
    for size in sizes {
        let tree = TreeSize(size as u64);
        let root = store.audit_root(tree).unwrap();
        assert_eq!(root, merkle::root(&leaves[..size]), "root of {size}");
        for (i, leaf) in leaves[..size].iter().enumerate().step_by(1 + size / 40) {
            let index = LeafIndex(i as u64);
            let proof = store.audit_inclusion_proof(index, tree).unwrap();
            merkle::verify_inclusion(index, tree, leaf, &proof, &root).unwrap();
        }
        for first in (1..=size).step_by(1 + size / 40) {
            let older = TreeSize(first as u64);
            let proof = store.audit_consistency_proof(older, tree).unwrap();
            let older_root = merkle::root(&leaves[..first]);
            merkle::verify_consistency(older, tree, &older_root, &root, &proof).unwrap();
        }
    }
    // Questions about a tree the log does not have are the asker's error, not the store's.
    assert!(matches!(
        store.audit_root(TreeSize(301)),
        Err(AuditProofError::Request(_))
    ));
    assert!(matches!(
        store.audit_inclusion_proof(LeafIndex(300), TreeSize(300)),
        Err(AuditProofError::Request(_))
    ));
    assert!(matches!(
        store.audit_entries(290, 302).unwrap(),
        Err(AuditReadError::Range { size: 300, .. })
    ));
    // Appending after the reopen continues the same tree.
    store
        .record(&[audit::peer_checked(&peer, audit::Path::Mesh, None, 999)])
        .unwrap();
    let leaves = audit_leaves(&store);
    assert_eq!(store.audit_head(), (TreeSize(301), merkle::root(&leaves)));
}

#[test]
fn fork_evidence_of_one_log_is_kept_once_per_checkpoint_and_at_most_max_forks_per_log() {
    let (_dir, store) = open();
    let evidence = enmesh_proto::v1::ForkEvidence {
        reason: "two roots".into(),
        ..Default::default()
    };
    let entry =
        |n: u8| audit::fork_detected("enmesh/EU/FR", ("held", 5), ("new", 5), "x", n.into());
    for n in 0..MAX_FORKS_PER_LOG as u8 {
        assert!(
            store
                .put_fork("enmesh/EU/FR", &evidence, &[n; 32], &entry(n))
                .unwrap()
        );
        // The same new checkpoint again: kept once.
        assert!(
            !store
                .put_fork("enmesh/EU/FR", &evidence, &[n; 32], &entry(n))
                .unwrap()
        );
    }
    let size = store.audit_head().0;
    // Past the bound nothing more is written, not even the log entry; another log is not held
    // back by it.
    assert!(
        !store
            .put_fork("enmesh/EU/FR", &evidence, &[0xff; 32], &entry(99))
            .unwrap()
    );
    assert_eq!(store.audit_head().0, size);
    assert!(
        store
            .put_fork("enmesh/EU/IT", &evidence, &[0xff; 32], &entry(99))
            .unwrap()
    );
    assert_eq!(store.forks().unwrap().len(), MAX_FORKS_PER_LOG + 1);
    assert_eq!(size.0, MAX_FORKS_PER_LOG as u64);
}
