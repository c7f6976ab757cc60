//! Upload ingest through HTTP: keys/s stored and request latency with concurrent clients.
//!
//! A real store in a tempdir, the real router on 127.0.0.1:0, codes issued beforehand (not
//! timed), then `CLIENTS` tasks each posting 30-key uploads with fresh codes over keep-alive
//! HTTP/1.1 connections. Prints keys/s and p50/p99 latency. Run:
//! `cargo bench -p enmesh-daemon --bench ingest` (env `UPLOADS`, `CLIENTS` override the sizes).
//! This benchmark never reuses a code, so every upload stores its keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::admin::code;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::ingest::{self, IngestState};
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEYS_PER_UPLOAD: usize = 30;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A valid 30-key upload: 3 keys per day on 10 past days (same start, distinct data).
fn body(code: &str, upload: usize, now: u64) -> Vec<u8> {
    let today = now / 86_400;
    let keys: Vec<String> = (0..KEYS_PER_UPLOAD)
        .map(|i| {
            let mut tek = [0u8; 16];
            tek[..8].copy_from_slice(&(upload as u64).to_be_bytes());
            tek[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            let day = today - 1 - (i / 3) as u64;
            format!(
                r#"{{"key":"{}","rollingStartNumber":{},"rollingPeriod":144,"transmissionRisk":0}}"#,
                STANDARD.encode(tek),
                day * 144
            )
        })
        .collect();
    format!(
        r#"{{"temporaryExposureKeys":[{}],"verificationPayload":"{code}","visitedRegions":["FR"],"padding":"{}"}}"#,
        keys.join(","),
        "A".repeat(1024)
    )
    .into_bytes()
}

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
        .map(|(i, c)| body(c, i, now))
        .collect();
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let bodies = Arc::clone(&bodies);
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            for i in (client..bodies.len()).step_by(clients) {
                let request = Request::post("/v1/publish")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(bodies[i].clone())))
                    .expect("request");
                let sent = Instant::now();
                let response = sender.send_request(request).await.expect("send");
                let status = response.status();
                let answer = response.into_body().collect().await.expect("body");
                assert!(status.is_success(), "{status}: {:?}", answer.to_bytes());
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
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
        pct(0.50),
        pct(0.99),
    );
}
