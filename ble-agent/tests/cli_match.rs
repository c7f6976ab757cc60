//! The `ble-agent` binary end to end, as a field engineer runs it: `replay` a JSON Lines capture
//! (a bad line is reported with its number and skipped), then `match --export ZIP --export-key
//! PEM` prints one JSON line per exposure in the issue's shape; a key nobody heard prints
//! nothing, and an export signed by another key is refused with exit status 2.

use enmesh_protocol::codec::hex_encode;
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::gaen::{AemKey, CalibrationConfidence, Metadata, RpiKey, Tek};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use p256::pkcs8::EncodePublicKey as _;
use std::path::Path;
use std::process::{Command, Output};

const DAY: u32 = 20_000;
const HEARD: Tek = Tek([0x42; 16]);
const STRANGER: Tek = Tek([0x17; 16]);

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ble-agent"))
        .args(args)
        .output()
        .expect("run ble-agent")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A capture of `HEARD` every 60 s for 20 minutes at −60 dBm (sent at −8 dBm: 52 dB), with a
/// bad line third and an extra field on every good line.
fn capture(t0: u64) -> String {
    let rpik = RpiKey::derive(&HEARD);
    let aemk = AemKey::derive(&HEARD);
    let metadata = Metadata::new(1, CalibrationConfidence::Low, -8).unwrap();
    let mut lines = Vec::new();
    for (n, t) in (t0..=t0 + 1200).step_by(60).enumerate() {
        if n == 2 {
            lines.push(
                r#"{"t": 1, "rssi": -60, "uuid": "fd6f", "data": "zz", "region": "FR"}"#.to_owned(),
            );
        }
        let interval = IntervalNumber::from_unix_seconds(t).unwrap();
        let rpi = rpik.rpi(interval);
        let aem = aemk.encrypt(&rpi, &metadata);
        lines.push(format!(
            r#"{{"t": {t}.25, "rssi": -60, "uuid": "fd6f", "data": "{}", "region": "FR", "phone": "x"}}"#,
            hex_encode(&[&rpi.0[..], &aem.0].concat())
        ));
    }
    lines.join("\n") + "\n"
}

fn export_zip(signing: &p256::ecdsa::SigningKey) -> Vec<u8> {
    let key = |tek: &Tek| {
        TemporaryExposureKey::new(
            tek.0,
            0,
            IntervalNumber(DAY * 144),
            RollingPeriod::FULL_DAY,
            None,
            None,
        )
    };
    let export = TemporaryExposureKeyExport {
        region: Some("FR".into()),
        keys: vec![key(&STRANGER), key(&HEARD)],
        ..Default::default()
    };
    let signer = ExportSigner {
        key: signing,
        info: SignatureInfo::ecdsa_sha256("FR", "v1"),
    };
    ExportFile::sign(export, &[signer])
        .unwrap()
        .to_zip()
        .unwrap()
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> String {
    std::fs::write(path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn replay_then_match_prints_the_exposure_of_the_heard_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log").display().to_string();
    let t0 = u64::from(DAY) * 86_400 + 10 * 3600;
    let jsonl = write(&dir.path().join("capture.jsonl"), capture(t0));

    let replay = agent(&["replay", "--log", &log, &jsonl]);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(summary["sightings"], 21, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(
        summary["records"], 3,
        "one record per RPI (20 minutes span 3 intervals)"
    );
    assert!(
        text(&replay.stderr).contains("line 3"),
        "{}",
        text(&replay.stderr)
    );

    let signing = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let pem = p256::ecdsa::VerifyingKey::from(&signing)
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let pem = write(&dir.path().join("fr.pem"), pem);
    let zip = write(&dir.path().join("fr.zip"), export_zip(&signing));
    let matched = agent(&[
        "match",
        "--log",
        &log,
        "--export",
        &zip,
        "--export-key",
        &pem,
    ]);
    assert!(matched.status.success(), "{}", text(&matched.stderr));
    let stdout = text(&matched.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "only the heard key is an exposure:\n{stdout}"
    );
    let exposure: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(exposure["protocol"], "gaen");
    assert_eq!(exposure["key"], hex_encode(&HEARD.0));
    assert_eq!(exposure["first_seen"], t0);
    assert_eq!(exposure["duration_s"], 1200);
    assert_eq!(exposure["min_attenuation_db"], 52);
    assert_eq!(exposure["region"], "FR");
    assert!(exposure["score"].as_f64().unwrap() > 0.0, "{exposure}");

    // The same file signed by another key is refused whole: nothing printed, status 2.
    let impostor = p256::ecdsa::SigningKey::from_slice(&[10u8; 32]).unwrap();
    let forged = write(&dir.path().join("forged.zip"), export_zip(&impostor));
    let refused = agent(&[
        "match",
        "--log",
        &log,
        "--export",
        &forged,
        "--export-key",
        &pem,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty(), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains("signature"),
        "{}",
        text(&refused.stderr)
    );

    // Keys of a region nobody was in match nothing: a fresh log hears no one.
    let empty = dir.path().join("empty").display().to_string();
    let none = agent(&[
        "match",
        "--log",
        &empty,
        "--export",
        &zip,
        "--export-key",
        &pem,
    ]);
    assert!(none.status.success(), "{}", text(&none.stderr));
    assert!(none.stdout.is_empty(), "{}", text(&none.stdout));
}
