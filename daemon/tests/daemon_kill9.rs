//! `kill -9` of the real `enmesh daemon` process during a stream of uploads over HTTP loses no
//! acknowledged key: every upload answered 200 is in the store when it is reopened. And the
//! batches the batcher was cutting meanwhile and their replication-log entries still match one
//! to one: every stored batch has its `BatchCut` entry, every entry its batch, and the stored
//! subtree hashes give the root of the entries.

use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::admin::{cli, token};
use enmesh_daemon::api::client;
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::store::Store;
use enmesh_proto::v1::{AuditEntry, audit_entry};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use enmesh_protocol::merkle;
use prost::Message;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CODES: usize = 400;
const KILL_AFTER_ACKS: usize = 150;
const CLIENTS: usize = 4;

/// Reads the daemon's log until it says where it listens: (http, admin).
fn wait_for_addresses(stderr: impl std::io::Read) -> (SocketAddr, SocketAddr) {
    let field = |line: &str, name: &str| -> Option<SocketAddr> {
        let start = line.find(&format!("{name}="))? + name.len() + 1;
        line[start..].split_whitespace().next()?.parse().ok()
    };
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("daemon log");
        if line.contains("enmesh daemon started") {
            return (
                field(&line, "http").expect("http address in the log"),
                field(&line, "admin").expect("admin address in the log"),
            );
        }
    }
    panic!("the daemon exited before it started");
}

fn upload_body(code: &str, keys: &[[u8; 16]], today: u32) -> Vec<u8> {
    let keys: Vec<_> = keys
        .iter()
        .zip(1u32..)
        .map(|(key, day)| {
            serde_json::json!({
                "key": STANDARD.encode(key),
                "rollingStartNumber": today - day * TEK_ROLLING_PERIOD,
                "rollingPeriod": TEK_ROLLING_PERIOD,
                "transmissionRisk": 0,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "temporaryExposureKeys": keys,
        "verificationPayload": code,
        "visitedRegions": ["FR"],
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_uploads_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = [("EU".parse().unwrap(), vec!["DE".parse().unwrap()])];
    let site = sites::prepare(dir.path(), &clusters, &SiteOptions::default())
        .unwrap()
        .remove(0);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_enmesh"))
        .args(["daemon", "--config"])
        .arg(&site.config_path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start enmesh daemon");
    let stderr = daemon.stderr.take().unwrap();
    let (http, admin) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stderr);
        let addrs = wait_for_addresses(&mut reader);
        // Keep draining the log so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        addrs
    })
    .await
    .unwrap();

    // The operator issues codes through the real operator API.
    let token = token::load(&site.config.node.data_dir).unwrap();
    let mut codes = Vec::new();
    for _ in 0..CODES {
        let body = cli::call(admin, &token, Method::POST, "/admin/codes")
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        codes.push(value["code"].as_str().unwrap().to_owned());
    }

    // A stream of uploads from several clients; every 200 is an acknowledgement.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = IntervalNumber::from_unix_seconds(now)
        .unwrap()
        .day_start()
        .0;
    let acked: Arc<Mutex<Vec<[u8; 16]>>> = Arc::default();
    let acks = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for (c, chunk) in codes.chunks(CODES / CLIENTS).enumerate() {
        let (chunk, acked, acks) = (chunk.to_vec(), acked.clone(), acks.clone());
        clients.push(tokio::spawn(async move {
            for (i, code) in chunk.iter().enumerate() {
                let keys: Vec<[u8; 16]> = (0..5u8)
                    .map(|k| {
                        let mut key = [0u8; 16];
                        key[..8].copy_from_slice(&((c * 10_000 + i) as u64).to_le_bytes());
                        key[8] = k;
                        key
                    })
                    .collect();
                let body = upload_body(code, &keys, today);
                let Ok(answer) = client::request(
                    http,
                    Method::POST,
                    "/v1/publish",
                    &[(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                .await
                else {
                    return; // the daemon is gone
                };
                if answer.status == StatusCode::OK {
                    acked.lock().unwrap().extend(keys);
                    acks.notify_one();
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().unwrap().len() < KILL_AFTER_ACKS * 5 {
            acks.notified().await;
        }
    })
    .await
    .expect("uploads acknowledged");
    // Kill only once the batcher has cut something, so events and log entries are there to
    // compare (the uploads keep streaming meanwhile).
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let metrics = client::get(http, "/metrics").await.map(|a| a.text());
            if metrics.is_ok_and(|m| m.contains("enmesh_batches_total{")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a batch cut");
    daemon.kill().expect("SIGKILL the daemon"); // std's kill() is SIGKILL on unix
    daemon.wait().unwrap();
    for client in clients {
        client.await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER_ACKS * 5);
    let store = Store::open(&site.config.node.data_dir).expect("reopen after kill -9");
    let mut stored = HashSet::new();
    let mut after = None;
    loop {
        let page = store.keys_arrived(0, u64::MAX, after, 1000).unwrap();
        stored.extend(page.entries.iter().map(|e| e.key.key.0));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged keys lost",
        lost.len(),
        acked.len()
    );

    // Events and log entries, one to one.
    let (size, root) = store.audit_head();
    let mut log = Vec::new();
    while (log.len() as u64) < size.0 {
        let start = log.len() as u64;
        log.extend(store.audit_entries(start, size.0).unwrap().unwrap());
    }
    let leaves: Vec<_> = log.iter().map(|e| merkle::leaf_hash(e)).collect();
    assert_eq!(
        merkle::root(&leaves),
        root,
        "stored hashes and entries disagree"
    );
    let mut cut: Vec<(String, u64, Vec<u8>)> = log
        .iter()
        .filter_map(
            |bytes| match AuditEntry::decode(bytes.as_slice()).unwrap().event {
                Some(audit_entry::Event::BatchCut(c)) => {
                    c.batch.map(|b| (b.feed, b.sequence, b.batch_id))
                }
                _ => None,
            },
        )
        .collect();
    let mut batches = Vec::new();
    for feed in ["a2a/EU", "partial/FR"] {
        let feed: Feed = feed.parse().unwrap();
        let mut after = 0;
        loop {
            let page = store.batches_after(&feed, after, 100).unwrap();
            let Some(last) = page.last() else { break };
            after = last.sequence;
            batches.extend(
                page.iter()
                    .map(|b| (feed.to_string(), b.sequence, b.id.0.to_vec())),
            );
        }
    }
    cut.sort();
    batches.sort();
    assert!(
        !batches.is_empty(),
        "the batcher cut nothing before the kill"
    );
    assert_eq!(
        cut, batches,
        "batches and their log entries differ after kill -9"
    );
}
