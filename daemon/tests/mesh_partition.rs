//! The cluster mesh across real `enmesh daemon` processes, each in its own network namespace,
//! joined by veth pairs on one bridge: the cluster is split in two halves (unreachable routes),
//! both halves take uploads, and after the split heals every node holds every batch. Then one
//! node is killed with SIGKILL, another uploads, and the killed node catches up when restarted.
//!
//! Needs root and `ip` (iproute2) with network namespaces; without them the test says it was
//! skipped and passes.

// Shared with the mesh benchmark, which uses other parts of it.
#[allow(dead_code)]
#[path = "netns/mod.rs"]
mod netns;

use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::store::Store;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};
use netns::{Daemon, Net, metric, spawn, terminate, upload, write_config};
use std::time::{Duration, Instant};

const NODES: usize = 4;
const CONVERGE: Duration = Duration::from_secs(60);

/// Waits until, for each `(i, n)` of `expect`, daemon `i` has received `n` keys from the mesh.
async fn wait_keys(daemons: &[Option<Daemon>], expect: &[(usize, u64)], what: &str) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for (i, want) in expect {
            let got = metric(
                daemons[*i].as_ref().unwrap(),
                "enmesh_mesh_received_keys_total",
            )
            .await;
            all &= got == *want;
        }
        if all {
            return;
        }
        assert!(start.elapsed() < CONVERGE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_converge_after_healing_and_a_killed_node_catches_up() {
    let Some(net) = Net::build(NODES) else {
        eprintln!("SKIPPED: needs root and `ip netns` (network namespaces)");
        return;
    };
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("ENMESH_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("sites and daemon logs in {}", dir.path().display());
    let regions: Vec<RegionId> = ["DE", "FR", "IT", "ES"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let eu: ClusterId = "EU".parse().unwrap();
    let options = SiteOptions {
        batch_window_ms: 50,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    let sites = sites::prepare(dir.path(), &[(eu, regions.clone())], &options).unwrap();
    let configs: Vec<_> = (0..NODES)
        .map(|i| write_config(&net, &sites[i], i))
        .collect();
    let mut daemons: Vec<Option<Daemon>> = (0..NODES)
        .map(|i| Some(spawn(&net, &configs[i], i)))
        .collect();
    let start = Instant::now();
    for daemon in daemons.iter().flatten() {
        while metric(daemon, "enmesh_mesh_admitted_peers").await != 3 {
            assert!(start.elapsed() < CONVERGE, "nodes not admitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    upload(daemons[0].as_ref().unwrap(), &sites[0], 1).await;
    wait_keys(
        &daemons,
        &[(1, 1), (2, 1), (3, 1)],
        "the first key everywhere",
    )
    .await;

    net.split("add");
    upload(daemons[0].as_ref().unwrap(), &sites[0], 2).await;
    upload(daemons[2].as_ref().unwrap(), &sites[2], 3).await;
    // Each half replicates inside itself only.
    wait_keys(&daemons, &[(1, 2), (3, 2)], "each half to replicate inside").await;
    assert_eq!(
        metric(
            daemons[2].as_ref().unwrap(),
            "enmesh_mesh_received_keys_total"
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            daemons[0].as_ref().unwrap(),
            "enmesh_mesh_received_keys_total"
        )
        .await,
        0
    );

    // The links across the split are noticed dead (ping) and closed: healing needs redials,
    // admission again and catch-up, not just TCP retransmissions.
    let start = Instant::now();
    for daemon in daemons.iter().flatten() {
        while metric(daemon, "enmesh_mesh_admitted_peers").await != 1 {
            assert!(
                start.elapsed() < CONVERGE,
                "links across the split not closed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    net.split("del");
    // DE gets IT's key; FR DE's two and IT's; IT DE's two; ES DE's two and IT's.
    wait_keys(
        &daemons,
        &[(0, 1), (1, 3), (2, 2), (3, 3)],
        "convergence after healing",
    )
    .await;

    // SIGKILL ES, upload at DE while it is down, restart it: it catches up.
    drop(daemons[3].take());
    upload(daemons[0].as_ref().unwrap(), &sites[0], 4).await;
    daemons[3] = Some(spawn(&net, &configs[3], 3));
    wait_keys(&daemons, &[(3, 1)], "the restarted node to catch up").await;

    for daemon in daemons.iter_mut().filter_map(Option::take) {
        terminate(daemon);
    }
    // Every store holds every other node's feed up to its head.
    let feed = "a2a/EU".parse::<Feed>().unwrap();
    let stores: Vec<Store> = sites
        .iter()
        .map(|s| Store::open(&s.config.node.data_dir).unwrap())
        .collect();
    for (o, origin) in regions.iter().enumerate() {
        let head = stores[o]
            .feed_head(&feed)
            .unwrap()
            .map_or(0, |h| h.sequence);
        for (n, store) in stores.iter().enumerate().filter(|(n, _)| *n != o) {
            let held = store
                .cursor(origin, &feed)
                .unwrap()
                .map_or(0, |c| c.last_sequence);
            assert_eq!(
                held, head,
                "{} holds {origin} up to {held}, head {head}",
                regions[n]
            );
        }
    }
}
