//! What the daemon's benchmarks share: valid upload bodies and a pool of HTTP/1.1 clients that
//! posts them as fast as the server takes them, recording each request's latency.
//! Benchmarks only: nothing here is tuned to make a figure look better than the real path.

#![allow(dead_code)] // each bench uses a part

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys in one upload of [`body`].
pub const KEYS_PER_UPLOAD: usize = 30;

/// The value of environment variable `name`, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A valid 30-key upload (3 keys a day on 10 past days, distinct data for each `upload`)
/// authorised by `code`, visiting `visited`.
pub fn body(code: &str, upload: usize, now: u64, visited: &str) -> Vec<u8> {
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
        r#"{{"temporaryExposureKeys":[{}],"verificationPayload":"{code}","visitedRegions":["{visited}"],"padding":"{}"}}"#,
        keys.join(","),
        "A".repeat(1024)
    )
    .into_bytes()
}

/// Posts every body to `addr` from `clients` keep-alive connections; each must succeed.
/// Returns every request's latency.
pub async fn post_all(addr: SocketAddr, bodies: Vec<Vec<u8>>, clients: usize) -> Vec<Duration> {
    let bodies = Arc::new(bodies);
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
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    latencies
}

/// The `p` quantile (0..=1) of sorted `values`.
pub fn quantile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}
