//! `ble-agent inspect decode` run as a real process: JSON for a GAEN advertisement, TCN service
//! data and Herald payloads; bad input exits 2 with one stderr line.

use serde_json::Value;
use std::process::{Command, Output};

fn run(hex: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ble-agent"))
        .args(["inspect", "decode", hex])
        .output()
        .unwrap()
}

fn decode(hex: &str) -> Value {
    let out = run(hex);
    assert!(
        out.status.success(),
        "{hex}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_fails_cleanly(hex: &str) -> String {
    let out = run(hex);
    assert_eq!(out.status.code(), Some(2), "{hex}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn gaen_advertisement() {
    let v = decode("02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874");
    assert_eq!(v["interpretation"], "advertisement");
    assert_eq!(v["structures"].as_array().unwrap().len(), 3);
    assert_eq!(v["structures"][2]["type"], 0x16);
    assert_eq!(v["structures"][0]["data"], "1a");
    let s = &v["sightings"][0];
    assert_eq!(s["kind"], "gaen");
    assert_eq!(s["uuid"], "0xfd6f");
    assert_eq!(s["rpi"], "8be6cd371c5c891604bfbe49df845096");
    assert_eq!(s["aem"], "72033874");
    assert_eq!(v["sightings"].as_array().unwrap().len(), 1);
}

#[test]
fn tcn_service_data() {
    let v = decode("19c0f4350a4a33e30f2f568898fbe4c4cf34a1b2c3d4");
    assert_eq!(v["interpretation"], "service_data");
    let s = &v["sightings"][0];
    assert_eq!(s["kind"], "tcn");
    assert_eq!(s["tcn"], "f4350a4a33e30f2f568898fbe4c4cf34");
    assert_eq!(s["extra"], "a1b2c3d4");
}

#[test]
fn herald_simple_payload() {
    let v = decode("103a030400e2cfbeb32de932c9171c658b5f57a337");
    assert_eq!(v["interpretation"], "herald_payload");
    let s = &v["sightings"][0];
    assert_eq!(s["kind"], "herald");
    assert_eq!(s["code"], 0x10);
    assert_eq!(s["classification"], "simple");
    assert_eq!(s["country"], 826);
    assert_eq!(s["country_alpha2"], "GB");
    assert_eq!(s["state"], 4);
    assert_eq!(s["contact_id"], "e2cfbeb32de932c9171c658b5f57a337");
    assert_eq!(s["extended"], serde_json::json!([]));
}

#[test]
fn herald_with_extended_data_and_unknown_country() {
    let v =
        decode("10ffff0000e2cfbeb32de932c9171c658b5f57a3374001c841020c0042096950686f6e65372c32");
    let s = &v["sightings"][0];
    assert_eq!(s["country"], 0xffff);
    assert_eq!(s["country_alpha2"], Value::Null);
    assert_eq!(s["extended"][0]["name"], "your_last_rssi");
    assert_eq!(s["extended"][0]["value"], -56);
    assert_eq!(s["extended"][1]["value"], 12);
    assert_eq!(s["extended"][2]["value"], "iPhone7,2");
}

#[test]
fn herald_venue_and_reserved_codes() {
    let v = decode("303a03040040e20100100b4164616d732050697a7a61");
    let s = &v["sightings"][0];
    assert_eq!(s["classification"], "venue");
    assert_eq!(s["location_code"], 123456);
    assert_eq!(s["extended"][0]["name"], "premises_name");
    assert_eq!(s["extended"][0]["data"], "4164616d732050697a7a61");

    let v = decode("ff0102");
    assert_eq!(v["sightings"][0]["classification"], "reserved");
    assert_eq!(v["sightings"][0]["data"], "0102");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    assert!(assert_fails_cleanly("zz").contains("hex"));
    assert_fails_cleanly("abc");
    assert_fails_cleanly("");
    // Valid hex that nothing can read: a truncated Simple payload.
    assert!(assert_fails_cleanly("103a030400e2cf").contains("cannot decode"));
    // GAEN service data of the wrong length.
    assert!(assert_fails_cleanly("6ffd8be6cd37").contains("expected 20"));
}
