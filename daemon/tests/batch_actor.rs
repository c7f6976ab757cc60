//! The batcher against a real store and real certificates: signed, chained batches that verify
//! with the PKI verifier; routing to a2a and partial feeds; no visited region in any batch;
//! restart after a clean stop and after a crash without losing or repeating a key; flush on
//! shutdown.

use enmesh_protocol::feed::Feed;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use enmesh_daemon::batch::{self, BatcherConfig, BatcherError, BatcherHandle, Limits, Routing};
use enmesh_daemon::clock::ManualClock;
use enmesh_daemon::config::Replication;
use enmesh_daemon::pki::{NodeIdentity, Verifier, bootstrap};
use enmesh_daemon::shutdown::Shutdown;
use enmesh_daemon::store::{BatchId, CodeHash, Store, UploadId};
use enmesh_daemon::telemetry::Metrics;
use enmesh_daemon::worker::Runner;
use enmesh_proto::v1::BatchBody;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::region::{ClusterId, RegionId};
use prost::Message;
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn feed(text: &str) -> Feed {
    text.parse::<Feed>().unwrap()
}

fn key(n: u32) -> DiagnosisKey {
    let mut tek = [0xa5; 16];
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

/// A node DE of cluster EU (with FR and IT), its certificates, a data directory and a clock.
struct Fixture {
    dir: tempfile::TempDir,
    identity: Arc<NodeIdentity>,
    verifier: Verifier,
    clock: Arc<ManualClock>,
    metrics: Metrics,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let eu = ClusterId::new("EU").unwrap();
        let tree = bootstrap::generate(
            &dir.path().join("pki"),
            &[(eu, vec![region("DE"), region("FR")])],
            30,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let de = tree.node(&region("DE")).unwrap();
        let credential = de.credential().unwrap();
        let root = enmesh_daemon::pki::files::read_first_cert(&tree.root_cert).unwrap();
        let verifier = Verifier::new(root, &[]).unwrap();
        let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap() * 1000;
        Self {
            dir,
            identity: Arc::new(NodeIdentity::new(credential)),
            verifier,
            clock: ManualClock::at_millis(now_ms),
            metrics: Metrics::new(),
        }
    }

    fn open(&self) -> Arc<Store> {
        Arc::new(Store::open(&self.dir.path().join("data")).unwrap())
    }

    fn now_secs(&self) -> u64 {
        use enmesh_daemon::clock::Clock;
        self.clock.now_secs()
    }

    fn spawn(
        &self,
        store: &Arc<Store>,
        mode: Replication,
        limits: Limits,
        shutdown: &Shutdown,
    ) -> BatcherHandle {
        let config = BatcherConfig {
            routing: Routing {
                home: region("DE"),
                cluster: ClusterId::new("EU").unwrap(),
                cluster_regions: vec![region("DE"), region("FR"), region("IT")],
                intra_cluster: mode,
            },
            limits,
        };
        batch::spawn(
            config,
            store.clone(),
            self.identity.clone(),
            self.clock.clone(),
            self.metrics.clone(),
            &Runner::new(shutdown.signal(), self.clock.clone()),
        )
        .unwrap()
    }

    /// Commits an upload authorised by a fresh code named `name`.
    fn upload(&self, store: &Store, name: &str, keys: &[DiagnosisKey], visited: &[&str]) {
        let code = CodeHash::of(name);
        let now = self.now_secs();
        store.put_code(&code, now + 3600).unwrap().unwrap();
        let visited: Vec<RegionId> = visited.iter().map(|r| region(r)).collect();
        store
            .commit_upload(&code, &UploadId::of_keys(keys), keys, &visited, now)
            .unwrap()
            .unwrap();
    }

    /// Every batch of `feed`, checked: the signature verifies with origin DE, sequences run
    /// 1..=n, each chains to the previous one's id, and the body holds nothing but its fields.
    /// Returns the bodies.
    fn feed(&self, store: &Store, name: &str) -> Vec<BatchBody> {
        let stored = store.batches_after(&feed(name), 0, usize::MAX).unwrap();
        let mut previous: Option<BatchId> = None;
        let mut bodies = Vec::new();
        for (i, batch) in stored.iter().enumerate() {
            let verified = self
                .verifier
                .verify_batch(&batch.signed, UnixTime::now())
                .unwrap();
            assert_eq!(verified.origin(), &region("DE"));
            let body = verified.body().clone();
            assert_eq!(
                body.encode_to_vec(),
                batch.signed.body,
                "unknown fields in body"
            );
            assert_eq!(body.origin_region, "DE");
            assert_eq!(body.feed, name);
            assert_eq!(body.sequence, i as u64 + 1);
            assert_eq!(batch.sequence, body.sequence);
            assert_eq!(batch.id, BatchId::of_body(&batch.signed.body));
            assert_eq!(
                body.previous_batch_id,
                previous.map(|id| id.0.to_vec()).unwrap_or_default()
            );
            previous = Some(batch.id);
            bodies.push(body);
        }
        bodies
    }
}

/// How often each key of `of` appears in `bodies`, and how many keys are not in `of` (padding).
fn key_counts(bodies: &[BatchBody], of: &[DiagnosisKey]) -> (BTreeMap<u32, usize>, usize) {
    let mut counts = BTreeMap::new();
    let mut padding = 0;
    for body in bodies {
        for wire in &body.keys {
            match of.iter().position(|k| k.key.0.as_slice() == wire.key_data) {
                Some(i) => {
                    let real = &of[i];
                    assert_eq!(wire.rolling_start_interval_number, real.rolling_start.0);
                    *counts.entry(i as u32).or_insert(0) += 1;
                }
                None => padding += 1,
            }
        }
    }
    (counts, padding)
}

/// Every key of `of` exactly once.
fn once_each(of: &[DiagnosisKey]) -> BTreeMap<u32, usize> {
    (0..of.len() as u32).map(|i| (i, 1)).collect()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

const LONG_WINDOW: u64 = 3_600_000;

#[tokio::test]
async fn batches_verify_chain_and_go_only_where_the_upload_travelled() {
    let fx = Fixture::new();
    let store = fx.open();
    let shutdown = Shutdown::new();
    let limits = Limits {
        window_ms: LONG_WINDOW,
        max_keys: 5,
        min_keys: 3,
    };
    let (us, fr, both, home) = (keys(0..3), keys(10..12), keys(20..24), keys(30..36));
    fx.upload(&store, "us", &us, &["US-CA"]);
    fx.upload(&store, "fr", &fr, &["FR"]);
    fx.upload(&store, "both", &both, &["US-CA", "GB-ENG", "DE"]);
    fx.upload(&store, "home", &home, &[]);
    // Started after the uploads, so its first read (a tick or the flush) sees all of them.
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    batcher.flush().await.unwrap();

    let all: Vec<DiagnosisKey> = [&us[..], &fr, &both, &home].concat();
    let a2a = fx.feed(&store, "a2a/EU");
    assert_eq!(a2a.len(), 3, "15 keys in batches of at most 5");
    assert_eq!(key_counts(&a2a, &all).0, once_each(&all));
    let to_us = fx.feed(&store, "partial/US-CA");
    let us_and_both = [&us[..], &both].concat();
    let (counts, padding) = key_counts(&to_us, &all);
    assert_eq!(counts.len(), 7);
    assert_eq!(key_counts(&to_us, &us_and_both).0, once_each(&us_and_both));
    assert_eq!(
        (to_us.len(), padding),
        (2, 1),
        "7 keys: 5, then 2 padded to 3"
    );
    let to_gb = fx.feed(&store, "partial/GB-ENG");
    assert_eq!(key_counts(&to_gb, &both), (once_each(&both), 0));
    assert!(
        fx.feed(&store, "partial/FR").is_empty(),
        "FR is reached by a2a"
    );
    assert!(
        fx.feed(&store, "partial/DE").is_empty(),
        "home is never a destination"
    );
    assert_eq!(*batcher.subscribe().borrow(), 6);

    // No visited region is written into any batch; a partial feed names its own destination
    // in its feed field and nothing else. (Two-letter texts like "FR" could occur by chance in
    // random bytes; the body round trip in `Fixture::feed` shows there is no field for them.)
    for (feed_name, bodies) in [
        ("a2a/EU", &a2a),
        ("partial/US-CA", &to_us),
        ("partial/GB-ENG", &to_gb),
    ] {
        for stored in store
            .batches_after(&feed(feed_name), 0, usize::MAX)
            .unwrap()
        {
            let bytes = &stored.signed.body;
            for visited in ["US-CA", "GB-ENG"] {
                let in_feed_name = usize::from(feed_name == format!("partial/{visited}"));
                assert_eq!(
                    count(bytes, visited.as_bytes()),
                    in_feed_name,
                    "{feed_name}: {visited}"
                );
            }
        }
        assert!(bodies.iter().all(|b| b.created_unix_millis > 0));
    }
    let metrics = fx.metrics.encode();
    assert!(
        metrics.contains(r#"enmesh_batches_total{feed="a2a/EU"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"enmesh_batches_total{feed="partial/US-CA"} 2"#),
        "{metrics}"
    );
    assert_eq!(batcher.flush().await.unwrap(), 0, "nothing left to cut");
}

#[tokio::test]
async fn partial_mode_has_no_a2a_feed_and_passes_over_home_only_uploads() {
    let fx = Fixture::new();
    let store = fx.open();
    let shutdown = Shutdown::new();
    let limits = Limits {
        window_ms: LONG_WINDOW,
        max_keys: 100,
        min_keys: 0,
    };
    let batcher = fx.spawn(&store, Replication::Partial, limits, &shutdown);
    let (fr, home) = (keys(0..4), keys(10..13));
    fx.upload(&store, "fr", &fr, &["FR"]);
    fx.upload(&store, "home", &home, &["DE"]);
    assert_eq!(batcher.flush().await.unwrap(), 1);
    assert_eq!(
        key_counts(&fx.feed(&store, "partial/FR"), &fr),
        (once_each(&fr), 0)
    );
    assert!(fx.feed(&store, "a2a/EU").is_empty());
    let last = store
        .local_keys_after(None, usize::MAX)
        .unwrap()
        .last()
        .unwrap()
        .at;
    assert_eq!(store.batcher_position().unwrap(), Some(last));
}

#[tokio::test]
async fn the_window_cuts_after_an_upload_notification_and_the_clock() {
    let fx = Fixture::new();
    let store = fx.open();
    let shutdown = Shutdown::new();
    let limits = Limits {
        window_ms: 20,
        max_keys: 100,
        min_keys: 4,
    };
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    let mut committed = batcher.subscribe();
    let k = keys(0..2);
    fx.upload(&store, "a", &k, &[]);
    batcher.notify_upload();
    // The key's time is the end of its arrival second; move past it plus the window.
    fx.clock.advance_millis(1_020);
    committed.changed().await.unwrap();
    let bodies = fx.feed(&store, "a2a/EU");
    assert_eq!(key_counts(&bodies, &k), (once_each(&k), 2));
}

#[tokio::test]
async fn shutdown_flushes_then_stops() {
    let fx = Fixture::new();
    let store = fx.open();
    let shutdown = Shutdown::new();
    let limits = Limits {
        window_ms: LONG_WINDOW,
        max_keys: 10,
        min_keys: 0,
    };
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    let k = keys(0..7);
    fx.upload(&store, "a", &k, &["US"]);
    batcher.notify_upload();
    shutdown.drain(Duration::from_secs(10)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), batcher.stopped())
        .await
        .unwrap();
    assert_eq!(
        key_counts(&fx.feed(&store, "a2a/EU"), &k),
        (once_each(&k), 0)
    );
    assert_eq!(
        key_counts(&fx.feed(&store, "partial/US"), &k),
        (once_each(&k), 0)
    );
    assert!(matches!(batcher.flush().await, Err(BatcherError::Stopped)));
}

#[tokio::test]
async fn a_restart_continues_the_feeds_without_losing_or_repeating_keys() {
    let fx = Fixture::new();
    let limits = Limits {
        window_ms: LONG_WINDOW,
        max_keys: 4,
        min_keys: 0,
    };
    let (first, second, third) = (keys(0..10), keys(10..13), keys(20..25));

    // Run 1: 10 keys to a2a and partial/US; the size rule cuts two full batches of each, 2 keys
    // stay pending. Then the
    // batcher dies without a flush (its handle is dropped: the task is aborted).
    let store = fx.open();
    let shutdown = Shutdown::new();
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    let mut committed = batcher.subscribe();
    fx.upload(&store, "first", &first, &["US"]);
    batcher.notify_upload();
    committed.wait_for(|n| *n >= 4).await.unwrap();
    assert_eq!(fx.feed(&store, "a2a/EU").len(), 2);
    drop(committed);
    drop(batcher);
    let store = reopen(store, &fx).await;

    // Run 2: the two pending keys are read again; a clean stop flushes everything.
    let shutdown = Shutdown::new();
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    fx.upload(&store, "second", &second, &[]);
    batcher.notify_upload();
    shutdown.drain(Duration::from_secs(10)).await.unwrap();
    batcher.stopped().await;
    drop(batcher);
    let store = reopen(store, &fx).await;

    // Run 3: continues the sequences.
    let shutdown = Shutdown::new();
    let batcher = fx.spawn(&store, Replication::A2a, limits, &shutdown);
    fx.upload(&store, "third", &third, &["US"]);
    batcher.flush().await.unwrap();

    let all = [&first[..], &second, &third].concat();
    let a2a = fx.feed(&store, "a2a/EU");
    assert_eq!(key_counts(&a2a, &all), (once_each(&all), 0));
    assert_eq!(
        a2a.len(),
        2 + 2 + 2,
        "run 1: 4+4, run 2: 2+3 -> 4+1, run 3: 4+1"
    );
    let us = [&first[..], &third].concat();
    assert_eq!(
        key_counts(&fx.feed(&store, "partial/US"), &all),
        (once_each_of(&all, &us), 0)
    );
}

/// `once_each` for the keys of `all` that are also in `subset`.
fn once_each_of(all: &[DiagnosisKey], subset: &[DiagnosisKey]) -> BTreeMap<u32, usize> {
    (0..all.len() as u32)
        .filter(|&i| subset.contains(&all[i as usize]))
        .map(|i| (i, 1))
        .collect()
}

/// Closes the store once the old batcher's task has let go of it, and opens it again.
async fn reopen(store: Arc<Store>, fx: &Fixture) -> Arc<Store> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&store) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old batcher still holds the store"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(store);
    fx.open()
}
