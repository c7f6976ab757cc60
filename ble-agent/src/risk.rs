//! GAEN-v2-style risk scoring: matched scan instances become exposure windows, windows get
//! weighted minutes (attenuation bucket × report type × infectiousness by days since onset), and
//! an exposure is notified when its score reaches the threshold.
//!
//! Pure functions of their inputs: no clock, no I/O. Durations follow one rule everywhere:
//! consecutive contacts no more than [`RiskConfig::max_gap_secs`] apart belong to one encounter
//! and the time between them counts; a longer gap starts a new window and is not counted.

use enmesh_protocol::keys::ReportType;
use serde::{Deserialize, Serialize};

/// Longest exposure window, as in GAEN v2.
pub const MAX_WINDOW_SECS: u64 = 30 * 60;

/// How scores are computed. Every field has a default; a config file may override any of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Upper bounds (dB, inclusive) of the immediate, near and medium buckets; above: other.
    pub attenuation_thresholds_db: [u8; 3],
    /// Weights of the immediate, near, medium and other buckets.
    pub attenuation_weights: [f64; 4],
    /// Weight of keys reported as confirmed test (also keys without a report type).
    pub weight_confirmed_test: f64,
    /// Weight of confirmed clinical diagnosis.
    pub weight_confirmed_clinical_diagnosis: f64,
    /// Weight of self reports (and TCN symptom reports).
    pub weight_self_report: f64,
    /// Weight of recursive reports.
    pub weight_recursive: f64,
    /// Days since onset with |d| ≤ this are highly infectious.
    pub high_infectiousness_days: i32,
    /// Days since onset with |d| ≤ this (and above the high range) are standard; beyond: none.
    pub standard_infectiousness_days: i32,
    /// Weight of high infectiousness.
    pub weight_high_infectiousness: f64,
    /// Weight of standard infectiousness (also keys without days since onset).
    pub weight_standard_infectiousness: f64,
    /// Longest gap between two contacts of one encounter, seconds.
    pub max_gap_secs: u64,
    /// Weighted minutes at which an exposure is notified.
    pub threshold_minutes: f64,
    /// Tx power assumed when a payload carries none (TCN, Herald), dBm.
    pub assumed_tx_power_dbm: i8,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            attenuation_thresholds_db: [55, 63, 73],
            attenuation_weights: [1.5, 1.0, 0.5, 0.0],
            weight_confirmed_test: 1.0,
            weight_confirmed_clinical_diagnosis: 1.0,
            weight_self_report: 0.8,
            weight_recursive: 0.0,
            high_infectiousness_days: 2,
            standard_infectiousness_days: 7,
            weight_high_infectiousness: 1.0,
            weight_standard_infectiousness: 0.6,
            max_gap_secs: 300,
            threshold_minutes: 15.0,
            assumed_tx_power_dbm: -8,
        }
    }
}

/// Why a risk configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("risk.{field}: {reason}")]
pub struct RiskConfigError {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl RiskConfig {
    /// Checks ranges: thresholds ascending, weights finite and non-negative, gap 1..=3600 s.
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        let err = |field, reason: &str| RiskConfigError {
            field,
            reason: reason.to_owned(),
        };
        let [a, b, c] = self.attenuation_thresholds_db;
        if !(a <= b && b <= c) {
            return Err(err("attenuation_thresholds_db", "must be ascending"));
        }
        let weights = [
            (
                "attenuation_weights",
                self.attenuation_weights.iter().all(|w| ok(*w)),
            ),
            ("weight_confirmed_test", ok(self.weight_confirmed_test)),
            (
                "weight_confirmed_clinical_diagnosis",
                ok(self.weight_confirmed_clinical_diagnosis),
            ),
            ("weight_self_report", ok(self.weight_self_report)),
            ("weight_recursive", ok(self.weight_recursive)),
            (
                "weight_high_infectiousness",
                ok(self.weight_high_infectiousness),
            ),
            (
                "weight_standard_infectiousness",
                ok(self.weight_standard_infectiousness),
            ),
            ("threshold_minutes", ok(self.threshold_minutes)),
        ];
        for (field, fine) in weights {
            if !fine {
                return Err(err(field, "must be a finite number ≥ 0"));
            }
        }
        if !(1..=3600).contains(&self.max_gap_secs) {
            return Err(err("max_gap_secs", "must be 1..=3600"));
        }
        if self.high_infectiousness_days < 0
            || self.standard_infectiousness_days < self.high_infectiousness_days
        {
            return Err(err(
                "standard_infectiousness_days",
                "must be ≥ high_infectiousness_days ≥ 0",
            ));
        }
        Ok(())
    }

    /// The weight of an attenuation.
    pub fn attenuation_weight(&self, attenuation_db: u8) -> f64 {
        let [immediate, near, medium] = self.attenuation_thresholds_db;
        let [wi, wn, wm, wo] = self.attenuation_weights;
        if attenuation_db <= immediate {
            wi
        } else if attenuation_db <= near {
            wn
        } else if attenuation_db <= medium {
            wm
        } else {
            wo
        }
    }

    /// The weight of a report type.
    pub fn report_type_weight(&self, report_type: ReportType) -> f64 {
        match report_type {
            ReportType::ConfirmedTest | ReportType::Unknown => self.weight_confirmed_test,
            ReportType::ConfirmedClinicalDiagnosis => self.weight_confirmed_clinical_diagnosis,
            ReportType::SelfReport => self.weight_self_report,
            ReportType::Recursive => self.weight_recursive,
            ReportType::Revoked => 0.0,
        }
    }

    /// The weight of days since onset (`None`: unknown, standard).
    pub fn infectiousness_weight(&self, days_since_onset: Option<i32>) -> f64 {
        match days_since_onset.map(i32::abs) {
            None => self.weight_standard_infectiousness,
            Some(d) if d <= self.high_infectiousness_days => self.weight_high_infectiousness,
            Some(d) if d <= self.standard_infectiousness_days => {
                self.weight_standard_infectiousness
            }
            Some(_) => 0.0,
        }
    }
}

fn ok(w: f64) -> bool {
    w.is_finite() && w >= 0.0
}

/// One matched scan instance with its attenuations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// First sighting, unix ms.
    pub start_ms: u64,
    /// Last sighting, unix ms.
    pub end_ms: u64,
    /// tx power − strongest RSSI.
    pub min_attenuation_db: u8,
    /// tx power − mean RSSI.
    pub typical_attenuation_db: u8,
}

/// Contacts of one key within one encounter, at most [`MAX_WINDOW_SECS`] long.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureWindow {
    /// First contact, unix ms.
    pub start_ms: u64,
    /// Counted time, milliseconds.
    pub duration_ms: u64,
    /// Lowest attenuation in the window.
    pub min_attenuation_db: u8,
    /// Attenuation-weighted minutes (before report and infectiousness weights).
    pub weighted_minutes: f64,
}

/// Groups contacts (any order) into exposure windows.
pub fn windows(contacts: &[Contact], config: &RiskConfig) -> Vec<ExposureWindow> {
    let mut sorted = contacts.to_vec();
    sorted.sort_by_key(|c| (c.start_ms, c.end_ms));
    let max_gap_ms = config.max_gap_secs * 1000;
    let mut out: Vec<ExposureWindow> = Vec::new();
    let mut previous_end: Option<u64> = None;
    let mut window_start = 0u64;
    for contact in sorted {
        let gap = previous_end.map(|end| contact.start_ms.saturating_sub(end));
        let same_encounter = gap.is_some_and(|g| g <= max_gap_ms);
        let joins =
            same_encounter && contact.end_ms.saturating_sub(window_start) <= MAX_WINDOW_SECS * 1000;
        // The time since the previous contact counts whenever it is the same encounter, also
        // when the window is split only because it reached 30 minutes.
        let counted_ms = contact.end_ms.saturating_sub(contact.start_ms)
            + if same_encounter { gap.unwrap_or(0) } else { 0 };
        let weighted = counted_ms as f64 / 60_000.0
            * config.attenuation_weight(contact.typical_attenuation_db);
        match out.last_mut() {
            Some(window) if joins => {
                window.weighted_minutes += weighted;
                window.min_attenuation_db =
                    window.min_attenuation_db.min(contact.min_attenuation_db);
                window.duration_ms = window.duration_ms.saturating_add(counted_ms);
            }
            _ => {
                window_start = contact.start_ms;
                out.push(ExposureWindow {
                    start_ms: contact.start_ms,
                    duration_ms: counted_ms,
                    min_attenuation_db: contact.min_attenuation_db,
                    weighted_minutes: weighted,
                });
            }
        }
        previous_end = Some(previous_end.map_or(contact.end_ms, |e| e.max(contact.end_ms)));
    }
    out
}

/// The score of one key's windows: the sum of their weighted minutes × report type weight ×
/// infectiousness weight.
pub fn score(
    windows: &[ExposureWindow],
    report_type: ReportType,
    days_since_onset: Option<i32>,
    config: &RiskConfig,
) -> f64 {
    let minutes: f64 = windows.iter().map(|w| w.weighted_minutes).sum();
    minutes
        * config.report_type_weight(report_type)
        * config.infectiousness_weight(days_since_onset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(start_s: u64, end_s: u64, att: u8) -> Contact {
        Contact {
            start_ms: start_s * 1000,
            end_ms: end_s * 1000,
            min_attenuation_db: att,
            typical_attenuation_db: att,
        }
    }

    #[test]
    fn gaps_join_or_split_windows() {
        let config = RiskConfig::default();
        // Every minute for 10 minutes, then again an hour later for 2 minutes.
        let mut contacts: Vec<Contact> = (0..=10).map(|m| contact(m * 60, m * 60, 50)).collect();
        contacts.extend((0..=2).map(|m| contact(4200 + m * 60, 4200 + m * 60, 60)));
        let w = windows(&contacts, &config);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].duration_ms, 600_000);
        assert_eq!(w[1].duration_ms, 120_000);
        assert!((w[0].weighted_minutes - 15.0).abs() < 1e-9);
        assert!((w[1].weighted_minutes - 2.0).abs() < 1e-9);
        let s = score(&w, ReportType::ConfirmedTest, Some(1), &config);
        assert!((s - 17.0).abs() < 1e-9);
        assert_eq!(score(&w, ReportType::Recursive, Some(1), &config), 0.0);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn long_encounters_split_at_thirty_minutes() {
        let config = RiskConfig::default();
        let contacts: Vec<Contact> = (0..=60).map(|m| contact(m * 60, m * 60, 40)).collect();
        let w = windows(&contacts, &config);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w.iter().map(|w| w.duration_ms).sum::<u64>(), 3_600_000);
    }
}
