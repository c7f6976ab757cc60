//! EFGS callbacks on a real gateway: a member registers an https URL, lists and deletes it; bad
//! URLs are refused; when a batch exists the gateway calls `GET <url>?batchTag=..&date=..` on the
//! member's own HTTPS server (a real TLS server with a certificate of a test CA), once per new
//! batch; a URL that keeps failing is deleted after five rounds.

mod common;
mod efgs_support;

use efgs_support::{Cert, Member};
use enmesh_daemon::clock::{Clock, ManualClock, SharedClock};
use enmesh_daemon::config::{EfgsGatewayConfig, EfgsMemberConfig};
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::efgs::gateway::callbacks;
use enmesh_daemon::node;
use enmesh_daemon::store::{BatchId, Cursor};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::Country;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A member's callback server: HTTPS on 127.0.0.1 with a leaf of a fresh CA; every request's
/// path and query go to the channel. Returns (port, CA PEM, requests).
async fn callback_server() -> (u16, String, mpsc::UnboundedReceiver<String>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let _ = tx.send(req.uri().to_string());
                        async {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::new(),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, ca.pem(), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_registered_checked_delivered_once_and_dropped_after_failures() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[("EU".parse().unwrap(), vec![common::region("DE")])],
        &SiteOptions::default(),
    )
    .unwrap();
    let (port, ca_pem, mut calls) = callback_server().await;
    let ca_path = dir.path().join("callback-ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let auth = Cert::make(dir.path(), "de-auth", "DE", true);
    let audit = Cert::make(dir.path(), "audit", "DE", true);
    let mut config = sites[0].config.clone();
    config.efgs_gateway = Some(EfgsGatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        signing_cert: audit.cert.clone(),
        signing_key: audit.key.clone(),
        tls_cert: None,
        tls_key: None,
        callback_ca: Some(ca_path),
        // Rounds are driven by the test.
        callback_interval: Duration::from_secs(86_400),
        allow_private_callbacks: true,
        members: vec![EfgsMemberConfig {
            country: Country::from_alpha2("DE").unwrap(),
            authentication_certs: vec![auth.cert.clone()],
            signing_certs: vec![],
        }],
    });
    let clock = ManualClock::at_millis(common::now_secs() * 1000 + 600_000);
    let shared: SharedClock = clock.clone();
    let node = node::start(config.clone(), shared.clone(), Metrics::new())
        .await
        .unwrap();
    let handle = node.efgs_gateway().unwrap();
    let member = Member::new(handle.addr, &sites[0].pki.cert, Some(&auth));

    let put = |id: &str, url: &str| {
        let path = format!("/diagnosiskeys/callback/{id}?url={url}");
        let member = member.clone();
        async move { member.send("PUT", &path, &[], vec![]).await.status }
    };
    let good = format!("https://127.0.0.1:{port}/notify");
    assert_eq!(put("cb1", &good).await, 200);
    assert_eq!(
        put("cb2", &format!("http://127.0.0.1:{port}/notify")).await,
        400
    );
    assert_eq!(put("cb2", "https://127.0.0.1:1/a?b=c").await, 400);
    assert_eq!(put("cb2", "https://does-not-resolve.invalid/cb").await, 400);
    let listed = member
        .send("GET", "/diagnosiskeys/callback", &[], vec![])
        .await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["callbackId"] == "cb1" && c["url"] == good.as_str())
    );

    // No batch yet: nothing is called.
    let tls = handle.callback_tls.clone().unwrap();
    callbacks::deliver_once(&handle.gateway, &tls).await;
    assert!(calls.try_recv().is_err());

    // A batch of keys from FR arrives; the next round calls cb1 with its tag and date.
    let keys: Vec<_> = (0..10).map(|i| common::key(b'F', i)).collect();
    let cursor = Cursor {
        last_sequence: 1,
        last_batch_id: BatchId([1; 32]),
        next_poll_unix_secs: 0,
    };
    node.store()
        .commit_remote(
            &common::region("FR"),
            &"partial/DE".parse::<Feed>().unwrap(),
            &keys,
            &cursor,
            common::now_secs(),
        )
        .unwrap()
        .unwrap();
    let now = clock.now_secs();
    let date = {
        let t = time::OffsetDateTime::from_unix_timestamp(now as i64).unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let tag = member
        .download(&date, None)
        .await
        .header("batchTag")
        .unwrap();
    callbacks::deliver_once(&handle.gateway, &tls).await;
    let call = tokio::time::timeout(Duration::from_secs(10), calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call, format!("/notify?batchTag={tag}&date={date}"));
    // Delivered once: the next round has nothing new.
    callbacks::deliver_once(&handle.gateway, &tls).await;
    assert!(calls.try_recv().is_err());

    // A URL nobody answers is deleted after five failed rounds.
    assert_eq!(put("dead", "https://127.0.0.1:1/gone").await, 200);
    for _ in 0..callbacks::MAX_FAILURES {
        callbacks::deliver_once(&handle.gateway, &tls).await;
    }
    let listed = member
        .send("GET", "/diagnosiskeys/callback", &[], vec![])
        .await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["callbackId"] == "dead")
    );

    // A restart keeps the registrations: cb1 is there, the deleted one is not.
    node.shutdown().await.unwrap();
    let node = node::start(config, shared, Metrics::new()).await.unwrap();
    let member = Member::new(
        node.efgs_gateway().unwrap().addr,
        &sites[0].pki.cert,
        Some(&auth),
    );
    let listed = member
        .send("GET", "/diagnosiskeys/callback", &[], vec![])
        .await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["callbackId"].clone(), c["url"].clone()))
        .collect();
    assert_eq!(
        ids,
        vec![(serde_json::json!("cb1"), serde_json::json!(good))]
    );

    let delete = |id: &str| {
        let path = format!("/diagnosiskeys/callback/{id}");
        let member = member.clone();
        async move { member.send("DELETE", &path, &[], vec![]).await.status }
    };
    assert_eq!(delete("cb1").await, 200);
    assert_eq!(delete("cb1").await, 404);
    node.shutdown().await.unwrap();
}
