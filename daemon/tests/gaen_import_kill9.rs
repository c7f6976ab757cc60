//! `kill -9` of the real `enmesh daemon` while it imports a peer's GAEN export index
//! (`[[peers]]` `format = "gaen-export"`, configured in its TOML file): after a restart it
//! finishes the import, and the store holds every key of every file exactly once.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::files::Files;
use common::{PATIENCE, eventually};
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::store::{KeySource, Store};
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};

const FILES: u32 = 30;
const KEYS_PER_FILE: u32 = 1000;
const KILL_AT_FILE: u32 = 8;

fn start(config: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_enmesh"))
        .args(["daemon", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start enmesh daemon");
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut http = None;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.contains("enmesh daemon started") {
            let at = line.find("http=").unwrap() + 5;
            http = line[at..].split_whitespace().next().unwrap().parse().ok();
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    (child, http.expect("the daemon started"))
}

fn export_zip(file: u32, key: &SigningKey, now: u64) -> Vec<u8> {
    let day = IntervalNumber::from_unix_seconds(now)
        .unwrap()
        .day_start()
        .0
        - 144;
    let keys = (0..KEYS_PER_FILE)
        .map(|i| {
            let mut tek = [0xA5; 16];
            tek[..4].copy_from_slice(&file.to_be_bytes());
            tek[4..8].copy_from_slice(&i.to_be_bytes());
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
        start_timestamp: Some(now - 7200),
        end_timestamp: Some(now - 3600 + u64::from(file)),
        region: Some("FR".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..TemporaryExposureKeyExport::default()
    };
    let signer = ExportSigner {
        key,
        info: SignatureInfo::ecdsa_sha256("208", "v1"),
    };
    ExportFile::sign(export, &[signer])
        .unwrap()
        .to_zip()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_import_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = [("EU".parse().unwrap(), vec!["DE".parse().unwrap()])];
    let site = sites::prepare(dir.path(), &clusters, &SiteOptions::default())
        .unwrap()
        .remove(0);
    let now = common::now_secs();
    let key = SigningKey::from_slice(&[3; 32]).unwrap();
    let files = Files::default();
    let mut index = Vec::new();
    for file in 0..FILES {
        let name = format!(
            "exports-FR/{:010}-{:010}-{file:05}.zip",
            now - 7200,
            now - 3600
        );
        files.put(&format!("/{name}"), export_zip(file, &key, now));
        index.push(name);
    }
    files.put("/exports-FR/index.txt", index.join("\n"));
    files.delay_ms.store(60, Ordering::Relaxed);
    let addr = files.serve().await;
    let public = dir.path().join("fr-export.pem");
    std::fs::write(
        &public,
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    let config = dir.path().join("importer.toml");
    let text = std::fs::read_to_string(&site.config_path).unwrap()
        + &format!(
            "\n[[peers]]\nurl = \"http://{addr}/exports-FR/index.txt\"\nregion = \"FR\"\n\
             format = \"gaen-export\"\npoll_secs = 1\n\n[[peers.verification_keys]]\n\
             key_id = \"208\"\nkey_version = \"v1\"\npublic_key = {public:?}\n"
        );
    std::fs::write(&config, text).unwrap();

    let (mut daemon, _) = start(&config);
    let kill_at = format!("/{}", index[KILL_AT_FILE as usize]);
    eventually("the importer to reach the kill point", || {
        let files = files.clone();
        let kill_at = kill_at.clone();
        async move { files.hits(&kill_at) > 0 }
    })
    .await;
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    let downloaded_before = (0..FILES)
        .filter(|f| files.hits(&format!("/{}", index[*f as usize])) > 0)
        .count();
    assert!(
        downloaded_before < FILES as usize,
        "killed too late to test anything"
    );

    files.delay_ms.store(0, Ordering::Relaxed);
    let (mut daemon, http) = start(&config);
    let want = (FILES * KEYS_PER_FILE) as usize;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = enmesh_daemon::demo::drive::feed_keys(http)
            .await
            .map(|k| k.len())
            .unwrap_or(0);
        if seen >= want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {seen} of {want} keys imported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let it poll the index once more, then stop it hard and read what it stored.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let store = Store::open(&site.config.node.data_dir).unwrap();
    let entries = store
        .keys_arrived(0, u64::MAX, None, usize::MAX)
        .unwrap()
        .entries;
    assert!(
        entries
            .iter()
            .all(|e| e.source == KeySource::Remote("FR".parse().unwrap()))
    );
    let unique: HashSet<[u8; 16]> = entries.iter().map(|e| e.key.key.0).collect();
    assert_eq!(unique.len(), want, "keys lost");
    assert_eq!(entries.len(), want, "keys stored twice");
    // Files imported before the kill were not downloaded again.
    let twice = (0..FILES)
        .filter(|f| files.hits(&format!("/{}", index[*f as usize])) > 1)
        .count();
    assert!(
        twice <= 1,
        "{twice} files downloaded twice (at most the one in flight)"
    );
}
