//! The retention sweep with an injected clock: it deletes exactly what arrived more than T days
//! ago from every column family holding user data, and keeps everything younger, including data
//! that is exactly T days old.

use enmesh_daemon::retention::{DEFAULT_RETENTION_DAYS, RetentionReport, sweep};
use enmesh_daemon::store::UploadRefusal;
use enmesh_daemon::store::{BatchId, CodeHash, Cursor, KeySource, OwnBatch, Store, UploadId};
use enmesh_proto::v1::{BatchBody, SignedBatch};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::region::RegionId;
use prost::Message;

const DAY: u64 = 86_400;
const NOW: u64 = 1_700_000_000;
const CUTOFF: u64 = NOW - DEFAULT_RETENTION_DAYS as u64 * DAY;

fn key(n: u32) -> DiagnosisKey {
    let mut tek = [0xa5; 16];
    tek[..4].copy_from_slice(&n.to_be_bytes());
    DiagnosisKey {
        key: Tek(tek),
        rolling_start: IntervalNumber(2_800_000 + n),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::new(1).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: None,
    }
}

fn keys(range: std::ops::Range<u32>) -> Vec<DiagnosisKey> {
    range.map(key).collect()
}

fn batch(feed: &str, sequence: u64, previous: Option<BatchId>) -> SignedBatch {
    let body = BatchBody {
        origin_region: "DE".into(),
        feed: feed.into(),
        sequence,
        previous_batch_id: previous.map(|id| id.0.to_vec()).unwrap_or_default(),
        ..Default::default()
    };
    SignedBatch {
        body: body.encode_to_vec(),
        ..Default::default()
    }
}

/// Appends the next batch of `feed`, created at `t`.
fn append(store: &Store, feed: &str, t: u64) {
    let head = store.feed_head(&feed.parse::<Feed>().unwrap()).unwrap();
    let next = head.map_or(1, |h| h.sequence + 1);
    store
        .append_batches(
            &[OwnBatch {
                signed: batch(feed, next, head.map(|h| h.batch_id)),
                padding: 0,
            }],
            t,
            None,
        )
        .unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
}

/// Uploads, remote keys and batches at CUTOFF − 1 (old), CUTOFF (exactly T days) and NOW − 1.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let de: RegionId = "DE".parse().unwrap();
    let feed = "a2a/EU".parse::<Feed>().unwrap();
    let times = [CUTOFF - 1, CUTOFF, NOW - 1];
    for (i, t) in (0u32..).zip(times) {
        let c = CodeHash::of(&format!("code {i}"));
        store.put_code(&c, NOW + DAY).unwrap().unwrap();
        let k = keys(i * 100..i * 100 + 3 + i);
        store
            .commit_upload(&c, &UploadId::of_keys(&k), &k, &["FR".parse().unwrap()], t)
            .unwrap()
            .unwrap();
        let cursor = Cursor {
            last_sequence: u64::from(i) + 1,
            last_batch_id: BatchId([0; 32]),
            next_poll_unix_secs: 0,
        };
        store
            .commit_remote(&de, &feed, &keys(i * 100 + 50..i * 100 + 52), &cursor, t)
            .unwrap()
            .unwrap();
        // Two feeds whose names are prefixes of each other, two batches each per time.
        for f in ["partial/FR", "partial/FR-2"] {
            append(&store, f, t);
            append(&store, f, t);
        }
    }
    // Unused codes: one expired before NOW, one expiring exactly at NOW, one still valid.
    store
        .put_code(&CodeHash::of("expired"), NOW - 1)
        .unwrap()
        .unwrap();
    store
        .put_code(&CodeHash::of("expires now"), NOW)
        .unwrap()
        .unwrap();
    store
        .put_code(&CodeHash::of("valid"), NOW + 1)
        .unwrap()
        .unwrap();
    Fixture { _dir: dir, store }
}

#[test]
fn sweep_deletes_exactly_what_is_older_than_t_from_every_column_family() {
    let Fixture { _dir, store } = fixture();
    let report = sweep(&store, NOW, DEFAULT_RETENTION_DAYS).unwrap();
    assert_eq!(
        report,
        RetentionReport {
            cutoff_unix_secs: CUTOFF,
            local_keys: 3,
            remote_keys: 2,
            uploads: 1,
            codes: 3, // the old upload's code, "expired", "expires now"
            batches: 4,
            exports: 0, // the fixture exports nothing; exports_* tests cover their purge
        }
    );

    // Keys: exactly the ones that arrived at CUTOFF and later remain, local and remote.
    let public = store.keys_arrived(0, u64::MAX, None, 1000).unwrap().entries;
    let mut expected: Vec<(u64, DiagnosisKey, bool)> = Vec::new();
    for (i, t) in [(1u32, CUTOFF), (2, NOW - 1)] {
        expected.extend(
            keys(i * 100..i * 100 + 3 + i)
                .into_iter()
                .map(|k| (t, k, true)),
        );
        expected.extend(
            keys(i * 100 + 50..i * 100 + 52)
                .into_iter()
                .map(|k| (t, k, false)),
        );
    }
    let got: Vec<_> = public
        .iter()
        .map(|e| (e.at.unix_secs, e.key, e.source == KeySource::Local))
        .collect();
    assert_eq!(got, expected);

    // The kept local keys still find their upload records (visited regions).
    let local = store.local_keys_after(None, 100).unwrap();
    assert_eq!(local.len(), 4 + 5);
    assert!(local.iter().all(|e| e.visited.len() == 1));

    // Codes: the old upload's code is gone, the boundary one still answers its retry.
    let old = keys(0..3);
    let err = store
        .commit_upload(
            &CodeHash::of("code 0"),
            &UploadId::of_keys(&old),
            &old,
            &[],
            NOW,
        )
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, UploadRefusal::CodeUnknown), "{err}");
    let boundary = keys(100..104);
    let outcome = store
        .commit_upload(
            &CodeHash::of("code 1"),
            &UploadId::of_keys(&boundary),
            &boundary,
            &[],
            NOW,
        )
        .unwrap()
        .unwrap();
    assert_eq!(outcome.arrival_unix_secs, CUTOFF);
    for gone in ["expired", "expires now"] {
        let err = store
            .commit_upload(&CodeHash::of(gone), &UploadId([0; 32]), &[], &[], NOW - 2)
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, UploadRefusal::CodeUnknown), "{gone}: {err}");
    }
    assert!(matches!(
        store.put_code(&CodeHash::of("valid"), NOW + 5),
        Ok(Err(UploadRefusal::CodeExists))
    ));

    // Batches: each feed lost its two old batches (a prefix) and kept the rest and its head.
    for f in ["partial/FR", "partial/FR-2"] {
        let feed = f.parse::<Feed>().unwrap();
        let kept = store.batches_after(&feed, 0, 100).unwrap();
        assert_eq!(
            kept.iter().map(|b| b.sequence).collect::<Vec<_>>(),
            [3, 4, 5, 6],
            "{f}"
        );
        assert!(kept.iter().all(|b| b.created_unix_secs >= CUTOFF));
        assert_eq!(store.feed_head(&feed).unwrap().unwrap().sequence, 6);
    }
    // Cursors are not user data and stay.
    let cursor = store
        .cursor(&"DE".parse().unwrap(), &"a2a/EU".parse::<Feed>().unwrap())
        .unwrap();
    assert_eq!(cursor.map(|c| c.last_sequence), Some(3));

    // A second sweep at the same time finds nothing more.
    let again = sweep(&store, NOW, DEFAULT_RETENTION_DAYS).unwrap();
    assert_eq!(
        (
            again.local_keys,
            again.remote_keys,
            again.uploads,
            again.codes,
            again.batches
        ),
        (0, 0, 0, 0, 0)
    );
}

#[test]
fn one_second_later_the_boundary_data_goes_too() {
    let Fixture { _dir, store } = fixture();
    let report = sweep(&store, NOW + 1, DEFAULT_RETENTION_DAYS).unwrap();
    assert_eq!(report.cutoff_unix_secs, CUTOFF + 1);
    assert_eq!(
        (
            report.local_keys,
            report.remote_keys,
            report.uploads,
            report.batches
        ),
        (3 + 4, 2 + 2, 2, 8)
    );
    let public = store.keys_arrived(0, u64::MAX, None, 1000).unwrap().entries;
    assert!(public.iter().all(|e| e.at.unix_secs == NOW - 1));
    assert_eq!(public.len(), 5 + 2);
    // After everything of a feed is gone, its head still continues the sequence.
    let feed = "partial/FR".parse::<Feed>().unwrap();
    assert_eq!(store.batches_after(&feed, 0, 100).unwrap().len(), 2);
    let stats = store.stats().unwrap();
    assert_eq!(stats.oldest_arrival_unix_secs, Some(NOW - 1));
}

#[test]
fn a_longer_period_keeps_everything() {
    let Fixture { _dir, store } = fixture();
    let report = sweep(&store, NOW, DEFAULT_RETENTION_DAYS + 1).unwrap();
    assert_eq!(
        (
            report.local_keys,
            report.remote_keys,
            report.uploads,
            report.batches
        ),
        (0, 0, 0, 0)
    );
    // Only the two unused codes past expiry go.
    assert_eq!(report.codes, 2);
    let before = store
        .keys_arrived(0, u64::MAX, None, 1000)
        .unwrap()
        .entries
        .len();
    assert_eq!(before, (3 + 4 + 5) + 3 * 2);
    let position = store.local_keys_after(None, 1).unwrap()[0].at;
    assert_eq!(position.unix_secs, CUTOFF - 1);
}
