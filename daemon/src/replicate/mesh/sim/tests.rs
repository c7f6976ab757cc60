//! Simulated meshes: convergence, bounded duplicates, catch-up after a partition, forged
//! batches, other clusters, determinism. Every figure asserted is counted by the simulator
//! while the real state machine runs.

use super::*;

/// Lets the nodes find and admit each other.
const SETTLE_MS: Millis = 15_000;

fn world(config: Config) -> World {
    World::new(config).unwrap()
}

/// Each node cuts `batches` batches, one node every `gap_ms`, round after round.
fn cut_rounds(w: &mut World, batches: usize, gap_ms: Millis) {
    let ids: Vec<NodeId> = w.ids().collect();
    for _ in 0..batches {
        for id in &ids {
            w.cut(*id, false);
            w.run_for(gap_ms);
        }
    }
}

/// Every batch every node stored, exactly once, and nothing of another cluster.
fn assert_stored_once(w: &World, expected: usize) {
    let stats = w.stats();
    assert_eq!(
        stats.stored.len(),
        expected,
        "batches stored over all nodes"
    );
    let twice: Vec<_> = stats.stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    for (node, origin, _) in stats.stored.keys() {
        let origin_cluster = w
            .ids()
            .find(|id| w.region_of(*id) == Some(origin))
            .and_then(|id| w.cluster_of(id));
        assert_eq!(origin_cluster, w.cluster_of(*node), "{origin} at {node}");
    }
    for node in w.ids() {
        for other in w.ids() {
            let origin = w.region_of(other).unwrap();
            assert_eq!(
                w.state_held(node, origin),
                w.held(node, origin),
                "the in-memory head of {origin} at {node} is the store's"
            );
        }
    }
}

#[test]
fn three_hundred_nodes_in_ten_clusters_converge_despite_loss_and_delay() {
    let mut w = world(Config {
        seed: 7,
        clusters: 10,
        nodes_per_cluster: 30,
        loss_ppm: 10_000,
        delay_ms: (1, 40),
        cross_cluster_bootstrap: true,
    });
    w.run_for(SETTLE_MS);
    cut_rounds(&mut w, 2, 10);
    let took = w.run_until(500, 120_000, World::converged);
    assert!(took.is_some(), "not converged after 120 s");

    let stats = w.stats().clone();
    // 300 nodes, each storing 2 batches of each of 29 other origins, once.
    assert_stored_once(&w, 300 * 29 * 2);
    // Each node receives each batch about once: losses and retries cost a few extra.
    let fetched: u32 = stats.fetched.values().sum();
    let most = stats.fetched.values().max().copied().unwrap_or(0);
    let stored = stats.stored.len();
    assert!(
        f64::from(fetched) <= 1.05 * stored as f64,
        "fetched {fetched} for {stored} stored"
    );
    assert!(most <= 3, "one batch fetched {most} times by one node");
    // Announcements: each node handles each at most once; gossip duplicates stay within the
    // fan-out of its peers.
    assert!(stats.announcements <= 300 * 2 * 30);
    assert!(
        stats.duplicate_announcements <= GOSSIP_DEGREE as u64 * stats.announcements,
        "{} duplicates for {} announcements",
        stats.duplicate_announcements,
        stats.announcements
    );
    // Node 1 of each cluster was told of node 0 of the next: refused as another cluster's.
    for c in 0..10 {
        let (at, refused) = (w.id((c + 1) % 10, 0), w.id(c, 1));
        assert!(
            stats.blocks.contains(&(at, refused, "other_cluster")),
            "cluster {c}'s node 1 not refused by the next cluster"
        );
    }
    // Other blocks are admission timeouts (an exchange lost on the way), never a refusal of a
    // node of the same cluster.
    for (at, peer, reason) in &stats.blocks {
        let across = w.cluster_of(*at) != w.cluster_of(*peer);
        assert!(
            (*reason == "other_cluster" && across) || *reason == "timeout",
            "{at} blocked {peer}: {reason}"
        );
    }
    assert!(stats.rejects.is_empty(), "{:?}", stats.rejects);
}

#[test]
fn a_split_cluster_catches_up_after_the_partition_heals() {
    let mut w = world(Config {
        seed: 11,
        nodes_per_cluster: 20,
        loss_ppm: 2_000,
        ..Config::default()
    });
    w.run_for(SETTLE_MS);
    cut_rounds(&mut w, 1, 20);
    // A lost fetch holds its origin until the request times out (30 s).
    assert!(w.run_until(500, 90_000, World::converged).is_some());

    // Halves 0..10 and 10..20; each side goes on cutting, and the links close.
    w.partition(|id| usize::from(id >= 10));
    w.run_for(10_000);
    cut_rounds(&mut w, 3, 50);
    w.run_for(20_000);
    let (a, b) = (w.id(0, 0), w.id(0, 19));
    let (ra, rb) = (
        w.region_of(a).unwrap().clone(),
        w.region_of(b).unwrap().clone(),
    );
    assert_eq!(w.held(a, &rb), 1, "nothing crosses the partition");
    assert_eq!(w.held(b, &ra), 1);
    assert_eq!(
        w.held(w.id(0, 9), &ra),
        4,
        "inside a side, all is replicated"
    );
    assert!(!w.converged());

    w.heal();
    let took = w.run_until(500, 90_000, World::converged);
    assert!(took.is_some(), "not converged 90 s after healing");
    assert_stored_once(&w, 20 * 19 * 4);
    let stats = w.stats();
    let fetched: u32 = stats.fetched.values().sum();
    assert!(
        f64::from(fetched) <= 1.1 * stats.stored.len() as f64,
        "fetched {fetched} for {} stored",
        stats.stored.len()
    );
}

#[test]
fn a_forged_batch_is_refused_everywhere_and_only_its_server_is_rejected() {
    let mut w = world(Config {
        seed: 3,
        nodes_per_cluster: 10,
        ..Config::default()
    });
    w.run_for(SETTLE_MS);
    let forger = w.id(0, 3);
    w.cut(forger, true);
    w.cut(forger, false);
    cut_rounds(&mut w, 2, 10);
    assert!(w.run_until(500, 30_000, World::converged).is_some());
    // Everyone holds the honest origins; nobody holds the forger's chain.
    let forged_origin = w.region_of(forger).unwrap().clone();
    for node in w.ids().filter(|n| *n != forger) {
        assert_eq!(w.held(node, &forged_origin), 0);
    }
    let stats = w.stats();
    // The 9 honest nodes hold 8 honest origins each, the forger 9.
    assert_stored_once(&w, 9 * 8 * 2 + 9 * 2);
    assert!(stats.forged_fetched > 0);
    assert!(!stats.rejects.is_empty());
    assert!(
        stats.rejects.iter().all(|(_, source)| *source == forger),
        "{:?}",
        stats.rejects
    );
}

#[test]
fn one_seed_gives_one_run() {
    let run = |seed| {
        let mut w = world(Config {
            seed,
            nodes_per_cluster: 8,
            loss_ppm: 50_000,
            delay_ms: (1, 100),
            ..Config::default()
        });
        w.run_for(SETTLE_MS);
        cut_rounds(&mut w, 2, 5);
        // A lost fetch holds its origin until the request times out (30 s).
        w.run_for(70_000);
        let s = w.stats();
        (
            s.trace,
            s.events,
            s.sent,
            s.lost,
            s.stored.len(),
            w.converged(),
        )
    };
    let first = run(5);
    assert_eq!(first, run(5));
    assert_ne!(first.0, run(6).0, "another seed, another run");
    assert!(first.5, "converged despite 5% loss");
}
