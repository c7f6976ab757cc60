//! The replication log end to end, from an auditor's chair: two real nodes (US-CA producing,
//! DE pulling its partial feed over mutual TLS), an auditor certificate issued by a cluster CA,
//! and the `Audit` service on the producer's gRPC listener, read with `audit::client` and with
//! the `enmesh audit` binary. Checked: signed checkpoints verify against the CA tree and track
//! the log, the entries served hash to the signed root, inclusion and consistency proofs
//! verify, and a forged history, a tampered note, a checkpoint of another node, a question
//! beyond the log and a client of another CA tree are all refused. Witnessing: a consumer
//! witnesses its producer over the partial stream, and two meshed nodes witness each other
//! over the mesh; both catch a node that really rewrote its log.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::eventually;
use enmesh_daemon::admin::token;
use enmesh_daemon::audit::client::{AuditClientError, Auditor, check_checkpoint, entry_json};
use enmesh_daemon::audit::mirror::Mirror;
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::config::{Config, FeedFormat, PeerConfig, Replication};
use enmesh_daemon::demo::drive;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::pki::{Credential, Verifier, bootstrap, files};
use enmesh_daemon::replicate::mesh::MeshSettings;
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1::CheckpointResponse;
use enmesh_proto::v1::audit_client::AuditClient;
use enmesh_protocol::checkpoint::{Checkpoint, KeyName, NoteSigner};
use enmesh_protocol::merkle::Hash;
use enmesh_protocol::region::{ClusterId, RegionId};
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

/// EU = {DE}, USA = {US-CA}, checkpoints every second.
fn two_sites(dir: &Path) -> Vec<Site> {
    let clusters: Vec<(ClusterId, Vec<RegionId>)> = [("EU", "DE"), ("USA", "US-CA")]
        .iter()
        .map(|(c, r)| (c.parse().unwrap(), vec![region(r)]))
        .collect();
    let options = SiteOptions {
        batch_window_ms: 20,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    let mut sites = sites::prepare(dir, &clusters, &options).unwrap();
    for site in &mut sites {
        site.config.audit.checkpoint_interval = Duration::from_secs(1);
    }
    sites
}

fn site<'a>(sites: &'a [Site], r: &str) -> &'a Site {
    sites.iter().find(|s| s.pki.region == region(r)).unwrap()
}

async fn start(config: Config) -> NodeHandle {
    node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap()
}

/// An auditor of `site`'s cluster: its certificate chain and key files.
fn auditor_files(site: &Site, dir: &Path) -> (PathBuf, PathBuf) {
    let (chain, key) =
        bootstrap::issue_auditor(&site.pki.cluster_ca, "ops", 2, OffsetDateTime::now_utc())
            .unwrap();
    let (cert_path, key_path) = (dir.join("auditor.pem"), dir.join("auditor.key"));
    std::fs::write(&cert_path, chain).unwrap();
    std::fs::write(&key_path, key).unwrap();
    (cert_path, key_path)
}

fn verifier(site: &Site) -> Arc<Verifier> {
    let root = files::read_first_cert(&site.config.pki.root_cert).unwrap();
    Arc::new(Verifier::new(root, &[]).unwrap())
}

fn credential(cert: &Path, key: &Path) -> Credential {
    Credential::from_pem(
        &std::fs::read(key).unwrap(),
        &[&std::fs::read(cert).unwrap()],
    )
    .unwrap()
}

fn url(node: &NodeHandle) -> tonic::transport::Uri {
    format!("https://{}", node.grpc_addr()).parse().unwrap()
}

async fn upload(node: &NodeHandle, site: &Site, visited: &str) {
    let now = UnixTime::now().as_secs();
    let keys = drive::traveller_keys(now).unwrap();
    let token = token::load(&site.config.node.data_dir).unwrap();
    drive::upload(
        node.http_addr(),
        node.admin_addr(),
        &token,
        &keys,
        &[visited],
        now,
    )
    .await
    .unwrap();
}

/// `enmesh audit <args>` run as the auditor: its JSON output.
fn audit_cli(args: &[String]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_enmesh"))
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enmesh audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_checks_a_nodes_log_against_its_signed_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let sites = two_sites(dir.path());
    let (us, de) = (site(&sites, "US-CA"), site(&sites, "DE"));
    let b = start(us.config.clone()).await;
    let mut a_config = de.config.clone();
    a_config.peers.push(PeerConfig {
        url: url(&b),
        region: region("US-CA"),
        replication: Replication::Partial,
        format: FeedFormat::Enmesh,
    });
    let a = start(a_config).await;
    upload(&b, us, "DE").await;
    eventually("DE stored US-CA's batch", || async {
        !drive::feed_keys(a.http_addr()).await.unwrap().is_empty()
    })
    .await;

    let (cert, key) = auditor_files(us, dir.path());
    let mut auditor = Auditor::with(
        &url(&b),
        verifier(us),
        &credential(&cert, &key),
        Some(region("US-CA")),
    )
    .await
    .unwrap();
    // The checkpointer catches up with the log within a period or two.
    let mut first = auditor.checkpoint().await.unwrap();
    for _ in 0..100 {
        if first.checkpoint.size() == b.store().audit_head().0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        first = auditor.checkpoint().await.unwrap();
    }
    assert_eq!(first.checkpoint.origin(), "enmesh/USA/US-CA");
    assert_eq!(
        (first.checkpoint.size(), first.checkpoint.root()),
        b.store().audit_head()
    );
    let (checked, entries) = auditor.fetch_log(|_| {}).await.unwrap();
    assert_eq!(entries.len() as u64, checked.checkpoint.size().0);
    let kinds: Vec<String> = entries
        .iter()
        .map(|e| entry_json(e)["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["batch_cut", "batch_served", "peer_checked"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
    let last = first.checkpoint.size().0 - 1;
    let proved = auditor.prove(&first, last).await.unwrap();
    let stored = b.store().audit_entries(last, last + 1).unwrap().unwrap();
    assert_eq!(proved["entry"], entry_json(&stored[0]), "{proved:#}");

    // `enmesh audit sync` keeps a local copy; a second sync adds only what is new.
    let copy = dir.path().join("copy");
    let auditor_args: Vec<String> = {
        let root = us.config.pki.root_cert.to_str().unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        ["--cert", cert, "--key", key, "--root", root]
            .map(ToString::to_string)
            .to_vec()
    };
    let node = format!("https://{}", b.grpc_addr());
    let sync_args: Vec<String> = ["sync", "--node", &node, "--region", "US-CA"]
        .into_iter()
        .chain(["--dir", copy.to_str().unwrap()])
        .map(ToString::to_string)
        .chain(auditor_args.clone())
        .collect();
    let args = sync_args.clone();
    let synced = tokio::task::spawn_blocking(move || audit_cli(&args))
        .await
        .unwrap();
    assert_eq!(synced["root_recomputed"], true, "{synced:#}");
    assert_eq!(synced["previous_tree_size"], serde_json::Value::Null);
    let synced_size = synced["checkpoint"]["tree_size"].as_u64().unwrap();
    assert_eq!(synced["new_entries"].as_u64().unwrap(), synced_size);

    // The log grows; the new checkpoint is consistent with the kept one.
    upload(&b, us, "DE").await;
    let mut second = auditor.checkpoint().await.unwrap();
    for _ in 0..100 {
        if second.checkpoint.size() > first.checkpoint.size() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        second = auditor.checkpoint().await.unwrap();
    }
    assert!(second.checkpoint.size() > first.checkpoint.size());
    assert_eq!(
        auditor.consistent(&first, &second).await.unwrap(),
        first.checkpoint.size().0
    );
    let args = sync_args.clone();
    let synced = tokio::task::spawn_blocking(move || audit_cli(&args))
        .await
        .unwrap();
    assert_eq!(synced["previous_tree_size"], synced_size, "{synced:#}");
    let size = synced["checkpoint"]["tree_size"].as_u64().unwrap();
    assert_eq!(synced["new_entries"].as_u64().unwrap(), size - synced_size);

    // Both logs together: every batch DE stored was cut by US-CA with that id, and every batch
    // US-CA served reached DE's log. `trace` follows one batch from cut to store.
    let nodes: Vec<String> = [url(&b), url(&a)]
        .iter()
        .flat_map(|u| ["--node".to_owned(), u.to_string()])
        .collect();
    let args: Vec<String> = std::iter::once("cross-check".to_owned())
        .chain(nodes.clone())
        .chain(auditor_args.clone())
        .collect();
    let report = tokio::task::spawn_blocking(move || audit_cli(&args))
        .await
        .unwrap();
    assert_eq!(report["consistent"], true, "{report:#}");
    let counted = |node: usize, field: &str| report["nodes"][node][field].as_u64().unwrap();
    assert!(
        counted(0, "served_checked") >= 1 && counted(1, "stored_checked") >= 1,
        "{report:#}"
    );
    let log = b
        .store()
        .audit_entries(0, b.store().audit_head().0.0)
        .unwrap()
        .unwrap();
    let cut = log
        .iter()
        .map(|e| entry_json(e))
        .find(|e| e["kind"] == "batch_cut" && e["event"]["batch"]["feed"] == "partial/DE")
        .unwrap();
    let id = cut["event"]["batch"]["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let args: Vec<String> = ["trace".to_owned(), "--batch".to_owned(), id]
        .into_iter()
        .chain(nodes)
        .chain(auditor_args)
        .collect();
    let traced = tokio::task::spawn_blocking(move || audit_cli(&args))
        .await
        .unwrap();
    let kinds_at = |node: usize| -> Vec<String> {
        traced["nodes"][node]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entry"]["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds_at(0), ["batch_cut", "batch_served"], "{traced:#}");
    assert_eq!(kinds_at(1), ["batch_stored"], "{traced:#}");

    // A forged history: a checkpoint of the same size with another root, signed with the
    // node's own key (as a node rewriting its log would). The consistency proof exposes it.
    let seed = {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        use rustls_pki_types::pem::PemObject;
        let pem = std::fs::read(&us.pki.key).unwrap();
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem).unwrap();
        ed25519_dalek::SigningKey::from_pkcs8_der(der.secret_pkcs8_der())
            .unwrap()
            .to_bytes()
    };
    let signer = NoteSigner::from_seed(KeyName::new("enmesh/USA/US-CA").unwrap(), &seed);
    let forged = Checkpoint::new(
        "enmesh/USA/US-CA",
        first.checkpoint.size(),
        Hash([0x42; 32]),
        Vec::new(),
    )
    .unwrap();
    let forged = CheckpointResponse {
        note: forged.sign(&signer),
        signer_chain: first.answer.signer_chain.clone(),
    };
    let forged = auditor.check(&forged).unwrap();
    let err = auditor.consistent(&forged, &second).await.unwrap_err();
    assert!(matches!(err, AuditClientError::Inconsistent(_)), "{err}");
    // A log that shrank is caught before any proof is asked for.
    let err = auditor.consistent(&second, &first).await.unwrap_err();
    assert!(matches!(err, AuditClientError::Shrank { .. }), "{err}");

    // A tampered note, and DE's checkpoint passed off as US-CA's, are refused.
    let mut tampered = second.answer.clone();
    tampered.note = tampered.note.replacen(
        &format!("\n{}\n", second.checkpoint.size().0),
        &format!("\n{}\n", second.checkpoint.size().0 + 1),
        1,
    );
    let err = check_checkpoint(&tampered, &verifier(us), None, UnixTime::now()).unwrap_err();
    assert!(matches!(err, AuditClientError::Note(_)), "{err}");
    let mut of_de = Auditor::with(&url(&a), verifier(us), &credential(&cert, &key), None)
        .await
        .unwrap();
    let de_checkpoint = of_de.checkpoint().await.unwrap();
    assert_eq!(de_checkpoint.checkpoint.origin(), "enmesh/EU/DE");
    let err = check_checkpoint(
        &de_checkpoint.answer,
        &verifier(us),
        Some(&region("US-CA")),
        UnixTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, AuditClientError::Region { .. }), "{err}");

    // A question beyond the log is OUT_OF_RANGE, and counted.
    let tls = enmesh_daemon::pki::tls::client_config(
        verifier(us),
        &credential(&cert, &key),
        Some(region("US-CA")),
    )
    .unwrap();
    let channel = enmesh_daemon::replicate::partial::connect::tls_channel(&url(&b), Arc::new(tls))
        .await
        .unwrap();
    let mut raw = AuditClient::new(channel);
    let status = raw
        .get_inclusion_proof(enmesh_proto::v1::InclusionProofRequest {
            index: u64::MAX - 1,
            tree_size: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    let status = raw
        .get_entries(enmesh_proto::v1::EntriesRequest {
            start: 0,
            end: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    let metrics = enmesh_daemon::api::client::get(b.http_addr(), "/metrics")
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains(
            "enmesh_audit_requests_total{method=\"inclusion_proof\",outcome=\"bad_request\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("enmesh_audit_checkpoints_total"),
        "{metrics}"
    );

    // An auditor of another CA tree (trusting this one's root, so the node is the one to
    // refuse) does not get past the handshake, and the refusal is counted.
    let other = tempfile::tempdir().unwrap();
    let stranger = two_sites(other.path());
    let (cert2, key2) = auditor_files(site(&stranger, "US-CA"), other.path());
    let refused = Auditor::with(&url(&b), verifier(us), &credential(&cert2, &key2), None).await;
    let refused = match refused {
        Ok(mut auditor) => auditor.checkpoint().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(refused.is_err(), "a stranger read the log");
    eventually("the stranger's handshake counted", || async {
        enmesh_daemon::api::client::get(b.http_addr(), "/metrics")
            .await
            .unwrap()
            .text()
            .contains("reason=\"tls_handshake\"")
    })
    .await;

    for node in [a, b] {
        node.shutdown().await.unwrap();
    }
}

/// The tree size of `node`'s latest checkpoint (0: none yet).
fn signed_size(node: &NodeHandle) -> u64 {
    node.store()
        .checkpoint()
        .unwrap()
        .map_or(0, |c| enmesh_daemon::audit::checkpoints::size_of(&c.note))
}

/// Deletes every entry and subtree hash of the replication log in the (stopped) node's store,
/// keeping its last checkpoint: the node then rebuilds a different history.
fn wipe_log(data_dir: &Path) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), data_dir).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), data_dir, &cfs).unwrap();
    let cf = db.cf_handle("audit").unwrap();
    let keys: Vec<Box<[u8]>> = db
        .iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|item| item.unwrap().0)
        .filter(|key| key[0] == b'e' || key[0] == b'h')
        .collect();
    assert!(!keys.is_empty());
    for key in keys {
        db.delete_cf(cf, key).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_entry_and_a_rewritten_log_are_caught_by_sync() {
    let dir = tempfile::tempdir().unwrap();
    let sites = two_sites(dir.path());
    let us = site(&sites, "US-CA");
    let (cert, key) = auditor_files(us, dir.path());
    let b = start(us.config.clone()).await;
    upload(&b, us, "DE").await;
    let auditor = |node: &NodeHandle| {
        let url = url(node);
        let credential = credential(&cert, &key);
        async move {
            Auditor::with(&url, verifier(us), &credential, Some(region("US-CA")))
                .await
                .unwrap()
        }
    };
    eventually("a checkpoint of the cut batch", || async {
        signed_size(&b) >= 1
    })
    .await;
    let mut reader = auditor(&b).await;
    let copy = dir.path().join("copy");
    let mut mirror = Mirror::open(&copy).unwrap();
    reader.sync(&mut mirror, |_| {}).await.unwrap();
    let kept = mirror.entries().len() as u64;
    b.shutdown().await.unwrap();

    // One entry changed in place (its hashes left alone): a copy made from scratch no longer
    // hashes to the signed root, and says so.
    {
        let cfs =
            rocksdb::DB::list_cf(&rocksdb::Options::default(), &us.config.node.data_dir).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &us.config.node.data_dir, &cfs)
            .unwrap();
        let cf = db.cf_handle("audit").unwrap();
        let mut first_key = vec![b'e'];
        first_key.extend_from_slice(&0u64.to_be_bytes());
        let mut entry = db.get_cf(cf, &first_key).unwrap().unwrap();
        let last = entry.len() - 1;
        entry[last] ^= 1;
        db.put_cf(cf, &first_key, entry).unwrap();
    }
    let b = start(us.config.clone()).await;
    let mut reader = auditor(&b).await;
    let fresh = dir.path().join("fresh");
    let err = reader
        .sync(&mut Mirror::open(&fresh).unwrap(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuditClientError::RootMismatch { .. }),
        "{err}"
    );
    b.shutdown().await.unwrap();

    // The whole log rewritten (wiped, then new events): the kept copy's next sync finds the
    // new checkpoint inconsistent with its own and names both.
    wipe_log(&us.config.node.data_dir);
    let b = start(us.config.clone()).await;
    // Uploads a batch window apart, so each is cut on its own.
    for _ in 0..=kept {
        upload(&b, us, "DE").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually(
        "a checkpoint of the rewritten log past the kept size",
        || async { signed_size(&b) > kept },
    )
    .await;
    let mut reader = auditor(&b).await;
    let err = reader.sync(&mut mirror, |_| {}).await.unwrap_err();
    match &err {
        AuditClientError::Inconsistent(pair) => {
            assert!(
                pair.previous_size == kept && pair.current_size > kept,
                "{err}"
            )
        }
        other => panic!("not caught as inconsistent: {other}"),
    }
    // Nothing of the failed sync was kept.
    assert_eq!(Mirror::open(&copy).unwrap().entries().len() as u64, kept);
    b.shutdown().await.unwrap();
}

async fn metrics_of(node: &NodeHandle) -> String {
    enmesh_daemon::api::client::get(node.http_addr(), "/metrics")
        .await
        .unwrap()
        .text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_witnesses_its_producers_log_and_catches_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let sites = two_sites(dir.path());
    let (us, de) = (site(&sites, "US-CA"), site(&sites, "DE"));
    // The producer keeps its gRPC port across the restart, so the consumer finds it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut us_config = us.config.clone();
    us_config.grpc.listen = port;
    let b = start(us_config.clone()).await;
    let mut a_config = de.config.clone();
    a_config.peers.push(PeerConfig {
        url: url(&b),
        region: region("US-CA"),
        replication: Replication::Partial,
        format: FeedFormat::Enmesh,
    });
    let a = start(a_config).await;
    upload(&b, us, "DE").await;

    // DE checks each checkpoint US-CA passes on the stream, keeps it and cosigns it; US-CA
    // keeps the cosignature on its checkpoint, which an auditor sees.
    eventually("US-CA's checkpoint cosigned by DE", || async {
        b.store()
            .checkpoint()
            .unwrap()
            .is_some_and(|c| c.note.contains("\n\u{2014} enmesh/EU/DE "))
    })
    .await;
    assert!(
        metrics_of(&a)
            .await
            .contains("enmesh_audit_witnessed_total{origin=\"US-CA\"}")
    );
    let (cert, key) = auditor_files(us, dir.path());
    let mut auditor = Auditor::with(&url(&b), verifier(us), &credential(&cert, &key), None)
        .await
        .unwrap();
    let checked = auditor.checkpoint().await.unwrap();
    assert!(
        checked.json()["cosignatures"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("enmesh/EU/DE")),
        "{}",
        checked.json()
    );
    eventually("US-CA's checkpoint of its cut", || async {
        signed_size(&b) >= 1
    })
    .await;
    let held = signed_size(&b);
    eventually("DE holds US-CA's latest checkpoint", || async {
        a.store()
            .witnessed("enmesh/USA/US-CA")
            .unwrap()
            .is_some_and(|c| enmesh_daemon::audit::checkpoints::size_of(&c.note) == held)
    })
    .await;
    assert!(a.store().forks().unwrap().is_empty());

    // US-CA rewrites its history (log wiped, new events) and restarts on the same port.
    b.shutdown().await.unwrap();
    wipe_log(&us_config.node.data_dir);
    let b = start(us_config).await;
    for _ in 0..=held {
        upload(&b, us, "DE").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually("DE's alarm on US-CA's fork", || async {
        metrics_of(&a)
            .await
            .contains("enmesh_audit_forks_total{origin=\"US-CA\"} 1")
    })
    .await;
    let forks = a.store().forks().unwrap();
    assert_eq!(forks.len(), 1, "{forks:?}");
    let evidence = &forks[0];
    let (old, new) = (
        evidence.held.as_ref().unwrap(),
        evidence.new.as_ref().unwrap(),
    );
    assert_eq!(enmesh_daemon::audit::checkpoints::size_of(&old.note), held);
    // Both pieces of evidence are signed by US-CA's certificate.
    for note in [old, new] {
        check_checkpoint(note, &verifier(us), Some(&region("US-CA")), UnixTime::now()).unwrap();
    }
    // DE's own log says so, and it still holds the checkpoint from before the rewrite.
    let log = a
        .store()
        .audit_entries(0, a.store().audit_head().0.0)
        .unwrap()
        .unwrap();
    assert!(
        log.iter().any(|e| entry_json(e)["kind"] == "fork_detected"),
        "no fork entry in DE's log"
    );
    let still = a.store().witnessed("enmesh/USA/US-CA").unwrap().unwrap();
    assert_eq!(
        enmesh_daemon::audit::checkpoints::size_of(&still.note),
        held
    );
    for node in [a, b] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_peers_witness_each_others_logs_and_catch_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let clusters: Vec<(ClusterId, Vec<RegionId>)> =
        vec![("EU".parse().unwrap(), vec![region("DE"), region("FR")])];
    let options = SiteOptions {
        batch_window_ms: 20,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    let mut sites = sites::prepare(dir.path(), &clusters, &options).unwrap();
    for site in &mut sites {
        // Checkpoints, and the witnessing of each mesh peer, every second.
        site.config.audit.checkpoint_interval = Duration::from_secs(1);
    }
    let (de, fr) = (site(&sites, "DE"), site(&sites, "FR"));
    // FR keeps its mesh port across the restart, so DE's redial finds it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut fr_config = fr.config.clone();
    fr_config.mesh = Some(MeshSettings {
        listen: format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(),
        bootstrap: Vec::new(),
    });
    let b = start(fr_config.clone()).await;
    let mut de_config = de.config.clone();
    de_config.mesh = Some(MeshSettings {
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootstrap: vec![b.mesh().unwrap().listen_addr().clone()],
    });
    let a = start(de_config).await;
    upload(&b, fr, "DE").await;

    // Each node asks the other for its checkpoint over the mesh, checks it, keeps it and
    // cosigns it: both checkpoints end up carrying the other's cosignature.
    eventually(
        "each checkpoint cosigned by the other mesh node",
        || async {
            let cosigned = |node: &NodeHandle, by: &str| {
                node.store()
                    .checkpoint()
                    .unwrap()
                    .is_some_and(|c| c.note.contains(&format!("\n\u{2014} enmesh/EU/{by} ")))
            };
            cosigned(&b, "DE") && cosigned(&a, "FR")
        },
    )
    .await;
    assert!(
        metrics_of(&a)
            .await
            .contains("enmesh_audit_witnessed_total{origin=\"FR\"}")
    );
    // FR's log no longer grows (DE fetched the batch): DE holds FR's latest checkpoint.
    let mut held = 0;
    eventually("DE holds FR's latest checkpoint", || {
        let size = signed_size(&b);
        held = size;
        let store = a.store().clone();
        async move {
            store
                .witnessed("enmesh/EU/FR")
                .unwrap()
                .is_some_and(|c| enmesh_daemon::audit::checkpoints::size_of(&c.note) == size)
        }
    })
    .await;
    assert!(held >= 1);
    assert!(a.store().forks().unwrap().is_empty());

    // FR rewrites its history (log wiped, new events) and restarts on the same port.
    b.shutdown().await.unwrap();
    wipe_log(&fr_config.node.data_dir);
    let b = start(fr_config).await;
    eventually("DE's alarm on FR's fork", || async {
        metrics_of(&a)
            .await
            .contains("enmesh_audit_forks_total{origin=\"FR\"} 1")
    })
    .await;
    let forks = a.store().forks().unwrap();
    assert_eq!(forks.len(), 1, "{forks:?}");
    let evidence = &forks[0];
    let (old, new) = (
        evidence.held.as_ref().unwrap(),
        evidence.new.as_ref().unwrap(),
    );
    assert_eq!(enmesh_daemon::audit::checkpoints::size_of(&old.note), held);
    for note in [old, new] {
        check_checkpoint(note, &verifier(fr), Some(&region("FR")), UnixTime::now()).unwrap();
    }
    let log = a
        .store()
        .audit_entries(0, a.store().audit_head().0.0)
        .unwrap()
        .unwrap();
    assert!(
        log.iter().any(|e| entry_json(e)["kind"] == "fork_detected"),
        "no fork entry in DE's log"
    );
    // DE still holds FR's checkpoint from before the rewrite.
    let still = a.store().witnessed("enmesh/EU/FR").unwrap().unwrap();
    assert_eq!(
        enmesh_daemon::audit::checkpoints::size_of(&still.note),
        held
    );
    for node in [a, b] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_holds_at_most_max_streams_open_at_once() {
    use enmesh_daemon::replicate::partial::connect::{replication_client_on, tls_channel};
    use enmesh_daemon::replicate::partial::server::MAX_STREAMS_PER_CONNECTION;
    use enmesh_proto::v1::{CheckpointRequest, PullRequest};

    let dir = tempfile::tempdir().unwrap();
    let sites = two_sites(dir.path());
    let (us, de) = (site(&sites, "US-CA"), site(&sites, "DE"));
    let b = start(us.config.clone()).await;
    // DE's node certificate, one TLS connection to US-CA for every call below.
    let pki = &de.config.pki;
    let node = Credential::from_pem(
        &std::fs::read(&pki.node_key).unwrap(),
        &[
            &std::fs::read(&pki.node_cert).unwrap(),
            &std::fs::read(&pki.chain).unwrap(),
        ],
    )
    .unwrap();
    let tls =
        enmesh_daemon::pki::tls::client_config(verifier(us), &node, Some(region("US-CA"))).unwrap();
    let channel = tls_channel(&url(&b), Arc::new(tls)).await.unwrap();
    let mut pulls = Vec::new();
    for _ in 0..MAX_STREAMS_PER_CONNECTION {
        let stream = replication_client_on(channel.clone())
            .pull(PullRequest {
                feed: "partial/DE".to_owned(),
                after_sequence: 0,
                after_batch_id: Vec::new(),
            })
            .await
            .unwrap()
            .into_inner();
        pulls.push(stream);
    }
    // Every stream the connection may hold is open: one more call waits for a free one.
    let mut audit = AuditClient::new(channel.clone());
    let waited = tokio::time::timeout(
        Duration::from_secs(2),
        audit.get_checkpoint(CheckpointRequest {}),
    )
    .await;
    assert!(waited.is_err(), "a stream beyond the limit was opened");
    drop(pulls.pop());
    let answered = tokio::time::timeout(
        Duration::from_secs(10),
        audit.get_checkpoint(CheckpointRequest {}),
    )
    .await
    .expect("the call waits although a stream closed");
    answered.unwrap();
    drop(pulls);
    b.shutdown().await.unwrap();
}
