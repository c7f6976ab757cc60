//! Bad input from outside, for every parser the agent has: replay lines, advertisements
//! (service data by UUID), export zips, feed chunks and TCN reports. Each gets a clear error,
//! never a panic, and nothing is stored from it.

mod common;

use ble_agent::contact_log::{self, DEFAULT_MAX_RECORDS, Ingest};
use ble_agent::download::{exports, feed, tcn};
use ble_agent::sighting::ServiceId;
use ble_agent::source::replay::{self, Replay};
use ble_agent::source::{self, Event, Source};
use ble_agent::store::Store;
use common::region;
use proptest::prelude::*;

const GOOD: &str = r#"{"t": 1765000000.25, "rssi": -61, "uuid": "fd6f", "data": "8be6cd371c5c891604bfbe49df84509672033874", "region": "FR", "extra": 1}"#;

#[test]
fn a_good_line_parses_and_extra_fields_are_ignored() {
    let s = replay::parse_line(GOOD, None).unwrap();
    assert_eq!(s.at_ms, 1_765_000_000_250);
    assert_eq!(s.rssi, -61);
    assert_eq!(s.region, region("FR"));
    let herald = r#"{"t":1,"rssi":-70,"uuid":"428132af-4746-42d3-801e-4572d65bfd9b","data":"103a030400e2cfbeb32de932c9171c658b5f57a337"}"#;
    assert!(replay::parse_line(herald, Some(&region("DE"))).is_ok());
    let base = replay::parse_uuid("0000FD6F-0000-1000-8000-00805F9B34FB").unwrap();
    assert_eq!(base, ServiceId::Uuid16(0xfd6f));
}

#[test]
fn bad_lines_are_reported_with_their_number_and_the_rest_is_read() {
    let text = [
        GOOD,
        "not json",
        r#"{"t": -1, "rssi": -60, "uuid": "fd6f", "data": "00", "region": "FR"}"#,
        r#"{"t": 1, "rssi": -600, "uuid": "fd6f", "data": "00", "region": "FR"}"#,
        r#"{"t": 1, "rssi": -60, "uuid": "fd6f", "data": "0011", "region": "FR"}"#,
        r#"{"t": 1, "rssi": -60, "uuid": "zz", "data": "00", "region": "FR"}"#,
        r#"{"t": 1, "rssi": -60, "uuid": "c019", "data": "xyz", "region": "FR"}"#,
        r#"{"t": 1, "rssi": -60, "uuid": "c019", "data": "00112233445566778899aabbccddeeff", "region": "Atlantis"}"#,
        &"x".repeat(10_000),
        GOOD,
    ]
    .join("\n");
    let mut replay = Replay::new(text.as_bytes(), None);
    let mut sightings = 0;
    let mut skipped = Vec::new();
    while let Some(event) = replay.next_event() {
        match event {
            Event::Sighting(_) => sightings += 1,
            Event::Skipped { position, reason } => skipped.push((position, reason)),
        }
    }
    assert_eq!(sightings, 2);
    let lines: Vec<u64> = skipped.iter().map(|(p, _)| *p).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9], "{skipped:?}");
    assert!(
        skipped[3].1.contains("GAEN") || skipped[3].1.contains("20"),
        "{}",
        skipped[3].1
    );
    assert!(skipped[7].1.contains("longer"), "{}", skipped[7].1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replay_lines_never_panic_and_only_good_lines_are_stored(
        lines in proptest::collection::vec(
            prop_oneof![
                Just(GOOD.to_owned()),
                ".{0,200}",
                (0usize..GOOD.len(), any::<char>()).prop_map(|(i, c)| {
                    let mut s: Vec<char> = GOOD.chars().collect();
                    let i = i.min(s.len() - 1);
                    s[i] = c;
                    s.into_iter().collect()
                }),
            ],
            0..20,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let text = lines.join("\n");
        let good = lines
            .iter()
            .filter(|l| !l.contains('\n') && replay::parse_line(l.trim(), None).is_ok())
            .count();
        let mut ingest = Ingest::new(&store, DEFAULT_MAX_RECORDS);
        let mut source = Replay::new(text.as_bytes(), None);
        let report = source::ingest_all(&mut source, &mut ingest).unwrap();
        prop_assert_eq!(report.written.sightings as usize, good);
        if good == 0 {
            prop_assert!(contact_log::entries(&store, None).unwrap().is_empty());
        }
    }

    #[test]
    fn advertisements_of_any_uuid_and_bytes_never_panic(
        uuid in prop_oneof![Just(0xfd6fu16), Just(0xc019u16), Just(0xfcf6u16), any::<u16>()],
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        match replay::payload_of(ServiceId::Uuid16(uuid), data.clone()) {
            Ok(payload) => {
                let mut id = Vec::new();
                payload.identifier_into(&mut id);
                prop_assert!(!id.is_empty() || uuid == 0xfcf6);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        if uuid == 0xfd6f && data.len() != 20 {
            prop_assert!(replay::payload_of(ServiceId::Uuid16(uuid), data).is_err());
        }
    }

    #[test]
    fn export_zips_of_garbage_or_flipped_bytes_are_refused(
        garbage in proptest::collection::vec(any::<u8>(), 0..400),
        flip in any::<usize>(),
    ) {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let key = p256::ecdsa::VerifyingKey::from(&signing);
        let fr = region("FR");
        prop_assert!(exports::verified_keys("g.zip", &garbage, &key, &fr).is_err());
        let file = enmesh_protocol::export::ExportFile::sign(
            enmesh_protocol::export::TemporaryExposureKeyExport {
                keys: vec![enmesh_protocol::export::TemporaryExposureKey::new(
                    [1; 16], 0, enmesh_protocol::interval::IntervalNumber(2_900_000),
                    enmesh_protocol::interval::RollingPeriod::FULL_DAY, None, None)],
                ..Default::default()
            },
            &[enmesh_protocol::export::ExportSigner {
                key: &signing,
                info: enmesh_protocol::export::SignatureInfo::ecdsa_sha256("FR", "v1"),
            }],
        ).unwrap();
        let mut bin = file.clone();
        let i = flip % bin.export_bin.len();
        bin.export_bin[i] ^= 0x01;
        let zip = bin.to_zip().unwrap();
        prop_assert!(exports::verified_keys("f.zip", &zip, &key, &fr).is_err());
        let mut zip = file.to_zip().unwrap();
        let j = flip % zip.len();
        zip[j] ^= 0x80;
        // A flipped zip byte either breaks the zip or the signature, or lands in a field the
        // reader ignores (then the keys are exactly the signed ones).
        if let Ok(read) = exports::verified_keys("z.zip", &zip, &key, &fr) {
            prop_assert_eq!(read.keys.len(), 1);
            prop_assert_eq!(read.keys[0].tek.0, [1u8; 16]);
        }
    }

    #[test]
    fn index_lines_must_be_export_names(text in ".{0,300}") {
        if let Ok(names) = exports::parse_index(text.as_bytes()) {
            for name in names {
                prop_assert!(name.ends_with(".zip"));
                prop_assert!(!name.contains(".."));
            }
        }
    }

    #[test]
    fn feed_chunks_of_garbage_or_bad_keys_are_refused_or_dropped(
        body in ".{0,300}",
        key in "[A-Za-z0-9+/=]{0,30}",
        start in any::<i64>(),
        period in any::<i64>(),
    ) {
        let fr = region("FR");
        let _ = feed::parse_index(body.as_bytes());
        let _ = feed::parse_chunk(body.as_bytes(), 1, &fr);
        let chunk = serde_json::json!({
            "chunk": {"id": 7, "start": 0, "end": 1, "complete": true},
            "keys": [{"key": key, "rollingStartNumber": start, "rollingPeriod": period,
                      "transmissionRisk": 0, "reportType": "CONFIRMED_TEST"}],
        }).to_string();
        let (keys, dropped) = feed::parse_chunk(chunk.as_bytes(), 7, &fr).unwrap();
        prop_assert_eq!(keys.len() + dropped, 1);
        for k in keys {
            prop_assert!((1..=144).contains(&k.rolling_period));
        }
        prop_assert!(feed::parse_chunk(chunk.as_bytes(), 8, &fr).is_err());
    }

    #[test]
    fn tcn_reports_of_garbage_or_flipped_bytes_never_verify(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<usize>(),
    ) {
        let out = tcn::parse_reports(&garbage);
        prop_assert!(out.verified.is_empty());
        let rak = enmesh_protocol::tcn::ReportAuthorizationKey::from_seed([3; 32]);
        let memo = enmesh_protocol::tcn::Memo::new(enmesh_protocol::tcn::MemoType::CoEpi, b"x".to_vec()).unwrap();
        let report = rak.create_report(
            enmesh_protocol::tcn::TcnIndex(1), enmesh_protocol::tcn::TcnIndex(5), memo).unwrap();
        let mut bytes = enmesh_protocol::tcn::SignedReport::sign(&rak, report).unwrap().to_bytes();
        let good = tcn::parse_reports(enmesh_protocol::codec::hex_encode(&bytes).as_bytes());
        prop_assert_eq!(good.verified.len(), 1);
        let i = flip % bytes.len();
        bytes[i] ^= 0x04;
        let bad = tcn::parse_reports(enmesh_protocol::codec::hex_encode(&bytes).as_bytes());
        prop_assert!(bad.verified.is_empty());
        prop_assert_eq!(bad.skipped.len(), 1);
    }
}
