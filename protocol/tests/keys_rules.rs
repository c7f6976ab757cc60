//! Upload validation rules of formats.md §e: one table row per rule with its boundaries, the
//! model helpers, and property tests (valid uploads pass, one corrupted field is reported under
//! its rule, nothing panics).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{
    DaysSinceOnset, DiagnosisKey, KeyData, Policy, ReportType, TransmissionRisk, Upload, UploadKey,
    ValidationConfig, VerifiedReportType, validate_upload,
};
use proptest::prelude::*;
use std::time::Duration;

/// 2020-04-02 00:00 UTC (formats.md a.1: interval 2642976) plus 12 hours.
const NOW: u64 = 1_585_785_600 + 12 * 3600;
/// First interval of NOW's UTC day.
const TODAY: i64 = 2_642_976;
/// The interval of NOW.
const NOW_INTERVAL: i64 = TODAY + 72;
/// The interval of NOW − 360 h.
const OLDEST: i64 = NOW_INTERVAL - 15 * 144;
const DAY: i64 = 144;

fn key_data(n: u8) -> KeyData {
    KeyData::Base64(STANDARD.encode([n; 16]))
}

/// Key `n` (data `[n; 16]`) starting `start`, full day, TR 5.
fn key(n: u8, start: i64) -> UploadKey {
    UploadKey {
        key: key_data(n),
        rolling_start: start,
        rolling_period: 144,
        transmission_risk: 5,
    }
}

fn with(k: UploadKey, f: impl FnOnce(&mut UploadKey)) -> UploadKey {
    let mut k = k;
    f(&mut k);
    k
}

fn upload(keys: Vec<UploadKey>) -> Upload {
    Upload {
        keys,
        symptom_onset_interval: None,
        certificate_onset_interval: None,
        report_type: VerifiedReportType::Confirmed,
    }
}

fn onset(keys: Vec<UploadKey>, request: Option<i64>, certificate: Option<i64>) -> Upload {
    Upload {
        symptom_onset_interval: request,
        certificate_onset_interval: certificate,
        ..upload(keys)
    }
}

/// `n` valid keys: three per day (periods 144, 100, 50), going back from today.
fn many(n: usize) -> Vec<UploadKey> {
    (0..n)
        .map(|i| {
            let day = (i / 3) as i64;
            with(key(i as u8, TODAY - day * DAY), |k| {
                k.rolling_period = [144, 100, 50][i % 3]
            })
        })
        .collect()
}

/// The (rule, key index) pairs `validate_upload` reports under the default config; empty if
/// accepted.
fn verdict(u: &Upload) -> Vec<(&'static str, Option<usize>)> {
    match validate_upload(u, NOW, &ValidationConfig::default()) {
        Ok(v) => {
            assert_eq!(v.keys().len(), u.keys.len());
            assert!(v.dropped().is_empty());
            vec![]
        }
        Err(e) => {
            assert!(!e.violations().is_empty());
            e.violations()
                .iter()
                .map(|v| (v.rule(), v.key_index()))
                .collect()
        }
    }
}

#[test]
fn one_row_per_rule() {
    type Row = (&'static str, Upload, Vec<(&'static str, Option<usize>)>);
    let ok = vec![];
    let rows: Vec<Row> = vec![
        // Rule 1: key count.
        ("one key", upload(vec![key(1, TODAY)]), ok.clone()),
        ("30 keys", upload(many(30)), ok.clone()),
        ("31 keys", upload(many(31)), vec![("key_count", None)]),
        ("no keys", upload(vec![]), vec![("key_count", None)]),
        // Rule 2: key data.
        (
            "garbage base64",
            upload(vec![
                key(1, TODAY),
                with(key(2, TODAY - DAY), |k| {
                    k.key = KeyData::Base64("not base64!".into())
                }),
            ]),
            vec![("key_base64", Some(1))],
        ),
        (
            "unpadded base64",
            upload(vec![with(key(1, TODAY), |k| {
                k.key = KeyData::Base64(STANDARD.encode([1; 16]).trim_end_matches('=').into())
            })]),
            vec![("key_base64", Some(0))],
        ),
        (
            "15-byte key",
            upload(vec![with(key(1, TODAY), |k| {
                k.key = KeyData::Base64(STANDARD.encode([1; 15]))
            })]),
            vec![("key_length", Some(0))],
        ),
        (
            "17 raw bytes",
            upload(vec![with(key(1, TODAY), |k| {
                k.key = KeyData::Bytes(vec![1; 17])
            })]),
            vec![("key_length", Some(0))],
        ),
        (
            "16 raw bytes",
            upload(vec![with(key(1, TODAY), |k| {
                k.key = KeyData::Bytes(vec![1; 16])
            })]),
            ok.clone(),
        ),
        // Rolling period.
        (
            "period 0",
            upload(vec![with(key(1, TODAY), |k| k.rolling_period = 0)]),
            vec![("rolling_period", Some(0))],
        ),
        (
            "period 145",
            upload(vec![with(key(1, TODAY), |k| k.rolling_period = 145)]),
            vec![("rolling_period", Some(0))],
        ),
        (
            "period 1",
            upload(vec![with(key(1, TODAY), |k| k.rolling_period = 1)]),
            ok.clone(),
        ),
        // Transmission risk.
        (
            "tr 9",
            upload(vec![with(key(1, TODAY), |k| k.transmission_risk = 9)]),
            vec![("transmission_risk", Some(0))],
        ),
        (
            "tr -1",
            upload(vec![with(key(1, TODAY), |k| k.transmission_risk = -1)]),
            vec![("transmission_risk", Some(0))],
        ),
        (
            "tr 0 and 8",
            upload(vec![
                with(key(1, TODAY), |k| k.transmission_risk = 0),
                with(key(2, TODAY - DAY), |k| k.transmission_risk = 8),
            ]),
            ok.clone(),
        ),
        // Rolling start range (JSON int32, not negative).
        (
            "start -1",
            upload(vec![key(1, -1)]),
            vec![("rolling_start", Some(0))],
        ),
        (
            "start past int32",
            upload(vec![key(1, i64::from(i32::MAX) + 1)]),
            vec![("rolling_start", Some(0))],
        ),
        // Not in the future.
        (
            "start = now interval",
            upload(vec![key(1, NOW_INTERVAL)]),
            ok.clone(),
        ),
        (
            "start = now interval + 1",
            upload(vec![key(1, NOW_INTERVAL + 1)]),
            vec![("future_key", Some(0))],
        ),
        // Not too old: start + period ≥ ENIN(now − 360 h).
        (
            "end exactly at the age limit",
            upload(vec![key(1, OLDEST - 144)]),
            ok.clone(),
        ),
        (
            "end one interval before the age limit",
            upload(vec![key(1, OLDEST - 145)]),
            vec![("key_too_old", Some(0))],
        ),
        // Rule 3: days since onset (request onset used when in [midnight(now − 28 d), now)).
        (
            "dsos 14",
            onset(vec![key(1, TODAY)], Some(TODAY - 14 * DAY), None),
            ok.clone(),
        ),
        (
            "dsos 15",
            onset(vec![key(1, TODAY)], Some(TODAY - 15 * DAY + 100), None),
            vec![("days_since_onset", Some(0))],
        ),
        (
            "dsos -14",
            onset(vec![key(1, TODAY - 14 * DAY)], Some(TODAY + 71), None),
            ok.clone(),
        ),
        (
            "dsos -15",
            onset(vec![key(1, TODAY - 15 * DAY)], Some(TODAY), None),
            vec![("days_since_onset", Some(0))],
        ),
        (
            "onset at the window start is used",
            onset(vec![key(1, TODAY)], Some(TODAY - 28 * DAY), None),
            vec![("days_since_onset", Some(0))],
        ),
        (
            "onset before the window: default 4 days ago",
            onset(vec![key(1, TODAY)], Some(TODAY - 28 * DAY - 1), None),
            ok.clone(),
        ),
        (
            "onset at now is not before now: default",
            onset(vec![key(1, TODAY - 15 * DAY)], Some(NOW_INTERVAL), None),
            ok.clone(),
        ),
        (
            "certificate onset when the request has none",
            onset(vec![key(1, TODAY)], None, Some(TODAY - 20 * DAY)),
            vec![("days_since_onset", Some(0))],
        ),
        (
            "request onset wins over the certificate's",
            onset(vec![key(1, TODAY)], Some(TODAY), Some(TODAY - 20 * DAY)),
            ok.clone(),
        ),
        (
            "default onset: 11 days before",
            upload(vec![key(1, TODAY - 15 * DAY)]),
            ok.clone(),
        ),
        // Rule 4: overlap and same start.
        (
            "adjacent keys",
            upload(vec![
                with(key(1, TODAY), |k| k.rolling_period = 50),
                key(2, TODAY + 50),
            ]),
            ok.clone(),
        ),
        (
            "overlap of different starts",
            upload(vec![
                key(1, TODAY - DAY),
                with(key(2, TODAY - DAY + 10), |k| k.rolling_period = 10),
            ]),
            vec![("overlap", Some(1))],
        ),
        (
            "three keys with one start",
            upload(vec![key(1, TODAY), key(2, TODAY), key(3, TODAY)]),
            ok.clone(),
        ),
        (
            "four keys with one start",
            upload(vec![
                key(1, TODAY),
                key(2, TODAY),
                key(3, TODAY),
                key(4, TODAY),
            ]),
            vec![("same_start_limit", Some(3))],
        ),
        // Duplicates, whatever the encoding.
        (
            "same key data on two days",
            upload(vec![
                key(1, TODAY),
                with(key(1, TODAY - DAY), |k| k.key = KeyData::Bytes(vec![1; 16])),
            ]),
            vec![("duplicate_key", Some(1))],
        ),
        // Rule 5: report type.
        (
            "negative report",
            Upload {
                report_type: VerifiedReportType::Negative,
                ..upload(vec![key(1, TODAY)])
            },
            vec![("negative_report", None)],
        ),
        // All violations, not just the first.
        (
            "several at once",
            upload(vec![
                with(key(1, TODAY), |k| {
                    k.rolling_period = 0;
                    k.transmission_risk = 9;
                }),
                key(2, NOW_INTERVAL + 1),
                key(3, TODAY - DAY),
                key(3, TODAY - 2 * DAY),
            ]),
            vec![
                ("rolling_period", Some(0)),
                ("transmission_risk", Some(0)),
                ("future_key", Some(1)),
                ("duplicate_key", Some(3)),
            ],
        ),
    ];
    for (name, u, expected) in rows {
        assert_eq!(verdict(&u), expected, "{name}");
    }
}

#[test]
fn violations_say_what_was_wrong_and_where() {
    let u = upload(vec![
        with(key(1, TODAY), |k| k.key = KeyData::Base64("!".into())),
        with(key(2, TODAY), |k| k.key = KeyData::Bytes(vec![])),
    ]);
    let e = validate_upload(&u, NOW, &ValidationConfig::default()).unwrap_err();
    let messages: Vec<String> = e.violations().iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "key 0: key data is not standard padded base64",
            "key 1: key data is 0 bytes; a TEK is 16"
        ]
    );
    assert!(e.to_string().contains("2 violation(s)"));
}

#[test]
fn overlap_names_the_key_reaching_furthest() {
    // A full day, then two keys inside it: both overlap key 0.
    let u = upload(vec![
        key(1, TODAY - DAY),
        with(key(2, TODAY - DAY + 10), |k| k.rolling_period = 10),
        with(key(3, TODAY - DAY + 30), |k| k.rolling_period = 10),
    ]);
    let e = validate_upload(&u, NOW, &ValidationConfig::default()).unwrap_err();
    assert_eq!(
        e.violations(),
        [
            enmesh_protocol::keys::Violation::Overlap { index: 1, other: 0 },
            enmesh_protocol::keys::Violation::Overlap { index: 2, other: 0 },
        ]
    );
}

#[test]
fn accepted_keys_are_backfilled_and_typed() {
    let u = Upload {
        report_type: VerifiedReportType::Likely,
        ..onset(
            vec![
                with(key(1, TODAY), |k| k.transmission_risk = 0),
                with(key(2, TODAY - DAY), |k| k.rolling_period = 100),
            ],
            Some(TODAY - 3 * DAY + 5),
            None,
        )
    };
    let keys = validate_upload(&u, NOW, &ValidationConfig::default())
        .unwrap()
        .into_keys();
    assert_eq!(
        keys,
        [
            DiagnosisKey {
                key: Tek([1; 16]),
                rolling_start: IntervalNumber(TODAY as u32),
                rolling_period: RollingPeriod::FULL_DAY,
                transmission_risk: TransmissionRisk::new(4).unwrap(),
                report_type: ReportType::ConfirmedClinicalDiagnosis,
                days_since_onset: DaysSinceOnset::known(3),
            },
            DiagnosisKey {
                key: Tek([2; 16]),
                rolling_start: IntervalNumber((TODAY - DAY) as u32),
                rolling_period: RollingPeriod::new(100).unwrap(),
                transmission_risk: TransmissionRisk::new(5).unwrap(),
                report_type: ReportType::ConfirmedClinicalDiagnosis,
                days_since_onset: DaysSinceOnset::known(2),
            },
        ]
    );
}

#[test]
fn drop_invalid_keys_keeps_the_rest_but_not_request_failures() {
    let config = ValidationConfig {
        policy: Policy::DropInvalidKeys,
        ..ValidationConfig::default()
    };
    let partial = upload(vec![key(1, TODAY), key(2, NOW_INTERVAL + 1)]);
    let v = validate_upload(&partial, NOW, &config).unwrap();
    assert_eq!(v.keys().len(), 1);
    assert_eq!(v.keys()[0].key, Tek([1; 16]));
    assert_eq!(v.dropped().len(), 1);
    assert_eq!(v.dropped()[0].rule(), "future_key");
    // Strict refuses the same upload.
    assert!(validate_upload(&partial, NOW, &ValidationConfig::default()).is_err());

    let all_bad = upload(vec![key(1, NOW_INTERVAL + 1)]);
    assert!(validate_upload(&all_bad, NOW, &config).is_err());
    let overlap = upload(vec![
        key(1, TODAY - DAY),
        with(key(2, TODAY - 10), |k| k.rolling_period = 20),
    ]);
    let e = validate_upload(&overlap, NOW, &config).unwrap_err();
    assert_eq!(e.violations()[0].rule(), "overlap");
}

#[test]
fn config_limits_are_honoured() {
    let config = ValidationConfig {
        max_keys: 2,
        max_interval_age: Duration::from_secs(3600),
        max_same_start_interval_keys: 1,
        ..ValidationConfig::default()
    };
    let check = |u: &Upload| -> Vec<&'static str> {
        validate_upload(u, NOW, &config)
            .err()
            .map(|e| e.violations().iter().map(|v| v.rule()).collect())
            .unwrap_or_default()
    };
    assert_eq!(check(&upload(many(3))), ["key_count"]);
    assert_eq!(check(&upload(vec![key(1, TODAY - DAY)])), ["key_too_old"]);
    assert_eq!(
        check(&upload(vec![key(1, TODAY), key(2, TODAY)])),
        ["same_start_limit"]
    );
}

#[test]
fn transmission_risk_backfill() {
    let unset = TransmissionRisk::UNSET;
    let backfilled = |r| unset.backfilled(r).get();
    assert_eq!(backfilled(VerifiedReportType::Confirmed), 2);
    assert_eq!(backfilled(VerifiedReportType::Likely), 4);
    assert_eq!(backfilled(VerifiedReportType::Negative), 6);
    assert_eq!(backfilled(VerifiedReportType::UserReport), 0);
    let seven = TransmissionRisk::new(7).unwrap();
    assert_eq!(seven.backfilled(VerifiedReportType::Confirmed), seven);
}

#[test]
fn report_type_claims() {
    for (claim, stored) in [
        ("confirmed", ReportType::ConfirmedTest),
        ("likely", ReportType::ConfirmedClinicalDiagnosis),
        ("negative", ReportType::Revoked),
        ("user-report", ReportType::SelfReport),
    ] {
        let t = VerifiedReportType::from_claim(claim).unwrap();
        assert_eq!(t.claim(), claim);
        assert_eq!(t.report_type(), stored);
    }
    assert_eq!(VerifiedReportType::from_claim("Confirmed"), None);
    assert_eq!(VerifiedReportType::from_claim("self_report"), None);
}

#[test]
fn field_newtypes_carry_other_formats() {
    assert!(TransmissionRisk::new(8).is_ok());
    assert!(TransmissionRisk::new(9).is_err());
    assert_eq!(
        TransmissionRisk::from_efgs(TransmissionRisk::EFGS_NOT_PROVIDED),
        Ok(TransmissionRisk::UNSET)
    );
    assert!(TransmissionRisk::from_efgs(-1).is_err());
    for ok in [-14, 0, 14, 86, 114, 1914, 1986, 2014, 2986, 3014, 4014] {
        assert_eq!(DaysSinceOnset::new(ok).map(DaysSinceOnset::get), Ok(ok));
    }
    for bad in [-15, 15, 85, 115, 2015, 2985, 3500, 4015, i32::MIN, i32::MAX] {
        assert!(DaysSinceOnset::new(bad).is_err(), "{bad}");
    }
    assert_eq!(DaysSinceOnset::new(-3).unwrap().known_days(), Some(-3));
    assert_eq!(DaysSinceOnset::new(3000).unwrap().known_days(), None);
    assert_eq!(DaysSinceOnset::known(15), None);
}

#[test]
fn embargo_until_validity_ends() {
    let today = DiagnosisKey {
        key: Tek([1; 16]),
        rolling_start: IntervalNumber(TODAY as u32),
        rolling_period: RollingPeriod::FULL_DAY,
        transmission_risk: TransmissionRisk::UNSET,
        report_type: ReportType::ConfirmedTest,
        days_since_onset: None,
    };
    let midnight = 1_585_785_600 + 86_400;
    assert_eq!(today.end_interval(), IntervalNumber((TODAY + DAY) as u32));
    assert!(
        today
            .validity()
            .contains(&IntervalNumber(NOW_INTERVAL as u32))
    );
    assert!(today.still_valid_at(NOW));
    assert!(today.still_valid_at(midnight - 1));
    assert!(!today.still_valid_at(midnight));
    assert_eq!(today.publishable_from(), midnight);
    let huge = DiagnosisKey {
        rolling_start: IntervalNumber(u32::MAX - 1),
        ..today
    };
    assert_eq!(huge.end_interval(), IntervalNumber(u32::MAX));
}

// ---- properties ----

/// A valid upload: distinct key data, up to 3 keys on each of some of the last 14 days, an
/// optional request onset in the last 13 days.
fn valid_upload() -> impl Strategy<Value = Upload> {
    let day_keys = proptest::collection::vec(
        proptest::collection::vec((1i64..=144, 0i64..=8, any::<bool>()), 1..=3),
        14,
    );
    let chosen_days = proptest::collection::vec(any::<bool>(), 14);
    (
        day_keys,
        chosen_days,
        proptest::option::of(1i64..=13),
        any::<[u8; 8]>(),
    )
        .prop_filter_map("1..=30 keys", |(per_day, chosen, onset_days, salt)| {
            let mut keys = Vec::new();
            for (day, (ks, on)) in per_day.into_iter().zip(chosen).enumerate() {
                if !on {
                    continue;
                }
                for (period, tr, as_bytes) in ks {
                    let mut data = [0u8; 16];
                    data[..8].copy_from_slice(&salt);
                    data[8..].copy_from_slice(&(keys.len() as u64).to_be_bytes());
                    keys.push(UploadKey {
                        key: if as_bytes {
                            KeyData::Bytes(data.to_vec())
                        } else {
                            KeyData::Base64(STANDARD.encode(data))
                        },
                        rolling_start: TODAY - day as i64 * DAY,
                        rolling_period: period,
                        transmission_risk: tr,
                    });
                }
            }
            (1..=30)
                .contains(&keys.len())
                .then(|| onset(keys, onset_days.map(|d| TODAY - d * DAY + 7), None))
        })
}

#[derive(Debug, Clone, Copy)]
enum Corruption {
    NotBase64,
    Length(usize),
    Period(i64),
    Risk(i64),
    StartRange(i64),
    Future(i64),
    TooOld(i64),
    Duplicate(usize),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        Just(Corruption::NotBase64),
        (0usize..64)
            .prop_filter("not 16", |n| *n != 16)
            .prop_map(Corruption::Length),
        prop_oneof![i64::MIN..=0, 145..=i64::MAX].prop_map(Corruption::Period),
        prop_oneof![i64::MIN..=-1, 9..=i64::MAX].prop_map(Corruption::Risk),
        prop_oneof![i64::MIN..=-1, (i64::from(i32::MAX) + 1)..=i64::MAX]
            .prop_map(Corruption::StartRange),
        (1i64..=i64::from(i32::MAX) - NOW_INTERVAL).prop_map(Corruption::Future),
        (1i64..=OLDEST - 144).prop_map(Corruption::TooOld),
        any::<usize>().prop_map(Corruption::Duplicate),
    ]
}

proptest! {
    #[test]
    fn valid_uploads_pass(u in valid_upload()) {
        let v = validate_upload(&u, NOW, &ValidationConfig::default());
        prop_assert!(v.is_ok(), "{:?}", v.err());
        let keys = v.unwrap().into_keys();
        prop_assert_eq!(keys.len(), u.keys.len());
        for (k, raw) in keys.iter().zip(&u.keys) {
            prop_assert_eq!(i64::from(k.rolling_start.0), raw.rolling_start);
            prop_assert_eq!(i64::from(k.rolling_period.get()), raw.rolling_period);
            prop_assert!(k.days_since_onset.is_some());
        }
    }

    #[test]
    fn one_corrupted_field_is_reported_under_its_rule(
        u in valid_upload(),
        target in any::<usize>(),
        c in corruption(),
    ) {
        let mut u = u;
        let n = u.keys.len();
        let i = target % n;
        let (rule, index) = match c {
            Corruption::NotBase64 => {
                u.keys[i].key = KeyData::Base64("%%%%not*base64%%%%%%%%==".into());
                ("key_base64", i)
            }
            Corruption::Length(len) => {
                u.keys[i].key = KeyData::Base64(STANDARD.encode(vec![7u8; len]));
                ("key_length", i)
            }
            Corruption::Period(p) => { u.keys[i].rolling_period = p; ("rolling_period", i) }
            Corruption::Risk(r) => { u.keys[i].transmission_risk = r; ("transmission_risk", i) }
            Corruption::StartRange(s) => { u.keys[i].rolling_start = s; ("rolling_start", i) }
            Corruption::Future(d) => {
                u.keys[i].rolling_start = NOW_INTERVAL + d;
                ("future_key", i)
            }
            Corruption::TooOld(d) => {
                u.keys[i].rolling_start = OLDEST - u.keys[i].rolling_period - d;
                ("key_too_old", i)
            }
            Corruption::Duplicate(other) => {
                prop_assume!(n >= 2);
                let j = (i + 1 + other % (n - 1)) % n;
                u.keys[i].key = u.keys[j].key.clone();
                ("duplicate_key", i.max(j))
            }
        };
        let e = validate_upload(&u, NOW, &ValidationConfig::default());
        prop_assert!(e.is_err());
        let found: Vec<_> = e.unwrap_err().violations().iter()
            .map(|v| (v.rule(), v.key_index())).collect();
        prop_assert_eq!(found, vec![(rule, Some(index))]);
    }

    #[test]
    fn arbitrary_input_never_panics(
        keys in proptest::collection::vec(
            (
                prop_oneof![
                    ".{0,40}".prop_map(KeyData::Base64),
                    proptest::collection::vec(any::<u8>(), 0..40).prop_map(KeyData::Bytes),
                ],
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            0..40,
        ),
        request in proptest::option::of(any::<i64>()),
        certificate in proptest::option::of(any::<i64>()),
        now in any::<u64>(),
        age in any::<u64>(),
        days in any::<u32>(),
        same in any::<usize>(),
    ) {
        let u = Upload {
            keys: keys.into_iter().map(|(key, s, p, t)| UploadKey {
                key, rolling_start: s, rolling_period: p, transmission_risk: t,
            }).collect(),
            symptom_onset_interval: request,
            certificate_onset_interval: certificate,
            report_type: VerifiedReportType::UserReport,
        };
        let configs = [
            ValidationConfig::default(),
            ValidationConfig {
                max_interval_age: Duration::from_secs(age),
                max_symptom_onset_days: days,
                max_valid_symptom_onset_report_days: days,
                default_symptom_onset_days_ago: days,
                max_same_start_interval_keys: same,
                policy: Policy::DropInvalidKeys,
                ..ValidationConfig::default()
            },
        ];
        for config in &configs {
            for at in [now, NOW] {
                if let Err(e) = validate_upload(&u, at, config) {
                    prop_assert!(!e.violations().is_empty());
                    let _ = e.to_string();
                }
            }
        }
    }
}
