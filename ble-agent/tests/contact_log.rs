//! The contact log on a real RocksDB: retention (a sighting older than 14 days is gone after the
//! sweep, a younger one stays), the size bound (a clear error, nothing of the refused flush
//! stored), durability across reopen, and unknown payloads kept with the agent's region.

mod common;

use ble_agent::contact_log::{self, Ingest, LogError};
use ble_agent::sighting::{Payload, Protocol, ServiceId, Sighting};
use ble_agent::store::Store;
use common::*;

const NOW: u64 = 1_765_000_000;

#[test]
fn the_sweep_deletes_exactly_what_is_older_than_14_days() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let cutoff = NOW - 14 * 86_400;
    let old = sightings_of(
        &random_tek(1, 1),
        cutoff - 3 * 86_400,
        cutoff - 3 * 86_400 + 300,
        60,
        -60,
        -8,
        &fr,
    );
    let just_old = sightings_of(
        &random_tek(2, 2),
        cutoff - 120,
        cutoff - 120,
        60,
        -60,
        -8,
        &fr,
    );
    let young = sightings_of(
        &random_tek(3, 3),
        cutoff + 60,
        cutoff + 600,
        60,
        -60,
        -8,
        &fr,
    );
    ingest(&store, &old);
    ingest(&store, &just_old);
    ingest(&store, &young);
    let before = contact_log::entries(&store, None).unwrap();
    assert!(before.len() >= 3);
    assert_eq!(
        contact_log::record_count(&store).unwrap(),
        before.len() as u64
    );

    let swept = contact_log::sweep(&store, NOW).unwrap();
    let after = contact_log::entries(&store, None).unwrap();
    assert!(swept.records_deleted >= 2, "{swept:?}");
    let cutoff_ms = cutoff * 1000;
    assert!(!after.is_empty());
    for entry in &after {
        for i in &entry.record.instances {
            assert!(
                i.end_ms >= cutoff_ms,
                "an instance older than 14 days survived: {i:?}"
            );
        }
    }
    let young_ids: Vec<Vec<u8>> = young
        .iter()
        .map(|s| {
            let mut id = Vec::new();
            s.payload.identifier_into(&mut id);
            id
        })
        .collect();
    assert!(after.iter().all(|e| young_ids.contains(&e.identifier)));
    assert_eq!(
        contact_log::record_count(&store).unwrap(),
        after.len() as u64
    );
    // A second sweep at the same time changes nothing.
    assert_eq!(contact_log::sweep(&store, NOW).unwrap().records_deleted, 0);
}

#[test]
fn a_full_log_refuses_with_a_clear_error_and_stores_nothing_of_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let mut ingest = Ingest::new(&store, 3);
    for s in sightings_of(&random_tek(1, 1), NOW, NOW + 1200, 60, -60, -8, &fr) {
        ingest.add(&s).unwrap();
    }
    ingest.flush().unwrap();
    assert_eq!(contact_log::record_count(&store).unwrap(), 3);
    let before = contact_log::entries(&store, None).unwrap();
    for s in sightings_of(&random_tek(2, 2), NOW, NOW + 60, 60, -60, -8, &fr) {
        ingest.add(&s).unwrap();
    }
    match ingest.flush() {
        Err(e @ LogError::Full { .. }) => assert!(e.to_string().contains("full"), "{e}"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(contact_log::entries(&store, None).unwrap(), before);
    assert_eq!(contact_log::record_count(&store).unwrap(), 3);
    // Sightings of identifiers already held still go in.
    for s in sightings_of(&random_tek(1, 1), NOW + 1200, NOW + 1200, 60, -50, -8, &fr) {
        ingest.add(&s).unwrap();
    }
    ingest.flush().unwrap();
}

#[test]
fn records_survive_a_reopen_and_merge_across_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let fr = region("FR");
    let tek = random_tek(4, 4);
    {
        let store = Store::open(dir.path()).unwrap();
        ingest(
            &store,
            &sightings_of(&tek, NOW, NOW + 120, 60, -60, -8, &fr),
        );
    }
    let store = Store::open(dir.path()).unwrap();
    ingest(
        &store,
        &sightings_of(&tek, NOW + 180, NOW + 240, 60, -70, -8, &fr),
    );
    let entries = contact_log::entries(&store, Some(Protocol::Gaen)).unwrap();
    let total: u16 = entries
        .iter()
        .flat_map(|e| &e.record.instances)
        .map(|i| i.count)
        .sum();
    assert_eq!(total, 5);
}

#[test]
fn unknown_payloads_are_kept_with_the_region_the_agent_was_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sighting = Sighting {
        at_ms: NOW * 1000,
        rssi: -70,
        payload: Payload::Unknown {
            service: ServiceId::Uuid16(0xfe9f),
            data: vec![1, 2, 3],
        },
        region: region("US-CA"),
    };
    ingest(&store, &[sighting]);
    let entries = contact_log::entries(&store, Some(Protocol::Unknown)).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record.region, region("US-CA"));
    assert_eq!(entries[0].identifier, vec![2, 0xfe, 0x9f, 1, 2, 3]);
    assert_eq!(
        contact_log::regions_since(&store, NOW - 10).unwrap(),
        vec![region("US-CA")]
    );
}
