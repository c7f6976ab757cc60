//! The cluster mesh: propagation latency, bandwidth amplification and catch-up. Prints figures.
//!
//! - `propagation`: 5 and 10 nodes in this process (real stores, real sockets on 127.0.0.1),
//!   a 100-key batch published at each node in turn; time from the batch's commit at its origin
//!   to every other node holding it (cursor advanced), polled every millisecond. p50/p99.
//! - `catchup`: one node holds 1,000,000 keys in 100 batches; a fresh node joins and fetches
//!   them all (every batch checked and stored with its cursor). Time to hold them all.
//! - `bandwidth`: 5 (and 10) real daemons in network namespaces (root and `ip netns` needed,
//!   skipped otherwise); bytes received on each node's interface (IP, TCP, noise, yamux, gossip
//!   control, pings, sync) while 40 uploads of 13 keys replicate, divided by the bytes of the
//!   batches each node had to receive; an idle interval of the same length is subtracted too.
//!
//! Run: `cargo bench -p enmesh-daemon --bench mesh [-- propagation|catchup|bandwidth]`
//! (env `CATCHUP_KEYS` changes the 1,000,000).
//! This benchmark never publishes or counts anything but batches cut by the nodes' batchers.

// Shared with the partition test, which uses other parts of it.
#[allow(dead_code)]
#[path = "../tests/netns/mod.rs"]
mod netns;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{key, store_upload};
use enmesh_protocol::feed::Feed;

use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::replicate::mesh::MeshSettings;
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::Multiaddr;
use prost::Message;
use std::time::{Duration, Instant};

const REGIONS: [&str; 10] = ["DE", "FR", "IT", "ES", "NL", "BE", "AT", "PL", "PT", "IE"];

fn a2a() -> Feed {
    "a2a/EU".parse::<Feed>().unwrap()
}

/// Stores `keys` as uploads of at most 10,000 keys (one code each), without cutting batches.
fn store_uploads(store: &Store, keys: &[DiagnosisKey]) {
    for chunk in keys.chunks(10_000) {
        store_upload(store, chunk);
    }
}

fn prepare(dir: &std::path::Path, n: usize) -> Vec<Site> {
    let regions: Vec<RegionId> = REGIONS[..n].iter().map(|r| r.parse().unwrap()).collect();
    let eu: ClusterId = "EU".parse().unwrap();
    let options = SiteOptions {
        // Batches are cut by explicit flushes only.
        batch_window_ms: 3_600_000,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    sites::prepare(dir, &[(eu, regions)], &options).unwrap()
}

/// Starts `site` with a mesh on 127.0.0.1, bootstrapped with `bootstrap`.
async fn start(site: &Site, bootstrap: Vec<Multiaddr>) -> NodeHandle {
    let mut config = site.config.clone();
    config.mesh = Some(MeshSettings {
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootstrap,
    });
    node::start(config, SystemClock::shared(), Metrics::new())
        .await
        .unwrap()
}

async fn admitted(node: &NodeHandle) -> usize {
    node.mesh().unwrap().status().await.unwrap().admitted.len()
}

fn held(node: &NodeHandle, origin: &RegionId) -> u64 {
    node.store()
        .cursor(origin, &a2a())
        .unwrap()
        .map_or(0, |c| c.last_sequence)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn propagation(n: usize, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let sites = prepare(dir.path(), n);
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for site in &sites {
        let bootstrap = nodes
            .iter()
            .map(|n| n.mesh().unwrap().listen_addr().clone())
            .collect();
        nodes.push(start(site, bootstrap).await);
    }
    for node in &nodes {
        while admitted(node).await < n - 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Let gossipsub build its mesh (a few heartbeats).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let regions: Vec<RegionId> = sites.iter().map(|s| s.config.node.region.clone()).collect();
    let mut times = Vec::with_capacity(rounds);
    let mut by_catchup = 0;
    for round in 0..rounds {
        let origin = round % n;
        let keys: Vec<DiagnosisKey> = (0..100)
            .map(|k| {
                key(
                    u8::try_from(origin).unwrap(),
                    u32::try_from(round * 100 + k).unwrap(),
                )
            })
            .collect();
        store_uploads(nodes[origin].store(), &keys);
        nodes[origin].flush_batches().await.unwrap();
        let start = Instant::now();
        let sequence = nodes[origin]
            .store()
            .feed_head(&a2a())
            .unwrap()
            .unwrap()
            .sequence;
        loop {
            let all = (0..n)
                .filter(|i| *i != origin)
                .all(|i| held(&nodes[i], &regions[origin]) >= sequence);
            if all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let elapsed = start.elapsed();
        if elapsed > Duration::from_secs(1) {
            by_catchup += 1;
        }
        times.push(elapsed);
    }
    times.sort();
    println!(
        "propagation, {n} nodes, {rounds} batches of 100 keys: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({by_catchup} over 1 s)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

async fn catchup(total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let sites = prepare(dir.path(), 2);
    let holder = start(&sites[0], Vec::new()).await;
    let keys: Vec<DiagnosisKey> = (0..total)
        .map(|k| key(7, u32::try_from(k).unwrap()))
        .collect();
    let filled = Instant::now();
    store_uploads(holder.store(), &keys);
    holder.flush_batches().await.unwrap();
    let head = holder.store().feed_head(&a2a()).unwrap().unwrap().sequence;
    let bytes: usize = holder
        .store()
        .batches_after(&a2a(), 0, usize::MAX)
        .unwrap()
        .iter()
        .map(|b| b.signed.encoded_len())
        .sum();
    println!(
        "catch-up: holder has {total} keys in {head} batches ({:.1} MB), made in {:.1} s",
        bytes as f64 / 1e6,
        filled.elapsed().as_secs_f64()
    );
    let origin = sites[0].config.node.region.clone();
    let start_time = Instant::now();
    let joiner = start(
        &sites[1],
        vec![holder.mesh().unwrap().listen_addr().clone()],
    )
    .await;
    while held(&joiner, &origin) < head {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start_time.elapsed();
    println!(
        "catch-up of {total} keys ({head} batches) by a joining node: {:.2} s ({:.0} keys/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    joiner.shutdown().await.unwrap();
    holder.shutdown().await.unwrap();
}

async fn bandwidth(n: usize, uploads: u32, min_keys: u64) {
    let Some(net) = netns::Net::build(n) else {
        println!("bandwidth: SKIPPED (needs root and `ip netns`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let regions: Vec<RegionId> = REGIONS[..n].iter().map(|r| r.parse().unwrap()).collect();
    let eu: ClusterId = "EU".parse().unwrap();
    let options = SiteOptions {
        batch_window_ms: 50,
        batch_min_keys: min_keys,
        ..SiteOptions::default()
    };
    let sites = sites::prepare(dir.path(), &[(eu, regions.clone())], &options).unwrap();
    let configs: Vec<_> = (0..n)
        .map(|i| netns::write_config(&net, &sites[i], i))
        .collect();
    let daemons: Vec<netns::Daemon> = (0..n).map(|i| netns::spawn(&net, &configs[i], i)).collect();
    for daemon in &daemons {
        while netns::metric(daemon, "enmesh_mesh_admitted_peers").await != (n - 1) as u64 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rx = |net: &netns::Net| (0..n).map(|i| net.rx_bytes(i)).collect::<Vec<u64>>();

    // Idle: what the mesh costs without batches (pings, heads, gossip heartbeats, metrics polls).
    let idle_start = rx(&net);
    let idle_time = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle: Vec<u64> = rx(&net)
        .iter()
        .zip(&idle_start)
        .map(|(a, b)| a - b)
        .collect();
    let idle_secs = idle_time.elapsed().as_secs_f64();

    let before = rx(&net);
    let busy_time = Instant::now();
    for u in 0..uploads {
        let i = (u as usize) % n;
        netns::upload_keys(&daemons[i], &sites[i], u, 13).await;
        // One batch per upload: wait for the window to close.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let expected_keys = u64::from(uploads) * 13 * (n as u64 - 1) / n as u64;
    for daemon in &daemons {
        while netns::metric(daemon, "enmesh_mesh_received_keys_total").await < expected_keys {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let busy_secs = busy_time.elapsed().as_secs_f64();
    let received: Vec<u64> = rx(&net).iter().zip(&before).map(|(a, b)| a - b).collect();
    for daemon in daemons {
        netns::terminate(daemon);
    }
    let feed = a2a();
    let sizes: Vec<u64> = sites
        .iter()
        .map(|s| {
            let store = Store::open(&s.config.node.data_dir).unwrap();
            store
                .batches_after(&feed, 0, usize::MAX)
                .unwrap()
                .iter()
                .map(|b| b.signed.encoded_len() as u64)
                .sum()
        })
        .collect();
    let total: u64 = sizes.iter().sum();
    let mut ratios = Vec::new();
    let mut net_ratios = Vec::new();
    for i in 0..n {
        let needed = total - sizes[i];
        let idle_share = (idle[i] as f64 / idle_secs * busy_secs) as u64;
        ratios.push(received[i] as f64 / needed as f64);
        net_ratios.push(received[i].saturating_sub(idle_share) as f64 / needed as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "bandwidth, {n} nodes, {uploads} batches padded to {min_keys} keys ({:.1} KB of batches, {:.0} B each): bytes received / bytes of batches needed: mean {:.2}, max {:.2}; minus idle traffic: mean {:.2}, max {:.2} (idle {:.0} B/s per node)",
        total as f64 / 1e3,
        total as f64 / f64::from(uploads),
        mean(&ratios),
        max(&ratios),
        mean(&net_ratios),
        max(&net_ratios),
        idle.iter().sum::<u64>() as f64 / n as f64 / idle_secs,
    );
}

fn main() {
    enmesh_daemon::pki::tls::install_default_provider();
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if wants("propagation") {
            propagation(5, 200).await;
            propagation(10, 200).await;
        }
        if wants("bandwidth") {
            for min_keys in [0, 100, 1000] {
                bandwidth(5, 40, min_keys).await;
                bandwidth(10, 40, min_keys).await;
            }
        }
        if wants("catchup") {
            let keys = std::env::var("CATCHUP_KEYS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000);
            catchup(keys).await;
        }
    });
}
