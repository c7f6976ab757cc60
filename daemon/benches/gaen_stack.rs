//! Google key-server stack: (1) publish with an ES256 verification certificate against today's
//! one-time-code path, uploads/s through HTTP (goal: ≥ 80 % of the code path); (2) import of a
//! 500,000-key GAEN export file, from the start of its download to its keys stored (goal: < 2 s).
//!
//! (1) Same store kind, same router, same 30-key bodies, same client pool; the certificate run
//! also checks the JWT, the tekmac and the revision rules and issues a revision token per upload.
//! Certificates are minted beforehand (untimed) with p256. (2) The zip is built and signed
//! beforehand (untimed), served by a real HTTP server on 127.0.0.1; the timed part is
//! `gaen_export::sync`: index, download, unzip, signature check, key checks, one store write.
//! Run: `cargo bench -p enmesh-daemon --bench gaen_stack` (env `UPLOADS`, `CLIENTS`, `RUNS`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{KEYS_PER_UPLOAD, body, env_or, post_all, quantile};
use enmesh_daemon::admin::code;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::{SharedClock, SystemClock};
use enmesh_daemon::ingest::revision::TokenKeys;
use enmesh_daemon::ingest::verification::{Authorities, HealthAuthority};
use enmesh_daemon::ingest::{self, Certified, IngestState};
use enmesh_daemon::replicate::gaen_export::{self, Source, check::ExportKey};
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{KeyData, UploadKey, ValidationConfig};
use enmesh_protocol::publish::tekmac;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        publish().await;
        import().await;
    });
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Posts `bodies` to a fresh store; returns uploads/s, p50, p99.
async fn run_uploads(
    certified: bool,
    bodies: Vec<Vec<u8>>,
    clients: usize,
    store: Arc<Store>,
    authority: &HealthAuthority,
) -> (f64, Duration, Duration) {
    let metrics = Metrics::new();
    let state = AppState::new(
        "DE".parse().unwrap(),
        "EU".parse().unwrap(),
        metrics.clone(),
    );
    let ingest_state = IngestState {
        store: Arc::clone(&store),
        metrics,
        clock: SystemClock::shared(),
        region: "DE".parse().unwrap(),
        validation: ValidationConfig::default(),
        batcher: None,
    };
    let routes = if certified {
        let tokens = TokenKeys::new("v1", &[("v1".into(), [5; 32])], b"bench").expect("tokens");
        let certified = Certified::load(&store, Authorities::new(vec![authority.clone()]), tokens)
            .expect("index");
        ingest::routes_with(ingest_state, Some(certified))
    } else {
        ingest::routes(ingest_state)
    };
    let router = api::router(state, routes, 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let uploads = bodies.len();
    let started = Instant::now();
    let mut latencies = post_all(addr, bodies, clients).await;
    let elapsed = started.elapsed();
    server.abort();
    latencies.sort_unstable();
    let stored = store
        .local_keys_after(None, usize::MAX)
        .expect("read")
        .len();
    assert_eq!(stored, uploads * KEYS_PER_UPLOAD);
    (
        uploads as f64 / elapsed.as_secs_f64(),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
    )
}

fn certificate(key: &SigningKey, tekmac_b64: &str, now: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"v1","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": "bench.verification", "aud": "bench.keyserver", "iat": now, "exp": now + 900,
        "reportType": "confirmed", "tekmac": tekmac_b64,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature: Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The body of upload `i` authorised by a certificate over its keys.
fn certified_body(key: &SigningKey, i: usize, now: u64) -> Vec<u8> {
    let hmac_key = [0x24u8; 16];
    let template = body("CERTIFICATE", i, now, "FR");
    let value: serde_json::Value = serde_json::from_slice(&template).expect("json");
    let keys: Vec<UploadKey> = value["temporaryExposureKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| UploadKey {
            key: KeyData::Base64(k["key"].as_str().expect("key").to_owned()),
            rolling_start: k["rollingStartNumber"].as_i64().expect("start"),
            rolling_period: k["rollingPeriod"].as_i64().expect("period"),
            transmission_risk: k["transmissionRisk"].as_i64().expect("risk"),
        })
        .collect();
    let mac = STANDARD.encode(tekmac(&hmac_key, &keys, true).expect("tekmac"));
    let text = String::from_utf8(template).expect("utf8");
    text.replace(
        "\"verificationPayload\":\"CERTIFICATE\"",
        &format!(
            "\"verificationPayload\":\"{}\",\"hmacKey\":\"{}\"",
            certificate(key, &mac, now),
            STANDARD.encode(hmac_key)
        ),
    )
    .into_bytes()
}

async fn publish() {
    let uploads = env_or("UPLOADS", 3000);
    let clients = env_or("CLIENTS", 16);
    let runs = env_or("RUNS", 2);
    let now = now();
    let signing = SigningKey::from_slice(&[11; 32]).expect("key");
    let authority = HealthAuthority {
        name: "bench".into(),
        issuer: "bench.verification".into(),
        audience: "bench.keyserver".into(),
        keys: [("v1".to_owned(), *signing.verifying_key())].into(),
    };
    for run in 1..=runs {
        // Today's path: one-time codes.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("db")).expect("store"));
        let bodies: Vec<Vec<u8>> = (0..uploads)
            .map(|i| {
                let c = code::issue(&store, now + 3600).expect("code");
                body(&c, i, now, "FR")
            })
            .collect();
        let (code_rate, c50, c99) = run_uploads(false, bodies, clients, store, &authority).await;
        // Certificates.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("db")).expect("store"));
        let bodies: Vec<Vec<u8>> = (0..uploads)
            .map(|i| certified_body(&signing, i, now))
            .collect();
        let (cert_rate, j50, j99) = run_uploads(true, bodies, clients, store, &authority).await;
        println!(
            "publish run {run}: {uploads} uploads x {KEYS_PER_UPLOAD} keys, {clients} clients: \
             code {code_rate:.0} uploads/s (p50 {c50:.2?} p99 {c99:.2?}); certificate \
             {cert_rate:.0} uploads/s (p50 {j50:.2?} p99 {j99:.2?}); ratio {:.0} %",
            100.0 * cert_rate / code_rate
        );
    }
}

async fn import() {
    let keys_in_file = env_or("IMPORT_KEYS", 500_000) as u32;
    let runs = env_or("RUNS", 2);
    let now = now();
    let signing = SigningKey::from_slice(&[12; 32]).expect("key");
    let day = IntervalNumber::from_unix_seconds(now)
        .expect("now")
        .day_start()
        .0
        - 144;
    let built = Instant::now();
    let keys = (0..keys_in_file)
        .map(|i| {
            let mut tek = [0x5Au8; 16];
            tek[..4].copy_from_slice(&i.to_be_bytes());
            tek[4..8].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            TemporaryExposureKey::new(
                tek,
                2,
                IntervalNumber(day - 144 * (i % 10)),
                RollingPeriod::FULL_DAY,
                None,
                None,
            )
        })
        .collect();
    let export = TemporaryExposureKeyExport {
        start_timestamp: Some(now - 7200),
        end_timestamp: Some(now - 3600),
        region: Some("FR".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..TemporaryExposureKeyExport::default()
    };
    let signer = ExportSigner {
        key: &signing,
        info: SignatureInfo::ecdsa_sha256("208", "v1"),
    };
    let zip = ExportFile::sign(export, &[signer])
        .expect("sign")
        .to_zip()
        .expect("zip");
    println!(
        "import: built a {keys_in_file}-key export ({} bytes) in {:.1?} (untimed)",
        zip.len(),
        built.elapsed()
    );
    let zip = axum::body::Bytes::from(zip);
    let router = Router::new()
        .route(
            "/exports-FR/index.txt",
            get(|| async { "exports-FR/big.zip" }),
        )
        .route(
            "/exports-FR/big.zip",
            get(move || {
                let zip = zip.clone();
                async move { zip }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let source = Source {
        index_url: format!("http://{addr}/exports-FR/index.txt")
            .parse()
            .expect("url"),
        region: "FR".parse().expect("region"),
        keys: vec![ExportKey {
            key_id: "208".into(),
            key_version: "v1".into(),
            key: *signing.verifying_key(),
        }],
        poll: Duration::from_secs(60),
        tls: None,
    };
    let clock: SharedClock = SystemClock::shared();
    for run in 1..=runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("db")).expect("store"));
        let started = Instant::now();
        let report = gaen_export::sync(&source, &store, &clock, &Metrics::new())
            .await
            .expect("sync");
        let elapsed = started.elapsed();
        assert_eq!(report.keys, keys_in_file as usize);
        println!(
            "import run {run}: {} keys from download to stored in {elapsed:.2?} ({:.0} keys/s)",
            report.keys,
            report.keys as f64 / elapsed.as_secs_f64()
        );
    }
}
