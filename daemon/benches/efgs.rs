//! EFGS gateway benchmarks on a real node (real TLS, real RocksDB), through the public API:
//!
//! - `upload`: POST of 5,000-key protobuf batches (CMS by an RSA-3072 member certificate)
//!   one after another; prints p50/p99/max of the request latency (the CMS check included).
//! - `download`: one UTC day holding 1,000,000 keys, downloaded by following `nextBatchTag`
//!   from the first batch to `null` (200 batches of 5,000), protobuf decoded; prints the time.
//!
//! Each part runs on its own fresh node: the store's arrival clock never goes back (a key
//! committed after today's uploads arrives today, whatever `now` it is given), so yesterday's
//! day can only be filled on a store that holds nothing newer.
//!
//! A bench binary (`harness = false`) because the goals are a p99 and one wall time, which
//! criterion does not report. `cargo bench -p enmesh-daemon --bench efgs`; scaled down (e.g. to
//! check it end to end in a debug build) with `EFGS_UPLOADS=<batches>` and
//! `DAY_KEYS=<keys, a multiple of 20,000>` (`EFGS_SERIES=1` also prints every upload's latency in
//! order):
//! `EFGS_UPLOADS=10 DAY_KEYS=100000 cargo bench --profile dev -p enmesh-daemon --bench efgs`.

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

/// Upload batches timed (`EFGS_UPLOADS`).
const UPLOADS: usize = 60;
/// Keys of the downloaded day (`DAY_KEYS`).
const DAY_KEYS: u32 = 1_000_000;
/// Keys per store write of the day's fill (one write every simulated minute).
const FILL_CHUNK: u32 = 20_000;

/// The value of environment variable `name`, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

/// A node of region DE with an `[efgs_gateway]` whose one member is DE, its member client and
/// the member's batch signer. `dir` must be fresh.
struct Bench {
    node: node::NodeHandle,
    member: Member,
    signer: CmsSigner,
    clock: std::sync::Arc<ManualClock>,
}

async fn start(dir: &std::path::Path) -> Bench {
    let sites = sites::prepare(
        dir,
        &[("EU".parse().unwrap(), vec![common::region("DE")])],
        &SiteOptions {
            batch_window_ms: 1000,
            batch_min_keys: 0,
            batch_max_keys: 100_000,
            ..SiteOptions::default()
        },
    )
    .unwrap();
    let auth = Cert::make(dir, "de-auth", "DE", true);
    let sign = Cert::make(dir, "de-sign", "DE", false);
    let audit = Cert::make(dir, "audit", "DE", true);
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
    Bench {
        node,
        member,
        signer,
        clock,
    }
}

async fn run() {
    enmesh_daemon::pki::tls::install_default_provider();
    let uploads: usize = env_or("EFGS_UPLOADS", UPLOADS);
    let day_keys: u32 = env_or("DAY_KEYS", DAY_KEYS);
    assert!(
        uploads > 0 && day_keys > 0 && day_keys.is_multiple_of(FILL_CHUNK),
        "EFGS_UPLOADS > 0 and DAY_KEYS a positive multiple of {FILL_CHUNK}"
    );
    let dir = tempfile::tempdir().unwrap();
    upload(&dir.path().join("upload"), uploads).await;
    download(&dir.path().join("download"), day_keys).await;
}

async fn upload(dir: &std::path::Path, uploads: usize) {
    let Bench {
        node,
        member,
        signer,
        clock,
    } = start(dir).await;
    // Upload: prepare every batch first (keys, body, signature), then time the requests only.
    let now = clock.now_secs();
    let batches: Vec<(String, String, Vec<u8>)> = (0..uploads)
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
    if std::env::var_os("EFGS_SERIES").is_some() {
        let series: Vec<String> = latencies
            .iter()
            .map(|l| format!("{:.0}", l.as_secs_f64() * 1e3))
            .collect();
        println!("efgs/upload latencies in order (ms): {}", series.join(" "));
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

    node.shutdown().await.unwrap();
}

async fn download(dir: &std::path::Path, day_keys: u32) {
    let Bench {
        node,
        member,
        clock,
        ..
    } = start(dir).await;
    // A day of keys from another region (yesterday, so every slot has ended), stored before
    // anything else: the store holds nothing newer, so they keep yesterday's arrival times.
    let now = clock.now_secs();
    let yesterday = now - now % 86_400 - 86_400;
    let store = node.store().clone();
    let fill = Instant::now();
    tokio::task::spawn_blocking(move || {
        for (chunk, start) in (0..day_keys).step_by(FILL_CHUNK as usize).enumerate() {
            let keys: Vec<_> = (start..start + FILL_CHUNK)
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
    eprintln!("stored {day_keys} keys in {:?}", fill.elapsed());
    let held = node
        .store()
        .keys_arrived(yesterday, yesterday + 86_400, None, 1)
        .unwrap();
    assert!(
        !held.entries.is_empty(),
        "the fill's keys did not arrive yesterday (did something newer reach the store first?)"
    );
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
    assert_eq!(total, day_keys as usize);
    println!(
        "efgs/download day of {total} keys by tag chaining: {batches} batches in {:.2} s",
        took.as_secs_f64()
    );
    node.shutdown().await.unwrap();
}
