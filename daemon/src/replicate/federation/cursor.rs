//! The decisions of federation, without I/O: what a fetch state means, which regions a
//! puller gets, and how keys cross the wire.
//!
//! A served key cursor is `timestamp` = the arrival second of the last key examined and
//! `nextToken` = base64 of the decimal store sequence number of that key (Google: base64 of a
//! decimal SQL offset); the next page starts strictly after it. The token is opaque to pullers.
//!
//! This module never panics on outside input and never turns an invalid wire key into a key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_proto::federation::{Cursor, ExposureKey};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use thiserror::Error;

use crate::store::Arrival;

/// Most keys a page holds (the Google server's cap).
pub const MAX_PAGE_KEYS: u32 = 500;

/// A fetch request the server refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The key cursor's token does not parse.
    #[error("keyCursor.nextToken is not a token this server issued")]
    BadToken,
    /// A region is both included and excluded.
    #[error("region {0} is both included and excluded")]
    Overlap(String),
}

/// The position a key cursor names (`None`: from the start).
pub fn decode_cursor(cursor: Option<&Cursor>) -> Result<Option<Arrival>, RequestError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    if cursor.timestamp == 0 && cursor.next_token.is_empty() {
        return Ok(None);
    }
    let unix_secs = u64::try_from(cursor.timestamp).map_err(|_| RequestError::BadToken)?;
    let digits = STANDARD
        .decode(&cursor.next_token)
        .map_err(|_| RequestError::BadToken)?;
    let seq = std::str::from_utf8(&digits)
        .ok()
        .filter(|d| !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or(RequestError::BadToken)?;
    Ok(Some(Arrival { unix_secs, seq }))
}

/// The cursor naming `at`.
pub fn encode_cursor(at: Arrival) -> Cursor {
    Cursor {
        timestamp: i64::try_from(at.unix_secs).unwrap_or(i64::MAX),
        next_token: STANDARD.encode(at.seq.to_string()),
    }
}

/// Upper-cases region codes (the Google server compares them upper-cased).
fn upper(list: &[String]) -> Vec<String> {
    list.iter().map(|r| r.to_ascii_uppercase()).collect()
}

/// Whether keys of `home` (the only region this server's local keys carry) go to a puller who
/// asked for `include`/`exclude` and is allowed `allowed_include` (empty: any) and always
/// excluded `forced_exclude`. Include = request ∩ allowed (the allowed set when the request
/// names none); exclude = request ∪ forced; an overlap of include and exclude is an error.
pub fn serves_home(
    home: &str,
    include: &[String],
    exclude: &[String],
    allowed_include: &[String],
    forced_exclude: &[String],
) -> Result<bool, RequestError> {
    let (include, allowed) = (upper(include), upper(allowed_include));
    let mut exclude = upper(exclude);
    exclude.extend(upper(forced_exclude));
    let include: Vec<String> = match (include.is_empty(), allowed.is_empty()) {
        (true, _) => allowed.clone(),
        (false, true) => include,
        (false, false) => include
            .into_iter()
            .filter(|r| allowed.contains(r))
            .collect(),
    };
    if let Some(both) = include.iter().find(|r| exclude.contains(r)) {
        return Err(RequestError::Overlap(both.clone()));
    }
    let asked_nothing = include.is_empty() && allowed.is_empty();
    let home = home.to_ascii_uppercase();
    Ok((asked_nothing || include.contains(&home)) && !exclude.contains(&home))
}

/// A key as the federation wire carries it, with its regions.
pub fn key_to_wire(key: &DiagnosisKey, regions: &[String]) -> ExposureKey {
    let onset = key.days_since_onset.and_then(|d| d.known_days());
    ExposureKey {
        exposure_key: key.key.0.to_vec(),
        transmission_risk: i32::from(key.transmission_risk.get()),
        interval_number: i32::try_from(key.rolling_start.0).unwrap_or(i32::MAX),
        interval_count: i32::try_from(key.rolling_period.get()).unwrap_or(144),
        report_type: key.report_type.number(),
        days_since_onset_of_symptoms: onset.unwrap_or(0),
        has_symptom_onset: onset.is_some(),
        traveler: false,
        regions: regions.to_vec(),
    }
}

/// Why a received key was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Not 16 bytes.
    #[error("exposureKey is not 16 bytes")]
    Length,
    /// `intervalNumber` negative.
    #[error("intervalNumber is negative")]
    Interval,
    /// `intervalCount` outside 1..=144.
    #[error("intervalCount outside 1..=144")]
    Count,
    /// `transmissionRisk` outside 0..=8.
    #[error("transmissionRisk outside 0..=8")]
    Risk,
    /// An unknown report type, or REVOKED (revocations are not imported).
    #[error("reportType unknown or revoked")]
    ReportType,
    /// `daysSinceOnsetOfSymptoms` outside −14..=14.
    #[error("daysSinceOnsetOfSymptoms outside -14..=14")]
    Onset,
}

/// A received wire key as a key, every field checked; UNKNOWN report type becomes confirmed.
pub fn key_from_wire(wire: &ExposureKey) -> Result<DiagnosisKey, KeyError> {
    let tek: [u8; 16] = wire
        .exposure_key
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Length)?;
    let start = u32::try_from(wire.interval_number).map_err(|_| KeyError::Interval)?;
    let period = u32::try_from(wire.interval_count)
        .ok()
        .and_then(|c| RollingPeriod::new(c).ok())
        .ok_or(KeyError::Count)?;
    let risk =
        TransmissionRisk::new(i64::from(wire.transmission_risk)).map_err(|_| KeyError::Risk)?;
    let report_type = match ReportType::from_number(wire.report_type) {
        Some(ReportType::Unknown) => ReportType::ConfirmedTest,
        Some(ReportType::Revoked) | None => return Err(KeyError::ReportType),
        Some(other) => other,
    };
    let days_since_onset = if wire.has_symptom_onset {
        Some(
            DaysSinceOnset::known(i64::from(wire.days_since_onset_of_symptoms))
                .ok_or(KeyError::Onset)?,
        )
    } else {
        None
    };
    Ok(DiagnosisKey {
        key: Tek(tek),
        rolling_start: IntervalNumber(start),
        rolling_period: period,
        transmission_risk: risk,
        report_type,
        days_since_onset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn region_rules() {
        assert_eq!(serves_home("DE", &[], &[], &[], &[]), Ok(true));
        assert_eq!(serves_home("DE", &s(&["de"]), &[], &[], &[]), Ok(true));
        assert_eq!(serves_home("DE", &s(&["FR"]), &[], &[], &[]), Ok(false));
        assert_eq!(serves_home("DE", &[], &s(&["DE"]), &[], &[]), Ok(false));
        assert_eq!(serves_home("DE", &[], &[], &s(&["FR"]), &[]), Ok(false));
        assert_eq!(
            serves_home("DE", &s(&["DE"]), &[], &s(&["FR"]), &[]),
            Ok(false)
        );
        assert_eq!(serves_home("DE", &[], &[], &[], &s(&["DE"])), Ok(false));
        assert_eq!(
            serves_home("DE", &s(&["DE"]), &s(&["DE"]), &[], &[]),
            Err(RequestError::Overlap("DE".into()))
        );
    }

    proptest! {
        #[test]
        fn cursors_round_trip(unix_secs in 0u64..i64::MAX as u64, seq in any::<u64>()) {
            let at = Arrival { unix_secs, seq };
            prop_assert_eq!(decode_cursor(Some(&encode_cursor(at))), Ok(Some(at)));
        }

        #[test]
        fn garbage_tokens_never_panic(timestamp in any::<i64>(), token in ".{0,40}") {
            let _ = decode_cursor(Some(&Cursor { timestamp, next_token: token }));
        }

        #[test]
        fn wire_keys_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20),
                                 n in any::<i32>(), c in any::<i32>(), r in any::<i32>(),
                                 t in any::<i32>(), d in any::<i32>(), h in any::<bool>()) {
            let wire = ExposureKey { exposure_key: bytes, transmission_risk: r, interval_number: n,
                interval_count: c, report_type: t, days_since_onset_of_symptoms: d,
                has_symptom_onset: h, traveler: false, regions: vec![] };
            if let Ok(key) = key_from_wire(&wire) {
                let back = key_to_wire(&key, &[]);
                prop_assert_eq!(key_from_wire(&back), Ok(key));
            }
        }
    }
}
