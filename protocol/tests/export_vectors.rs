//! GAEN export files against `shared/vectors/gaen_export.json` (values copied here), plus signing,
//! zip and robustness properties.
//!
//! The server sample (google/exposure-notifications-server `testExport-2-records-1-of-1.zip`) is
//! rebuilt from its decoded fields and must equal the published bytes exactly.

use std::io::{Cursor, Write};

use enmesh_protocol::codec::hex_decode;
use enmesh_protocol::export::{
    ECDSA_SHA256_OID, EXPORT_BIN_HEADER, ExportError, ExportFile, ExportSigner,
    MAX_EXPORT_SIG_BYTES, MAX_KEYS_PER_FILE, SignatureInfo, TekSignature, TekSignatureList,
    TemporaryExposureKey, TemporaryExposureKeyExport, decode_export_bin, decode_export_sig,
    encode_export_bin,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use prost::Message;

// gaen_export.json → fixtures → server-testExport-2-records-1-of-1.zip
const SERVER_EXPORT_BIN_HEX: &str = "454b204578706f72742076312020202009f0e8c75e0000000011703ac95e000000001a0255532001280132211a01312207736f6d655f69642a13312e322e3834302e31303034352e342e332e323a1b0a10172fc480e598490c34177604339b1543100818fcdea10120013a1b0a102b63053ac483238de176169e861f3dcd1001188adea1012072";
const SERVER_EXPORT_SIG_HEX: &str = "0a710a211a01312207736f6d655f69642a13312e322e3834302e31303034352e342e332e3210011801224830460221009eb6e9d5ad6a688fa970b0e67c0886345eefdd1819592edd84604a1ccf4d0247022100906d7fcdf211c710f84a2a7917000573bef0ef27a4974129de2876ac6819f66a";
const SERVER_SIGNATURE_DER_HEX: &str = "30460221009eb6e9d5ad6a688fa970b0e67c0886345eefdd1819592edd84604a1ccf4d0247022100906d7fcdf211c710f84a2a7917000573bef0ef27a4974129de2876ac6819f66a";
const SERVER_START: u64 = 1_590_159_600;
const SERVER_END: u64 = 1_590_246_000;
const SERVER_KEY_1_HEX: &str = "172fc480e598490c34177604339b1543";
const SERVER_KEY_2_HEX: &str = "2b63053ac483238de176169e861f3dcd";

fn hex(text: &str) -> Vec<u8> {
    hex_decode(text).unwrap()
}

fn server_info() -> SignatureInfo {
    SignatureInfo::ecdsa_sha256("some_id", "1")
}

fn server_key(key_hex: &str, tr: i32, rsin: u32, period: u32) -> TemporaryExposureKey {
    TemporaryExposureKey::new(
        hex(key_hex).try_into().unwrap(),
        tr,
        IntervalNumber(rsin),
        RollingPeriod::new(period).unwrap(),
        None,
        None,
    )
}

/// The decoded fields of the server sample's export.bin.
fn server_export() -> TemporaryExposureKeyExport {
    TemporaryExposureKeyExport {
        start_timestamp: Some(SERVER_START),
        end_timestamp: Some(SERVER_END),
        region: Some("US".to_string()),
        batch_num: Some(1),
        batch_size: Some(1),
        signature_infos: vec![server_info()],
        keys: vec![
            server_key(SERVER_KEY_1_HEX, 8, 2_649_980, 1),
            server_key(SERVER_KEY_2_HEX, 1, 2_649_866, 114),
        ],
        revised_keys: vec![],
    }
}

fn server_signature_list() -> TekSignatureList {
    TekSignatureList {
        signatures: vec![TekSignature {
            signature_info: Some(server_info()),
            batch_num: Some(1),
            batch_size: Some(1),
            signature: Some(hex(SERVER_SIGNATURE_DER_HEX)),
        }],
    }
}

fn test_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn key(first: u8, rsin: u32) -> TemporaryExposureKey {
    let mut data = [0x5a; 16];
    data[0] = first;
    TemporaryExposureKey::new(
        data,
        3,
        IntervalNumber(rsin),
        RollingPeriod::FULL_DAY,
        Some(ReportType::ConfirmedTest),
        Some(-2),
    )
}

fn sample_export() -> TemporaryExposureKeyExport {
    TemporaryExposureKeyExport {
        start_timestamp: Some(1_700_000_000),
        end_timestamp: Some(1_700_086_400),
        region: Some("DE".to_string()),
        batch_num: Some(1),
        batch_size: Some(1),
        signature_infos: vec![],
        keys: vec![key(9, 2_833_000), key(1, 2_833_144), key(4, 2_833_288)],
        revised_keys: vec![key(2, 2_833_000)],
    }
}

#[test]
fn server_sample_export_bin_reencodes_byte_for_byte() {
    assert_eq!(
        encode_export_bin(&server_export()),
        hex(SERVER_EXPORT_BIN_HEX)
    );
}

#[test]
fn server_sample_export_sig_reencodes_byte_for_byte() {
    assert_eq!(
        server_signature_list().encode_to_vec(),
        hex(SERVER_EXPORT_SIG_HEX)
    );
}

#[test]
fn server_sample_decodes_to_its_fields() {
    let export = decode_export_bin(&hex(SERVER_EXPORT_BIN_HEX)).unwrap();
    assert_eq!(export, server_export());
    assert_eq!(export.keys[0].rolling_period(), 1);
    assert_eq!(export.keys[1].rolling_start_interval_number(), 2_649_866);
    assert_eq!(export.keys[0].report_type, None);
    assert_eq!(
        export.signature_infos[0].signature_algorithm(),
        ECDSA_SHA256_OID
    );
    let list = decode_export_sig(&hex(SERVER_EXPORT_SIG_HEX)).unwrap();
    assert_eq!(list, server_signature_list());
}

#[test]
fn header_is_required() {
    let mut bytes = hex(SERVER_EXPORT_BIN_HEX);
    bytes[11] = b'2'; // "EK Export v2"
    assert!(matches!(
        decode_export_bin(&bytes),
        Err(ExportError::BadHeader { found }) if found == b"EK Export v2    "
    ));
    assert!(matches!(
        decode_export_bin(&bytes[16..]),
        Err(ExportError::BadHeader { .. })
    ));
    assert!(matches!(
        decode_export_bin(&EXPORT_BIN_HEADER[..15]),
        Err(ExportError::BadHeader { found }) if found.len() == 15
    ));
    // The header alone is an export with every field absent.
    assert_eq!(
        decode_export_bin(EXPORT_BIN_HEADER).unwrap(),
        TemporaryExposureKeyExport::default()
    );
}

#[test]
fn bad_protobuf_is_reported_per_file() {
    let mut bin = EXPORT_BIN_HEADER.to_vec();
    bin.extend_from_slice(&[0x3a, 0x7f, 0x0a]); // keys, length 127, only 1 byte
    assert!(matches!(
        decode_export_bin(&bin),
        Err(ExportError::BadExportProtobuf(_))
    ));
    assert!(matches!(
        decode_export_sig(&[0x0a, 0x05, 0x01]),
        Err(ExportError::BadSignatureProtobuf(_))
    ));
}

#[test]
fn reserved_signature_info_tag_2_is_skipped() {
    // SignatureInfo { 2: "com.example", 3: "v1", 4: "310" } as old files carry it.
    let mut info = vec![0x12, 11];
    info.extend_from_slice(b"com.example");
    info.extend_from_slice(&[0x1a, 2, b'v', b'1', 0x22, 3, b'3', b'1', b'0']);
    let mut bin = EXPORT_BIN_HEADER.to_vec();
    bin.push(0x32);
    bin.push(u8::try_from(info.len()).unwrap());
    bin.extend_from_slice(&info);
    let export = decode_export_bin(&bin).unwrap();
    assert_eq!(
        export.signature_infos,
        [SignatureInfo {
            verification_key_version: Some("v1".to_string()),
            verification_key_id: Some("310".to_string()),
            signature_algorithm: None,
        }]
    );
}

#[test]
fn sign_then_verify_round_trip() {
    let signing = test_key(0x11);
    let info = SignatureInfo::ecdsa_sha256("310", "v1");
    let file = ExportFile::sign(
        sample_export(),
        &[ExportSigner {
            key: &signing,
            info: info.clone(),
        }],
    )
    .unwrap();
    assert!(file.export_bin.starts_with(EXPORT_BIN_HEADER));

    let verified = file.verify(signing.verifying_key()).unwrap();
    let export = verified.export();
    assert_eq!(export.signature_infos, std::slice::from_ref(&info));
    let firsts: Vec<u8> = export.keys.iter().map(|k| k.key_data()[0]).collect();
    assert_eq!(firsts, [1, 4, 9], "keys sorted by key bytes");
    assert_eq!(export.revised_keys.len(), 1);

    let list = decode_export_sig(&file.export_sig).unwrap();
    assert_eq!(list.signatures.len(), 1);
    assert_eq!(list.signatures[0].signature_info, Some(info));
    assert_eq!(list.signatures[0].batch_num, Some(1));
    assert_eq!(list.signatures[0].batch_size, Some(1));
}

#[test]
fn two_signers_either_key_verifies() {
    let (a, b, other) = (test_key(0x21), test_key(0x22), test_key(0x23));
    let file = ExportFile::sign(
        sample_export(),
        &[
            ExportSigner {
                key: &a,
                info: SignatureInfo::ecdsa_sha256("262", "v2"),
            },
            ExportSigner {
                key: &b,
                info: SignatureInfo::ecdsa_sha256("262", "v1"),
            },
        ],
    )
    .unwrap();
    assert!(file.verify(a.verifying_key()).is_ok());
    assert!(file.verify(b.verifying_key()).is_ok());
    assert!(matches!(
        file.verify(other.verifying_key()),
        Err(ExportError::SignatureInvalid { signatures: 2 })
    ));
}

#[test]
fn tampering_fails_verification() {
    let signing = test_key(0x11);
    let file = ExportFile::sign(
        sample_export(),
        &[ExportSigner {
            key: &signing,
            info: SignatureInfo::ecdsa_sha256("310", "v1"),
        }],
    )
    .unwrap();

    // A byte of key data in the last key: still a valid protobuf, but not the signed bytes.
    let mut tampered = file.clone();
    let last = tampered.export_bin.len() - 10;
    tampered.export_bin[last] ^= 0x01;
    assert!(decode_export_bin(&tampered.export_bin).is_ok());
    assert!(matches!(
        tampered.verify(signing.verifying_key()),
        Err(ExportError::SignatureInvalid { signatures: 1 })
    ));

    // The header is covered too: a changed header is rejected before any signature check.
    let mut header = file.clone();
    header.export_bin[0] = b'X';
    assert!(matches!(
        header.verify(signing.verifying_key()),
        Err(ExportError::BadHeader { .. })
    ));

    // A garbled signature.
    let mut list = decode_export_sig(&file.export_sig).unwrap();
    if let Some(sig) = list.signatures[0].signature.as_mut() {
        let n = sig.len() - 1;
        sig[n] ^= 0x01;
    }
    let garbled = ExportFile {
        export_bin: file.export_bin.clone(),
        export_sig: list.encode_to_vec(),
    };
    assert!(matches!(
        garbled.verify(signing.verifying_key()),
        Err(ExportError::SignatureInvalid { .. })
    ));
}

#[test]
fn signature_count_must_match_signature_infos() {
    let signing = test_key(0x11);
    let file = ExportFile::sign(
        sample_export(),
        &[ExportSigner {
            key: &signing,
            info: SignatureInfo::ecdsa_sha256("310", "v1"),
        }],
    )
    .unwrap();
    let mut list = decode_export_sig(&file.export_sig).unwrap();
    list.signatures.push(list.signatures[0].clone());
    let doubled = ExportFile {
        export_bin: file.export_bin.clone(),
        export_sig: list.encode_to_vec(),
    };
    assert!(matches!(
        doubled.verify(signing.verifying_key()),
        Err(ExportError::SignatureCountMismatch {
            signatures: 2,
            signature_infos: 1
        })
    ));
}

#[test]
fn too_many_keys_is_refused() {
    let mut export = TemporaryExposureKeyExport::default();
    let one = key(1, 2_833_000);
    export.keys = vec![one; MAX_KEYS_PER_FILE];
    export.revised_keys = vec![key(2, 2_833_000)];
    let signing = test_key(0x11);
    let signers = [ExportSigner {
        key: &signing,
        info: SignatureInfo::ecdsa_sha256("310", "v1"),
    }];
    assert!(matches!(
        ExportFile::sign(export, &signers),
        Err(ExportError::TooManyKeys { count, limit }) if count == MAX_KEYS_PER_FILE + 1 && limit == MAX_KEYS_PER_FILE
    ));
}

fn signed_sample() -> ExportFile {
    let signing = test_key(0x11);
    ExportFile::sign(
        sample_export(),
        &[ExportSigner {
            key: &signing,
            info: SignatureInfo::ecdsa_sha256("310", "v1"),
        }],
    )
    .unwrap()
}

/// A zip with the given entries, deflated, built with the zip crate directly.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn zip_round_trip_and_is_deterministic() {
    let file = signed_sample();
    let zip = file.to_zip().unwrap();
    assert_eq!(ExportFile::from_zip(&zip).unwrap(), file);
    assert_eq!(file.to_zip().unwrap(), zip);
    let archive = zip::ZipArchive::new(Cursor::new(&zip)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["export.bin", "export.sig"]);
}

#[test]
fn zip_entries_must_be_exactly_bin_then_sig() {
    let file = signed_sample();
    let (bin, sig) = (file.export_bin.as_slice(), file.export_sig.as_slice());

    let swapped = zip_of(&[("export.sig", sig), ("export.bin", bin)]);
    assert!(matches!(
        ExportFile::from_zip(&swapped),
        Err(ExportError::ZipEntryName { index: 0, expected: "export.bin", found }) if found == "export.sig"
    ));
    let three = zip_of(&[("export.bin", bin), ("export.sig", sig), ("extra", b"x")]);
    assert!(matches!(
        ExportFile::from_zip(&three),
        Err(ExportError::ZipEntryCount { found: 3 })
    ));
    let one = zip_of(&[("export.bin", bin)]);
    assert!(matches!(
        ExportFile::from_zip(&one),
        Err(ExportError::ZipEntryCount { found: 1 })
    ));
    let renamed = zip_of(&[("export.bin", bin), ("export.sig2", sig)]);
    assert!(matches!(
        ExportFile::from_zip(&renamed),
        Err(ExportError::ZipEntryName { index: 1, .. })
    ));
    assert!(matches!(
        ExportFile::from_zip(b"not a zip"),
        Err(ExportError::BadZip(_))
    ));
}

#[test]
fn oversized_entry_is_refused_before_inflating() {
    let file = signed_sample();
    let big = vec![0u8; usize::try_from(MAX_EXPORT_SIG_BYTES).unwrap() + 1];
    let zip = zip_of(&[("export.bin", &file.export_bin), ("export.sig", &big)]);
    assert!(matches!(
        ExportFile::from_zip(&zip),
        Err(ExportError::ZipEntryTooLarge { name: "export.sig", size, limit })
            if size == MAX_EXPORT_SIG_BYTES + 1 && limit == MAX_EXPORT_SIG_BYTES
    ));
}

/// Rewrites the uncompressed size of the last entry in both its local and central headers.
fn lie_about_last_size(zip: &mut [u8], size: u32) {
    let find_last = |zip: &[u8], magic: [u8; 4]| zip.windows(4).rposition(|w| w == magic).unwrap();
    let local = find_last(zip, [0x50, 0x4b, 0x03, 0x04]);
    zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    let central = find_last(zip, [0x50, 0x4b, 0x01, 0x02]);
    zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

#[test]
fn lying_size_header_cannot_exhaust_memory() {
    let file = signed_sample();
    // 1 MiB of zeros deflates to ~1 KiB but claims to be 10 bytes: inflating stops early.
    let bomb = vec![0u8; 1 << 20];
    let mut zip = zip_of(&[("export.bin", &file.export_bin), ("export.sig", &bomb)]);
    lie_about_last_size(&mut zip, 10);
    assert!(matches!(
        ExportFile::from_zip(&zip),
        Err(ExportError::ZipEntryRead {
            name: "export.sig",
            ..
        })
    ));

    // Claiming more than the real size is a mismatch, not silently accepted.
    let mut zip = zip_of(&[
        ("export.bin", &file.export_bin),
        ("export.sig", &file.export_sig),
    ]);
    lie_about_last_size(&mut zip, 1000);
    let actual = u64::try_from(file.export_sig.len()).unwrap();
    assert!(matches!(
        ExportFile::from_zip(&zip),
        Err(ExportError::ZipEntrySizeMismatch { name: "export.sig", declared: 1000, actual: a })
            if a == actual
    ));
}

fn arb_key() -> impl Strategy<Value = TemporaryExposureKey> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
    )
        .prop_map(
            |(key_data, tr, rsin, period, rt, dsos, voc)| TemporaryExposureKey {
                key_data,
                transmission_risk_level: tr,
                rolling_start_interval_number: rsin,
                rolling_period: period,
                report_type: rt,
                days_since_onset_of_symptoms: dsos,
                variant_of_concern: voc,
            },
        )
}

fn arb_info() -> impl Strategy<Value = SignatureInfo> {
    (
        proptest::option::of("[a-zA-Z0-9_]{0,8}"),
        proptest::option::of("[a-zA-Z0-9_]{0,8}"),
        proptest::option::of("[0-9.]{0,20}"),
    )
        .prop_map(|(version, id, alg)| SignatureInfo {
            verification_key_version: version,
            verification_key_id: id,
            signature_algorithm: alg,
        })
}

fn arb_export() -> impl Strategy<Value = TemporaryExposureKeyExport> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(".{0,6}"),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<i32>()),
        proptest::collection::vec(arb_info(), 0..3),
        proptest::collection::vec(arb_key(), 0..8),
        proptest::collection::vec(arb_key(), 0..3),
    )
        .prop_map(|(start, end, region, num, size, infos, keys, revised)| {
            TemporaryExposureKeyExport {
                start_timestamp: start,
                end_timestamp: end,
                region,
                batch_num: num,
                batch_size: size,
                signature_infos: infos,
                keys,
                revised_keys: revised,
            }
        })
}

proptest! {
    #[test]
    fn export_bin_round_trips(export in arb_export()) {
        let bytes = encode_export_bin(&export);
        prop_assert_eq!(decode_export_bin(&bytes).unwrap(), export);
    }

    #[test]
    fn export_sig_round_trips(infos in proptest::collection::vec(arb_info(), 0..3),
                              sig in proptest::collection::vec(any::<u8>(), 0..80)) {
        let list = TekSignatureList {
            signatures: infos
                .into_iter()
                .map(|info| TekSignature {
                    signature_info: Some(info),
                    batch_num: Some(1),
                    batch_size: Some(1),
                    signature: Some(sig.clone()),
                })
                .collect(),
        };
        prop_assert_eq!(decode_export_sig(&list.encode_to_vec()).unwrap(), list);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut with_header = EXPORT_BIN_HEADER.to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = decode_export_bin(&with_header);
        let _ = decode_export_bin(&bytes);
        let _ = decode_export_sig(&bytes);
        prop_assert!(ExportFile::from_zip(&bytes).is_err());
    }

    #[test]
    fn truncated_export_bin_never_panics(cut in 0usize..1000) {
        let bin = signed_sample().export_bin;
        let cut = cut % bin.len();
        let truncated = &bin[..cut];
        // A cut inside a field is an error; a cut between fields is a shorter, valid message.
        if let Ok(export) = decode_export_bin(truncated) {
            prop_assert_ne!(export, decode_export_bin(&bin).unwrap());
        }
    }

    #[test]
    fn truncated_zip_is_an_error(cut in 0usize..2000) {
        let zip = signed_sample().to_zip().unwrap();
        let cut = cut % zip.len();
        prop_assert!(ExportFile::from_zip(&zip[..cut]).is_err());
    }

    #[test]
    fn garbled_zip_never_yields_a_verified_forgery(position in 0usize..2000, flip in 1u8..=255) {
        let signing = test_key(0x11);
        let original = signed_sample();
        let mut zip = original.to_zip().unwrap();
        let position = position % zip.len();
        zip[position] ^= flip;
        if let Ok(file) = ExportFile::from_zip(&zip)
            && file != original
        {
            prop_assert!(file.verify(signing.verifying_key()).is_err());
        }
    }

    #[test]
    fn extended_zip_never_panics(extra in proptest::collection::vec(any::<u8>(), 1..64)) {
        let original = signed_sample();
        let mut zip = original.to_zip().unwrap();
        zip.extend_from_slice(&extra);
        if let Ok(file) = ExportFile::from_zip(&zip) {
            prop_assert_eq!(file, original);
        }
    }
}
