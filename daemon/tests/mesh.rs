//! The cluster mesh with real nodes on real sockets (127.0.0.1, port 0), each with its own store:
//! every node ends with every other node's batches; a node that was down catches up; a node of
//! another cluster is refused; a peer revoked by a new CRL is dropped; a valid node publishing a batch of another origin is rejected and
//! penalised; and no node ever publishes or serves as its own what it received.

mod common;

use common::{key, now_secs, store_upload};
use enmesh_protocol::feed::Feed;

use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::pki::files;
use enmesh_daemon::pki::{CaKey, Credential, Validity, Verifier};
use enmesh_daemon::replicate::mesh::MeshSettings;
use enmesh_daemon::store::{KeySource, OwnBatch, Store};
use enmesh_daemon::telemetry::Metrics;
use enmesh_daemon::wire::key_to_wire;
use enmesh_proto::v1::BatchBody;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::Multiaddr;
use prost::Message;
use rustls_pki_types::UnixTime;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const CONVERGE: Duration = Duration::from_secs(30);

fn r(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn a2a() -> Feed {
    "a2a/EU".parse::<Feed>().unwrap()
}

/// Commits an upload of `keys` (authorised by a fresh code) and cuts its batch now.
async fn upload(node: &NodeHandle, keys: &[DiagnosisKey]) {
    store_upload(node.store(), keys);
    assert!(node.flush_batches().await.unwrap() >= 1);
}

/// The remote keys a store holds, by origin.
fn remote_keys(store: &Store) -> BTreeMap<RegionId, Vec<[u8; 16]>> {
    let page = store.keys_arrived(0, u64::MAX, None, 1_000_000).unwrap();
    let mut out: BTreeMap<RegionId, Vec<[u8; 16]>> = BTreeMap::new();
    for entry in page.entries {
        if let KeySource::Remote(origin) = entry.source {
            out.entry(origin).or_default().push(entry.key.key.0);
        }
    }
    out
}

/// Waits until `done` holds, polling; panics with `what` after [`CONVERGE`].
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < CONVERGE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A set of sites of one or more clusters, and the nodes running for them.
struct Cluster {
    _dir: tempfile::TempDir,
    sites: Vec<Site>,
    nodes: Vec<Option<NodeHandle>>,
    metrics: Vec<Metrics>,
}

impl Cluster {
    fn prepare(clusters: &[(&str, &[&str])]) -> Self {
        enmesh_daemon::pki::tls::install_default_provider();
        let dir = tempfile::tempdir().unwrap();
        let spec: Vec<(ClusterId, Vec<RegionId>)> = clusters
            .iter()
            .map(|(c, regions)| (c.parse().unwrap(), regions.iter().map(|x| r(x)).collect()))
            .collect();
        let options = SiteOptions {
            batch_window_ms: 50,
            batch_min_keys: 0,
            ..SiteOptions::default()
        };
        let sites = sites::prepare(dir.path(), &spec, &options).unwrap();
        let n = sites.len();
        Self {
            _dir: dir,
            sites,
            nodes: (0..n).map(|_| None).collect(),
            metrics: (0..n).map(|_| Metrics::new()).collect(),
        }
    }

    /// Starts the sites `which` in order, each bootstrapped with every running node.
    async fn start(&mut self, which: impl IntoIterator<Item = usize>) {
        for i in which {
            let bootstrap: Vec<Multiaddr> = self
                .nodes
                .iter()
                .flatten()
                .map(|n| n.mesh().unwrap().listen_addr().clone())
                .collect();
            self.start_with(i, bootstrap).await;
        }
    }

    /// Starts site `i` bootstrapped with `bootstrap`.
    async fn start_with(&mut self, i: usize, bootstrap: Vec<Multiaddr>) {
        {
            let mut config = self.sites[i].config.clone();
            config.mesh = Some(MeshSettings {
                listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
                bootstrap,
            });
            let node = node::start(config, SystemClock::shared(), self.metrics[i].clone())
                .await
                .unwrap();
            self.nodes[i] = Some(node);
        }
    }

    async fn stop(&mut self, i: usize) {
        let node = self.nodes[i].take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), node.shutdown())
            .await
            .unwrap()
            .unwrap();
    }

    async fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.stop(i).await;
            }
        }
    }

    fn node(&self, i: usize) -> &NodeHandle {
        self.nodes[i].as_ref().unwrap()
    }

    fn region(&self, i: usize) -> RegionId {
        self.sites[i].config.node.region.clone()
    }

    /// Whether every running node holds every running node's own feed up to its head.
    fn converged(&self) -> bool {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect();
        running.iter().all(|&origin| {
            let head = self
                .node(origin)
                .store()
                .feed_head(&a2a())
                .unwrap()
                .map_or(0, |h| h.sequence);
            running.iter().filter(|&&n| n != origin).all(|&n| {
                let held = self
                    .node(n)
                    .store()
                    .cursor(&self.region(origin), &a2a())
                    .unwrap()
                    .map_or(0, |c| c.last_sequence);
                held == head
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_each_upload_and_every_node_ends_with_every_key() {
    let regions = ["DE", "FR", "IT", "ES", "NL"];
    let mut cluster = Cluster::prepare(&[("EU", &regions)]);
    cluster.start(0..5).await;
    wait_for("every node admitted by the 4 others", || {
        admitted_counts(&cluster) == vec![4; 5]
    })
    .await;
    let mut uploaded: BTreeMap<RegionId, Vec<[u8; 16]>> = BTreeMap::new();
    for round in 0..2u32 {
        for i in 0..5u8 {
            let keys: Vec<DiagnosisKey> = (0..10).map(|n| key(i + 1, round * 100 + n)).collect();
            upload(cluster.node(usize::from(i)), &keys).await;
            uploaded
                .entry(cluster.region(usize::from(i)))
                .or_default()
                .extend(keys.iter().map(|k| k.key.0));
        }
    }
    wait_for("all five to converge", || cluster.converged()).await;

    let mut announced = 0;
    for i in 0..5 {
        let node = cluster.node(i);
        let me = cluster.region(i);
        // Every key of every other node, under its origin, and nothing else.
        let mut expected = uploaded.clone();
        expected.remove(&me);
        let mut held = remote_keys(node.store());
        for keys in held.values_mut().chain(expected.values_mut()) {
            keys.sort_unstable();
        }
        assert_eq!(held, expected, "remote keys of {me}");
        // This node's own feed holds only its own batches: nothing received is re-published.
        let own = node.store().batches_after(&a2a(), 0, usize::MAX).unwrap();
        assert!(!own.is_empty());
        for batch in &own {
            let body = BatchBody::decode(batch.signed.body.as_slice()).unwrap();
            assert_eq!(body.origin_region, me.to_string());
        }
        let published = format!("enmesh_mesh_published_batches_total {}\n", own.len());
        let metrics = cluster.metrics[i].encode();
        assert!(metrics.contains(&published), "{me}: {metrics}");
        assert!(
            metrics.contains("enmesh_mesh_admitted_peers 4\n"),
            "{metrics}"
        );
        assert!(
            !metrics.contains("enmesh_mesh_rejected_batches_total{"),
            "{metrics}"
        );
        let by_path = |path: &str| {
            metrics
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&format!(
                        "enmesh_mesh_received_batches_total{{path=\"{path}\"}} "
                    ))
                })
                .map_or(0, |v| v.parse::<u64>().unwrap())
        };
        // Each of the 8 batches of the 4 others stored once, after an announcement or by
        // catch-up.
        assert_eq!(by_path("announce") + by_path("catchup"), 8, "{metrics}");
        announced += by_path("announce");
        // The pages were stored by the mesh's store worker (a tracked worker of the node), and
        // none of its units failed.
        let store_runs = metrics
            .lines()
            .find_map(|l| l.strip_prefix("enmesh_worker_runs_total{worker=\"mesh_store\"} "))
            .map_or(0, |v| v.parse::<u64>().unwrap());
        assert!(store_runs >= 1, "{metrics}");
        assert!(
            !metrics.contains("enmesh_worker_errors_total{worker=\"mesh_store\"}"),
            "{metrics}"
        );
    }
    assert!(announced > 0, "nothing arrived after an announcement");
    cluster.stop_all().await;
}

/// How many peers each running node has admitted.
fn admitted_counts(cluster: &Cluster) -> Vec<usize> {
    cluster
        .metrics
        .iter()
        .map(|m| {
            let text = m.encode();
            text.lines()
                .find_map(|l| l.strip_prefix("enmesh_mesh_admitted_peers "))
                .map_or(0, |v| v.trim().parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_was_down_catches_up_from_the_others() {
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR", "IT"])]);
    cluster.start(0..3).await;
    upload(cluster.node(0), &[key(1, 1)]).await;
    wait_for("first convergence", || cluster.converged()).await;

    cluster.stop(2).await;
    // While IT is down: DE uploads twice, FR once.
    upload(cluster.node(0), &[key(1, 2), key(1, 3)]).await;
    upload(cluster.node(0), &[key(1, 4)]).await;
    upload(cluster.node(1), &[key(2, 1)]).await;
    wait_for("DE and FR to converge", || cluster.converged()).await;
    // DE goes down too: IT must get DE's batches from FR.
    cluster.stop(0).await;
    cluster.metrics[2] = Metrics::new();
    cluster.start([2]).await;
    wait_for("IT to catch up with DE and FR", || {
        let store = cluster.node(2).store();
        let de = store
            .cursor(&r("DE"), &a2a())
            .unwrap()
            .map(|c| c.last_sequence);
        let fr = store
            .cursor(&r("FR"), &a2a())
            .unwrap()
            .map(|c| c.last_sequence);
        de == Some(3) && fr == Some(1)
    })
    .await;
    let held = remote_keys(cluster.node(2).store());
    assert_eq!(held[&r("DE")].len(), 4);
    assert_eq!(held[&r("FR")].len(), 1);
    let metrics = cluster.metrics[2].encode();
    assert!(
        metrics.contains("enmesh_mesh_received_batches_total{path=\"catchup\"} 3\n"),
        "{metrics}"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_bootstrapped_with_one_address_find_the_rest_and_survive_its_loss() {
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR", "IT", "ES"])]);
    cluster.start([0]).await;
    let first = cluster.node(0).mesh().unwrap().listen_addr().clone();
    for i in 1..4 {
        cluster.start_with(i, vec![first.clone()]).await;
    }
    wait_for("every node admitted by the 3 others", || {
        admitted_counts(&cluster) == vec![3; 4]
    })
    .await;
    // Without DE, the others still replicate to each other.
    cluster.stop(0).await;
    upload(cluster.node(1), &[key(2, 1)]).await;
    upload(cluster.node(3), &[key(4, 1)]).await;
    wait_for("FR, IT and ES to converge", || cluster.converged()).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_40_000_keys_replicates() {
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR"])]);
    cluster.start(0..2).await;
    wait_for("DE and FR admitted", || {
        admitted_counts(&cluster) == vec![1; 2]
    })
    .await;
    upload(cluster.node(0), &[key(1, 0)]).await;
    wait_for("the small batch", || cluster.converged()).await;

    // DE's second batch holds 40,000 keys (about 1.4 MB); it is signed by DE like any batch its
    // batcher cuts, and its batcher's next batch follows it.
    let store = cluster.node(0).store();
    let head = store.feed_head(&a2a()).unwrap().unwrap();
    let body = BatchBody {
        origin_region: "DE".to_owned(),
        feed: "a2a/EU".to_owned(),
        sequence: 2,
        created_unix_millis: 1,
        keys: (1..=40_000).map(|n| key_to_wire(&key(1, n))).collect(),
        previous_batch_id: head.batch_id.0.to_vec(),
    };
    let big = credential(&cluster.sites[0]).sign_batch(body.encode_to_vec());
    assert!(big.encoded_len() > 1024 * 1024);
    store
        .append_batches(
            &[OwnBatch {
                signed: big,
                padding: 0,
            }],
            now_secs(),
            None,
        )
        .unwrap();
    upload(cluster.node(0), &[key(1, 50_000)]).await;

    wait_for("FR to fetch the big batch", || cluster.converged()).await;
    assert_eq!(remote_keys(cluster.node(1).store())[&r("DE")].len(), 40_002);
    cluster.stop_all().await;
}

/// The credential (key and chain) of `site`'s node.
fn credential(site: &Site) -> Credential {
    site.pki.credential().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_another_cluster_is_refused_and_gets_nothing() {
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR"]), ("US", &["US-CA"])]);
    cluster.start([0, 2]).await;
    wait_for("DE to refuse US-CA", || {
        // At least once: a simultaneous dial from both sides is refused twice.
        cluster.metrics[0].encode().lines().any(|l| {
            l.strip_prefix("enmesh_mesh_refused_peers_total{reason=\"other_cluster\"} ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 1)
        })
    })
    .await;
    upload(cluster.node(0), &[key(1, 1)]).await;
    // FR (EU) joins later and gets DE's batch; US-CA never does.
    cluster.start([1]).await;
    wait_for("FR to get DE's batch", || {
        let cursor = cluster.node(1).store().cursor(&r("DE"), &a2a()).unwrap();
        cursor.is_some_and(|c| c.last_sequence == 1)
    })
    .await;
    let status = cluster.node(0).mesh().unwrap().status().await.unwrap();
    let admitted: Vec<RegionId> = status.admitted.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(admitted, [r("FR")]);
    assert!(remote_keys(cluster.node(2).store()).is_empty());
    assert!(
        cluster.metrics[2]
            .encode()
            .contains("enmesh_mesh_refused_peers_total{reason=\"other_cluster\"}"),
        "US-CA refuses EU nodes too"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_revoked_by_a_new_crl_is_dropped_and_blocked() {
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR", "IT"])]);
    cluster.start(0..3).await;
    wait_for("all admitted", || admitted_counts(&cluster) == vec![2; 3]).await;

    // The EU cluster CA revokes FR's certificate; DE gets the CRL.
    let pki = cluster.sites[0].config.pki.clone();
    let dir = pki.root_cert.parent().unwrap();
    let ca = CaKey::from_pem(
        &std::fs::read_to_string(dir.join("cluster-eu.pem")).unwrap(),
        &std::fs::read_to_string(dir.join("cluster-eu.key")).unwrap(),
    )
    .unwrap();
    let fr = &cluster.sites[1].pki;
    let fr_chain: Vec<_> = [&fr.cert, &fr.cluster_ca]
        .iter()
        .flat_map(|p| files::read_certs(p).unwrap())
        .collect();
    let now = OffsetDateTime::now_utc();
    let verifier = &cluster.node(0).trust().verifier;
    let serial = verifier
        .verify_node(&fr_chain, UnixTime::now())
        .unwrap()
        .serial()
        .to_vec();
    let crl = ca
        .crl(&[(serial, now)], 1, Validity::days_from(now, 1).unwrap())
        .unwrap();
    let root = files::read_first_cert(&pki.root_cert).unwrap();
    let updated = Arc::new(Verifier::new(root, &[crl]).unwrap());
    let de = cluster.node(0).mesh().unwrap();
    de.set_verifier(updated).await.unwrap();

    let status = de.status().await.unwrap();
    let admitted: Vec<RegionId> = status.admitted.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(admitted, [r("IT")]);
    assert!(
        cluster.metrics[0]
            .encode()
            .contains("enmesh_mesh_refused_peers_total{reason=\"revoked\"} 1\n")
    );
    // DE's next batch reaches IT; FR stays disconnected from DE (its redials are blocked). IT
    // has no CRL yet, so it may still relay to FR: the CRL has to reach every node.
    upload(cluster.node(0), &[key(1, 1)]).await;
    wait_for("IT to get DE's batch", || {
        let cursor = cluster.node(2).store().cursor(&r("DE"), &a2a()).unwrap();
        cursor.is_some_and(|c| c.last_sequence == 1)
    })
    .await;
    let status = de.status().await.unwrap();
    assert!(status.admitted.iter().all(|(_, r)| *r != self::r("FR")));
    let fr_peer = cluster.node(1).mesh().unwrap().peer_id();
    assert!(
        status.scores.iter().all(|(p, _)| *p != fr_peer),
        "FR still connected to DE"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_claiming_another_origin_is_rejected_and_its_sender_penalised() {
    // FR is part of the cluster but never started: only the forger could claim to be it.
    let mut cluster = Cluster::prepare(&[("EU", &["DE", "FR", "IT"])]);
    cluster.start([0, 2]).await;
    wait_for("DE and IT admitted", || admitted_counts(&cluster)[0] == 1).await;

    // IT's own key signs a body that names FR as origin, at the head of IT's a2a feed.
    let credential = credential(&cluster.sites[2]);
    let body = BatchBody {
        origin_region: "FR".to_owned(),
        feed: "a2a/EU".to_owned(),
        sequence: 1,
        created_unix_millis: 1,
        keys: vec![key_to_wire(&key(9, 9))],
        previous_batch_id: Vec::new(),
    };
    let forged = credential.sign_batch(body.encode_to_vec());
    cluster
        .node(2)
        .store()
        .append_batches(
            &[OwnBatch {
                signed: forged,
                padding: 0,
            }],
            now_secs(),
            None,
        )
        .unwrap();
    // IT's next real batch makes its mesh publish both.
    upload(cluster.node(2), &[key(3, 1)]).await;

    wait_for("DE to reject the forged batch", || {
        cluster.metrics[0]
            .encode()
            .contains("enmesh_mesh_rejected_batches_total{reason=\"origin_mismatch\"}")
    })
    .await;
    let status = cluster.node(0).mesh().unwrap().status().await.unwrap();
    let it_peer = cluster.node(2).mesh().unwrap().peer_id();
    let score = status
        .scores
        .iter()
        .find(|(p, _)| *p == it_peer)
        .map(|(_, s)| *s);
    assert!(
        score.is_some_and(|s| s < 0.0),
        "IT's score at DE: {score:?}"
    );
    let de = cluster.node(0).store();
    assert_eq!(de.cursor(&r("FR"), &a2a()).unwrap(), None);
    assert_eq!(
        de.cursor(&r("IT"), &a2a()).unwrap(),
        None,
        "IT's chain starts with the forgery"
    );
    assert!(remote_keys(de).is_empty());
    cluster.stop_all().await;
}
