//! `kill -9` loses nothing acknowledged: a child process commits uploads in a loop and prints
//! each acknowledged upload; the parent kills it with SIGKILL mid-stream, reopens the store and
//! finds every acknowledged upload's keys and used code.
//!
//! The child is this test binary re-executed on the ignored test `child_writer`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use enmesh_daemon::store::UploadRefusal;
use enmesh_daemon::store::{CodeHash, Store, UploadId};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DiagnosisKey, ReportType, TransmissionRisk};

const DIR_ENV: &str = "ENMESH_STORE_CRASH_DIR";
const NOW: u64 = 1_700_000_000;
const ACKS: usize = 300;
const KEYS_PER_UPLOAD: u32 = 3;

fn upload_keys(upload: u32) -> Vec<DiagnosisKey> {
    (0..KEYS_PER_UPLOAD)
        .map(|k| {
            let mut tek = [0u8; 16];
            tek[..4].copy_from_slice(&upload.to_be_bytes());
            tek[4..8].copy_from_slice(&k.to_be_bytes());
            DiagnosisKey {
                key: Tek(tek),
                rolling_start: IntervalNumber(2_833_000),
                rolling_period: RollingPeriod::FULL_DAY,
                transmission_risk: TransmissionRisk::new(4).unwrap(),
                report_type: ReportType::ConfirmedTest,
                days_since_onset: None,
            }
        })
        .collect()
}

fn code(upload: u32) -> CodeHash {
    CodeHash::of(&format!("crash-code-{upload}"))
}

/// The child half: writes until killed. Run only by `acknowledged_uploads_survive_sigkill`.
#[test]
#[ignore = "child process of acknowledged_uploads_survive_sigkill"]
fn child_writer() {
    let dir = std::env::var(DIR_ENV).expect("run by the parent test only");
    let store = Store::open(dir.as_ref()).unwrap();
    for upload in 0u32.. {
        let keys = upload_keys(upload);
        store.put_code(&code(upload), NOW + 3600).unwrap().unwrap();
        store
            .commit_upload(&code(upload), &UploadId::of_keys(&keys), &keys, &[], NOW)
            .unwrap()
            .unwrap();
        println!("ack {upload}");
    }
}

#[test]
fn acknowledged_uploads_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < ACKS {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            acked.push(n.parse::<u32>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    // Acks printed after our last read may also be durable; read none of them.
    drop(lines);

    let store = Store::open(dir.path()).unwrap();
    let stored: std::collections::HashSet<Tek> = store
        .local_keys_after(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.key.key)
        .collect();
    for &upload in &acked {
        let keys = upload_keys(upload);
        for key in &keys {
            assert!(stored.contains(&key.key), "upload {upload} lost a key");
        }
        // Its code is used by exactly this upload: a retry answers, another upload is refused.
        let outcome = store
            .commit_upload(&code(upload), &UploadId::of_keys(&keys), &keys, &[], NOW)
            .unwrap()
            .unwrap();
        assert_eq!(outcome.key_count, KEYS_PER_UPLOAD);
        let other = upload_keys(u32::MAX - upload);
        let err = store
            .commit_upload(&code(upload), &UploadId::of_keys(&other), &other, &[], NOW)
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, UploadRefusal::CodeUsed), "{err}");
    }
    assert!(stored.len() >= ACKS * KEYS_PER_UPLOAD as usize);
}
