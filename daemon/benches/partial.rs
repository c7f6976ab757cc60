//! Need-to-know replication B → A between two whole nodes on loopback (real stores, real
//! mTLS gRPC streams): B = US-CA (cluster USA) takes uploads of travellers who visited A = DE
//! (cluster EU); A pulls `partial/DE` from B.
//!
//! - `latency`: 1,000 uploads one after another at B, batching window 1 ms (the minimum); a
//!   watcher polls A's public feed (the newest chunk, protobuf) and notes when each upload's
//!   keys are served. Prints p50/p99 from B answering the upload to A serving every key of it.
//! - `throughput`: A connected while 16 clients upload to B as fast as B takes them; keys/s
//!   from the first upload to A holding the last key.
//! - `catchup`: B takes 1M keys while A is down; then A starts: seconds until A holds them all.
//!
//! Run: `cargo bench -p enmesh-daemon --bench partial` (env `SCENARIO` = one of the above,
//! `UPLOADS`, `CATCHUP_KEYS` override sizes). Figures go to BENCHMARKS.md.

mod common;

use common::{KEYS_PER_UPLOAD, body, env_or, post_all, quantile};
use enmesh_daemon::admin::code;
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::config::{Config, FeedFormat, PeerConfig, Replication};
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1::KeyChunk;
use enmesh_protocol::feed::Feed;
use http_body_util::{BodyExt as _, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scenario = std::env::var("SCENARIO").unwrap_or_default();
    for name in ["latency", "throughput", "catchup"] {
        if scenario.is_empty() || scenario == name {
            runtime.block_on(async {
                match name {
                    "latency" => latency().await,
                    "throughput" => throughput().await,
                    _ => catchup().await,
                }
            });
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Sites DE (EU) and US-CA (USA) with batching `window_ms`, no padding, `max_keys` a batch.
fn two_sites(dir: &std::path::Path, window_ms: u64, max_keys: u64) -> (Site, Site) {
    let clusters = [
        (
            "EU".parse().expect("id"),
            vec!["DE".parse().expect("region")],
        ),
        (
            "USA".parse().expect("id"),
            vec!["US-CA".parse().expect("region")],
        ),
    ];
    let options = SiteOptions {
        batch_window_ms: window_ms,
        batch_min_keys: 0,
        batch_max_keys: max_keys,
        ..SiteOptions::default()
    };
    let mut sites = sites::prepare(dir, &clusters, &options).expect("sites");
    let us = sites.pop().expect("US-CA");
    let de = sites.pop().expect("DE");
    (de, us)
}

fn pulling_from(site: &Site, b: &NodeHandle) -> Config {
    let mut config = site.config.clone();
    config.peers.push(PeerConfig {
        url: format!("https://{}", b.grpc_addr()).parse().expect("url"),
        region: "US-CA".parse().expect("region"),
        replication: Replication::Partial,
        format: FeedFormat::Enmesh,
    });
    config
}

async fn start(config: Config) -> NodeHandle {
    node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .expect("node")
}

/// Bodies of `n` 30-key uploads visiting DE, with codes issued at `b` (not timed).
fn bodies(b: &NodeHandle, n: usize, first: usize) -> Vec<Vec<u8>> {
    let now = now_secs();
    (first..first + n)
        .map(|i| {
            let code = code::issue(b.store(), now + 3600).expect("code");
            body(&code, i, now, "DE")
        })
        .collect()
}

/// Keys A holds from B (its cursor's batches are all stored with their keys).
fn held_sequence(a: &NodeHandle) -> u64 {
    a.store()
        .cursor(&"US-CA".parse().expect("region"), &partial_de())
        .expect("cursor")
        .map_or(0, |c| c.last_sequence)
}

fn partial_de() -> Feed {
    "partial/DE".parse::<Feed>().expect("feed")
}

/// The last sequence of B's `partial/DE` feed after cutting everything pending.
async fn flushed_head(b: &NodeHandle) -> u64 {
    b.flush_batches().await.expect("flush");
    b.store()
        .feed_head(&partial_de())
        .expect("head")
        .map_or(0, |h| h.sequence)
}

/// B = US-CA running, and DE's site (A, not started); batching `window_ms`.
async fn producer_b(dir: &std::path::Path, window_ms: u64) -> (Site, NodeHandle) {
    let (de, us) = two_sites(dir, window_ms, 10_000);
    (de, start(us.config.clone()).await)
}

/// Waits until A holds B's whole `partial/DE` feed as it is after a flush at B.
async fn until_caught_up(a: &NodeHandle, b: &NodeHandle) {
    let head = flushed_head(b).await;
    while held_sequence(a) < head {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn latency() {
    let uploads = env_or("UPLOADS", 1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (de, b) = producer_b(dir.path(), 1).await;
    let a = start(pulling_from(&de, &b)).await;

    // The watcher: first time each key (its first 8 bytes = upload number) is served by A.
    let seen: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let watching = tokio::spawn(watch_feed(a.http_addr(), Arc::clone(&seen), uploads));

    let bodies = bodies(&b, uploads, 0);
    let mut answered = Vec::with_capacity(uploads);
    for body in bodies {
        post_all(b.http_addr(), vec![body], 1).await;
        answered.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    watching.await.expect("watcher");
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let mut latencies: Vec<Duration> = answered
        .iter()
        .enumerate()
        .map(|(i, at)| seen[&(i as u64)].saturating_duration_since(*at))
        .collect();
    latencies.sort_unstable();
    println!(
        "latency upload at B -> served by A's public feed: {uploads} uploads x {KEYS_PER_UPLOAD} \
         keys, window 1 ms: p50 {:.1?} p99 {:.1?} max {:.1?}",
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        latencies.last().expect("latency"),
    );
    a.shutdown().await.expect("stop A");
    b.shutdown().await.expect("stop B");
}

/// Polls A's newest feed chunk until every upload's 30 keys were seen, noting when each
/// upload was complete.
async fn watch_feed(http: SocketAddr, seen: Arc<Mutex<HashMap<u64, Instant>>>, uploads: usize) {
    let stream = tokio::net::TcpStream::connect(http).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut counts: HashMap<u64, usize> = HashMap::new();
    let mut keys_seen = std::collections::HashSet::new();
    let chunk = 600; // SiteOptions' feed.chunk_secs
    loop {
        let complete = seen.lock().expect("seen").len();
        if complete >= uploads {
            break;
        }
        let id = now_secs() / chunk;
        let request = Request::get(format!("/v1/keys/{id}"))
            .header("host", "bench")
            .header("accept", "application/x-protobuf")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("poll");
        let ok = response.status().is_success();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let at = Instant::now();
        if ok {
            let chunk = KeyChunk::decode(bytes).expect("chunk");
            for key in chunk.keys {
                if keys_seen.insert(key.key_data.clone()) {
                    let upload = u64::from_be_bytes(key.key_data[..8].try_into().expect("8"));
                    let count = counts.entry(upload).or_default();
                    *count += 1;
                    if *count == KEYS_PER_UPLOAD {
                        seen.lock().expect("seen").insert(upload, at);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn throughput() {
    let uploads = env_or("UPLOADS", 10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (de, b) = producer_b(dir.path(), 50).await;
    let a = start(pulling_from(&de, &b)).await;
    let bodies = bodies(&b, uploads, 0);
    let started = Instant::now();
    post_all(b.http_addr(), bodies, 16).await;
    let uploaded = started.elapsed();
    until_caught_up(&a, &b).await;
    let elapsed = started.elapsed();
    let keys = uploads * KEYS_PER_UPLOAD;
    println!(
        "throughput B -> A: {keys} keys uploaded at B by 16 clients in {uploaded:.2?}, all held by \
         A after {elapsed:.2?}: {:.0} keys/s end to end",
        keys as f64 / elapsed.as_secs_f64()
    );
    a.shutdown().await.expect("stop A");
    b.shutdown().await.expect("stop B");
}

async fn catchup() {
    let keys = env_or("CATCHUP_KEYS", 1_000_000);
    let uploads = keys.div_ceil(KEYS_PER_UPLOAD);
    let dir = tempfile::tempdir().expect("tempdir");
    let (de, b) = producer_b(dir.path(), 50).await;
    let loading = Instant::now();
    post_all(b.http_addr(), bodies(&b, uploads, 0), 16).await;
    let head = flushed_head(&b).await;
    println!(
        "catch-up: B took {} keys ({head} batches) in {:.2?} while A was down",
        uploads * KEYS_PER_UPLOAD,
        loading.elapsed()
    );
    let started = Instant::now();
    let a = start(pulling_from(&de, &b)).await;
    until_caught_up(&a, &b).await;
    let elapsed = started.elapsed();
    println!(
        "catch-up: A started and held all {} keys after {elapsed:.2?} ({:.0} keys/s)",
        uploads * KEYS_PER_UPLOAD,
        (uploads * KEYS_PER_UPLOAD) as f64 / elapsed.as_secs_f64()
    );
    a.shutdown().await.expect("stop A");
    b.shutdown().await.expect("stop B");
}
