//! Helpers of the agent's tests: sightings made from known keys, temporary stores.

#![allow(dead_code)]

use ble_agent::contact_log::{DEFAULT_MAX_RECORDS, Ingest};
use ble_agent::download::DownloadedKey;
use ble_agent::sighting::{Payload, Sighting};
use ble_agent::store::Store;
use enmesh_protocol::gaen::{AemKey, Metadata, RpiKey, Tek};
use enmesh_protocol::interval::IntervalNumber;
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::region::RegionId;

pub fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

/// GAEN sightings of `tek` every `every_s` seconds from `from_s` (inclusive) to `to_s`
/// (inclusive), heard at `rssi`, sent with tx power `tx`.
pub fn sightings_of(
    tek: &Tek,
    from_s: u64,
    to_s: u64,
    every_s: u64,
    rssi: i8,
    tx: i8,
    region: &RegionId,
) -> Vec<Sighting> {
    let rpik = RpiKey::derive(tek);
    let aemk = AemKey::derive(tek);
    let metadata = Metadata::new(1, enmesh_protocol::gaen::CalibrationConfidence::Low, tx).unwrap();
    (from_s..=to_s)
        .step_by(every_s as usize)
        .map(|t| {
            let interval = IntervalNumber::from_unix_seconds(t).unwrap();
            let rpi = rpik.rpi(interval);
            Sighting {
                at_ms: t * 1000,
                rssi,
                payload: Payload::Gaen {
                    rpi,
                    aem: aemk.encrypt(&rpi, &metadata),
                },
                region: region.clone(),
            }
        })
        .collect()
}

/// A key of `day` as downloaded from `source`.
pub fn key(tek: Tek, day: u32, source: &RegionId) -> DownloadedKey {
    DownloadedKey {
        tek,
        rolling_start: IntervalNumber(day * 144),
        rolling_period: 144,
        report_type: ReportType::ConfirmedTest,
        days_since_onset: Some(1),
        source: source.clone(),
    }
}

pub fn ingest(store: &Store, sightings: &[Sighting]) {
    let mut ingest = Ingest::new(store, DEFAULT_MAX_RECORDS);
    for s in sightings {
        ingest.add(s).unwrap();
    }
    ingest.flush().unwrap();
}

pub fn random_tek(seed: u8, n: u32) -> Tek {
    let mut bytes = [seed; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    Tek(bytes)
}
