//! The embargo of keys still valid at upload (formats.md §e.6): the one place that decides when a
//! key may be shown to phones, used by the phone feed ([`crate::phone_feed`]) and the GAEN export
//! files ([`crate::exports`]) alike, for local and remote keys.
//!
//! A key that arrived at `a` and is valid until `v` (the end of its last interval, exclusive) is
//! **released** at `max(a, v)`: at once when it had already expired, else when its validity ends.
//! `v` is capped at `a + MAX_EMBARGO_SECS` (a valid key is never valid for more than a day past
//! its upload, so a bogus future key cannot hide forever), so every key released in
//! `[from, until)` arrived in `[from − MAX_EMBARGO_SECS, until)`, which bounds every read.
//!
//! This module is pure: it never reads a clock or the store.

use enmesh_protocol::keys::DiagnosisKey;

/// The longest embargo: one day of validity (144 intervals), plus slack for a key whose rolling
/// start is up to an hour ahead of its arrival.
pub const MAX_EMBARGO_SECS: u64 = 86_400 + 3_600;

/// The unix second from which `key`, which arrived at `arrival_unix_secs`, may be shown to phones
/// (this module's rule). Never before its arrival, never more than [`MAX_EMBARGO_SECS`] after it.
pub fn release_time(key: &DiagnosisKey, arrival_unix_secs: u64) -> u64 {
    key.publishable_from()
        .min(arrival_unix_secs.saturating_add(MAX_EMBARGO_SECS))
        .max(arrival_unix_secs)
}

/// Whether `key`, which arrived at `arrival_unix_secs`, is released at `now` (unix seconds).
pub fn released_at(key: &DiagnosisKey, arrival_unix_secs: u64, now: u64) -> bool {
    release_time(key, arrival_unix_secs) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use enmesh_protocol::gaen::Tek;
    use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
    use enmesh_protocol::keys::{ReportType, TransmissionRisk};

    const DAY0: u64 = 1_700_006_400; // a UTC midnight

    fn key(start_secs: u64, period: u32) -> DiagnosisKey {
        DiagnosisKey {
            key: Tek([1; 16]),
            rolling_start: IntervalNumber((start_secs / 600) as u32),
            rolling_period: RollingPeriod::new(period).unwrap(),
            transmission_risk: TransmissionRisk::new(2).unwrap(),
            report_type: ReportType::ConfirmedTest,
            days_since_onset: None,
        }
    }

    #[test]
    fn expired_key_is_released_on_arrival() {
        let yesterday = key(DAY0 - 86_400, 144); // valid until DAY0
        assert_eq!(release_time(&yesterday, DAY0 + 5), DAY0 + 5);
        assert_eq!(release_time(&yesterday, DAY0), DAY0);
        assert!(released_at(&yesterday, DAY0 + 5, DAY0 + 5));
        assert!(!released_at(&yesterday, DAY0 + 5, DAY0 + 4));
    }

    #[test]
    fn valid_key_is_released_when_its_validity_ends() {
        let today = key(DAY0, 144); // valid until DAY0 + 1 day
        let arrival = DAY0 + 10 * 3600;
        assert_eq!(release_time(&today, arrival), DAY0 + 86_400);
        assert!(!released_at(&today, arrival, DAY0 + 86_399));
        assert!(released_at(&today, arrival, DAY0 + 86_400));
        assert!(!today.still_valid_at(release_time(&today, arrival)));
    }

    #[test]
    fn embargo_is_capped_and_never_precedes_arrival() {
        let bogus = key(DAY0 + 10 * 86_400, 144);
        assert_eq!(release_time(&bogus, DAY0), DAY0 + MAX_EMBARGO_SECS);
        for arrival_offset in (0..2 * 86_400).step_by(977) {
            for (start_offset, period) in [(-86_400i64, 144u32), (0, 144), (3600, 1), (-600, 7)] {
                let arrival = DAY0 + arrival_offset;
                let k = key((arrival as i64 + start_offset) as u64, period);
                let r = release_time(&k, arrival);
                assert!(r >= arrival && r <= arrival + MAX_EMBARGO_SECS);
                assert!(r == arrival || !k.still_valid_at(r) || r == arrival + MAX_EMBARGO_SECS);
                assert!(r >= k.publishable_from().min(arrival + MAX_EMBARGO_SECS));
            }
        }
    }
}
