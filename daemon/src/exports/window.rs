//! Export windows and the embargo rule: which window's export file carries a key.
//!
//! Windows are `[n · P, (n + 1) · P)` of arrival time (unix seconds), `P` = `export.period`,
//! which divides a day, so windows align to UTC days.
//!
//! **Embargo rule.** A key released at `r` ([`crate::embargo::release_time`]: its arrival `a`,
//! or the end of its validity when it was still valid at arrival) goes into the first window
//! whose end `e` satisfies both `e > a` (it has arrived) and `e ≥ r` (it is no longer valid when
//! the window is exported). Windows are only exported after they end, so no file ever carries a
//! key that is still in use. A key is released at most [`MAX_EMBARGO_SECS`](crate::embargo::MAX_EMBARGO_SECS) after it arrived, so
//! a window's keys all arrived in `[start − MAX_EMBARGO_SECS, end)`, which bounds the read.
//!
//! This module is pure: no clock, no store.

use std::time::Duration;

use enmesh_protocol::keys::DiagnosisKey;

use crate::embargo::release_time;

/// The length of every export window, in seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportPeriod(u64);

impl ExportPeriod {
    /// A period of `period` (whole seconds, at least one).
    pub fn new(period: Duration) -> Self {
        Self(period.as_secs().max(1))
    }

    /// The length in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// The window holding time `unix_secs`.
    pub fn window_of(self, unix_secs: u64) -> ExportWindow {
        let start = unix_secs - unix_secs % self.0;
        ExportWindow {
            start,
            end: start.saturating_add(self.0),
        }
    }

    /// The window whose export carries `key`, which arrived at `arrival_unix_secs`
    /// (the embargo rule of this module's doc).
    pub fn release_window(self, key: &DiagnosisKey, arrival_unix_secs: u64) -> ExportWindow {
        let release = release_time(key, arrival_unix_secs);
        let by_arrival = self.window_of(arrival_unix_secs);
        // The first window with end ≥ release is the one holding release − 1.
        let by_release = self.window_of(release.saturating_sub(1));
        if by_release.start > by_arrival.start {
            by_release
        } else {
            by_arrival
        }
    }
}

/// One export window `[start, end)` of arrival time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExportWindow {
    /// First second (unix seconds).
    pub start: u64,
    /// First second after the window.
    pub end: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embargo::MAX_EMBARGO_SECS;
    use enmesh_protocol::gaen::Tek;
    use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
    use enmesh_protocol::keys::{ReportType, TransmissionRisk};

    const HOUR: u64 = 3600;
    const DAY0: u64 = 1_700_006_400; // a UTC midnight (multiple of 86,400)

    /// A key valid over `[start, start + period·600)`.
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
    fn expired_key_goes_into_its_arrival_window() {
        let p = ExportPeriod::new(Duration::from_secs(HOUR));
        let k = key(DAY0 - 86_400, 144); // valid until DAY0
        let w = p.release_window(&k, DAY0 + 5 * HOUR + 10);
        assert_eq!(w, p.window_of(DAY0 + 5 * HOUR));
        // Validity ending exactly at arrival: still the arrival window.
        assert_eq!(p.release_window(&k, DAY0), p.window_of(DAY0));
    }

    #[test]
    fn valid_key_waits_for_the_window_ending_at_or_after_expiry() {
        let p = ExportPeriod::new(Duration::from_secs(HOUR));
        // Today's key, valid until DAY0 + 24 h, uploaded at 10:30.
        let k = key(DAY0, 144);
        let w = p.release_window(&k, DAY0 + 10 * HOUR + 1800);
        assert_eq!(
            w,
            ExportWindow {
                start: DAY0 + 23 * HOUR,
                end: DAY0 + 24 * HOUR
            }
        );
        assert!(w.end >= k.publishable_from());
        // Validity ending mid-window: the window holding the expiry.
        let k = key(DAY0, 63); // valid until 10:30
        let w = p.release_window(&k, DAY0 + 9 * HOUR);
        assert_eq!(w.start, DAY0 + 10 * HOUR);
        // Validity ending one second into a window is impossible (intervals are 600 s), but an
        // end on a window boundary is the earlier window.
        let k = key(DAY0, 60); // valid until 10:00
        assert_eq!(p.release_window(&k, DAY0 + 9 * HOUR).end, DAY0 + 10 * HOUR);
    }

    #[test]
    fn embargo_is_capped() {
        let p = ExportPeriod::new(Duration::from_secs(HOUR));
        let arrival = DAY0 + 30;
        let k = key(DAY0 + 10 * 86_400, 144); // bogus: starts ten days ahead
        let w = p.release_window(&k, arrival);
        assert_eq!(w, p.window_of(arrival + MAX_EMBARGO_SECS - 1));
        assert!(w.start >= arrival.saturating_sub(MAX_EMBARGO_SECS));
    }

    #[test]
    fn release_window_never_precedes_arrival_and_bounds_the_read() {
        let p = ExportPeriod::new(Duration::from_secs(2 * HOUR));
        for arrival_offset in (0..2 * 86_400).step_by(1234) {
            for (start_offset, period) in [(-86_400i64, 144u32), (0, 144), (3600, 1), (-600, 7)] {
                let arrival = DAY0 + arrival_offset;
                let start = (DAY0 as i64 + arrival_offset as i64 + start_offset) as u64;
                let k = key(start, period);
                let w = p.release_window(&k, arrival);
                assert!(w.end > arrival);
                assert!(w.end >= k.publishable_from().min(arrival + MAX_EMBARGO_SECS));
                assert!(arrival + MAX_EMBARGO_SECS >= w.start);
                assert_eq!(w.start % (2 * HOUR), 0);
            }
        }
    }
}
