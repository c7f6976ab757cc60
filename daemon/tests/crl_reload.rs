//! Revocation at run time: a CRL dropped into a running node's `pki.crl_dir` is picked up
//! within `pki.crl_reload_secs`. The revoked peer is dropped from the cluster mesh and blocked,
//! its new gRPC connections are refused at the handshake, and its pull stream that was already
//! open ends with `PERMISSION_DENIED`, without restarting the node.

mod common;

use common::{eventually, region};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::pki::{CaKey, Validity, Verifier, files, tls};
use enmesh_daemon::replicate::mesh::MeshSettings;
use enmesh_daemon::replicate::partial::connect;
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1::PullRequest;
use rustls_pki_types::UnixTime;
use sha2::Digest as _;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

async fn start(
    site: &Site,
    crl_dir: Option<&std::path::Path>,
    bootstrap: Option<&NodeHandle>,
) -> NodeHandle {
    let mut config = site.config.clone();
    config.pki.crl_dir = crl_dir.map(ToOwned::to_owned);
    config.pki.crl_reload = Duration::from_secs(1);
    config.mesh = Some(MeshSettings {
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootstrap: bootstrap
            .into_iter()
            .map(|n| n.mesh().unwrap().listen_addr().clone())
            .collect(),
    });
    node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap()
}

/// `who` pulls its own partial feed from `node`: the error text, or `None` if the stream opened.
async fn pull(who: &Site, node: &NodeHandle) -> Option<String> {
    open_stream(who, node).await.err()
}

/// `who` opens a pull stream of its own partial feed at `node`.
async fn open_stream(
    who: &Site,
    node: &NodeHandle,
) -> Result<tonic::Streaming<enmesh_proto::v1::PullResponse>, String> {
    let credential = who.pki.credential().unwrap();
    let root = files::read_first_cert(&who.config.pki.root_cert).unwrap();
    let verifier = Arc::new(Verifier::new(root, &[]).unwrap());
    let config = tls::client_config(verifier, &credential, None).unwrap();
    let url = format!("https://{}", node.grpc_addr()).parse().unwrap();
    let mut client = connect::replication_client(&url, Arc::new(config))
        .await
        .map_err(|e| e.to_string())?;
    let request = PullRequest {
        feed: format!("partial/{}", who.pki.region),
        ..PullRequest::default()
    };
    client
        .pull(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| status.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_dropped_into_the_crl_dir_revokes_a_peer_on_the_mesh_and_on_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = [(
        "EU".parse().unwrap(),
        vec![region("DE"), region("FR"), region("IT")],
    )];
    let sites = sites::prepare(dir.path(), &clusters, &SiteOptions::default()).unwrap();
    let (de_site, fr_site, it_site) = (&sites[0], &sites[1], &sites[2]);
    let crl_dir = dir.path().join("de-crls");
    std::fs::create_dir(&crl_dir).unwrap();

    let de = start(de_site, Some(&crl_dir), None).await;
    let fr = start(fr_site, None, Some(&de)).await;
    let it = start(it_site, None, Some(&de)).await;
    let admitted = |node: &NodeHandle| {
        let mesh = node.mesh().unwrap().clone();
        async move {
            let mut regions: Vec<String> = mesh
                .status()
                .await
                .unwrap()
                .admitted
                .iter()
                .map(|(_, r)| r.to_string())
                .collect();
            regions.sort();
            regions
        }
    };
    eventually("DE admits FR and IT", || async {
        admitted(&de).await == ["FR", "IT"]
    })
    .await;
    assert_eq!(
        pull(fr_site, &de).await,
        None,
        "FR may pull before it is revoked"
    );
    let mut open = open_stream(fr_site, &de).await.unwrap();
    assert!(
        open.message().await.unwrap().is_some(),
        "the stream opens with DE's head"
    );

    // The EU cluster CA revokes FR; the operator drops the CRL into DE's directory.
    let pki_dir = de_site.config.pki.root_cert.parent().unwrap();
    let ca = CaKey::from_pem(
        &std::fs::read_to_string(pki_dir.join("cluster-eu.pem")).unwrap(),
        &std::fs::read_to_string(pki_dir.join("cluster-eu.key")).unwrap(),
    )
    .unwrap();
    let fr_chain: Vec<_> = [&fr_site.pki.cert, &fr_site.pki.cluster_ca]
        .iter()
        .flat_map(|p| files::read_certs(p).unwrap())
        .collect();
    let serial = de
        .trust()
        .verifier
        .verify_node(&fr_chain, UnixTime::now())
        .unwrap()
        .serial()
        .to_vec();
    let now = OffsetDateTime::now_utc();
    let crl = ca
        .crl(&[(serial, now)], 1, Validity::days_from(now, 7).unwrap())
        .unwrap();
    std::fs::write(crl_dir.join("cluster-eu.crl"), crl.as_ref()).unwrap();

    eventually("DE drops FR from its mesh", || async {
        admitted(&de).await == ["IT"]
    })
    .await;
    let refused = pull(fr_site, &de)
        .await
        .expect("a revoked FR must not get a stream");
    assert!(!refused.is_empty());
    assert_eq!(pull(it_site, &de).await, None, "IT is not revoked");
    // FR's stream opened before the revocation ends at its next keep-alive at the latest.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match open.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    })
    .await
    .expect("the open stream of a revoked consumer must end");
    assert_eq!(ended, Some(tonic::Code::PermissionDenied));
    // The node's own verifier now rejects FR's chain for batches too.
    assert!(
        de.trust()
            .verifier
            .verify_node(&fr_chain, UnixTime::now())
            .is_err()
    );
    // DE's replication log records the CRL taking effect (its digest) and FR being refused.
    let log = de
        .store()
        .audit_entries(0, de.store().audit_head().0.0)
        .unwrap()
        .unwrap();
    let entries: Vec<_> = log
        .iter()
        .map(|e| enmesh_daemon::audit::client::entry_json(e))
        .collect();
    let crl_digest = hex::encode(sha2::Sha256::digest(crl.as_ref()));
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "crl_applied"
                && e["event"]["crl_sha256"][0] == crl_digest.as_str()),
        "{entries:#?}"
    );
    assert!(
        entries.iter().any(|e| e["kind"] == "peer_checked"
            && e["event"]["admitted"] == false
            && e["event"]["peer"]["region"] == "FR"),
        "{entries:#?}"
    );

    for node in [it, fr, de] {
        node.shutdown().await.unwrap();
    }
}
