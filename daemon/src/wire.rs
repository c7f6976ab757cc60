//! Conversions between the protocol crate's key model and the `enmesh.v1` wire messages.
//!
//! One place, so the store, the batcher, the feeds and the receivers of other backends' batches
//! cannot drift apart on how a key is written or read. [`key_from_wire`] checks every field and
//! names the one that was wrong; callers map that to their own error (the store reports a corrupt
//! record, a receiver a misbehaving peer). This module never panics on wire input.

use enmesh_proto::v1::DiagnosisKey as WireKey;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use thiserror::Error;

/// Which field of a wire key is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireKeyError {
    /// `key_data` is not 16 bytes.
    #[error("key data is not 16 bytes")]
    KeyLength,
    /// `rolling_period` is outside 1..=144.
    #[error("rolling period out of range")]
    RollingPeriod,
    /// `transmission_risk_level` is outside 0..=8.
    #[error("transmission risk out of range")]
    TransmissionRisk,
    /// `report_type` is not a known report type.
    #[error("unknown report type")]
    ReportType,
    /// `days_since_onset_of_symptoms` is outside -14..=14 (or the encoded range).
    #[error("days since onset out of range")]
    DaysSinceOnset,
}

impl WireKeyError {
    /// A stable label for metrics and logs.
    pub fn rule(self) -> &'static str {
        match self {
            Self::KeyLength => "key_length",
            Self::RollingPeriod => "rolling_period",
            Self::TransmissionRisk => "transmission_risk",
            Self::ReportType => "report_type",
            Self::DaysSinceOnset => "days_since_onset",
        }
    }
}

/// The key a wire message describes, every field checked.
pub fn key_from_wire(wire: &WireKey) -> Result<DiagnosisKey, WireKeyError> {
    let tek =
        <[u8; 16]>::try_from(wire.key_data.as_slice()).map_err(|_| WireKeyError::KeyLength)?;
    Ok(DiagnosisKey {
        key: Tek(tek),
        rolling_start: IntervalNumber(wire.rolling_start_interval_number),
        rolling_period: RollingPeriod::new(wire.rolling_period)
            .map_err(|_| WireKeyError::RollingPeriod)?,
        transmission_risk: TransmissionRisk::new(i64::from(wire.transmission_risk_level))
            .map_err(|_| WireKeyError::TransmissionRisk)?,
        report_type: ReportType::from_number(wire.report_type).ok_or(WireKeyError::ReportType)?,
        days_since_onset: if wire.has_days_since_onset {
            Some(
                DaysSinceOnset::new(wire.days_since_onset_of_symptoms)
                    .map_err(|_| WireKeyError::DaysSinceOnset)?,
            )
        } else {
            None
        },
    })
}

/// The wire form of a key.
pub fn key_to_wire(key: &DiagnosisKey) -> WireKey {
    WireKey {
        key_data: key.key.0.to_vec(),
        rolling_start_interval_number: key.rolling_start.0,
        rolling_period: key.rolling_period.get(),
        transmission_risk_level: i32::from(key.transmission_risk.get()),
        report_type: key.report_type.number(),
        days_since_onset_of_symptoms: key.days_since_onset.map_or(0, DaysSinceOnset::get),
        has_days_since_onset: key.days_since_onset.is_some(),
    }
}
