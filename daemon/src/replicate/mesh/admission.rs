//! Admission: which connected peers have shown a node certificate of this cluster whose key is
//! their libp2p identity, which are still waiting, and which are blocked for a while.
//!
//! A peer is admitted only from a [`VerifiedPeer`] (the PKI verifier's proof) of a node of this
//! cluster whose PeerId is the connection's. This module never admits on what a peer says about
//! itself, and never admits a peer it has blocked until the block expires. It holds no sockets:
//! the actor acts on its answers (disconnect, block, set the gossip score).

use crate::pki::{Rejection, VerifiedPeer, Verifier};
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::PeerId;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long a connected peer may take to be admitted.
pub const ADMIT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a refused (or silent) peer stays blocked.
pub const BLOCK_FOR: Duration = Duration::from_secs(300);

/// Why a peer was refused.
#[derive(Debug, Error)]
pub enum Refused {
    /// Its chain failed the PKI checks (or its key is not its PeerId).
    #[error("certificate rejected: {0}")]
    Certificate(#[from] Rejection),
    /// A valid node of another cluster.
    #[error("node of cluster {0}, not of this cluster")]
    OtherCluster(ClusterId),
    /// A node certificate without a region.
    #[error("node certificate without a region")]
    NoRegion,
    /// It did not complete admission in time.
    #[error("no certificate within {0:?}")]
    Timeout(Duration),
}

impl Refused {
    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Certificate(Rejection::PeerIdMismatch { .. }) => "peer_id_mismatch",
            Self::Certificate(Rejection::Revoked) => "revoked",
            Self::Certificate(Rejection::Expired | Rejection::NotYetValid) => "validity",
            Self::Certificate(Rejection::WrongRole { .. }) => "role",
            Self::Certificate(_) => "chain",
            Self::OtherCluster(_) => "other_cluster",
            Self::NoRegion => "no_region",
            Self::Timeout(_) => "timeout",
        }
    }
}

/// The admission state of every connected peer.
#[derive(Debug)]
pub struct Admission {
    cluster: ClusterId,
    admitted: HashMap<PeerId, Admitted>,
    waiting: HashMap<PeerId, Instant>,
    blocked: HashMap<PeerId, Instant>,
}

/// An admitted peer.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Its region, from its certificate.
    pub region: RegionId,
    chain: Vec<CertificateDer<'static>>,
}

impl Admission {
    /// Admission for the nodes of `cluster`.
    pub fn new(cluster: ClusterId) -> Self {
        Self {
            cluster,
            admitted: HashMap::new(),
            waiting: HashMap::new(),
            blocked: HashMap::new(),
        }
    }

    /// A connection to `peer` opened at `now`: it has [`ADMIT_DEADLINE`] to be admitted.
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        if !self.admitted.contains_key(&peer) {
            self.waiting.entry(peer).or_insert(now + ADMIT_DEADLINE);
        }
    }

    /// The last connection to `peer` closed: it must be admitted again next time.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.admitted.remove(peer);
        self.waiting.remove(peer);
    }

    /// Checks `chain` presented by `peer` at `now`, and admits the peer if it passes.
    pub fn check(
        &mut self,
        verifier: &Verifier,
        peer: PeerId,
        chain: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<&Admitted, Refused> {
        let chain: Vec<CertificateDer<'static>> = chain
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let verified = self.verify(verifier, &peer, &chain, now)?;
        let region = verified.region().cloned().ok_or(Refused::NoRegion)?;
        self.waiting.remove(&peer);
        Ok(self
            .admitted
            .entry(peer)
            .insert_entry(Admitted { region, chain })
            .into_mut())
    }

    fn verify(
        &self,
        verifier: &Verifier,
        peer: &PeerId,
        chain: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> Result<VerifiedPeer, Refused> {
        let verified = verifier.verify_libp2p_peer(peer, chain, now)?;
        if verified.cluster() != &self.cluster {
            return Err(Refused::OtherCluster(verified.cluster().clone()));
        }
        Ok(verified)
    }

    /// Checks every admitted peer's chain again at `now` (certificates expire; a verifier with
    /// a newer CRL revokes): returns the peers that no longer pass, removed from the admitted.
    pub fn recheck(&mut self, verifier: &Verifier, now: UnixTime) -> Vec<(PeerId, Refused)> {
        let failed: Vec<(PeerId, Refused)> = self
            .admitted
            .iter()
            .filter_map(|(peer, a)| {
                self.verify(verifier, peer, &a.chain, now)
                    .err()
                    .map(|e| (*peer, e))
            })
            .collect();
        for (peer, _) in &failed {
            self.admitted.remove(peer);
        }
        failed
    }

    /// Refuses `peer` at `now`: no longer admitted or waiting, blocked for [`BLOCK_FOR`].
    pub fn block(&mut self, peer: PeerId, now: Instant) {
        self.admitted.remove(&peer);
        self.waiting.remove(&peer);
        self.blocked.insert(peer, now + BLOCK_FOR);
    }

    /// Peers whose admission deadline passed at `now` (removed from the waiting).
    pub fn overdue(&mut self, now: Instant) -> Vec<PeerId> {
        let overdue: Vec<PeerId> = self
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
    pub fn unblocked(&mut self, now: Instant) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
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

    /// The admitted peer `peer`, if it is.
    pub fn get(&self, peer: &PeerId) -> Option<&Admitted> {
        self.admitted.get(peer)
    }

    /// Every admitted peer.
    pub fn admitted(&self) -> impl Iterator<Item = (&PeerId, &Admitted)> {
        self.admitted.iter()
    }

    /// How many peers are admitted.
    pub fn len(&self) -> usize {
        self.admitted.len()
    }

    /// Whether no peer is admitted.
    pub fn is_empty(&self) -> bool {
        self.admitted.is_empty()
    }
}
