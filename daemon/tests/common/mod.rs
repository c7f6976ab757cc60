//! Helpers shared by the daemon's multi-node integration tests.

#![allow(dead_code)] // each test file uses a part

pub mod files;

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

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A valid key unique to (`node`, `n`), valid all of yesterday.
pub fn key(node: u8, n: u32) -> enmesh_protocol::keys::DiagnosisKey {
    use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
    use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
    let mut tek = [node; 16];
    tek[..4].copy_from_slice(&n.to_be_bytes());
    let interval = u32::try_from(now_secs() / 600).unwrap() - 144;
    DiagnosisKey {
        key: enmesh_protocol::gaen::Tek(tek),
        rolling_start: IntervalNumber(interval - interval % 144),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::new(3).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: DaysSinceOnset::known(1),
    }
}

/// Stores `keys` straight into `store` as one local upload (a fresh code, no visited region),
/// as the ingest path would after validation. The batcher cuts them on its next tick or flush.
pub fn store_upload(
    store: &enmesh_daemon::store::Store,
    keys: &[enmesh_protocol::keys::DiagnosisKey],
) {
    use enmesh_daemon::store::{CodeHash, UploadId};
    let code = CodeHash::of(&format!("{:?}", keys.first().map(|k| k.key.0)));
    store.put_code(&code, now_secs() + 3600).unwrap().unwrap();
    store
        .commit_upload(&code, &UploadId::of_keys(keys), keys, &[], now_secs())
        .unwrap()
        .unwrap();
}
