//! Translation between EFGS's key encoding (formats.md §g.2) and enmesh's key model, both ways:
//! report type, days since onset of symptoms (DSOS, with EFGS's range encodings) and
//! transmission risk. The table is in ARCHITECTURE.md ("EFGS ↔ enmesh key fields").
//!
//! Pure functions only. This module never invents a value: a field EFGS does not define for
//! enmesh (an unknown report type number, a transmission risk outside 0..=8) is an error, and a
//! DSOS outside every EFGS range becomes "not known".

use enmesh_protocol::efgs::{EfgsKey, TRANSMISSION_RISK_NOT_PROVIDED};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use thiserror::Error;

/// The DSOS enmesh writes for a key whose onset is not known: 4000 = "symptom status unknown",
/// centred on the key's own day.
pub const DSOS_UNKNOWN: i32 = 4000;

/// Why an EFGS key has no enmesh form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TranslateError {
    /// `rollingPeriod` outside 1..=144.
    #[error("rollingPeriod {0} is outside 1..=144")]
    RollingPeriod(u32),
    /// `transmissionRiskLevel` outside 0..=8 and not 0x7FFFFFFF.
    #[error("transmissionRiskLevel {0} is outside 0..=8")]
    TransmissionRisk(i32),
    /// A `reportType` number no format defines.
    #[error("reportType {0} is not a known report type")]
    ReportType(i32),
}

/// EFGS DSOS → enmesh: every value within ±14 of a centre EFGS defines (known day, n-day range,
/// unknown onset, asymptomatic, status unknown) is kept as is; anything else is "not known".
pub fn dsos_from_efgs(value: i32) -> Option<DaysSinceOnset> {
    DaysSinceOnset::new(value).ok()
}

/// enmesh DSOS → EFGS: the value itself; "not known" is [`DSOS_UNKNOWN`].
pub fn dsos_to_efgs(value: Option<DaysSinceOnset>) -> i32 {
    value.map_or(DSOS_UNKNOWN, DaysSinceOnset::get)
}

/// EFGS transmission risk → enmesh: 0..=8 as is, 0x7FFFFFFF ("not provided") as unset (0).
pub fn risk_from_efgs(level: i32) -> Result<TransmissionRisk, TranslateError> {
    TransmissionRisk::from_efgs(level).map_err(|_| TranslateError::TransmissionRisk(level))
}

/// enmesh transmission risk → EFGS: 1..=8 as is, unset (0) as 0x7FFFFFFF.
pub fn risk_to_efgs(risk: TransmissionRisk) -> i32 {
    if risk == TransmissionRisk::UNSET {
        TRANSMISSION_RISK_NOT_PROVIDED
    } else {
        i32::from(risk.get())
    }
}

/// An EFGS key as an enmesh key (its `visitedCountries` and `origin` are the caller's business).
pub fn key_from_efgs(key: &EfgsKey) -> Result<DiagnosisKey, TranslateError> {
    Ok(DiagnosisKey {
        key: Tek(key.key_data),
        rolling_start: IntervalNumber(key.rolling_start_interval_number),
        rolling_period: RollingPeriod::new(key.rolling_period)
            .map_err(|_| TranslateError::RollingPeriod(key.rolling_period))?,
        transmission_risk: risk_from_efgs(key.transmission_risk_level)?,
        report_type: ReportType::from_number(key.report_type)
            .ok_or(TranslateError::ReportType(key.report_type))?,
        days_since_onset: dsos_from_efgs(key.days_since_onset_of_symptoms),
    })
}

/// An enmesh key as an EFGS key of `origin` with `visited` countries.
pub fn key_to_efgs(key: &DiagnosisKey, origin: &str, visited: Vec<String>) -> EfgsKey {
    EfgsKey {
        key_data: key.key.0,
        rolling_start_interval_number: key.rolling_start.0,
        rolling_period: key.rolling_period.get(),
        transmission_risk_level: risk_to_efgs(key.transmission_risk),
        visited_countries: visited,
        origin: origin.to_owned(),
        report_type: key.report_type.number(),
        days_since_onset_of_symptoms: dsos_to_efgs(key.days_since_onset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dsos_table() {
        // (EFGS value, enmesh value, EFGS value written back)
        let rows: &[(i32, Option<i32>, i32)] = &[
            (0, Some(0), 0),
            (-14, Some(-14), -14),
            (14, Some(14), 14),
            (15, None, DSOS_UNKNOWN),
            (-15, None, DSOS_UNKNOWN),
            (86, Some(86), 86), // 100 − 14: a 1-day range
            (100, Some(100), 100),
            (514, Some(514), 514),
            (1914, Some(1914), 1914),
            (1986, Some(1986), 1986), // 2000 − 14: onset unknown
            (2000, Some(2000), 2000),
            (2014, Some(2014), 2014),
            (2015, None, DSOS_UNKNOWN),
            (2986, Some(2986), 2986),
            (3000, Some(3000), 3000),
            (3014, Some(3014), 3014),
            (4000, Some(4000), 4000),
            (4014, Some(4014), 4014),
            (4015, None, DSOS_UNKNOWN),
            (5000, None, DSOS_UNKNOWN),
            (i32::MIN, None, DSOS_UNKNOWN),
            (i32::MAX, None, DSOS_UNKNOWN),
        ];
        for &(efgs, enmesh, back) in rows {
            let got = dsos_from_efgs(efgs);
            assert_eq!(got.map(DaysSinceOnset::get), enmesh, "from {efgs}");
            assert_eq!(dsos_to_efgs(got), back, "back from {efgs}");
        }
    }

    #[test]
    fn risk_and_report_type() {
        assert_eq!(
            risk_from_efgs(TRANSMISSION_RISK_NOT_PROVIDED),
            Ok(TransmissionRisk::UNSET)
        );
        assert_eq!(
            risk_to_efgs(TransmissionRisk::UNSET),
            TRANSMISSION_RISK_NOT_PROVIDED
        );
        for level in 1..=8 {
            let risk = risk_from_efgs(level).expect("in range");
            assert_eq!(risk_to_efgs(risk), level);
        }
        assert_eq!(risk_from_efgs(9), Err(TranslateError::TransmissionRisk(9)));
        assert_eq!(
            risk_from_efgs(-1),
            Err(TranslateError::TransmissionRisk(-1))
        );
        let mut key = EfgsKey {
            key_data: [7; 16],
            rolling_start_interval_number: 2_700_000,
            rolling_period: 144,
            transmission_risk_level: 3,
            visited_countries: vec!["FR".into()],
            origin: "DE".into(),
            report_type: 1,
            days_since_onset_of_symptoms: -3,
        };
        for number in 0..=5 {
            key.report_type = number;
            let enmesh = key_from_efgs(&key).expect("known report type");
            assert_eq!(enmesh.report_type.number(), number);
            let back = key_to_efgs(&enmesh, "DE", vec!["FR".into()]);
            assert_eq!(back, key);
        }
        key.report_type = 6;
        assert_eq!(key_from_efgs(&key), Err(TranslateError::ReportType(6)));
        key.report_type = 1;
        key.rolling_period = 145;
        assert_eq!(key_from_efgs(&key), Err(TranslateError::RollingPeriod(145)));
    }

    proptest! {
        #[test]
        fn a_translated_key_round_trips(dsos in any::<i32>(), risk in 0i32..=8, rt in 0i32..=5) {
            let key = EfgsKey {
                key_data: [1; 16],
                rolling_start_interval_number: 2_700_000,
                rolling_period: 144,
                transmission_risk_level: if risk == 0 { TRANSMISSION_RISK_NOT_PROVIDED } else { risk },
                visited_countries: Vec::new(),
                origin: "IT".into(),
                report_type: rt,
                days_since_onset_of_symptoms: dsos,
            };
            let enmesh = key_from_efgs(&key).expect("valid");
            let back = key_to_efgs(&enmesh, "IT", Vec::new());
            // Every EFGS-defined DSOS survives; anything else becomes "status unknown".
            let want_dsos = if DaysSinceOnset::new(dsos).is_ok() { dsos } else { DSOS_UNKNOWN };
            prop_assert_eq!(back.days_since_onset_of_symptoms, want_dsos);
            prop_assert_eq!(back.transmission_risk_level, key.transmission_risk_level);
            prop_assert_eq!(back.report_type, rt);
        }
    }
}
