//! Need-to-know replication between whole nodes in one process, over real sockets and mutual
//! TLS: a traveller's keys reach the visited region only; a consumer may pull only its own
//! region's feed; a client without a valid chain never gets past the handshake; a tampered
//! batch from a hostile producer is refused, counted, and leaves the cursor where it was; no
//! node re-federates what it received; a pulled key still valid at upload reaches the phone feed
//! only after its expiry, as the uploading region's own feed does.

mod common;

use common::{eventually, region};
use enmesh_protocol::feed::Feed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use enmesh_daemon::admin::token;
use enmesh_daemon::clock::{OffsetClock, SharedClock, SystemClock};
use enmesh_daemon::config::{FeedFormat, PeerConfig, Replication};
use enmesh_daemon::demo::drive;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::pki::{Credential, NodeIdentity, Verifier, files, tls};
use enmesh_daemon::replicate::partial::{connect, server};
use enmesh_daemon::shutdown::Shutdown;
use enmesh_daemon::store::NotTaken;
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1::pull_response::Item;
use enmesh_proto::v1::replication_server::Replication as ReplicationService;
use enmesh_proto::v1::{
    AuditEntry, BatchBody, PullRequest, PullResponse, ReplicationPath, audit_entry,
};
use enmesh_protocol::region::{ClusterId, RegionId};
use prost::Message;
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Three clusters of one region each: A = DE (EU), B = US-CA (USA), C = JP (APAC).
fn three_sites(dir: &std::path::Path) -> Vec<Site> {
    let clusters: Vec<(ClusterId, Vec<RegionId>)> =
        [("EU", "DE"), ("USA", "US-CA"), ("APAC", "JP")]
            .iter()
            .map(|(c, r)| (c.parse().unwrap(), vec![region(r)]))
            .collect();
    let options = SiteOptions {
        batch_window_ms: 20,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    sites::prepare(dir, &clusters, &options).unwrap()
}

fn site<'a>(sites: &'a [Site], r: &str) -> &'a Site {
    sites.iter().find(|s| s.pki.region == region(r)).unwrap()
}

fn pulls_from(site: &Site, producer: &str, at: SocketAddr) -> enmesh_daemon::config::Config {
    let mut config = site.config.clone();
    config.peers.push(PeerConfig {
        url: format!("https://{at}").parse().unwrap(),
        region: region(producer),
        replication: Replication::Partial,
        format: FeedFormat::Enmesh,
    });
    config
}

async fn start(config: enmesh_daemon::config::Config) -> NodeHandle {
    node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap()
}

async fn metrics(node: &NodeHandle) -> String {
    enmesh_daemon::api::client::get(node.http_addr(), "/metrics")
        .await
        .unwrap()
        .text()
}

fn credential(site: &Site) -> Credential {
    site.pki.credential().unwrap()
}

fn verifier(site: &Site) -> Arc<Verifier> {
    let root = files::read_first_cert(&site.config.pki.root_cert).unwrap();
    Arc::new(Verifier::new(root, &[]).unwrap())
}

/// `who`'s client asking `at` (a node of region `server`) for `feed`: the first answer.
async fn pull_as(
    who: &Site,
    server: &str,
    at: SocketAddr,
    feed: &str,
) -> Result<tonic::Streaming<PullResponse>, Status> {
    let config = tls::client_config(verifier(who), &credential(who), Some(region(server))).unwrap();
    let mut client =
        connect::replication_client(&format!("https://{at}").parse().unwrap(), Arc::new(config))
            .await
            .unwrap();
    let request = PullRequest {
        feed: feed.to_owned(),
        after_sequence: 0,
        after_batch_id: Vec::new(),
    };
    client.pull(request).await.map(Response::into_inner)
}

/// Every entry of `store`'s replication log.
fn audit_log(store: &enmesh_daemon::store::Store) -> Vec<Vec<u8>> {
    let size = store.audit_head().0.0;
    (0..size)
        .step_by(1000)
        .flat_map(|start| store.audit_entries(start, size).unwrap().unwrap())
        .collect()
}

fn audit_events(store: &enmesh_daemon::store::Store) -> Vec<audit_entry::Event> {
    audit_log(store)
        .iter()
        .filter_map(|bytes| AuditEntry::decode(bytes.as_slice()).unwrap().event)
        .collect()
}

/// `(feed, sequence, batch id)` of each batch `store`'s node logged as served on a partial
/// stream to the certificate `leaf`.
fn served_to(store: &enmesh_daemon::store::Store, leaf: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    let fingerprint = Sha256::digest(leaf).to_vec();
    audit_events(store)
        .into_iter()
        .filter_map(|event| match event {
            audit_entry::Event::BatchServed(served)
                if served.path == i32::from(ReplicationPath::PartialStream)
                    && served.peer.as_ref()?.certificate_sha256 == fingerprint =>
            {
                served.batch.map(|b| (b.feed, b.sequence, b.batch_id))
            }
            _ => None,
        })
        .collect()
}

/// `(feed, sequence, batch id)` of each batch `store`'s node logged as stored from `origin`.
fn stored_from(store: &enmesh_daemon::store::Store, origin: &str) -> Vec<(String, u64, Vec<u8>)> {
    audit_events(store)
        .into_iter()
        .filter_map(|event| match event {
            audit_entry::Event::BatchStored(stored) => stored
                .batch
                .filter(|b| b.origin_region == origin)
                .map(|b| (b.feed, b.sequence, b.batch_id)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_travellers_keys_reach_the_visited_region_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let sites = three_sites(dir.path());
    let b = start(site(&sites, "US-CA").config.clone()).await;
    // A also pulls from a JP producer that is down: it must not hold up US-CA's stream.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut a_config = pulls_from(site(&sites, "DE"), "JP", dead);
    a_config
        .peers
        .extend(pulls_from(site(&sites, "DE"), "US-CA", b.grpc_addr()).peers);
    let a = start(a_config).await;
    let c = start(pulls_from(site(&sites, "JP"), "US-CA", b.grpc_addr())).await;

    let b_site = site(&sites, "US-CA");
    let now = UnixTime::now().as_secs();
    let keys = drive::traveller_keys(now).unwrap();
    let token = token::load(&b_site.config.node.data_dir).unwrap();
    drive::upload(b.http_addr(), b.admin_addr(), &token, &keys, &["DE"], now)
        .await
        .unwrap();
    let want: std::collections::HashSet<String> = keys.iter().map(drive::key_text).collect();

    eventually("the keys in DE's public feed", || async {
        drive::feed_keys(a.http_addr()).await.unwrap() == want
    })
    .await;
    // The replication logs tell the same story from both ends: US-CA served each batch to DE's
    // certificate, DE stored each from US-CA; neither log holds a key.
    let de_leaf = credential(site(&sites, "DE")).chain()[0].to_vec();
    eventually(
        "US-CA's log of the batches DE stored, as served to DE",
        || async {
            let stored = stored_from(a.store(), "US-CA");
            !stored.is_empty() && served_to(b.store(), &de_leaf) == stored
        },
    )
    .await;
    for store in [a.store(), b.store()] {
        let log = audit_log(store).concat();
        for key in &keys {
            assert!(!log.windows(16).any(|w| w == key.0), "a key is in a log");
        }
    }
    // C (JP) had its stream open all along and receives nothing; nor does its feed show anything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(drive::feed_keys(c.http_addr()).await.unwrap().is_empty());
    assert!(
        metrics(&c)
            .await
            .contains("enmesh_replication_connected{producer=\"US-CA partial/JP\"} 1")
    );
    let a_metrics = metrics(&a).await;
    assert!(
        a_metrics.contains("enmesh_replication_keys_total{producer=\"US-CA partial/DE\"} 14"),
        "{a_metrics}"
    );
    assert!(
        a_metrics.contains(
            "enmesh_replication_last_success_unix_seconds{producer=\"US-CA partial/DE\"}"
        )
    );
    assert!(
        a_metrics.contains(
            "enmesh_replication_rejections_total{peer=\"JP partial/DE\",reason=\"unreachable\"}"
        ),
        "{a_metrics}"
    );

    // No re-federation: DE cut no batch of its own, on any feed, from what it received.
    for feed in ["a2a/EU", "partial/JP", "partial/US-CA"] {
        assert_eq!(
            a.store().feed_head(&feed.parse::<Feed>().unwrap()).unwrap(),
            None,
            "{feed}"
        );
    }
    // And JP, pulling from DE, gets nothing although DE holds the keys.
    let mut from_a = pull_as(site(&sites, "JP"), "DE", a.grpc_addr(), "partial/JP")
        .await
        .unwrap();
    // The stream opens with DE's head of partial/JP: nothing (sequence 0), and no batch follows
    // (only DE's replication-log checkpoint, for JP to witness).
    let first = from_a.message().await.unwrap().and_then(|m| m.item);
    assert!(
        matches!(first, Some(Item::KeepAlive(ref k)) if k.latest_sequence == 0),
        "{first:?}"
    );
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match from_a.message().await.unwrap().and_then(|m| m.item) {
                Some(Item::Checkpoint(_)) => {}
                other => return other,
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "DE served something to JP: {quiet:?}");

    for node in [c, a, b] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_may_pull_only_its_own_regions_feed() {
    let dir = tempfile::tempdir().unwrap();
    let sites = three_sites(dir.path());
    let b = start(site(&sites, "US-CA").config.clone()).await;
    let jp = site(&sites, "JP");

    for feed in ["partial/DE", "a2a/USA", "partial/US-CA", "nonsense"] {
        let refused = pull_as(jp, "US-CA", b.grpc_addr(), feed).await.unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::PermissionDenied,
            "{feed}: {refused}"
        );
    }
    assert!(
        pull_as(jp, "US-CA", b.grpc_addr(), "partial/JP")
            .await
            .is_ok()
    );
    let m = metrics(&b).await;
    assert!(
        m.contains("enmesh_feed_pull_denials_total{peer=\"JP\",reason=\"not_own_region\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("enmesh_feed_pull_denials_total{peer=\"JP\",reason=\"other_cluster\"} 1"),
        "{m}"
    );

    // A client whose chain leads to another root never gets a stream.
    let other = tempfile::tempdir().unwrap();
    let foreign = three_sites(other.path());
    let config =
        tls::client_config(verifier(&sites[0]), &credential(site(&foreign, "JP")), None).unwrap();
    let url = format!("https://{}", b.grpc_addr()).parse().unwrap();
    let refused = match connect::replication_client(&url, Arc::new(config)).await {
        Err(e) => e.to_string(),
        Ok(mut client) => client
            .pull(PullRequest {
                feed: "partial/JP".into(),
                ..PullRequest::default()
            })
            .await
            .unwrap_err()
            .to_string(),
    };
    assert!(!refused.is_empty());
    eventually("the refused handshake counted", || async {
        metrics(&b).await.contains("reason=\"tls_handshake\"")
    })
    .await;

    // A client that expects another region refuses B's certificate itself.
    let config = tls::client_config(verifier(jp), &credential(jp), Some(region("DE"))).unwrap();
    assert!(
        connect::replication_client(&url, Arc::new(config))
            .await
            .is_err()
    );
    b.shutdown().await.unwrap();
}

/// A hostile producer holding US-CA's real certificate: it serves batch 1 as cut, then batch 2
/// with one body byte changed after signing, then batch 2 signed properly but claiming origin FR.
#[derive(Clone)]
struct Hostile {
    identity: Arc<NodeIdentity>,
}

impl Hostile {
    fn batch(
        &self,
        sequence: u64,
        previous: &[u8],
        origin: &str,
        key_byte: u8,
    ) -> enmesh_proto::v1::SignedBatch {
        let key = enmesh_daemon::wire::key_to_wire(&enmesh_protocol::keys::DiagnosisKey {
            key: enmesh_protocol::gaen::Tek([key_byte; 16]),
            rolling_start: enmesh_protocol::interval::IntervalNumber(2_900_000),
            rolling_period: enmesh_protocol::interval::RollingPeriod::FULL_DAY,
            transmission_risk: enmesh_protocol::keys::TransmissionRisk::new(1).unwrap(),
            report_type: enmesh_protocol::keys::ReportType::ConfirmedTest,
            days_since_onset: None,
        });
        let body = BatchBody {
            origin_region: origin.into(),
            feed: "partial/DE".into(),
            sequence,
            created_unix_millis: 0,
            keys: vec![key],
            previous_batch_id: previous.to_vec(),
        };
        self.identity
            .sign_batch(body.encode_to_vec(), UnixTime::now())
    }
}

#[tonic::async_trait]
impl ReplicationService for Hostile {
    type PullStream = ReceiverStream<Result<PullResponse, Status>>;

    async fn pull(
        &self,
        request: Request<PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let after = request.into_inner().after_sequence;
        let first = self.batch(1, &[], "US-CA", 1);
        let first_id = enmesh_daemon::store::BatchId::of_body(&first.body).0;
        let mut tampered = self.batch(2, &first_id, "US-CA", 2);
        let last = tampered.body.len() - 1;
        tampered.body[last] ^= 0x01;
        let claims_fr = self.batch(2, &first_id, "FR", 3);
        let items: Vec<_> = if after == 0 {
            vec![first, tampered]
        } else {
            vec![claims_fr]
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        for batch in items {
            tx.send(Ok(PullResponse {
                item: Some(Item::Batch(batch)),
            }))
            .await
            .unwrap();
        }
        // Keep the stream open, as a real producer would.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_forged_batches_are_refused_counted_and_leave_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let sites = three_sites(dir.path());
    let us = site(&sites, "US-CA");
    let hostile = Hostile {
        identity: Arc::new(NodeIdentity::new(credential(us))),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let server_tls = tls::server_config(verifier(us), &credential(us)).unwrap();
    let stop = Shutdown::new();
    let serving = tokio::spawn(server::serve(
        listener,
        Arc::new(server_tls),
        tonic::service::Routes::new(
            enmesh_proto::v1::replication_server::ReplicationServer::new(hostile),
        ),
        Metrics::new(),
        stop.signal(),
    ));

    let a = start(pulls_from(site(&sites, "DE"), "US-CA", at)).await;
    eventually("both refusals counted", || async {
        let m = metrics(&a).await;
        m.contains("reason=\"bad_signature\"") && m.contains("reason=\"origin_mismatch\"")
    })
    .await;
    // Batch 1 was good and is stored; the cursor never moved past it.
    let cursor = a
        .store()
        .cursor(&region("US-CA"), &"partial/DE".parse::<Feed>().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(cursor.last_sequence, 1);
    let stored = drive::feed_keys(a.http_addr()).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    // Each refusal is in DE's replication log with its reason and the refused bytes' digest.
    let refused: Vec<String> = audit_events(a.store())
        .into_iter()
        .filter_map(|event| match event {
            audit_entry::Event::BatchRefused(r) => {
                assert_eq!(r.refused_sha256.len(), 32);
                Some(r.reason)
            }
            _ => None,
        })
        .collect();
    for reason in ["bad_signature", "origin_mismatch"] {
        assert!(refused.iter().any(|r| r.starts_with(reason)), "{refused:?}");
    }
    // A batch that does not follow the held history (sequence 3 after 1) is not taken.
    let hostile = Hostile {
        identity: Arc::new(NodeIdentity::new(credential(us))),
    };
    let third = enmesh_daemon::replicate::received::check_batch(
        &verifier(us),
        &hostile.batch(3, &[], "US-CA", 4),
        &"partial/DE".parse().unwrap(),
        enmesh_daemon::replicate::received::Source::Pulled(&region("US-CA")),
        UnixTime::now(),
    )
    .unwrap();
    assert!(matches!(
        a.store().commit_received(
            &third,
            &enmesh_daemon::audit::Sender {
                peer: third.signer().clone(),
                path: enmesh_daemon::audit::Path::PartialStream,
            },
            0,
            0
        ),
        Ok(Err(NotTaken::NotNext { held: 1, .. }))
    ));
    a.shutdown().await.unwrap();
    stop.trigger();
    let _ = serving.await;
}

/// Every key (base64) the public feed at `http` serves now, over all listed chunks, repeats kept.
async fn served_keys(http: SocketAddr) -> Vec<String> {
    let json = |path: String| async move {
        let answer = enmesh_daemon::api::client::get(http, &path).await.unwrap();
        assert_eq!(answer.status, 200, "{path}");
        serde_json::from_slice::<serde_json::Value>(&answer.body).unwrap()
    };
    let index = json("/v1/keys".to_owned()).await;
    let mut keys = Vec::new();
    for chunk in index["chunks"].as_array().unwrap() {
        let chunk = json(format!("/v1/keys/{}", chunk["id"])).await;
        for key in chunk["keys"].as_array().unwrap() {
            keys.push(key["key"].as_str().unwrap().to_owned());
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_key_still_valid_at_upload_waits_for_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let sites = three_sites(dir.path());
    // Both nodes read one clock that the test can move a day ahead.
    let clock = OffsetClock::new();
    let shared: SharedClock = clock.clone();
    let b = node::start(
        site(&sites, "US-CA").config.clone(),
        shared.clone(),
        Metrics::new(),
    )
    .await
    .unwrap();
    let a = node::start(
        pulls_from(site(&sites, "DE"), "US-CA", b.grpc_addr()),
        shared.clone(),
        Metrics::new(),
    )
    .await
    .unwrap();

    // A traveller's 14 past keys (expired) and today's key, still in use.
    let now = shared.now_secs();
    let expired = drive::traveller_keys(now).unwrap();
    let today = enmesh_protocol::interval::IntervalNumber::from_unix_seconds(now)
        .unwrap()
        .day_start();
    let todays: drive::AppKey = ([0x5a; 16], 144, today.0);
    let mut keys = expired.clone();
    keys.push(todays);
    let token = token::load(&site(&sites, "US-CA").config.node.data_dir).unwrap();
    drive::upload(b.http_addr(), b.admin_addr(), &token, &keys, &["DE"], now)
        .await
        .unwrap();

    let mut want: Vec<String> = expired.iter().map(drive::key_text).collect();
    want.sort_unstable();
    let sorted = |mut keys: Vec<String>| {
        keys.sort_unstable();
        keys
    };
    // DE received all 15 keys, but phones in both regions see the expired ones only.
    eventually("all 15 keys stored at DE", || async {
        a.store()
            .keys_arrived(0, u64::MAX, None, 100)
            .unwrap()
            .entries
            .len()
            == 15
    })
    .await;
    for node in [&a, &b] {
        assert_eq!(sorted(served_keys(node.http_addr()).await), want);
    }

    // Past the end of today's key's validity it appears, once, in both feeds.
    let expiry = (u64::from(today.0) + 144) * 600;
    clock.advance_millis((expiry + 1 - shared.now_secs()) * 1000);
    want.push(drive::key_text(&todays));
    want.sort_unstable();
    for node in [&a, &b] {
        assert_eq!(sorted(served_keys(node.http_addr()).await), want);
    }

    for node in [a, b] {
        node.shutdown().await.unwrap();
    }
}
