//! Announcements waiting for their batch: an announcement ("origin O up to sequence N") is
//! accepted, and so forwarded, only once this node holds the batch; it is rejected if the peer
//! that sent it served a batch that failed its checks, and dropped after [`ANNOUNCE_WAIT_MS`].
//!
//! This module never accepts an announcement of a batch this node does not hold. It does no
//! I/O and reads no clock.

use super::{Millis, Types, Verdict};
use enmesh_protocol::region::RegionId;
use std::collections::BTreeMap;

/// How long an announcement waits for this node to hold its batch before it is dropped
/// (gossipsub forgets unvalidated messages after a few heartbeats anyway).
pub const ANNOUNCE_WAIT_MS: Millis = 3_000;
/// Most announcements of one origin waiting for their batch (more are ignored, not forwarded).
pub const MAX_WAITING_ANNOUNCES: usize = 256;

/// An announcement waiting until this node holds the batch.
#[derive(Debug, Clone)]
struct Waiting<T: Types> {
    id: T::MsgId,
    source: T::Peer,
    sequence: u64,
    at: Millis,
}

/// The waiting announcements of every origin.
#[derive(Debug)]
pub struct Announcements<T: Types> {
    waiting: BTreeMap<RegionId, Vec<Waiting<T>>>,
}

impl<T: Types> Default for Announcements<T> {
    fn default() -> Self {
        Self {
            waiting: BTreeMap::new(),
        }
    }
}

/// What settling an origin's announcements decided.
#[derive(Debug)]
pub struct Settled<T: Types> {
    /// Verdicts on announcements that wait no longer.
    pub verdicts: Vec<(T::MsgId, T::Peer, Verdict)>,
    /// The latest announcement still waiting (its sender and sequence), to fetch from.
    pub still_waiting: Option<(T::Peer, u64)>,
}

impl<T: Types> Announcements<T> {
    /// Whether another announcement of `origin` may wait.
    pub fn has_room(&self, origin: &RegionId) -> bool {
        self.waiting.get(origin).map_or(0, Vec::len) < MAX_WAITING_ANNOUNCES
    }

    /// `source` announced `origin` up to `sequence` in message `id` at `now`; it waits.
    pub fn wait(
        &mut self,
        origin: RegionId,
        id: T::MsgId,
        source: T::Peer,
        sequence: u64,
        now: Millis,
    ) {
        self.waiting.entry(origin).or_default().push(Waiting {
            id,
            source,
            sequence,
            at: now,
        });
    }

    /// Origins with waiting announcements.
    pub fn origins(&self) -> Vec<RegionId> {
        self.waiting.keys().cloned().collect()
    }

    /// Settles `origin`'s announcements at `now`, this node holding it up to `held`: accepted
    /// when held, rejected when `refused_by` sent them, dropped when they waited too long.
    pub fn settle(
        &mut self,
        origin: &RegionId,
        held: u64,
        refused_by: Option<T::Peer>,
        now: Millis,
    ) -> Settled<T> {
        let mut settled = Settled {
            verdicts: Vec::new(),
            still_waiting: None,
        };
        let Some(waiting) = self.waiting.remove(origin) else {
            return settled;
        };
        let mut left = Vec::new();
        for a in waiting {
            let verdict = if a.sequence <= held {
                Verdict::Accept
            } else if Some(a.source) == refused_by {
                Verdict::Reject
            } else if now.saturating_sub(a.at) > ANNOUNCE_WAIT_MS {
                Verdict::Ignore
            } else {
                left.push(a);
                continue;
            };
            settled.verdicts.push((a.id, a.source, verdict));
        }
        if let Some(last) = left.last() {
            settled.still_waiting = Some((last.source, last.sequence));
            self.waiting.insert(origin.clone(), left);
        }
        settled
    }
}
