//! Google federation (`/Federation/Fetch`, formats.md §f.1-f.2) served by a real enmesh node.
//!
//! The puller in this file is written against the schema of formats.md §f.1: its messages are
//! declared here, field by field with the numbers of the table, and it calls the exact path
//! `/Federation/Fetch` through tonic's generic client; it shares no code with enmesh's server or
//! its generated types. It pages through 10,000 keys with small pages and gets each exactly once;
//! include/exclude filters and per-puller authorisation hold; remote keys are never served; and
//! an enmesh node pulling (`[[peers]]` `google-federation`) from the server gets every key.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{eventually, region};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::config::{
    FederationPeer, FederationPullerConfig, FederationServerConfig, FederationTls, PullerAuth,
};
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::store::{Cursor, KeySource};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};
use tonic::codegen::http::uri::PathAndQuery;

/// §f.1 `FederationFetchRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct FetchRequest {
    #[prost(string, repeated, tag = "1")]
    include_regions: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    exclude_regions: Vec<String>,
    #[prost(bool, tag = "3")]
    only_travelers: bool,
    #[prost(bool, tag = "4")]
    only_local_provenance: bool,
    #[prost(uint32, tag = "5")]
    max_exposure_keys: u32,
    #[prost(message, optional, tag = "6")]
    state: Option<State>,
}

/// §f.1 `FetchState`.
#[derive(Clone, PartialEq, prost::Message)]
struct State {
    #[prost(message, optional, tag = "1")]
    key_cursor: Option<SpecCursor>,
    #[prost(message, optional, tag = "2")]
    revised_key_cursor: Option<SpecCursor>,
}

/// §f.1 `Cursor`.
#[derive(Clone, PartialEq, prost::Message)]
struct SpecCursor {
    #[prost(int64, tag = "1")]
    timestamp: i64,
    #[prost(string, tag = "2")]
    next_token: String,
}

/// §f.1 `FederationFetchResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct FetchResponse {
    #[prost(message, repeated, tag = "1")]
    keys: Vec<SpecKey>,
    #[prost(message, repeated, tag = "2")]
    revised_keys: Vec<SpecKey>,
    #[prost(bool, tag = "3")]
    partial_response: bool,
    #[prost(message, optional, tag = "4")]
    next_fetch_state: Option<State>,
}

/// §f.1 `ExposureKey`.
#[derive(Clone, PartialEq, prost::Message)]
struct SpecKey {
    #[prost(bytes = "vec", tag = "1")]
    exposure_key: Vec<u8>,
    #[prost(int32, tag = "2")]
    transmission_risk: i32,
    #[prost(int32, tag = "3")]
    interval_number: i32,
    #[prost(int32, tag = "4")]
    interval_count: i32,
    #[prost(int32, tag = "5")]
    report_type: i32,
    #[prost(sint32, tag = "6")]
    days_since_onset_of_symptoms: i32,
    #[prost(bool, tag = "7")]
    has_symptom_onset: bool,
    #[prost(bool, tag = "8")]
    traveler: bool,
    #[prost(string, repeated, tag = "9")]
    regions: Vec<String>,
}

const TOKEN: &str = "puller-token-de-fr";
const NARROW_TOKEN: &str = "puller-token-only-fr";

/// Where the federation server listens, and the root its TLS certificate chains to.
struct Target {
    addr: std::net::SocketAddr,
    ca_pem: String,
}

/// A P-256 CA and a server certificate of it for `localhost` and 127.0.0.1, made with rcgen
/// (not enmesh's PKI): what a deployment would get from its web PKI. Returns (CA PEM, chain
/// PEM, key PEM).
fn web_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// One fetch over TLS (tonic's own client TLS, trusting only the test CA), with a bearer token
/// unless `token` is empty.
async fn fetch(
    target: &Target,
    token: &str,
    request: FetchRequest,
) -> Result<FetchResponse, tonic::Status> {
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&target.ca_pem))
        .domain_name("localhost");
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", target.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(request);
    if !token.is_empty() {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    grpc.unary(
        request,
        PathAndQuery::from_static("/Federation/Fetch"),
        tonic_prost::ProstCodec::<FetchRequest, FetchResponse>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Pages through everything with pages of `page`; returns every key served, in order.
async fn fetch_all(
    addr: &Target,
    include: &[&str],
    exclude: &[&str],
    page: u32,
) -> (Vec<SpecKey>, usize) {
    let mut state = None;
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let response = fetch(
            addr,
            TOKEN,
            FetchRequest {
                include_regions: include.iter().map(|r| (*r).to_owned()).collect(),
                exclude_regions: exclude.iter().map(|r| (*r).to_owned()).collect(),
                only_travelers: false,
                only_local_provenance: true,
                max_exposure_keys: page,
                state: state.clone(),
            },
        )
        .await
        .unwrap();
        pages += 1;
        assert!(response.keys.len() <= page as usize);
        keys.extend(response.keys);
        state = response.next_fetch_state;
        if !response.partial_response {
            return (keys, pages);
        }
    }
}

struct Server {
    node: NodeHandle,
    node_metrics: Metrics,
    target: Target,
    _dir: tempfile::TempDir,
    pullee: sites::Site,
    /// A node of the CA tree that is not an allowed puller.
    stranger: sites::Site,
}

/// A DE node serving federation, holding `local` uploaded keys and 50 remote keys of FR. With
/// `web_tls` it presents a certificate of a test web PKI (`target.ca_pem`), else its own node
/// certificate of the CA tree. Pullers: "partner" and "narrow" (FR only) by token, and the
/// US-CA node by its certificate.
async fn server(local: u32, web_tls: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let clusters: Vec<(ClusterId, Vec<RegionId>)> = vec![
        ("EU".parse().unwrap(), vec![region("DE")]),
        (
            "USA".parse().unwrap(),
            vec![region("US-CA"), region("US-NY")],
        ),
    ];
    let sites = sites::prepare(dir.path(), &clusters, &SiteOptions::default()).unwrap();
    let de = sites.iter().find(|s| s.pki.region == region("DE")).unwrap();
    let token_file = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{token}\n")).unwrap();
        path
    };
    let (ca_pem, chain_pem, key_pem) = web_pki();
    let tls = if web_tls {
        FederationTls::Files {
            cert_file: token_file("federation.crt", &chain_pem),
            key_file: token_file("federation.key", &key_pem),
        }
    } else {
        FederationTls::Node
    };
    token_file("web-ca.pem", &ca_pem);
    let mut config = de.config.clone();
    config.federation = Some(FederationServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls,
        settle: Duration::ZERO,
        pullers: vec![
            FederationPullerConfig {
                name: "partner".into(),
                auth: PullerAuth::Token(token_file("partner.token", TOKEN)),
                include_regions: vec![],
                exclude_regions: vec![],
            },
            FederationPullerConfig {
                name: "narrow".into(),
                auth: PullerAuth::Token(token_file("narrow.token", NARROW_TOKEN)),
                include_regions: vec!["FR".into()],
                exclude_regions: vec![],
            },
            FederationPullerConfig {
                name: "us-ca".into(),
                auth: PullerAuth::Region(region("US-CA")),
                include_regions: vec![],
                exclude_regions: vec![],
            },
        ],
    });
    let node_metrics = Metrics::new();
    let node = node::start(config, SystemClock::shared(), node_metrics.clone())
        .await
        .unwrap();
    let store = node.store();
    let mut n = 0;
    while n < local {
        let keys: Vec<_> = (n..(n + 30).min(local))
            .map(|i| common::key(7, i))
            .collect();
        common::store_upload(store, &keys);
        n += 30;
    }
    let remote: Vec<_> = (0..50).map(|i| common::key(9, i)).collect();
    store
        .commit_remote(
            &region("FR"),
            &Feed::Partial(region("DE")),
            &remote,
            &Cursor {
                last_sequence: 1,
                last_batch_id: enmesh_daemon::store::BatchId([0; 32]),
                next_poll_unix_secs: 0,
            },
            common::now_secs(),
        )
        .unwrap()
        .unwrap();
    let pullee = sites
        .iter()
        .find(|s| s.pki.region == region("US-CA"))
        .unwrap()
        .clone();
    let stranger = sites
        .iter()
        .find(|s| s.pki.region == region("US-NY"))
        .unwrap()
        .clone();
    let target = Target {
        addr: node.federation_addr().unwrap(),
        ca_pem,
    };
    Server {
        node,
        node_metrics,
        target,
        _dir: dir,
        pullee,
        stranger,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_puller_pages_through_10000_keys_and_gets_each_once() {
    let s = server(10_000, true).await;
    let addr = &s.target;
    let (keys, pages) = fetch_all(addr, &[], &[], 97).await;
    assert_eq!(keys.len(), 10_000);
    assert!(pages >= 10_000 / 97, "{pages} pages");
    let unique: HashSet<Vec<u8>> = keys.iter().map(|k| k.exposure_key.clone()).collect();
    assert_eq!(unique.len(), 10_000, "a key was served twice");
    // Every key is one of DE's (node byte 7), none of the remote FR keys (node byte 9).
    assert!(keys.iter().all(|k| k.exposure_key[4..] == [7; 12]));
    let first = &keys[0];
    assert_eq!(first.regions, ["DE"]);
    assert_eq!(first.interval_count, 144);
    assert_eq!(first.transmission_risk, 3);
    assert_eq!(first.report_type, 1);
    assert!(first.has_symptom_onset);
    assert_eq!(first.days_since_onset_of_symptoms, 1);
    // Asking again from the last state gives nothing new.
    let (again, _) = fetch_all(addr, &[], &[], 500).await;
    assert_eq!(again.len(), 10_000);
    s.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_filters_authorisation_and_remote_keys() {
    let s = server(120, true).await;
    let addr = &s.target;
    assert_eq!(fetch_all(addr, &["DE"], &[], 50).await.0.len(), 120);
    assert_eq!(fetch_all(addr, &["de", "FR"], &[], 50).await.0.len(), 120);
    assert_eq!(fetch_all(addr, &["FR"], &[], 50).await.0.len(), 0);
    assert_eq!(fetch_all(addr, &[], &["DE"], 50).await.0.len(), 0);
    assert_eq!(fetch_all(addr, &[], &["FR"], 50).await.0.len(), 120);
    let overlap = fetch(
        addr,
        TOKEN,
        FetchRequest {
            include_regions: vec!["DE".into()],
            exclude_regions: vec!["DE".into()],
            ..FetchRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(overlap.code(), tonic::Code::InvalidArgument);
    // A puller allowed only FR gets nothing of DE, even when it asks for DE.
    let narrow = fetch(
        addr,
        NARROW_TOKEN,
        FetchRequest {
            include_regions: vec!["DE".into()],
            max_exposure_keys: 500,
            ..FetchRequest::default()
        },
    )
    .await
    .unwrap();
    assert!(narrow.keys.is_empty());
    // Unknown and missing tokens (and no client certificate either).
    let denied = fetch(addr, "guess", FetchRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let anonymous = fetch(addr, "", FetchRequest::default()).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let metrics = s.node_metrics.encode();
    for line in [
        "enmesh_federation_denials_total{reason=\"token\"} 1",
        "enmesh_federation_denials_total{reason=\"no_credentials\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in\n{metrics}"
        );
    }
    // A token this server never issued.
    let bad = fetch(
        addr,
        TOKEN,
        FetchRequest {
            state: Some(State {
                key_cursor: Some(SpecCursor {
                    timestamp: 1,
                    next_token: "not base64 of digits!".into(),
                }),
                revised_key_cursor: None,
            }),
            ..FetchRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    // onlyLocalProvenance = false still serves local keys only.
    let all = fetch(
        addr,
        TOKEN,
        FetchRequest {
            only_local_provenance: false,
            max_exposure_keys: 500,
            ..FetchRequest::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(all.keys.len(), 120);
    assert!(all.keys.iter().all(|k| k.exposure_key[4..] == [7; 12]));
    s.node.shutdown().await.unwrap();
}

/// The US-CA node of `s` pulls `s`'s federation server through `peer` until it holds all of
/// its `local` keys, each once, as remote keys of DE; the puller is a worker of the node.
async fn pull_everything(s: &Server, peer: FederationPeer, local: usize) {
    let mut config = s.pullee.config.clone();
    config.federation_peers.push(peer);
    let puller = node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    let store = puller.store().clone();
    eventually("every federated key at the puller", || {
        let store = store.clone();
        async move {
            let page = store.keys_arrived(0, u64::MAX, None, usize::MAX).unwrap();
            page.entries.len() >= local
        }
    })
    .await;
    // A few more polls: still each key once, all as remote keys of DE.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let page = store.keys_arrived(0, u64::MAX, None, usize::MAX).unwrap();
    assert_eq!(page.entries.len(), local);
    let unique: HashSet<[u8; 16]> = page.entries.iter().map(|e| e.key.key.0).collect();
    assert_eq!(unique.len(), local);
    assert!(
        page.entries
            .iter()
            .all(|e| e.source == KeySource::Remote(region("DE")))
    );
    // The puller is a worker of the node: one page of 100 keys per unit of work.
    let status = puller.workers().snapshot()["federation_pull"].clone();
    assert!(
        status.runs as usize > local / 100 && status.errors == 0,
        "{status:?}"
    );
    let workers = puller.workers().clone();
    puller.shutdown().await.unwrap();
    assert!(workers.snapshot()["federation_pull"].stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enmesh_pulls_from_enmesh_federation_server_over_mtls() {
    // The server presents its node certificate; the puller checks it is DE's on the CA tree and
    // presents its own (US-CA), which is what authorises it: no token.
    let s = server(1_234, false).await;
    let peer = FederationPeer {
        url: format!("https://{}", s.target.addr).parse().unwrap(),
        region: region("DE"),
        include_regions: vec!["DE".into()],
        exclude_regions: vec![],
        token_file: None,
        ca_file: None,
        poll: Duration::from_millis(200),
        page_keys: 100,
    };
    pull_everything(&s, peer, 1_234).await;
    s.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enmesh_pulls_a_web_pki_federation_server_with_a_token() {
    // As a Google server is pulled: its certificate chains to `ca_file`, a bearer token.
    let s = server(345, true).await;
    let peer = FederationPeer {
        url: format!("https://{}", s.target.addr).parse().unwrap(),
        region: region("DE"),
        include_regions: vec!["DE".into()],
        exclude_regions: vec![],
        token_file: Some(s._dir.path().join("partner.token")),
        ca_file: Some(s._dir.path().join("web-ca.pem")),
        poll: Duration::from_millis(200),
        page_keys: 100,
    };
    pull_everything(&s, peer, 345).await;
    s.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_tree_node_that_is_not_an_allowed_puller_gets_nothing() {
    // US-NY holds a valid node certificate of the same CA tree, but no puller is configured
    // for its region: every fetch is refused, counted on both sides, nothing is stored.
    let s = server(50, false).await;
    let mut config = s.stranger.config.clone();
    config.federation_peers.push(FederationPeer {
        url: format!("https://{}", s.target.addr).parse().unwrap(),
        region: region("DE"),
        include_regions: vec![],
        exclude_regions: vec![],
        token_file: None,
        ca_file: None,
        poll: Duration::from_millis(100),
        page_keys: 100,
    });
    let stranger = node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    let workers = stranger.workers().clone();
    eventually("refused fetches counted", || {
        let (metrics, workers) = (s.node_metrics.clone(), workers.clone());
        async move {
            let refused = metrics.encode().lines().any(|l| {
                l.starts_with("enmesh_federation_denials_total{reason=\"region_not_allowed\"} ")
                    && !l.ends_with(" 0")
            });
            let failed = workers
                .snapshot()
                .get("federation_pull")
                .is_some_and(|w| w.errors >= 1 && w.last_error.is_some());
            refused && failed
        }
    })
    .await;
    let page = stranger
        .store()
        .keys_arrived(0, u64::MAX, None, usize::MAX)
        .unwrap();
    assert!(page.entries.is_empty());
    stranger.shutdown().await.unwrap();
    s.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_or_certificate_file_stops_the_node_at_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let clusters: Vec<(ClusterId, Vec<RegionId>)> =
        vec![("EU".parse().unwrap(), vec![region("DE")])];
    let sites = sites::prepare(dir.path(), &clusters, &SiteOptions::default()).unwrap();
    let base = sites[0].config.clone();
    let with = |tls: FederationTls, token: &str| {
        let mut config = base.clone();
        config.federation = Some(FederationServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls,
            settle: Duration::ZERO,
            pullers: vec![FederationPullerConfig {
                name: "p".into(),
                auth: PullerAuth::Token(dir.path().join(token)),
                include_regions: vec![],
                exclude_regions: vec![],
            }],
        });
        config
    };
    std::fs::write(dir.path().join("ok.token"), "t\n").unwrap();
    for (config, want) in [
        (
            with(FederationTls::Node, "missing.token"),
            "federation.pullers[0].token_file",
        ),
        (
            with(
                FederationTls::Files {
                    cert_file: dir.path().join("missing.crt"),
                    key_file: dir.path().join("missing.key"),
                },
                "ok.token",
            ),
            "federation.cert_file",
        ),
    ] {
        let error = node::start(config, SystemClock::shared(), Metrics::new())
            .await
            .err()
            .expect("the node must not start");
        assert!(error.to_string().contains(want), "{error}");
    }
}
