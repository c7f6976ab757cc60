//! Wall-clock time for the daemon, behind a trait so tests can inject it.
//!
//! Everything that stamps, windows or expires data (uploads, batches, exports, retention) asks a
//! [`SharedClock`] instead of reading the system time itself. This module never sleeps or
//! schedules: timers stay tokio's; only "what time is it" goes through here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::UnixTime;

/// A source of unix time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the unix epoch.
    fn now_millis(&self) -> u64;

    /// Seconds since the unix epoch.
    fn now_secs(&self) -> u64 {
        self.now_millis() / 1000
    }

    /// The time as certificate and signature checks take it.
    fn unix_time(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_millis(self.now_millis()))
    }
}

/// A clock shared by every part of one node.
pub type SharedClock = Arc<dyn Clock>;

/// The system's real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        // A system clock before 1970 is a broken machine; report the epoch rather than panic.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl SystemClock {
    /// The system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

/// A clock that moves only when told to: for tests of windows, expiry and retention.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `millis`.
    pub fn at_millis(millis: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(millis)))
    }

    /// Moves the clock to `millis`.
    pub fn set_millis(&self, millis: u64) {
        self.0.store(millis, Ordering::SeqCst);
    }

    /// Moves the clock forward by `millis`.
    pub fn advance_millis(&self, millis: u64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The system's time shifted forward by an adjustable amount: real time keeps flowing (timers,
/// batch windows), and the demo can jump ahead (close an export window) without waiting.
#[derive(Debug, Default)]
pub struct OffsetClock(AtomicU64);

impl OffsetClock {
    /// A clock at the system time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Jumps `millis` further ahead of the system time.
    pub fn advance_millis(&self, millis: u64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now_millis(&self) -> u64 {
        SystemClock
            .now_millis()
            .saturating_add(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_millis(1_600_000_000_500);
        assert_eq!(clock.now_secs(), 1_600_000_000);
        clock.advance_millis(600);
        assert_eq!(clock.now_millis(), 1_600_000_001_100);
        let shared: SharedClock = clock.clone();
        clock.set_millis(5);
        assert_eq!(shared.now_millis(), 5);
        assert!(SystemClock.now_secs() > 1_700_000_000);
    }

    #[test]
    fn offset_clock_runs_ahead_of_the_system() {
        let clock = OffsetClock::new();
        clock.advance_millis(86_400_000);
        let ahead = clock.now_secs() - SystemClock.now_secs();
        assert!((86_399..=86_400).contains(&ahead), "{ahead}");
    }
}
