//! Peer bookkeeping of the mesh state machine: who is connected, who waits to be admitted (and
//! until when), who is admitted (with its certified region), who is blocked (and until when),
//! which addresses are known, and the configured bootstrap addresses.
//!
//! This module never admits a peer on its own: only an admission check's result (an
//! [`super::Event::Checked`]) does. It does no I/O and reads no clock: times are passed in.

use super::{Millis, Types};
use enmesh_protocol::region::RegionId;
use std::collections::{BTreeMap, BTreeSet};

/// How long a connected peer may take to be admitted, in milliseconds.
pub const ADMIT_DEADLINE_MS: Millis = 10_000;
/// How long a refused (or silent) peer stays blocked, in milliseconds.
pub const BLOCK_FOR_MS: Millis = 300_000;
/// Most peer addresses taken from one heads answer, and most put in one.
pub const MAX_PEER_ADDRS: usize = 64;
/// Most peers whose addresses are kept.
pub const MAX_KNOWN_PEERS: usize = 1024;

/// A configured bootstrap address and what dialling it found.
#[derive(Debug)]
pub struct Bootstrap<T: Types> {
    /// The address.
    pub addr: T::Addr,
    /// The peer found there (or named in the address).
    pub peer: Option<T::Peer>,
    /// Whether a dial to an unknown peer there is under way.
    pub dialing: bool,
}

/// Every peer this node knows of.
#[derive(Debug)]
pub struct Peers<T: Types> {
    connected: BTreeSet<T::Peer>,
    waiting: BTreeMap<T::Peer, Millis>,
    admitted: BTreeMap<T::Peer, RegionId>,
    blocked: BTreeMap<T::Peer, Millis>,
    admitting: BTreeSet<T::Peer>,
    addresses: BTreeMap<T::Peer, Vec<T::Addr>>,
    bootstrap: Vec<Bootstrap<T>>,
}

impl<T: Types> Peers<T> {
    /// No peer yet; `bootstrap` addresses to dial.
    pub fn new(bootstrap: Vec<(T::Addr, Option<T::Peer>)>) -> Self {
        Self {
            connected: BTreeSet::new(),
            waiting: BTreeMap::new(),
            admitted: BTreeMap::new(),
            blocked: BTreeMap::new(),
            admitting: BTreeSet::new(),
            addresses: BTreeMap::new(),
            bootstrap: bootstrap
                .into_iter()
                .map(|(addr, peer)| Bootstrap {
                    addr,
                    peer,
                    dialing: false,
                })
                .collect(),
        }
    }

    /// A connection to `peer` opened at `now` (through bootstrap entry `bootstrap`, if any): an
    /// unadmitted peer has [`ADMIT_DEADLINE_MS`] to be admitted. Returns whether it is admitted.
    pub fn connected(&mut self, peer: T::Peer, bootstrap: Option<usize>, now: Millis) -> bool {
        if let Some(b) = bootstrap.and_then(|i| self.bootstrap.get_mut(i)) {
            b.dialing = false;
            b.peer = Some(peer);
        }
        self.connected.insert(peer);
        if self.admitted.contains_key(&peer) {
            return true;
        }
        self.waiting
            .entry(peer)
            .or_insert(now.saturating_add(ADMIT_DEADLINE_MS));
        false
    }

    /// The last connection to `peer` closed: it must be admitted again next time.
    pub fn disconnected(&mut self, peer: &T::Peer) {
        self.connected.remove(peer);
        self.admitted.remove(peer);
        self.waiting.remove(peer);
        self.admitting.remove(peer);
    }

    /// A dial of bootstrap entry `bootstrap` failed.
    pub fn dial_failed(&mut self, bootstrap: usize) {
        if let Some(b) = self.bootstrap.get_mut(bootstrap) {
            b.dialing = false;
        }
    }

    /// `peer` passed its check: admitted with `region`. Returns whether it was not already.
    pub fn admit(&mut self, peer: T::Peer, region: RegionId) -> bool {
        self.waiting.remove(&peer);
        self.admitted.insert(peer, region).is_none()
    }

    /// Refuses `peer` at `now`: no longer admitted or waiting, its addresses forgotten, blocked
    /// for [`BLOCK_FOR_MS`].
    pub fn block(&mut self, peer: T::Peer, now: Millis) {
        self.admitted.remove(&peer);
        self.waiting.remove(&peer);
        self.addresses.remove(&peer);
        self.blocked.insert(peer, now.saturating_add(BLOCK_FOR_MS));
    }

    /// Peers whose admission deadline passed at `now` (removed from the waiting).
    pub fn overdue(&mut self, now: Millis) -> Vec<T::Peer> {
        let overdue: Vec<T::Peer> = self
            .waiting
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &overdue {
            self.waiting.remove(peer);
        }
        overdue
    }

    /// Peers whose block expired at `now` (removed from the blocked).
    pub fn unblocked(&mut self, now: Millis) -> Vec<T::Peer> {
        let expired: Vec<T::Peer> = self
            .blocked
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &expired {
            self.blocked.remove(peer);
        }
        expired
    }

    /// Notes that an admission request to `peer` is under way; false if one already is.
    pub fn start_admitting(&mut self, peer: T::Peer) -> bool {
        self.admitting.insert(peer)
    }

    /// The admission request to `peer` ended (answered or failed).
    pub fn done_admitting(&mut self, peer: &T::Peer) {
        self.admitting.remove(peer);
    }

    /// Whether `peer` is admitted.
    pub fn is_admitted(&self, peer: &T::Peer) -> bool {
        self.admitted.contains_key(peer)
    }

    /// Whether a connection to `peer` is open.
    pub fn is_connected(&self, peer: &T::Peer) -> bool {
        self.connected.contains(peer)
    }

    /// Every admitted peer and its region, in peer order.
    pub fn admitted(&self) -> impl Iterator<Item = (&T::Peer, &RegionId)> {
        self.admitted.iter()
    }

    /// How many peers are admitted.
    pub fn admitted_len(&self) -> usize {
        self.admitted.len()
    }

    /// `peer` listens on `addrs` (what it said when identified).
    pub fn identified(&mut self, peer: T::Peer, addrs: Vec<T::Addr>) {
        self.addresses.insert(peer, addrs);
    }

    /// Keeps the addresses of peers this node (`me`) has not met yet (dialled on the next tick).
    pub fn learn(&mut self, me: T::Peer, found: Vec<(T::Peer, T::Addr)>) {
        for (peer, addr) in found.into_iter().take(MAX_PEER_ADDRS) {
            let known = self.addresses.contains_key(&peer);
            if peer != me && !known && self.addresses.len() < MAX_KNOWN_PEERS {
                self.addresses.insert(peer, vec![addr]);
            }
        }
    }

    /// The addresses of admitted peers, at most [`MAX_PEER_ADDRS`]: what a heads answer carries.
    pub fn admitted_addresses(&self) -> Vec<(T::Peer, T::Addr)> {
        self.admitted
            .keys()
            .flat_map(|peer| {
                self.addresses
                    .get(peer)
                    .into_iter()
                    .flatten()
                    .map(|addr| (*peer, addr.clone()))
            })
            .take(MAX_PEER_ADDRS)
            .collect()
    }

    /// What to dial now: bootstrap addresses and known peers that are not connected. A dial of
    /// an unknown peer at a bootstrap address is marked under way.
    pub fn dials(&mut self) -> Vec<Dial<T>> {
        let mut dials = Vec::new();
        for (i, b) in self.bootstrap.iter_mut().enumerate() {
            match b.peer {
                Some(peer) if self.connected.contains(&peer) => {}
                Some(peer) => dials.push(Dial {
                    peer: Some(peer),
                    addrs: vec![b.addr.clone()],
                    bootstrap: None,
                }),
                None if !b.dialing => {
                    b.dialing = true;
                    dials.push(Dial {
                        peer: None,
                        addrs: vec![b.addr.clone()],
                        bootstrap: Some(i),
                    });
                }
                None => {}
            }
        }
        for (peer, addrs) in &self.addresses {
            if !self.connected.contains(peer) && !addrs.is_empty() {
                dials.push(Dial {
                    peer: Some(*peer),
                    addrs: addrs.clone(),
                    bootstrap: None,
                });
            }
        }
        dials
    }
}

/// A dial to make.
#[derive(Debug, PartialEq)]
pub struct Dial<T: Types> {
    /// The peer, if known (then the dial is skipped if it is connected or being dialled).
    pub peer: Option<T::Peer>,
    /// Where to dial.
    pub addrs: Vec<T::Addr>,
    /// The bootstrap entry an unknown peer is dialled for: report its connection or failure.
    pub bootstrap: Option<usize>,
}
