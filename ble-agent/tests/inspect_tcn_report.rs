//! Runs the real `ble-agent inspect tcn-report` binary on the published TCN report
//! (`shared/vectors/tcn.json`, values copied here) and on tampered copies of it.

use std::process::{Command, Output};

/// The published 146-byte signed report (memo type 0, "symptom data", j1 = 2, j2 = 10).
const SIGNED_REPORT: &str = "fd8deb9d91a13e144ca5b0ce14e289532e040fe0bf922c6e3dadb1e4e2333c78df535b90ac99bec8be3a8add45ce77897b1e7cb1906b5cff1097d3cb142fd9d002000a00000c73796d70746f6d206461746131078ec5367b67a8c793b740626d81ba904789363137b5a313419c0f50b180d8226ecc984bf073ff89cbd9c88fea06bda1f0f368b0e7e88bbe68f15574482904";
const RVK: &str = "fd8deb9d91a13e144ca5b0ce14e289532e040fe0bf922c6e3dadb1e4e2333c78";
/// tcn_2 ..= tcn_10 of the vector chain (repository HEAD: j2 inclusive).
const COVERED: [&str; 9] = [
    "135eeaa6482b8852fea3544edf6eabf0",
    "d713ce68cf4127bcebde6874c4991e4b",
    "5174e6514d2086565e4ea09a45995191",
    "ccae4f2c3144ad1ed0c2a39613ef0342",
    "3b9e600991369bba3944b6e9d8fda370",
    "dc06a8625c08e946317ad4c89e6ee8a1",
    "9d671457835f2c254722bfd0de76dffc",
    "8b454d28430d3153a500359d9a49ec88",
    "45ecbf11a44a30144f95f3f8f3fb3e81",
];

fn inspect(hex: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ble-agent"))
        .args(["inspect", "tcn-report", hex])
        .output()
        .unwrap()
}

/// Asserts exit status 2 with exactly one `error: ` line on stderr and nothing on stdout;
/// returns that line.
fn assert_rejected(hex: &str) -> String {
    let out = inspect(hex);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"));
    stderr
}

#[test]
fn published_report_prints_verified_fields_and_tcn_2_to_10() {
    let out = inspect(SIGNED_REPORT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["rvk"], RVK);
    assert_eq!(json["j1"], 2);
    assert_eq!(json["j2"], 10);
    assert_eq!(json["memo_type"]["code"], 0);
    assert_eq!(json["memo_type"]["name"], "coepi");
    assert_eq!(json["memo_data"]["hex"], "73796d70746f6d2064617461");
    assert_eq!(json["memo_data"]["utf8"], "symptom data");
    let tcns = json["tcns"].as_array().unwrap();
    assert_eq!(tcns.len(), COVERED.len());
    for ((entry, expected), index) in tcns.iter().zip(COVERED).zip(2..) {
        assert_eq!(entry["index"], index);
        assert_eq!(entry["tcn"], expected);
    }
}

#[test]
fn tampered_signature_exits_2_with_one_line() {
    // Flip one bit of the signature's last byte.
    let mut tampered = SIGNED_REPORT.to_string();
    tampered.pop();
    tampered.push('5');
    let line = assert_rejected(&tampered);
    assert!(line.contains("signature"), "{line}");
}

#[test]
fn tampered_memo_exits_2_with_one_line() {
    // "symptom data" → "symptom dat`": the signature no longer matches.
    let tampered = SIGNED_REPORT.replacen("64617461", "64617460", 1);
    assert_ne!(tampered, SIGNED_REPORT);
    let line = assert_rejected(&tampered);
    assert!(line.contains("signature"), "{line}");
}

#[test]
fn stripped_truncated_or_non_hex_input_exits_2() {
    // Signature stripped: only the 82-byte unsigned report.
    let stripped = &SIGNED_REPORT[..SIGNED_REPORT.len() - 128];
    assert!(assert_rejected(stripped).contains("truncated"));
    assert!(assert_rejected(&format!("{SIGNED_REPORT}00")).contains("trailing"));
    assert!(assert_rejected("zz").contains("hex"));
}
