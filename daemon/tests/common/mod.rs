//! Helpers shared by the daemon's multi-node integration tests.

#![allow(dead_code)] // each test file uses a part

use enmesh_protocol::region::RegionId;
use std::time::Duration;

/// How long a multi-node test waits for something to happen before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A region from its text.
pub fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

/// Polls `probe` every 10 ms until it says yes; fails the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
