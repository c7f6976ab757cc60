//! Chunk arithmetic of the public feed: which window of release time a chunk id names, which
//! chunks exist at a given time, and which of them are complete.
//!
//! A chunk is the window `[id · L, (id + 1) · L)` of release time (unix seconds, see
//! [`crate::embargo`]: the arrival, or the expiry of a key still valid at arrival), where `L` is
//! `feed.chunk` and divides a day, so chunks align to UTC days. The id is the chunk number
//! `start / L`. This module is pure: it never reads a clock or the store.

use std::time::Duration;

/// Seconds after a chunk's end before it counts as complete: an upload that read the clock just
/// before the end may still be committing into it. Keys released into a chunk by the embargo
/// arrived earlier still (release is never before arrival), so they need no longer.
pub const SETTLE_SECS: u64 = 10;

/// The length of every chunk, in seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLength(u64);

impl ChunkLength {
    /// A chunk length of `length` (rounded down to whole seconds, at least one second).
    pub fn new(length: Duration) -> Self {
        Self(length.as_secs().max(1))
    }

    /// The length in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// The chunk that holds (release) time `unix_secs`.
    pub fn chunk_of(self, unix_secs: u64) -> ChunkId {
        ChunkId(unix_secs / self.0)
    }

    /// The window of chunk `id`; `None` if it lies beyond the u64 range.
    pub fn window(self, id: ChunkId) -> Option<Chunk> {
        let start = id.0.checked_mul(self.0)?;
        let end = start.checked_add(self.0)?;
        Some(Chunk { id, start, end })
    }
}

/// A chunk number: the window start divided by the chunk length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkId(pub u64);

/// One chunk: its id and the release-time window `[start, end)` it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk number.
    pub id: ChunkId,
    /// First second of the window (unix seconds).
    pub start: u64,
    /// First second after the window.
    pub end: u64,
}

impl Chunk {
    /// Whether no key can arrive in the chunk any more at `now`: its end is [`SETTLE_SECS`] past.
    pub fn complete_at(&self, now: u64) -> bool {
        now >= self.end.saturating_add(SETTLE_SECS)
    }
}

/// Which chunks exist at `now`: from the one holding the retention cutoff
/// (`now − retention`) to the one holding `now` (the open chunk), inclusive.
pub fn served_range(length: ChunkLength, now: u64, retention_secs: u64) -> (ChunkId, ChunkId) {
    let oldest = length.chunk_of(now.saturating_sub(retention_secs));
    (oldest, length.chunk_of(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_the_length() {
        let length = ChunkLength::new(Duration::from_secs(600));
        let id = length.chunk_of(1_600_000_123);
        assert_eq!(id, ChunkId(2_666_666));
        let chunk = length.window(id).unwrap();
        assert_eq!((chunk.start, chunk.end), (1_599_999_600, 1_600_000_200));
        assert!(chunk.start <= 1_600_000_123 && 1_600_000_123 < chunk.end);
        assert_eq!(length.chunk_of(chunk.end), ChunkId(id.0 + 1));
        assert!(length.window(ChunkId(u64::MAX)).is_none());
    }

    #[test]
    fn complete_only_after_settling() {
        let length = ChunkLength::new(Duration::from_secs(600));
        let chunk = length.window(ChunkId(10)).unwrap();
        assert!(!chunk.complete_at(chunk.end - 1));
        assert!(!chunk.complete_at(chunk.end + SETTLE_SECS - 1));
        assert!(chunk.complete_at(chunk.end + SETTLE_SECS));
    }

    #[test]
    fn served_range_spans_retention_to_now() {
        let length = ChunkLength::new(Duration::from_secs(3600));
        let (oldest, open) = served_range(length, 10 * 86_400 + 5, 2 * 86_400);
        assert_eq!(oldest, ChunkId(8 * 24));
        assert_eq!(open, ChunkId(10 * 24));
        let (oldest, _) = served_range(length, 100, 2 * 86_400);
        assert_eq!(oldest, ChunkId(0));
    }
}
