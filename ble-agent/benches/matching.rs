//! Matching a worldwide day of keys (2.8 M TEKs: 200,000 cases × 14 days) against a contact log
//! of 20,000 GAEN sightings spread over the same 14 days, on one thread and on two.
//!
//! `cargo bench -p ble-agent --bench matching -- --sample-size 10`

use ble_agent::contact_log::{Entry, Record, ScanInstance};
use ble_agent::download::DownloadedKey;
use ble_agent::matching::{self, Index};
use ble_agent::sighting::Protocol;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use enmesh_protocol::gaen::{RpiKey, Tek};
use enmesh_protocol::interval::IntervalNumber;
use enmesh_protocol::keys::ReportType;
use rand::{Rng, RngExt, SeedableRng};
use std::time::Duration;

const KEYS: usize = 2_800_000;
const SIGHTINGS: usize = 20_000;
const PLANTED: usize = 50;
const TODAY: u32 = 20_000; // a UTC day number

fn data() -> (Vec<DownloadedKey>, Vec<Entry>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let region: enmesh_protocol::region::RegionId = "FR".parse().unwrap();
    let keys: Vec<DownloadedKey> = (0..KEYS)
        .map(|i| {
            let mut tek = [0u8; 16];
            rng.fill_bytes(&mut tek);
            let day = TODAY - 1 - (i % 14) as u32;
            DownloadedKey {
                tek: Tek(tek),
                rolling_start: IntervalNumber(day * 144),
                rolling_period: 144,
                report_type: ReportType::ConfirmedTest,
                days_since_onset: Some(0),
                source: region.clone(),
            }
        })
        .collect();
    let mut entries = Vec::with_capacity(SIGHTINGS);
    for i in 0..SIGHTINGS {
        let day = TODAY - 1 - (i % 14) as u32;
        let interval = day * 144 + rng.random_range(0..144u32);
        let rpi = if i < PLANTED {
            // Heard RPIs of real keys: the matches the bench must find.
            let key = &keys[i * 1000 + (i % 14)];
            RpiKey::derive(&key.tek)
                .rpi(IntervalNumber(key.rolling_start.0 + 70))
                .0
        } else {
            let mut rpi = [0u8; 16];
            rng.fill_bytes(&mut rpi);
            rpi
        };
        let interval = if i < PLANTED {
            keys[i * 1000 + (i % 14)].rolling_start.0 + 70
        } else {
            interval
        };
        let start_ms = u64::from(interval) * 600_000 + 1000;
        entries.push(Entry {
            day: interval / 144,
            protocol: Protocol::Gaen,
            identifier: rpi.to_vec(),
            record: Record {
                region: region.clone(),
                extra: [0; 4],
                instances: vec![ScanInstance {
                    start_ms,
                    end_ms: start_ms + 240_000,
                    max_rssi: -60,
                    rssi_sum: -65 * 5,
                    count: 5,
                }],
            },
        });
    }
    (keys, entries)
}

fn bench(c: &mut Criterion) {
    let (keys, entries) = data();
    let index = Index::build(&entries);
    assert_eq!(matching::match_gaen(&index, &keys, 2).len(), PLANTED);
    let mut group = c.benchmark_group("match");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(KEYS as u64));
    for threads in [1, 2] {
        group.bench_with_input(
            BenchmarkId::new("2.8M_teks_vs_20k_sightings", format!("{threads}_threads")),
            &threads,
            |b, &threads| b.iter(|| matching::match_gaen(&index, &keys, threads).len()),
        );
    }
    group.finish();
    let mut build = c.benchmark_group("index");
    build.sample_size(10);
    build.bench_function("build_20k_sightings", |b| {
        b.iter(|| Index::build(&entries).gaen_len())
    });
    build.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
