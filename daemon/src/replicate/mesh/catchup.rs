//! Catch-up (anti-entropy) bookkeeping: which origins this node is fetching, from whom, and how
//! far each peer said it holds each origin.
//!
//! At most one fetch per origin is in flight; a fetch goes on page after page while the peer
//! holds more than this node, and ends on an empty page, a failure or a gap. This module never
//! does I/O: the state machine asks it what to fetch next and tells it what happened. It is
//! generic over the peer type (a libp2p `PeerId` in the daemon, a node number in the simulator)
//! and keeps everything in ordered maps, so that the same inputs give the same answers.

use enmesh_protocol::region::RegionId;
use std::collections::{BTreeMap, BTreeSet};

/// Batches asked for in one page.
pub const PAGE_BATCHES: u32 = 256;
/// Most origins tracked (a cluster has a few dozen regions; this bounds what peers can make
/// this node remember).
pub const MAX_ORIGINS: usize = 1024;

/// Catch-up state of one node.
#[derive(Debug)]
pub struct CatchUp<P> {
    fetching: BTreeMap<RegionId, P>,
    peer_heads: BTreeMap<(P, RegionId), u64>,
    origins: BTreeSet<RegionId>,
}

impl<P> Default for CatchUp<P> {
    fn default() -> Self {
        Self {
            fetching: BTreeMap::new(),
            peer_heads: BTreeMap::new(),
            origins: BTreeSet::new(),
        }
    }
}

impl<P: Copy + Ord> CatchUp<P> {
    /// Catch-up knowing `origins` up front (the configured cluster regions).
    pub fn new(origins: impl IntoIterator<Item = RegionId>) -> Self {
        Self {
            origins: origins.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Every origin seen so far (configured, announced or received).
    pub fn origins(&self) -> impl Iterator<Item = &RegionId> {
        self.origins.iter()
    }

    /// `peer` holds `origin` up to `sequence`. Returns whether a fetch from `peer` should start
    /// now, given that this node holds `held`.
    pub fn peer_holds(&mut self, peer: P, origin: RegionId, sequence: u64, held: u64) -> bool {
        if !self.origins.contains(&origin) {
            if self.origins.len() >= MAX_ORIGINS {
                return false;
            }
            self.origins.insert(origin.clone());
        }
        let known = self.peer_heads.entry((peer, origin.clone())).or_insert(0);
        *known = (*known).max(sequence);
        if sequence <= held || self.fetching.contains_key(&origin) {
            return false;
        }
        self.fetching.insert(origin, peer);
        true
    }

    /// A page of `got` batches of `origin` from `peer` was taken up to `held` (stopping early on
    /// a gap or refusal if `stopped`). Returns whether to ask `peer` for the next page.
    pub fn page_done(
        &mut self,
        peer: P,
        origin: &RegionId,
        got: usize,
        held: u64,
        stopped: bool,
    ) -> bool {
        let more = !stopped
            && got > 0
            && self
                .peer_heads
                .get(&(peer, origin.clone()))
                .is_some_and(|head| *head > held);
        if !more {
            self.failed(origin, peer);
        }
        more
    }

    /// The fetch of `origin` from `peer` failed (timeout, disconnect, no room to store it):
    /// another peer may be asked later. A fetch of `origin` from another peer goes on.
    pub fn failed(&mut self, origin: &RegionId, peer: P) {
        if self.fetching.get(origin) == Some(&peer) {
            self.fetching.remove(origin);
        }
    }

    /// Whether a fetch of `origin` from `peer` is under way.
    pub fn fetching_from(&self, origin: &RegionId, peer: P) -> bool {
        self.fetching.get(origin) == Some(&peer)
    }

    /// `peer` is gone: its fetches end and its heads are forgotten.
    pub fn peer_gone(&mut self, peer: &P) {
        self.fetching.retain(|_, p| p != peer);
        self.peer_heads.retain(|(p, _), _| p != peer);
    }

    /// How many batches this node lacks of what its peers said they hold, summed over origins
    /// (`held` says how far this node holds an origin).
    pub fn behind(&self, held: impl Fn(&RegionId) -> u64) -> u64 {
        let mut best: BTreeMap<&RegionId, u64> = BTreeMap::new();
        for ((_, origin), sequence) in &self.peer_heads {
            let entry = best.entry(origin).or_insert(0);
            *entry = (*entry).max(*sequence);
        }
        best.into_iter()
            .map(|(origin, sequence)| sequence.saturating_sub(held(origin)))
            .sum()
    }

    /// How many origins are being fetched.
    pub fn in_flight(&self) -> usize {
        self.fetching.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::PeerId;

    fn r(text: &str) -> RegionId {
        text.parse().unwrap()
    }

    #[test]
    fn one_fetch_per_origin_and_paging_until_caught_up() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut c = CatchUp::new([r("DE")]);
        assert!(
            !c.peer_holds(a, r("FR"), 5, 5),
            "nothing to fetch when held"
        );
        assert!(c.peer_holds(a, r("FR"), 9, 5));
        assert!(
            !c.peer_holds(b, r("FR"), 12, 5),
            "already fetching FR from a"
        );
        assert_eq!(c.in_flight(), 1);
        assert!(c.page_done(a, &r("FR"), 2, 7, false), "a holds 9 > 7");
        assert!(!c.page_done(a, &r("FR"), 2, 9, false), "caught up with a");
        assert_eq!(c.in_flight(), 0);
        assert!(c.peer_holds(b, r("FR"), 12, 9));
        assert!(!c.page_done(b, &r("FR"), 1, 10, true), "stopped on a gap");
        assert!(c.peer_holds(a, r("IT"), 4, 0));
        assert_eq!(
            c.behind(|o| if *o == r("FR") { 10 } else { 1 }),
            (12 - 10) + (4 - 1)
        );
        assert_eq!(
            c.origins().map(ToString::to_string).collect::<Vec<_>>(),
            ["DE", "FR", "IT"]
        );
    }

    #[test]
    fn a_gone_peer_ends_its_fetches() {
        let a = PeerId::random();
        let mut c = CatchUp::<PeerId>::default();
        assert!(c.peer_holds(a, r("FR"), 3, 0));
        c.peer_gone(&a);
        assert_eq!(c.in_flight(), 0);
        assert!(c.peer_holds(PeerId::random(), r("FR"), 3, 0));
    }
}
