//! GAEN export benchmark at the protocol level: sort, encode, sign (ECDSA P-256 over the whole
//! export.bin) and zip one file of 500,000 keys — the largest file the GAEN limits allow.
//!
//! `cargo bench -p enmesh-protocol --bench export`. The daemon's whole exporter path (reading
//! the window from RocksDB first) is `cargo bench -p enmesh-daemon --bench export`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use p256::ecdsa::SigningKey;

const KEYS: u64 = 500_000;

/// Deterministic pseudo-random key bytes (SplitMix64), so runs are comparable.
fn key_bytes(n: u64) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mix(2 * n + 1).to_le_bytes());
    out[8..].copy_from_slice(&mix(2 * n + 2).to_le_bytes());
    out
}

fn export() -> TemporaryExposureKeyExport {
    let keys = (0..KEYS)
        .map(|n| {
            TemporaryExposureKey::new(
                key_bytes(n),
                i32::try_from(n % 9).unwrap_or(0),
                IntervalNumber(2_832_000 - u32::try_from(n % 14).unwrap_or(0) * 144),
                RollingPeriod::FULL_DAY,
                Some(ReportType::ConfirmedTest),
                Some(i32::try_from(n % 15).unwrap_or(0) - 7),
            )
        })
        .collect();
    TemporaryExposureKeyExport {
        start_timestamp: Some(1_700_000_000),
        end_timestamp: Some(1_700_003_600),
        region: Some("DE".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_slice(&[7u8; 32]).expect("a valid P-256 scalar");
    let signer = ExportSigner {
        key: &key,
        info: SignatureInfo::ecdsa_sha256("262", "v1"),
    };
    let mut group = c.benchmark_group("export");
    group.sample_size(10);
    group.bench_function("sign_and_zip_500k_keys", |b| {
        b.iter_batched(
            export,
            |export| {
                let file = ExportFile::sign(export, std::slice::from_ref(&signer))
                    .expect("500k keys is within the limit");
                file.to_zip().expect("zip in memory")
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
