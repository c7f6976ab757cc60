//! Batches received from other backends: every refusal of `replicate::received::check_batch`
//! (forged, tampered, wrong origin, wrong cluster, wrong feed, bad key, bad chain fields) with
//! real certificates, and `Store::commit_received`: keys, relayed batch and cursor in one write,
//! only in order, a refused batch leaving the cursor where it was.

use enmesh_daemon::audit;
use enmesh_daemon::pki::{NodeIdentity, Verifier, bootstrap};
use enmesh_daemon::replicate::received::ReceivedBatch;
use enmesh_daemon::replicate::received::{Source, check_batch};
use enmesh_daemon::store::NotTaken;
use enmesh_daemon::store::{BatchId, KeySource, Store};
use enmesh_daemon::wire::key_to_wire;
use enmesh_proto::v1::{BatchBody, ReplicationPath, SignedBatch};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::region::{ClusterId, RegionId};
use prost::Message;
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn feed(text: &str) -> Feed {
    text.parse::<Feed>().unwrap()
}

fn key(n: u32) -> DiagnosisKey {
    let mut tek = [0x3c; 16];
    tek[..4].copy_from_slice(&n.to_be_bytes());
    DiagnosisKey {
        key: Tek(tek),
        rolling_start: IntervalNumber(2_900_000 + n),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::new(3).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: None,
    }
}

/// A tree with EU = {DE, FR} and USA = {US-CA}; each node's identity, and the verifier.
struct Tree {
    _dir: tempfile::TempDir,
    verifier: Verifier,
    nodes: Vec<(RegionId, NodeIdentity)>,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tree = bootstrap::generate(
            &dir.path().join("pki"),
            &[
                (
                    ClusterId::new("EU").unwrap(),
                    vec![region("DE"), region("FR")],
                ),
                (ClusterId::new("USA").unwrap(), vec![region("US-CA")]),
            ],
            30,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let nodes = tree
            .nodes
            .iter()
            .map(|n| (n.region.clone(), NodeIdentity::new(n.credential().unwrap())))
            .collect();
        let root = enmesh_daemon::pki::files::read_first_cert(&tree.root_cert).unwrap();
        Self {
            _dir: dir,
            verifier: Verifier::new(root, &[]).unwrap(),
            nodes,
        }
    }

    fn identity(&self, region_text: &str) -> &NodeIdentity {
        let wanted = region(region_text);
        &self.nodes.iter().find(|(r, _)| r == &wanted).unwrap().1
    }

    /// `signer` signs a body claiming `origin`.
    fn sign(&self, signer: &str, body: &BatchBody) -> SignedBatch {
        self.identity(signer)
            .sign_batch(body.encode_to_vec(), UnixTime::now())
    }
}

fn body(
    origin: &str,
    feed: &str,
    sequence: u64,
    previous: Option<BatchId>,
    keys: &[u32],
) -> BatchBody {
    BatchBody {
        origin_region: origin.to_owned(),
        feed: feed.to_owned(),
        sequence,
        created_unix_millis: 1_700_000_000_000,
        keys: keys.iter().map(|n| key_to_wire(&key(*n))).collect(),
        previous_batch_id: previous.map(|id| id.0.to_vec()).unwrap_or_default(),
    }
}

fn reason(tree: &Tree, signed: &SignedBatch, feed_text: &str, source: Source<'_>) -> &'static str {
    check_batch(
        &tree.verifier,
        signed,
        &feed(feed_text),
        source,
        UnixTime::now(),
    )
    .unwrap_err()
    .reason()
}

#[test]
fn a_good_partial_batch_is_accepted_with_its_keys_and_chain_fields() {
    let tree = Tree::new();
    let previous = BatchId([7; 32]);
    let signed = tree.sign(
        "US-CA",
        &body("US-CA", "partial/DE", 4, Some(previous), &[1, 2, 3]),
    );
    let got = check_batch(
        &tree.verifier,
        &signed,
        &feed("partial/DE"),
        Source::Pulled(&region("US-CA")),
        UnixTime::now(),
    )
    .unwrap();
    assert_eq!(got.origin(), &region("US-CA"));
    assert_eq!((got.sequence(), got.previous()), (4, Some(previous)));
    assert_eq!(got.keys(), vec![key(1), key(2), key(3)]);
    assert_eq!(got.id(), BatchId::of_body(&signed.body));
}

#[test]
fn forged_and_tampered_batches_are_refused() {
    let tree = Tree::new();
    let us = region("US-CA");
    let good = tree.sign("US-CA", &body("US-CA", "partial/DE", 1, None, &[1]));

    let mut tampered = good.clone();
    let last = tampered.body.len() - 1;
    tampered.body[last] ^= 1;
    assert_eq!(
        reason(&tree, &tampered, "partial/DE", Source::Pulled(&us)),
        "bad_signature"
    );

    let mut short = good.clone();
    short.signature.truncate(10);
    assert_eq!(
        reason(&tree, &short, "partial/DE", Source::Pulled(&us)),
        "bad_signature"
    );

    // FR signs, but presents US-CA's chain: the signature does not verify under that key.
    let mut forged = tree.sign("FR", &body("US-CA", "partial/DE", 1, None, &[1]));
    forged.signer_chain = good.signer_chain.clone();
    assert_eq!(
        reason(&tree, &forged, "partial/DE", Source::Pulled(&us)),
        "bad_signature"
    );

    let mut no_chain = good.clone();
    no_chain.signer_chain.clear();
    assert_eq!(
        reason(&tree, &no_chain, "partial/DE", Source::Pulled(&us)),
        "signer_rejected"
    );

    let mut garbage = tree.sign("US-CA", &body("US-CA", "partial/DE", 1, None, &[1]));
    garbage.body = vec![0xff; 7];
    garbage = tree
        .identity("US-CA")
        .sign_batch(garbage.body, UnixTime::now());
    assert_eq!(
        reason(&tree, &garbage, "partial/DE", Source::Pulled(&us)),
        "malformed"
    );
}

#[test]
fn origins_clusters_and_feeds_must_match_the_source() {
    let tree = Tree::new();
    let (us, de, eu) = (region("US-CA"), region("DE"), ClusterId::new("EU").unwrap());

    // A node signing a batch that claims another origin.
    let claims_fr = tree.sign("US-CA", &body("FR", "partial/DE", 1, None, &[1]));
    assert_eq!(
        reason(&tree, &claims_fr, "partial/DE", Source::Pulled(&us)),
        "origin_mismatch"
    );

    // A genuine FR batch arriving on the stream of producer US-CA.
    let from_fr = tree.sign("FR", &body("FR", "partial/DE", 1, None, &[1]));
    assert_eq!(
        reason(&tree, &from_fr, "partial/DE", Source::Pulled(&us)),
        "unexpected_origin"
    );

    // The mesh: a USA node is not in EU; DE's own batch is never taken back.
    let mesh = Source::Cluster {
        cluster: &eu,
        me: &de,
    };
    let from_us = tree.sign("US-CA", &body("US-CA", "a2a/EU", 1, None, &[1]));
    assert_eq!(reason(&tree, &from_us, "a2a/EU", mesh), "wrong_cluster");
    let own = tree.sign("DE", &body("DE", "a2a/EU", 1, None, &[1]));
    assert_eq!(reason(&tree, &own, "a2a/EU", mesh), "unexpected_origin");
    let fr_a2a = tree.sign("FR", &body("FR", "a2a/EU", 1, None, &[1]));
    assert!(
        check_batch(
            &tree.verifier,
            &fr_a2a,
            &feed("a2a/EU"),
            mesh,
            UnixTime::now()
        )
        .is_ok()
    );

    // The feed named in the body must be the one pulled.
    let other_feed = tree.sign("US-CA", &body("US-CA", "partial/FR", 1, None, &[1]));
    assert_eq!(
        reason(&tree, &other_feed, "partial/DE", Source::Pulled(&us)),
        "wrong_feed"
    );
}

#[test]
fn bad_keys_and_chain_fields_are_refused() {
    let tree = Tree::new();
    let us = region("US-CA");
    let producer = Source::Pulled(&us);

    let seq0 = tree.sign("US-CA", &body("US-CA", "partial/DE", 0, None, &[1]));
    assert_eq!(reason(&tree, &seq0, "partial/DE", producer), "bad_chain");
    let mut b = body("US-CA", "partial/DE", 2, None, &[1]);
    b.previous_batch_id = vec![1; 5];
    assert_eq!(
        reason(&tree, &tree.sign("US-CA", &b), "partial/DE", producer),
        "bad_chain"
    );

    let broken: [fn(&mut enmesh_proto::v1::DiagnosisKey); 5] = [
        |k| k.key_data.truncate(15),
        |k| k.rolling_period = 145,
        |k| k.transmission_risk_level = 9,
        |k| k.report_type = 99,
        |k| {
            k.has_days_since_onset = true;
            k.days_since_onset_of_symptoms = 50;
        },
    ];
    for breaker in broken {
        let mut b = body("US-CA", "partial/DE", 1, None, &[1, 2, 3]);
        breaker(&mut b.keys[2]);
        let refusal = check_batch(
            &tree.verifier,
            &tree.sign("US-CA", &b),
            &feed("partial/DE"),
            producer,
            UnixTime::now(),
        )
        .unwrap_err();
        assert_eq!(refusal.reason(), "bad_key");
        assert!(refusal.to_string().starts_with("key 2:"), "{refusal}");
    }
}

/// The sender of a batch pulled on a partial stream from its signer.
fn pulled(batch: &ReceivedBatch) -> audit::Sender {
    audit::Sender {
        peer: batch.signer().clone(),
        path: audit::Path::PartialStream,
    }
}

fn received(tree: &Tree, sequence: u64, previous: Option<BatchId>, keys: &[u32]) -> ReceivedBatch {
    let signed = tree.sign(
        "US-CA",
        &body("US-CA", "partial/DE", sequence, previous, keys),
    );
    check_batch(
        &tree.verifier,
        &signed,
        &feed("partial/DE"),
        Source::Pulled(&region("US-CA")),
        UnixTime::now(),
    )
    .unwrap()
}

#[test]
fn commit_received_keeps_keys_batch_and_cursor_together_and_in_order() {
    let tree = Tree::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (us, partial) = (region("US-CA"), feed("partial/DE"));
    let now = 1_800_000_000;

    // A first batch may start anywhere (the producer may have retired older ones).
    let first = received(&tree, 5, Some(BatchId([1; 32])), &[1, 2]);
    store
        .commit_received(&first, &pulled(&first), now + 60, now)
        .unwrap()
        .unwrap();
    let cursor = store.cursor(&us, &partial).unwrap().unwrap();
    assert_eq!(
        (cursor.last_sequence, cursor.last_batch_id),
        (5, first.id())
    );
    assert_eq!(cursor.next_poll_unix_secs, now + 60);

    // A gap and a fork are refused and change nothing.
    for bad in [
        received(&tree, 7, Some(first.id()), &[9]),
        received(&tree, 6, Some(BatchId([2; 32])), &[9]),
    ] {
        let err = store
            .commit_received(&bad, &pulled(&bad), now, now)
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, NotTaken::NotNext { held: 5, .. }), "{err}");
    }
    // A repeat is refused as already held.
    let err = store
        .commit_received(&first, &pulled(&first), now, now)
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, NotTaken::AlreadyHeld { .. }), "{err}");
    assert_eq!(
        store.cursor(&us, &partial).unwrap().unwrap().last_sequence,
        5
    );

    let second = received(&tree, 6, Some(first.id()), &[3]);
    store
        .commit_received(&second, &pulled(&second), now, now + 1)
        .unwrap()
        .unwrap();

    let page = store.keys_arrived(0, u64::MAX, None, 100).unwrap();
    let got: Vec<_> = page
        .entries
        .iter()
        .map(|e| (e.key, e.source.clone()))
        .collect();
    let remote = |n| (key(n), KeySource::Remote(us.clone()));
    assert_eq!(got, vec![remote(1), remote(2), remote(3)]);

    // Each stored batch, and nothing refused, is in the replication log, naming the signer by
    // its certificate's SHA-256.
    assert_eq!(store.audit_head().0.0, 2);
    let log = store.audit_entries(0, 2).unwrap().unwrap();
    for (bytes, batch) in log.iter().zip([&first, &second]) {
        let entry = enmesh_proto::v1::AuditEntry::decode(bytes.as_slice()).unwrap();
        let Some(enmesh_proto::v1::audit_entry::Event::BatchStored(stored)) = entry.event else {
            panic!("not a stored batch: {entry:?}");
        };
        let leaf = &batch.signed().signer_chain[0];
        let peer = stored.peer.unwrap();
        assert_eq!(peer.certificate_sha256, Sha256::digest(leaf).to_vec());
        assert_eq!(
            (peer.region.as_str(), peer.role.as_str()),
            ("US-CA", "node")
        );
        let batch_ref = stored.batch.unwrap();
        assert_eq!(
            (batch_ref.sequence, batch_ref.batch_id),
            (batch.sequence(), batch.id().0.to_vec())
        );
        assert_eq!(stored.path, i32::from(ReplicationPath::PartialStream));
    }

    // The relayed batches are kept as signed, and only under their origin.
    let relayed = store.received_batches_after(&us, &partial, 0, 10).unwrap();
    let ids: Vec<_> = relayed.iter().map(|b| (b.sequence, b.id)).collect();
    assert_eq!(ids, vec![(5, first.id()), (6, second.id())]);
    assert_eq!(&relayed[1].signed, second.signed());
    assert!(
        store
            .received_batches_after(&us, &partial, 6, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .received_batches_after(&region("FR"), &partial, 0, 10)
            .unwrap()
            .is_empty()
    );
    // Never on a local feed.
    assert!(store.batches_after(&partial, 0, 10).unwrap().is_empty());
    assert_eq!(store.feed_head(&partial).unwrap(), None);
}
