//! Conformance of the GAEN export reader, verifier and writer with the published sample files.
//!
//! The fixtures (two signed zips with their PEM keys, two bare `export.bin` files) are read from
//! `shared/vectors/fixtures` at test time, never copied; the expected values are copied from
//! `shared/vectors/gaen_export.json`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::export::{
    ECDSA_SHA256_OID, ExportError, ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey,
    TemporaryExposureKeyExport, decode_export_bin, decode_export_sig,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use enmesh_tests::fixture;
use p256::ecdsa::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

const SERVER_ZIP: &str = "server-testExport-2-records-1-of-1.zip";
const SERVER_PEM: &str = "server-testExport-public.pem";
const SERVER_KEYS_JSON: &str = "server-testExport-keys.json";
const INTERNALS_ZIP: &str = "internals-sample_diagnosis_key_file.zip";
const INTERNALS_PEM: &str = "internals-sample_diagnosis_key_file.public-310-v1.pem";
const CPP_EXPORT_BIN: &str = "internals-cpp-testdata-export.bin";
const APP_EXPORT_BIN: &str = "internals-app-raw-export.bin";

// gaen_export.json → server-testExport-2-records-1-of-1.zip
const SERVER_EXPORT_BIN_HEX: &str = "454b204578706f72742076312020202009f0e8c75e0000000011703ac95e000000001a0255532001280132211a01312207736f6d655f69642a13312e322e3834302e31303034352e342e332e323a1b0a10172fc480e598490c34177604339b1543100818fcdea10120013a1b0a102b63053ac483238de176169e861f3dcd1001188adea1012072";
const SERVER_EXPORT_SIG_HEX: &str = "0a710a211a01312207736f6d655f69642a13312e322e3834302e31303034352e342e332e3210011801224830460221009eb6e9d5ad6a688fa970b0e67c0886345eefdd1819592edd84604a1ccf4d0247022100906d7fcdf211c710f84a2a7917000573bef0ef27a4974129de2876ac6819f66a";

// gaen_export.json → internals-sample_diagnosis_key_file.zip
const INTERNALS_BIN_LEN: usize = 3854;
const INTERNALS_SIG_LEN: usize = 111;
const INTERNALS_BIN_SHA256: &str =
    "1df2d78a603e2f85ca178f2fbd339a587f699bffd9d46a79f61b0448e79fe9f7";
const INTERNALS_SIGNATURE_DER_HEX: &str = "30450220454d8a14739b7271c50971e33bc04a0ef462d03e6883d9ce6c6ba9cf6a1e86af022100fc62ad802ad0d528748c5f4acdfae54224895afa3c7a5fc682350ddf678ba892";

/// Expected key (hex key data, TR, rolling start, rolling period as read with its default).
struct Expected {
    key_data_hex: &'static str,
    transmission_risk_level: i32,
    rolling_start: i32,
    rolling_period: i32,
}

fn verifying_key(pem_fixture: &str) -> VerifyingKey {
    let pem = String::from_utf8(fixture(pem_fixture)).unwrap();
    pem.parse().unwrap()
}

fn assert_key(key: &TemporaryExposureKey, expected: &Expected) {
    assert_eq!(hex::encode(key.key_data()), expected.key_data_hex);
    assert_eq!(
        key.transmission_risk_level(),
        expected.transmission_risk_level
    );
    assert_eq!(key.rolling_start_interval_number(), expected.rolling_start);
    assert_eq!(key.rolling_period(), expected.rolling_period);
}

fn assert_sorted(keys: &[TemporaryExposureKey]) {
    assert!(keys.windows(2).all(|w| w[0].key_data() < w[1].key_data()));
}

#[test]
fn server_sample_zip_parses_and_verifies() {
    let file = ExportFile::from_zip(&fixture(SERVER_ZIP)).unwrap();
    assert_eq!(hex::encode(&file.export_bin), SERVER_EXPORT_BIN_HEX);
    assert_eq!(hex::encode(&file.export_sig), SERVER_EXPORT_SIG_HEX);

    let verified = file.verify(&verifying_key(SERVER_PEM)).unwrap();
    let export = verified.export();
    assert_eq!(export.start_timestamp, Some(1_590_159_600));
    assert_eq!(export.end_timestamp, Some(1_590_246_000));
    assert_eq!(export.region(), "US");
    assert_eq!((export.batch_num, export.batch_size), (Some(1), Some(1)));
    assert_eq!(
        export.signature_infos,
        [SignatureInfo::ecdsa_sha256("some_id", "1")]
    );
    assert_eq!(export.keys.len(), 2);
    assert!(export.revised_keys.is_empty());
    assert_sorted(&export.keys);

    // The keys the sample was generated from (publish-API JSON fixture) are the keys in the file.
    let json: serde_json::Value = serde_json::from_slice(&fixture(SERVER_KEYS_JSON)).unwrap();
    let mut published: Vec<TemporaryExposureKey> = json["temporaryExposureKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let data: [u8; 16] = STANDARD
                .decode(k["key"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let number = |field: &str| u32::try_from(k[field].as_u64().unwrap()).unwrap();
            TemporaryExposureKey::new(
                data,
                i32::try_from(number("transmissionRisk")).unwrap(),
                IntervalNumber(number("rollingStartNumber")),
                RollingPeriod::new(number("rollingPeriod")).unwrap(),
                None,
                None,
            )
        })
        .collect();
    published.sort_by(|a, b| a.key_data().cmp(b.key_data()));
    assert_eq!(export.keys, published);
}

#[test]
fn internals_sample_zip_parses_and_verifies() {
    let file = ExportFile::from_zip(&fixture(INTERNALS_ZIP)).unwrap();
    assert_eq!(file.export_bin.len(), INTERNALS_BIN_LEN);
    assert_eq!(file.export_sig.len(), INTERNALS_SIG_LEN);
    assert_eq!(
        hex::encode(Sha256::digest(&file.export_bin)),
        INTERNALS_BIN_SHA256
    );

    let export = file
        .verify(&verifying_key(INTERNALS_PEM))
        .unwrap()
        .into_export();
    assert_eq!(export.start_timestamp, Some(1_593_633_600));
    assert_eq!(export.end_timestamp, Some(1_593_633_900));
    assert_eq!(export.region(), "US");
    assert_eq!((export.batch_num, export.batch_size), (Some(1), Some(1)));
    assert_eq!(
        export.signature_infos,
        [SignatureInfo::ecdsa_sha256("310", "v1")]
    );
    assert_eq!(export.keys.len(), 140);
    assert_sorted(&export.keys);
    assert_key(
        &export.keys[0],
        &Expected {
            key_data_hex: "0003d60b188f19856e8b3dd29a0c463b",
            transmission_risk_level: 3,
            rolling_start: 2_653_920,
            rolling_period: 144,
        },
    );
    assert_key(
        &export.keys[139],
        &Expected {
            key_data_hex: "ff29d7cf76bfacf2e24ac69cab028c50",
            transmission_risk_level: 7,
            rolling_start: 2_655_648,
            rolling_period: 144,
        },
    );

    let list = decode_export_sig(&file.export_sig).unwrap();
    assert_eq!(list.signatures.len(), 1);
    assert_eq!(
        hex::encode(list.signatures[0].signature()),
        INTERNALS_SIGNATURE_DER_HEX
    );
    assert_eq!(
        list.signatures[0].signature_info,
        Some(SignatureInfo::ecdsa_sha256("310", "v1"))
    );
}

#[test]
fn each_sample_fails_with_the_other_samples_key() {
    let server = ExportFile::from_zip(&fixture(SERVER_ZIP)).unwrap();
    let internals = ExportFile::from_zip(&fixture(INTERNALS_ZIP)).unwrap();
    assert!(matches!(
        server.verify(&verifying_key(INTERNALS_PEM)),
        Err(ExportError::SignatureInvalid { signatures: 1 })
    ));
    assert!(matches!(
        internals.verify(&verifying_key(SERVER_PEM)),
        Err(ExportError::SignatureInvalid { signatures: 1 })
    ));
}

fn check_bare_export(
    name: &str,
    len: usize,
    window: (u64, u64),
    count: usize,
    first: &Expected,
    last: &Expected,
) -> TemporaryExposureKeyExport {
    let bytes = fixture(name);
    assert_eq!(bytes.len(), len, "{name}");
    let export = decode_export_bin(&bytes).unwrap();
    assert_eq!(
        (export.start_timestamp(), export.end_timestamp()),
        window,
        "{name}"
    );
    assert_eq!(export.region(), "US");
    assert_eq!((export.batch_num, export.batch_size), (Some(1), Some(1)));
    assert_eq!(export.keys.len(), count, "{name}");
    assert_sorted(&export.keys);
    assert_key(&export.keys[0], first);
    assert_key(&export.keys[count - 1], last);
    // Their one SignatureInfo carries only the reserved tag 2, which is skipped.
    assert_eq!(export.signature_infos, [SignatureInfo::default()]);
    export
}

#[test]
fn cpp_testdata_export_bin_decodes() {
    check_bare_export(
        CPP_EXPORT_BIN,
        5913,
        (1_588_425_586, 1_588_857_586),
        200,
        &Expected {
            key_data_hex: "00068b4d1fb011b9c9ae2744419d4ab3",
            transmission_risk_level: 2,
            rolling_start: 2_625_468,
            rolling_period: 141,
        },
        &Expected {
            key_data_hex: "fd7914be25d41f2022c8b6c37f6d88eb",
            transmission_risk_level: 2,
            rolling_start: 2_625_010,
            rolling_period: 73,
        },
    );
}

#[test]
fn app_raw_export_bin_decodes() {
    check_bare_export(
        APP_EXPORT_BIN,
        3284,
        (1_588_885_200, 1_588_890_000),
        110,
        &Expected {
            key_data_hex: "00e484ab69328ecfca4ce547deea3e0d",
            transmission_risk_level: 2,
            rolling_start: 2_645_035,
            rolling_period: 117,
        },
        &Expected {
            key_data_hex: "ff696927de321416d584acc08839aa6b",
            transmission_risk_level: 2,
            rolling_start: 2_644_922,
            rolling_period: 55,
        },
    );
}

#[test]
fn own_zip_round_trips_and_verifies() {
    // Re-sign the 200 keys of the C++ test file with our own key, zip, read back, verify.
    let source = decode_export_bin(&fixture(CPP_EXPORT_BIN)).unwrap();
    let mut keys = source.keys.clone();
    keys.reverse();
    keys.push(TemporaryExposureKey::new(
        [0x42; 16],
        2,
        IntervalNumber(2_625_500),
        RollingPeriod::FULL_DAY,
        Some(ReportType::ConfirmedTest),
        Some(0),
    ));
    let export = TemporaryExposureKeyExport {
        signature_infos: vec![],
        keys,
        ..source
    };
    let signing = SigningKey::from_slice(&[0x37; 32]).unwrap();
    let info = SignatureInfo::ecdsa_sha256("999", "v7");
    let file = ExportFile::sign(
        export,
        &[ExportSigner {
            key: &signing,
            info: info.clone(),
        }],
    )
    .unwrap();
    let zip = file.to_zip().unwrap();

    let read = ExportFile::from_zip(&zip).unwrap();
    assert_eq!(read, file);
    let verified = read.verify(signing.verifying_key()).unwrap().into_export();
    assert_eq!(verified.keys.len(), 201);
    assert_sorted(&verified.keys);
    assert_eq!(verified.signature_infos, [info]);
    assert_eq!(
        verified.signature_infos[0].signature_algorithm(),
        ECDSA_SHA256_OID
    );
    assert!(matches!(
        read.verify(&verifying_key(SERVER_PEM)),
        Err(ExportError::SignatureInvalid { .. })
    ));
}
