//! EFGS canonical signing bytes against `shared/vectors/efgs_signing.json` (values copied here).
//!
//! 23 cases are lines of the gateway's CSharpTestdata.txt, 8 are derived; the batch example shows
//! the record order EFGS requires (by base64 of the whole record).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::codec::{hex_decode, hex_encode};
use enmesh_protocol::efgs::{EfgsKey, TRANSMISSION_RISK_NOT_PROVIDED, batch_signing_bytes};
use sha2::{Digest, Sha256};

struct Case {
    id: &'static str,
    key_data_hex: &'static str,
    rolling_start_interval_number: u32,
    rolling_period: u32,
    transmission_risk_level: i32,
    visited_countries: &'static [&'static str],
    origin: &'static str,
    report_type: i32,
    days_since_onset_of_symptoms: i32,
    record_ascii: &'static str,
    record_b64: &'static str,
    record_sha256_hex: &'static str,
}

fn key_data(hex: &str) -> [u8; 16] {
    hex_decode(hex).unwrap().try_into().unwrap()
}

impl Case {
    fn key(&self) -> EfgsKey {
        EfgsKey {
            key_data: key_data(self.key_data_hex),
            rolling_start_interval_number: self.rolling_start_interval_number,
            rolling_period: self.rolling_period,
            transmission_risk_level: self.transmission_risk_level,
            visited_countries: self
                .visited_countries
                .iter()
                .map(|c| c.to_string())
                .collect(),
            origin: self.origin.to_string(),
            report_type: self.report_type,
            days_since_onset_of_symptoms: self.days_since_onset_of_symptoms,
        }
    }
}

#[test]
fn all_cases_reproduce_record_base64_and_hash() {
    assert_eq!(CASES.len(), 31);
    for case in CASES {
        let key = case.key();
        let record = key.signing_record();
        assert_eq!(record, case.record_ascii, "{}: record", case.id);
        assert_eq!(
            STANDARD.encode(&record),
            case.record_b64,
            "{}: base64",
            case.id
        );
        assert_eq!(
            key.dedup_hash(),
            case.record_sha256_hex,
            "{}: sha256",
            case.id
        );
    }
}

#[test]
fn not_provided_trl_and_empty_countries() {
    let derived_2 = CASES.iter().find(|c| c.id == "derived-2").unwrap();
    assert_eq!(
        derived_2.transmission_risk_level,
        TRANSMISSION_RISK_NOT_PROVIDED
    );
    assert!(derived_2.key().signing_record().contains(".f////w==."));
    let derived_3 = CASES.iter().find(|c| c.id == "derived-3").unwrap();
    assert!(derived_3.key().signing_record().contains(".."));
}

#[test]
fn same_tek_with_other_metadata_is_not_a_duplicate() {
    let a = CASES[23].key();
    let mut b = a.clone();
    b.days_since_onset_of_symptoms += 1;
    assert_ne!(a.dedup_hash(), b.dedup_hash());
}

fn batch_keys() -> Vec<EfgsKey> {
    BATCH_KEY_DATA_HEX_UPLOAD_ORDER
        .iter()
        .map(|hex| EfgsKey {
            key_data: key_data(hex),
            rolling_start_interval_number: 2_695_680,
            rolling_period: 144,
            transmission_risk_level: 2,
            visited_countries: vec!["DE".to_string()],
            origin: "DE".to_string(),
            report_type: 1,
            days_since_onset_of_symptoms: 1,
        })
        .collect()
}

#[test]
fn batch_example_sorted_by_base64_of_record() {
    let keys = batch_keys();
    let bytes = batch_signing_bytes(&keys);
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), BATCH_BYTES_ASCII);
    assert_eq!(STANDARD.encode(&bytes), BATCH_BYTES_B64);
    assert_eq!(hex_encode(&Sha256::digest(&bytes)), BATCH_BYTES_SHA256_HEX);

    // The records appear in the EFGS order of their key data.
    let order: Vec<String> = bytes
        .split(|&b| b == b'.')
        .step_by(8)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8(f.to_vec()).unwrap())
        .collect();
    assert_eq!(order, SORTED_KEY_DATA_B64_EFGS_ORDER);
    assert_ne!(order, NOT_ORDER_RAW_RECORD_BYTES);
    assert_ne!(order, NOT_ORDER_BASE64_KEY_DATA);
}

#[test]
fn batch_bytes_do_not_depend_on_upload_order() {
    let mut keys = batch_keys();
    let expected = batch_signing_bytes(&keys);
    keys.reverse();
    assert_eq!(batch_signing_bytes(&keys), expected);
    keys.swap(0, 2);
    assert_eq!(batch_signing_bytes(&keys), expected);
    assert!(batch_signing_bytes(&[]).is_empty());
}

const CASES: &[Case] = &[
    Case {
        id: "csharp-line-1",
        key_data_hex: "23c7b736258c876579426751c2cb8b22",
        rolling_start_interval_number: 2959067189,
        rolling_period: 2838894375,
        transmission_risk_level: 1762604650,
        visited_countries: &["ZA", "HN", "DJ", "EE", "DJ", "AF", "DJ", "CL", "BA", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -251658241,
        record_ascii: "I8e3NiWMh2V5QmdRwsuLIg==.sF/INQ==.qTYXJw==.aQ82ag==.WkEsSE4sREosRUUsREosQUYsREosQ0wsQkEsREo=.REU=.AAAAAQ==.8P///w==.",
        record_b64: "SThlM05pV01oMlY1UW1kUndzdUxJZz09LnNGL0lOUT09LnFUWVhKdz09LmFRODJhZz09LldrRXNTRTRzUkVvc1JVVXNSRW9zUVVZc1JFb3NRMHdzUWtFc1JFbz0uUkVVPS5BQUFBQVE9PS44UC8vL3c9PS4=",
        record_sha256_hex: "e3195084ffbd6cdc03c07da5b12e6af04fe17ae588c25fbb2b8dc4131d5b608f",
    },
    Case {
        id: "csharp-line-2",
        key_data_hex: "7db6b0be5f29036aeb33f98a6c726d25",
        rolling_start_interval_number: 3780182308,
        rolling_period: 1746831629,
        transmission_risk_level: 1603090973,
        visited_countries: &["MC", "CA", "GR", "DJ", "ET", "DJ", "DJ", "DJ", "JM", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 704643072,
        record_ascii: "fbawvl8pA2rrM/mKbHJtJQ==.4VEBJA==.aB6JDQ==.X406HQ==.TUMsQ0EsR1IsREosRVQsREosREosREosSk0sREo=.REU=.AAAAAQ==.KgAAAA==.",
        record_b64: "ZmJhd3ZsOHBBMnJyTS9tS2JISnRKUT09LjRWRUJKQT09LmFCNkpEUT09Llg0MDZIUT09LlRVTXNRMEVzUjFJc1JFb3NSVlFzUkVvc1JFb3NSRW9zU2swc1JFbz0uUkVVPS5BQUFBQVE9PS5LZ0FBQUE9PS4=",
        record_sha256_hex: "c923f21d76fe4593b4638820025759e598c9c131642619dac1d2ecbc642d4bde",
    },
    Case {
        id: "csharp-line-3",
        key_data_hex: "bc8399e5c5b0a1046c621f45bd3523af",
        rolling_start_interval_number: 1792595214,
        rolling_period: 1770161005,
        transmission_risk_level: 2146753062,
        visited_countries: &["DJ", "AL", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "CN", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -251658241,
        record_ascii: "vIOZ5cWwoQRsYh9FvTUjrw==.atjVDg==.aYKDbQ==.f/TaJg==.REosQUwsREosREosREosREosREosREosQ04sREo=.REU=.AAAAAQ==.8P///w==.",
        record_b64: "dklPWjVjV3dvUVJzWWg5RnZUVWpydz09LmF0alZEZz09LmFZS0RiUT09LmYvVGFKZz09LlJFb3NRVXdzUkVvc1JFb3NSRW9zUkVvc1JFb3NSRW9zUTA0c1JFbz0uUkVVPS5BQUFBQVE9PS44UC8vL3c9PS4=",
        record_sha256_hex: "98b3b9e1cdeb2ddaf99724e96b896ff9ab47f932f89df18a82dd589d6e27c155",
    },
    Case {
        id: "csharp-line-4",
        key_data_hex: "3e370c377775f086adbc83dcfcfca055",
        rolling_start_interval_number: 309652759,
        rolling_period: 1918566720,
        transmission_risk_level: -1671934607,
        visited_countries: &["DJ", "LK", "DJ", "DJ", "CN", "CL", "DJ", "DJ", "DJ", "SN"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -620756993,
        record_ascii: "PjcMN3d18IatvIPc/PygVQ==.EnTtFw==.clsBQA==.nFhNcQ==.REosTEssREosREosQ04sQ0wsREosREosREosU04=.REU=.AAAAAQ==.2v///w==.",
        record_b64: "UGpjTU4zZDE4SWF0dklQYy9QeWdWUT09LkVuVHRGdz09LmNsc0JRQT09Lm5GaE5jUT09LlJFb3NURXNzUkVvc1JFb3NRMDRzUTB3c1JFb3NSRW9zUkVvc1UwND0uUkVVPS5BQUFBQVE9PS4ydi8vL3c9PS4=",
        record_sha256_hex: "3276a17ca8301ca3cd7174a4ed5e35b40b4ca100a659ae840e02ad78558fd1d9",
    },
    Case {
        id: "csharp-line-5",
        key_data_hex: "a2b2175924e73986beaebfe3bcc22fb2",
        rolling_start_interval_number: 1802803992,
        rolling_period: 2812010325,
        transmission_risk_level: 1821311241,
        visited_countries: &["DJ", "FI", "DJ", "IN", "DJ", "DJ", "DJ", "DJ", "DJ", "419"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 486539264,
        record_ascii: "orIXWSTnOYa+rr/jvMIvsg==.a3SbGA==.p5vfVQ==.bI8BCQ==.REosRkksREosSU4sREosREosREosREosREosNDE5.REU=.AAAAAQ==.HQAAAA==.",
        record_b64: "b3JJWFdTVG5PWWErcnIvanZNSXZzZz09LmEzU2JHQT09LnA1dmZWUT09LmJJOEJDUT09LlJFb3NSa2tzUkVvc1NVNHNSRW9zUkVvc1JFb3NSRW9zUkVvc05ERTUuUkVVPS5BQUFBQVE9PS5IUUFBQUE9PS4=",
        record_sha256_hex: "ce8ee2fae3aa99a73ed0dea55d2f5ebd702c1712b501e5fea4fe72d8b1b6dd30",
    },
    Case {
        id: "csharp-line-6",
        key_data_hex: "96639a9519d1c5a2d8b91c8bb3ee61ff",
        rolling_start_interval_number: 3288623463,
        rolling_period: 2296306557,
        transmission_risk_level: 2072135775,
        visited_countries: &["DJ", "GB", "DJ", "DO", "DJ", "ID", "DJ", "EE", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -134217729,
        record_ascii: "lmOalRnRxaLYuRyLs+5h/w==.xARpZw==.iN7bfQ==.e4JIXw==.REosR0IsREosRE8sREosSUQsREosRUUsREosREo=.REU=.AAAAAQ==.9////w==.",
        record_b64: "bG1PYWxSblJ4YUxZdVJ5THMrNWgvdz09LnhBUnBadz09LmlON2JmUT09LmU0SklYdz09LlJFb3NSMElzUkVvc1JFOHNSRW9zU1VRc1JFb3NSVVVzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS45Ly8vL3c9PS4=",
        record_sha256_hex: "c240ab1d499071b99e90a65ed899dc8eb1250c9ee58df58c074a1714987bc4fa",
    },
    Case {
        id: "csharp-line-7",
        key_data_hex: "fbd7739c185c4827a95dedc8ceb2860f",
        rolling_start_interval_number: 3887341654,
        rolling_period: 1679088424,
        transmission_risk_level: 1786016772,
        visited_countries: &["DJ", "UZ", "SE", "DJ", "DJ", "GE", "MN", "DJ", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -771751937,
        record_ascii: "+9dznBhcSCepXe3IzrKGDw==.57QgVg==.ZBTbKA==.anR0BA==.REosVVosU0UsREosREosR0UsTU4sREosREosREo=.REU=.AAAAAQ==.0f///w==.",
        record_b64: "Kzlkem5CaGNTQ2VwWGUzSXpyS0dEdz09LjU3UWdWZz09LlpCVGJLQT09LmFuUjBCQT09LlJFb3NWVm9zVTBVc1JFb3NSRW9zUjBVc1RVNHNSRW9zUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS4wZi8vL3c9PS4=",
        record_sha256_hex: "178f544e90d0d0904ea3459cf2d9835af32df31f36748c4b71c64e4b296cf4dd",
    },
    Case {
        id: "csharp-line-8",
        key_data_hex: "727a7871bd451816d505b79ddf1e8321",
        rolling_start_interval_number: 1751252301,
        rolling_period: 1857847610,
        transmission_risk_level: -1025191606,
        visited_countries: &["ZA", "PE", "DJ", "IN", "IT", "FR", "DJ", "LU", "SG", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 318767104,
        record_ascii: "cnp4cb1FGBbVBbed3x6DIQ==.aGH9TQ==.bryBOg==.wuTRSg==.WkEsUEUsREosSU4sSVQsRlIsREosTFUsU0csREo=.REU=.AAAAAQ==.EwAAAA==.",
        record_b64: "Y25wNGNiMUZHQmJWQmJlZDN4NkRJUT09LmFHSDlUUT09LmJyeUJPZz09Lnd1VFJTZz09LldrRXNVRVVzUkVvc1NVNHNTVlFzUmxJc1JFb3NURlVzVTBjc1JFbz0uUkVVPS5BQUFBQVE9PS5Fd0FBQUE9PS4=",
        record_sha256_hex: "a0ee249b30b2798ad83a857aaa59e7203996ca14a934fbf0d3cedc02a55f7631",
    },
    Case {
        id: "csharp-line-9",
        key_data_hex: "1af70f97ea72505df541f6d08e64785a",
        rolling_start_interval_number: 2209185577,
        rolling_period: 3339707704,
        transmission_risk_level: 509291553,
        visited_countries: &["DJ", "IN", "DJ", "ZA", "DJ", "DJ", "DJ", "DJ", "NG", "ZA"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -620756993,
        record_ascii: "GvcPl+pyUF31QfbQjmR4Wg==.g61/KQ==.xw/lOA==.HlssIQ==.REosSU4sREosWkEsREosREosREosREosTkcsWkE=.REU=.AAAAAQ==.2v///w==.",
        record_b64: "R3ZjUGwrcHlVRjMxUWZiUWptUjRXZz09Lmc2MS9LUT09Lnh3L2xPQT09Lkhsc3NJUT09LlJFb3NTVTRzUkVvc1drRXNSRW9zUkVvc1JFb3NSRW9zVGtjc1drRT0uUkVVPS5BQUFBQVE9PS4ydi8vL3c9PS4=",
        record_sha256_hex: "5a03ed57b14c992744d279aa08ca3bcd3d8f306b4debdc870d2f02ac087a24e7",
    },
    Case {
        id: "csharp-line-10",
        key_data_hex: "5347b11ceabf8e483311d00b7980774e",
        rolling_start_interval_number: 1815190110,
        rolling_period: 2081986388,
        transmission_risk_level: -2124643201,
        visited_countries: &["DJ", "MY", "BZ", "DJ", "DJ", "DJ", "DJ", "CA", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -234881025,
        record_ascii: "U0exHOq/jkgzEdALeYB3Tg==.bDGaXg==.fBiXVA==.gVyEfw==.REosTVksQlosREosREosREosREosQ0EsREosREo=.REU=.AAAAAQ==.8f///w==.",
        record_b64: "VTBleEhPcS9qa2d6RWRBTGVZQjNUZz09LmJER2FYZz09LmZCaVhWQT09LmdWeUVmdz09LlJFb3NUVmtzUWxvc1JFb3NSRW9zUkVvc1JFb3NRMEVzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS44Zi8vL3c9PS4=",
        record_sha256_hex: "c16932462bfd25f721bd4bd5c4ab354fb308ab7fff24097ed7dfa486519b5b60",
    },
    Case {
        id: "csharp-line-11",
        key_data_hex: "d9d35bd0eeaf1f7279b8cc3b930c45ea",
        rolling_start_interval_number: 1501115515,
        rolling_period: 226975071,
        transmission_risk_level: 850406262,
        visited_countries: &["VE", "DJ", "GL", "IN", "ER", "SO", "DJ", "CN", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -335544321,
        record_ascii: "2dNb0O6vH3J5uMw7kwxF6g==.WXk0ew==.DYddXw==.MrArdg==.VkUsREosR0wsSU4sRVIsU08sREosQ04sREosREo=.REU=.AAAAAQ==.6////w==.",
        record_b64: "MmROYjBPNnZIM0o1dU13N2t3eEY2Zz09LldYazBldz09LkRZZGRYdz09Lk1yQXJkZz09LlZrVXNSRW9zUjB3c1NVNHNSVklzVTA4c1JFb3NRMDRzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS42Ly8vL3c9PS4=",
        record_sha256_hex: "f927e5ab9047a514995bda26ed5bdfb43c608e81bb85f7e7372068a0015f7ca9",
    },
    Case {
        id: "csharp-line-12",
        key_data_hex: "5728a2c037fdafa992c72ffa02c948da",
        rolling_start_interval_number: 2521698354,
        rolling_period: 2772501346,
        transmission_risk_level: 152783953,
        visited_countries: &["MN", "DJ", "NO", "CL", "MD", "DJ", "PK", "DJ", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 754974720,
        record_ascii: "VyiiwDf9r6mSxy/6AslI2g==.lk4QMg==.pUEDYg==.CRtMUQ==.TU4sREosTk8sQ0wsTUQsREosUEssREosREosREo=.REU=.AAAAAQ==.LQAAAA==.",
        record_b64: "VnlpaXdEZjlyNm1TeHkvNkFzbEkyZz09LmxrNFFNZz09LnBVRURZZz09LkNSdE1VUT09LlRVNHNSRW9zVGs4c1Ewd3NUVVFzUkVvc1VFc3NSRW9zUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS5MUUFBQUE9PS4=",
        record_sha256_hex: "a9fe2c48ef7d748f0c2aa72228cb99db1efcba8138f70e1b35c06a1cef49d4f1",
    },
    Case {
        id: "csharp-line-13",
        key_data_hex: "1abd19d661a398d3d5483bb07a6b7410",
        rolling_start_interval_number: 428769376,
        rolling_period: 848886819,
        transmission_risk_level: -1538790382,
        visited_countries: &["PK", "LK", "DJ", "DJ", "DJ", "DJ", "CA", "JP", "GB", "001"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -738197505,
        record_ascii: "Gr0Z1mGjmNPVSDuwemt0EA==.GY6AYA==.Mpj8Iw==.pEfsEg==.UEssTEssREosREosREosREosQ0EsSlAsR0IsMDAx.REU=.AAAAAQ==.0////w==.",
        record_b64: "R3IwWjFtR2ptTlBWU0R1d2VtdDBFQT09LkdZNkFZQT09Lk1wajhJdz09LnBFZnNFZz09LlVFc3NURXNzUkVvc1JFb3NSRW9zUkVvc1EwRXNTbEFzUjBJc01EQXguUkVVPS5BQUFBQVE9PS4wLy8vL3c9PS4=",
        record_sha256_hex: "00f77356732462ad370fe740f9e0fd2d376cf08053a0ed7a331ba3b4c3e5da7b",
    },
    Case {
        id: "csharp-line-14",
        key_data_hex: "2540e9cdac71e12c67a541c2d0c19d3c",
        rolling_start_interval_number: 3741425008,
        rolling_period: 3343354635,
        transmission_risk_level: -1915313067,
        visited_countries: &["DJ", "IN", "DJ", "DJ", "PA", "DK", "SO", "TR", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -771751937,
        record_ascii: "JUDpzaxx4SxnpUHC0MGdPA==.3wGdcA==.x0eLCw==.jdakVQ==.REosSU4sREosREosUEEsREssU08sVFIsREosREo=.REU=.AAAAAQ==.0f///w==.",
        record_b64: "SlVEcHpheHg0U3hucFVIQzBNR2RQQT09LjN3R2RjQT09LngwZUxDdz09LmpkYWtWUT09LlJFb3NTVTRzUkVvc1JFb3NVRUVzUkVzc1UwOHNWRklzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS4wZi8vL3c9PS4=",
        record_sha256_hex: "e3763dcdbe127a5e0db4173f373512ab98ef92ba20adbdf0c1465e9d3e67885a",
    },
    Case {
        id: "csharp-line-15",
        key_data_hex: "acf77b5a22fac7adbe022eedcafef4cf",
        rolling_start_interval_number: 511566878,
        rolling_period: 2529524863,
        transmission_risk_level: -494224549,
        visited_countries: &["LB", "CN", "DJ", "DJ", "ZA", "MO", "DJ", "PE", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -788529153,
        record_ascii: "rPd7WiL6x62+Ai7tyv70zw==.Hn3kHg==.lsV8fw==.4oq7Ww==.TEIsQ04sREosREosWkEsTU8sREosUEUsREosREo=.REU=.AAAAAQ==.0P///w==.",
        record_b64: "clBkN1dpTDZ4NjIrQWk3dHl2NzB6dz09LkhuM2tIZz09LmxzVjhmdz09LjRvcTdXdz09LlRFSXNRMDRzUkVvc1JFb3NXa0VzVFU4c1JFb3NVRVVzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS4wUC8vL3c9PS4=",
        record_sha256_hex: "e5604ff1102b50be9c020c459171866bb9605b88e11eb51e17420178bf2ae4aa",
    },
    Case {
        id: "csharp-line-100",
        key_data_hex: "cb1636e41d87b355eb2c82fbed03cb51",
        rolling_start_interval_number: 3419193688,
        rolling_period: 1215548249,
        transmission_risk_level: -1342063332,
        visited_countries: &["DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 436207616,
        record_ascii: "yxY25B2Hs1XrLIL77QPLUQ==.y8zBWA==.SHPLWQ==.sAG9HA==.REosREosREosREosREosREosREosREosREosREo=.REU=.AAAAAQ==.GgAAAA==.",
        record_b64: "eXhZMjVCMkhzMVhyTElMNzdRUExVUT09Lnk4ekJXQT09LlNIUExXUT09LnNBRzlIQT09LlJFb3NSRW9zUkVvc1JFb3NSRW9zUkVvc1JFb3NSRW9zUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS5HZ0FBQUE9PS4=",
        record_sha256_hex: "e07472f63f6dbc8d559560afc31d44cb58127f7cd68d67dbb9c2060c0c4af63d",
    },
    Case {
        id: "csharp-line-777",
        key_data_hex: "747392773d22198165f02956d7516de7",
        rolling_start_interval_number: 3711018274,
        rolling_period: 1885478717,
        transmission_risk_level: 375971685,
        visited_countries: &["TT", "DJ", "FR", "MA", "DJ", "DJ", "ES", "DJ", "PT", "BA"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 318767104,
        record_ascii: "dHOSdz0iGYFl8ClW11Ft5w==.3TGlIg==.cGIfPQ==.FmjfZQ==.VFQsREosRlIsTUEsREosREosRVMsREosUFQsQkE=.REU=.AAAAAQ==.EwAAAA==.",
        record_b64: "ZEhPU2R6MGlHWUZsOENsVzExRnQ1dz09LjNUR2xJZz09LmNHSWZQUT09LkZtamZaUT09LlZGUXNSRW9zUmxJc1RVRXNSRW9zUkVvc1JWTXNSRW9zVUZRc1FrRT0uUkVVPS5BQUFBQVE9PS5Fd0FBQUE9PS4=",
        record_sha256_hex: "3a497abe3a47c7eda77fbf17c201f9c169894c100938aa3c2c35b43a8f984eba",
    },
    Case {
        id: "csharp-line-1234",
        key_data_hex: "36ea127603db743c90adcf4a66da9d80",
        rolling_start_interval_number: 764009550,
        rolling_period: 558800679,
        transmission_risk_level: 260030781,
        visited_countries: &["DJ", "DJ", "DJ", "DJ", "IN", "AM", "DJ", "CH", "ES", "PL"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -234881025,
        record_ascii: "NuoSdgPbdDyQrc9KZtqdgA==.LYncTg==.IU6fJw==.D3/BPQ==.REosREosREosREosSU4sQU0sREosQ0gsRVMsUEw=.REU=.AAAAAQ==.8f///w==.",
        record_b64: "TnVvU2RnUGJkRHlRcmM5S1p0cWRnQT09LkxZbmNUZz09LklVNmZKdz09LkQzL0JQUT09LlJFb3NSRW9zUkVvc1JFb3NTVTRzUVUwc1JFb3NRMGdzUlZNc1VFdz0uUkVVPS5BQUFBQVE9PS44Zi8vL3c9PS4=",
        record_sha256_hex: "0d69d2dcf9eb1c1b65ef3b6b996447877473402fdab02678e67ddd71f084aa48",
    },
    Case {
        id: "csharp-line-2500",
        key_data_hex: "22dc3889b8f59f9e710e8799c33fa7f6",
        rolling_start_interval_number: 3748489804,
        rolling_period: 1256616572,
        transmission_risk_level: -2082657267,
        visited_countries: &["AZ", "DJ", "AL", "DJ", "CA", "KW", "DJ", "BH", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 620756992,
        record_ascii: "Itw4ibj1n55xDoeZwz+n9g==.321qTA==.SuZyfA==.g90sDQ==.QVosREosQUwsREosQ0EsS1csREosQkgsREosREo=.REU=.AAAAAQ==.JQAAAA==.",
        record_b64: "SXR3NGliajFuNTV4RG9lWnd6K245Zz09LjMyMXFUQT09LlN1WnlmQT09Lmc5MHNEUT09LlFWb3NSRW9zUVV3c1JFb3NRMEVzUzFjc1JFb3NRa2dzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS5KUUFBQUE9PS4=",
        record_sha256_hex: "29e5b9e4b9357dda864c087dd6be6d212a7d1caf8a736a0792458dcbc2bf542f",
    },
    Case {
        id: "csharp-line-3333",
        key_data_hex: "76da6fc1dd8cb3740e751c63936f4ca6",
        rolling_start_interval_number: 582494228,
        rolling_period: 329832506,
        transmission_risk_level: -1009803187,
        visited_countries: &["KH", "LT", "001", "PT", "SA", "DJ", "MA", "IN", "NO", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 318767104,
        record_ascii: "dtpvwd2Ms3QOdRxjk29Mpg==.IrgoFA==.E6jYOg==.w8+gTQ==.S0gsTFQsMDAxLFBULFNBLERKLE1BLElOLE5PLERK.REU=.AAAAAQ==.EwAAAA==.",
        record_b64: "ZHRwdndkMk1zM1FPZFJ4amsyOU1wZz09LklyZ29GQT09LkU2allPZz09Lnc4K2dUUT09LlMwZ3NURlFzTURBeExGQlVMRk5CTEVSS0xFMUJMRWxPTEU1UExFUksuUkVVPS5BQUFBQVE9PS5Fd0FBQUE9PS4=",
        record_sha256_hex: "1598ba3913ddd61d1b27c420d2fed01e75e2ac5cc6920e0f647f4e0d61bc4b56",
    },
    Case {
        id: "csharp-line-4096",
        key_data_hex: "08ff5a319378c47e675525a8e437962d",
        rolling_start_interval_number: 816146467,
        rolling_period: 3276859662,
        transmission_risk_level: 1006414681,
        visited_countries: &["CA", "DJ", "DJ", "SG", "IN", "DJ", "DJ", "BO", "DJ", "DJ"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 251658240,
        record_ascii: "CP9aMZN4xH5nVSWo5DeWLQ==.MKVoIw==.w1DpDg==.O/yrWQ==.Q0EsREosREosU0csSU4sREosREosQk8sREosREo=.REU=.AAAAAQ==.DwAAAA==.",
        record_b64: "Q1A5YU1aTjR4SDVuVlNXbzVEZVdMUT09Lk1LVm9Jdz09LncxRHBEZz09Lk8veXJXUT09LlEwRXNSRW9zUkVvc1UwY3NTVTRzUkVvc1JFb3NRazhzUkVvc1JFbz0uUkVVPS5BQUFBQVE9PS5Ed0FBQUE9PS4=",
        record_sha256_hex: "aafb46f284b18d8fdeae1180254598165b2c4158c2553b12ad08854326c4af95",
    },
    Case {
        id: "csharp-line-4999",
        key_data_hex: "b7533e4ad5b5b37b16d67f09ae6248be",
        rolling_start_interval_number: 2508174689,
        rolling_period: 628146959,
        transmission_risk_level: -171025128,
        visited_countries: &["NG", "DE", "DJ", "DJ", "DJ", "DJ", "DJ", "DJ", "ID", "FR"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -184549377,
        record_ascii: "t1M+StW1s3sW1n8JrmJIvg==.lX+1YQ==.JXDDDw==.9c5dGA==.TkcsREUsREosREosREosREosREosREosSUQsRlI=.REU=.AAAAAQ==.9P///w==.",
        record_b64: "dDFNK1N0VzFzM3NXMW44SnJtSkl2Zz09LmxYKzFZUT09LkpYREREdz09LjljNWRHQT09LlRrY3NSRVVzUkVvc1JFb3NSRW9zUkVvc1JFb3NSRW9zU1VRc1JsST0uUkVVPS5BQUFBQVE9PS45UC8vL3c9PS4=",
        record_sha256_hex: "94a097ea9628be6961e05955a34c97480d717c3162a5927ebf2d241fb848329a",
    },
    Case {
        id: "csharp-line-5000",
        key_data_hex: "4d843b5dd873ee25669f7b64475dad35",
        rolling_start_interval_number: 3177860615,
        rolling_period: 3120408353,
        transmission_risk_level: -269551770,
        visited_countries: &["ME", "DJ", "DJ", "IN", "DJ", "DJ", "DJ", "NO", "KZ", "AF"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -318767105,
        record_ascii: "TYQ7Xdhz7iVmn3tkR12tNQ==.vWpOBw==.uf2nIQ==.7+73Zg==.TUUsREosREosSU4sREosREosREosTk8sS1osQUY=.REU=.AAAAAQ==.7P///w==.",
        record_b64: "VFlRN1hkaHo3aVZtbjN0a1IxMnROUT09LnZXcE9Cdz09LnVmMm5JUT09LjcrNzNaZz09LlRVVXNSRW9zUkVvc1NVNHNSRW9zUkVvc1JFb3NUazhzUzFvc1FVWT0uUkVVPS5BQUFBQVE9PS43UC8vL3c9PS4=",
        record_sha256_hex: "11d662049d9e319525201d9ef44cefcf2ba3ee0f3728ccb308590cc24050fd5c",
    },
    Case {
        id: "derived-1",
        key_data_hex: "0dfa2bb489eab009755384c8e39645ee",
        rolling_start_interval_number: 2695680,
        rolling_period: 144,
        transmission_risk_level: 2,
        visited_countries: &["DE", "FR"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 0,
        record_ascii: "DfortInqsAl1U4TI45ZF7g==.ACkiAA==.AAAAkA==.AAAAAg==.REUsRlI=.REU=.AAAAAQ==.AAAAAA==.",
        record_b64: "RGZvcnRJbnFzQWwxVTRUSTQ1WkY3Zz09LkFDa2lBQT09LkFBQUFrQT09LkFBQUFBZz09LlJFVXNSbEk9LlJFVT0uQUFBQUFRPT0uQUFBQUFBPT0u",
        record_sha256_hex: "385dbd0f5d9833551eddba3577ec9eb0c10c91326caf573eccac187813a10692",
    },
    Case {
        id: "derived-2",
        key_data_hex: "6cf2177e02d9a5bd0b4a67633c6a59ba",
        rolling_start_interval_number: 2695680,
        rolling_period: 144,
        transmission_risk_level: 2147483647,
        visited_countries: &["DE"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: 3,
        record_ascii: "bPIXfgLZpb0LSmdjPGpZug==.ACkiAA==.AAAAkA==.f////w==.REU=.REU=.AAAAAQ==.AAAAAw==.",
        record_b64: "YlBJWGZnTFpwYjBMU21kalBHcFp1Zz09LkFDa2lBQT09LkFBQUFrQT09LmYvLy8vdz09LlJFVT0uUkVVPS5BQUFBQVE9PS5BQUFBQXc9PS4=",
        record_sha256_hex: "f64009a4fe61ec0b5608dec356fe2e9130c577e2937617555d6e32fff053724c",
    },
    Case {
        id: "derived-3",
        key_data_hex: "1154a62a90dbee814ecc0dd161099f59",
        rolling_start_interval_number: 2695824,
        rolling_period: 144,
        transmission_risk_level: 5,
        visited_countries: &[],
        origin: "IE",
        report_type: 1,
        days_since_onset_of_symptoms: -2,
        record_ascii: "EVSmKpDb7oFOzA3RYQmfWQ==.ACkikA==.AAAAkA==.AAAABQ==..SUU=.AAAAAQ==./////g==.",
        record_b64: "RVZTbUtwRGI3b0ZPekEzUllRbWZXUT09LkFDa2lrQT09LkFBQUFrQT09LkFBQUFCUT09Li5TVVU9LkFBQUFBUT09Li8vLy8vZz09Lg==",
        record_sha256_hex: "3047a6c86803a6010a44b7d84ac8f37dbf55bee70208a12414ee6623b0b8a89c",
    },
    Case {
        id: "derived-4",
        key_data_hex: "893c875bda495ba402891f3fc9eee96c",
        rolling_start_interval_number: 2695968,
        rolling_period: 91,
        transmission_risk_level: 6,
        visited_countries: &["IT", "ES", "DK"],
        origin: "IT",
        report_type: 2,
        days_since_onset_of_symptoms: -14,
        record_ascii: "iTyHW9pJW6QCiR8/ye7pbA==.ACkjIA==.AAAAWw==.AAAABg==.SVQsRVMsREs=.SVQ=.AAAAAg==.////8g==.",
        record_b64: "aVR5SFc5cEpXNlFDaVI4L3llN3BiQT09LkFDa2pJQT09LkFBQUFXdz09LkFBQUFCZz09LlNWUXNSVk1zUkVzPS5TVlE9LkFBQUFBZz09Li8vLy84Zz09Lg==",
        record_sha256_hex: "52d571dc3da1db6fdca3a5ad9bbe537564cde799d0f2a4e311e51f1e18578ffc",
    },
    Case {
        id: "derived-5",
        key_data_hex: "f0d295ad6bd0ae2c5d337c396fa6598f",
        rolling_start_interval_number: 2695680,
        rolling_period: 144,
        transmission_risk_level: 0,
        visited_countries: &["CZ"],
        origin: "CZ",
        report_type: 5,
        days_since_onset_of_symptoms: 2000,
        record_ascii: "8NKVrWvQrixdM3w5b6ZZjw==.ACkiAA==.AAAAkA==.AAAAAA==.Q1o=.Q1o=.AAAABQ==.AAAH0A==.",
        record_b64: "OE5LVnJXdlFyaXhkTTN3NWI2Wlpqdz09LkFDa2lBQT09LkFBQUFrQT09LkFBQUFBQT09LlExbz0uUTFvPS5BQUFBQlE9PS5BQUFIMEE9PS4=",
        record_sha256_hex: "d705cee45bdb49fdf1b3aafc4a4b2d9f8abfc4eb6bd87d0781429b6cb23472d3",
    },
    Case {
        id: "derived-6",
        key_data_hex: "49f50c36900ed4080ff0e8516c450847",
        rolling_start_interval_number: 2695536,
        rolling_period: 144,
        transmission_risk_level: 1,
        visited_countries: &["LV", "LT", "EE"],
        origin: "LV",
        report_type: 3,
        days_since_onset_of_symptoms: 3000,
        record_ascii: "SfUMNpAO1AgP8OhRbEUIRw==.ACkhcA==.AAAAkA==.AAAAAQ==.TFYsTFQsRUU=.TFY=.AAAAAw==.AAALuA==.",
        record_b64: "U2ZVTU5wQU8xQWdQOE9oUmJFVUlSdz09LkFDa2hjQT09LkFBQUFrQT09LkFBQUFBUT09LlRGWXNURlFzUlVVPS5URlk9LkFBQUFBdz09LkFBQUx1QT09Lg==",
        record_sha256_hex: "6150ea866035819adc636613f2417726070a5f1c24b16fd1221da177ae77512f",
    },
    Case {
        id: "derived-7",
        key_data_hex: "00000000000000000000000000000000",
        rolling_start_interval_number: 0,
        rolling_period: 1,
        transmission_risk_level: 0,
        visited_countries: &["NL"],
        origin: "NL",
        report_type: 0,
        days_since_onset_of_symptoms: 0,
        record_ascii: "AAAAAAAAAAAAAAAAAAAAAA==.AAAAAA==.AAAAAQ==.AAAAAA==.Tkw=.Tkw=.AAAAAA==.AAAAAA==.",
        record_b64: "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQT09LkFBQUFBQT09LkFBQUFBUT09LkFBQUFBQT09LlRrdz0uVGt3PS5BQUFBQUE9PS5BQUFBQUE9PS4=",
        record_sha256_hex: "671acef64fb10a6d5614b25a8c6958dedaf28045ba9c721aac791b3d3f288662",
    },
    Case {
        id: "derived-8",
        key_data_hex: "f437d1b2410aec501773e692cb5f8a37",
        rolling_start_interval_number: 4294967295,
        rolling_period: 4294967295,
        transmission_risk_level: 8,
        visited_countries: &["DE"],
        origin: "DE",
        report_type: 1,
        days_since_onset_of_symptoms: -1,
        record_ascii: "9DfRskEK7FAXc+aSy1+KNw==./////w==./////w==.AAAACA==.REU=.REU=.AAAAAQ==./////w==.",
        record_b64: "OURmUnNrRUs3RkFYYythU3kxK0tOdz09Li8vLy8vdz09Li8vLy8vdz09LkFBQUFDQT09LlJFVT0uUkVVPS5BQUFBQVE9PS4vLy8vL3c9PS4=",
        record_sha256_hex: "9865750d4a6187443f9cedc8e68420086a538af8cf910dcf2f9df3485330b6a0",
    },
];

const BATCH_KEY_DATA_HEX_UPLOAD_ORDER: [&str; 4] = [
    "0b400000000000000000000000000000",
    "08000000000000000000000000000000",
    "cf300000000000000000000000000000",
    "fbf00000000000000000000000000000",
];
const SORTED_KEY_DATA_B64_EFGS_ORDER: [&str; 4] = [
    "+/AAAAAAAAAAAAAAAAAAAA==",
    "CAAAAAAAAAAAAAAAAAAAAA==",
    "C0AAAAAAAAAAAAAAAAAAAA==",
    "zzAAAAAAAAAAAAAAAAAAAA==",
];
const NOT_ORDER_RAW_RECORD_BYTES: [&str; 4] = [
    "+/AAAAAAAAAAAAAAAAAAAA==",
    "C0AAAAAAAAAAAAAAAAAAAA==",
    "CAAAAAAAAAAAAAAAAAAAAA==",
    "zzAAAAAAAAAAAAAAAAAAAA==",
];
const NOT_ORDER_BASE64_KEY_DATA: [&str; 4] = [
    "+/AAAAAAAAAAAAAAAAAAAA==",
    "C0AAAAAAAAAAAAAAAAAAAA==",
    "CAAAAAAAAAAAAAAAAAAAAA==",
    "zzAAAAAAAAAAAAAAAAAAAA==",
];
const BATCH_BYTES_ASCII: &str = "+/AAAAAAAAAAAAAAAAAAAA==.ACkiAA==.AAAAkA==.AAAAAg==.REU=.REU=.AAAAAQ==.AAAAAQ==.CAAAAAAAAAAAAAAAAAAAAA==.ACkiAA==.AAAAkA==.AAAAAg==.REU=.REU=.AAAAAQ==.AAAAAQ==.C0AAAAAAAAAAAAAAAAAAAA==.ACkiAA==.AAAAkA==.AAAAAg==.REU=.REU=.AAAAAQ==.AAAAAQ==.zzAAAAAAAAAAAAAAAAAAAA==.ACkiAA==.AAAAkA==.AAAAAg==.REU=.REU=.AAAAAQ==.AAAAAQ==.";
const BATCH_BYTES_B64: &str = "Ky9BQUFBQUFBQUFBQUFBQUFBQUFBQT09LkFDa2lBQT09LkFBQUFrQT09LkFBQUFBZz09LlJFVT0uUkVVPS5BQUFBQVE9PS5BQUFBQVE9PS5DQUFBQUFBQUFBQUFBQUFBQUFBQUFBPT0uQUNraUFBPT0uQUFBQWtBPT0uQUFBQUFnPT0uUkVVPS5SRVU9LkFBQUFBUT09LkFBQUFBUT09LkMwQUFBQUFBQUFBQUFBQUFBQUFBQUE9PS5BQ2tpQUE9PS5BQUFBa0E9PS5BQUFBQWc9PS5SRVU9LlJFVT0uQUFBQUFRPT0uQUFBQUFRPT0uenpBQUFBQUFBQUFBQUFBQUFBQUFBQT09LkFDa2lBQT09LkFBQUFrQT09LkFBQUFBZz09LlJFVT0uUkVVPS5BQUFBQVE9PS5BQUFBQVE9PS4=";
const BATCH_BYTES_SHA256_HEX: &str =
    "4dd43963632263bdfb4a5e2dfa50c146051a1293f22d98135a498df5e9dce426";
