//! Upload ingest through HTTP: keys/s stored and request latency with concurrent clients.
//!
//! A real store in a tempdir, the real router on 127.0.0.1:0, codes issued beforehand (not
//! timed), then `CLIENTS` tasks each posting 30-key uploads with fresh codes over keep-alive
//! HTTP/1.1 connections. Prints keys/s and p50/p99 latency. Run:
//! `cargo bench -p enmesh-daemon --bench ingest` (env `UPLOADS`, `CLIENTS` override the sizes).
//! This benchmark never reuses a code, so every upload stores its keys.

mod common;

use common::{KEYS_PER_UPLOAD, body, env_or, post_all, quantile};
use enmesh_daemon::admin::code;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::ingest::{self, IngestState};
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let uploads = env_or("UPLOADS", 4000);
    let clients = env_or("CLIENTS", 16);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&dir.path().join("db")).expect("store"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let setup = Instant::now();
    let codes: Vec<String> = (0..uploads)
        .map(|_| code::issue(&store, now + 3600).expect("issue"))
        .collect();
    println!("issued {uploads} codes in {:.1?}", setup.elapsed());

    let metrics = Metrics::new();
    let state = AppState::new(
        "DE".parse().unwrap(),
        "EU".parse().unwrap(),
        metrics.clone(),
    );
    let routes = ingest::routes(IngestState {
        store: Arc::clone(&store),
        metrics,
        clock: SystemClock::shared(),
        region: "DE".parse().unwrap(),
        validation: ValidationConfig::default(),
        batcher: None,
    });
    let router = api::router(state, routes, 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });

    let bodies: Vec<Vec<u8>> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| body(c, i, now, "FR"))
        .collect();
    let started = Instant::now();
    let mut latencies = post_all(addr, bodies, clients).await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let stored = store
        .local_keys_after(None, usize::MAX)
        .expect("read")
        .len();
    assert_eq!(stored, uploads * KEYS_PER_UPLOAD);
    println!(
        "ingest: {uploads} uploads x {KEYS_PER_UPLOAD} keys, {clients} clients: {:.0} keys/s \
         ({:.0} uploads/s) in {elapsed:.2?}; latency p50 {:.2?} p99 {:.2?}",
        stored as f64 / elapsed.as_secs_f64(),
        uploads as f64 / elapsed.as_secs_f64(),
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
    );
}
