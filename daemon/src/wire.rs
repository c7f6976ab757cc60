//! Conversions between the protocol crate's key model and the `enmesh.v1` wire messages.
//!
//! One place, so the store, the batcher and the feeds cannot drift apart on how a key is
//! written. Conversions from the wire that must check their input live with their callers'
//! error types (the store reports a corrupt record, a receiver a misbehaving peer).

use enmesh_proto::v1::DiagnosisKey as WireKey;
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey};

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
