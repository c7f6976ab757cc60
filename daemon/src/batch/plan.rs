//! The batcher's pure state machine: which keys go into which batch, and when.
//!
//! [`Planner::handle`] takes an [`Event`] (keys read from the store, a tick, a flush), the time
//! and a random source, and returns at most one [`Cut`]: the batches to sign and the batcher
//! position to commit with them. Rules:
//!
//! - Each key goes to the feeds of its upload ([`Routing::destinations`]); the visited regions
//!   are dropped right there and never reach a batch.
//! - A feed is *due* when a window has passed since its oldest pending key (then all its pending
//!   keys are cut), or when it holds at least `max_keys` pending keys (then as many full batches
//!   of `max_keys` as it has; the rest stays pending). A flush makes every feed due.
//! - Cuts are prefix-closed: the cut point is the last key any due feed cuts, and every feed cuts
//!   its pending keys up to that point too. So every key at or before the new position is in a
//!   committed batch of each of its feeds and none after it is; a restart re-reads exactly the
//!   keys after the position, and no key is lost or batched twice.
//! - Keys that go to no feed are passed over, so they do not hold the position back.
//! - A batch holds at most `max_keys` keys; one with fewer than `min_keys` is padded with fake
//!   keys (random key data, the other fields copied from a real key of the batch, as the Google
//!   key server pads exports); then the keys are shuffled.
//!
//! A key's time is the end of its arrival second (the store keeps arrivals in whole seconds), so
//! no key is cut before a full window has passed since it really arrived.
//!
//! This module never does I/O, never reads a clock and never draws randomness of its own.

use std::collections::{BTreeMap, VecDeque};

use enmesh_protocol::gaen::Tek;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use super::feeds::Routing;
use crate::store::{Arrival, LocalEntry};
use enmesh_protocol::feed::Feed;

/// Size and time limits of batches (`[batching]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a feed's oldest pending key may wait, in milliseconds.
    pub window_ms: u64,
    /// Most keys in one batch (at least 1).
    pub max_keys: usize,
    /// Fewest keys in one batch; smaller batches are padded.
    pub min_keys: usize,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Local keys read from the store after [`Planner::read_after`], in arrival order.
    Read(Vec<LocalEntry>),
    /// Time passed.
    Tick,
    /// Cut everything pending now, whatever the window (shutdown, tests, demo).
    Flush,
}

/// One batch to sign: its feed and its keys, already padded and shuffled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    /// The feed.
    pub feed: Feed,
    /// The keys, real and padding mixed.
    pub keys: Vec<DiagnosisKey>,
    /// How many of them are real.
    pub real_keys: usize,
}

/// Batches to commit together with the new batcher position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The batches, by feed name, each feed's batches in order.
    pub batches: Vec<PlannedBatch>,
    /// The last key this cut covers: the batcher position to commit with the batches.
    pub position: Arrival,
}

/// A key read but not yet cut.
#[derive(Debug, Clone)]
struct Pending {
    at: Arrival,
    /// Unix milliseconds from which its window runs (see the module doc).
    since_ms: u64,
    key: DiagnosisKey,
    feeds: Vec<Feed>,
}

/// The batcher's state: keys read after the committed position and not yet cut.
#[derive(Debug)]
pub struct Planner {
    routing: Routing,
    limits: Limits,
    read_upto: Option<Arrival>,
    pending: VecDeque<Pending>,
    /// Destinations of the last visited list seen (consecutive keys share their upload's list).
    last_route: Option<(Vec<RegionId>, Vec<Feed>)>,
}

impl Planner {
    /// A planner starting at the committed batcher `position` (`None`: from the first key).
    pub fn new(routing: Routing, limits: Limits, position: Option<Arrival>) -> Self {
        Self {
            routing,
            limits: Limits {
                max_keys: limits.max_keys.max(1),
                ..limits
            },
            read_upto: position,
            pending: VecDeque::new(),
            last_route: None,
        }
    }

    /// Where the next store read starts (after this key; `None`: from the first key).
    pub fn read_after(&self) -> Option<Arrival> {
        self.read_upto
    }

    /// How many keys are read but not yet cut.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Takes in `event` at `now_ms` (unix milliseconds) and returns the cut to commit, if any.
    ///
    /// The caller must commit the cut's batches and position in one write; if that fails it
    /// must drop this planner and start a new one at the store's position.
    pub fn handle<R: Rng + ?Sized>(
        &mut self,
        event: Event,
        now_ms: u64,
        rng: &mut R,
    ) -> Option<Cut> {
        let flush = match event {
            Event::Read(entries) => {
                self.take(entries, now_ms);
                false
            }
            Event::Tick => false,
            Event::Flush => true,
        };
        let cut_len = if flush {
            self.pending.len()
        } else {
            self.due_len(now_ms)
        };
        self.cut(cut_len, rng)
    }

    /// Adds entries read at `now_ms` to the pending keys, routed, dropping their visited regions.
    fn take(&mut self, entries: Vec<LocalEntry>, now_ms: u64) {
        for entry in entries {
            if self.read_upto.is_some_and(|upto| entry.at <= upto) {
                continue;
            }
            let feeds = match &self.last_route {
                Some((visited, feeds)) if *visited == entry.visited => feeds.clone(),
                _ => {
                    let feeds = self.routing.destinations(&entry.visited);
                    self.last_route = Some((entry.visited, feeds.clone()));
                    feeds
                }
            };
            self.read_upto = Some(entry.at);
            let second_ms = entry.at.unix_secs.saturating_mul(1000);
            let second_end_ms = second_ms.saturating_add(999);
            // A read "before" the arrival second means clocks disagree: trust the second's end.
            let since_ms = if (second_ms..second_end_ms).contains(&now_ms) {
                now_ms
            } else {
                second_end_ms
            };
            self.pending.push_back(Pending {
                at: entry.at,
                since_ms,
                key: entry.key,
                feeds,
            });
        }
    }

    /// How many leading pending keys the due feeds make us cut (0: none is due).
    fn due_len(&self, now_ms: u64) -> usize {
        let max = self.limits.max_keys;
        let mut by_feed: BTreeMap<&Feed, Vec<usize>> = BTreeMap::new();
        for (i, pending) in self.pending.iter().enumerate() {
            for feed in &pending.feeds {
                by_feed.entry(feed).or_default().push(i);
            }
        }
        let mut cut_len = 0;
        for indices in by_feed.values() {
            let (Some(&first), Some(&last)) = (indices.first(), indices.last()) else {
                continue;
            };
            let window_over = self
                .pending
                .get(first)
                .is_some_and(|p| now_ms >= p.since_ms.saturating_add(self.limits.window_ms));
            if window_over {
                cut_len = cut_len.max(last + 1);
            } else if indices.len() >= max {
                let full = indices.len() / max * max;
                if let Some(&end) = indices.get(full - 1) {
                    cut_len = cut_len.max(end + 1);
                }
            }
        }
        cut_len
    }

    /// Cuts the first `cut_len` pending keys (and any keys without feeds right after them).
    fn cut<R: Rng + ?Sized>(&mut self, mut cut_len: usize, rng: &mut R) -> Option<Cut> {
        while self
            .pending
            .get(cut_len)
            .is_some_and(|p| p.feeds.is_empty())
        {
            cut_len += 1;
        }
        let position = self.pending.get(cut_len.checked_sub(1)?)?.at;
        let mut by_feed: BTreeMap<Feed, Vec<DiagnosisKey>> = BTreeMap::new();
        for pending in self.pending.drain(..cut_len) {
            for feed in pending.feeds {
                by_feed.entry(feed).or_default().push(pending.key);
            }
        }
        let mut batches = Vec::new();
        for (feed, keys) in by_feed {
            for chunk in keys.chunks(self.limits.max_keys) {
                let mut keys = chunk.to_vec();
                pad(&mut keys, self.limits.min_keys, rng);
                keys.shuffle(rng);
                batches.push(PlannedBatch {
                    feed: feed.clone(),
                    keys,
                    real_keys: chunk.len(),
                });
            }
        }
        Some(Cut { batches, position })
    }
}

/// Pads `keys` (at least one real key) to `min_keys` with fake keys: random key data, the other
/// fields copied from a randomly chosen real key.
fn pad<R: Rng + ?Sized>(keys: &mut Vec<DiagnosisKey>, min_keys: usize, rng: &mut R) {
    let real = keys.len();
    if real == 0 {
        return;
    }
    while keys.len() < min_keys {
        let Some(source) = keys.get(rng.random_range(0..real)).copied() else {
            return;
        };
        let mut data = [0u8; 16];
        rng.fill_bytes(&mut data);
        keys.push(DiagnosisKey {
            key: Tek(data),
            ..source
        });
    }
}
