//! The publish API's `tekmac`: the 3 vectors of shared/vectors/gaen_publish.json (from
//! google/exposure-notifications-server `pkg/verification/utils_test.go`), the acceptance rule of
//! the form without transmission risk, and properties.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::keys::{KeyData, UploadKey};
use enmesh_protocol::publish::{TekmacError, tekmac, tekmac_cleartext, verify_tekmac};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use sha2::Sha256;

/// `hmac_key_hex` 0102030405060708090a0b0c0d0e0f10.
const HMAC_KEY: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

struct Case {
    /// (key, rollingStartNumber, rollingPeriod, transmissionRisk), in the vector's order.
    keys: [(&'static str, i64, i64, i64); 2],
    include_transmission_risk: bool,
    cleartext: &'static str,
    tekmac_b64: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        keys: [
            ("z2Cx9hdz2SlxZ8GEgqTYpA==", 1, 144, 3),
            ("dPCphLzfG4uzXneNimkPRQ==", 144, 144, 5),
        ],
        include_transmission_risk: true,
        cleartext: "dPCphLzfG4uzXneNimkPRQ==.144.144.5,z2Cx9hdz2SlxZ8GEgqTYpA==.1.144.3",
        tekmac_b64: "2u1nHt5WWurJytFLF3xitNzM99oNrad2y4YGOL53AeY=",
    },
    Case {
        keys: [
            ("z2Cx9hdz2SlxZ8GEgqTYpA==", 1, 144, 0),
            ("dPCphLzfG4uzXneNimkPRQ==", 144, 144, 0),
        ],
        include_transmission_risk: true,
        cleartext: "dPCphLzfG4uzXneNimkPRQ==.144.144.0,z2Cx9hdz2SlxZ8GEgqTYpA==.1.144.0",
        tekmac_b64: "mFNI9zhTA17n4ndd1Vu5tsn4XQX0gPrIKyjeh/9noUE=",
    },
    Case {
        keys: [
            ("z2Cx9hdz2SlxZ8GEgqTYpA==", 1, 144, 0),
            ("dPCphLzfG4uzXneNimkPRQ==", 144, 144, 0),
        ],
        include_transmission_risk: false,
        cleartext: "dPCphLzfG4uzXneNimkPRQ==.144.144,z2Cx9hdz2SlxZ8GEgqTYpA==.1.144",
        tekmac_b64: "J9S7xVebH/66dm14wGsIcAnSUR3PHD4NtDQEOGZbDUo=",
    },
];

fn upload_keys(case: &Case) -> Vec<UploadKey> {
    case.keys
        .iter()
        .map(|&(key, start, period, tr)| UploadKey {
            key: KeyData::Base64(key.into()),
            rolling_start: start,
            rolling_period: period,
            transmission_risk: tr,
        })
        .collect()
}

#[test]
fn vectors_cleartext_and_tekmac() {
    for (n, case) in CASES.iter().enumerate() {
        let keys = upload_keys(case);
        assert_eq!(
            tekmac_cleartext(&keys, case.include_transmission_risk),
            case.cleartext,
            "case {n}"
        );
        let mac = tekmac(&HMAC_KEY, &keys, case.include_transmission_risk).unwrap();
        assert_eq!(STANDARD.encode(mac), case.tekmac_b64, "case {n}");
        assert_eq!(
            verify_tekmac(&HMAC_KEY, &keys, case.tekmac_b64),
            Ok(()),
            "case {n}"
        );
    }
}

#[test]
fn raw_byte_keys_are_encoded_as_standard_base64() {
    let case = &CASES[0];
    let keys: Vec<UploadKey> = upload_keys(case)
        .into_iter()
        .map(|k| UploadKey {
            key: KeyData::Bytes(STANDARD.decode(k.key.to_base64().as_bytes()).unwrap()),
            ..k
        })
        .collect();
    assert_eq!(tekmac_cleartext(&keys, true), case.cleartext);
}

#[test]
fn form_without_risk_only_when_every_risk_is_zero() {
    // Case 3's MAC (no TR) verifies keys whose TRs are all 0 …
    let zero = upload_keys(&CASES[2]);
    assert_eq!(verify_tekmac(&HMAC_KEY, &zero, CASES[2].tekmac_b64), Ok(()));
    // … but not once one TR is set, even when the MAC is the no-TR form of those keys.
    let mut set = zero.clone();
    set[0].transmission_risk = 3;
    let no_tr = STANDARD.encode(tekmac(&HMAC_KEY, &set, false).unwrap());
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &set, &no_tr),
        Err(TekmacError::Mismatch)
    );
    // Case 1's keys do not verify against case 2's MAC (different TRs).
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &upload_keys(&CASES[0]), CASES[1].tekmac_b64),
        Err(TekmacError::Mismatch)
    );
}

#[test]
fn wrong_key_tampered_or_malformed_claims_fail() {
    let keys = upload_keys(&CASES[0]);
    let good = CASES[0].tekmac_b64;
    assert_eq!(
        verify_tekmac(b"another key", &keys, good),
        Err(TekmacError::Mismatch)
    );
    let mut tampered = STANDARD.decode(good).unwrap();
    tampered[31] ^= 1;
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &keys, &STANDARD.encode(&tampered)),
        Err(TekmacError::Mismatch)
    );
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &keys, &STANDARD.encode(&tampered[..16])),
        Err(TekmacError::Mismatch)
    );
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &keys, "not base64!"),
        Err(TekmacError::NotBase64)
    );
    let mut changed = keys.clone();
    changed[1].rolling_period = 143;
    assert_eq!(
        verify_tekmac(&HMAC_KEY, &changed, good),
        Err(TekmacError::Mismatch)
    );
}

fn raw_key() -> impl Strategy<Value = UploadKey> {
    (
        prop_oneof![
            ".{0,30}".prop_map(KeyData::Base64),
            proptest::collection::vec(any::<u8>(), 0..30).prop_map(KeyData::Bytes),
        ],
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(|(key, s, p, t)| UploadKey {
            key,
            rolling_start: s,
            rolling_period: p,
            transmission_risk: t,
        })
}

proptest! {
    /// tekmac is HMAC-SHA256 of the cleartext for every key length (including keys longer than
    /// the SHA-256 block), and its own output verifies.
    #[test]
    fn tekmac_matches_hmac_crate(
        hmac_key in proptest::collection::vec(any::<u8>(), 0..200),
        keys in proptest::collection::vec(raw_key(), 0..5),
        with_tr in any::<bool>(),
    ) {
        let mut reference = Hmac::<Sha256>::new_from_slice(&hmac_key).unwrap();
        reference.update(tekmac_cleartext(&keys, with_tr).as_bytes());
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        let mac = tekmac(&hmac_key, &keys, with_tr).unwrap();
        prop_assert_eq!(mac, expected);
        if with_tr {
            prop_assert_eq!(verify_tekmac(&hmac_key, &keys, &STANDARD.encode(mac)), Ok(()));
        }
    }

    /// The cleartext does not depend on the order of the keys.
    #[test]
    fn cleartext_is_order_independent(
        keys in proptest::collection::vec(raw_key(), 0..6),
        rotate in any::<usize>(),
    ) {
        let mut other = keys.clone();
        if !other.is_empty() {
            let len = other.len();
            other.rotate_left(rotate % len);
        }
        other.reverse();
        prop_assert_eq!(tekmac_cleartext(&keys, true), tekmac_cleartext(&other, true));
    }

    #[test]
    fn garbage_claims_never_panic(
        claim in ".{0,80}",
        keys in proptest::collection::vec(raw_key(), 0..4),
    ) {
        prop_assert!(verify_tekmac(&HMAC_KEY, &keys, &claim).is_err());
    }
}
