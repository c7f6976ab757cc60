//! `scan` (cargo feature `scan`): real Linux BLE scanning through BlueZ over D-Bus (`bluer`).
//!
//! LE discovery with duplicate reports on; every report of a device that carries service data of
//! any UUID becomes one sighting per service-data entry, with the device's current RSSI and the
//! region the agent is in (given by the user: a radio cannot know it). The scan runs on its own
//! thread with its own Tokio runtime and hands sightings over a bounded channel, so a slow
//! consumer slows the scan rather than growing memory. This module never connects to a device
//! and never advertises.

use super::replay::payload_of;
use super::{Event, Source};
use crate::sighting::{MAX_KEPT_PAYLOAD, ServiceId, Sighting};
use enmesh_protocol::region::RegionId;
use futures_util::StreamExt as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sightings queued between the scan thread and the consumer.
const QUEUE: usize = 4096;

/// A running BlueZ scan.
pub struct Scan {
    events: Receiver<Event>,
}

impl Scan {
    /// Starts scanning on the default adapter for `duration` (forever when `None`); sightings
    /// are tagged with `region`.
    pub fn start(region: RegionId, duration: Option<Duration>) -> Self {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(failed(0, format!("cannot start the scan runtime: {e}")));
                    return;
                }
            };
            if let Err(e) = runtime.block_on(scan(region, duration, &tx)) {
                let _ = tx.send(failed(0, format!("BlueZ scan stopped: {e}")));
            }
        });
        Self { events: rx }
    }
}

impl Source for Scan {
    fn next_event(&mut self) -> Option<Event> {
        self.events.recv().ok()
    }
}

fn failed(position: u64, reason: String) -> Event {
    Event::Skipped { position, reason }
}

fn now_ms() -> u64 {
    // The edge of the system: the radio's reports are stamped with the machine's clock.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn scan(
    region: RegionId,
    duration: Option<Duration>,
    tx: &SyncSender<Event>,
) -> bluer::Result<()> {
    let session = bluer::Session::new().await?;
    let adapter = session.default_adapter().await?;
    adapter.set_powered(true).await?;
    adapter
        .set_discovery_filter(bluer::DiscoveryFilter {
            transport: bluer::DiscoveryTransport::Le,
            duplicate_data: true,
            ..Default::default()
        })
        .await?;
    let events = adapter.discover_devices_with_changes().await?;
    futures_util::pin_mut!(events);
    let deadline = duration.map(|d| Instant::now() + d);
    let mut sequence = 0u64;
    loop {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), events.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(()),
            },
            None => events.next().await,
        };
        let Some(event) = next else {
            return Ok(());
        };
        let bluer::AdapterEvent::DeviceAdded(address) = event else {
            continue;
        };
        let device = adapter.device(address)?;
        let (Ok(Some(service_data)), Ok(Some(rssi))) =
            (device.service_data().await, device.rssi().await)
        else {
            continue;
        };
        let rssi = i8::try_from(rssi.clamp(-128, 127)).unwrap_or(i8::MIN);
        for (uuid, data) in service_data {
            sequence += 1;
            let service = service_of(*uuid.as_bytes());
            if data.len() > MAX_KEPT_PAYLOAD {
                continue;
            }
            let event = match payload_of(service, data) {
                Ok(payload) => Event::Sighting(Sighting {
                    at_ms: now_ms(),
                    rssi,
                    payload,
                    region: region.clone(),
                }),
                Err(e) => failed(sequence, format!("advertisement of {address}: {e}")),
            };
            if tx.send(event).is_err() {
                return Ok(());
            }
        }
    }
}

/// A 128-bit UUID from BlueZ as the agent's service id (16-bit when on the Bluetooth base).
fn service_of(uuid: [u8; 16]) -> ServiceId {
    const BASE_TAIL: [u8; 12] = [
        0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb,
    ];
    if uuid[..2] == [0, 0] && uuid[4..] == BASE_TAIL {
        ServiceId::Uuid16(u16::from_be_bytes([uuid[2], uuid[3]]))
    } else {
        ServiceId::Uuid128(uuid)
    }
}
