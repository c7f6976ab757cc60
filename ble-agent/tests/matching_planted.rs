//! Planted exposures: encounters built from known TEKs are found exactly (right key, right
//! duration, right attenuation), sightings of keys that were never uploaded produce nothing, and
//! TCN reports match only the TCNs they cover. Real RocksDB logs in temporary directories.

mod common;

use ble_agent::contact_log;
use ble_agent::download::exports;
use ble_agent::identity::Identity;
use ble_agent::matching::{self, Index};
use ble_agent::risk::RiskConfig;
use ble_agent::sighting::{Payload, Sighting};
use ble_agent::source::sim;
use ble_agent::store::Store;
use common::*;
use enmesh_protocol::codec::hex_encode;
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::tcn::{Memo, MemoType};

const DAY: u32 = 20_400;

fn noon(day: u32) -> u64 {
    u64::from(day) * 86_400 + 12 * 3600
}

#[test]
fn planted_encounter_is_found_exactly_and_strangers_produce_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let infected = random_tek(1, 1);
    let stranger = random_tek(2, 2);
    let t0 = noon(DAY);
    // 20 minutes at -60 dBm (tx -8: 52 dB), one sighting a minute, across two RPI intervals.
    let mut sightings = sightings_of(&infected, t0, t0 + 1200, 60, -60, -8, &fr);
    // A never-uploaded key heard for an hour, loud.
    sightings.extend(sightings_of(&stranger, t0, t0 + 3600, 30, -50, -8, &fr));
    ingest(&store, &sightings);

    let mut keys: Vec<_> = (0..2000)
        .map(|n| key(random_tek(9, n), DAY - (n % 14), &fr))
        .collect();
    keys.push(key(infected, DAY, &fr));
    let entries = contact_log::entries(&store, None).unwrap();
    let index = Index::build(&entries);
    for threads in [1, 2] {
        let matches = matching::match_gaen(&index, &keys, threads);
        let exposures = matching::gaen_exposures(&keys, &matches, &RiskConfig::default());
        assert_eq!(exposures.len(), 1, "{exposures:?}");
        let e = &exposures[0];
        assert_eq!(e.key, hex_encode(&infected.0));
        assert_eq!(e.protocol, "gaen");
        assert_eq!(e.first_seen, t0);
        assert_eq!(e.duration_s, 1200);
        assert_eq!(e.min_attenuation_db, 52);
        // 20 minutes in the immediate bucket (weight 1.5), confirmed, onset 1 day: 30.
        assert_eq!(e.score, 30.0);
        assert_eq!(e.region, "FR");
        assert!(e.notify);
    }
}

#[test]
fn a_key_of_another_day_or_far_away_sightings_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let tek = random_tek(3, 3);
    let t0 = noon(DAY);
    ingest(&store, &sightings_of(&tek, t0, t0 + 600, 60, -90, -8, &fr));
    let index = Index::build(&contact_log::entries(&store, None).unwrap());
    // The same TEK published for the next day: its RPIs are those of other intervals.
    let keys = vec![key(tek, DAY + 1, &fr)];
    assert!(matching::match_gaen(&index, &keys, 1).is_empty());
    // For the right day, matched, but too weak to notify (82 dB is in no weighted bucket).
    let keys = vec![key(tek, DAY, &fr)];
    let exposures = matching::gaen_exposures(
        &keys,
        &matching::match_gaen(&index, &keys, 1),
        &RiskConfig::default(),
    );
    assert_eq!(exposures.len(), 1);
    assert_eq!(exposures[0].min_attenuation_db, 82);
    assert!(!exposures[0].notify);
}

#[test]
fn sightings_outside_two_hours_of_the_interval_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let tek = random_tek(4, 4);
    let t0 = noon(DAY);
    // The RPI of 12:00 heard at 14:10 (13 intervals later): clock drift beyond ±2 h.
    let mut late = sightings_of(&tek, t0, t0, 60, -55, -8, &fr);
    late[0].at_ms += 130 * 60 * 1000;
    ingest(&store, &late);
    let index = Index::build(&contact_log::entries(&store, None).unwrap());
    assert!(matching::match_gaen(&index, &[key(tek, DAY, &fr)], 1).is_empty());
}

#[test]
fn keys_from_a_signed_export_match_and_a_tampered_export_is_refused() {
    let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let verifying = p256::ecdsa::VerifyingKey::from(&signing);
    let tek = random_tek(5, 5);
    let export = TemporaryExposureKeyExport {
        start_timestamp: Some(1),
        end_timestamp: Some(2),
        region: Some("DE".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys: vec![TemporaryExposureKey::new(
            tek.0,
            0,
            IntervalNumber(DAY * 144),
            RollingPeriod::FULL_DAY,
            Some(ReportType::ConfirmedTest),
            Some(0),
        )],
        ..Default::default()
    };
    let signer = ExportSigner {
        key: &signing,
        info: SignatureInfo::ecdsa_sha256("DE", "v1"),
    };
    let file = ExportFile::sign(export, &[signer]).unwrap();
    let zip = file.to_zip().unwrap();
    let de = region("DE");
    let keys = exports::verified_keys("a.zip", &zip, &verifying, &de)
        .unwrap()
        .keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].days_since_onset, Some(0));

    let mut tampered = file.clone();
    let last = tampered.export_bin.len() - 1;
    tampered.export_bin[last] ^= 1;
    let bad = tampered.to_zip().unwrap();
    assert!(exports::verified_keys("b.zip", &bad, &verifying, &de).is_err());
    let other =
        p256::ecdsa::VerifyingKey::from(&p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap());
    assert!(exports::verified_keys("a.zip", &zip, &other, &de).is_err());

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t0 = noon(DAY);
    ingest(
        &store,
        &sightings_of(&tek, t0, t0 + 900, 60, -58, -8, &region("FR")),
    );
    let index = Index::build(&contact_log::entries(&store, None).unwrap());
    let exposures = matching::gaen_exposures(
        &keys,
        &matching::match_gaen(&index, &keys, 1),
        &RiskConfig::default(),
    );
    assert_eq!(exposures.len(), 1);
    assert_eq!(exposures[0].duration_s, 900);
    assert_eq!(exposures[0].source, "DE");
    assert_eq!(exposures[0].region, "FR");
}

#[test]
fn the_public_server_fixture_export_verifies_and_its_keys_match() {
    let zip = enmesh_tests::fixture("server-testExport-2-records-1-of-1.zip");
    let pem = String::from_utf8(enmesh_tests::fixture("server-testExport-public.pem")).unwrap();
    use p256::pkcs8::DecodePublicKey as _;
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
    let us = region("US");
    let keys = exports::verified_keys("fixture.zip", &zip, &key, &us)
        .unwrap()
        .keys;
    assert_eq!(keys.len(), 2);
    // server-testExport-keys.json: K2MFOsSDI43hdhaehh89zQ== from 2649866 for 114 intervals.
    let target = keys
        .iter()
        .find(|k| k.rolling_start == IntervalNumber(2_649_866))
        .unwrap();
    assert_eq!(target.rolling_period, 114);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t0 = (2_649_866u64 + 50) * 600;
    ingest(
        &store,
        &sightings_of(&target.tek, t0, t0 + 600, 60, -60, -8, &region("US-CA")),
    );
    let index = Index::build(&contact_log::entries(&store, None).unwrap());
    let exposures = matching::gaen_exposures(
        &keys,
        &matching::match_gaen(&index, &keys, 1),
        &RiskConfig::default(),
    );
    assert_eq!(exposures.len(), 1);
    assert_eq!(exposures[0].key, hex_encode(&target.tek.0));
    assert_eq!(exposures[0].duration_s, 600);
}

#[test]
fn tcn_reports_match_only_what_they_cover() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = region("FR");
    let mut rng = sim::rng(42);
    let mut fill = |b: &mut [u8]| rand::Rng::fill_bytes(&mut rng, b);
    let t0 = noon(DAY);
    let mut positive = Identity::generate(&mut fill, t0 - 3600, -8, 250);
    let mut healthy = Identity::generate(&mut fill, t0 - 3600, -8, 250);
    let mut sightings = Vec::new();
    for t in (t0..=t0 + 1200).step_by(60) {
        for who in [&mut positive, &mut healthy] {
            sightings.push(Sighting {
                at_ms: t * 1000,
                rssi: -60,
                payload: Payload::Tcn(who.tcn_at(t).unwrap()),
                region: fr.clone(),
            });
        }
    }
    ingest(&store, &sightings);
    let index = Index::build(&contact_log::entries(&store, None).unwrap());
    let memo = || Memo::new(MemoType::CovidWatch, b"positive".to_vec()).unwrap();
    let report = positive
        .tcn_report(t0 - 3600, t0 + 7200, memo())
        .unwrap()
        .verify()
        .unwrap();
    let exposures = matching::tcn_exposures(&index, &[report], &RiskConfig::default());
    assert_eq!(exposures.len(), 1);
    assert_eq!(exposures[0].protocol, "tcn");
    assert_eq!(exposures[0].duration_s, 1200);
    assert!(exposures[0].notify);
    // A report of the same key for a later stretch covers none of the TCNs heard.
    let later = positive
        .tcn_report(t0 + 7200, t0 + 9000, memo())
        .unwrap()
        .verify()
        .unwrap();
    assert!(matching::tcn_exposures(&index, &[later], &RiskConfig::default()).is_empty());
}

#[test]
fn a_seeded_simulation_is_reproducible() {
    let regions = [region("FR"), region("DE")];
    let run = || {
        let mut s = sim::Scenario::random(9, 12, 3, &regions, 1_760_000_000, 2);
        s.run()
            .into_iter()
            .map(|o| (o.observer, o.sighting))
            .collect::<Vec<_>>()
    };
    let first = run();
    assert!(first.len() > 100, "{}", first.len());
    assert_eq!(first, run());
    let mut other = sim::Scenario::random(10, 12, 3, &regions, 1_760_000_000, 2);
    assert_ne!(first.len(), 0);
    assert_ne!(
        first.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        other
            .run()
            .into_iter()
            .map(|o| o.sighting)
            .collect::<Vec<_>>()
    );
}
