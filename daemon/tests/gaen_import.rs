//! File federation in (formats.md §f.3): the `gaen-export` importer against a real HTTP server
//! and a real store. Google's own sample export files (read from `../shared/vectors/fixtures`)
//! import with their keys; a zip with a flipped byte, a signature under an unknown key id, and
//! a truncated zip are refused, counted, and store nothing; an index that lists a file twice
//! imports it once; a second sync imports nothing again.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::files::Files;
use enmesh_daemon::clock::{ManualClock, SharedClock};
use enmesh_daemon::replicate::gaen_export::check::ExportKey;
use enmesh_daemon::replicate::gaen_export::{self, Source};
use enmesh_daemon::store::{KeySource, Store};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use p256::ecdsa::{SigningKey, VerifyingKey};

fn fixture_path(name: &str) -> PathBuf {
    let shared = std::env::var_os("ENMESH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The CARGO_MANIFEST_DIR cargo sets when it runs the test (a binary built in another
            // checkout sharing the target directory must still look beside this one).
            std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
                .join("../../shared")
        });
    let path = shared.join("vectors/fixtures").join(name);
    assert!(path.is_file(), "fixture {} missing", path.display());
    path
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

fn pem_key(name: &str) -> VerifyingKey {
    String::from_utf8(fixture(name))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Harness {
    files: Files,
    addr: std::net::SocketAddr,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    metrics: Metrics,
    _dir: tempfile::TempDir,
}

async fn harness(now: u64) -> Harness {
    let files = Files::default();
    let addr = files.serve().await;
    let dir = tempfile::tempdir().unwrap();
    Harness {
        files,
        addr,
        store: Arc::new(Store::open(&dir.path().join("db")).unwrap()),
        clock: ManualClock::at_millis(now * 1000),
        metrics: Metrics::new(),
        _dir: dir,
    }
}

impl Harness {
    fn source(&self, region: &str, keys: Vec<ExportKey>) -> Source {
        Source {
            index_url: format!("http://{}/exports-{region}/index.txt", self.addr)
                .parse()
                .unwrap(),
            region: region.parse().unwrap(),
            keys,
            poll: Duration::from_secs(1),
            tls: None,
        }
    }

    async fn sync(&self, source: &Source) -> gaen_export::SyncReport {
        let clock: SharedClock = self.clock.clone();
        gaen_export::sync(source, &self.store, &clock, &self.metrics)
            .await
            .unwrap()
    }

    /// Every stored remote key: (hex key, origin region).
    fn remote_keys(&self) -> Vec<(String, String)> {
        let page = self
            .store
            .keys_arrived(0, u64::MAX, None, usize::MAX)
            .unwrap();
        page.entries
            .iter()
            .filter_map(|e| match &e.source {
                KeySource::Remote(origin) => Some((hex::encode(e.key.key.0), origin.to_string())),
                KeySource::Local => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn googles_sample_exports_import_with_their_keys() {
    // server-testExport: end_timestamp 1590246000 (gaen_export.json).
    let h = harness(1_590_246_000).await;
    h.files.put(
        "/exports-US/index.txt",
        "exports-US/1590159600-1590246000-00001.zip",
    );
    h.files.put(
        "/exports-US/1590159600-1590246000-00001.zip",
        fixture("server-testExport-2-records-1-of-1.zip"),
    );
    let source = h.source(
        "US",
        vec![ExportKey {
            key_id: "some_id".into(),
            key_version: "1".into(),
            key: pem_key("server-testExport-public.pem"),
        }],
    );
    let report = h.sync(&source).await;
    assert_eq!((report.imported, report.refused, report.keys), (1, 0, 2));
    let mut keys = h.remote_keys();
    keys.sort();
    // gaen_export.json → decoded keys.
    assert_eq!(
        keys,
        [
            (
                "172fc480e598490c34177604339b1543".to_owned(),
                "US".to_owned()
            ),
            (
                "2b63053ac483238de176169e861f3dcd".to_owned(),
                "US".to_owned()
            ),
        ]
    );
    let stored = h.store.keys_arrived(0, u64::MAX, None, 10).unwrap().entries;
    let first = stored
        .iter()
        .find(|e| hex::encode(e.key.key.0) == "172fc480e598490c34177604339b1543")
        .unwrap();
    assert_eq!(first.key.transmission_risk.get(), 8);
    assert_eq!(first.key.rolling_start.0, 2_649_980);
    assert_eq!(first.key.rolling_period.get(), 1);

    // The internals sample: 140 keys, key 310/v1 (end_timestamp 1593633900).
    let h = harness(1_593_633_900).await;
    h.files.put("/exports-US/index.txt", "exports-US/a.zip\n");
    h.files.put(
        "/exports-US/a.zip",
        fixture("internals-sample_diagnosis_key_file.zip"),
    );
    let source = h.source(
        "US",
        vec![ExportKey {
            key_id: "310".into(),
            key_version: "v1".into(),
            key: pem_key("internals-sample_diagnosis_key_file.public-310-v1.pem"),
        }],
    );
    let report = h.sync(&source).await;
    assert_eq!((report.imported, report.keys), (1, 140), "{report:?}");
    let keys: Vec<String> = h.remote_keys().into_iter().map(|(k, _)| k).collect();
    assert!(keys.contains(&"0003d60b188f19856e8b3dd29a0c463b".to_owned()));
    assert!(keys.contains(&"ff29d7cf76bfacf2e24ac69cab028c50".to_owned()));
    // A second sync finds nothing new and downloads nothing again.
    assert_eq!(h.sync(&source).await, gaen_export::SyncReport::default());
    assert_eq!(h.files.hits("/exports-US/a.zip"), 1);
}

const NOW: u64 = 1_700_000_000;

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

/// A signed export zip of `n` keys from `seed`, signed by `key` as `key_id`/v1.
fn export_zip(seed: u8, n: u32, key: &SigningKey, key_id: &str) -> Vec<u8> {
    let day = IntervalNumber::from_unix_seconds(NOW)
        .unwrap()
        .day_start()
        .0
        - 144;
    let keys = (0..n)
        .map(|i| {
            let mut tek = [seed; 16];
            tek[..4].copy_from_slice(&i.to_be_bytes());
            TemporaryExposureKey::new(
                tek,
                2,
                IntervalNumber(day),
                RollingPeriod::FULL_DAY,
                None,
                None,
            )
        })
        .collect();
    let export = TemporaryExposureKeyExport {
        start_timestamp: Some(NOW - 7200),
        end_timestamp: Some(NOW - 3600),
        region: Some("FR".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..TemporaryExposureKeyExport::default()
    };
    let signer = ExportSigner {
        key,
        info: SignatureInfo::ecdsa_sha256(key_id, "v1"),
    };
    ExportFile::sign(export, &[signer])
        .unwrap()
        .to_zip()
        .unwrap()
}

fn fr_key() -> Vec<ExportKey> {
    vec![ExportKey {
        key_id: "208".into(),
        key_version: "v1".into(),
        key: *signing_key(1).verifying_key(),
    }]
}

#[tokio::test]
async fn bad_files_are_refused_counted_and_store_nothing() {
    let h = harness(NOW).await;
    let good = export_zip(1, 10, &signing_key(1), "208");
    let mut flipped = export_zip(2, 10, &signing_key(1), "208");
    let at = flipped.len() / 3;
    flipped[at] ^= 0x01;
    let wrong_id = export_zip(3, 10, &signing_key(1), "999");
    let other_key = export_zip(4, 10, &signing_key(2), "208");
    let full = export_zip(5, 10, &signing_key(1), "208");
    let truncated = full[..full.len() - 40].to_vec();
    for (name, body) in [
        ("1-flipped", flipped),
        ("2-wrong-id", wrong_id),
        ("3-other-key", other_key),
        ("4-truncated", truncated),
        ("5-good", good),
    ] {
        h.files.put(&format!("/exports-FR/{name}.zip"), body);
    }
    h.files.put(
        "/exports-FR/index.txt",
        "exports-FR/1-flipped.zip\nexports-FR/2-wrong-id.zip\nexports-FR/3-other-key.zip\n\
         exports-FR/4-truncated.zip\nexports-FR/5-good.zip",
    );
    let report = h.sync(&h.source("FR", fr_key())).await;
    assert_eq!((report.imported, report.refused, report.keys), (1, 4, 10));
    let keys = h.remote_keys();
    assert_eq!(keys.len(), 10);
    // Only the good file's keys (seed 1 in the last 12 bytes).
    assert!(
        keys.iter()
            .all(|(k, o)| k.ends_with("010101010101010101010101") && o == "FR")
    );
    let metrics = h.metrics.encode();
    let refused = |reason: &str, count: u32| {
        let line =
            format!("enmesh_import_refusals_total{{source=\"FR\",reason=\"{reason}\"}} {count}");
        metrics.lines().any(|l| l == line)
    };
    // The flipped byte and the truncated zip are both not an export.
    assert!(
        refused("unknown_key", 1) && refused("signature", 1) && refused("bad_export", 2),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_file_listed_twice_imports_once_and_new_lines_are_picked_up() {
    let h = harness(NOW).await;
    h.files.put(
        "/exports-FR/a.zip",
        export_zip(1, 7, &signing_key(1), "208"),
    );
    h.files.put(
        "/exports-FR/index.txt",
        "exports-FR/a.zip\nexports-FR/a.zip\nexports-FR/a.zip",
    );
    let source = h.source("FR", fr_key());
    assert_eq!(h.sync(&source).await.keys, 7);
    assert_eq!(h.files.hits("/exports-FR/a.zip"), 1);
    h.files.put(
        "/exports-FR/b.zip",
        export_zip(2, 5, &signing_key(1), "208"),
    );
    h.files.put(
        "/exports-FR/index.txt",
        "exports-FR/a.zip\nexports-FR/b.zip\nexports-FR/a.zip",
    );
    let report = h.sync(&source).await;
    assert_eq!((report.imported, report.keys), (1, 5));
    assert_eq!(h.remote_keys().len(), 12);
    assert_eq!(h.files.hits("/exports-FR/a.zip"), 1);
}

#[tokio::test]
async fn a_missing_file_is_retried_not_skipped() {
    let h = harness(NOW).await;
    h.files.put(
        "/exports-FR/index.txt",
        "exports-FR/a.zip\nexports-FR/b.zip",
    );
    h.files.put(
        "/exports-FR/a.zip",
        export_zip(1, 3, &signing_key(1), "208"),
    );
    let source = h.source("FR", fr_key());
    let clock: SharedClock = h.clock.clone();
    // b.zip is not there yet (404): the sync stops after a.zip, b.zip is fetched next time.
    assert!(
        gaen_export::sync(&source, &h.store, &clock, &h.metrics)
            .await
            .is_err()
    );
    assert_eq!(h.remote_keys().len(), 3);
    h.files.put(
        "/exports-FR/b.zip",
        export_zip(2, 4, &signing_key(1), "208"),
    );
    assert_eq!(h.sync(&source).await.keys, 4);
    assert_eq!(h.remote_keys().len(), 7);
}

#[tokio::test]
async fn the_importer_worker_polls_survives_a_failed_download_and_stops_with_its_stage() {
    use enmesh_daemon::shutdown::Shutdown;
    use enmesh_daemon::worker::{self, Runner};

    let h = harness(NOW).await;
    h.files.put(
        "/exports-FR/index.txt",
        "exports-FR/a.zip\nexports-FR/b.zip",
    );
    h.files.put(
        "/exports-FR/a.zip",
        export_zip(1, 3, &signing_key(1), "208"),
    );
    let mut source = h.source("FR", fr_key());
    source.poll = Duration::from_millis(100);
    let stage = Shutdown::new();
    let clock: SharedClock = h.clock.clone();
    let runner = Runner::new(stage.signal(), clock.clone());
    let task = worker::spawn(
        &runner,
        gaen_export::ImportWorker::new(source, h.store.clone(), clock, h.metrics.clone()),
    );
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // a.zip is imported; b.zip is missing (404): a failed unit, counted, the worker goes on.
    let workers = runner.workers.clone();
    tokio::task::spawn_blocking({
        let workers = workers.clone();
        move || {
            until("a failed unit", &|| {
                workers
                    .snapshot()
                    .get("gaen_import")
                    .is_some_and(|s| s.errors > 0)
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(h.remote_keys().len(), 3);
    h.files.put(
        "/exports-FR/b.zip",
        export_zip(2, 4, &signing_key(1), "208"),
    );
    let store = h.store.clone();
    tokio::task::spawn_blocking(move || {
        until("b.zip imported at a later poll", &|| {
            store
                .keys_arrived(0, u64::MAX, None, usize::MAX)
                .unwrap()
                .entries
                .len()
                == 7
        })
    })
    .await
    .unwrap();
    // Each file was downloaded until it imported, and never again after.
    let hits = h.files.hits("/exports-FR/a.zip");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!((hits, h.files.hits("/exports-FR/a.zip")), (1, 1));
    stage.drain(Duration::from_secs(10)).await.unwrap();
    task.await.unwrap();
    let status = workers.snapshot()["gaen_import"].clone();
    assert!(status.stopped && status.last_error.is_none(), "{status:?}");
    assert_eq!(h.remote_keys().len(), 7);
}

/// A P-256 CA and a server certificate of it for 127.0.0.1 (rcgen, not enmesh's PKI), as a
/// CDN's web PKI: (CA PEM, server TLS configuration).
fn web_pki() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), Arc::new(config))
}

#[tokio::test]
async fn an_https_index_imports_with_its_roots_and_another_root_is_refused() {
    use enmesh_daemon::config::{ExportVerificationKey, GaenExportPeer};
    let h = harness(NOW).await;
    let (ca_pem, tls) = web_pki();
    let addr = h.files.serve_tls(tls).await;
    h.files.put(
        "/exports-FR/a.zip",
        export_zip(1, 6, &signing_key(1), "208"),
    );
    h.files.put("/exports-FR/index.txt", "exports-FR/a.zip");
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("fr.pem");
    {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let pem = signing_key(1)
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(&public, pem).unwrap();
    }
    let peer = |ca: &str| {
        let path = dir.path().join("roots.pem");
        std::fs::write(&path, ca).unwrap();
        GaenExportPeer {
            index_url: format!("https://127.0.0.1:{}/exports-FR/index.txt", addr.port())
                .parse()
                .unwrap(),
            region: "FR".parse().unwrap(),
            verification_keys: vec![ExportVerificationKey {
                key_id: "208".into(),
                key_version: "v1".into(),
                public_key: public.clone(),
            }],
            ca_file: Some(path),
            poll: Duration::from_secs(1),
        }
    };
    let clock: SharedClock = h.clock.clone();
    // Roots of another CA: the handshake fails, nothing is fetched or stored.
    let (other_ca, _) = web_pki();
    let stranger = Source::load(&peer(&other_ca)).unwrap();
    let refused = gaen_export::sync(&stranger, &h.store, &clock, &h.metrics).await;
    assert!(
        matches!(
            refused,
            Err(gaen_export::SyncError::Fetch(
                gaen_export::http::FetchError::Tls { .. }
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(h.files.hits("/exports-FR/index.txt"), 0);
    assert!(h.remote_keys().is_empty());
    // The right roots: imported over TLS.
    let source = Source::load(&peer(&ca_pem)).unwrap();
    assert_eq!(h.sync(&source).await.keys, 6);
    assert_eq!(h.remote_keys().len(), 6);
}
