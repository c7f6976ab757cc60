//! Export benchmark: build, sign and zip one window of 500,000 keys (goal < 1 s on 2 cores).
//!
//! `export_window_500k` is the exporter's whole path for one window: read the keys from a real
//! RocksDB store (page by page, embargo filter), convert, sort, sign and zip. `sign_zip_500k` is
//! the protocol part alone (`ExportFile::sign` + `to_zip`), to show where the time goes.
//! Run: `cargo bench -p enmesh-daemon --bench export`.

use enmesh_protocol::feed::Feed;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use enmesh_daemon::exports::build::{build_files, export_key, window_keys};
use enmesh_daemon::exports::{ExportPeriod, ExportSettings, FILENAME_ROOT};
use enmesh_daemon::store::{BatchId, Cursor, Store};
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKeyExport,
};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DiagnosisKey, ReportType, TransmissionRisk};
use p256::ecdsa::SigningKey;

const KEYS: usize = 500_000;
const T0: u64 = 1_700_006_400;
const HOUR: u64 = 3600;

/// `n`-th key: pseudo-random bytes (SplitMix64), expired before T0.
fn key(n: u64) -> DiagnosisKey {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut data = [0u8; 16];
    data[..8].copy_from_slice(&mix(2 * n + 1).to_le_bytes());
    data[8..].copy_from_slice(&mix(2 * n + 2).to_le_bytes());
    DiagnosisKey {
        key: Tek(data),
        rolling_start: IntervalNumber((T0 / 600) as u32 - 144 - (n % 14) as u32 * 144),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::new((n % 9) as i64).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: None,
    }
}

fn settings() -> ExportSettings {
    ExportSettings {
        period: ExportPeriod::new(Duration::from_secs(HOUR)),
        max_keys_per_file: NonZeroUsize::new(500_000).unwrap(),
        key_id: "310".into(),
        key_version: "v1".into(),
        region_code: "DE".into(),
        root: FILENAME_ROOT.into(),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let keys: Vec<DiagnosisKey> = (0..KEYS as u64).map(key).collect();
    let feed = "a2a/EU".parse::<Feed>().unwrap();
    for (sequence, part) in (1u64..).zip(keys.chunks(50_000)) {
        let cursor = Cursor {
            last_sequence: sequence,
            last_batch_id: BatchId([0; 32]),
            next_poll_unix_secs: 0,
        };
        store
            .commit_remote(&"FR".parse().unwrap(), &feed, part, &cursor, T0 + sequence)
            .unwrap()
            .unwrap();
    }
    let signing_key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let settings = settings();
    let window = settings.period.window_of(T0);

    let started = Instant::now();
    let read = window_keys(&store, &settings, window).unwrap();
    let read_time = started.elapsed();
    assert_eq!(read.len(), KEYS);
    let built = build_files(&read, &settings, &signing_key, window).unwrap();
    let total = started.elapsed();
    assert_eq!(built.files.len(), 1);
    println!(
        "one-shot: export of {KEYS} keys in {total:?} (store read {read_time:?}), zip {} bytes",
        built.files[0].zip.len()
    );

    let mut group = c.benchmark_group("export");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("export_window_500k", |b| {
        b.iter(|| {
            let keys = window_keys(&store, &settings, window).unwrap();
            build_files(&keys, &settings, &signing_key, window).unwrap()
        })
    });
    group.bench_function("store_read_500k", |b| {
        b.iter(|| window_keys(&store, &settings, window).unwrap())
    });
    let export = TemporaryExposureKeyExport {
        start_timestamp: Some(window.start),
        end_timestamp: Some(window.end),
        region: Some("DE".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys: keys.iter().map(export_key).collect(),
        ..Default::default()
    };
    let signer = ExportSigner {
        key: &signing_key,
        info: SignatureInfo::ecdsa_sha256("310", "v1"),
    };
    group.bench_function("sign_zip_500k", |b| {
        b.iter_batched(
            || export.clone(),
            |export| {
                let file = ExportFile::sign(export, std::slice::from_ref(&signer)).unwrap();
                file.to_zip().unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("sign_only_500k", |b| {
        b.iter_batched(
            || export.clone(),
            |export| ExportFile::sign(export, std::slice::from_ref(&signer)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
