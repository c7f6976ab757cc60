//! EFGS between real nodes: one node acting as the EFGS of another (the EFGS client against the
//! gateway API, over mTLS with the CA tree) exchanges keys both ways; and an EFGS member's upload
//! at node A reaches node B's phone feed through the cluster mesh, while its visitedCountries
//! appear nowhere outside A.

mod common;
mod efgs_support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use efgs_support::{Cert, Key, Member, PB, batch_bytes, openssl_sign, pb_encode};
use enmesh_daemon::clock::{Clock, ManualClock, SharedClock, SystemClock};
use enmesh_daemon::config::{
    EfgsClientConfig, EfgsGatewayConfig, EfgsMemberConfig, FeedFormat, PeerConfig, Replication,
};
use enmesh_daemon::demo::drive;
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::node;
use enmesh_daemon::replicate::mesh::MeshSettings;
use enmesh_daemon::store::{KeySource, Store};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::region::{Country, RegionId};
use std::collections::BTreeSet;
use std::time::Duration;

fn gateway_config(audit: &Cert, members: Vec<EfgsMemberConfig>) -> EfgsGatewayConfig {
    EfgsGatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        signing_cert: audit.cert.clone(),
        signing_key: audit.key.clone(),
        tls_cert: None,
        tls_key: None,
        callback_ca: None,
        callback_interval: Duration::from_secs(300),
        allow_private_callbacks: true,
        members,
    }
}

fn remote_of(store: &Store, origin: &str) -> BTreeSet<[u8; 16]> {
    let origin: RegionId = origin.parse().unwrap();
    store
        .keys_arrived(0, u64::MAX, None, 1_000_000)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.source == KeySource::Remote(origin.clone()))
        .map(|e| e.key.key.0)
        .collect()
}

/// The value of one series in `metrics`' text form (0 when absent).
fn metric(metrics: &Metrics, series: &str) -> u64 {
    metrics
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn options() -> SiteOptions {
    SiteOptions {
        batch_window_ms: 50,
        batch_min_keys: 0,
        ..SiteOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_acting_as_efgs_for_another_exchanges_keys_both_ways() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[
            ("EU".parse().unwrap(), vec![common::region("DE")]),
            ("WEST".parse().unwrap(), vec![common::region("FR")]),
        ],
        &options(),
    )
    .unwrap();
    let audit = Cert::make(dir.path(), "de-audit", "DE", true);
    let fr_sign = Cert::make(dir.path(), "fr-sign", "FR", false);
    // A (DE) is the EFGS: FR's signing certificate is a member's; FR's client certificate is
    // its CA-tree node certificate.
    let mut a_config = sites[0].config.clone();
    a_config.efgs_gateway = Some(gateway_config(
        &audit,
        vec![EfgsMemberConfig {
            country: Country::from_alpha2("FR").unwrap(),
            authentication_certs: vec![],
            signing_certs: vec![fr_sign.cert.clone()],
        }],
    ));
    // A's clock runs 10 minutes ahead, so the slot of keys stored now has ended for its gateway.
    let a_clock = ManualClock::at_millis(common::now_secs() * 1000 + 600_000);
    let a_shared: SharedClock = a_clock.clone();
    let a_metrics = Metrics::new();
    let a = node::start(a_config, a_shared, a_metrics.clone())
        .await
        .unwrap();
    let de_keys: Vec<_> = (0..40).map(|i| common::key(b'D', i)).collect();
    common::store_upload(a.store(), &de_keys);

    let mut b_config = sites[1].config.clone();
    let gateway = a.efgs_gateway().unwrap().addr;
    b_config.peers.push(PeerConfig {
        url: format!("https://{gateway}").parse().unwrap(),
        region: common::region("DE"),
        replication: Replication::Partial,
        format: FeedFormat::Efgs,
    });
    b_config.efgs_client = Some(EfgsClientConfig {
        signing_cert: fr_sign.cert.clone(),
        signing_key: fr_sign.key.clone(),
        tls_cert: None,
        tls_key: None,
        server_ca: None,
        interval: Duration::from_millis(200),
    });
    let b_metrics = Metrics::new();
    let b = node::start(b_config, SystemClock::shared(), b_metrics.clone())
        .await
        .unwrap();
    let fr_keys: Vec<_> = (0..25).map(|i| common::key(b'F', i)).collect();
    common::store_upload(b.store(), &fr_keys);

    let want_at_a: BTreeSet<_> = fr_keys.iter().map(|k| k.key.0).collect();
    let want_at_b: BTreeSet<_> = de_keys.iter().map(|k| k.key.0).collect();
    common::eventually("FR's keys at DE and DE's at FR", || {
        let (sa, sb) = (a.store().clone(), b.store().clone());
        let (wa, wb) = (want_at_a.clone(), want_at_b.clone());
        async move { remote_of(&sa, "FR") == wa && remote_of(&sb, "DE") == wb }
    })
    .await;
    // More rounds change nothing: no key twice, none sent back to where it came from.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let at_b = b
        .store()
        .keys_arrived(0, u64::MAX, None, 100_000)
        .unwrap()
        .entries;
    assert_eq!(at_b.len(), fr_keys.len() + de_keys.len());
    let at_a = a
        .store()
        .keys_arrived(0, u64::MAX, None, 100_000)
        .unwrap()
        .entries;
    assert_eq!(at_a.len(), fr_keys.len() + de_keys.len());
    assert!(remote_of(b.store(), "FR").is_empty() && remote_of(a.store(), "DE").is_empty());
    // The client is a worker of B: it ran round after round, and its last one did not fail.
    let client = b.workers().snapshot()["efgs_client"].clone();
    assert!(client.runs >= 2, "{client:?}");
    assert_eq!(client.last_error, None);
    // Both sides counted what moved, each key once.
    assert_eq!(
        metric(
            &b_metrics,
            "enmesh_efgs_client_keys_total{direction=\"upload\"}"
        ),
        fr_keys.len() as u64
    );
    assert_eq!(
        metric(
            &b_metrics,
            "enmesh_efgs_client_keys_total{direction=\"download\"}"
        ),
        de_keys.len() as u64
    );
    assert_eq!(
        metric(&a_metrics, "enmesh_keys_stored_total{kind=\"remote\"}"),
        fr_keys.len() as u64
    );
    assert!(metric(&a_metrics, "enmesh_efgs_gateway_uploads_total") >= 1);
    assert!(metric(&a_metrics, "enmesh_efgs_gateway_batches_served_total") >= 1);
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    drop(a_clock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_upload_reaches_another_nodes_phone_feed_and_its_visited_list_stays_home() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[(
            "EU".parse().unwrap(),
            vec![common::region("DE"), common::region("FR")],
        )],
        &options(),
    )
    .unwrap();
    let audit = Cert::make(dir.path(), "de-audit", "DE", true);
    let de_auth = Cert::make(dir.path(), "de-auth", "DE", true);
    let de_sign = Cert::make(dir.path(), "de-sign", "DE", true);
    let mut a_config = sites[0].config.clone();
    a_config.efgs_gateway = Some(gateway_config(
        &audit,
        vec![EfgsMemberConfig {
            country: Country::from_alpha2("DE").unwrap(),
            authentication_certs: vec![de_auth.cert.clone()],
            signing_certs: vec![de_sign.cert.clone()],
        }],
    ));
    a_config.mesh = Some(MeshSettings {
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootstrap: vec![],
    });
    let a = node::start(a_config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    let mut b_config = sites[1].config.clone();
    b_config.mesh = Some(MeshSettings {
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootstrap: vec![a.mesh().unwrap().listen_addr().clone()],
    });
    let b = node::start(b_config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap();

    // The DE backend uploads to its node as it did to EFGS, visited FR and MT.
    let now = SystemClock.now_secs();
    let keys: Vec<Key> = (0..30).map(|i| Key::new("DE", i, now)).collect();
    assert!(keys.iter().all(|k| k.visited == ["FR", "MT"]));
    let member = Member::new(
        a.efgs_gateway().unwrap().addr,
        &sites[0].pki.cert,
        Some(&de_auth),
    );
    let sig = openssl_sign(dir.path(), &de_sign, &batch_bytes(&keys));
    let answer = member.upload("de-mesh-1", &sig, PB, pb_encode(&keys)).await;
    assert_eq!(answer.status, 201, "{}", answer.message());

    let want: BTreeSet<String> = keys.iter().map(|k| STANDARD.encode(k.key_data)).collect();
    let http = b.http_addr();
    common::eventually("the member's keys on FR's phone feed", || {
        let want = want.clone();
        async move {
            drive::feed_keys(http)
                .await
                .map(|got| want.iter().all(|k| got.contains(k)))
                .unwrap_or(false)
        }
    })
    .await;
    // Outside A: B has no upload of its own, so no visited list in its store; every batch B holds
    // carries keys only (no visited list: the text "MT" is in none of them).
    assert!(b.store().local_keys_after(None, 10).unwrap().is_empty());
    let received = b
        .store()
        .received_batches_after(
            &common::region("DE"),
            &"a2a/EU".parse::<enmesh_protocol::feed::Feed>().unwrap(),
            0,
            1000,
        )
        .unwrap();
    assert!(!received.is_empty());
    for batch in &received {
        let body = &batch.signed.body;
        assert!(
            !body.windows(2).any(|w| w == b"MT"),
            "a visited country in a batch"
        );
    }
    // At A the list is the upload's: FR (a2a) and MT (its own partial feed).
    let local = a.store().local_keys_after(None, 100).unwrap();
    assert_eq!(local.len(), 30);
    assert!(
        local
            .iter()
            .all(|e| e.visited.iter().any(|r| r.to_string() == "MT"))
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_efgs_never_answers_still_stops_within_its_deadline() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[("WEST".parse().unwrap(), vec![common::region("FR")])],
        &options(),
    )
    .unwrap();
    let fr_sign = Cert::make(dir.path(), "fr-sign", "FR", false);
    // An "EFGS" that takes connections and never says a word (not even its TLS hello).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
        }
    });
    let mut config = sites[0].config.clone();
    config.peers.push(PeerConfig {
        url: format!("https://{silent_addr}").parse().unwrap(),
        region: common::region("DE"),
        replication: Replication::Partial,
        format: FeedFormat::Efgs,
    });
    config.efgs_client = Some(EfgsClientConfig {
        signing_cert: fr_sign.cert.clone(),
        signing_key: fr_sign.key.clone(),
        tls_cert: None,
        tls_key: None,
        server_ca: None,
        interval: Duration::from_secs(1),
    });
    let node = node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    common::store_upload(node.store(), &[common::key(b'F', 1)]);
    // The first round is under way: its request waits on the silent server.
    common::eventually("the EFGS round to be under way", || {
        let working = node
            .workers()
            .snapshot()
            .get("efgs_client")
            .is_some_and(|s| s.working);
        async move { working }
    })
    .await;
    // The round's request would wait up to its 30 s deadline; the node stops well before the
    // 10 s deadline of its actors stage, without an error.
    let started = std::time::Instant::now();
    node.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_the_efgs_no_longer_serves_is_reported_missed_once() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[
            ("EU".parse().unwrap(), vec![common::region("DE")]),
            ("WEST".parse().unwrap(), vec![common::region("FR")]),
        ],
        &options(),
    )
    .unwrap();
    let audit = Cert::make(dir.path(), "de-audit", "DE", true);
    let fr_sign = Cert::make(dir.path(), "fr-sign", "FR", false);
    let mut a_config = sites[0].config.clone();
    a_config.efgs_gateway = Some(gateway_config(
        &audit,
        vec![EfgsMemberConfig {
            country: Country::from_alpha2("FR").unwrap(),
            authentication_certs: vec![],
            signing_certs: vec![fr_sign.cert.clone()],
        }],
    ));
    // A, the EFGS, is a day ahead of B: the oldest day of B's window (today − 2) is three days
    // old for A, which answers 410 for it.
    let a_clock = ManualClock::at_millis((common::now_secs() + 86_400) * 1000);
    let a = node::start(a_config, a_clock.clone(), Metrics::new())
        .await
        .unwrap();
    let mut b_config = sites[1].config.clone();
    b_config.peers.push(PeerConfig {
        url: format!("https://{}", a.efgs_gateway().unwrap().addr)
            .parse()
            .unwrap(),
        region: common::region("DE"),
        replication: Replication::Partial,
        format: FeedFormat::Efgs,
    });
    b_config.efgs_client = Some(EfgsClientConfig {
        signing_cert: fr_sign.cert.clone(),
        signing_key: fr_sign.key.clone(),
        tls_cert: None,
        tls_key: None,
        server_ca: None,
        interval: Duration::from_millis(100),
    });
    let b_metrics = Metrics::new();
    let b = node::start(b_config, SystemClock::shared(), b_metrics.clone())
        .await
        .unwrap();
    common::eventually("three EFGS rounds", || {
        let runs = b
            .workers()
            .snapshot()
            .get("efgs_client")
            .map_or(0, |s| s.runs);
        async move { runs >= 3 }
    })
    .await;
    assert_eq!(b.workers().snapshot()["efgs_client"].last_error, None);
    assert_eq!(
        metric(&b_metrics, "enmesh_efgs_client_missed_days_total"),
        1
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
