//! RPI derivation throughput on one core, the cost that bounds matching downloaded keys.
//!
//! `cargo bench -p enmesh-protocol --bench rpi`. Measures (throughput in RPIs or TEKs per second):
//! - `tek_to_144_rpis`: HKDF (RPIK) + key schedule + 144 batched AES blocks per TEK, many TEKs;
//! - `aes_144_rpis`: the AES part alone (PaddedData fill + 144 batched blocks, one key);
//! - `hkdf_rpik`: the per-TEK part alone (HKDF-SHA256 + AES key expansion).
//!
//! The goal is ≥ 50 M RPIs/s including HKDF (2.8 M TEKs × 144 in < 10 s). Nothing here is
//! asserted; the figures go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use enmesh_protocol::gaen::{DayRpis, RPIS_PER_KEY, RpiKey, Tek};
use enmesh_protocol::interval::IntervalNumber;

/// TEKs per iteration: enough that branch predictors and caches see realistic variety.
const TEKS: usize = 1024;
const ROLLING_START: IntervalNumber = IntervalNumber(2_642_976);

/// Distinct, deterministic TEKs (splitmix64): randomness is not what is being measured.
fn teks() -> Vec<Tek> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..TEKS)
        .map(|_| {
            let mut tek = [0u8; 16];
            tek[..8].copy_from_slice(&next().to_le_bytes());
            tek[8..].copy_from_slice(&next().to_le_bytes());
            Tek(tek)
        })
        .collect()
}

fn rpi_derivation(c: &mut Criterion) {
    let teks = teks();
    let mut day = DayRpis::default();
    let mut group = c.benchmark_group("rpi");

    group.throughput(Throughput::Elements((TEKS * RPIS_PER_KEY) as u64));
    group.bench_function("tek_to_144_rpis", |b| {
        b.iter(|| {
            for tek in &teks {
                let key = RpiKey::derive(black_box(tek));
                key.fill_day_rpis(ROLLING_START, &mut day).unwrap();
                black_box(&day);
            }
        })
    });

    let key = RpiKey::derive(&teks[0]);
    group.throughput(Throughput::Elements(RPIS_PER_KEY as u64));
    group.bench_function("aes_144_rpis", |b| {
        b.iter(|| {
            key.fill_day_rpis(black_box(ROLLING_START), &mut day)
                .unwrap();
            black_box(&day);
        })
    });

    group.throughput(Throughput::Elements(TEKS as u64));
    group.bench_function("hkdf_rpik", |b| {
        b.iter(|| {
            for tek in &teks {
                black_box(RpiKey::derive(black_box(tek)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, rpi_derivation);
criterion_main!(benches);
