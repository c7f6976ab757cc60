//! A whole node: starts from a generated config, answers, stops in order; refuses to start with
//! a certificate of another region.

use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::node::{self, NodeError};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::region::{ClusterId, RegionId};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn eu(regions: &[&str]) -> Vec<(ClusterId, Vec<RegionId>)> {
    vec![(
        "EU".parse().unwrap(),
        regions.iter().map(|r| r.parse().unwrap()).collect(),
    )]
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: enmesh\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn starts_answers_and_stops_in_order() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(dir.path(), &eu(&["DE", "FR"]), &SiteOptions::default()).unwrap();
    let de = &sites[0];
    de.config.check_files().unwrap();
    let node = node::start(de.config.clone(), SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    let health = get(node.http_addr(), "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"region\":\"DE\""), "{health}");
    tokio::time::timeout(Duration::from_secs(20), node.shutdown())
        .await
        .expect("shutdown within its deadline")
        .unwrap();
    // The store was closed: the same directory opens again in this process.
    enmesh_daemon::store::Store::open(&de.config.node.data_dir).unwrap();
}

#[tokio::test]
async fn refuses_a_certificate_of_another_region() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(dir.path(), &eu(&["DE", "FR"]), &SiteOptions::default()).unwrap();
    let mut config = sites[0].config.clone();
    config.pki.node_cert = sites[1].pki.cert.clone();
    config.pki.node_key = sites[1].pki.key.clone();
    let err = node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .err()
        .expect("a DE node with FR's certificate must not start");
    assert!(
        matches!(
            &err,
            NodeError::IdentityMismatch {
                field: "region",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "node.region is DE but this node's certificate says FR"
    );
}
