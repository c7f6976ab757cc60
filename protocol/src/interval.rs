//! GAEN time: the ENIntervalNumber (10-minute intervals since the unix epoch) and rolling periods.
//!
//! This module converts between unix seconds and interval numbers; it never reads a clock.

use thiserror::Error;

/// Seconds in one ENIntervalNumber.
pub const INTERVAL_SECONDS: u64 = 600;
/// Intervals in one TEK rolling period (24 hours).
pub const TEK_ROLLING_PERIOD: u32 = 144;

/// An ENIntervalNumber: `floor(unix_seconds / 600)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntervalNumber(pub u32);

impl IntervalNumber {
    /// The interval containing `unix_seconds`; `None` past the u32 range (year 83,000+).
    pub fn from_unix_seconds(unix_seconds: u64) -> Option<Self> {
        u32::try_from(unix_seconds / INTERVAL_SECONDS)
            .ok()
            .map(Self)
    }

    /// The unix time at which this interval starts.
    pub fn unix_seconds(self) -> u64 {
        u64::from(self.0) * INTERVAL_SECONDS
    }

    /// The first interval of this interval's UTC day (`day_number × 144`).
    pub fn day_start(self) -> Self {
        Self(self.0 - self.0 % TEK_ROLLING_PERIOD)
    }

    /// The UTC day number (days since 1970-01-01) of this interval.
    pub fn day_number(self) -> u32 {
        self.0 / TEK_ROLLING_PERIOD
    }

    /// This interval plus `n`, or `None` on overflow.
    pub fn checked_add(self, n: u32) -> Option<Self> {
        self.0.checked_add(n).map(Self)
    }
}

impl std::fmt::Display for IntervalNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How many intervals a key is valid for: 1..=144.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollingPeriod(u32);

impl RollingPeriod {
    /// A full day, the value of every key not released early.
    pub const FULL_DAY: Self = Self(TEK_ROLLING_PERIOD);

    /// Checks `1 ≤ value ≤ 144`.
    pub fn new(value: u32) -> Result<Self, RollingPeriodError> {
        if (1..=TEK_ROLLING_PERIOD).contains(&value) {
            Ok(Self(value))
        } else {
            Err(RollingPeriodError(value))
        }
    }

    /// The number of intervals.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A rolling period outside 1..=144.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("rolling period {0} is outside 1..=144")]
pub struct RollingPeriodError(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_md_example() {
        // formats.md a.1: 1585785600 → 2642976.
        let enin = IntervalNumber::from_unix_seconds(1_585_785_600);
        assert_eq!(enin, Some(IntervalNumber(2_642_976)));
        assert_eq!(
            IntervalNumber(2_642_976).day_start(),
            IntervalNumber(2_642_976)
        );
        assert_eq!(
            IntervalNumber(2_642_977).day_start(),
            IntervalNumber(2_642_976)
        );
    }

    #[test]
    fn rolling_period_bounds() {
        assert!(RollingPeriod::new(0).is_err());
        assert!(RollingPeriod::new(1).is_ok());
        assert!(RollingPeriod::new(144).is_ok());
        assert!(RollingPeriod::new(145).is_err());
    }
}
