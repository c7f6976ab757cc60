//! Runs the real `ble-agent inspect rpis` binary against the gaen.json vector TEK, and checks
//! that bad input exits with status 2 and one line on stderr instead of a panic.

use std::process::{Command, Output};

use serde_json::Value;

/// gaen.json `tek`, `enin_of_key`, `rpik`, `aemk` and `metadata`.
const TEK: &str = "75c734c6dd1a782de7a965da5eb93125";
const ROLLING_START: u64 = 2_642_976;
const RPIK: &str = "185ad91db69ec7dd048960f1f3ba6175";
const AEMK: &str = "d57c46af7a1d83965b9bed8bd152936a";
const METADATA: &str = "40080000";
/// gaen.json intervals 0 and 143: (rpi, aem).
const FIRST: (&str, &str) = ("8be6cd371c5c891604bfbe49df845096", "72033874");
const LAST: (&str, &str) = ("f431b62ecf443102ce4ed0407de54bd4", "1215e57e");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ble-agent"))
        .args(["inspect", "rpis"])
        .args(args)
        .output()
        .unwrap()
}

fn run_json(args: &[&str]) -> Value {
    let output = run(args);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn vector_tek_with_metadata() {
    let interval = ROLLING_START.to_string();
    let json = run_json(&[
        "--tek",
        TEK,
        "--interval",
        &interval,
        "--metadata",
        METADATA,
    ]);
    assert_eq!(json["tek"], TEK);
    assert_eq!(json["rpik"], RPIK);
    assert_eq!(json["aemk"], AEMK);
    assert_eq!(json["rolling_start"], ROLLING_START);
    let rpis = json["rpis"].as_array().unwrap();
    assert_eq!(rpis.len(), 144);
    assert_eq!(rpis[0]["interval"], ROLLING_START);
    assert_eq!(rpis[0]["rpi"], FIRST.0);
    assert_eq!(rpis[0]["aem"], FIRST.1);
    assert_eq!(rpis[143]["interval"], ROLLING_START + 143);
    assert_eq!(rpis[143]["rpi"], LAST.0);
    assert_eq!(rpis[143]["aem"], LAST.1);
}

#[test]
fn without_metadata_there_are_no_aems() {
    let interval = ROLLING_START.to_string();
    let json = run_json(&["--tek", &TEK.to_uppercase(), "--interval", &interval]);
    let rpis = json["rpis"].as_array().unwrap();
    assert_eq!(rpis.len(), 144);
    assert_eq!(rpis[143]["rpi"], LAST.0);
    assert!(rpis.iter().all(|entry| entry.get("aem").is_none()));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let cases: [&[&str]; 6] = [
        &["--tek", "75c7", "--interval", "1"],
        &["--tek", "zz", "--interval", "1"],
        &["--tek", "75c", "--interval", "1"],
        &["--tek", TEK, "--interval", "1", "--metadata", "400800"],
        &["--tek", TEK, "--interval", "1", "--metadata", "4008000g"],
        &["--tek", TEK, "--interval", "4294967295"],
    ];
    for args in cases {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Argument errors that clap catches (a negative interval) are one line too, with status 2.
#[test]
fn clap_errors_are_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ble-agent"))
        .args(["inspect", "rpis", "--tek", "00", "--interval", "-1"])
        .output()
        .expect("run ble-agent");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
}
