//! EFGS gateway benchmarks on a real node (real TLS, real RocksDB), through the public API:
//!
//! - `upload`: POST of 5,000-key protobuf batches (CMS by an RSA-3072 member certificate)
//!   one after another; prints p50/p99/max of the request latency (the CMS check included).
//! - `download`: one UTC day holding 1,000,000 keys, downloaded by following `nextBatchTag`
//!   from the first batch to `null` (200 batches of 5,000), protobuf decoded; prints the time.
//!
//! A bench binary (`harness = false`) because the goals are a p99 and one wall time, which
//! criterion does not report. `cargo bench -p enmesh-daemon --bench efgs`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/efgs_support/mod.rs"]
mod efgs_support;

use efgs_support::{Cert, Key, Member, PB, batch_bytes, pb_decode, pb_encode};
use enmesh_daemon::clock::{Clock, ManualClock, SharedClock};
use enmesh_daemon::config::{EfgsGatewayConfig, EfgsMemberConfig};
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::efgs::cms::CmsSigner;
use enmesh_daemon::node;
use enmesh_daemon::store::{BatchId, Cursor};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::Country;
use std::time::{Duration, Instant};

const UPLOADS: usize = 60;
const DAY_KEYS: u32 = 1_000_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("efgs: bench");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    enmesh_daemon::pki::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let sites = sites::prepare(
        dir.path(),
        &[("EU".parse().unwrap(), vec![common::region("DE")])],
        &SiteOptions {
            batch_window_ms: 1000,
            batch_min_keys: 0,
            batch_max_keys: 100_000,
            ..SiteOptions::default()
        },
    )
    .unwrap();
    let auth = Cert::make(dir.path(), "de-auth", "DE", true);
    let sign = Cert::make(dir.path(), "de-sign", "DE", false);
    let audit = Cert::make(dir.path(), "audit", "DE", true);
    let mut config = sites[0].config.clone();
    config.efgs_gateway = Some(EfgsGatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        signing_cert: audit.cert.clone(),
        signing_key: audit.key.clone(),
        tls_cert: None,
        tls_key: None,
        callback_ca: None,
        callback_interval: Duration::from_secs(300),
        allow_private_callbacks: false,
        members: vec![EfgsMemberConfig {
            country: Country::from_alpha2("DE").unwrap(),
            authentication_certs: vec![auth.cert.clone()],
            signing_certs: vec![sign.cert.clone()],
        }],
    });
    let clock = ManualClock::at_millis(common::now_secs() * 1000 + 600_000);
    let shared: SharedClock = clock.clone();
    let node = node::start(config, shared, Metrics::new()).await.unwrap();
    let member = Member::new(
        node.efgs_gateway().unwrap().addr,
        &sites[0].pki.cert,
        Some(&auth),
    );
    let signer = CmsSigner::from_pem(
        &std::fs::read(&sign.cert).unwrap(),
        &std::fs::read(&sign.key).unwrap(),
    )
    .unwrap();

    // Upload: prepare every batch first (keys, body, signature), then time the requests only.
    let now = clock.now_secs();
    let batches: Vec<(String, String, Vec<u8>)> = (0..UPLOADS)
        .map(|b| {
            let keys: Vec<Key> = (0..5000)
                .map(|i| Key::new("DE", (b * 5000 + i) as u32, now))
                .collect();
            let sig = signer.sign_base64(&batch_bytes(&keys), now).unwrap();
            (format!("bench-{b}"), sig, pb_encode(&keys))
        })
        .collect();
    let mut latencies = Vec::new();
    for (tag, sig, body) in batches {
        let started = Instant::now();
        let answer = member.upload(&tag, &sig, PB, body).await;
        latencies.push(started.elapsed());
        assert_eq!(answer.status, 201, "{}", answer.message());
    }
    latencies.sort();
    let at =
        |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).min(latencies.len()) - 1];
    println!(
        "efgs/upload 5000 keys: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        latencies.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // Download: a day of 1 M keys from other regions (yesterday, so every slot has ended).
    let yesterday = now - now % 86_400 - 86_400;
    let store = node.store().clone();
    let fill = Instant::now();
    tokio::task::spawn_blocking(move || {
        for (chunk, start) in (0..DAY_KEYS).step_by(20_000).enumerate() {
            let keys: Vec<_> = (start..start + 20_000)
                .map(|i| common::key(b'F', i))
                .collect();
            let cursor = Cursor {
                last_sequence: chunk as u64 + 1,
                last_batch_id: BatchId([1; 32]),
                next_poll_unix_secs: 0,
            };
            store
                .commit_remote(
                    &common::region("FR"),
                    &"partial/DE".parse::<Feed>().unwrap(),
                    &keys,
                    &cursor,
                    yesterday + 3600 + chunk as u64 * 60,
                )
                .unwrap()
                .unwrap();
        }
    })
    .await
    .unwrap();
    eprintln!("stored {DAY_KEYS} keys in {:?}", fill.elapsed());
    let date = {
        let t = time::OffsetDateTime::from_unix_timestamp(yesterday as i64).unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let started = Instant::now();
    let (mut tag, mut total, mut batches) = (None::<String>, 0usize, 0usize);
    loop {
        let answer = member.download(&date, tag.as_deref()).await;
        assert_eq!(answer.status, 200, "{}", answer.message());
        total += pb_decode(&answer.body).len();
        batches += 1;
        match answer.header("nextBatchTag").unwrap().as_str() {
            "null" => break,
            next => tag = Some(next.to_owned()),
        }
    }
    let took = started.elapsed();
    assert_eq!(total, DAY_KEYS as usize);
    println!(
        "efgs/download day of {total} keys by tag chaining: {batches} batches in {:.2} s",
        took.as_secs_f64()
    );
    node.shutdown().await.unwrap();
}
