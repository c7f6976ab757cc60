//! Replication-log benchmark (#11's goals): append rate in batches, inclusion and consistency
//! proofs at 10 M entries, storage per entry, and `enmesh audit sync` of 1 M entries from a
//! running node over mutual TLS.
//!
//! - append: `Store::record` of `AUDIT_BENCH_BATCH` (default 1,000) entries per write into a
//!   real RocksDB store, until `AUDIT_BENCH_ENTRIES` (default 10 M); the entries are the
//!   daemon's own (`audit::batch_cut` and `audit::peer_checked`, alternating);
//! - proofs: criterion over random leaves / first sizes of that store;
//! - storage: the store's directory size after the appends, divided by the entries;
//! - sync: a node started on a store of `AUDIT_BENCH_SYNC` (default 1 M) entries, its
//!   checkpoint signed, then one `Auditor::sync` into an empty local copy.
//!
//! Run: `cargo bench -p enmesh-daemon --bench audit`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use enmesh_daemon::audit::client::Auditor;
use enmesh_daemon::audit::mirror::Mirror;
use enmesh_daemon::audit::{self, Entry};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::node;
use enmesh_daemon::pki::{Credential, Verifier, bootstrap, files};
use enmesh_daemon::store::{BatchId, Store};
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1::BatchBody;
use enmesh_protocol::merkle::{LeafIndex, TreeSize};
use enmesh_protocol::region::{ClusterId, RegionId};

/// The `n`-th entry: a batch cut or a peer check, as the daemon writes them.
fn entry(n: u64) -> Entry {
    if n.is_multiple_of(2) {
        let body = BatchBody {
            origin_region: "DE".into(),
            feed: "partial/FR".into(),
            sequence: n,
            created_unix_millis: 1_800_000_000_000,
            ..BatchBody::default()
        };
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        audit::batch_cut(&body, &BatchId(id), 12, 1_800_000_000_000 + n)
    } else {
        let leaf = n.to_be_bytes();
        let peer = audit::Peer::unverified(Some(&leaf));
        audit::peer_checked(&peer, audit::Path::Mesh, None, 1_800_000_000_000 + n)
    }
}

/// Appends `count` entries in writes of `batch`: entries per second.
fn fill(store: &Store, count: u64, batch: u64) -> f64 {
    let started = Instant::now();
    let mut next = 0u64;
    let mut last_report = Instant::now();
    while next < count {
        let end = (next + batch).min(count);
        let entries: Vec<Entry> = (next..end).map(entry).collect();
        store.record(&entries).unwrap();
        next = end;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  appended {next}/{count}");
            last_report = Instant::now();
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

fn main() {
    enmesh_daemon::pki::tls::install_default_provider();
    let entries = common::env_or("AUDIT_BENCH_ENTRIES", 10_000_000) as u64;
    let batch = common::env_or("AUDIT_BENCH_BATCH", 1_000) as u64;
    let sync_entries = common::env_or("AUDIT_BENCH_SYNC", 1_000_000) as u64;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rate = fill(&store, entries, batch);
    println!("audit/append: {entries} entries in writes of {batch}: {rate:.0} entries/s");
    let bytes_per_entry = {
        drop(store);
        // Reopening flushes nothing new; the WAL and SSTs on disk are what the log costs.
        let size = dir_size(dir.path());
        size as f64 / entries as f64
    };
    println!("audit/storage: {bytes_per_entry:.0} bytes per entry on disk (WAL + SSTs)");
    let store = Store::open(dir.path()).unwrap();
    let size = TreeSize(entries);

    let mut criterion = Criterion::default().configure_from_args();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    criterion.bench_function("audit/inclusion_proof_10m", |b| {
        b.iter(|| {
            store
                .audit_inclusion_proof(LeafIndex(next() % entries), size)
                .unwrap()
        })
    });
    criterion.bench_function("audit/consistency_proof_10m", |b| {
        b.iter(|| {
            store
                .audit_consistency_proof(TreeSize(1 + next() % (entries - 1)), size)
                .unwrap()
        })
    });
    drop(store);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(sync_bench(sync_entries, batch));
    criterion.final_summary();
}

/// A node on a store of `entries` entries; one sync of all of them into an empty copy.
async fn sync_bench(entries: u64, batch: u64) {
    let dir = tempfile::tempdir().unwrap();
    let clusters: Vec<(ClusterId, Vec<RegionId>)> =
        vec![("EU".parse().unwrap(), vec!["DE".parse().unwrap()])];
    let sites = sites::prepare(dir.path(), &clusters, &SiteOptions::default()).unwrap();
    let site = &sites[0];
    {
        let store = Store::open(&site.config.node.data_dir).unwrap();
        fill(&store, entries, batch);
    }
    let node = node::start(site.config.clone(), SystemClock::shared(), Metrics::new())
        .await
        .unwrap();
    let signed = |node: &node::NodeHandle| {
        node.store()
            .checkpoint()
            .unwrap()
            .map_or(0, |c| audit::checkpoints::size_of(&c.note))
    };
    while signed(&node) < entries {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (chain, key) = bootstrap::issue_auditor(
        &site.pki.cluster_ca,
        "bench",
        1,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let credential = Credential::from_pem(key.as_bytes(), &[chain.as_bytes()]).unwrap();
    let root = files::read_first_cert(&site.config.pki.root_cert).unwrap();
    let verifier = Arc::new(Verifier::new(root, &[]).unwrap());
    let url = format!("https://{}", node.grpc_addr()).parse().unwrap();
    let started = Instant::now();
    let mut auditor = Auditor::with(&url, verifier, &credential, None)
        .await
        .unwrap();
    let mut mirror = Mirror::open(&dir.path().join("copy")).unwrap();
    let report = auditor.sync(&mut mirror, |_| {}).await.unwrap();
    let took = started.elapsed();
    println!(
        "audit/sync: {} entries synced (connect, checkpoint checked, entries streamed, root \
         recomputed, copy written) in {:.2} s",
        report["new_entries"],
        took.as_secs_f64()
    );
    node.shutdown().await.unwrap();
}
