//! Replay ingest: JSON Lines sightings per second into the contact log (a real RocksDB in a
//! temporary directory; every flush is an atomic, synced write). The capture is realistic: 2,000
//! devices each heard about once a second, each RPI for 10 minutes, so records aggregate many
//! sightings.
//!
//! `cargo bench -p ble-agent --bench ingest -- --sample-size 10`

use ble_agent::contact_log::{DEFAULT_MAX_RECORDS, Ingest};
use ble_agent::source::{self, replay::Replay};
use ble_agent::store::Store;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use enmesh_protocol::codec::hex_encode;
use rand::{Rng, RngExt, SeedableRng};
use std::time::Duration;

const LINES: usize = 500_000;

fn capture() -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut out = String::with_capacity(LINES * 110);
    let start = 1_760_000_000.0_f64;
    let devices = 2_000;
    for i in 0..LINES {
        let device = i % devices;
        let t = start + (i / devices) as f64 * 1.0 + rng.random::<f64>();
        let epoch = (t as u64) / 600;
        // The RPI of a device changes every interval: derive a stable fake one per (device, epoch).
        let mut seed = rand::rngs::StdRng::seed_from_u64(epoch * 10_000 + device as u64);
        let mut data = [0u8; 20];
        seed.fill_bytes(&mut data);
        let rssi = -50 - rng.random_range(0..40);
        out.push_str(&format!(
            "{{\"t\":{t:.3},\"rssi\":{rssi},\"uuid\":\"fd6f\",\"data\":\"{}\",\"region\":\"FR\"}}\n",
            hex_encode(&data)
        ));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let capture = capture();
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(LINES as u64));
    group.bench_function("jsonl_into_contact_log_500k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let store = Store::open(dir.path()).unwrap();
                let mut ingest = Ingest::new(&store, DEFAULT_MAX_RECORDS);
                let mut replay = Replay::new(capture.as_slice(), None);
                let report = source::ingest_all(&mut replay, &mut ingest).unwrap();
                assert_eq!(report.written.sightings, LINES as u64);
                drop(store);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
