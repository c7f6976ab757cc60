//! Known-answer and property tests of the TCN module against `shared/vectors/tcn.json`.
//!
//! The vector values are copied here as constants (they are facts); this file never reads the
//! JSON at test time.

use base64::Engine as _;
use enmesh_protocol::codec::{CodecError, hex_decode, hex_encode};
use enmesh_protocol::tcn::{
    Memo, MemoType, Report, ReportAuthorizationKey, ReportVerificationKey, SignedReport, Tcn,
    TcnError, TcnIndex,
};
use proptest::prelude::*;

const RAK: &str = "577cfdae21fee71579211ab02c418ee0948bacab613cf69d0a4a5ae5a1557dbb";
const RVK: &str = "fd8deb9d91a13e144ca5b0ce14e289532e040fe0bf922c6e3dadb1e4e2333c78";
const TCK_0: &str = "aeca765f744b47faf1fc297bfcaf802fc6c9a8f2e2c9f2d65a7bdc7f42359164";

/// `(i, tck_i, tcn_i)`; 1..=9 are published, 10 and 11 derived.
const CHAIN: [(u16, &str, &str); 11] = [
    (
        1,
        "df535b90ac99bec8be3a8add45ce77897b1e7cb1906b5cff1097d3cb142fd9d0",
        "f4350a4a33e30f2f568898fbe4c4cf34",
    ),
    (
        2,
        "25607e1398836b8882874bd7195a2829a506942c8d45d1e36f772d7d4c12d16e",
        "135eeaa6482b8852fea3544edf6eabf0",
    ),
    (
        3,
        "2bee15dd8e70aa9c4c8e43240eaa735d922984b33fda2a47f919ddd0d5a174cf",
        "d713ce68cf4127bcebde6874c4991e4b",
    ),
    (
        4,
        "67bcaf90bacf4a68eb9c05e433fbadef652082d3e9f1a144c0c33e6c48c9b42d",
        "5174e6514d2086565e4ea09a45995191",
    ),
    (
        5,
        "a5a64f060f1b3b82c8977413b20a391053e339ec56383180efc1bb826bf65493",
        "ccae4f2c3144ad1ed0c2a39613ef0342",
    ),
    (
        6,
        "c7e13775159649342247cea52125402da073a93ed9a36a9f8f813b96913ba1b3",
        "3b9e600991369bba3944b6e9d8fda370",
    ),
    (
        7,
        "c8c79b595e82a9abbb04c6b16d09225433ab84d9c3c28d27736745d7d3e1d8f2",
        "dc06a8625c08e946317ad4c89e6ee8a1",
    ),
    (
        8,
        "4c96eb8375eb9afe693a1ef1f1c564676122c8484b3073914749a64d2f61b83a",
        "9d671457835f2c254722bfd0de76dffc",
    ),
    (
        9,
        "0a7a2f476f02dd720e88d5f4290656b28ca151919d67c408daa174bef8112b9e",
        "8b454d28430d3153a500359d9a49ec88",
    ),
    (
        10,
        "07b74ef932efa334d45daa096ee24a8dd5eab5ace2218e2f1bce798b20b875f5",
        "45ecbf11a44a30144f95f3f8f3fb3e81",
    ),
    (
        11,
        "db56643b07f91216f96e74b525c213b6095fdda9862e407396e302dd5437019f",
        "db71ce9b5d51940dca2f3d84165541e2",
    ),
];

/// The published 146-byte signed report (memo type 0, "symptom data", j1 = 2, j2 = 10).
const SIGNED_REPORT: &str = "fd8deb9d91a13e144ca5b0ce14e289532e040fe0bf922c6e3dadb1e4e2333c78df535b90ac99bec8be3a8add45ce77897b1e7cb1906b5cff1097d3cb142fd9d002000a00000c73796d70746f6d206461746131078ec5367b67a8c793b740626d81ba904789363137b5a313419c0f50b180d8226ecc984bf073ff89cbd9c88fea06bda1f0f368b0e7e88bbe68f15574482904";
const REPORT: &str = "fd8deb9d91a13e144ca5b0ce14e289532e040fe0bf922c6e3dadb1e4e2333c78df535b90ac99bec8be3a8add45ce77897b1e7cb1906b5cff1097d3cb142fd9d002000a00000c73796d70746f6d2064617461";
const REPORT_TCK_J1_MINUS_1: &str =
    "df535b90ac99bec8be3a8add45ce77897b1e7cb1906b5cff1097d3cb142fd9d0";
const REPORT_MEMO_HEX: &str = "73796d70746f6d2064617461";
const REPORT_SIGNATURE: &str = "31078ec5367b67a8c793b740626d81ba904789363137b5a313419c0f50b180d8226ecc984bf073ff89cbd9c88fea06bda1f0f368b0e7e88bbe68f15574482904";
/// What crate `tcn` 0.4.1 yields for the published report (j2 exclusive): tcn_2 ..= tcn_9.
/// enmesh follows repository HEAD (j2 inclusive), so it covers tcn_2 ..= tcn_10 instead.
const REPORT_TCNS_0_4_1_EXCLUSIVE: [&str; 8] = [
    "135eeaa6482b8852fea3544edf6eabf0",
    "d713ce68cf4127bcebde6874c4991e4b",
    "5174e6514d2086565e4ea09a45995191",
    "ccae4f2c3144ad1ed0c2a39613ef0342",
    "3b9e600991369bba3944b6e9d8fda370",
    "dc06a8625c08e946317ad4c89e6ee8a1",
    "9d671457835f2c254722bfd0de76dffc",
    "8b454d28430d3153a500359d9a49ec88",
];

/// A real CoEpi client report (Co-Epi/app-backend-rust, test `post_report_is_ok`), 178 bytes.
const COEPI_REPORT_B64: &str = "rSqWpM3ZQm7hfQ3q2x2llnFHiNhyRrUQPKEtJ33VKQcwT7Ly6e4KGaj5ZzjWt0m4c0v5n/VH5HO9UXbPXvsQTgEAQQAALFVtMVdNbHBZU1hOSlJYaDJZek5OWjJJeVdXZFpXRUozV2xoU2NHUkhWVDA9jn0pZAeME6ZBRHJOlfIikyfS0Pjg6l0txhhz6hz4exTxv8ryA3/Z26OebSRwzRfRgLdWBfohaOwOcSaynKqVCg==";
const COEPI_RVK: &str = "ad2a96a4cdd9426ee17d0deadb1da596714788d87246b5103ca12d277dd52907";
const COEPI_TCK_J1_MINUS_1: &str =
    "304fb2f2e9ee0a19a8f96738d6b749b8734bf99ff547e473bd5176cf5efb104e";
const COEPI_MEMO_ASCII: &str = "Um1WMlpYSXNJRXh2YzNNZ2IyWWdZWEJ3WlhScGRHVT0=";
const COEPI_SIGNATURE: &str = "8e7d2964078c13a64144724e95f2229327d2d0f8e0ea5d2dc61873ea1cf87b14f1bfcaf2037fd9dba39e6d2470cd17d180b75605fa2168ec0e7126b29caa950a";
/// Derived (not published) first three covered TCNs of the CoEpi report.
const COEPI_FIRST_TCNS: [&str; 3] = [
    "d17a6efb2b95940bdcb6bf749b162fef",
    "24bce84b3dca770457c39629fc5f0bec",
    "80f7eda83022910954f88bfd37d58d4d",
];

fn bytes(hex: &str) -> Vec<u8> {
    hex_decode(hex).unwrap()
}

fn array<const N: usize>(hex: &str) -> [u8; N] {
    bytes(hex).try_into().unwrap()
}

fn rak() -> ReportAuthorizationKey {
    ReportAuthorizationKey::from_seed(array(RAK))
}

fn decode_and_verify(bytes: &[u8]) -> Result<(), TcnError> {
    SignedReport::decode(bytes)?.verify().map(|_| ())
}

#[test]
fn key_schedule_matches_chain_1_to_11() {
    let rak = rak();
    assert_eq!(rak.verification_key(), ReportVerificationKey(array(RVK)));
    let mut tck = rak.initial_temporary_contact_key();
    assert_eq!(tck.index(), TcnIndex(0));
    assert_eq!(hex_encode(tck.bytes()), TCK_0);
    assert_eq!(tck.tcn(), None, "tck_0 never makes a TCN");
    for (i, tck_hex, tcn_hex) in CHAIN {
        tck = tck.ratchet().unwrap();
        assert_eq!(tck.index(), TcnIndex(i));
        assert_eq!(hex_encode(tck.bytes()), tck_hex, "tck_{i}");
        assert_eq!(tck.tcn(), Some(Tcn(array(tcn_hex))), "tcn_{i}");
    }
}

#[test]
fn ratchet_stops_at_65535() {
    let mut tck = rak().initial_temporary_contact_key();
    while let Some(next) = tck.ratchet() {
        tck = next;
    }
    assert_eq!(tck.index(), TcnIndex(u16::MAX));
    assert!(tck.tcn().is_some());
}

#[test]
fn published_report_decodes_to_its_fields() {
    let signed = SignedReport::decode(&bytes(SIGNED_REPORT)).unwrap();
    let report = signed.report();
    assert_eq!(report.rvk(), ReportVerificationKey(array(RVK)));
    assert_eq!(hex_encode(report.tck_before_first()), REPORT_TCK_J1_MINUS_1);
    assert_eq!(report.j1(), TcnIndex(2));
    assert_eq!(report.j2(), TcnIndex(10));
    assert_eq!(report.memo().memo_type(), MemoType::CoEpi);
    assert_eq!(hex_encode(report.memo().data()), REPORT_MEMO_HEX);
    assert_eq!(report.memo().data(), b"symptom data");
    assert_eq!(hex_encode(signed.signature()), REPORT_SIGNATURE);
    assert_eq!(hex_encode(&report.to_bytes()), REPORT);
    assert_eq!(hex_encode(&signed.to_bytes()), SIGNED_REPORT);
    assert_eq!(signed.to_bytes().len(), 146);
}

#[test]
fn published_report_verifies_and_re_signs_identically() {
    let verified = SignedReport::decode(&bytes(SIGNED_REPORT))
        .unwrap()
        .verify()
        .unwrap();
    let memo = Memo::new(MemoType::CoEpi, b"symptom data".to_vec()).unwrap();
    let created = rak()
        .create_report(TcnIndex(2), TcnIndex(10), memo)
        .unwrap();
    assert_eq!(&created, verified.report());
    let resigned = SignedReport::sign(&rak(), created).unwrap();
    assert_eq!(hex_encode(&resigned.to_bytes()), SIGNED_REPORT);
    assert_eq!(&resigned, verified.signed());
}

#[test]
fn published_report_covers_tcn_2_to_10_inclusive() {
    let signed = SignedReport::decode(&bytes(SIGNED_REPORT)).unwrap();
    let covered: Vec<(TcnIndex, Tcn)> = signed.report().covered_tcns().collect();
    let expected: Vec<(TcnIndex, Tcn)> = CHAIN
        .iter()
        .filter(|(i, _, _)| (2..=10).contains(i))
        .map(|&(i, _, tcn)| (TcnIndex(i), Tcn(array(tcn))))
        .collect();
    assert_eq!(covered, expected);
    // tcn_1 = tcn_{j1-1} is not covered, nor is tcn_11.
    assert!(!covered.iter().any(|(_, t)| *t == Tcn(array(CHAIN[0].2))));
    assert!(!covered.iter().any(|(_, t)| *t == Tcn(array(CHAIN[10].2))));

    // Note: crate 0.4.1's exclusive j2 would stop one earlier, at tcn_9.
    let exclusive: Vec<Tcn> = signed
        .report()
        .covered_tcns()
        .filter(|(i, _)| *i < signed.report().j2())
        .map(|(_, tcn)| tcn)
        .collect();
    let expected: Vec<Tcn> = REPORT_TCNS_0_4_1_EXCLUSIVE
        .iter()
        .map(|t| Tcn(array(t)))
        .collect();
    assert_eq!(exclusive, expected);
}

#[test]
fn coepi_report_verifies_and_decodes() {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(COEPI_REPORT_B64)
        .unwrap();
    assert_eq!(raw.len(), 178);
    let verified = SignedReport::decode(&raw).unwrap().verify().unwrap();
    let report = verified.report();
    assert_eq!(report.rvk(), ReportVerificationKey(array(COEPI_RVK)));
    assert_eq!(hex_encode(report.tck_before_first()), COEPI_TCK_J1_MINUS_1);
    assert_eq!(report.j1(), TcnIndex(1));
    assert_eq!(report.j2(), TcnIndex(65));
    assert_eq!(report.memo().memo_type(), MemoType::CoEpi);
    assert_eq!(report.memo().data(), COEPI_MEMO_ASCII.as_bytes());
    assert_eq!(hex_encode(verified.signed().signature()), COEPI_SIGNATURE);
    assert_eq!(verified.signed().to_bytes(), raw);

    let covered: Vec<(TcnIndex, Tcn)> = report.covered_tcns().collect();
    assert_eq!(covered.len(), 65);
    assert_eq!(covered.first().unwrap().0, TcnIndex(1));
    assert_eq!(covered.last().unwrap().0, TcnIndex(65));
    for ((_, tcn), expected) in covered.iter().zip(COEPI_FIRST_TCNS) {
        assert_eq!(*tcn, Tcn(array(expected)));
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let good = bytes(SIGNED_REPORT);
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                decode_and_verify(&bad).is_err(),
                "flip of bit {bit} of byte {byte} was accepted"
            );
        }
    }
}

#[test]
fn tampering_errors_name_the_cause() {
    let good = bytes(SIGNED_REPORT);

    let mut sig = good.clone();
    sig[100] ^= 1;
    assert_eq!(decode_and_verify(&sig), Err(TcnError::BadSignature));

    let mut j1_zero = good.clone();
    j1_zero[64] = 0;
    assert_eq!(decode_and_verify(&j1_zero), Err(TcnError::ZeroFirstIndex));

    let mut longer_memo = good.clone();
    longer_memo[69] += 1;
    assert_eq!(
        decode_and_verify(&longer_memo),
        Err(TcnError::Codec(CodecError::Truncated {
            what: "signature",
            needed: 64,
            available: 63
        }))
    );

    let mut extended = good.clone();
    extended.push(0);
    assert_eq!(
        decode_and_verify(&extended),
        Err(TcnError::Codec(CodecError::TrailingBytes {
            what: "signed TCN report",
            count: 1
        }))
    );

    // The y coordinate 2 is not on the curve, so this rvk is not a public key.
    let mut bad_key = good.clone();
    bad_key[..32].copy_from_slice(&[0; 32]);
    bad_key[0] = 2;
    assert_eq!(decode_and_verify(&bad_key), Err(TcnError::BadPublicKey));
}

#[test]
fn signature_stripped_report_parses_only_as_report() {
    let good = bytes(SIGNED_REPORT);
    let stripped = &good[..good.len() - 64];
    assert_eq!(hex_encode(stripped), REPORT);
    let report = Report::decode(stripped).unwrap();
    assert_eq!(&report, SignedReport::decode(&good).unwrap().report());
    assert!(matches!(
        SignedReport::decode(stripped),
        Err(TcnError::Codec(CodecError::Truncated {
            what: "signature",
            ..
        }))
    ));
    assert_eq!(
        Report::decode(&good),
        Err(TcnError::Codec(CodecError::TrailingBytes {
            what: "TCN report",
            count: 64
        }))
    );
}

#[test]
fn covered_range_edges() {
    let rak = rak();
    let memo = || Memo::new(MemoType::Ito, Vec::new()).unwrap();
    let covered = |j1, j2| -> Vec<u16> {
        rak.create_report(TcnIndex(j1), TcnIndex(j2), memo())
            .unwrap()
            .covered_tcns()
            .map(|(i, _)| i.0)
            .collect()
    };
    assert_eq!(covered(5, 4), Vec::<u16>::new());
    assert_eq!(covered(5, 0), Vec::<u16>::new());
    assert_eq!(covered(5, 5), vec![5]);
    assert_eq!(covered(1, 3), vec![1, 2, 3]);
    assert_eq!(covered(65534, 65535), vec![65534, 65535]);
    assert_eq!(covered(65535, 65535), vec![65535]);
}

#[test]
fn construction_errors() {
    let rak = rak();
    let memo = Memo::new(MemoType::CoEpi, Vec::new()).unwrap();
    assert_eq!(
        rak.create_report(TcnIndex(0), TcnIndex(3), memo.clone()),
        Err(TcnError::ZeroFirstIndex)
    );
    assert_eq!(
        Memo::new(MemoType::CoEpi, vec![0; 256]),
        Err(TcnError::MemoTooLong { len: 256 })
    );
    assert!(Memo::new(MemoType::CoEpi, vec![0; 255]).is_ok());
    let report = rak.create_report(TcnIndex(1), TcnIndex(3), memo).unwrap();
    let other = ReportAuthorizationKey::from_seed([7; 32]);
    assert_eq!(
        SignedReport::sign(&other, report),
        Err(TcnError::KeyMismatch)
    );
}

#[test]
fn memo_types_preserve_every_code() {
    let known = [
        (0x00, MemoType::CoEpi),
        (0x01, MemoType::CovidWatch),
        (0x02, MemoType::Ito),
        (0x03, MemoType::HutchTrace),
        (0xff, MemoType::Reserved),
    ];
    for code in 0..=u8::MAX {
        let memo_type = MemoType::from(code);
        assert_eq!(u8::from(memo_type), code);
        match known.iter().find(|(c, _)| *c == code) {
            Some((_, expected)) => assert_eq!(memo_type, *expected),
            None => assert_eq!(memo_type, MemoType::Other(code)),
        }
    }
    // A report with an application-allocated type still decodes and verifies.
    let rak = rak();
    let memo = Memo::new(MemoType::from(0x42), b"x".to_vec()).unwrap();
    let report = rak.create_report(TcnIndex(1), TcnIndex(1), memo).unwrap();
    let wire = SignedReport::sign(&rak, report).unwrap().to_bytes();
    let verified = SignedReport::decode(&wire).unwrap().verify().unwrap();
    assert_eq!(verified.report().memo().memo_type(), MemoType::Other(0x42));
}

#[test]
fn debug_never_prints_the_seed() {
    let printed = format!("{:?}", rak());
    let seed = array::<32>(RAK);
    assert!(!printed.contains(RAK));
    assert!(!printed.contains(&format!("{seed:?}")));
    assert!(!printed.contains(&format!("{:?}", &seed[..8])));
    assert!(printed.contains("ReportAuthorizationKey"));

    let tck_0 = rak().initial_temporary_contact_key();
    let printed = format!("{tck_0:?}");
    assert!(!printed.contains(&format!("{:?}", &tck_0.bytes()[..8])));
    assert!(printed.contains("index"));
}

fn any_report() -> impl Strategy<Value = Report> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        1..=u16::MAX,
        any::<u16>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..=255),
    )
        .prop_map(|(rvk, tck, j1, j2, memo_type, data)| {
            let memo = Memo::new(MemoType::from(memo_type), data).unwrap();
            Report::new(
                ReportVerificationKey(rvk),
                tck,
                TcnIndex(j1),
                TcnIndex(j2),
                memo,
            )
            .unwrap()
        })
}

fn signed_wire() -> impl Strategy<Value = Vec<u8>> {
    (any_report(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(report, s1, s2)| {
        let mut wire = report.to_bytes();
        wire.extend_from_slice(&s1);
        wire.extend_from_slice(&s2);
        wire
    })
}

proptest! {
    #[test]
    fn report_round_trips(report in any_report()) {
        let wire = report.to_bytes();
        prop_assert_eq!(wire.len(), 70 + report.memo().data().len());
        prop_assert_eq!(Report::decode(&wire), Ok(report));
    }

    #[test]
    fn signed_report_round_trips(wire in signed_wire()) {
        let signed = SignedReport::decode(&wire).unwrap();
        prop_assert_eq!(signed.to_bytes(), wire);
    }

    #[test]
    fn truncated_input_errors(wire in signed_wire(), cut in any::<prop::sample::Index>()) {
        let short = &wire[..cut.index(wire.len())];
        prop_assert!(SignedReport::decode(short).is_err());
        prop_assert!(Report::decode(&short[..short.len().min(wire.len() - 65)]).is_err());
    }

    #[test]
    fn extended_input_errors(
        wire in signed_wire(),
        extra in proptest::collection::vec(any::<u8>(), 1..32),
    ) {
        let mut long = wire.clone();
        long.extend_from_slice(&extra);
        prop_assert!(SignedReport::decode(&long).is_err());
        let mut unsigned = wire[..wire.len() - 64].to_vec();
        unsigned.extend_from_slice(&extra);
        prop_assert!(Report::decode(&unsigned).is_err());
    }

    #[test]
    fn garbled_input_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Report::decode(&junk);
        if let Ok(signed) = SignedReport::decode(&junk) {
            let _ = signed.verify();
        }
    }

    #[test]
    fn sign_then_verify_round_trips(
        seed in any::<[u8; 32]>(),
        j1 in 1u16..=40,
        j2 in any::<u16>(),
        memo_type in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..=255),
    ) {
        let rak = ReportAuthorizationKey::from_seed(seed);
        let memo = Memo::new(MemoType::from(memo_type), data).unwrap();
        let report = rak.create_report(TcnIndex(j1), TcnIndex(j2), memo).unwrap();
        let wire = SignedReport::sign(&rak, report.clone()).unwrap().to_bytes();
        let verified = SignedReport::decode(&wire).unwrap().verify().unwrap();
        prop_assert_eq!(verified.report(), &report);
        // The first covered TCN is the signer's own tcn_{j1}.
        let mut tck = rak.initial_temporary_contact_key();
        for _ in 0..j1 {
            tck = tck.ratchet().unwrap();
        }
        let first = verified.report().covered_tcns().next();
        prop_assert_eq!(first, (j2 >= j1).then(|| (TcnIndex(j1), tck.tcn().unwrap())));
    }

    #[test]
    fn garbling_a_signed_report_is_rejected(
        seed in any::<[u8; 32]>(),
        data in proptest::collection::vec(any::<u8>(), 0..=40),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let rak = ReportAuthorizationKey::from_seed(seed);
        let memo = Memo::new(MemoType::CoEpi, data).unwrap();
        let report = rak.create_report(TcnIndex(3), TcnIndex(9), memo).unwrap();
        let mut wire = SignedReport::sign(&rak, report).unwrap().to_bytes();
        let i = at.index(wire.len());
        wire[i] ^= xor;
        prop_assert!(decode_and_verify(&wire).is_err());
    }
}
